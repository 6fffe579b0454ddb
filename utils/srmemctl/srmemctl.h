/*
 * srmemctl.h - what the parts of srmemctl share: the invocation, the
 * command table and the small JSON readers the commands use.
 *
 * srmemctl is one process per command: main.c parses the command line into
 * a struct ctl, finds the command in the table (commands.c) and runs it;
 * a command calls the server through ctl_call() (transport.c), which
 * prints any failure itself and returns the exit status to pass on, and
 * formats the result with table.c.  Exit statuses are fixed here so every
 * command returns the same ones.
 */
#ifndef SRMEMCTL_H
#define SRMEMCTL_H

#include <jansson.h>

#define EXIT_OK 0
#define EXIT_RPC 1      /* the method returned an error (or check failed) */
#define EXIT_USAGE 2
#define EXIT_SERVER 3   /* no server, not a socket, not ours, no reply */

#define CTL_MAX_OPTS 8
#define CTL_MAX_ARGS 64

struct ctl_opt {
	const char *name;       /* "--top", as given in the command's spec */
	const char *val;
};

struct ctl {
	const char *sock;       /* -s, $SRPROXY_SOCK, ./srproxy.sock */
	double timeout;         /* seconds, per call */
	int json;               /* --json: print the raw result */
	const char *cmd;
	int nopts;
	struct ctl_opt opts[CTL_MAX_OPTS];
	int nargs;
	const char *args[CTL_MAX_ARGS];
};

struct ctl_cmd {
	const char *name;
	int (*run)(struct ctl *c);
	const char *opts;       /* value options it takes: "--pool --top" */
	int max_args;           /* positional arguments; -1 any */
	const char *usage;      /* "summary [--pool shm|pkg] ..." */
	const char *help;       /* one line */
};

/* commands.c: the table, and the common shape of a command: call, then
 * --json prints the result, else show() formats it (its return is the
 * exit status). */
extern const struct ctl_cmd ctl_cmds[];
const struct ctl_cmd *ctl_find(const char *name);
int ctl_show(struct ctl *c, const char *method, json_t *params,
		int (*show)(struct ctl *c, json_t *result));

/* The commands, by file. */
int cmd_shmmem(struct ctl *c);          /* cmd_mem.c */
int cmd_pkg(struct ctl *c);
int cmd_summary(struct ctl *c);
int cmd_status(struct ctl *c);
int cmd_report(struct ctl *c);
int cmd_check(struct ctl *c);
int cmd_mods(struct ctl *c);
int cmd_ps(struct ctl *c);              /* cmd_info.c */
int cmd_version(struct ctl *c);
int cmd_uptime(struct ctl *c);
int cmd_methods(struct ctl *c);
int cmd_raw(struct ctl *c);
int cmd_map(struct ctl *c);             /* cmd_map.c */
int cmd_top(struct ctl *c);             /* cmd_top.c */
int cmd_watch(struct ctl *c);           /* cmd_watch.c */
int cmd_leaks(struct ctl *c);           /* cmd_leaks.c */
int cmd_lock(struct ctl *c);            /* cmd_lock.c */
int cmd_cache(struct ctl *c);           /* cmd_cache.c */
/* cmd_mem.c: the pkg.stats table, also a part of every watch frame;
 * with prev (the last frame's list, maybe empty) a column "change" shows
 * how much each process's real_used moved since then. */
void pkg_table(const json_t *list, const json_t *prev);
const char *fmt_change(char *buf, size_t size, long long d);
/* cmd_watch.c: sleep that many seconds (fractions too); a frame's first
 * line ("srproxy WHAT at 12:00:00, every 2 s, frame 1/3", after clearing
 * a terminal); the line of shm counters of a frame (prev: the last
 * frame's core.shmmem, or NULL). */
void ctl_sleep(double secs);
void watch_frame_head(const char *what, long long n, long long count,
		double every);
void watch_shm_line(const json_t *s, const json_t *prev);
/* The summary of a pool (shm, or pkg of one pid), for summary and leaks. */
json_t *summary_params(const char *pool, long long pid, const char *module,
		const char **method);

/* main.c: options of the command, checked for type; on a bad value they
 * print a usage error and return -1. */
const char *ctl_opt(const struct ctl *c, const char *name);
int ctl_opt_long(const struct ctl *c, const char *name, long long dflt,
		long long *out);
/* A number that may be negative (a rank: -1 timer, -2 RPC); *given says
 * whether the option was there. */
int ctl_opt_signed(const struct ctl *c, const char *name, int *given,
		long long *out);
int ctl_opt_secs(const struct ctl *c, const char *name, double dflt,
		double *out);
int ctl_opt_pool(const struct ctl *c, const char **pool);
int ctl_opt_pool_pid(const struct ctl *c, const char **pool, long long *pid);
int ctl_usage_error(const struct ctl *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* transport.c: one call; returns EXIT_OK with *result set (caller
 * decrefs), or the exit status after printing why. Steals params. */
int ctl_call(const struct ctl *c, const char *method, json_t *params,
		json_t **result);
/* 1 the server has the method, 0 not, -1 the call failed (printed; the
 * exit status is in *status). */
int ctl_has_method(const struct ctl *c, const char *method, int *status);

/* json readers: missing or null fields read as 0, NULL or "-" */
long long jint(const json_t *o, const char *key);
const char *jstr(const json_t *o, const char *key);
const char *jstr_or(const json_t *o, const char *key, const char *dflt);
/* "file:func:line", or "(no call site)" when the site is unknown. */
const char *jsite(const json_t *o, char *buf, size_t size);
/* "pid P (rank R)" from "pid" and "rank", "pid P" without a rank, "-"
 * without a pid. */
const char *jproc(const json_t *o, char *buf, size_t size);
int json_print(const json_t *v);

#endif /* SRMEMCTL_H */
