/*
 * cmd_top.c - `top`: a refreshing view of where memory goes, every
 * --interval seconds (default 2) until interrupted, or --count frames.
 *
 * A frame is: the shm line of `watch` (and the alarm state, when the
 * server reports one), every process's pkg usage with its change since
 * the last frame, the --top call sites holding most shm (default 10), and
 * the shm lock's figures with their change, when the server has shm.lock
 * (asked once, from system.listMethods).  Calls per frame: core.shmmem
 * and pkg.stats (published counters), shm.summary (one chunked scan, the
 * lock held a chunk at a time) and shm.lock (counters).
 *
 * Drawing is plain ANSI, as `watch` does it: on a terminal each frame
 * clears the screen ("home + erase") and redraws; to a pipe or a file the
 * frames follow one another without escape codes.  --json prints one
 * object per frame: {frame, time, shm, pkg, sites, lock}.
 *
 * The lock's and alarms' shapes belong to other methods (doc/RPC.md):
 * top prints shm.lock's documented counters with their change this frame
 * (and, for a reply without them, every integer field, one level into
 * objects), and any "alarm" field of core.shmmem and of pkg.stats rows as
 * given, so a field added there shows here unchanged.
 */
#include "srmemctl.h"
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOP_INTERVAL 2.0
#define TOP_SITES 10

struct top {
	long long n, count, sites;      /* frame, of count (0: no end) */
	double every;
	int has_lock;
	json_t *cur[4], *prev[4];       /* shmmem, pkg, summary, lock */
};

enum { T_SHM, T_PKG, T_SUM, T_LOCK, T_N };

static const char *const methods[T_N] = { "core.shmmem", "pkg.stats",
	"shm.summary", "shm.lock" };

/* --- one frame's calls -------------------------------------------------------- */

static int fetch(struct ctl *c, struct top *t)
{
	for (int k = 0; k < T_N; k++) {
		int rc;
		t->cur[k] = NULL;
		if (k == T_LOCK && !t->has_lock)
			continue;
		if ((rc = ctl_call(c, methods[k], NULL, &t->cur[k]))) {
			for (int j = 0; j < k; j++)
				json_decref(t->cur[j]);
			return rc;
		}
	}
	return EXIT_OK;
}

static void keep(struct top *t)
{
	for (int k = 0; k < T_N; k++) {
		json_decref(t->prev[k]);
		t->prev[k] = t->cur[k];
		t->cur[k] = NULL;
	}
}

/* --- text --------------------------------------------------------------------- */

/* An "alarm" field as given: a string, or compact JSON.  quiet: leave
 * out the values that say there is none (pkg rows: one per process). */
static void alarm_text(const char *who, const json_t *o, int quiet)
{
	static const char *const none[] = { "ok", "none", "off", "" };
	const json_t *a = json_object_get(o, "alarm");
	char *s;
	if (!a || json_is_null(a) || (quiet && json_is_false(a)))
		return;
	for (size_t i = 0; quiet && json_is_string(a) && i < 4; i++)
		if (!strcmp(json_string_value(a), none[i]))
			return;
	s = json_is_string(a) ? NULL : json_dumps(a, JSON_COMPACT |
		JSON_ENCODE_ANY);
	printf("alarm %s: %s\n", who, s ? s : json_string_value(a));
	free(s);
}

static void alarms(const struct top *t)
{
	const json_t *p;
	size_t i;
	char who[64];
	alarm_text("shm", t->cur[T_SHM], 0);
	json_array_foreach(t->cur[T_PKG], i, p) {
		snprintf(who, sizeof(who), "pkg of pid %lld", jint(p, "pid"));
		alarm_text(who, p, 1);
	}
}

static void sites(const struct top *t)
{
	const json_t *s, *list = json_object_get(t->cur[T_SUM], "sites");
	struct table *tb = tbl_new();
	char h[FMT_LEN], site[512];
	size_t i;
	printf("\ntop call sites, shm (%zu in all, largest first):\n",
		json_array_size(list));
	tbl_col(tb, "size", TBL_R);
	tbl_col(tb, "count", TBL_R);
	tbl_col(tb, "module", TBL_L);
	tbl_col(tb, "call site", TBL_L);
	json_array_foreach(list, i, s) {
		if ((long long)i >= t->sites)
			break;
		tbl_row(tb);
		tbl_add(tb, "%s", fmt_bytes(h, sizeof(h), jint(s, "size")));
		tbl_add(tb, "%lld", jint(s, "count"));
		tbl_add(tb, "%s", jstr_or(s, "module", "-"));
		tbl_add(tb, "%s", jsite(s, site, sizeof(site)));
	}
	tbl_print(tb, stdout);
	tbl_free(tb);
}

/* "key N (+d)" for every integer of o, one level into objects. */
static int lock_fields(const char *pfx, const json_t *o, const json_t *old,
		int n)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o, k, v) {
		if (json_is_object(v) && !*pfx) {
			n = lock_fields(k, v, json_object_get(old, k), n);
			continue;
		}
		if (!json_is_integer(v))
			continue;
		printf("%s%s%s%s %lld", n++ ? ", " : "", pfx, *pfx ? "." : "",
			k, jint(o, k));
		if (old && jint(o, k) != jint(old, k))
			printf(" (%+lld)", jint(o, k) - jint(old, k));
	}
	return n;
}

/* "N (+d)": a counter and its change since the last frame. */
static void counter(const char *name, const json_t *o, const json_t *old)
{
	printf("%s %lld", name, jint(o, name));
	if (old)
		printf(" (%+lld)", jint(o, name) - jint(old, name));
}

/* shm.lock's documented fields (doc/RPC.md): what moved this frame. */
static void lock_known(const json_t *o, const json_t *old)
{
	char w[FMT_LEN], h[FMT_LEN], wm[FMT_LEN], hm[FMT_LEN];
	long long acq = jint(o, "acquired") - jint(old, "acquired");
	long long con = jint(o, "contended") - jint(old, "contended");
	counter("acquired", o, old);
	printf(", ");
	counter("contended", o, old);
	if (old && acq > 0)
		printf(" %.2f%% of this frame's", pct_of(con, acq));
	printf(", ");
	counter("sleeps", o, old);
	printf(", ");
	counter("takeovers", o, old);
	printf("\n      waited %s (longest %s), held ~%s (longest %s), %s\n",
		fmt_ns(w, sizeof(w), jint(o, "wait_ns")),
		fmt_ns(wm, sizeof(wm), jint(o, "wait_max_ns")),
		fmt_ns(h, sizeof(h), jint(o, "hold_ns")),
		fmt_ns(hm, sizeof(hm), jint(o, "hold_max_ns")),
		jint(o, "owner") ? "held now" : "free now");
}

static void lock_line(const struct top *t)
{
	if (!t->has_lock)
		return;
	printf("\nlock: ");
	if (json_is_integer(json_object_get(t->cur[T_LOCK], "acquired")))
		lock_known(t->cur[T_LOCK], t->prev[T_LOCK]);
	else if (!lock_fields("", t->cur[T_LOCK], t->prev[T_LOCK], 0))
		printf("(no counters in shm.lock's reply)\n");
	else
		putchar('\n');
}

static void frame_text(const struct top *t)
{
	json_t *none = json_array();
	watch_frame_head("top", t->n, t->count, t->every);
	watch_shm_line(t->cur[T_SHM], t->prev[T_SHM]);
	alarms(t);
	pkg_table(t->cur[T_PKG], t->prev[T_PKG] ? t->prev[T_PKG] : none);
	sites(t);
	lock_line(t);
	json_decref(none);
}

static void frame_json(const struct top *t)
{
	json_t *o = json_pack("{s:I, s:I, s:O, s:O, s:O, s:O?}", "frame",
		(json_int_t)t->n, "time", (json_int_t)time(NULL),
		"shm", t->cur[T_SHM], "pkg", t->cur[T_PKG],
		"sites", json_object_get(t->cur[T_SUM], "sites"),
		"lock", t->cur[T_LOCK]);
	json_print(o);
	json_decref(o);
}

/* --- the command -------------------------------------------------------------- */

int cmd_top(struct ctl *c)
{
	struct top t = { .n = 0 };
	int rc;
	if (ctl_opt_secs(c, "--interval", TOP_INTERVAL, &t.every) ||
	    ctl_opt_long(c, "--count", 0, &t.count) ||
	    ctl_opt_long(c, "--top", TOP_SITES, &t.sites))
		return EXIT_USAGE;
	if ((t.has_lock = ctl_has_method(c, "shm.lock", &rc)) < 0)
		return rc;
	for (t.n = 1, rc = EXIT_OK; !rc && (!t.count || t.n <= t.count); t.n++) {
		if (t.n > 1)
			ctl_sleep(t.every);
		if ((rc = fetch(c, &t)))
			break;
		if (c->json)
			frame_json(&t);
		else
			frame_text(&t);
		fflush(stdout);
		keep(&t);
	}
	for (int k = 0; k < T_N; k++)
		json_decref(t.prev[k]);
	return rc;
}
