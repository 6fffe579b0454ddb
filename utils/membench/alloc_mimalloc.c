/*
 * alloc_mimalloc.c - mimalloc for membench, linked (-lmimalloc), not
 * preloaded: Debian's libmimalloc overrides malloc/realloc/free, so the
 * plain names resolve to it; init() proves it with mi_is_in_heap_region.
 *
 * Accounting from mi_process_info(): real_used = current commit, peak =
 * peak commit (mimalloc's own exact peak).  This is committed memory,
 * free pages inside mimalloc's segments included: release builds of
 * mimalloc keep no live-bytes counter in the public API.  No free figures.
 */
#include <mimalloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

static int mi_init(const char *name, size_t size)
{
	(void)size;
	void *volatile p = malloc(1000);
	int ours = mi_is_in_heap_region(p);
	free(p);
	if (!ours) {
		fprintf(stderr, "membench: %s: malloc is not mimalloc's\n", name);
		return -1;
	}
	return 0;
}

static void mi_usage(struct bench_usage *u)
{
	size_t elapsed, user, sys, rss, peak_rss, commit, peak_commit, faults;
	mi_process_info(&elapsed, &user, &sys, &rss, &peak_rss, &commit,
			&peak_commit, &faults);
	u->real_used = commit;
	u->peak_used = peak_commit;
	u->free_total = BENCH_UNKNOWN;
	u->free_largest = BENCH_UNKNOWN;
}

static const struct bench_alloc mi_alloc = {
	.init = mi_init,
	.malloc = malloc,
	.realloc = realloc,
	.free = free,
	.usage = mi_usage,
	.used_src = "mi_process_info commit (free pages incl.), peak_commit",
	.free_src = "n/a",
};

static const char *mi_ver(void)
{
	static char v[64];
	int n = mi_version();
	snprintf(v, sizeof(v), "mimalloc %d.%d.%d", n / 100, n / 10 % 10,
		n % 10);
	return v;
}

static const char *const mi_names[] = { "mimalloc", NULL };

const struct bench_family bench_family = {
	.names = mi_names,
	.version = mi_ver,
	.priv = &mi_alloc,
};
