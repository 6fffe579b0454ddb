/*
 * m_check.c - mem.check [shm|pkg] [pid]: the heap checker's verdict and
 * the problems it reported.
 *
 * mem_check() reports each problem through the library's log hook.  For
 * the length of the call the hook is a capture into a static buffer (the
 * checker may hold the pool's lock, and a pkg check walks the very pool a
 * capture could allocate from, so the capture never allocates); each line
 * also goes on to the server's log, and log_mem_attach() puts the
 * runtime's hook back afterwards.  At most CAP_LINES lines are kept; the
 * rest are counted ("... N more").
 *
 * The checker is mem_check_chunked(): the lock is held for
 * mem_scan_chunk blocks or list entries at a time, never for the whole
 * heap, so workers go on between the holds; the reply says how many holds
 * it took and the longest (SCAN), and whether the counters and lists
 * could be compared with the blocks at one instant ("exact": nobody else
 * took the lock during the check).  pkg is checked by its owner (IPC).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rpc/rpc_int.h"
#include "runtime/log.h"
#include "runtime/proc.h"

#define CAP_LINES 64
#define CAP_LINE 240

static char cap_line[CAP_LINES][CAP_LINE];
static unsigned cap_n, cap_more;

static void capture(int level, const char *msg)
{
	if (cap_n < CAP_LINES)
		snprintf(cap_line[cap_n++], CAP_LINE, "%s", msg);
	else
		cap_more++;
	if (level <= log_level)
		log_msg(level, "srmem", NULL, 0, "%s", msg);
}

/* Run the checker on pool with the capture; the verdict as JSON. */
static json_t *check_pool(struct mem_pool *pool, const char *name)
{
	json_t *o, *msgs;
	struct mem_check_result r;
	struct mem_check_stats st;
	cap_n = cap_more = 0;
	mem_set_log(capture);
	mem_check_chunked(pool, &r, &st);
	log_mem_attach();
	msgs = json_array();
	for (unsigned i = 0; i < cap_n; i++)
		json_array_append_new(msgs, json_string(cap_line[i]));
	if (cap_more)
		json_array_append_new(msgs, json_sprintf("... %u more", cap_more));
	o = json_pack("{s:s,s:i,s:i,s:i,s:b,s:o,s:b,s:I,s:I,s:o}", "pool", name,
		"problems", r.problems, "structure", r.structure,
		"application", r.application, "ok", r.problems == 0,
		"messages", msgs, "exact", st.exact,
		"listed", (json_int_t)st.listed,
		"lists_lost", (json_int_t)st.lists_lost,
		"scan", rpc_scan_json(&st.scan));
	if (pool == mem_pkg_pool)
		rpc_set_int(o, "pid", getpid());
	return o;
}

char *rpc_ipc_pkg_check(const char *arg, const char **err)
{
	(void)arg;
	return rpc_ipc_reply(check_pool(mem_pkg_pool, "pkg"), err);
}

static int m_check(struct rpc_ctx *c, json_t *params, json_t **res)
{
	const char *pool = "shm";
	int entry = proc_index;
	if (rpc_arg_str(c, params, 0, "pool", 0, &pool) < 0)
		return -1;
	if (!strcmp(pool, "shm")) {
		*res = check_pool(mem_shm_pool, "shm");
		return 0;
	}
	if (strcmp(pool, "pkg"))
		return rpc_fail(c, RPC_INVALID_PARAMS, "parameter pool (#1) "
			"must be shm or pkg, not \"%s\"", pool);
	if (rpc_arg_proc(c, params, 1, 0, &entry) < 0)
		return -1;
	*res = rpc_ask(c, entry, "rpc.pkg_check", "", RPC_IPC_TIMEOUT_MS);
	return *res ? 0 : -1;
}

RPC_METHOD(mem_check_m) = { "mem.check", m_check, "[shm|pkg] [pid]",
	"the heap checker's verdict and the problems it reported", 0 };
