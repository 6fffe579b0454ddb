/*
 * heapmap.c - the reduction behind shm.map: a pool's fragments, in address
 * order, to at most `cap` runs.
 *
 * Exact first.  Adjacent fragments of the same state (used, free, cached,
 * broken) and, for used and broken ones, the same module join one run.
 * While the runs fit in cap, the map is exact: every fragment boundary
 * between different states or modules is kept.
 *
 * Then cells.  The run that would be cap + 1 switches the map to cells:
 * the region is cut into at most cap cells of `cell` bytes (size / cap,
 * rounded up to 16), the runs so far are spread over them, and every
 * later fragment lands in the cells it overlaps.  A cell keeps its bytes
 * per state, the fragments that start in it, and its module by a weighted
 * majority vote of its used bytes (Boyer-Moore: the module holding more
 * than half a cell's used bytes always wins; with no such module the vote
 * names one of them).  At the end, cells holding bytes of one state only
 * are pure runs again and join their pure neighbours of the same state
 * and module; a cell with several states stays one "mixed" run with its
 * bytes per state.  Nothing is lost from the byte counts by state: the
 * sum over runs of each state is exact in both modes; what the cells lose
 * is where, inside a cell, each state's bytes lie, and minority modules.
 *
 * Costs: two arrays of cap runs (malloc, never the pool looked at: a map
 * of a pkg pool must not move that pool), O(1) per fragment in exact mode,
 * O(cells overlapped) per fragment after the switch, so O(fragments + cap)
 * in all.  The lock is mem_scan's business: hm_add() runs between chunks.
 */
#include <stdlib.h>
#include <string.h>

#include "rpc/heapmap.h"

static const char *const state_names[] = { "used", "free", "cached",
	"broken", "mixed" };

const char *hm_state_name(int state)
{
	return state >= 0 && state <= HM_MIXED ? state_names[state] : "?";
}

int hm_run_state(const struct hm_run *r)
{
	int st = -1;
	for (int s = 0; s < HM_NSTATES; s++) {
		if (!r->bytes[s])
			continue;
		if (st >= 0)
			return HM_MIXED;
		st = s;
	}
	return st < 0 ? HM_FREE : st;
}

int hm_init(struct heapmap *hm, const void *base, uint64_t size, unsigned cap)
{
	memset(hm, 0, sizeof(*hm));
	if (cap < HM_CAP_MIN || cap > HM_CAP_MAX)
		return -1;
	hm->base = (uintptr_t)base;
	hm->size = size;
	hm->cap = cap;
	/* one more: hm_finish() may give the tail a run of its own */
	hm->runs = malloc((cap + 1) * sizeof(*hm->runs));
	if (!hm->runs)
		return hm->failed = -1;
	return 0;
}

void hm_release(struct heapmap *hm)
{
	free(hm->runs);
	hm->runs = NULL;
	hm->n = 0;
}

/* --- modules --------------------------------------------------------------- */

static int mod_find(const struct heapmap *hm, const char *name)
{
	for (unsigned i = 0; i < hm->nmods; i++)
		if (hm->mods[i] == name || !strcmp(hm->mods[i], name))
			return (int)i;
	return HM_NO_MOD;
}

/* The index of a module name; past HM_MODS names, "(other)". */
static int mod_index(struct heapmap *hm, const char *name)
{
	int i = mod_find(hm, name ? name : "(unknown)");
	if (i != HM_NO_MOD)
		return i;
	if (hm->nmods >= HM_MODS && (i = mod_find(hm, "(other)")) != HM_NO_MOD)
		return i;
	hm->mods[hm->nmods] = hm->nmods >= HM_MODS ? "(other)" :
		name ? name : "(unknown)";
	return (int)hm->nmods++;
}

/* --- cells ----------------------------------------------------------------- */

/* Weighted majority vote for a cell's module. */
static void vote(struct hm_run *c, int mod, uint64_t w)
{
	if (c->mod == mod) {
		c->modw += w;
	} else if (c->modw >= w) {
		c->modw -= w;
	} else {
		c->mod = mod;
		c->modw = w - c->modw;
	}
}

/* A piece of the region: [off, off + len), one state, one module. */
struct piece {
	uint64_t off, len, frags;
	int state, mod;
};

/* Add a piece to the cells it overlaps; its fragments count in the cell
 * where it starts. */
static void spread(struct heapmap *hm, struct hm_run *cells,
		const struct piece *p)
{
	uint64_t at = p->off, end = p->off + p->len;
	uint64_t c = p->off / hm->cell;
	if (c >= hm->n)
		return;
	cells[c].frags += p->frags;
	for (; at < end && c < hm->n; c++) {
		uint64_t stop = cells[c].off + cells[c].len;
		uint64_t w = (end < stop ? end : stop) - at;
		cells[c].bytes[p->state] += w;
		if (p->mod != HM_NO_MOD)
			vote(&cells[c], p->mod, w);
		at += w;
	}
}

static struct piece run_piece(const struct hm_run *r)
{
	return (struct piece){ r->off, r->len, r->frags, hm_run_state(r),
		r->mod };
}

/* Switch to cells: at most cap of them, the runs so far spread over them. */
static int reduce(struct heapmap *hm)
{
	uint64_t g = (hm->size + hm->cap - 1) / hm->cap;
	struct hm_run *cells = malloc((hm->cap + 1) * sizeof(*cells));
	unsigned nruns = hm->n;
	if (!cells)
		return hm->failed = -1;
	hm->cell = g = (g + 15) & ~(uint64_t)15;
	hm->n = (unsigned)((hm->size + g - 1) / g);
	for (unsigned i = 0; i < hm->n; i++) {
		memset(&cells[i], 0, sizeof(cells[i]));
		cells[i].off = i * g;
		cells[i].len = (i + 1) * g > hm->size ? hm->size - i * g : g;
		cells[i].mod = HM_NO_MOD;
	}
	for (unsigned i = 0; i < nruns; i++) {
		struct piece p = run_piece(&hm->runs[i]);
		spread(hm, cells, &p);
	}
	free(hm->runs);
	hm->runs = cells;
	return 0;
}

/* --- runs ------------------------------------------------------------------ */

static int joins(const struct hm_run *r, const struct piece *p)
{
	return r->mod == p->mod && hm_run_state(r) == p->state &&
		r->off + r->len == p->off;
}

static void put(struct heapmap *hm, const struct piece *p)
{
	struct hm_run *r = hm->n ? &hm->runs[hm->n - 1] : NULL;
	if (hm->failed || (!p->len && !p->frags))
		return;
	if (!hm->cell && r && joins(r, p)) {
		r->len += p->len;
		r->bytes[p->state] += p->len;
		r->frags += p->frags;
		return;
	}
	if (!hm->cell && hm->n == hm->cap && reduce(hm) < 0)
		return;
	if (hm->cell) {
		spread(hm, hm->runs, p);
		return;
	}
	r = &hm->runs[hm->n++];
	memset(r, 0, sizeof(*r));
	r->off = p->off;
	r->len = p->len;
	r->bytes[p->state] = p->len;
	r->frags = p->frags;
	r->mod = p->mod;
}

static int frag_state(const struct mem_frag *f)
{
	return f->broken ? HM_BROKEN : mem_frag_held(f) ? HM_CACHED :
		f->used ? HM_USED : HM_FREE;
}

/* Keep the HM_TOP_FREE largest free blocks, largest first. */
static void top_free(struct heapmap *hm, uint64_t off, uint64_t size)
{
	unsigned i = hm->nfree < HM_TOP_FREE ? hm->nfree++ : HM_TOP_FREE;
	if (i == HM_TOP_FREE && size <= hm->top[HM_TOP_FREE - 1].size)
		return;
	if (i == HM_TOP_FREE)
		i--;
	for (; i > 0 && hm->top[i - 1].size < size; i--)
		hm->top[i] = hm->top[i - 1];
	hm->top[i] = (struct hm_free){ off, size };
}

/* The backend's own bytes: before the first fragment, after the last. */
static void heap_piece(struct heapmap *hm, uint64_t from, uint64_t to)
{
	struct piece p = { from, to - from, 0, HM_USED, HM_NO_MOD };
	if (to <= from)
		return;
	p.mod = mod_index(hm, "(heap)");
	put(hm, &p);
}

int hm_add(const struct mem_frag *f, void *arg)
{
	struct heapmap *hm = arg;
	uintptr_t a = (uintptr_t)f->addr;
	uint64_t off = a - hm->base;
	struct piece p;
	hm->t.frags++;
	if (a < hm->base || off + f->size > hm->size || off < hm->end) {
		hm->t.skipped++;
		return 0;
	}
	p.state = frag_state(f);
	p.mod = p.state == HM_USED || p.state == HM_BROKEN ? mod_index(hm,
		f->alloc ? f->alloc->mod : NULL) : HM_NO_MOD;
	if (hm->t.frags == hm->t.skipped + 1)   /* the first one */
		heap_piece(hm, 0, off);
	p.off = hm->t.frags == hm->t.skipped + 1 ? off : hm->end;
	p.len = off + f->size - p.off;
	p.frags = 1;
	put(hm, &p);
	hm->end = off + f->size;
	hm->t.count[p.state]++;
	hm->t.bytes[p.state] += f->size;
	if (p.state == HM_FREE)
		top_free(hm, off, f->size);
	return hm->failed ? 1 : 0;
}

/* Cells back into runs: pure neighbours of one state and module join. */
static void cells_to_runs(struct heapmap *hm)
{
	unsigned w = 0;
	for (unsigned i = 0; i < hm->n; i++) {
		struct hm_run *c = &hm->runs[i];
		struct piece p = run_piece(c);
		if (w && p.state != HM_MIXED && joins(&hm->runs[w - 1], &p)) {
			struct hm_run *r = &hm->runs[w - 1];
			r->len += c->len;
			r->bytes[p.state] += c->len;
			r->frags += c->frags;
			continue;
		}
		hm->runs[w++] = *c;
	}
	hm->n = w;
}

void hm_finish(struct heapmap *hm)
{
	if (hm->failed)
		return;
	if (hm->t.frags == hm->t.skipped)       /* nothing seen */
		hm->end = 0;
	heap_piece(hm, hm->end, hm->size);
	if (hm->cell)
		cells_to_runs(hm);
}
