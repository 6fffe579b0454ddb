/*
 * team.h - run one job in N forked processes that start together.
 *
 * Every child runs prepare() (set-up that must not be timed: its slot
 * arrays, their first touch), reports ready and waits at the start line;
 * the parent opens the line when all are ready.  Each child stamps
 * CLOCK_MONOTONIC (one clock for the whole machine) just after the line
 * and just after run(); the team's wall time is last end - first start.
 * The control block is a shared anonymous mapping made before fork; each
 * child also leaves there its getrusage() counts of the two stretches.
 */
#ifndef MEMBENCH_TEAM_H
#define MEMBENCH_TEAM_H

#include "bench.h"

#define TEAM_MAX 64

struct team_job {
	/* In child i before the start line; may be NULL.  Its result is
	 * handed to run() as ctx. */
	void *(*prepare)(int i, void *arg);
	/* In child i between the lines; 0 on success. */
	int (*run)(int i, void *ctx, void *arg);
	void *arg;
};

/* What the children's getrusage() saw, summed over them: `start` from
 * fork to the start line (prepare: set-up, populating page tables),
 * `run` between the lines.  start_ms: the longest prepare(). */
struct team_usage {
	struct bench_ru start, run;
	double start_ms;
};

/* Wall time of the team in ns, or -1 if a child failed or died.  `u`
 * (may be NULL) gets the children's usage. */
double team_run(int nproc, const struct team_job *job, struct team_usage *u);

/* Give the CPU away while waiting (more processes than cores is one of
 * the cases measured, so waiting must not burn the waited-for's time). */
void team_yield(void);

#endif /* MEMBENCH_TEAM_H */
