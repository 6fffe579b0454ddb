/*
 * runtime.c - the runtime's own module: what every server process gets
 * from the runtime itself, registered the way any module registers.
 *
 *   proc.watchdog  (timer job, every second) warns once when a running
 *                  process has not published its pkg counters for
 *                  WATCHDOG_MS: its loop is stuck (a long callback, a
 *                  wait on a lock); and says so again when it recovers.
 *   test hooks     only with --test-methods: the IPC command
 *                  "runtime.lock_hold MS" (the RPC's test.lock_hold may use
 *                  it) and SIGUSR2, which make the process take the shm
 *                  lock and hold it MS (SIGUSR2: TEST_HOLD_MS) ms, so tests
 *                  can kill a process that holds it.  The hold runs from
 *                  the loop after the IPC reply has gone (loop_defer).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "runtime/cfg.h"
#include "runtime/ipc.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "runtime/module.h"
#include "runtime/proc.h"
#include "runtime/timer.h"

#define WATCHDOG_MS 5000
#define TEST_HOLD_MS 2000
#define TEST_HOLD_MAX 60000

static unsigned char stalled[PROC_MAX];   /* timer process's own view */

static void watchdog(uint64_t now, void *arg)
{
	struct proc_pkg p;
	(void)arg;
	for (int i = 0; i < proc_count; i++) {
		struct proc_entry *e = &proc_table[i];
		if (e->state != PROC_RUNNING || e->pid <= 0 ||
				proc_read_pkg(i, &p) < 0 || !p.stamp_ms)
			continue;
		int late = now > p.stamp_ms + WATCHDOG_MS;
		if (late && !stalled[i])
			LM_WARN("process %d (%s) pid %d has not run its loop for "
				"%llu ms", i, e->desc, (int)e->pid,
				(unsigned long long)(now - p.stamp_ms));
		else if (!late && stalled[i])
			LM_NOTICE("process %d (%s) pid %d runs its loop again", i,
				e->desc, (int)e->pid);
		stalled[i] = (unsigned char)late;
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void lock_hold(void *arg)
{
	long ms = (long)(intptr_t)arg;
	shm_global_lock();
	LM_NOTICE("test: process %d pid %d holds the shm lock for %ld ms",
		proc_index, (int)getpid(), ms);
	sleep_ms(ms);
	shm_global_unlock();
	LM_NOTICE("test: process %d pid %d released the shm lock", proc_index,
		(int)getpid());
}

static char *lock_hold_ipc(const char *arg, const char **err)
{
	char *end, *text;
	long ms = strtol(arg, &end, 10);
	if (!*arg || *end || ms < 1 || ms > TEST_HOLD_MAX) {
		*err = "runtime.lock_hold: give the hold in ms, 1..60000";
		return NULL;
	}
	if (loop_defer(lock_hold, (void *)(intptr_t)ms) < 0) {
		*err = "runtime.lock_hold: the loop's queue is full";
		return NULL;
	}
	if (asprintf(&text, "{\"pid\": %d, \"hold_ms\": %ld}", (int)getpid(),
			ms) < 0) {
		*err = "out of memory";
		return NULL;
	}
	return text;
}

static void lock_hold_signal(void *arg)
{
	(void)arg;
	lock_hold((void *)(intptr_t)TEST_HOLD_MS);
}

static int runtime_init(void)
{
	if (timer_register("proc.watchdog", 1000, watchdog, NULL) < 0)
		return -1;
	if (!cfg.test_methods)
		return 0;
	LM_NOTICE("test hooks on: runtime.lock_hold, SIGUSR2 holds the shm "
		"lock %d ms", TEST_HOLD_MS);
	if (ipc_register("runtime.lock_hold", lock_hold_ipc) < 0)
		return -1;
	return loop_on_signal(SIGUSR2, lock_hold_signal, NULL);
}

SRP_MODULE(runtime_module) = {
	.name = "runtime",
	.order = -100,
	.init = runtime_init,
};
