/*
 * alloc_srmem.c - our three backends (fm, qm, tlsf) for membench, through
 * the public API only: pkg_* for the private workloads (W1, W2, W5, W6),
 * shm_* for the shared ones (W3, W4), so the shm lock is in every shared
 * op.  Linked with libsrmem.a of the configuration being measured
 * (MEMMNG only picks the default; MEMDBG and LOCK change what is timed).
 *
 * Accounting comes from the pool itself: real_used and max_used (an
 * exact peak, kept by the pool) from mem_pool_info(); the largest free
 * block from a mem_walk() over the heap.  Out-of-memory reports are
 * expected in W6 and are dropped; every other report reaches stderr.
 *
 * Built against an older tree too (bench-full.sh's before/after: the
 * current driver and workers against commit 4ce4f3f's library), whose
 * public header lacks some of what is used here.  The Makefile probes
 * mem.h and defines, for what is missing:
 *   MB_NO_FREE_CHECK  no mem_free_check: "-nofill" is the backend as is
 *                     (such a library has no write-after-free fill);
 *   MB_NO_POPULATE    no shm_populate / shm_child_init(): every worker
 *                     faults the segment in (compare W3 with
 *                     MEMBENCH_SHM_POPULATE=0 in the newer build);
 *   MB_NO_LOCK_STATS  no shm_lock_stats(): no lock_* columns;
 *   MB_NO_FREE_QUEUE  no mem_free_queue: "-noq" is the backend as is
 *                     (such a library frees at once);
 *   MB_NO_PKG_HUGE    no pkg_huge_pages: pkg in 4 KiB pages (compare with
 *                     MEMBENCH_PKG_HUGE_PAGES=0 in the newer build);
 *   MB_NO_CACHE_FLOW  no shm_cache_flow(): no cache_* metrics;
 *   MB_NO_PKG_SLAB    no pkg_slab: "-slab" is the backend as is (such a
 *                     library has no small-object spans).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"       /* -I mem: the public API only */
#include "bench.h"

static void quiet_log(int level, const char *msg)
{
	if (strstr(msg, "not enough memory"))
		return;
	fprintf(stderr, "srmem: level %d: %s\n", level, msg);
}

static int walk_largest(const struct mem_frag *f, void *arg)
{
	uint64_t *largest = arg;
	if (!f->used && f->size > *largest)
		*largest = f->size;
	return 0;
}

static void pool_usage(struct mem_pool *pool, struct bench_usage *u)
{
	struct mem_info mi;
	mem_pool_info(pool, &mi);
	u->real_used = mi.real_used;
	u->peak_used = mi.max_used;
	u->free_total = mi.free_size;
	u->free_largest = 0;
	mem_walk(pool, walk_largest, &u->free_largest);
}

/* --- pkg ------------------------------------------------------------------ */

static const char *backend_of(const char *name, char *buf, size_t len);

/* "NAME-nofill": the same backend without the write-after-free fill;
 * "NAME-noq": without the free queues (every free at once); "NAME-slab":
 * pkg's small objects in spans (pkg_slab = 1). */
static void free_check_of(const char *name)
{
	(void)name;
#ifndef MB_NO_FREE_CHECK
	if (strstr(name, "-nofill"))
		mem_free_check = 0;
#endif
#ifndef MB_NO_FREE_QUEUE
	if (strstr(name, "-noq"))
		mem_free_queue = 0;
#endif
#ifndef MB_NO_PKG_SLAB
	if (strstr(name, "-slab"))
		pkg_slab = 1;
#endif
}

/* A pool's huge-page setting: environment variable env sets it (0: 4 KiB
 * pages, as in a build older than its "auto" default); "NAME-4k" is NAME
 * with 0. */
static void huge_setting(const char *env, const char *name, int *to)
{
	const char *huge = getenv(env);
	if (huge)
		*to = atoi(huge);
	if (strstr(name, "-4k"))
		*to = 0;
}

/* MEMBENCH_PKG_HUGE_PAGES sets pkg_huge_pages. */
static void pkg_settings(const char *name)
{
	(void)name;
#ifndef MB_NO_PKG_HUGE
	huge_setting("MEMBENCH_PKG_HUGE_PAGES", name, &pkg_huge_pages);
#endif
}

static int pkg_setup(const char *name, size_t size)
{
	char base[16];
	pkg_settings(name);
	free_check_of(name);
	name = backend_of(name, base, sizeof(base));
	mem_set_log(quiet_log);
	if (pkg_init(size, name) < 0) {
		fprintf(stderr, "membench: pkg_init(%zu, %s) failed\n", size, name);
		return -1;
	}
	return 0;
}

static void *pkg_m(size_t size)
{
	return pkg_malloc(size);
}

static void *pkg_r(void *p, size_t size)
{
	return pkg_realloc(p, size);
}

static void pkg_f(void *p)
{
	pkg_free(p);
}

static void pkg_usage(struct bench_usage *u)
{
	pool_usage(mem_pkg_pool, u);
}

/* pkg_init maps with MAP_NORESERVE and touches nothing: fault the heap in
 * by taking all of it in 1 MiB and then 4 KiB pieces, writing them, and
 * giving them back. */
static void pkg_prefault(void)
{
	static void *piece[4096];
	static const size_t sizes[] = { MiB, 4096 };
	size_t n = 0;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
		while (n < sizeof(piece) / sizeof(piece[0]) &&
		       (piece[n] = pkg_malloc(sizes[k])))
			memset(piece[n++], 0, sizes[k]);
	while (n)
		pkg_free(piece[--n]);
}

static const struct bench_alloc srmem_pkg = {
	.init = pkg_setup,
	.malloc = pkg_m,
	.realloc = pkg_r,
	.free = pkg_f,
	.usage = pkg_usage,
	.prefault = pkg_prefault,
	.used_src = "mem_pool_info real_used, peak = max_used (exact)",
	.free_src = "mem_pool_info free_size; largest from mem_walk",
};

/* --- shm ------------------------------------------------------------------ */

/* "NAME-lock": the same backend with the per-process caches off;
 * "NAME-nofill": without the write-after-free fill; NAME is the backend. */
static const char *backend_of(const char *name, char *buf, size_t len)
{
	const char *dash = strchr(name, '-');
	if (!dash)
		return name;
	snprintf(buf, len, "%.*s", (int)(dash - name), name);
	return buf;
}

/* MEMBENCH_SHM_POPULATE=0 measures workers that fault the segment in;
 * MEMBENCH_SHM_HUGE_PAGES sets shm_huge_pages. */
static void shm_settings(const char *name)
{
	huge_setting("MEMBENCH_SHM_HUGE_PAGES", name, &shm_huge_pages);
#ifndef MB_NO_POPULATE
	const char *pop = getenv("MEMBENCH_SHM_POPULATE");
	if (pop)
		shm_populate = atoi(pop);
#endif
}

static int shm_setup(const char *name, size_t size)
{
	char base[16];
	mem_set_log(quiet_log);
	shm_settings(name);
	if (strstr(name, "-lock"))
		shm_cache_size = 0;
	free_check_of(name);
	name = backend_of(name, base, sizeof(base));
	if (shm_init(size, name) < 0) {
		fprintf(stderr, "membench: shm_init(%zu, %s) failed\n", size, name);
		return -1;
	}
	return 0;
}

static void *shm_m(size_t size)
{
	return shm_malloc(size);
}

static void *shm_r(void *p, size_t size)
{
	return shm_realloc(p, size);
}

static void shm_f(void *p)
{
	shm_free(p);
}

static void shm_usage(struct bench_usage *u)
{
	pool_usage(mem_shm_pool, u);
}

#ifndef MB_NO_POPULATE
/* A server's child after fork: shm_populate's default maps the segment. */
static void shm_child(void)
{
	shm_child_init();
}
#define SHM_CHILD shm_child
#else
#define SHM_CHILD NULL
#endif

#ifndef MB_NO_LOCK_STATS
static void shm_lock_counts(double out[4])
{
	static struct mem_lock_stats st;   /* 128 rows: not on the stack */
	out[0] = out[1] = out[2] = out[3] = 0;
	if (shm_lock_stats(&st) < 0)
		return;
	out[0] = (double)st.total.acquired;
	out[1] = (double)st.total.contended;
	out[2] = (double)st.total.sleeps;
	out[3] = (double)st.total.hold_ns;
}
#define SHM_LOCK_COUNTS shm_lock_counts
#else
#define SHM_LOCK_COUNTS NULL
#endif

#ifndef MB_NO_CACHE_FLOW
static void shm_cache_counts(double out[5])
{
	struct shm_cache_flow f;
	(void)shm_cache_flow(&f);       /* zeros without caches */
	out[0] = (double)f.refills;
	out[1] = (double)f.from_depot;
	out[2] = (double)f.cut;
	out[3] = (double)f.to_depot;
	out[4] = (double)f.to_heap;
}
#define SHM_CACHE_COUNTS shm_cache_counts
#else
#define SHM_CACHE_COUNTS NULL
#endif

static const struct bench_alloc srmem_shm = {
	.init = shm_setup,
	.malloc = shm_m,
	.realloc = shm_r,
	.free = shm_f,
	.usage = shm_usage,
	.child_init = SHM_CHILD,
	.lock_counts = SHM_LOCK_COUNTS,
	.cache_counts = SHM_CACHE_COUNTS,
	.used_src = "mem_pool_info real_used, peak = max_used (exact)",
	.free_src = "mem_pool_info free_size; largest from mem_walk",
};

static const char *srmem_version(void)
{
	static char v[128];
	snprintf(v, sizeof(v), "srmem %s", mem_build_info());
	return v;
}

static const char *const srmem_names[] = {
	"fm", "qm", "tlsf", "fm-lock", "qm-lock", "tlsf-lock", "tlsf-nofill",
	"fm-noq", "qm-noq", "tlsf-noq", "tlsf-4k", "fm-4k", "qm-4k",
	"tlsf-slab", "fm-slab", "qm-slab",
	NULL,
};

const struct bench_family bench_family = {
	.names = srmem_names,
	.version = srmem_version,
	.priv = &srmem_pkg,
	.shared = &srmem_shm,
};
