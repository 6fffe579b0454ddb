/*
 * timer.c - calibration of the W5 timer (see timer.h).
 */
#include <stdlib.h>

#include "bench.h"
#include "timer.h"

#define COST_SAMPLES 100001
#define CAL_NS 20e6

static double ns_per_tick(void)
{
	double n0 = now_ns(), n1;
	uint64_t c0 = timer_ticks();
	while ((n1 = now_ns()) - n0 < CAL_NS)
		;
	uint64_t c1 = timer_ticks();
	return (n1 - n0) / (double)(c1 - c0);
}

/* The smallest step between distinct readings: some TSCs (virtual
 * machines) advance in steps of tens of ticks. */
static uint64_t resolution(const uint64_t *sorted, size_t n)
{
	uint64_t step = 0;
	for (size_t i = 1; i < n; i++) {
		uint64_t d = sorted[i] - sorted[i - 1];
		if (d && (!step || d < step))
			step = d;
	}
	return step ? step : 1;
}

static uint64_t empty_window_cost(uint64_t *step)
{
	size_t size = COST_SAMPLES * sizeof(uint64_t);
	uint64_t *t = bench_map(size, 0);
	for (size_t i = 0; i < COST_SAMPLES; i++) {
		uint64_t t0 = timer_ticks();
		t[i] = timer_ticks() - t0;
	}
	qsort(t, COST_SAMPLES, sizeof(*t), bench_cmp_u64);
	uint64_t median = t[COST_SAMPLES / 2];
	*step = resolution(t, COST_SAMPLES);
	bench_unmap(t, size);
	return median;
}

void timer_calibrate(struct timer_cal *tc)
{
	tc->ns_per_tick = ns_per_tick();
	tc->cost_ticks = empty_window_cost(&tc->step_ticks);
	bench_info("timer", TIMER_SOURCE);
}
