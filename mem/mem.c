/*
 * mem.c - the common layer: every policy that is the same for all backends,
 * written once.
 *
 *   - NULL, size 0 and size overflow (SIZE_MAX and friends return NULL);
 *   - the pointer checks of free and realloc: in the pool, 16-aligned, the
 *     start of a used fragment (MEMDBG tag, then the backend's own view),
 *     with one report naming every call site known, then mem_safety; a
 *     live record the backend refuses, or a broken end canary, sends the
 *     headers around it to damage.c (name the overflow, rebuild them);
 *   - call-site records and end canaries (debug.h, MEMDBG only);
 *   - realloc that moves (backends only grow or shrink in place);
 *   - the lock: x() takes the pool's lock around x_unsafe(); the algorithm
 *     never locks (pkg pools have no lock at all);
 *   - recovery when the lock's owner died: the backend rebuilds what a
 *     half-done operation left, the checker reports the application's
 *     damage and goes on; only a structure beyond repair stops one process
 *     and marks the pool broken, so that no other process aborts after it.
 *
 * Costs: O(1) per operation on top of the backend; MEMDBG adds 40 bytes per
 * fragment and two 8-byte compares per free.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "freed.h"
#include "cache.h"
#include "internal.h"
#include "lockstat.h"
#include "slab.h"
#include "track.h"

int mem_safety = 1;
int mem_join = 1;
int mem_free_check = 1;
int mem_free_queue = 1;
int mem_summary = 0;
#if HAVE_VALGRIND
int track_on;
int track_depth[2];
#endif

static const struct mem_backend *const backends[] = {
	&mem_fm_backend, &mem_qm_backend, &mem_tlsf_backend,
};
_Static_assert(sizeof(backends) / sizeof(backends[0]) == 3,
		"index = MEMMNG value");

#ifndef MEMMNG
#define MEMMNG 2
#endif
#ifndef SHM_CACHE
#define SHM_CACHE 1
#endif

/* --- backends ------------------------------------------------------------ */

const char *const *mem_backend_names(void)
{
	static const char *const names[] = { "fm", "qm", "tlsf", NULL };
	return names;
}

const char *mem_default_backend(void)
{
	return backends[MEMMNG]->long_name;
}

const char *mem_build_info(void)
{
#define STR_(x) #x
#define STR(x) STR_(x)
	return "MEMMNG=" STR(MEMMNG) " MEMDBG=" STR(MEMDBG)
		" SHM_CACHE=" STR(SHM_CACHE)
#if LOCK_PTHREAD
		" LOCK=pthread";
#else
		" LOCK=futex";
#endif
}

const struct mem_backend *mem_backend_find(const char *name)
{
	if (!name || !*name)
		return backends[MEMMNG];
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(name, backends[i]->name) ||
		    !strcmp(name, backends[i]->long_name))
			return backends[i];
	mem_log(MEM_L_ERR, "unknown memory manager '%s': valid names are "
		"fm (f_malloc), qm (q_malloc), tlsf (tlsf_malloc)", name);
	return NULL;
}

int mem_pool_setup(struct mem_pool *pool, const char *name, char *heap,
		char *end, const char *backend, struct mem_lock *lock)
{
	const struct mem_backend *be = mem_backend_find(backend);
	if (!be)
		return -1;
#if MEM_DIRECT
	if (be != MEM_DIRECT_TABLE) {
		mem_log(MEM_L_ERR, "%s: this build serves %s only", name,
			MEM_DIRECT_TABLE->long_name);
		return -1;
	}
#endif
	pool->be = be;
	pool->lock = lock;
	pool->start = heap;
	pool->end = end;
	pool->name = name;
	pool->cache = NULL;
	pool->lstat = NULL;
	pool->sections = NULL;
	track_setup();
	pool->broken = 0;
	pool->jr = NULL;
	memset(&pool->fq, 0, sizeof(pool->fq));
	pool->slab = NULL;
	pool->st = be->create(heap, (size_t)(end - heap));
	if (!pool->st) {
		mem_log(MEM_L_ERR, "%s: %zu bytes are too few for %s", name,
			(size_t)(end - heap), be->long_name);
		return -1;
	}
	pool->fq.peak = be->peak(pool->st);
	return 0;
}

/* --- the lock, written once ---------------------------------------------- */

/* Recovery when the lock's owner died inside a section.  Only the
 * allocator's own structure decides; doc/RELIABILITY.md has the design:
 *   1. the backend rebuilds its lists, bitmaps and counters from the
 *      physical chain of blocks, which every step of a split or a join
 *      keeps whole: a half-done operation is finished or undone (O(blocks));
 *   2. the caches finish a flush that was handing a block to the backend
 *      (cache.c: every other chain in flight is reachable from its slot
 *      and finished by whoever drains that slot);
 *   3. MEMDBG: a used fragment whose record is not a record (its owner died
 *      between the backend's malloc and the record) is completed, named
 *      after the recovery and reported: it is kept, never freed, since a
 *      live process may hold it;
 *   4. the checker runs in its fixing mode: what the application did
 *      (overruns, records) is reported and the process goes on; headers it
 *      broke are rebuilt from their records, then the backend rebuilds
 *      again;
 *   5. only a structure still broken after that stops anything: the pool
 *      is declared broken in the segment, the lock released, and this one
 *      process aborts with the report.  Every other process then finds the
 *      mark, not the damage: its requests fail cleanly (NULL), its frees
 *      are dropped, nobody else aborts. */
#if MEMDBG
static const struct mem_site recovered_site = {
	"mem/mem.c", "heap_recovered", "srmem", __LINE__ };
#define RECOVERED_SITE (&recovered_site)

static int complete_record(const struct mem_block *b, void *arg)
{
	struct mem_pool *pool = arg;
	void *user = dbg_user(b->payload);
	if (!b->used || b->broken || b->size < DBG_EXTRA ||
			dbg_state(user) != DBG_BAD)
		return 0;
	dbg_on_alloc(b->payload, b->size - DBG_EXTRA, &recovered_site,
		b->size);
	mem_log(MEM_L_WARN, "%s: fragment %p (%llu bytes) had no debug record "
		"(its owner died before writing it): kept, now allocated at "
		"%s:%s", pool->name, user, (unsigned long long)b->size -
		DBG_EXTRA, recovered_site.file, recovered_site.func);
	return 0;
}
#else
#define RECOVERED_SITE NULL
#endif

/* The allocation the dead holder was making: a block the backend handed
 * out (its last() moved on, the block is used) whose record may be a
 * stale one, even a freed or parked one.  Its owner never got it: it is
 * kept as used, with a record naming the recovery (a leak of the dead
 * process, visible as such). */
static void alloc_recover(struct mem_pool *pool)
{
	struct mem_journal *jr = pool->jr;
	uint64_t seq = 0;
	void *payload = jr && jr->allocating ?
		POOL_BE(pool)->last(pool->st, &seq) : NULL;
	if (jr)
		jr->allocating = 0;
	if (!payload || seq == jr->seq || !mem_heap_used_at(pool, payload))
		return;
	uint64_t usable = POOL_BE(pool)->usable_size(pool->st, payload);
	dbg_on_alloc(payload, usable - DBG_EXTRA, RECOVERED_SITE, usable);
	mem_log(MEM_L_WARN, "%s: fragment %p (%llu bytes) was being allocated "
		"when its process died: kept as used%s", pool->name,
		dbg_user(payload), (unsigned long long)usable, MEMDBG ?
		", allocated at mem/mem.c:heap_recovered" : "");
}

/* The journal's words that name a fragment: a free names it from before
 * its record says freed until the backend has it (release_recover()); an
 * in-place realloc from before the backend's resize until the record says
 * the new size (resize_recover()). */
enum { JR_RELEASING, JR_RESIZING };

static inline void **journal_word(struct mem_journal *jr, int what)
{
	return what == JR_RESIZING ? &jr->resizing : &jr->releasing;
}

/* A journal word names user (JR_*).  The caller reads pool->jr
 * once (it never changes): a fence would make every pool->jr a load. */
static inline void journal_name(struct mem_journal *jr, int what, void *user)
{
	MEM_KILL_FENCE();
	if (jr)
		*journal_word(jr, what) = user;
	MEM_KILL_FENCE();
}

/* The section is in a backend call that changes the heap (journal). */
static inline void in_backend(struct mem_journal *jr, uint32_t on)
{
	MEM_KILL_FENCE();
	if (jr)
		jr->in_backend = on;
	MEM_KILL_FENCE();
}

/* Any record state: the block's words are not to be read (below). */
#define JR_ANY_STATE (-1)
#if MEMDBG
#define DBG_FREED_STATE DBG_DEAD
#else
#define DBG_FREED_STATE 0       /* no record: release_recover() */
#endif

/* The fragment the dead holder's journal word `what` names, if the heap
 * still has it as a used block whose MEMDBG record is in state `state`
 * (JR_ANY_STATE: any, and in release builds too); else NULL (always
 * without MEMDBG, but for JR_ANY_STATE), and the word is cleared.  A
 * fragment returned stays named until the caller has settled it, so that
 * a taker who dies settling it leaves it to the next one. */
static void *journal_pending(struct mem_pool *pool, int what, int state)
{
	if (!pool->jr)
		return NULL;
	void **w = journal_word(pool->jr, what), *user = *w;
	int pending = user && (MEMDBG || state == JR_ANY_STATE) &&
		mem_heap_used_at(pool, dbg_payload(user));
#if MEMDBG
	pending = pending && (state == JR_ANY_STATE ||
		dbg_state(user) == state);
#endif
	if (!pending)
		journal_name(pool->jr, what, NULL);
	return pending ? user : NULL;
}

/* The dead holder was freeing a fragment, which the heap still has as
 * used: the free is finished now when it had been decided, that is when
 * the record already said freed (MEMDBG) or when the holder was inside
 * the backend's free (inside: the journal's in_backend was set; its
 * checks had passed, and with MEMDBG its record had said freed).  Left as
 * it was, the fragment would look parked in a cache that does not hold
 * it, and no free would ever take it; or, killed inside, be a leak of
 * nobody's.  Inside, the backend's free may have written its list links
 * over the block's first words (the record, or the caller's first bytes)
 * before the rebuild kept the block as used: the record is written again
 * (MEMDBG) before the block goes back. */
static void release_recover(struct mem_pool *pool, int inside)
{
	struct mem_journal *jr = pool->jr;
	int state = JR_ANY_STATE;
	if (!inside)    /* decided if its record said freed (none without) */
		state = DBG_FREED_STATE;
	void *user = journal_pending(pool, JR_RELEASING, state);
	if (!user) {
		in_backend(jr, 0);
		return;
	}
	uint64_t usable = POOL_BE(pool)->usable_size(pool->st,
		dbg_payload(user));
	/* Journaled as the dead holder's free was: a taker who dies in it
	 * leaves it to the next one, inside the backend. */
	in_backend(jr, 1);
#if MEMDBG
	if (inside) {
		dbg_on_alloc(dbg_payload(user), usable - DBG_EXTRA,
			RECOVERED_SITE, usable);
		dbg_on_free(user, RECOVERED_SITE);
	}
#endif
	mem_heap_free(pool, user, usable, 1);
	in_backend(jr, 0);
	journal_name(jr, JR_RELEASING, NULL);
	mem_log(MEM_L_WARN, "%s: fragment %p was being freed when its process "
		"died: freed", pool->name, user);
}

/* The dead holder was resizing a fragment in place: the backend may have
 * resized the block (or a rebuild finished or undid that) while the
 * record still says the old size, past the block's end after a shrink.
 * The record is made to agree with the block: the old size where it
 * still fits, else what the block holds; the old successor's record,
 * if the block grew over it, is disarmed as the realloc would have. */
static void resize_recover(struct mem_pool *pool)
{
#if MEMDBG
	void *user = journal_pending(pool, JR_RESIZING, DBG_LIVE);
	if (!user)
		return;
	uint64_t usable = POOL_BE(pool)->usable_size(pool->st,
		dbg_payload(user));
	mem_heap_changed(pool, user, dbg_usable(user));
	uint64_t req = dbg_resize_settle(user, usable);
	journal_name(pool->jr, JR_RESIZING, NULL);
	mem_log(MEM_L_WARN, "%s: fragment %p was being resized when its "
		"process died: its record now says %llu bytes", pool->name,
		user, (unsigned long long)req);
#else
	journal_pending(pool, JR_RESIZING, 0);
#endif
}

static void records_complete(struct mem_pool *pool)
{
#if MEMDBG
	struct mem_walker w = { .pool = pool, .fn = complete_record,
		.arg = pool };
	void *from = NULL;
	mem_walker_run(&w, &from, UINT64_MAX);
#else
	(void)pool;
#endif
}

static void declare_broken(struct mem_pool *pool, int structure)
{
	mem_log(MEM_L_CRIT, "%s: heap structure beyond repair after a process "
		"died in the allocator (%d problems): pool declared broken, "
		"its requests fail from now on; stopping this process",
		pool->name, structure);
	__atomic_store_n(&pool->broken, 1, __ATOMIC_RELEASE);
	mem_lock_release(pool->lock);
	abort();
}

/* The backend rebuilt, and the caches' operations that were in the
 * backend settled (heap_recovered() calls cache_recover() once more at
 * the end, for a heap that needed no rebuild: it settles only what is
 * left, so twice is once). */
static int rebuilt(struct mem_pool *pool)
{
	int n = POOL_BE(pool)->rebuild ? POOL_BE(pool)->rebuild(pool->st,
		mem_freed_swallowed, pool) : -1;
	if (n < 0)
		return 0;
	if (n)
		mem_log(MEM_L_WARN, "%s: %d block trailers rewritten (an "
			"operation cut short, or an overrun)", pool->name, n);
#if MEMDBG
	mem_freed_after_rebuild(pool);
#endif
	if (pool->cache)
		cache_recover(pool);
	return 1;
}

/* Was the dead holder inside the backend (the journals say)?  Then the
 * heap is rebuilt before it is checked; else the checker alone decides,
 * and a rebuild follows only if it finds the structure broken. */
static int was_in_backend(struct mem_pool *pool)
{
	struct mem_journal *jr = pool->jr;
	return (jr && (jr->allocating || jr->in_backend)) ||
		(pool->cache && cache_in_backend(pool));
}

static void heap_recovered(struct mem_pool *pool)
{
	struct mem_check_result r;
	mem_log(MEM_L_WARN, "%s: lock owner pid %d died holding the lock; "
		"checking the heap", pool->name, (int)mem_lock_last_dead(pool->lock));
	if (mem_pool_broken(pool))
		return;
	/* in a backend free (not a resize): the journal names what */
	int in_free = pool->jr && pool->jr->in_backend && pool->jr->releasing;
	if (was_in_backend(pool) && rebuilt(pool))
		alloc_recover(pool);
	release_recover(pool, in_free);     /* clears in_backend */
	resize_recover(pool);
	records_complete(pool);
	mem_check_unsafe_ex(pool, &r);
	if (r.structure && rebuilt(pool)) {
		alloc_recover(pool);
		mem_check_unsafe_ex(pool, &r);
	}
	if (r.structure)
		declare_broken(pool, r.structure);
	if (pool->cache)
		cache_recover(pool);
	if (r.application)
		mem_log(MEM_L_WARN, "%s: %d problems of the application's own "
			"(reported above) after owner death: not the allocator's",
			pool->name, r.application);
	mem_log(MEM_L_WARN, "%s: heap intact after owner death; going on",
		pool->name);
}

/* A pool declared broken refuses work: one report per process. */
static int refused(struct mem_pool *pool)
{
	static int told;
	if (__builtin_expect(!mem_pool_broken(pool), 1))
		return 0;
	if (!told++)
		mem_log(MEM_L_ERR, "%s: pool declared broken after a process "
			"died in the allocator: request refused", pool->name);
	return 1;
}

/* Counted into this process's row (lockstat.c) when the pool has one. */
static inline void pool_lock(struct mem_pool *pool)
{
	track_open(pool);
	if (pool->lock && mem_lock_get_counted(pool->lock,
			lockstat_mine(pool->lstat)))
		heap_recovered(pool);
}

/* Every release counts one section, on the lock's own cache line (which
 * the release writes anyway), for the chunked diagnostics (status.c). */
static inline void pool_unlock(struct mem_pool *pool)
{
	if (pool->lock) {
		++*pool->sections;
		mem_lock_release_counted(pool->lock, lockstat_mine(pool->lstat));
	}
	track_close(pool);
}

uint64_t mem_pool_sections(struct mem_pool *pool)
{
	return pool->sections ? *pool->sections : 0;
}

/* --- reports ------------------------------------------------------------- */

static const char *const bad_text[] = {
	[BAD_OUTSIDE] = "pointer outside the pool",
	[BAD_MIDDLE] = "pointer is not the start of a fragment",
	[BAD_DOUBLE] = "double free",
	[BAD_OVERFLOW] = "write past the end of the fragment",
	[BAD_SPAN] = ("pointer into small objects whose span header is "
		"overwritten (an overflow of the block before it?): left alone"),
};

/* One report for every kind of misuse: what, where, who.  Every site is
 * read through mem_record_site_str(): the record's may be stale (a double
 * free of memory reused since), and `site` itself may come from a record
 * (a parked fragment's free site). */
void mem_report_bad(struct mem_pool *pool, const char *op, const void *p,
		enum mem_bad kind, const struct mem_site *site)
{
	char here[256], alloc[340] = "", freed[340] = "";
#if MEMDBG
	char b[240], o[80] = "";
	if (kind == BAD_DOUBLE || kind == BAD_OVERFLOW) {
		if (pool->lock)
			snprintf(o, sizeof(o), " by %s", mem_owner_str(
				(uint32_t)dbg_hdr(p)->owner, b, sizeof(b)));
		snprintf(alloc, sizeof(alloc), "; allocated at %s%s",
			mem_record_site_str(dbg_hdr(p)->alloc, b, sizeof(b)),
			o);
	}
	if (kind == BAD_DOUBLE && dbg_state(p) == DBG_DEAD) {
		if (pool->lock)
			snprintf(o, sizeof(o), " by %s", mem_owner_str(
				(uint32_t)(dbg_hdr(p)->owner >> 32), b, sizeof(b)));
		snprintf(freed, sizeof(freed), "; first freed at %s%s",
			mem_record_site_str(dbg_free_site(p), b, sizeof(b)),
			o);
	}
#endif
	mem_log(MEM_L_ERR, "%s: %s: %s %p at %s%s%s", pool->name, op,
		bad_text[kind], p,
		mem_record_site_str(site, here, sizeof(here)), alloc, freed);
	if (!mem_safety) {
		mem_log(MEM_L_CRIT, "%s: mem_safety=0: aborting", pool->name);
		abort();
	}
}

/* --- small objects (slab.h) ---------------------------------------------- */

/* p's span, when pool keeps small objects in spans and p lies in one. */
static inline struct slab_span *slab_of(struct mem_pool *pool, const void *p)
{
	return !MEMDBG && pool->slab ? slab_span_of(pool->slab, p) : NULL;
}

/* p, in span s, is an object handed out: its index; else reported (op
 * names the call) and -1.  A span whose header fails its magic is left
 * alone: its words are not trusted, and p is no block of the heap's. */
static inline int slab_object(struct mem_pool *pool, struct slab_span *s,
		void *p, const char *op, const struct mem_site *site)
{
	enum mem_bad kind = BAD_SPAN;
	int i = -1;
	if (__builtin_expect(s->magic == (SLAB_MAGIC ^ (uint64_t)(uintptr_t)s),
			1)) {
		i = slab_index(s, p);
		kind = i < 0 ? BAD_MIDDLE : BAD_DOUBLE;
		if (i >= 0 && slab_bit(s, (unsigned)i))
			return i;
	}
	mem_report_bad(pool, op, p, kind, site);
	return -1;
}

static void fq_drain(struct mem_pool *pool);

/* A malloc or resize of the heap is about to run: the peak it may raise
 * while frees wait in the queue (else UINT64_MAX: nothing to watch). */
static inline uint64_t fq_peak_before(const struct mem_pool *pool)
{
	return !MEMDBG && pool->fq.len ? *pool->fq.peak : UINT64_MAX;
}

/* It raised the heap's peak (max_used) while frees waited: those frees
 * would have made room first, so make them now and keep the peak they
 * would have left.  The queue never shows in the pool's peak, which is
 * what a pool is sized by. */
static void fq_peak_lower(struct mem_pool *pool, uint64_t before)
{
	fq_drain(pool);
	uint64_t now = mem_heap_real_used(pool);
	*pool->fq.peak = now > before ? now : before;
}

static inline void fq_peak_after(struct mem_pool *pool, uint64_t before)
{
	if (before != UINT64_MAX && *pool->fq.peak != before)
		fq_peak_lower(pool, before);
}

static void *span_malloc(struct mem_pool *pool, size_t size)
{
	uint64_t peak = fq_peak_before(pool);   /* a new span may raise it */
	void *p = slab_malloc(pool, size);
	fq_peak_after(pool, peak);
	return p;
}

/* An object of a span for a request of size bytes, or NULL: no slab, a
 * size above SLAB_MAX, or no room for a new span (the heap then serves). */
static inline void *small_malloc(struct mem_pool *pool, size_t size)
{
	return !MEMDBG && pool->slab && size <= SLAB_MAX ?
		span_malloc(pool, size) : NULL;
}

/* 1 when p was the slab's: given back, or reported. */
static inline int slab_free(struct mem_pool *pool, void *p,
		const struct mem_site *site)
{
	struct slab_span *s = slab_of(pool, p);
	if (!s)
		return 0;
	int i = slab_object(pool, s, p, "free", site);
	if (i >= 0)
		slab_put(pool, s, p, (unsigned)i);
	return 1;
}

/* Is p a used fragment of pool?  Reports and returns 0 if not.  An end
 * canary broken by an overflow is reported, but the fragment is still
 * released (it is a real fragment; keeping it would only leak it).
 * Safe without the heap lock (the cache path): see block_state in
 * backend.h.  how (the cache path, where each read is a likely cache miss):
 * CHECK_TRUST_RECORD lets MEMDBG's address-keyed tag vouch for p instead of
 * the backend's check, which reads the next block's header;
 * CHECK_LATER_CANARY leaves the end canary to whoever takes the fragment
 * out of the cache (cache.c), when that line is touched anyway;
 * CHECK_BY_FREE leaves the backend's check to its free(), which makes it
 * on the headers it reads anyway (mem_free_unsafe); CHECK_OWN_HEADER says
 * that the caller has judged p on its own header (mem_own_usable(): the
 * release cache path, which joins nothing), so that the next header is
 * left to the free into the heap that reads it to join. */
int mem_used_fragment(struct mem_pool *pool, const char *op, void *p,
		const struct mem_site *site, int how)
{
	enum mem_bad kind = BAD_MIDDLE;
	struct slab_span *sp = slab_of(pool, p);
	if (sp)
		return slab_object(pool, sp, p, op, site) >= 0;
	if ((char *)p < pool->start + DBG_HEAD || (char *)p >= pool->end) {
		kind = BAD_OUTSIDE;
		goto bad;
	}
	if ((uintptr_t)p % MEM_ALIGN)
		goto bad;
#if MEMDBG
	int ds = dbg_state(p);
	if (ds != DBG_LIVE) {
		kind = ds == DBG_DEAD ? BAD_DOUBLE : BAD_MIDDLE;
		goto bad;
	}
#endif
	int bs = (MEMDBG && (how & CHECK_TRUST_RECORD)) ||
		(how & (CHECK_BY_FREE | CHECK_OWN_HEADER)) ? MEM_BLOCK_USED :
		POOL_BE(pool)->block_state(pool->st, dbg_payload(p));
	if (MEMDBG && bs == MEM_BLOCK_BAD && mem_damage_fix(pool, op, p))
		bs = POOL_BE(pool)->block_state(pool->st, dbg_payload(p));
	if (bs != MEM_BLOCK_USED) {
		kind = bs == MEM_BLOCK_FREE ? BAD_DOUBLE : BAD_MIDDLE;
		goto bad;
	}
	if (!MEMDBG && pool->cache && cache_is_parked(p)) {
		kind = BAD_DOUBLE;  /* parked in a per-process cache */
		goto bad;
	}
#if MEMDBG
	/* ds is DBG_LIVE: the request is the record's (dbg_req) */
	if (!(how & CHECK_LATER_CANARY) && !dbg_canary_at(p, dbg_hdr(p)->req)) {
		mem_report_bad(pool, op, p, BAD_OVERFLOW, site);
		if (!(how & CHECK_TRUST_RECORD))    /* the lock is held */
			mem_damage_fix(pool, op, p);
	}
#endif
	return 1;
bad:
	mem_report_bad(pool, op, p, kind, site);
	return 0;
}

/* --- operations ---------------------------------------------------------- */

static inline int too_big(size_t size)
{
	return size > MEM_MAX_REQUEST - DBG_EXTRA - MEM_ALIGN;
}

/* What the MEMDBG record keeps of the backend's size (debug.h); nothing
 * is read without MEMDBG. */
static inline uint64_t backend_usable(struct mem_pool *pool, void *payload)
{
	return MEMDBG ? POOL_BE(pool)->usable_size(pool->st, payload) : 0;
}

/* A locked allocation is about to call the backend (journal_open) or has
 * written its record (journal_close): see heap_recovered(). */
static inline void journal_open(struct mem_pool *pool)
{
	if (!pool->jr)
		return;
	POOL_BE(pool)->last(pool->st, &pool->jr->seq);
	MEM_KILL_FENCE();
	pool->jr->allocating = 1;
	MEM_KILL_FENCE();
}

static inline void journal_close(struct mem_pool *pool)
{
	MEM_KILL_FENCE();
	if (pool->jr)
		pool->jr->allocating = 0;
}

/* --- the free queue (fqueue.h): what malloc and free both ask ----------- */

/* Is p waiting?  One load; the slots only on a bucket hit. */
static inline int fq_holds(const struct mem_fqueue *q, const void *p)
{
	if (!q->in[fq_bucket(p)])
		return 0;
	for (unsigned i = 0; i < FQ_SLOTS; i++)
		if (q->p[i] == p)
			return 1;
	return 0;
}

/* Empty slot i, giving back what it held. */
static inline void *fq_take(struct mem_fqueue *q, unsigned i)
{
	void *p = q->p[i];
	q->p[i] = NULL;
	q->len--;
	q->in[fq_bucket(p)]--;
	return p;
}

/* The heap just handed out p, which waits in the free queue: that free
 * was made on memory already free (a double free, or a pointer to where
 * a fragment now starts).  Its report is made now, and the entry dropped:
 * freeing it later would free the new owner's fragment. */
static void fq_handed_out(struct mem_pool *pool, void *p)
{
	struct mem_fqueue *q = &pool->fq;
	for (unsigned i = 0; i < FQ_SLOTS; i++)
		if (q->p[i] == p)
			mem_report_bad(pool, "free", fq_take(q, i), BAD_DOUBLE,
				q->site[i]);
}

/* malloc without a report: NULL means the heap has no room.  Inlined:
 * it is the whole of the pkg malloc path (no lock, no cache). */
static inline __attribute__((always_inline)) void *alloc_core(struct mem_pool *pool, size_t size,
		const struct mem_site *site)
{
	size_t req = size ? size : 1; /* malloc(0): a unique minimum fragment */
	if (too_big(size) || refused(pool))
		return NULL;
	journal_open(pool);
	uint64_t peak = fq_peak_before(pool);
	void *payload = POOL_BE(pool)->malloc(pool->st, req + DBG_EXTRA);
	void *user = NULL;
	if (payload) {
		uint64_t usable = backend_usable(pool, payload);
#if MEMDBG
		mem_heap_taken(pool, payload, usable, site);
#endif
		user = dbg_on_alloc(payload, req, site, usable);
		if (!MEMDBG && pool->cache)
			cache_taken(user);
	}
	journal_close(pool);
	if (user)
		track_alloc(pool, user, req);
	if (!MEMDBG && pool->fq.len && user &&
	    pool->fq.in[fq_bucket(user)])
		fq_handed_out(pool, user);
	fq_peak_after(pool, peak);
	return user;
}

void *mem_malloc_unsafe(struct mem_pool *pool, size_t size,
		const struct mem_site *site)
{
	void *p = alloc_core(pool, size, site);
	if (!p)
		mem_oom_report(pool, size, site, pool->lock != NULL);
	return p;
}

/* Hand a fragment that passed mem_used_fragment() back to the backend,
 * whose free makes the backend's own checks of a used block on the
 * headers it reads anyway (backend.h).  0 when it refused p: then nothing
 * changed but the record's mark, which is taken back (never under
 * memcheck: see free_precheck). */
static inline __attribute__((always_inline))
int release(struct mem_pool *pool, void *p, const struct mem_site *site)
{
	struct mem_journal *jr = pool->jr;
	uint64_t usable = dbg_record_usable(p);
	journal_name(jr, JR_RELEASING, p);
	dbg_on_free(p, site);
	track_free(pool, p);
	in_backend(jr, 1);
	int rc = mem_heap_free(pool, p, usable, 1);
	in_backend(jr, 0);
	journal_name(jr, JR_RELEASING, NULL);
	if (rc != MEM_BLOCK_USED) {
		dbg_on_refused(p);
		return 0;
	}
	return 1;
}

/* MEMDBG: what mem_used_fragment(CHECK_BY_FREE) passes without a word,
 * in one look at the record's line and the canary's: p in the pool and
 * aligned, its tag live, the canary after its req intact.  Anything else
 * takes mem_used_fragment(), which says what is wrong. */
static inline int free_passes(struct mem_pool *pool, void *p)
{
#if MEMDBG
	return (char *)p >= pool->start + DBG_HEAD && (char *)p < pool->end &&
		!((uintptr_t)p % MEM_ALIGN) &&
		dbg_hdr(p)->tag == ((uint64_t)(uintptr_t)p ^ DBG_USED) &&
		dbg_canary_at(p, dbg_hdr(p)->req);
#else
	(void)pool; (void)p;
	return 0;
#endif
}

/* What free checks before the backend's free: 1 passed, -1 reported, 0
 * not in range (the full check reports it).  With nothing to add to the
 * backend's check (release builds, pools without caches), only the range.
 * shared 0: the caller knows the pool has no caches (and no lock). */
static inline int free_precheck(struct mem_pool *pool, void *p,
		const struct mem_site *site, int shared)
{
	if (track_watching())
		return mem_used_fragment(pool, "free", p, site, CHECK_ALL) ?
			1 : -1;
	if (MEMDBG && free_passes(pool, p))
		return 1;
	if (MEMDBG || (shared && pool->cache))
		return mem_used_fragment(pool, "free", p, site, CHECK_BY_FREE) ?
			1 : -1;
	return (char *)p >= pool->start && (char *)p < pool->end &&
		(uintptr_t)p % MEM_ALIGN == 0;
}

/* The backend's check is made once, by its free; a refusal takes the full
 * check, which says why (or, MEMDBG, rebuilds a header an overflow broke,
 * after which the fragment is freed).  shared 0: a pool without lock or
 * caches, which nothing declares broken (only a lock's owner-death
 * recovery does: heap_recovered). */
static inline __attribute__((always_inline))
void free_unsafe(struct mem_pool *pool, void *p, const struct mem_site *site,
		int shared)
{
	if (p && shared && refused(pool))
		return;
	int pre = p ? free_precheck(pool, p, site, shared) : -1;
	if (__builtin_expect(pre < 0 || (pre > 0 && release(pool, p, site)), 1))
		return;
	if (mem_used_fragment(pool, "free", p, site, CHECK_ALL))
		release(pool, p, site);
}

void mem_free_unsafe(struct mem_pool *pool, void *p, const struct mem_site *site)
{
	if (p && slab_free(pool, p, site))
		return;
	free_unsafe(pool, p, site, 1);
}

size_t mem_user_size(struct mem_pool *pool, void *p)
{
#if MEMDBG
	(void)pool;
	return dbg_hdr(p)->req;
#else
	struct slab_span *s = slab_of(pool, p);
	return s ? s->osize : POOL_BE(pool)->usable_size(pool->st, p);
#endif
}

/* realloc (size > 0) of p in span s: reported and NULL when p is no
 * object handed out; kept when the new size has its class, else moved to
 * a span or the heap. */
static void *realloc_small(struct mem_pool *pool, struct slab_span *s,
		void *p, size_t size, const struct mem_site *site, int *oom)
{
	int i = slab_object(pool, s, p, "realloc", site);
	if (i < 0)
		return NULL;
	if (size <= SLAB_MAX && slab_class(size) == s->cls)
		return p;
	void *q = small_malloc(pool, size);
	if (!q)
		q = alloc_core(pool, size, site);
	*oom = !q;
	if (q) {
		memcpy(q, p, s->osize < size ? s->osize : size);
		slab_put(pool, s, p, (unsigned)i);
	}
	return q;
}

/* Realloc, written once: in place when the backend can, else move.  On
 * failure p stays valid; *oom says whether memory was what lacked. */
static void *realloc_core(struct mem_pool *pool, void *p, size_t size,
		const struct mem_site *site, int *oom)
{
	*oom = 0;
	if (!p) {
		void *q = small_malloc(pool, size);
		if (!q)
			q = alloc_core(pool, size, site);
		*oom = !q;
		return q;
	}
	if (!size) {
		mem_free_unsafe(pool, p, site);
		return NULL;
	}
	struct slab_span *sp = slab_of(pool, p);
	if (sp)
		return realloc_small(pool, sp, p, size, site, oom);
	if (refused(pool) ||
	    !mem_used_fragment(pool, "realloc", p, site, CHECK_ALL))
		return NULL;
	size_t old = mem_user_size(pool, p);
	uint64_t was = dbg_record_usable(p);
	void *q = NULL;
	track_reshape(pool, p, old < size ? old : size);
	struct mem_journal *jr = pool->jr;
	journal_name(jr, JR_RESIZING, p);
	in_backend(jr, 1);
	uint64_t peak = fq_peak_before(pool);
	int rc = too_big(size) ? -1 : POOL_BE(pool)->resize(pool->st,
		dbg_payload(p), size + DBG_EXTRA);
	in_backend(jr, 0);
	fq_peak_after(pool, peak);
	if (rc == 0) {
		uint64_t now = backend_usable(pool, dbg_payload(p));
		if (now != was)  /* a block that kept its size joined nothing */
			mem_heap_changed(pool, p, was);
		track_resize(pool, p, old, size);
		dbg_on_resize(p, size, now);
	}
	journal_name(jr, JR_RESIZING, NULL);
	if (rc == 0)
		return p;
	track_slack(pool, p, old);
	if ((q = alloc_core(pool, size, site))) {
		memcpy(q, p, old < size ? old : size);
		release(pool, p, site);
	}
	*oom = !q;
	return q;
}

void *mem_realloc_unsafe(struct mem_pool *pool, void *p, size_t size,
		const struct mem_site *site)
{
	int oom;
	void *q = realloc_core(pool, p, size, site, &oom);
	if (oom)
		mem_oom_report(pool, size, site, pool->lock != NULL);
	return q;
}

/* The locked entry points.  Shm pools with per-process caches try the
 * cache first (cache.c) and, before failing for lack of memory, drain
 * every cache and try once more: parked memory is never the reason for a
 * failure.  With caches, a locked allocation may be a new peak of what
 * callers hold: the heap's real_used is read in the section and given to
 * cache_peak() after it. */
uint64_t mem_heap_real_used(struct mem_pool *pool)
{
	struct mem_info mi;
	POOL_BE(pool)->info(pool->st, &mi);
	return mi.real_used;
}

struct find_used {
	void *payload;
	int used;
};

static int find_used_block(const struct mem_block *b, void *arg)
{
	struct find_used *f = arg;
	if (b->payload != f->payload)
		return (char *)b->payload > (char *)f->payload;
	f->used = b->used;
	return 1;
}

int mem_heap_used_at(struct mem_pool *pool, void *payload)
{
	struct find_used f = { payload, 0 };
	POOL_BE(pool)->walk(pool->st, find_used_block, &f);
	return f.used;
}

/* The heap's free bytes, for the drain's "could it help" (lock held). */
static uint64_t heap_free(struct mem_pool *pool)
{
	struct mem_info mi;
	if (!pool->cache)
		return 0;
	POOL_BE(pool)->info(pool->st, &mi);
	return mi.free_size;
}

/* A failed request of size bytes: drain the caches if that may help. */
static size_t drain_for(struct mem_pool *pool, size_t size, uint64_t hfree)
{
	if (!pool->cache) {     /* pkg: the queue, and empty spans */
		size_t n = pool->fq.len;
		fq_drain(pool);
		return n + (!MEMDBG && pool->slab ? slab_trim(pool) : 0);
	}
	/* what waits in the shm queues is parked first, then drained with
	 * the rest of the caches */
	size_t n = MEMDBG ? 0 : cache_fq_settle_all(pool);
	if (too_big(size))
		return n;
	track_open(pool);
	n += cache_drain_for(pool, (uint64_t)size + DBG_EXTRA +
		POOL_BE(pool)->frag_overhead, hfree);
	track_close(pool);
	return n;
}

/* The end of a locked allocation or resize (lock held): with caches, the
 * heap's real_used for cache_peak() after the section and the room word;
 * a request the heap had no memory for notes the heap's free bytes for
 * drain_for().  Releases the lock. */
static inline __attribute__((always_inline))
void section_close(struct mem_pool *pool, int grew, int oom, uint64_t *hfree)
{
	uint64_t heap_real = 0;
	if (grew && pool->cache)
		heap_real = mem_heap_real_used(pool);
	else if (oom)
		*hfree = heap_free(pool);
	if (pool->cache)
		cache_room(pool);
	pool_unlock(pool);
	if (heap_real)
		cache_peak(pool, heap_real);
}

static inline __attribute__((always_inline))
void *malloc_section(struct mem_pool *pool, size_t size,
		const struct mem_site *s, uint64_t *hfree)
{
	pool_lock(pool);
	void *p = alloc_core(pool, size, s);
	section_close(pool, p != NULL, p == NULL, hfree);
	return p;
}

void *mem_malloc(struct mem_pool *pool, size_t size, const struct mem_site *s)
{
	void *p = NULL;
	uint64_t hfree = 0;
	if ((p = small_malloc(pool, size)))
		return p;
	if (pool->cache) {
		track_open(pool);
		p = cache_malloc(pool, size, s);
		track_close(pool);
		if (p)
			return p;
	}
	p = malloc_section(pool, size, s, &hfree);
	if (!p && drain_for(pool, size, hfree))
		p = malloc_section(pool, size, s, &hfree);
	if (!p)
		mem_oom_report(pool, size, s, 0);
	else if (!MEMDBG && pool->cache)
		cache_fq_handed_out(pool, p);
	return p;
}

/* --- the free queue (fqueue.h): push and drain ---------------------------- */

/* A free of a pool without caches or lock, at once. */
static inline __attribute__((always_inline)) void free_private(struct mem_pool *pool, void *p,
		const struct mem_site *s)
{
	track_open(pool);
	free_unsafe(pool, p, s, 0);
	track_close(pool);
}

/* May p wait in the queue?  Not when it lies within FQ_NEAR of the free
 * before (its lines are in the cache); only where the backend's prefetch
 * may read below it (backend.h); anything else is freed at once, and
 * reported there if it is no fragment.  mem_safety = 0 wants the abort in
 * the stack of the bad free: no queue then. */
static inline int fq_takes(struct mem_pool *pool, const void *p)
{
	uintptr_t last = pool->fq.last;
	pool->fq.last = (uintptr_t)p;
	return !MEMDBG && mem_free_queue && mem_safety && !track_watching() &&
		(uintptr_t)p - last + FQ_NEAR > 2 * FQ_NEAR &&
		(const char *)p >= pool->start + 32 &&
		(const char *)p < pool->end && !((uintptr_t)p % MEM_ALIGN);
}

static void fq_drain(struct mem_pool *pool)
{
	struct mem_fqueue *q = &pool->fq;
	if (!q->len)
		return;
	for (unsigned k = 0; k < FQ_SLOTS; k++) {
		void *p = q->p[(q->n + k) % FQ_SLOTS];
		if (p)
			POOL_BE(pool)->prefetch(pool->st, p);
	}
	for (unsigned k = 0; k < FQ_SLOTS; k++) {     /* oldest first */
		unsigned i = (q->n + k) % FQ_SLOTS;
		if (q->p[i])
			free_private(pool, fq_take(q, i), q->site[i]);
	}
}

void mem_fq_drain_pkg(struct mem_pool *pool)
{
	fq_drain(pool);
	if (!MEMDBG && pool->slab)
		slab_trim(pool);
}

/* Drain when p waits: its realloc or second free is then made on a
 * freed fragment, and says so.  1: it waited. */
static inline int fq_settle(struct mem_pool *pool, const void *p)
{
	if (!pool->fq.len || !fq_holds(&pool->fq, p))
		return 0;
	mem_fq_drain_pkg(pool);
	return 1;
}

/* Queue p; free the entry FQ_SLOTS pushes old (fqueue.h's stages). */
static inline void fq_push(struct mem_pool *pool, void *p,
		const struct mem_site *s)
{
	struct mem_fqueue *q = &pool->fq;
	__builtin_prefetch((char *)p - 16, 1);
	unsigned i = q->n++ % FQ_SLOTS;
	void *old = q->p[i] ? fq_take(q, i) : NULL;
	const struct mem_site *os = q->site[i];
	q->p[i] = p;
	q->site[i] = s;
	q->len++;
	q->in[fq_bucket(p)]++;
	void *mid = q->p[(i - FQ_AHEAD) % FQ_SLOTS];
	if (mid)
		POOL_BE(pool)->prefetch(pool->st, mid);
	if (old)
		free_private(pool, old, os);
}

void mem_free_locked(struct mem_pool *pool, void *p,
		const struct mem_site *s)
{
	pool_lock(pool);
	free_unsafe(pool, p, s, 1);
	if (pool->cache)
		cache_room(pool);
	pool_unlock(pool);
}

/* A pool without caches or lock (pkg) asks that once, not on each step. */
void mem_free(struct mem_pool *pool, void *p, const struct mem_site *s)
{
	if (!p)
		return;
	if (!pool->cache && !pool->lock) {
		if (slab_free(pool, p, s))
			return;
		if (!fq_settle(pool, p) && fq_takes(pool, p))
			fq_push(pool, p, s);
		else
			free_private(pool, p, s);
		return;
	}
	if (pool->cache) {
		void *late = NULL;
		const struct mem_site *ls = NULL;
		track_open(pool);
		int queued = cache_fq_free(pool, p, s, &late, &ls);
		int parked = queued || cache_free(pool, p, s);
		track_close(pool);
		if (queued && late)     /* a mistake the queue let go: reported */
			mem_free_locked(pool, late, ls);
		if (parked)
			return;
	}
	mem_free_locked(pool, p, s);
}

/* Settle a waiting p of this process's shm queue: its realloc or
 * usable_size is then made on a freed fragment, and says so. */
static inline void cache_fq_settle_for(struct mem_pool *pool, const void *p)
{
	if (!MEMDBG && pool->cache && p && cache_fq_holds(pool, p))
		cache_fq_settle(pool);
}

void mem_fq_drain(struct mem_pool *pool)
{
	mem_fq_drain_pkg(pool);
	if (!MEMDBG && pool->cache)
		cache_fq_settle_all(pool);
}

static void *realloc_section(struct mem_pool *pool, void *p, size_t size,
		const struct mem_site *s, int *oom, uint64_t *hfree)
{
	pool_lock(pool);
	void *q = realloc_core(pool, p, size, s, oom);
	section_close(pool, q != NULL, *oom, hfree);
	return q;
}

static void *realloc_locked(struct mem_pool *pool, void *p, size_t size,
		const struct mem_site *s, int free_on_fail)
{
	int oom, done;
	uint64_t hfree = 0;
	fq_settle(pool, p);
	cache_fq_settle_for(pool, p);
	if (pool->cache && p && size) {
		track_open(pool);
		void *q = cache_realloc(pool, p, size, s, &done);
		track_close(pool);
		if (done)   /* served by the cache path, or reported there */
			return q;
	}
	void *q = realloc_section(pool, p, size, s, &oom, &hfree);
	if (oom && drain_for(pool, size, hfree))
		q = realloc_section(pool, p, size, s, &oom, &hfree);
	if (!MEMDBG && pool->cache && q && q != p)
		cache_fq_handed_out(pool, q);
	if (oom) {
		mem_oom_report(pool, size, s, 0);
		if (free_on_fail)
			mem_free(pool, p, s);
	}
	return q;
}

void *mem_realloc(struct mem_pool *pool, void *p, size_t size,
		const struct mem_site *s)
{
	return realloc_locked(pool, p, size, s, 0);
}

void *mem_reallocxf(struct mem_pool *pool, void *p, size_t size,
		const struct mem_site *s)
{
	return realloc_locked(pool, p, size, s, 1);
}

void *mem_mallocxz(struct mem_pool *pool, size_t size, const struct mem_site *s)
{
	void *p = mem_malloc(pool, size, s);
	if (p)
		memset(p, 0, size);
	return p;
}

/* --- accessors ----------------------------------------------------------- */

/* The heap's counters under the lock; with caches, parked blocks are
 * then taken out of them (cache_info(), without the lock).  No liveness
 * probing here: a dead worker's slot is reclaimed on shm_cache_reclaim(),
 * when a slot is wanted, and before a request fails. */
void mem_pool_info(struct mem_pool *pool, struct mem_info *mi)
{
	mem_fq_drain(pool);     /* pkg's queue, or every shm queue */
	pool_lock(pool);
	POOL_BE(pool)->info(pool->st, mi);
	pool_unlock(pool);
	if (pool->cache)
		cache_info(pool, mi);
	if (!MEMDBG && pool->slab)
		slab_info(pool->slab, mi);
}

uint64_t mem_pool_available(struct mem_pool *pool)
{
	struct mem_info mi;
	mem_pool_info(pool, &mi);
	return mi.free_size;
}

size_t mem_usable_size(struct mem_pool *pool, const void *p)
{
	if (!p)
		return 0;
	fq_settle(pool, p);
	cache_fq_settle_for(pool, p);
	pool_lock(pool);
	size_t n = mem_used_fragment(pool, "usable_size", (void *)p, NULL,
			CHECK_ALL) ?
		mem_user_size(pool, (void *)p) : 0;
	pool_unlock(pool);
	return n;
}

const char *mem_pool_backend(struct mem_pool *pool)
{
	return POOL_BE(pool)->long_name;
}

void mem_pool_range(struct mem_pool *pool, const void **start, uint64_t *size)
{
	*start = pool->start;
	*size = (uint64_t)(pool->end - pool->start);
}

int mem_pool_contains(struct mem_pool *pool, const void *p)
{
	return pool && (const char *)p >= pool->start &&
		(const char *)p < pool->end;
}

void mem_pool_lock(struct mem_pool *pool)
{
	mem_fq_drain_pkg(pool);
	pool_lock(pool);
}

void mem_pool_unlock(struct mem_pool *pool)
{
	pool_unlock(pool);
}
