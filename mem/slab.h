/*
 * slab.h - small pkg requests served from spans of one object size
 * (slab.c has the design).  What the common layer (mem.c) calls: the
 * lookup of a pointer's span and the object operations, inline; making
 * and giving back spans, checks and counts out of line.
 *
 *   span, 4 to 16 KiB (by the pool's size), a used block of the heap:
 *   | struct slab_span (SLAB_HDR) | object 0 | object 1 | ... | object cap-1 |
 *     magic, head, bump, links,     ^ objects(s)
 *     sizes, counts, live bits
 *
 *   A free object's first 2 bytes link it to the next free one of its
 *   span (index + 1, 0 ends the list); a handed-out object has its bit set.
 */
#ifndef SRMEM_SLAB_H
#define SRMEM_SLAB_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* A span's bytes, header included: 1/256 of the pool, between these. */
#define SLAB_SHIFT_MIN 12
#define SLAB_SHIFT 14
#define SLAB_SPAN (1u << SLAB_SHIFT)    /* the largest span */
#define SLAB_GRAIN 16u                  /* object sizes step by this */
#define SLAB_MAX 512u                   /* the largest request served */
#define SLAB_CLASSES (SLAB_MAX / SLAB_GRAIN)
#define SLAB_WORDS 16                   /* live bits: 1,024 objects at most */
#define SLAB_MAGIC 0x5352a5ab5a11ab00ull

struct slab_span {
	uint64_t magic;                 /* SLAB_MAGIC ^ the span's address */
	struct slab_span *next, *prev;  /* its class's spans with room */
	uint32_t osize;                 /* object bytes */
	uint32_t recip;                 /* ceil(2^32 / osize): index by multiply */
	uint16_t cls;                   /* osize / SLAB_GRAIN - 1 */
	uint16_t cap;                   /* objects that fit */
	uint16_t live;                  /* objects handed out */
	uint16_t bump;                  /* objects from here on never handed out */
	uint16_t head;                  /* first free object + 1; 0: none */
	uint16_t listed;                /* on its class's list */
	uint32_t pad;
	uint64_t bits[SLAB_WORDS];      /* 1: the object is handed out */
};

#define SLAB_HDR ((sizeof(struct slab_span) + MEM_ALIGN - 1) & \
		~(size_t)(MEM_ALIGN - 1))
_Static_assert(SLAB_HDR % MEM_ALIGN == 0 && SLAB_GRAIN % MEM_ALIGN == 0,
		"objects stay aligned as every fragment is");
_Static_assert((SLAB_SPAN - SLAB_HDR) / SLAB_GRAIN <= SLAB_WORDS * 64,
		"the live bits cover a span of the smallest objects");
_Static_assert((SLAB_SPAN - SLAB_HDR) / SLAB_GRAIN < UINT16_MAX,
		"object indexes and links fit 16 bits");
_Static_assert(SLAB_SPAN <= (1u << 18) && SLAB_MAX <= (1u << 13),
		"offset * recip >> 32 is the exact quotient (slab.c)");

/* The slab of a pkg pool, beside the pool's struct before the heap. */
struct mem_slab {
	char *base;             /* the pool's start: windows count from it */
	uint64_t limit;         /* bytes of the pool the map covers */
	uint32_t shift;         /* a span is 1 << shift bytes */
	uint32_t span;
	struct slab_span *avail[SLAB_CLASSES];  /* spans with room, per class */
	uint64_t spans;         /* spans held */
	uint64_t objects;       /* objects handed out */
	uint64_t live_bytes;    /* their object sizes summed */
	uint64_t held;          /* the heap's usable bytes of the spans: used
	                         * to the heap, not by callers */
	/* Per window of a span's bytes from base: (offset of the span whose
	 * header lies in it) / 16 + 1, or 0.  A span covers at most two
	 * windows, so a pointer's span is its window's or the one before. */
	uint32_t map[];
};

static inline char *slab_objects(const struct slab_span *s)
{
	return (char *)s + SLAB_HDR;
}

static inline unsigned slab_class(size_t n)
{
	return n ? (unsigned)((n - 1) / SLAB_GRAIN) : 0;
}

static inline struct slab_span *slab_at(const struct mem_slab *sl,
		uint64_t off, uint32_t e)
{
	uint64_t at = (uint64_t)(e - 1) * SLAB_GRAIN;
	return e && off - at < sl->span ?
		(struct slab_span *)(sl->base + at) : NULL;
}

/* The span p lies in (its header included), or NULL: p is none of the
 * slab's.  Two loads from the map, no read of the span. */
static inline struct slab_span *slab_span_of(const struct mem_slab *sl,
		const void *p)
{
	uint64_t off = (uint64_t)((uintptr_t)p - (uintptr_t)sl->base);
	if (off >= sl->limit)
		return NULL;
	uint64_t w = off >> sl->shift;
	struct slab_span *s = slab_at(sl, off, sl->map[w]);
	return s || !w ? s : slab_at(sl, off, sl->map[w - 1]);
}

static inline int slab_bit(const struct slab_span *s, unsigned i)
{
	return (int)(s->bits[i / 64] >> (i % 64)) & 1;
}

/* p's object index in s, or -1 when p is no object's start (the header,
 * the middle of an object, past what was ever handed out). */
static inline int slab_index(const struct slab_span *s, const void *p)
{
	uint64_t off = (uint64_t)((const char *)p - slab_objects(s));
	uint32_t i = (uint32_t)((off * s->recip) >> 32);
	return off < (uint64_t)s->bump * s->osize && i * s->osize == off ?
		(int)i : -1;
}

void *slab_refill(struct mem_pool *pool, unsigned cls);
void *slab_mend(struct mem_pool *pool, struct slab_span *s);
void slab_release(struct mem_pool *pool, struct slab_span *s);

/* s, with room, first on its class's list. */
static inline void slab_list_add(struct mem_slab *sl, struct slab_span *s)
{
	s->prev = NULL;
	s->next = sl->avail[s->cls];
	if (s->next)
		s->next->prev = s;
	sl->avail[s->cls] = s;
	s->listed = 1;
}

/* Hand out the object at the head of s's free list, or its next new one.
 * A head that is handed out already, or a link past what was ever handed
 * out, is a write after free into a freed object: slab_mend() rebuilds
 * the list from the live bits and serves the request. */
static inline void *slab_take(struct mem_pool *pool, struct slab_span *s)
{
	struct mem_slab *sl = pool->slab;
	unsigned i = s->head;
	char *p;
	if (i) {
		p = slab_objects(s) + --i * s->osize;
		unsigned next = *(uint16_t *)p;
		if (__builtin_expect(slab_bit(s, i) || next > s->bump, 0))
			return slab_mend(pool, s);
		s->head = (uint16_t)next;
	} else {
		i = s->bump++;
		p = slab_objects(s) + i * s->osize;
	}
	s->bits[i / 64] |= (uint64_t)1 << (i % 64);
	if (++s->live == s->cap) {      /* full: off its class's list */
		sl->avail[s->cls] = s->next;
		if (s->next)
			s->next->prev = NULL;
		s->listed = 0;
	}
	sl->objects++;
	sl->live_bytes += s->osize;
	return p;
}

/* An object of n bytes (n <= SLAB_MAX), or NULL when the heap has no room
 * for a new span. */
static inline void *slab_malloc(struct mem_pool *pool, size_t n)
{
	unsigned c = slab_class(n);
	struct slab_span *s = pool->slab->avail[c];
	return s ? slab_take(pool, s) : slab_refill(pool, c);
}

/* Give back object i of s (its bit set: the caller checked). */
static inline void slab_put(struct mem_pool *pool, struct slab_span *s,
		void *p, unsigned i)
{
	struct mem_slab *sl = pool->slab;
	s->bits[i / 64] &= ~((uint64_t)1 << (i % 64));
	*(uint16_t *)p = s->head;
	s->head = (uint16_t)(i + 1);
	sl->objects--;
	sl->live_bytes -= s->osize;
	if (!s->listed)                 /* was full: room again */
		slab_list_add(sl, s);
	if (!--s->live && (s->next || s->prev))
		slab_release(pool, s);  /* empty, and not its class's last */
}

/* --- out of line (slab.c) ------------------------------------------------ */
/* The bytes of the slab of a heap of that size, kept before the heap with
 * the pool's own struct (pkg.c); 0: too large a heap for the map. */
size_t slab_size(uint64_t heap);
/* pool's slab, in slab_size() bytes at mem. */
void slab_create(struct mem_pool *pool, void *mem);
/* Give every empty span back to the heap (before the heap is read as a
 * whole, and before an allocation fails); how many. */
unsigned slab_trim(struct mem_pool *pool);
/* The pool's counters with the spans' objects counted as what callers
 * hold (struct mem_info). */
void slab_info(const struct mem_slab *sl, struct mem_info *mi);
/* Every invariant of slab.c; problem() for each finding, the count
 * returned. */
int slab_check(struct mem_pool *pool, mem_problem_fn problem, void *arg);

#endif /* SRMEM_SLAB_H */
