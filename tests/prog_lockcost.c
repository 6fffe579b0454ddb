/* prog_lockcost.c - what the shm lock costs a caller, for doc/PERFORMANCE.md
 * ("The cost of the lock statistics"): built against two libraries (with
 * and without the counters) and run alternately, it gives the price of
 * counting per acquisition.
 *
 *   prog_lockcost [TRIALS]   (default 31)
 *       One process, a 64 MiB tlsf shm pool with the per-process caches
 *       off, so that every call takes the heap lock.  Each trial times
 *       1,000,000 shm_global_lock/unlock pairs and 200,000 shm_malloc/
 *       shm_free pairs of 64..176 bytes; the minimum over the trials (the
 *       run least disturbed by other work on the host) is printed, in ns
 *       per pair.  Uncontended: the counters' fast path only.
 * Output: one line, "lock+unlock N ns, malloc+free N ns". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "mem.h"

#define LOCK_PAIRS 1000000
#define ALLOC_PAIRS 200000

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static double lock_pairs(void)
{
	double t0 = now_ns();
	for (int i = 0; i < LOCK_PAIRS; i++) {
		shm_global_lock();
		shm_global_unlock();
	}
	return (now_ns() - t0) / LOCK_PAIRS;
}

static double alloc_pairs(void)
{
	double t0 = now_ns();
	for (int i = 0; i < ALLOC_PAIRS; i++)
		shm_free(shm_malloc(64 + (size_t)(i & 7) * 16));
	return (now_ns() - t0) / ALLOC_PAIRS;
}

int main(int argc, char **argv)
{
	int trials = argc > 1 ? atoi(argv[1]) : 31;
	double best_lock = 1e18, best_alloc = 1e18;
	shm_cache_size = 0;
	if (trials < 1 || shm_init((size_t)64 << 20, "tlsf") < 0)
		return 1;
	for (int t = 0; t < trials; t++) {
		double l = lock_pairs(), a = alloc_pairs();
		best_lock = l < best_lock ? l : best_lock;
		best_alloc = a < best_alloc ? a : best_alloc;
	}
	printf("lock+unlock %.2f ns, malloc+free %.2f ns\n", best_lock,
		best_alloc);
	shm_destroy();
	return 0;
}
