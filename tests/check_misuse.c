/*
 * check_misuse.c - bad frees and overflows are reported, and harmless with
 * mem_safety=1; fatal with mem_safety=0.  Per backend, on a 4 MiB pkg pool
 * (and a 4 MiB shm pool for the shm case).
 *
 * Each case makes one kind of mistake next to live neighbours, captures the
 * log (mem_set_log into a static buffer; Check forks every test, so each
 * test has its own) and asserts:
 *   - the report: its text by substring, and with MEMDBG=1 every call site
 *     it can know - this file, the function and the exact line recorded
 *     next to the pkg_malloc / pkg_free - as "file:func:line [core]";
 *   - mem_check() == 0 right after (but for the overflow, which the checker
 *     must report until the block is freed);
 *   - nothing was lost: the neighbours keep their contents, the pool still
 *     serves a small workload, and once everything is freed the counters
 *     are back at their values after init.
 * Cases: double free (neighbours used, and a block already joined with its
 * free neighbours; a block reused since, its stale record's call sites
 * overwritten: MEMDBG=1 only); a pointer outside the pool; a pointer into the middle
 * of a fragment; realloc of a freed pointer; a write one byte past the end
 * (MEMDBG=1 only: the end canary); double free through shm (with and
 * without the per-process caches); with mem_safety=0 a double free and a
 * foreign pointer raise SIGABRT.
 * Each report is asserted right after the call that makes the mistake, so
 * the free queues (MEMDBG=0, mem_free_queue) are off here: the same
 * mistakes made through them, and when they are reported, are
 * check_fqueue.c's (pkg) and check_shmfq.c's (shm).
 */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "memtest.h"

#define POOL_SIZE ((size_t)4 << 20)

static struct t_pool tp;
static struct t_live live[16];
static size_t nlive;
static uint64_t seed = 1;
static size_t cache_default;

/* --- helpers ------------------------------------------------------------- */

static void start(int i)
{
	t_log_start();
	mem_safety = 1;
	mem_free_queue = 0;
	ck_assert_int_eq(pkg_init(POOL_SIZE, t_backend(i)), 0);
	t_pool_start(&tp, mem_pkg_pool);
	nlive = 0;
}

/* "this file:func:line [core]", as mem_site_str() prints a site. */
static void *keep(void *p, size_t n)
{
	ck_assert_ptr_nonnull(p);
	uint64_t w = t_rand(&seed);
	t_fill(p, 0, n, w);
	live[nlive++] = (struct t_live){ p, n, w };
	return p;
}

static void forget(const void *p)
{
	for (size_t i = 0; i < nlive; i++)
		if (live[i].p == p) {
			live[i] = live[--nlive];
			return;
		}
	ck_abort_msg("%p is not kept", p);
}

static void check_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		T_ASSERT(p[i] == 0, "byte %zu of a zeroed block is %#x", i,
			p[i]);
}

/* The heap is sound and holds exactly the kept blocks, intact. */
static void clean(const char *where)
{
	t_pool_verify(&tp, live, nlive, where);
	t_live_verify(live, nlive, where);
}

/* A small workload after the mistake, then everything freed: the pool
 * works and no byte was lost. */
static void still_works(const char *where)
{
	struct mem_pool *pool = tp.pool;
	uint64_t s = 5;
	void *p[64];
	for (int k = 0; k < 64; k++) {
		p[k] = mem_malloc(pool, t_range(&s, 0, 3000), MEM_HERE);
		T_ASSERT(p[k] != NULL, "%s: malloc after the misuse failed",
			where);
	}
	for (int k = 0; k < 64; k += 2)
		mem_free(pool, p[k], MEM_HERE);
	for (int k = 1; k < 64; k += 2)
		mem_free(pool, p[k], MEM_HERE);
	t_live_verify(live, nlive, where);
	while (nlive) {
		mem_free(pool, live[0].p, MEM_HERE);
		live[0] = live[--nlive];
	}
	clean(where);
	t_pool_back_to_start(&tp, where);
}

static void expect_one_report(const char *want)
{
	T_LOG_HAS(want);
	T_ASSERT(t_log_lines == 1, "%u reports, want 1:\n%s", t_log_lines,
		t_log_buf);
}

/* --- double free ----------------------------------------------------------- */

/* One report of a double free by `op` ("pkg: free", "shm: free", ...) of p,
 * at line `at` of func; with MEMDBG it also names the allocation and the
 * first free, each at its exact line. */
static void expect_double_free(const char *op, const void *p,
		const char *func, int at, int alloc_line, int free_line)
{
	char want[1024], s1[256], s2[256], s3[256];
	snprintf(want, sizeof(want), "<3> %s: double free %p at ", op, p);
	expect_one_report(want);
	if (!MEMDBG)
		return;
	/* shm reports name the processes: this one allocated and freed it */
	char me[64] = "";
	if (!strncmp(op, "shm", 3))
		snprintf(me, sizeof(me), " by pid %d", (int)getpid());
	snprintf(want, sizeof(want), "%s: double free %p at %s; allocated at "
		"%s%s; first freed at %s%s", op, p,
		t_site(s1, sizeof(s1), __FILE__, func, at),
		t_site(s2, sizeof(s2), __FILE__, func, alloc_line), me,
		t_site(s3, sizeof(s3), __FILE__, func, free_line), me);
	T_LOG_HAS(want);
}


/* The sites asserted below are recorded on the line of the call itself
 * ("p = pkg_malloc(100); const int alloc_line = __LINE__;"), so that the
 * line the library reports must be exactly that one. */

START_TEST(test_double_free)
{
	start(_i);
	keep(pkg_malloc(100), 100);
	char *p = pkg_malloc(100); const int alloc_line = __LINE__;
	ck_assert_ptr_nonnull(p);
	keep(pkg_malloc(100), 100);
	memset(p, 0x5a, 100);
	pkg_free(p); const int free1_line = __LINE__;
	T_LOG_EMPTY();
	clean(T_AT);
	pkg_free(p); const int free2_line = __LINE__;
	expect_double_free("pkg: free", p, __func__, free2_line, alloc_line,
		free1_line);
	if (MEMDBG) {
		/* the record still names the first free, not the second */
		struct t_find f = t_frag_at(mem_pkg_pool, p);
		ck_assert(f.found && !f.frag.used);
		ck_assert_ptr_nonnull(f.frag.freed);
		ck_assert_int_eq(f.frag.freed->line, free1_line);
		ck_assert_int_eq(f.frag.alloc->line, alloc_line);
	}
	clean(T_AT);
	/* a third time: reported again, still harmless */
	t_log_clear();
	pkg_free(p);
	T_LOG_HAS("pkg: free: double free");
	clean(T_AT);
	still_works(T_AT);
	pkg_destroy();
}
END_TEST

/* The freed block was joined with both free neighbours: its pointer is no
 * fragment any more.  Either report is right; silence or damage is not. */
START_TEST(test_double_free_joined)
{
	start(_i);
	char *a = pkg_malloc(300), *p = pkg_malloc(100), *c = pkg_malloc(300);
	keep(pkg_malloc(100), 100);     /* c is not the last fragment */
	ck_assert(a && p && c);
	pkg_free(a);
	pkg_free(c);
	pkg_free(p);
	clean(T_AT);
	T_LOG_EMPTY();
	pkg_free(p);
	unsigned reports = t_log_lines;
	T_ASSERT(reports == 1, "second free of a block joined with its free "
		"neighbours: %u reports (want 1); then mem_check finds %d "
		"problems\n%s", reports, mem_check(mem_pkg_pool), t_log_buf);
	T_ASSERT(t_log_has("pkg: free: double free") ||
		t_log_has("pkg: free: pointer is not the start of a fragment"),
		"unexpected report:\n%s", t_log_buf);
	clean(T_AT);
	still_works(T_AT);
	pkg_destroy();
}
END_TEST

#if MEMDBG
/* A double free of memory reused since: p was joined into a free block,
 * which a bigger fragment q now holds.  p's old record still has its
 * "freed" tag, but the application wrote its own data where the record
 * named its call sites (a value a killed worker's table left, and a
 * pointer into an unmapped page).  The report names the fragment and the
 * pointers, follows neither, and nothing changes. */
START_TEST(test_double_free_reused)
{
	static const uint64_t garbage[2] = { 0x53528b2db197ffa0ull, 0x1000 };
	start(_i);
	keep(pkg_malloc(100), 100);
	char *a = pkg_malloc(300), *p = pkg_malloc(100), *c = pkg_malloc(300);
	keep(pkg_malloc(100), 100);
	ck_assert(a && p && c);
	pkg_free(a);
	pkg_free(c);
	pkg_free(p);
	char *q = pkg_malloc(600);
	ck_assert_ptr_nonnull(q);
	T_ASSERT(q <= (char *)dbg_hdr(p) && p <= q + 600, "fragment %p of 600 "
		"bytes does not hold the old record of %p", (void *)q, p);
	memcpy(&dbg_hdr(p)->freed, &garbage[0], sizeof(garbage[0]));
	memcpy(&dbg_hdr(p)->alloc, &garbage[1], sizeof(garbage[1]));
	T_LOG_EMPTY();
	struct mem_info before, after;
	pkg_info(&before);
	pkg_free(p);
	char want[256];
	snprintf(want, sizeof(want), "pkg: free: double free %p at ", p);
	expect_one_report(want);
	snprintf(want, sizeof(want), "; allocated at an unreadable call site "
		"(%p); first freed at an unreadable call site (%p)",
		(void *)(uintptr_t)garbage[1], (void *)(uintptr_t)garbage[0]);
	T_LOG_HAS(want);
	pkg_info(&after);
	t_info_same(&before, &after, T_AT);
	pkg_free(q);
	clean(T_AT);
	still_works(T_AT);
	pkg_destroy();
}
END_TEST
#endif

START_TEST(test_realloc_freed)
{
	start(_i);
	keep(pkg_malloc(200), 200);
	char *p = pkg_malloc(200); const int alloc_line = __LINE__;
	ck_assert_ptr_nonnull(p);
	keep(pkg_malloc(200), 200);
	pkg_free(p); const int free_line = __LINE__;
	clean(T_AT);
	struct mem_info before, after;
	pkg_info(&before);
	char *q = pkg_realloc(p, 400); const int realloc_line = __LINE__;
	ck_assert_ptr_null(q);
	pkg_info(&after);
	t_info_same(&before, &after, T_AT);
	expect_double_free("pkg: realloc", p, __func__, realloc_line,
		alloc_line, free_line);
	clean(T_AT);
	/* reallocxf of a freed pointer: reported, and frees nothing */
	t_log_clear();
	ck_assert_ptr_null(pkg_reallocxf(p, 400));
	T_LOG_HAS("pkg: realloc: double free");
	pkg_info(&after);
	t_info_same(&before, &after, T_AT);
	clean(T_AT);
	still_works(T_AT);
	pkg_destroy();
}
END_TEST

/* --- foreign pointers -------------------------------------------------------- */

static char foreign[256] __attribute__((aligned(16)));

START_TEST(test_outside)
{
	char want[512];
	struct mem_info before, after;
	start(_i);
	ck_assert_int_eq(shm_init(POOL_SIZE, t_backend(_i)), 0);
	keep(pkg_malloc(100), 100);
	void *shm = shm_malloc(100);
	ck_assert_ptr_nonnull(shm);
	char *region = (char *)mem_pkg_pool;   /* before the heap proper */
	void *bad[] = { foreign + 16, foreign + 32, shm, region + 16,
		region + POOL_SIZE + 4096 };
	pkg_info(&before);
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		t_log_clear();
		pkg_free(bad[k]);
		snprintf(want, sizeof(want), "<3> pkg: free: pointer outside "
			"the pool %p at ", bad[k]);
		expect_one_report(want);
		clean(T_AT);
		t_log_clear();
		ck_assert_ptr_null(pkg_realloc(bad[k], 50));
		snprintf(want, sizeof(want), "pkg: realloc: pointer outside "
			"the pool %p", bad[k]);
		expect_one_report(want);
		clean(T_AT);
		t_log_clear();
		ck_assert_uint_eq(mem_usable_size(mem_pkg_pool, bad[k]), 0);
		T_LOG_HAS("pkg: usable_size: pointer outside the pool");
	}
	pkg_info(&after);
	t_info_same(&before, &after, T_AT);
	ck_assert_int_eq(shm_check(), 0);
	shm_free(shm);
	still_works(T_AT);
	shm_destroy();
	pkg_destroy();
}
END_TEST

static void middle_of(char *p, const char *how)
{
	char want[512];
	struct mem_info before, after;
	pkg_info(&before);
	/* every 16-aligned offset inside, and an unaligned one */
	for (size_t off = 16; off <= 112; off += 16) {
		char *x = p + off;
		t_log_clear();
		pkg_free(x);
		snprintf(want, sizeof(want), "<3> pkg: free: pointer is not the "
			"start of a fragment %p at ", (void *)x);
		expect_one_report(want);
		clean(how);
		t_log_clear();
		ck_assert_ptr_null(pkg_realloc(x, 300));
		snprintf(want, sizeof(want), "pkg: realloc: pointer is not the "
			"start of a fragment %p", (void *)x);
		expect_one_report(want);
		clean(how);
	}
	t_log_clear();
	pkg_free(p + 1);
	T_LOG_HAS("not the start of a fragment");
	clean(how);
	pkg_info(&after);
	t_info_same(&before, &after, how);
}

START_TEST(test_middle)
{
	start(_i);
	keep(pkg_malloc(64), 64);
	char *p = keep(pkg_malloc(128), 128);   /* patterned contents */
	keep(pkg_malloc(64), 64);
	middle_of(p, "patterned block");
	/* zeros are the most header-like contents there are */
	char *z = pkg_mallocxz(128);
	ck_assert_ptr_nonnull(z);
	live[nlive++] = (struct t_live){ z, 128, T_NOPAT };
	middle_of(z, "zeroed block");
	check_zero((unsigned char *)z, 128);
	pkg_free(z);
	forget(z);
	t_log_clear();
	clean(T_AT);
	T_LOG_EMPTY();
	still_works(T_AT);
	pkg_destroy();
}
END_TEST

/* --- overflow (MEMDBG: the end canary) ------------------------------------- */

#if MEMDBG
START_TEST(test_overflow)
{
	char want[1024], s1[256], s2[256];
	start(_i);
	keep(pkg_malloc(100), 100);
	char *p = pkg_malloc(100); const int alloc_line = __LINE__;
	ck_assert_ptr_nonnull(p);
	keep(pkg_malloc(100), 100);
	memset(p, 0x11, 100);
	p[100] = 0x55;                  /* one byte past what was asked */
	int problems = mem_check(mem_pkg_pool);
	ck_assert_int_eq(problems, 1);
	snprintf(want, sizeof(want), "<3> pkg: heap check: write past the end "
		"of fragment %p (100 bytes) allocated at %s", (void *)p,
		t_site(s1, sizeof(s1), __FILE__, __func__, alloc_line));
	expect_one_report(want);
	/* checking again finds it again: nothing was "repaired" */
	t_log_clear();
	ck_assert_int_eq(mem_check(mem_pkg_pool), 1);
	/* free reports it, names both sites, and releases the block */
	t_log_clear();
	pkg_free(p); const int free_line = __LINE__;
	snprintf(want, sizeof(want), "<3> pkg: free: write past the end of the "
		"fragment %p at %s; allocated at %s", (void *)p,
		t_site(s2, sizeof(s2), __FILE__, __func__, free_line),
		t_site(s1, sizeof(s1), __FILE__, __func__, alloc_line));
	expect_one_report(want);
	T_LOG_HAS("write past the end");
	clean(T_AT);

	/* realloc of an overflowed block: reported, and the realloc is done */
	char *r = pkg_malloc(60); const int r_line = __LINE__;
	ck_assert_ptr_nonnull(r);
	memset(r, 0x22, 60);
	r[60] = 0x33;
	t_log_clear();
	char *q = pkg_realloc(r, 5000);
	ck_assert_ptr_nonnull(q);
	snprintf(want, sizeof(want), "pkg: realloc: write past the end of the "
		"fragment %p at ", (void *)r);
	expect_one_report(want);
	T_LOG_HAS(t_site(s1, sizeof(s1), __FILE__, __func__, r_line));
	for (int k = 0; k < 60; k++)
		ck_assert_int_eq(q[k], 0x22);
	t_log_clear();
	ck_assert_int_eq(mem_check(mem_pkg_pool), 0);  /* fresh canary */
	pkg_free(q);
	T_LOG_EMPTY();
	clean(T_AT);
	still_works(T_AT);
	pkg_destroy();
}
END_TEST
#endif

/* --- shm ------------------------------------------------------------------- */

START_TEST(test_shm_double_free)
{
	t_log_start();
	mem_safety = 1;
	mem_free_queue = 0;     /* reported at the call (check_shmfq.c: later) */
	shm_cache_size = _i >= T_NBACKENDS ? 0 : cache_default;
	ck_assert_int_eq(shm_init(POOL_SIZE, t_backend(_i % T_NBACKENDS)), 0);
	t_pool_start(&tp, mem_shm_pool);
	nlive = 0;
	keep(shm_malloc(100), 100);
	char *p = shm_malloc(100); const int alloc_line = __LINE__;
	ck_assert_ptr_nonnull(p);
	keep(shm_malloc(100), 100);
	shm_free(p); const int free1_line = __LINE__;
	clean(T_AT);
	T_LOG_EMPTY();
	shm_free(p); const int free2_line = __LINE__;
	expect_double_free("shm: free", p, __func__, free2_line, alloc_line,
		free1_line);
	clean(T_AT);
	/* the lock was released after the report: shm still works */
	still_works(T_AT);
	shm_destroy();
}
END_TEST

/* --- mem_safety=0 ---------------------------------------------------------- */

START_TEST(test_abort_double_free)
{
	start(_i);
	mem_safety = 0;
	char *p = pkg_malloc(100);
	ck_assert_ptr_nonnull(p);
	keep(pkg_malloc(100), 100);
	pkg_free(p);
	pkg_free(p);                    /* must not return */
	ck_abort_msg("double free with mem_safety=0 did not abort");
}
END_TEST

START_TEST(test_abort_outside)
{
	start(_i);
	mem_safety = 0;
	pkg_free(foreign + 16);         /* must not return */
	ck_abort_msg("foreign free with mem_safety=0 did not abort");
}
END_TEST

/* --- the suite ------------------------------------------------------------- */

static void teardown(void)
{
	t_teardown();
	shm_cache_size = cache_default;
}

static TCase *add_case(Suite *s, const char *name, const TTest *t, int n,
		int signal)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	if (signal)
		tcase_add_loop_test_raise_signal(tc, t, signal, 0, n);
	else
		tcase_add_loop_test(tc, t, 0, n);
	suite_add_tcase(s, tc);
	return tc;
}

Suite *misuse_suite(void)
{
	Suite *s = suite_create("misuse");
	cache_default = shm_cache_size;
	add_case(s, "double_free", test_double_free, T_NBACKENDS, 0);
	add_case(s, "double_free_joined", test_double_free_joined,
		T_NBACKENDS, 0);
#if MEMDBG
	add_case(s, "double_free_reused", test_double_free_reused,
		T_NBACKENDS, 0);
#endif
	add_case(s, "realloc_freed", test_realloc_freed, T_NBACKENDS, 0);
	add_case(s, "outside", test_outside, T_NBACKENDS, 0);
	add_case(s, "middle", test_middle, T_NBACKENDS, 0);
#if MEMDBG
	add_case(s, "overflow", test_overflow, T_NBACKENDS, 0);
#endif
	add_case(s, "shm_double_free", test_shm_double_free,
		2 * T_NBACKENDS, 0);
	add_case(s, "abort_double_free", test_abort_double_free, T_NBACKENDS,
		SIGABRT);
	add_case(s, "abort_outside", test_abort_outside, T_NBACKENDS, SIGABRT);
	return s;
}
