/*
 * slab.c - small pkg requests from spans of one object size (pkg_slab,
 * MEMDBG=0 builds).
 *
 * Why.  A free in a boundary-tag heap reads its fragment's header and the
 * next one (to check and to join): in a busy process neither line is in
 * the cache, and the free queue (fqueue.h) only overlaps those misses.  A
 * request of at most SLAB_MAX bytes (80 % of membench's W2, which follows
 * a SIP proxy's sizes) is served here instead: its free reads a word of a
 * small map and the header of its span, and writes 2 bytes into the
 * freed object.  What that buys depends on whether the span headers stay
 * in the cache: in runs of one size (membench W1) they do, and allocation
 * and free are 1.3-2x faster; in W2's random frees over 50,000 blocks the
 * header is one more cold line behind the map's, and W2 is no faster (up
 * to 9 % slower) than the heap with its free queue.  So pkg_slab is off by default
 * (doc/PERFORMANCE.md, "Small objects in spans").
 *
 * How.  A span is one used block of 1/256 of the pool (4 KiB at most 1
 * MiB, 16 KiB from 4 MiB: what 32 classes hold at least stays 1/8 of a
 * small pool) in the pool's own
 * heap (slab.h draws it): a header, then objects of one size, a multiple
 * of SLAB_GRAIN up to SLAB_MAX (32 classes).  Each class lists its spans
 * with room; malloc takes the head span's first free object (LIFO: the
 * one freed last, still in the cache) or its next never-used one, and a
 * span that fills leaves the list.  free finds the span through the map:
 * one 32-bit entry per span-sized window of the pool, naming the
 * span whose header lies in that window, so a pointer's span is its
 * window's or the previous window's (a span is one window long).  An
 * object's index is its offset times a reciprocal (exact for offsets
 * below 2^18 and sizes below 2^13); its live bit says handed out or not.
 * A span that empties is given back to the heap unless it is its class's
 * last span with room; slab_trim() gives back those too, before anything
 * reads the heap as a whole (info, check, walk) and before an allocation
 * fails, so spans never hide memory from a request or from the counters.
 * When no span can be made (the heap is full), the request goes to the
 * heap like any other.
 *
 * Misuse, each caught where the backends catch it (mem.c reports it, with
 * the caller's site): a pointer into a span that is no object's start
 * (the header, an object's middle, past the objects ever handed out), a
 * double free or a realloc of a freed object (live bit clear).  A write
 * after free that breaks a free object's link (its first 2 bytes) is
 * found when malloc meets it (a head handed out already, a link past the
 * objects ever handed out): the list is rebuilt from the live bits and the
 * write reported (slab_mend).  A span header broken by an overflow of the
 * block before it fails its magic: its objects then go to the heap's free,
 * which refuses them (a pointer inside a used block) and says so, and the
 * heap checker names the span.  Nothing is ever freed on a wrong word.
 *
 * Invariants (slab_check): every map entry names a span of the heap's
 * (a used block of at least a span's bytes) whose header lies in that
 * window and carries its magic; a span's sizes are its class's; live is
 * the number of live bits, none at or past bump; its free list visits
 * exactly the bump - live objects below bump whose bit is clear; a span is
 * on its class's list (links both ways, listed set) iff it has room; the
 * counters are the sums over the spans.
 *
 * Accounting.  To the heap a span is a used block; slab_info() counts
 * instead the objects handed out as the callers' (used_size) and the
 * spans' other bytes as overhead (real_used keeps the whole spans, as
 * they are taken from the heap).
 *
 * Costs.  malloc and free O(1): a class index, two map loads (free), a
 * handful of header words; a new span is one heap malloc per 1,012 to 31
 * objects.  Memory: SLAB_HDR (192) bytes per span, the unused tail of
 * its objects' size, objects freed in spans that do not empty, and the
 * map, 4 bytes per 16 KiB of pool (64 KiB for 256 MiB).  trim and check
 * O(spans + classes); repair O(objects of the span).
 *
 * Not under Valgrind (pkg.c: memcheck must see each object as a block)
 * and not with MEMDBG=1 (every fragment carries its record); a walk or a
 * dump shows a span as one used block.
 */
#include <string.h>

#include "slab.h"

static unsigned span_shift(uint64_t heap)
{
	unsigned s = SLAB_SHIFT_MIN;
	while (s < SLAB_SHIFT && ((uint64_t)1 << (s + 8)) < heap)
		s++;
	return s;
}

size_t slab_size(uint64_t heap)
{
	if (heap / SLAB_GRAIN >= UINT32_MAX)
		return 0;       /* map entries are 32-bit: 64 GiB at most */
	return sizeof(struct mem_slab) +
		((heap >> SLAB_SHIFT_MIN) + 1) * sizeof(uint32_t);
}

void slab_create(struct mem_pool *pool, void *mem)
{
	struct mem_slab *sl = mem;
	uint64_t limit = (uint64_t)(pool->end - pool->start);
	memset(sl, 0, slab_size(limit));
	sl->base = pool->start;
	sl->limit = limit;
	sl->shift = span_shift(limit);
	sl->span = 1u << sl->shift;
	pool->slab = sl;
}

static uint32_t window_of(const struct mem_slab *sl, const void *p)
{
	return (uint32_t)(((const char *)p - sl->base) >> sl->shift);
}

static void list_del(struct mem_slab *sl, struct slab_span *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		sl->avail[s->cls] = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->listed = 0;
}

/* A new span of class cls from the heap, listed: its first object, or
 * NULL when the heap has no room. */
void *slab_refill(struct mem_pool *pool, unsigned cls)
{
	struct mem_slab *sl = pool->slab;
	struct slab_span *s = POOL_BE(pool)->malloc(pool->st, sl->span);
	if (!s)
		return NULL;
	memset(s, 0, SLAB_HDR);
	s->magic = SLAB_MAGIC ^ (uint64_t)(uintptr_t)s;
	s->osize = (cls + 1) * SLAB_GRAIN;
	s->recip = (uint32_t)((((uint64_t)1 << 32) + s->osize - 1) / s->osize);
	s->cls = (uint16_t)cls;
	s->cap = (uint16_t)((sl->span - SLAB_HDR) / s->osize);
	sl->map[window_of(sl, s)] = (uint32_t)(((char *)s - sl->base) /
		SLAB_GRAIN + 1);
	sl->spans++;
	sl->held += POOL_BE(pool)->usable_size(pool->st, s);
	slab_list_add(sl, s);
	return slab_take(pool, s);
}

/* s is empty and listed: back to the heap. */
void slab_release(struct mem_pool *pool, struct slab_span *s)
{
	struct mem_slab *sl = pool->slab;
	list_del(sl, s);
	sl->map[window_of(sl, s)] = 0;
	sl->spans--;
	sl->held -= POOL_BE(pool)->usable_size(pool->st, s);
	s->magic = 0;
	POOL_BE(pool)->free(pool->st, s);
}

unsigned slab_trim(struct mem_pool *pool)
{
	struct mem_slab *sl = pool->slab;
	unsigned n = 0;
	for (unsigned c = 0; c < SLAB_CLASSES; c++)
		for (struct slab_span *s = sl->avail[c], *next; s; s = next) {
			next = s->next;
			if (!s->live) {
				slab_release(pool, s);
				n++;
			}
		}
	return n;
}

static unsigned live_bits(const struct slab_span *s)
{
	unsigned n = 0;
	for (unsigned w = 0; w < SLAB_WORDS; w++)
		n += (unsigned)__builtin_popcountll(s->bits[w]);
	return n;
}

/* The free list again from the live bits (lowest index first), live
 * recounted, the list membership set by the room left. */
static void slab_repair(struct mem_slab *sl, struct slab_span *s)
{
	uint16_t *link = &s->head;
	for (unsigned i = 0; i < s->bump; i++)
		if (!slab_bit(s, i)) {
			*link = (uint16_t)(i + 1);
			link = (uint16_t *)(slab_objects(s) + i * s->osize);
		}
	*link = 0;
	unsigned live = live_bits(s);
	sl->objects += live - s->live;
	sl->live_bytes += (uint64_t)(live - s->live) * s->osize;
	s->live = (uint16_t)live;
	int room = s->live < s->cap;
	if (room && !s->listed)
		slab_list_add(sl, s);
	else if (!room && s->listed)
		list_del(sl, s);
}

void *slab_mend(struct mem_pool *pool, struct slab_span *s)
{
	mem_log(MEM_L_ERR, "%s: the free list of the %u-byte objects at %p was "
		"overwritten (a write after free into a freed object): rebuilt",
		pool->name, s->osize, (void *)slab_objects(s));
	slab_repair(pool->slab, s);
	return slab_malloc(pool, s->osize);
}

void slab_info(const struct mem_slab *sl, struct mem_info *mi)
{
	mi->used_size = mi->used_size - sl->held + sl->live_bytes;
}

/* --- the checker ------------------------------------------------------------ */

struct slab_check {
	struct mem_pool *pool;
	mem_problem_fn problem;
	void *arg;
	int n;
	uint64_t spans, objects, bytes, listed;
};

static int bad(struct slab_check *k, const void *where, const char *what)
{
	k->problem(k->arg, where, what);
	k->n++;
	return 0;
}

/* Window w names s: is it a span of the heap's, whole? */
static int span_ok(struct slab_check *k, const struct slab_span *s,
		uint32_t w)
{
	struct mem_pool *pool = k->pool;
	if (window_of(pool->slab, s) != w)
		return bad(k, s, "slab map entry outside its window");
	if (s->magic != (SLAB_MAGIC ^ (uint64_t)(uintptr_t)s))
		return bad(k, s, "slab span header overwritten (magic)");
	if (POOL_BE(pool)->block_state(pool->st, s) != MEM_BLOCK_USED ||
	    POOL_BE(pool)->usable_size(pool->st, s) < pool->slab->span)
		return bad(k, s, "slab span is no used block of its size");
	if (s->cls >= SLAB_CLASSES || s->osize != (s->cls + 1u) * SLAB_GRAIN ||
	    s->cap != (pool->slab->span - SLAB_HDR) / s->osize ||
	    s->bump > s->cap || s->live > s->bump)
		return bad(k, s, "slab span sizes or counts wrong");
	return 1;
}

/* Live bits against live and bump; the free list against the clear bits. */
static void span_objects(struct slab_check *k, const struct slab_span *s)
{
	uint64_t seen[SLAB_WORDS] = { 0 };
	unsigned n = 0, i = s->head;
	if (live_bits(s) != s->live)
		bad(k, s, "slab span live count differs from its live bits");
	for (unsigned j = s->bump; j < SLAB_WORDS * 64u; j++)
		if (slab_bit(s, j)) {
			bad(k, s, "slab span has a live bit past its objects");
			break;
		}
	for (; i; n++) {
		unsigned x = i - 1;
		if (x >= s->bump || slab_bit(s, x) ||
		    (seen[x / 64] >> (x % 64)) & 1 || n >= s->bump) {
			bad(k, slab_objects(s) + x * s->osize, "slab free "
				"list broken (a write after free into a freed "
				"object?)");
			return;
		}
		seen[x / 64] |= (uint64_t)1 << (x % 64);
		i = *(const uint16_t *)(slab_objects(s) + x * s->osize);
	}
	if (n != (unsigned)s->bump - s->live)
		bad(k, s, "slab free list misses freed objects");
}

static void check_span(struct slab_check *k, const struct slab_span *s,
		uint32_t w)
{
	if (!span_ok(k, s, w))
		return;
	span_objects(k, s);
	if (s->listed != (s->live < s->cap))
		bad(k, s, "slab span listed with no room, or unlisted with room");
	k->spans++;
	k->objects += s->live;
	k->bytes += (uint64_t)s->live * s->osize;
}

static void check_lists(struct slab_check *k)
{
	struct mem_slab *sl = k->pool->slab;
	for (unsigned c = 0; c < SLAB_CLASSES; c++) {
		const struct slab_span *prev = NULL;
		for (const struct slab_span *s = sl->avail[c]; s; s = s->next) {
			if (slab_span_of(sl, s) != s || s->cls != c ||
			    !s->listed || s->prev != prev ||
			    k->listed >= k->spans) {
				bad(k, s, "slab class list broken");
				break;
			}
			k->listed++;
			prev = s;
		}
	}
}

int slab_check(struct mem_pool *pool, mem_problem_fn problem, void *arg)
{
	struct mem_slab *sl = pool->slab;
	struct slab_check k = { pool, problem, arg, 0, 0, 0, 0, 0 };
	uint64_t nwin = (sl->limit >> sl->shift) + 1, rooms = 0;
	for (uint32_t w = 0; w < nwin; w++) {
		uint32_t e = sl->map[w];
		if (!e)
			continue;
		const struct slab_span *s = (const struct slab_span *)
			(sl->base + (uint64_t)(e - 1) * SLAB_GRAIN);
		uint64_t before = k.spans;
		check_span(&k, s, w);
		rooms += k.spans > before && s->live < s->cap;
	}
	check_lists(&k);
	if (k.listed != rooms)
		bad(&k, sl, "slab spans with room missing from their lists");
	if (k.spans != sl->spans || k.objects != sl->objects ||
	    k.bytes != sl->live_bytes)
		bad(&k, sl, "slab counters differ from the spans' sums");
	return k.n;
}
