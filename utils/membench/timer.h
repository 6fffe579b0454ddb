/*
 * timer.h - per-operation timing for W5.
 *
 * On x86-64 the timer is the TSC (rdtsc fenced by lfence on both sides so
 * the timed op cannot leak out of the window), calibrated against
 * CLOCK_MONOTONIC over 20 ms; elsewhere it is CLOCK_MONOTONIC itself.
 * The timer's own cost, the median of 100,000 empty windows, is taken
 * off every sample (clamped at zero).
 */
#ifndef MEMBENCH_TIMER_H
#define MEMBENCH_TIMER_H

#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define TIMER_SOURCE "rdtsc calibrated against CLOCK_MONOTONIC"
static inline uint64_t timer_ticks(void)
{
	_mm_lfence();
	uint64_t t = __rdtsc();
	_mm_lfence();
	return t;
}
#else
#define TIMER_SOURCE "CLOCK_MONOTONIC"
static inline uint64_t timer_ticks(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif

struct timer_cal {
	double ns_per_tick;
	uint64_t cost_ticks;    /* median cost of one empty window */
	uint64_t step_ticks;    /* resolution: smallest step seen */
};

void timer_calibrate(struct timer_cal *tc);

/* A sample in ns, the timer's cost taken off. */
static inline double timer_ns(const struct timer_cal *tc, uint64_t ticks)
{
	uint64_t t = ticks > tc->cost_ticks ? ticks - tc->cost_ticks : 0;
	return (double)t * tc->ns_per_tick;
}

#endif /* MEMBENCH_TIMER_H */
