/*
 * timer.h - periodic jobs, run by the timer process (rank PROC_TIMER) so
 * that no SIP worker stalls for them: expiry of registrations, the shm
 * cache reclaim, the published counters of the table.  Registered by the
 * modules before fork; each job runs at most every interval_ms, with
 * 10 ms resolution; fn gets the CLOCK_MONOTONIC time in ms.  0, or -1
 * (table of 32 full, no fn, interval 0).
 */
#ifndef SRP_TIMER_H
#define SRP_TIMER_H

#include <stdint.h>

typedef void (*timer_fn)(uint64_t now_ms, void *arg);

int timer_register(const char *name, unsigned interval_ms, timer_fn fn,
		void *arg);
/* Run the jobs that are due now (the timer process does, every 10 ms). */
void timer_run_due(void);
/* The timer process's main function (added to the table by main.c). */
void timer_main(int index);

#endif /* SRP_TIMER_H */
