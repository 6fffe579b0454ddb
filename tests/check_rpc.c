/*
 * check_rpc.c - the JSON-RPC dispatcher on JSON strings, without sockets:
 * valid calls (positional and named params), batches, notifications,
 * every error class of JSON-RPC 2.0, parameter types and numeric strings,
 * the method table (sorted, test methods only when enabled), the shm
 * methods against a known state built with test.alloc, and a method that
 * runs pkg dry (an error, and nothing leaked).
 *
 * Each case starts pkg and shm as the other suites do, with jansson on
 * pkg (as the server sets it) and a process table of one entry (this
 * process, the main one), so IPC is never needed: methods that would ask
 * another process are answered by this one.
 */
#include <check.h>
#include <string.h>
#include <unistd.h>

#include "memtest.h"
#include "rpc/rpc_int.h"
#include "runtime/proc.h"

#define PKG_SIZE ((size_t)4 << 20)
#define SHM_SIZE ((size_t)16 << 20)

static void setup(void)
{
	t_log_start();
	ck_assert_int_eq(pkg_init(PKG_SIZE, NULL), 0);
	ck_assert_int_eq(shm_init(SHM_SIZE, NULL), 0);
	rpc_json_alloc_init();
	ck_assert_int_eq(proc_table_init(), 0);
	ck_assert_int_eq(rpc_sites_init(), 0);
	rpc_test_enabled = 0;
}

/* The reply to text, parsed (NULL: no reply). */
static json_t *t_call(const char *text)
{
	struct rpc_reply r;
	json_error_t e;
	json_t *j = NULL;
	rpc_handle(text, strlen(text), &r);
	if (r.text) {
		j = json_loadb(r.text, r.len, 0, &e);
		T_ASSERT(j != NULL, "reply is not JSON: %s", r.text);
	}
	rpc_reply_release(&r);
	return j;
}

/* Call method with params (JSON text) and id 1; the parsed reply. */
static json_t *t_req(const char *method, const char *params)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), "{\"jsonrpc\":\"2.0\",\"method\":\"%s\","
		"%s%s%s\"id\":1}", method, params ? "\"params\":" : "",
		params ? params : "", params ? "," : "");
	return t_call(buf);
}

static json_t *t_result(json_t *r)
{
	json_t *res = json_object_get(r, "result");
	T_ASSERT(res != NULL, "no result: %s", json_dumps(r, 0));
	return res;
}

static void t_error(json_t *r, int code, const char *msg_part)
{
	json_t *e = json_object_get(r, "error");
	T_ASSERT(e && json_integer_value(json_object_get(e, "code")) == code,
		"want error %d: %s", code, json_dumps(r, 0));
	if (msg_part)
		T_ASSERT(strstr(json_string_value(json_object_get(e,
			"message")), msg_part), "message lacks \"%s\": %s",
			msg_part, json_dumps(r, 0));
}

static long long t_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	T_ASSERT(json_is_integer(v), "%s is not an integer", key);
	return json_integer_value(v);
}

/* --- valid calls ---------------------------------------------------------- */

START_TEST(valid_call)
{
	struct mem_info mi;
	json_t *r = t_req("core.shmmem", NULL), *res = t_result(r);
	shm_info(&mi);
	ck_assert_int_eq(t_int(res, "total"), (long long)mi.total_size);
	ck_assert_int_eq(t_int(res, "used"), (long long)mi.used_size);
	ck_assert_int_eq(t_int(r, "id"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(r, "jsonrpc")), "2.0");
	json_decref(r);
	r = t_req("core.shmmem", "[\"k\"]");
	ck_assert_int_eq(t_int(t_result(r), "total"),
		(long long)(mi.total_size >> 10));
	json_decref(r);
	r = t_req("core.shmmem", "{\"unit\":\"m\"}");
	ck_assert_int_eq(t_int(t_result(r), "total"),
		(long long)(mi.total_size >> 20));
	json_decref(r);
}
END_TEST

START_TEST(string_id_kept)
{
	json_t *r = t_call("{\"jsonrpc\":\"2.0\",\"method\":\"core.uptime\","
		"\"id\":\"abc\"}");
	ck_assert_str_eq(json_string_value(json_object_get(r, "id")), "abc");
	ck_assert(t_int(t_result(r), "uptime") >= 0);
	json_decref(r);
}
END_TEST

START_TEST(notification_no_reply)
{
	ck_assert_ptr_null(t_call("{\"jsonrpc\":\"2.0\",\"method\":"
		"\"core.uptime\"}"));
	ck_assert_ptr_null(t_call("{\"jsonrpc\":\"2.0\",\"method\":"
		"\"no.such\"}"));
	ck_assert_ptr_null(t_call("[{\"jsonrpc\":\"2.0\",\"method\":"
		"\"core.uptime\"},{\"jsonrpc\":\"2.0\",\"method\":\"core.ps\"}]"));
}
END_TEST

START_TEST(batch)
{
	json_t *r = t_call("[{\"jsonrpc\":\"2.0\",\"method\":\"core.uptime\","
		"\"id\":1},{\"jsonrpc\":\"2.0\",\"method\":\"core.ps\"},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":3},42]");
	ck_assert(json_is_array(r));
	ck_assert_int_eq(json_array_size(r), 3);
	t_result(json_array_get(r, 0));
	t_error(json_array_get(r, 1), RPC_NO_METHOD, "nope");
	ck_assert_int_eq(t_int(json_array_get(r, 1), "id"), 3);
	t_error(json_array_get(r, 2), RPC_INVALID_REQUEST, NULL);
	ck_assert(json_is_null(json_object_get(json_array_get(r, 2), "id")));
	json_decref(r);
}
END_TEST

/* --- errors --------------------------------------------------------------- */

START_TEST(parse_error)
{
	json_t *r = t_call("{\"jsonrpc\":\"2.0\",\"method\":");
	t_error(r, RPC_PARSE_ERROR, "parse error");
	ck_assert(json_is_null(json_object_get(r, "id")));
	json_decref(r);
	r = t_call("{\"a\" 1}");
	t_error(r, RPC_PARSE_ERROR, NULL);
	json_decref(r);
}
END_TEST

START_TEST(invalid_requests)
{
	static const char *const bad[] = {
		"[]",
		"42",
		"\"str\"",
		"{\"method\":\"core.ps\",\"id\":1}",
		"{\"jsonrpc\":\"1.0\",\"method\":\"core.ps\",\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":7,\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"core.ps\",\"params\":3,\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"core.ps\",\"id\":{}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *r = t_call(bad[i]);
		T_ASSERT(r != NULL, "no reply to %s", bad[i]);
		t_error(r, RPC_INVALID_REQUEST, NULL);
		json_decref(r);
	}
}
END_TEST

START_TEST(unknown_method)
{
	json_t *r = t_req("no.such.method", NULL);
	t_error(r, RPC_NO_METHOD, "no.such.method");
	json_decref(r);
}
END_TEST

START_TEST(param_types)
{
	json_t *r = t_req("core.shmmem", "[1]");
	t_error(r, RPC_INVALID_PARAMS, "unit");
	json_decref(r);
	r = t_req("core.shmmem", "[\"t\"]");
	t_error(r, RPC_INVALID_PARAMS, "unit");
	json_decref(r);
	r = t_req("shm.status", "[\"\", \"ten\"]");
	t_error(r, RPC_INVALID_PARAMS, "limit");
	json_decref(r);
	r = t_req("shm.status", "[\"\", 1.5]");
	t_error(r, RPC_INVALID_PARAMS, "limit");
	json_decref(r);
	r = t_req("pkg.summary", NULL);
	t_error(r, RPC_INVALID_PARAMS, "missing");
	json_decref(r);
	r = t_req("pkg.summary", "[\"colour\", 1]");
	t_error(r, RPC_INVALID_PARAMS, "colour");
	json_decref(r);
	r = t_req("pkg.stats", "[\"pid\", 1]");
	t_error(r, RPC_SERVER_ERROR, "no running process");
	json_decref(r);
}
END_TEST

START_TEST(numeric_strings)
{
	json_t *r = t_req("shm.status", "[\"\", \"2\"]"), *res = t_result(r);
	ck_assert_int_le(t_int(res, "count"), 2);
	json_decref(r);
	r = t_req("pkg.stats", "[\"index\", \"0\"]");
	res = t_result(r);
	ck_assert_int_eq(json_array_size(res), 1);
	ck_assert_int_eq(t_int(json_array_get(res, 0), "pid"), getpid());
	json_decref(r);
	r = t_req("pkg.summary", "[\"rank\", \"0\"]");
	ck_assert_int_eq(t_int(t_result(r), "pid"), getpid());
	json_decref(r);
	r = t_req("pkg.stats", "{\"pid\": \"" T_STR(1) "\"}");
	t_error(r, RPC_SERVER_ERROR, NULL);
	json_decref(r);
}
END_TEST

/* --- the table ------------------------------------------------------------ */

START_TEST(list_methods)
{
	json_t *r = t_req("system.listMethods", NULL), *res = t_result(r);
	const char *prev = "";
	size_t i;
	json_t *v;
	json_array_foreach(res, i, v) {
		const char *n = json_string_value(v);
		T_ASSERT(strcmp(prev, n) < 0, "%s before %s", prev, n);
		T_ASSERT(strncmp(n, "test.", 5), "%s listed", n);
		prev = n;
	}
	ck_assert_int_ge(json_array_size(res), 14);
	json_decref(r);
	r = t_req("test.alloc", "[\"shm\", 1]");
	t_error(r, RPC_NO_METHOD, NULL);
	json_decref(r);
	r = t_req("system.methodHelp", "[\"core.shmmem\"]");
	ck_assert(strstr(json_string_value(t_result(r)), "[b|k|m|g]"));
	json_decref(r);
}
END_TEST

/* --- a known state -------------------------------------------------------- */

static json_t *site_row(json_t *sum, const char *file)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(sum, "sites"), i, s)
		if (json_is_string(json_object_get(s, "file")) &&
		    !strcmp(json_string_value(json_object_get(s, "file")), file))
			return s;
	return NULL;
}

START_TEST(known_state)
{
	struct mem_info before, after;
	json_t *r, *res, *row;
	rpc_test_enabled = 1;
	shm_info(&before);
	r = t_req("test.alloc", "[\"shm\", \"100\", 3, \"known.c\", \"kf\", "
		"77, \"kmod\"]");
	long long id = t_int(t_result(r), "id");
	json_decref(r);
	r = t_req("shm.summary", "[\"kmod\"]");
	res = t_result(r);
	row = site_row(res, "known.c");
	if (MEMDBG) {
		T_ASSERT(row != NULL, "no known.c row");
		ck_assert_int_eq(t_int(row, "count"), 3);
		ck_assert_int_eq(t_int(row, "size"), 300);
		ck_assert_int_eq(t_int(row, "line"), 77);
		ck_assert_str_eq(json_string_value(json_object_get(row, "func")), "kf");
	}
	json_decref(r);
	r = t_req("shm.status", "[\"known.c\", 2]");
	res = t_result(r);
	if (MEMDBG) {
		ck_assert_int_eq(t_int(res, "count"), 2);
		ck_assert_int_eq(t_int(res, "matched"), 3);
		ck_assert(json_is_true(json_object_get(res, "truncated")));
	}
	json_decref(r);
	r = t_req("test.free", "[" T_STR(1) "]");
	ck_assert_int_eq(id, 1);
	ck_assert_int_eq(t_int(t_result(r), "freed"), 3);
	json_decref(r);
	t_shm_drain();
	shm_info(&after);
	ck_assert_int_eq(after.used_size, before.used_size);
	r = t_req("test.free", "[1]");
	t_error(r, RPC_SERVER_ERROR, "no test group");
	json_decref(r);
}
END_TEST

START_TEST(mem_check_clean)
{
	json_t *r = t_req("mem.check", NULL), *res = t_result(r);
	ck_assert(json_is_true(json_object_get(res, "ok")));
	ck_assert_int_eq(t_int(res, "problems"), 0);
	json_decref(r);
	r = t_req("mem.check", "[\"pkg\"]");
	ck_assert_int_eq(t_int(t_result(r), "pid"), getpid());
	json_decref(r);
	r = t_req("mem.check", "[\"heap\"]");
	t_error(r, RPC_INVALID_PARAMS, "pool");
	json_decref(r);
}
END_TEST

/* A write past a fragment's end (MEMDBG: over its end canary): named by
 * the chunked checker, with its holds and the counters compared (nobody
 * else uses this pool). */
START_TEST(mem_check_damage)
{
	char *a = shm_malloc(32);
	memset(a, 'A', MEMDBG ? 40 : 32);
	mem_scan_chunk = 4;
	json_t *r = t_req("mem.check", NULL), *res = t_result(r);
	json_t *scan = json_object_get(res, "scan");
	ck_assert_int_eq(json_is_true(json_object_get(res, "ok")), !MEMDBG);
	ck_assert_int_eq(t_int(res, "problems"), MEMDBG);
	ck_assert_int_eq(t_int(res, "application"), MEMDBG);
	ck_assert_int_eq(t_int(res, "structure"), 0);
	ck_assert(json_is_true(json_object_get(res, "exact")));
	ck_assert_int_gt(t_int(res, "listed"), 0);
	ck_assert_int_gt(t_int(scan, "chunks"), 2);
	ck_assert_int_gt(t_int(scan, "fragments"), 1);
	ck_assert_int_eq(t_int(scan, "changes"), 0);
	if (MEMDBG)
		ck_assert_ptr_nonnull(strstr(json_string_value(json_array_get(
			json_object_get(res, "messages"), 0)),
			"write past the end"));
	json_decref(r);
	mem_scan_chunk = 256;
}
END_TEST

/* A dump bigger than pkg: -32000, and pkg back where it was. */
START_TEST(pkg_exhausted)
{
	struct mem_info before, after;
	json_t *r;
	rpc_test_enabled = 1;
	r = t_req("test.alloc", "[\"shm\", 16, 20000]");
	t_result(r);
	json_decref(r);
	pkg_info(&before);
	r = t_req("shm.status", "[\"\", 20000]");
	t_error(r, RPC_SERVER_ERROR, "out of memory");
	json_decref(r);
	pkg_info(&after);
	ck_assert_int_eq(after.used_size, before.used_size);
	r = t_req("core.uptime", NULL);      /* and it still works */
	t_result(r);
	json_decref(r);
}
END_TEST

/* A batch whose replies outgrow pkg is answered whole or with -32000,
 * never with some replies missing; pkg is back where it was. */
START_TEST(batch_exhausted)
{
	const int n = 12000;
	size_t len = 0, cap = (size_t)n * 64 + 16;
	char *text = malloc(cap);
	struct mem_info before, after;
	json_t *r;
	ck_assert_ptr_nonnull(text);
	text[len++] = '[';
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, "%s{\"jsonrpc\":"
			"\"2.0\",\"method\":\"core.uptime\",\"id\":%d}",
			i ? "," : "", i);
	text[len++] = ']';
	text[len] = 0;
	pkg_info(&before);
	r = t_call(text);
	ck_assert_ptr_nonnull(r);
	if (json_is_array(r))
		ck_assert_int_eq(json_array_size(r), n);
	else
		t_error(r, RPC_SERVER_ERROR, "out of memory");
	json_decref(r);
	pkg_info(&after);
	ck_assert_int_eq(after.used_size, before.used_size);
	free(text);
}
END_TEST

Suite *rpc_suite(void)
{
	Suite *s = suite_create("rpc");
	TCase *tc = tcase_create("dispatch");
	tcase_add_checked_fixture(tc, setup, t_teardown);
	tcase_add_test(tc, valid_call);
	tcase_add_test(tc, string_id_kept);
	tcase_add_test(tc, notification_no_reply);
	tcase_add_test(tc, batch);
	tcase_add_test(tc, parse_error);
	tcase_add_test(tc, invalid_requests);
	tcase_add_test(tc, unknown_method);
	tcase_add_test(tc, param_types);
	tcase_add_test(tc, numeric_strings);
	tcase_add_test(tc, list_methods);
	tcase_add_test(tc, known_state);
	tcase_add_test(tc, mem_check_clean);
	tcase_add_test(tc, mem_check_damage);
	tcase_add_test(tc, pkg_exhausted);
	tcase_add_test(tc, batch_exhausted);
	suite_add_tcase(s, tc);
	return s;
}
