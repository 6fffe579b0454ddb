/*
 * check_shm_lock.c - the public shm locks (mem.h: shm_lock_*), per backend.
 *
 *   exclusion   4 children x 50,000 increments of a plain counter in shm
 *               under one shm_lock, with an "inside" flag that catches two
 *               holders at once and a yield inside the section now and then;
 *               the counter must be exact.
 *   dead holder a child takes the lock and is SIGKILLed holding it (left a
 *               zombie); shm_lock_get() in the test process returns 1
 *               (taken over) within the alarm, then 0 again, and a new
 *               child can use the lock.
 *   lifecycle   new/free leave the shm counters where they were; free(NULL)
 *               does nothing; new fails cleanly when shm is exhausted.
 *   set         a set of locks costs less than its locks one by one; two of its locks exclude
 *               (2 children each, exact counters), a dead holder of one
 *               leaves the others free and is taken over; an index out of
 *               range and a set of 0 are reported and give NULL.
 *   learnt      the heap lock's learning wait (lock.h mem_lock_learn_spin,
 *               the shm pool's without caches): the same exclusion by 4
 *               children, the same takeover of a dead holder; a waiter
 *               that spun while the holder never released halves the
 *               spin (futex build), which stays within its bounds.
 * Children report through their exit status only.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "memtest.h"
#include "proctest.h"

#define SHM_SIZE ((size_t)4 << 20)
#define KIDS 4
#define ROUNDS 50000

struct shared {
	struct shm_lock *lock;
	volatile uint64_t counter;
	volatile int inside;
	volatile int overlaps;
};

static struct t_pool tp;

static void start(int i)
{
	t_log_start();
	ck_assert_int_eq(shm_init(SHM_SIZE, t_backend(i)), 0);
	t_pool_start(&tp, mem_shm_pool);
}

static int incrementer(void *arg)
{
	struct shared *sh = arg;
	for (int i = 0; i < ROUNDS; i++) {
		if (shm_lock_get(sh->lock) != 0)
			return 2;
		if (sh->inside++)
			sh->overlaps++;
		uint64_t v = sh->counter;
		if (i % 1024 == 0)
			sched_yield();
		sh->counter = v + 1;
		sh->inside--;
		shm_lock_release(sh->lock);
	}
	return 0;
}

/* A counter and its lock in shm; learn: the lock learns its waiters'
 * spin as the caches-off heap lock does (lock.h mem_lock_learn_spin:
 * struct shm_lock is a struct mem_lock, shm_lock.c). */
static struct shared *shared_new(int learn)
{
	struct shared *sh = shm_mallocxz(sizeof(*sh));
	ck_assert_ptr_nonnull(sh);
	sh->lock = shm_lock_new();
	ck_assert_ptr_nonnull(sh->lock);
	if (learn)
		mem_lock_learn_spin((struct mem_lock *)(void *)sh->lock);
	return sh;
}

static void shared_free(struct shared *sh, const char *what)
{
	shm_lock_free(sh->lock);
	shm_free(sh);
	t_pool_verify(&tp, NULL, 0, what);
	t_pool_back_to_start(&tp, what);
}

/* KIDS children increment under sh->lock: exact, never two inside. */
static void hammer(struct shared *sh)
{
	pid_t kids[KIDS];
	for (int k = 0; k < KIDS; k++)
		kids[k] = t_spawn(incrementer, sh);
	for (int k = 0; k < KIDS; k++)
		t_expect_exit0(kids[k]);
	ck_assert_uint_eq(sh->counter, (uint64_t)KIDS * ROUNDS);
	ck_assert_int_eq(sh->overlaps, 0);
}

START_TEST(test_exclusion)
{
	start(_i);
	struct shared *sh = shared_new(0);
	hammer(sh);
	shared_free(sh, "after exclusion");
}
END_TEST

static void on_alarm(int sig)
{
	static const char m[] = "shm_lock: hangs on a dead holder\n";
	(void)sig;
	(void)!write(2, m, sizeof(m) - 1);
	_exit(99);
}

static int holder(void *arg)
{
	struct shared *sh = arg;
	shm_lock_get(sh->lock);
	sh->inside = 1;
	raise(SIGKILL);
	return 3;
}

/* A child killed holding sh->lock (left a zombie) is taken over within
 * the alarm (get returns 1), after which the lock works as before. */
static void take_over_dead(struct shared *sh)
{
	pid_t pid = t_spawn(holder, sh);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	/* Dead but unreaped: a zombie still answers kill(pid, 0). */
	ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	ck_assert_int_eq(si.si_code, CLD_KILLED);
	ck_assert_int_eq(sh->inside, 1);
	signal(SIGALRM, on_alarm);
	alarm(10);
	int rc = shm_lock_get(sh->lock);
	alarm(0);
	ck_assert_int_eq(rc, 1);                /* taken over: check the data */
	shm_lock_release(sh->lock);
	ck_assert_int_eq(shm_lock_get(sh->lock), 0);
	shm_lock_release(sh->lock);
	sh->inside = 0;
	t_expect_exit0(t_spawn(incrementer, sh));
	ck_assert_uint_eq(sh->counter, ROUNDS);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
}

START_TEST(test_dead_holder)
{
	start(_i);
	struct shared *sh = shared_new(0);
	take_over_dead(sh);
	shared_free(sh, "after dead holder");
}
END_TEST

START_TEST(test_lifecycle)
{
	start(_i);
	shm_lock_free(NULL);
	struct shm_lock *a = shm_lock_new(), *b = shm_lock_new();
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	ck_assert(shm_address_in(a) && shm_address_in(b));
	ck_assert_int_eq(shm_lock_get(a), 0);
	ck_assert_int_eq(shm_lock_get(b), 0);   /* independent locks */
	shm_lock_release(b);
	shm_lock_release(a);
	shm_lock_free(a);
	shm_lock_free(b);
	/* Exhaust shm: new must fail with NULL, and everything comes back. */
	size_t cap = SHM_SIZE / 16, n = 0;
	struct shm_lock **all = malloc(cap * sizeof(*all));
	ck_assert_ptr_nonnull(all);
	while (n < cap && (all[n] = shm_lock_new()) != NULL)
		n++;
	ck_assert_uint_lt(n, cap);
	ck_assert_uint_gt(n, 1000);
	ck_assert_int_eq(shm_lock_get(all[n - 1]), 0);
	shm_lock_release(all[n - 1]);
	while (n)
		shm_lock_free(all[--n]);
	free(all);
	t_pool_verify(&tp, NULL, 0, "after exhaustion");
	t_pool_back_to_start(&tp, "after exhaustion");
	t_teardown();
}
END_TEST

#define SET_N 64

START_TEST(test_set)
{
	start(_i);
	/* One lock's fragment costs its header too; a set pays it once. */
	struct mem_info m0, m1, m2;
	shm_info(&m0);
	struct shm_lock *one = shm_lock_new();
	ck_assert_ptr_nonnull(one);
	shm_info(&m1);
	struct shm_lock_set *set = shm_lock_set_new(SET_N);
	ck_assert_ptr_nonnull(set);
	shm_info(&m2);
	ck_assert_uint_lt(m2.real_used - m1.real_used,
		SET_N * (m1.real_used - m0.real_used));
	shm_lock_free(one);
	struct shared *sh = shm_mallocxz(2 * sizeof(*sh));
	ck_assert_ptr_nonnull(sh);
	sh[0].lock = shm_lock_set_at(set, 0);
	sh[1].lock = shm_lock_set_at(set, SET_N - 1);
	ck_assert_ptr_nonnull(sh[0].lock);
	ck_assert_ptr_ne(sh[0].lock, sh[1].lock);
	pid_t kids[4];
	for (int k = 0; k < 4; k++)
		kids[k] = t_spawn(incrementer, &sh[k % 2]);
	for (int k = 0; k < 4; k++)
		t_expect_exit0(kids[k]);
	ck_assert_uint_eq(sh[0].counter, 2 * ROUNDS);
	ck_assert_uint_eq(sh[1].counter, 2 * ROUNDS);
	ck_assert_int_eq(sh[0].overlaps + sh[1].overlaps, 0);
	/* A holder of lock 0 dies: lock 1 is free meanwhile, lock 0 is
	 * taken over. */
	pid_t pid = t_spawn(holder, &sh[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	struct shm_lock *other = shm_lock_set_at(set, 1);
	ck_assert_int_eq(shm_lock_get(other), 0);
	shm_lock_release(other);
	signal(SIGALRM, on_alarm);
	alarm(10);
	ck_assert_int_eq(shm_lock_get(sh[0].lock), 1);
	alarm(0);
	shm_lock_release(sh[0].lock);
	/* Misuse. */
	ck_assert_ptr_null(shm_lock_set_at(set, SET_N));
	T_LOG_HAS("lock 64 of a set of 64");
	ck_assert_ptr_null(shm_lock_set_new(0));
	T_LOG_HAS("a set of 0 locks");
	shm_lock_set_free(NULL);
	shm_free(sh);
	shm_lock_set_free(set);
	t_pool_verify(&tp, NULL, 0, "after set");
	t_pool_back_to_start(&tp, "after set");
}
END_TEST

/* --- the learning lock ---------------------------------------------------- */

static void learnt_bounds(struct shared *sh, unsigned most)
{
#if !LOCK_PTHREAD
	const struct mem_lock_word *w =
		&((struct mem_lock *)(void *)sh->lock)->w;
	ck_assert_uint_gt(w->spin_len, 0);      /* still learning */
	ck_assert_uint_le(w->spin_len, most);
#else
	(void)sh;
	(void)most;
#endif
}

START_TEST(test_learnt_exclusion)
{
	start(_i);
	struct shared *sh = shared_new(1);
	hammer(sh);
	learnt_bounds(sh, LOCK_SPIN);
	shared_free(sh, "after learnt exclusion");
}
END_TEST

static int slow_holder(void *arg)
{
	struct shared *sh = arg;
	shm_lock_get(sh->lock);
	sh->inside = 1;
	usleep(50000);          /* far longer than any spin */
	shm_lock_release(sh->lock);
	return 0;
}

START_TEST(test_learnt_wait)
{
	start(_i);
	struct shared *sh = shared_new(1);
	/* a holder that never releases while we spin: the spin halves */
	pid_t pid = t_spawn(slow_holder, sh);
	while (!sh->inside)
		sched_yield();
	ck_assert_int_eq(shm_lock_get(sh->lock), 0);
	shm_lock_release(sh->lock);
	t_expect_exit0(pid);
	learnt_bounds(sh, LOCK_SPIN / 2);
	/* a dead holder is taken over as by any heap lock */
	sh->inside = 0;
	take_over_dead(sh);
	shared_free(sh, "after learnt wait");
}
END_TEST

Suite *shm_lock_suite(void)
{
	Suite *s = suite_create("shm_lock");
	TCase *tc = tcase_create("shm_lock");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_exclusion, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_dead_holder, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_lifecycle, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_set, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_learnt_exclusion, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_learnt_wait, 0, T_NBACKENDS);
	suite_add_tcase(s, tc);
	return s;
}
