/*
 * check_owner.c - who owns a lock or a cache slot, and when an owner is
 * dead (mem/owner.h, mem/lock.c, mem/cache.c).  Each case reproduces one
 * way a live owner was taken for dead, or a dead one for alive:
 *   no_proc         a waiter that cannot read /proc (a tmpfs over it) does
 *                   not take the lock of a live holder, nor its cache slot;
 *   hidepid         the same with /proc mounted hidepid=2, waiter "nobody"
 *                   (kill() says EPERM, /proc says ENOENT);
 *   pid_reuse       a holder of the global lock and of its slot lock dies;
 *                   its pid is given to a new process (ns_last_pid, in a
 *                   pid namespace of the test's own): a third process takes
 *                   the lock over (another start time under that pid), the
 *                   new process does not adopt the slot nor hang on a lock
 *                   carrying its own pid;
 *   raw_clone       a child made with a raw clone() claims a cache slot of
 *                   its own, holds the lock and is killed: it is named by
 *                   its own pid, and recovered from (LOCK=pthread: glibc
 *                   does not register a raw clone's robust list, a limit
 *                   doc/RELIABILITY.md states; the lock part is left out);
 *   cleared_slot    a live worker whose slot lost its owner (the old racy
 *                   reclaim): the out-of-memory drain still finds its
 *                   fragments, and a new worker that claims that slot does
 *                   not share it with the first;
 *   absurd_no_drain shm_malloc(SIZE_MAX) and requests beyond free + parked
 *                   fail without draining anyone's cache;
 *   info_cheap      shm_info() reclaims nothing and probes no process;
 *                   shm_cache_reclaim() does.
 * Cases that need root (mounts, namespaces, ns_last_pid) say SKIP on
 * stderr and pass when the system refuses; run as root they run in full.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "memtest.h"
#include "internal.h"
#include "cache.h"

#define POOL (8u << 20)
#define BIG 300000              /* past the caches: the global lock */
#define SKIP_EXIT 77

#ifndef SHM_CACHE
#define SHM_CACHE 1
#endif
#ifndef LOCK_PTHREAD
#define LOCK_PTHREAD 0
#endif

/* Frees parked at their call: no free queue (check_shmfq.c has it). */
static void start(int i)
{
	t_log_start();
	mem_free_queue = 0;
	ck_assert_int_eq(shm_init(POOL, t_backend(i)), 0);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t parked(void)
{
	uint64_t bytes, blocks;
	shm_cache_stats(&bytes, &blocks);
	return bytes;
}

/* Park a few dozen fragments in this process's cache. */
static void park_some(void)
{
	void *p[60];
	for (int k = 0; k < 60; k++)
		p[k] = shm_malloc(64 + (size_t)(k % 6) * 16);
	for (int k = 0; k < 60; k++)
		shm_free(p[k]);
}

/* The cache slot this process owns, or NULL. */
static struct cache_slot *own_slot(pid_t pid)
{
	struct mem_cache *c = mem_shm_pool->cache;
	for (unsigned i = 0; c && i < CACHE_SLOTS; i++)
		if ((pid_t)(uint32_t)c->slot[i].owner == pid)
			return &c->slot[i];
	return NULL;
}

static int wait_status(pid_t pid)
{
	int st;
	pid_t r;
	do
		r = waitpid(pid, &st, 0);
	while (r < 0 && errno == EINTR);
	ck_assert_int_eq(r, pid);
	return st;
}

/* 0, or SKIP_EXIT when the child could not set up and said why. */
static int expect_ok_or_skip(pid_t pid, const char *what)
{
	int st = wait_status(pid);
	T_ASSERT(WIFEXITED(st) && (WEXITSTATUS(st) == 0 ||
		WEXITSTATUS(st) == SKIP_EXIT), "%s: %s %d", what,
		WIFEXITED(st) ? "exit status" : "signal",
		WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return WEXITSTATUS(st);
}

static int skip(const char *why)
{
	dprintf(2, "SKIP: %s: %s\n", why, strerror(errno));
	return SKIP_EXIT;
}

/* --- a live holder and a waiter without /proc ----------------------------- */

struct hold {
	volatile uint32_t inside;       /* 1 while the holder holds the lock */
	volatile uint32_t ready;
	uint64_t parked;                /* the holder's parked bytes */
};

/* Holds the global lock HOLD_MS; the waiter must not get it before. */
#define HOLD_MS 300

static void holder(struct hold *h)
{
	park_some();
	h->parked = parked();
	shm_global_lock();
	h->inside = 1;
	h->ready = 1;
	usleep(HOLD_MS * 1000);
	h->inside = 0;
	shm_global_unlock();
	usleep(HOLD_MS * 1000);        /* alive while the waiter reclaims */
	_exit(0);
}

/* The waiter's view: neither the lock nor the holder's slot is taken. */
static int waiter_checks(struct hold *h)
{
	uint64_t t0 = now_ms();
	shm_global_lock();
	uint32_t overlap = h->inside;
	shm_global_unlock();
	if (overlap)
		return dprintf(2, "took a live holder's lock after %llu ms\n",
			(unsigned long long)(now_ms() - t0)), 2;
	if (shm_cache_reclaim() != 0 || parked() < h->parked)
		return dprintf(2, "reclaimed a live worker's cache\n"), 3;
	return 0;
}

static int private_mounts(void)
{
	if (unshare(CLONE_NEWNS) < 0)
		return -1;
	return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

static void run_holder_and(int (*waiter)(struct hold *), int i)
{
	start(i);
	struct hold *h = shm_mallocxz(sizeof(*h));
	ck_assert_ptr_nonnull(h);
	fflush(NULL);
	pid_t hp = fork();
	if (hp == 0) {
		alarm(20);
		holder(h);
	}
	while (!h->ready)
		usleep(1000);
	pid_t wp = fork();
	if (wp == 0) {
		alarm(20);
		_exit(waiter(h));
	}
	expect_ok_or_skip(wp, "waiter");
	expect_ok_or_skip(hp, "holder");
	T_ASSERT(h->inside == 0, "holder still inside");
	shm_free(h);
	ck_assert_int_eq(shm_check(), 0);
	shm_destroy();
}

static int waiter_no_proc(struct hold *h)
{
	if (private_mounts() < 0 ||
	    mount("none", "/proc", "tmpfs", 0, NULL) < 0)
		return skip("no_proc: cannot mount a tmpfs over /proc");
	if (access("/proc/self/stat", F_OK) == 0)
		return dprintf(2, "/proc still there\n"), 4;
	return waiter_checks(h);
}

START_TEST(test_no_proc)
{
	run_holder_and(waiter_no_proc, _i);
}
END_TEST

static int waiter_hidepid(struct hold *h)
{
	if (private_mounts() < 0 ||
	    mount("proc", "/proc", "proc", 0, "hidepid=2") < 0)
		return skip("hidepid: cannot mount /proc with hidepid=2");
	if (setresgid(65534, 65534, 65534) < 0 ||
	    setresuid(65534, 65534, 65534) < 0)
		return skip("hidepid: cannot become nobody");
	return waiter_checks(h);
}

START_TEST(test_hidepid)
{
	run_holder_and(waiter_hidepid, _i);
}
END_TEST

/* --- pid reuse ----------------------------------------------------------- */

/* Die holding the global lock and this process's cache slot lock. */
static void die_holding(int fd)
{
	park_some();
	struct cache_slot *s = own_slot(getpid());
	if (s)
		mem_plock_get(&s->lock);
	shm_global_lock();
	(void)!write(fd, "L", 1);
	for (;;)
		pause();
}

/* A child whose pid is want (ns_last_pid), running fn; -1 if not to be had. */
static pid_t fork_as(pid_t want, void (*fn)(void))
{
	for (int tries = 0; tries < 50; tries++) {
		int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
		char buf[32];
		int n = snprintf(buf, sizeof(buf), "%d", (int)want - 1);
		if (fd < 0 || write(fd, buf, (size_t)n) != n) {
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
		pid_t pid = fork();
		if (pid == 0) {
			if (getpid() != want)
				_exit(0);
			fn();
			_exit(0);
		}
		if (pid == want)
			return pid;
		waitpid(pid, NULL, 0);
	}
	return -1;
}

static pid_t killed_holder(void)
{
	int fds[2];
	char c;
	if (pipe(fds) < 0)
		return -1;
	pid_t a = fork();
	if (a == 0) {
		alarm(60);
		die_holding(fds[1]);
	}
	if (read(fds[0], &c, 1) != 1)
		return -1;
	usleep(30000);  /* start times are in clock ticks: the next differs */
	close(fds[0]);
	close(fds[1]);
	kill(a, SIGKILL);
	waitpid(a, NULL, 0);            /* reaped: the pid is free again */
	return a;
}

static void sleeper(void)
{
	for (;;)
		pause();
}

/* The new owner of the pid is an srmem process: it takes both over at
 * once and claims a slot of its own. */
static void reuser(void)
{
	alarm(10);
	void *p = shm_malloc(64), *q = shm_malloc(BIG);
	if (!p || !q)
		_exit(5);
	struct cache_slot *s = own_slot(getpid());
	shm_free(p);
	shm_free(q);
	if (SHM_CACHE && (!s || s->blocks == 0))
		_exit(6);
	_exit(0);
}

/* In a pid namespace of our own: pids are ours to choose. */
static int reuse_scenario(int i)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("proc", "/proc", "proc", 0, NULL) < 0)
		return skip("pid_reuse: cannot mount a /proc of our own");
	if (shm_init(POOL, t_backend(i)) < 0)
		return 10;
	struct mem_info base, mi;
	shm_info(&base);
	/* 1: the pid goes to a process that is not in srmem at all */
	pid_t a = killed_holder();
	pid_t b = fork_as(a, sleeper);
	if (b < 0)
		return skip("pid_reuse: cannot set ns_last_pid");
	alarm(10);
	void *p = shm_malloc(BIG);        /* takes the lock over */
	if (!p)
		return 11;
	shm_free(p);
	if (SHM_CACHE && shm_cache_reclaim() == 0)
		return dprintf(2, "dead slot under a reused pid kept\n"), 12;
	kill(b, SIGKILL);
	waitpid(b, NULL, 0);
	/* 2: the pid goes to an srmem process */
	a = killed_holder();
	b = fork_as(a, reuser);
	if (b < 0)
		return skip("pid_reuse: cannot set ns_last_pid");
	int st;
	waitpid(b, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return dprintf(2, "reuser: status %#x\n", st), 13;
	alarm(0);
	shm_cache_reclaim();
	shm_cache_drain();
	shm_info(&mi);
	if (mem_check(mem_shm_pool) || mi.used_size != base.used_size ||
	    mi.real_used != base.real_used)
		return dprintf(2, "heap not back: used %llu/%llu\n",
			(unsigned long long)mi.used_size,
			(unsigned long long)base.used_size), 14;
	return 0;
}

/* The namespaces are made in a child of the test process, so that the
 * test process keeps its own /proc (LeakSanitizer reads it at exit). */
static int pid_reuse_outer(int i)
{
	if (unshare(CLONE_NEWPID | CLONE_NEWNS) < 0)
		return skip("pid_reuse: no pid namespace");
	fflush(NULL);
	pid_t init = fork(), run;
	int st = 1;
	if (init < 0)
		return 1;
	if (init == 0) {        /* pid 1 ignores alarms: the scenario is 2 */
		run = fork();
		if (run == 0) {
			alarm(60);
			_exit(reuse_scenario(i));
		}
		waitpid(run, &st, 0);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st));
	}
	waitpid(init, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

START_TEST(test_pid_reuse)
{
	fflush(NULL);
	pid_t outer = fork();
	ck_assert_int_ge(outer, 0);
	if (outer == 0)
		_exit(pid_reuse_outer(_i));
	expect_ok_or_skip(outer, "pid namespace");
}
END_TEST

/* --- raw clone ----------------------------------------------------------- */

START_TEST(test_raw_clone)
{
	int fds[2];
	char c;
	start(_i);
	ck_assert_int_eq(pipe(fds), 0);
	void *warm = shm_malloc(64);      /* the parent has a slot */
	shm_free(warm);
	fflush(NULL);
	pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		alarm(20);
		void *p = shm_malloc(64);  /* its own slot, not the parent's */
		shm_free(p);
		if (!LOCK_PTHREAD)      /* glibc's robust list: a limit */
			shm_global_lock();
		(void)!write(fds[1], "L", 1);
		for (;;)
			pause();
	}
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	if (SHM_CACHE) {
		ck_assert_ptr_nonnull(own_slot(pid));
		ck_assert_ptr_ne(own_slot(pid), own_slot(getpid()));
	}
	kill(pid, SIGKILL);
	wait_status(pid);
	alarm(10);
	void *p = shm_malloc(BIG);
	alarm(0);
	ck_assert_ptr_nonnull(p);
	char want[96];
	snprintf(want, sizeof(want), "lock owner pid %d died", (int)pid);
	if (!LOCK_PTHREAD)
		T_LOG_HAS(want);
	shm_free(p);
	ck_assert_int_eq(shm_check(), 0);
	shm_destroy();
}
END_TEST

/* --- a slot that lost its owner ------------------------------------------ */

struct cleared {
	volatile uint32_t step;
	pid_t c_pid;
	struct cache_slot *c_after, *d_slot;
};

static void wait_step(struct cleared *x, uint32_t v)
{
	while (x->step < v)
		usleep(500);
}

START_TEST(test_cleared_slot)
{
	if (!SHM_CACHE)
		return;
	shm_cache_size = POOL;
	start(_i);
	struct mem_info base, mi;
	shm_info(&base);
	struct cleared *x = shm_mallocxz(sizeof(*x));
	fflush(NULL);
	pid_t c = fork();
	if (c == 0) {
		alarm(30);
		static void *p[40000];
		int n = 0;
		while (n < 40000 && (p[n] = shm_malloc(16 + (size_t)n * 16 % 4000)))
			n++;
		for (int k = 0; k < n; k++)
			shm_free(p[k]);
		x->step = 1;
		wait_step(x, 3);
		park_some();            /* must not land in d's slot */
		x->c_after = own_slot(getpid());
		x->step = 4;
		wait_step(x, 5);
		_exit(0);
	}
	wait_step(x, 1);
	struct cache_slot *cs = own_slot(c);
	ck_assert_ptr_nonnull(cs);
	__atomic_store_n(&cs->owner, 0, __ATOMIC_RELEASE);   /* the old race */
	/* The pool is all parked in c's (ownerless) slot: a request that
	 * only the drain can meet. */
	shm_info(&mi);
	void *big = shm_malloc((size_t)(mi.free_size - parked() / 2));
	ck_assert_ptr_nonnull(big);
	shm_free(big);
	pid_t d = fork();
	if (d == 0) {
		park_some();
		x->d_slot = own_slot(getpid());
		x->step = 3;
		wait_step(x, 5);
		_exit(0);
	}
	wait_step(x, 4);
	ck_assert_ptr_nonnull(x->c_after);
	ck_assert_ptr_ne(x->c_after, x->d_slot);
	x->step = 5;
	ck_assert_int_eq(wait_status(c), 0);
	ck_assert_int_eq(wait_status(d), 0);
	shm_free(x);
	shm_cache_reclaim();
	shm_cache_drain();
	shm_info(&mi);
	ck_assert_uint_eq(mi.used_size, base.used_size);
	ck_assert_int_eq(shm_check(), 0);
	shm_destroy();
	shm_cache_size = SHM_CACHE_AUTO;
}
END_TEST

/* --- absurd requests ----------------------------------------------------- */

START_TEST(test_absurd_no_drain)
{
	start(_i);
	int go[2], ready[2];
	char c;
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(ready), 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(20);
		park_some();
		(void)!write(ready[1], "R", 1);
		(void)!read(go[0], &c, 1);
		_exit(0);
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	uint64_t before = parked();
	struct mem_info mi;
	shm_info(&mi);
	ck_assert_ptr_null(shm_malloc(SIZE_MAX));
	ck_assert_ptr_null(shm_malloc(mi.total_size + 1));
	ck_assert_ptr_null(shm_realloc(NULL, SIZE_MAX / 2));
	ck_assert_uint_eq(parked(), before);
	(void)!write(go[1], "G", 1);
	ck_assert_int_eq(wait_status(pid), 0);
	ck_assert_int_eq(shm_check(), 0);
	shm_destroy();
}
END_TEST

/* --- shm_info() stays cheap ---------------------------------------------- */

#define INFO_WORKERS 40

START_TEST(test_info_cheap)
{
	start(_i);
	struct mem_info base, mi;
	int go[2], ready[2];
	char c;
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(ready), 0);
	shm_info(&base);
	pid_t pid[INFO_WORKERS];
	fflush(NULL);
	for (int k = 0; k < INFO_WORKERS; k++) {
		pid[k] = fork();
		if (pid[k] == 0) {
			alarm(30);
			park_some();
			(void)!write(ready[1], "R", 1);
			(void)!read(go[0], &c, 1);
			_exit(0);
		}
	}
	for (int k = 0; k < INFO_WORKERS; k++)
		ck_assert_int_eq(read(ready[0], &c, 1), 1);
	/* a dead worker's cache stays until shm_cache_reclaim() */
	kill(pid[0], SIGKILL);
	wait_status(pid[0]);
	uint64_t with_dead = parked();
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int k = 0; k < 100; k++)
		shm_info(&mi);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
		(double)(t1.tv_nsec - t0.tv_nsec)) / 100 / 1000;
	dprintf(2, "info_cheap %s: shm_info() %.1f us with %d workers\n",
		t_backend(_i), us, INFO_WORKERS);
	ck_assert_uint_eq(parked(), with_dead);
	T_ASSERT(us < 100, "shm_info() takes %.1f us", us);
	if (SHM_CACHE) {
		ck_assert_uint_gt(shm_cache_reclaim(), 0);
		ck_assert_uint_lt(parked(), with_dead);
	}
	for (int k = 1; k < INFO_WORKERS; k++)
		(void)!write(go[1], "G", 1);
	for (int k = 1; k < INFO_WORKERS; k++)
		ck_assert_int_eq(wait_status(pid[k]), 0);
	shm_cache_drain();
	shm_info(&mi);
	ck_assert_uint_eq(mi.used_size, base.used_size);
	shm_destroy();
}
END_TEST

Suite *owner_suite(void)
{
	Suite *s = suite_create("owner");
	struct { const char *name; const TTest *fn; } cases[] = {
		{ "no_proc", test_no_proc },
		{ "hidepid", test_hidepid },
		{ "pid_reuse", test_pid_reuse },
		{ "raw_clone", test_raw_clone },
		{ "cleared_slot", test_cleared_slot },
		{ "absurd_no_drain", test_absurd_no_drain },
		{ "info_cheap", test_info_cheap },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		TCase *tc = tcase_create(cases[k].name);
		tcase_add_checked_fixture(tc, NULL, t_teardown);
		tcase_set_timeout(tc, 120);
		tcase_add_loop_test(tc, cases[k].fn, 0, T_NBACKENDS);
		t_heavy(tc);
		suite_add_tcase(s, tc);
	}
	return s;
}
