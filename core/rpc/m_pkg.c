/*
 * m_pkg.c - the pkg pools' methods: pkg.stats, pkg.summary, mod.stats.
 *
 * pkg.stats reads what each process last published in its process-table
 * entry (the loop publishes at least every second; age_ms says how old),
 * so it asks nobody and always answers.  pkg.summary and the pkg part of
 * mod.stats need a walk of a private pool, which only its owner can do:
 * the RPC process asks that process over IPC (rpc_ask, bounded by
 * RPC_IPC_TIMEOUT_MS) and the owner answers with the JSON of its own
 * mem_sums_get().  mod.stats leaves out, with a warning in the log, a
 * process that does not answer in time (one stuck worker must not hide
 * every other's memory).
 */
#include <string.h>

#include "rpc/rpc_int.h"
#include "runtime/alarm.h"
#include "runtime/log.h"
#include "runtime/proc.h"

static json_t *stats_row(int i, uint64_t now)
{
	struct proc_pkg p;
	struct alarm_state a;
	const struct proc_entry *e = &proc_table[i];
	proc_read_pkg(i, &p);
	alarm_pkg_state(i, &a);
	return json_pack("{s:i,s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:I,s:s}",
		"entry", i, "pid", (int)e->pid, "rank", (int)e->rank,
		"used", (json_int_t)p.used_size, "free", (json_int_t)p.free_size,
		"real_used", (json_int_t)p.real_used,
		"total_size", (json_int_t)p.total_size,
		"total_frags", (json_int_t)p.total_frags,
		"max_used", (json_int_t)p.max_used, "desc", e->desc,
		"age_ms", (json_int_t)(now > p.stamp_ms ? now - p.stamp_ms : 0),
		"alarm", alarm_name((int)a.level));
}

static int running(int i)
{
	return proc_table[i].pid != 0 && proc_table[i].state == PROC_RUNNING;
}

static int m_stats(struct rpc_ctx *c, json_t *params, json_t **res)
{
	int entry = -1, r = rpc_arg_proc(c, params, 0, 0, &entry);
	uint64_t now;
	if (r < 0)
		return -1;
	proc_publish_pkg();     /* our own row is then fresh */
	now = now_ms();
	*res = json_array();
	for (int i = 0; i < proc_count; i++)
		if ((r == 1 && i == entry) || (r == 0 && running(i)))
			json_array_append_new(*res, stats_row(i, now));
	return 0;
}

char *rpc_ipc_pkg_sums(const char *arg, const char **err)
{
	return rpc_ipc_reply(rpc_pool_sums(mem_pkg_pool, arg && *arg ? arg : NULL, 0),
		err);
}

char *rpc_ipc_pkg_mods(const char *arg, const char **err)
{
	return rpc_ipc_reply(rpc_pool_sums(mem_pkg_pool, arg && *arg ? arg : NULL, 1),
		err);
}

static int m_summary(struct rpc_ctx *c, json_t *params, json_t **res)
{
	int entry;
	if (rpc_arg_proc(c, params, 0, 1, &entry) < 0)
		return -1;
	if (!(*res = rpc_ask(c, entry, "rpc.pkg_sums", "", RPC_IPC_TIMEOUT_MS)))
		return -1;
	rpc_set_int(*res, "pid", proc_table[entry].pid);
	rpc_set_int(*res, "rank", proc_table[entry].rank);
	rpc_set_int(*res, "entry", entry);
	return 0;
}

/* Every running process's pkg rows of mod (or all) into arr. */
static void mods_pkg(json_t *arr, const char *mod)
{
	for (int i = 0; i < proc_count; i++) {
		struct rpc_ctx c = { 0, "" };
		json_t *rows;
		if (!running(i))
			continue;
		rows = rpc_ask(&c, i, "rpc.pkg_mods", mod, RPC_IPC_TIMEOUT_MS);
		if (!rows) {
			LM_WARN("mod.stats: %s; its pkg is left out", c.msg);
			continue;
		}
		json_array_extend(arr, rows);
		json_decref(rows);
	}
}

static int m_mods(struct rpc_ctx *c, json_t *params, json_t **res)
{
	const char *mod = "all", *pool = "all";
	int pkg, shm;
	if (rpc_arg_str(c, params, 0, "module", 0, &mod) < 0 ||
	    rpc_arg_str(c, params, 1, "pool", 0, &pool) < 0)
		return -1;
	pkg = !strcmp(pool, "pkg") || !strcmp(pool, "all");
	shm = !strcmp(pool, "shm") || !strcmp(pool, "all");
	if (!pkg && !shm)
		return rpc_fail(c, RPC_INVALID_PARAMS, "parameter pool (#2) "
			"must be pkg, shm or all, not \"%s\"", pool);
	if (!strcmp(mod, "all"))
		mod = "";
	*res = json_array();
	if (pkg)
		mods_pkg(*res, mod);
	if (shm) {
		json_t *rows = rpc_pool_sums(mem_shm_pool, *mod ? mod : NULL, 1);
		if (!rows)
			return rpc_fail(c, RPC_SERVER_ERROR, "no scratch memory "
				"for the shm sums");
		json_array_extend(*res, rows);
		json_decref(rows);
	}
	return 0;
}

RPC_METHOD(pkg_stats_m) = { "pkg.stats", m_stats, "[pid|rank|index N]",
	"pkg counters of every process (or one), as last published", 0 };
RPC_METHOD(pkg_summary_m) = { "pkg.summary", m_summary, "PID|rank|index N",
	"one process's pkg used per call site (that process walks its pool)",
	0 };
RPC_METHOD(mod_stats_m) = { "mod.stats", m_mods, "MODULE|all pkg|shm|all",
	"memory per module and call site; pkg: every process's own", 0 };
