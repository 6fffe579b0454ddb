/*
 * main.c - the one Check runner for every suite of the project.
 *
 * Each tests/check_*.c defines `Suite *NAME_suite(void)`; the Makefile
 * collects those names into suites.h, so adding a suite is adding a file.
 * Every test runs in its own forked process (Check's default), so a crash
 * is a failed test, not a dead runner.  CK_RUN_SUITE / CK_RUN_CASE select
 * a part; CK_FORK=no runs in-process for a debugger.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#define SUITE(name) Suite *name##_suite(void);
#include "suites.h"
#undef SUITE

int main(void)
{
	SRunner *sr = srunner_create(NULL);
#define SUITE(name) srunner_add_suite(sr, name##_suite());
#include "suites.h"
#undef SUITE
	srunner_run_all(sr, CK_NORMAL);
	int run = srunner_ntests_run(sr);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	printf("%d passed, %d failed\n", run - failed, failed);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
