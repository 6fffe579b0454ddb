/*
 * cmd_mem.c - the memory commands: shmmem, pkg, summary, status, report,
 * check, mods.  Each turns its options into the method's positional
 * params (doc/RPC.md), makes one call and lays the result out as a table:
 * sizes in binary units with one decimal, and the exact bytes beside them
 * where a user compares numbers (shmmem, summary).
 */
#include "srmemctl.h"
#include "table.h"

#include <stdio.h>
#include <string.h>

#define SUMMARY_TOP 20

/* --- shmmem --------------------------------------------------------------- */

static const char *const shm_fields[] = { "total", "free", "used",
	"real_used", "max_used", "cached", NULL };

static const char *unit_name(const char *u)
{
	return !u || *u == 'b' ? "B" : *u == 'k' ? "KiB" : *u == 'm' ? "MiB" :
		"GiB";
}

/* Bytes: the human size and the exact bytes; a unit asked for: the
 * server's integer in that unit. */
static void shmmem_row(struct table *t, const char *name, long long v,
		long long total, int bytes)
{
	char h[FMT_LEN];

	tbl_row(t);
	tbl_add(t, "%s", name);
	if (bytes)
		tbl_add(t, "%s", fmt_bytes(h, sizeof(h), v));
	tbl_add(t, "%lld", v);
	tbl_add(t, "%.1f%%", pct_of(v, total));
}

static int show_shmmem(struct ctl *c, json_t *r)
{
	const char *u = c->nargs ? c->args[0] : "b";
	const int bytes = *u == 'b';
	struct table *t = tbl_new();

	tbl_col(t, "shm", TBL_L);
	if (bytes)
		tbl_col(t, "size", TBL_R);
	tbl_col(t, bytes ? "bytes" : unit_name(u), TBL_R);
	tbl_col(t, "% of total", TBL_R);
	for (int i = 0; shm_fields[i]; i++)
		shmmem_row(t, shm_fields[i], jint(r, shm_fields[i]),
				jint(r, "total"), bytes);
	tbl_row(t);
	tbl_add(t, "fragments");
	if (bytes)
		tbl_add(t, "%s", "");
	tbl_add(t, "%lld", jint(r, "fragments"));
	tbl_print(t, stdout);
	tbl_free(t);
	return EXIT_OK;
}

int cmd_shmmem(struct ctl *c)
{
	const char *u = c->nargs ? c->args[0] : NULL;

	if (u && (strlen(u) != 1 || !strchr("bkmg", *u)))
		return ctl_usage_error(c, "unit: b, k, m or g, not %s", u);
	return ctl_show(c, "core.shmmem", u ? json_pack("[s]", u) : NULL,
			show_shmmem);
}

/* --- pkg ------------------------------------------------------------------ */

/* "+2.3 KiB", "-640 B", "0 B": a change of real_used since the last frame. */
const char *fmt_change(char *buf, size_t size, long long d)
{
	char h[FMT_LEN];

	snprintf(buf, size, "%s%s", d > 0 ? "+" : "", fmt_bytes(h, sizeof(h), d));
	return buf;
}

/* The process with pid in list, or NULL. */
static const json_t *by_pid(const json_t *list, long long pid)
{
	const json_t *p;
	size_t i;

	json_array_foreach(list, i, p)
		if (jint(p, "pid") == pid)
			return p;
	return NULL;
}

static void pkg_change(struct table *t, const json_t *p, const json_t *prev)
{
	const json_t *old = by_pid(prev, jint(p, "pid"));
	char h[FMT_LEN];

	if (old)
		tbl_add(t, "%s", fmt_change(h, sizeof(h), jint(p, "real_used") -
					jint(old, "real_used")));
	else
		tbl_add(t, "-");
}

static void pkg_row(struct table *t, const json_t *p, const json_t *prev)
{
	char a[FMT_LEN], b[FMT_LEN], d[FMT_LEN], e[FMT_LEN], f[FMT_LEN];

	tbl_row(t);
	tbl_add(t, "%lld", jint(p, "entry"));
	tbl_add(t, "%lld", jint(p, "pid"));
	tbl_add(t, "%lld", jint(p, "rank"));
	tbl_add(t, "%s", fmt_bytes(a, sizeof(a), jint(p, "used")));
	tbl_add(t, "%s", fmt_bytes(b, sizeof(b), jint(p, "real_used")));
	if (prev)
		pkg_change(t, p, prev);
	tbl_add(t, "%s", fmt_bytes(d, sizeof(d), jint(p, "free")));
	tbl_add(t, "%s", fmt_bytes(e, sizeof(e), jint(p, "total_size")));
	tbl_add(t, "%s", fmt_bytes(f, sizeof(f), jint(p, "max_used")));
	tbl_add(t, "%lld", jint(p, "total_frags"));
	tbl_add(t, "%.1fs", jint(p, "age_ms") / 1000.0);
	tbl_add(t, "%s", jstr_or(p, "desc", "-"));
}

void pkg_table(const json_t *list, const json_t *prev)
{
	static const char *const cols[] = { "entry", "pid", "rank", "used",
		"real_used", "change", "free", "total", "max_used", "frags",
		"age", NULL };
	struct table *t = tbl_new();
	const json_t *p;
	size_t i;

	for (int k = 0; cols[k]; k++)
		if (prev || strcmp(cols[k], "change"))
			tbl_col(t, cols[k], TBL_R);
	tbl_col(t, "desc", TBL_L);
	json_array_foreach(list, i, p)
		pkg_row(t, p, prev);
	tbl_print(t, stdout);
	tbl_free(t);
}

static int show_pkg(struct ctl *c, json_t *r)
{
	(void)c;
	if (json_is_object(r))          /* one process: an object or a list */
		r = json_pack("[O]", r);
	else
		json_incref(r);
	pkg_table(r, NULL);
	json_decref(r);
	return EXIT_OK;
}

int cmd_pkg(struct ctl *c)
{
	long long pid, rank;
	int by_rank;
	json_t *params = NULL;

	if (ctl_opt_long(c, "--pid", -1, &pid) ||
			ctl_opt_signed(c, "--rank", &by_rank, &rank))
		return EXIT_USAGE;
	if (pid >= 0 && by_rank)
		return ctl_usage_error(c, "--pid or --rank, not both");
	if (pid >= 0)
		params = json_pack("[s,I]", "pid", pid);
	else if (by_rank)
		params = json_pack("[s,I]", "rank", rank);
	return ctl_show(c, "pkg.stats", params, show_pkg);
}

/* --- summary -------------------------------------------------------------- */

json_t *summary_params(const char *pool, long long pid, const char *module,
		const char **method)
{
	if (!strcmp(pool, "pkg")) {
		*method = "pkg.summary";
		return json_pack("[I]", pid);
	}
	*method = "shm.summary";
	return module ? json_pack("[s]", module) : NULL;
}

static void site_row(struct table *t, const json_t *s)
{
	char h[FMT_LEN], site[512];
	long long n = jint(s, "count"), size = jint(s, "size");

	tbl_row(t);
	tbl_add(t, "%s", fmt_bytes(h, sizeof(h), size));
	tbl_add(t, "%lld", size);
	tbl_add(t, "%lld", n);
	tbl_add(t, "%lld", n ? size / n : 0);
	tbl_add(t, "%lld", jint(s, "usable"));
	tbl_add(t, "%s", jstr_or(s, "module", "-"));
	tbl_add(t, "%s", jsite(s, site, sizeof(site)));
}

static void summary_head(const json_t *r)
{
	size_t n = json_array_size(json_object_get(r, "sites"));
	char a[FMT_LEN], u[FMT_LEN];

	if (!strcmp(jstr_or(r, "pool", "shm"), "pkg"))
		printf("pkg of pid %lld (rank %lld, entry %lld)", jint(r, "pid"),
				jint(r, "rank"), jint(r, "entry"));
	else
		printf("shm");
	printf(" (%s): %lld fragments, %s asked (%s usable), %zu call "
			"site%s\n", jstr_or(r, "backend", "?"), jint(r, "count"),
			fmt_bytes(a, sizeof(a), jint(r, "bytes")),
			fmt_bytes(u, sizeof(u), jint(r, "usable")), n,
			n == 1 ? "" : "s");
	if (json_is_false(json_object_get(r, "sites_known")))
		printf("(built with MEMDBG=0: call sites are not recorded)\n");
}

static int show_summary(struct ctl *c, json_t *r)
{
	const char *mod = ctl_opt(c, "--module");
	struct table *t = tbl_new();
	long long top, shown = 0, more = 0;
	const json_t *s;
	size_t i;

	ctl_opt_long(c, "--top", SUMMARY_TOP, &top);
	summary_head(r);
	tbl_col(t, "size", TBL_R);
	tbl_col(t, "bytes", TBL_R);
	tbl_col(t, "count", TBL_R);
	tbl_col(t, "avg", TBL_R);
	tbl_col(t, "usable", TBL_R);
	tbl_col(t, "module", TBL_L);
	tbl_col(t, "call site", TBL_L);
	json_array_foreach(json_object_get(r, "sites"), i, s) {
		if (mod && strcmp(jstr_or(s, "module", ""), mod))
			continue;
		if (top && shown == top) {
			more++;
			continue;
		}
		site_row(t, s);
		shown++;
	}
	tbl_print(t, stdout);
	tbl_free(t);
	if (more)
		printf("... %lld more call sites (--top 0 shows all)\n", more);
	return EXIT_OK;
}

int cmd_summary(struct ctl *c)
{
	const char *pool, *method, *mod = ctl_opt(c, "--module");
	long long pid, top;
	json_t *params;

	if (ctl_opt_pool_pid(c, &pool, &pid) ||
			ctl_opt_long(c, "--top", SUMMARY_TOP, &top))
		return EXIT_USAGE;
	params = summary_params(pool, pid, mod, &method);
	return ctl_show(c, method, params, show_summary);
}

/* --- mods ----------------------------------------------------------------- */

static void mod_row(struct table *t, const json_t *m)
{
	char h[FMT_LEN];
	const int pkg = !strcmp(jstr_or(m, "pool", ""), "pkg");

	tbl_row(t);
	tbl_add(t, "%s", jstr_or(m, "module", "-"));
	tbl_add(t, "%s", jstr_or(m, "pool", "-"));
	if (pkg)
		tbl_add(t, "%lld", jint(m, "pid"));
	else
		tbl_add(t, "-");
	tbl_add(t, "%lld", jint(m, "count"));
	tbl_add(t, "%lld", jint(m, "size"));
	tbl_add(t, "%s", fmt_bytes(h, sizeof(h), jint(m, "size")));
	tbl_add(t, "(all call sites)");
}

static void mod_site_row(struct table *t, const json_t *s)
{
	char h[FMT_LEN], site[512];

	tbl_row(t);
	tbl_add(t, "%s", "");
	tbl_add(t, "%s", "");
	tbl_add(t, "%s", "");
	tbl_add(t, "%lld", jint(s, "count"));
	tbl_add(t, "%lld", jint(s, "size"));
	tbl_add(t, "%s", fmt_bytes(h, sizeof(h), jint(s, "size")));
	tbl_add(t, "  %s", jsite(s, site, sizeof(site)));
}

static int show_mods(struct ctl *c, json_t *r)
{
	struct table *t = tbl_new();
	const json_t *m, *s;
	size_t i, j;

	(void)c;
	tbl_col(t, "module", TBL_L);
	tbl_col(t, "pool", TBL_L);
	tbl_col(t, "pid", TBL_R);
	tbl_col(t, "count", TBL_R);
	tbl_col(t, "bytes", TBL_R);
	tbl_col(t, "size", TBL_R);
	tbl_col(t, "call site", TBL_L);
	json_array_foreach(r, i, m) {
		mod_row(t, m);
		json_array_foreach(json_object_get(m, "sites"), j, s)
			mod_site_row(t, s);
	}
	tbl_print(t, stdout);
	tbl_free(t);
	return EXIT_OK;
}

int cmd_mods(struct ctl *c)
{
	const char *mod = c->nargs > 0 ? c->args[0] : "all";
	const char *pool = c->nargs > 1 ? c->args[1] : "all";

	if (strcmp(pool, "pkg") && strcmp(pool, "shm") && strcmp(pool, "all"))
		return ctl_usage_error(c, "pool: pkg, shm or all, not %s", pool);
	return ctl_show(c, "mod.stats", json_pack("[s,s]", mod, pool),
			show_mods);
}
