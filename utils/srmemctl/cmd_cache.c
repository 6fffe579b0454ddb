/*
 * cmd_cache.c - `srmemctl cache`: the per-process shm caches at a glance
 * (shm.stats "cache"): what they hold now against their budget, and what
 * they traded with the heap since start-up ("flow", doc/RPC.md).  A table
 * with one row per way in or out of the caches, its fragments, its share
 * of the fragments that came in (or went out) and what it means: a
 * server whose caches work takes nearly everything through the depot,
 * and a growing "drains" says the shm pool is too small for them.
 */
#include "srmemctl.h"
#include "table.h"

#include <stdio.h>

static void flow_row(struct table *t, const char *way, long long n,
		long long whole, const char *what)
{
	tbl_row(t);
	tbl_add(t, "%s", way);
	tbl_add(t, "%lld", n);
	if (whole >= 0)
		tbl_add(t, "%.1f%%", pct_of(n, whole));
	else
		tbl_add(t, "%s", "");
	tbl_add(t, "%s", what);
}

static int show_cache(struct ctl *c, json_t *r)
{
	const json_t *k = json_object_get(r, "cache");
	const json_t *f = json_object_get(k, "flow");
	char lim[FMT_LEN], held[FMT_LEN];
	long long in, out;
	struct table *t;

	(void)c;
	if (!jint(k, "limit")) {
		printf("shm caches: off (srproxy --shm-cache 0, or a build "
			"without them)\n");
		return EXIT_OK;
	}
	printf("shm caches: %s per process; parked now %s in %lld fragments; "
		"%lld refills under the heap lock\n",
		fmt_bytes(lim, sizeof(lim), jint(k, "limit")),
		fmt_bytes(held, sizeof(held), jint(k, "bytes")),
		jint(k, "blocks"), jint(f, "refills"));
	in = jint(f, "from_depot") + jint(f, "cut");
	out = jint(f, "to_depot") + jint(f, "to_heap");
	t = tbl_new();
	tbl_col(t, "way", TBL_L);
	tbl_col(t, "fragments", TBL_R);
	tbl_col(t, "%", TBL_R);
	tbl_col(t, "", TBL_L);
	flow_row(t, "from depot", jint(f, "from_depot"), in,
		"refills: whole chains another cache gave back");
	flow_row(t, "cut", jint(f, "cut"), in, "refills: cut from the heap");
	flow_row(t, "to depot", jint(f, "to_depot"), out,
		"given back in chains, for any refill");
	flow_row(t, "to heap", jint(f, "to_heap"), out,
		"given back to the heap one by one");
	flow_row(t, "reclaimed", jint(f, "reclaimed"), -1,
		"taken back from dead processes");
	tbl_print(t, stdout);
	tbl_free(t);
	printf("%lld chains to the depot; %lld times over a budget; %lld "
		"drains (requests that emptied every cache first)\n",
		jint(f, "chains"), jint(f, "over_budget"), jint(f, "drains"));
	return EXIT_OK;
}

int cmd_cache(struct ctl *c)
{
	return ctl_show(c, "shm.stats", NULL, show_cache);
}
