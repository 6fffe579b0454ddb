/*
 * summary.c - the heap summed up, as data: totals per call site and per
 * module (mem_sums_get), and the report (mem_report_get).  Both are one
 * mem_scan() (status.c), so they hold a pool's lock only chunk by chunk,
 * and all the work here runs with the lock released.  Results live in
 * scratch memory (scratch.c), never in the pool they describe.
 *
 * Sums.  Used fragments are counted in a hash table keyed by the address
 * of their call-site record (one static record per allocation macro; with
 * MEMDBG=0 every fragment has the NULL key: one "no call site" row).  Open
 * addressing, doubled at half full, so a lookup is O(1) and nothing is
 * ever lumped together for lack of room.  At the end the rows are taken
 * out; rows whose sites read the same (two macros on one line) are merged;
 * the rows are sorted by bytes, largest first; and the modules are grouped
 * from them, each with the indices of its sites.  Costs: O(1) per fragment,
 * O(s log s) for s sites at the end; memory: a table of 2 to 4 slots of 32
 * bytes per site while scanning, about 100 bytes per site in the result.
 *
 * Bytes are what the callers asked for (MEMDBG); when that is not known,
 * the usable size.  Cached fragments (parked in a per-process shm cache)
 * are not used fragments and are not summed.
 */
#define _GNU_SOURCE             /* qsort_r */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TAB_FIRST 256u          /* slots; a power of two */

struct tally {
	const struct mem_site *site;
	uint64_t count, bytes, usable;
};

struct tab {
	struct tally *slot;
	size_t cap, used;
	const char *mod;        /* only this module's sites; NULL: all */
};

/* --- the table ----------------------------------------------------------- */

static size_t slot_of(const struct tab *t, const struct mem_site *site)
{
	uint64_t h = ((uintptr_t)site >> 4) * 0x9e3779b97f4a7c15ull;
	return (size_t)(h ^ (h >> 29)) & (t->cap - 1);
}

/* The slot of site, or the empty one where it belongs (count == 0). */
static struct tally *tab_find(const struct tab *t, const struct mem_site *site)
{
	for (size_t i = slot_of(t, site);; i = (i + 1) & (t->cap - 1))
		if (!t->slot[i].count || t->slot[i].site == site)
			return &t->slot[i];
}

static int tab_grow(struct tab *t)
{
	struct tab n = { NULL, t->cap ? 2 * t->cap : TAB_FIRST, t->used, t->mod };
	if (!(n.slot = mem_scratch_alloc(n.cap * sizeof(*n.slot))))
		return -1;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slot[i].count)
			*tab_find(&n, t->slot[i].site) = t->slot[i];
	mem_scratch_free(t->slot);
	*t = n;
	return 0;
}

static int wanted(const struct tab *t, const struct mem_site *site)
{
	return !t->mod || (site && !strcmp(mem_site_mod(site), t->mod));
}

static int tab_frag(const struct mem_frag *f, void *arg)
{
	struct tab *t = arg;
	if (!f->used || !wanted(t, f->alloc))
		return 0;
	if (2 * (t->used + 1) > t->cap && tab_grow(t) < 0)
		return 1;
	struct tally *e = tab_find(t, f->alloc);
	if (!e->count) {
		e->site = f->alloc;
		t->used++;
	}
	e->count++;
	e->bytes += f->req_size ? f->req_size : f->size;
	e->usable += f->size;
	return 0;
}

/* --- rows ---------------------------------------------------------------- */

static int str_cmp(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) : (a != NULL) - (b != NULL);
}

static int by_text(const void *a, const void *b)
{
	const struct mem_site_sum *x = a, *y = b;
	int c = str_cmp(x->file, y->file);
	if (!c)
		c = x->line < y->line ? -1 : x->line > y->line;
	if (!c)
		c = str_cmp(x->func, y->func);
	return c ? c : str_cmp(x->mod, y->mod);
}

static int by_bytes(const void *a, const void *b)
{
	const struct mem_site_sum *x = a, *y = b;
	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	return by_text(a, b);
}

static struct mem_site_sum row_of(const struct tally *e)
{
	struct mem_site_sum r = { .count = e->count, .bytes = e->bytes,
		.usable = e->usable };
	if (e->site) {
		r.file = e->site->file;
		r.func = e->site->func;
		r.mod = mem_site_mod(e->site);
		r.line = e->site->line;
	}
	return r;
}

/* The table's entries as rows, those of the same text merged. */
static size_t rows_fill(struct mem_site_sum *rows, const struct tab *t)
{
	size_t n = 0, k = 0;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slot[i].count)
			rows[n++] = row_of(&t->slot[i]);
	qsort(rows, n, sizeof(*rows), by_text);
	for (size_t i = 0; i < n; i++) {
		if (k && !by_text(&rows[k - 1], &rows[i])) {
			rows[k - 1].count += rows[i].count;
			rows[k - 1].bytes += rows[i].bytes;
			rows[k - 1].usable += rows[i].usable;
		} else {
			rows[k++] = rows[i];
		}
	}
	qsort(rows, k, sizeof(*rows), by_bytes);
	return k;
}

/* --- modules ------------------------------------------------------------- */

/* Site indices by module, then by the sites' order (largest first). */
static int by_module(const void *a, const void *b, void *arg)
{
	const struct mem_site_sum *rows = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = str_cmp(rows[x].mod, rows[y].mod);
	return c ? c : (x > y) - (x < y);
}

static int mods_by_bytes(const void *a, const void *b)
{
	const struct mem_mod_sum *x = a, *y = b;
	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	return str_cmp(x->mod, y->mod);
}

static void mods_fill(struct mem_sums_data *d, size_t *idx)
{
	for (size_t i = 0; i < d->nsites; i++)
		idx[i] = i;
	qsort_r(idx, d->nsites, sizeof(*idx), by_module, d->sites);
	struct mem_mod_sum *m = NULL;
	for (size_t i = 0; i < d->nsites; i++) {
		const struct mem_site_sum *r = &d->sites[idx[i]];
		if (!m || str_cmp(m->mod, r->mod)) {
			m = &d->mods[d->nmods++];
			*m = (struct mem_mod_sum){ .mod = r->mod,
				.sites = &idx[i] };
		}
		m->count += r->count;
		m->bytes += r->bytes;
		m->usable += r->usable;
		m->nsites++;
	}
	qsort(d->mods, d->nmods, sizeof(*d->mods), mods_by_bytes);
}

/* --- the result ---------------------------------------------------------- */

static struct mem_sums_data *sums_build(struct mem_pool *pool,
		const struct tab *t)
{
	size_t n = t->used;
	struct mem_sums_data *d = mem_scratch_alloc(sizeof(*d) + n *
		(sizeof(*d->sites) + sizeof(*d->mods) + sizeof(size_t)));
	if (!d)
		return NULL;
	d->pool = pool->name;
	d->backend = POOL_BE(pool)->long_name;
	d->sites_known = MEMDBG;
	d->sites = (struct mem_site_sum *)(d + 1);
	d->mods = (struct mem_mod_sum *)(d->sites + n);
	d->nsites = rows_fill(d->sites, t);
	mods_fill(d, (size_t *)(d->mods + n));
	for (size_t i = 0; i < d->nsites; i++) {
		d->count += d->sites[i].count;
		d->bytes += d->sites[i].bytes;
		d->usable += d->sites[i].usable;
	}
	return d;
}

struct mem_sums_data *mem_sums_get(struct mem_pool *pool, const char *mod)
{
	struct tab t = { .mod = mod && strcmp(mod, "all") ? mod : NULL };
	struct mem_scan_stats st;
	struct mem_sums_data *d = NULL;
	if (tab_grow(&t) < 0)
		return NULL;
	if (mem_scan(pool, NULL, tab_frag, &t, &st) != 1 &&
	    (d = sums_build(pool, &t)))
		d->scan = st;
	mem_scratch_free(t.slot);
	return d;
}

void mem_sums_release(struct mem_sums_data *d)
{
	mem_scratch_free(d);
}

/* --- the report ---------------------------------------------------------- */

static void extremes(struct mem_frag *min, struct mem_frag *max, uint64_t n,
		const struct mem_frag *f)
{
	if (n == 1 || f->size < min->size)
		*min = *f;
	if (n == 1 || f->size > max->size)
		*max = *f;
}

static int report_frag(const struct mem_frag *f, void *arg)
{
	struct mem_report_data *r = arg;
	if (f->hole) {          /* neither used nor free: unreadable */
		r->holes++;
		r->hole_bytes += f->size;
		return 0;
	}
	if (f->broken && !r->broken_frags++)
		r->first_broken = *f;
	if (mem_frag_held(f)) {
		r->cached_frags++;
		r->cached_bytes += f->size;
	} else if (f->used) {
		r->used_bytes += f->size;
		r->asked_bytes += f->req_size;
		extremes(&r->min_used, &r->max_used, ++r->used_frags, f);
	} else {
		r->free_bytes += f->size;
		extremes(&r->min_free, &r->max_free, ++r->free_frags, f);
	}
	return 0;
}

int mem_report_get(struct mem_pool *pool, struct mem_report_data *r)
{
	memset(r, 0, sizeof(*r));
	r->pool = pool->name;
	r->backend = POOL_BE(pool)->long_name;
	mem_pool_info(pool, &r->info);
	return mem_scan(pool, NULL, report_frag, r, &r->scan);
}
