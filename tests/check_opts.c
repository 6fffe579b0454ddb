/*
 * check_opts.c - srproxy's command line (core/runtime/opts.c) and the
 * address and log-level syntax it shares with the modules.
 *
 * Every case starts from cfg_defaults() and parses an argv built here;
 * a bad value must give OPTS_BAD and one message that names the option,
 * repeats the value and states what is valid.  opts_parse() prints only
 * for -h and -V, into a memory stream here.
 */
#include <check.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "runtime/cfg.h"
#include "runtime/log.h"
#include "runtime/proc.h"

static struct srp_cfg c;
static char err[512];

/* parse("-m", "32", NULL): argv[0] is "srproxy". */
static int parse(const char *first, ...)
{
	char *argv[32] = { "srproxy" };
	int argc = 1;
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	cfg_defaults(&c);
	return opts_parse(argc, argv, &c, stdout, err, sizeof(err));
}

/* A bad value: OPTS_BAD and every piece of text expected in the message. */
static void expect_bad(const char *opt, const char *val, ...)
{
	int r = val ? parse(opt, val, NULL) : parse(opt, NULL);
	ck_assert_msg(r == OPTS_BAD, "%s %s accepted", opt, val ? val : "");
	va_list ap;
	va_start(ap, val);
	for (const char *want = va_arg(ap, const char *); want;
			want = va_arg(ap, const char *))
		ck_assert_msg(strstr(err, want), "%s %s: '%s' not in \"%s\"",
			opt, val ? val : "", want, err);
	va_end(ap);
}

START_TEST(test_defaults)
{
	ck_assert_int_eq(parse(NULL), OPTS_RUN);
	ck_assert_uint_eq(c.shm_size, (size_t)64 << 20);
	ck_assert_uint_eq(c.pkg_size, (size_t)8 << 20);
	ck_assert_ptr_null(c.shm_backend);
	ck_assert_ptr_null(c.pkg_backend);
	ck_assert_int_eq(c.workers, 4);
	ck_assert_str_eq(c.listen, "127.0.0.1:5060");
	ck_assert_str_eq(c.rpc_socket, geteuid() ? "./srproxy.sock" :
		CFG_ROOT_SOCKET);
	ck_assert_uint_eq(c.rpc_mode, 0600);
	ck_assert_ptr_null(c.http);
	ck_assert_int_eq(c.foreground, 0);
	ck_assert_int_eq(c.log_level, L_INFO);
	ck_assert_int_eq(c.test_methods, 0);
	ck_assert_int_eq(c.restart_max, 5);
	ck_assert_int_eq(c.restart_window, 10);
	ck_assert_int_eq(c.mem_summary, 0);
	ck_assert_uint_eq(c.shm_cache, SHM_CACHE_AUTO);
	ck_assert_int_eq(c.mem_warn, 80);
	ck_assert_int_eq(c.mem_crit, 95);
	ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(test_alarm_thresholds)
{
	ck_assert_int_eq(parse("--mem-warn", "70", "--mem-crit", "90", NULL),
		OPTS_RUN);
	ck_assert_int_eq(c.mem_warn, 70);
	ck_assert_int_eq(c.mem_crit, 90);
	ck_assert_int_eq(parse("--mem-warn", "0", "--mem-crit", "0", NULL),
		OPTS_RUN);
	ck_assert_int_eq(parse("--mem-crit", "50", "--mem-warn", "0", NULL),
		OPTS_RUN);
	expect_bad("--mem-warn", "101", "--mem-warn '101'", "0..100", NULL);
	expect_bad("--mem-crit", "-1", "0..100", NULL);
	expect_bad("--mem-warn", "96", "--mem-warn 96 is above --mem-crit 95",
		NULL);
}
END_TEST

START_TEST(test_good_values)
{
	ck_assert_int_eq(parse("-m", "128", "-M", "16", "-x", "qm", "-X",
		"f_malloc", "-n", "7", "-l", "[::1]:5070", "-s", "/tmp/x.sock",
		"-f", "-d", "debug", "--http", "127.0.0.1:8080", "--rpc-mode",
		"0660", "--test-methods", "--restart-max", "0",
		"--restart-window", "3600", "--mem-summary", "15",
		"--shm-cache", "64k", NULL), OPTS_RUN);
	ck_assert_uint_eq(c.shm_size, (size_t)128 << 20);
	ck_assert_uint_eq(c.pkg_size, (size_t)16 << 20);
	ck_assert_str_eq(c.shm_backend, "qm");
	ck_assert_str_eq(c.pkg_backend, "fm");
	ck_assert_int_eq(c.workers, 7);
	ck_assert_str_eq(c.listen, "[::1]:5070");
	ck_assert_str_eq(c.rpc_socket, "/tmp/x.sock");
	ck_assert_int_eq(c.foreground, 1);
	ck_assert_int_eq(c.log_level, L_DBG);
	ck_assert_str_eq(c.http, "127.0.0.1:8080");
	ck_assert_uint_eq(c.rpc_mode, 0660);
	ck_assert_int_eq(c.test_methods, 1);
	ck_assert_int_eq(c.restart_max, 0);
	ck_assert_int_eq(c.restart_window, 3600);
	ck_assert_int_eq(c.mem_summary, 15);
	ck_assert_uint_eq(c.shm_cache, 65536);
}
END_TEST

START_TEST(test_limits_accepted)
{
	ck_assert_int_eq(parse("-m", "1", "-M", "1", "-n", "1", NULL), OPTS_RUN);
	ck_assert_uint_eq(c.shm_size, (size_t)1 << 20);
	ck_assert_int_eq(parse("-m", "1048576", "-M", "65536", "-n", "124",
		NULL), OPTS_RUN);
	ck_assert_uint_eq(c.shm_size, (size_t)1 << 40);
	ck_assert_int_eq(c.workers, PROC_MAX - 4);
	ck_assert_int_eq(parse("--shm-cache", "0", NULL), OPTS_RUN);
	ck_assert_uint_eq(c.shm_cache, 0);
	ck_assert_int_eq(parse("--shm-cache", "8m", NULL), OPTS_RUN);
	ck_assert_uint_eq(c.shm_cache, (size_t)8 << 20);
	ck_assert_int_eq(c.shm_populate, 1);
	ck_assert_int_eq(parse("--shm-populate", "0", NULL), OPTS_RUN);
	ck_assert_int_eq(c.shm_populate, 0);
	/* each pool's huge pages, the other left at its default */
	static const struct { const char *opt; size_t at; } huge[] = {
		{ "--shm-huge-pages", offsetof(struct srp_cfg, shm_huge_pages) },
		{ "--pkg-huge-pages", offsetof(struct srp_cfg, pkg_huge_pages) },
	};
	static const char *const huge_v[] = { "1", "0", "auto" };
	static const int huge_want[] = { 1, 0, MEM_HUGE_AUTO };
	for (unsigned k = 0; k < 2; k++) {
		const int *got = (const int *)((const char *)&c + huge[k].at);
		const int *other = (const int *)((const char *)&c +
			huge[1 - k].at);
		ck_assert_int_eq(*got, MEM_HUGE_AUTO);
		for (unsigned v = 0; v < 3; v++) {
			ck_assert_int_eq(parse(huge[k].opt, huge_v[v], NULL),
				OPTS_RUN);
			ck_assert_int_eq(*got, huge_want[v]);
			ck_assert_int_eq(*other, MEM_HUGE_AUTO);
		}
	}
	ck_assert_int_eq(c.mem_free_check, 1);
	ck_assert_int_eq(parse("--mem-free-check", "0", NULL), OPTS_RUN);
	ck_assert_int_eq(c.mem_free_check, 0);
	ck_assert_int_eq(c.mem_free_queue, 1);
	ck_assert_int_eq(parse("--mem-free-queue", "0", NULL), OPTS_RUN);
	ck_assert_int_eq(c.mem_free_queue, 0);
	ck_assert_int_eq(c.pkg_slab, 0);
	ck_assert_int_eq(parse("--pkg-slab", "1", NULL), OPTS_RUN);
	ck_assert_int_eq(c.pkg_slab, 1);
	ck_assert_int_eq(parse("--pkg-slab", "auto", NULL), OPTS_RUN);
	ck_assert_int_eq(c.pkg_slab, PKG_SLAB_AUTO);
	ck_assert_int_eq(parse("--long-opt-is-not", NULL), OPTS_BAD);
	ck_assert_int_eq(parse("--shm=32", "--workers=2", NULL), OPTS_RUN);
	ck_assert_uint_eq(c.shm_size, (size_t)32 << 20);
	ck_assert_int_eq(c.workers, 2);
}
END_TEST

START_TEST(test_backend_names)
{
	static const char *const in[] = { "fm", "f_malloc", "qm", "q_malloc",
		"tlsf", "tlsf_malloc" };
	static const char *const out[] = { "fm", "fm", "qm", "qm", "tlsf",
		"tlsf" };
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(parse("-x", in[i], "-X", in[i], NULL), OPTS_RUN);
		ck_assert_str_eq(c.shm_backend, out[i]);
		ck_assert_str_eq(c.pkg_backend, out[i]);
	}
	expect_bad("-x", "foo", "-x 'foo'", "unknown memory manager",
		"fm (f_malloc), qm (q_malloc), tlsf (tlsf_malloc)", NULL);
	expect_bad("-X", "TLSF", "-X 'TLSF'", "valid names", NULL);
	expect_bad("-x", "", "-x ''", NULL);
}
END_TEST

START_TEST(test_bad_sizes)
{
	static const char *const bad_mb[] = { "0", "-1", "abc", "12x", "1.5",
		"1048577", "99999999999999999999", "", " 5", "+5", "0x10" };
	for (size_t i = 0; i < sizeof(bad_mb) / sizeof(bad_mb[0]); i++)
		expect_bad("-m", bad_mb[i], "-m '", "shm size", "1..1048576",
			NULL);
	expect_bad("-M", "0", "-M '0'", "pkg size", "1..65536", NULL);
	expect_bad("-M", "65537", "-M '65537'", "1..65536", NULL);
}
END_TEST

START_TEST(test_bad_workers)
{
	expect_bad("-n", "0", "-n '0'", "number of workers", "1..124", NULL);
	expect_bad("-n", "125", "-n '125'", "1..124", NULL);
	expect_bad("-n", "two", "-n 'two'", "1..124", NULL);
	expect_bad("-n", "-3", "-n '-3'", NULL);
}
END_TEST

START_TEST(test_bad_addresses)
{
	static const char *const bad[] = { "1.2.3.4", "1.2.3.4:0",
		"1.2.3.4:65536", "host:5060", "::1:5060", "[::1]5060",
		"1.2.3:5060", ":5060", "1.2.3.4:", "[1.2.3.4]:5060",
		"1.2.3.4:50x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad("-l", bad[i], "-l '", "IPV4:PORT or [IPV6]:PORT",
			"1..65535", NULL);
	expect_bad("--http", "10.0.0.1:8080", "--http '10.0.0.1:8080'",
		"loopback", NULL);
	expect_bad("--http", "[::2]:8080", "loopback", NULL);
	expect_bad("--http", "localhost:8080", "--http", "IPV4:PORT", NULL);
	ck_assert_int_eq(parse("--http", "127.3.2.1:1", "-l", "0.0.0.0:65535",
		NULL), OPTS_RUN);
	ck_assert_int_eq(parse("--http", "[::1]:8080", NULL), OPTS_RUN);
}
END_TEST

START_TEST(test_bad_socket_and_mode)
{
	char path[200];
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	expect_bad("-s", path, "-s '", "1..107 characters", NULL);
	expect_bad("-s", "", "-s ''", NULL);
	path[107] = '\0';
	ck_assert_int_eq(parse("-s", path, NULL), OPTS_RUN);
	expect_bad("--rpc-mode", "999", "--rpc-mode '999'", "octal",
		"0..0777", NULL);
	expect_bad("--rpc-mode", "01000", "0..0777", NULL);
	expect_bad("--rpc-mode", "rw", "--rpc-mode 'rw'", NULL);
	ck_assert_int_eq(parse("--rpc-mode", "0", NULL), OPTS_RUN);
	ck_assert_uint_eq(c.rpc_mode, 0);
	ck_assert_int_eq(parse("--rpc-mode", "666", NULL), OPTS_RUN);
	ck_assert_uint_eq(c.rpc_mode, 0666);
}
END_TEST

START_TEST(test_bad_levels)
{
	expect_bad("-d", "1", "-d '1'", "2..7", "crit, err, warn, notice, "
		"info, debug", NULL);
	expect_bad("-d", "8", "2..7", NULL);
	expect_bad("-d", "loud", "-d 'loud'", NULL);
	static const struct { const char *s; int l; } good[] = {
		{ "2", L_CRIT }, { "7", L_DBG }, { "crit", L_CRIT },
		{ "CRITICAL", L_CRIT }, { "err", L_ERR }, { "Error", L_ERR },
		{ "warn", L_WARN }, { "warning", L_WARN }, { "notice", L_NOTICE },
		{ "INFO", L_INFO }, { "dbg", L_DBG }, { "debug", L_DBG } };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_int_eq(parse("-d", good[i].s, NULL), OPTS_RUN);
		ck_assert_int_eq(c.log_level, good[i].l);
		ck_assert_int_eq(log_level_parse(good[i].s), good[i].l);
	}
	ck_assert_str_eq(log_level_name(L_WARN), "WARNING");
	ck_assert_str_eq(log_level_name(L_CRIT), "CRITICAL");
}
END_TEST

START_TEST(test_bad_long_numbers)
{
	expect_bad("--restart-max", "1001", "--restart-max '1001'", "0..1000",
		NULL);
	expect_bad("--restart-max", "-1", "0..1000", NULL);
	expect_bad("--restart-window", "0", "--restart-window '0'",
		"1..3600", NULL);
	expect_bad("--restart-window", "3601", "1..3600", NULL);
	expect_bad("--mem-summary", "16", "--mem-summary '16'", "0..15",
		NULL);
	expect_bad("--mem-summary", "x", "0..15", NULL);
	expect_bad("--shm-cache", "2g", "--shm-cache '2g'", "0 (no caches)",
		NULL);
	expect_bad("--shm-cache", "1073741825", "1073741824", NULL);
	expect_bad("--shm-cache", "k", NULL);
	expect_bad("--shm-cache", "-5", NULL);
	expect_bad("--shm-populate", "2", "--shm-populate '2'", "0..1", NULL);
	expect_bad("--pkg-huge-pages", "2", "--pkg-huge-pages '2'",
		"auto, 0 or 1", NULL);
	expect_bad("--shm-huge-pages", "yes", "--shm-huge-pages 'yes'",
		"auto, 0 or 1", NULL);
	expect_bad("--shm-huge-pages", "-1", "--shm-huge-pages '-1'", NULL);
	expect_bad("--mem-free-check", "2", "--mem-free-check '2'", "0..1",
		NULL);
	expect_bad("--mem-free-queue", "-1", "--mem-free-queue '-1'", "0..1",
		NULL);
	expect_bad("--pkg-slab", "2", "--pkg-slab '2'", "auto, 0 or 1", NULL);
}
END_TEST

START_TEST(test_bad_usage)
{
	expect_bad("-q", NULL, "unknown option '-q'", "srproxy -h", NULL);
	expect_bad("--bogus", NULL, "unknown option '--bogus'", NULL);
	expect_bad("-m", NULL, "-m needs a value", NULL);
	expect_bad("--http", NULL, "--http needs a value", NULL);
	expect_bad("-f", "extra", "unexpected argument 'extra'", NULL);
	/* the parser starts afresh each time (getopt's globals reset) */
	ck_assert_int_eq(parse("-n", "3", NULL), OPTS_RUN);
	ck_assert_int_eq(c.workers, 3);
}
END_TEST

static char *run_capture(const char *opt, int *r)
{
	char *buf = NULL;
	size_t len = 0;
	char *argv[] = { "srproxy", (char *)opt, NULL };
	FILE *f = open_memstream(&buf, &len);
	cfg_defaults(&c);
	*r = opts_parse(2, argv, &c, f, err, sizeof(err));
	fclose(f);
	return buf;
}

START_TEST(test_help_version)
{
	int r;
	char *out = run_capture("-h", &r);
	ck_assert_int_eq(r, OPTS_EXIT);
	ck_assert_ptr_nonnull(strstr(out, "usage: srproxy"));
	for (const char *o = "mMxXnlsfdhV"; *o; o++) {
		char flag[8];
		snprintf(flag, sizeof(flag), "  -%c ", *o);
		ck_assert_msg(strstr(out, flag), "-h does not list -%c", *o);
	}
	ck_assert_ptr_nonnull(strstr(out, "--restart-window"));
	free(out);
	out = run_capture("-V", &r);
	ck_assert_int_eq(r, OPTS_EXIT);
	ck_assert_ptr_nonnull(strstr(out, "srproxy " SRP_VERSION));
	ck_assert_ptr_nonnull(strstr(out, mem_build_info()));
	free(out);
}
END_TEST

START_TEST(test_parse_addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	ck_assert_int_eq(cfg_parse_addr("127.0.0.1:5060", &ss, &len), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 5060);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
	ck_assert_int_eq(cfg_parse_addr("[::1]:1", &ss, &len), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert_uint_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 1);
	ck_assert_int_eq(cfg_parse_addr(NULL, &ss, &len), -1);
	ck_assert_int_eq(cfg_parse_addr("[::1]:", &ss, &len), -1);
}
END_TEST

Suite *opts_suite(void)
{
	Suite *s = suite_create("opts");
	TCase *tc = tcase_create("opts");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_alarm_thresholds);
	tcase_add_test(tc, test_good_values);
	tcase_add_test(tc, test_limits_accepted);
	tcase_add_test(tc, test_backend_names);
	tcase_add_test(tc, test_bad_sizes);
	tcase_add_test(tc, test_bad_workers);
	tcase_add_test(tc, test_bad_addresses);
	tcase_add_test(tc, test_bad_socket_and_mode);
	tcase_add_test(tc, test_bad_levels);
	tcase_add_test(tc, test_bad_long_numbers);
	tcase_add_test(tc, test_bad_usage);
	tcase_add_test(tc, test_help_version);
	tcase_add_test(tc, test_parse_addr);
	suite_add_tcase(s, tc);
	return s;
}
