/*
 * timer.c - periodic jobs run by the timer process (timer.h).
 *
 * Jobs are registered before fork (the table is inherited) or inside the
 * timer process itself.  The timer process runs the ordinary event loop
 * (so it serves IPC and publishes its pkg counters like any other) with
 * one tick, every TIMER_RES_MS; each tick runs the jobs whose time has
 * come, in registration order.  A job runs at most every interval_ms; a
 * job that overran does not run twice to catch up (its next run is
 * interval_ms after this one started), and a run longer than its interval
 * is logged, since it delays every other job.
 *
 * The runtime registers no shm_cache_reclaim job: a dead child's cache is
 * given back by the main process the moment it reaps the child (proc.c),
 * and the library reclaims again when an allocation would fail and in
 * shm_info(); a periodic walk of the cache slots would only find nothing.
 */
#include <stdio.h>
#include <string.h>

#include "runtime/log.h"
#include "runtime/loop.h"
#include "runtime/proc.h"
#include "runtime/timer.h"

#define TIMER_JOBS_MAX 32
#define TIMER_RES_MS 10

struct timer_job {
	char name[32];
	unsigned interval_ms;
	timer_fn fn;
	void *arg;
	uint64_t next_ms;               /* 0: at the first tick */
};

static struct timer_job jobs[TIMER_JOBS_MAX];
static int njobs;

int timer_register(const char *name, unsigned interval_ms, timer_fn fn,
		void *arg)
{
	if (!fn || interval_ms == 0 || njobs == TIMER_JOBS_MAX) {
		LM_ERR("timer job '%s' refused: %s", name ? name : "?",
			njobs == TIMER_JOBS_MAX ? "table full" :
			"no function or zero interval");
		return -1;
	}
	struct timer_job *j = &jobs[njobs++];
	snprintf(j->name, sizeof(j->name), "%s", name ? name : "?");
	j->interval_ms = interval_ms;
	j->fn = fn;
	j->arg = arg;
	j->next_ms = 0;
	return 0;
}

static void run_job(struct timer_job *j, uint64_t now)
{
	j->next_ms = now + j->interval_ms;
	j->fn(now, j->arg);
	uint64_t took = now_ms() - now;
	if (took > j->interval_ms)
		LM_WARN("timer job %s took %llu ms (interval %u ms)", j->name,
			(unsigned long long)took, j->interval_ms);
}

/* One tick: every job that is due (also the unit tests' entry). */
void timer_run_due(void)
{
	for (int i = 0; i < njobs; i++) {
		uint64_t now = now_ms();
		if (now >= jobs[i].next_ms)
			run_job(&jobs[i], now);
	}
}

static void timer_tick(void *arg)
{
	(void)arg;
	timer_run_due();
}

void timer_main(int index)
{
	LM_DBG("timer process %d: %d jobs", index, njobs);
	loop_set_tick(timer_tick, NULL, TIMER_RES_MS);
	loop_run();
}
