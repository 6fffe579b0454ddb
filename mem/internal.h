/*
 * internal.h - what the files of libsrmem share with each other, grouped by
 * the file that defines it.  Nothing here is part of the public API.
 */
#ifndef SRMEM_INTERNAL_H
#define SRMEM_INTERNAL_H

#include "fqueue.h"
#include <stdarg.h>
#include <stddef.h>

#include "backend.h"
#include "lock.h"
#include "mem.h"

/* The allocation a locked section is making, for the taker of a dead
 * holder's lock (mem.c): the backend's last() seq before it, and whether it
 * is between the backend's malloc and the MEMDBG record.  On the lock's
 * own cache line (shm.c), which every locked call writes anyway. */
struct mem_journal {
	uint64_t seq;           /* the backend's last() seq before */
	uint32_t allocating;
	uint32_t in_backend;    /* in a backend free or resize */
	void *releasing;        /* the fragment a free is giving back: its
	                         * MEMDBG record says freed before the backend
	                         * has it (mem.c release_recover) */
	void *resizing;         /* the fragment a realloc resizes in place:
	                         * its MEMDBG record is rewritten after the
	                         * backend's resize (mem.c resize_recover) */
};

/* A pool: one backend over one region.  It lives at the start of its own
 * region (so the shm pool struct is itself shared), followed by the lock
 * for shm, then the region handed to the backend. */
struct mem_pool {
	const struct mem_backend *be;
	void *st;               /* backend state, inside [start, end) */
	struct mem_lock *lock;  /* NULL for pkg: one process, no lock */
	char *start, *end;      /* what the backend manages */
	const char *name;       /* "pkg" or "shm" (static string) */
	struct mem_cache *cache; /* shm: per-process caches, or NULL */
	struct lockstat_tab *lstat; /* shm: the lock's counters, or NULL */
	/* shm: the lock's releases so far, on the lock's own cache line
	 * (written by the holder only); NULL without a lock */
	uint64_t *sections;
	int broken;             /* structure beyond repair after a death */
	struct mem_journal *jr; /* shm: beside the lock; pkg: NULL */
	struct mem_fqueue fq;   /* pkg, MEMDBG=0: frees in flight (fqueue.h) */
	struct mem_slab *slab;  /* pkg, MEMDBG=0, pkg_slab: small objects in
	                         * spans (slab.h); else NULL */
};

/* Set once, by the process that found the structure beyond repair. */
static inline int mem_pool_broken(const struct mem_pool *pool)
{
	return __atomic_load_n(&pool->broken, __ATOMIC_ACQUIRE);
}

/* The backend of a pool.  A measurement build (-DMEM_DIRECT=1, see
 * utils/membench/indirection.sh) pins it to MEMMNG's table so that, with
 * -flto, every backend call is a direct call; doc/PERFORMANCE.md gives what
 * the indirection costs.  Such a build serves MEMMNG's backend only. */
#if MEM_DIRECT
#define POOL_BE(pool) ((void)(pool), MEM_DIRECT_TABLE)
#if MEMMNG == 0
#define MEM_DIRECT_TABLE (&mem_fm_backend)
#elif MEMMNG == 1
#define MEM_DIRECT_TABLE (&mem_qm_backend)
#else
#define MEM_DIRECT_TABLE (&mem_tlsf_backend)
#endif
#else
#define POOL_BE(pool) ((pool)->be)
#endif

/* The usable size of the used block at payload as its own header says
 * (own_usable, backend.h), or 0 when that header calls it no used block;
 * a backend without the operation answers through block_state(), which
 * may read the next header too. */
static inline uint64_t mem_own_usable(struct mem_pool *pool,
		const void *payload)
{
	const struct mem_backend *be = POOL_BE(pool);
	if (be->own_usable)
		return be->own_usable(pool->st, payload);
	return be->block_state(pool->st, payload) == MEM_BLOCK_USED ?
		be->usable_size(pool->st, payload) : 0;
}

/* --- mem.c -------------------------------------------------------------- */
/* Find a backend by its short or long name; NULL picks MEMMNG's.  Unknown
 * names are logged with the list of valid ones and return NULL. */
const struct mem_backend *mem_backend_find(const char *name);
/* Lay a pool over [region, region + size): the struct at the start, then
 * `lock` (if any, already in the region), then the heap.  Returns 0/-1. */
int mem_pool_setup(struct mem_pool *pool, const char *name, char *heap,
		char *end, const char *backend, struct mem_lock *lock);

/* Is p a used fragment of pool?  If not, report it (op names the call,
 * site the caller) and return 0; mem_safety applies. */
/* How much mem_used_fragment() looks at (bits). */
enum {
	CHECK_ALL = 0,
	CHECK_TRUST_RECORD = 1, /* MEMDBG: the record's tag vouches for p */
	CHECK_LATER_CANARY = 2, /* MEMDBG: the end canary is checked later */
	CHECK_BY_FREE = 4,      /* the backend's free() checks its headers */
	/* mem_own_usable() has passed p (its own header): the next header
	 * is left to whoever frees the block into the heap and joins */
	CHECK_OWN_HEADER = 8,
};
int mem_used_fragment(struct mem_pool *pool, const char *op, void *p,
		const struct mem_site *site, int how);
/* Bytes the caller may use at p (what it asked for, with MEMDBG). */
size_t mem_user_size(struct mem_pool *pool, void *p);
enum mem_bad { BAD_OUTSIDE, BAD_MIDDLE, BAD_DOUBLE, BAD_OVERFLOW, BAD_SPAN };
/* The one report of misuse: what, where, every call site known. */
/* pkg's free queue (fqueue.h) drained and its slab's empty spans given
 * back (slab.c); mem_fq_drain() also settles this process's shm queue,
 * which needs its slot lock (not under a lock). */
void mem_fq_drain_pkg(struct mem_pool *pool);
/* The locked path of a free, every check and report (no lock held but a
 * slot lock, which comes first). */
void mem_free_locked(struct mem_pool *pool, void *p, const struct mem_site *s);
void mem_report_bad(struct mem_pool *pool, const char *op, const void *p,
		enum mem_bad kind, const struct mem_site *site);
/* The pool's lock as every entry point takes it: a dead owner's heap is
 * checked before the caller goes on (mem.c). */
void mem_pool_lock(struct mem_pool *pool);
void mem_pool_unlock(struct mem_pool *pool);
/* The heap's own real_used (parked shm blocks included); lock held. */
uint64_t mem_heap_real_used(struct mem_pool *pool);
/* Lock sections of the pool so far (every release counts one; 0 for a
 * pool without a lock): a diagnostic holding the lock compares it with
 * what it saw at its last hold to learn whether anyone else held it. */
uint64_t mem_pool_sections(struct mem_pool *pool);
/* Recovery (lock held, heap rebuilt): is there a used block at payload?
 * The physical chain decides, walked from the start: a header that a
 * dead join swallowed may still read "used" to block_state().  O(blocks). */
int mem_heap_used_at(struct mem_pool *pool, void *payload);

/* --- damage.c ------------------------------------------------------------ */
/* A walk that survives broken headers: walk_from() in pieces, and at a
 * header that fails its checks, one broken block handed to fn (used, with
 * the record's size, when the MEMDBG record is intact; else a hole up to
 * the next block found) and on from there.  fix: the checker's mode, which
 * reports each broken header (naming the overflowing fragment) and rebuilds
 * it from the record where it can. */
struct mem_walker {
	struct mem_pool *pool;
	mem_block_fn fn;
	void *arg;
	int fix;
	const char *op;                 /* names the reports in fix mode */
	struct mem_block last;          /* last block visited, or none */
	uint64_t visited;
	unsigned damaged, holes;        /* broken headers met; of them holes */
};
/* As walk_from() (backend.h), max blocks at most, from *from; never -1. */
int mem_walker_run(struct mem_walker *w, void **from, uint64_t max);
/* MEMDBG: user's record is live but the backend refuses it or its canary
 * is broken: report and rebuild the headers an overflow broke around it;
 * returns how many (mem_safety applies after the reports). */
int mem_damage_fix(struct mem_pool *pool, const char *op, void *user);

/* --- freed.c ------------------------------------------------------------ */
/* The fill's fast paths, mem_heap_free() and mem_heap_taken(): freed.h. */
/* "pid P (rank R)" for an owner word half (debug.h). */
const char *mem_owner_str(uint32_t owner, char *buf, size_t len);
#if MEMDBG
/* After a rebuild: a split or a cut the dead holder left half done may
 * have written a header into the fill of the free block it was cutting
 * (the one holding the block last() names): that record is disarmed. */
void mem_freed_after_rebuild(struct mem_pool *pool);
#endif
/* The heap changed around user (usable bytes before the change; MEMDBG,
 * else nothing): disarm records of it and of its old successor that are
 * no longer free blocks. */
void mem_heap_changed(struct mem_pool *pool, void *user, uint64_t usable);
/* A rebuild joins free block b (arg: its pool) into the block before it:
 * b's record, armed when b was freed, is disarmed (an armed record only
 * ever sits at a free block's start).  Returns 0. */
int mem_freed_swallowed(const struct mem_block *b, void *arg);

/* --- oom.c -------------------------------------------------------------- */
/* Report a failed allocation (rate-limited per call site); locked: the
 * caller holds the pool's lock. */
void mem_oom_report(struct mem_pool *pool, size_t size,
		const struct mem_site *site, int locked);

/* --- status.c ----------------------------------------------------------- */
#if MEMDBG
/* REC_BUSY: a cache is rewriting it (debug.h): nothing to say. */
enum mem_rec { REC_LIVE, REC_OVERRUN, REC_PARKED, REC_BROKEN, REC_BUSY };
/* What the record of a block the backend calls used says (racing a shm
 * cache safely: status.c). */
enum mem_rec mem_used_record(const void *user, uint64_t usable);
#endif

/* The lock holds of one diagnostic: each timed into st (sections,
 * longest, total), and st.changes counts the lock sections of others
 * between them.  locked = 0: the caller holds the lock throughout. */
struct mem_holds {
	struct mem_scan_stats st;
	uint64_t expect;        /* the section count if nobody else held it */
	uint64_t t0;
	int locked;
};
/* Returns 1 when others held the lock since our last hold. */
int mem_hold_begin(struct mem_pool *pool, struct mem_holds *h);
void mem_hold_end(struct mem_pool *pool, struct mem_holds *h);

/* A walk of the blocks in pieces, each under one hold of the lock: the
 * next piece goes on after the last block visited, or, when the heap
 * changed meanwhile, from the newest of the last MEM_SCAN_ANCHORS blocks
 * that still is one, skipping what was seen (status.c has the rules).
 * visit runs under the lock for every block not seen before and returns
 * non-zero when this piece has done enough.  fix_op: the damage walker's
 * fix mode under that name (damage.c), or NULL. */
#define MEM_SCAN_ANCHORS 16
struct mem_chunked {
	struct mem_pool *pool;
	mem_block_fn visit;
	void *arg;
	void *cursor;                   /* payload to go on from; NULL: first */
	int done;
	const char *floor;              /* skip blocks whose payload is below */
	void *anchor[MEM_SCAN_ANCHORS]; /* payloads of the last blocks visited */
	uint64_t visits, resyncs;
	unsigned stalls, restarts;
	struct mem_walker walker;       /* carries the walk over damage */
};
void mem_chunked_init(struct mem_chunked *k, struct mem_pool *pool,
		mem_block_fn visit, void *arg, const char *fix_op);
/* One piece, the lock held: at most max block visits; changed: the heap
 * may have changed since the last piece (the resume point is checked).
 * Returns 0, visit's non-zero, -1 or -2 (as mem_scan()); sets done at the
 * end of the heap. */
int mem_chunked_step(struct mem_chunked *k, uint64_t max, int changed);

/* --- check.c ------------------------------------------------------------ */
/* mem_check() without the lock (the caller holds it). */
int mem_check_unsafe(struct mem_pool *pool);
int mem_check_unsafe_ex(struct mem_pool *pool, struct mem_check_result *res);
/* A site's module as reports name it (a record without one is "core"). */
static inline const char *mem_site_mod(const struct mem_site *s)
{
	return s->mod ? s->mod : "core";
}

/* --- dump.c ------------------------------------------------------------- */
/* The calling process is the main one: its exit and SIGUSR1 summaries
 * include shm (shm_init() calls it; else mem_summary_install()). */
void mem_summary_set_main(void);

/* --- scratch.c ---------------------------------------------------------- */
/* Zeroed memory of its own mapping for diagnostic results (NULL logged). */
void *mem_scratch_alloc(size_t len);
void mem_scratch_free(void *p);

/* --- cache.c ------------------------------------------------------------ */
int cache_is_parked(const void *user);
void cache_taken(void *user);
/* Global lock taken over: was its dead holder in the backend for a
 * cache (a flush's free, a refill's cut)? */
int cache_in_backend(struct mem_pool *pool);
/* The global lock was taken over (held): finish a flush that was handing
 * a block to the backend when its process died (cache.c). */
void cache_recover(struct mem_pool *pool);
/* Where a chain moving between a slot and the depot is (cache.c,
 * depot_push / depot_pop): a test sets cache_depot_probe to stop a
 * process there; NULL (the default) costs one load per depot move. */
enum { DEPOT_PUSHING, DEPOT_PUSHED, DEPOT_TAKING, DEPOT_TAKEN };
extern void (*cache_depot_probe)(unsigned point);

/* --- killpoint.c --------------------------------------------------------- */
/* MEM_KILL_POINTS builds (the kill sweep) only: SIGKILL at this numbered
 * kill point (MEM_KILL_FENCE, MEM_KILL_POINT) of this process, 0 never;
 * the points it has passed so far. */
extern unsigned long mem_kill_at;
extern unsigned long mem_kill_passed;
/* Where point n is, for n below the length: its fence's file and line,
 * the call's return address (one per inlined copy of the fence) and a
 * hash of the call chain that reached it.  The test's buffer, NULL by
 * default. */
struct mem_kill_site {
	const char *file;
	int line;
	const void *at;
	uint64_t ctx;
};
extern struct mem_kill_site *mem_kill_trace;
extern unsigned long mem_kill_trace_len;
/* 1 in a MEM_KILL_POINTS build, else 0. */
int mem_kill_points_built(void);

/* --- log.c -------------------------------------------------------------- */
#define MEM_L_CRIT 2
#define MEM_L_ERR 3
#define MEM_L_WARN 4
#define MEM_L_INFO 6
#define MEM_L_DBG 7
void mem_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "file:func:line [module]" or "no call site" into buf. */
const char *mem_site_str(const struct mem_site *s, char *buf, size_t len);
/* The same for a site pointer read from a fragment's record, which may be
 * stale or overwritten: read through the kernel, never followed blindly. */
const char *mem_record_site_str(const struct mem_site *s, char *buf,
		size_t len);

/* pages.c: transparent huge pages for a pool's region (setting: its
 * pkg_huge_pages or shm_huge_pages; shared: the shm segment).  1 when the
 * region was asked for them and the kernel gives them. */
int mem_pages_huge(const char *pool, char *region, size_t size, int setting,
		int shared);
/* A private anonymous region, 2 MiB aligned when huge may be asked. */
void *mem_pages_map_private(size_t size, int huge);

#endif /* SRMEM_INTERNAL_H */
