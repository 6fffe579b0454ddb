/*
 * proctest.h - children for the Check suites that fork their own workers
 * (shm locks, the location table): start one, and expect it to exit 0.
 * Children never call Check: they report through their exit status and
 * _exit(), so nothing of the runner runs twice; an alarm kills a child
 * that hangs instead of the whole runner.
 */
#ifndef SRMEM_PROCTEST_H
#define SRMEM_PROCTEST_H

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

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

#endif /* SRMEM_PROCTEST_H */
