/*
 * main.c - srmemctl's command line: global options, the command's own
 * options and arguments, help, and the exit status.
 *
 *   srmemctl [-s PATH] [--timeout S] [--json] COMMAND [OPTIONS] [ARGS]
 *
 * Global options may stand anywhere, before or after the command (users
 * add --json at the end).  A command names the value options it accepts
 * in its table entry ("--pool --top"); "--opt V" and "--opt=V" both work.
 * Arguments that look like negative numbers are arguments, and "--" ends
 * the options; for `raw`, everything after METHOD is a parameter.  Values
 * are checked when the command reads them (ctl_opt_long() and friends), so
 * a bad value is a usage error (exit 2) before any call is made.
 */
#include "srmemctl.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_SOCK "./srproxy.sock"
#define ROOT_SOCK "/var/run/srproxy/srproxy.sock"  /* srproxy's as root */
#define DEFAULT_TIMEOUT 10.0

static void help_all(FILE *f)
{
	fputs("usage: srmemctl [-s PATH] [--timeout S] [--json] COMMAND "
			"[ARGS...]\n\n"
			"Memory status of a running srproxy, over its JSON-RPC "
			"socket.\n\n", f);
	fputs("  -s PATH      the RPC socket (default $SRPROXY_SOCK, else "
			DEFAULT_SOCK ";\n               as root also "
			ROOT_SOCK ")\n"
			"  --timeout S  seconds to wait for each reply (default 10)\n"
			"  --json       print the result as JSON, for scripts\n"
			"  -h, --help   this help; `srmemctl COMMAND -h` for one "
			"command\n\ncommands:\n", f);
	for (const struct ctl_cmd *k = ctl_cmds; k->name; k++)
		fprintf(f, "  %-9s %s\n", k->name, k->help);
	fputs("\nexit status: 0 ok, 1 the server returned an error (or check "
			"found problems),\n2 usage error, 3 no server answers on "
			"the socket (or it is not srproxy's).\n", f);
}

static void help_cmd(FILE *f, const struct ctl_cmd *k)
{
	fprintf(f, "usage: srmemctl %s\n  %s\n", k->usage, k->help);
}

int ctl_usage_error(const struct ctl *c, const char *fmt, ...)
{
	const struct ctl_cmd *k = c->cmd ? ctl_find(c->cmd) : NULL;
	va_list ap;

	fputs("srmemctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (k)
		help_cmd(stderr, k);
	else
		fputs("usage: srmemctl [-s PATH] [--timeout S] [--json] COMMAND "
				"[ARGS...]; srmemctl -h lists the commands\n",
				stderr);
	return EXIT_USAGE;
}

/* The first n characters of name are a word of the command's options
 * ("--top" of "--top=5" in "--pool --top"). */
static int takes(const struct ctl_cmd *k, const char *name, size_t n)
{
	for (const char *p = k ? k->opts : ""; *p; ) {
		size_t w = strcspn(p, " ");
		if (w == n && !strncmp(p, name, n))
			return 1;
		p += w + (p[w] == ' ');
	}
	return 0;
}

/* "-5", "-0.5": a negative number is an argument, not an option. */
static int is_arg(const char *a)
{
	return a[0] != '-' || !a[1] || isdigit((unsigned char)a[1]) ||
		(a[1] == '.' && isdigit((unsigned char)a[2]));
}

/* The value of "--x=V" or "--x V"; advances *i over V. */
static const char *value_of(char **argv, int argc, int *i, size_t n)
{
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	return *i + 1 < argc ? argv[++*i] : NULL;
}

static int global_opt(struct ctl *c, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	const char *v;

	if (!strcmp(a, "--json"))
		return c->json = 1;
	if (!strcmp(a, "-h") || !strcmp(a, "--help"))
		return 2;
	if (!strncmp(a, "-s", 2) && a[2]) {
		c->sock = a + 2;
		return 1;
	}
	if (!strcmp(a, "-s") || !strncmp(a, "--socket", 8)) {
		size_t n = a[1] == 's' ? 2 : 8;
		if (a[n] && a[n] != '=')
			return 0;
		if (!(v = value_of(argv, argc, i, n)))
			return -1;
		c->sock = v;
		return 1;
	}
	if (!strncmp(a, "--timeout", 9) && (!a[9] || a[9] == '=')) {
		char *end;
		if (!(v = value_of(argv, argc, i, 9)))
			return -1;
		c->timeout = strtod(v, &end);
		return *end || !(c->timeout > 0) ? -1 : 1;
	}
	return 0;
}

static int cmd_opt(struct ctl *c, const struct ctl_cmd *k, int argc,
		char **argv, int *i)
{
	const char *a = argv[*i];
	size_t n = strcspn(a, "=");
	const char *v;

	if (!k || !takes(k, a, n) || n < 2)
		return ctl_usage_error(c, "unknown option %s", a);
	if (c->nopts == CTL_MAX_OPTS)
		return ctl_usage_error(c, "too many options");
	if (!(v = value_of(argv, argc, i, n)))
		return ctl_usage_error(c, "%.*s needs a value", (int)n, a);
	c->opts[c->nopts].name = a;
	c->opts[c->nopts++].val = v;
	return EXIT_OK;
}

static int add_arg(struct ctl *c, const char *a)
{
	if (!c->cmd) {
		c->cmd = a;
		return ctl_find(a) ? EXIT_OK :
			(c->cmd = NULL, ctl_usage_error(c, "unknown command %s", a));
	}
	if (c->nargs == CTL_MAX_ARGS)
		return ctl_usage_error(c, "too many arguments");
	c->args[c->nargs++] = a;
	return EXIT_OK;
}

/* raw METHOD PARAMS...: once METHOD is read, the rest are parameters. */
static int all_args(const struct ctl *c)
{
	return c->cmd && !strcmp(c->cmd, "raw") && c->nargs > 0;
}

static int parse(struct ctl *c, int argc, char **argv, int *help)
{
	int rest = 0, rc = EXIT_OK;

	for (int i = 1; i < argc && !rc; i++) {
		const char *a = argv[i];
		int g = rest || all_args(c) ? 0 : global_opt(c, argc, argv, &i);
		if (g < 0)
			return ctl_usage_error(c, "%s needs a valid value", a);
		*help |= g == 2;
		if (g)
			continue;
		if (!rest && !strcmp(a, "--"))
			rest = 1;
		else if (rest || all_args(c) || is_arg(a))
			rc = add_arg(c, a);
		else
			rc = cmd_opt(c, c->cmd ? ctl_find(c->cmd) : NULL, argc,
					argv, &i);
	}
	return rc;
}

static int run(struct ctl *c, int help)
{
	const struct ctl_cmd *k = c->cmd ? ctl_find(c->cmd) : NULL;

	if (help || !k) {
		if (k)
			help_cmd(stdout, k);
		else
			help_all(help ? stdout : stderr);
		return help ? EXIT_OK : EXIT_USAGE;
	}
	if (k->max_args >= 0 && c->nargs > k->max_args)
		return ctl_usage_error(c, "too many arguments");
	return k->run(c);
}

/* $SRPROXY_SOCK, else ./srproxy.sock; as root, srproxy's own default
 * (ROOT_SOCK) when only that one exists. */
static const char *default_sock(void)
{
	const char *env = getenv("SRPROXY_SOCK");

	if (env && *env)
		return env;
	if (geteuid() == 0 && access(DEFAULT_SOCK, F_OK) < 0 &&
			access(ROOT_SOCK, F_OK) == 0)
		return ROOT_SOCK;
	return DEFAULT_SOCK;
}

int main(int argc, char **argv)
{
	struct ctl c = { .timeout = DEFAULT_TIMEOUT };
	int help = 0, rc;

	c.sock = default_sock();
	rc = parse(&c, argc, argv, &help);
	if (rc)
		return rc;
	return run(&c, help);
}

/* --- the command's options, read and checked ------------------------------ */

const char *ctl_opt(const struct ctl *c, const char *name)
{
	size_t n = strlen(name);
	const char *v = NULL;

	for (int i = 0; i < c->nopts; i++)
		if (!strncmp(c->opts[i].name, name, n) &&
				(!c->opts[i].name[n] || c->opts[i].name[n] == '='))
			v = c->opts[i].val;
	return v;
}

int ctl_opt_long(const struct ctl *c, const char *name, long long dflt,
		long long *out)
{
	const char *v = ctl_opt(c, name);
	char *end;

	*out = dflt;
	if (!v)
		return 0;
	*out = strtoll(v, &end, 10);
	if (!*v || *end || *out < 0)
		return ctl_usage_error(c, "%s: not a count: %s", name, v), -1;
	return 0;
}

int ctl_opt_signed(const struct ctl *c, const char *name, int *given,
		long long *out)
{
	const char *v = ctl_opt(c, name);
	char *end;

	*given = v != NULL;
	*out = 0;
	if (!v)
		return 0;
	*out = strtoll(v, &end, 10);
	if (!*v || *end)
		return ctl_usage_error(c, "%s: not a number: %s", name, v), -1;
	return 0;
}

int ctl_opt_secs(const struct ctl *c, const char *name, double dflt,
		double *out)
{
	const char *v = ctl_opt(c, name);
	char *end;

	*out = dflt;
	if (!v)
		return 0;
	*out = strtod(v, &end);
	if (!*v || *end || !(*out > 0) || *out > 86400)
		return ctl_usage_error(c, "%s: not seconds: %s", name, v), -1;
	return 0;
}

/* --pool shm|pkg; *pool stays NULL when not given. */
int ctl_opt_pool(const struct ctl *c, const char **pool)
{
	*pool = ctl_opt(c, "--pool");
	if (*pool && strcmp(*pool, "shm") && strcmp(*pool, "pkg"))
		return ctl_usage_error(c, "--pool: shm or pkg, not %s", *pool), -1;
	return 0;
}

/* --pool shm|pkg with --pid P: --pid alone means pkg; pkg needs a pid
 * (its pool is private to one process), shm takes none.  *pid is -1 for
 * shm. */
int ctl_opt_pool_pid(const struct ctl *c, const char **pool, long long *pid)
{
	if (ctl_opt_pool(c, pool) || ctl_opt_long(c, "--pid", -1, pid))
		return -1;
	if (!*pool)
		*pool = *pid >= 0 ? "pkg" : "shm";
	if (!strcmp(*pool, "pkg") && *pid < 0)
		return ctl_usage_error(c, "--pool pkg needs --pid P "
				"(srmemctl ps lists them)"), -1;
	if (!strcmp(*pool, "shm") && *pid >= 0)
		return ctl_usage_error(c, "--pid is for --pool pkg"), -1;
	return 0;
}
