/*
 * tick.h - a cheap clock for the lock statistics (lockstat.c, lock.c).
 *
 * The shm lock times its contended waits, one acquisition in
 * LOCKSTAT_HOLD_SAMPLE of its holds, and its takeovers.  Reading the clock
 * sits inside the locked section (a hold sample), so it must be cheap:
 * on x86-64 with an invariant TSC (cpuinfo flags constant_tsc and
 * nonstop_tsc, one rate on every CPU, also across sleep states) a tick is
 * one rdtsc, about 19 ns on the measuring host against 45 ns for
 * clock_gettime(CLOCK_MONOTONIC) through the vDSO (doc/PERFORMANCE.md);
 * elsewhere a tick is a nanosecond of CLOCK_MONOTONIC.
 *
 * Ticks are stored raw and turned into nanoseconds only when read.  The
 * rate is calibrated against CLOCK_MONOTONIC between two anchors: one taken
 * at mem_tick_init() (shm_init, before fork: every process inherits it) and
 * one taken at the read, so there is no calibration delay at start-up and
 * the rate gets more exact the longer the server runs (under 1 % after
 * 10 ms; a read sooner than 1 ms after the start uses a nominal 1 GHz).
 */
#ifndef SRMEM_TICK_H
#define SRMEM_TICK_H

#include <stdint.h>
#include <time.h>

extern int mem_tick_tsc;        /* 1: ticks are TSC cycles */

static inline uint64_t mem_tick_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mem_tick(void)
{
#if defined(__x86_64__)
	if (__builtin_expect(mem_tick_tsc, 1))
		return __builtin_ia32_rdtsc();
#endif
	return mem_tick_mono_ns();
}

/* Choose the clock and take the first anchor (idempotent). */
void mem_tick_init(void);
/* Nanoseconds per tick * 2^32 for conversions now. */
uint64_t mem_tick_rate(void);
/* ticks -> ns with a rate from mem_tick_rate(). */
static inline uint64_t mem_tick_ns(uint64_t ticks, uint64_t rate)
{
	return (uint64_t)(((unsigned __int128)ticks * rate) >> 32);
}
/* "tsc" or "monotonic". */
const char *mem_tick_source(void);

#endif /* SRMEM_TICK_H */
