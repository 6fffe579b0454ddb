/*
 * ring.c - the W4 handoff ring (see ring.h for the algorithm).
 *
 *   | head (own line) | tail (own line) | cell[RING_SIZE]: seq, ptr |
 *
 * Head and tail sit on cache lines of their own so producers and
 * consumers do not false-share.  The allocator's 16-byte alignment is
 * rounded up to 64 by hand.
 */
#include <stdint.h>
#include <string.h>

#include "ring.h"
#include "team.h"

/* Looks at a cell before the waiter yields: a message is usually a few
 * hundred nanoseconds away, a preempted peer a time slice. */
#define RING_SPINS 64

struct ring_cell {
	_Atomic uint64_t seq;
	void *p;
};

struct ring {
	_Alignas(64) _Atomic uint64_t head;     /* next position to put */
	_Alignas(64) _Atomic uint64_t tail;     /* next position to get */
	_Alignas(64) struct ring_cell cell[RING_SIZE];
};
_Static_assert((RING_SIZE & (RING_SIZE - 1)) == 0, "power of two");

struct ring *ring_create(const struct bench_alloc *a)
{
	char *raw = a->malloc(sizeof(struct ring) + 64);
	if (!raw)
		return NULL;
	struct ring *r = (struct ring *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	for (uint64_t k = 0; k < RING_SIZE; k++) {
		atomic_init(&r->cell[k].seq, k);
		r->cell[k].p = NULL;
	}
	return r;
}

static inline void ring_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Wait until cell c's sequence number is seq. */
static void cell_wait(struct ring_cell *c, uint64_t seq)
{
	for (unsigned n = 0;
	     atomic_load_explicit(&c->seq, memory_order_acquire) != seq; n++)
		if (n >= RING_SPINS)
			team_yield();
		else
			ring_pause();
}

void ring_put(struct ring *r, void *p)
{
	uint64_t pos = atomic_fetch_add_explicit(&r->head, 1,
			memory_order_relaxed);
	struct ring_cell *c = &r->cell[pos & (RING_SIZE - 1)];
	cell_wait(c, pos);
	c->p = p;
	atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
}

void *ring_get(struct ring *r)
{
	uint64_t pos = atomic_fetch_add_explicit(&r->tail, 1,
			memory_order_relaxed);
	struct ring_cell *c = &r->cell[pos & (RING_SIZE - 1)];
	cell_wait(c, pos + 1);
	void *p = c->p;
	atomic_store_explicit(&c->seq, pos + RING_SIZE, memory_order_release);
	return p;
}
