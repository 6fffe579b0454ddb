/*
 * check_fuzz.c - every input kept in tests/fuzz/<corpus>/ (the seeds, and
 * each crash the fuzzer found, once fixed) replayed through the fuzz
 * targets' own entry points (tests/fuzz/fuzz.h), in every configuration
 * of the matrix, built with the configuration's compiler and switches:
 *   alloc   every input on each backend (loop index: backend);
 *   sip     every input through the parser, its accessors and the receive
 *           path;
 *   rpc     every input through the JSON-RPC dispatcher.
 * The invariants are the targets' own (T_ASSERT: a Check failure here).
 * A corpus folder that cannot be read fails the case: an empty replay
 * would assert nothing.  FUZZ_CORPUS_DIR moves the folders (default: next
 * to this file).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtest.h"
#include "fuzz/fuzz.h"

/* A whole file in libc memory of its exact size (ASan sees past it). */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	T_ASSERT(f, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *d = malloc(*len ? *len : 1);
	T_ASSERT(d && fread(d, 1, *len, f) == *len, "read %s", path);
	fclose(f);
	return d;
}

/* Run every file of a corpus folder through fn (backend: for alloc). */
static void replay(const char *name, int (*fn)(const uint8_t *, size_t),
		const char *backend)
{
	char dir[1024], path[1400];
	unsigned files = 0;
	t_data_path(dir, sizeof(dir), "FUZZ_CORPUS_DIR", "fuzz", name);
	DIR *dp = opendir(dir);
	T_ASSERT(dp, "%s: %s", dir, strerror(errno));
	for (struct dirent *e; (e = readdir(dp)); ) {
		size_t len;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		uint8_t *d = slurp(path, &len);
		if (backend)
			fuzz_alloc(backend, d, len);
		else
			fn(d, len);
		free(d);
		files++;
	}
	closedir(dp);
	T_ASSERT(files > 0, "%s: no inputs", dir);
}

START_TEST(test_alloc)
{
	replay("alloc", NULL, t_backend(_i));
}
END_TEST

START_TEST(test_sip)
{
	replay("sip", fuzz_sip, NULL);
}
END_TEST

START_TEST(test_rpc)
{
	replay("rpc", fuzz_rpc, NULL);
}
END_TEST

Suite *fuzz_suite(void)
{
	Suite *s = suite_create("fuzz");
	TCase *tc = tcase_create("alloc");
	tcase_add_checked_fixture(tc, NULL, t_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_alloc, 0, T_NBACKENDS);
	suite_add_tcase(s, tc);
	tc = tcase_create("sip");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sip);
	suite_add_tcase(s, tc);
	tc = tcase_create("rpc");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_rpc);
	suite_add_tcase(s, tc);
	return s;
}
