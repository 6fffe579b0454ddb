/*
 * check_threads.c - several threads of one process using shm at once, per
 * backend.  The heap lock names its holder by thread id, so it excludes
 * threads as it excludes processes; the per-process cache slot is shared
 * by the threads of a process, each operation under the slot's lock.
 *
 *   hammer      4 threads x 50,000 mixed shm_malloc/shm_free/shm_realloc
 *               on 128 blocks each (the sizes of check_multiproc's hammer),
 *               each block filled with a pattern of its thread and verified
 *               on free and realloc; one block in 16 is handed to the next
 *               thread through a mutex-guarded mailbox and freed there.
 *               Once with the per-process caches, once without.  After the
 *               join: the checker, every counter against a walk, nothing
 *               used left, every counter back at its start.
 *   lock        4 threads x 50,000 increments of a plain counter inside
 *               shm_global_lock(), an "inside" flag catching two holders;
 *               then 2 processes of 4 such threads each: the counter is
 *               exact, no overlap.
 *   first_use   8 threads released at once make their process's first shm
 *               calls (a fresh child each round, 50 rounds): the process
 *               ends up owning exactly one cache slot, whatever the race.
 *   slot_lock   the slot lock itself (lock.h's polled lock, released by a
 *               plain store): 4 threads of the slot's process and a
 *               child process (as a drain would) x 50,000 increments of a
 *               counter in shm under it: exact, no overlap, no takeover.
 *   slot_wait   a thread waits for the slot lock its process's main
 *               thread holds for LOCK_CHECK_MS + 10 ms (so it spins, naps
 *               and looks at the live holder's life): the held state
 *               stays exactly the holder's (a waiter never writes it, which
 *               is what lets the release be a plain store), the waiter
 *               takes nothing over and, with nobody to wake it, acquires
 *               after the release within 1 s (the protocol's bound is
 *               LOCK_NAP_MAX_US plus scheduling; the margin is for a
 *               loaded host: this catches a waiter that would sleep for
 *               good, it does not time the lock).
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "memtest.h"
#include "proctest.h"
#include "internal.h"
#include "cache.h"

#ifndef SHM_CACHE
#define SHM_CACHE 1
#endif

#define SHM_SIZE ((size_t)32 << 20)
#define THREADS 4
#define HAMMER_OPS 50000
#define HAMMER_BLOCKS 128
#define LOCK_ROUNDS 50000
#define FIRST_USE_THREADS 8
#define FIRST_USE_ROUNDS 50
#define SLOT_ROUNDS 50000

static struct t_pool tp;
/* Run fn(arg + k * size) on n threads and join them; the number of
 * threads that returned non-NULL (a failure, named on stderr). */
static int run_threads(int n, void *(*fn)(void *), void *arg, size_t size)
{
	pthread_t th[FIRST_USE_THREADS];
	int bad = 0;
	for (int k = 0; k < n; k++)
		if (pthread_create(&th[k], NULL, fn, (char *)arg + k * size))
			return n;
	for (int k = 0; k < n; k++) {
		void *r;
		pthread_join(th[k], &r);
		if (r) {
			dprintf(2, "threads: thread %d: %s\n", k, (char *)r);
			bad++;
		}
	}
	return bad;
}

/* --- hammer -------------------------------------------------------------- */

struct mailbox {
	pthread_mutex_t mu;
	struct t_live box[THREADS][64];
	unsigned n[THREADS];
};

struct worker {
	int k;
	struct mailbox *mb;
	struct t_live b[HAMMER_BLOCKS];
	unsigned long handed;
};

static size_t hammer_size(uint64_t *s)
{
	uint64_t r = t_rand(s) % 100;
	if (r < 80)
		return t_range(s, 16, 256);
	if (r < 98)
		return t_range(s, 257, 4096);
	return t_range(s, 4097, 16384);
}

/* Free what other threads handed to this one; NULL or a failure. */
static const char *empty_mailbox(struct worker *w)
{
	struct t_live got[64];
	unsigned n;
	pthread_mutex_lock(&w->mb->mu);
	n = w->mb->n[w->k];
	memcpy(got, w->mb->box[w->k], n * sizeof(got[0]));
	w->mb->n[w->k] = 0;
	pthread_mutex_unlock(&w->mb->mu);
	for (unsigned i = 0; i < n; i++) {
		if (t_verify(got[i].p, 0, got[i].n, got[i].w) != SIZE_MAX)
			return "a handed block arrived corrupt";
		shm_free(got[i].p);
	}
	return NULL;
}

/* Hand l to the next thread; 0 when its mailbox is full. */
static int hand_over(struct worker *w, struct t_live *l)
{
	int to = (w->k + 1) % THREADS, done = 0;
	pthread_mutex_lock(&w->mb->mu);
	if (w->mb->n[to] < 64) {
		w->mb->box[to][w->mb->n[to]++] = *l;
		done = 1;
	}
	pthread_mutex_unlock(&w->mb->mu);
	return done;
}

/* One step on block l: allocate it if empty, else verify it, then free,
 * hand over or realloc it. */
static const char *step(struct worker *w, struct t_live *l, uint64_t *rng,
		uint64_t tag)
{
	if (!l->p) {
		size_t n = hammer_size(rng);
		if (!(l->p = shm_malloc(n)))
			return "shm_malloc failed";
		if ((uintptr_t)l->p % 16 || !shm_address_in(l->p))
			return "bad pointer";
		l->n = n;
		l->w = (t_rand(rng) >> 8) | tag;
		t_fill(l->p, 0, n, l->w);
		return NULL;
	}
	if (t_verify(l->p, 0, l->n, l->w) != SIZE_MAX)
		return "block corrupt";
	uint64_t r = t_rand(rng) % 16;
	if (r == 0 && hand_over(w, l)) {
		w->handed++;
	} else if (r < 8) {
		shm_free(l->p);
	} else {
		size_t n = hammer_size(rng), keep = l->n < n ? l->n : n;
		void *q = shm_realloc(l->p, n);
		if (!q)
			return "shm_realloc failed";
		if ((uintptr_t)q % 16 || t_verify(q, 0, keep, l->w) != SIZE_MAX)
			return "shm_realloc lost contents";
		t_fill(q, keep, n, l->w);
		l->p = q;
		l->n = n;
		return NULL;
	}
	l->p = NULL;
	return NULL;
}

static void *hammer(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = 42 + (uint64_t)w->k * 1000003;
	uint64_t tag = (uint64_t)(w->k + 1) << 56;
	const char *err = NULL;
	for (unsigned long op = 0; op < HAMMER_OPS && !err; op++) {
		err = step(w, &w->b[t_rand(&rng) % HAMMER_BLOCKS], &rng, tag);
		if (!err && op % 256 == 0)
			err = empty_mailbox(w);
	}
	for (unsigned i = 0; i < HAMMER_BLOCKS && !err; i++) {
		struct t_live *l = &w->b[i];
		if (l->p && t_verify(l->p, 0, l->n, l->w) != SIZE_MAX)
			err = "block corrupt at the end";
		shm_free(l->p);
	}
	return (void *)err;
}

START_TEST(test_hammer)
{
	static struct worker w[THREADS];
	t_shm_start(&tp, _i, SHM_SIZE);
	struct mailbox *mb = calloc(1, sizeof(*mb));
	ck_assert_ptr_nonnull(mb);
	pthread_mutex_init(&mb->mu, NULL);
	memset(w, 0, sizeof(w));
	for (int k = 0; k < THREADS; k++)
		w[k] = (struct worker){ .k = k, .mb = mb };
	ck_assert_int_eq(run_threads(THREADS, hammer, w, sizeof(w[0])), 0);
	unsigned long handed = 0;
	for (int k = 0; k < THREADS; k++) {
		ck_assert_ptr_null(empty_mailbox(&w[k]));
		handed += w[k].handed;
	}
	ck_assert_uint_gt(handed, 0);
	free(mb);
	struct t_live none[1];
	t_pool_verify(&tp, none, 0, "after the threads");
	t_pool_back_to_start(&tp, "after the threads");
	T_LOG_EMPTY();
	shm_destroy();
}
END_TEST

/* --- mutual exclusion ---------------------------------------------------- */

static void *lock_thread(void *arg)
{
	t_excl_rounds(*(struct t_excl **)arg, LOCK_ROUNDS);
	return NULL;
}

static int lock_process(void *arg)
{
	struct t_excl *xs[THREADS];
	for (int k = 0; k < THREADS; k++)
		xs[k] = arg;
	return run_threads(THREADS, lock_thread, xs, sizeof(xs[0]));
}

START_TEST(test_lock)
{
	struct t_excl *xs[THREADS];
	t_shm_start(&tp, _i, SHM_SIZE);
	struct t_excl *x = shm_mallocxz(sizeof(*x));
	ck_assert_ptr_nonnull(x);
	for (int k = 0; k < THREADS; k++)
		xs[k] = x;
	ck_assert_int_eq(run_threads(THREADS, lock_thread, xs, sizeof(xs[0])),
		0);
	ck_assert_uint_eq(x->counter, (uint64_t)THREADS * LOCK_ROUNDS);
	ck_assert_uint_eq(x->overlaps, 0);
	x->counter = 0;
	pid_t a = t_spawn(lock_process, x), b = t_spawn(lock_process, x);
	t_expect_exit0(a);
	t_expect_exit0(b);
	ck_assert_uint_eq(x->counter, 2ull * THREADS * LOCK_ROUNDS);
	ck_assert_uint_eq(x->overlaps, 0);
	ck_assert_uint_eq(x->inside, 0);
	shm_free(x);
	t_pool_verify(&tp, NULL, 0, "after the lock");
	t_pool_back_to_start(&tp, "after the lock");
	T_LOG_EMPTY();
	shm_destroy();
}
END_TEST

/* --- the first shm calls of a process, from many threads at once --------- */

/* The threads wait at the gate yielding, not spinning: 8 spinners on 2
 * cores left the thread that opens it, or the last one to arrive, waiting
 * for a time slice, up to 100 ms a round.  Once open, each runs on at
 * its next turn, which is as close to "at once" as the cores allow. */
struct gate {
	int ready;
	int open;
};

static void *first_calls(void *arg)
{
	struct gate *g = *(struct gate **)arg;
	__atomic_fetch_add(&g->ready, 1, __ATOMIC_ACQ_REL);
	while (!__atomic_load_n(&g->open, __ATOMIC_ACQUIRE))
		sched_yield();
	void *p = shm_malloc(48);
	if (!p)
		return "shm_malloc failed";
	shm_free(p);
	return NULL;
}

static unsigned slots_of(pid_t pid)
{
	struct mem_cache *c = mem_shm_pool->cache;
	unsigned n = 0;
	for (unsigned i = 0; c && i < CACHE_SLOTS; i++)
		n += (pid_t)(uint32_t)c->slot[i].owner == pid;
	return n;
}

/* A fresh process whose threads all start at once: 0 when it owns
 * exactly one slot afterwards. */
static int first_use_process(void *arg)
{
	struct gate g = { 0, 0 };
	struct gate *gs[FIRST_USE_THREADS];
	pthread_t th[FIRST_USE_THREADS];
	(void)arg;
	for (int k = 0; k < FIRST_USE_THREADS; k++) {
		gs[k] = &g;
		if (pthread_create(&th[k], NULL, first_calls, &gs[k]))
			return 2;
	}
	while (__atomic_load_n(&g.ready, __ATOMIC_ACQUIRE) < FIRST_USE_THREADS)
		sched_yield();
	__atomic_store_n(&g.open, 1, __ATOMIC_RELEASE);
	int bad = 0;
	for (int k = 0; k < FIRST_USE_THREADS; k++) {
		void *r;
		pthread_join(th[k], &r);
		bad += r != NULL;
	}
	if (bad)
		return 3;
	unsigned n = slots_of(getpid());
	if (n != 1)
		dprintf(2, "threads: process %d owns %u cache slots\n",
			(int)getpid(), n);
	return n == 1 ? 0 : 4;
}

START_TEST(test_first_use)
{
	t_shm_start(&tp, _i, SHM_SIZE);
	if (!SHM_CACHE || !mem_shm_pool->cache) {
		fprintf(stderr, "SKIP: first_use: no per-process caches in "
			"this build\n");
		shm_destroy();
		return;
	}
	for (int r = 0; r < FIRST_USE_ROUNDS; r++) {
		t_expect_exit0(t_spawn(first_use_process, NULL));
		shm_cache_reclaim();
	}
	t_pool_verify(&tp, NULL, 0, "after the rounds");
	t_pool_back_to_start(&tp, "after the rounds");
	shm_destroy();
}
END_TEST

/* --- the slot lock -------------------------------------------------------- */

/* This process's cache slot, claimed by a first shm call; NULL (said on
 * stderr) in a build without caches. */
static struct cache_slot *claimed_slot(const char *name)
{
	struct mem_cache *c = mem_shm_pool->cache;
	if (!SHM_CACHE || !c) {
		fprintf(stderr, "SKIP: %s: no per-process caches in this "
			"build\n", name);
		return NULL;
	}
	shm_free(shm_malloc(64));
	for (unsigned i = 0; i < CACHE_SLOTS; i++)
		if ((pid_t)(uint32_t)c->slot[i].owner == getpid())
			return &c->slot[i];
	ck_abort_msg("%s: the process claimed no slot", name);
	return NULL;
}

static void slot_get(void *lk)
{
	(void)mem_plock_get(lk);        /* a takeover shows in recoveries */
}

static void slot_put(void *lk)
{
	mem_plock_release(lk);
}

struct slot_excl {
	struct t_excl *x;
	struct mem_plock *lk;
};

static void *slot_thread(void *arg)
{
	struct slot_excl *a = arg;
	t_excl_run(a->x, SLOT_ROUNDS, slot_get, slot_put, a->lk);
	return NULL;
}

static int slot_process(void *arg)
{
	slot_thread(arg);
	return 0;
}

START_TEST(test_slot_lock)
{
	struct slot_excl a[THREADS];
	t_shm_start(&tp, _i, SHM_SIZE);
	struct t_excl *x = shm_mallocxz(sizeof(*x));
	ck_assert_ptr_nonnull(x);
	struct cache_slot *s = claimed_slot("slot_lock");
	if (s) {
		uint32_t rec = s->lock.w.recoveries;
		for (int k = 0; k < THREADS; k++)
			a[k] = (struct slot_excl){ x, &s->lock };
		pid_t drainer = t_spawn(slot_process, &a[0]);
		ck_assert_int_eq(run_threads(THREADS, slot_thread, a,
			sizeof(a[0])), 0);
		t_expect_exit0(drainer);
		ck_assert_uint_eq(x->counter,
			(uint64_t)(THREADS + 1) * SLOT_ROUNDS);
		ck_assert_uint_eq(x->overlaps, 0);
		ck_assert_uint_eq(s->lock.w.recoveries, rec);
	}
	shm_free(x);
	t_pool_verify(&tp, NULL, 0, "after the slot lock");
	t_pool_back_to_start(&tp, "after the slot lock");
	shm_destroy();
}
END_TEST

struct slot_waiter {
	struct mem_plock *lk;
	int started;            /* set just before the waiter's get */
	int got;                /* its get's result + 1, once it returned */
	struct timespec acquired;
};

static void *slot_wait_thread(void *arg)
{
	struct slot_waiter *w = arg;
	__atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
	int r = mem_plock_get(w->lk);
	clock_gettime(CLOCK_MONOTONIC, &w->acquired);
	__atomic_store_n(&w->got, r + 1, __ATOMIC_RELEASE);
	mem_plock_release(w->lk);
	return NULL;
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 +
		(double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

START_TEST(test_slot_wait)
{
	t_shm_start(&tp, _i, SHM_SIZE);
	struct cache_slot *s = claimed_slot("slot_wait");
	if (!s) {
		shm_destroy();
		return;
	}
	struct slot_waiter w = { .lk = &s->lock };
	uint32_t rec = s->lock.w.recoveries;
	pthread_t th;
	ck_assert_int_eq(mem_plock_get(&s->lock), 0);
	uint64_t held = __atomic_load_n(&s->lock.w.st.all, __ATOMIC_RELAXED);
	ck_assert_int_eq(pthread_create(&th, NULL, slot_wait_thread, &w), 0);
	while (!__atomic_load_n(&w.started, __ATOMIC_ACQUIRE))
		sched_yield();
	struct timespec nap = { 0, (LOCK_CHECK_MS + 10) * 1000000L }, released;
	nanosleep(&nap, NULL);
	ck_assert_int_eq(__atomic_load_n(&w.got, __ATOMIC_ACQUIRE), 0);
	ck_assert_uint_eq(__atomic_load_n(&s->lock.w.st.all,
		__ATOMIC_RELAXED), held);
	clock_gettime(CLOCK_MONOTONIC, &released);
	mem_plock_release(&s->lock);
	pthread_join(th, NULL);
	ck_assert_int_eq(w.got, 1);             /* got it, not taken over */
	ck_assert_uint_eq(s->lock.w.recoveries, rec);
	double late = ms_between(&released, &w.acquired);
	T_ASSERT(late < 1000, "the waiter acquired %.1f ms after the release",
		late);
	t_pool_verify(&tp, NULL, 0, "after the slot wait");
	t_pool_back_to_start(&tp, "after the slot wait");
	shm_destroy();
}
END_TEST

Suite *threads_suite(void)
{
	Suite *s = suite_create("threads");
	struct { const char *name; const TTest *fn; int n; } cases[] = {
		{ "hammer", test_hammer, 2 * T_NBACKENDS },
		{ "lock", test_lock, T_NBACKENDS },
		{ "first_use", test_first_use, T_NBACKENDS },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		TCase *tc = tcase_create(cases[k].name);
		tcase_add_checked_fixture(tc, NULL, t_shm_teardown);
		tcase_set_timeout(tc, 300);
		tcase_add_loop_test(tc, cases[k].fn, 0, cases[k].n);
		t_heavy(tc);
		suite_add_tcase(s, tc);
	}
	/* The slot lock does not depend on the backend: one each, light. */
	t_add_loop(s, "slot_lock", test_slot_lock, 1, t_shm_teardown, 120);
	t_add_loop(s, "slot_wait", test_slot_wait, 1, t_shm_teardown, 60);
	return s;
}
