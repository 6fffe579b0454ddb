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

void ring_put(struct ring *r, void *p)
{
	for (;;) {
		uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
		struct ring_cell *c = &r->cell[pos & (RING_SIZE - 1)];
		uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		int64_t dif = (int64_t)(seq - pos);
		if (dif == 0 && atomic_compare_exchange_weak_explicit(&r->head,
				&pos, pos + 1, memory_order_relaxed,
				memory_order_relaxed)) {
			c->p = p;
			atomic_store_explicit(&c->seq, pos + 1,
					memory_order_release);
			return;
		}
		if (dif < 0)
			team_yield();   /* full */
	}
}

void *ring_get(struct ring *r)
{
	for (;;) {
		uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
		struct ring_cell *c = &r->cell[pos & (RING_SIZE - 1)];
		uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		int64_t dif = (int64_t)(seq - (pos + 1));
		if (dif == 0 && atomic_compare_exchange_weak_explicit(&r->tail,
				&pos, pos + 1, memory_order_relaxed,
				memory_order_relaxed)) {
			void *p = c->p;
			atomic_store_explicit(&c->seq, pos + RING_SIZE,
					memory_order_release);
			return p;
		}
		if (dif < 0)
			return NULL;    /* empty */
	}
}
