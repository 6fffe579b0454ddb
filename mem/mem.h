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

/* Pool counters, all in bytes but total_frags.  "Used" means held by a
 * caller: fragments parked in a per-process shm cache (shm_cache_size) are
 * nobody's, and are counted in cached, not in used_size or real_used.
 *   total_size   size of the heap the backend manages
 *   free_size    total_size - real_used (parked fragments are free: they
 *                are given back to the heap before any request fails)
 *   used_size    payload bytes of the fragments callers hold (usable
 *                bytes, with MEMDBG's record around each)
 *   real_used    used_size plus those fragments' headers and the backend's
 *                own bookkeeping
 *   max_used     the highest real_used seen (shm with caches: as sampled
 *                by every locked allocation that grows the heap past it
 *                and by every shm_info(); cache hits alone write nothing
 *                shared, so a peak made and undone by them is not seen;
 *                pkg in release builds: frees still waiting in the free
 *                queue are made before a new peak is kept, so the queue
 *                never raises it)
 *   min_frag     the smallest fragment the backend makes (header included)
 *   total_frags  the number of FREE fragments, as Kamailio counts it (not
 *                all fragments, and parked ones are not among them)
 *   cached       payload bytes parked in the shm caches of all processes,
 *                counted as used_size counts them: the same number as
 *                shm_cache_stats() bytes.  Their headers (a fixed amount
 *                per fragment) are out of real_used too.  pkg: always 0.
 * pkg counters are exact at every moment.  shm ones are exact whenever no
 * process is inside a cache operation (the parked sums are read without
 * locks, racy but never torn); after every fragment is freed, used_size
 * and real_used are back to their starting values, whatever is parked. */
struct mem_info {
	uint64_t total_size;
	uint64_t free_size;
	uint64_t used_size;
	uint64_t real_used;
	uint64_t max_used;
	uint64_t min_frag;
	uint64_t total_frags;
	uint64_t cached;
};

struct mem_pool;

/* --- settings: set before pkg_init()/shm_init() ------------------------ */
extern int mem_safety;      /* 1 report bad frees and go on, 0 abort */
extern int mem_join;        /* 1 join free neighbours at once (f_malloc) */
/* MEMDBG: 1 (default) fill what a freed fragment's caller had and verify
 * the fill when the fragment is used again, leaves a shm cache or is
 * checked ("write after free", doc/DIAGNOSTICS.md); 0 off.  May change at
 * any time. */
extern int mem_free_check;
/* MEMDBG=0: 1 (default) a pkg free waits in a queue of 16, a small shm
 * free in its process's queue of 8 (in its cache slot), while the lines
 * it will read are fetched, so that many frees' cache misses overlap
 * (mem/fqueue.h, mem/cache.c); 0: every free at once.  The queue drains before
 * anything reads the heap as a whole, before an allocation fails, and on
 * mem_fq_drain().  May change at any time. */
extern int mem_free_queue;
/* MEMDBG=0: pkg requests of at most 512 bytes from spans of one object
 * size, blocks of 1/256 of the pkg heap (4 to 16 KiB; mem/slab.c), whose
 * free reads no header.  0 (the default): every request from the backend
 * (membench W2, a proxy's steady state, is no faster with spans, up to
 * 9 % slower; W1's runs of one size 1.3-2x faster: doc/PERFORMANCE.md,
 * "Small objects in spans"); PKG_SLAB_AUTO: with f_malloc and TLSF, not with q_malloc,
 * whose guards on every fragment are what it is chosen for (an object in
 * a span has no header, so an overflow into the next object breaks
 * nothing the heap checks); 1 with every backend.  Set before pkg_init();
 * not under Valgrind, and never with MEMDBG=1 (every fragment carries its
 * record). */
#define PKG_SLAB_AUTO (-1)
extern int pkg_slab;
extern int mem_summary;     /* 1 pkg status, 2 shm status, 4 pkg sums, 8 shm sums */
extern int shm_force_alloc; /* 1 touch every page of shm at init */
extern int shm_mlock;       /* 1 mlock() the shm segment */
/* Transparent huge pages for a pool (madvise(MADV_HUGEPAGE) at its init):
 * MEM_HUGE_AUTO (the default) asks where the kernel allows them (pkg:
 * transparent_hugepage/enabled is always or madvise; shm: shmem_enabled is
 * advise, always, within_size or force), silently; 1 asks and warns where
 * it does not; 0 never asks.  pkg_huge() and shm_huge() say which pages
 * the pool got. */
#define MEM_HUGE_AUTO (-1)
#define SHM_HUGE_AUTO MEM_HUGE_AUTO
extern int pkg_huge_pages;
extern int shm_huge_pages;
extern int shm_populate;    /* 1 (default) shm_child_init() maps all of shm */
/* Bytes of small freed fragments each process may keep for itself, so that
 * most shm calls skip the global lock.  SHM_CACHE_AUTO (the default): 1/64
 * of the shm size, within 256 KiB..8 MiB; 0: no caches (the build switch
 * SHM_CACHE=0 removes them altogether).  Parked bytes are not used but
 * cached (struct mem_info). */
#define SHM_CACHE_AUTO ((size_t)-1)
extern size_t shm_cache_size;
/* Fragments a diagnostic scan (mem_scan) copies per hold of a pool's lock
 * (default 256; doc/DIAGNOSTICS.md has the hold times it gives). */
extern unsigned mem_scan_chunk;

/* An allocation that fails for lack of memory is reported (size, call
 * site, the pool's counters) at most once per call site per this many
 * seconds in each process; the next report says how many it left out.
 * 0: every failure. */
extern unsigned mem_oom_interval;

/* Where reports go.  Default: stderr, "srmem: LEVEL: text".  Levels follow
 * syslog: 2 critical, 3 error, 4 warning, 6 info, 7 debug. */
typedef void (*mem_log_fn)(int level, const char *msg);
void mem_set_log(mem_log_fn fn);

/* MEMDBG reports on shm fragments name the processes that allocated and
 * freed them as "pid P (rank R)": R is what this process gave here (a
 * server's process rank), kept with each fragment it allocates or frees.
 * A forked child has none until it sets its own.  0, or -1 when id is out
 * of range. */
#define MEM_PROC_ID_MIN (-512)
#define MEM_PROC_ID_MAX 510
int mem_set_proc_id(int id);

/* The process a struct mem_frag names (alloc_proc, free_proc), as data:
 * pid 0 when unknown; has_rank 0 when it set no id (rank is then 0). */
struct mem_proc {
	unsigned pid;
	int rank;
	int has_rank;
};
struct mem_proc mem_proc_of(uint32_t proc);

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
/* Free now what waits in pool's free queue (mem_free_queue): pkg's, or
 * every process's shm queue (each under its slot lock; not with a pool
 * lock held). */
void mem_fq_drain(struct mem_pool *pool);
uint64_t mem_pool_available(struct mem_pool *pool);
size_t mem_usable_size(struct mem_pool *pool, const void *p);
const char *mem_pool_backend(struct mem_pool *pool);
int mem_pool_contains(struct mem_pool *pool, const void *p);
/* The region the backend manages: its first byte and its size (the
 * backend's own bookkeeping included), for maps of the pool. */
void mem_pool_range(struct mem_pool *pool, const void **start, uint64_t *size);

/* The backends compiled in, by their short names ("fm", "qm", "tlsf"), and
 * the build: "MEMMNG=2 (tlsf) MEMDBG=1 LOCK=futex". */
const char *const *mem_backend_names(void);
const char *mem_build_info(void);
const char *mem_default_backend(void);

/* --- diagnostics: the heap as data ---------------------------------------
 * The walker turns every fragment into a struct mem_frag; everything below
 * is built on it, and only the last group writes to the log.  Results live
 * in memory of their own (never the pool looked at): release them with the
 * matching *_release().  doc/DIAGNOSTICS.md has the details and formats. */

/* One fragment as the walker reports it. */
struct mem_frag {
	const void *addr;               /* what the caller got (or would get) */
	uint64_t size;                  /* usable bytes at addr */
	uint64_t req_size;              /* bytes asked for; 0 if unknown/free */
	int used;
	int cached;                     /* free, but parked in a process cache */
	int broken;                     /* MEMDBG: record or end canary hit;
	                                 * always: header_broken or hole */
	/* The backend's header here fails its checks: size and state come
	 * from the MEMDBG record (the checker rebuilds the header from it). */
	int header_broken;
	/* [addr, addr + size) could not be read as fragments at all: the
	 * walk went on at the next block it found (damage.c); addr is where
	 * the broken header's payload starts, size the bytes up to the next
	 * payload; neither used nor free. */
	int hole;
	/* MEMDBG: who allocated it and who freed it, or NULL.  A free
	 * fragment made of several joined ones names its first piece's. */
	const struct mem_site *alloc;
	const struct mem_site *freed;
	/* MEMDBG: the processes that allocated and freed it (pid and the id
	 * of mem_set_proc_id), or 0; reports spell them "pid P (rank R)". */
	uint32_t alloc_proc, free_proc;
	/* pkg_slab: an object of a span of small objects (used: handed out;
	 * else free, or with used 0 and a larger size the objects the span
	 * has never handed out), which has no header of its own.  span and
	 * span_size are the heap's block that holds it (the span's header
	 * first): used to the heap whatever its objects' states, and given
	 * back once they are all free.  NULL: a fragment of the heap's own. */
	const void *span;
	uint64_t span_size;
};

/* Free to callers but not to the heap: parked in a shm cache, or a free
 * object of a pkg span. */
static inline int mem_frag_held(const struct mem_frag *f)
{
	return f->cached || (f->span && !f->used);
}

/* Return non-zero to stop the walk. */
typedef int (*mem_walk_fn)(const struct mem_frag *frag, void *arg);

/* Verify every invariant of the heap; report problems through the log and
 * return their number (0: healthy).  Holds the lock for the whole heap. */
int mem_check(struct mem_pool *pool);
/* What one check found, by severity.  structure: the allocator's own
 * records disagree (lists, counters, a header nothing could rebuild): not
 * safe to go on allocating.  application: the program damaged its own
 * data or a header the check rebuilt from the MEMDBG record (an overflow
 * past the end canary, a write after free): the heap is sound again. */
struct mem_check_result {
	int problems;                   /* all: what mem_check() returns */
	int structure;
	int application;
};
int mem_check_ex(struct mem_pool *pool, struct mem_check_result *res);
/* Call fn for every fragment in address order, all under the pool's lock:
 * an exact picture, for tests and tools; fn must not use the pool. */
int mem_walk(struct mem_pool *pool, mem_walk_fn fn, void *arg);

/* What a scan cost the pool's lock. */
struct mem_scan_stats {
	uint64_t frags;                 /* fragments seen (before filter) */
	uint64_t sections;              /* times the lock was taken */
	uint64_t max_hold_ns;           /* longest hold */
	uint64_t total_hold_ns;
	uint64_t resyncs;               /* resume points changed meanwhile */
	uint64_t changes;               /* lock sections of other processes
	                                 * between the holds */
	int result;                     /* what mem_scan() returned */
};

/* The walk for live servers: fragments are copied mem_scan_chunk at a time
 * under the lock, and fn runs with the lock released (it may even use the
 * pool).  Each chunk is exact; between chunks other processes go on, so a
 * fragment that changes meanwhile is seen before or after, or not at all.
 * filter: NULL for every fragment, else only used fragments whose call
 * site's file contains it or whose module is it.  stats may be NULL.
 * Returns 0, what fn returned to stop it, -1 (heap corrupt: mem_check()
 * tells) or -2 (lost its way too often: the heap changed too fast to
 * follow, or damage makes the backend refuse blocks). */
int mem_scan(struct mem_pool *pool, const char *filter, mem_walk_fn fn,
		void *arg, struct mem_scan_stats *stats);

/* The same checker for a live server: the same invariants and reports,
 * but the lock is held for mem_scan_chunk blocks or list entries at a
 * time (and once for the list heads and counters), never for the whole
 * heap.  Each finding is made within one hold, so concurrent change
 * causes no false alarm; the invariants that need the whole heap at one
 * instant (counters, listed against free blocks) are compared only when
 * no other process took the lock during the check (exact), and left out
 * otherwise.  doc/DIAGNOSTICS.md has the bound and the figures. */
struct mem_check_stats {
	struct mem_scan_stats scan;     /* frags: blocks checked; sections,
	                                 * longest and total hold; resyncs;
	                                 * changes: others' lock sections
	                                 * during the check; result: of the
	                                 * block walk (as mem_scan()) */
	uint64_t listed;                /* free-list entries checked */
	uint64_t lists_lost;            /* lists left unverified: they kept
	                                 * changing under the check */
	int exact;                      /* counters and lists compared with
	                                 * the blocks (nobody else held the
	                                 * lock meanwhile) */
};
int mem_check_chunked(struct mem_pool *pool, struct mem_check_result *res,
		struct mem_check_stats *stats);

/* Used fragments of one call site.  file == NULL: no call site known
 * (MEMDBG=0, or a caller built without it): all such fragments in one row. */
struct mem_site_sum {
	const char *file, *func, *mod;
	unsigned line;
	uint64_t count;                 /* used fragments */
	uint64_t bytes;                 /* asked for (usable if unknown) */
	uint64_t usable;                /* usable bytes */
};

/* The same per module (mod == NULL: no call site), with its sites. */
struct mem_mod_sum {
	const char *mod;
	uint64_t count, bytes, usable;
	size_t nsites;
	const size_t *sites;            /* in mem_sums_data.sites, largest 1st */
};

struct mem_sums_data {
	const char *pool, *backend;     /* "pkg"/"shm", "tlsf_malloc"... */
	int sites_known;                /* the library records call sites */
	uint64_t count, bytes, usable;  /* every row together */
	size_t nsites, nmods;
	struct mem_site_sum *sites;     /* largest bytes first */
	struct mem_mod_sum *mods;       /* largest bytes first */
	struct mem_scan_stats scan;
};

/* Per-call-site and per-module totals of the used fragments (cached ones
 * are not used).  mod: NULL or "all", else only that module's sites.
 * NULL when no scratch memory could be had (logged). */
struct mem_sums_data *mem_sums_get(struct mem_pool *pool, const char *mod);
void mem_sums_release(struct mem_sums_data *d);

/* Counts and extremes of one scan.  A min_* / max_* / first_broken entry
 * is valid when its count is non-zero; sizes are usable bytes.  cached_*:
 * free to callers but not to the heap (parked in a shm cache, or a free
 * object of a pkg span: struct mem_frag's span); free_*: the heap's. */
struct mem_report_data {
	const char *pool, *backend;
	struct mem_info info;           /* mem_pool_info() before the scan */
	uint64_t used_frags, free_frags, cached_frags, broken_frags;
	uint64_t holes, hole_bytes;     /* unreadable areas (mem_frag.hole) */
	uint64_t used_bytes, free_bytes, cached_bytes;
	uint64_t asked_bytes;           /* MEMDBG: asked for by used fragments */
	struct mem_frag min_used, max_used, min_free, max_free, first_broken;
	struct mem_scan_stats scan;
};

/* 0, or what mem_scan() returned (the data then covers what was seen). */
int mem_report_get(struct mem_pool *pool, struct mem_report_data *r);

/* Log forms of the above, at level info (formats in doc/DIAGNOSTICS.md). */
/* Every fragment (filter: as mem_scan). */
void mem_status(struct mem_pool *pool, const char *filter);
/* Per-call-site totals, largest first. */
void mem_sums(struct mem_pool *pool);
/* Per-module totals and each module's sites (mod: NULL/"all", or one). */
void mem_mod_sums(struct mem_pool *pool, const char *mod);
/* Counts, totals, smallest and largest fragments, overflows. */
void mem_report(struct mem_pool *pool);

/* mem_summary at exit and on SIGUSR1: call mem_summary_install() once in
 * the main process (the one that calls shm_init()), before fork.  At exit
 * every process logs its pkg parts; only the main one the shm parts.
 * SIGUSR1 only sets a flag (formatting is not async-signal-safe): the
 * program's main loop calls mem_summary_poll(), which dumps if it was set
 * and returns 1 then.  mem_summary_dump() dumps now. */
void mem_summary_install(void);
int mem_summary_poll(void);
void mem_summary_dump(void);

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
#define pkg_report()          mem_report(mem_pkg_pool)

/* --- shm: shared memory ------------------------------------------------- */
extern struct mem_pool *mem_shm_pool;

int shm_init(size_t size, const char *backend);
void shm_destroy(void);
void shm_global_lock(void);
void shm_global_unlock(void);
int shm_address_in(const void *p);
/* 1: the segment asked for 2 MiB pages where the kernel gives them
 * (shm_huge_pages); 0: 4 KiB pages, or no segment. */
int shm_huge(void);
/* The same for this process's pkg pool (pkg_huge_pages). */
int pkg_huge(void);
/* Call in every child right after fork, before it serves (the main process
 * may call it too).  With shm_populate, maps the whole segment into this
 * process's page tables now, so that serving never takes a page fault on
 * shm: fork does not copy a shared mapping's page tables.  The first
 * process to do so makes the whole segment resident.  0, or -1 (logged)
 * when shm is not set up or the kernel could not populate; the process
 * works either way, paying a fault on each page's first touch. */
int shm_child_init(void);
/* Bytes and fragments parked in per-process caches now (all processes):
 * bytes is shm_info()'s cached, payload as used_size counts it. */
void shm_cache_stats(uint64_t *bytes, uint64_t *blocks);
/* What the per-process caches traded with the shared heap since
 * shm_init(), summed over every process that ever had a cache (counters
 * only grow).  Each refill and each give-back is one section of the heap
 * lock; a refill takes whole chains from the depot before it cuts from
 * the heap, a give-back hands its chain to the depot when there is room
 * and its fragments to the heap when not (doc/DESIGN.md, "Per-process
 * caches").  In a server whose caches work, refills and give-backs are
 * rare next to the requests (membench: per million ops), and cut and
 * to_heap are rare next to from_depot and to_depot. */
struct shm_cache_flow {
	uint64_t refills;       /* cache misses served in a heap-lock section */
	uint64_t from_depot;    /* fragments refills took from the depot */
	uint64_t cut;           /* fragments refills cut from the heap */
	uint64_t chains;        /* chains given back to the depot */
	uint64_t to_depot;      /* fragments in those chains */
	uint64_t to_heap;       /* fragments given back to the heap (no room
	                         * in the depot, a tight heap, a drain) */
	uint64_t over_budget;   /* times a process went over its byte budget */
	uint64_t drains;        /* requests that drained every cache first */
	uint64_t reclaimed;     /* fragments taken back from dead processes */
};
/* Fill *f; 0, or -1 (and zeros) when the segment has no caches. */
int shm_cache_flow(struct shm_cache_flow *f);
/* Bytes one process may park (0: no caches in this segment). */
uint64_t shm_cache_limit(void);
/* Give back the caches of processes that have exited; returns fragments.
 * A server calls it when it reaps a worker; a process looking for a cache
 * slot and an allocation that fails do it too (shm_info() does not: it
 * stays cheap).  A process is dead when kill() says ESRCH, /proc says
 * zombie, or its pid now names a process started at another time. */
size_t shm_cache_reclaim(void);
/* Give every fragment parked in any process's cache back to the heap (a
 * leak hunt, a test that compares counters); returns fragments. */
size_t shm_cache_drain(void);

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
#define shm_report()          mem_report(mem_shm_pool)

/* Statistics of a pool's lock (shm: the heap lock; pkg has none).  Each
 * process counts its own acquisitions in a row of the segment, written by
 * it alone, so counting adds no shared cache-line traffic; rows are summed
 * when read, without a lock (racy, never torn).  Times are ns.
 *   acquired      acquisitions (every shm call that took the heap lock)
 *   contended     acquisitions that found it held (futex: the first CAS
 *                 failed; LOCK=pthread: trylock failed)
 *   sleeps        futex waits (pthread: one per contended acquisition)
 *   wait_ns       time from finding it held to getting it, summed; and
 *   wait_max_ns   the longest such wait
 *   hold_samples  one acquisition in hold_sample is timed to its release;
 *   hold_sampled_ns  their sum; hold_ns that sum scaled to every
 *                 acquisition (an estimate); hold_max_ns the longest sample
 *   takeovers     acquisitions taken from an owner that had died, and the
 *   takeover_ns   wait until then (summed; _max_ns the longest)
 * The totals include processes that have exited (their rows are folded
 * into the totals when reused). */
struct mem_lock_stat {
	int32_t pid;                    /* 0 in the totals */
	uint64_t acquired, contended, sleeps;
	uint64_t wait_ns, wait_max_ns;
	uint64_t hold_samples, hold_sampled_ns, hold_ns, hold_max_ns;
	uint64_t takeovers, takeover_ns, takeover_max_ns;
};

#define MEM_LOCK_ROWS 128

struct mem_lock_stats {
	const char *clock;              /* "tsc" or "monotonic" */
	unsigned hold_sample;           /* 1 acquisition in this is timed */
	int32_t owner;                  /* pid holding the lock now, or 0 */
	uint32_t recoveries;            /* dead owners taken over, ever */
	uint32_t unrowed;               /* processes that found no free row */
	struct mem_lock_stat total;
	size_t nrows;                   /* processes with a row, live or not */
	struct mem_lock_stat rows[MEM_LOCK_ROWS];
};

/* 0, or -1 when the pool has no counted lock (pkg, or no shm yet). */
int mem_lock_stats_get(struct mem_pool *pool, struct mem_lock_stats *out);
#define shm_lock_stats(out)   mem_lock_stats_get(mem_shm_pool, (out))

/* Locks for a program's own data in shm (a hash bucket, a table): the
 * heap lock's kind, with the same dead-owner detection.  Make them before
 * fork (each is one shm fragment).  shm_lock_get() returns 0, or 1 when
 * the lock was taken over from a holder that died: the caller must then
 * check the data it guards (the holder may have died mid-update). */
struct shm_lock;
struct shm_lock *shm_lock_new(void);            /* NULL: out of shm */
void shm_lock_free(struct shm_lock *l);         /* NULL: nothing */
int shm_lock_get(struct shm_lock *l);
void shm_lock_release(struct shm_lock *l);

/* N locks in one shm fragment, for a hash table's buckets: N times the
 * lock's size instead of N fragments (a fragment's header and MEMDBG
 * record cost more than the lock itself).  shm_lock_set_at() gives lock I
 * of the set for shm_lock_get/release; an I out of range is reported and
 * gives NULL.  Locks of a set share cache lines: a set suits many locks
 * each taken rarely, not a few hot ones. */
struct shm_lock_set;
struct shm_lock_set *shm_lock_set_new(unsigned n); /* NULL: out of shm, n 0 */
void shm_lock_set_free(struct shm_lock_set *s);    /* NULL: nothing */
struct shm_lock *shm_lock_set_at(struct shm_lock_set *s, unsigned i);

#endif /* SRMEM_MEM_H */
