/*
 * check_slotholds.c - how the shm caches' slots are held (mem/cache.c
 * "Slot holds"): the thread that claimed a slot holds it with plain
 * stores, every other holder takes the slot lock and stops those fast
 * holds first through the asymmetric fence (mem/fence.h).
 *
 * Per backend, on a 32 MiB shm pool with the per-process caches; every
 * case runs with fast holds on (the default) and off (cache_fast_holds =
 * 0: the slot lock for everyone, as where the kernel has no fence), and
 * must pass the same way.  Cases:
 *   claim          a fresh process's first shm call: its slot names the
 *                  calling thread as its fast holder exactly when fast
 *                  holds are on and the kernel can fence (else nobody);
 *                  then a second thread of the process works on the slot
 *                  alongside the first (both verifying their blocks):
 *                  the slot names nobody from then on, the lock is free
 *                  and nothing was taken over; CLAIM_ROUNDS fresh
 *                  processes, so that the second thread's first hold
 *                  meets the first thread's holds at many moments (a
 *                  race there in the first version left a block in
 *                  a cache one run in four of threads/first_use under
 *                  ASan);
 *   drain_live     a child allocates and frees small blocks (every cached
 *                  class, contents verified) for DRAIN_OPS operations
 *                  while the parent drains every slot as fast as it can:
 *                  drains interleave with the child's holds (they took
 *                  blocks back), no block is corrupted, the child's slot
 *                  still names it as fast holder at the end (a drain by
 *                  another process stops fast holds only for its own
 *                  section), and the heap is back where it began;
 *   died_inside    a child parks fragments and dies inside a fast hold
 *                  (busy left set): the reclaim of its slot finds it
 *                  dead, repairs the slot and takes everything back,
 *                  within LOCK_CHECK_MS plus scheduling, and frees the
 *                  slot for the next claimer;
 *   died_waited    a child parks fragments and stays inside a fast hold,
 *                  alive, while this process's drain stops fast holds
 *                  and waits for it; a third process kills it 100 ms
 *                  later: the waiting drain finds it dead within
 *                  LOCK_CHECK_MS of that (not only at its first look),
 *                  repairs the slot and goes on;
 *   stopper_died   a child takes this process's slot lock, stops fast
 *                  holds (req) and dies: this process's next call takes
 *                  the lock over (one recovery), clears the stop, and
 *                  its calls after that are fast holds again.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "memtest.h"
#include "proctest.h"
#include "internal.h"
#include "cache.h"
#include "fence.h"

#ifndef SHM_CACHE
#define SHM_CACHE 1
#endif

#define SHM_SIZE ((size_t)32 << 20)
#define LIVE 64
#define DRAIN_OPS 200000
#define SHARE_OPS 10000
#define CLAIM_ROUNDS 20

static struct t_pool tp;

/* Loop index i: backend i % T_NBACKENDS, fast holds on below
 * T_NBACKENDS, off from there. */
static int start(int i)
{
	cache_fast_holds = i < T_NBACKENDS;
	t_shm_start(&tp, i % T_NBACKENDS, SHM_SIZE);
	if (SHM_CACHE && mem_shm_pool->cache)
		return 1;
	fprintf(stderr, "SKIP: slot holds: no per-process caches in this "
		"build\n");
	shm_destroy();
	return 0;
}

static void teardown(void)
{
	t_shm_teardown();
	cache_fast_holds = 1;
}

static void finish(void)
{
	shm_cache_reclaim();
	t_pool_verify(&tp, NULL, 0, "slot holds");
	t_pool_back_to_start(&tp, "slot holds");
	shm_destroy();
}

/* Whether a slot claimed now names its claiming thread. */
static int expect_fast(void)
{
	return cache_fast_holds && mem_fence_available();
}

static struct cache_slot *slot_of(pid_t pid)
{
	struct mem_cache *c = mem_shm_pool->cache;
	for (unsigned i = 0; i < CACHE_SLOTS; i++)
		if ((pid_t)(uint32_t)__atomic_load_n(&c->slot[i].owner,
				__ATOMIC_ACQUIRE) == pid)
			return &c->slot[i];
	return NULL;
}

/* n steps over LIVE blocks of 16..600 bytes (every exact class and the
 * first big ones), each block's contents verified before it goes; 0 or
 * the step that failed + 1. */
static unsigned long churn(struct t_live *b, unsigned long n, uint64_t *rng,
		uint64_t tag)
{
	for (unsigned long k = 0; k < n; k++) {
		struct t_live *l = &b[t_rand(rng) % LIVE];
		if (l->p) {
			if (t_verify(l->p, 0, l->n, l->w) != SIZE_MAX)
				return k + 1;
			shm_free(l->p);
			l->p = NULL;
			continue;
		}
		l->n = t_range(rng, 16, 600);
		if (!(l->p = shm_malloc(l->n)))
			return k + 1;
		l->w = (t_rand(rng) >> 8) | tag;
		t_fill(l->p, 0, l->n, l->w);
	}
	return 0;
}

static int drop_all(struct t_live *b)
{
	int bad = 0;
	for (unsigned i = 0; i < LIVE; i++) {
		if (b[i].p && t_verify(b[i].p, 0, b[i].n, b[i].w) != SIZE_MAX)
			bad = 1;
		shm_free(b[i].p);
		b[i].p = NULL;
	}
	return bad;
}

/* --- claim ---------------------------------------------------------------- */

struct sharer {
	struct t_live b[LIVE];
	uint64_t tag;
	unsigned long failed;
};

static void *share_thread(void *arg)
{
	struct sharer *s = arg;
	uint64_t rng = s->tag ^ 0x5eed;
	s->failed = churn(s->b, SHARE_OPS, &rng, s->tag);
	if (drop_all(s->b) && !s->failed)
		s->failed = SHARE_OPS + 1;
	return NULL;
}

static int claim_process(void *arg)
{
	(void)arg;
	shm_free(shm_malloc(64));
	struct cache_slot *s = slot_of(getpid());
	if (!s)
		return 10;
	uint64_t fast = __atomic_load_n(&s->fast, __ATOMIC_RELAXED);
	if (fast != (expect_fast() ? mem_lock_self() : 0))
		return 11;
	uint32_t rec = s->lock.w.recoveries;
	static struct sharer sh[2];
	pthread_t th;
	sh[0].tag = (uint64_t)1 << 56;
	sh[1].tag = (uint64_t)2 << 56;
	if (pthread_create(&th, NULL, share_thread, &sh[1]))
		return 12;
	share_thread(&sh[0]);
	pthread_join(th, NULL);
	if (sh[0].failed || sh[1].failed)
		return 13;
	if (__atomic_load_n(&s->fast, __ATOMIC_RELAXED) != 0)
		return 14;      /* two threads: the lock for good */
	if (mem_plock_owner(&s->lock) || s->busy || s->req ||
	    s->lock.w.recoveries != rec)
		return 15;
	return 0;
}

START_TEST(test_claim)
{
	if (!start(_i))
		return;
	for (int r = 0; r < CLAIM_ROUNDS; r++) {
		t_expect_exit0(t_spawn(claim_process, NULL));
		shm_cache_reclaim();
	}
	finish();
}
END_TEST

/* --- drain_live ----------------------------------------------------------- */

struct drain_ctl {
	int done;               /* the child is through its operations */
	int result;             /* its verdict, as claim_process's */
};

static int drain_child(void *arg)
{
	struct drain_ctl *ctl = arg;
	static struct t_live b[LIVE];
	uint64_t rng = 7;
	shm_free(shm_malloc(64));
	struct cache_slot *s = slot_of(getpid());
	int r = !s ? 20 : churn(b, DRAIN_OPS, &rng, (uint64_t)3 << 56) ? 21 :
		drop_all(b) ? 22 : 0;
	if (!r && __atomic_load_n(&s->fast, __ATOMIC_RELAXED) !=
			(expect_fast() ? mem_lock_self() : 0))
		r = 23;
	__atomic_store_n(&ctl->result, r, __ATOMIC_RELAXED);
	__atomic_store_n(&ctl->done, 1, __ATOMIC_RELEASE);
	return r;
}

START_TEST(test_drain_live)
{
	if (!start(_i))
		return;
	struct drain_ctl *ctl = shm_mallocxz(sizeof(*ctl));
	ck_assert_ptr_nonnull(ctl);
	pid_t pid = t_spawn(drain_child, ctl);
	unsigned long drains = 0, taken = 0;
	while (!__atomic_load_n(&ctl->done, __ATOMIC_ACQUIRE)) {
		size_t n = cache_drain_all(mem_shm_pool);
		drains++;
		taken += n;
		if (!n)
			sched_yield();
	}
	t_expect_exit0(pid);
	ck_assert_int_eq(ctl->result, 0);
	/* the drains met the child's holds: they took its blocks back */
	ck_assert_uint_gt(drains, 1);
	ck_assert_uint_gt(taken, 0);
	shm_free(ctl);
	finish();
}
END_TEST

/* --- died_inside ---------------------------------------------------------- */

/* A child parks 300 fragments of 30 classes, then enters a fast hold
 * (busy = 1) and never leaves it; 0, or the child's exit status. */
static int park_and_enter(void)
{
	void *p[300];
	for (int k = 0; k < 300; k++)
		if (!(p[k] = shm_malloc(32 + (size_t)(k % 30) * 16)))
			return 30;
	for (int k = 0; k < 300; k++)
		shm_free(p[k]);
	struct cache_slot *s = slot_of(getpid());
	if (!s)
		return 31;
	__atomic_store_n(&s->busy, 1, __ATOMIC_RELEASE);
	return 0;
}

static int died_inside_child(void *arg)
{
	(void)arg;
	/* as if it died between a fast hold's busy = 1 and its end */
	return park_and_enter();
}

static double ms_since(const struct timespec *a)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 +
		(double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

START_TEST(test_died_inside)
{
	if (!start(_i))
		return;
	shm_free(shm_malloc(64));       /* our slot first: the child's is another */
	struct timespec t0;
	pid_t pid = t_spawn(died_inside_child, NULL);
	t_expect_exit0(pid);
	struct cache_slot *s = slot_of(pid);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->busy, 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	size_t n = shm_cache_reclaim();
	double ms = ms_since(&t0);
	ck_assert_uint_gt(n, 0);
	T_ASSERT(ms < 1000, "the reclaim took %.1f ms", ms);
	ck_assert_uint_eq(s->owner, 0);
	ck_assert_uint_eq(s->busy, 0);
	ck_assert_uint_eq(s->fast, 0);
	ck_assert_uint_eq(s->req, 0);
	ck_assert_int_eq(mem_plock_owner(&s->lock), 0);
	finish();
}
END_TEST

/* --- died_waited ---------------------------------------------------------- */

#define WAITED_KILL_MS 100

static int waited_child(void *arg)
{
	uint32_t *ready = arg;
	int rc = park_and_enter();      /* inside, and alive */
	if (rc)
		return rc;
	__atomic_store_n(ready, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();
}

static int killer_child(void *arg)
{
	struct timespec ts = { 0, WAITED_KILL_MS * 1000000L };
	nanosleep(&ts, NULL);
	return kill(*(pid_t *)arg, SIGKILL) == 0 ? 0 : 50;
}

START_TEST(test_died_waited)
{
	if (!start(_i))
		return;
	uint32_t *ready = shm_mallocxz(sizeof(*ready));
	ck_assert_ptr_nonnull(ready);
	pid_t pid = t_spawn(waited_child, ready);
	while (!__atomic_load_n(ready, __ATOMIC_ACQUIRE))
		usleep(1000);
	struct cache_slot *s = slot_of(pid);
	ck_assert_ptr_nonnull(s);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t killer = t_spawn(killer_child, &pid);
	size_t n = shm_cache_drain();   /* waits for the child's hold */
	double ms = ms_since(&t0);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	t_expect_exit0(killer);
	ck_assert_uint_gt(n, 0);
	if (expect_fast())
		T_ASSERT(ms >= WAITED_KILL_MS - 5, "the drain did not wait for "
			"the fast holder (%.1f ms)", ms);
	T_ASSERT(ms < WAITED_KILL_MS + 1000, "the drain took %.1f ms", ms);
	if (expect_fast())      /* else nobody looks at busy till reclaim */
		ck_assert_uint_eq(s->busy, 0);
	ck_assert_int_eq(mem_plock_owner(&s->lock), 0);
	shm_free(ready);
	finish();
}
END_TEST

/* --- stopper_died --------------------------------------------------------- */

static int stopper_child(void *arg)
{
	struct cache_slot *s = arg;
	if (mem_plock_get(&s->lock))
		return 40;
	__atomic_store_n(&s->req, 1, __ATOMIC_RELAXED);
	return 0;       /* dies holding the lock, fast holds stopped */
}

START_TEST(test_stopper_died)
{
	if (!start(_i))
		return;
	shm_free(shm_malloc(64));
	struct cache_slot *s = slot_of(getpid());
	ck_assert_ptr_nonnull(s);
	uint64_t fast = s->fast;
	ck_assert_uint_eq(fast, expect_fast() ? mem_lock_self() : 0);
	uint32_t rec = s->lock.w.recoveries;
	t_expect_exit0(t_spawn(stopper_child, s));
	ck_assert_uint_eq(s->req, 1);
	ck_assert_int_ne(mem_plock_owner(&s->lock), 0);
	void *p = shm_malloc(100);      /* takes the dead stopper's lock over */
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(s->lock.w.recoveries, rec + 1);
	ck_assert_int_eq(mem_plock_owner(&s->lock), 0);
	ck_assert_uint_eq(s->req, 0);
	ck_assert_uint_eq(s->fast, fast);
	shm_free(p);
	/* fast again: the lock stays free and nothing more is recovered */
	for (int k = 0; k < 1000; k++)
		shm_free(shm_malloc(16 + (size_t)k % 500));
	ck_assert_uint_eq(s->lock.w.recoveries, rec + 1);
	ck_assert_uint_eq(s->busy, 0);
	finish();
}
END_TEST

Suite *slotholds_suite(void)
{
	Suite *s = suite_create("slot_holds");
	t_add_loop(s, "claim", test_claim, 2 * T_NBACKENDS, teardown, 120);
	t_add_loop(s, "drain_live", test_drain_live, 2 * T_NBACKENDS, teardown,
		300);
	t_add_loop(s, "died_inside", test_died_inside, 2 * T_NBACKENDS, teardown,
		120);
	t_add_loop(s, "died_waited", test_died_waited, 2 * T_NBACKENDS,
		teardown, 120);
	t_add_loop(s, "stopper_died", test_stopper_died, 2 * T_NBACKENDS, teardown,
		120);
	return s;
}
