/*
 * ring.h - a bounded multi-producer multi-consumer ring of pointers in
 * shared memory (W4 handoff), after Dmitry Vyukov's bounded MPMC queue,
 * with positions taken by fetch-and-add instead of compare-and-swap.
 *
 * Every cell carries a sequence number: cell k is free for the put of
 * position pos when seq == pos, and holds the value of position pos for
 * a get when seq == pos + 1; a get hands the cell to the put one lap
 * later (seq = pos + RING_SIZE).
 *
 * A put or a get first takes its position with one atomic add on head or
 * tail, then waits for its cell (a full ring for a put, a message not yet
 * there for a get: spin a little, then yield).  With compare-and-swap,
 * two producers (or consumers) that want the same position both pay a
 * round trip of the line and one of them starts again; an add never
 * fails.  A position once taken is never given up, so a get waits for
 * its message: the caller knows how many messages will come (W4 ends on
 * one marker per producer, and every consumer stops at its marker: the
 * positions taken are exactly the messages put).  A process preempted
 * between taking its position and using the cell holds up only the
 * process one lap later on the same cell, never the others.
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
/* Put p; waits while the ring is full. */
void ring_put(struct ring *r, void *p);
/* The next message; waits until it is there. */
void *ring_get(struct ring *r);

#endif /* MEMBENCH_RING_H */
