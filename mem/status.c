/*
 * status.c - the heap as data: walk, check, status dumps and per-call-site
 * sums, the same for every backend.  Backends only visit blocks
 * (backend.h walk/check); this file turns a block into a struct mem_frag
 * (decoding the MEMDBG record) and formats at the edge, through mem_log().
 *
 * Sums use a fixed open-addressed table in a private mapping, never the
 * pool being walked; sites beyond its capacity are counted under one
 * "other sites" row, so the totals stay exact.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "debug.h"
#include "internal.h"

/* --- walking ------------------------------------------------------------- */

struct walk_ctx {
	struct mem_pool *pool;
	mem_walk_fn fn;
	void *arg;
};

static void frag_of_block(struct mem_pool *pool, const struct mem_block *b,
		struct mem_frag *f)
{
	void *user = dbg_user(b->payload);
	memset(f, 0, sizeof(*f));
	f->addr = user;
	f->used = b->used;
	f->size = b->size > DBG_EXTRA ? b->size - DBG_EXTRA : 0;
#if MEMDBG
	(void)pool;
	if (b->size < DBG_EXTRA)
		return;
	int ds = dbg_state(user);
	if (b->used && ds == DBG_LIVE) {
		f->req_size = dbg_hdr(user)->req;
		f->alloc = dbg_hdr(user)->alloc;
	} else if (ds == DBG_DEAD) {
		f->alloc = dbg_hdr(user)->alloc;
		f->freed = dbg_free_site(user);
		f->cached = b->used;  /* used to the heap: parked in a cache */
		f->used = 0;
	}
#else
	if (pool->cache && b->used && b->size >= 16 && cache_is_parked(user)) {
		f->cached = 1;
		f->used = 0;
	}
#endif
}

static int walk_block(const struct mem_block *b, void *arg)
{
	struct walk_ctx *w = arg;
	struct mem_frag f;
	frag_of_block(w->pool, b, &f);
	return w->fn(&f, w->arg);
}

static int walk_unsafe(struct mem_pool *pool, mem_walk_fn fn, void *arg)
{
	struct walk_ctx w = { pool, fn, arg };
	return pool->be->walk(pool->st, walk_block, &w);
}

int mem_walk(struct mem_pool *pool, mem_walk_fn fn, void *arg)
{
	mem_pool_lock(pool);
	int rc = walk_unsafe(pool, fn, arg);
	mem_pool_unlock(pool);
	return rc;
}

/* --- checking ------------------------------------------------------------ */

struct check_ctx {
	struct mem_pool *pool;
	int problems;
};

static void check_problem(void *arg, const void *where, const char *what)
{
	struct check_ctx *c = arg;
	mem_log(MEM_L_ERR, "%s: heap check: %s at %p", c->pool->name, what,
		where);
}

#if MEMDBG
/* The record of every used fragment: tag, then end canary. */
static int check_record(const struct mem_block *b, void *arg)
{
	struct check_ctx *c = arg;
	void *user = dbg_user(b->payload);
	char site[256];
	if (!b->used || (b->size >= DBG_EXTRA && dbg_state(user) == DBG_DEAD))
		return 0;   /* free, or parked in a per-process cache */
	if (b->size < DBG_EXTRA || dbg_state(user) != DBG_LIVE) {
		mem_log(MEM_L_ERR, "%s: heap check: used fragment %p has a "
			"broken debug record", c->pool->name, user);
		c->problems++;
	} else if (!dbg_canary_ok(user)) {
		mem_log(MEM_L_ERR, "%s: heap check: write past the end of "
			"fragment %p (%llu bytes) allocated at %s",
			c->pool->name, user,
			(unsigned long long)dbg_hdr(user)->req,
			mem_site_str(dbg_hdr(user)->alloc, site, sizeof(site)));
		c->problems++;
	}
	return 0;
}
#endif

int mem_check_unsafe(struct mem_pool *pool)
{
	struct check_ctx c = { pool, 0 };
	c.problems = pool->be->check(pool->st, check_problem, &c);
#if MEMDBG
	if (!c.problems)    /* the walk trusts block sizes: only when sound */
		pool->be->walk(pool->st, check_record, &c);
#endif
	return c.problems;
}

int mem_check(struct mem_pool *pool)
{
	mem_pool_lock(pool);
	int n = mem_check_unsafe(pool);
	mem_pool_unlock(pool);
	return n;
}

/* --- status dump --------------------------------------------------------- */

struct status_ctx {
	struct mem_pool *pool;
	const char *filter;
	unsigned long n;
};

static int site_matches(const struct mem_site *s, const char *filter)
{
	if (!filter)
		return 1;
	return s && ((s->file && strstr(s->file, filter)) ||
		(s->mod && !strcmp(s->mod, filter)));
}

static int status_frag(const struct mem_frag *f, void *arg)
{
	struct status_ctx *c = arg;
	char site[256];
	c->n++;
	if (!site_matches(f->alloc, c->filter) || (c->filter && !f->used))
		return 0;
	mem_log(MEM_L_INFO, "%s: %6lu. %p %s %llu bytes (asked %llu) "
		"allocated at %s", c->pool->name, c->n, f->addr,
		f->used ? "used" : "free", (unsigned long long)f->size,
		(unsigned long long)f->req_size,
		mem_site_str(f->alloc, site, sizeof(site)));
	return 0;
}

void mem_status(struct mem_pool *pool, const char *filter)
{
	struct status_ctx c = { pool, filter, 0 };
	struct mem_info mi;
	mem_pool_info(pool, &mi);
	mem_log(MEM_L_INFO, "%s: status (%s): total %llu, used %llu, "
		"real_used %llu, free %llu, free fragments %llu", pool->name,
		pool->be->long_name, (unsigned long long)mi.total_size,
		(unsigned long long)mi.used_size,
		(unsigned long long)mi.real_used,
		(unsigned long long)mi.free_size,
		(unsigned long long)mi.total_frags);
	mem_walk(pool, status_frag, &c);
}

/* --- per-call-site sums -------------------------------------------------- */

#define SUMS_SLOTS 4096u /* power of two */

struct sum_row {
	const struct mem_site *site;
	uint64_t count, bytes;
};

struct sums_ctx {
	struct sum_row *rows;   /* SUMS_SLOTS + 1: the last is "other" */
	uint64_t used;
};

static int sums_frag(const struct mem_frag *f, void *arg)
{
	struct sums_ctx *c = arg;
	if (!f->used)
		return 0;
	uintptr_t h = ((uintptr_t)f->alloc >> 4) * 0x9e3779b97f4a7c15ull;
	struct sum_row *row = &c->rows[SUMS_SLOTS];
	for (unsigned i = 0; i < 64; i++) {
		struct sum_row *r = &c->rows[(h + i) & (SUMS_SLOTS - 1)];
		if (r->count == 0 || r->site == f->alloc) {
			row = r;
			break;
		}
	}
	if (row->count == 0)
		c->used++;
	row->site = row == &c->rows[SUMS_SLOTS] ? NULL : f->alloc;
	row->count++;
	row->bytes += f->req_size ? f->req_size : f->size;
	return 0;
}

static int by_bytes_desc(const void *a, const void *b)
{
	const struct sum_row *x = a, *y = b;
	return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

void mem_sums(struct mem_pool *pool)
{
	size_t len = (SUMS_SLOTS + 1) * sizeof(struct sum_row);
	struct sums_ctx c = { mmap(NULL, len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), 0 };
	char site[256];
	if (c.rows == MAP_FAILED) {
		mem_log(MEM_L_ERR, "%s: sums: no scratch memory", pool->name);
		return;
	}
	mem_walk(pool, sums_frag, &c);
	qsort(c.rows, SUMS_SLOTS + 1, sizeof(*c.rows), by_bytes_desc);
	mem_log(MEM_L_INFO, "%s: summary of used fragments by call site "
		"(%s):", pool->name, MEMDBG ? "count, bytes asked" :
		"MEMDBG=0: no call sites");
	for (size_t i = 0; i <= SUMS_SLOTS && c.rows[i].count; i++)
		mem_log(MEM_L_INFO, "%s: %8llu x %10llu bytes  %s", pool->name,
			(unsigned long long)c.rows[i].count,
			(unsigned long long)c.rows[i].bytes,
			mem_site_str(c.rows[i].site, site, sizeof(site)));
	munmap(c.rows, len);
}
