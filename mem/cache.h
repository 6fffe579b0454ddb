/*
 * cache.h - per-process caches of small shm fragments, so that most
 * shm_malloc/shm_free calls never touch the global lock (see cache.c for
 * the design, its bounds and the figures that chose it).
 */
#ifndef SRMEM_CACHE_H
#define SRMEM_CACHE_H

#include <stddef.h>

#include "debug.h"
#include "lock.h"
#include "mem.h"

/* Classes of usable size: exact 16-byte classes below 512 bytes, then 8
 * per doubling up to 256 KiB. */
#define CACHE_EXACT 32
#define CACHE_BIG_STEPS 8
#define CACHE_BIG_DOUBLINGS 9
#define CACHE_CLASSES (CACHE_EXACT + CACHE_BIG_STEPS * CACHE_BIG_DOUBLINGS)
_Static_assert(((uint64_t)CACHE_EXACT * 16) << CACHE_BIG_DOUBLINGS ==
		256u << 10, "classes end at 256 KiB");
#define CACHE_SLOTS 64
#define CACHE_DEPOT_CHAINS 8    /* chains one class of the depot holds */
#define CACHE_FQ 8              /* a slot's free queue (MEMDBG=0), entries */
_Static_assert((CACHE_FQ & (CACHE_FQ - 1)) == 0, "queue index by mask");

struct mem_info;
struct mem_pool;
struct mem_site;

struct cache_class {
	void *head;             /* user pointers, linked through user + 8 */
	uint32_t count;
	uint32_t max;
};

/* One process's cache.  It is held by the owner on every operation and by
 * another process or thread only to drain it: when memory runs out, or
 * when the owner has died.  The thread that claimed it holds it with
 * plain stores (a fast hold: busy); every other holder takes the lock
 * (lock.h's polled lock) and, while fast holds are possible (fast set),
 * stops them first (req, fence.h; cache.c "Slot holds").  Lock order: a
 * slot, then the global lock. */
struct cache_slot {
	struct mem_plock lock;
	uint64_t fast;          /* the lock word (tid, gen) of the thread that
	                         * may hold the slot fast; 0: none.  Changes
	                         * only under the lock */
	uint32_t busy;          /* that thread is inside a fast hold */
	uint32_t req;           /* a locked holder has stopped fast holds */
	uint64_t owner;         /* pid | generation << 32 (owner.h); 0 free */
	uint64_t bytes;         /* backend usable bytes parked here, exact */
	uint64_t blocks;
	uint32_t evict;         /* next class to give back when over budget */
	uint32_t slack;         /* usable size of exact class c: 16 c + slack */
	void *moving;           /* the fragment last taken off a list (or cut
	                         * for the caller): on its way to the caller
	                         * or to held; slot_repair() decides */
#if !MEMDBG
	/* The free queue (cache.c "The free queue"): frees that wait while
	 * their lines are fetched; NULL entries are empty.  Debug builds do
	 * not queue (their free fills the fragment at the call). */
	void *fq[CACHE_FQ];
	const struct mem_site *fq_site[CACHE_FQ];
	void *fq_out;           /* the entry being taken out of fq */
	uint32_t fq_n;          /* pushes so far: the next entry is fq_n % */
	uint32_t fq_len;        /* entries waiting */
#endif
	struct cache_class cls[CACHE_CLASSES];
	/* Chains in flight live here, not on a stack, so that whoever takes
	 * the slot (or the global) lock over from a dead holder finishes them
	 * (cache.c, "Nothing lost"); all under the slot lock. */
	void *held;             /* parked fragments on their way to the heap */
	void *freeing;          /* held's head while the backend frees it */
	void *freeing_next;     /* and what follows it in held */
	uint64_t cut_seq;       /* the backend's last() seq before a cut */
	uint32_t cutting;       /* a refill's cut is in the backend */
	uint32_t depot_op;      /* a chain moves between this slot and the
	                         * depot: class + 1 | the slot word (held
	                         * or the class's list head) that names it
	                         * too for a moment; cache_recover() */
	void *resizing;         /* a live fragment whose MEMDBG record an
	                         * in-place realloc rewrites (no slot lock:
	                         * the owner's word; resize_repair()) */
	/* Its traffic with the heap (shm_cache_flow; drains and reclaimed
	 * are mem_cache's): written under the slot lock by the slow paths
	 * only, read without it (one word each, never torn). */
	struct shm_cache_flow flow;
} __attribute__((aligned(64)));

/* One class of the depot: whole chains of parked fragments (linked as
 * in a slot's list) that a flush left for any process's refill.  All
 * under the global lock; chain[0, n) are set, the rest NULL. */
struct cache_depot {
	void *chain[CACHE_DEPOT_CHAINS];
	void *tail[CACHE_DEPOT_CHAINS];         /* the chain's last fragment */
	uint64_t bytes[CACHE_DEPOT_CHAINS];
	uint32_t blocks[CACHE_DEPOT_CHAINS];
	uint32_t n;
};

struct mem_cache {
	uint64_t limit;         /* bytes one process may park */
	uint64_t park_limit;    /* what a free compares with: limit, or 0
	                         * while the heap is tight (cache.c, "Room");
	                         * written under the global lock when it
	                         * changes */
	uint64_t depot_limit;   /* bytes the depot may hold: 2 limit */
	uint64_t depot_bytes;   /* held there now (global lock) */
	uint64_t depot_blocks;
	uint64_t reclaimed;     /* blocks taken back from dead processes */
	uint64_t max_used;      /* peak of the callers' real_used (sampled) */
	uint32_t overhead;      /* the backend's frag_overhead */
	uint32_t nslots;        /* slots ever claimed are below this index */
	uint64_t drains;        /* drains made by failing requests */
	uint64_t room;          /* a heap with no free block of this size is
	                         * tight */
	struct cache_slot slot[CACHE_SLOTS];
	struct cache_depot depot[CACHE_CLASSES];
};

/* 1 (default): the thread that claims a slot holds it with plain stores
 * where the kernel can fence other processes (cache.c "Slot holds");
 * 0: every holder takes the slot lock.  Read when a slot is claimed. */
extern int cache_fast_holds;

/* The slots' traffic with the heap summed, with the pool's drains and
 * reclaimed fragments (shm_cache_flow). */
void cache_flow(struct mem_pool *pool, struct shm_cache_flow *f);

/* The byte budget of one process for a pool of pool_size bytes. */
size_t cache_limit(size_t pool_size);
/* Bytes to reserve in the segment for the cache. */
size_t cache_size(void);
/* overhead: the pool backend's frag_overhead (backend.h); pool_size: the
 * segment's size, which bounds the room the caches want (cache_room). */
void cache_init(struct mem_cache *c, size_t limit, unsigned overhead,
		size_t pool_size);
/* The fast paths.  NULL / 0: not served here, take the locked path. */
void *cache_malloc(struct mem_pool *pool, size_t size,
		const struct mem_site *site);
int cache_free(struct mem_pool *pool, void *p, const struct mem_site *site);
/* The free queue (MEMDBG=0, mem_free_queue): 1 when p was queued (or a
 * second free of a waiting p reported), 0 when it is not for the queue
 * (cache_free() then).  *late: an entry the queue let go that the cache
 * cannot take (a wild pointer, a double free made in another process):
 * the caller frees it on the locked path, which reports it, with *site. */
int cache_fq_free(struct mem_pool *pool, void *p, const struct mem_site *site,
		void **late, const struct mem_site **late_site);
/* Every entry of this process's queue freed now (a realloc or
 * usable_size of a waiting pointer); what the cache cannot take (a
 * mistake) goes through mem_free_locked(), which reports it. */
void cache_fq_settle(struct mem_pool *pool);
/* Every process's queue settled (each slot under its lock): before info
 * reads counters and before a walk, so that what waits reads as cached,
 * as it would without the queue.  Not with any lock held.  Returns the
 * entries settled. */
size_t cache_fq_settle_all(struct mem_pool *pool);
/* Does p wait in this process's queue? */
int cache_fq_holds(struct mem_pool *pool, const void *p);
/* The heap or a cache just handed out p, which waits in this process's
 * queue: that free was of memory already free (reported now, the entry
 * dropped, so that it never frees the new owner's fragment). */
void cache_fq_handed_out(struct mem_pool *pool, void *p);
/* Entries waiting in this process's queue (tests). */
unsigned cache_fq_len(struct mem_pool *pool);
void *cache_realloc(struct mem_pool *pool, void *p, size_t size,
		const struct mem_site *site, int *done);
/* Give every block parked in any cache (and a dead process's slot) back to
 * the heap; returns the number of blocks.  Not with the global lock held. */
size_t cache_drain_all(struct mem_pool *pool);
/* A request of need backend bytes failed with heap_free bytes free in the
 * heap: drain every cache if what is parked could meet it (rate-limited,
 * cache.c); returns the blocks given back, 0 when it did not drain. */
size_t cache_drain_for(struct mem_pool *pool, uint64_t need,
		uint64_t heap_free);
/* The global lock is held and the heap just changed: is it tight now
 * (no free block of the room the caches want), or roomy again? */
void cache_room(struct mem_pool *pool);
/* Free the slots of dead processes; returns blocks returned to the heap. */
size_t cache_reclaim_dead(struct mem_pool *pool);
/* Sum of parked bytes (backend usable size) and blocks: racy but never
 * torn, exact once no process is in a cache operation. */
void cache_totals(struct mem_pool *pool, uint64_t *bytes, uint64_t *blocks);
/* Turn the heap's counters, to which parked blocks are used, into the
 * callers' (mem.h): parked bytes leave used_size and real_used for cached
 * and free_size; max_used becomes the callers' peak.  No lock needed. */
void cache_info(struct mem_pool *pool, struct mem_info *mi);
/* A lock section left the heap's real_used at heap_real (parked blocks
 * included): note the callers' peak if this may be a new one. */
void cache_peak(struct mem_pool *pool, uint64_t heap_real);

/* A parked fragment's list link: with MEMDBG in the record's req word
 * (the size asked for moves into the freed tag, debug.h), so that every
 * byte the caller had can carry the write-after-free fill (freed.c);
 * without it, after the parked mark in the fragment.  Here so that the
 * tests that walk or cut chains read it where the cache writes it. */
static inline void **cache_link_of(void *user)
{
	return (void **)((char *)user - DBG_HEAD + 8 * !MEMDBG);
}

#endif /* SRMEM_CACHE_H */
