/*
 * debug.h - the MEMDBG record every fragment carries, written once for all
 * backends.  With MEMDBG=0 every hook below is an inline no-op and the
 * record takes no space.
 *
 * The common layer asks the backend for DBG_EXTRA more bytes than the
 * caller wants and lays them out around the caller's bytes:
 *
 *   payload P (from the backend, 16-aligned)
 *   | P+0 req | P+8 usable | P+16 tag | P+24 free site | P+32 owner |
 *   | P+40 alloc site | user ... | canary |
 *                     ^ P+48 = user
 *
 *   usable = the backend's usable size of P, kept here so that the shm
 *            cache path (cache.c) sizes a fragment from this one line and
 *            never reads the backend's header.  Stored XORed with a key
 *            whose top bits are set: P+8 sits where a backend with 8-byte
 *            headers keeps a header, and a stale pointer 16 bytes into a
 *            payload must not find a plausible size there.
 *   owner  = who allocated it (low half) and who freed it (high half):
 *            pid and the process id the embedding program gave
 *            (mem_set_proc_id), 22 + 10 bits each (freed.c).
 *   free site = where it was last freed; NULL while allocated.
 *   tag    = user ^ DBG_USED while allocated; once freed, user ^ DBG_FREED
 *            ^ the request size (31 bits, saturated) and whether the freed
 *            bytes hold the fill pattern ("armed", freed.c) in the high
 *            half, with a hash of that half and of the address in the
 *            low half (dbg_mix; the fill word and zero never pass).  A pointer
 *            whose tag is neither is not the start of a fragment.  The
 *            size moves into the tag because a free block's first 16 bytes
 *            (req, usable) belong to the backend's free-list links
 *            (backend.h); a freed tag is therefore checked on 32 bits
 *            instead of 64.
 *   canary = 8 bytes at user + req, user ^ DBG_CANARY: a write past the end
 *            of what was asked for breaks it (checked on free, realloc and
 *            by mem_check()).
 *   Readers without the writer's lock.  A shm cache rewrites a parked
 *   fragment's record (and resizes a used one) under its slot lock only,
 *   while a checker or a scan may be reading it under the global lock.
 *   The writer first sets the tag to user ^ DBG_REWRITE (dbg_busy()), then
 *   the fields and the canary, and the tag last (release): a reader that
 *   reads the tag again after the rest (acquire) and finds it unchanged
 *   and not busy read one consistent record (status.c, check.c).  A free
 *   (or a park) writes the tag last too, after the fill (freed.c).
 *   freed: the backend may reuse P+0..P+15 for its free-list links; owner,
 *          sites and tag survive, and every byte the caller had, user+0
 *          included, is free for the fill pattern (freed.c).  A fragment
 *          parked in a shm cache is a used block to the backend: the cache
 *          keeps its list link at P+0 (cache.c) and P+8 stays as it was.
 *
 * Where the tag sits.  A free reads the backend's header (P-8 or before),
 * req, the tag and the canary, and writes the tag, the free site and the
 * free owner.  The tag is the first word past the links, the words the
 * free writes right after it: P-8..P+23 share one cache line for half of
 * the 16-aligned payloads (a tag at P+40, its earlier place, did for a
 * quarter: callgrind/cachegrind figures in the commit that moved it).
 *
 * Cost: 56 bytes per fragment (48 before, 8 after), rounded up with the
 * backend's own header to 16; 16 more than without the owner word and the
 * free-site word (doc/DIAGNOSTICS.md).  Checks are O(1) per operation.
 */
#ifndef SRMEM_DEBUG_H
#define SRMEM_DEBUG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mem.h"

#define DBG_USED   0x5352a110c5a7ed00ull
#define DBG_FREED  0x5352f4eef4eed000ull
#define DBG_CANARY 0xfdfdfdfd5352cafeull
#define DBG_REWRITE 0x5352b05ab05a0000ull
#define DBG_USABLE 0xd5a5000000000000ull

/* The high half of a freed tag (after the XOR): bit 31 armed, bits 0..30
 * the request size, DBG_REQ_BIG when it does not fit. */
#define DBG_ARMED   ((uint64_t)1 << 63)
#define DBG_REQ_BIG 0x7fffffffull

/* This process as an owner word half (freed.c): computed once, the
 * cached word read inline on every allocation and free. */
extern uint32_t mem_owner_word;
uint32_t mem_owner_compute(void);

static inline uint32_t mem_owner_self(void)
{
	uint32_t w = mem_owner_word;
	return __builtin_expect(w != 0, 1) ? w : mem_owner_compute();
}

#if MEMDBG

struct dbg_hdr {
	uint64_t req;
	uint64_t usable_x;     /* the backend's usable bytes at P ^ DBG_USABLE */
	uint64_t tag;
	const struct mem_site *freed;
	union {                /* alloc owner | free owner << 32 (freed.c) */
		uint64_t owner;
		struct {
			uint32_t owner_alloc;
			uint32_t owner_free;  /* written alone by a free */
		};
	};
	const struct mem_site *alloc;
};
_Static_assert(sizeof(struct dbg_hdr) == 48, "user pointer stays 16-aligned");
_Static_assert(offsetof(struct dbg_hdr, tag) == 16,
		"what a freed fragment keeps lies past the 16 link bytes, the "
		"tag first: a free reads it, and P+16 shares a line with an "
		"8-byte backend header at P-8 one time in two (P+40: one in 4)");
_Static_assert(offsetof(struct dbg_hdr, freed) == 24 &&
		offsetof(struct dbg_hdr, owner) == 32 &&
		offsetof(struct dbg_hdr, alloc) == 40,
		"the words a free writes follow the tag");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
		"owner_free is the owner word's high half");

#define DBG_HEAD sizeof(struct dbg_hdr)
#define DBG_EXTRA (DBG_HEAD + sizeof(uint64_t))

enum dbg_state { DBG_BAD = 0, DBG_LIVE, DBG_DEAD, DBG_BUSY };

static inline struct dbg_hdr *dbg_hdr(const void *user)
{
	return (struct dbg_hdr *)((char *)user - DBG_HEAD);
}

static inline void *dbg_user(void *payload)
{
	return (char *)payload + DBG_HEAD;
}

static inline void *dbg_payload(void *user)
{
	return (char *)user - DBG_HEAD;
}

static inline uint64_t dbg_canary_of(const void *user)
{
	return (uint64_t)(uintptr_t)user ^ DBG_CANARY;
}

/* The low half of a freed tag checks its high half too: a stray write
 * into a stale record's high half (armed bit, size) unmakes the record
 * instead of arming it.  The check mixes in the record's address: with
 * the address only XORed in, a word that fills memory (the fill pattern
 * of freed bytes, or the zeros of fresh pages) read as a tag passed it
 * at exactly one 16-aligned address of every 4 GiB (in one of 128
 * pools), and an allocation there that found the fill of an older
 * fragment in its record reported a write after free that never was
 * (W3, 1 run in 45 of a bench-full).  Now such a word passes at an
 * address with odds of 2^-32, and those two words never (dbg_plain). */
static inline uint32_t dbg_mix(const void *user, uint64_t high)
{
	uint64_t v = (high >> 32) ^ ((uint64_t)(uintptr_t)user << 28);
	v *= 0x9e3779b97f4a7c15ull;
	v ^= v >> 31;
	v *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(v >> 32);
}

/* A word that fills whole regions: never a freed tag. */
#define DBG_FILL_WORD 0xdfdfdfdfdfdfdfdfull     /* freed.h's FILL_WORD */

static inline int dbg_plain(uint64_t tag)
{
	return tag == 0 || tag == DBG_FILL_WORD;
}

/* The state a tag read from user's record says (the *_of() readers take
 * the tag as read once, for a caller that decides more on it). */
static inline int dbg_state_of(const void *user, uint64_t tag)
{
	uint64_t x = tag ^ (uint64_t)(uintptr_t)user;
	if (x == DBG_USED)
		return DBG_LIVE;
	if (x == DBG_REWRITE)
		return DBG_BUSY;
	x ^= DBG_FREED;
	return (uint32_t)x == dbg_mix(user, x) && !dbg_plain(tag) ?
		DBG_DEAD : DBG_BAD;
}

static inline int dbg_state(const void *user)
{
	return dbg_state_of(user, dbg_hdr(user)->tag);
}

/* The record at user is about to change under a lock other than the
 * global one (see the top). */
static inline void dbg_busy(void *user)
{
	dbg_hdr(user)->tag = (uint64_t)(uintptr_t)user ^ DBG_REWRITE;
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void dbg_set_tag(void *user, uint64_t kind)
{
	__atomic_store_n(&dbg_hdr(user)->tag, (uint64_t)(uintptr_t)user ^ kind,
		__ATOMIC_RELEASE);
}

/* A freed tag's high half: armed bit and request size (DBG_DEAD only). */
static inline uint64_t dbg_dead_bits(const void *user)
{
	return (dbg_hdr(user)->tag ^ (uint64_t)(uintptr_t)user ^ DBG_FREED)
		& ~(uint64_t)UINT32_MAX;
}

static inline void dbg_set_dead(void *user, uint64_t bits)
{
	dbg_set_tag(user, DBG_FREED ^ bits ^ dbg_mix(user, bits));
}

/* The high half of the freed tag `tag` read from user's record when it
 * is armed (DBG_ARMED set: never 0), else 0.  The used and busy tags are
 * not armed: their high halves, XORed with DBG_FREED's, have bit 63
 * clear (below). */
static inline uint64_t dbg_armed_bits(const void *user, uint64_t tag)
{
	uint64_t x = tag ^ (uint64_t)(uintptr_t)user ^ DBG_FREED;
	if (!(x & DBG_ARMED) || (uint32_t)x != dbg_mix(user, x) ||
	    dbg_plain(tag))
		return 0;
	return x & ~(uint64_t)UINT32_MAX;
}
_Static_assert(!((DBG_USED ^ DBG_FREED) & DBG_ARMED) &&
		!((DBG_REWRITE ^ DBG_FREED) & DBG_ARMED),
		"dbg_armed_bits() needs no dbg_state()");

static inline int dbg_armed(const void *user)
{
	return dbg_armed_bits(user, dbg_hdr(user)->tag) != 0;
}

/* What the caller asked for: live, the record's; freed, the tag's
 * (DBG_REQ_BIG when it did not fit). */
static inline uint64_t dbg_req_of(const void *user, uint64_t tag)
{
	if (dbg_state_of(user, tag) != DBG_DEAD)
		return dbg_hdr(user)->req;
	return (tag ^ (uint64_t)(uintptr_t)user ^ DBG_FREED) >> 32 &
		DBG_REQ_BIG;
}

static inline uint64_t dbg_req(const void *user)
{
	return dbg_req_of(user, dbg_hdr(user)->tag);
}

static inline void dbg_set_canary(void *user, size_t req)
{
	uint64_t c = dbg_canary_of(user);
	memcpy((char *)user + req, &c, sizeof(c));
}

/* The canary after req bytes: a reader without the owner's locks passes
 * the req it read and checked once, never a second read of the word (a
 * cache parking the fragment meanwhile puts its list link there). */
static inline int dbg_canary_at(const void *user, uint64_t req)
{
	uint64_t c;
	memcpy(&c, (const char *)user + req, sizeof(c));
	return c == dbg_canary_of(user);
}

/* Live or freed; a freed fragment too big for its tag passes. */
static inline int dbg_canary_ok_of(const void *user, uint64_t tag)
{
	uint64_t req = dbg_req_of(user, tag);
	if (req == DBG_REQ_BIG && dbg_state_of(user, tag) == DBG_DEAD)
		return 1;
	return dbg_canary_at(user, req);
}

static inline int dbg_canary_ok(const void *user)
{
	return dbg_canary_ok_of(user, dbg_hdr(user)->tag);
}

/* Stamp a fresh fragment; returns the caller's pointer. */
static inline void *dbg_on_alloc(void *payload, size_t req,
		const struct mem_site *site, uint64_t usable)
{
	void *user = dbg_user(payload);
	struct dbg_hdr *h = payload;
	h->req = req;
	h->usable_x = usable ^ DBG_USABLE;
	h->owner = mem_owner_self();
	h->freed = NULL;
	h->alloc = site;
	dbg_set_canary(user, req);
	dbg_set_tag(user, DBG_USED);
	return user;
}

static inline uint64_t dbg_usable(const void *user)
{
	return dbg_hdr(user)->usable_x ^ DBG_USABLE;
}

/* The backend usable size a live or parked fragment's record keeps (with
 * every change of the block; damage.c rebuilds a broken header from it),
 * for mem_heap_free() and realloc: no backend call.  0 without MEMDBG,
 * where nothing reads it. */
static inline uint64_t dbg_record_usable(const void *user)
{
	return dbg_usable(user);
}

/* Mark a live fragment freed (not armed: freed.c fills and arms). */
static inline void dbg_on_free(void *user, const struct mem_site *site)
{
	struct dbg_hdr *h = dbg_hdr(user);
	uint64_t req = h->req < DBG_REQ_BIG ? h->req : DBG_REQ_BIG;
	h->owner_free = mem_owner_self();   /* a store: the word is not read */
	h->freed = site;
	dbg_set_dead(user, req << 32);
}

/* The backend refused the fragment after dbg_on_free(): live again, for
 * the full check that follows (its first 8 bytes keep the free site). */
static inline void dbg_on_refused(void *user)
{
	dbg_set_tag(user, DBG_USED);
}

static inline const struct mem_site *dbg_free_site(const void *user)
{
	return dbg_hdr(user)->freed;
}

static inline void dbg_on_resize(void *user, size_t req, uint64_t usable)
{
	dbg_hdr(user)->req = req;
	dbg_hdr(user)->usable_x = usable ^ DBG_USABLE;
	dbg_set_canary(user, req);
	dbg_set_tag(user, DBG_USED);
}

/* A resize whose process died before the record said the new size: the
 * record is made to agree with its block (usable bytes), at the request
 * it holds (old or new) where that fits, else at what the block holds.
 * Returns the request it now names. */
static inline uint64_t dbg_resize_settle(void *user, uint64_t usable)
{
	uint64_t req = dbg_hdr(user)->req;
	if (req > usable - DBG_EXTRA)
		req = usable - DBG_EXTRA;
	dbg_on_resize(user, req, usable);
	return req;
}

#else /* !MEMDBG: the same hooks, free of cost */

#define DBG_HEAD 0u
#define DBG_EXTRA 0u

static inline void *dbg_user(void *payload) { return payload; }
static inline void *dbg_payload(void *user) { return user; }
static inline void *dbg_on_alloc(void *payload, size_t req,
		const struct mem_site *site, uint64_t usable)
{
	(void)req; (void)site; (void)usable;
	return payload;
}
static inline void dbg_on_free(void *user, const struct mem_site *site)
{
	(void)user; (void)site;
}
static inline void dbg_on_resize(void *user, size_t req, uint64_t usable)
{
	(void)user; (void)req; (void)usable;
}
static inline void dbg_busy(void *user)
{
	(void)user;
}
static inline void dbg_on_refused(void *user) { (void)user; }
static inline uint64_t dbg_record_usable(const void *user)
{
	(void)user;
	return 0;
}

#endif /* MEMDBG */

#endif /* SRMEM_DEBUG_H */
