/*
 * status.c - the heap as data: the walker, the checker and the scan, the
 * same for every backend.  Backends only visit blocks (backend.h walk,
 * walk_from, check); this file turns a block into a struct mem_frag by
 * decoding the MEMDBG record (debug.h) or, without it, the shm caches'
 * parked mark.  Nothing here formats: summary.c sums, dump.c logs.
 *
 *   mem_walk   one pass under the pool's lock: an exact picture, the lock
 *              held O(fragments) (tests, tools, a quiet pool);
 *   mem_check  every used fragment's record (tag, end canary) and every
 *              broken header (named, rebuilt from its record where it can
 *              be), then the backend's invariants, under the lock: a check
 *              needs the whole heap at one instant; each finding gets its
 *              severity in one place, found();
 *   mem_scan   the walk for a live server, in chunks.
 *
 * The scan.  Under the lock, walk_from() copies at most mem_scan_chunk
 * fragments into a buffer of scratch memory; the lock is let go; then the
 * filter and the caller's function run on the copies.  The next chunk goes
 * on at the block after the last one copied, if that still is a block:
 * meanwhile another process may have merged it into its predecessor or
 * reallocated the whole area.  block_state() - the check free() relies on -
 * decides.  When the resume point is gone, the scan goes back to the newest
 * of the last SCAN_ANCHORS blocks it visited that still is one and skips
 * what lies below the lost point (the floor); when none is, it starts again
 * from the first block, skipping the same way.  Skipped blocks have a
 * budget of their own (one chunk), so a chunk still copies something when
 * the way back is long (and at least SCAN_ANCHORS, the furthest way
 * back, so that a walk from an anchor always reaches the lost point: when
 * that point is a broken header, the walk meets it in order and carries
 * on past it, damage.c).  A resume point lost again before the scan got past
 * the floor is a stall: SCAN_STALLS of them, or SCAN_RESTARTS restarts,
 * end the scan with -2 rather than chase a heap that changes faster than
 * it is read (or one whose damage makes block_state() refuse a block the
 * walk can pass: then mem_check() has more to say).
 *   What a scan sees: every chunk is exact; the whole is in address order
 *   and never overlaps, but it is not one instant.
 *   Bound: a hold of the lock visits mem_scan_chunk blocks, that plus
 *   max(mem_scan_chunk, SCAN_ANCHORS) at most after a lost resume point,
 *   one broken header's resynchronisation (damage.c), plus at most SCAN_ANCHORS + 1
 *   block_state() calls, each O(1); the figures are in doc/DIAGNOSTICS.md.
 *   A pkg pool has no lock: the same code, one owner.
 *
 * Damage.  Every walk here goes through damage.c's walker: a broken
 * header is one broken fragment (sized from its MEMDBG record) or a hole,
 * and the walk goes on after it.
 *
 * Races with the shm caches.  A cache parks and unparks fragments that the
 * heap calls used, rewriting their records under the cache's own lock, not
 * the global one; a scan may meet a record mid-change.  Call-site fields
 * are only ever site pointers or NULL, except the free site at user+0,
 * which is user data again once the fragment is handed out: it is kept
 * only if the tag still says "freed" after it was read.  An end canary is
 * believed broken only if the size asked for read the same on both sides
 * of the check (a cache resizes in place).
 */
#include <string.h>
#include <time.h>

#include "debug.h"
#include "internal.h"

unsigned mem_scan_chunk = 256;

#define SCAN_ANCHORS 16
#define SCAN_STALLS 64
#define SCAN_RESTARTS 8
#define SCAN_FALLBACK 32        /* chunk on the stack if no scratch memory */

/* --- one block as a fragment --------------------------------------------- */

static inline void read_fence(void)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}

#if MEMDBG
enum rec { REC_LIVE, REC_OVERRUN, REC_PARKED, REC_BROKEN };

/* What the record of a block the backend calls used says. */
static enum rec used_record(const void *user, uint64_t usable)
{
	const volatile struct dbg_hdr *h = dbg_hdr(user);
	if (usable < DBG_EXTRA)
		return REC_BROKEN;
	int ds = dbg_state(user);
	if (ds != DBG_LIVE)
		return ds == DBG_DEAD ? REC_PARKED : REC_BROKEN;
	uint64_t req = h->req;
	if (req > usable - DBG_EXTRA)
		return REC_BROKEN;
	int ok = dbg_canary_ok(user);
	read_fence();
	return ok || h->req != req ? REC_LIVE : REC_OVERRUN;
}

/* Sites of a freed (or parked) fragment; none if it was reused meanwhile. */
static void frag_freed(struct mem_frag *f, const void *user)
{
	f->alloc = dbg_hdr(user)->alloc;
	f->freed = dbg_free_site(user);
	read_fence();
	if (dbg_state(user) != DBG_DEAD)
		f->alloc = f->freed = NULL;
}

static void frag_record(struct mem_pool *pool, struct mem_frag *f,
		uint64_t usable)
{
	const void *user = f->addr;
	(void)pool;
	if (!f->used) {
		if (usable >= DBG_EXTRA && dbg_state(user) == DBG_DEAD)
			frag_freed(f, user);
		return;
	}
	enum rec r = used_record(user, usable);
	f->broken = r == REC_OVERRUN || r == REC_BROKEN;
	if (r == REC_PARKED) {
		f->used = 0;
		f->cached = 1;
		frag_freed(f, user);
	} else if (r != REC_BROKEN) {
		f->req_size = dbg_hdr(user)->req;
		f->alloc = dbg_hdr(user)->alloc;
	}
}
#else
static void frag_record(struct mem_pool *pool, struct mem_frag *f,
		uint64_t usable)
{
	if (pool->cache && f->used && usable >= 16 && cache_is_parked(f->addr)) {
		f->cached = 1;
		f->used = 0;
	}
}
#endif

static void frag_of_block(struct mem_pool *pool, const struct mem_block *b,
		struct mem_frag *f)
{
	memset(f, 0, sizeof(*f));
	f->addr = dbg_user(b->payload);
	f->used = b->used;
	f->size = b->size > DBG_EXTRA ? b->size - DBG_EXTRA : 0;
	f->broken = f->header_broken = b->broken;
	if (b->broken && !b->used) {    /* a hole: nothing to decode */
		f->hole = 1;
		f->addr = b->payload;
		f->size = b->size;
		return;
	}
	frag_record(pool, f, b->size);
	f->broken |= b->broken;
}

/* --- the exact walk ------------------------------------------------------ */

struct walk_ctx {
	struct mem_pool *pool;
	mem_walk_fn fn;
	void *arg;
};

static int walk_block(const struct mem_block *b, void *arg)
{
	struct walk_ctx *w = arg;
	struct mem_frag f;
	frag_of_block(w->pool, b, &f);
	return w->fn(&f, w->arg);
}

int mem_walk(struct mem_pool *pool, mem_walk_fn fn, void *arg)
{
	struct walk_ctx w = { pool, fn, arg };
	struct mem_walker k = { .pool = pool, .fn = walk_block, .arg = &w };
	void *from = NULL;
	mem_pool_lock(pool);
	int rc = mem_walker_run(&k, &from, UINT64_MAX);
	mem_pool_unlock(pool);
	return rc;
}

/* --- checking ------------------------------------------------------------ */

struct check_ctx {
	struct mem_pool *pool;
	struct mem_check_result r;
};

/* The one place a finding gets its severity (mem.h, mem_check_result). */
static void found(struct check_ctx *c, int structure, int n)
{
	c->r.problems += n;
	if (structure)
		c->r.structure += n;
	else
		c->r.application += n;
}

static void check_problem(void *arg, const void *where, const char *what)
{
	struct check_ctx *c = arg;
	mem_log(MEM_L_ERR, "%s: heap check: %s at %p", c->pool->name, what,
		where);
}

#if MEMDBG
/* The record of every used fragment: tag, then end canary. */
/* A fragment parked in a per-process cache keeps the canary of its last
 * use (cache.c checks it when the fragment leaves the cache); batch
 * fragments (req 0) and those under 16 bytes have none to check. */
static int parked_overrun(const void *user, uint64_t usable)
{
	uint64_t req = dbg_hdr(user)->req;
	return req >= 16 && req <= usable - DBG_EXTRA && !dbg_canary_ok(user);
}

static int check_record(const struct mem_block *b, void *arg)
{
	struct check_ctx *c = arg;
	void *user = dbg_user(b->payload);
	char site[256];
	enum rec r = b->used ? used_record(user, b->size) : REC_LIVE;
	int parked_bad = r == REC_PARKED && parked_overrun(user, b->size);
	if (r == REC_BROKEN)
		mem_log(MEM_L_ERR, "%s: heap check: used fragment %p has a "
			"broken debug record", c->pool->name, user);
	else if (r == REC_OVERRUN || parked_bad)
		mem_log(MEM_L_ERR, "%s: heap check: write past the end of "
			"%sfragment %p (%llu bytes) allocated at %s",
			c->pool->name, parked_bad ? "cached " : "", user,
			(unsigned long long)dbg_hdr(user)->req,
			mem_site_str(dbg_hdr(user)->alloc, site, sizeof(site)));
	found(c, 0, r == REC_BROKEN || r == REC_OVERRUN || parked_bad);
	return 0;
}
#endif

#if MEMDBG
#define RECORD_CHECK check_record
#else
#define RECORD_CHECK no_record
static int no_record(const struct mem_block *b, void *arg)
{
	(void)b;
	(void)arg;
	return 0;
}
#endif

/* First the damage walk: every broken header reported, rebuilt from its
 * record where it can be (damage.c), the records checked on the way; then
 * the backend's invariants, on the heap as rebuilt. */
int mem_check_unsafe_ex(struct mem_pool *pool, struct mem_check_result *res)
{
	struct check_ctx c = { .pool = pool };
	struct mem_walker w = { .pool = pool, .fn = RECORD_CHECK, .arg = &c,
		.fix = 1, .op = "heap check" };
	void *from = NULL;
	mem_walker_run(&w, &from, UINT64_MAX);
	found(&c, 0, (int)(w.damaged - w.holes));
	found(&c, 1, (int)w.holes);
	found(&c, 1, POOL_BE(pool)->check(pool->st, check_problem, &c));
	if (res)
		*res = c.r;
	return c.r.problems;
}

int mem_check_unsafe(struct mem_pool *pool)
{
	return mem_check_unsafe_ex(pool, NULL);
}

int mem_check_ex(struct mem_pool *pool, struct mem_check_result *res)
{
	mem_pool_lock(pool);
	int n = mem_check_unsafe_ex(pool, res);
	mem_pool_unlock(pool);
	return n;
}

int mem_check(struct mem_pool *pool)
{
	return mem_check_ex(pool, NULL);
}

/* --- the scan ------------------------------------------------------------ */

struct scan {
	struct mem_pool *pool;
	struct mem_frag *buf;           /* this chunk's fragments */
	size_t n, cap;
	void *cursor;                   /* payload to go on from; NULL: first */
	int done;
	const char *floor;              /* skip blocks whose payload is below */
	void *anchor[SCAN_ANCHORS];     /* payloads of the last blocks visited */
	uint64_t visits;
	unsigned stalls, restarts;
	struct mem_scan_stats st;
	struct mem_walker walker;       /* carries the scan over damage */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Copy one block, or skip it (below the floor: seen already); stop the
 * walk when the chunk is full. */
static int scan_block(const struct mem_block *b, void *arg)
{
	struct scan *s = arg;
	s->anchor[s->visits++ % SCAN_ANCHORS] = b->payload;
	if ((const char *)b->payload < s->floor)
		return 0;
	frag_of_block(s->pool, b, &s->buf[s->n++]);
	return s->n == s->cap;
}

static int still_a_block(struct mem_pool *pool, void *payload)
{
	return POOL_BE(pool)->block_state(pool->st, payload) != MEM_BLOCK_BAD;
}

/* The newest block visited that still is one, or NULL. */
static void *scan_anchor(const struct scan *s)
{
	for (unsigned i = 0; i < SCAN_ANCHORS && i < s->visits; i++) {
		void *a = s->anchor[(s->visits - 1 - i) % SCAN_ANCHORS];
		if (still_a_block(s->pool, a))
			return a;
	}
	return NULL;
}

/* Under the lock: make the cursor a block to go on from (see the top). */
static int scan_resume(struct scan *s)
{
	if (!s->cursor || still_a_block(s->pool, s->cursor))
		return 0;
	s->st.resyncs++;
	if ((const char *)s->cursor > s->floor)
		s->floor = s->cursor;
	else if (++s->stalls > SCAN_STALLS)
		return -2;
	s->cursor = scan_anchor(s);
	return !s->cursor && ++s->restarts > SCAN_RESTARTS ? -2 : 0;
}

/* One hold of the lock: copy the next chunk into s->buf. */
static int scan_chunk(struct scan *s)
{
	struct mem_pool *pool = s->pool;
	mem_pool_lock(pool);
	uint64_t t0 = now_ns();
	s->n = 0;
	int rc = scan_resume(s);
	if (!rc)    /* 1: the chunk is full */
		rc = mem_walker_run(&s->walker, &s->cursor, s->cap +
			(s->cap > SCAN_ANCHORS ? s->cap : SCAN_ANCHORS)) < 0 ?
			-1 : 0;
	s->done = rc || !s->cursor;
	uint64_t held = now_ns() - t0;
	mem_pool_unlock(pool);
	s->st.sections++;
	s->st.total_hold_ns += held;
	if (held > s->st.max_hold_ns)
		s->st.max_hold_ns = held;
	s->st.frags += s->n;
	return rc;
}

static int frag_matches(const struct mem_frag *f, const char *filter)
{
	const struct mem_site *s = f->alloc;
	if (!filter)
		return 1;
	return f->used && s && ((s->file && strstr(s->file, filter)) ||
		!strcmp(mem_site_mod(s), filter));
}

static int scan_deliver(const struct scan *s, const char *filter,
		mem_walk_fn fn, void *arg)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct mem_frag *f = &s->buf[i];
		int rc = frag_matches(f, filter) ? fn(f, arg) : 0;
		if (rc)
			return rc;
	}
	return 0;
}

int mem_scan(struct mem_pool *pool, const char *filter, mem_walk_fn fn,
		void *arg, struct mem_scan_stats *stats)
{
	struct mem_frag small[SCAN_FALLBACK];
	struct scan s = { .pool = pool, .cap = mem_scan_chunk ? mem_scan_chunk :
		1 };
	int rc;
	s.walker = (struct mem_walker){ .pool = pool, .fn = scan_block,
		.arg = &s };
	s.buf = mem_scratch_alloc(s.cap * sizeof(*s.buf));
	if (!s.buf) {
		s.buf = small;
		s.cap = SCAN_FALLBACK;
	}
	do {
		rc = scan_chunk(&s);
		int stop = scan_deliver(&s, filter, fn, arg);
		rc = stop ? stop : rc;
	} while (!rc && !s.done);
	if (s.buf != small)
		mem_scratch_free(s.buf);
	s.st.result = rc;
	if (stats)
		*stats = s.st;
	return rc;
}
