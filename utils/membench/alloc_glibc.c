/*
 * alloc_glibc.c - glibc's malloc for membench (the private-memory
 * baseline), with its defaults: no mallopt, no environment tuning.
 *
 * Accounting from mallinfo2(): real_used = uordblks + hblkhd (bytes in
 * in-use chunks, chunk headers included, plus mmapped chunks); free =
 * fordblks.  glibc keeps no peak and no largest-free figure: the peak is
 * sampled by the workload, the largest free block is not reported.
 */
#include <gnu/libc-version.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

static int glibc_init(const char *name, size_t size)
{
	(void)name;
	(void)size;
	return 0;
}

static void glibc_usage(struct bench_usage *u)
{
	struct mallinfo2 mi = mallinfo2();
	u->real_used = mi.uordblks + mi.hblkhd;
	u->peak_used = BENCH_UNKNOWN;
	u->free_total = mi.fordblks;
	u->free_largest = BENCH_UNKNOWN;
}

static const struct bench_alloc glibc_alloc = {
	.init = glibc_init,
	.malloc = malloc,
	.realloc = realloc,
	.free = free,
	.usage = glibc_usage,
	.used_src = "mallinfo2 uordblks+hblkhd, sampled",
	.free_src = "mallinfo2 fordblks",
};

static const char *glibc_version(void)
{
	static char v[64];
	snprintf(v, sizeof(v), "glibc %s", gnu_get_libc_version());
	return v;
}

static const char *const glibc_names[] = { "glibc", NULL };

const struct bench_family bench_family = {
	.names = glibc_names,
	.version = glibc_version,
	.priv = &glibc_alloc,
};
