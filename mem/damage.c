/*
 * damage.c - what the common layer does when a backend header fails its
 * own checks: name the fragment whose overflow broke it, rebuild the header
 * from the MEMDBG record where the record lets it, and carry every walk over
 * what cannot be rebuilt.  The same for every backend: a backend only
 * answers block_state(), stops its walk_from() at a broken header and
 * rewrites one header on request (repair(), backend.h).
 *
 * What the record knows.  A used fragment's record (debug.h) keeps the
 * backend's usable size, and the next block's payload lies exactly
 * usable + frag_overhead further on (backend.h).  So, for a broken header,
 *   - the culprit is the block that ends where it begins: the block a walk
 *     visited last, or one found by a backward search for a record whose
 *     end lands there (at most DAMAGE_BACK bytes, one tag compare per 16
 *     bytes; a record is keyed by its own address, so data that merely
 *     looks like one does not pass);
 *   - the victim's own record, when intact (an overflow that broke the
 *     backend's header but stopped before the record: req, usable and
 *     the tag are its first 24 bytes, debug.h), gives its size: if the backend
 *     agrees that a used block of that size ends at a sound header, the
 *     header is rewritten (repair) once the damage is reported.  Free of
 *     both fragments then works, and so does every walk.
 *   A fragment parked in a shm cache keeps its record too (cache.c); a free
 *   block's record is gone (its first 16 bytes are list links).
 *
 * What cannot be rebuilt is a hole: a walk goes on at the next payload that
 * block_state() accepts, searched forward at most DAMAGE_AHEAD bytes (one
 * O(1) block_state() per 16 bytes), and hands the hole to its caller as one
 * broken block so that status, sums and reports cover the rest of the heap
 * and mark the area.  A hole with no block after it within the bound runs
 * to the end of the pool.
 *
 * Who rewrites.  The checker and free/realloc (reporting first, then the
 * mem_safety policy); diagnostic walks only read.  Every rewrite happens
 * under the pool's lock (pkg: its one owner).
 */
#include <stdio.h>
#include <stdlib.h>

#include "debug.h"
#include "internal.h"

#define DAMAGE_BACK  ((uint64_t)64 << 10)
#define DAMAGE_AHEAD ((uint64_t)1 << 20)

/* A fragment as its MEMDBG record describes it. */
struct rec {
	char *payload;
	uint64_t usable;
	uint64_t req;
	const struct mem_site *alloc;
	uint32_t owner;         /* who allocated it (debug.h) */
};

static inline uint64_t overhead(const struct mem_pool *pool)
{
	return POOL_BE(pool)->frag_overhead;
}

static inline char *rec_end(const struct mem_pool *pool, const struct rec *r)
{
	return r->payload + r->usable + overhead(pool);
}

/* Is there a record at payload (16-aligned) from which the heap could be
 * rebuilt: live, or parked in a cache, with a size that fits the pool? */
static int record_at(const struct mem_pool *pool, char *payload, struct rec *r)
{
#if MEMDBG
	char *user = dbg_user(payload);
	if (payload < pool->start || user >= pool->end || (dbg_state(user) !=
			DBG_LIVE && dbg_state(user) != DBG_DEAD))
		return 0;
	uint64_t u = dbg_usable(user), req = dbg_req(user);
	if (u < DBG_EXTRA || (u + overhead(pool)) % MEM_ALIGN ||
			u > (uint64_t)(pool->end - payload) ||
			(dbg_state(user) == DBG_LIVE && req > u - DBG_EXTRA))
		return 0;
	*r = (struct rec){ payload, u, req, dbg_hdr(user)->alloc,
		(uint32_t)dbg_hdr(user)->owner };
	return 1;
#else
	(void)pool; (void)payload; (void)r;
	return 0;
#endif
}

/* The fragment whose record says it ends at payload, searched backwards. */
static int record_before(const struct mem_pool *pool, char *payload,
		struct rec *r)
{
	for (char *q = payload - MEM_ALIGN; q >= pool->start &&
			(uint64_t)(payload - q) <= DAMAGE_BACK; q -= MEM_ALIGN)
		if (record_at(pool, q, r) && rec_end(pool, r) == payload)
			return 1;
	return 0;
}

static inline int repair(struct mem_pool *pool, const struct rec *r,
		int apply)
{
	return POOL_BE(pool)->repair(pool->st, r->payload, r->usable, apply);
}

/* --- reports -------------------------------------------------------------- */

/* "overflow from the fragment allocated at S (req N bytes) into the header
 * at H", or, with no culprit found, what was searched; then tail. */
static void report_overflow(struct mem_pool *pool, const char *op,
		const struct rec *culprit, const char *victim, const char *tail)
{
	char a[256], o[64], by[80] = "";
	const char *hdr = victim - POOL_BE(pool)->header_size;
	if (culprit && pool->lock && culprit->owner)   /* shm: which process */
		snprintf(by, sizeof(by), " by %s", mem_owner_str(culprit->owner,
			o, sizeof(o)));
	if (culprit)
		mem_log(MEM_L_ERR, "%s: %s: overflow from the fragment "
			"allocated at %s%s (req %llu bytes) into the header at "
			"%p%s", pool->name, op, mem_record_site_str(culprit->alloc,
			a, sizeof(a)), by, (unsigned long long)culprit->req,
			(const void *)hdr, tail);
	else
		mem_log(MEM_L_ERR, "%s: %s: header at %p overwritten (no "
			"fragment found ending there within %llu bytes)%s",
			pool->name, op, (const void *)hdr,
			(unsigned long long)DAMAGE_BACK, tail);
}

/* Report the broken header of victim (record v), then rewrite it. */
static void rebuild(struct mem_pool *pool, const char *op,
		const struct rec *culprit, const struct rec *v)
{
	char a[256], tail[400];
	snprintf(tail, sizeof(tail), "; header rebuilt from the record of "
		"fragment %p allocated at %s", (void *)dbg_user(v->payload),
		mem_record_site_str(v->alloc, a, sizeof(a)));
	report_overflow(pool, op, culprit, v->payload, tail);
	repair(pool, v, 1);
	if (culprit)    /* a trailer it ran through first (qm's footer) */
		repair(pool, culprit, 1);
}

/* --- free and realloc ------------------------------------------------------ */

/* The fragment at user has a live record, but the backend refuses it, or
 * its end canary is broken: rebuild the next header from its record if an
 * overflow out of user broke it, then user's own if an overflow into it
 * did.  Returns how many broken headers it reported (rebuilt, or when
 * the next one cannot be, named); the caller asks the backend again. */
int mem_damage_fix(struct mem_pool *pool, const char *op, void *user)
{
	struct rec me, next, prev;
	int fixed = 0;
	if (!record_at(pool, dbg_payload(user), &me))
		return 0;
	if (rec_end(pool, &me) < pool->end &&
			record_at(pool, rec_end(pool, &me), &next) &&
			repair(pool, &next, 0) == 1) {
		rebuild(pool, op, &me, &next);
		fixed++;
	}
	int own = POOL_BE(pool)->block_state(pool->st, me.payload) ==
		MEM_BLOCK_BAD ? repair(pool, &me, 0) : 0;
	if (own == 1) {
		int found = record_before(pool, me.payload, &prev);
		rebuild(pool, op, found ? &prev : NULL, &me);
		fixed++;
	} else if (own == -1) {     /* the next header is broken for good */
		report_overflow(pool, op, &me, rec_end(pool, &me), "; no "
			"record to rebuild it from: both fragments are kept");
		fixed++;
	}
	if (fixed && !mem_safety) {
		mem_log(MEM_L_CRIT, "%s: mem_safety=0: aborting", pool->name);
		abort();
	}
	return fixed;
}

/* --- walks that survive damage ------------------------------------------- */

static int walker_tap(const struct mem_block *b, void *arg)
{
	struct mem_walker *w = arg;
	w->last = *b;
	w->visited++;
	return w->fn(b, w->arg);
}

/* The first payload after bad that block_state() accepts, or NULL. */
static char *search_ahead(struct mem_pool *pool, char *bad)
{
	for (char *q = bad + MEM_ALIGN; q < pool->end &&
			(uint64_t)(q - bad) <= DAMAGE_AHEAD; q += MEM_ALIGN)
		if (POOL_BE(pool)->block_state(pool->st, q) != MEM_BLOCK_BAD)
			return q;
	return NULL;
}

/* The checker's word on a broken header it could not rebuild. */
static void report_hole(struct mem_walker *w, char *bad, char *next)
{
	struct rec culprit;
	char tail[200];
	int known = w->last.payload && record_at(w->pool, w->last.payload,
		&culprit) && rec_end(w->pool, &culprit) == bad;
	if (!known)
		known = record_before(w->pool, bad, &culprit);
	snprintf(tail, sizeof(tail), "; no record to rebuild it from: %llu "
		"bytes skipped up to %p", (unsigned long long)((next ? next :
		w->pool->end) - bad), next ? (void *)next : (void *)w->pool->end);
	report_overflow(w->pool, w->op, known ? &culprit : NULL, bad, tail);
}

/* The checker's rebuild of a header whose record is intact. */
static void walker_rebuild(struct mem_walker *w, const struct rec *v)
{
	struct rec culprit;
	int known = w->last.payload && record_at(w->pool, w->last.payload,
		&culprit) && rec_end(w->pool, &culprit) == v->payload;
	if (!known)
		known = record_before(w->pool, v->payload, &culprit);
	rebuild(w->pool, w->op, known ? &culprit : NULL, v);
}

/* walk_from() stopped at the broken header whose payload is *from: hand
 * what lies there to fn as one broken block and move *from past it. */
static int resync(struct mem_walker *w, void **from)
{
	struct mem_pool *pool = w->pool;
	char *bad = *from, *next;
	struct rec r;
	struct mem_block b = { .payload = bad, .broken = 1 };
	w->damaged++;
	if (record_at(pool, bad, &r) && repair(pool, &r, 0) >= 0) {
		b.used = 1;
		b.size = r.usable;
		next = rec_end(pool, &r);
		if (w->fix)
			walker_rebuild(w, &r);
	} else {
		next = search_ahead(pool, bad);
		b.size = (uint64_t)((next ? next : pool->end) - bad);
		w->holes++;
		if (w->fix)
			report_hole(w, bad, next);
	}
	w->last = (struct mem_block){ 0 };
	*from = next;
	int rc = w->fn(&b, w->arg);
	if (*from)  /* normalise: the end of the heap becomes NULL */
		POOL_BE(pool)->walk_from(pool->st, from, 0, walker_tap, w);
	return rc;
}

int mem_walker_run(struct mem_walker *w, void **from, uint64_t max)
{
	const struct mem_backend *be = POOL_BE(w->pool);
	for (;;) {
		uint64_t seen = w->visited;
		int rc = be->walk_from(w->pool->st, from, max, walker_tap, w);
		if (rc != -1)
			return rc;
		max -= w->visited - seen;
		rc = resync(w, from);
		if (rc || !*from || !max)
			return rc;
	}
}
