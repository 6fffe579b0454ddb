/*
 * mem.h - the one header a program includes to use srmem.
 *
 * Two pools, one API:
 *   pkg_*  private memory of the calling process.  pkg_init() lays the pool
 *          over a private mapping before fork; every child inherits its own
 *          copy-on-write image and allocates from it without a lock.
 *   shm_*  memory shared by all processes.  shm_init() creates one
 *          anonymous MAP_SHARED segment before fork, so every process sees
 *          it at the same address.  Each call takes the segment's lock; the
 *          *_unsafe variants expect the caller to hold shm_global_lock().
 *
 * The backend (f_malloc "fm", q_malloc "qm", TLSF "tlsf") is chosen per pool
 * at init time; NULL picks the build default (MEMMNG).
 *
 * Call sites: every allocation macro passes a pointer to a static record of
 * its call site (file, function, line, module).  With MEMDBG=0 the pointer
 * is NULL and nothing is recorded; the function signatures are the same in
 * both builds, so objects built either way link against either library.
 *
 * Contract (checked by tests/conformance for every backend):
 *   - pointers are 16-byte aligned and never overlap;
 *   - malloc(0) returns a unique, freeable pointer (a minimum fragment);
 *   - free(NULL) does nothing; realloc(NULL, n) is malloc(n);
 *     realloc(p, 0) frees p and returns NULL;
 *   - a request that cannot be met returns NULL, never aborts; so do sizes
 *     near SIZE_MAX;
 *   - a bad free (double free, foreign pointer, pointer into a fragment) is
 *     reported with the call sites known and then, per mem_safety, ignored
 *     (1, the default) or fatal (0: abort()).
 */
#ifndef SRMEM_MEM_H
#define SRMEM_MEM_H

#include <stddef.h>
#include <stdint.h>

#ifndef MEMDBG
#define MEMDBG 1
#endif

#ifndef MOD_NAME
#define MOD_NAME "core"
#endif

/* Where an allocation or a free was written: one static record per site. */
struct mem_site {
	const char *file;
	const char *func;
	const char *mod;
	unsigned line;
};

#if MEMDBG
#define MEM_HERE \
	({ static const struct mem_site mem_site_ = \
		{ __FILE__, __func__, MOD_NAME, __LINE__ }; &mem_site_; })
#else
#define MEM_HERE ((const struct mem_site *)0)
#endif

/* Pool counters, all in bytes but total_frags.  Exact at every moment.
 *   total_size   size of the heap the backend manages
 *   free_size    total_size - real_used
 *   used_size    payload bytes of used fragments (what callers can use)
 *   real_used    used_size plus fragment headers and backend bookkeeping
 *   max_used     the highest real_used seen
 *   min_frag     the smallest fragment the backend makes (header included)
 *   total_frags  the number of FREE fragments, as Kamailio counts it */
struct mem_info {
	uint64_t total_size;
	uint64_t free_size;
	uint64_t used_size;
	uint64_t real_used;
	uint64_t max_used;
	uint64_t min_frag;
	uint64_t total_frags;
};

struct mem_pool;

/* One fragment as the walker reports it (see mem_walk). */
struct mem_frag {
	const void *addr;               /* what the caller got (or would get) */
	uint64_t size;                  /* usable bytes at addr */
	uint64_t req_size;              /* bytes asked for; 0 if unknown/free */
	int used;
	int cached;                     /* free, but parked in a process cache */
	const struct mem_site *alloc;   /* MEMDBG: who allocated it, or NULL */
	const struct mem_site *freed;   /* MEMDBG: who freed it last, or NULL */
};

/* Return non-zero to stop the walk. */
typedef int (*mem_walk_fn)(const struct mem_frag *frag, void *arg);

/* --- settings: set before pkg_init()/shm_init() ------------------------ */
extern int mem_safety;      /* 1 report bad frees and go on, 0 abort */
extern int mem_join;        /* 1 join free neighbours at once (f_malloc) */
extern int mem_summary;     /* 1 pkg status, 2 shm status, 4 pkg sums, 8 shm sums */
extern int shm_force_alloc; /* 1 touch every page of shm at init */
extern int shm_mlock;       /* 1 mlock() the shm segment */
extern int shm_huge_pages;  /* 1 ask for transparent huge pages for shm */
/* Bytes of small freed fragments each process may keep for itself, so that
 * most shm calls skip the global lock (0: no caches; default 512 KiB; the
 * build switch SHM_CACHE=0 removes them).  Parked bytes count as used. */
extern size_t shm_cache_size;

/* Where reports go.  Default: stderr, "srmem: LEVEL: text".  Levels follow
 * syslog: 2 critical, 3 error, 4 warning, 6 info, 7 debug. */
typedef void (*mem_log_fn)(int level, const char *msg);
void mem_set_log(mem_log_fn fn);

/* --- the generic layer, one entry per operation ------------------------- */
void *mem_malloc(struct mem_pool *pool, size_t size, const struct mem_site *s);
void *mem_mallocxz(struct mem_pool *pool, size_t size, const struct mem_site *s);
void *mem_realloc(struct mem_pool *pool, void *p, size_t size,
		const struct mem_site *s);
void *mem_reallocxf(struct mem_pool *pool, void *p, size_t size,
		const struct mem_site *s);
void mem_free(struct mem_pool *pool, void *p, const struct mem_site *s);
/* The same without taking the pool's lock (the caller holds it). */
void *mem_malloc_unsafe(struct mem_pool *pool, size_t size,
		const struct mem_site *s);
void *mem_realloc_unsafe(struct mem_pool *pool, void *p, size_t size,
		const struct mem_site *s);
void mem_free_unsafe(struct mem_pool *pool, void *p, const struct mem_site *s);

void mem_pool_info(struct mem_pool *pool, struct mem_info *mi);
uint64_t mem_pool_available(struct mem_pool *pool);
size_t mem_usable_size(struct mem_pool *pool, const void *p);
/* Verify every invariant of the heap; report problems through the log and
 * return their number (0: healthy). */
int mem_check(struct mem_pool *pool);
/* Call fn for every fragment in address order.  The pool is locked while it
 * runs; fn must not allocate from the same pool. */
int mem_walk(struct mem_pool *pool, mem_walk_fn fn, void *arg);
/* Log every fragment (filter: NULL, or a file or module name to match). */
void mem_status(struct mem_pool *pool, const char *filter);
/* Log per-call-site totals (count and bytes), largest first. */
void mem_sums(struct mem_pool *pool);
const char *mem_pool_backend(struct mem_pool *pool);
int mem_pool_contains(struct mem_pool *pool, const void *p);

/* The backends compiled in, by their short names ("fm", "qm", "tlsf"), and
 * the build: "MEMMNG=2 (tlsf) MEMDBG=1 LOCK=futex". */
const char *const *mem_backend_names(void);
const char *mem_build_info(void);
const char *mem_default_backend(void);

/* --- pkg: private memory ------------------------------------------------ */
extern struct mem_pool *mem_pkg_pool;

int pkg_init(size_t size, const char *backend);
void pkg_destroy(void);

#define pkg_malloc(s)         mem_malloc(mem_pkg_pool, (s), MEM_HERE)
#define pkg_mallocxz(s)       mem_mallocxz(mem_pkg_pool, (s), MEM_HERE)
#define pkg_realloc(p, s)     mem_realloc(mem_pkg_pool, (p), (s), MEM_HERE)
#define pkg_reallocxf(p, s)   mem_reallocxf(mem_pkg_pool, (p), (s), MEM_HERE)
#define pkg_free(p)           mem_free(mem_pkg_pool, (p), MEM_HERE)
#define pkg_info(mi)          mem_pool_info(mem_pkg_pool, (mi))
#define pkg_available()       mem_pool_available(mem_pkg_pool)
#define pkg_check()           mem_check(mem_pkg_pool)
#define pkg_status()          mem_status(mem_pkg_pool, NULL)
#define pkg_sums()            mem_sums(mem_pkg_pool)

/* --- shm: shared memory ------------------------------------------------- */
extern struct mem_pool *mem_shm_pool;

int shm_init(size_t size, const char *backend);
void shm_destroy(void);
void shm_global_lock(void);
void shm_global_unlock(void);
int shm_address_in(const void *p);
/* Bytes and fragments parked in per-process caches now (all processes). */
void shm_cache_stats(uint64_t *bytes, uint64_t *blocks);
/* Give back the caches of processes that have exited; returns fragments.
 * A server calls it when it reaps a worker; allocation failures and
 * shm_info() do it too. */
size_t shm_cache_reclaim(void);

#define shm_malloc(s)         mem_malloc(mem_shm_pool, (s), MEM_HERE)
#define shm_mallocxz(s)       mem_mallocxz(mem_shm_pool, (s), MEM_HERE)
#define shm_realloc(p, s)     mem_realloc(mem_shm_pool, (p), (s), MEM_HERE)
#define shm_reallocxf(p, s)   mem_reallocxf(mem_shm_pool, (p), (s), MEM_HERE)
#define shm_free(p)           mem_free(mem_shm_pool, (p), MEM_HERE)
#define shm_malloc_unsafe(s)  mem_malloc_unsafe(mem_shm_pool, (s), MEM_HERE)
#define shm_realloc_unsafe(p, s) \
	mem_realloc_unsafe(mem_shm_pool, (p), (s), MEM_HERE)
#define shm_free_unsafe(p)    mem_free_unsafe(mem_shm_pool, (p), MEM_HERE)
#define shm_info(mi)          mem_pool_info(mem_shm_pool, (mi))
#define shm_available()       mem_pool_available(mem_shm_pool)
#define shm_check()           mem_check(mem_shm_pool)
#define shm_status()          mem_status(mem_shm_pool, NULL)
#define shm_sums()            mem_sums(mem_shm_pool)

#endif /* SRMEM_MEM_H */
