/*
 * m_lock.c - shm.lock: the shm heap lock's statistics (mem.h:
 * mem_lock_stats_get), the totals and one row per process with its pid,
 * and the rank and desc the process table gives it ("exited" when the pid
 * is no longer there: an exited process's row stays until its slot is
 * reused, and its counts stay in the totals for good).  The same totals
 * are shm.stats's "lock".  Reading sums the library's rows without any
 * lock, so the method never waits for the heap.
 */
#include <stdlib.h>

#include "rpc/rpc_int.h"
#include "runtime/proc.h"

#define I(x) ((json_int_t)(x))

json_t *rpc_lock_stat_json(const struct mem_lock_stat *s)
{
	json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"acquired", I(s->acquired), "contended", I(s->contended),
		"sleeps", I(s->sleeps), "wait_ns", I(s->wait_ns),
		"wait_max_ns", I(s->wait_max_ns), "hold_ns", I(s->hold_ns),
		"hold_max_ns", I(s->hold_max_ns),
		"hold_samples", I(s->hold_samples));
	json_object_update_new(o, json_pack("{s:I,s:I,s:I,s:I}",
		"hold_sampled_ns", I(s->hold_sampled_ns),
		"takeovers", I(s->takeovers), "takeover_ns", I(s->takeover_ns),
		"takeover_max_ns", I(s->takeover_max_ns)));
	return o;
}

static json_t *row_json(const struct mem_lock_stat *s)
{
	json_t *o = rpc_lock_stat_json(s);
	int e = proc_find_pid(s->pid);
	json_object_set_new(o, "pid", json_integer(s->pid));
	json_object_set_new(o, "rank", e < 0 ? json_null() :
		json_integer(proc_table[e].rank));
	json_object_set_new(o, "desc", json_string(e < 0 ? "exited" :
		proc_table[e].desc));
	return o;
}

json_t *rpc_lock_json(int rows)
{
	struct mem_lock_stats *s = malloc(sizeof(*s));   /* ~16 KiB */
	json_t *o, *arr;
	if (!s || shm_lock_stats(s) < 0) {
		free(s);
		return json_null();
	}
	o = rpc_lock_stat_json(&s->total);
	json_object_update_new(o, json_pack("{s:s,s:i,s:i,s:i,s:i}",
		"clock", s->clock, "hold_sample", (int)s->hold_sample,
		"owner", (int)s->owner, "recoveries", (int)s->recoveries,
		"unrowed", (int)s->unrowed));
	if (rows) {
		arr = json_array();
		for (size_t i = 0; i < s->nrows; i++)
			json_array_append_new(arr, row_json(&s->rows[i]));
		json_object_set_new(o, "processes", arr);
	}
	free(s);
	return o;
}

static int m_lock(struct rpc_ctx *c, json_t *params, json_t **res)
{
	(void)params;
	*res = rpc_lock_json(1);
	if (json_is_null(*res))
		return rpc_fail(c, RPC_SERVER_ERROR, "the shm lock keeps no "
			"statistics (shm too small for the rows, or no memory)");
	return 0;
}

RPC_METHOD(shm_lock_m) = { "shm.lock", m_lock, "",
	"shm lock statistics: acquisitions, contended, sleeps, wait and hold "
	"times, takeovers; totals and per process", 0 };
