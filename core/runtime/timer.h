/*
 * timer.h - periodic jobs, run by the timer process (rank PROC_TIMER) so
 * that no SIP worker stalls for them: expiry of registrations, the shm
 * cache reclaim, the published counters of the table.  Registered by the
 * modules before fork; each job runs at most every interval_ms.
 */
#ifndef SRP_TIMER_H
#define SRP_TIMER_H

#include <stdint.h>

typedef void (*timer_fn)(uint64_t now_ms, void *arg);

int timer_register(const char *name, unsigned interval_ms, timer_fn fn,
		void *arg);
/* The timer process's main function (added to the table by main.c). */
void timer_main(int index);

#endif /* SRP_TIMER_H */
