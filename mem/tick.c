/*
 * tick.c - choosing the lock statistics' clock and converting its ticks
 * (tick.h has the reasons).  The TSC is used only when the kernel says it
 * is invariant; the conversion rate comes from two anchors (init, read), so
 * nothing here waits or spins.
 */
#include <stdio.h>
#include <string.h>

#include "tick.h"

int mem_tick_tsc;
static uint64_t anchor_tick, anchor_ns;
static int anchored;

#define CALIBRATE_MIN_NS 1000000u       /* 1 ms between the anchors */

/* Both flags on the first "flags" line of /proc/cpuinfo. */
static int tsc_invariant(void)
{
#if defined(__x86_64__)
	char line[4096];
	int ok = 0;
	FILE *f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "flags", 5)) {
			ok = strstr(line, " constant_tsc") &&
				strstr(line, " nonstop_tsc");
			break;
		}
	fclose(f);
	return ok;
#else
	return 0;
#endif
}

void mem_tick_init(void)
{
	if (anchored)
		return;
	mem_tick_tsc = tsc_invariant();
	anchor_ns = mem_tick_mono_ns();
	anchor_tick = mem_tick();
	anchored = 1;
}

uint64_t mem_tick_rate(void)
{
	if (!mem_tick_tsc)
		return (uint64_t)1 << 32;
	uint64_t ns = mem_tick_mono_ns(), t = mem_tick();
	if (!anchored || ns - anchor_ns < CALIBRATE_MIN_NS || t <= anchor_tick)
		return (uint64_t)1 << 32;       /* too soon: a nominal 1 GHz */
	return (uint64_t)((((unsigned __int128)(ns - anchor_ns)) << 32) /
		(t - anchor_tick));
}

const char *mem_tick_source(void)
{
	return mem_tick_tsc ? "tsc" : "monotonic";
}
