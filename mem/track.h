/*
 * track.h - tell Valgrind what the pools hand out, defined once.
 *
 * Without these client requests Valgrind sees one big mmap and nothing
 * inside it.  With them every fragment is a heap block to memcheck:
 *   - reads of never-written bytes are reported (a new block is undefined);
 *   - fragments nobody points to at exit are listed as leaks with the
 *     stack that allocated them;
 *   - a read or write past the size asked for is reported: the rest of the
 *     fragment's usable space (the MEMDBG end canary, the slack) is made
 *     inaccessible when the block is handed out or resized;
 *   - a read or write after free is reported: a freed block, parked in a
 *     per-process shm cache or given back to the backend, is inaccessible.
 * Each report carries the stack of the bad access, and the stacks of the
 * block's allocation and free.
 *
 * The library itself must still read and write what it keeps in freed and
 * unused memory: the backends' links and boundary tags, the headers they
 * write when they split or join, the MEMDBG record and canary, the caches'
 * links through parked fragments.  Rather than marking every such word
 * before each access (in every backend), the library opens a window on its
 * pool (track_open/track_close: memcheck ignores bad addresses in the
 * pool's range while one is open) around everything it does to the heap:
 * the lock section of every locked operation, the per-process cache paths
 * and the cache drains.  Windows nest (a count per pool and process); the
 * program's own code runs outside them.  Limit: with threads, a thread's
 * bad access while another thread of the process is inside the library is
 * not reported.
 *
 * Costs: outside Valgrind a load and a branch per request (track_on, read
 * once at pool set-up); HAVE_VALGRIND=0 (no valgrind.h) compiles it all
 * away.  Under Valgrind: the slack of each block is measured with one
 * backend usable_size() call.
 */
#ifndef SRMEM_TRACK_H
#define SRMEM_TRACK_H

#include "debug.h"
#include "internal.h"

#if HAVE_VALGRIND
#include <valgrind/memcheck.h>

/* Running under Valgrind (set by track_setup()). */
extern int track_on;

static inline void track_setup(void)
{
	track_on = RUNNING_ON_VALGRIND ? 1 : 0;
}

/* Is memcheck watching?  A free is then checked whole before the block is
 * given up (mem.c), so that no pointer the backend refuses is FREELIKE'd. */
static inline int track_watching(void)
{
	return __builtin_expect(track_on, 0);
}

/* Open windows, per pool (0 pkg, 1 shm) in this process. */
extern int track_depth[2];

static inline int *track_depth_of(const struct mem_pool *pool)
{
	return &track_depth[pool->lock != NULL];
}

static inline void track_open(const struct mem_pool *pool)
{
	if (__builtin_expect(track_on, 0) &&
	    __atomic_fetch_add(track_depth_of(pool), 1, __ATOMIC_RELAXED) == 0)
		VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(pool->start,
			pool->end - pool->start);
}

static inline void track_close(const struct mem_pool *pool)
{
	if (__builtin_expect(track_on, 0) &&
	    __atomic_sub_fetch(track_depth_of(pool), 1, __ATOMIC_RELAXED) == 0)
		VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE(pool->start,
			pool->end - pool->start);
}

/* The usable space of p's fragment past n bytes: inaccessible. */
static inline void track_slack(struct mem_pool *pool, void *p, size_t n)
{
	if (!__builtin_expect(track_on, 0))
		return;
	size_t room = POOL_BE(pool)->usable_size(pool->st, dbg_payload(p)) -
		DBG_HEAD;
	if (room > n)
		VALGRIND_MAKE_MEM_NOACCESS((char *)p + n, room - n);
}

/* A copy the library made of bytes that may never have been written (a
 * live block's first word, read to tell a parked block): its value is
 * what counts, not whether the program wrote it. */
static inline void track_defined(void *copy, size_t n)
{
	if (__builtin_expect(track_on, 0))
		VALGRIND_MAKE_MEM_DEFINED(copy, n);
}

static inline void track_alloc(struct mem_pool *pool, void *p, size_t n)
{
	if (__builtin_expect(track_on, 0)) {
		VALGRIND_MALLOCLIKE_BLOCK(p, n, 0, 0);
		track_slack(pool, p, n);
	}
}

static inline void track_free(struct mem_pool *pool, void *p)
{
	if (__builtin_expect(track_on, 0)) {
		VALGRIND_FREELIKE_BLOCK(p, 0);
		track_slack(pool, p, 0);
	}
}

/* Before the backend resizes p in place: the space past the keep bytes
 * that stay becomes plain defined memory, so that the headers the
 * backend writes there (a shrink cuts a free tail off) read back whole:
 * a word half inaccessible would read back half undefined.  A resize that
 * fails calls track_slack(pool, p, old) to close the slack again. */
static inline void track_reshape(struct mem_pool *pool, void *p, size_t keep)
{
	if (__builtin_expect(track_on, 0)) {
		size_t room = POOL_BE(pool)->usable_size(pool->st,
			dbg_payload(p)) - DBG_HEAD;
		if (room > keep)
			VALGRIND_MAKE_MEM_DEFINED((char *)p + keep, room - keep);
	}
}

static inline void track_resize(struct mem_pool *pool, void *p, size_t old,
		size_t n)
{
	if (__builtin_expect(track_on, 0)) {
		VALGRIND_RESIZEINPLACE_BLOCK(p, old, n, 0);
		/* a shrink leaves the old end's word half inaccessible: all */
		if (n < old)
			VALGRIND_MAKE_MEM_NOACCESS((char *)p + n,
				((old + 7) & ~(size_t)7) - n);
		track_slack(pool, p, n);
	}
}
#else
/* Arguments are not evaluated: nothing here costs anything. */
#define track_setup()                   do { } while (0)
#define track_watching()                0
#define track_open(pool)                do { } while (0)
#define track_close(pool)               do { } while (0)
#define track_alloc(pool, p, n)         do { } while (0)
#define track_free(pool, p)             do { } while (0)
#define track_slack(pool, p, n)         do { } while (0)
#define track_defined(copy, n)          do { } while (0)
#define track_reshape(pool, p, keep)    do { } while (0)
#define track_resize(pool, p, old, n)   do { } while (0)
#endif

#endif /* SRMEM_TRACK_H */
