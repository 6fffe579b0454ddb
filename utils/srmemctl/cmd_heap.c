/*
 * cmd_heap.c - the fragment-level commands: status (fragments one by
 * one), report (counts and bytes per state, the extreme fragments) and
 * check (the heap checker's verdict).  They share the fragment row: a FRAG
 * of doc/RPC.md shown as address, size, asked, state, module, process,
 * call site (a free fragment shows where and by whom it was freed, when
 * known).
 */
#include "srmemctl.h"
#include "table.h"

#include <stdio.h>
#include <string.h>

static void frag_cols(struct table *t)
{
	tbl_col(t, "address", TBL_L);
	tbl_col(t, "size", TBL_R);
	tbl_col(t, "asked", TBL_R);
	tbl_col(t, "state", TBL_L);
	tbl_col(t, "module", TBL_L);
	tbl_col(t, "process", TBL_L);
	tbl_col(t, "call site", TBL_L);
}

static void frag_cells(struct table *t, const json_t *f)
{
	const json_t *freed = json_object_get(f, "freed");
	const int broken = json_is_true(json_object_get(f, "broken"));
	char site[512], proc[64];

	tbl_add(t, "%s", jstr_or(f, "address", "-"));
	tbl_add(t, "%lld", jint(f, "size"));
	tbl_add(t, "%lld", jint(f, "asked"));
	tbl_add(t, "%s%s", jstr_or(f, "state", "-"), broken ? " BROKEN" : "");
	if (json_is_object(freed) && jstr(freed, "file")) {
		tbl_add(t, "%s", jstr_or(freed, "module", "-"));
		tbl_add(t, "%s", jproc(freed, proc, sizeof(proc)));
		tbl_add(t, "freed at %s", jsite(freed, site, sizeof(site)));
		return;
	}
	tbl_add(t, "%s", jstr_or(f, "module", "-"));
	tbl_add(t, "%s", jproc(f, proc, sizeof(proc)));
	if (!strcmp(jstr_or(f, "state", ""), "used"))
		tbl_add(t, "%s", jsite(f, site, sizeof(site)));
	else if (jstr(f, "file"))      /* free or parked: its last owner */
		tbl_add(t, "last allocated at %s", jsite(f, site, sizeof(site)));
	else
		tbl_add(t, "%s", "");
}

/* The chunked scan's cost: how long the workers could wait on the lock. */
static void scan_line(const json_t *s)
{
	const json_t *res = json_object_get(s, "result");

	if (!json_is_object(s))
		return;
	printf("scan: %lld fragments in %lld chunks, lock held %lld us at "
			"most (%lld us in all), %lld resyncs", jint(s, "fragments"),
			jint(s, "chunks"), jint(s, "max_hold_us"),
			jint(s, "total_hold_us"), jint(s, "resyncs"));
	if (json_is_string(res))
		printf(", %s", json_string_value(res));
	else if (json_is_integer(res))
		printf(", result %lld", (long long)json_integer_value(res));
	putchar('\n');
}

/* --- status --------------------------------------------------------------- */

static int show_status(struct ctl *c, json_t *r)
{
	struct table *t = tbl_new();
	const json_t *f;
	size_t i;

	(void)c;
	frag_cols(t);
	json_array_foreach(json_object_get(r, "fragments"), i, f) {
		tbl_row(t);
		frag_cells(t, f);
	}
	tbl_print(t, stdout);
	tbl_free(t);
	printf("%lld fragments shown of %lld matched%s\n", jint(r, "count"),
			jint(r, "matched"),
			json_is_true(json_object_get(r, "truncated")) ?
			" (truncated: --limit N shows more)" : "");
	scan_line(json_object_get(r, "scan"));
	return EXIT_OK;
}

int cmd_status(struct ctl *c)
{
	const char *filter = ctl_opt(c, "--filter");
	long long limit;
	json_t *params = NULL;

	if (ctl_opt_long(c, "--limit", -1, &limit))
		return EXIT_USAGE;
	if (limit >= 0)
		params = json_pack("[s?,I]", filter, limit);
	else if (filter)
		params = json_pack("[s]", filter);
	return ctl_show(c, "shm.status", params, show_status);
}

/* --- report --------------------------------------------------------------- */

static void state_row(struct table *t, const json_t *r, const char *state)
{
	char key[32], h[FMT_LEN];

	snprintf(key, sizeof(key), "%s_frags", state);
	tbl_row(t);
	tbl_add(t, "%s", state);
	tbl_add(t, "%lld", jint(r, key));
	snprintf(key, sizeof(key), "%s_bytes", state);
	if (!json_object_get(r, key))
		return;
	tbl_add(t, "%s", fmt_bytes(h, sizeof(h), jint(r, key)));
	tbl_add(t, "%lld", jint(r, key));
}

static void report_states(const json_t *r)
{
	struct table *t = tbl_new();
	char h[FMT_LEN];

	tbl_col(t, "state", TBL_L);
	tbl_col(t, "fragments", TBL_R);
	tbl_col(t, "size", TBL_R);
	tbl_col(t, "bytes", TBL_R);
	state_row(t, r, "used");
	state_row(t, r, "free");
	state_row(t, r, "cached");
	state_row(t, r, "broken");
	tbl_row(t);
	tbl_add(t, "asked");
	tbl_add(t, "%s", "");
	tbl_add(t, "%s", fmt_bytes(h, sizeof(h), jint(r, "asked_bytes")));
	tbl_add(t, "%lld", jint(r, "asked_bytes"));
	tbl_print(t, stdout);
	tbl_free(t);
}

static void report_extremes(const json_t *r)
{
	static const char *const keys[] = { "min_used", "max_used_frag",
		"min_free", "max_free", "first_broken", NULL };
	struct table *t = tbl_new();

	tbl_col(t, "fragment", TBL_L);
	frag_cols(t);
	for (int i = 0; keys[i]; i++) {
		const json_t *f = json_object_get(r, keys[i]);
		if (!json_is_object(f))
			continue;
		tbl_row(t);
		tbl_add(t, "%s", keys[i]);
		frag_cells(t, f);
	}
	tbl_print(t, stdout);
	tbl_free(t);
}

static int show_report(struct ctl *c, json_t *r)
{
	char a[FMT_LEN], b[FMT_LEN], d[FMT_LEN], e[FMT_LEN], f[FMT_LEN];
	char g[FMT_LEN];

	(void)c;
	printf("shm %s, %s: used %s, real_used %s, max_used %s, free %s, "
			"cached %s\n\n", jstr_or(r, "name", "?"),
			fmt_bytes(a, sizeof(a), jint(r, "size")),
			fmt_bytes(b, sizeof(b), jint(r, "used")),
			fmt_bytes(d, sizeof(d), jint(r, "real_used")),
			fmt_bytes(e, sizeof(e), jint(r, "max_used")),
			fmt_bytes(f, sizeof(f), jint(r, "free")),
			fmt_bytes(g, sizeof(g), jint(r, "cached")));
	report_states(r);
	putchar('\n');
	report_extremes(r);
	putchar('\n');
	scan_line(json_object_get(r, "scan"));
	return EXIT_OK;
}

int cmd_report(struct ctl *c)
{
	return ctl_show(c, "shm.report", NULL, show_report);
}

/* --- check ---------------------------------------------------------------- */

static int check_ok(const json_t *r)
{
	return json_is_true(json_object_get(r, "ok")) && !jint(r, "problems");
}

/* What the chunked check covered and what it cost the lock. */
static void check_line(const json_t *r)
{
	const json_t *s = json_object_get(r, "scan");

	if (!json_is_object(s))
		return;
	printf("checked %lld blocks and %lld list entries in %lld lock holds, "
		"longest %lld us (%lld us in all); ", jint(s, "fragments"),
		jint(r, "listed"), jint(s, "chunks"), jint(s, "max_hold_us"),
		jint(s, "total_hold_us"));
	if (json_is_true(json_object_get(r, "exact")))
		printf("counters and lists compared with the blocks\n");
	else
		printf("counters and lists not compared: the pool changed "
			"during the check (%lld lock sections of other processes, "
			"%lld lists left unverified)\n", jint(s, "changes"),
			jint(r, "lists_lost"));
}

static void show_check(const json_t *r)
{
	const long long n = jint(r, "problems");
	const json_t *m;
	size_t i;

	if (!strcmp(jstr_or(r, "pool", "shm"), "pkg"))
		printf("pkg of pid %lld: ", jint(r, "pid"));
	else
		printf("shm: ");
	if (check_ok(r))
		printf("ok, no problems\n");
	else
		printf("%lld problem%s\n", n, n == 1 ? "" : "s");
	json_array_foreach(json_object_get(r, "messages"), i, m)
		printf("  %s\n", json_string_value(m) ? json_string_value(m) : "?");
	check_line(r);
}

int cmd_check(struct ctl *c)
{
	const char *pool;
	long long pid;
	json_t *params = NULL, *r;
	int rc;

	if (ctl_opt_pool(c, &pool) || ctl_opt_long(c, "--pid", -1, &pid))
		return EXIT_USAGE;
	if (!pool)                      /* pkg alone: the RPC process's */
		pool = pid >= 0 ? "pkg" : "shm";
	if (!strcmp(pool, "shm") && pid >= 0)
		return ctl_usage_error(c, "--pid is for --pool pkg");
	if (pid >= 0)
		params = json_pack("[s,I]", pool, pid);
	else
		params = json_pack("[s]", pool);
	if ((rc = ctl_call(c, "mem.check", params, &r)))
		return rc;
	if (c->json)
		json_print(r);
	else
		show_check(r);
	rc = check_ok(r) ? EXIT_OK : EXIT_RPC;
	json_decref(r);
	return rc;
}
