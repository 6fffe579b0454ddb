/*
 * shm.c - the shared segment: one anonymous MAP_SHARED mapping made before
 * fork, so every process sees the pool at the same address.
 *
 *   | struct shm_head: magic, lock, pool | backend heap ...................|
 *
 * The lock and the pool struct live in the segment itself: there is no
 * per-process state but the pointer to it, which fork copies.  Options
 * (set before shm_init): shm_force_alloc touches every page now, so no
 * allocation later pays a page fault (the latency workloads want this);
 * shm_mlock pins the segment in RAM; shm_huge_pages (by default: where
 * the kernel allows) asks for transparent huge pages (pages.c), whose
 * 2 MiB TLB entries matter once many processes share the CPUs
 * (doc/PERFORMANCE.md, "Huge pages").  With per-process caches (cache.c)
 * their slots sit between the head and the heap:
 *
 *   | struct shm_head | struct mem_cache (slots) | backend heap ...       |
 *
 * and the heap lock's per-process counters (lockstat.c) before them:
 *
 *   | struct shm_head | lockstat rows | caches | backend heap ...         |
 *
 * Page tables are per process.  fork() does not copy the page-table entries
 * of a MAP_SHARED mapping, so without help every process takes one minor
 * fault for every page of the segment it touches, in its first seconds of
 * serving and again after every restart: 8 workers fault the heap in 8
 * times.  shm_child_init(), called by the server in each child right after
 * fork, maps the whole segment into the caller's page tables at once
 * (shm_populate, on by default) with MADV_POPULATE_WRITE, which changes no
 * byte; where the kernel lacks it (before Linux 5.14), an atomic or-with-0
 * per page does the same, safe against other processes' writes.  Cost: the
 * first process to populate allocates and zeroes every page of the segment
 * (it becomes resident, as with shm_force_alloc); later ones only fill
 * their page tables, 2 MiB of them per GiB per process (8 bytes per 4 KiB
 * page).  doc/PERFORMANCE.md gives the time per GiB.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "cache.h"
#include "internal.h"
#include "lockstat.h"
#include "track.h"

int shm_force_alloc = 0;
int shm_mlock = 0;
int shm_huge_pages = SHM_HUGE_AUTO;
int shm_populate = 1;

struct mem_pool *mem_shm_pool;

#define SHM_MAGIC 0x5352534d53484d31ull /* "SRSMSHM1" */

/* The pool struct is read by every call of every process and written only
 * at init; the lock word is written by every locked call.  Sharing a cache
 * line would make each lock handover invalidate every reader's copy of the
 * pool, so the lock gets a line of its own. */
struct shm_head {
	uint64_t magic;
	size_t size;            /* of the whole mapping */
	struct mem_pool pool;
	_Alignas(64) struct mem_lock lock;
	uint64_t sections;      /* the lock's releases (mem.c), its line */
	struct mem_journal jr;  /* written with the lock held (mem.c); on its
	                         * line too in the futex build */
};
_Static_assert(offsetof(struct shm_head, lock) % 64 == 0 &&
		sizeof(struct shm_head) % 64 == 0 &&
		offsetof(struct shm_head, sections) / 64 ==
		offsetof(struct shm_head, lock) / 64,
		"the lock owns its line, and its section count shares it");

#ifndef SHM_CACHE
#define SHM_CACHE 1
#endif

#define SHM_HEAD ((sizeof(struct shm_head) + 63) & ~(size_t)63)

static struct shm_head *shm_head;

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  /* Linux 5.14 */
#endif

/* Touch every page writable without changing it: lock or byte, 0. */
static void touch_pages(char *seg, size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	for (size_t off = 0; off < size; off += page)
		__atomic_fetch_or(seg + off, 0, __ATOMIC_RELAXED);
}

/* Map [seg, seg + size) into this process's page tables, writable.  0, or
 * -1 when the kernel could not (out of memory: logged). */
static int map_in(char *seg, size_t size)
{
	static int no_populate;
	if (!no_populate && madvise(seg, size, MADV_POPULATE_WRITE) == 0)
		return 0;
	if (!no_populate && errno != EINVAL) {
		mem_log(MEM_L_WARN, "shm: cannot populate %zu bytes: %s", size,
			strerror(errno));
		return -1;
	}
	if (!no_populate++)
		mem_log(MEM_L_INFO, "shm: no MADV_POPULATE_WRITE in this kernel "
			"(Linux 5.14): populating by touching each page");
	touch_pages(seg, size);
	return 0;
}

static int huge_asked;  /* the segment is MADV_HUGEPAGE'd, and allowed */

int shm_huge(void)
{
	return shm_head && huge_asked;
}

static void shm_options(char *seg, size_t size)
{
	huge_asked = mem_pages_huge("shm", seg, size, shm_huge_pages, 1);
	if (shm_force_alloc)
		map_in(seg, size);
	if (shm_mlock && mlock(seg, size) < 0)
		mem_log(MEM_L_WARN, "shm: mlock of %zu bytes failed: %s", size,
			strerror(errno));
}

int shm_init(size_t size, const char *backend)
{
	if (shm_head) {
		mem_log(MEM_L_ERR, "shm: already initialised");
		return -1;
	}
	if (size < SHM_HEAD + 4096) {
		mem_log(MEM_L_ERR, "shm: %zu bytes is too small a pool", size);
		return -1;
	}
	char *seg = mmap(NULL, size, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (seg == MAP_FAILED) {
		mem_log(MEM_L_ERR, "shm: cannot map %zu bytes: %s", size,
			strerror(errno));
		return -1;
	}
	shm_options(seg, size);
	struct shm_head *h = (struct shm_head *)seg;
	h->magic = SHM_MAGIC;
	h->size = size;
	char *heap = seg + SHM_HEAD;
	struct lockstat_tab *lstat = NULL;
	struct mem_cache *cache = NULL;
	if (size > 4 * (SHM_HEAD + lockstat_size())) {
		lstat = (struct lockstat_tab *)heap;
		heap += lockstat_size();
	}
	if (SHM_CACHE && shm_cache_size && size > 4 * (SHM_HEAD + cache_size())) {
		cache = (struct mem_cache *)heap;
		heap += (cache_size() + 63) & ~(size_t)63;
	}
	if (mem_lock_init(&h->lock) < 0 ||
	    mem_pool_setup(&h->pool, "shm", heap, seg + size, backend,
			    &h->lock) < 0) {
		munmap(seg, size);
		return -1;
	}
	h->pool.sections = &h->sections;
	if (cache)
		cache_init(cache, cache_limit(size),
			POOL_BE(&h->pool)->frag_overhead, size);
	h->pool.cache = cache;
	if (!cache)     /* every call takes the lock: short, frequent holds */
		mem_lock_learn_spin(&h->lock);
	if (lstat)
		lockstat_init(lstat);
	h->pool.lstat = lstat;
	h->pool.jr = &h->jr;
	shm_head = h;
	mem_shm_pool = &h->pool;
	mem_summary_set_main();   /* this process logs the shm summary */
	return 0;
}

void shm_destroy(void)
{
	if (!shm_head)
		return;
	mem_lock_destroy(&shm_head->lock);
	munmap(shm_head, shm_head->size);
	shm_head = NULL;
	mem_shm_pool = NULL;
}

void shm_global_lock(void)
{
	mem_pool_lock(mem_shm_pool);
}

void shm_global_unlock(void)
{
	mem_pool_unlock(mem_shm_pool);
}

void shm_cache_stats(uint64_t *bytes, uint64_t *blocks)
{
	*bytes = *blocks = 0;
	if (mem_shm_pool && mem_shm_pool->cache) {
		mem_fq_drain(mem_shm_pool);     /* frees waiting: parked now */
		cache_totals(mem_shm_pool, bytes, blocks);
	}
}

int shm_cache_flow(struct shm_cache_flow *f)
{
	*f = (struct shm_cache_flow){ 0 };
	if (!mem_shm_pool || !mem_shm_pool->cache)
		return -1;
	cache_flow(mem_shm_pool, f);
	return 0;
}

uint64_t shm_cache_limit(void)
{
	return mem_shm_pool && mem_shm_pool->cache ?
		mem_shm_pool->cache->limit : 0;
}

/* A cache operation on the segment, inside a Valgrind window (track.h):
 * it walks parked fragments. */
static size_t cache_op(size_t (*op)(struct mem_pool *pool))
{
	if (!mem_shm_pool || !mem_shm_pool->cache)
		return 0;
	track_open(mem_shm_pool);
	size_t n = op(mem_shm_pool);
	track_close(mem_shm_pool);
	return n;
}

size_t shm_cache_reclaim(void)
{
	return cache_op(cache_reclaim_dead);
}

int shm_child_init(void)
{
	if (!shm_head) {
		mem_log(MEM_L_ERR, "shm_child_init: no shm segment (shm_init first)");
		return -1;
	}
	return shm_populate ? map_in((char *)shm_head, shm_head->size) : 0;
}

size_t shm_cache_drain(void)
{
	return cache_op(cache_drain_all);
}

int shm_address_in(const void *p)
{
	return shm_head && (const char *)p >= (const char *)shm_head &&
		(const char *)p < (const char *)shm_head + shm_head->size;
}
