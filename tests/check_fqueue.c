/*
 * check_fqueue.c - the pkg free queue (mem/fqueue.h, mem_free_queue): what
 * waits in it is freed, in order, and every mistake a free can make is
 * still reported, at the latest when the queue drains.
 *
 * Per backend, on a 4 MiB pkg pool.  Cases:
 *   drains_for_readers  frees waiting are freed before info, check, walk
 *                       and usable_size look at the heap: the counters
 *                       are back to the start after each;
 *   model               random malloc/realloc/free of 1..5000 bytes with
 *                       contents; the counters, the checker and the model
 *                       of live blocks agree every 37 steps (the queue is
 *                       full and cycling in between);
 *   double_in_queue     the second free of a pointer still waiting: one
 *                       report at that call, the heap sound;
 *   double_after        the second free after the first has left the
 *                       queue (16 more frees), then a malloc that may
 *                       take the very fragment: one report by the time
 *                       mem_fq_drain() returns, the heap sound, the new
 *                       owner's fragment kept (the queued free dropped);
 *   realloc_queued      realloc and usable_size of a pointer that waits:
 *                       reported at the call as a freed fragment, NULL/0;
 *   bad_pointers        outside the pool, unaligned, into the middle of a
 *                       fragment: one report each (the first two at the
 *                       call, the last when the queue drains); nothing lost;
 *   oom_drains          an allocation that fits only in the memory of
 *                       frees still waiting succeeds, with no report;
 *   off_at_runtime      mem_free_queue set to 0 with frees waiting: later
 *                       frees go at once, the waiting ones still drain;
 *   fork                frees waiting at fork drain in both processes,
 *                       each on its own copy of the pool;
 *   peak                mallocs that would raise the pool's peak while
 *                       frees wait make those frees first: taking back
 *                       as many blocks as wait leaves max_used where it
 *                       was, as it does with the queue off.
 * A free within 2 KiB of the one before skips the queue (its lines are
 * in the cache): the cases free blocks far apart, and assert how many
 * frees wait (none in MEMDBG=1 builds, where the queue is off: every case
 * runs as it is there and must pass the same way).
 */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"    /* the queue's length */
#include "memtest.h"

#define POOL_SIZE ((size_t)4 << 20)
#define SLOTS 16        /* fqueue.h's FQ_SLOTS */

static struct t_pool tp;

static void start(int i)
{
	t_log_start();
	mem_safety = 1;
	mem_free_queue = 1;
	pkg_slab = 0;   /* small frees would not wait: they go to spans */
	ck_assert_int_eq(pkg_init(POOL_SIZE, t_backend(i)), 0);
	t_pool_start(&tp, mem_pkg_pool);
}

static void teardown(void)
{
	pkg_destroy();
	mem_free_queue = 1;
}

/* Frees waiting in the pkg queue; want: how many a release build has. */
static void waiting(unsigned want, const char *where)
{
	unsigned n = mem_pkg_pool->fq.len;
	T_ASSERT(n == (MEMDBG ? 0 : want), "%s: %u frees wait, want %u", where,
		n, MEMDBG ? 0 : want);
}

/* Free the n blocks of v (n not a multiple of 11), 11 blocks apart from
 * one free to the next, so that each is far from the one before. */
static void scatter_free(struct t_live *v, size_t n)
{
	for (size_t k = 0; k < n; k++)
		pkg_free(v[k * 11 % n].p);
}

static void take(struct t_live *v, size_t n, size_t size, uint64_t *s)
{
	t_take(mem_pkg_pool, v, n, size, s);
}

static void free_run(struct t_live *v, size_t from, size_t to)
{
	t_free_run(mem_pkg_pool, v, from, to);
}

/* The n blocks of v are the only ones held and intact; free them: the
 * pool is back to its start, and nothing was reported. */
static void finish(struct t_live *v, size_t n, const char *where)
{
	t_finish(&tp, v, n, where);
	T_LOG_EMPTY();
}


START_TEST(test_drains_for_readers)
{
	struct t_live v[40];
	struct mem_info mi;
	uint64_t s = 3;
	start(_i);
	for (int reader = 0; reader < 4; reader++) {
		take(v, 40, 200, &s);
		scatter_free(v, 40);
		waiting(SLOTS, T_AT);
		switch (reader) {
		case 0:
			pkg_info(&mi);
			break;
		case 1:
			ck_assert_int_eq(pkg_check(), 0);
			break;
		case 2:
			t_pool_verify(&tp, NULL, 0, T_AT);
			break;
		case 3: {
			void *keep = pkg_malloc(10);
			ck_assert_uint_ge(mem_usable_size(mem_pkg_pool, keep),
				10);
			pkg_free(keep);
			waiting(SLOTS, T_AT);
			mem_fq_drain(mem_pkg_pool);
			break;
		}
		}
		waiting(0, T_AT);
		t_pool_back_to_start(&tp, T_AT);
	}
	T_LOG_EMPTY();
}
END_TEST

START_TEST(test_model)
{
	enum { N = 300 };
	struct t_live live[N];
	size_t nlive = 0;
	unsigned queued = 0;    /* frees found waiting at the checks */
	uint64_t s = 11;
	start(_i);
	for (int step = 0; step < 6000; step++) {
		t_model_step(mem_pkg_pool, live, &nlive, N, 5000, &s);
		if (step % 37 == 36) {
			queued += mem_pkg_pool->fq.len;
			t_live_verify(live, nlive, T_AT);
			t_pool_verify(&tp, live, nlive, T_AT);
		}
	}
	T_ASSERT(MEMDBG || queued > 0, "no free ever waited");
	while (nlive)
		pkg_free(live[--nlive].p);
	t_pool_back_to_start(&tp, T_AT);
	T_LOG_EMPTY();
}
END_TEST

START_TEST(test_double_in_queue)
{
	struct t_live v[3];
	uint64_t s = 5;
	char want[256];
	start(_i);
	take(v, 3, 100, &s);
	pkg_free(v[1].p);
	waiting(1, T_AT);
	T_LOG_EMPTY();
	pkg_free(v[1].p);
	snprintf(want, sizeof(want), "pkg: free: double free %p", v[1].p);
	T_ONE_REPORT(want);
	ck_assert_int_eq(pkg_check(), 0);
	t_live_verify(&v[0], 1, T_AT);
	t_live_verify(&v[2], 1, T_AT);
	pkg_free(v[0].p);
	pkg_free(v[2].p);
	t_pool_back_to_start(&tp, T_AT);
}
END_TEST

START_TEST(test_double_after)
{
	struct t_live v[3], more[SLOTS + 4];
	uint64_t s = 7;
	char want[256];
	start(_i);
	take(v, 3, 100, &s);
	take(more, SLOTS + 4, 3000, &s);
	pkg_free(v[1].p);
	free_run(more, 0, SLOTS + 4);   /* v[1] has left the queue */
	waiting(SLOTS, T_AT);
	pkg_free(v[1].p);
	waiting(SLOTS, T_AT);
	/* This malloc may take v[1]'s fragment: the queued free is then
	 * reported and dropped, not made on the new owner's fragment. */
	void *q = pkg_malloc(100);
	ck_assert_ptr_nonnull(q);
	mem_fq_drain(mem_pkg_pool);
	snprintf(want, sizeof(want), "pkg: free: double free %p", v[1].p);
	T_ONE_REPORT(want);
	ck_assert_int_eq(pkg_check(), 0);
	struct t_live keep[3] = { v[0], v[2], { q, 100, 99 } };
	t_fill(q, 0, 100, 99);
	pkg_free(pkg_malloc(100));
	mem_fq_drain(mem_pkg_pool);
	t_pool_verify(&tp, keep, 3, T_AT);
	t_live_verify(keep, 3, T_AT);
	pkg_free(q);
	pkg_free(v[0].p);
	pkg_free(v[2].p);
	t_pool_back_to_start(&tp, T_AT);
	ck_assert_uint_eq(t_log_lines, 1);
}
END_TEST

START_TEST(test_realloc_queued)
{
	struct t_live v[3];
	uint64_t s = 9;
	start(_i);
	take(v, 3, 300, &s);
	pkg_free(v[1].p);
	waiting(1, T_AT);
	ck_assert_ptr_null(pkg_realloc(v[1].p, 500));
	T_LOG_HAS("pkg: realloc: ");
	T_LOG_HAS("double free");
	ck_assert_uint_eq(t_log_lines, 1);
	ck_assert_int_eq(pkg_check(), 0);
	t_log_clear();
	pkg_free(v[0].p);
	ck_assert_uint_eq(mem_usable_size(mem_pkg_pool, v[0].p), 0);
	T_ONE_REPORT("pkg: usable_size: ");
	t_live_verify(&v[2], 1, T_AT);
	pkg_free(v[2].p);
	t_pool_back_to_start(&tp, T_AT);
}
END_TEST

START_TEST(test_bad_pointers)
{
	struct t_live v[3];
	uint64_t s = 13;
	char want[256];
	start(_i);
	take(v, 3, 3000, &s);
	char *region = (char *)mem_pkg_pool;
	void *outside = region + POOL_SIZE + 4096;
	pkg_free(outside);
	snprintf(want, sizeof(want), "pkg: free: pointer outside the pool %p",
		outside);
	T_ONE_REPORT(want);
	t_log_clear();
	pkg_free((char *)v[0].p + 8);
	T_ONE_REPORT("pkg: free: ");
	t_log_clear();
	pkg_free((char *)v[2].p + 64);  /* waits: reported when it leaves */
	waiting(1, T_AT);
	mem_fq_drain(mem_pkg_pool);
	snprintf(want, sizeof(want), "pkg: free: pointer is not the start "
		"of a fragment %p", (char *)v[2].p + 64);
	T_ONE_REPORT(want);
	ck_assert_int_eq(pkg_check(), 0);
	t_live_verify(v, 3, T_AT);
	t_pool_verify(&tp, v, 3, T_AT);
	for (int k = 0; k < 3; k++)
		pkg_free(v[k].p);
	t_pool_back_to_start(&tp, T_AT);
}
END_TEST

/* Fill the pool with blocks of 64 KiB, free 8 of them, then ask for
 * 256 KiB: only the waiting frees' memory (joined) can serve it. */
START_TEST(test_oom_drains)
{
	enum { MAXB = 80 };
	void *b[MAXB];
	size_t n = 0;
	start(_i);
	while (n < MAXB && (b[n] = pkg_malloc(64 << 10)))
		n++;
	ck_assert_uint_lt(n, MAXB);
	ck_assert_uint_ge(n, 20);
	while (pkg_malloc(64))
		;       /* the last crumbs: nothing else fits */
	t_log_clear();
	for (size_t k = 8; k < 16; k++)
		pkg_free(b[k]);
	waiting(8, T_AT);
	void *big = pkg_malloc(256 << 10);
	ck_assert_ptr_nonnull(big);
	T_LOG_EMPTY();
	ck_assert_int_eq(pkg_check(), 0);
}
END_TEST

START_TEST(test_off_at_runtime)
{
	struct t_live v[30];
	uint64_t s = 17;
	start(_i);
	take(v, 30, 3000, &s);
	free_run(v, 0, 10);
	waiting(10, T_AT);
	mem_free_queue = 0;
	free_run(v, 10, 20);
	waiting(10, T_AT);
	mem_free_queue = 1;
	finish(&v[20], 10, T_AT);
}
END_TEST

START_TEST(test_fork)
{
	struct t_live v[12];
	uint64_t s = 19;
	start(_i);
	take(v, 12, 3000, &s);
	free_run(v, 0, 6);
	waiting(6, T_AT);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		free_run(v, 6, 12);
		struct mem_info mi;
		pkg_info(&mi);
		_exit(mi.used_size == tp.start.used_size &&
			mi.free_size == tp.start.free_size &&
			pkg_check() == 0 && t_log_lines == 0 ? 0 : 1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	finish(&v[6], 6, T_AT);
}
END_TEST

/* 24 blocks, 8 freed (waiting), 8 taken again: max_used is the peak of
 * the 24, with the queue on and off. */
static uint64_t peak_after_retake(int queue)
{
	struct t_live v[24];
	struct mem_info mi;
	uint64_t s = 23;
	mem_free_queue = queue;
	take(v, 24, 3000, &s);
	pkg_info(&mi);
	uint64_t top = mi.max_used;
	free_run(v, 0, 8);
	waiting(queue ? 8 : 0, T_AT);
	take(v, 8, 3000, &s);
	pkg_info(&mi);
	T_ASSERT(mi.max_used == top, "queue %d: max_used %" PRIu64 " after "
		"taking back what was freed, %" PRIu64 " before", queue,
		mi.max_used, top);
	finish(v, 24, T_AT);
	return mi.max_used;
}

START_TEST(test_peak)
{
	start(_i);
	uint64_t on = peak_after_retake(1);
	pkg_destroy();
	start(_i);
	uint64_t off = peak_after_retake(0);
	ck_assert_uint_eq(on, off);
	ck_assert_int_eq(pkg_check(), 0);
}
END_TEST

Suite *fqueue_suite(void)
{
	Suite *s = suite_create("fqueue");
	t_add_loop(s, "drains_for_readers", test_drains_for_readers,
		T_NBACKENDS, teardown, 30);
	t_add_loop(s, "model", test_model, T_NBACKENDS, teardown, 60);
	t_add_loop(s, "double_in_queue", test_double_in_queue, T_NBACKENDS,
		teardown, 30);
	t_add_loop(s, "double_after", test_double_after, T_NBACKENDS,
		teardown, 30);
	t_add_loop(s, "realloc_queued", test_realloc_queued, T_NBACKENDS,
		teardown, 30);
	t_add_loop(s, "bad_pointers", test_bad_pointers, T_NBACKENDS,
		teardown, 30);
	t_add_loop(s, "oom_drains", test_oom_drains, T_NBACKENDS, teardown,
		30);
	t_add_loop(s, "off_at_runtime", test_off_at_runtime, T_NBACKENDS,
		teardown, 30);
	t_add_loop(s, "fork", test_fork, T_NBACKENDS, teardown, 30);
	t_add_loop(s, "peak", test_peak, T_NBACKENDS, teardown, 30);
	return s;
}
