/*
 * check_damage.c - seeded damage: an overflow that runs past the end
 * canary into the next fragment's header, and what every diagnostic does
 * about it (mem/damage.c).
 *
 * Every case runs on nine pools: pkg, shm without per-process caches
 * (shm_cache_size = 0) and shm with them, each on fm, qm and tlsf
 * (loop index i: backend i % 3, pool i / 3).  A case allocates next to
 * live neighbours, overwrites from one fragment up to the next one's
 * payload (so through its header and, for a hole, through its MEMDBG
 * record too), and asserts the reports by substring, with the exact call
 * site and header address, and that the heap is whole again afterwards:
 *   overflow_check      the checker names the overflowing fragment's site,
 *                       rebuilds the header, and both fragments can then
 *                       be freed; counters back at their start;
 *   overflow_free       the same found by free() of the overflowing
 *                       fragment, without a check first;
 *   overflow_victim     ... and by free() of the victim (backward search);
 *   walk_hole           the victim's record is gone too: walks, scans in
 *                       any chunk and reports still see every other
 *                       fragment and mark the hole; the checker names the
 *                       culprit and calls the damage structural.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "memtest.h"

#define POOL_SIZE ((size_t)4 << 20)
#define AT(lp, call) (*(lp) = __LINE__, (call))
#define NPOOLS 9

/* The backend's header right below a payload, in bytes (fm, qm, tlsf). */
static const unsigned hdr_size[T_NBACKENDS] = { 8, 16, 8 };

static size_t cache_default;
static unsigned chunk_default;
static int use_shm;

#define ALLOC(n) (use_shm ? shm_malloc(n) : pkg_malloc(n))
#define FREE(p) (use_shm ? shm_free(p) : pkg_free(p))

static struct mem_pool *setup(int i)
{
	t_log_start();
	use_shm = i >= T_NBACKENDS;
	if (!use_shm) {
		pkg_slab = 0;   /* damage to the heap's own headers (slab: check_slab.c) */
		ck_assert_int_eq(pkg_init(POOL_SIZE, t_backend(i)), 0);
		return mem_pkg_pool;
	}
	shm_cache_size = i < 2 * T_NBACKENDS ? 0 : 512u << 10;
	ck_assert_int_eq(shm_init(POOL_SIZE, t_backend(i % T_NBACKENDS)), 0);
	return mem_shm_pool;
}

/* Empty the shm caches: what a flush finds is reported then. */
static void drain(void)
{
	if (use_shm)
		shm_cache_drain();
}

static uint64_t used_now(struct mem_pool *pool)
{
	struct mem_info mi;
	drain();
	mem_pool_info(pool, &mi);
	return mi.used_size;
}

/* The fragment right after p in address order. */
struct after {
	const void *p;
	struct mem_frag next;
	int state;
};

static int after_fn(const struct mem_frag *f, void *arg)
{
	struct after *a = arg;
	if (a->state == 1) {
		a->next = *f;
		a->state = 2;
		return 1;
	}
	a->state = f->addr == a->p;
	return 0;
}

static const void *next_of(struct mem_pool *pool, const void *p)
{
	struct after a = { .p = p };
	mem_walk(pool, after_fn, &a);
	ck_assert_int_eq(a.state, 2);
	return a.next.addr;
}

/* Overwrite from a up to the payload of the fragment after it (its
 * header included), plus `more` bytes of that payload. */
static const char *overflow(struct mem_pool *pool, char *a, size_t more)
{
	const char *v = next_of(pool, a);
	memset(a, 'A', (size_t)(v - DBG_HEAD - a) + more);
	return v;
}

/* "<pool>: <op>: overflow from the fragment allocated at <func:line>
 * (req N bytes) into the header at <the victim's header>" */
static void overflow_named(const char *op, int i, const char *func, int line,
		size_t req, const char *victim)
{
	char want[512], s[256], by[64] = "";
	if (use_shm)    /* shm reports name the process */
		snprintf(by, sizeof(by), " by pid %d", (int)getpid());
	snprintf(want, sizeof(want), "%s: %s: overflow from the fragment "
		"allocated at %s%s (req %zu bytes) into the header at %p",
		use_shm ? "shm" : "pkg", op, t_site(s, sizeof(s), __FILE__,
		func, line), by, req, (void *)(victim - DBG_HEAD -
		hdr_size[i % T_NBACKENDS]));
	T_LOG_HAS(want);
}

/* The heap is whole: nothing to report, callers' bytes as at the start. */
static void whole_again(struct mem_pool *pool, uint64_t used0)
{
	ck_assert_uint_eq(used_now(pool), used0);
	t_log_clear();
	ck_assert_int_eq(mem_check(pool), 0);
	T_LOG_EMPTY();
}

/* --- an overflow into the next header ------------------------------------ */

/* Three neighbours of req bytes, a overflowing through the next header
 * (v: the victim, b unless a cache handed them out of order). */
struct trio {
	struct mem_pool *pool;
	uint64_t used0;
	size_t req;
	int line;               /* where a was allocated, in trio_make() */
	char *a;
	void *b, *c;
	const char *v;
};

static void trio_make(struct trio *t, int i, size_t req)
{
	t->pool = setup(i);
	t->used0 = used_now(t->pool);
	t->req = req;
	t->a = AT(&t->line, ALLOC(req));
	t->b = ALLOC(req);
	t->c = ALLOC(req);
	t->v = MEMDBG ? overflow(t->pool, t->a, 0) : NULL;
}

static void trio_named(const struct trio *t, const char *op, int i)
{
	overflow_named(op, i, "trio_make", t->line, t->req, t->v);
}

/* Free what is left; the heap must be whole again. */
static void trio_free(struct trio *t)
{
	FREE(t->a);
	FREE(t->b);
	FREE(t->c);
	whole_again(t->pool, t->used0);
}

START_TEST(test_overflow_check)
{
	struct trio t;
	struct mem_check_result r;
	if (!MEMDBG)
		return;         /* no record to name or rebuild from */
	trio_make(&t, _i, 32);
	ck_assert_int_gt(mem_check_ex(t.pool, &r), 0);
	trio_named(&t, "heap check", _i);
	T_LOG_HAS("; header rebuilt from the record of fragment");
	ck_assert_int_eq(r.structure, 0);
	ck_assert_int_ge(r.application, 2);     /* header, a's canary */
	trio_free(&t);
}
END_TEST

START_TEST(test_overflow_free)
{
	struct trio t;
	if (!MEMDBG)
		return;
	trio_make(&t, _i, 32);
	FREE(t.a);
	t.a = NULL;
	drain();        /* a parked fragment's checks come at flush */
	trio_named(&t, "free", _i);
	trio_free(&t);
}
END_TEST

START_TEST(test_overflow_victim)
{
	struct trio t;
	if (!MEMDBG)
		return;
	trio_make(&t, _i, 100);
	if (t.v == t.b) {       /* the victim is ours: free it first */
		FREE(t.b);
		t.b = NULL;
		drain();
		trio_named(&t, "free", _i);
	}
	trio_free(&t);
}
END_TEST

/* --- a hole --------------------------------------------------------------- */

struct census {
	void **p;
	int n;
	int seen[32];
	int holes, other;
	const void *hole;
};

static int census_fn(const struct mem_frag *f, void *arg)
{
	struct census *c = arg;
	if (f->hole) {
		c->holes++;
		c->hole = f->addr;
		return 0;
	}
	for (int k = 0; k < c->n; k++)
		if (f->addr == c->p[k] && f->used) {
			c->seen[k]++;
			return 0;
		}
	c->other++;
	return 0;
}

/* Every fragment but the victim seen once, and the victim as the hole. */
static void census_ok(const struct census *c, int victim, const char *what)
{
	for (int k = 0; k < c->n; k++)
		T_ASSERT(c->seen[k] == (k != victim), "%s: fragment %d seen %d "
			"times", what, k, c->seen[k]);
	const char *at = (const char *)c->p[victim] - DBG_HEAD;
	T_ASSERT(c->holes == 1 && c->hole == at, "%s: %d holes, at %p, "
		"victim's payload %p", what, c->holes, c->hole, (void *)at);
}

START_TEST(test_walk_hole)
{
	enum { N = 20, V = 6 };
	void *p[N];
	int l5 = 0;
	struct mem_pool *pool = setup(_i);
	for (int k = 0; k < N; k++)
		p[k] = k == V - 1 ? AT(&l5, ALLOC(100)) : ALLOC(100);
	if (next_of(pool, p[V - 1]) != p[V])
		return;         /* a cache handed them out of order */
	overflow(pool, p[V - 1], DBG_HEAD);     /* header and record */
	struct census c = { .p = p, .n = N };
	ck_assert_int_eq(mem_walk(pool, census_fn, &c), 0);
	census_ok(&c, V, "walk");
	for (unsigned chunk = 1; chunk <= 5; chunk++) {
		struct census s = { .p = p, .n = N };
		mem_scan_chunk = chunk;
		ck_assert_int_eq(mem_scan(pool, NULL, census_fn, &s, NULL), 0);
		census_ok(&s, V, "scan");
	}
	struct mem_report_data r;
	mem_report_get(pool, &r);
	ck_assert_uint_eq(r.holes, 1);
	ck_assert_uint_ge(r.used_frags, N - 1);
	struct mem_check_result cr;
	t_log_clear();
	ck_assert_int_gt(mem_check_ex(pool, &cr), 0);
	ck_assert_int_gt(cr.structure, 0);
	if (MEMDBG)
		overflow_named("heap check", _i, __func__, l5, 100, p[V]);
	T_LOG_HAS("; no record to rebuild it from: ");
}
END_TEST

/* --- the suite ------------------------------------------------------------ */

static void teardown(void)
{
	t_teardown();
	shm_cache_size = cache_default;
	mem_scan_chunk = chunk_default;
}

static void add_loop(Suite *s, const char *name, const TTest *t)
{
	t_add_loop(s, name, t, NPOOLS, teardown, 60);
}

Suite *damage_suite(void)
{
	Suite *s = suite_create("damage");
	cache_default = shm_cache_size;
	chunk_default = mem_scan_chunk;
	add_loop(s, "overflow_check", test_overflow_check);
	add_loop(s, "overflow_free", test_overflow_free);
	add_loop(s, "overflow_victim", test_overflow_victim);
	add_loop(s, "walk_hole", test_walk_hole);
	return s;
}
