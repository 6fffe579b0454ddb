/*
 * fuzz_rpc.c - one JSON-RPC text through the dispatcher (rpc_handle()), as
 * the RPC process runs it for a client, without sockets, in the state
 * fuzz_setup.c makes once (this process alone in the process table, so
 * no method needs IPC).
 *
 * After each input: a reply, when there is one, is a JSON text; pkg holds
 * what it held before (jansson's values live in pkg: nothing leaks) and
 * so does shm (the methods only read it); the heap checker passes on
 * both pools now and then (every 64 inputs: it walks the whole heap).
 */
#include <stdlib.h>
#include <string.h>

#include "memtest.h"
#include "fuzz.h"
#include "rpc/rpc_int.h"

int fuzz_rpc(const uint8_t *d, size_t n)
{
	static unsigned inputs;
	struct rpc_reply r;
	struct mem_info pb, pa, sb, sa;
	json_error_t e;
	fuzz_setup();
	pkg_info(&pb);
	shm_info(&sb);
	rpc_handle((const char *)d, n, &r);
	if (r.text) {
		json_t *j = json_loadb(r.text, r.len, 0, &e);
		T_ASSERT(j, "reply is not JSON: %.*s", (int)r.len, r.text);
		json_decref(j);
	}
	rpc_reply_release(&r);
	pkg_info(&pa);
	shm_info(&sa);
	T_ASSERT(pa.used_size == pb.used_size, "pkg used %llu -> %llu: a leak",
		(unsigned long long)pb.used_size,
		(unsigned long long)pa.used_size);
	T_ASSERT(sa.used_size == sb.used_size, "shm used %llu -> %llu",
		(unsigned long long)sb.used_size,
		(unsigned long long)sa.used_size);
	if (++inputs % 64 == 0)
		T_ASSERT(pkg_check() == 0 && shm_check() == 0, "heap check");
	return 0;
}
