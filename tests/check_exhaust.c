/*
 * check_exhaust.c - running out of memory, per backend: every request that
 * cannot be met fails cleanly, and service comes back by itself once
 * memory is freed.
 *
 *   shm_full   a fresh 8 MiB shm pool; 4 workers allocate blocks of mixed
 *              sizes (70% 16..512 bytes, 28% up to 8 KiB, 2% 64..300 KiB,
 *              past the caches), each filled with a pattern, and now and
 *              then grow one by shm_realloc, until 64 requests in a row
 *              fail; then 16-byte requests until 8 in a row fail (the
 *              crumbs).  A failed realloc must leave its block intact.
 *              With every worker stopped at "full", the test process runs
 *              the checker and compares every counter with a walk, drains
 *              the caches and checks that less than 1/16 of the pool is
 *              free.  Then every worker verifies and frees all it holds;
 *              once all have, each asks again for the first quarter (in
 *              bytes) of what it got before: all of it must succeed.
 *              Each worker's log holds at most one report per call site
 *              (two sites; mem_oom_interval is raised past the test's
 *              length) and nothing else.  Once with the per-process
 *              caches, once without.
 *   pkg_full   two workers with a 1 MiB pkg pool each: one fills its pkg
 *              the same way, checks its heap, frees everything and
 *              allocates a quarter of it again (must succeed), uses shm meanwhile and ends
 *              with its pkg counters at their start; the other works
 *              normally all along and never fails nor logs.
 * After each: every child exited 0 (no crash, no abort), mem_check() == 0,
 * nothing used is left and every counter is back at its start.
 * Children never call Check (they exit with a status and a line on stderr).
 */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memtest.h"
#include "proctest.h"

#define SHM_SIZE ((size_t)8 << 20)
#define PKG_SIZE ((size_t)1 << 20)
#define WORKERS 4
#define MAX_BLOCKS 200000       /* 8 MiB of the smallest fragments */
#define FAILS_IN_A_ROW 64
#define CRUMB_FAILS 8

static struct t_pool tp;
static size_t cache_default;
static unsigned oom_default;

/* What the workers and the test process share (in shm, made before fork). */
struct barrier {
	int full;               /* workers stopped at "full" */
	int go_free;            /* the test process has checked the heap */
	int freed;              /* workers that freed everything */
};

static void bump(int *x)
{
	__atomic_fetch_add(x, 1, __ATOMIC_ACQ_REL);
}

static void wait_for(int *x, int n)
{
	while (__atomic_load_n(x, __ATOMIC_ACQUIRE) < n)
		sched_yield();
}

static int child_fail(int code, const char *what, unsigned long n)
{
	dprintf(2, "exhaust child %d: %s (%lu)\n", (int)getpid(), what, n);
	if (t_log_lines)
		dprintf(2, "its log:\n%s", t_log_buf);
	return code;
}

/* --- a worker's blocks ----------------------------------------------------- */

struct blocks {
	struct mem_pool *pool;
	struct t_live *b;
	size_t n;
	uint64_t bytes;         /* asked for, in total */
	unsigned long fails;
};

static size_t pick_size(uint64_t *s)
{
	uint64_t r = t_rand(s) % 100;
	if (r < 70)
		return t_range(s, 16, 512);
	if (r < 98)
		return t_range(s, 513, 8192);
	return t_range(s, 64 << 10, 300 << 10);
}

/* Every allocation of a worker passes here: one call site. */
static void *get(struct mem_pool *pool, size_t n)
{
	return mem_malloc(pool, n, MEM_HERE);
}

static void *grow(struct mem_pool *pool, void *p, size_t n)
{
	return mem_realloc(pool, p, n, MEM_HERE);
}

/* 1: the request was met (and the block recorded), 0: NULL, -1: broken. */
static int take(struct blocks *bl, size_t n, uint64_t *rng)
{
	void *p = get(bl->pool, n);
	if (!p)
		return 0;
	if ((uintptr_t)p % 16 || !mem_pool_contains(bl->pool, p) ||
	    bl->n == MAX_BLOCKS)
		return -1;
	uint64_t w = t_rand(rng) | 1;
	t_fill(p, 0, n, w);
	bl->b[bl->n++] = (struct t_live){ p, n, w };
	bl->bytes += n;
	return 1;
}

/* Grow a random block to a random bigger size; on failure it must be
 * intact.  1 grown, 0 refused, -1 broken. */
static int try_grow(struct blocks *bl, uint64_t *rng)
{
	if (!bl->n)
		return 0;
	struct t_live *l = &bl->b[t_rand(rng) % bl->n];
	size_t n = l->n + pick_size(rng);
	void *q = grow(bl->pool, l->p, n);
	if (!q)
		return t_verify(l->p, 0, l->n, l->w) == SIZE_MAX ? 0 : -1;
	if (t_verify(q, 0, l->n, l->w) != SIZE_MAX)
		return -1;
	t_fill(q, l->n, n, l->w);
	bl->bytes += n - l->n;
	l->p = q;
	l->n = n;
	return 1;
}

/* Allocate (and grow now and then) until FAILS_IN_A_ROW requests in a row
 * fail, then take 16-byte crumbs until CRUMB_FAILS in a row fail.  0, or
 * the exit status of a broken promise. */
static int fill(struct blocks *bl, uint64_t *rng)
{
	unsigned row = 0;
	for (unsigned long op = 0; row < FAILS_IN_A_ROW; op++) {
		int r = op % 8 == 7 ? try_grow(bl, rng) :
			take(bl, pick_size(rng), rng);
		if (r < 0)
			return child_fail(10, "bad block or lost contents", op);
		row = r ? 0 : row + 1;
		bl->fails += !r;
	}
	for (row = 0; row < CRUMB_FAILS; ) {
		int r = take(bl, 16, rng);
		if (r < 0)
			return child_fail(11, "bad crumb", bl->n);
		row = r ? 0 : row + 1;
		bl->fails += !r;
	}
	return 0;
}

/* Verify and free every block. */
static int release(struct blocks *bl)
{
	for (size_t i = 0; i < bl->n; i++) {
		struct t_live *l = &bl->b[i];
		if (t_verify(l->p, 0, l->n, l->w) != SIZE_MAX)
			return child_fail(12, "block corrupt", i);
		mem_free(bl->pool, l->p, MEM_HERE);
	}
	bl->n = 0;
	return 0;
}

/* Ask again for target bytes, in the sizes of the same random sequence:
 * every request must be met. */
static int again(struct blocks *bl, uint64_t seed, uint64_t target)
{
	uint64_t rng = seed, got = 0;
	while (got < target) {
		size_t n = pick_size(&rng);
		if (take(bl, n, &rng) != 1)
			return child_fail(13, "no service after memory came "
				"back", (unsigned long)got);
		got += n;
	}
	return 0;
}

static int blocks_init(struct blocks *bl, struct mem_pool *pool)
{
	memset(bl, 0, sizeof(*bl));
	bl->pool = pool;
	bl->b = calloc(MAX_BLOCKS, sizeof(*bl->b));
	return bl->b ? 0 : child_fail(20, "no libc memory", 0);
}

/* At most one report per call site (get, grow), at least one, nothing
 * else in the log. */
static int one_report_per_site(const struct blocks *bl)
{
	unsigned r = t_log_count("not enough memory");
	if (!bl->fails || r < 1 || r > 2 || t_log_lines != r)
		return child_fail(14, "reports not one per call site", r);
	return 0;
}

/* --- shm full ------------------------------------------------------------- */

static int shm_worker(int k, struct barrier *br)
{
	struct blocks bl;
	uint64_t seed = 7 + (uint64_t)k * 7919, rng = seed;
	int rc;
	if ((rc = blocks_init(&bl, mem_shm_pool)) || (rc = fill(&bl, &rng)) ||
	    (rc = one_report_per_site(&bl)))
		return rc;
	uint64_t had = bl.bytes;
	bump(&br->full);
	wait_for(&br->go_free, 1);
	if ((rc = release(&bl)))
		return rc;
	bump(&br->freed);
	wait_for(&br->freed, WORKERS);
	unsigned before = t_log_lines;
	if ((rc = again(&bl, seed, had / WORKERS)) || (rc = release(&bl)))
		return rc;
	if (t_log_lines != before)
		return child_fail(15, "reports after service came back",
			t_log_lines - before);
	return 0;
}

static int spawn_k;      /* set before each fork: the child's index */

static int shm_worker_main(void *arg)
{
	t_log_clear();
	return shm_worker(spawn_k, arg);
}

/* Loop index i: backend i % 3; i >= 3 without the per-process caches. */
START_TEST(test_shm_full)
{
	pid_t pid[WORKERS];
	struct mem_info mi;
	t_log_start();
	mem_oom_interval = 3600;
	shm_cache_size = _i >= T_NBACKENDS ? 0 : cache_default;
	ck_assert_int_eq(shm_init(SHM_SIZE, t_backend(_i % T_NBACKENDS)), 0);
	t_pool_start(&tp, mem_shm_pool);
	struct barrier *br = shm_mallocxz(sizeof(*br));
	ck_assert_ptr_nonnull(br);
	for (spawn_k = 0; spawn_k < WORKERS; spawn_k++)
		pid[spawn_k] = t_spawn(shm_worker_main, br);
	wait_for(&br->full, WORKERS);
	t_pool_verify(&tp, NULL, 0, "shm full");
	t_shm_drain();
	shm_info(&mi);
	T_ASSERT(mi.free_size < mi.total_size / 16, "shm full: %llu of %llu "
		"bytes free", (unsigned long long)mi.free_size,
		(unsigned long long)mi.total_size);
	__atomic_store_n(&br->go_free, 1, __ATOMIC_RELEASE);
	for (int k = 0; k < WORKERS; k++)
		t_expect_exit0(pid[k]);
	shm_free(br);
	t_pool_verify(&tp, NULL, 0, "after the workers");
	t_pool_back_to_start(&tp, "after the workers");
	T_LOG_EMPTY();
	shm_destroy();
}
END_TEST

/* --- pkg full in one worker ----------------------------------------------- */

static int pkg_counters_back(const struct mem_info *s)
{
	struct mem_info mi;
	pkg_info(&mi);
	if (mi.used_size != s->used_size || mi.real_used != s->real_used ||
	    mi.free_size != s->free_size || mi.total_frags != s->total_frags)
		return child_fail(30, "pkg counters not back to the start",
			(unsigned long)mi.used_size);
	return 0;
}

/* Fills its pkg, and goes on: shm works, pkg works again once freed. */
static int pkg_exhausted(void)
{
	struct blocks bl;
	struct mem_info start;
	uint64_t rng = 99;
	int rc;
	pkg_info(&start);
	if ((rc = blocks_init(&bl, mem_pkg_pool)) || (rc = fill(&bl, &rng)) ||
	    (rc = one_report_per_site(&bl)))
		return rc;
	if (pkg_check() != 0)
		return child_fail(31, "pkg heap check failed when full", 0);
	void *s = shm_malloc(1000);
	if (!s)
		return child_fail(32, "shm failed while pkg was full", 0);
	shm_free(s);
	uint64_t had = bl.bytes;
	if ((rc = release(&bl)) || (rc = again(&bl, 5, had / 4)) ||
	    (rc = release(&bl)))
		return rc;
	if (pkg_check() != 0)
		return child_fail(33, "pkg heap check failed after", 0);
	return pkg_counters_back(&start);
}

/* Works as usual meanwhile: its pkg is its own. */
static int pkg_bystander(void)
{
	struct blocks bl;
	struct mem_info start;
	uint64_t rng = 3;
	int rc;
	pkg_info(&start);
	if ((rc = blocks_init(&bl, mem_pkg_pool)))
		return rc;
	for (int round = 0; round < 50; round++) {
		if ((rc = again(&bl, (uint64_t)round, PKG_SIZE / 8)) ||
		    (rc = release(&bl)))
			return rc;
		void *s = shm_malloc(t_range(&rng, 16, 4096));
		if (!s)
			return child_fail(34, "shm failed", (unsigned long)round);
		shm_free(s);
	}
	if (t_log_lines)
		return child_fail(35, "the bystander logged", t_log_lines);
	return pkg_counters_back(&start);
}

static int pkg_worker_main(void *arg)
{
	t_log_clear();
	return arg ? pkg_exhausted() : pkg_bystander();
}

START_TEST(test_pkg_full)
{
	t_log_start();
	mem_oom_interval = 3600;
	ck_assert_int_eq(pkg_init(PKG_SIZE, t_backend(_i)), 0);
	ck_assert_int_eq(shm_init(SHM_SIZE, t_backend(_i)), 0);
	t_pool_start(&tp, mem_shm_pool);
	pid_t a = t_spawn(pkg_worker_main, (void *)1);
	pid_t b = t_spawn(pkg_worker_main, NULL);
	t_expect_exit0(a);
	t_expect_exit0(b);
	ck_assert_int_eq(pkg_check(), 0);
	t_pool_verify(&tp, NULL, 0, "after the workers");
	t_pool_back_to_start(&tp, "after the workers");
	T_LOG_EMPTY();
	shm_destroy();
}
END_TEST

static void teardown(void)
{
	t_teardown();
	shm_cache_size = cache_default;
	mem_oom_interval = oom_default;
}

Suite *exhaust_suite(void)
{
	Suite *s = suite_create("exhaust");
	cache_default = shm_cache_size;
	oom_default = mem_oom_interval;
	TCase *tc = tcase_create("shm_full");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_shm_full, 0, 2 * T_NBACKENDS);
	t_heavy(tc);
	suite_add_tcase(s, tc);
	tc = tcase_create("pkg_full");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_pkg_full, 0, T_NBACKENDS);
	suite_add_tcase(s, tc);
	return s;
}
