/*
 * proc.c - the process table and the life of the children (proc.h).
 *
 * The table (PROC_MAX entries) is one shm block, so every process reads
 * every entry; the main functions of the entries are kept in a private
 * array, inherited by each child at fork (same addresses, same binary).
 *
 * A child's start: die with the main process (PR_SET_PDEATHSIG, then a
 * getppid() check for a main process that died before the prctl), map the
 * shm segment into its page tables (shm_child_init: fork does not copy
 * them, and faulting the heap in page by page would happen while serving),
 * forget the parent's loop, install its own signal handlers, bind its IPC
 * socket, run the modules' child_init, publish its pkg counters, run its
 * entry's function, and leave through exit(): that runs the library's atexit
 * summary (mem_summary pkg dumps) for this child, and stdio was flushed
 * before fork so no buffered output is written twice.  Paths that leave
 * before the child is set up use _exit(), because there is nothing of the
 * child's to report and the parent's handlers are not ours to run.
 *
 * Reaping (main only): SIGCHLD wakes the main loop, proc_reap() collects
 * every dead child without blocking, logs its end, gives its shm cache
 * back and applies the restart policy: one entry may die restart_max times
 * within restart_window seconds and is forked again each time; one death
 * more stops the server (main.c exits 1).  A child that died holding the
 * shm lock needs nothing from here: the next process to want the lock sees
 * the dead owner within LOCK_CHECK_MS and takes over (mem/lock.h), and the
 * cache reclaim below is usually that process.
 *
 * pkg counters: a seqlock per entry (and the pkg alarm is checked there,
 * alarm.c, not on the allocation path).  The writer (the entry's process
 * only) makes the sequence odd, stores, makes it even; readers retry while
 * it is odd or changed.  No lock, and pkg_malloc() is untouched.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "runtime/alarm.h"
#include "runtime/cfg.h"
#include "runtime/ipc.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "runtime/module.h"
#include "runtime/proc.h"

#define READ_TRIES 1000

_Static_assert(PROC_MAX <= MEM_PROC_ID_MAX, "every rank fits the library's "
		"process id (mem_set_proc_id)");

struct proc_entry *proc_table;
int proc_count;
int proc_index;
int proc_policy_stop;

static proc_main_fn proc_fns[PROC_MAX];
static int proc_stopping;

uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int proc_table_init(void)
{
	proc_table = shm_mallocxz(PROC_MAX * sizeof(*proc_table));
	if (!proc_table) {
		LM_CRIT("no shm for the process table (%zu bytes)",
			PROC_MAX * sizeof(*proc_table));
		return -1;
	}
	proc_count = 1;
	proc_index = PROC_MAIN;
	struct proc_entry *e = &proc_table[PROC_MAIN];
	e->pid = getpid();
	e->rank = 0;
	mem_set_proc_id(0);
	e->state = PROC_RUNNING;
	e->started_ms = now_ms();
	snprintf(e->desc, sizeof(e->desc), "main process - attendant");
	return 0;
}

int proc_add(int rank, const char *desc, proc_main_fn fn)
{
	if (!proc_table || proc_count == PROC_MAX || !fn) {
		LM_ERR("cannot add process '%s': %s", desc, !proc_table ?
			"no process table yet" : proc_count == PROC_MAX ?
			"table full" : "no main function");
		return -1;
	}
	int i = proc_count++;
	struct proc_entry *e = &proc_table[i];
	memset(e, 0, sizeof(*e));
	e->rank = rank;
	e->state = PROC_FREE;
	snprintf(e->desc, sizeof(e->desc), "%s", desc);
	proc_fns[i] = fn;
	return i;
}

int proc_find_pid(pid_t pid)
{
	if (!proc_table || pid <= 0)
		return -1;
	for (int i = 0; i < proc_count; i++)
		if (proc_table[i].pid == pid)
			return i;
	return -1;
}

const char *proc_status_str(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status)) {
		const char *abbr = sigabbrev_np(WTERMSIG(status));
		snprintf(buf, len, "killed by signal %d (SIG%s)%s",
			WTERMSIG(status), abbr ? abbr : "?",
			WCOREDUMP(status) ? ", core dumped" : "");
	} else if (WIFEXITED(status)) {
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	} else {
		snprintf(buf, len, "status 0x%x", (unsigned)status);
	}
	return buf;
}

/* --- a child's life ------------------------------------------------------- */

__attribute__((noreturn))
static void child_run(int i)
{
	struct proc_entry *e = &proc_table[i];
	proc_index = i;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != proc_table[PROC_MAIN].pid)
		_exit(0);               /* the main process died meanwhile */
	e->pid = getpid();
	mem_set_proc_id(e->rank);       /* reports name "pid P (rank R)" */
	shm_child_init();       /* a failure is logged; the child still works */
	loop_reset();
	loop_on_signal(SIGCHLD, NULL, NULL);
	loop_signals();
	if (ipc_child_init(i) < 0 || modules_child_init(e->rank) < 0) {
		LM_ERR("process %d (%s) could not start", i, e->desc);
		exit(1);
	}
	proc_publish_pkg();
	e->state = PROC_RUNNING;
	proc_fns[i](i);
	LM_DBG("process %d (%s) ends", i, e->desc);
	exit(0);
}

static int proc_spawn(int i)
{
	struct proc_entry *e = &proc_table[i];
	e->state = PROC_STARTING;
	e->pid = 0;
	if (e->seq & 1)         /* its last writer died mid-update */
		e->seq++;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		LM_ERR("fork of process %d (%s): %s", i, e->desc,
			strerror(errno));
		e->state = PROC_DEAD;
		return -1;
	}
	if (pid == 0)
		child_run(i);
	e->pid = pid;
	e->started_ms = now_ms();
	LM_INFO("process %d (%s) started: pid %d rank %d", i, e->desc,
		(int)pid, e->rank);
	return 0;
}

int proc_start_all(void)
{
	for (int i = 1; i < proc_count; i++)
		if (proc_spawn(i) < 0)
			return -1;
	return 0;
}

/* --- deaths and the restart policy ---------------------------------------- */

static int restart_or_stop(int i)
{
	struct proc_entry *e = &proc_table[i];
	uint64_t now = now_ms();
	if (!e->window_start_ms ||
			now - e->window_start_ms > (uint64_t)cfg.restart_window * 1000) {
		e->window_start_ms = now;
		e->window_deaths = 0;
	}
	if (++e->window_deaths > (uint32_t)cfg.restart_max) {
		LM_CRIT("process %d (%s) died %u times within %d s (limit "
			"--restart-max %d): stopping the server", i, e->desc,
			e->window_deaths, cfg.restart_window, cfg.restart_max);
		proc_policy_stop = 1;
		return -1;
	}
	e->restarts++;
	LM_NOTICE("restarting process %d (%s), restart %u (%u of %d allowed "
		"within %d s)", i, e->desc, e->restarts, e->window_deaths,
		cfg.restart_max, cfg.restart_window);
	if (proc_spawn(i) < 0) {
		LM_CRIT("could not restart process %d (%s): stopping the server",
			i, e->desc);
		proc_policy_stop = 1;
		return -1;
	}
	return 0;
}

static int child_died(pid_t pid, int status)
{
	char how[96];
	int i = proc_find_pid(pid);
	proc_status_str(status, how, sizeof(how));
	if (i <= 0) {
		LM_WARN("reaped pid %d, not in the process table: %s", (int)pid,
			how);
		return 0;
	}
	struct proc_entry *e = &proc_table[i];
	e->pid = 0;
	e->state = PROC_DEAD;
	if (proc_stopping) {
		LM_DBG("process %d (%s) pid %d ended: %s", i, e->desc,
			(int)pid, how);
		return 0;
	}
	LM_ERR("process %d (%s) pid %d rank %d died: %s", i, e->desc,
		(int)pid, e->rank, how);
	size_t n = shm_cache_reclaim();
	if (n)
		LM_INFO("gave back %zu shm fragments cached by pid %d", n,
			(int)pid);
	return restart_or_stop(i);
}

int proc_reap(void)
{
	int status, n = 0, stop = 0;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		n++;
		if (child_died(pid, status) < 0)
			stop = 1;
	}
	return stop ? -1 : n;
}

static void reap_hook(void *arg)
{
	(void)arg;
	if (proc_reap() < 0)
		loop_stop();
}

int proc_watch(void)
{
	return loop_on_signal(SIGCHLD, reap_hook, NULL);
}

static int children_alive(void)
{
	int n = 0;
	for (int i = 1; i < proc_count; i++)
		n += proc_table[i].pid > 0;
	return n;
}

static void kill_children(int sig)
{
	for (int i = 1; i < proc_count; i++)
		if (proc_table[i].pid > 0)
			kill(proc_table[i].pid, sig);
}

void proc_stop_all(int timeout_ms)
{
	if (!proc_table)
		return;
	proc_stopping = 1;
	kill_children(SIGTERM);
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	while (children_alive() && now_ms() < end) {
		proc_reap();
		if (children_alive())
			usleep(5000);
	}
	for (int i = 1; i < proc_count; i++)
		if (proc_table[i].pid > 0)
			LM_WARN("process %d (%s) pid %d did not stop within %d ms; "
				"killing it", i, proc_table[i].desc,
				(int)proc_table[i].pid, timeout_ms);
	kill_children(SIGKILL);
	while (children_alive()) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);
		if (pid < 0 && errno != EINTR)
			break;          /* ECHILD: nothing left to wait for */
		if (pid > 0)
			child_died(pid, status);
	}
}

/* --- published pkg counters (seqlock) ------------------------------------- */

void proc_publish_pkg(void)
{
	struct mem_info mi;
	struct proc_pkg p;
	if (!proc_table || !mem_pkg_pool)
		return;
	pkg_info(&mi);
	alarm_check_pkg(&mi);
	p = (struct proc_pkg){ mi.total_size, mi.free_size, mi.used_size,
		mi.real_used, mi.max_used, mi.total_frags, now_ms() };
	struct proc_entry *e = &proc_table[proc_index];
	uint32_t s = e->seq;
	__atomic_store_n(&e->seq, s + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	uint64_t *dst = (uint64_t *)&e->pkg, *src = (uint64_t *)&p;
	for (size_t k = 0; k < sizeof(p) / sizeof(uint64_t); k++)
		__atomic_store_n(&dst[k], src[k], __ATOMIC_RELAXED);
	__atomic_store_n(&e->seq, s + 2, __ATOMIC_RELEASE);
}

int proc_read_pkg(int i, struct proc_pkg *out)
{
	struct proc_entry *e = &proc_table[i];
	uint64_t *dst = (uint64_t *)out, *src = (uint64_t *)&e->pkg;
	for (int t = 0; t < READ_TRIES; t++) {
		uint32_t s1 = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
		if (!(s1 & 1)) {
			for (size_t k = 0; k < sizeof(*out) / sizeof(uint64_t); k++)
				dst[k] = __atomic_load_n(&src[k], __ATOMIC_RELAXED);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (__atomic_load_n(&e->seq, __ATOMIC_RELAXED) == s1)
				return 0;
		}
		if (t % 64 == 63)
			sched_yield();
	}
	memset(out, 0, sizeof(*out));
	return -1;
}
