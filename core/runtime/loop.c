/*
 * loop.c - the event loop of every process (see loop.h for what it does).
 *
 * One poll(2) per pass over the wake pipe plus the registered fds.  The
 * pollfd array mirrors the fd table index for index; loop_del() from a
 * callback only marks its slot dead, and the table is compacted before the
 * next poll, so a pass never calls a removed fd's callback and never
 * shifts entries under the dispatch.  Costs per pass: O(registered fds)
 * for poll and dispatch, O(ticks) (at most LOOP_MAX_TICKS) for timers.
 *
 * The poll timeout is the nearest of: the caller's bound, the next tick,
 * the next forced pkg publish (1 s after the last), 0 when calls are
 * deferred.  Signals: each handler sets a flag and writes one byte to the
 * self-pipe (non-blocking, errno preserved), which ends the poll at once
 * even when the signal arrived just before poll() was entered.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "runtime/proc.h"

#define PUBLISH_MIN_MS 100
#define PUBLISH_MAX_MS 1000

volatile sig_atomic_t loop_quit;
static volatile sig_atomic_t loop_stopped;

struct loop_fd {
	int fd;                 /* -1: removed, compacted before next poll */
	loop_fd_fn fn;
	void *arg;
};

struct loop_tick {
	loop_tick_fn fn;        /* NULL: free slot */
	void *arg;
	int ms;
	uint64_t next_ms;
};

struct loop_call {
	loop_tick_fn fn;
	void *arg;
};

struct loop_sig {
	loop_tick_fn fn;
	void *arg;
	volatile sig_atomic_t hit;
};

static struct loop_fd fds[LOOP_MAX_FDS];
static struct pollfd pfds[LOOP_MAX_FDS + 1];   /* [0] is the wake pipe */
static int nfds, polled, dirty, dispatching;
static struct loop_tick ticks[LOOP_MAX_TICKS];
static struct loop_call defers[LOOP_MAX_DEFER];
static unsigned defer_head, defer_tail;        /* ring, free-running */
static struct loop_sig sigs[NSIG];
static int wake_fd[2] = { -1, -1 };
static uint64_t last_publish;

/* --- fds ------------------------------------------------------------------ */

static void compact(void)
{
	int j = 0;
	for (int i = 0; i < nfds; i++)
		if (fds[i].fd >= 0)
			fds[j++] = fds[i];
	nfds = j;
	dirty = 0;
}

int loop_add(int fd, loop_fd_fn fn, void *arg)
{
	if (fd < 0 || !fn)
		return -1;
	for (int i = 0; i < nfds; i++)
		if (fds[i].fd == fd)
			return -1;
	if (nfds == LOOP_MAX_FDS && dirty && !dispatching)
		compact();
	if (nfds == LOOP_MAX_FDS)
		return -1;
	fds[nfds++] = (struct loop_fd){ fd, fn, arg };
	return 0;
}

void loop_del(int fd)
{
	for (int i = 0; i < nfds; i++)
		if (fds[i].fd == fd) {
			fds[i].fd = -1;
			dirty = 1;
		}
}

/* --- ticks and deferred calls --------------------------------------------- */

int loop_set_tick(loop_tick_fn fn, void *arg, int ms)
{
	struct loop_tick *free_slot = NULL;
	for (int i = 0; i < LOOP_MAX_TICKS; i++) {
		struct loop_tick *t = &ticks[i];
		if (t->fn == fn && t->arg == arg) {
			if (ms <= 0)
				t->fn = NULL;
			else
				*t = (struct loop_tick){ fn, arg, ms, now_ms() + ms };
			return 0;
		}
		if (!t->fn && !free_slot)
			free_slot = t;
	}
	if (ms <= 0 || !fn)
		return 0;
	if (!free_slot)
		return -1;
	*free_slot = (struct loop_tick){ fn, arg, ms, now_ms() + ms };
	return 0;
}

int loop_defer(loop_tick_fn fn, void *arg)
{
	if (!fn || defer_tail - defer_head == LOOP_MAX_DEFER)
		return -1;
	defers[defer_tail++ % LOOP_MAX_DEFER] = (struct loop_call){ fn, arg };
	return 0;
}

/* The calls queued before this pass; those they queue wait for the next. */
static void run_defers(void)
{
	unsigned end = defer_tail;
	while (defer_head != end) {
		struct loop_call c = defers[defer_head++ % LOOP_MAX_DEFER];
		c.fn(c.arg);
	}
}

static void run_ticks(uint64_t now)
{
	for (int i = 0; i < LOOP_MAX_TICKS; i++) {
		struct loop_tick *t = &ticks[i];
		if (!t->fn || now < t->next_ms)
			continue;
		t->next_ms = now + (uint64_t)t->ms;
		t->fn(t->arg);
	}
}

static int next_timeout(int max_ms, uint64_t now)
{
	uint64_t due = now + (uint64_t)(max_ms < 0 ? 0 : max_ms);
	if (defer_head != defer_tail)
		return 0;
	if (proc_table && last_publish + PUBLISH_MAX_MS < due)
		due = last_publish + PUBLISH_MAX_MS;
	for (int i = 0; i < LOOP_MAX_TICKS; i++)
		if (ticks[i].fn && ticks[i].next_ms < due)
			due = ticks[i].next_ms;
	return due <= now ? 0 : (int)(due - now);
}

/* --- signals -------------------------------------------------------------- */

static void on_signal(int sig)
{
	int saved = errno;
	char b = (char)sig;
	if (sig == SIGTERM || sig == SIGINT)
		loop_quit = 1;
	else
		sigs[sig].hit = 1;
	if (wake_fd[1] >= 0)
		(void)!write(wake_fd[1], &b, 1);
	errno = saved;
}

/* A child stops when the main process tells it to (proc_stop_all) or when
 * the main process is gone.  A SIGTERM from elsewhere reaches every process
 * at once when someone signals the whole group (systemd's control-group
 * stop, `timeout`, kill -TERM -PGID): the child ignores it and lets the
 * main process stop the server in order, so no child's exit is taken for
 * a death and restarted in the meantime. */
static void on_child_term(int sig, siginfo_t *si, void *uc)
{
	pid_t main_pid = proc_table ? proc_table[PROC_MAIN].pid : 0;
	(void)uc;
	if (si->si_code == SI_USER && si->si_pid != main_pid &&
			getppid() == main_pid)
		return;
	on_signal(sig);
}

static void set_child_term(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_child_term;
	sa.sa_flags = SA_RESTART | SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
}

static void set_handler(int sig, void (*h)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h;
	sa.sa_flags = SA_RESTART | (sig == SIGCHLD ? SA_NOCLDSTOP : 0);
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void summary_signal(void *arg)
{
	(void)arg;
	if (!mem_summary)
		LM_NOTICE("SIGUSR1: nothing to dump (start with --mem-summary "
			"N to choose the dumps)");
	mem_summary_dump();
}

int loop_on_signal(int sig, loop_tick_fn fn, void *arg)
{
	if (sig <= 0 || sig >= NSIG || sig == SIGTERM || sig == SIGINT ||
			sig == SIGKILL || sig == SIGSTOP)
		return -1;
	sigs[sig].fn = fn;
	sigs[sig].arg = arg;
	sigs[sig].hit = 0;
	if (wake_fd[0] >= 0)
		set_handler(sig, fn ? on_signal : SIG_DFL);
	return 0;
}

static void open_wake_pipe(void)
{
	if (wake_fd[0] >= 0) {
		close(wake_fd[0]);
		close(wake_fd[1]);
	}
	if (pipe2(wake_fd, O_NONBLOCK | O_CLOEXEC) < 0) {
		LM_CRIT("no self-pipe for signals: %s", strerror(errno));
		wake_fd[0] = wake_fd[1] = -1;
	}
}

void loop_signals(void)
{
	open_wake_pipe();
	if (!sigs[SIGUSR1].fn)
		loop_on_signal(SIGUSR1, summary_signal, NULL);
	if (proc_index == PROC_MAIN || !proc_table)
		set_handler(SIGTERM, on_signal);
	else
		set_child_term();
	set_handler(SIGINT, proc_index == PROC_MAIN ? on_signal : SIG_IGN);
	set_handler(SIGPIPE, SIG_IGN);
	set_handler(SIGHUP, SIG_IGN);
	for (int s = 1; s < NSIG; s++)
		if (sigs[s].fn)
			set_handler(s, on_signal);
}

static void run_signals(void)
{
	char buf[64];
	if (wake_fd[0] >= 0)
		while (read(wake_fd[0], buf, sizeof(buf)) > 0)
			;
	for (int s = 1; s < NSIG; s++)
		if (sigs[s].hit && sigs[s].fn) {
			sigs[s].hit = 0;
			sigs[s].fn(sigs[s].arg);
		}
}

/* --- the pass ------------------------------------------------------------- */

static void dispatch(void)
{
	dispatching = 1;
	for (int i = 0; i < polled; i++) {
		short rev = pfds[i + 1].revents;
		if (!rev || fds[i].fd != pfds[i + 1].fd)
			continue;
		if (rev & POLLNVAL) {
			LM_ERR("fd %d was closed without loop_del(); dropped",
				fds[i].fd);
			loop_del(fds[i].fd);
			continue;
		}
		fds[i].fn(fds[i].fd, fds[i].arg);
	}
	dispatching = 0;
}

static void chores(uint64_t now)
{
	if (proc_table && now - last_publish >= PUBLISH_MIN_MS) {
		proc_publish_pkg();
		last_publish = now;
	}
	mem_summary_poll();
	if (proc_table && proc_index > 0 && getppid() != proc_table[0].pid &&
			!loop_quit) {
		LM_ERR("the main process is gone; exiting");
		loop_quit = 1;
	}
}

void loop_once(int max_ms)
{
	if (dirty)
		compact();
	pfds[0] = (struct pollfd){ .fd = wake_fd[0], .events = POLLIN };
	for (int i = 0; i < nfds; i++)
		pfds[i + 1] = (struct pollfd){ .fd = fds[i].fd, .events = POLLIN };
	polled = nfds;
	int n = poll(pfds, (nfds_t)polled + 1, next_timeout(max_ms, now_ms()));
	if (n < 0 && errno != EINTR)
		LM_ERR("poll: %s", strerror(errno));
	run_signals();
	if (loop_quit)
		return;
	if (n > 0)
		dispatch();
	run_defers();
	uint64_t now = now_ms();
	run_ticks(now);
	chores(now);
}

void loop_run(void)
{
	loop_stopped = 0;
	while (!loop_quit && !loop_stopped)
		loop_once(PUBLISH_MAX_MS);
}

void loop_stop(void)
{
	loop_stopped = 1;
}

void loop_reset(void)
{
	nfds = polled = dirty = 0;
	memset(ticks, 0, sizeof(ticks));
	defer_head = defer_tail = 0;
	last_publish = 0;
	loop_stopped = 0;
}
