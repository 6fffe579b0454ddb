/*
 * ring.h - a bounded multi-producer multi-consumer ring of pointers in
 * shared memory (W4 handoff), after Dmitry Vyukov's bounded MPMC queue.
 *
 * Every cell carries a sequence number: cell k is free for the put of
 * position pos when seq == pos, and holds the value of position pos for
 * a get when seq == pos + 1; a get hands the cell to the put one lap
 * later (seq = pos + RING_SIZE).  Head and tail are claimed by CAS, so
 * the ring is lock-free; the only waiting is a full ring (put yields) or
 * an empty one (get returns NULL).
 */
#ifndef MEMBENCH_RING_H
#define MEMBENCH_RING_H

#include <stdatomic.h>
#include <stdint.h>

#include "bench.h"

#define RING_SIZE 4096u

struct ring;

/* Carve a ring out of the allocator `a` (the shm pool, before fork). */
struct ring *ring_create(const struct bench_alloc *a);
void ring_put(struct ring *r, void *p);
void *ring_get(struct ring *r);

#endif /* MEMBENCH_RING_H */
