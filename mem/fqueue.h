/*
 * fqueue.h - the free queue of a private pool: a free waits for the lines
 * it will read.
 *
 * A free reads its fragment's header and the next fragment's header (to
 * validate and to join).  In a busy server neither line is in the cache:
 * the caller is done with the fragment, often long ago, and the next
 * header lies at an address only the first header tells.  Done at once,
 * that is two dependent memory misses per free, and nothing else to do
 * while they last.
 *
 * With the queue, free(p) only checks that p lies in the pool, asks for
 * p's header line (a prefetch), and puts p in a ring of FQ_SLOTS.  Each
 * push also moves the two older entries one stage on:
 *
 *     push n:   prefetch hdr(p[n])                          stage 0
 *               be->prefetch(p[n - FQ_AHEAD]): read its     stage 1
 *                 header (fetched by now), prefetch the
 *                 neighbours its free will read
 *               free p[n - FQ_SLOTS] for real               stage 2
 *
 *     slot:  [n-15] ... [n-8] ... [n-1] [n]
 *             freed     stage 1        stage 0
 *
 * So up to FQ_SLOTS misses are in flight at once instead of one, and each
 * free finds its lines in the cache.  A free close to the one before it
 * (FQ_NEAR: runs of neighbours freed in order) has its lines in the cache
 * already, and skips the queue.  The real free is the same call as
 * without the queue (every check, every report), FQ_SLOTS frees later.
 *
 * What waits in the queue is still used memory to the heap: counters,
 * walks and checks see it so until it drains.  It drains, oldest first,
 * before anything reads the heap as a whole (info, check, walk, scan,
 * status: mem_fq_drain() from mem_pool_lock() and mem_hold_begin()), before
 * an allocation is declared failed, before a realloc or usable_size of a
 * pointer in it (which then finds it freed and says so), and at the second
 * free of a pointer in it (a double free reported at once).  A double free
 * of a pointer already out of the queue is reported when that second free
 * leaves it, at most FQ_SLOTS frees later; what is reported is the same.
 * Nor does the queue show in the pool's peak (max_used, what a pool is
 * sized by): a malloc or resize that raises it while frees wait makes
 * those frees and keeps the peak they would have left (mem.c,
 * fq_peak_lower; measured: W2's overhead back to what it was without a
 * queue, doc/PERFORMANCE.md).
 *
 * Only pools without lock and caches queue (pkg: one process, so the
 * queue needs no lock), only with MEMDBG=0 (the debug build's free fills
 * the fragment and checks its record at the moment of the call), and
 * never under Valgrind (memcheck must see the free when it happens).
 * mem_free_queue = 0 turns it off.
 */
#ifndef SRMEM_FQUEUE_H
#define SRMEM_FQUEUE_H

#include <stdint.h>

#define FQ_SLOTS 16      /* entries; a power of two */
#define FQ_AHEAD 8      /* stage 1 runs this many pushes after stage 0 */

_Static_assert((FQ_SLOTS & (FQ_SLOTS - 1)) == 0, "ring index by mask");
_Static_assert(FQ_AHEAD > 0 && FQ_AHEAD < FQ_SLOTS,
		"stage 1 falls between the push and the free");

struct mem_site;

/* Entries per hash of their pointer: a free or a malloc asks "is p in
 * the queue?" with one load, and scans the slots only on a hit (1 in 16
 * at most with 16 entries over 256 buckets). */
#define FQ_BUCKETS 256

struct mem_fqueue {
	uintptr_t last;                 /* the pointer freed last */
	unsigned n;                     /* pushes so far (wraps) */
	unsigned len;                   /* entries waiting */
	void *p[FQ_SLOTS];              /* NULL: empty slot */
	const struct mem_site *site[FQ_SLOTS];
	unsigned char in[FQ_BUCKETS];   /* entries per fq_bucket() */
	uint64_t *peak;                 /* the backend's max_used (its peak()) */
};

_Static_assert(FQ_SLOTS < 256, "a bucket's count fits its byte");

/* A free within FQ_NEAR bytes of the one before it finds its lines in
 * the cache (the same or the next lines, which the hardware's stream
 * prefetch fetches): it is made at once (FIFO and LIFO runs of frees). */
#define FQ_NEAR 2048

/* Payloads are 16-aligned and usually spaced by more: bits 4 and up. */
static inline unsigned fq_bucket(const void *p)
{
	uintptr_t a = (uintptr_t)p >> 4;
	return (unsigned)(a ^ a >> 8) % FQ_BUCKETS;
}

#endif /* SRMEM_FQUEUE_H */
