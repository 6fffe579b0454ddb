/*
 * loop.h - the event loop every process runs: poll(2) over the fds that
 * the runtime and the modules registered, a tick at least every second,
 * and the chores of a well-behaved child on every wake:
 *   - publish this process's pkg counters (proc_publish_pkg), at most every
 *     100 ms and at least every second;
 *   - the mem_summary SIGUSR1 dump (mem_summary_poll);
 *   - SIGTERM/SIGINT: return from loop_run() so the process exits cleanly;
 *   - the main process gone (PR_SET_PDEATHSIG): exit.
 * One thread, no locks; callbacks must not block for long (the RPC's own
 * bound is in rpc/).
 */
#ifndef SRP_LOOP_H
#define SRP_LOOP_H

#include <signal.h>

typedef void (*loop_fd_fn)(int fd, void *arg);
typedef void (*loop_tick_fn)(void *arg);

#define LOOP_MAX_FDS 1100

/* Call fn(fd, arg) whenever fd is readable.  0, or -1 when full. */
int loop_add(int fd, loop_fd_fn fn, void *arg);
void loop_del(int fd);
/* Call fn(arg) at least every ms milliseconds (one tick per loop). */
void loop_set_tick(loop_tick_fn fn, void *arg, int ms);
/* Run fn(arg) once, from the loop, after the current callback returns
 * (an IPC handler that must answer before it does something long). */
int loop_defer(loop_tick_fn fn, void *arg);
/* Run until SIGTERM/SIGINT or loop_stop(). */
void loop_run(void);
void loop_stop(void);
/* Install the handlers the loop relies on (SIGTERM, SIGINT, SIGPIPE
 * ignored, SIGUSR1 via mem_summary); called in every child and in main. */
void loop_signals(void);

extern volatile sig_atomic_t loop_quit;

#endif /* SRP_LOOP_H */
