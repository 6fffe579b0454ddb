/*
 * cmd_lock.c - `srmemctl lock`: the shm lock's statistics (shm.lock) as a
 * summary line and a table with one row per process and the totals last.
 * Times are the server's nanoseconds in human units; "hold" is the
 * estimate of the total hold (sampled holds scaled to every acquisition,
 * doc/MONITORING.md), "wait" counts contended acquisitions only.
 */
#include "srmemctl.h"
#include "table.h"

#include <stdio.h>

static void lock_row(struct table *t, const json_t *r, const char *pid,
		const char *rank, const char *desc)
{
	char a[FMT_LEN], b[FMT_LEN], h[FMT_LEN], m[FMT_LEN];

	tbl_row(t);
	tbl_add(t, "%s", pid);
	tbl_add(t, "%s", rank);
	tbl_add(t, "%lld", jint(r, "acquired"));
	tbl_add(t, "%lld", jint(r, "contended"));
	tbl_add(t, "%.2f%%", pct_of(jint(r, "contended"), jint(r, "acquired")));
	tbl_add(t, "%lld", jint(r, "sleeps"));
	tbl_add(t, "%s", fmt_ns(a, sizeof(a), jint(r, "wait_ns")));
	tbl_add(t, "%s", fmt_ns(b, sizeof(b), jint(r, "wait_max_ns")));
	tbl_add(t, "%s", fmt_ns(h, sizeof(h), jint(r, "hold_ns")));
	tbl_add(t, "%s", fmt_ns(m, sizeof(m), jint(r, "hold_max_ns")));
	tbl_add(t, "%lld", jint(r, "takeovers"));
	tbl_add(t, "%s", desc);
}

static void lock_cols(struct table *t)
{
	static const char *const right[] = { "pid", "rank", "acquired",
		"contended", "%", "sleeps", "wait", "wait max", "hold~",
		"hold max", "takeovers", NULL };

	for (int k = 0; right[k]; k++)
		tbl_col(t, right[k], TBL_R);
	tbl_col(t, "desc", TBL_L);
}

static void lock_header(const json_t *r)
{
	char w[FMT_LEN], h[FMT_LEN], k[FMT_LEN];

	printf("shm lock: %lld acquisitions, %lld contended (%.2f%%), "
		"%lld sleeps; waited %s, held ~%s; %lld takeovers (%s)\n",
		jint(r, "acquired"), jint(r, "contended"),
		pct_of(jint(r, "contended"), jint(r, "acquired")), jint(r, "sleeps"),
		fmt_ns(w, sizeof(w), jint(r, "wait_ns")),
		fmt_ns(h, sizeof(h), jint(r, "hold_ns")), jint(r, "takeovers"),
		fmt_ns(k, sizeof(k), jint(r, "takeover_ns")));
	if (jint(r, "owner"))
		printf("held now by pid %lld; ", jint(r, "owner"));
	else
		printf("free now; ");
	printf("clock %s, hold timed on 1 acquisition in %lld\n",
		jstr_or(r, "clock", "?"), jint(r, "hold_sample"));
}

static int show_lock(struct ctl *c, json_t *r)
{
	const json_t *p, *rank;
	struct table *t = tbl_new();
	char pid[24], rk[24];
	size_t i;

	(void)c;
	lock_header(r);
	lock_cols(t);
	json_array_foreach(json_object_get(r, "processes"), i, p) {
		snprintf(pid, sizeof(pid), "%lld", jint(p, "pid"));
		rank = json_object_get(p, "rank");
		if (json_is_integer(rank))
			snprintf(rk, sizeof(rk), "%lld", jint(p, "rank"));
		else
			snprintf(rk, sizeof(rk), "-");
		lock_row(t, p, pid, rk, jstr_or(p, "desc", "-"));
	}
	lock_row(t, r, "all", "", "(totals, exited processes included)");
	tbl_print(t, stdout);
	tbl_free(t);
	return EXIT_OK;
}

int cmd_lock(struct ctl *c)
{
	return ctl_show(c, "shm.lock", NULL, show_lock);
}
