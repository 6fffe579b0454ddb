/*
 * check_multiproc.c - the shm pool across fork, per backend.
 *
 * Workloads (each test makes a fresh 32 MiB shm pool, then forks; hammer,
 * cross free and dead owner run once with the per-process shm caches and
 * once without, so that the global-lock path is hammered too):
 *   hammer      4 workers x 200,000 mixed shm_malloc/shm_free/shm_realloc
 *               on 256 slots each (80% 16..256 bytes, 18% up to 4 KiB, 2%
 *               up to 16 KiB), each block filled with a pattern of its
 *               worker and verified on free and realloc.
 *   cross free  a producer child allocates 50,000 blocks and passes them
 *               through a ring in shm to a consumer child that verifies and
 *               frees them; then blocks allocated by the parent are freed
 *               by a child, and blocks allocated by a child by the parent.
 *   lock        4 workers x 100,000 increments of a plain (non-atomic)
 *               counter in shm inside shm_global_lock()/shm_global_unlock(),
 *               with an "inside" flag that catches two holders at once.
 *   dead owner  a child takes shm_global_lock() and is SIGKILLed while it
 *               holds it, left unreaped (a zombie); the test process's
 *               shm_malloc must still return (alarm() watchdog), with the
 *               dead-owner warning in the log and a clean heap.
 * After each: every child exited 0, mem_check() == 0, no used fragment is
 * left and every counter is back at its value after shm_init.
 *
 * Children never call Check: they report through their exit status (and a
 * line on stderr), and _exit() so nothing of the runner runs twice.
 */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memtest.h"
#include "proctest.h"

#define SHM_SIZE ((size_t)32 << 20)
#define WORKERS 4
#define HAMMER_OPS 200000
#define HAMMER_SLOTS 256
#define RING_ITEMS 50000
#define RING_SIZE 256
#define LOCK_ROUNDS 100000
#define CHILD_ALARM 120         /* a hung child dies instead of the runner */

static struct t_pool tp;

/* --- helpers ------------------------------------------------------------- */

/* A child's complaint: one line on stderr, and the status to exit with. */
static int child_fail(int code, const char *what, unsigned long n)
{
	dprintf(2, "multiproc child %d: %s (%lu)\n", (int)getpid(), what, n);
	if (t_log_lines)
		dprintf(2, "its log:\n%s", t_log_buf);
	return code;
}

static pid_t spawn(int (*fn)(int, void *), int k, void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		alarm(CHILD_ALARM);
		t_log_clear();
		_exit(fn(k, arg));
	}
	return pid;
}

static void expect_exit0(pid_t pid, const char *what)
{
	int st;
	pid_t r;
	do
		r = waitpid(pid, &st, 0);
	while (r < 0 && errno == EINTR);
	ck_assert_int_eq(r, pid);
	T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s (pid %d): %s %d",
		what, (int)pid, WIFEXITED(st) ? "exit status" : "signal",
		WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* Nothing used is left, and the counters are those after shm_init. */
static void heap_back_to_start(const char *where)
{
	struct t_live none[1];
	t_pool_verify(&tp, none, 0, where);
	t_pool_back_to_start(&tp, where);
}

static void wait_a_bit(void)
{
	sched_yield();
}

/* --- hammer -------------------------------------------------------------- */

struct wslot {
	void *p;
	size_t n;
	uint64_t w;
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

static int hammer(int k, void *arg)
{
	static struct wslot sl[HAMMER_SLOTS];
	uint64_t rng = 42 + (uint64_t)k * 1000003;
	uint64_t tag = (uint64_t)(k + 1) << 56;  /* the worker in every word */
	(void)arg;
	for (unsigned long op = 0; op < HAMMER_OPS; op++) {
		struct wslot *s = &sl[t_rand(&rng) % HAMMER_SLOTS];
		uint64_t r = t_rand(&rng) % 100;
		if (!s->p) {
			size_t n = hammer_size(&rng);
			void *p = shm_malloc(n);
			if (!p)
				return child_fail(10, "shm_malloc failed", op);
			if ((uintptr_t)p % 16 || !shm_address_in(p))
				return child_fail(11, "bad pointer", op);
			*s = (struct wslot){ p, n, (t_rand(&rng) >> 8) | tag };
			t_fill(p, 0, n, s->w);
			continue;
		}
		if (t_verify(s->p, 0, s->n, s->w) != SIZE_MAX)
			return child_fail(12, "block corrupt", op);
		if (r < 50) {
			shm_free(s->p);
			s->p = NULL;
			continue;
		}
		size_t n = hammer_size(&rng);
		void *q = shm_realloc(s->p, n);
		if (!q)
			return child_fail(13, "shm_realloc failed", op);
		size_t keep = s->n < n ? s->n : n;
		if ((uintptr_t)q % 16 || t_verify(q, 0, keep, s->w) != SIZE_MAX)
			return child_fail(14, "shm_realloc lost contents", op);
		t_fill(q, keep, n, s->w);
		s->p = q;
		s->n = n;
	}
	for (unsigned i = 0; i < HAMMER_SLOTS; i++) {
		if (!sl[i].p)
			continue;
		if (t_verify(sl[i].p, 0, sl[i].n, sl[i].w) != SIZE_MAX)
			return child_fail(15, "block corrupt at the end", i);
		shm_free(sl[i].p);
	}
	if (t_log_lines)
		return child_fail(16, "the library reported something", 0);
	return 0;
}

START_TEST(test_hammer)
{
	pid_t pid[WORKERS];
	t_shm_start(&tp, _i, SHM_SIZE);
	for (int k = 0; k < WORKERS; k++)
		pid[k] = spawn(hammer, k, NULL);
	for (int k = 0; k < WORKERS; k++)
		expect_exit0(pid[k], "hammer worker");
	ck_assert_int_eq(mem_check(mem_shm_pool), 0);
	heap_back_to_start(T_AT);
	T_LOG_EMPTY();
	shm_destroy();
}
END_TEST

/* --- allocated here, freed there ----------------------------------------- */

struct ring_entry {
	void *p;
	uint32_t n;
	uint32_t seq;
	uint64_t w;
};

struct ring {
	uint32_t head;          /* written by the producer only */
	uint32_t tail;          /* written by the consumer only */
	struct ring_entry e[RING_SIZE];
};

static int producer(int k, void *arg)
{
	struct ring *r = arg;
	uint64_t rng = 4242;
	(void)k;
	for (uint32_t seq = 0; seq < RING_ITEMS; seq++) {
		size_t n = hammer_size(&rng);
		void *p = shm_malloc(n);
		if (!p)
			return child_fail(20, "shm_malloc failed", seq);
		uint64_t w = t_rand(&rng);
		t_fill(p, 0, n, w);
		while (seq - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) >=
				RING_SIZE)
			wait_a_bit();
		r->e[seq % RING_SIZE] = (struct ring_entry){ p, (uint32_t)n,
			seq, w };
		__atomic_store_n(&r->head, seq + 1, __ATOMIC_RELEASE);
	}
	if (t_log_lines)
		return child_fail(21, "the library reported something", 0);
	return 0;
}

static int consumer(int k, void *arg)
{
	struct ring *r = arg;
	(void)k;
	for (uint32_t seq = 0; seq < RING_ITEMS; seq++) {
		while (__atomic_load_n(&r->head, __ATOMIC_ACQUIRE) == seq)
			wait_a_bit();
		struct ring_entry e = r->e[seq % RING_SIZE];
		if (e.seq != seq)
			return child_fail(30, "ring out of order", seq);
		if (!shm_address_in(e.p) ||
		    t_verify(e.p, 0, e.n, e.w) != SIZE_MAX)
			return child_fail(31, "block corrupt", seq);
		shm_free(e.p);
		__atomic_store_n(&r->tail, seq + 1, __ATOMIC_RELEASE);
	}
	if (t_log_lines)
		return child_fail(32, "the library reported something", 0);
	return 0;
}

/* The parent's blocks, freed by a child. */
static struct t_live handed[1000];

static int free_handed(int k, void *arg)
{
	(void)k;
	(void)arg;
	for (unsigned i = 0; i < 1000; i++) {
		if (t_verify(handed[i].p, 0, handed[i].n, handed[i].w) !=
				SIZE_MAX)
			return child_fail(40, "parent's block corrupt", i);
		shm_free(handed[i].p);
	}
	if (t_log_lines)
		return child_fail(41, "the library reported something", 0);
	return 0;
}

/* A child's blocks, left for the parent in a table in shm. */
static int alloc_for_parent(int k, void *arg)
{
	struct t_live *tab = arg;
	uint64_t rng = 99;
	(void)k;
	for (unsigned i = 0; i < 1000; i++) {
		size_t n = hammer_size(&rng);
		void *p = shm_malloc(n);
		if (!p)
			return child_fail(50, "shm_malloc failed", i);
		tab[i] = (struct t_live){ p, n, t_rand(&rng) };
		t_fill(p, 0, n, tab[i].w);
	}
	return 0;
}

START_TEST(test_cross_free)
{
	t_shm_start(&tp, _i, SHM_SIZE);
	struct ring *r = shm_mallocxz(sizeof(*r));
	ck_assert_ptr_nonnull(r);
	pid_t prod = spawn(producer, 0, r);
	pid_t cons = spawn(consumer, 1, r);
	expect_exit0(prod, "producer");
	expect_exit0(cons, "consumer");
	ck_assert_uint_eq(r->head, RING_ITEMS);
	ck_assert_uint_eq(r->tail, RING_ITEMS);
	shm_free(r);
	ck_assert_int_eq(mem_check(mem_shm_pool), 0);
	heap_back_to_start(T_AT);

	/* parent allocates, a child frees */
	uint64_t rng = 7;
	for (unsigned i = 0; i < 1000; i++) {
		size_t n = hammer_size(&rng);
		handed[i] = (struct t_live){ shm_malloc(n), n, t_rand(&rng) };
		ck_assert_ptr_nonnull(handed[i].p);
		t_fill(handed[i].p, 0, n, handed[i].w);
	}
	expect_exit0(spawn(free_handed, 0, NULL), "child freeing");
	heap_back_to_start(T_AT);

	/* a child allocates, the parent frees */
	struct t_live *tab = shm_malloc(1000 * sizeof(*tab));
	ck_assert_ptr_nonnull(tab);
	expect_exit0(spawn(alloc_for_parent, 0, tab), "child allocating");
	ck_assert_int_eq(mem_check(mem_shm_pool), 0);
	for (unsigned i = 0; i < 1000; i++) {
		T_ASSERT(t_verify(tab[i].p, 0, tab[i].n, tab[i].w) == SIZE_MAX,
			"child's block %u corrupt", i);
		shm_free(tab[i].p);
	}
	shm_free(tab);
	heap_back_to_start(T_AT);
	T_LOG_EMPTY();
	shm_destroy();
}
END_TEST

/* --- mutual exclusion ---------------------------------------------------- */

static int lock_worker(int k, void *arg)
{
	(void)k;
	t_excl_rounds(arg, LOCK_ROUNDS);
	return 0;
}

START_TEST(test_lock_exclusion)
{
	pid_t pid[WORKERS];
	t_shm_start(&tp, _i, SHM_SIZE);
	struct t_excl *x = shm_mallocxz(sizeof(*x));
	ck_assert_ptr_nonnull(x);
	for (int k = 0; k < WORKERS; k++)
		pid[k] = spawn(lock_worker, k, x);
	for (int k = 0; k < WORKERS; k++)
		expect_exit0(pid[k], "lock worker");
	ck_assert_uint_eq(x->overlaps, 0);
	ck_assert_uint_eq(x->inside, 0);
	ck_assert_uint_eq(x->counter, (uint64_t)WORKERS * LOCK_ROUNDS);
	shm_free(x);
	heap_back_to_start(T_AT);
	T_LOG_EMPTY();
	shm_destroy();
}
END_TEST

/* --- a lock owner that dies ---------------------------------------------- */

static void on_alarm(int sig)
{
	(void)sig;
	static const char m[] = "multiproc: shm_malloc hangs on a dead "
		"owner's lock\n";
	(void)!write(2, m, sizeof(m) - 1);
	_exit(99);
}

START_TEST(test_dead_owner)
{
	int fds[2];
	char c = 0;
	t_shm_start(&tp, _i, SHM_SIZE);
	/* Something in the heap, so that the check after recovery has work. */
	void *keep = shm_malloc(1000);
	ck_assert_ptr_nonnull(keep);
	ck_assert_int_eq(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		alarm(CHILD_ALARM);
		shm_global_lock();
		(void)!write(fds[1], "L", 1);
		for (;;)
			pause();
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	close(fds[0]);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	/* Wait for its death, but leave it unreaped: a zombie. */
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	ck_assert_int_eq(si.si_code, CLD_KILLED);
	t_log_clear();

	signal(SIGALRM, on_alarm);
	alarm(10);                  /* the watchdog: a hang fails the test */
	void *p = shm_malloc(64);
	void *big = shm_malloc(8192);
	alarm(0);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(big);
	char want[128];   /* both lock builds name the dead owner */
	snprintf(want, sizeof(want), "<4> shm: lock owner pid %d died holding "
		"the lock; checking the heap", (int)pid);
	T_LOG_HAS(want);
	T_LOG_HAS("died holding the lock; checking the heap");
	T_LOG_HAS("<4> shm: heap intact after owner death; going on");
	ck_assert_int_eq(t_log_count("died holding the lock"), 1);
	ck_assert_int_eq(mem_check(mem_shm_pool), 0);

	/* The lock works normally again, here and in a new process. */
	shm_free(p);
	shm_free(big);
	shm_global_lock();
	shm_global_unlock();
	struct t_excl *x = shm_mallocxz(sizeof(*x));
	ck_assert_ptr_nonnull(x);
	expect_exit0(spawn(lock_worker, 0, x), "worker after recovery");
	ck_assert_uint_eq(x->counter, LOCK_ROUNDS);
	ck_assert_int_eq(t_log_count("died holding the lock"), 1);

	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	shm_free(x);
	shm_free(keep);
	heap_back_to_start(T_AT);
	shm_destroy();
}
END_TEST

/* --- the suite ------------------------------------------------------------- */

static void add_case(Suite *s, const char *name, const TTest *t, int n)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, NULL, t_shm_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, t, 0, n);
	t_heavy(tc);
	suite_add_tcase(s, tc);
}

Suite *multiproc_suite(void)
{
	Suite *s = suite_create("multiproc");
	add_case(s, "hammer", test_hammer, 2 * T_NBACKENDS);
	add_case(s, "cross_free", test_cross_free, 2 * T_NBACKENDS);
	add_case(s, "lock_exclusion", test_lock_exclusion, T_NBACKENDS);
	add_case(s, "dead_owner", test_dead_owner, 2 * T_NBACKENDS);
	return s;
}
