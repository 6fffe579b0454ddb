/*
 * rpc_int.h - what the files of core/rpc share, grouped by defining file.
 *
 * The RPC layer is one process (rank PROC_RPC) that serves JSON-RPC 2.0 on
 * a UNIX stream socket (server.c) and optionally HTTP (http.c); both hand
 * each complete JSON text to the dispatcher (dispatch.c), which runs the
 * method and returns the reply text.  Methods live in one file per family
 * (m_*.c) and read the library's diagnostics; what only another process can
 * answer (its own pkg pool) goes through the runtime's IPC, to handlers
 * registered here and run in that process.
 *
 * Memory: every JSON value is built in pkg memory of the process that
 * builds it (module.c sets jansson's allocator), so the RPC layer's own
 * memory shows under module "rpc" and a leak in it shows in pkg.stats.
 * When a pkg allocation fails during a method, the dispatcher notices
 * (rpc_oom_count) and answers -32000 instead of a half-built result.
 */
#ifndef SRP_RPC_INT_H
#define SRP_RPC_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mem.h"
#include "rpc/rpc.h"
#include "runtime/ipc.h"

/* --- module.c ------------------------------------------------------------ */
extern uint64_t rpc_oom_count;          /* failed pkg allocations by jansson */
extern int rpc_listen_fd;               /* the UNIX socket, bound in main */
extern int rpc_http_fd;                 /* the HTTP socket, or -1 */
extern int64_t rpc_started;             /* unix time of the server's start */
extern int rpc_test_enabled;            /* test methods visible */
void rpc_json_alloc_init(void);
/* Sends the reply text of an IPC handler: a malloc() copy of the JSON
 * (consumed), or NULL with *err set. */
char *rpc_ipc_reply(json_t *j, const char **err);
/* The handler registered under name (the RPC process runs its own). */
ipc_fn rpc_ipc_find(const char *name);

/* --- dispatch.c ---------------------------------------------------------- */
struct rpc_ctx {
	int code;               /* 0: no error yet */
	char msg[256];
};

/* The reply to one JSON text: text (len bytes, no newline) or none, for
 * notifications.  owned: text is pkg memory to release with
 * rpc_reply_release(). */
struct rpc_reply {
	char *text;
	size_t len;
	int owned;
};

/* Run one request (object) or batch (array) given as JSON text. */
void rpc_handle(const char *in, size_t len, struct rpc_reply *out);
void rpc_reply_release(struct rpc_reply *r);
/* The raw parameter at position i or key (NULL: absent). */
json_t *rpc_arg(json_t *params, int i, const char *key);
const struct rpc_method *rpc_find(const char *name);

/* --- json.c: diagnostics as JSON ----------------------------------------- */
json_t *rpc_site_json(const struct mem_site *s);
json_t *rpc_frag_json(const struct mem_frag *f);
json_t *rpc_scan_json(const struct mem_scan_stats *s);
/* A summary (shm.summary / pkg.summary shape). */
json_t *rpc_sums_json(const struct mem_sums_data *d);
/* mod.stats rows of one pool (pid < 0: shm), appended to arr. */
int rpc_mods_json(json_t *arr, const struct mem_sums_data *d, pid_t pid);
/* mem_sums_get() of a pool as JSON; mods: mod.stats rows instead. */
json_t *rpc_pool_sums(struct mem_pool *pool, const char *mod, int mods);
/* Set key to a new integer; 0, or -1 on no memory. */
int rpc_set_int(json_t *o, const char *key, long long v);
/* Copy a JSON value to malloc() memory as text. */
char *rpc_json_to_malloc(const json_t *j);

/* --- m_lock.c: the shm lock's statistics -------------------------------- */
json_t *rpc_lock_stat_json(const struct mem_lock_stat *s);
/* Totals, clock, owner (rows: and "processes"); null when there are none. */
json_t *rpc_lock_json(int rows);

/* --- metrics.c: GET /metrics --------------------------------------------- */
/* The page (pkg memory, *len bytes) or NULL when out of pkg; scan: rescan
 * the heap for the module and site figures first. */
char *rpc_metrics(int scan, size_t *len);

/* --- proc.c: choosing a process ------------------------------------------ */
/* Parameters "[pid|rank|index N]" (or a bare pid) from position i:
 * returns 1 and the entry, 0 when absent (and allowed), -1 failed. */
int rpc_arg_proc(struct rpc_ctx *c, json_t *params, int i, int required,
		int *entry);
/* Ask entry to run an IPC command; the reply as JSON (new reference), or
 * NULL with rpc_fail() done.  The RPC process runs fn itself. */
json_t *rpc_ask(struct rpc_ctx *c, int entry, const char *name,
		const char *arg, int timeout_ms);

/* --- IPC handlers (run in the asked process) ----------------------------- */
char *rpc_ipc_pkg_sums(const char *arg, const char **err);       /* m_pkg.c */
char *rpc_ipc_pkg_mods(const char *arg, const char **err);       /* m_pkg.c */
char *rpc_ipc_pkg_check(const char *arg, const char **err);      /* m_check.c */
char *rpc_ipc_pkg_map(const char *arg, const char **err);        /* m_map.c */
char *rpc_ipc_test_alloc(const char *arg, const char **err);     /* m_test.c */
char *rpc_ipc_test_free(const char *arg, const char **err);      /* m_test.c */
char *rpc_ipc_lock_hold(const char *arg, const char **err);      /* m_test.c */

/* --- sites.c: call sites named by tests, in shm -------------------------- */
int rpc_sites_init(void);
/* The interned site (file, func, line, mod), or -1 when the table is full.
 * Returns its index; rpc_site_at() gives the record. */
int rpc_site_intern(const char *file, const char *func, unsigned line,
		const char *mod);
const struct mem_site *rpc_site_at(int index);

/* --- server.c / http.c (the RPC process) --------------------------------- */
int rpc_server_start(void);
void rpc_server_stop(void);
int rpc_http_bind(const char *addr);
int rpc_http_start(void);
void rpc_http_tick(void);
void rpc_http_stop(void);

#define RPC_MAX_REQUEST (1u << 20)      /* bytes of one request */
#define RPC_MAX_CLIENTS 64
#define RPC_IDLE_MID_MS 10000           /* silence inside a request */
#define RPC_IDLE_MS 60000               /* silence between requests */
#define RPC_IPC_TIMEOUT_MS 2000         /* another process's answer */

#endif /* SRP_RPC_INT_H */
