/*
 * check_runtime.c - the server runtime's parts in one process, and across
 * fork where that is the point (core/runtime: loop, ipc, proc, timer,
 * module, log).
 *
 * Each test makes a 4 MiB pkg and a 16 MiB shm pool and the process table,
 * so the test process is "entry 0" (the main process).  Children are real
 * ones, forked by proc_start_all(): they run the runtime's child start
 * (IPC socket, modules' child_init) and the event loop, and are stopped by
 * proc_stop_all().  Bounds: every wait has a timeout; the whole suite runs
 * in about two seconds.
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem.h"
#include "runtime/cfg.h"
#include "runtime/ipc.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "runtime/module.h"
#include "runtime/proc.h"
#include "runtime/timer.h"

static void setup(void)
{
	ck_assert_int_eq(pkg_init(4 << 20, NULL), 0);
	ck_assert_int_eq(shm_init(16 << 20, NULL), 0);
	ck_assert_int_eq(proc_table_init(), 0);
	log_level = L_ERR;      /* the children's start lines are noise here */
}

/* --- loop --------------------------------------------------------------- */

static int fd_calls, deferred, ticks;

static void on_defer(void *arg)
{
	(void)arg;
	ck_assert_int_eq(fd_calls, 1);  /* after the callback that queued it */
	deferred++;
}

static void on_fd(int fd, void *arg)
{
	char b;
	(void)arg;
	ck_assert_int_eq(read(fd, &b, 1), 1);
	fd_calls++;
	ck_assert_int_eq(loop_defer(on_defer, NULL), 0);
	loop_del(fd);           /* from inside a callback */
}

START_TEST(test_loop_fd_defer)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(loop_add(p[0], on_fd, NULL), 0);
	ck_assert_int_eq(loop_add(p[0], on_fd, NULL), -1);     /* twice */
	ck_assert_int_eq(write(p[1], "ab", 2), 2);
	loop_once(500);
	ck_assert_int_eq(fd_calls, 1);
	ck_assert_int_eq(deferred, 1);
	loop_once(20);          /* byte 'b' is there, but fd was removed */
	ck_assert_int_eq(fd_calls, 1);
	ck_assert_int_eq(loop_add(p[0], on_fd, NULL), 0);       /* re-added */
	fd_calls = 0;
	loop_once(500);
	ck_assert_int_eq(fd_calls, 1);
}
END_TEST

static void on_tick(void *arg)
{
	(void)arg;
	ticks++;
}

START_TEST(test_loop_tick)
{
	/* No bound on how late a loaded host runs a tick, only on how early:
	 * five 20 ms ticks take at least 100 ms.  loop_once(1000) must return
	 * for each tick: waiting out its 1 s bound would leave at most 3
	 * ticks in 3 s. */
	uint64_t t0 = now_ms();
	ck_assert_int_eq(loop_set_tick(on_tick, NULL, 20), 0);
	while (ticks < 5 && now_ms() - t0 < 3000)
		loop_once(1000);
	ck_assert_int_eq(ticks, 5);
	ck_assert_uint_ge(now_ms() - t0, 100);
	ck_assert_int_eq(loop_set_tick(on_tick, NULL, 0), 0);   /* removed */
	ticks = 0;
	loop_once(50);
	ck_assert_int_eq(ticks, 0);
}
END_TEST

static int usr2_seen;
static void on_usr2(void *arg)
{
	(void)arg;
	usr2_seen++;
}

START_TEST(test_loop_signals)
{
	loop_signals();
	ck_assert_int_eq(loop_on_signal(SIGUSR2, on_usr2, NULL), 0);
	ck_assert_int_eq(loop_on_signal(SIGTERM, on_usr2, NULL), -1);
	raise(SIGUSR2);         /* before the poll: the self-pipe keeps it */
	uint64_t t0 = now_ms();
	loop_once(2000);
	ck_assert_int_eq(usr2_seen, 1);
	ck_assert_uint_lt(now_ms() - t0, 500);
	raise(SIGTERM);
	loop_run();             /* returns at once: loop_quit */
	ck_assert_int_eq(loop_quit, 1);
}
END_TEST

/* --- ipc ---------------------------------------------------------------- */

static char *cmd_echo(const char *arg, const char **err)
{
	(void)err;
	char *s = malloc(strlen(arg) + 32);
	sprintf(s, "echo:%s:%d", arg, proc_index);
	return s;
}

static char *cmd_fail(const char *arg, const char **err)
{
	(void)arg;
	*err = "it failed on purpose";
	return NULL;
}

static char *cmd_big(const char *arg, const char **err)
{
	(void)arg;
	(void)err;
	char *s = malloc(100001);
	memset(s, 'x', 100000);
	s[100000] = '\0';
	return s;
}

static char *cmd_slow(const char *arg, const char **err)
{
	(void)err;
	usleep(1000 * (useconds_t)atoi(arg));
	return strdup("slow");
}

static void register_cmds(void)
{
	ck_assert_int_eq(ipc_register("t.echo", cmd_echo), 0);
	ck_assert_int_eq(ipc_register("t.echo", cmd_echo), -1);
	ck_assert_int_eq(ipc_register("t.fail", cmd_fail), 0);
	ck_assert_int_eq(ipc_register("t.big", cmd_big), 0);
	ck_assert_int_eq(ipc_register("t.slow", cmd_slow), 0);
}

static void child_loop(int index)
{
	(void)index;
	loop_run();
}

START_TEST(test_ipc_self)
{
	char err[200];
	register_cmds();
	char *r = ipc_call(PROC_MAIN, "t.echo", "me", 100, err, sizeof(err));
	ck_assert_str_eq(r, "echo:me:0");   /* served in-process: no socket */
	free(r);
	ck_assert_ptr_null(ipc_call(PROC_MAIN, "t.nope", "", 100, err,
		sizeof(err)));
	ck_assert_str_eq(err, "unknown IPC command 't.nope'");
	ck_assert_ptr_null(ipc_call(7, "t.echo", "", 100, err, sizeof(err)));
	ck_assert_str_eq(err, "no process with index 7");
}
END_TEST

static uint64_t shm_used(void)
{
	struct mem_info mi;
	shm_info(&mi);
	return mi.used_size;
}

START_TEST(test_ipc_cross)
{
	char err[200];
	register_cmds();
	loop_signals();
	ck_assert_int_eq(ipc_child_init(PROC_MAIN), 0);
	ck_assert_int_eq(proc_add(1, "ipc child", child_loop), 1);
	ck_assert_int_eq(proc_add(2, "never started", child_loop), 2);
	proc_count = 2;         /* entry 2 stays out of the start */
	ck_assert_int_eq(proc_start_all(), 0);
	proc_count = 3;
	char *r = NULL;
	for (int i = 0; i < 100 && !r; i++) {     /* until it has bound */
		r = ipc_call(1, "t.echo", "hi", 100, err, sizeof(err));
		if (!r)
			usleep(10000);
	}
	ck_assert_msg(r != NULL, "no answer: %s", err);
	ck_assert_str_eq(r, "echo:hi:1");
	free(r);
	uint64_t base = shm_used();
	r = ipc_call(1, "t.big", "", 1000, err, sizeof(err));
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(strlen(r), 100000);
	free(r);
	ck_assert_uint_eq(shm_used(), base);    /* the reply block was freed */
	ck_assert_ptr_null(ipc_call(1, "t.fail", "", 1000, err, sizeof(err)));
	ck_assert_str_eq(err, "process 1 (ipc child): it failed on purpose");
	ck_assert_ptr_null(ipc_call(1, "t.nope", "", 1000, err, sizeof(err)));
	ck_assert_str_eq(err, "process 1 (ipc child): unknown IPC command "
		"'t.nope'");
	ck_assert_ptr_null(ipc_call(2, "t.echo", "", 100, err, sizeof(err)));
	ck_assert_str_eq(err, "process 2 (never started) is not running");
	/* a timeout, then the late reply is freed by the next call */
	ck_assert_ptr_null(ipc_call(1, "t.slow", "200", 50, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "did not answer 't.slow' within 50"));
	usleep(300000);
	r = ipc_call(1, "t.echo", "after", 1000, err, sizeof(err));
	ck_assert_str_eq(r, "echo:after:1");
	free(r);
	ck_assert_uint_eq(shm_used(), base);
	proc_stop_all(1000);
	ck_assert_int_eq(proc_table[1].pid, 0);
}
END_TEST

/* --- proc: restart policy, published counters ---------------------------- */

static pid_t wait_restart(int i, pid_t old)
{
	for (int t = 0; t < 200; t++) {
		loop_once(10);
		if (proc_policy_stop || (proc_table[i].pid > 0 &&
				proc_table[i].pid != old))
			break;
	}
	return proc_table[i].pid;
}

START_TEST(test_proc_restart_policy)
{
	cfg.restart_max = 1;
	cfg.restart_window = 10;
	loop_signals();
	ck_assert_int_eq(proc_watch(), 0);
	ck_assert_int_eq(proc_add(1, "victim", child_loop), 1);
	ck_assert_int_eq(proc_start_all(), 0);
	pid_t p1 = proc_table[1].pid;
	ck_assert_int_gt(p1, 0);
	ck_assert_int_eq(proc_find_pid(p1), 1);
	kill(p1, SIGKILL);
	pid_t p2 = wait_restart(1, p1);
	ck_assert_int_ne(p2, p1);
	ck_assert_int_gt(p2, 0);
	ck_assert_uint_eq(proc_table[1].restarts, 1);
	ck_assert_int_eq(proc_policy_stop, 0);
	kill(p2, SIGKILL);      /* second death within 10 s: over the limit */
	wait_restart(1, p2);
	ck_assert_int_eq(proc_policy_stop, 1);
	ck_assert_int_eq(proc_table[1].pid, 0);
	ck_assert_int_eq(proc_table[1].state, PROC_DEAD);
	proc_stop_all(1000);
}
END_TEST

START_TEST(test_proc_publish)
{
	struct proc_pkg p;
	struct mem_info mi;
	void *keep = pkg_malloc(1000);
	proc_publish_pkg();
	pkg_info(&mi);
	ck_assert_int_eq(proc_read_pkg(PROC_MAIN, &p), 0);
	ck_assert_uint_eq(p.used_size, mi.used_size);
	ck_assert_uint_eq(p.real_used, mi.real_used);
	ck_assert_uint_eq(p.total_size, mi.total_size);
	ck_assert_uint_eq(p.total_frags, mi.total_frags);
	ck_assert_uint_gt(p.stamp_ms, 0);
	ck_assert_uint_eq(proc_table[0].seq % 2, 0);
	proc_table[0].seq++;    /* a writer that died mid-update */
	ck_assert_int_eq(proc_read_pkg(PROC_MAIN, &p), -1);
	ck_assert_uint_eq(p.used_size, 0);
	pkg_free(keep);
}
END_TEST

START_TEST(test_proc_status_str)
{
	char b[96];
	ck_assert_str_eq(proc_status_str(SIGKILL, b, sizeof(b)),
		"killed by signal 9 (SIGKILL)");
	ck_assert_str_eq(proc_status_str(3 << 8, b, sizeof(b)),
		"exited with status 3");
	ck_assert_str_eq(proc_status_str(SIGSEGV | 0x80, b, sizeof(b)),
		"killed by signal 11 (SIGSEGV), core dumped");
}
END_TEST

/* --- timer, modules, log ------------------------------------------------- */

static int fast_runs, slow_runs;
static uint64_t fast_at[5];             /* the times of the first runs */
static void job(uint64_t now, void *arg)
{
	(void)now;
	(*(int *)arg)++;
}

static void fast_job(uint64_t now, void *arg)
{
	(void)arg;
	if (fast_runs < 5)
		fast_at[fast_runs] = now;
	fast_runs++;
}

/* No timed assertion: the loop ticks until the fast job ran 5 times
 * (the case's timeout is the watchdog), then checks that no run came
 * early and the slow job ran once only, at the first tick. */
START_TEST(test_timer_jobs)
{
	ck_assert_int_eq(timer_register("fast", 20, fast_job, NULL), 0);
	ck_assert_int_eq(timer_register("slow", 3600000, job, &slow_runs), 0);
	ck_assert_int_eq(timer_register("zero", 0, job, &slow_runs), -1);
	ck_assert_int_eq(timer_register("nofn", 10, NULL, NULL), -1);
	while (fast_runs < 5) {
		timer_run_due();
		usleep(2000);
	}
	for (int i = 1; i < 5; i++)
		ck_assert_uint_ge(fast_at[i] - fast_at[i - 1], 20);
	ck_assert_int_eq(slow_runs, 1);
}
END_TEST

START_TEST(test_modules_sorted)
{
	const struct srp_module *const *m;
	int n = modules_list(&m), runtime = 0;
	for (int i = 0; i < n; i++) {
		runtime += !strcmp(m[i]->name, "runtime");
		if (i)
			ck_assert(m[i - 1]->order < m[i]->order ||
				(m[i - 1]->order == m[i]->order &&
				strcmp(m[i - 1]->name, m[i]->name) < 0));
	}
	ck_assert_int_eq(runtime, 1);
	modules_destroy();      /* nothing was initialised: nothing runs */
}
END_TEST

START_TEST(test_log_lines)
{
	char buf[4096] = "", want[64];
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	int saved = dup(2);
	dup2(p[1], 2);
	log_init("srproxy", 1, L_INFO);
	LM_ERR("value %d", 42);
	LM_DBG("not shown");
	void *q = pkg_malloc(8);
	mem_safety = 1;
	pkg_free(q);
	pkg_free(q);            /* the library's report comes through us */
	dup2(saved, 2);
	close(p[1]);
	ck_assert_int_gt(read(p[0], buf, sizeof(buf) - 1), 0);
	snprintf(want, sizeof(want), "srproxy[%d]: ERROR: <core> [",
		(int)getpid());
	ck_assert_msg(!strncmp(buf, want, strlen(want)), "got: %s", buf);
	ck_assert_ptr_nonnull(strstr(buf, "tests/check_runtime.c:"));
	ck_assert_ptr_nonnull(strstr(buf, "]: value 42\n"));
	ck_assert_ptr_null(strstr(buf, "not shown"));
	ck_assert_ptr_nonnull(strstr(buf, ": ERROR: <srmem>: "));
	ck_assert_ptr_nonnull(strstr(log_errors, "ERROR: <core> ["));
	ck_assert_ptr_nonnull(strstr(log_errors, "; ERROR: <srmem>: "));
}
END_TEST

Suite *runtime_suite(void)
{
	Suite *s = suite_create("runtime");
	TCase *tc = tcase_create("runtime");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_loop_fd_defer);
	tcase_add_test(tc, test_loop_tick);
	tcase_add_test(tc, test_loop_signals);
	tcase_add_test(tc, test_ipc_self);
	tcase_add_test(tc, test_ipc_cross);
	tcase_add_test(tc, test_proc_restart_policy);
	tcase_add_test(tc, test_proc_publish);
	tcase_add_test(tc, test_proc_status_str);
	tcase_add_test(tc, test_timer_jobs);
	tcase_add_test(tc, test_modules_sorted);
	tcase_add_test(tc, test_log_lines);
	suite_add_tcase(s, tc);
	return s;
}
