/*
 * freed.h - the hot half of freed.c (whose top comment has the design):
 * the fill of a freed fragment, the test that it is intact, and the
 * heap's hand-out and free hooks around them, inline in the malloc and
 * free paths of mem.c and cache.c.  What only runs when something is
 * wrong or rare (the first changed byte and its report, a joined
 * record's disarm) stays out of line in freed.c.
 *
 * The fill and its test move 16 bytes at a time, in overlapping windows:
 * a range of n bytes, 16 <= n <= FILL_FULL, is covered by 2, 4 or 8
 * windows of 16 bytes, half from its start and half ending at its end
 *
 *   n <= 32: [0,16) [n-16,n)    n <= 64: and [16,32) [n-32,n-16)
 *   n <= 128: and [32,48) [48,64) [n-64,n-48) [n-48,n-32)
 *
 * so that a fill is 2 to 8 stores and a test 2 to 8 loads XORed with the
 * pattern and ORed together: no loop, no call, a fixed cost per size
 * class (2 words, 2 half-words or 3 bytes below 16).  Only a test that
 * finds a difference looks for the first changed byte, byte by byte.
 *
 * Costs, per operation that reuses or frees a fragment: at most 8 loads
 * or 8 stores of 16 bytes per range (two ranges past FILL_FULL), one
 * indirect call fewer on backends whose malloc never cuts a block's top
 * (cut_from NULL, backend.h).
 */
#ifndef SRMEM_FREED_H
#define SRMEM_FREED_H

#include <stdint.h>
#include <string.h>

#include "debug.h"
#include "internal.h"

#if MEMDBG

#define FILL_BYTE 0xdfu
#define FILL_FULL 128u
#define FILL_HEAD 96u
#define FILL_TAIL 32u
#define FILL_WORD (FILL_BYTE * 0x0101010101010101ull)
_Static_assert(FILL_WORD == DBG_FILL_WORD, "debug.h knows the fill word");

_Static_assert(FILL_HEAD + FILL_TAIL == FILL_FULL,
		"a fragment just past FILL_FULL gets as much fill as one at it");
_Static_assert(FILL_FULL <= 128 && FILL_TAIL >= 16,
		"every filled range is 8 windows of 16 bytes at most");

typedef uint64_t fill_vec __attribute__((vector_size(16)));

static inline fill_vec fill_load(const unsigned char *p)
{
	fill_vec v;
	memcpy(&v, p, sizeof(v));
	return v ^ (fill_vec){ FILL_WORD, FILL_WORD };
}

static inline void fill_store(unsigned char *p)
{
	const fill_vec v = { FILL_WORD, FILL_WORD };
	memcpy(p, &v, sizeof(v));
}

/* [p, p + n) filled, n <= FILL_FULL (the windows above). */
static inline void fill_span(unsigned char *p, uint64_t n)
{
	uint64_t w = FILL_WORD;
	uint32_t h = (uint32_t)FILL_WORD;
	if (n >= 16) {
		fill_store(p);
		fill_store(p + n - 16);
		if (n > 32) {
			fill_store(p + 16);
			fill_store(p + n - 32);
		}
		if (n > 64) {
			fill_store(p + 32);
			fill_store(p + 48);
			fill_store(p + n - 64);
			fill_store(p + n - 48);
		}
	} else if (n >= 8) {
		memcpy(p, &w, 8);
		memcpy(p + n - 8, &w, 8);
	} else if (n >= 4) {
		memcpy(p, &h, 4);
		memcpy(p + n - 4, &h, 4);
	} else if (n) {
		p[0] = p[n / 2] = p[n - 1] = FILL_BYTE;
	}
}

/* Non-zero when a byte of [p, p + n), n <= FILL_FULL, is not the fill. */
static inline uint64_t fill_differs(const unsigned char *p, uint64_t n)
{
	uint64_t w, w2;
	uint32_t h, h2;
	if (n >= 16) {
		fill_vec d = fill_load(p) | fill_load(p + n - 16);
		if (n > 32)
			d |= fill_load(p + 16) | fill_load(p + n - 32);
		if (n > 64)
			d |= fill_load(p + 32) | fill_load(p + 48) |
				fill_load(p + n - 64) | fill_load(p + n - 48);
		return d[0] | d[1];
	}
	if (n >= 8) {
		memcpy(&w, p, 8);
		memcpy(&w2, p + n - 8, 8);
		return (w ^ FILL_WORD) | (w2 ^ FILL_WORD);
	}
	if (n >= 4) {
		memcpy(&h, p, 4);
		memcpy(&h2, p + n - 4, 4);
		return (h ^ (uint32_t)FILL_WORD) | (h2 ^ (uint32_t)FILL_WORD);
	}
	return n && ((p[0] ^ FILL_BYTE) | (p[n / 2] ^ FILL_BYTE) |
		(p[n - 1] ^ FILL_BYTE));
}

/* Fill a freed fragment of req bytes (DBG_REQ_BIG at most) and arm its
 * record: all of it up to FILL_FULL bytes, else the first FILL_HEAD and
 * the last FILL_TAIL (DBG_REQ_BIG, too big for the tag: the head only). */
static inline __attribute__((always_inline))
void fill_armed(void *user, uint64_t req)
{
	unsigned char *p = user;
	if (req <= FILL_FULL) {
		fill_span(p, req);
	} else {
		fill_span(p, FILL_HEAD);
		if (req != DBG_REQ_BIG)
			fill_span(p + req - FILL_TAIL, FILL_TAIL);
	}
	dbg_set_dead(user, req << 32 | DBG_ARMED);
}

/* Is the fill of an armed fragment of req bytes broken (fill_armed()'s
 * ranges: freed.c's fill_ranges())? */
static inline __attribute__((always_inline))
uint64_t fill_broken(const void *user, uint64_t req)
{
	const unsigned char *p = user;
	if (req <= FILL_FULL)
		return fill_differs(p, req);
	return fill_differs(p, FILL_HEAD) | (req != DBG_REQ_BIG ?
		fill_differs(p + req - FILL_TAIL, FILL_TAIL) : 0);
}

/* The rest of mem_freed_verify(), out of line: the fill of the armed
 * fragment user (tag as read, req bytes) is broken, or its block ends
 * before req (a split handed out the start of a block freed bigger;
 * limit: what of the user area the block still holds): the first changed
 * byte before limit, if any, is reported (freed.c); 1 if there was one. */
int mem_freed_found(struct mem_pool *pool, void *user, uint64_t tag,
		uint64_t req, uint64_t limit, const char *finder,
		const struct mem_site *site, int repair);
/* Disarm user's armed record (freed.c). */
void mem_freed_disarm(void *user);
/* The old successor at payload of a block that a free or a resize may
 * have grown over it: its armed record, if its block is gone, disarmed. */
void mem_freed_disarm_joined(struct mem_pool *pool, char *payload);

/* A fragment whose record's tag read `tag`, armed with `bits` (its high
 * half, dbg_armed_bits()), is about to be used or to leave a cache:
 * report the first changed byte of its fill (found by finder [at site]);
 * repair: fill it again.  Its block has usable bytes; the last 8 are a
 * free block's boundary tag, written past the fill unless a cut from the
 * block's top end (tlsf, big requests) shrank the block after it was
 * filled.  Returns 1 when it found one. */
static inline __attribute__((always_inline))
int freed_verify_armed(struct mem_pool *pool, void *user, uint64_t tag,
		uint64_t bits, uint64_t usable, const char *finder,
		const struct mem_site *site, int repair)
{
	if (usable < DBG_HEAD + 8)
		return 0;
	uint64_t req = (bits >> 32) & DBG_REQ_BIG, limit = usable - DBG_HEAD - 8;
	if (__builtin_expect(req <= limit && !fill_broken(user, req), 1))
		return 0;
	return mem_freed_found(pool, user, tag, req, limit, finder, site,
		repair);
}

/* The same of a record whose tag read `tag`, armed or not. */
static inline __attribute__((always_inline))
int freed_verify(struct mem_pool *pool, void *user, uint64_t tag,
		uint64_t usable, const char *finder,
		const struct mem_site *site, int repair)
{
	uint64_t bits = dbg_armed_bits(user, tag);
	if (__builtin_expect(!bits, 1))
		return 0;
	return freed_verify_armed(pool, user, tag, bits, usable, finder, site,
		repair);
}

/* An armed fragment of usable bytes is about to be used or to leave a
 * cache: report the first changed byte (found by finder [at site]);
 * repair: fill it again.  Returns 1 when it found one. */
static inline int mem_freed_verify(struct mem_pool *pool, void *user,
		uint64_t usable, const char *finder,
		const struct mem_site *site, int repair)
{
	return freed_verify(pool, user, dbg_hdr(user)->tag, usable, finder,
		site, repair);
}

/* Fill a freed fragment's bytes and arm its record (mem_free_check);
 * right after dbg_on_free(), while the record's req word is intact. */
static inline __attribute__((always_inline))
void mem_freed_fill(void *user)
{
	uint64_t req = dbg_hdr(user)->req;
	if (mem_free_check)
		fill_armed(user, req < DBG_REQ_BIG ? req : DBG_REQ_BIG);
}

/* The heap just handed out payload (usable bytes) to an allocation at
 * site: disarm the block it was cut from, if any, and verify its fill (a
 * block never armed, a split's rest or a joined block, stops at the
 * tag). */
static inline __attribute__((always_inline))
void mem_heap_taken(struct mem_pool *pool, void *payload, uint64_t usable,
		const struct mem_site *site)
{
	const struct mem_backend *be = POOL_BE(pool);
	void *user = dbg_user(payload);
	if (be->cut_from) {
		char *from = be->cut_from(pool->st, payload);
		if (from && dbg_armed(dbg_user(from)))
			mem_freed_disarm(dbg_user(from));
	}
	freed_verify(pool, user, dbg_hdr(user)->tag, usable, "the allocation",
		site, 0);
}

#endif /* MEMDBG */

/* Free user's block (usable bytes).  A record that the free may join into
 * the block before it is disarmed first (joins_prev, backend.h); fill: a
 * fragment just freed by its caller, filled and armed once the backend
 * took it (its req word is read before the links overwrite it; a refused
 * free changes nothing).  Then the old successor is asked (block_state)
 * when the block grew or joined its predecessor: a block that kept its
 * size absorbed no successor, whose record (a line the free did not
 * touch) is then not read.  Returns what the backend's free returned. */
static inline __attribute__((always_inline))
int mem_heap_free(struct mem_pool *pool, void *user, uint64_t usable,
		int fill)
{
	const struct mem_backend *be = POOL_BE(pool);
	char *payload = dbg_payload(user);
#if MEMDBG
	uint64_t req = dbg_hdr(user)->req;
	int joins = be->joins_prev(pool->st, payload);
	if (joins && dbg_armed(user))
		mem_freed_disarm(user);
#endif
	int r = be->free(pool->st, payload);
#if MEMDBG
	if (r != MEM_BLOCK_USED)
		return r;
	if (fill && !joins && mem_free_check)
		fill_armed(user, req < DBG_REQ_BIG ? req : DBG_REQ_BIG);
	if (joins || be->usable_size(pool->st, payload) != usable)
		mem_freed_disarm_joined(pool, payload + usable +
			be->frag_overhead);
#else
	(void)usable;
	(void)fill;
#endif
	return r;
}

#endif /* SRMEM_FREED_H */
