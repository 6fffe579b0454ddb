/*
 * debug.h - the MEMDBG record every fragment carries, written once for all
 * backends.  With MEMDBG=0 every hook below is an inline no-op and the
 * record takes no space.
 *
 * The common layer asks the backend for DBG_EXTRA more bytes than the
 * caller wants and lays them out around the caller's bytes:
 *
 *   payload P (from the backend, 16-aligned)
 *   | P+0 req size | P+8 usable | P+16 alloc site | P+24 tag | user ... | canary |
 *                                                            ^ P+32 = user
 *
 *   usable = the backend's usable size of P, kept here so that the shm
 *            cache path (cache.c) sizes a fragment from this one line and
 *            never reads the backend's header.  Stored XORed with a key
 *            whose top bits are set: P+8 sits where a backend with 8-byte
 *            headers keeps a header, and a stale pointer 16 bytes into a
 *            payload must not find a plausible size there.
 *   tag    = user ^ DBG_USED while allocated, user ^ DBG_FREED once freed:
 *            a pointer whose tag is neither is not the start of a fragment.
 *   canary = 8 bytes at user + req, user ^ DBG_CANARY: a write past the end
 *            of what was asked for breaks it (checked on free, realloc and
 *            by mem_check()).
 *   Readers without the writer's lock.  A shm cache rewrites a parked
 *   fragment's record (and resizes a used one) under its slot lock only,
 *   while a checker or a scan may be reading it under the global lock.
 *   The writer first sets the tag to user ^ DBG_REWRITE (dbg_busy()), then
 *   the fields and the canary, and the tag last (release): a reader that
 *   reads the tag again after the rest (acquire) and finds it unchanged
 *   and not busy read one consistent record (status.c, check.c).
 *   freed: the backend may reuse P+0..P+15 for its free-list links (the
 *          contract in backend.h); the alloc site and tag survive, and the
 *          site of the free is stored at user+0, which nobody owns now.
 *
 * Cost: 40 bytes per fragment (32 before, 8 after), rounded up with the
 * backend's own header to 16.  Checks are O(1) per operation.
 */
#ifndef SRMEM_DEBUG_H
#define SRMEM_DEBUG_H

#include <stdint.h>
#include <string.h>

#include "mem.h"

#define DBG_USED   0x5352a110c5a7ed00ull
#define DBG_FREED  0x5352f4eef4eed000ull
#define DBG_CANARY 0xfdfdfdfd5352cafeull
#define DBG_REWRITE 0x5352b05ab05a0000ull
#define DBG_USABLE 0xd5a5000000000000ull

#if MEMDBG

struct dbg_hdr {
	uint64_t req;
	uint64_t usable_x;     /* the backend's usable bytes at P ^ DBG_USABLE */
	const struct mem_site *alloc;
	uint64_t tag;
};
_Static_assert(sizeof(struct dbg_hdr) == 32, "user pointer stays 16-aligned");

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

static inline int dbg_state(const void *user)
{
	uint64_t tag = dbg_hdr(user)->tag ^ (uint64_t)(uintptr_t)user;
	return tag == DBG_USED ? DBG_LIVE : tag == DBG_FREED ? DBG_DEAD :
		tag == DBG_REWRITE ? DBG_BUSY : DBG_BAD;
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

static inline void dbg_set_canary(void *user, size_t req)
{
	uint64_t c = dbg_canary_of(user);
	memcpy((char *)user + req, &c, sizeof(c));
}

static inline int dbg_canary_ok(const void *user)
{
	uint64_t c;
	memcpy(&c, (const char *)user + dbg_hdr(user)->req, sizeof(c));
	return c == dbg_canary_of(user);
}

/* Stamp a fresh fragment; returns the caller's pointer. */
static inline void *dbg_on_alloc(void *payload, size_t req,
		const struct mem_site *site, uint64_t usable)
{
	void *user = dbg_user(payload);
	struct dbg_hdr *h = payload;
	h->req = req;
	h->usable_x = usable ^ DBG_USABLE;
	h->alloc = site;
	dbg_set_canary(user, req);
	dbg_set_tag(user, DBG_USED);
	return user;
}

static inline uint64_t dbg_usable(const void *user)
{
	return dbg_hdr(user)->usable_x ^ DBG_USABLE;
}

static inline void dbg_on_free(void *user, const struct mem_site *site)
{
	dbg_hdr(user)->tag = (uint64_t)(uintptr_t)user ^ DBG_FREED;
	memcpy(user, &site, sizeof(site));
}

/* The backend refused the fragment after dbg_on_free(): live again, for
 * the full check that follows (its first 8 bytes keep the free site). */
static inline void dbg_on_refused(void *user)
{
	dbg_set_tag(user, DBG_USED);
}

static inline const struct mem_site *dbg_free_site(const void *user)
{
	const struct mem_site *s;
	memcpy(&s, user, sizeof(s));
	return s;
}

static inline void dbg_on_resize(void *user, size_t req, uint64_t usable)
{
	dbg_hdr(user)->req = req;
	dbg_hdr(user)->usable_x = usable ^ DBG_USABLE;
	dbg_set_canary(user, req);
	dbg_set_tag(user, DBG_USED);
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

#endif /* MEMDBG */

#endif /* SRMEM_DEBUG_H */
