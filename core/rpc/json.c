/*
 * json.c - the library's diagnostic structures as JSON values, in the
 * shapes doc/RPC.md fixes (FRAG, SCAN, summaries, mod.stats rows).
 *
 * Only formatting: the data comes from mem_sums_get(), mem_scan() and
 * mem_report_get(), whose call-site records are static strings of the
 * program or interned strings in shm (sites.c), readable in every process.
 * Each function returns a new reference, or NULL when pkg ran out (the
 * dispatcher's out-of-memory check reports it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc/rpc_int.h"

int rpc_set_int(json_t *o, const char *key, long long v)
{
	return json_object_set_new(o, key, json_integer(v));
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* Call-site fields into o (null when unknown). */
static void site_fields(json_t *o, const struct mem_site *s)
{
	json_object_set_new(o, "file", str_or_null(s ? s->file : NULL));
	json_object_set_new(o, "func", str_or_null(s ? s->func : NULL));
	json_object_set_new(o, "line", s ? json_integer(s->line) : json_null());
	json_object_set_new(o, "module", str_or_null(s ? s->mod : NULL));
}

json_t *rpc_site_json(const struct mem_site *s)
{
	json_t *o;
	if (!s)
		return json_null();
	o = json_object();
	site_fields(o, s);
	return o;
}

/* "pid" and "rank" of the process a fragment names (null when unknown). */
static void proc_fields(json_t *o, uint32_t proc)
{
	struct mem_proc p = mem_proc_of(proc);
	json_object_set_new(o, "pid", p.pid ? json_integer(p.pid) : json_null());
	json_object_set_new(o, "rank", p.pid && p.has_rank ?
		json_integer(p.rank) : json_null());
}

static const char *frag_state(const struct mem_frag *f)
{
	return f->cached ? "cached" : f->used ? "used" : "free";
}

json_t *rpc_frag_json(const struct mem_frag *f)
{
	char addr[32];
	json_t *o = json_object();
	snprintf(addr, sizeof(addr), "%p", f->addr);
	json_object_set_new(o, "address", json_string(addr));
	rpc_set_int(o, "size", (long long)f->size);
	rpc_set_int(o, "asked", (long long)f->req_size);
	json_object_set_new(o, "state", json_string(frag_state(f)));
	json_object_set_new(o, "broken", json_boolean(f->broken));
	site_fields(o, f->alloc);
	proc_fields(o, f->alloc_proc);
	if (!f->used || f->cached) {
		json_t *freed = rpc_site_json(f->freed);
		if (json_is_object(freed))
			proc_fields(freed, f->free_proc);
		json_object_set_new(o, "freed", freed);
	}
	return o;
}

json_t *rpc_scan_json(const struct mem_scan_stats *s)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:i}",
		"fragments", (json_int_t)s->frags,
		"chunks", (json_int_t)s->sections,
		"max_hold_us", (json_int_t)(s->max_hold_ns / 1000),
		"total_hold_us", (json_int_t)(s->total_hold_ns / 1000),
		"resyncs", (json_int_t)s->resyncs,
		"changes", (json_int_t)s->changes,
		"result", s->result);
}

/* One row of a summary: {file, func, line, module, count, size, usable}. */
static json_t *site_sum_json(const struct mem_site_sum *s, int with_mod)
{
	json_t *o = json_object();
	json_object_set_new(o, "file", str_or_null(s->file));
	json_object_set_new(o, "func", str_or_null(s->func));
	json_object_set_new(o, "line", s->file ? json_integer(s->line) :
		json_null());
	if (with_mod)
		json_object_set_new(o, "module", str_or_null(s->mod));
	rpc_set_int(o, "count", (long long)s->count);
	rpc_set_int(o, "size", (long long)s->bytes);
	if (with_mod)
		rpc_set_int(o, "usable", (long long)s->usable);
	return o;
}

json_t *rpc_sums_json(const struct mem_sums_data *d)
{
	json_t *o = json_object(), *sites = json_array();
	json_object_set_new(o, "pool", json_string(d->pool));
	json_object_set_new(o, "backend", json_string(d->backend));
	json_object_set_new(o, "sites_known", json_boolean(d->sites_known));
	rpc_set_int(o, "count", (long long)d->count);
	rpc_set_int(o, "bytes", (long long)d->bytes);
	rpc_set_int(o, "usable", (long long)d->usable);
	for (size_t i = 0; i < d->nsites; i++)
		json_array_append_new(sites, site_sum_json(&d->sites[i], 1));
	json_object_set_new(o, "sites", sites);
	json_object_set_new(o, "scan", rpc_scan_json(&d->scan));
	return o;
}

static json_t *mod_row(const struct mem_sums_data *d,
		const struct mem_mod_sum *m, pid_t pid)
{
	json_t *o = json_object(), *sites = json_array();
	json_object_set_new(o, "module", str_or_null(m->mod));
	json_object_set_new(o, "pool", json_string(d->pool));
	if (pid >= 0)
		rpc_set_int(o, "pid", pid);
	rpc_set_int(o, "count", (long long)m->count);
	rpc_set_int(o, "size", (long long)m->bytes);
	for (size_t k = 0; k < m->nsites; k++)
		json_array_append_new(sites,
			site_sum_json(&d->sites[m->sites[k]], 0));
	json_object_set_new(o, "sites", sites);
	return o;
}

int rpc_mods_json(json_t *arr, const struct mem_sums_data *d, pid_t pid)
{
	for (size_t m = 0; m < d->nmods; m++)
		if (json_array_append_new(arr, mod_row(d, &d->mods[m], pid)))
			return -1;
	return 0;
}

json_t *rpc_pool_sums(struct mem_pool *pool, const char *mod, int mods)
{
	struct mem_sums_data *d = mem_sums_get(pool, mod);
	json_t *j;
	if (!d)
		return NULL;
	if (mods) {
		j = json_array();
		rpc_mods_json(j, d, pool == mem_shm_pool ? -1 : getpid());
	} else {
		j = rpc_sums_json(d);
	}
	mem_sums_release(d);
	return j;
}

char *rpc_json_to_malloc(const json_t *j)
{
	size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT);
	char *t;
	if (!n || !(t = malloc(n + 1)))
		return NULL;
	json_dumpb(j, t, n, JSON_COMPACT);
	t[n] = '\0';
	return t;
}
