/*
 * team.c - forked processes with a common start line (see team.h).
 *
 * Control block states: `ready` counts children past prepare(); `go` is
 * 0 (wait), 1 (run) or 2 (abort: a child died before the line, so the
 * others leave without running).  A child's exit status is its verdict.
 * Each child writes only its own entries of the usage arrays, the parent
 * reads them after reaping.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "team.h"

struct team_ctl {
	_Atomic int ready;
	_Atomic int go;
	double t0[TEAM_MAX], t1[TEAM_MAX];
	double prep_ms[TEAM_MAX];
	struct bench_ru start[TEAM_MAX], run[TEAM_MAX];
};

void team_yield(void)
{
	sched_yield();
}

static void team_child(struct team_ctl *c, int i, const struct team_job *job)
{
	struct bench_ru r0 = { 0 };
	double p0 = now_ns();
	bench_ru_now(&c->start[i]);
	void *ctx = job->prepare ? job->prepare(i, job->arg) : NULL;
	bench_ru_add_since(&r0, &c->start[i]);
	c->start[i] = r0;
	c->prep_ms[i] = (now_ns() - p0) / 1e6;
	atomic_fetch_add(&c->ready, 1);
	while (!atomic_load(&c->go))
		team_yield();
	if (atomic_load(&c->go) != 1)
		_exit(1);
	bench_ru_now(&r0);
	c->t0[i] = now_ns();
	int rc = job->run(i, ctx, job->arg);
	c->t1[i] = now_ns();
	bench_ru_add_since(&c->run[i], &r0);
	_exit(rc ? 1 : 0);
}

/* Wait until all are ready; -1 if one died before that. */
static int team_wait_ready(struct team_ctl *c, int nproc)
{
	while (atomic_load(&c->ready) < nproc) {
		int st;
		if (waitpid(-1, &st, WNOHANG) > 0)
			return -1;
		team_yield();
	}
	return 0;
}

/* Reap every child; the number that failed. */
static int team_reap(int nproc)
{
	int bad = 0;
	for (int k = 0; k < nproc; k++) {
		int st;
		if (wait(&st) < 0)
			return bad + nproc - k;
		bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	return bad;
}

static double team_wall(const struct team_ctl *c, int nproc)
{
	double first = c->t0[0], last = c->t1[0];
	for (int i = 1; i < nproc; i++) {
		first = c->t0[i] < first ? c->t0[i] : first;
		last = c->t1[i] > last ? c->t1[i] : last;
	}
	return last - first;
}

static void team_usage_sum(const struct team_ctl *c, int nproc,
		struct team_usage *u)
{
	memset(u, 0, sizeof(*u));
	for (int i = 0; i < nproc; i++) {
		bench_ru_add(&u->start, &c->start[i]);
		bench_ru_add(&u->run, &c->run[i]);
		u->start_ms = c->prep_ms[i] > u->start_ms ? c->prep_ms[i] :
			u->start_ms;
	}
}

double team_run(int nproc, const struct team_job *job, struct team_usage *u)
{
	if (nproc < 1 || nproc > TEAM_MAX)
		return -1;
	struct team_ctl *c = bench_map(sizeof(*c), 1);
	int started = 0;
	for (; started < nproc; started++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("membench: fork");
			break;
		}
		if (!pid)
			team_child(c, started, job);
	}
	int ok = started == nproc && team_wait_ready(c, nproc) == 0;
	atomic_store(&c->go, ok ? 1 : 2);
	int bad = team_reap(started);
	double wall = ok && !bad ? team_wall(c, nproc) : -1;
	if (u)
		team_usage_sum(c, nproc, u);
	bench_unmap(c, sizeof(*c));
	return wall;
}
