/*
 * alloc_jemalloc.c - jemalloc for membench, linked (-ljemalloc), not
 * preloaded: Debian's libjemalloc provides malloc/realloc/free itself,
 * so the plain names resolve to it; init() proves it by watching
 * thread.allocated grow across one malloc.
 *
 * Accounting from mallctl after an "epoch" refresh: real_used =
 * stats.allocated (bytes in live allocations, size-class rounded; its
 * metadata is separate); free = stats.active - stats.allocated (free
 * slots inside active pages).  The peak is sampled by the workload.
 */
#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

static uint64_t je_u64(const char *name)
{
	uint64_t v = 0;
	size_t sz = sizeof(v);
	return mallctl(name, &v, &sz, NULL, 0) ? BENCH_UNKNOWN : v;
}

static size_t je_size(const char *name)
{
	size_t v = 0, sz = sizeof(v);
	return mallctl(name, &v, &sz, NULL, 0) ? (size_t)-1 : v;
}

static int je_init(const char *name, size_t size)
{
	(void)size;
	uint64_t before = je_u64("thread.allocated");
	void *volatile p = malloc(1000);
	uint64_t after = je_u64("thread.allocated");
	free(p);
	if (before == BENCH_UNKNOWN || after <= before) {
		fprintf(stderr, "membench: %s: malloc is not jemalloc's\n", name);
		return -1;
	}
	return 0;
}

static void je_usage(struct bench_usage *u)
{
	uint64_t epoch = 1;
	size_t sz = sizeof(epoch);
	mallctl("epoch", &epoch, &sz, &epoch, sz);
	size_t allocated = je_size("stats.allocated");
	size_t active = je_size("stats.active");
	u->real_used = allocated == (size_t)-1 ? BENCH_UNKNOWN : allocated;
	u->peak_used = BENCH_UNKNOWN;
	u->free_total = allocated == (size_t)-1 || active == (size_t)-1 ?
		BENCH_UNKNOWN : active - allocated;
	u->free_largest = BENCH_UNKNOWN;
}

static const struct bench_alloc je_alloc = {
	.init = je_init,
	.malloc = malloc,
	.realloc = realloc,
	.free = free,
	.usage = je_usage,
	.used_src = "mallctl stats.allocated, sampled",
	.free_src = "mallctl stats.active - stats.allocated",
};

static const char *je_version(void)
{
	static char v[96];
	const char *ver = "?";
	size_t sz = sizeof(ver);
	mallctl("version", &ver, &sz, NULL, 0);
	snprintf(v, sizeof(v), "jemalloc %s", ver);
	return v;
}

static const char *const je_names[] = { "jemalloc", NULL };

const struct bench_family bench_family = {
	.names = je_names,
	.version = je_version,
	.priv = &je_alloc,
};
