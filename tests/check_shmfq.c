/*
 * check_shmfq.c - the shm free queue (mem/cache.c "The free queue",
 * mem_free_queue): frees wait in their process's slot while their lines
 * are fetched; what waits is freed, by its process or by whoever drains
 * or reclaims its slot, and every mistake a free can make is still
 * reported, at the latest when the entry leaves the queue.
 *
 * Per backend, on an 8 MiB shm pool with the per-process caches.  Cases:
 *   readers             frees waiting are settled before info, the cache
 *                       counters, a walk and the checker look: the
 *                       counters are back to the start after each;
 *   model               random malloc/realloc/free of 1..3000 bytes with
 *                       contents; counters, checker and the model of live
 *                       blocks agree every 37 steps (the queue cycling);
 *   double_in_queue     the second free of a pointer still waiting: one
 *                       report at that call, the heap sound;
 *   double_handed_out   the second free after the first left the queue,
 *                       then a malloc that takes that very fragment: the
 *                       queued free is reported and dropped, the new
 *                       owner's fragment kept;
 *   double_two_procs    a pointer freed by the parent (waiting) and by a
 *                       child: one report, in the child, whose drain
 *                       settles both queues; the heap sound;
 *   realloc_queued      realloc and usable_size of a waiting pointer:
 *                       reported at the call as a freed fragment;
 *   bad_pointers        outside the pool (at the call) and into the middle
 *                       of a fragment (when it leaves the queue): one
 *                       report each, the fragment intact;
 *   oom_settles         an allocation that fits only in the memory of
 *                       frees still waiting succeeds, with no report;
 *   oom_settles_and_drains  a big allocation that fits only once the
 *                       parked fragments and the waiting frees beside
 *                       the heap's free tail are all back in the heap
 *                       succeeds (the queues settle, then the caches
 *                       drain, before the one retry);
 *   death               a child that frees and is killed: its waiting
 *                       frees are freed by the reclaim, nothing lost.
 * Each case asserts how many frees wait (none in MEMDBG=1 and SHM_CACHE=0
 * builds, where the queue is off: every case runs as it is there and must
 * pass the same way).
 */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h"       /* the queue's length */
#include "memtest.h"

#ifndef SHM_CACHE
#define SHM_CACHE 1
#endif

/* Frees wait only in release builds with the caches (the queue is in a
 * process's cache slot). */
#define QUEUED (!MEMDBG && SHM_CACHE)

#define POOL_SIZE ((size_t)8 << 20)
#define SLOTS CACHE_FQ

static struct t_pool tp;

static void start(int i)
{
	t_log_start();
	mem_safety = 1;
	mem_free_queue = 1;
	shm_cache_size = SHM_CACHE_AUTO;
	ck_assert_int_eq(shm_init(POOL_SIZE, t_backend(i)), 0);
	t_pool_start(&tp, mem_shm_pool);
}

static void teardown(void)
{
	shm_destroy();
	mem_free_queue = 1;
}

/* Frees waiting in this process's queue; want: how many a release build
 * has. */
static void waiting(unsigned want, const char *where)
{
	unsigned n = cache_fq_len(mem_shm_pool);
	T_ASSERT(n == (QUEUED ? want : 0), "%s: %u frees wait, want %u", where,
		n, QUEUED ? want : 0);
}

static void take(struct t_live *v, size_t n, size_t size, uint64_t *s)
{
	t_take(mem_shm_pool, v, n, size, s);
}

static void free_run(struct t_live *v, size_t from, size_t to)
{
	t_free_run(mem_shm_pool, v, from, to);
}

static void finish(struct t_live *v, size_t n, const char *where)
{
	t_finish(&tp, v, n, where);
}


START_TEST(test_readers)
{
	struct t_live v[20];
	struct mem_info mi;
	uint64_t s = 3, bytes, blocks;
	start(_i);
	for (int reader = 0; reader < 4; reader++) {
		take(v, 20, 200, &s);
		free_run(v, 0, 5);
		waiting(5, T_AT);
		switch (reader) {
		case 0:
			shm_info(&mi);
			break;
		case 1:
			shm_cache_stats(&bytes, &blocks);
			ck_assert_uint_ge(blocks, QUEUED ? 5 : 0);
			break;
		case 2:
			t_pool_verify(&tp, &v[5], 15, T_AT);    /* a walk */
			break;
		case 3:
			mem_fq_drain(mem_shm_pool);
			break;
		}
		waiting(0, T_AT);
		free_run(v, 5, 20);
		t_pool_back_to_start(&tp, T_AT);
	}
	ck_assert_int_eq(shm_check(), 0);
	T_LOG_EMPTY();
}
END_TEST

START_TEST(test_model)
{
	enum { N = 200 };
	struct t_live live[N];
	size_t nlive = 0;
	unsigned queued = 0;
	uint64_t s = 11;
	start(_i);
	for (int step = 0; step < 5000; step++) {
		t_model_step(mem_shm_pool, live, &nlive, N, 3000, &s);
		if (step % 37 == 36) {
			queued += cache_fq_len(mem_shm_pool);
			t_live_verify(live, nlive, T_AT);
			t_pool_verify(&tp, live, nlive, T_AT);
			ck_assert_int_eq(shm_check(), 0);
		}
	}
	T_ASSERT(!QUEUED || queued > 0, "no free ever waited");
	finish(live, nlive, T_AT);
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
	shm_free(v[1].p);
	waiting(1, T_AT);
	T_LOG_EMPTY();
	shm_free(v[1].p);
	snprintf(want, sizeof(want), "shm: free: double free %p", v[1].p);
	T_ONE_REPORT(want);
	ck_assert_int_eq(shm_check(), 0);
	struct t_live keep[2] = { v[0], v[2] };
	finish(keep, 2, T_AT);
	ck_assert_uint_eq(t_log_lines, 1);
}
END_TEST

START_TEST(test_double_handed_out)
{
	struct t_live v[3], more[SLOTS + 2];
	uint64_t s = 7;
	char want[256];
	start(_i);
	take(v, 3, 100, &s);
	take(more, SLOTS + 2, 3000, &s);        /* another class */
	shm_free(v[1].p);
	free_run(more, 0, SLOTS + 2);   /* v[1] has left: parked, its list's
					   head */
	waiting(SLOTS, T_AT);
	T_LOG_EMPTY();
	shm_free(v[1].p);               /* waits: not known yet */
	void *q = shm_malloc(100);      /* the list's head: that fragment */
	ck_assert_ptr_nonnull(q);
	if (QUEUED)
		ck_assert_ptr_eq(q, v[1].p);
	snprintf(want, sizeof(want), "shm: free: double free %p", v[1].p);
	if (QUEUED)     /* reported when the heap handed it out */
		T_ONE_REPORT(want);
	mem_fq_drain(mem_shm_pool);
	T_ONE_REPORT(want);               /* once, whichever way */
	t_fill(q, 0, 100, 99);
	struct t_live keep[3] = { v[0], v[2], { q, 100, 99 } };
	ck_assert_int_eq(shm_check(), 0);
	finish(keep, 3, T_AT);
	ck_assert_uint_eq(t_log_lines, 1);
}
END_TEST

START_TEST(test_double_two_procs)
{
	struct t_live v[3];
	uint64_t s = 8;
	start(_i);
	take(v, 3, 100, &s);
	shm_free(v[1].p);               /* waits in our queue */
	waiting(1, T_AT);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Its own queue, then every queue settled (ours too, under
		 * our slot's lock): the later of the two frees reports. */
		char want[256];
		if (shm_child_init() < 0)
			_exit(2);
		shm_free(v[1].p);
		mem_fq_drain(mem_shm_pool);
		snprintf(want, sizeof(want), "shm: free: double free %p",
			v[1].p);
		_exit(t_log_lines == 1 && t_log_has(want) ? 0 : 1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	shm_cache_reclaim();
	waiting(0, T_AT);               /* the child settled ours */
	T_LOG_EMPTY();
	ck_assert_int_eq(shm_check(), 0);
	struct t_live keep[2] = { v[0], v[2] };
	finish(keep, 2, T_AT);
}
END_TEST

START_TEST(test_realloc_queued)
{
	struct t_live v[3];
	uint64_t s = 9;
	start(_i);
	take(v, 3, 300, &s);
	shm_free(v[1].p);
	waiting(1, T_AT);
	ck_assert_ptr_null(shm_realloc(v[1].p, 500));
	T_LOG_HAS("shm: realloc: ");
	ck_assert_uint_eq(t_log_lines, 1);
	ck_assert_int_eq(shm_check(), 0);
	t_log_clear();
	shm_free(v[0].p);
	waiting(1, T_AT);
	ck_assert_uint_eq(mem_usable_size(mem_shm_pool, v[0].p), 0);
	T_ONE_REPORT("shm: usable_size: ");
	finish(&v[2], 1, T_AT);
}
END_TEST

START_TEST(test_bad_pointers)
{
	struct t_live v[3];
	uint64_t s = 13;
	char want[256];
	start(_i);
	take(v, 3, 3000, &s);
	void *outside = (char *)mem_shm_pool - 4096 * 1024;
	shm_free(outside);
	snprintf(want, sizeof(want), "shm: free: pointer outside the pool %p",
		outside);
	T_ONE_REPORT(want);
	t_log_clear();
	shm_free((char *)v[2].p + 64);  /* waits: reported when it leaves */
	waiting(1, T_AT);
	mem_fq_drain(mem_shm_pool);
	snprintf(want, sizeof(want), "shm: free: pointer is not the start "
		"of a fragment %p", (char *)v[2].p + 64);
	T_ONE_REPORT(want);
	ck_assert_int_eq(shm_check(), 0);
	finish(v, 3, T_AT);
}
END_TEST

START_TEST(test_oom_settles)
{
	enum { N = 8192 };
	static void *b[N];
	size_t n = 0;
	start(_i);
	while (n < N && (b[n] = shm_malloc(4000)))
		n++;
	ck_assert_uint_lt(n, N);
	t_log_clear();                  /* the failure's report */
	for (size_t k = 0; k < SLOTS; k += 2)  /* every other: no joins */
		shm_free(b[n - 1 - k]);
	waiting(SLOTS / 2, T_AT);
	void *p = shm_malloc(4000);     /* fits in a waiting free only */
	ck_assert_ptr_nonnull(p);
	T_LOG_EMPTY();
	shm_free(p);
	for (size_t k = 0; k < n; k++)
		if (k % 2 || k >= SLOTS)
			shm_free(b[n - 1 - k]);
	ck_assert_int_eq(shm_check(), 0);
	t_pool_back_to_start(&tp, T_AT);
}
END_TEST

START_TEST(test_oom_settles_and_drains)
{
	enum { N = 200 };
	static void *sm[N];
	struct mem_info mi;
	start(_i);
	void *big = shm_malloc(4u << 20);       /* the heap: [big][sm][tail] */
	ck_assert_ptr_nonnull(big);
	for (size_t k = 0; k < N; k++)
		ck_assert_ptr_nonnull(sm[k] = shm_malloc(1000));
	for (size_t k = 0; k < N; k++)
		shm_free(sm[k]);                /* parked, the last ones wait */
	waiting(SLOTS, T_AT);
	shm_info(&mi);                          /* settles: all parked now */
	if (SHM_CACHE)   /* SHM_CACHE=0 builds: nothing parked, nothing waits */
		ck_assert_uint_gt(mi.cached, 100000);
	else
		ck_assert_uint_eq(mi.cached, 0);
	for (size_t k = 0; k < N; k++)          /* again, to wait in the queue */
		ck_assert_ptr_nonnull(sm[k] = shm_malloc(1000));
	for (size_t k = 0; k < N; k++)
		shm_free(sm[k]);
	waiting(SLOTS, T_AT);
	/* More than the heap's free tail, less than the tail and what the
	 * caches and the queue hold beside it.  Without caches: most of the
	 * free heap (TLSF's good fit rounds a request up by up to 1/32), as
	 * check_cache's live_cache_drained. */
	size_t want = SHM_CACHE ? (size_t)(mi.free_size - mi.cached / 2) :
		(size_t)(mi.free_size / 16 * 15);
	void *p = shm_malloc(want);
	ck_assert_ptr_nonnull(p);
	T_LOG_EMPTY();
	waiting(0, T_AT);
	shm_free(p);
	shm_free(big);
	ck_assert_int_eq(shm_check(), 0);
	t_pool_back_to_start(&tp, T_AT);
}
END_TEST

START_TEST(test_death)
{
	struct t_live v[12];
	uint64_t s = 19;
	start(_i);
	take(v, 12, 500, &s);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (shm_child_init() < 0)
			_exit(2);
		free_run(v, 0, 6);      /* waiting in its slot when it dies */
		raise(SIGKILL);
		_exit(3);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	shm_cache_reclaim();
	T_LOG_EMPTY();
	finish(&v[6], 6, T_AT);
	ck_assert_int_eq(shm_check(), 0);
}
END_TEST

Suite *shmfq_suite(void)
{
	Suite *s = suite_create("shmfq");
	t_add_loop(s, "readers", test_readers, T_NBACKENDS, teardown, 30);
	t_add_loop(s, "model", test_model, T_NBACKENDS, teardown, 60);
	t_add_loop(s, "double_in_queue", test_double_in_queue, T_NBACKENDS,
		teardown, 30);
	t_add_loop(s, "double_handed_out", test_double_handed_out,
		T_NBACKENDS, teardown, 30);
	t_add_loop(s, "double_two_procs", test_double_two_procs, T_NBACKENDS,
		teardown, 30);
	t_add_loop(s, "realloc_queued", test_realloc_queued, T_NBACKENDS,
		teardown, 30);
	t_add_loop(s, "bad_pointers", test_bad_pointers, T_NBACKENDS,
		teardown, 30);
	t_add_loop(s, "oom_settles", test_oom_settles, T_NBACKENDS, teardown,
		60);
	t_add_loop(s, "oom_settles_and_drains", test_oom_settles_and_drains,
		T_NBACKENDS, teardown, 30);
	t_add_loop(s, "death", test_death, T_NBACKENDS, teardown, 30);
	return s;
}
