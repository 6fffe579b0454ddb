/*
 * proc.h - the process table and the life of child processes.
 *
 * The table lives in shm (allocated by the main process before the first
 * fork), so every process reads every entry; each entry is written by the
 * process it describes (its pkg counters) and by the main process (pid,
 * state), never by anyone else.
 *
 *   entry 0            main process (rank 0): forks, reaps, restarts
 *   entry 1..n         SIP workers (rank 1..n)
 *   then               timer (rank PROC_TIMER), RPC (rank PROC_RPC)
 *
 * pkg counters.  A process publishes pkg_info() into its entry after each
 * event it handles and at least once a second (proc_publish_pkg(), called by
 * the event loop), under a sequence counter: readers retry on a torn read,
 * nothing ever locks, and the allocation path is untouched.
 *
 * Children.  proc_spawn() forks a child that runs its entry's main function;
 * the main process's SIGCHLD handling (proc_reap(), from its loop) reaps at
 * once, logs the death with pid, rank and signal, reclaims the child's shm
 * cache (shm_cache_reclaim) and applies the restart policy: the same entry
 * is forked again, unless it died more than cfg.restart_max times within
 * cfg.restart_window seconds, in which case the server stops.
 */
#ifndef SRP_PROC_H
#define SRP_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROC_MAX 128
#define PROC_MAIN 0
#define PROC_TIMER (-1)
#define PROC_RPC (-2)

enum proc_state { PROC_FREE, PROC_STARTING, PROC_RUNNING, PROC_DEAD };

/* What a process last published of its pkg pool (struct mem_info's
 * fields, plus when). */
struct proc_pkg {
	uint64_t total_size, free_size, used_size, real_used, max_used;
	uint64_t total_frags;
	uint64_t stamp_ms;              /* CLOCK_MONOTONIC ms of the copy */
};
/* Copied word by word under the entry's sequence counter. */
_Static_assert(sizeof(struct proc_pkg) == 7 * sizeof(uint64_t),
	"struct proc_pkg is made of 64-bit words only");

struct proc_entry {
	volatile int32_t pid;           /* 0: no process now */
	int32_t rank;
	volatile int32_t state;         /* enum proc_state */
	uint32_t restarts;              /* times this entry was forked again */
	char desc[64];                  /* "sip worker #1", "timer", ... */
	uint64_t started_ms;            /* CLOCK_MONOTONIC at fork */
	volatile uint32_t seq;          /* odd while pkg is being written */
	struct proc_pkg pkg;
	/* deaths in the current restart window, for the policy */
	uint64_t window_start_ms;
	uint32_t window_deaths;
};

typedef void (*proc_main_fn)(int index);

extern struct proc_entry *proc_table;  /* PROC_MAX entries, in shm */
extern int proc_count;                 /* entries in use */
extern int proc_index;                 /* this process's entry */

/* Make the table (main process, after shm_init, before any fork); entry 0
 * becomes the calling process. */
int proc_table_init(void);
/* Add an entry (before the children start); returns its index or -1. */
int proc_add(int rank, const char *desc, proc_main_fn fn);
/* Fork every entry but 0.  Returns 0, or -1 if a fork failed. */
int proc_start_all(void);
/* Main process: reap every child that has exited (non-blocking), log it,
 * reclaim its cache and restart it per the policy.  Returns -1 when the
 * policy says stop, else the number of children reaped. */
int proc_reap(void);
/* Main process: reap from the event loop (a SIGCHLD hook); when the
 * policy says stop, set proc_policy_stop and end loop_run(). */
int proc_watch(void);
extern int proc_policy_stop;
/* Main process: SIGTERM every child, wait up to timeout_ms, SIGKILL the
 * rest, reap them all (no restarts from then on). */
void proc_stop_all(int timeout_ms);
/* Copy this process's pkg_info() into its entry. */
void proc_publish_pkg(void);
/* A consistent copy of entry i's pkg counters: retries a torn read, a
 * bounded number of times (a writer killed in the middle leaves its
 * sequence odd).  0, or -1 with *out zeroed. */
int proc_read_pkg(int i, struct proc_pkg *out);
/* "killed by signal 9 (SIGKILL)", "exited with status 1" for a waitpid()
 * status. */
const char *proc_status_str(int status, char *buf, size_t len);
/* Entry of a pid, or -1. */
int proc_find_pid(pid_t pid);
/* CLOCK_MONOTONIC in ms. */
uint64_t now_ms(void);

#endif /* SRP_PROC_H */
