/*
 * opts.c - srproxy's command line (DESIGN.md's options plus the long ones
 * of doc/SERVER.md).
 *
 * Kept apart from main.c so the unit tests (tests/check_opts.c) drive it:
 * opts_parse() prints nothing on error, it fills one line naming the
 * option, the value and what is valid, and main.c prints it and exits 2.
 * Numbers are strict: decimal digits only (octal for --rpc-mode), no sign,
 * no trailing text, range checked before any arithmetic can overflow.
 * getopt_long() keeps its state in globals; optind = 0 restarts it fully,
 * so the parser may run several times in one process (the tests do).
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "mem.h"
#include "runtime/cfg.h"
#include "runtime/log.h"
#include "runtime/proc.h"

#define WORKERS_MAX (PROC_MAX - 4)
#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

enum { O_HTTP = 256, O_RPC_MODE, O_TEST_METHODS, O_RESTART_MAX,
	O_RESTART_WINDOW, O_MEM_SUMMARY, O_SHM_CACHE, O_SHM_POPULATE,
	O_MEM_WARN, O_MEM_CRIT, O_MEM_FREE_CHECK, O_MEM_FREE_QUEUE, O_PKG_SLAB,
	O_SHM_HUGE_PAGES, O_PKG_HUGE_PAGES };

static const struct option long_opts[] = {
	{ "shm", required_argument, NULL, 'm' },
	{ "pkg", required_argument, NULL, 'M' },
	{ "shm-backend", required_argument, NULL, 'x' },
	{ "pkg-backend", required_argument, NULL, 'X' },
	{ "workers", required_argument, NULL, 'n' },
	{ "listen", required_argument, NULL, 'l' },
	{ "socket", required_argument, NULL, 's' },
	{ "foreground", no_argument, NULL, 'f' },
	{ "debug", required_argument, NULL, 'd' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "http", required_argument, NULL, O_HTTP },
	{ "rpc-mode", required_argument, NULL, O_RPC_MODE },
	{ "test-methods", no_argument, NULL, O_TEST_METHODS },
	{ "restart-max", required_argument, NULL, O_RESTART_MAX },
	{ "restart-window", required_argument, NULL, O_RESTART_WINDOW },
	{ "mem-summary", required_argument, NULL, O_MEM_SUMMARY },
	{ "shm-cache", required_argument, NULL, O_SHM_CACHE },
	{ "shm-populate", required_argument, NULL, O_SHM_POPULATE },
	{ "shm-huge-pages", required_argument, NULL, O_SHM_HUGE_PAGES },
	{ "pkg-huge-pages", required_argument, NULL, O_PKG_HUGE_PAGES },
	{ "mem-warn", required_argument, NULL, O_MEM_WARN },
	{ "mem-crit", required_argument, NULL, O_MEM_CRIT },
	{ "mem-free-check", required_argument, NULL, O_MEM_FREE_CHECK },
	{ "mem-free-queue", required_argument, NULL, O_MEM_FREE_QUEUE },
	{ "pkg-slab", required_argument, NULL, O_PKG_SLAB },
	{ NULL, 0, NULL, 0 }
};

/* Kamailio's names of the memory managers and ours. */
static const struct { const char *shortn, *longn; } backend_alias[] = {
	{ "fm", "f_malloc" }, { "qm", "q_malloc" }, { "tlsf", "tlsf_malloc" },
};

static void usage(FILE *out)
{
	fprintf(out,
"usage: srproxy [options]\n"
"  -m MB            shm size in MB (default 64; 1..%u)\n"
"  -M MB            pkg size per process in MB (default 8; 1..%u)\n"
"  -x NAME          shm memory manager: fm|f_malloc, qm|q_malloc,\n"
"                   tlsf|tlsf_malloc (default: the build's, %s)\n"
"  -X NAME          pkg memory manager (same names)\n"
"  -n N             SIP worker processes (default 4; 1..%d)\n"
"  -l ADDR:PORT     SIP UDP address (default 127.0.0.1:5060; [v6]:port)\n"
"  -s PATH          JSON-RPC socket (default ./srproxy.sock, as root\n"
"                   " CFG_ROOT_SOCKET ")\n"
"  -f               stay in the foreground, log to stderr (else: daemon,\n"
"                   syslog facility daemon)\n"
"  -d LEVEL         log level 2..7 or crit, err, warn, notice, info, debug\n"
"                   (default info)\n"
"  -h               this help\n"
"  -V               version and build of srproxy and srmem\n"
"  --http ADDR:PORT JSON-RPC over HTTP on a loopback address (default off)\n"
"  --rpc-mode OCTAL file mode of the RPC socket (default 0600)\n"
"  --test-methods   enable the test.* RPC methods (tests only)\n"
"  --restart-max N  deaths of one process tolerated in the window before\n"
"                   the server stops (default 5; 0..%d)\n"
"  --restart-window S  that window in seconds (default 10; 1..%d)\n"
"  --mem-summary N  memory dumps at exit and on SIGUSR1: 1 pkg status,\n"
"                   2 shm status, 4 pkg sums, 8 shm sums (default 0)\n"
"  --shm-cache BYTES  per-process shm cache (k/m suffix; 0 off;\n"
"                   default 1/64 of shm within 256k..8m)\n"
"  --shm-populate 0|1  map all of shm into each child's page tables after\n"
"                   fork, so serving takes no page fault on it (default 1)\n"
"  --shm-huge-pages auto|0|1  2 MiB pages for shm: auto (default) where\n"
"                   the kernel's transparent_hugepage/shmem_enabled allows,\n"
"                   1 ask and warn where it does not, 0 never\n"
"  --pkg-huge-pages auto|0|1  the same for each process's pkg pool: auto\n"
"                   (default) where transparent_hugepage/enabled allows\n"
"  --mem-warn PCT   alarm when a pool's real_used reaches PCT %% of it\n"
"                   (default 80; 0 off; mem.alarm changes it at run time)\n"
"  --mem-crit PCT   critical alarm at PCT %% (default 95; 0 off)\n"
"  --mem-free-check 0|1  MEMDBG builds: fill freed fragments and report a\n"
"                   write after free when they are reused (default 1)\n"
"  --mem-free-queue 0|1  MEMDBG=0 builds: pkg frees wait in a queue of 16\n"
"                   (small shm frees: 8 per process)\n"
"                   while their headers are fetched (default 1); 0 frees\n"
"                   at once, so a double free is reported at its call\n"
"  --pkg-slab auto|0|1  MEMDBG=0 builds: pkg requests up to 512 bytes\n"
"                   from spans of one size, whose free reads no header\n"
"                   (default 0: all from the backend; auto: not with\n"
"                   q_malloc)\n",
		CFG_SHM_MB_MAX, CFG_PKG_MB_MAX, mem_default_backend(), WORKERS_MAX,
		CFG_RESTART_MAX_MAX, CFG_RESTART_WINDOW_MAX);
}

static void version(FILE *out)
{
	fprintf(out, "%s %s\nsrmem: %s\nbackends:", SRP_NAME, SRP_VERSION,
			mem_build_info());
	for (const char *const *n = mem_backend_names(); *n; n++)
		fprintf(out, " %s", *n);
	fprintf(out, "\n");
}

/* Decimal (base 10) or octal (base 8) digits only, within lo..hi. */
static int parse_num(const char *s, int base, long long lo, long long hi,
		long long *out)
{
	char *end;
	if (!s || !*s || !((*s >= '0' && *s <= '9')))
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, base);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* BYTES with an optional k or m suffix (binary units). */
static int parse_bytes(const char *s, size_t hi, size_t *out)
{
	char num[32];
	size_t n = s ? strlen(s) : 0, mult = 1;
	long long v;
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n + 1);
	if (num[n - 1] == 'k' || num[n - 1] == 'K')
		mult = 1024;
	else if (num[n - 1] == 'm' || num[n - 1] == 'M')
		mult = 1024 * 1024;
	if (mult > 1)
		num[n - 1] = '\0';
	if (parse_num(num, 10, 0, (long long)(hi / mult), &v) < 0)
		return -1;
	*out = (size_t)v * mult;
	return 0;
}

/* A short or long name the library has compiled in -> its short name. */
static const char *backend_name(const char *s)
{
	for (size_t i = 0; i < sizeof(backend_alias) / sizeof(backend_alias[0]);
			i++) {
		if (strcmp(s, backend_alias[i].shortn) &&
				strcmp(s, backend_alias[i].longn))
			continue;
		for (const char *const *n = mem_backend_names(); *n; n++)
			if (!strcmp(*n, backend_alias[i].shortn))
				return *n;
	}
	return NULL;
}

static void backend_list(char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = '\0';
	for (const char *const *n = mem_backend_names(); *n && at < len; n++) {
		const char *longn = *n;
		for (size_t i = 0; i < sizeof(backend_alias) /
				sizeof(backend_alias[0]); i++)
			if (!strcmp(*n, backend_alias[i].shortn))
				longn = backend_alias[i].longn;
		at += (size_t)snprintf(buf + at, len - at, "%s%s (%s)",
				at ? ", " : "", *n, longn);
	}
}

static int is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr)
				>> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

struct parse {
	struct srp_cfg *c;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int bad(struct parse *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	return OPTS_BAD;
}

static int opt_mb(struct parse *p, const char *opt, const char *pool,
		const char *v, unsigned max, size_t *out)
{
	long long mb;
	if (parse_num(v, 10, 1, max, &mb) < 0)
		return bad(p, "%s '%s': not a valid %s size; give MB as a whole "
			"number in 1..%u", opt, v, pool, max);
	*out = (size_t)mb << 20;
	return OPTS_RUN;
}

static int opt_backend(struct parse *p, const char *opt, const char *v,
		const char **out)
{
	char names[160];
	*out = backend_name(v);
	if (*out)
		return OPTS_RUN;
	backend_list(names, sizeof(names));
	return bad(p, "%s '%s': unknown memory manager; valid names: %s", opt,
		v, names);
}

static int opt_int(struct parse *p, const char *opt, const char *v,
		long long lo, long long hi, const char *what, int *out)
{
	long long n;
	if (parse_num(v, 10, lo, hi, &n) < 0)
		return bad(p, "%s '%s': not a valid %s; use %lld..%lld", opt, v,
			what, lo, hi);
	*out = (int)n;
	return OPTS_RUN;
}

static int opt_addr(struct parse *p, const char *opt, const char *v,
		int loopback, const char **out)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (cfg_parse_addr(v, &ss, &len) < 0)
		return bad(p, "%s '%s': not an address:port; use IPV4:PORT or "
			"[IPV6]:PORT with a literal address and port 1..65535",
			opt, v);
	if (loopback && !is_loopback(&ss))
		return bad(p, "%s '%s': HTTP is served on loopback only; use "
			"127.x.x.x:PORT or [::1]:PORT", opt, v);
	*out = v;
	return OPTS_RUN;
}

static int opt_socket(struct parse *p, const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n > SUN_PATH_MAX)
		return bad(p, "-s '%s': a socket path must have 1..%zu "
			"characters", v, SUN_PATH_MAX);
	p->c->rpc_socket = v;
	return OPTS_RUN;
}

static int opt_level(struct parse *p, const char *v)
{
	int l = log_level_parse(v);
	if (l < 0)
		return bad(p, "-d '%s': not a log level; use 2..7 or crit, err, "
			"warn, notice, info, debug", v);
	p->c->log_level = l;
	return OPTS_RUN;
}

static int opt_mode(struct parse *p, const char *v)
{
	long long m;
	if (parse_num(v, 8, 0, 0777, &m) < 0)
		return bad(p, "--rpc-mode '%s': not a file mode; use octal "
			"0..0777 (0600, 0660...)", v);
	p->c->rpc_mode = (unsigned)m;
	return OPTS_RUN;
}

static int opt_summary(struct parse *p, const char *v)
{
	return opt_int(p, "--mem-summary", v, 0, 15, "summary mask (1 pkg "
		"status, 2 shm status, 4 pkg sums, 8 shm sums)",
		&p->c->mem_summary);
}

static int opt_cache(struct parse *p, const char *v)
{
	if (parse_bytes(v, CFG_SHM_CACHE_MAX, &p->c->shm_cache) < 0)
		return bad(p, "--shm-cache '%s': not a size; use 0 (no caches) "
			"..%zu bytes, k or m suffix allowed", v,
			(size_t)CFG_SHM_CACHE_MAX);
	return OPTS_RUN;
}

/* "auto" (the library's own choice, auto_value) or a switch. */
static int opt_auto(struct parse *p, const char *name, const char *v,
		int auto_value, int *to)
{
	if (!strcmp(v, "auto")) {
		*to = auto_value;
		return OPTS_RUN;
	}
	return opt_int(p, name, v, 0, 1, "choice (auto, 0 or 1)", to);
}

static int opt_huge(struct parse *p, const char *name, const char *v,
		int *to)
{
	return opt_auto(p, name, v, MEM_HUGE_AUTO, to);
}

static int one_opt(struct parse *p, int o, const char *v)
{
	struct srp_cfg *c = p->c;
	switch (o) {
	case 'm': return opt_mb(p, "-m", "shm", v, CFG_SHM_MB_MAX, &c->shm_size);
	case 'M': return opt_mb(p, "-M", "pkg", v, CFG_PKG_MB_MAX, &c->pkg_size);
	case 'x': return opt_backend(p, "-x", v, &c->shm_backend);
	case 'X': return opt_backend(p, "-X", v, &c->pkg_backend);
	case 'n': return opt_int(p, "-n", v, 1, WORKERS_MAX,
			"number of workers", &c->workers);
	case 'l': return opt_addr(p, "-l", v, 0, &c->listen);
	case 's': return opt_socket(p, v);
	case 'f': c->foreground = 1; return OPTS_RUN;
	case 'd': return opt_level(p, v);
	case O_HTTP: return opt_addr(p, "--http", v, 1, &c->http);
	case O_RPC_MODE: return opt_mode(p, v);
	case O_TEST_METHODS: c->test_methods = 1; return OPTS_RUN;
	case O_RESTART_MAX: return opt_int(p, "--restart-max", v, 0,
			CFG_RESTART_MAX_MAX, "number of deaths", &c->restart_max);
	case O_RESTART_WINDOW: return opt_int(p, "--restart-window", v, 1,
			CFG_RESTART_WINDOW_MAX, "window in seconds",
			&c->restart_window);
	case O_MEM_SUMMARY: return opt_summary(p, v);
	case O_SHM_CACHE: return opt_cache(p, v);
	case O_SHM_POPULATE: return opt_int(p, "--shm-populate", v, 0, 1,
			"switch (0 or 1)", &c->shm_populate);
	case O_SHM_HUGE_PAGES:
		return opt_huge(p, "--shm-huge-pages", v, &p->c->shm_huge_pages);
	case O_PKG_HUGE_PAGES:
		return opt_huge(p, "--pkg-huge-pages", v, &p->c->pkg_huge_pages);
	case O_MEM_FREE_CHECK: return opt_int(p, "--mem-free-check", v, 0, 1,
			"switch (0 or 1)", &c->mem_free_check);
	case O_MEM_FREE_QUEUE: return opt_int(p, "--mem-free-queue", v, 0, 1,
			"switch (0 or 1)", &c->mem_free_queue);
	case O_PKG_SLAB: return opt_auto(p, "--pkg-slab", v, PKG_SLAB_AUTO,
			&c->pkg_slab);
	case O_MEM_WARN: return opt_int(p, "--mem-warn", v, 0, 100,
			"percentage (0 off)", &c->mem_warn);
	case O_MEM_CRIT: return opt_int(p, "--mem-crit", v, 0, 100,
			"percentage (0 off)", &c->mem_crit);
	}
	return bad(p, "internal: option %d not handled", o);
}

/* The option as the user wrote it, for messages about it. */
static const char *written(char **argv, int at)
{
	return at > 0 && argv[at - 1] ? argv[at - 1] : "?";
}

int opts_parse(int argc, char **argv, struct srp_cfg *c, FILE *out,
		char *err, size_t errlen)
{
	struct parse p = { c, err, errlen };
	int o, r;
	err[0] = '\0';
	if (argc > 0 && argv[0])
		c->argv0 = argv[0];
	optind = 0;             /* full re-initialisation (glibc) */
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":m:M:x:X:n:l:s:fd:hV", long_opts,
			NULL)) != -1) {
		if (o == 'h' || o == 'V') {
			o == 'h' ? usage(out) : version(out);
			return OPTS_EXIT;
		}
		if (o == ':')
			return bad(&p, "%s needs a value; srproxy -h lists the "
				"options", written(argv, optind));
		if (o == '?')
			return optopt ? bad(&p, "unknown option '-%c'; srproxy -h "
				"lists the options", optopt) :
				bad(&p, "unknown option '%s'; srproxy -h lists the "
				"options", written(argv, optind));
		if ((r = one_opt(&p, o, optarg)) != OPTS_RUN)
			return r;
	}
	if (optind < argc)
		return bad(&p, "unexpected argument '%s'; srproxy takes options "
			"only (srproxy -h)", argv[optind]);
	if (c->mem_warn && c->mem_crit && c->mem_warn > c->mem_crit)
		return bad(&p, "--mem-warn %d is above --mem-crit %d; the "
			"warning comes first", c->mem_warn, c->mem_crit);
	return OPTS_RUN;
}
