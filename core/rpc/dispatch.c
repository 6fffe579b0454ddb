/*
 * dispatch.c - JSON-RPC 2.0: one JSON text in, one reply text out.
 *
 * A text is a request object or a batch array of them (an empty batch is
 * an invalid request).  A request needs "jsonrpc": "2.0", a string
 * "method", params that are absent, an array or an object, and an id that
 * is absent (a notification: it runs, nobody hears back), a string, a
 * number or null.  Errors follow the specification's codes (rpc.h); the
 * id of a request too broken to read is null.
 *
 * The method table comes from the linker section "rpc_table" (every
 * RPC_METHOD() of the program), sorted by name once, and searched by
 * bisection.  Test methods are visible only when rpc_test_enabled.
 *
 * Out of memory: a method that builds its result while pkg runs dry gets
 * -32000 (rpc_oom_count moved during the call); a reply that cannot be
 * formatted falls back to a static error text.  Cost: one parse and one
 * dump per text; nothing is kept between texts.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_int.h"

#define RPC_METHODS_MAX 128

extern const struct rpc_method __start_rpc_table[];
extern const struct rpc_method __stop_rpc_table[];

static const struct rpc_method *table[RPC_METHODS_MAX];
static size_t table_n = (size_t)-1;

static const char oom_text[] = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":"
	"-32000,\"message\":\"out of memory in the RPC process\"},\"id\":null}";

/* --- the method table ---------------------------------------------------- */

static int method_cmp(const void *a, const void *b)
{
	const struct rpc_method *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

static void table_build(void)
{
	const struct rpc_method *m;
	table_n = 0;
	for (m = __start_rpc_table; m < __stop_rpc_table; m++)
		if (table_n < RPC_METHODS_MAX)
			table[table_n++] = m;
	qsort(table, table_n, sizeof(table[0]), method_cmp);
}

static const struct rpc_method *visible[RPC_METHODS_MAX];

size_t rpc_methods(const struct rpc_method *const **out)
{
	size_t n = 0;
	if (table_n == (size_t)-1)
		table_build();
	for (size_t i = 0; i < table_n; i++)
		if (rpc_test_enabled || !(table[i]->flags & RPC_TEST))
			visible[n++] = table[i];
	*out = visible;
	return n;
}

const struct rpc_method *rpc_find(const char *name)
{
	const struct rpc_method *const *t;
	size_t lo = 0, hi = rpc_methods(&t);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, t[mid]->name);
		if (c == 0)
			return t[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* --- errors and parameters ----------------------------------------------- */

int rpc_fail(struct rpc_ctx *c, int code, const char *fmt, ...)
{
	va_list ap;
	if (c->code)            /* the first reason is the one reported */
		return -1;
	c->code = code;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	return -1;
}

json_t *rpc_arg(json_t *params, int i, const char *key)
{
	if (json_is_array(params))
		return i >= 0 ? json_array_get(params, (size_t)i) : NULL;
	if (json_is_object(params) && key)
		return json_object_get(params, key);
	return NULL;
}

/* How a parameter is named in a message: "limit (#2)". */
static const char *arg_name(char *buf, size_t len, int i, const char *key)
{
	snprintf(buf, len, "%s (#%d)", key ? key : "?", i + 1);
	return buf;
}

static int arg_absent(struct rpc_ctx *c, int i, const char *key,
		int required)
{
	char n[64];
	if (!required)
		return 0;
	return rpc_fail(c, RPC_INVALID_PARAMS, "missing parameter %s",
		arg_name(n, sizeof(n), i, key));
}

int rpc_arg_str(struct rpc_ctx *c, json_t *params, int i, const char *key,
		int required, const char **out)
{
	char n[64];
	json_t *v = rpc_arg(params, i, key);
	if (!v || json_is_null(v))
		return arg_absent(c, i, key, required);
	if (!json_is_string(v))
		return rpc_fail(c, RPC_INVALID_PARAMS, "parameter %s must be "
			"a string", arg_name(n, sizeof(n), i, key));
	*out = json_string_value(v);
	return 1;
}

/* A decimal integer in a string, whole ("42", "-7"); 0 on success. */
static int str_to_ll(const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || errno)
		return -1;
	*out = v;
	return 0;
}

int rpc_arg_int(struct rpc_ctx *c, json_t *params, int i, const char *key,
		int required, long long *out)
{
	char n[64];
	json_t *v = rpc_arg(params, i, key);
	if (!v || json_is_null(v))
		return arg_absent(c, i, key, required);
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 1;
	}
	if (json_is_string(v) && str_to_ll(json_string_value(v), out) == 0)
		return 1;
	return rpc_fail(c, RPC_INVALID_PARAMS, "parameter %s must be an "
		"integer (a number or a numeric string)",
		arg_name(n, sizeof(n), i, key));
}

/* --- one request --------------------------------------------------------- */

static json_t *error_obj(int code, const char *msg)
{
	return json_pack("{s:i,s:s}", "code", code, "message", msg);
}

/* The reply object; NULL when pkg ran out on the way (the caller's oom
 * check then answers with the static text). */
static json_t *reply_obj(json_t *id, json_t *result, json_t *error)
{
	json_t *r = json_object();
	int bad = json_object_set_new(r, "jsonrpc", json_string("2.0"));
	if (error)
		bad |= json_object_set_new(r, "error", error);
	else
		bad |= json_object_set_new(r, "result", result);
	bad |= json_object_set(r, "id", id ? id : json_null());
	if (!bad)
		return r;
	json_decref(r);
	return NULL;
}

/* The checks of the specification; NULL when fine, else the reason. */
static const char *request_invalid(json_t *req)
{
	json_t *v, *p;
	if (!json_is_object(req))
		return "a request must be a JSON object";
	v = json_object_get(req, "jsonrpc");
	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0"))
		return "\"jsonrpc\": \"2.0\" is required";
	if (!json_is_string(json_object_get(req, "method")))
		return "\"method\" must be a string";
	p = json_object_get(req, "params");
	if (p && !json_is_array(p) && !json_is_object(p))
		return "\"params\" must be an array or an object";
	v = json_object_get(req, "id");
	if (v && !json_is_string(v) && !json_is_number(v) && !json_is_null(v))
		return "\"id\" must be a string, a number or null";
	return NULL;
}

/* Run the method; the result, or NULL with c set. */
static json_t *call_method(struct rpc_ctx *c, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "method"));
	const struct rpc_method *m = rpc_find(name);
	json_t *result = NULL;
	if (!m) {
		rpc_fail(c, RPC_NO_METHOD, "method not found: %s", name);
		return NULL;
	}
	uint64_t oom = rpc_oom_count;
	int rc = m->fn(c, json_object_get(req, "params"), &result);
	if (rc == 0 && rpc_oom_count == oom && result)
		return result;
	json_decref(result);
	if (rpc_oom_count != oom)
		rpc_fail(c, RPC_SERVER_ERROR, "out of memory in the RPC "
			"process (pkg) while running %s", name);
	else
		rpc_fail(c, RPC_INTERNAL, "%s failed without a reason", name);
	return NULL;
}

/* The reply object of one request, or NULL for a notification. */
static json_t *handle_one(json_t *req)
{
	struct rpc_ctx c = { 0, "" };
	const char *bad = request_invalid(req);
	if (bad)
		return reply_obj(NULL, NULL, error_obj(RPC_INVALID_REQUEST, bad));
	json_t *id = json_object_get(req, "id");
	json_t *result = call_method(&c, req);
	if (!id) {
		json_decref(result);
		return NULL;
	}
	if (!result)
		return reply_obj(id, NULL, error_obj(c.code, c.msg));
	return reply_obj(id, result, NULL);
}

static json_t *handle_batch(json_t *batch)
{
	size_t i;
	json_t *req, *out;
	if (json_array_size(batch) == 0)
		return reply_obj(NULL, NULL, error_obj(RPC_INVALID_REQUEST,
			"an empty batch"));
	out = json_array();
	json_array_foreach(batch, i, req) {
		uint64_t oom = rpc_oom_count;
		json_t *r = handle_one(req);
		/* No reply may go missing: when pkg runs out the whole batch
		 * is answered with the out-of-memory error (rpc_handle). */
		if ((!r && rpc_oom_count != oom) ||
				(r && json_array_append_new(out, r) < 0)) {
			json_decref(out);
			return NULL;
		}
	}
	if (json_array_size(out) == 0) {        /* notifications only */
		json_decref(out);
		return NULL;
	}
	return out;
}

static json_t *handle_text(const char *in, size_t len)
{
	json_error_t err;
	char msg[256];
	uint64_t oom = rpc_oom_count;
	json_t *req = json_loadb(in, len, JSON_DECODE_ANY, &err), *r;
	if (!req && rpc_oom_count != oom)
		return NULL;            /* out of pkg, not a parse error */
	if (!req) {
		snprintf(msg, sizeof(msg), "parse error: %s at byte %d",
			err.text, err.position);
		return reply_obj(NULL, NULL, error_obj(RPC_PARSE_ERROR, msg));
	}
	r = json_is_array(req) ? handle_batch(req) : handle_one(req);
	json_decref(req);
	return r;
}

/* Release text made by jansson (json_dumps) with jansson's free. */
static void text_free(char *t)
{
	json_malloc_t m;
	json_free_t f;
	json_get_alloc_funcs(&m, &f);
	f(t);
}

void rpc_handle(const char *in, size_t len, struct rpc_reply *out)
{
	uint64_t oom = rpc_oom_count;
	json_t *r = handle_text(in, len);
	memset(out, 0, sizeof(*out));
	if (!r && rpc_oom_count == oom)
		return;                 /* notifications: no reply */
	oom = rpc_oom_count;            /* a failed method is answered above */
	out->text = r ? json_dumps(r, JSON_COMPACT) : NULL;
	json_decref(r);
	if (out->text && rpc_oom_count == oom) {
		out->len = strlen(out->text);
		out->owned = 1;
		return;
	}
	if (out->text)
		text_free(out->text);
	out->text = (char *)oom_text;
	out->len = sizeof(oom_text) - 1;
	out->owned = 0;
}

void rpc_reply_release(struct rpc_reply *r)
{
	if (r->owned && r->text)
		text_free(r->text);
	memset(r, 0, sizeof(*r));
}
