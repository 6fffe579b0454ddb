/*
 * loop.h - the event loop every process runs: poll(2) over the fds that
 * the runtime and the modules registered, ticks, and the chores of a
 * well-behaved child on every wake:
 *   - publish this process's pkg counters (proc_publish_pkg), at most every
 *     100 ms and at least every second;
 *   - SIGUSR1: the mem_summary dump (mem_summary_dump);
 *   - SIGTERM/SIGINT: return from loop_run() so the process exits cleanly;
 *   - the main process gone (PR_SET_PDEATHSIG, or a changed parent): quit.
 * Signals reach the loop through one self-pipe: a handler only sets a flag
 * and writes a byte, the loop runs the work (loop_on_signal) at its next
 * wake, outside the handler.  One thread, no locks; callbacks must not
 * block for long (the RPC's own bound is in rpc/).
 */
#ifndef SRP_LOOP_H
#define SRP_LOOP_H

#include <signal.h>

typedef void (*loop_fd_fn)(int fd, void *arg);
typedef void (*loop_tick_fn)(void *arg);

#define LOOP_MAX_FDS 1100
#define LOOP_MAX_TICKS 16
#define LOOP_MAX_DEFER 256

/* Call fn(fd, arg) whenever fd is readable (or hung up, or in error).
 * 0, or -1 when full or fd is already there. */
int loop_add(int fd, loop_fd_fn fn, void *arg);
/* Stop watching fd (safe from any callback; the caller closes fd). */
void loop_del(int fd);
/* Call fn(arg) about every ms milliseconds (not before).  Several ticks may
 * be set; the same fn and arg again changes the interval, ms <= 0 removes
 * it.  0, or -1 when full. */
int loop_set_tick(loop_tick_fn fn, void *arg, int ms);
/* Run fn(arg) once, from the loop, after the current callback returns
 * (an IPC handler that must answer before it does something long).
 * 0, or -1 when the queue is full. */
int loop_defer(loop_tick_fn fn, void *arg);
/* Run until SIGTERM/SIGINT or loop_stop(). */
void loop_run(void);
void loop_stop(void);
/* One pass: wait up to max_ms for events (or less, for a tick), run what is
 * due.  loop_run() is this in a loop; tests drive it by hand. */
void loop_once(int max_ms);
/* Install the handlers the loop relies on: SIGTERM (and SIGINT in the main
 * process; children ignore it, so a Ctrl-C reaches them through the main
 * process's orderly stop), SIGUSR1 (summary), SIGPIPE and SIGHUP ignored,
 * and those of loop_on_signal().  Called in main and in every child after
 * fork (it makes a fresh self-pipe). */
void loop_signals(void);
/* At signal sig run fn(arg) from the loop (fn NULL: back to the default
 * disposition).  Before loop_signals() or after it. */
int loop_on_signal(int sig, loop_tick_fn fn, void *arg);
/* A forked child forgets its parent's fds, ticks and deferred calls (not
 * its signal hooks); the runtime calls it before the child's init. */
void loop_reset(void);

extern volatile sig_atomic_t loop_quit;

#endif /* SRP_LOOP_H */
