/*
 * check_oom.c - the report of an allocation that fails for lack of memory
 * (mem/oom.c), in the library alone, no server: size, call site and the
 * pool's counters in one line, at most once per call site per
 * mem_oom_interval seconds, and the next report counts the failures it
 * left out.
 *
 *   one site     three failures at one call site: one report, with the
 *                size, the site, "pool: total ... real_used".
 *   two sites    failures at two sites: one report each.
 *   interval 0   every failure is reported.
 *   missed       with a 1 s interval, a failure after it names the ones
 *                left out before it ("2 more failures here").
 */
#include <check.h>
#include <unistd.h>

#include "memtest.h"

#define POOL ((size_t)1 << 20)
#define BIG ((size_t)4 << 20)

static unsigned reports(void)
{
	return t_log_count("not enough memory");
}

static void start(void)
{
	t_log_start();
	ck_assert_int_eq(pkg_init(POOL, NULL), 0);
}

static void *fail_here(void)
{
	return pkg_malloc(BIG);
}

START_TEST(test_one_site)
{
	start();
	for (int i = 0; i < 3; i++)
		ck_assert_ptr_null(fail_here());
	ck_assert_uint_eq(reports(), 1);
	T_LOG_HAS("pkg: not enough memory for 4194304 bytes at ");
	T_LOG_HAS(MEMDBG ? "fail_here" : "no call site");
	T_LOG_HAS("; pool: total ");
	T_LOG_HAS(", real_used ");
	t_teardown();
}
END_TEST

START_TEST(test_two_sites)
{
	start();
	for (int i = 0; i < 3; i++) {
		ck_assert_ptr_null(fail_here());
		ck_assert_ptr_null(pkg_malloc(BIG + 16));
	}
	ck_assert_uint_eq(reports(), MEMDBG ? 2 : 1);  /* MEMDBG=0: no sites */
	t_teardown();
}
END_TEST

START_TEST(test_interval_zero)
{
	start();
	mem_oom_interval = 0;
	for (int i = 0; i < 3; i++)
		ck_assert_ptr_null(fail_here());
	ck_assert_uint_eq(reports(), 3);
	mem_oom_interval = 10;
	t_teardown();
}
END_TEST

START_TEST(test_missed)
{
	start();
	mem_oom_interval = 1;
	for (int i = 0; i < 3; i++)
		ck_assert_ptr_null(fail_here());
	usleep(1100 * 1000);
	ck_assert_ptr_null(fail_here());
	ck_assert_uint_eq(reports(), 2);
	T_LOG_HAS("; 2 more failures here in the last 1 s");
	mem_oom_interval = 10;
	t_teardown();
}
END_TEST

Suite *oom_suite(void)
{
	Suite *s = suite_create("oom");
	TCase *tc = tcase_create("oom");
	tcase_add_test(tc, test_one_site);
	tcase_add_test(tc, test_two_sites);
	tcase_add_test(tc, test_interval_zero);
	tcase_add_test(tc, test_missed);
	t_heavy(tc);
	suite_add_tcase(s, tc);
	return s;
}
