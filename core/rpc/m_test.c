/*
 * m_test.c - methods that build known states for tests (--test-methods
 * only): test.alloc, test.free, test.lock_hold.
 *
 * test.alloc allocates COUNT blocks of SIZE bytes at a call site the
 * request names (interned in shm, sites.c), so summaries, status dumps and
 * mod.stats can be checked against exact expectations.  shm blocks are
 * allocated by the RPC process; pkg blocks by the process named (PID, by
 * default the RPC process), through IPC.  The blocks of one call form a
 * group with an id; test.free ID frees it wherever it lives.  test.free ID
 * STEP frees only every STEP-th block still held (the 1st, the STEP+1-th,
 * ...) and keeps the group: adjacent blocks freed every other one make a
 * fragmented pool in two calls.
 *
 * Bookkeeping (the group list and its pointer arrays) lives in libc's heap,
 * not in the pools under test: the pools then move by the test's blocks
 * and nothing else, and test.free brings them back exactly.
 *
 * An asked process publishes its pkg counters (proc_publish_pkg) right
 * after it allocated or freed, before it builds its reply: pkg.stats shows
 * the change as soon as the request has returned, with no wait for the
 * process's next publish (the reply's own pkg, freed once sent, is not in
 * it).
 *
 * test.lock_hold makes a worker take the shm lock and keep it MS ms; the
 * worker answers first and holds from a deferred call (loop_defer), so
 * the request returns at once and a test can kill the holder.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rpc/rpc_int.h"
#include "runtime/loop.h"
#include "runtime/proc.h"

#define TEST_COUNT_MAX 1000000
#define TEST_SIZE_MAX ((long long)1 << 30)
#define TEST_HOLD_MAX_MS 600000

struct tgroup {
	int id;
	int entry;              /* the process that holds it */
	pid_t pid;
	struct mem_pool *pool;  /* NULL: in another process */
	size_t count, size;
	void **p;
	struct tgroup *next;
};

static struct tgroup *groups;   /* this process's list */
static int next_id = 1;

/* --- groups in this process ---------------------------------------------- */

static struct tgroup *group_new(int id, struct mem_pool *pool, size_t count,
		size_t size)
{
	struct tgroup *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->id = id;
	g->entry = proc_index;
	g->pid = getpid();
	g->pool = pool;
	g->count = count;
	g->size = size;
	g->next = groups;
	groups = g;
	return g;
}

static struct tgroup **group_find(int id)
{
	struct tgroup **g;
	for (g = &groups; *g; g = &(*g)->next)
		if ((*g)->id == id)
			return g;
	return NULL;
}

/* Free the blocks still held and the record; returns the blocks freed. */
static size_t group_free(struct tgroup **link)
{
	struct tgroup *g = *link;
	size_t n = 0;
	for (size_t i = 0; g->pool && i < g->count; i++)
		if (g->p[i]) {
			mem_free(g->pool, g->p[i], NULL);
			n++;
		}
	*link = g->next;
	free(g->p);
	free(g);
	return n;
}

/* Free every step-th block still held, keep the group; blocks freed. */
static size_t group_thin(struct tgroup *g, size_t step)
{
	size_t n = 0, k = 0;
	for (size_t i = 0; g->pool && i < g->count; i++)
		if (g->p[i] && k++ % step == 0) {
			mem_free(g->pool, g->p[i], NULL);
			g->p[i] = NULL;
			n++;
		}
	return n;
}

/* Allocate the blocks of a new local group; NULL with *err on failure
 * (nothing kept then). */
static struct tgroup *group_alloc(int id, struct mem_pool *pool,
		size_t count, size_t size, const struct mem_site *site,
		const char **err)
{
	struct tgroup *g = group_new(id, pool, 0, size);
	if (!g || !(g->p = malloc(count * sizeof(void *)))) {
		*err = "no memory for the test's bookkeeping";
		if (g)
			group_free(&groups);
		return NULL;
	}
	for (; g->count < count; g->count++)
		if (!(g->p[g->count] = mem_malloc(pool, size, site)))
			break;
	if (g->count == count)
		return g;
	*err = "out of memory in the pool";
	group_free(&groups);
	return NULL;
}

static json_t *group_json(const struct tgroup *g)
{
	return json_pack("{s:i,s:I,s:I,s:i}", "id", g->id,
		"count", (json_int_t)g->count, "size", (json_int_t)g->size,
		"pid", (int)g->pid);
}

/* --- IPC handlers: the asked process ------------------------------------- */

char *rpc_ipc_test_alloc(const char *arg, const char **err)
{
	int id, site;
	unsigned long long size, count;
	struct tgroup *g;
	if (!arg || sscanf(arg, "%d %d %llu %llu", &id, &site, &size,
			&count) != 4 || count > TEST_COUNT_MAX) {
		*err = "bad arguments";
		return NULL;
	}
	g = group_alloc(id, mem_pkg_pool, count, size, rpc_site_at(site), err);
	if (!g)
		return NULL;
	proc_publish_pkg();
	/* The reply itself needs pkg: when the blocks took the last of it,
	 * the caller hears "out of memory", so nothing may stay behind. */
	char *reply = rpc_ipc_reply(group_json(g), err);
	if (!reply) {
		group_free(group_find(id));
		proc_publish_pkg();
	}
	return reply;
}

/* arg: "ID" or "ID STEP" */
char *rpc_ipc_test_free(const char *arg, const char **err)
{
	long step = 0;
	struct tgroup **g = arg ? group_find(atoi(arg)) : NULL;
	if (!g) {
		*err = "no such test group here";
		return NULL;
	}
	if (strchr(arg, ' '))
		step = atol(strchr(arg, ' ') + 1);
	size_t freed = step > 0 ? group_thin(*g, (size_t)step) : group_free(g);
	proc_publish_pkg();
	return rpc_ipc_reply(json_pack("{s:I}", "freed", (json_int_t)freed),
		err);
}

static void hold(void *arg)
{
	long ms = (long)(intptr_t)arg;
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	shm_global_lock();
	while (nanosleep(&t, &t) < 0 && errno == EINTR && !loop_quit)
		;
	shm_global_unlock();
}

char *rpc_ipc_lock_hold(const char *arg, const char **err)
{
	long ms = arg ? atol(arg) : 0;
	if (ms < 1 || ms > TEST_HOLD_MAX_MS) {
		*err = "bad duration";
		return NULL;
	}
	if (loop_defer(hold, (void *)(intptr_t)ms) < 0) {
		*err = "the deferred-call queue is full";
		return NULL;
	}
	return rpc_ipc_reply(json_pack("{s:i,s:I}", "pid", (int)getpid(),
		"ms", (json_int_t)ms), err);
}

/* --- the methods ---------------------------------------------------------- */

struct alloc_args {
	const char *pool, *file, *func, *mod;
	long long size, count, line;
	int entry;
};

static int alloc_args(struct rpc_ctx *c, json_t *p, struct alloc_args *a)
{
	*a = (struct alloc_args){ NULL, "test.c", "test_alloc", "test", 0, 1,
		1, proc_index };
	if (rpc_arg_str(c, p, 0, "pool", 1, &a->pool) < 0 ||
	    rpc_arg_int(c, p, 1, "size", 1, &a->size) < 0 ||
	    rpc_arg_int(c, p, 2, "count", 0, &a->count) < 0 ||
	    rpc_arg_str(c, p, 3, "file", 0, &a->file) < 0 ||
	    rpc_arg_str(c, p, 4, "func", 0, &a->func) < 0 ||
	    rpc_arg_int(c, p, 5, "line", 0, &a->line) < 0 ||
	    rpc_arg_str(c, p, 6, "module", 0, &a->mod) < 0 ||
	    rpc_arg_proc(c, p, 7, 0, &a->entry) < 0)
		return -1;
	if (strcmp(a->pool, "shm") && strcmp(a->pool, "pkg"))
		return rpc_fail(c, RPC_INVALID_PARAMS, "parameter pool (#1) "
			"must be shm or pkg");
	if (a->size < 0 || a->size > TEST_SIZE_MAX || a->count < 1 ||
	    a->count > TEST_COUNT_MAX || a->line < 0 || a->line > 1000000)
		return rpc_fail(c, RPC_INVALID_PARAMS, "size must be 0..%lld, "
			"count 1..%d, line 0..1000000", TEST_SIZE_MAX,
			TEST_COUNT_MAX);
	if (!strcmp(a->pool, "shm") && a->entry != proc_index)
		return rpc_fail(c, RPC_INVALID_PARAMS, "shm blocks are "
			"allocated by the RPC process (no PID)");
	return 0;
}

/* pkg blocks of another process: it allocates, we keep a record. */
static int alloc_remote(struct rpc_ctx *c, const struct alloc_args *a,
		int site, json_t **res)
{
	char arg[96];
	int id = next_id++;
	snprintf(arg, sizeof(arg), "%d %d %lld %lld", id, site, a->size,
		a->count);
	if (!(*res = rpc_ask(c, a->entry, "rpc.test_alloc", arg,
			RPC_IPC_TIMEOUT_MS)))
		return -1;
	if (!group_new(id, NULL, (size_t)a->count, (size_t)a->size))
		return rpc_fail(c, RPC_SERVER_ERROR, "no memory for the record "
			"of group %d (its blocks stay in pid %d)", id,
			(int)proc_table[a->entry].pid);
	groups->entry = a->entry;
	groups->pid = proc_table[a->entry].pid;
	return 0;
}

static int m_alloc(struct rpc_ctx *c, json_t *params, json_t **res)
{
	struct alloc_args a;
	const char *err = NULL;
	struct tgroup *g;
	int site;
	if (alloc_args(c, params, &a) < 0)
		return -1;
	site = rpc_site_intern(a.file, a.func, (unsigned)a.line, a.mod);
	if (site < 0)
		return rpc_fail(c, RPC_SERVER_ERROR, "too many named call sites");
	if (a.entry != proc_index)
		return alloc_remote(c, &a, site, res);
	g = group_alloc(next_id, !strcmp(a.pool, "shm") ? mem_shm_pool :
		mem_pkg_pool, (size_t)a.count, (size_t)a.size,
		rpc_site_at(site), &err);
	if (!g)
		return rpc_fail(c, RPC_SERVER_ERROR, "%s (%lld blocks of %lld "
			"bytes)", err, a.count, a.size);
	if (!(*res = group_json(g))) {  /* the blocks took the last pkg */
		group_free(group_find(g->id));
		return rpc_fail(c, RPC_SERVER_ERROR, "out of memory for the "
			"reply (the blocks were freed again)");
	}
	next_id++;
	return 0;
}

/* Free one group wherever it is (step > 0: every step-th block, the
 * group stays); blocks freed, or -1 (c set). */
static long long free_group(struct rpc_ctx *c, struct tgroup **link,
		long long step)
{
	struct tgroup *g = *link;
	char arg[48];
	json_t *r;
	long long n;
	if (g->pool)
		return (long long)(step > 0 ? group_thin(g, (size_t)step) :
			group_free(link));
	snprintf(arg, sizeof(arg), "%d %lld", g->id, step);
	r = proc_table[g->entry].pid == g->pid ? rpc_ask(c, g->entry,
		"rpc.test_free", arg, RPC_IPC_TIMEOUT_MS) : NULL;
	n = r ? json_integer_value(json_object_get(r, "freed")) : 0;
	json_decref(r);
	if (step <= 0 || !r)    /* a dead process took its blocks */
		group_free(link);
	return n;
}

static int m_free(struct rpc_ctx *c, json_t *params, json_t **res)
{
	long long id, step = 0, freed = 0;
	struct tgroup **g;
	json_t *a = rpc_arg(params, 0, "id");
	if (json_is_string(a) && !strcmp(json_string_value(a), "all")) {
		while (groups)
			freed += free_group(c, &groups, 0);
		c->code = 0;    /* the blocks of dead processes are gone anyway */
		*res = json_pack("{s:I}", "freed", (json_int_t)freed);
		return 0;
	}
	if (rpc_arg_int(c, params, 0, "id", 1, &id) < 0 ||
	    rpc_arg_int(c, params, 1, "step", 0, &step) < 0)
		return -1;
	if (step < 0)
		return rpc_fail(c, RPC_INVALID_PARAMS, "parameter step (#2) "
			"must be 1 or more");
	if (!(g = group_find((int)id)))
		return rpc_fail(c, RPC_SERVER_ERROR, "no test group %lld", id);
	*res = json_pack("{s:I}", "freed", (json_int_t)free_group(c, g, step));
	return c->code ? -1 : 0;
}

static int m_lock_hold(struct rpc_ctx *c, json_t *params, json_t **res)
{
	long long ms;
	int entry = -1;
	char arg[24];
	if (rpc_arg_int(c, params, 0, "ms", 1, &ms) < 0 ||
	    rpc_arg_proc(c, params, 1, 0, &entry) < 0)
		return -1;
	if (ms < 1 || ms > TEST_HOLD_MAX_MS)
		return rpc_fail(c, RPC_INVALID_PARAMS, "parameter ms (#1) must "
			"be 1..%d", TEST_HOLD_MAX_MS);
	for (int i = 0; entry < 0 && i < proc_count; i++)
		if (proc_table[i].rank == 1 && proc_table[i].pid)
			entry = i;
	if (entry < 0 || entry == proc_index || entry == 0)
		return rpc_fail(c, RPC_SERVER_ERROR, "the lock is held by a "
			"worker, the timer or another child, not this process "
			"nor main");
	snprintf(arg, sizeof(arg), "%lld", ms);
	*res = rpc_ask(c, entry, "rpc.lock_hold", arg, RPC_IPC_TIMEOUT_MS);
	return *res ? 0 : -1;
}

RPC_METHOD(test_alloc_m) = { "test.alloc", m_alloc,
	"POOL SIZE [COUNT] [FILE] [FUNC] [LINE] [MODULE] [PID]",
	"allocate COUNT blocks at a named call site; returns the group id",
	RPC_TEST };
RPC_METHOD(test_free_m) = { "test.free", m_free, "ID|all [STEP]",
	"free a group of test.alloc (or all of them; STEP: every STEP-th "
	"block only)", RPC_TEST };
RPC_METHOD(test_lock_hold_m) = { "test.lock_hold", m_lock_hold, "MS [PID]",
	"a worker (default rank 1) holds the shm lock MS ms", RPC_TEST };
