/*
 * check_lockstats.c - the shm heap lock's statistics (mem.h:
 * mem_lock_stats_get), with the per-process caches off so that every
 * shm call takes the heap lock.
 *
 *   uncontended  one process, then one child after it: acquisitions are
 *                counted in each one's own row (pid), holds are sampled
 *                one in hold_sample, and contended, sleeps and wait stay 0.
 *   contended    a child asks for the lock while the test process holds it
 *                for HOLD_MS: its row shows a contended acquisition, a
 *                sleep and a wait of about HOLD_MS; then KIDS children
 *                hammer the lock, and the totals are the rows' sums with
 *                every acquisition of theirs counted.
 *   takeover     a child takes the lock and is SIGKILLed holding it: the
 *                next shm call counts one takeover, and the heap is intact.
 *   rows reused  more children than rows, one after the other: exited
 *                processes' rows are reused and their counts kept in the
 *                totals.
 *   pkg          has no lock: -1.
 * Children report through their exit status only (proctest.h).
 */
#include <check.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memtest.h"
#include "proctest.h"

#define SHM_SIZE ((size_t)8 << 20)
#define OPS 10000
#define KIDS 3
#define HOLD_MS 100

static void start(void)
{
	t_log_start();
	shm_cache_size = 0;
	ck_assert_int_eq(shm_init(SHM_SIZE, NULL), 0);
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&t, &t) < 0)
		;
}

static const struct mem_lock_stat *row_of(const struct mem_lock_stats *s,
		pid_t pid)
{
	for (size_t i = 0; i < s->nrows; i++)
		if (s->rows[i].pid == pid)
			return &s->rows[i];
	return NULL;
}

/* OPS malloc/free pairs: 2 OPS acquisitions. */
static int churn(void *arg)
{
	(void)arg;
	for (int i = 0; i < OPS; i++) {
		void *p = shm_malloc(64 + (size_t)(i % 7) * 16);
		if (!p)
			return 2;
		shm_free(p);
	}
	return 0;
}

static void no_contention(const struct mem_lock_stat *r, const char *who)
{
	T_ASSERT(r->contended == 0 && r->sleeps == 0 && r->wait_ns == 0 &&
		r->wait_max_ns == 0 && r->takeovers == 0, "%s: contended %llu "
		"sleeps %llu wait %llu ns without contention", who,
		(unsigned long long)r->contended, (unsigned long long)r->sleeps,
		(unsigned long long)r->wait_ns);
}

START_TEST(test_uncontended)
{
	struct mem_lock_stats s;
	start();
	ck_assert_int_eq(churn(NULL), 0);
	pid_t kid = t_spawn(churn, NULL);
	t_expect_exit0(kid);
	ck_assert_int_eq(shm_lock_stats(&s), 0);
	const struct mem_lock_stat *me = row_of(&s, getpid()),
		*k = row_of(&s, kid);
	ck_assert_ptr_nonnull(me);
	ck_assert_ptr_nonnull(k);
	ck_assert_uint_ge(me->acquired, 2 * OPS);
	ck_assert_uint_eq(k->acquired, 2 * OPS);
	no_contention(me, "test process");
	no_contention(k, "child");
	no_contention(&s.total, "totals");
	ck_assert_uint_eq(s.hold_sample, 64);
	ck_assert_uint_eq(k->hold_samples, 2 * OPS / 64);
	ck_assert_uint_gt(k->hold_max_ns, 0);
	ck_assert_uint_ge(k->hold_ns, k->hold_sampled_ns);
	ck_assert_uint_eq(s.total.acquired, me->acquired + k->acquired);
	ck_assert_int_eq(s.owner, 0);
	ck_assert(!strcmp(s.clock, "tsc") || !strcmp(s.clock, "monotonic"));
	t_teardown();
}
END_TEST

static int one_call(void *arg)
{
	(void)arg;
	void *p = shm_malloc(100);
	shm_free(p);
	return p ? 0 : 2;
}

START_TEST(test_contended)
{
	struct mem_lock_stats s;
	start();
	shm_global_lock();
	pid_t waiter = t_spawn(one_call, NULL);
	sleep_ms(HOLD_MS);
	shm_global_unlock();
	t_expect_exit0(waiter);
	ck_assert_int_eq(shm_lock_stats(&s), 0);
	const struct mem_lock_stat *w = row_of(&s, waiter);
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_eq(w->acquired, 2);
	ck_assert_uint_eq(w->contended, 1);
	ck_assert_uint_ge(w->sleeps, 1);
	ck_assert_uint_ge(w->wait_max_ns, (HOLD_MS / 2) * 1000000ull);
	ck_assert_uint_le(w->wait_max_ns, 10 * HOLD_MS * 1000000ull);
	ck_assert_uint_eq(w->wait_ns, w->wait_max_ns);
	pid_t kids[KIDS];
	for (int i = 0; i < KIDS; i++)
		kids[i] = t_spawn(churn, NULL);
	for (int i = 0; i < KIDS; i++)
		t_expect_exit0(kids[i]);
	ck_assert_int_eq(shm_lock_stats(&s), 0);
	struct mem_lock_stat sum;
	memset(&sum, 0, sizeof(sum));
	for (size_t i = 0; i < s.nrows; i++) {
		sum.acquired += s.rows[i].acquired;
		sum.contended += s.rows[i].contended;
		sum.sleeps += s.rows[i].sleeps;
		sum.wait_ns += s.rows[i].wait_ns;
	}
	for (int i = 0; i < KIDS; i++)
		ck_assert_uint_eq(row_of(&s, kids[i])->acquired, 2 * OPS);
	ck_assert_uint_eq(s.total.acquired, sum.acquired);
	ck_assert_uint_eq(s.total.contended, sum.contended);
	ck_assert_uint_eq(s.total.sleeps, sum.sleeps);
	ck_assert_uint_eq(s.total.wait_ns, sum.wait_ns);
	ck_assert_uint_ge(s.total.contended, 1);
	ck_assert_uint_ge(s.total.wait_max_ns, w->wait_max_ns);
	t_teardown();
}
END_TEST

static int die_holding(void *arg)
{
	(void)arg;
	shm_global_lock();
	raise(SIGKILL);
	return 3;
}

START_TEST(test_takeover)
{
	struct mem_lock_stats s;
	start();
	pid_t pid = t_spawn(die_holding, NULL);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	ck_assert_int_eq(si.si_code, CLD_KILLED);
	alarm(10);
	void *p = shm_malloc(32);       /* takes over, checks the heap */
	alarm(0);
	ck_assert_ptr_nonnull(p);
	shm_free(p);
	ck_assert_int_eq(shm_lock_stats(&s), 0);
	const struct mem_lock_stat *me = row_of(&s, getpid());
	ck_assert_ptr_nonnull(me);
	ck_assert_uint_eq(me->takeovers, 1);
	ck_assert_uint_eq(s.total.takeovers, 1);
	ck_assert_uint_ge(me->contended, 1);
	ck_assert_uint_ge(me->takeover_max_ns, me->takeover_ns);
	ck_assert_uint_eq(s.recoveries, 1);
	T_LOG_HAS("heap intact after owner death");
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	t_teardown();
}
END_TEST

START_TEST(test_rows_reused)
{
	struct mem_lock_stats s;
	int n = MEM_LOCK_ROWS + 8;
	start();
	for (int i = 0; i < n; i++)
		t_expect_exit0(t_spawn(one_call, NULL));
	ck_assert_int_eq(shm_lock_stats(&s), 0);
	ck_assert_uint_le(s.nrows, MEM_LOCK_ROWS);
	ck_assert_uint_eq(s.unrowed, 0);
	/* Every child's two acquisitions, plus the test's own (if any). */
	const struct mem_lock_stat *me = row_of(&s, getpid());
	ck_assert_uint_eq(s.total.acquired, 2 * (uint64_t)n +
		(me ? me->acquired : 0));
	no_contention(&s.total, "totals");
	t_teardown();
}
END_TEST

START_TEST(test_pkg_none)
{
	struct mem_lock_stats s;
	ck_assert_int_eq(pkg_init((size_t)1 << 20, NULL), 0);
	ck_assert_int_eq(mem_lock_stats_get(mem_pkg_pool, &s), -1);
	ck_assert_int_eq(shm_lock_stats(&s), -1);       /* no shm yet */
	t_teardown();
}
END_TEST

Suite *lockstats_suite(void)
{
	Suite *s = suite_create("lockstats");
	TCase *tc = tcase_create("lockstats");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_uncontended);
	tcase_add_test(tc, test_contended);
	tcase_add_test(tc, test_takeover);
	tcase_add_test(tc, test_rows_reused);
	tcase_add_test(tc, test_pkg_none);
	t_heavy(tc);
	suite_add_tcase(s, tc);
	return s;
}
