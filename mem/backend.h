/*
 * backend.h - the narrow contract between the common layer (mem.c) and an
 * allocation algorithm (tlsf.c, f_malloc.c, q_malloc.c).
 *
 * A backend manages one contiguous region [mem, mem + size) that it is
 * handed by create(); its control structure lives at the start of that
 * region, so a pool laid over shared memory is shared whole.  A backend
 * never locks, never logs and never allocates anything itself: policy
 * (NULL, size 0, size overflow, bad-pointer reports, call sites, locking,
 * copy-on-realloc) is written once in mem.c.  What a backend may assume:
 *
 *   malloc(st, n)       1 <= n <= MEM_MAX_REQUEST.
 *   free(st, p)         p as for block_state() below.  Frees p and returns
 *                       MEM_BLOCK_USED when block_state() would call it a
 *                       used block, making those checks on the headers
 *                       the free reads anyway (its own, and the next one
 *                       it may join), so that a free costs no second look;
 *                       else changes nothing and returns what
 *                       block_state() says (MEM_BLOCK_FREE or _BAD).
 *   resize(st, p, n)    p used, 1 <= n <= MEM_MAX_REQUEST; grow or shrink
 *                       in place only (0), or change nothing (-1).  Moving
 *                       is the common layer's job.
 *   block_state(st, p)  any pointer inside the pool (the common layer has
 *                       checked the range and 16-byte alignment); must not
 *                       trust what it reads: answer MEM_BLOCK_BAD for
 *                       anything that is not the start of a payload.
 *                       It may be called WITHOUT the pool lock (the shm
 *                       cache path, for a pointer a process is freeing):
 *                       to judge a used block it reads only that block's
 *                       own header and the next block's header, words that
 *                       other operations replace whole and that keep
 *                       their meaning for this block while it is used;
 *                       never the previous block, which may be joining.
 *                       The full check: the heap checker, the damage
 *                       walker (damage.c), freed.c's arming, recovery and
 *                       every report of a refused free use it.
 *   own_usable(st, p)   p as for block_state(): the usable size of p's
 *                       block when p's OWN header calls it a used block
 *                       (every check block_state() makes of that header:
 *                       guard or tag, flags, a size that stays in the
 *                       heap), else 0.  Never reads another block's
 *                       header, so that the shm caches' free, which parks
 *                       the fragment and joins nothing, touches no line
 *                       but the fragment's own (cache.c park_class).
 *                       Weaker than block_state(): a used block whose NEXT
 *                       header is broken passes here; whoever later frees
 *                       it into the heap makes the rest of the check
 *                       (the backend's free, which reads that header to
 *                       join; a cache flush asks block_state() first,
 *                       cache.c flushable).  Lock-free like block_state().
 *                       Optional: NULL makes the common layer answer with
 *                       block_state() and usable_size() (mem_own_usable).
 *
 * What it must provide:
 *   - payloads aligned to MEM_ALIGN, never overlapping;
 *   - a fixed cost per used block, frag_overhead: a used block of u usable
 *     bytes adds u to used_size and u + frag_overhead to real_used, and
 *     u + frag_overhead is a multiple of MEM_ALIGN, the distance from its
 *     payload to the next block's payload.  The shm caches (cache.c)
 *     take parked blocks out of both counters with it, and know the usable
 *     size of a block of an exact class from its class alone;
 *   - exact counters in info() at every moment (O(1), kept incrementally),
 *     every field set; cached is 0 (parked shm blocks are used blocks to
 *     a backend: the common layer takes them out, cache.c);
 *   - the first 16 bytes of a freed payload are the only payload bytes the
 *     backend may write while the block is free (free-list links); the rest
 *     keeps what the common layer left there (MEMDBG free-site records).
 *   - check() visits every block and verifies every invariant it keeps,
 *     calling problem() once per violation and returning their count.  It
 *     is the composition of three pieces that a caller can also run one
 *     lock hold at a time (check.c does, and so does mem_backend_check()):
 *   - check_block(st, b): the invariants of one block that walk_from() has
 *     just visited, under the same hold: its list links when it is free
 *     (its neighbours on the list point back at it, or the list's head
 *     does), its trailer where it has one, and its boundary with the next
 *     block (flags, boundary tags, no two free neighbours), but not when
 *     the next block's header fails its own checks (the walk reports that
 *     block when it gets there).  With b->broken, b is where walk_from()
 *     stopped: report why its header fails.  O(1); returns the problems;
 *   - check_list(st, pos, max, limit, recheck): walk free list pos->list
 *     from pos->entry (NULL: its head), at most max entries: each must be
 *     a sane free block of this list whose back link names the entry
 *     visited before it (pos->prev); a broken back link or a stray entry
 *     ends the list (a cycle is therefore found within one lap).  More
 *     than limit entries (0: as many blocks as the heap could hold) also
 *     ends it.  Returns 0 when the list is done, 1 when max entries were
 *     seen (pos names where to go on), or, with recheck (the heap may have
 *     changed since pos was left), -2 without a report when pos->entry no
 *     longer follows pos->prev on this list;
 *   - check_global(st, sums): O(lists): bitmaps against list heads, the
 *     sentinel, and, when sums (what a walk of every block and every list
 *     added up to at one instant) is given, the counters and the number of
 *     listed blocks against them.  Returns the problems;
 *   - walk() visits every block in address order, free ones included;
 *   - walk_from() does the same in pieces, so that a caller can let go of
 *     the pool's lock between them: it visits at most max blocks, starting
 *     at the block whose payload is *from (NULL: the first block), and
 *     leaves in *from the payload of the next block to visit (NULL: none
 *     left).  *from is NULL, what the previous call left there with the
 *     heap unchanged since, or a payload block_state() has just accepted.
 *     walk() is walk_from() from the start with no limit.  Both return
 *     0, what fn returned when it stopped them (non-zero), or -1 at a
 *     block whose header fails its own checks (size, and the backend's
 *     check bits where it has them); *from is then that block's payload,
 *     from which the common layer resynchronises (damage.c);
 *   - repair(st, p, usable, apply): p is meant to be the payload of a
 *     USED block of `usable` bytes whose physical predecessor is used (the
 *     common layer learnt both from MEMDBG records, damage.c).  Answer -1
 *     if that cannot be (p not a payload position of the heap, or the block
 *     would not end exactly at a header that passes its own checks, or at
 *     the end of the heap); 0 if the block's header (and trailer, where
 *     the backend has one) already say so; 1 if they do not, and then,
 *     when apply is set, rewrite them so that they do.  O(1).
 *   - rebuild(st, swallowed, arg): a process died inside malloc, free or
 *     resize: make the lists, maps, boundary information and counters
 *     agree with the physical chain of blocks again, and join free
 *     neighbours (each free block about to be joined into the one before
 *     it is first passed to swallowed(), whose answer is ignored: the
 *     common layer disarms the MEMDBG record it held).  Each
 *     operation keeps the chain whole at every store (a split writes the
 *     tail's header, free, before the size that uncovers it; a join grows
 *     a FREE block over its neighbours in one store before anything is
 *     forgotten), so the chain plus each block's free bit is always one
 *     consistent heap: the dead operation is finished or undone.  First
 *     verifies the whole chain and changes nothing if a header fails its
 *     checks (-1); else how many trailers of used
 *     blocks it rewrote (a backend with guarded trailers: an operation cut
 *     short, or the application's overrun), 0 for most.  O(blocks + lists).
 *   - last(st, &seq): the payload the latest malloc handed out (or was
 *     handing out when its process died) and the number of mallocs that
 *     got that far: malloc stores both before the store that marks the
 *     block used, so that recovery can find a block whose new owner died
 *     before it could note it anywhere (mem.c, cache.c: a seq that moved
 *     on names a new block even when its address is an old one).  O(1).
 *   - header_size: bytes of the block's own header right below a payload
 *     (what an overflow out of the previous payload runs into).
 *   - joins_prev(st, p): p is a used block about to be freed: may free()
 *     join it into the block before it?  1 whenever it will (0 only when
 *     it surely will not); O(1), reads p's own header or the trailer just
 *     below it.  The write-after-free check (freed.c) disarms a record
 *     that free() may swallow.
 *   - has_room(st, n): would malloc(st, n) find a block at once?  1 when a
 *     free list whose every block holds n usable bytes is non-empty (the
 *     bitmap search malloc starts with, taking nothing), 0 otherwise: it
 *     may say 0 while a block of n's own list would fit.  O(1) or
 *     O(bitmap words).  The shm caches ask it under the pool lock whether
 *     the heap still has room to spare (cache.c, "Room").
 *   - cut_from(st, p): p was just returned by malloc(): the payload of the
 *     free block whose top end it was cut from, or NULL when it is the
 *     start of the block it came from (tlsf for small requests).  O(1).
 *     The write-after-free check disarms that block's record: part of
 *     what it filled is now someone's.  A backend whose malloc always
 *     hands out the start of the block it takes (fm, qm) has no
 *     cut_from (NULL): one indirect call fewer per MEMDBG malloc.
 *   - prefetch(st, p): ask for the lines free(st, p) will read beyond
 *     p's own header, so that it finds them in the cache (the free queue,
 *     fqueue.h).  The common layer has fetched the line of p - 16 some
 *     frees before: this reads p's header there and prefetches the
 *     neighbours the free will read or join.  p is anything 16-aligned in
 *     [heap + 32, end): only words in [p - 32, p) are read; an address
 *     worked out from them is only prefetched, never dereferenced (a
 *     prefetch does not fault), and is worked out in integers (a wild
 *     size would make pointer arithmetic overflow).  O(1).
 *   - peak(st): the word the backend keeps max_used in (the highest
 *     real_used so far), which malloc and resize raise.  The common layer
 *     reads it around a pkg malloc and lowers a peak that the free queue
 *     made (frees still waiting would have made room), to no less than
 *     the real_used after they are made (mem.c, fq_peak_lower).  O(1).
 */
#ifndef SRMEM_BACKEND_H
#define SRMEM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"

#define MEM_ALIGN 16u
/* Larger requests fail in the common layer, so that no backend has to
 * think about size arithmetic overflowing. */
#define MEM_MAX_REQUEST ((size_t)1 << 60)

/* Keeps the stores before it before the stores after it, as a process
 * killed at any instruction sees them (a compiler barrier: x86 and arm64
 * do not let a core see its own stores out of order, and nobody else
 * reads them before the lock changes hands).  Costs no instruction. */
#ifndef MEM_KILL_POINTS
#define MEM_KILL_POINTS 0
#endif
#if MEM_KILL_POINTS
/* The kill sweep's builds (make killsweep, tests/killsweep.c): every
 * fence is also a numbered point at which the process can be made to die
 * (killpoint.c), the call a compiler barrier as strong as the fence.
 * MEM_KILL_POINT() marks a place between fences where a death leaves a
 * state worth a test (a list link written, the block not yet marked):
 * nothing at all in other builds, not even a barrier. */
void mem_kill_point(const char *file, int line);
#define MEM_KILL_FENCE() mem_kill_point(__FILE__, __LINE__)
#define MEM_KILL_POINT() mem_kill_point(__FILE__, __LINE__)
#else
#define MEM_KILL_FENCE() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#define MEM_KILL_POINT() ((void)0)
#endif

enum mem_block_state {
	MEM_BLOCK_BAD = 0,  /* not the start of a payload */
	MEM_BLOCK_USED,
	MEM_BLOCK_FREE,
};

/* One block as the backend sees it: payload start and usable bytes. */
struct mem_block {
	void *payload;
	uint64_t size;
	int used;
	int broken;     /* set by the common layer only: header unreadable */
};

typedef int (*mem_block_fn)(const struct mem_block *b, void *arg);
typedef void (*mem_problem_fn)(void *arg, const void *where, const char *what);

/* What a walk of every block (and of every free list) adds up to; a
 * block's full size is its usable size plus frag_overhead. */
struct mem_heap_sums {
	uint64_t used_blocks, free_blocks;
	uint64_t used_usable, free_usable;
	uint64_t listed;                /* entries on the free lists */
};

static inline void mem_heap_sums_add(struct mem_heap_sums *s,
		const struct mem_block *b)
{
	if (b->used) {
		s->used_blocks++;
		s->used_usable += b->size;
	} else {
		s->free_blocks++;
		s->free_usable += b->size;
	}
}

/* Where a walk of the free lists stands (check_list). */
struct mem_list_pos {
	unsigned list;                  /* < nlists */
	void *entry;                    /* next entry; NULL: the list's head */
	void *prev;                     /* the entry seen before it, or NULL */
	uint64_t n;                     /* entries of this list seen */
};

struct mem_backend {
	const char *name;       /* short name: "fm", "qm", "tlsf" */
	const char *long_name;  /* "f_malloc", "q_malloc", "tlsf_malloc" */
	unsigned frag_overhead; /* real_used - used_size of one used block */
	unsigned header_size;   /* header bytes right below a payload */
	/* Lay a pool over [mem, mem + size); mem is MEM_ALIGN aligned.
	 * Returns the backend state (inside the region) or NULL if too small. */
	void *(*create)(void *mem, size_t size);
	void *(*malloc)(void *st, size_t size);
	int (*free)(void *st, void *p);
	int (*resize)(void *st, void *p, size_t size);
	size_t (*usable_size)(void *st, const void *p);
	int (*block_state)(void *st, const void *p);
	uint64_t (*own_usable)(void *st, const void *p);  /* or NULL */
	void (*info)(void *st, struct mem_info *mi);
	int (*check)(void *st, mem_problem_fn problem, void *arg);
	int (*walk)(void *st, mem_block_fn fn, void *arg);
	int (*walk_from)(void *st, void **from, uint64_t max, mem_block_fn fn,
			void *arg);
	int (*repair)(void *st, void *p, uint64_t usable, int apply);
	unsigned nlists;        /* free lists, for check_list() */
	int (*check_block)(void *st, const struct mem_block *b,
			mem_problem_fn problem, void *arg);
	int (*check_list)(void *st, struct mem_list_pos *pos, uint64_t max,
			uint64_t limit, int recheck, mem_problem_fn problem,
			void *arg);
	int (*check_global)(void *st, const struct mem_heap_sums *sums,
			mem_problem_fn problem, void *arg);
	int (*joins_prev)(void *st, const void *p);
	void *(*cut_from)(void *st, const void *p);       /* or NULL */
	int (*has_room)(void *st, size_t n);
	int (*rebuild)(void *st, mem_block_fn swallowed, void *arg);
	void *(*last)(void *st, uint64_t *seq);
	void (*prefetch)(void *st, const void *p);
	uint64_t *(*peak)(void *st);
};

/* check() of any backend, composed of its three pieces in one go (check.c):
 * every block, every list, then the global invariants. */
int mem_backend_check(const struct mem_backend *be, void *st,
		mem_problem_fn problem, void *arg);

extern const struct mem_backend mem_tlsf_backend;
extern const struct mem_backend mem_fm_backend;
extern const struct mem_backend mem_qm_backend;

#endif /* SRMEM_BACKEND_H */
