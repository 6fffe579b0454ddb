/*
 * tlsf.c - the TLSF backend: Two-Level Segregated Fit.
 *
 * What.  One pool over a region [mem, mem + size): the control structure
 * (struct tlsf) at its start, then the heap, a run of blocks that tiles
 * [first, sentinel) exactly.  What the backend may assume and must provide
 * is in backend.h.
 *
 * Algorithm (Masmano, Ripoll, Crespo, Real, "TLSF: a New Dynamic Memory
 * Allocator for Real-Time Systems", ECRTS 2004).  Free blocks live in
 * doubly linked lists segregated by size on two levels: the first level
 * (fl) splits sizes by powers of two, the second (sl) splits each power of
 * two into SL_COUNT equal classes.  Sizes below SMALL_LIMIT (512) all sit in
 * fl 0, one class per 16 bytes.  One bit per list in two bitmaps says which
 * lists are non-empty, so a list is found with two find-first-set.
 *   malloc  round the request to a block size, round that up once more to
 *           the next class boundary so that ANY block of the found list fits
 *           (good fit, no list search), take the head of the first
 *           non-empty list at or above that class (in the request's zone
 *           first, below), give the rest back if it can stand alone as a
 *           block: a small request keeps the bottom end, a big one the top.
 *   free    coalesce at once with both physical neighbours (boundary tags),
 *           put the result at the head of its list.  mem_join is ignored.
 *
 * Zones: keeping big holes for big requests.  Each list exists twice: free
 * blocks made of small blocks' space (zone small) and free blocks made of
 * big blocks' space, or never used (zone big).  A block of BIG_MIN (16 KiB)
 * or more is big.  A freed block joins the big zone if it or a free
 * neighbour it coalesces with is big; a remainder keeps its block's zone.
 * A small request looks for a good fit among the small zone's blocks, then
 * the big zone's; a big request the other way round, and it is cut from
 * the top end of the block it gets.  So small blocks pack into the space
 * small blocks left (lowest addresses first on a fresh heap), big ones
 * from the top down, and the holes big blocks leave are not cut up by
 * small ones while small holes remain: the same separation as first fit
 * for small and last fit for large requests, at the cost of two bitmap
 * searches instead of one.  On BENCH.md's W6 (fill a 64 MiB pool until
 * the first failure, free a random half, 20 rounds; the failures are the
 * rare 32-256 KiB requests) it lifts utilisation from 0.72 to 0.92 (mean
 * of 64 seeds, min 0.88): doc/PERFORMANCE.md.
 *   resize  in place only: shrink gives the tail back; grow takes the next
 *           block when it is free and big enough.
 *
 * Block layout.  A block pointer b is the address of its header; block
 * sizes (b to the next header) are multiples of 16, so each payload is
 * 16-byte aligned:
 *
 *   b           b+8                  b+16                          b+size
 *   | prev_phys | tag | size |0|0|P|F | next_free | prev_free | ... | prev_phys
 *     '- last 8 bytes of the            '- payload; links only while free
 *        previous block's payload,
 *        valid only when P is set
 *
 *   F (BLOCK_FREE) this block is free; P (BLOCK_PREV_FREE) the previous one
 *   is; a free block's bit 2 (BLOCK_BIG, not drawn) names its zone.  The top 16 bits of the size word are a tag, a hash of the header's
 *   own address: block_state() must judge pointers into user data, and an
 *   8-byte integer there that happens to look like a plausible size should
 *   not pass; with the tag a forgery also needs the right 16-bit value
 *   (sizes need only 48 bits, see MAX_LOG2).  It also lets check() see an
 *   overflow that ran into a header.
 *   A used block's usable size is size - 8: it owns the next block's
 *   prev_phys slot, which only matters once the block is free.  So the
 *   per-block overhead is 8 bytes plus rounding to 16; the minimum block is
 *   32 bytes (24 usable), the room a free block needs for its links.
 *
 * What a free block's payload holds.  The backend writes only payload
 * [0, 16) (the list links) and payload [size - 16, size - 8) (the boundary
 * tag: the next block's prev_phys).  The common layer's free-site records at
 * payload [16, 48) are therefore kept intact for blocks of 64 bytes and up;
 * in 32- and 48-byte blocks the boundary tag falls inside that range, an
 * unavoidable cost of 8-byte headers with boundary tags (harmless today:
 * under MEMDBG the common layer asks for at least 57 bytes, so every block
 * it frees has 80 bytes or more).  A header that
 * coalescing swallows gets its size word zeroed, so that a stale copy can
 * never pass block_state() later; that word lies at or past the survivor's
 * old boundary tag, so never inside [16, 48) of a block of 64 bytes or
 * more.  Nothing else of a swallowed block is touched.
 *
 * Invariants (all verified by tlsf_check):
 *   1. block sizes are multiples of 16, >= MIN_BLOCK, and tile
 *      [first, sentinel) exactly; the sentinel is a used block of size 0,
 *      so every real block has a next block;
 *   2. no two physically adjacent blocks are free;
 *   3. P of a block == F of its predecessor; when set, prev_phys points at
 *      the predecessor; the first block never has P;
 *   4. every free block is on the list its zone and mapping_insert(size)
 *      name and on no other; lists hold only free blocks, linked
 *      consistently both ways; only a free block carries BLOCK_BIG;
 *   5. per zone z: sl_map[z][fl] bit sl <=> heads[z][fl][sl] != NULL;
 *      fl_map[z] bit fl <=> sl_map[z][fl] != 0;
 *   6. the counters equal what a walk of the heap recomputes.
 * tlsf_check() verifies them in three pieces (backend.h): per block
 * (1 from walk_from, 2, 3, and 4 from the block's side: its list
 * neighbours point back at it), per list (4 from the list's side: every
 * entry a free block of that list, back links consistent), and globally
 * (5, 6, and as many listed as free blocks).
 *
 * Counters.  total_size is the region managed, control structure included
 * (the pool size asked for, unless above TLSF_MAX_REGION); real_used is the
 * control structure, the
 * alignment slack at both ends, the sentinel and the full size of every used
 * block; so free_size = total_size - real_used is exactly the sum of the
 * free block sizes.  used_size sums usable sizes; total_frags counts free
 * blocks; min_frag is MIN_BLOCK.
 *
 * Costs.  malloc, free and resize are O(1): a bounded number of bit scans
 * and list operations, no loop anywhere.  Waste per used block: 8 bytes of
 * header, < 16 of rounding, < MIN_BLOCK of unsplit tail.  Good fit skips
 * a free block of n to about n + n/32 bytes (it lives in the class just
 * below the rounded one); when nothing larger exists, malloc looks at up to
 * FIT_PROBES blocks of that class before it fails, so such a block is
 * missed only behind FIT_PROBES smaller ones (per zone).  The control
 * structure takes about 21 KiB (two zones of lists); sizes up to 2^48
 * bytes are indexed.
 * free reads the block's header and the next one, which it needs to
 * join: on BENCH.md's W2 these two cold reads are most of a free's time
 * (a prefetch of a free predecessor's header, issued once the own header
 * says P, measured no gain there).
 * block_state is O(1) and reads the block's header and the next one;
 * own_usable (the shm caches' free) only the block's own size word, so
 * an unforged pointer must match a 16-bit tag, plausible flags and size
 * there; the next header's tag is checked by the free that joins (the
 * cache's flush).  Check and walk are O(blocks + lists); walk_from
 * is O(max) and stops at a header whose tag, flags or size are wrong (the
 * common layer carries on past it, damage.c); repair rewrites one used
 * block's size word from a size the common layer learnt from its MEMDBG
 * record, in O(1), only when the block then ends at a sound header.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tlsf.h"

#define ALIGN_LOG2   4
#define ALIGN        ((uint64_t)1 << ALIGN_LOG2)
#define SL_LOG2      5
#define SL_COUNT     (1u << SL_LOG2)
/* Below 2^SMALL_LOG2 = 512 every 16-byte size has its own list in fl 0. */
#define SMALL_LOG2   (SL_LOG2 + ALIGN_LOG2)
#define SMALL_LIMIT  ((uint64_t)1 << SMALL_LOG2)
#define MAX_LOG2     48
/* fl 0 is the linear range; fl k >= 1 holds [2^(k+8), 2^(k+9)). */
#define FL_COUNT     (MAX_LOG2 - SMALL_LOG2 + 1)
/* Two sets of lists: free blocks made of small blocks' space, and free
 * blocks made of big blocks' space (or never used yet). */
#define ZONE_SMALL   0u
#define ZONE_BIG     1u
#define ZONES        2u
/* Blocks (header included) from here up are big: placed at the top end of
 * the free block they are cut from, looked for among big-zone blocks first. */
#define BIG_MIN      ((uint64_t)16 << 10)

#define BLOCK_FREE       ((uint64_t)1)
#define BLOCK_PREV_FREE  ((uint64_t)2)
#define BLOCK_BIG        ((uint64_t)4)
#define BLOCK_FLAGS      (ALIGN - 1)
/* The size word: | tag (16 bits) | size (48 bits, low 4 are the flags) |. */
#define SIZE_MASK        ((((uint64_t)1 << MAX_LOG2) - 1) & ~BLOCK_FLAGS)
#define TAG_MASK         (~(((uint64_t)1 << MAX_LOG2) - 1))

struct block {
	struct block *prev_phys;  /* valid only when BLOCK_PREV_FREE */
	uint64_t size;            /* tag | size | BLOCK_PREV_FREE | BLOCK_FREE */
	struct block *next_free;  /* valid only when BLOCK_FREE */
	struct block *prev_free;
};

#define BLOCK_HEADER   offsetof(struct block, next_free)
#define MIN_BLOCK      ((uint64_t)sizeof(struct block))

_Static_assert(ALIGN == MEM_ALIGN, "blocks are laid out on MEM_ALIGN");
_Static_assert(offsetof(struct block, size) == 8, "size word after prev_phys");
_Static_assert(BLOCK_HEADER == 16, "payload follows the 16-byte header");
_Static_assert(BLOCK_HEADER % ALIGN == 0, "payloads must stay aligned");
_Static_assert(MIN_BLOCK == TLSF_MIN_BLOCK, "tlsf.h states MIN_BLOCK");
_Static_assert(MIN_BLOCK % ALIGN == 0, "the minimum block is a block size");
_Static_assert(BLOCK_HEADER - offsetof(struct block, size)
		== TLSF_BLOCK_OVERHEAD, "a used block pays only its size word");
_Static_assert(((BLOCK_FREE | BLOCK_PREV_FREE | BLOCK_BIG) & ~BLOCK_FLAGS)
		== 0, "flags fit below the alignment");
_Static_assert(ZONES == 2 && ZONE_SMALL == 0 && ZONE_BIG == 1,
		"find_free flips zones with ^, block_zone reads one bit");
_Static_assert(BLOCK_BIG == BLOCK_FREE << 2 && BLOCK_BIG >> 2 == ZONE_BIG,
		"block_stray_flags and block_zone shift BLOCK_BIG by 2");
_Static_assert(BIG_MIN >= SMALL_LIMIT && BIG_MIN % ALIGN == 0,
		"big blocks are block sizes past the linear range");
_Static_assert((SIZE_MASK & TAG_MASK) == 0 && (TAG_MASK & BLOCK_FLAGS) == 0
		&& (SIZE_MASK | TAG_MASK | BLOCK_FLAGS) == UINT64_MAX,
		"tag, size and flags share the size word exactly");
_Static_assert(SL_COUNT <= 32, "one uint32_t second-level bitmap per fl");
_Static_assert(FL_COUNT <= 64, "one uint64_t first-level bitmap");
_Static_assert(TLSF_MAX_REGION == (uint64_t)1 << MAX_LOG2,
		"every block of a maximal region is indexed");

struct tlsf {
	uint64_t fl_map[ZONES];
	uint32_t sl_map[ZONES][FL_COUNT];
	struct block *heads[ZONES][FL_COUNT][SL_COUNT];
	struct block *first;      /* first block of the heap */
	struct block *sentinel;   /* size 0, used, ends the heap */
	uint64_t total_size;
	uint64_t used_size;
	uint64_t real_used;
	uint64_t max_used;
	uint64_t free_count;
	struct block *last;       /* what malloc handed out last (rebuild) */
	uint64_t nlast;           /* mallocs that got that far */
};

struct list_index {
	unsigned zone, fl, sl;
};

/* --- header accessors ----------------------------------------------- */

static inline uint64_t block_size(const struct block *b)
{
	return b->size & SIZE_MASK;
}

static inline void block_set_size(struct block *b, uint64_t size)
{
	b->size = size | (b->size & ~SIZE_MASK);
}

/* The check value a header at this address carries: 16 bits of a
 * multiplicative hash of the address. */
static inline uint64_t block_tag(const struct block *b)
{
	return ((uintptr_t)b >> ALIGN_LOG2) * 0x9e3779b97f4a7c15ull & TAG_MASK;
}

static inline bool block_tag_ok(const struct block *b)
{
	return (b->size & TAG_MASK) == block_tag(b);
}

/* A new header: its tag and size, both flags clear. */
static inline void block_init(struct block *b, uint64_t size)
{
	b->size = block_tag(b) | size;
}

static inline bool block_is_free(const struct block *b)
{
	return b->size & BLOCK_FREE;
}

static inline void block_set_free(struct block *b)
{
	b->size |= BLOCK_FREE;
}

/* A used block has no zone. */
static inline void block_set_used(struct block *b)
{
	b->size &= ~(BLOCK_FREE | BLOCK_BIG);
}

static inline unsigned block_zone(const struct block *b)
{
	return (unsigned)(b->size >> 2) & ZONE_BIG;
}

static inline void block_set_zone(struct block *b, unsigned zone)
{
	b->size = (b->size & ~BLOCK_BIG) | (zone == ZONE_BIG ? BLOCK_BIG : 0);
}

/* The zone the space of a used block of this size goes back to. */
static inline unsigned zone_for(uint64_t size)
{
	return size >= BIG_MIN ? ZONE_BIG : ZONE_SMALL;
}

static inline bool block_is_prev_free(const struct block *b)
{
	return b->size & BLOCK_PREV_FREE;
}

static inline void block_set_prev_free(struct block *b)
{
	b->size |= BLOCK_PREV_FREE;
}

static inline void block_set_prev_used(struct block *b)
{
	b->size &= ~BLOCK_PREV_FREE;
}

/* Flag bits that no block may carry (BLOCK_BIG only on a free one). */
static inline uint64_t block_stray_flags(const struct block *b)
{
	uint64_t ok = BLOCK_FREE | BLOCK_PREV_FREE | (b->size & BLOCK_FREE) << 2;

	return b->size & BLOCK_FLAGS & ~ok;
}

static inline struct block *block_at(const struct block *b, uint64_t offset)
{
	return (struct block *)((uintptr_t)b + offset);
}

static inline struct block *block_next(const struct block *b)
{
	return block_at(b, block_size(b));
}

static inline void *block_payload(const struct block *b)
{
	return (void *)((uintptr_t)b + BLOCK_HEADER);
}

static inline struct block *block_from_payload(const void *p)
{
	return (struct block *)((uintptr_t)p - BLOCK_HEADER);
}

static inline uint64_t block_usable(const struct block *b)
{
	return block_size(b) - TLSF_BLOCK_OVERHEAD;
}

/* A header merged into a neighbour loses size and tag, so that a stale
 * copy left in a payload can never pass block_state() as a block. */
static inline void block_forget(struct block *b)
{
	b->size = 0;
}

/* Free b: set F and the boundary tag the next block coalesces through. */
static void block_mark_free(struct block *b)
{
	struct block *next = block_next(b);

	next->prev_phys = b;
	block_set_prev_free(next);
	block_set_free(b);
}

static void block_mark_used(struct block *b)
{
	block_set_prev_used(block_next(b));
	block_set_used(b);
}

/* --- size classes --------------------------------------------------- */

static inline unsigned msb64(uint64_t x)
{
	return 63u - (unsigned)__builtin_clzll(x);
}

/* Block size for a request of n usable bytes (n <= MEM_MAX_REQUEST, so
 * this cannot overflow). */
static uint64_t request_to_size(size_t n)
{
	uint64_t size = ((uint64_t)n + TLSF_BLOCK_OVERHEAD + ALIGN - 1)
			& ~(ALIGN - 1);

	return size < MIN_BLOCK ? MIN_BLOCK : size;
}

/* The list a free block of this size belongs on (zone: the caller's). */
static inline __attribute__((always_inline))
struct list_index mapping_insert(uint64_t size)
{
	unsigned m;

	if (size < SMALL_LIMIT)
		return (struct list_index){ ZONE_SMALL, 0,
			(unsigned)(size >> ALIGN_LOG2) };
	m = msb64(size);
	return (struct list_index){
		ZONE_SMALL, m - (SMALL_LOG2 - 1),
		(unsigned)(size >> (m - SL_LOG2)) ^ SL_COUNT,
	};
}

/* The first list all of whose blocks are >= size: round size up to the
 * next class boundary.  May name a list past FL_COUNT (no block fits). */
static inline __attribute__((always_inline))
struct list_index mapping_search(uint64_t size)
{
	if (size >= SMALL_LIMIT)
		size += ((uint64_t)1 << (msb64(size) - SL_LOG2)) - 1;
	return mapping_insert(size);
}

/* The list free block b is on. */
static inline __attribute__((always_inline))
struct list_index block_list(const struct block *b)
{
	struct list_index i = mapping_insert(block_size(b));

	i.zone = block_zone(b);
	return i;
}

/* --- free lists ----------------------------------------------------- */

/* Head of the first non-empty list of *i's zone at or above *i, or NULL;
 * *i becomes the list it heads, so that malloc unlinks it without mapping
 * its size again. */
static inline __attribute__((always_inline))
struct block *find_suitable(const struct tlsf *t, struct list_index *i)
{
	uint32_t sl_map;

	if (__builtin_expect(i->fl >= FL_COUNT, 0))
		return NULL;
	sl_map = t->sl_map[i->zone][i->fl] & (~0u << i->sl);
	if (!sl_map) {
		uint64_t fl_map = t->fl_map[i->zone]
			& (~(uint64_t)0 << (i->fl + 1));

		if (!fl_map)
			return NULL;
		i->fl = (unsigned)__builtin_ctzll(fl_map);
		sl_map = t->sl_map[i->zone][i->fl];
	}
	i->sl = (unsigned)__builtin_ctz(sl_map);
	return t->heads[i->zone][i->fl][i->sl];
}

/* Good fit found nothing: a block in the request's own class may still be
 * large enough (it is only rounded up past it).  At most FIT_PROBES blocks
 * are looked at, so malloc stays O(1); this runs only when no larger block
 * exists at all, near exhaustion, where it turns failures into successes. */
#define FIT_PROBES 16

static struct block *find_in_class(const struct tlsf *t, uint64_t size)
{
	struct list_index i = mapping_insert(size);

	for (unsigned z = 0; z < ZONES && i.fl < FL_COUNT; z++) {
		struct block *b = t->heads[z][i.fl][i.sl];

		for (unsigned k = 0; b && k < FIT_PROBES; k++, b = b->next_free)
			if (block_size(b) >= size)
				return b;
	}
	return NULL;
}

/* Good fit among the blocks of the zone the request belongs to, then of
 * the other; near exhaustion, a bounded look into its own class.  *at is
 * the list of a block found by good fit (the bounded look leaves it to
 * block_list). */
static inline struct block *find_free(const struct tlsf *t, uint64_t size,
		struct list_index *at)
{
	struct list_index want = mapping_search(size);
	struct block *b;

	want.zone = zone_for(size);
	*at = want;
	if (__builtin_expect((b = find_suitable(t, at)) != NULL, 1))
		return b;
	*at = want;
	at->zone ^= ZONE_BIG;
	if ((b = find_suitable(t, at)))
		return b;
	if ((b = find_in_class(t, size)))
		*at = block_list(b);
	return b;
}

static inline __attribute__((always_inline))
void list_insert(struct tlsf *t, struct block *b)
{
	struct list_index i = block_list(b);
	struct block *head = t->heads[i.zone][i.fl][i.sl];

	b->next_free = head;
	b->prev_free = NULL;
	MEM_KILL_POINT();       /* b's links written, b not listed yet */
	if (head)
		head->prev_free = b;
	t->heads[i.zone][i.fl][i.sl] = b;
	t->sl_map[i.zone][i.fl] |= 1u << i.sl;
	t->fl_map[i.zone] |= (uint64_t)1 << i.fl;
	t->free_count++;
}

/* Unlink b from list i, the one it is on. */
static inline __attribute__((always_inline))
void list_unlink(struct tlsf *t, struct block *b, struct list_index i)
{
	struct block *next = b->next_free, *prev = b->prev_free;

	if (next)
		next->prev_free = prev;
	MEM_KILL_POINT();       /* half unlinked */
	if (prev) {
		prev->next_free = next;
	} else {
		t->heads[i.zone][i.fl][i.sl] = next;
		if (!next)
			t->sl_map[i.zone][i.fl] &= ~(1u << i.sl);
		if (!t->sl_map[i.zone][i.fl])
			t->fl_map[i.zone] &= ~((uint64_t)1 << i.fl);
	}
	t->free_count--;
}

/* b must still have the size and zone it was listed with. */
static void list_remove(struct tlsf *t, struct block *b)
{
	list_unlink(t, b, block_list(b));
}

/* --- splitting and coalescing -------------------------------------- */

/* Give back the part of b beyond size when it can stand alone.  b is used
 * (or about to be) and its next block is not free, so the tail is a free
 * block with a used predecessor and a used successor. */
static void block_trim(struct tlsf *t, struct block *b, uint64_t size,
		unsigned zone)
{
	struct block *rest;

	if (block_size(b) - size < MIN_BLOCK)
		return;
	rest = block_at(b, size);
	block_init(rest, block_size(b) - size);
	block_set_zone(rest, zone);
	block_mark_free(rest);  /* free before b's new size uncovers it */
	MEM_KILL_FENCE();
	block_set_size(b, size);
	list_insert(t, rest);
}

/* Cut size from the top end of free block b, which is off its list: the
 * low part stays free, in b's zone, back on its list; returns the top
 * part (its next block still says its predecessor is free). */
static struct block *block_cut_top(struct tlsf *t, struct block *b,
		uint64_t size)
{
	uint64_t rest = block_size(b) - size;
	struct block *top;

	if (rest < MIN_BLOCK)
		return b;
	top = block_at(b, rest);
	block_init(top, size);
	block_set_free(top);    /* free until malloc marks it used (last) */
	MEM_KILL_FENCE();
	block_set_size(b, rest);
	block_mark_free(b);
	list_insert(t, b);
	return top;
}

/* Take b's free predecessor off its list and return it grown over b;
 * *zone becomes big if the predecessor's was. */
static inline struct block *merge_prev(struct tlsf *t, struct block *b,
		unsigned *zone)
{
	struct block *prev;

	if (!block_is_prev_free(b))
		return b;
	prev = b->prev_phys;
	*zone |= block_zone(prev);
	list_remove(t, prev);
	block_set_size(prev, block_size(prev) + block_size(b));
	MEM_KILL_FENCE();
	block_forget(b);
	return prev;
}

/* Grow b over its next block (free, off the lists, or the lists are being
 * rebuilt): one store joins, then the swallowed header is forgotten. */
static void merge_next_raw(struct block *b)
{
	struct block *next = block_next(b);

	block_set_size(b, block_size(b) + block_size(next));
	MEM_KILL_FENCE();
	block_forget(next);
}

/* Grow b over its next block if that is free.  The new next block keeps a
 * stale P; the caller marks b free or used, which sets it right. */
static inline void merge_next(struct tlsf *t, struct block *b, unsigned *zone)
{
	struct block *next = block_next(b);

	if (!block_is_free(next))
		return;
	*zone |= block_zone(next);
	list_remove(t, next);
	merge_next_raw(b);
}

/* --- counters ------------------------------------------------------- */

static void count_used(struct tlsf *t, uint64_t size)
{
	t->real_used += size;
	t->used_size += size - TLSF_BLOCK_OVERHEAD;
	if (t->real_used > t->max_used)
		t->max_used = t->real_used;
}

static void count_freed(struct tlsf *t, uint64_t size)
{
	t->real_used -= size;
	t->used_size -= size - TLSF_BLOCK_OVERHEAD;
}

/* --- the backend operations ----------------------------------------- */

static void *tlsf_create(void *mem, size_t size)
{
	struct tlsf *t = mem;
	uintptr_t base = (uintptr_t)mem, first, sentinel;

	if (size > TLSF_MAX_REGION)
		size = TLSF_MAX_REGION;
	if (size < sizeof(*t) + MIN_BLOCK + 2 * ALIGN)
		return NULL;
	/* The first block never has a free predecessor, so its prev_phys
	 * slot is never used and may overlap the end of the control block. */
	first = (base + sizeof(*t) - 8 + ALIGN - 1) & ~(ALIGN - 1);
	/* The sentinel needs its size word inside the region. */
	sentinel = (base + size - BLOCK_HEADER) & ~(ALIGN - 1);
	if (sentinel < first + MIN_BLOCK)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->first = (struct block *)first;
	t->sentinel = (struct block *)sentinel;
	block_init(t->first, sentinel - first);
	block_init(t->sentinel, 0);
	block_set_zone(t->first, ZONE_BIG);
	block_mark_free(t->first);
	list_insert(t, t->first);
	t->total_size = size;
	t->real_used = size - (sentinel - first);
	t->max_used = t->real_used;
	return t;
}

static void *tlsf_malloc(void *st, size_t n)
{
	struct tlsf *t = st;
	uint64_t size = request_to_size(n);
	struct list_index at;
	struct block *b = find_free(t, size, &at);

	if (__builtin_expect(!b, 0))
		return NULL;
	list_unlink(t, b, at);
	if (__builtin_expect(zone_for(size) == ZONE_BIG, 0))
		b = block_cut_top(t, b, size);
	else
		block_trim(t, b, size, block_zone(b));
	t->last = b;
	t->nlast++;
	MEM_KILL_FENCE();
	block_mark_used(b);
	count_used(t, block_size(b));
	return block_payload(b);
}

static inline bool used_block_ok(const struct tlsf *t, const struct block *b);
static int tlsf_block_state(void *st, const void *p);

static int tlsf_free(void *st, void *p)
{
	struct tlsf *t = st;
	struct block *b = block_from_payload(p);
	unsigned zone;

	if (__builtin_expect(!used_block_ok(t, b), 0))
		return tlsf_block_state(st, p);
	zone = zone_for(block_size(b));
	count_freed(t, block_size(b));
	b = merge_prev(t, b, &zone);
	block_set_free(b);      /* free before it grows over its neighbour */
	MEM_KILL_FENCE();
	merge_next(t, b, &zone);
	block_set_zone(b, zone);
	block_mark_free(b);
	list_insert(t, b);
	return MEM_BLOCK_USED;
}

/* The words free() reads beyond b's header: the next header (its flags,
 * and its links when it is free) and, with P set, the free block before
 * (backend.h). */
static void tlsf_prefetch(void *st, const void *p)
{
	const struct block *b = block_from_payload((void *)p);

	(void)st;
	/* integer sums: p may be wild, its size and link anything */
	__builtin_prefetch((void *)((uintptr_t)b + block_size(b) + 8), 1);
	if (b->size & BLOCK_PREV_FREE)
		__builtin_prefetch((void *)((uintptr_t)b->prev_phys + 8), 1);
}

/* max_used, for the common layer to lower (backend.h). */
static uint64_t *tlsf_peak(void *st)
{
	return &((struct tlsf *)st)->max_used;
}

static int tlsf_resize(void *st, void *p, size_t n)
{
	struct tlsf *t = st;
	struct block *b = block_from_payload(p);
	struct block *next = block_next(b);
	uint64_t old = block_size(b), size = request_to_size(n);
	unsigned zone = zone_for(old);

	if (size == old)
		return 0;
	if (size > old && (!block_is_free(next)
			|| old + block_size(next) < size))
		return -1;
	/* Shrinking into a free next block moves its start down even when
	 * the freed tail alone would be too small to stand as a block. */
	merge_next(t, b, &zone);
	block_trim(t, b, size, zone);
	block_mark_used(b);
	count_freed(t, old);
	count_used(t, block_size(b));
	return 0;
}

static size_t tlsf_usable_size(void *st, const void *p)
{
	(void)st;
	return block_usable(block_from_payload(p));
}

/* --- validation: nothing read here is trusted ----------------------- */

/* A header address inside the heap (sentinel excluded), on a block
 * boundary; reading the whole struct block at it stays in the region. */
static inline bool header_in_heap(const struct tlsf *t, const struct block *b)
{
	uintptr_t a = (uintptr_t)b;

	return a >= (uintptr_t)t->first && a < (uintptr_t)t->sentinel
		&& a % ALIGN == 0;
}

/* b is a header in the heap; its size keeps the next header in it. */
static bool size_sane(const struct tlsf *t, const struct block *b)
{
	uint64_t size = block_size(b);

	return size >= MIN_BLOCK && size % ALIGN == 0
		&& size <= (uintptr_t)t->sentinel - (uintptr_t)b;
}

/* Everything one header says about itself. */
static inline bool header_sane(const struct tlsf *t, const struct block *b)
{
	return block_tag_ok(b) && !block_stray_flags(b) && size_sane(t, b);
}

/* b has P set: its predecessor must be a free block ending at b. */
static bool prev_sane(const struct tlsf *t, const struct block *b)
{
	const struct block *prev = b->prev_phys;

	return header_in_heap(t, prev) && prev < b && block_tag_ok(prev)
		&& block_is_free(prev)
		&& (uintptr_t)prev + block_size(prev) == (uintptr_t)b;
}

static bool link_sane(const struct tlsf *t, const struct block *b,
		const struct block *link)
{
	return !link || (link != b && header_in_heap(t, link));
}

/* b is free with a sane size: its tag, neighbours and links must agree. */
static bool free_sane(const struct tlsf *t, const struct block *b)
{
	const struct block *next = block_next(b);
	struct list_index i = block_list(b);

	if (!block_is_prev_free(next) || next->prev_phys != b
			|| !block_tag_ok(next) || block_is_free(next)
			|| block_is_prev_free(b))
		return false;
	if (!link_sane(t, b, b->next_free) || !link_sane(t, b, b->prev_free))
		return false;
	if (b->next_free && b->next_free->prev_free != b)
		return false;
	if (b->prev_free)
		return b->prev_free->next_free == b;
	return t->heads[i.zone][i.fl][i.sl] == b;
}

/* b is used with a sane size: its next block must look like a block too. */
static inline __attribute__((always_inline)) bool used_sane(const struct tlsf *t, const struct block *b)
{
	const struct block *next = block_next(b);

	if (block_is_prev_free(next) || !block_tag_ok(next))
		return false;
	return next == t->sentinel || header_sane(t, next);
}

/* b's own header says used: own_usable()'s verdict (backend.h), which
 * leaves the next header to whoever joins with it. */
static inline bool used_self_ok(const struct tlsf *t, const struct block *b)
{
	return header_in_heap(t, b) && header_sane(t, b) && !block_is_free(b);
}

/* b is a used block: block_state()'s verdict MEM_BLOCK_USED, made on
 * b's own header and the next one (see backend.h). */
static inline bool used_block_ok(const struct tlsf *t, const struct block *b)
{
	return used_self_ok(t, b) && used_sane(t, b);
}

static uint64_t tlsf_own_usable(void *st, const void *p)
{
	const struct block *b = block_from_payload(p);

	return used_self_ok(st, b) ? block_usable(b) : 0;
}

static int tlsf_block_state(void *st, const void *p)
{
	const struct tlsf *t = st;
	const struct block *b = block_from_payload(p);

	if (!header_in_heap(t, b) || !header_sane(t, b))
		return MEM_BLOCK_BAD;
	if (!block_is_free(b))  /* own header and next's only: see backend.h */
		return used_sane(t, b) ? MEM_BLOCK_USED : MEM_BLOCK_BAD;
	if (block_is_prev_free(b) && !prev_sane(t, b))
		return MEM_BLOCK_BAD;
	return free_sane(t, b) ? MEM_BLOCK_FREE : MEM_BLOCK_BAD;
}

static void tlsf_info(void *st, struct mem_info *mi)
{
	const struct tlsf *t = st;

	mi->total_size = t->total_size;
	mi->free_size = t->total_size - t->real_used;
	mi->used_size = t->used_size;
	mi->real_used = t->real_used;
	mi->max_used = t->max_used;
	mi->min_frag = MIN_BLOCK;
	mi->total_frags = t->free_count;
	mi->cached = 0;         /* parked shm blocks: cache.c adds them */
}

/* --- check: one block, one list, the globals (backend.h) ------------- */

struct checker {
	const struct tlsf *t;
	mem_problem_fn problem;
	void *arg;
	int count;
};

static void report(struct checker *c, const void *where, const char *what)
{
	c->count++;
	if (c->problem)
		c->problem(c->arg, where, what);
}

/* Invariants 2 and 3 between b and its physical predecessor prev. */
static void check_boundary(struct checker *c, const struct block *b,
		const struct block *prev)
{
	bool prev_free = prev && block_is_free(prev);

	if (block_is_prev_free(b) != prev_free)
		report(c, b, "PREV_FREE flag disagrees with the previous block");
	if (prev_free && b->prev_phys != prev)
		report(c, b, "prev_phys does not point at the free previous block");
	if (prev_free && block_is_free(b))
		report(c, b, "two adjacent free blocks");
}

/* Why walk_from() stopped at b. */
static void check_header(struct checker *c, const struct block *b)
{
	if (!block_tag_ok(b))
		report(c, b, "header check value wrong (overwritten?), heap walk stopped");
	else if (block_stray_flags(b))
		report(c, b, "unknown flag bits in the size word, heap walk stopped");
	else
		report(c, b, "block size out of range, heap walk stopped");
}

/* Invariant 4 from the block's side: its list neighbours point back. */
static void check_linked(struct checker *c, const struct block *b)
{
	struct list_index i = block_list(b);
	const struct block *n = b->next_free, *p = b->prev_free;

	if (!link_sane(c->t, b, n) || !link_sane(c->t, b, p) ||
			(n && n->prev_free != b) || (p ? p->next_free != b
			: c->t->heads[i.zone][i.fl][i.sl] != b))
		report(c, b, "free block not linked into its list");
}

static int tlsf_check_block(void *st, const struct mem_block *mb,
		mem_problem_fn problem, void *arg)
{
	struct checker c = { .t = st, .problem = problem, .arg = arg };
	const struct block *b = block_from_payload(mb->payload), *next;

	if (mb->broken) {
		check_header(&c, b);
		return c.count;
	}
	if (b == c.t->first)
		check_boundary(&c, b, NULL);
	next = block_next(b);
	if (block_is_free(b))
		check_linked(&c, b);
	if (next == c.t->sentinel || header_sane(c.t, next))
		check_boundary(&c, next, b);
	return c.count;
}

/* pos->entry still follows pos->prev on list (zone, fl, sl). */
static bool still_listed(const struct tlsf *t, const struct block *b,
		const struct block *prev, struct list_index at)
{
	struct list_index i;

	if (!header_in_heap(t, b) || !header_sane(t, b) || !block_is_free(b))
		return false;
	i = block_list(b);
	return i.zone == at.zone && i.fl == at.fl && i.sl == at.sl
		&& b->prev_free == prev;
}

/* One entry of list at; false ends the list's walk (a stray entry or a
 * broken back link: what follows cannot be trusted). */
static bool list_entry_ok(struct checker *c, const struct block *b,
		struct mem_list_pos *pos, struct list_index at, uint64_t limit)
{
	struct list_index i;

	if (!header_in_heap(c->t, b) || !size_sane(c->t, b)) {
		report(c, b, "free list link outside the heap");
		return false;
	}
	if (b->prev_free != pos->prev) {
		report(c, b, "free list back link broken");
		return false;
	}
	if (++pos->n > limit) {
		report(c, b, "free list longer than the free blocks");
		return false;
	}
	i = block_list(b);
	if (!block_is_free(b))
		report(c, b, "used block on a free list");
	else if (i.fl != at.fl || i.sl != at.sl)
		report(c, b, "free block on the wrong list for its size");
	else if (i.zone != at.zone)
		report(c, b, "free block on the wrong zone's list");
	return true;
}

/* Invariant 4 from the list's side (backend.h, check_list). */
static int tlsf_check_list(void *st, struct mem_list_pos *pos, uint64_t max,
		uint64_t limit, int recheck, mem_problem_fn problem, void *arg)
{
	struct checker c = { .t = st, .problem = problem, .arg = arg };
	struct list_index at = { pos->list / (FL_COUNT * SL_COUNT),
		pos->list / SL_COUNT % FL_COUNT, pos->list % SL_COUNT };
	const struct block *b = pos->entry ? pos->entry
		: c.t->heads[at.zone][at.fl][at.sl];

	if (pos->entry && recheck && !still_listed(c.t, b, pos->prev, at))
		return -2;
	if (!limit)
		limit = ((uintptr_t)c.t->sentinel - (uintptr_t)c.t->first) / MIN_BLOCK;
	for (; b && max; max--) {
		if (!list_entry_ok(&c, b, pos, at, limit)) {
			b = NULL;
			break;
		}
		pos->prev = (void *)b;
		b = b->next_free;
	}
	pos->entry = (void *)b;
	return b ? 1 : 0;
}

/* Invariant 5 for one first-level index of one zone. */
static void check_bitmaps(struct checker *c, unsigned z, unsigned fl)
{
	const struct tlsf *t = c->t;
	bool fl_bit = (t->fl_map[z] >> fl) & 1;

	for (unsigned sl = 0; sl < SL_COUNT; sl++) {
		bool sl_bit = (t->sl_map[z][fl] >> sl) & 1;

		if (sl_bit != (t->heads[z][fl][sl] != NULL))
			report(c, &t->heads[z][fl][sl],
				"second-level bitmap disagrees with its list");
	}
	if (fl_bit != (t->sl_map[z][fl] != 0))
		report(c, &t->sl_map[z][fl],
			"first-level bitmap disagrees with second level");
}

/* Invariant 6, and the list entries against the free blocks. */
static void check_counters(struct checker *c, const struct mem_heap_sums *s)
{
	const struct tlsf *t = c->t;
	uint64_t span = (uintptr_t)t->sentinel - (uintptr_t)t->first;
	uint64_t used = s->used_usable + s->used_blocks * TLSF_BLOCK_OVERHEAD;
	uint64_t free = s->free_usable + s->free_blocks * TLSF_BLOCK_OVERHEAD;

	if (s->listed != s->free_blocks)
		report(c, t, "free blocks and listed blocks differ in number");
	if (t->free_count != s->free_blocks)
		report(c, t, "free block counter is wrong");
	if (t->used_size != s->used_usable)
		report(c, t, "used_size counter is wrong");
	if (t->real_used != t->total_size - span + used)
		report(c, t, "real_used counter is wrong");
	if (t->total_size - t->real_used != free)
		report(c, t, "free bytes differ from the free blocks");
}

static int tlsf_check_global(void *st, const struct mem_heap_sums *sums,
		mem_problem_fn problem, void *arg)
{
	struct checker c = { .t = st, .problem = problem, .arg = arg };
	const struct block *s = c.t->sentinel;

	for (unsigned z = 0; z < ZONES; z++) {
		if (c.t->fl_map[z] >> FL_COUNT)
			report(&c, &c.t->fl_map[z],
				"first-level bitmap beyond FL_COUNT");
		for (unsigned fl = 0; fl < FL_COUNT; fl++)
			check_bitmaps(&c, z, fl);
	}
	if (block_size(s) != 0 || block_is_free(s) || block_stray_flags(s)
			|| !block_tag_ok(s))
		report(&c, s, "sentinel header overwritten");
	if (c.t->max_used < c.t->real_used)
		report(&c, c.t, "max_used below real_used");
	if (sums)
		check_counters(&c, sums);
	return c.count;
}

static int tlsf_check(void *st, mem_problem_fn problem, void *arg)
{
	return mem_backend_check(&mem_tlsf_backend, st, problem, arg);
}

/* Stops with -1 at a block whose header fails its own checks (tag, flags,
 * size), leaving its payload in *from (backend.h). */
static int tlsf_walk_from(void *st, void **from, uint64_t max,
		mem_block_fn fn, void *arg)
{
	const struct tlsf *t = st;
	const struct block *b = *from ? block_from_payload(*from) : t->first;
	int rc = 0;

	for (; b != t->sentinel && max && !rc; max--) {
		struct mem_block mb;

		if (!header_sane(t, b)) {
			*from = block_payload(b);
			return -1;
		}
		mb = (struct mem_block){
			.payload = block_payload(b),
			.size = block_usable(b),
			.used = !block_is_free(b),
		};
		rc = fn(&mb, arg);
		b = block_next(b);
	}
	*from = b == t->sentinel ? NULL : block_payload(b);
	return rc;
}

static int tlsf_walk(void *st, mem_block_fn fn, void *arg)
{
	void *from = NULL;

	return tlsf_walk_from(st, &from, UINT64_MAX, fn, arg);
}

/* A used block of usable bytes after a used one (backend.h): size word
 * with its tag, no flag; it must end at a sane header or the sentinel. */
static int tlsf_repair(void *st, void *p, uint64_t usable, int apply)
{
	const struct tlsf *t = st;
	struct block *b = block_from_payload(p), *next;
	uint64_t size = usable + TLSF_BLOCK_OVERHEAD, want;

	if (!header_in_heap(t, b) || size < MIN_BLOCK || size % ALIGN
			|| size > (uintptr_t)t->sentinel - (uintptr_t)b)
		return -1;
	next = block_at(b, size);
	if (next != t->sentinel && !header_sane(t, next))
		return -1;
	if (block_is_prev_free(next) || !block_tag_ok(next))
		return -1;
	want = block_tag(b) | size;
	if (b->size == want)
		return 0;
	if (apply)
		b->size = want;
	return 1;
}

/* free() always joins a free predecessor (backend.h). */
static int tlsf_joins_prev(void *st, const void *p)
{
	(void)st;
	return block_is_prev_free(block_from_payload(p));
}

/* A block just allocated whose predecessor is free was cut from that
 * block's top end (a bottom cut leaves a used predecessor: no two free
 * blocks are neighbours). */
static void *tlsf_cut_from(void *st, const void *p)
{
	const struct block *b = block_from_payload(p);
	(void)st;
	return block_is_prev_free(b) ? block_payload(b->prev_phys) : NULL;
}

/* A list of either zone all of whose blocks hold n (backend.h): the two
 * bitmap searches find_free() starts with. */
static int tlsf_has_room(void *st, size_t n)
{
	const struct tlsf *t = st;
	struct list_index want = mapping_search(request_to_size(n)), at = want;
	if (find_suitable(t, &at))
		return 1;
	at = want;
	at.zone ^= ZONE_BIG;
	return find_suitable(t, &at) != NULL;
}

/* --- rebuild after a death (backend.h) ----------------------------- */

/* The chain from the first block reaches the sentinel through headers
 * that pass their own checks. */
static bool chain_whole(const struct tlsf *t)
{
	const struct block *b = t->first;

	for (; b != t->sentinel; b = block_next(b))
		if (!header_sane(t, b))
			return false;
	return block_tag_ok(b) && block_size(b) == 0 && !block_is_free(b);
}

/* Lists, maps, boundary tags and counters from the chain alone; free
 * neighbours left apart by a dead join are joined now (each one swallowed
 * is named first). */
static int tlsf_rebuild(void *st, mem_block_fn swallowed, void *arg)
{
	struct tlsf *t = st;
	struct block *b;

	if (!chain_whole(t))
		return -1;
	memset(t->fl_map, 0, sizeof(t->fl_map));
	memset(t->sl_map, 0, sizeof(t->sl_map));
	memset(t->heads, 0, sizeof(t->heads));
	t->free_count = t->used_size = 0;
	t->real_used = t->total_size -
		((uintptr_t)t->sentinel - (uintptr_t)t->first);
	block_set_prev_used(t->first);
	for (b = t->first; b != t->sentinel; b = block_next(b)) {
		if (!block_is_free(b)) {
			block_mark_used(b);
			count_used(t, block_size(b));
			continue;
		}
		while (block_is_free(block_next(b))) {
			struct block *n = block_next(b);
			unsigned zone = block_zone(b) | block_zone(n);

			swallowed(&(struct mem_block){ block_payload(n),
				block_usable(n), 0, 0 }, arg);
			merge_next_raw(b);
			block_set_zone(b, zone);
		}
		block_mark_free(b);
		list_insert(t, b);
	}
	return 0;
}

static void *tlsf_last(void *st, uint64_t *seq)
{
	const struct tlsf *t = st;

	*seq = t->nlast;
	return t->last ? block_payload(t->last) : NULL;
}

const struct mem_backend mem_tlsf_backend = {
	.name = "tlsf",
	.long_name = "tlsf_malloc",
	.frag_overhead = TLSF_BLOCK_OVERHEAD,
	.header_size = TLSF_BLOCK_OVERHEAD,
	.create = tlsf_create,
	.malloc = tlsf_malloc,
	.free = tlsf_free,
	.resize = tlsf_resize,
	.usable_size = tlsf_usable_size,
	.block_state = tlsf_block_state,
	.own_usable = tlsf_own_usable,
	.info = tlsf_info,
	.check = tlsf_check,
	.walk = tlsf_walk,
	.walk_from = tlsf_walk_from,
	.repair = tlsf_repair,
	.nlists = ZONES * FL_COUNT * SL_COUNT,
	.check_block = tlsf_check_block,
	.check_list = tlsf_check_list,
	.check_global = tlsf_check_global,
	.joins_prev = tlsf_joins_prev,
	.cut_from = tlsf_cut_from,
	.has_room = tlsf_has_room,
	.rebuild = tlsf_rebuild,
	.last = tlsf_last,
	.prefetch = tlsf_prefetch,
	.peak = tlsf_peak,
};
