/*
 * m_map.c - shm.map: a pool in address order, bounded, for pictures.
 *
 *   shm.map [pkg PID|rank R|index I] [cells N]
 *
 * Without "pkg" the shm pool; with it the pkg pool of that process, which
 * walks its own pool (IPC "rpc.pkg_map", as pkg.summary does).  Either
 * way the fragments come from mem_scan(), never mem_walk(): the lock is
 * held mem_scan_chunk fragments at a time, so a map of a live 1 GB pool
 * stalls no worker longer than doc/DIAGNOSTICS.md's bound per chunk.
 * heapmap.c reduces them to at most N runs (default MAP_CELLS, 16 ..
 * HM_CAP_MAX); the reply's size is then bounded by N whatever the
 * number of fragments.  doc/RPC.md has the reply's shape.
 *
 * Memory: the runs live in libc's heap while the map is made (a map must
 * not move the pool it looks at); the reply is JSON in the RPC process's
 * pkg, up to about 1 KiB per run with its text (state and module strings
 * are shared): that is what caps N at HM_CAP_MAX, 4096 runs in ~4.5 MiB
 * of the default 8 MiB pkg.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rpc/heapmap.h"
#include "rpc/rpc_int.h"
#include "runtime/proc.h"

#define MAP_CELLS 1024

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

static json_t *addr_json(uintptr_t a)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%#lx", (unsigned long)a);
	return json_string(buf);
}

/* [offset, length, state, module, frags] (+ used, free, cached, broken
 * when mixed); strs holds the shared state and module strings. */
static json_t *run_json(const struct hm_run *r, json_t *const *states,
		json_t *const *mods)
{
	int st = hm_run_state(r);
	json_t *a = json_array();
	json_array_append_new(a, json_integer((json_int_t)r->off));
	json_array_append_new(a, json_integer((json_int_t)r->len));
	json_array_append(a, states[st]);
	json_array_append(a, r->mod == HM_NO_MOD ? json_null() : mods[r->mod]);
	json_array_append_new(a, json_integer((json_int_t)r->frags));
	for (int s = 0; st == HM_MIXED && s < HM_NSTATES; s++)
		json_array_append_new(a, json_integer((json_int_t)r->bytes[s]));
	return a;
}

static json_t *runs_json(const struct heapmap *hm)
{
	json_t *states[HM_MIXED + 1], *mods[HM_MODS + 2], *runs = json_array();
	for (int s = 0; s <= HM_MIXED; s++)
		states[s] = json_string(hm_state_name(s));
	for (unsigned m = 0; m < hm->nmods; m++)
		mods[m] = json_string(hm->mods[m]);
	for (unsigned i = 0; i < hm->n; i++)
		json_array_append_new(runs, run_json(&hm->runs[i], states, mods));
	for (int s = 0; s <= HM_MIXED; s++)
		json_decref(states[s]);
	for (unsigned m = 0; m < hm->nmods; m++)
		json_decref(mods[m]);
	return runs;
}

static json_t *top_json(const struct heapmap *hm)
{
	json_t *a = json_array();
	for (unsigned i = 0; i < hm->nfree; i++)
		json_array_append_new(a, json_pack("{s:o,s:I,s:I}", "address",
			addr_json(hm->base + hm->top[i].off),
			"offset", (json_int_t)hm->top[i].off,
			"size", (json_int_t)hm->top[i].size));
	return a;
}

static json_t *totals_json(const struct heapmap *hm)
{
	const struct hm_totals *t = &hm->t;
	json_t *o = json_object();
	for (int s = 0; s < HM_NSTATES; s++) {
		char key[32];
		rpc_set_int(o, hm_state_name(s), (long long)t->bytes[s]);
		snprintf(key, sizeof(key), "%s_frags", hm_state_name(s));
		rpc_set_int(o, key, (long long)t->count[s]);
	}
	rpc_set_int(o, "largest_free", hm->nfree ? (long long)hm->top[0].size : 0);
	rpc_set_int(o, "fragments", (long long)(t->frags - t->skipped));
	rpc_set_int(o, "skipped", (long long)t->skipped);
	return o;
}

static json_t *map_json(const struct heapmap *hm, struct mem_pool *pool,
		const struct mem_scan_stats *st, uint64_t us)
{
	json_t *o = json_pack("{s:s,s:s,s:o,s:I,s:i,s:b,s:I,s:i}",
		"pool", pool == mem_shm_pool ? "shm" : "pkg",
		"backend", mem_pool_backend(pool), "base", addr_json(hm->base),
		"size", (json_int_t)hm->size, "cells", (int)hm->cap,
		"reduced", hm->cell != 0, "cell_size", (json_int_t)hm->cell,
		"count", (int)hm->n);
	json_t *scan = rpc_scan_json(st);
	rpc_set_int(scan, "elapsed_us", (long long)us);
	json_object_set_new(o, "runs", runs_json(hm));
	json_object_set_new(o, "largest_free", top_json(hm));
	json_object_set_new(o, "totals", totals_json(hm));
	json_object_set_new(o, "scan", scan);
	return o;
}

/* The map of a pool as JSON; NULL when there was no memory for it. */
static json_t *pool_map(struct mem_pool *pool, unsigned cells)
{
	struct heapmap hm;
	struct mem_scan_stats st;
	const void *base;
	uint64_t size, t0 = now_us();
	json_t *j = NULL;
	mem_pool_range(pool, &base, &size);
	if (hm_init(&hm, base, size, cells) < 0)
		goto out;
	mem_scan(pool, NULL, hm_add, &hm, &st);
	hm_finish(&hm);
	if (!hm.failed)
		j = map_json(&hm, pool, &st, now_us() - t0);
out:
	hm_release(&hm);
	return j;
}

char *rpc_ipc_pkg_map(const char *arg, const char **err)
{
	long cells = arg && *arg ? atol(arg) : MAP_CELLS;
	json_t *j;
	if (cells < HM_CAP_MIN || cells > HM_CAP_MAX) {
		*err = "bad cell count";
		return NULL;
	}
	if (!(j = pool_map(mem_pkg_pool, (unsigned)cells))) {
		*err = "no memory for the map";
		return NULL;
	}
	return rpc_ipc_reply(j, err);
}

/* --- parameters ------------------------------------------------------------ */

struct map_args {
	int entry;              /* -1: shm */
	long long cells;
};

/* A process named as "pkg PID" (or "pkg rank R"): positions used. */
static int pkg_arg(struct rpc_ctx *c, json_t *params, int i,
		struct map_args *a)
{
	json_t *v = rpc_arg(params, i, NULL);
	const char *s = json_string_value(v);
	char *end;
	if (rpc_arg_proc(c, params, i, 1, &a->entry) < 0)
		return -1;
	return s && (strtol(s, &end, 10), *end || !*s) ? 2 : 1;
}

static int positional(struct rpc_ctx *c, json_t *params, struct map_args *a)
{
	for (int i = 0, n; rpc_arg(params, i, NULL); i += n) {
		const char *k;
		if (rpc_arg_str(c, params, i, "keyword", 1, &k) < 0)
			return -1;
		if (!strcmp(k, "cells"))
			n = rpc_arg_int(c, params, i + 1, "cells", 1,
				&a->cells) < 0 ? -1 : 2;
		else if (!strcmp(k, "pkg"))
			n = (n = pkg_arg(c, params, i + 1, a)) < 0 ? -1 : n + 1;
		else if (!strcmp(k, "pid") || !strcmp(k, "rank") ||
			 !strcmp(k, "index"))
			n = pkg_arg(c, params, i, a);
		else
			return rpc_fail(c, RPC_INVALID_PARAMS, "shm.map takes "
				"[pkg PID|rank R|index I] [cells N], not \"%s\"",
				k);
		if (n < 0)
			return -1;
	}
	return 0;
}

static int named(struct rpc_ctx *c, json_t *params, struct map_args *a)
{
	long long pid;
	int r = rpc_arg_int(c, params, -1, "pkg", 0, &pid);
	if (r < 0 || rpc_arg_int(c, params, -1, "cells", 0, &a->cells) < 0)
		return -1;
	if (r == 1) {
		json_t *p = json_pack("[s,I]", "pid", (json_int_t)pid);
		r = rpc_arg_proc(c, p, 0, 1, &a->entry);
		json_decref(p);
		return r < 0 ? -1 : 0;
	}
	return rpc_arg_proc(c, params, -1, 0, &a->entry) < 0 ? -1 : 0;
}

static int map_args(struct rpc_ctx *c, json_t *params, struct map_args *a)
{
	*a = (struct map_args){ -1, MAP_CELLS };
	if ((json_is_object(params) ? named : positional)(c, params, a) < 0)
		return -1;
	if (a->cells < HM_CAP_MIN || a->cells > HM_CAP_MAX)
		return rpc_fail(c, RPC_INVALID_PARAMS, "parameter cells must "
			"be %d..%d", HM_CAP_MIN, HM_CAP_MAX);
	return 0;
}

/* --- the method ------------------------------------------------------------ */

static int m_map(struct rpc_ctx *c, json_t *params, json_t **res)
{
	struct map_args a;
	char arg[24];
	if (map_args(c, params, &a) < 0)
		return -1;
	if (a.entry < 0) {
		if (!(*res = pool_map(mem_shm_pool, (unsigned)a.cells)))
			return rpc_fail(c, RPC_SERVER_ERROR, "no memory for "
				"the map");
		return 0;
	}
	snprintf(arg, sizeof(arg), "%lld", a.cells);
	if (!(*res = rpc_ask(c, a.entry, "rpc.pkg_map", arg,
			RPC_IPC_TIMEOUT_MS)))
		return -1;
	rpc_set_int(*res, "pid", proc_table[a.entry].pid);
	rpc_set_int(*res, "rank", proc_table[a.entry].rank);
	rpc_set_int(*res, "entry", a.entry);
	return 0;
}

RPC_METHOD(shm_map_m) = { "shm.map", m_map,
	"[pkg PID|rank R|index I] [cells N]",
	"a pool in address order as at most N runs (default 1024): state, "
	"module, largest free blocks, totals", 0 };
