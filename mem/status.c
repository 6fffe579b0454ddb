/*
 * status.c - the heap as data: the walker, the checker and the scan, the
 * same for every backend.  Backends only visit blocks (backend.h walk,
 * walk_from, check); this file turns a block into a struct mem_frag by
 * decoding the MEMDBG record (debug.h) or, without it, the shm caches'
 * parked mark.  Nothing here formats: summary.c sums, dump.c logs.
 *
 *   mem_walk   one pass under the pool's lock: an exact picture, the lock
 *              held O(fragments) (tests, tools, a quiet pool);
 *   mem_scan   the walk for a live server, in chunks: the pieces (a walk
 *              that resumes, the lock's holds timed and the other
 *              processes' sections between them counted) serve the
 *              chunked checker too (check.c).
 *
 * The scan.  Under the lock, walk_from() copies at most mem_scan_chunk
 * fragments into a buffer of scratch memory; the lock is let go; then the
 * filter and the caller's function run on the copies.  The next chunk goes
 * on at the block after the last one copied, at once when nobody else held
 * the lock in between (the pool counts its lock sections; a pkg pool,
 * which the caller's function may change, is never taken on trust), else
 * if that still is a block:
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
 * are only ever site pointers or NULL; a free site is kept only if the
 * tag still says "freed" after it was read, and a parked fragment's
 * write-after-free fill is believed broken only if its tag did not change
 * while it was compared (freed.c).  A cache marks a
 * record busy while it rewrites it (debug.h); a record read busy is a
 * used fragment with no sites, and a broken record or end canary is
 * believed only when the tag read the same around it, twice.
 */
#include <string.h>
#include <time.h>

#include "debug.h"
#include "internal.h"
#include "slab.h"

unsigned mem_scan_chunk = 256;

#define SCAN_ANCHORS MEM_SCAN_ANCHORS
#define SCAN_STALLS 64
#define SCAN_RESTARTS 8
#define SCAN_FALLBACK 32        /* chunk on the stack if no scratch memory */

/* --- one block as a fragment --------------------------------------------- */

static inline void read_fence(void)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}

#if MEMDBG
/* One read of the record of a block the backend calls used: its tag, then
 * the rest, then the tag again; REC_BUSY while a cache rewrites it. */
static enum mem_rec record_once(const void *user, uint64_t usable)
{
	const volatile struct dbg_hdr *h = dbg_hdr(user);
	int ds = dbg_state(user);
	read_fence();
	if (ds != DBG_LIVE)
		return ds == DBG_DEAD ? REC_PARKED : ds == DBG_BUSY ? REC_BUSY :
			REC_BROKEN;
	uint64_t req = h->req;
	int bad = req > usable - DBG_EXTRA ? 2 : !dbg_canary_at(user, req);
	read_fence();
	if (dbg_state(user) != DBG_LIVE)
		return REC_BUSY;
	return bad == 2 ? REC_BROKEN : bad ? REC_OVERRUN : REC_LIVE;
}

/* A finding stands only when a second read agrees: a record a cache was
 * rewriting during the first reads whole, or busy, by then (debug.h). */
enum mem_rec mem_used_record(const void *user, uint64_t usable)
{
	if (usable < DBG_EXTRA)
		return REC_BROKEN;
	enum mem_rec r = record_once(user, usable);
	if (r != REC_OVERRUN && r != REC_BROKEN)
		return r;
	read_fence();
	return record_once(user, usable);
}

/* Sites of a freed (or parked) fragment; none if it was reused meanwhile. */
static void frag_freed(struct mem_frag *f, const void *user)
{
	uint64_t owner = dbg_hdr(user)->owner;
	f->alloc = dbg_hdr(user)->alloc;
	f->freed = dbg_free_site(user);
	read_fence();
	if (dbg_state(user) != DBG_DEAD)
		f->alloc = f->freed = NULL;
	else
		f->alloc_proc = (uint32_t)owner, f->free_proc = owner >> 32;
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
	enum mem_rec r = mem_used_record(user, usable);
	f->broken = r == REC_OVERRUN || r == REC_BROKEN;
	if (r == REC_PARKED) {
		f->used = 0;
		f->cached = 1;
		frag_freed(f, user);
	} else if (r != REC_BROKEN && r != REC_BUSY) {
		f->req_size = dbg_hdr(user)->req;
		f->alloc = dbg_hdr(user)->alloc;
		f->alloc_proc = (uint32_t)dbg_hdr(user)->owner;
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

/* --- spans of small objects (slab.h) --------------------------------------
 * A walk shows what callers hold: a span's objects, not the span.  Each
 * object is a fragment of its own (struct mem_frag's span names the
 * block), used when handed out, else free (to callers: the heap has the
 * span back once all its objects are free); the objects never handed out
 * yet are one free fragment at the span's end.  The span is read as the
 * walk meets it (the caller holds the pool, as for every block). */

/* The span that block b is, or NULL. */
static const struct slab_span *span_of_block(struct mem_pool *pool,
		const struct mem_block *b)
{
	if (MEMDBG || !pool->slab || !b->used || b->broken)
		return NULL;
	const struct slab_span *s = b->payload;
	return slab_span_of(pool->slab, s) == s &&
		s->magic == (SLAB_MAGIC ^ (uint64_t)(uintptr_t)s) ? s : NULL;
}

/* The fragments a span shows at most: every object, and the tail. */
#define SPAN_FRAGS_MAX ((SLAB_SPAN - SLAB_HDR) / SLAB_GRAIN + 1)

static int span_frags(const struct slab_span *s, uint64_t bytes,
		mem_walk_fn fn, void *arg)
{
	struct mem_frag f;
	memset(&f, 0, sizeof(f));
	f.span = s;
	f.span_size = bytes;
	f.size = s->osize;
	for (unsigned i = 0; i < s->bump; i++) {
		f.addr = slab_objects(s) + i * s->osize;
		f.used = slab_bit(s, i);
		int rc = fn(&f, arg);
		if (rc)
			return rc;
	}
	if (s->bump == s->cap)
		return 0;
	f.addr = slab_objects(s) + s->bump * s->osize;
	f.size = (uint64_t)(s->cap - s->bump) * s->osize;
	f.used = 0;
	return fn(&f, arg);
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
	const struct slab_span *s = span_of_block(w->pool, b);
	if (s)
		return span_frags(s, b->size, w->fn, w->arg);
	frag_of_block(w->pool, b, &f);
	return w->fn(&f, w->arg);
}

int mem_walk(struct mem_pool *pool, mem_walk_fn fn, void *arg)
{
	struct walk_ctx w = { pool, fn, arg };
	struct mem_walker k = { .pool = pool, .fn = walk_block, .arg = &w };
	void *from = NULL;
	mem_fq_drain(pool);     /* what waits in a free queue reads as freed */
	mem_pool_lock(pool);
	int rc = mem_walker_run(&k, &from, UINT64_MAX);
	mem_pool_unlock(pool);
	return rc;
}

/* --- the lock's holds ----------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Take the lock (unless the caller holds it) and note whether anyone
 * else held it since our last hold: the pool counts its lock sections. */
int mem_hold_begin(struct mem_pool *pool, struct mem_holds *h)
{
	if (h->locked) {        /* no lock held: the shm queues may settle */
		mem_fq_drain(pool);
		mem_pool_lock(pool);
	} else {
		mem_fq_drain_pkg(pool);
	}
	uint64_t g = mem_pool_sections(pool);
	int others = h->st.sections && g != h->expect;
	if (others)
		h->st.changes += g - h->expect;
	h->t0 = now_ns();
	return others;
}

void mem_hold_end(struct mem_pool *pool, struct mem_holds *h)
{
	uint64_t held = now_ns() - h->t0;
	/* our own release counts one section */
	h->expect = mem_pool_sections(pool) + (h->locked && pool->lock);
	if (h->locked)
		mem_pool_unlock(pool);
	h->st.sections++;
	h->st.total_hold_ns += held;
	if (held > h->st.max_hold_ns)
		h->st.max_hold_ns = held;
}

/* --- the walk in pieces ---------------------------------------------------- */

/* Every block the backend walks: remembered as an anchor, then visited
 * unless it lies below the floor (seen already). */
static int chunk_tap(const struct mem_block *b, void *arg)
{
	struct mem_chunked *k = arg;
	k->anchor[k->visits++ % SCAN_ANCHORS] = b->payload;
	if ((const char *)b->payload < k->floor)
		return 0;
	return k->visit(b, k->arg);
}

static int still_a_block(struct mem_pool *pool, void *payload)
{
	return POOL_BE(pool)->block_state(pool->st, payload) != MEM_BLOCK_BAD;
}

/* The newest block visited that still is one, or NULL. */
static void *chunk_anchor(const struct mem_chunked *k)
{
	for (unsigned i = 0; i < SCAN_ANCHORS && i < k->visits; i++) {
		void *a = k->anchor[(k->visits - 1 - i) % SCAN_ANCHORS];
		if (still_a_block(k->pool, a))
			return a;
	}
	return NULL;
}

/* Under the lock: make the cursor a block to go on from (see the top). */
static int chunk_resume(struct mem_chunked *k)
{
	if (!k->cursor || still_a_block(k->pool, k->cursor))
		return 0;
	k->resyncs++;
	if ((const char *)k->cursor > k->floor)
		k->floor = k->cursor;
	else if (++k->stalls > SCAN_STALLS)
		return -2;
	k->cursor = chunk_anchor(k);
	return !k->cursor && ++k->restarts > SCAN_RESTARTS ? -2 : 0;
}

void mem_chunked_init(struct mem_chunked *k, struct mem_pool *pool,
		mem_block_fn visit, void *arg, const char *fix_op)
{
	*k = (struct mem_chunked){ .pool = pool, .visit = visit, .arg = arg };
	k->walker = (struct mem_walker){ .pool = pool, .fn = chunk_tap,
		.arg = k, .fix = fix_op != NULL, .op = fix_op };
}

int mem_chunked_step(struct mem_chunked *k, uint64_t max, int changed)
{
	int rc = changed ? chunk_resume(k) : 0;
	if (!rc)    /* visit's non-zero: this piece has done enough */
		rc = mem_walker_run(&k->walker, &k->cursor, max) < 0 ? -1 : 0;
	k->done = rc || !k->cursor;
	return rc;
}

/* --- the scan ------------------------------------------------------------ */

struct scan {
	struct mem_frag *buf;           /* this chunk's fragments */
	size_t n, cap;
	size_t room;                    /* buf's entries: cap, and a span's */
	int short_buf;                  /* a span did not fit the buffer */
	struct mem_chunked walk;
	struct mem_holds holds;
};

static int scan_copy(const struct mem_frag *f, void *arg)
{
	struct scan *s = arg;
	s->buf[s->n++] = *f;
	return 0;
}

/* Copy one block (a span: its objects, for which the buffer has room
 * past the chunk: scan_room); stop the walk when the chunk is full. */
static int scan_block(const struct mem_block *b, void *arg)
{
	struct scan *s = arg;
	const struct slab_span *sp = span_of_block(s->walk.pool, b);
	if (!sp)
		frag_of_block(s->walk.pool, b, &s->buf[s->n++]);
	else if (s->n + SPAN_FRAGS_MAX <= s->room)
		span_frags(sp, b->size, scan_copy, s);
	else
		s->short_buf = 1;       /* the fallback buffer: mem_scan */
	return s->n >= s->cap || s->short_buf;
}

/* One hold of the lock: copy the next chunk into s->buf. */
static int scan_chunk(struct scan *s)
{
	struct mem_pool *pool = s->walk.pool;
	/* without a lock (pkg) nothing counts what fn did between chunks */
	int changed = mem_hold_begin(pool, &s->holds) || !pool->lock;
	s->n = 0;
	int rc = mem_chunked_step(&s->walk, s->cap +
		(s->cap > SCAN_ANCHORS ? s->cap : SCAN_ANCHORS), changed);
	mem_hold_end(pool, &s->holds);
	s->holds.st.frags += s->n;
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
	struct scan s = { .cap = mem_scan_chunk ? mem_scan_chunk : 1,
		.holds = { .locked = 1 } };
	int rc;
	mem_chunked_init(&s.walk, pool, scan_block, &s, NULL);
	s.room = s.cap + (!MEMDBG && pool->slab ? SPAN_FRAGS_MAX : 0);
	s.buf = mem_scratch_alloc(s.room * sizeof(*s.buf));
	if (!s.buf) {
		s.buf = small;
		s.cap = s.room = SCAN_FALLBACK;
	}
	do {
		rc = scan_chunk(&s);
		int stop = scan_deliver(&s, filter, fn, arg);
		rc = stop ? stop : s.short_buf ? -1 : rc;
	} while (!rc && !s.walk.done);
	if (s.short_buf)
		mem_log(MEM_L_ERR, "%s: scan stopped: no scratch memory for the "
			"objects of a span", pool->name);
	if (s.buf != small)
		mem_scratch_free(s.buf);
	s.holds.st.resyncs = s.walk.resyncs;
	s.holds.st.result = rc;
	if (stats)
		*stats = s.holds.st;
	return rc;
}
