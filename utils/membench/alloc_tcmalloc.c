/*
 * alloc_tcmalloc.c - tcmalloc (gperftools, the minimal library) for
 * membench, linked (-ltcmalloc_minimal), not preloaded: the library
 * provides malloc/realloc/free, so the plain names resolve to it; init()
 * proves it with MallocExtension_GetOwnership.
 *
 * Accounting through the C shim of MallocExtension: real_used =
 * generic.current_allocated_bytes (live allocations, size-class rounded);
 * free = page-heap free + central, transfer and thread cache free bytes.
 * The peak is sampled by the workload.
 */
#include <gperftools/malloc_extension_c.h>
#include <gperftools/tcmalloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

static uint64_t tc_prop(const char *name)
{
	size_t v;
	return MallocExtension_GetNumericProperty(name, &v) ? v : BENCH_UNKNOWN;
}

static int tc_init(const char *name, size_t size)
{
	(void)size;
	void *volatile p = malloc(1000);
	int ours = MallocExtension_GetOwnership(p) == MallocExtension_kOwned;
	free(p);
	if (!ours) {
		fprintf(stderr, "membench: %s: malloc is not tcmalloc's\n", name);
		return -1;
	}
	return 0;
}

static void tc_usage(struct bench_usage *u)
{
	static const char *const free_props[] = {
		"tcmalloc.pageheap_free_bytes",
		"tcmalloc.central_cache_free_bytes",
		"tcmalloc.transfer_cache_free_bytes",
		"tcmalloc.thread_cache_free_bytes",
	};
	u->real_used = tc_prop("generic.current_allocated_bytes");
	u->peak_used = BENCH_UNKNOWN;
	u->free_total = 0;
	for (size_t k = 0; k < sizeof(free_props) / sizeof(free_props[0]); k++) {
		uint64_t v = tc_prop(free_props[k]);
		u->free_total += v == BENCH_UNKNOWN ? 0 : v;
	}
	u->free_largest = BENCH_UNKNOWN;
}

static const struct bench_alloc tc_alloc = {
	.init = tc_init,
	.malloc = malloc,
	.realloc = realloc,
	.free = free,
	.usage = tc_usage,
	.used_src = "MallocExtension current_allocated_bytes, sampled",
	.free_src = "MallocExtension pageheap+central+transfer+thread free",
};

static const char *tc_ver(void)
{
	static char v[64];
	int major, minor;
	const char *patch;
	tc_version(&major, &minor, &patch);
	snprintf(v, sizeof(v), "tcmalloc %d.%d%s (gperftools, minimal)",
		major, minor, patch ? patch : "");
	return v;
}

static const char *const tc_names[] = { "tcmalloc", NULL };

const struct bench_family bench_family = {
	.names = tc_names,
	.version = tc_ver,
	.priv = &tc_alloc,
};
