/*
 * f_malloc.c - the f_malloc ("fm") backend: segregated fit with exact size
 * classes, "the fast one".
 *
 * What
 *   One pool over one region [mem, mem + size): the control structure
 *   (struct fm_pool) at the start, then the heap, a tiling of fragments that
 *   ends in a zero-size used sentinel header.
 *
 * Fragment layout (every fragment size is a multiple of 16, at least 32):
 *
 *     previous fragment's tail   header (8 bytes)      payload, 16-aligned
 *   | prev_size (prev free, >= 64) | size | PS | P | F | next | prev | ...
 *     ^ this fragment's footer slot                     ^ links, free only
 *
 *     F   FREE       this fragment is free (on a class list)
 *     P   PREV_FREE  the physically previous fragment is free
 *     PS  PREV_SMALL 2 bits: the previous free fragment's size / 16 when it
 *                    is 32 or 48 bytes, 0 when its size is in the footer
 *
 *   The header is the one size word just below the payload, so the
 *   per-fragment overhead is 8 bytes and usable = size - 8.  A free
 *   fragment keeps its class-list links in the first 16 bytes of its payload
 *   and, when it is 64 bytes or more, its size again in its last 8 bytes
 *   (the next fragment's footer slot) so that the next fragment can find its
 *   start.  Backend contract: besides the 16 link bytes nothing may be
 *   written into a free payload below payload+48 (the common layer keeps its
 *   free-site record at +16..+48).  The tail of a 32- or 48-byte fragment
 *   lies inside that record, so for those two sizes the size travels in the
 *   PS bits of the next header instead of the footer.  A fragment of 64 or
 *   more has its tail at payload+48 or beyond, clear of the record.
 *
 * Algorithm
 *   Free fragments sit in doubly linked, NULL-terminated size-class lists:
 *   - exact classes, one per 16-byte step, for sizes below FM_EXACT_LIMIT
 *     (32 KiB, 2048 classes): any fragment of the class fits a request of
 *     the class, so a small malloc takes the list head;
 *   - logarithmic classes above, FM_SUBS (8) per power of two: a request
 *     probes at most FM_PROBES fragments of its own class first-fit, then
 *     takes the head of the next non-empty class (whose every fragment is
 *     larger than the whole class asked for).
 *   A two-level bitmap (one summary word over FM_WORDS words, one bit per
 *   class) finds the first non-empty class at or above a class with two bit
 *   scans; when it finds none, malloc fails at once.  A found fragment is
 *   split when the remainder is a whole minimum fragment; the remainder goes
 *   back to its class, taking the found fragment's place on its list when
 *   that is its class too (carve_in_place: the usual case for a large
 *   fragment, whose class spans 1/8 of a power of two), so that no list
 *   head and no bitmap word is touched.
 *   free() with mem_join (read once, at create()) joins the fragment with a
 *   free next neighbour (its header follows) and a free previous one
 *   (PREV_FREE plus the size from PS or the footer): O(1) in every order,
 *   because the doubly linked lists unlink a neighbour without searching;
 *   a join that leaves a free neighbour in its class keeps that neighbour's
 *   place on the list (fl_regrow, fl_replace).  free() first makes
 *   block_state()'s checks of a used fragment on the two headers it reads
 *   anyway (frag_used, frag_claim), so the common layer needs no separate
 *   check.
 *   Without mem_join nothing is ever joined: same-size fragments are reused
 *   exactly, and a request that no class can meet fails rather than walking
 *   the heap to join neighbours (a pool run that way can end up fragmented).
 *
 * Invariants (all verified by fm_check)
 *   - fragments tile [first, end) exactly; end is a 0-size used header;
 *   - P of every header equals F of the previous fragment (first: clear);
 *     when set, PS or the footer holds the previous fragment's exact size;
 *   - with mem_join, no two free fragments are adjacent;
 *   - every free fragment is on exactly the list of size_class(size);
 *     class bit set <=> list non-empty; summary bit set <=> word non-zero;
 *   - free_bytes, nfree and used_size equal what a heap walk recomputes;
 *     real_used = total_size - free_bytes.
 *   fm_check() verifies them in three pieces (backend.h): per fragment
 *   (its size, its boundary with the next one, a free one's links), per
 *   class list (entries free, of the class, back links consistent), and
 *   globally (bitmap, sentinel, counters, as many listed as free).
 *
 * Accounting (struct mem_info)
 *   total_size  the whole region handed to create();
 *   free_size   full sizes (headers included) of the free fragments;
 *   real_used   total_size - free_size: full sizes of the used fragments plus
 *               the control structure, its alignment padding, the sentinel
 *               header and the < 16 bytes of slack cut off the region's end,
 *               so free_size + real_used == total_size exactly;
 *   used_size   sum of usable sizes (size - 8) of the used fragments;
 *   min_frag    FM_MIN_FRAG (32); total_frags: the number of free fragments.
 *
 * Costs and bounds
 *   malloc, free, resize, usable_size, block_state, info: O(1) - at most
 *   FM_PROBES list probes, two bit scans, two unlinks and one link.
 *   Freeing costs the same in random as in FIFO or LIFO order while the heap
 *   is in cache; on a heap far larger than the caches, random order is bound
 *   by the cache misses of touching the neighbours and their list
 *   neighbours, which every boundary-tag allocator pays (measured: 7 ns
 *   FIFO/LIFO vs 16-21 ns random in cache, ~100 ns random at 80 MB).
 *   check and walk: O(fragments + classes); walk_from: O(max).  Memory:
 *   the control structure is ~20 KiB (one list head per class plus the
 *   bitmap); a request of n bytes uses a fragment of round16(n + 8), at
 *   least 32, plus at most 16 bytes when the remainder is too small to
 *   split.  A log-class request may fail although a fragment of its own
 *   class (within 1/8 of its size) would fit, when the first FM_PROBES of
 *   that list are smaller and no larger class has anything: the price of
 *   never walking a list.
 *   Where the time goes (callgrind, membench W2 at --scale 0.3, release,
 *   the common layer's calls aside): a free runs ~108 instructions and
 *   misses the first-level cache ~2.2 times: its own header, the next
 *   header (which the join must read in any case, so that frag_claim's
 *   checks on it cost no extra line) and the back link of its list's old
 *   head; a malloc ~100 instructions, its misses on the fragment it hands
 *   out and the next header (PREV_FREE).  A malloc finds its class once
 *   and passes it down (find_fit, carve_in_place, fl_*_in): no class is
 *   computed twice.  Deferring joins (frees queued per exact size, joined
 *   when a fit fails) was measured and left out: to keep W6's utilisation
 *   the malloc that reuses a queued fragment must look at its neighbours,
 *   which moves the next-header miss from free to malloc (no net saving),
 *   and an emptied pool must be one fragment again at its last free.
 *
 * No own_usable() (backend.h).  The header is one size word with four
 * flag bits and nothing else: no tag, no guard.  From it alone, a pointer
 * into a fragment whose preceding word holds a small multiple of 16 (a
 * length or an offset: common user data) passes every check the word
 * allows (in the heap, size fits, FREE clear), where tlsf's address tag
 * and qm's guard refuse it.  Only the next header (its PREV_FREE must
 * match our FREE, its size must fit: frag_claim) makes the check as
 * strong as the others', so the shm caches' free asks block_state() for
 * fm and reads that second line.
 *
 * No locking, no logging, no allocation: see backend.h.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "f_malloc.h"
#include "mem.h"

#define FM_GRAIN        ((uint64_t)MEM_ALIGN)
#define FM_HDR          ((uint64_t)8)   /* the size word */
#define FM_MIN_FRAG     ((uint64_t)32)  /* header + links, 16-byte steps */
#define FM_BIG_FRAG     ((uint64_t)64)  /* smallest size using the footer */
#define FM_RECORD_END   48u             /* common layer's free record end */

#define FM_LOG_MIN      15u             /* log2(FM_EXACT_LIMIT) */
#define FM_EXACT_LIMIT  ((uint64_t)1 << FM_LOG_MIN)
#define FM_EXACT        ((unsigned)(FM_EXACT_LIMIT / FM_GRAIN))
#define FM_SUB_BITS     3u
#define FM_SUBS         (1u << FM_SUB_BITS)
#define FM_CLASSES      (FM_EXACT + (64u - FM_LOG_MIN) * FM_SUBS)
#define FM_WORDS        ((FM_CLASSES + 63u) / 64u)
#define FM_PROBES       8

/* Header bits; the rest of the word is the size. */
#define FM_FREE         ((uint64_t)1)
#define FM_PREV_FREE    ((uint64_t)2)
#define FM_PS_SHIFT     2u
#define FM_PS_MASK      ((uint64_t)3 << FM_PS_SHIFT)
#define FM_PREV_BITS    (FM_PREV_FREE | FM_PS_MASK)
#define FM_FLAGS        (FM_GRAIN - 1)

/* A fragment, seen from its header; next/prev exist only while free. */
struct fm_frag {
	uint64_t word;          /* size | PS | PREV_FREE | FREE */
	struct fm_frag *next;   /* payload bytes 0..7 */
	struct fm_frag *prev;   /* payload bytes 8..15 */
};

_Static_assert(offsetof(struct fm_frag, next) == FM_HDR,
		"the links must start the payload");
_Static_assert(sizeof(struct fm_frag) - FM_HDR == 16,
		"the links must fit the 16 payload bytes a free block may use");
_Static_assert(FM_MIN_FRAG >= sizeof(struct fm_frag) && FM_MIN_FRAG % 16 == 0,
		"a minimum fragment holds header and links");
_Static_assert(FM_BIG_FRAG - 2 * FM_HDR >= FM_RECORD_END,
		"a footer lies past the common layer's free record");
_Static_assert(FM_BIG_FRAG - FM_GRAIN - 2 * FM_HDR < FM_RECORD_END,
		"FM_BIG_FRAG is the smallest size whose footer clears the record");
_Static_assert(FM_BIG_FRAG / FM_GRAIN <= (FM_PS_MASK >> FM_PS_SHIFT) + 1,
		"every size below FM_BIG_FRAG fits the PS bits");
_Static_assert(FM_FLAGS == (FM_FREE | FM_PREV_BITS),
		"flag bits are exactly the bits sizes leave clear");
_Static_assert(FM_WORDS <= 64, "the summary word covers every bitmap word");

struct fm_pool {
	char *first;            /* header of the first fragment */
	struct fm_frag *end;    /* the sentinel header */
	uint64_t total_size;    /* the region */
	uint64_t overhead;      /* region bytes outside [first, end) */
	uint64_t free_bytes;    /* full sizes of listed fragments */
	uint64_t nfree;         /* listed fragments */
	uint64_t used_size;     /* usable bytes of used fragments */
	uint64_t max_used;      /* peak of total_size - free_bytes */
	int join;               /* mem_join at create() */
	uint64_t summary;       /* bit w: map[w] != 0 */
	uint64_t map[FM_WORDS]; /* bit c: head[c] != NULL */
	struct fm_frag *head[FM_CLASSES];
	struct fm_frag *last;   /* what malloc handed out last (rebuild) */
	uint64_t nlast;         /* mallocs that got that far */
};

/* --- header accessors ---------------------------------------------------- */

static inline uint64_t frag_size(const struct fm_frag *f)
{
	return f->word & ~FM_FLAGS;
}

static inline bool frag_is_free(const struct fm_frag *f)
{
	return (f->word & FM_FREE) != 0;
}

static inline bool frag_prev_is_free(const struct fm_frag *f)
{
	return (f->word & FM_PREV_FREE) != 0;
}

static inline struct fm_frag *frag_at(const void *base, uint64_t off)
{
	return (struct fm_frag *)((char *)base + off);
}

static inline struct fm_frag *frag_before(const void *base, uint64_t off)
{
	return (struct fm_frag *)((char *)base - off);
}

static inline struct fm_frag *frag_next(const struct fm_frag *f)
{
	return frag_at(f, frag_size(f));
}

static inline void *frag_payload(const struct fm_frag *f)
{
	return (char *)f + FM_HDR;
}

static inline struct fm_frag *payload_frag(const void *p)
{
	return (struct fm_frag *)((char *)p - FM_HDR);
}

/* The last 8 bytes of the previous fragment. */
static inline uint64_t *frag_footer(const struct fm_frag *f)
{
	return (uint64_t *)((char *)f - FM_HDR);
}

/* Size of the previous fragment; meaningful only while it is free. */
static inline uint64_t frag_prev_size(const struct fm_frag *f)
{
	uint64_t units = (f->word & FM_PS_MASK) >> FM_PS_SHIFT;

	return units ? units * FM_GRAIN : *frag_footer(f);
}

/* Tell f about its predecessor: free of psize bytes, or used. */
static void frag_set_prev(struct fm_frag *f, bool free, uint64_t psize)
{
	uint64_t bits = 0;

	if (free) {
		bits = FM_PREV_FREE;
		if (psize < FM_BIG_FRAG)
			bits |= (psize / FM_GRAIN) << FM_PS_SHIFT;
		else
			*frag_footer(f) = psize;
	}
	f->word = (f->word & ~FM_PREV_BITS) | bits;
}

/* Give f its size and state, keep its PREV bits, and tell its successor:
 * the one place that keeps the boundary information right. */
static void frag_set(struct fm_frag *f, uint64_t size, bool free)
{
	f->word = size | (f->word & FM_PREV_BITS) | (free ? FM_FREE : 0);
	frag_set_prev(frag_at(f, size), free, size);
}

/* frag_set(f, size, true) for an f already free: its flags stay. */
static void frag_resize_free(struct fm_frag *f, uint64_t size)
{
	f->word += size - frag_size(f);
	frag_set_prev(frag_at(f, size), true, size);
}

/* --- size classes and the bitmap ----------------------------------------- */

static unsigned size_class(uint64_t size)
{
	unsigned k, sub;

	if (size < FM_EXACT_LIMIT)
		return (unsigned)(size / FM_GRAIN);
	k = 63u - (unsigned)__builtin_clzll(size);
	sub = (unsigned)(size >> (k - FM_SUB_BITS)) & (FM_SUBS - 1);
	return FM_EXACT + (k - FM_LOG_MIN) * FM_SUBS + sub;
}

/* A fragment of old bytes resized to new stays on its class list: an
 * exact class holds one size, a log class the sizes that share old's top
 * FM_SUB_BITS + 1 bits (size_class's k and sub).  No class computed: a
 * join that keeps its neighbour's place asks this on every free. */
static inline bool class_keeps(uint64_t old, uint64_t new)
{
	unsigned sh;

	if (old < FM_EXACT_LIMIT)
		return old == new;
	sh = 63u - (unsigned)__builtin_clzll(old) - FM_SUB_BITS;
	return (old >> sh) == (new >> sh);
}

static void map_set(struct fm_pool *pool, unsigned c)
{
	pool->map[c / 64] |= (uint64_t)1 << (c % 64);
	pool->summary |= (uint64_t)1 << (c / 64);
}

static void map_clear(struct fm_pool *pool, unsigned c)
{
	pool->map[c / 64] &= ~((uint64_t)1 << (c % 64));
	if (!pool->map[c / 64])
		pool->summary &= ~((uint64_t)1 << (c / 64));
}

static bool map_test(const struct fm_pool *pool, unsigned c)
{
	return (pool->map[c / 64] >> (c % 64)) & 1;
}

/* First non-empty class >= from, or -1: two bit scans, no loop. */
static int find_class(const struct fm_pool *pool, unsigned from)
{
	unsigned w = from / 64;
	uint64_t bits, words;

	if (from >= FM_CLASSES)
		return -1;
	bits = pool->map[w] & (~(uint64_t)0 << (from % 64));
	if (!bits) {
		/* Words above w; a shift by 64 would be undefined. */
		words = w + 1 < 64 ? pool->summary & (~(uint64_t)0 << (w + 1)) : 0;
		if (!words)
			return -1;
		w = (unsigned)__builtin_ctzll(words);
		bits = pool->map[w];
	}
	return (int)(w * 64 + (unsigned)__builtin_ctzll(bits));
}

/* --- free lists ---------------------------------------------------------- */

/* f on the head of class list c, its own. */
static void fl_insert_in(struct fm_pool *pool, struct fm_frag *f, unsigned c)
{
	f->prev = NULL;
	f->next = pool->head[c];
	MEM_KILL_POINT();       /* f's links written, f not listed yet */
	if (f->next)
		f->next->prev = f;
	else
		map_set(pool, c);
	pool->head[c] = f;
	pool->nfree++;
	pool->free_bytes += frag_size(f);
}

static void fl_insert(struct fm_pool *pool, struct fm_frag *f)
{
	fl_insert_in(pool, f, size_class(frag_size(f)));
}

/* f off class list c, its own. */
static void fl_unlink(struct fm_pool *pool, struct fm_frag *f, unsigned c)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		pool->head[c] = f->next;
	MEM_KILL_POINT();       /* half unlinked */
	if (f->next)
		f->next->prev = f->prev;
	if (!pool->head[c])
		map_clear(pool, c);
	pool->nfree--;
	pool->free_bytes -= frag_size(f);
}

/* Call before f's size changes: the size names its list. */
static void fl_remove(struct fm_pool *pool, struct fm_frag *f)
{
	fl_unlink(pool, f, size_class(frag_size(f)));
}

/* f (not listed) takes the place of the listed fragment old on class
 * list c, its own and f's; the counters are the caller's. */
static void fl_replace_in(struct fm_pool *pool, struct fm_frag *old,
		struct fm_frag *f, unsigned c)
{
	f->next = old->next;
	f->prev = old->prev;
	MEM_KILL_POINT();       /* f's links written, old still listed */
	if (f->prev)
		f->prev->next = f;
	else
		pool->head[c] = f;
	if (f->next)
		f->next->prev = f;
}

/* fl_replace_in on old's own class, computed only when old heads it. */
static void fl_replace(struct fm_pool *pool, struct fm_frag *old,
		struct fm_frag *f)
{
	fl_replace_in(pool, old, f, old->prev ? 0 : size_class(frag_size(old)));
}

/* --- malloc, free, resize ------------------------------------------------ */

static uint64_t frag_size_for(size_t n)
{
	uint64_t s = ((uint64_t)n + FM_HDR + FM_GRAIN - 1) & ~(FM_GRAIN - 1);

	return s < FM_MIN_FRAG ? FM_MIN_FRAG : s;
}

static void note_peak(struct fm_pool *pool)
{
	uint64_t real_used = pool->total_size - pool->free_bytes;

	if (real_used > pool->max_used)
		pool->max_used = real_used;
}

/* First fit among the first FM_PROBES of one log class. */
static struct fm_frag *probe_class(struct fm_pool *pool, unsigned c,
		uint64_t want)
{
	struct fm_frag *f = pool->head[c];

	for (int i = 0; f && i < FM_PROBES; i++, f = f->next)
		if (frag_size(f) >= want)
			return f;
	return NULL;
}

/* A fragment of at least want bytes and, in *cls, its class. */
static struct fm_frag *find_fit(struct fm_pool *pool, uint64_t want,
		unsigned *cls)
{
	unsigned c = size_class(want);
	struct fm_frag *f;
	int found;

	/* An exact class holds only fragments of exactly `want`. */
	if (c >= FM_EXACT) {
		f = probe_class(pool, c, want);
		if (f) {
			*cls = c;
			return f;
		}
		c++;
	}
	found = find_class(pool, c);
	if (found < 0)
		return NULL;
	*cls = (unsigned)found;
	return pool->head[found];
}

/* f is off the lists: make it a used fragment of `want` bytes and give the
 * remainder, if it is a whole fragment, back to the lists. */
static void frag_carve(struct fm_pool *pool, struct fm_frag *f, uint64_t want)
{
	uint64_t size = frag_size(f);
	struct fm_frag *rest;

	if (size - want < FM_MIN_FRAG) {
		frag_set(f, size, false);
		return;
	}
	rest = frag_at(f, want);
	frag_set(rest, size - want, true);  /* free before f uncovers it */
	MEM_KILL_FENCE();
	frag_set(f, want, false);
	fl_insert(pool, rest);
}

/* Cut want bytes off the listed f when the rest stays in f's class (the
 * usual case when a large fragment is cut): the rest takes f's place on
 * the list, with no unlink and relink.  0 when it does not stay. */
static int carve_in_place(struct fm_pool *pool, struct fm_frag *f,
		uint64_t want, unsigned c)
{
	uint64_t size = frag_size(f);
	struct fm_frag *rest = frag_at(f, want);

	if (size - want < FM_MIN_FRAG || size_class(size - want) != c)
		return 0;
	fl_replace_in(pool, f, rest, c);
	pool->free_bytes -= want;
	frag_set(rest, size - want, true);  /* free before f uncovers it */
	MEM_KILL_FENCE();
	frag_set(f, want, false);
	return 1;
}

static void *fm_malloc(void *st, size_t n)
{
	struct fm_pool *pool = st;
	uint64_t want = frag_size_for(n);
	unsigned c;
	struct fm_frag *f = find_fit(pool, want, &c);

	if (!f)
		return NULL;
	pool->last = f;
	pool->nlast++;
	MEM_KILL_FENCE();
	if (!carve_in_place(pool, f, want, c)) {
		fl_unlink(pool, f, c);
		frag_carve(pool, f, want);
	}
	pool->used_size += frag_size(f) - FM_HDR;
	note_peak(pool);
	return frag_payload(f);
}

/* A header swallowed by a join is cleared, so that a stale pointer to it
 * reads as "not a fragment" in block_state() instead of passing for the
 * used fragment it once was.  The word lies at least 56 bytes into the
 * survivor's payload whenever MEMDBG records exist (fragments >= 64 bytes),
 * so never inside them. */
static void frag_forget(struct fm_frag *f)
{
	f->word = 0;
}

/* f, listed, now spans size bytes from the same start: keep its place on
 * its list when the class stays (a large class spans 1/8 of a power of
 * two, so most joins into a large fragment stay), else move it. */
static void fl_regrow(struct fm_pool *pool, struct fm_frag *f, uint64_t size)
{
	if (class_keeps(frag_size(f), size)) {
		pool->free_bytes += size - frag_size(f);
		frag_resize_free(f, size);
		return;
	}
	fl_remove(pool, f);
	frag_resize_free(f, size);
	fl_insert(pool, f);
}

/* f (size bytes, not listed) is free now: join it with its free
 * neighbours, and list the result.  The joined fragment keeps a free
 * neighbour's place on its list when the class allows (fl_regrow,
 * fl_replace): one header write and no unlink and relink. */
static void free_join(struct fm_pool *pool, struct fm_frag *f, uint64_t size)
{
	struct fm_frag *next = frag_next(f), *prev;
	uint64_t total;

	if (frag_prev_is_free(f)) {
		bool jn = frag_is_free(next);

		prev = frag_before(f, frag_prev_size(f));
		if (jn) {
			fl_remove(pool, next);
			size += frag_size(next);
		}
		MEM_KILL_FENCE();       /* prev grows over all in one store */
		fl_regrow(pool, prev, frag_size(prev) + size);
		MEM_KILL_FENCE();
		if (jn)
			frag_forget(next);
		frag_forget(f);
		return;
	}
	if (!frag_is_free(next)) {
		frag_set(f, size, true);
		fl_insert(pool, f);
		return;
	}
	total = size + frag_size(next);
	if (!class_keeps(frag_size(next), total)) {
		fl_remove(pool, next);
		MEM_KILL_FENCE();
		frag_set(f, total, true);       /* free over next, one store */
		MEM_KILL_FENCE();
		frag_forget(next);
		fl_insert(pool, f);
		return;
	}
	fl_replace(pool, next, f);
	pool->free_bytes += size;
	MEM_KILL_FENCE();
	frag_set(f, total, true);
	MEM_KILL_FENCE();
	frag_forget(next);
}

static bool frag_used(const struct fm_pool *pool, const struct fm_frag *f);
static int fm_block_state(void *st, const void *p);

/* A refused p changes nothing; block_state says what it is instead. */
static int fm_free(void *st, void *p)
{
	struct fm_pool *pool = st;
	struct fm_frag *f = payload_frag(p);

	if (!frag_used(pool, f))
		return fm_block_state(st, p);
	uint64_t size = frag_size(f);
	pool->used_size -= size - FM_HDR;
	if (pool->join) {
		free_join(pool, f, size);
	} else {
		frag_set(f, size, true);
		fl_insert(pool, f);
	}
	return MEM_BLOCK_USED;
}

/* The words free() reads beyond f's word and the footer below it: the
 * next fragment (its word and links) and, with PREV_FREE, the free
 * fragment before (backend.h). */
static void fm_prefetch(void *st, const void *p)
{
	const struct fm_frag *f = payload_frag(p);

	(void)st;
	/* integer sums: p may be wild, its sizes anything */
	__builtin_prefetch((void *)((uintptr_t)f + frag_size(f) + FM_HDR), 1);
	if (frag_prev_is_free(f))
		__builtin_prefetch((void *)((uintptr_t)f - frag_prev_size(f)),
			1);
}

/* max_used, for the common layer to lower (backend.h). */
static uint64_t *fm_peak(void *st)
{
	return &((struct fm_pool *)st)->max_used;
}

static void frag_shrink(struct fm_pool *pool, struct fm_frag *f, uint64_t want)
{
	uint64_t cur = frag_size(f);
	struct fm_frag *next = frag_next(f), *tail;
	uint64_t tail_size;

	if (!pool->join || !frag_is_free(next)) {
		frag_carve(pool, f, want);
		return;
	}
	/* The cut-off tail joins the free neighbour, even when it is too
	 * small to stand alone. */
	tail_size = cur - want + frag_size(next);
	fl_remove(pool, next);
	tail = frag_at(f, want);
	frag_set(tail, tail_size, true);    /* free before f uncovers it */
	MEM_KILL_FENCE();
	frag_set(f, want, false);
	MEM_KILL_FENCE();
	frag_forget(next);
	fl_insert(pool, tail);
}

static int frag_grow(struct fm_pool *pool, struct fm_frag *f, uint64_t want)
{
	struct fm_frag *next = frag_next(f);

	if (!frag_is_free(next) || frag_size(f) + frag_size(next) < want)
		return -1;
	uint64_t size = frag_size(f) + frag_size(next);
	fl_remove(pool, next);
	frag_set(f, size, false);   /* grown over next, then next forgotten */
	MEM_KILL_FENCE();
	frag_forget(next);
	frag_carve(pool, f, want);
	return 0;
}

static int fm_resize(void *st, void *p, size_t n)
{
	struct fm_pool *pool = st;
	struct fm_frag *f = payload_frag(p);
	uint64_t cur = frag_size(f), want = frag_size_for(n);

	if (want == cur)
		return 0;
	if (want < cur)
		frag_shrink(pool, f, want);
	else if (frag_grow(pool, f, want) < 0)
		return -1;
	pool->used_size += frag_size(f) - cur;  /* wraps right when shrinking */
	note_peak(pool);
	return 0;
}

static size_t fm_usable_size(void *st, const void *p)
{
	(void)st;
	return (size_t)(frag_size(payload_frag(p)) - FM_HDR);
}

/* --- validation without trusting the heap -------------------------------- */

/* h could be a fragment header: 8 mod 16, in [first, end). */
static bool in_heap(const struct fm_pool *pool, const void *h)
{
	const char *c = h;

	return c >= pool->first && c < (const char *)pool->end &&
		((uintptr_t)c & (FM_GRAIN - 1)) == FM_HDR;
}

/* size is a fragment size that fits between f and the sentinel. */
static bool size_fits(const struct fm_pool *pool, const struct fm_frag *f,
		uint64_t size)
{
	return size >= FM_MIN_FRAG && size % FM_GRAIN == 0 &&
		size <= (uint64_t)((const char *)pool->end - (const char *)f);
}

/* f says its predecessor is free: is there such a free fragment? */
static bool prev_ok(const struct fm_pool *pool, const struct fm_frag *f)
{
	uint64_t ps;
	const struct fm_frag *prev;

	if ((const char *)f == pool->first)
		return false;
	ps = frag_prev_size(f);
	if (ps < FM_MIN_FRAG || ps % FM_GRAIN ||
			ps > (uint64_t)((const char *)f - pool->first))
		return false;
	prev = frag_before(f, ps);
	return frag_is_free(prev) && frag_size(prev) == ps;
}

/* f is free: its links point at headers that point back at f. */
static bool links_ok(const struct fm_pool *pool, const struct fm_frag *f)
{
	const struct fm_frag *n = f->next, *p = f->prev;

	/* in_heap() leaves room to read n->prev: at worst the sentinel. */
	if (n && (!in_heap(pool, n) || n == f || n->prev != f))
		return false;
	if (p)
		return in_heap(pool, p) && p != f && p->next == f;
	return pool->head[size_class(frag_size(f))] == f;
}

/* f's header is one, and so is the next one (or the sentinel): the
 * next fragment, else NULL.  Own header and next's only: see backend.h. */
static inline const struct fm_frag *frag_fits(const struct fm_pool *pool,
		const struct fm_frag *f)
{
	const struct fm_frag *next;

	if (!in_heap(pool, f) || !size_fits(pool, f, frag_size(f)))
		return NULL;
	next = frag_next(f);
	if (next != pool->end && !size_fits(pool, next, frag_size(next)))
		return NULL;
	return next;
}

/* What f's own header and the next one say together: MEM_BLOCK_BAD when
 * they do not fit, else used or free by f's flag (a free one is verified
 * further by block_state). */
static inline int frag_claim(const struct fm_pool *pool,
		const struct fm_frag *f)
{
	const struct fm_frag *next = frag_fits(pool, f);

	if (!next || frag_prev_is_free(next) != frag_is_free(f))
		return MEM_BLOCK_BAD;
	return frag_is_free(f) ? MEM_BLOCK_FREE : MEM_BLOCK_USED;
}

/* frag_claim(pool, f) == MEM_BLOCK_USED, in one test of both flags (the
 * free path's question). */
static bool frag_used(const struct fm_pool *pool, const struct fm_frag *f)
{
	const struct fm_frag *next = frag_fits(pool, f);

	_Static_assert(FM_PREV_FREE >> 1 == FM_FREE, "PREV_FREE is FREE << 1");
	return next && !((f->word | next->word >> 1) & FM_FREE);
}

static int fm_block_state(void *st, const void *p)
{
	const struct fm_pool *pool = st;
	const struct fm_frag *f = payload_frag(p), *next;
	uint64_t size;
	int claim = frag_claim(pool, f);

	if (claim != MEM_BLOCK_FREE)
		return claim;
	size = frag_size(f);
	next = frag_at(f, size);
	if (frag_prev_is_free(f) && !prev_ok(pool, f))
		return MEM_BLOCK_BAD;
	if (frag_prev_size(next) != size || !links_ok(pool, f))
		return MEM_BLOCK_BAD;
	return MEM_BLOCK_FREE;
}

/* --- create, info, walk -------------------------------------------------- */

static void *fm_create(void *mem, size_t size)
{
	struct fm_pool *pool = mem;
	uintptr_t base = (uintptr_t)mem, first, end;
	/* First header at 8 mod 16, so that payloads are 16-aligned. */
	uint64_t head = (sizeof(*pool) + FM_HDR + FM_GRAIN - 1) &
		~(FM_GRAIN - 1);

	if (size < head + FM_MIN_FRAG + FM_GRAIN)
		return NULL;
	first = base + head - FM_HDR;
	/* The sentinel: the last 8-mod-16 address with 8 bytes after it. */
	end = ((base + size - 2 * FM_HDR) & ~(uintptr_t)(FM_GRAIN - 1)) + FM_HDR;
	if (end - first < FM_MIN_FRAG)
		return NULL;

	memset(pool, 0, sizeof(*pool));
	pool->first = (char *)first;
	pool->end = (struct fm_frag *)end;
	pool->total_size = size;
	pool->overhead = size - (end - first);
	pool->join = mem_join != 0;
	pool->end->word = 0;
	((struct fm_frag *)first)->word = 0;
	frag_set((struct fm_frag *)first, end - first, true);
	fl_insert(pool, (struct fm_frag *)first);
	note_peak(pool);
	return pool;
}

static void fm_info(void *st, struct mem_info *mi)
{
	const struct fm_pool *pool = st;

	mi->total_size = pool->total_size;
	mi->free_size = pool->free_bytes;
	mi->used_size = pool->used_size;
	mi->real_used = pool->total_size - pool->free_bytes;
	mi->max_used = pool->max_used;
	mi->min_frag = FM_MIN_FRAG;
	mi->total_frags = pool->nfree;
	mi->cached = 0;         /* parked shm blocks: cache.c adds them */
}

/* Stops with -1 at a fragment whose size is corrupt, rather than stray,
 * leaving its payload in *from (backend.h). */
static int fm_walk_from(void *st, void **from, uint64_t max, mem_block_fn fn,
		void *arg)
{
	const struct fm_pool *pool = st;
	const struct fm_frag *f = *from ? payload_frag(*from) :
		(const struct fm_frag *)pool->first;
	int r = 0;

	for (; f != pool->end && max && !r; max--) {
		struct mem_block b = { .payload = frag_payload(f) };

		if (!size_fits(pool, f, frag_size(f))) {
			*from = b.payload;
			return -1;
		}
		b.size = frag_size(f) - FM_HDR;
		b.used = !frag_is_free(f);
		r = fn(&b, arg);
		f = frag_next(f);
	}
	*from = f == pool->end ? NULL : frag_payload(f);
	return r;
}

/* A used fragment of usable bytes after a used one (backend.h): the size
 * word with no flag; it must end at a sane header or the sentinel, one
 * that does not believe this fragment free. */
static int fm_repair(void *st, void *p, uint64_t usable, int apply)
{
	const struct fm_pool *pool = st;
	struct fm_frag *f = payload_frag(p);
	const struct fm_frag *next;
	uint64_t size = usable + FM_HDR;

	if (!in_heap(pool, f) || !size_fits(pool, f, size))
		return -1;
	next = frag_at(f, size);
	if (next != pool->end && !size_fits(pool, next, frag_size(next)))
		return -1;
	if (frag_prev_is_free(next))
		return -1;
	if (f->word == size)
		return 0;
	if (apply)
		f->word = size;
	return 1;
}

static int fm_walk(void *st, mem_block_fn fn, void *arg)
{
	void *from = NULL;

	return fm_walk_from(st, &from, UINT64_MAX, fn, arg);
}

/* --- check: one fragment, one list, the globals (backend.h) -------------- */

struct fm_check {
	const struct fm_pool *pool;
	mem_problem_fn problem;
	void *arg;
	int count;
};

static void report(struct fm_check *c, const void *where, const char *what)
{
	c->count++;
	if (c->problem)
		c->problem(c->arg, where, what);
}

/* f's PREV bits against prev, the fragment right before it (or NULL). */
static void check_boundary(struct fm_check *c, const struct fm_frag *f,
		const struct fm_frag *prev)
{
	bool prev_free = prev && frag_is_free(prev);

	if (frag_prev_is_free(f) != prev_free)
		report(c, f, "fm: PREV_FREE disagrees with the previous fragment");
	else if (prev_free && frag_prev_size(f) != frag_size(prev))
		report(c, f, "fm: previous size (PS bits or footer) is wrong");
	if (prev_free && frag_is_free(f) && c->pool->join)
		report(c, f, "fm: two adjacent free fragments with mem_join");
}

static int fm_check_block(void *st, const struct mem_block *b,
		mem_problem_fn problem, void *arg)
{
	struct fm_check c = { .pool = st, .problem = problem, .arg = arg };
	const struct fm_frag *f = payload_frag(b->payload), *next;

	if (b->broken) {
		report(&c, f, "fm: fragment size out of bounds, walk stopped");
		return c.count;
	}
	if ((const char *)f == c.pool->first)
		check_boundary(&c, f, NULL);
	if (frag_is_free(f) && !links_ok(c.pool, f))
		report(&c, f, "fm: free fragment not linked into its class list");
	next = frag_next(f);
	if (next == c.pool->end || size_fits(c.pool, next, frag_size(next)))
		check_boundary(&c, next, f);
	return c.count;
}

/* pos->entry still follows pos->prev on class list cls. */
static bool still_listed(const struct fm_pool *pool, const struct fm_frag *f,
		const struct fm_frag *prev, unsigned cls)
{
	return in_heap(pool, f) && size_fits(pool, f, frag_size(f)) &&
		frag_is_free(f) && size_class(frag_size(f)) == cls &&
		f->prev == prev;
}

/* One entry of class list cls; false ends the list's walk. */
static bool list_entry_ok(struct fm_check *c, const struct fm_frag *f,
		struct mem_list_pos *pos, uint64_t limit)
{
	if (!in_heap(c->pool, f) || ++pos->n > limit) {
		report(c, f, "fm: class list leaves the heap or loops");
		return false;
	}
	if (f->prev != pos->prev) {
		report(c, f, "fm: class list prev link broken");
		return false;
	}
	if (!frag_is_free(f))
		report(c, f, "fm: used fragment on a class list");
	else if (size_class(frag_size(f)) != pos->list)
		report(c, f, "fm: fragment on the wrong class list");
	return true;
}

static int fm_check_list(void *st, struct mem_list_pos *pos, uint64_t max,
		uint64_t limit, int recheck, mem_problem_fn problem, void *arg)
{
	struct fm_check c = { .pool = st, .problem = problem, .arg = arg };
	const struct fm_frag *f = pos->entry ? pos->entry :
		c.pool->head[pos->list];

	if (pos->entry && recheck && !still_listed(c.pool, f, pos->prev,
			pos->list))
		return -2;
	if (!limit)
		limit = (uint64_t)((const char *)c.pool->end - c.pool->first) /
			FM_MIN_FRAG;
	for (; f && max; max--) {
		if (!list_entry_ok(&c, f, pos, limit)) {
			f = NULL;
			break;
		}
		pos->prev = (void *)f;
		f = f->next;
	}
	pos->entry = (void *)f;
	return f ? 1 : 0;
}

static void check_bitmap(struct fm_check *c)
{
	const struct fm_pool *pool = c->pool;

	for (unsigned cls = 0; cls < FM_CLASSES; cls++)
		if (map_test(pool, cls) != (pool->head[cls] != NULL))
			report(c, &pool->head[cls],
				"fm: class bit disagrees with its list");
	for (unsigned w = 0; w < FM_WORDS; w++)
		if (((pool->summary >> w) & 1) != (pool->map[w] != 0))
			report(c, pool, "fm: summary bit disagrees with its word");
	if (FM_CLASSES % 64 && pool->map[FM_WORDS - 1] >> (FM_CLASSES % 64))
		report(c, pool, "fm: bitmap bit beyond the last class");
	if (FM_WORDS < 64 && pool->summary >> (FM_WORDS % 64))
		report(c, pool, "fm: summary bit beyond the last word");
}

static void check_counters(struct fm_check *c, const struct mem_heap_sums *s)
{
	const struct fm_pool *pool = c->pool;
	uint64_t free = s->free_usable + s->free_blocks * FM_HDR;
	uint64_t used = s->used_usable + s->used_blocks * FM_HDR;

	if (s->listed != s->free_blocks)
		report(c, pool, "fm: listed fragments != free fragments in heap");
	if (pool->nfree != s->free_blocks)
		report(c, pool, "fm: free fragment count is wrong");
	if (pool->free_bytes != free)
		report(c, pool, "fm: free byte count is wrong");
	if (pool->used_size != s->used_usable)
		report(c, pool, "fm: used_size is wrong");
	if (pool->overhead + free + used != pool->total_size)
		report(c, pool, "fm: fragments do not add up to the heap");
}

static int fm_check_global(void *st, const struct mem_heap_sums *sums,
		mem_problem_fn problem, void *arg)
{
	struct fm_check c = { .pool = st, .problem = problem, .arg = arg };
	const struct fm_pool *pool = c.pool;

	check_bitmap(&c);
	if (frag_size(pool->end) != 0 || frag_is_free(pool->end))
		report(&c, pool->end, "fm: sentinel header damaged");
	if (pool->max_used < pool->total_size - pool->free_bytes)
		report(&c, pool, "fm: max_used below real_used");
	if (sums)
		check_counters(&c, sums);
	return c.count;
}

static int fm_check(void *st, mem_problem_fn problem, void *arg)
{
	return mem_backend_check(&mem_fm_backend, st, problem, arg);
}

/* free() joins a free predecessor when mem_join was on at create(). */
static int fm_joins_prev(void *st, const void *p)
{
	const struct fm_pool *pool = st;
	return pool->join && frag_prev_is_free(payload_frag(p));
}

/* A class all of whose fragments hold n: an exact one, or the log class
 * above n's (backend.h). */
static int fm_has_room(void *st, size_t n)
{
	uint64_t want = frag_size_for(n);
	unsigned c = size_class(want);
	return find_class(st, c + (c >= FM_EXACT)) >= 0;
}

/* --- rebuild after a death (backend.h) ---------------------------------- */

/* The chain from the first fragment reaches the sentinel. */
static bool chain_whole(const struct fm_pool *pool)
{
	const struct fm_frag *f = (const struct fm_frag *)pool->first;

	for (; f != pool->end; f = frag_next(f))
		if (!size_fits(pool, f, frag_size(f)))
			return false;
	return frag_size(f) == 0 && !frag_is_free(f);
}

/* Lists, maps, boundary bits and counters from the chain alone; with
 * mem_join, free neighbours left apart by a dead join are joined (each
 * one swallowed is named first). */
static int fm_rebuild(void *st, mem_block_fn swallowed, void *arg)
{
	struct fm_pool *pool = st;
	struct fm_frag *f = (struct fm_frag *)pool->first;

	if (!chain_whole(pool))
		return -1;
	memset(pool->head, 0, sizeof(pool->head));
	memset(pool->map, 0, sizeof(pool->map));
	pool->summary = pool->nfree = pool->free_bytes = pool->used_size = 0;
	frag_set_prev(f, false, 0);
	for (; f != pool->end; f = frag_next(f)) {
		uint64_t size = frag_size(f);
		bool free = frag_is_free(f);

		while (free && pool->join && frag_is_free(frag_at(f, size)) &&
				frag_at(f, size) != pool->end) {
			struct fm_frag *next = frag_at(f, size);

			swallowed(&(struct mem_block){ frag_payload(next),
				frag_size(next) - FM_HDR, 0, 0 }, arg);
			size += frag_size(next);
			f->word += frag_size(next);
			MEM_KILL_FENCE();
			frag_forget(next);
		}
		frag_set(f, size, free);
		if (free)
			fl_insert(pool, f);
		else
			pool->used_size += size - FM_HDR;
	}
	note_peak(pool);
	return 0;
}

static void *fm_last(void *st, uint64_t *seq)
{
	const struct fm_pool *pool = st;

	*seq = pool->nlast;
	return pool->last ? frag_payload(pool->last) : NULL;
}

const struct mem_backend mem_fm_backend = {
	.name = "fm",
	.long_name = "f_malloc",
	.frag_overhead = FM_HDR,
	.header_size = FM_HDR,
	.create = fm_create,
	.malloc = fm_malloc,
	.free = fm_free,
	.resize = fm_resize,
	.usable_size = fm_usable_size,
	.block_state = fm_block_state,
	.info = fm_info,
	.check = fm_check,
	.walk = fm_walk,
	.rebuild = fm_rebuild,
	.last = fm_last,
	.prefetch = fm_prefetch,
	.peak = fm_peak,
	.walk_from = fm_walk_from,
	.repair = fm_repair,
	.nlists = FM_CLASSES,
	.check_block = fm_check_block,
	.check_list = fm_check_list,
	.check_global = fm_check_global,
	.joins_prev = fm_joins_prev,
	.has_room = fm_has_room,
};
