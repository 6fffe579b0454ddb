/*
 * proctest.h - children for the Check suites that fork their own workers
 * (shm locks, the location table): start one, and expect it to exit 0.
 * Children never call Check: they report through their exit status and
 * _exit(), so nothing of the runner runs twice; an alarm kills a child
 * that hangs instead of the whole runner.  And the shm pool of the loop
 * cases that run every backend with and without the shm caches.
 */
#ifndef SRMEM_PROCTEST_H
#define SRMEM_PROCTEST_H

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memtest.h"

#define T_CHILD_ALARM 120

static inline pid_t t_spawn(int (*fn)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		alarm(T_CHILD_ALARM);
		_exit(fn(arg));
	}
	return pid;
}

static inline void t_expect_exit0(pid_t pid)
{
	int st;
	pid_t r;
	do
		r = waitpid(pid, &st, 0);
	while (r < 0 && errno == EINTR);
	ck_assert_int_eq(r, pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		ck_abort_msg("child %d: %s %d", (int)pid, WIFEXITED(st) ?
			"exit status" : "signal", WIFEXITED(st) ?
			WEXITSTATUS(st) : WTERMSIG(st));
}

/* The shm pool of a loop case (check_multiproc, check_threads): loop
 * index i runs backend i % T_NBACKENDS, and i >= T_NBACKENDS turns the
 * per-process shm caches off, so that every operation takes the global
 * lock.  t_shm_teardown(), the cases' teardown, gives the caches their
 * default back. */
static inline void t_shm_start(struct t_pool *tp, int i, size_t size)
{
	t_log_start();
	shm_cache_size = i >= T_NBACKENDS ? 0 : SHM_CACHE_AUTO;
	ck_assert_int_eq(shm_init(size, t_backend(i % T_NBACKENDS)), 0);
	t_pool_start(tp, mem_shm_pool);
}

static inline void t_shm_teardown(void)
{
	t_teardown();
	shm_cache_size = SHM_CACHE_AUTO;
}

#endif /* SRMEM_PROCTEST_H */
