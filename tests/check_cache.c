/*
 * check_cache.c - the per-process shm caches (mem/cache.c), per backend.
 *
 * What users must not lose when small shm frees skip the global lock:
 *   - honest numbers: parked bytes are not used but cached, to shm_info()
 *     (the same number as shm_cache_stats()) and to the walker; free_size
 *     counts them; after every block is freed, used_size and real_used
 *     are back to the byte, in one process and across fork;
 *   - bounds: one process parks at most about shm_cache_size bytes;
 *   - nothing stranded: memory parked in another (live, sleeping) process's
 *     cache serves a request that needs it, and a dead process's cache is
 *     given back (SIGKILL included);
 *   - misuse still reported: a double free of a parked fragment, and
 *     only that: a stale parked mark in reused memory is not one; a
 *     pointer into a fragment, a wild one and a second free of a fragment
 *     back in the heap, refused by the cache path's one-header check;
 *     (release) a broken next header that this check does not read,
 *     reported by the flush that would join it;
 *   - cross-process free of every size;
 *   - the depot: a chain one process flushed serves another's refill
 *     whole, with no cut from the heap; its fragments count as cached
 *     (stats and walker alike) and a drain empties it; a budget flush
 *     that finds one class full in the depot still leaves the next
 *     lists there;
 *   - room: a heap with no free block of the caches' room left gets no
 *     batches and no parked frees until it has room again, so that a pool
 *     filled to the brim over and over (W6s) fills about as far through
 *     the caches as with the global lock only;
 *   - off switch: shm_cache_size = 0 parks nothing.
 * With SHM_CACHE=0 builds the suite checks that nothing is ever parked.
 * Pools are small (8 MiB) so that filling them is quick.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memtest.h"
#include "internal.h"
#include "cache.h"

#ifndef SHM_CACHE
#define SHM_CACHE 1
#endif

#define POOL (8u << 20)

static uint64_t parked_bytes(void)
{
	uint64_t bytes, blocks;
	shm_cache_stats(&bytes, &blocks);
	return bytes;
}

static uint64_t parked_blocks(void)
{
	uint64_t bytes, blocks;
	shm_cache_stats(&bytes, &blocks);
	return blocks;
}

/* Parked in the slots: the depot (shared, nobody's) left out. */
static uint64_t slots_parked_bytes(void)
{
	struct mem_cache *c = mem_shm_pool->cache;
	return parked_bytes() - (c ? c->depot_bytes : 0);
}

/* The cache's own mechanics, each free parked at its call: no free queue
 * (MEMDBG=0's mem_free_queue; check_shmfq.c tests the queue in front of
 * them). */
static void start_sized(int i, size_t limit, size_t pool)
{
	shm_cache_size = limit;
	mem_free_queue = 0;
	t_log_start();
	ck_assert_int_eq(shm_init(pool, t_backend(i)), 0);
}

static void start(int i, size_t limit)
{
	start_sized(i, limit, POOL);
}

static void finish(void)
{
	ck_assert_int_eq(shm_check(), 0);
	shm_destroy();
	shm_cache_size = SHM_CACHE_AUTO;
}

struct walk_count {
	uint64_t cached, used;
};

static int count_frag(const struct mem_frag *f, void *arg)
{
	struct walk_count *c = arg;
	c->cached += f->cached;
	c->used += f->used;
	return 0;
}

START_TEST(test_parked_is_cached)
{
	struct mem_info before, after;
	start(_i, 512u << 10);
	void *keep = shm_malloc(100);   /* the process claims its slot */
	shm_free(keep);
	shm_info(&before);
	void *p[64];
	for (int k = 0; k < 64; k++)
		p[k] = shm_malloc(200);
	for (int k = 0; k < 64; k++)
		shm_free(p[k]);
	shm_info(&after);
	struct walk_count c = { 0, 0 };
	mem_walk(mem_shm_pool, count_frag, &c);
	if (SHM_CACHE) {
		ck_assert_uint_gt(parked_blocks(), 0);
		ck_assert_uint_eq(c.cached, parked_blocks());
		ck_assert_uint_gt(after.cached, before.cached);
	} else {
		ck_assert_uint_eq(parked_blocks(), 0);
		ck_assert_uint_eq(c.cached, 0);
	}
	ck_assert_uint_eq(after.cached, parked_bytes());
	ck_assert_uint_eq(after.used_size, before.used_size);
	ck_assert_uint_eq(after.real_used, before.real_used);
	ck_assert_uint_eq(c.used, 0);
	ck_assert_uint_eq(after.free_size + after.real_used, after.total_size);
	finish();
}
END_TEST

/* The honest-counter workload: N blocks of mixed sizes (1 B .. 8 KiB, 7
 * in 8 up to 1 KiB, the rest past the exact classes: about 8 MiB in a
 * 32 MiB pool whose caches may park 512 KiB each), allocated by one
 * process and freed by this one.  After every call free_size == total_size - real_used
 * and cached == shm_cache_stats() bytes; once all are freed used_size and
 * real_used are back to the byte, with fragments still parked. */
enum { HONEST_N = 8000 };

static size_t honest_size(uint64_t *s)
{
	return t_rand(s) % 8 ? t_range(s, 1, 1024) : t_range(s, 1025, 8192);
}

static void honest_step(const char *what, size_t k)
{
	struct mem_info mi;
	uint64_t bytes, blocks;
	shm_info(&mi);
	shm_cache_stats(&bytes, &blocks);
	T_ASSERT(mi.free_size == mi.total_size - mi.real_used && mi.cached ==
		bytes && mi.max_used >= mi.real_used, "%s %zu: free %" PRIu64
		" total %" PRIu64 " real_used %" PRIu64 " max_used %" PRIu64
		" cached %" PRIu64 " parked %" PRIu64, what, k, mi.free_size,
		mi.total_size, mi.real_used, mi.max_used, mi.cached, bytes);
}

static void honest_alloc(void **p, uint64_t seed)
{
	for (size_t k = 0; k < HONEST_N; k++) {
		size_t n = honest_size(&seed);
		p[k] = shm_malloc(n);
		T_ASSERT(p[k] != NULL, "block %zu (%zu bytes): no memory", k, n);
		memset(p[k], (int)(k & 0xff), n);
		honest_step("malloc", k);
	}
}

static void honest_free_all(void **p, const struct mem_info *base)
{
	struct mem_info mi;
	for (size_t k = 0; k < HONEST_N; k++) {
		shm_free(p[k]);
		honest_step("free", k);
	}
	shm_info(&mi);
	if (SHM_CACHE)
		ck_assert_uint_gt(mi.cached, 0);
	ck_assert_uint_eq(mi.used_size, base->used_size);
	ck_assert_uint_eq(mi.real_used, base->real_used);
	ck_assert_uint_eq(mi.free_size, base->free_size);
	ck_assert_uint_ge(mi.max_used, base->real_used);
}

START_TEST(test_honest_counters)
{
	static void *p[HONEST_N];
	struct mem_info base;
	start_sized(_i, SHM_CACHE_AUTO, 4 * POOL);
	shm_info(&base);
	honest_alloc(p, 42);
	honest_free_all(p, &base);
	finish();
}
END_TEST

/* The same with the blocks made in a child: its cache fills from the
 * heap, the parent's from the child's blocks; after the child exits its
 * slot is reclaimed and nothing changes in what callers hold. */
START_TEST(test_honest_counters_fork)
{
	struct mem_info base, mi;
	start_sized(_i, SHM_CACHE_AUTO, 4 * POOL);
	void **p = shm_malloc(HONEST_N * sizeof(void *));
	ck_assert_ptr_nonnull(p);
	shm_info(&base);
	pid_t pid = fork();
	if (pid == 0) {
		honest_alloc(p, 7);
		_exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	shm_info(&mi);   /* reclaims the child's cache */
	ck_assert_uint_gt(mi.used_size, base.used_size);
	ck_assert_uint_eq(mi.free_size, mi.total_size - mi.real_used);
	honest_free_all(p, &base);
	shm_free(p);
	finish();
}
END_TEST

START_TEST(test_bounded)
{
	size_t limit = 64u << 10;
	start(_i, limit);
	enum { N = 2000 };
	static void *p[N];
	uint64_t s = 7;
	for (int k = 0; k < N; k++)
		p[k] = shm_malloc(t_range(&s, 16, 4000));
	for (int k = 0; k < N; k++) {
		shm_free(p[k]);
		/* one fragment may be pushed before its class is flushed;
		 * the depot holds at most two budgets more */
		T_ASSERT(parked_bytes() <= 3 * limit + 4096 + DBG_EXTRA,
			"%llu bytes parked, limit %zu",
			(unsigned long long)parked_bytes(), limit);
	}
	finish();
}
END_TEST

START_TEST(test_off_switch)
{
	start(_i, 0);
	void *p = shm_malloc(64);
	shm_free(p);
	ck_assert_uint_eq(parked_blocks(), 0);
	finish();
}
END_TEST

/* A sleeping worker parks most of the pool in its cache; the parent's
 * request for almost the whole pool must still succeed. */
START_TEST(test_live_cache_drained)
{
	start(_i, POOL);  /* let one process park anything */
	int ready[2], go[2];
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(go), 0);
	pid_t pid = fork();
	if (pid == 0) {
		static void *p[40000];   /* every class, until the pool is full */
		int n = 0;
		while (n < 40000 && (p[n] = shm_malloc(16 + (size_t)n * 16 % 4000)))
			n++;
		for (int k = 0; k < n; k++)
			shm_free(p[k]);
		char c = 1;
		(void)!write(ready[1], &c, 1);
		(void)!read(go[0], &c, 1);   /* stay alive, cache full */
		_exit(0);
	}
	char c;
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	uint64_t parked = parked_bytes();
	struct mem_info mi;
	shm_info(&mi);
	/* free_size counts the parked fragments.  With caches: more than
	 * the heap itself has free (free_size less the parked fragments,
	 * headers and all), so it only fits once the cache is back; without:
	 * most of the free heap (TLSF's good fit rounds a request up by up
	 * to 1/32) */
	ck_assert_uint_eq(mi.cached, parked);
	size_t want = SHM_CACHE ? (size_t)(mi.free_size - parked / 2) :
		(size_t)(mi.free_size / 16 * 15);
	if (SHM_CACHE)
		ck_assert_uint_gt(parked, mi.free_size / 8);
	void *big = shm_malloc(want);
	ck_assert_ptr_nonnull(big);
	shm_free(big);
	(void)!write(go[1], &c, 1);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	finish();
}
END_TEST

/* A worker killed with fragments in its cache: they come back. */
START_TEST(test_dead_cache_reclaimed)
{
	start(_i, 512u << 10);
	struct mem_info base, mi;
	void *keep = shm_malloc(64);
	shm_free(keep);
	shm_info(&base);
	uint64_t parked_base = slots_parked_bytes();
	int ready[2];
	ck_assert_int_eq(pipe(ready), 0);
	pid_t pid = fork();
	if (pid == 0) {
		void *p[500];
		for (int k = 0; k < 500; k++)
			p[k] = shm_malloc(64 + (k % 50) * 16);
		for (int k = 0; k < 500; k++)
			shm_free(p[k]);
		char c = 1;
		(void)!write(ready[1], &c, 1);
		pause();
		_exit(0);
	}
	char c;
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	if (SHM_CACHE)
		ck_assert_uint_gt(parked_bytes(), parked_base);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	size_t n = shm_cache_reclaim();
	if (SHM_CACHE)
		ck_assert_uint_gt(n, 0);
	/* what it gave the depot stays there, for anyone */
	ck_assert_uint_eq(slots_parked_bytes(), parked_base);
	shm_info(&mi);
	ck_assert_uint_eq(mi.real_used, base.real_used);
	ck_assert_uint_eq(mi.used_size, base.used_size);
	finish();
}
END_TEST

/* Every size allocated in one process and freed in another, both ways
 * through the caches; the heap must end as it began. */
START_TEST(test_cross_process_free)
{
	start(_i, 512u << 10);
	struct mem_info base, mi;
	shm_info(&base);
	enum { N = 300 };
	void **slot = shm_malloc(N * sizeof(void *));
	pid_t pid = fork();
	if (pid == 0) {
		for (int k = 0; k < N; k++) {
			slot[k] = shm_malloc((size_t)k * 37 + 1);
			memset(slot[k], k & 0xff, (size_t)k * 37 + 1);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	for (int k = 0; k < N; k++) {
		unsigned char *b = slot[k];
		ck_assert_ptr_nonnull(b);
		ck_assert_uint_eq(b[k * 37], (unsigned)(k & 0xff));
		shm_free(b);
	}
	shm_free(slot);
	shm_cache_reclaim();
	shm_info(&mi);          /* parked or not, nobody holds anything */
	ck_assert_uint_eq(mi.real_used, base.real_used);
	ck_assert_uint_eq(mi.used_size, base.used_size);
	t_shm_drain();
	shm_info(&mi);
	ck_assert_uint_eq(mi.real_used, base.real_used);
	ck_assert_uint_eq(mi.total_frags, base.total_frags);
	finish();
}
END_TEST

/* Heap bytes in use, parked ones included (what a cut raises). */
static uint64_t heap_used(void)
{
	struct mem_info mi;
	shm_info(&mi);
	return mi.used_size + mi.cached;
}

/* This process frees more fragments of one class than its list holds:
 * the overflow goes to the depot as one chain, counted as cached.  A new
 * process's first request of that class (a miss: its slot is empty) takes
 * that chain whole: one of the fragments freed here, and the heap not
 * touched.  A drain then leaves nothing parked anywhere. */
START_TEST(test_depot_handoff)
{
	start(_i, 512u << 10);
	enum { N = 300 };
	void **p = shm_malloc(N * sizeof(void *));
	for (int k = 0; k < N; k++)
		p[k] = shm_malloc(64);
	for (int k = 0; k < N; k++)
		shm_free(p[k]);
	struct walk_count c = { 0, 0 };
	mem_walk(mem_shm_pool, count_frag, &c);
	ck_assert_uint_eq(c.cached, parked_blocks());
	if (!SHM_CACHE) {
		ck_assert_uint_eq(parked_blocks(), 0);
		goto out;
	}
	ck_assert_uint_gt(mem_shm_pool->cache->depot_blocks, 0);
	ck_assert_uint_ge(mem_shm_pool->cache->depot_bytes,
		64 * mem_shm_pool->cache->depot_blocks);
	pid_t pid = fork();
	if (pid == 0) {
		uint64_t before = heap_used();
		void *q = shm_malloc(64);
		int ours = 0;
		for (int k = 0; k < N; k++)
			ours |= q == p[k];
		_exit(!ours ? 3 : heap_used() != before ? 4 : 0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
	shm_cache_reclaim();
	t_shm_drain();          /* asserts nothing is left parked */
	ck_assert_uint_eq(mem_shm_pool->cache->depot_blocks, 0);
out:
	shm_free(p);
	finish();
}
END_TEST

static struct shm_cache_flow flow_now(void)
{
	struct shm_cache_flow f;
	ck_assert_int_eq(shm_cache_flow(&f), SHM_CACHE ? 0 : -1);
	return f;
}

/* shm_cache_flow() accounts for every fragment the caches cut: parked,
 * in the depot or back in the heap, and all of them back in the heap
 * once the caches are drained; a refill in another process that finds a
 * chain in the depot counts it as from_depot. */
START_TEST(test_flow_counts)
{
	start(_i, 512u << 10);
	enum { N = 300 };
	static void *p[N];
	struct shm_cache_flow f = flow_now(), z = { 0 };
	ck_assert_mem_eq(&f, &z, sizeof(f));
	for (int k = 0; k < N; k++)
		ck_assert_ptr_nonnull(p[k] = shm_malloc(64));
	if (!SHM_CACHE) {
		f = flow_now();
		ck_assert_mem_eq(&f, &z, sizeof(f));
		for (int k = 0; k < N; k++)
			shm_free(p[k]);
		goto out;
	}
	f = flow_now();
	ck_assert_uint_ge(f.refills, 1);
	ck_assert_uint_ge(f.cut, N);
	ck_assert_uint_eq(f.from_depot, 0);
	ck_assert_uint_eq(f.cut - N, parked_blocks());
	for (int k = 0; k < N; k++)
		shm_free(p[k]);
	f = flow_now();
	ck_assert_uint_ge(f.chains, 1);
	ck_assert_uint_eq(f.to_depot, mem_shm_pool->cache->depot_blocks);
	ck_assert_uint_eq(f.to_heap + parked_blocks(), f.cut);
	uint64_t refills = f.refills;
	pid_t pid = fork();
	if (pid == 0) {
		shm_free(shm_malloc(64));
		_exit(0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
	f = flow_now();
	ck_assert_uint_eq(f.refills, refills + 1);
	ck_assert_uint_ge(f.from_depot, 1);
	ck_assert_uint_gt(shm_cache_reclaim(), 0);
	f = flow_now();
	ck_assert_uint_ge(f.reclaimed, 1);
	t_shm_drain();
	f = flow_now();
	ck_assert_uint_eq(f.to_heap, f.cut);
	ck_assert_uint_eq(f.drains, 0);         /* no request failed */
out:
	finish();
}
END_TEST

/* This process's cache slot, or NULL. */
static struct cache_slot *own_slot(void)
{
	struct mem_cache *c = mem_shm_pool->cache;
	for (unsigned i = 0; i < c->nslots; i++)
		if ((pid_t)(uint32_t)c->slot[i].owner == getpid())
			return &c->slot[i];
	return NULL;
}

/* Free *n of the fragments p[0, *n) from the end until list c holds more
 * than half its bound (without crossing the bound); *n: those left. */
static void fill_list(struct cache_slot *s, unsigned c, void **p, int *n)
{
	while (*n > 0 && (s->cls[c].count <= s->cls[c].max / 2 ||
			s->cls[c].count + 1 < s->cls[c].max))
		shm_free(p[--*n]);
}

/* The class whose list the free of q parks it in. */
static unsigned class_of_free(struct cache_slot *s, void *q)
{
	uint32_t before[CACHE_CLASSES];
	for (unsigned k = 0; k < CACHE_CLASSES; k++)
		before[k] = s->cls[k].count;
	shm_free(q);
	for (unsigned k = 0; k < CACHE_CLASSES; k++)
		if (s->cls[k].count == before[k] + 1)
			return k;
	ck_abort_msg("the free parked nothing");
	return 0;
}

/* A slot over its budget gives lists back in cursor order.  When the
 * depot has no room for the first list's chain, that chain goes to the
 * heap, and the next list's chain still goes to the depot, where another
 * process's refill finds it (a handoff's producer), instead of following
 * the first one to the heap. */
START_TEST(test_budget_past_full_class)
{
	start(_i, 1u << 20);
	if (!SHM_CACHE)
		goto out;
	enum { NA = 3000, NL = 128 };
	static const size_t sz[] = { 100, 200, 300 };
	static void *a[NA], *l[3][NL];
	int na = NA, nl[3];
	for (int k = 0; k < NA; k++)
		ck_assert_ptr_nonnull(a[k] = shm_malloc(16));
	for (int j = 0; j < 3; j++)
		for (nl[j] = 0; nl[j] < NL; nl[j]++)
			ck_assert_ptr_nonnull(l[j][nl[j]] = shm_malloc(sz[j]));
	struct cache_slot *s = own_slot();
	ck_assert_ptr_nonnull(s);
	struct mem_cache *mc = mem_shm_pool->cache;
	unsigned ca = class_of_free(s, a[--na]);
	unsigned cb = class_of_free(s, l[0][--nl[0]]);
	ck_assert_uint_lt(ca, cb);
	/* list A overflows into the depot until its class there is full */
	while (na > 16 && mc->depot[ca].n < CACHE_DEPOT_CHAINS)
		shm_free(a[--na]);
	ck_assert_uint_eq(mc->depot[ca].n, CACHE_DEPOT_CHAINS);
	fill_list(s, ca, a, &na);
	for (int j = 0; j < 3; j++) {
		void *q = l[j][--nl[j]];
		fill_list(s, class_of_free(s, q), l[j], &nl[j]);
	}
	ck_assert_uint_gt(s->cls[ca].count, s->cls[ca].max / 2);
	ck_assert_uint_gt(s->cls[cb].count, s->cls[cb].max / 2);
	ck_assert_uint_eq(mc->depot[cb].n, 0);
	/* the next free crosses the budget; the cursor visits A, then B */
	uint64_t limit = mc->park_limit;
	mc->park_limit = s->bytes;
	s->evict = ca - 1;
	void *e = shm_malloc(400);
	shm_free(e);
	mc->park_limit = limit;
	ck_assert_uint_eq(mc->depot[ca].n, CACHE_DEPOT_CHAINS);
	ck_assert_uint_eq(mc->depot[cb].n, 1);
	ck_assert_ptr_null(s->held);
	while (na > 0)
		shm_free(a[--na]);
	for (int j = 0; j < 3; j++)
		while (nl[j] > 0)
			shm_free(l[j][--nl[j]]);
	t_shm_drain();
out:
	finish();
}
END_TEST

/* An 80-byte fragment freed into the cache of a fresh pool; *blocks: the
 * fragments parked then. */
static char *parked_80(int i, uint64_t *blocks)
{
	start(i, 512u << 10);
	char *p = shm_malloc(80);
	shm_free(p);
	*blocks = parked_blocks();
	t_log_clear();
	return p;
}

/* After a refused double free of an 80-byte fragment the pool goes on
 * working: the fragment comes back exactly once. */
static void back_once(void)
{
	char *a = shm_malloc(80), *b = shm_malloc(80);
	ck_assert_ptr_ne(a, b);
	shm_free(a);
	shm_free(b);
	finish();
}

/* A double free of a parked fragment is reported, and parks nothing. */
START_TEST(test_double_free_parked)
{
	uint64_t blocks;
	char *p = parked_80(_i, &blocks);
	shm_free(p);
	T_LOG_HAS("double free");
	ck_assert_uint_eq(parked_blocks(), blocks);
	back_once();
}
END_TEST

/* realloc of a parked fragment: one report of a double free, NULL, and
 * nothing moved (the cache path's own check refuses it before any
 * resize or copy). */
START_TEST(test_realloc_parked)
{
	uint64_t blocks;
	char *p = parked_80(_i, &blocks);
	ck_assert_ptr_null(shm_realloc(p, 100));
	T_LOG_HAS("shm: realloc: double free");
	T_ASSERT(t_log_lines == 1, "%u reports, want 1", t_log_lines);
	ck_assert_uint_eq(parked_blocks(), blocks);
	back_once();
}
END_TEST

/* One report of `what` for shm_free(x), and x parked nowhere: the free's
 * cheap check on the cache path (the fragment's own header, or MEMDBG its
 * record) refused it, and the locked path named the mistake. */
static void refused_once(void *x, const char *what)
{
	uint64_t blocks = parked_blocks();
	char want[256];
	t_log_clear();
	shm_free(x);
	snprintf(want, sizeof(want), "shm: free: %s %p at ", what, x);
	T_LOG_HAS(want);
	T_ASSERT(t_log_lines == 1, "%u reports for %p, want 1:\n%s",
		t_log_lines, x, t_log_buf);
	ck_assert_uint_eq(parked_blocks(), blocks);
	ck_assert_int_eq(shm_check(), 0);
}

/* The cache path's free (no global lock, and without MEMDBG no record)
 * still refuses what is not a used fragment, before anything is parked:
 * every 16-aligned pointer into a live fragment, patterned and zeroed
 * (zeros are the most header-like contents there are); a wild pointer
 * into the pool's control structure; a second free of a fragment that a
 * drain gave back to the heap, and of one the heap joined with its free
 * neighbours since.  The neighbours keep their contents. */
static int by_address(const void *x, const void *y)
{
	uintptr_t a = (uintptr_t)*(void *const *)x;
	uintptr_t b = (uintptr_t)*(void *const *)y;
	return a < b ? -1 : a > b;
}

START_TEST(test_misuse_unlocked)
{
	enum { N = 100 };       /* more than one refill: the middle ones */
	char *f[N];             /* are cut next to each other, all live */
	start(_i, 512u << 10);
	for (int k = 0; k < N; k++) {
		f[k] = shm_malloc(200);
		ck_assert_ptr_nonnull(f[k]);
		t_fill(f[k], 0, 200, 0x5eed);
	}
	qsort(f, N, sizeof(f[0]), by_address);
	char *p = f[50], *z = f[60], *j = f[70];
	memset(z, 0, 200);
	for (size_t off = 16; off < 200; off += 16) {
		refused_once(p + off, "pointer is not the start of a fragment");
		refused_once(z + off, "pointer is not the start of a fragment");
	}
	const void *region;
	uint64_t size;
	mem_pool_range(mem_shm_pool, &region, &size);
	refused_once((char *)region + 64 + DBG_HEAD,
		"pointer is not the start of a fragment");
	shm_free(p);            /* its neighbours stay live: no join */
	shm_cache_drain();
	refused_once(p, "double free");
	shm_free(f[69]);        /* j's neighbours are free in the heap ... */
	shm_free(f[71]);
	shm_cache_drain();
	shm_free(j);            /* ... and join with it when it comes back */
	shm_cache_drain();
	t_log_clear();
	shm_free(j);
	T_ASSERT(t_log_lines == 1 && (t_log_has("shm: free: double free") ||
		t_log_has("shm: free: pointer is not the start of a fragment")),
		"second free of a joined fragment:\n%s", t_log_buf);
	ck_assert_int_eq(shm_check(), 0);
	for (int k = 0; k < N; k++) {
		if (f[k] == p || f[k] == j || k == 69 || k == 71)
			continue;
		if (f[k] != z)
			T_ASSERT(t_verify(f[k], 0, 200, 0x5eed) == SIZE_MAX,
				"fragment %d lost its contents", k);
		shm_free(f[k]);
	}
	finish();
}
END_TEST

/* Release builds: a fragment whose NEXT block's header an overflow broke
 * is parked by the cache path's free (it reads only the fragment's own
 * header; fm's adapter reads both and refuses it at once).  The flush
 * that would join it into the heap checks both headers first: tlsf's
 * reports it there and keeps the fragment rather than free it into a
 * broken heap; every backend reports the damage somewhere (free, flush
 * or the heap checker).  MEMDBG builds: check_damage.c (the canary). */
START_TEST(test_next_header_broken)
{
#if MEMDBG
	(void)_i;
#else
	enum { N = 100 };
	char *f[N];
	start(_i, 512u << 10);
	for (int k = 0; k < N; k++) {
		f[k] = shm_malloc(200);
		ck_assert_ptr_nonnull(f[k]);
	}
	qsort(f, N, sizeof(f[0]), by_address);
	char *p = f[50], *word = f[51] - 8;   /* the word right below f[51] */
	uint64_t saved;
	memcpy(&saved, word, sizeof(saved));
	memset(word, 0x5a, sizeof(saved));      /* p ran over its end */
	t_log_clear();
	shm_free(p);
	unsigned at_free = t_log_lines;
	shm_cache_drain();
	if (SHM_CACHE && !strcmp(t_backend(_i), "tlsf")) {
		char want[256];
		ck_assert_uint_eq(at_free, 0);  /* parked: one header read */
		snprintf(want, sizeof(want), "shm: free (found when flushed): "
			"write past the end of the fragment %p at ", (void *)p);
		T_LOG_HAS(want);
		ck_assert_uint_eq(t_log_lines, 1);
	}
	shm_check();            /* logs what free and flush did not */
	T_ASSERT(t_log_lines > 0, "a broken next header went unreported");
	memcpy(word, &saved, sizeof(saved));
	shm_destroy();
	shm_cache_size = SHM_CACHE_AUTO;
#endif
}
END_TEST

/* A fragment handed out on the locked path where a parked fragment
 * started before a drain gave it back: its free and realloc are not taken
 * for double frees of the old parked one, whatever its first word holds
 * (the caller here never writes it). */
START_TEST(test_stale_park_mark)
{
	start(_i, 512u << 10);
	struct mem_info base, mi;
	shm_info(&base);
	char *p = shm_malloc(240000); /* last class: cut on the locked path */
	ck_assert_ptr_nonnull(p);
	shm_free(p);
	if (SHM_CACHE)
		ck_assert_uint_eq(parked_blocks(), 1);
	shm_cache_drain();
	t_log_clear();
	char *q = shm_malloc(240000);
	if (!strcmp(t_backend(_i), "tlsf"))   /* big blocks cut from the top */
		ck_assert_ptr_eq(q, p);
	q = shm_realloc(q, 241000);
	ck_assert_ptr_nonnull(q);
	shm_free(q);
	T_LOG_EMPTY();
	shm_cache_drain();
	shm_info(&mi);
	ck_assert_uint_eq(mi.used_size, base.used_size);
	ck_assert_uint_eq(mi.real_used, base.real_used);
	finish();
}
END_TEST

/* realloc between small sizes keeps contents, in place or moved. */
START_TEST(test_small_realloc)
{
	start(_i, 512u << 10);
	char *p = shm_malloc(40);
	memset(p, 'x', 40);
	for (size_t n = 41; n < 3000; n = n * 3 / 2) {
		p = shm_realloc(p, n);
		ck_assert_ptr_nonnull(p);
		for (size_t k = 0; k < 40; k++)
			T_ASSERT(p[k] == 'x', "byte %zu lost at size %zu", k, n);
		ck_assert_int_eq(shm_check(), 0);
	}
	p = shm_realloc(p, 20);
	ck_assert_int_eq(memcmp(p, "xxxxxxxxxxxxxxxxxxxx", 20), 0);
	shm_free(p);
	finish();
}
END_TEST

/* Sizes around every kind of class edge, each freed into the cache and
 * asked for again, filled to the last byte: a class that hands out a
 * fragment too small shows as a broken heap or canary. */
START_TEST(test_class_edges)
{
	static const size_t base[] = { 16, 1024, 4096, 5120, 8192, 65536,
		196608, 262144 };
	start(_i, 4u << 20);
	for (size_t b = 0; b < sizeof(base) / sizeof(base[0]); b++) {
		for (size_t n = base[b] - 64; n <= base[b] + 64; n += 8) {
			char *p = shm_malloc(n), *q;
			ck_assert_ptr_nonnull(p);
			memset(p, 0xa5, n);
			shm_free(p);
			q = shm_malloc(n + 8);       /* may take p's fragment */
			ck_assert_ptr_nonnull(q);
			memset(q, 0x5a, n + 8);
			T_ASSERT(shm_check() == 0, "heap broken at size %zu", n);
			shm_free(q);
		}
	}
	finish();
}
END_TEST

/* MEMDBG: a write past the end of a fragment that is then freed into the
 * cache is found by the heap checker while it is parked, and reported with
 * its allocation site when the fragment is reused (the free did not read
 * the canary's line).  Release builds have no canary: the heap stays sound. */
START_TEST(test_overflow_parked)
{
	start(_i, 512u << 10);
	char *p = shm_malloc(100);
	int line = __LINE__ - 1;
	p[100] = 'x';                   /* one byte past the end */
	shm_free(p);
#if MEMDBG
	char want[256];
	if (!SHM_CACHE) {               /* no cache: the free itself reports */
		snprintf(want, sizeof(want), "shm: free: write past the end of "
			"the fragment %p", (void *)p);
		T_LOG_HAS(want);
		finish();
		return;
	}
	ck_assert_int_eq(shm_check(), 1);
	snprintf(want, sizeof(want), "write past the end of cached fragment "
		"%p (100 bytes) allocated at %s:%s:%d", (void *)p, __FILE__,
		__func__, line);
	T_LOG_HAS(want);
	t_log_clear();
	char *q = shm_malloc(100);
	ck_assert_ptr_eq(q, p);         /* LIFO: the same fragment */
	snprintf(want, sizeof(want), "free (found when reused): write past the "
		"end of the fragment %p", (void *)p);
	T_LOG_HAS(want);
	snprintf(want, sizeof(want), "allocated at %s:%s:%d", __FILE__,
		__func__, line);
	T_LOG_HAS(want);
	shm_free(q);
#else
	(void)line;
#endif
	finish();
}
END_TEST

/* --- room: a heap with no room to spare gets the caches out of the way -- */

/* A request of the fill below: half under 128 bytes, then up to 4 KiB,
 * 32 KiB and, once in a hundred, 256 KiB (BENCH.md's SIP mix, coarser). */
static size_t fill_size(uint64_t *s)
{
	uint64_t r = t_range(s, 0, 99);
	return r < 50 ? t_range(s, 16, 128) : r < 80 ? t_range(s, 129, 512) :
		r < 95 ? t_range(s, 513, 4096) : r < 99 ?
		t_range(s, 4097, 32768) : t_range(s, 32769, 262144);
}

enum { FILL_MAX = 1 << 16, FILL_ROUNDS = 8 };

/* W6 on this pool (BENCH.md): fill until a request fails, note the bytes
 * asked for and live, free every other one, FILL_ROUNDS times; the mean
 * share of the pool that was live at the failures. */
static double fill_rounds(int i, size_t limit, uint64_t seed)
{
	static void *p[FILL_MAX];
	static size_t size[FILL_MAX];
	uint64_t live = 0;
	double sum = 0;
	size_t n = 0;
	start(i, limit);
	for (int r = 0; r < FILL_ROUNDS; r++) {
		while (n < FILL_MAX) {
			size_t want = fill_size(&seed);
			if (!(p[n] = shm_malloc(want)))
				break;
			size[n] = want;
			live += size[n++];
		}
		sum += (double)live / POOL;
		size_t kept = 0;
		for (size_t k = 0; k < n; k++) {
			if ((k + r) % 2) {
				p[kept] = p[k];
				size[kept++] = size[k];
			} else {
				shm_free(p[k]);
				live -= size[k];
			}
		}
		n = kept;
	}
	while (n)
		shm_free(p[--n]);
	finish();
	return sum / FILL_ROUNDS;
}

/* Filled to the brim over and over (W6s), the caches come close to the
 * global-lock mode: once the heap has no free block of the caches' room
 * (1 MiB here), misses are cut to size on the locked path and frees join
 * in the heap, instead of class-sized batches and parked fragments
 * cutting up what the heap keeps whole.  Before, tlsf lost 7-14 points
 * per seed here; now -1 to 8 (the first round still fills through the
 * caches).  Each seed's gap moves by points when the heap's start moves
 * by a few KiB (the cache slots grew by 16 bytes each on 2026-12-03:
 * tlsf seed 2 went from 4.4 to 7.5 points in the MEMMNG=1 pthread build),
 * so four seeds were too few to hold a bound: over seeds 1..8 tlsf's mean
 * is 3.3-3.7 points with MEMDBG=1 and 5.1 without (the same before and
 * after that change), which a bound of 6 holds with a margin and a
 * return to 7-14 would break. */
START_TEST(test_room_fill)
{
	double gap = 0;
	for (uint64_t seed = 1; seed <= 8; seed++)
		gap += fill_rounds(_i, 0, seed) -
			fill_rounds(_i, SHM_CACHE_AUTO, seed);
	T_ASSERT(gap / 8 <= 0.06, "%s: the caches fill %.3f of the pool "
		"less than the global lock only", t_backend(_i), gap / 8);
}
END_TEST

/* The backend's answer that the room depends on: is there a free block
 * that a request of n bytes finds at once?  Caches off: the heap alone. */
START_TEST(test_has_room)
{
	start(_i, 0);
	struct mem_pool *pool = mem_shm_pool;
	const struct mem_backend *be = POOL_BE(pool);
	ck_assert(be->has_room(pool->st, 1u << 20));
	ck_assert(!be->has_room(pool->st, 2 * POOL));
	void *big = shm_malloc(POOL - (900u << 10));  /* < 900 KiB left */
	ck_assert_ptr_nonnull(big);
	ck_assert(!be->has_room(pool->st, 1u << 20));
	ck_assert(be->has_room(pool->st, 256u << 10));
	shm_free(big);
	ck_assert(be->has_room(pool->st, 2u << 20));
	finish();
}
END_TEST

/* The mechanism: with no free block of the room left, a miss is served
 * on the locked path without a batch, and a free goes to the heap; once
 * a free block of twice the room is back, both use the cache again. */
START_TEST(test_room_tight)
{
	start(_i, 512u << 10);
	void *big = shm_malloc(POOL - (900u << 10));  /* < 1 MiB left */
	ck_assert_ptr_nonnull(big);
	void *p = shm_malloc(200);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(parked_blocks(), 0);  /* no batch was cut */
	shm_free(p);
	ck_assert_uint_eq(parked_blocks(), 0);  /* freed into the heap */
	shm_free(big);
	p = shm_malloc(200);
	ck_assert_ptr_nonnull(p);
	if (SHM_CACHE)
		ck_assert_uint_gt(parked_blocks(), 0);  /* a batch again */
	uint64_t before = parked_blocks();
	shm_free(p);
	ck_assert_uint_eq(parked_blocks(), before + !!SHM_CACHE);
	finish();
}
END_TEST

Suite *cache_suite(void)
{
	Suite *s = suite_create("shm_cache");
	struct { const char *name; const TTest *fn; } cases[] = {
		{ "parked_is_cached", test_parked_is_cached },
		{ "honest_counters", test_honest_counters },
		{ "honest_counters_fork", test_honest_counters_fork },
		{ "bounded", test_bounded },
		{ "off_switch", test_off_switch },
		{ "live_cache_drained", test_live_cache_drained },
		{ "dead_cache_reclaimed", test_dead_cache_reclaimed },
		{ "cross_process_free", test_cross_process_free },
		{ "depot_handoff", test_depot_handoff },
		{ "budget_past_full_class", test_budget_past_full_class },
		{ "flow_counts", test_flow_counts },
		{ "double_free_parked", test_double_free_parked },
		{ "realloc_parked", test_realloc_parked },
		{ "small_realloc", test_small_realloc },
		{ "class_edges", test_class_edges },
		{ "overflow_parked", test_overflow_parked },
		{ "stale_park_mark", test_stale_park_mark },
		{ "misuse_unlocked", test_misuse_unlocked },
		{ "next_header_broken", test_next_header_broken },
		{ "room_fill", test_room_fill },
		{ "room_tight", test_room_tight },
		{ "has_room", test_has_room },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		TCase *tc = tcase_create(cases[k].name);
		tcase_set_timeout(tc, 120);
		tcase_add_loop_test(tc, cases[k].fn, 0, T_NBACKENDS);
		suite_add_tcase(s, tc);
	}
	return s;
}
