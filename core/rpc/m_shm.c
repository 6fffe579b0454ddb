/*
 * m_shm.c - the shm pool's methods: core.shmmem, shm.stats, shm.info,
 * shm.report, shm.status, shm.summary (shm.lock is m_lock.c's; its totals
 * are also shm.stats's "lock").
 *
 * Counters come from mem_pool_info() (no walk, one short lock); the shm
 * alarm is checked against them (alarm.c), so "alarm" agrees with them.  Whatever
 * looks at fragments uses mem_scan() through the library (mem_sums_get,
 * mem_report_get, or mem_scan itself for shm.status): the lock is held for
 * mem_scan_chunk fragments at a time, never for the whole heap, so a dump
 * of a big heap stalls no worker longer than doc/DIAGNOSTICS.md's bound.
 * shm.status keeps at most `limit` fragments (default 1000, at most
 * 100000) but counts every match, so "matched" tells what was left out.
 */
#include <string.h>
#include <strings.h>

#include "rpc/rpc_int.h"
#include "runtime/alarm.h"

#define STATUS_LIMIT 1000
#define STATUS_LIMIT_MAX 100000

static json_t *counters(const struct mem_info *mi, uint64_t div)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"total", (json_int_t)(mi->total_size / div),
		"free", (json_int_t)(mi->free_size / div),
		"used", (json_int_t)(mi->used_size / div),
		"real_used", (json_int_t)(mi->real_used / div),
		"max_used", (json_int_t)(mi->max_used / div),
		"fragments", (json_int_t)mi->total_frags,
		"cached", (json_int_t)(mi->cached / div));
}

static int m_shmmem(struct rpc_ctx *c, json_t *params, json_t **res)
{
	static const char units[] = "bkmg";
	const char *u = "b", *p;
	struct mem_info mi;
	if (rpc_arg_str(c, params, 0, "unit", 0, &u) < 0)
		return -1;
	if (strlen(u) != 1 || !(p = strchr(units, u[0] | 0x20)))
		return rpc_fail(c, RPC_INVALID_PARAMS, "parameter unit (#1) "
			"must be b, k, m or g, not \"%s\"", u);
	shm_info(&mi);
	*res = counters(&mi, (uint64_t)1 << (10 * (p - units)));
	json_object_set_new(*res, "alarm",
		json_string(alarm_name(alarm_check_shm(&mi))));
	return 0;
}

/* The caches' traffic with the heap (shm_cache_flow): zeros without
 * caches. */
static json_t *flow_json(void)
{
	struct shm_cache_flow f;
	(void)shm_cache_flow(&f);
	json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I}",
		"refills", (json_int_t)f.refills,
		"from_depot", (json_int_t)f.from_depot,
		"cut", (json_int_t)f.cut,
		"chains", (json_int_t)f.chains,
		"to_depot", (json_int_t)f.to_depot);
	json_object_update_new(o, json_pack("{s:I,s:I,s:I,s:I}",
		"to_heap", (json_int_t)f.to_heap,
		"over_budget", (json_int_t)f.over_budget,
		"drains", (json_int_t)f.drains,
		"reclaimed", (json_int_t)f.reclaimed));
	return o;
}

static int m_stats(struct rpc_ctx *c, json_t *params, json_t **res)
{
	struct mem_info mi;
	uint64_t bytes, blocks;
	(void)c;
	(void)params;
	shm_info(&mi);
	shm_cache_stats(&bytes, &blocks);
	*res = counters(&mi, 1);
	json_object_set_new(*res, "alarm",
		json_string(alarm_name(alarm_check_shm(&mi))));
	json_object_set_new(*res, "backend",
		json_string(mem_pool_backend(mem_shm_pool)));
	json_t *cache = json_pack("{s:I,s:I,s:I}",
		"bytes", (json_int_t)bytes, "blocks", (json_int_t)blocks,
		"limit", (json_int_t)shm_cache_limit());
	json_object_set_new(cache, "flow", flow_json());
	json_object_set_new(*res, "cache", cache);
	json_object_set_new(*res, "lock", rpc_lock_json(0));
	return 0;
}

static int m_info(struct rpc_ctx *c, json_t *params, json_t **res)
{
	struct mem_info mi;
	(void)c;
	(void)params;
	shm_info(&mi);
	*res = json_pack("{s:s,s:I,s:s,s:I,s:b}",
		"name", mem_pool_backend(mem_shm_pool),
		"size", (json_int_t)mi.total_size, "build", mem_build_info(),
		"cache_limit", (json_int_t)shm_cache_limit(),
		"sites_known", MEMDBG);
	return 0;
}

/* A FRAG of the report, or null when its count says it is not set. */
static json_t *frag_or_null(uint64_t count, const struct mem_frag *f)
{
	return count ? rpc_frag_json(f) : json_null();
}

static json_t *report_json(const struct mem_report_data *r)
{
	json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I}",
		"name", r->backend, "size", (json_int_t)r->info.total_size,
		"used", (json_int_t)r->info.used_size,
		"real_used", (json_int_t)r->info.real_used,
		"max_used", (json_int_t)r->info.max_used,
		"free", (json_int_t)r->info.free_size,
		"cached", (json_int_t)r->info.cached);
	json_object_update_new(o, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"used_frags", (json_int_t)r->used_frags,
		"free_frags", (json_int_t)r->free_frags,
		"cached_frags", (json_int_t)r->cached_frags,
		"broken_frags", (json_int_t)r->broken_frags,
		"used_bytes", (json_int_t)r->used_bytes,
		"free_bytes", (json_int_t)r->free_bytes,
		"cached_bytes", (json_int_t)r->cached_bytes,
		"asked_bytes", (json_int_t)r->asked_bytes));
	json_object_set_new(o, "min_used", frag_or_null(r->used_frags, &r->min_used));
	json_object_set_new(o, "max_used_frag",
		frag_or_null(r->used_frags, &r->max_used));
	json_object_set_new(o, "min_free", frag_or_null(r->free_frags, &r->min_free));
	json_object_set_new(o, "max_free", frag_or_null(r->free_frags, &r->max_free));
	json_object_set_new(o, "first_broken",
		frag_or_null(r->broken_frags, &r->first_broken));
	json_object_set_new(o, "scan", rpc_scan_json(&r->scan));
	return o;
}

static int m_report(struct rpc_ctx *c, json_t *params, json_t **res)
{
	struct mem_report_data r;
	(void)params;
	memset(&r, 0, sizeof(r));
	mem_report_get(mem_shm_pool, &r);
	if (!r.backend)
		return rpc_fail(c, RPC_SERVER_ERROR, "the report could not be "
			"made (no scratch memory)");
	*res = report_json(&r);
	return 0;
}

/* shm.status: the fragments kept, and how many matched. */
struct status {
	json_t *frags;
	uint64_t matched, limit;
};

static int status_frag(const struct mem_frag *f, void *arg)
{
	struct status *s = arg;
	if (s->matched++ < s->limit)
		json_array_append_new(s->frags, rpc_frag_json(f));
	return 0;
}

static int m_status(struct rpc_ctx *c, json_t *params, json_t **res)
{
	const char *filter = NULL;
	long long limit = STATUS_LIMIT;
	struct mem_scan_stats st;
	struct status s;
	if (rpc_arg_str(c, params, 0, "filter", 0, &filter) < 0 ||
	    rpc_arg_int(c, params, 1, "limit", 0, &limit) < 0)
		return -1;
	if (limit < 0 || limit > STATUS_LIMIT_MAX)
		return rpc_fail(c, RPC_INVALID_PARAMS, "parameter limit (#2) "
			"must be 0..%d", STATUS_LIMIT_MAX);
	if (filter && !*filter)
		filter = NULL;
	s.frags = json_array();
	s.matched = 0;
	s.limit = (uint64_t)limit;
	mem_scan(mem_shm_pool, filter, status_frag, &s, &st);
	*res = json_pack("{s:o,s:I,s:I,s:b,s:o}", "fragments", s.frags,
		"count", (json_int_t)json_array_size(s.frags),
		"matched", (json_int_t)s.matched, "truncated",
		s.matched > s.limit, "scan", rpc_scan_json(&st));
	return 0;
}

static int m_summary(struct rpc_ctx *c, json_t *params, json_t **res)
{
	const char *mod = NULL;
	if (rpc_arg_str(c, params, 0, "module", 0, &mod) < 0)
		return -1;
	if (!(*res = rpc_pool_sums(mem_shm_pool, mod, 0)))
		return rpc_fail(c, RPC_SERVER_ERROR, "no scratch memory for "
			"the summary");
	return 0;
}

RPC_METHOD(shm_shmmem) = { "core.shmmem", m_shmmem, "[b|k|m|g]",
	"shm counters: total, free, used, real_used, max_used, fragments, "
	"cached", 0 };
RPC_METHOD(shm_stats) = { "shm.stats", m_stats, "",
	"core.shmmem in bytes, the backend and the per-process caches", 0 };
RPC_METHOD(shm_info_m) = { "shm.info", m_info, "",
	"the shm backend, its size, the build, the cache limit", 0 };
RPC_METHOD(shm_report_m) = { "shm.report", m_report, "",
	"counts, totals and the extreme fragments of one scan", 0 };
RPC_METHOD(shm_status_m) = { "shm.status", m_status, "[filter] [limit]",
	"shm fragments (used ones whose file or module matches filter)", 0 };
RPC_METHOD(shm_summary_m) = { "shm.summary", m_summary, "[module]",
	"shm used per call site, largest first", 0 };
