/*
 * check_model.c - randomized model-based test of the pkg pool, per backend.
 *
 * Workload: 1,000,000 operations (SRMEM_MODEL_OPS overrides) on 4096 slots
 * in a 64 MiB pkg pool.  Each operation picks a slot: an empty slot is
 * filled (malloc, 1 in 8 through realloc(NULL, n)); a full one is freed
 * (45%), realloc'ed (45%: half to a fresh size, half by a few bytes, so
 * both in-place and moving paths run; 1% of those to size 0, which frees)
 * or just verified.  Sizes are a SIP-like mix: 90% 16..512 bytes, 9.5% up
 * to 32 KiB, 0.5% up to 256 KiB, and 0.1% zero.  About 2,800 blocks
 * (~9 MiB) are live at a time, so the pool is never near full and every
 * request must be granted.
 *
 * Every block carries a pattern (memtest.h) written on malloc/realloc and
 * verified on every free and realloc (up to min(old, new)).  Every 10,000
 * operations and at the end: mem_check() == 0 and the info() counters and
 * the set of used fragments against a walk of the heap (t_pool_verify).
 * At the end everything is freed and the counters must be back at their
 * start values.
 *
 * Seeds: splitmix64, seed 42.  SRMEM_SEED=random picks one from the clock
 * and prints it; SRMEM_SEED=<number> replays it.  Every failure message
 * names the seed and the operation number.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "memtest.h"

#define POOL_SIZE ((size_t)64 << 20)
#define NSLOTS 4096
#define CHECK_EVERY 10000

static uint64_t model_seed = 42;
static unsigned long model_ops = 1000000;

struct slot {
	void *p;
	size_t n;
	uint64_t w;
};

static struct slot slots[NSLOTS];
static struct t_live scratch[NSLOTS];
static struct t_pool tp;

struct run {
	const char *backend;
	uint64_t rng;
	unsigned long op;
	unsigned long mallocs, frees, reallocs, moved;
};

#define FAIL_IF(cond, r, ...) \
	T_ASSERT(!(cond), "%s seed %llu op %lu: %s", (r)->backend, \
		(unsigned long long)model_seed, (r)->op, \
		(snprintf(msg, sizeof(msg), __VA_ARGS__), msg))
static char msg[256];

/* 90% 16..512, 9.5% 513..32 KiB, 0.5% 32 KiB..256 KiB, 0.1% 0. */
static size_t sip_size(uint64_t *s)
{
	uint64_t r = t_rand(s) % 1000;
	if (r == 0)
		return 0;
	if (r < 900)
		return t_range(s, 16, 512);
	if (r < 995)
		return t_range(s, 513, 32 << 10);
	return t_range(s, (32 << 10) + 1, 256 << 10);
}

static void verify_slot(struct run *r, const struct slot *sl, size_t upto)
{
	size_t bad = t_verify(sl->p, 0, upto, sl->w);
	FAIL_IF(bad != SIZE_MAX, r, "block %p (%zu bytes) corrupt at byte %zu",
		sl->p, sl->n, bad);
}

static void do_malloc(struct run *r, struct slot *sl)
{
	size_t n = sip_size(&r->rng);
	void *p = t_rand(&r->rng) % 8 ? pkg_malloc(n) : pkg_realloc(NULL, n);
	FAIL_IF(!p, r, "malloc(%zu) failed", n);
	FAIL_IF((uintptr_t)p % 16, r, "malloc(%zu) = %p misaligned", n, p);
	sl->p = p;
	sl->n = n;
	sl->w = t_rand(&r->rng);
	t_fill(p, 0, n, sl->w);
	r->mallocs++;
}

static void do_free(struct run *r, struct slot *sl)
{
	verify_slot(r, sl, sl->n);
	pkg_free(sl->p);
	sl->p = NULL;
	r->frees++;
}

static void do_realloc(struct run *r, struct slot *sl)
{
	uint64_t k = t_rand(&r->rng) % 100;
	size_t n;
	if (k == 0) {
		n = 0;
	} else if (k < 50) {
		n = sip_size(&r->rng);
	} else {
		size_t d = t_range(&r->rng, 1, 64);
		n = k % 2 || sl->n <= d ? sl->n + d : sl->n - d;
	}
	verify_slot(r, sl, sl->n);
	void *q = pkg_realloc(sl->p, n);
	r->reallocs++;
	if (n == 0) {
		FAIL_IF(q, r, "realloc(p, 0) returned %p", q);
		sl->p = NULL;
		r->frees++;
		return;
	}
	FAIL_IF(!q, r, "realloc(%zu -> %zu) failed", sl->n, n);
	FAIL_IF((uintptr_t)q % 16, r, "realloc gave %p", q);
	size_t keep = sl->n < n ? sl->n : n;
	size_t bad = t_verify(q, 0, keep, sl->w);
	FAIL_IF(bad != SIZE_MAX, r, "realloc(%zu -> %zu) %p -> %p lost byte "
		"%zu", sl->n, n, sl->p, q, bad);
	r->moved += q != sl->p;
	t_fill(q, keep, n, sl->w);
	sl->p = q;
	sl->n = n;
}

/* Heap check, counters against the walk, used fragments == live slots. */
static void checkpoint(struct run *r)
{
	size_t n = 0;
	for (size_t i = 0; i < NSLOTS; i++)
		if (slots[i].p)
			scratch[n++] = (struct t_live){ slots[i].p, slots[i].n,
				slots[i].w };
	char where[128];
	snprintf(where, sizeof(where), "%s seed %llu op %lu", r->backend,
		(unsigned long long)model_seed, r->op);
	t_pool_verify(&tp, scratch, n, where);
}

START_TEST(test_model)
{
	struct run r = { t_backend(_i), model_seed, 0, 0, 0, 0, 0 };
	t_log_start();
	ck_assert_int_eq(pkg_init(POOL_SIZE, r.backend), 0);
	t_pool_start(&tp, mem_pkg_pool);
	memset(slots, 0, sizeof(slots));
	for (r.op = 0; r.op < model_ops; r.op++) {
		struct slot *sl = &slots[t_rand(&r.rng) % NSLOTS];
		uint64_t k = t_rand(&r.rng) % 100;
		if (!sl->p)
			do_malloc(&r, sl);
		else if (k < 45)
			do_free(&r, sl);
		else if (k < 90)
			do_realloc(&r, sl);
		else
			verify_slot(&r, sl, sl->n);
		if ((r.op + 1) % CHECK_EVERY == 0)
			checkpoint(&r);
	}
	checkpoint(&r);
	for (size_t i = 0; i < NSLOTS; i++)
		if (slots[i].p)
			do_free(&r, &slots[i]);
	checkpoint(&r);
	t_pool_back_to_start(&tp, r.backend);
	/* nothing was reported: no request failed, no pointer was bad */
	T_ASSERT(t_log_lines == 0, "%s seed %llu: unexpected log:\n%s",
		r.backend, (unsigned long long)model_seed, t_log_buf);
	/* the workload really ran both realloc paths */
	ck_assert_uint_gt(r.moved, 0);
	ck_assert_uint_gt(r.reallocs - r.moved, 0);
	pkg_destroy();
}
END_TEST

/* Read the environment once, in the runner, so that every backend's test
 * (each in its own fork) uses the same seed and it is printed once. */
static void model_env(void)
{
	const char *s = getenv("SRMEM_SEED");
	const char *ops = getenv("SRMEM_MODEL_OPS");
	if (s && !strcmp(s, "random")) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x = (uint64_t)ts.tv_sec * 1000000007ull ^
			(uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
		model_seed = t_rand(&x);
		printf("model: SRMEM_SEED=%llu (replay with SRMEM_SEED=%llu)\n",
			(unsigned long long)model_seed,
			(unsigned long long)model_seed);
		fflush(stdout);
	} else if (s && *s) {
		model_seed = strtoull(s, NULL, 0);
		printf("model: SRMEM_SEED=%llu\n",
			(unsigned long long)model_seed);
		fflush(stdout);
	}
	if (ops && *ops)
		model_ops = strtoul(ops, NULL, 0);
}

Suite *model_suite(void)
{
	Suite *s = suite_create("model");
	TCase *tc = tcase_create("model");
	model_env();
	tcase_add_checked_fixture(tc, NULL, t_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_model, 0, T_NBACKENDS);
	t_heavy(tc);
	suite_add_tcase(s, tc);
	return s;
}
