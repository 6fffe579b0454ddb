/*
 * cmd_leaks.c - the leak hunt in one command: two summaries of one pool
 * (shm.summary, or pkg.summary of one process) --interval seconds apart,
 * and the call sites whose fragment count and bytes both grew between
 * them, largest growth in bytes first.
 *
 * Sites are matched on (file, func, line, module) through a hash of the
 * first summary (a JSON object keyed by the four joined), so the diff is
 * linear in the number of sites.  A site seen only in the second summary
 * grew from 0.  Growth is in bytes asked for (the summary's "size"),
 * exact, because a leak of 40 bytes per request is what one looks for.
 * In a MEMDBG=0 build the server knows no call sites: every fragment is
 * one "(no call site)" entry, and its growth is still shown.
 */
#include "srmemctl.h"
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEAKS_INTERVAL 10.0
#define LEAKS_TOP 20

static void site_key(const json_t *s, char *buf, size_t size)
{
	snprintf(buf, size, "%s\x1f%s\x1f%lld\x1f%s", jstr_or(s, "file", ""),
			jstr_or(s, "func", ""), jint(s, "line"),
			jstr_or(s, "module", ""));
}

static json_t *index_sites(const json_t *summary)
{
	json_t *idx = json_object();
	const json_t *s;
	char key[1024];
	size_t i;

	json_array_foreach(json_object_get(summary, "sites"), i, s) {
		site_key(s, key, sizeof(key));
		json_object_set(idx, key, (json_t *)s);
	}
	return idx;
}

/* One grown site, or NULL when count or bytes did not grow. */
static json_t *growth(const json_t *old, const json_t *now)
{
	long long c0 = jint(old, "count"), c1 = jint(now, "count");
	long long b0 = jint(old, "size"), b1 = jint(now, "size");
	static const char *const names[] = { "file", "func", "line", "module",
		NULL };
	json_t *g;

	if (c1 <= c0 || b1 <= b0)
		return NULL;
	g = json_pack("{s:I, s:I, s:I, s:I, s:I}", "count_before", c0,
			"count_after", c1, "bytes_before", b0, "bytes_after", b1,
			"growth", b1 - b0);
	for (int i = 0; names[i]; i++) {
		json_t *v = json_object_get(now, names[i]);
		json_object_set(g, names[i], v ? v : json_null());
	}
	return g;
}

static int by_growth(const void *a, const void *b)
{
	long long ga = jint(*(json_t *const *)a, "growth");
	long long gb = jint(*(json_t *const *)b, "growth");

	return ga < gb ? 1 : ga > gb ? -1 : 0;
}

/* The grown sites of after against before, largest growth first. */
static json_t *diff(const json_t *before, const json_t *after)
{
	json_t *idx = index_sites(before), *out = json_array(), *g;
	const json_t *s;
	size_t i, n = 0;
	char key[1024];
	json_t **v;

	json_array_foreach(json_object_get(after, "sites"), i, s) {
		site_key(s, key, sizeof(key));
		if ((g = growth(json_object_get(idx, key), s)))
			json_array_append_new(out, g);
	}
	json_decref(idx);
	v = calloc(json_array_size(out) + 1, sizeof(*v));
	json_array_foreach(out, i, g)
		v[n++] = json_incref(g);
	qsort(v, n, sizeof(*v), by_growth);
	json_array_clear(out);
	for (i = 0; i < n; i++)
		json_array_append_new(out, v[i]);
	free(v);
	return out;
}

static json_t *totals(const json_t *summary)
{
	return json_pack("{s:I, s:I}", "count", jint(summary, "count"),
			"bytes", jint(summary, "bytes"));
}

static json_t *verdict(const char *pool, double every, const json_t *b,
		const json_t *a)
{
	json_t *v = json_pack("{s:s, s:f, s:b, s:o, s:o, s:o}", "pool", pool,
			"interval", every, "sites_known",
			!json_is_false(json_object_get(a, "sites_known")),
			"before", totals(b), "after", totals(a),
			"grew", diff(b, a));

	if (!strcmp(pool, "pkg"))
		json_object_set_new(v, "pid", json_integer(jint(a, "pid")));
	return v;
}

static void grown_row(struct table *t, const json_t *g)
{
	char h[FMT_LEN], site[512];

	tbl_row(t);
	tbl_add(t, "+%lld", jint(g, "growth"));
	tbl_add(t, "%s", fmt_bytes(h, sizeof(h), jint(g, "growth")));
	tbl_add(t, "%lld→%lld", jint(g, "count_before"), jint(g, "count_after"));
	tbl_add(t, "%lld→%lld", jint(g, "bytes_before"), jint(g, "bytes_after"));
	tbl_add(t, "%s", jstr_or(g, "module", "-"));
	tbl_add(t, "%s", jsite(g, site, sizeof(site)));
}

static void verdict_head(const json_t *v)
{
	const json_t *b = json_object_get(v, "before");
	const json_t *a = json_object_get(v, "after");
	size_t n = json_array_size(json_object_get(v, "grew"));

	printf("%s", jstr(v, "pool"));
	if (json_object_get(v, "pid"))
		printf(" of pid %lld", jint(v, "pid"));
	printf(" over %g s: %lld→%lld fragments, %lld→%lld bytes; ",
			json_real_value(json_object_get(v, "interval")),
			jint(b, "count"), jint(a, "count"), jint(b, "bytes"),
			jint(a, "bytes"));
	if (n)
		printf("%zu call site%s grew\n", n, n == 1 ? "" : "s");
	else
		printf("no call site grew\n");
	if (json_is_false(json_object_get(v, "sites_known")))
		printf("(built with MEMDBG=0: call sites are not recorded, "
				"growth is for all of them)\n");
}

static void show_verdict(const json_t *v, long long top)
{
	struct table *t = tbl_new();
	const json_t *g;
	size_t i, n = json_array_size(json_object_get(v, "grew"));

	verdict_head(v);
	if (!n) {
		tbl_free(t);
		return;
	}
	tbl_col(t, "growth", TBL_R);
	tbl_col(t, "size", TBL_R);
	tbl_col(t, "count", TBL_R);
	tbl_col(t, "bytes", TBL_R);
	tbl_col(t, "module", TBL_L);
	tbl_col(t, "call site", TBL_L);
	json_array_foreach(json_object_get(v, "grew"), i, g)
		if (!top || (long long)i < top)
			grown_row(t, g);
	tbl_print(t, stdout);
	tbl_free(t);
	if (top && (long long)n > top)
		printf("... %lld more call sites grew (--top 0 shows all)\n",
				(long long)n - top);
}

static int sample(struct ctl *c, const char *pool, long long pid,
		json_t **out)
{
	const char *method;
	json_t *params = summary_params(pool, pid, NULL, &method);

	return ctl_call(c, method, params, out);
}

static int hunt(struct ctl *c, const char *pool, long long pid, double every,
		long long top)
{
	json_t *before, *after, *v;
	int rc = sample(c, pool, pid, &before);

	if (rc)
		return rc;
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "srmemctl: watching %s for %g s...\n", pool, every);
	ctl_sleep(every);
	rc = sample(c, pool, pid, &after);
	if (!rc) {
		v = verdict(pool, every, before, after);
		if (c->json)
			json_print(v);
		else
			show_verdict(v, top);
		json_decref(v);
	}
	json_decref(before);
	json_decref(after);
	return rc;
}

int cmd_leaks(struct ctl *c)
{
	const char *pool;
	long long pid, top;
	double every;

	if (ctl_opt_pool_pid(c, &pool, &pid) ||
			ctl_opt_long(c, "--top", LEAKS_TOP, &top) ||
			ctl_opt_secs(c, "--interval", LEAKS_INTERVAL, &every))
		return EXIT_USAGE;
	return hunt(c, pool, pid, every, top);
}
