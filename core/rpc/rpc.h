/*
 * rpc.h - the JSON-RPC 2.0 method table and what a method may use.
 *
 * A method is one static struct rpc_method, registered with RPC_METHOD()
 * in the file that implements it (the linker gathers them in the section
 * "rpc_table", as modules are gathered): adding a method touches one
 * file.  (Not "rpc_methods": a section named like a function makes the
 * assembler take calls to rpc_methods() for the section's start.)  Methods run in the RPC process, one at a time.
 *
 * A method receives the request's params (a JSON array of positional
 * arguments, Kamailio style, or an object of named ones; NULL when absent)
 * and either sets *result (a new reference; the server owns it) and
 * returns 0, or calls rpc_fail() and returns -1.  Params are read with the
 * rpc_arg_*() helpers, which fail the request with -32602 and a message
 * naming the parameter when its type is wrong.
 *
 * Methods flagged RPC_TEST exist only when srproxy runs with
 * --test-methods (tests build known states with them).
 */
#ifndef SRP_RPC_H
#define SRP_RPC_H

#include <jansson.h>

/* JSON-RPC 2.0 error codes. */
#define RPC_PARSE_ERROR (-32700)
#define RPC_INVALID_REQUEST (-32600)
#define RPC_NO_METHOD (-32601)
#define RPC_INVALID_PARAMS (-32602)
#define RPC_INTERNAL (-32603)
#define RPC_SERVER_ERROR (-32000)       /* the server could not do it */

#define RPC_TEST 1

struct rpc_ctx;

typedef int (*rpc_fn)(struct rpc_ctx *c, json_t *params, json_t **result);

struct rpc_method {
	const char *name;       /* "core.shmmem" */
	rpc_fn fn;
	const char *params;     /* "[b|k|m|g]", for system.methodHelp */
	const char *doc;        /* one line */
	int flags;              /* RPC_TEST */
};

#define RPC_METHOD(var) \
	static const struct rpc_method var \
	__attribute__((used, section("rpc_table"), aligned(sizeof(void *))))

/* Fail the request: code (RPC_*) and a message (printf format). */
int rpc_fail(struct rpc_ctx *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Positional (array index i) or named (object key) parameter.
 * Return 1 found, 0 absent (and not required), -1 failed (rpc_fail done). */
int rpc_arg_str(struct rpc_ctx *c, json_t *params, int i, const char *key,
		int required, const char **out);
int rpc_arg_int(struct rpc_ctx *c, json_t *params, int i, const char *key,
		int required, long long *out);

/* The method table (for system.listMethods): count and entries in name
 * order; test methods only when enabled. */
size_t rpc_methods(const struct rpc_method *const **out);

#endif /* SRP_RPC_H */
