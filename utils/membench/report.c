/*
 * report.c - the results of one workload as Markdown tables or JSON lines.
 *
 * Every figure is the median over the successful runs; the main figure
 * of each table also shows [min-max].  Ratios are taken between medians
 * measured in the same invocation: "/glibc" and "/tlsf" divide this
 * allocator's per-op time by glibc's and by our tlsf's (below 1 is
 * faster); "xP=1" divides W3's throughput at P by that at P = 1.
 * A cell shows "failed" when no run of it succeeded, "-" when the figure
 * does not apply or its baseline did not run.  After every workload's
 * table comes one of page faults and context switches per million ops
 * (the workers' getrusage over the timed phases): costs that hide in a
 * throughput figure, such as faulting a shared segment in once per
 * process or sleeping on a lock; its last column counts the library's
 * error reports per cell (a run with any is a failed run, left out of
 * the figures).
 *
 * JSON: one object per line and metric, keys in a fixed order (the plot
 * scripts read them with awk):
 *   {"type":"result","workload":"w3","name":"shm-scale","alloc":"tlsf",
 *    "procs":2,"metric":"ops_per_s","median":..,"min":..,"max":..,
 *    "runs":5,"failed":0,"scale":1,"real_used_src":"..","lib_errors":0}
 */
#include <stdlib.h>
#include <string.h>

#include "driver.h"

/* --- statistics ---------------------------------------------------------- */

const struct series *cell_get(const struct cell *c, const char *metric)
{
	for (int k = 0; k < c->nmetric; k++)
		if (!strcmp(c->m[k].name, metric) && c->m[k].n)
			return &c->m[k];
	return NULL;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

double series_median(const struct series *s)
{
	double v[MAX_RUNS];
	memcpy(v, s->v, (size_t)s->n * sizeof(double));
	qsort(v, (size_t)s->n, sizeof(double), cmp_double);
	return s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
}

double series_min(const struct series *s)
{
	double m = s->v[0];
	for (int i = 1; i < s->n; i++)
		m = s->v[i] < m ? s->v[i] : m;
	return m;
}

double series_max(const struct series *s)
{
	double m = s->v[0];
	for (int i = 1; i < s->n; i++)
		m = s->v[i] > m ? s->v[i] : m;
	return m;
}

/* --- formatting ---------------------------------------------------------- */

#define COLW 64
typedef char col_t[COLW];

static void fmt_num(char *b, size_t len, double v)
{
	if (v >= 100 || v <= -100)
		snprintf(b, len, "%.0f", v);
	else if (v >= 10 || v <= -10)
		snprintf(b, len, "%.1f", v);
	else
		snprintf(b, len, "%.2f", v);
}

static int cell_ran(const struct wl_result *r, int a, int p)
{
	return r->ran[a] && p < r->w->nparam;
}

/* The median of `metric` divided by div, or NULL with b set to why not. */
static const struct series *metric(const struct wl_result *r, int a, int p,
		const char *name, char *b)
{
	const struct cell *c = &r->cell[a][p];
	const struct series *s = cell_ran(r, a, p) ? cell_get(c, name) : NULL;
	if (!s)
		snprintf(b, COLW, "%s", cell_ran(r, a, p) && !c->ok ?
			"failed" : "-");
	return s;
}

static void fmt_median(char *b, const struct wl_result *r, int a, int p,
		const char *name, double div)
{
	const struct series *s = metric(r, a, p, name, b);
	if (s)
		fmt_num(b, COLW, series_median(s) / div);
}

static void fmt_spread(char *b, const struct wl_result *r, int a, int p,
		const char *name, double div)
{
	const struct series *s = metric(r, a, p, name, b);
	if (!s)
		return;
	char m[20], lo[20], hi[20];
	fmt_num(m, sizeof(m), series_median(s) / div);
	fmt_num(lo, sizeof(lo), series_min(s) / div);
	fmt_num(hi, sizeof(hi), series_max(s) / div);
	if (s->n > 1)
		snprintf(b, COLW, "%s [%s-%s]", m, lo, hi);
	else
		snprintf(b, COLW, "%s", m);
}

static int alloc_index(const char *name)
{
	for (int a = 0; a < NALLOCS; a++)
		if (!strcmp(alloc_defs[a].name, name))
			return a;
	return -1;
}

/* median(a) / median(base) of one metric, as "0.87", or "-". */
static void fmt_ratio(char *b, const struct wl_result *r, int a, int pa,
		int base, int pb, const char *name)
{
	const struct series *x = cell_ran(r, a, pa) ?
		cell_get(&r->cell[a][pa], name) : NULL;
	const struct series *y = base >= 0 && cell_ran(r, base, pb) ?
		cell_get(&r->cell[base][pb], name) : NULL;
	snprintf(b, COLW, "-");
	if (x && y && series_median(y) > 0 && alloc_defs[a].kind != K_HARNESS)
		snprintf(b, COLW, "%.2f", series_median(x) / series_median(y));
}

static void row(int n, col_t *cols)
{
	for (int k = 0; k < n; k++)
		printf("| %s ", cols[k]);
	printf("|\n");
}

static void head(int n, const char *const *names)
{
	for (int k = 0; k < n; k++)
		printf("| %s ", names[k]);
	printf("|\n");
	for (int k = 0; k < n; k++)
		printf("|---");
	printf("|\n");
}

static void title(const struct wl_result *r, const char *what)
{
	char d[320];
	r->w->describe(d, sizeof(d), r->scale);
	printf("### %s %s\n\n%s.  %s\n\n", r->w->id, r->w->name, d, what);
}

/* --- the tables ------------------------------------------------------------ */

#define NCOLS(x) ((int)(sizeof(x) / sizeof(x[0])))
#define MAX_COLS 12

/* Fill one row's cells after the allocator's label. */
typedef void (*cells_fn)(col_t *c, const struct wl_result *r, int a);

/* Every per-allocator table has one shape: title, head, a row per
 * allocator that ran, its label first. */
static void table(const struct wl_result *r, const char *what, int ncols,
		const char *const *h, cells_fn cells)
{
	title(r, what);
	head(ncols, h);
	for (int a = 0; a < NALLOCS; a++) {
		col_t c[MAX_COLS];
		if (!r->ran[a])
			continue;
		snprintf(c[0], COLW, "%s", alloc_defs[a].label);
		cells(c + 1, r, a);
		row(ncols, c);
	}
	printf("\n");
}

static void w1_cells(col_t *c, const struct wl_result *r, int a)
{
	fmt_median(c[0], r, a, 0, "alloc_ns", 1);
	fmt_median(c[1], r, a, 0, "free_fifo_ns", 1);
	fmt_median(c[2], r, a, 0, "free_lifo_ns", 1);
	fmt_median(c[3], r, a, 0, "free_random_ns", 1);
	fmt_spread(c[4], r, a, 0, "op_ns", 1);
	fmt_ratio(c[5], r, a, 0, alloc_index("glibc"), 0, "op_ns");
	fmt_ratio(c[6], r, a, 0, alloc_index("tlsf"), 0, "op_ns");
}

void table_w1(const struct wl_result *r)
{
	static const char *const h[] = { "allocator", "alloc ns", "free FIFO ns",
		"free LIFO ns", "free random ns", "all ops ns", "/glibc", "/tlsf" };
	table(r, "ns per op, median of runs; \"all ops\" = mean of the 3N "
		"allocs and 3N frees, [min-max] over runs", NCOLS(h), h,
		w1_cells);
}

static void w2_cells(col_t *c, const struct wl_result *r, int a)
{
	fmt_spread(c[0], r, a, 0, "ns_per_op", 1);
	fmt_ratio(c[1], r, a, 0, alloc_index("glibc"), 0, "ns_per_op");
	fmt_ratio(c[2], r, a, 0, alloc_index("tlsf"), 0, "ns_per_op");
	fmt_median(c[3], r, a, 0, "peak_req_bytes", 1 << 20);
	fmt_median(c[4], r, a, 0, "peak_used_bytes", 1 << 20);
	fmt_median(c[5], r, a, 0, "overhead", 1);
	fmt_median(c[6], r, a, 0, "end_free_largest", 1 << 20);
	fmt_median(c[7], r, a, 0, "end_free_total", 1 << 20);
	if (alloc_defs[a].kind == K_HARNESS)
		for (int k = 3; k < 8; k++)
			snprintf(c[k], COLW, "-");
	char b[COLW];
	const struct series *pre = metric(r, a, 0, "prefaulted", b);
	snprintf(c[8], COLW, "%.63s", alloc_defs[a].kind == K_HARNESS ? "-" :
		pre && series_median(pre) > 0 ? "pool faulted in before timing "
		"(MEMBENCH_PREFAULT): no peak" : r->cell[a][0].used_src);
}

void table_w2(const struct wl_result *r)
{
	static const char *const h[] = { "allocator", "ns/op", "/glibc",
		"/tlsf", "peak req MiB", "peak real_used MiB", "overhead",
		"end largest free MiB", "end total free MiB", "real_used from" };
	table(r, "ns/op median [min-max]; memory figures as each allocator "
		"accounts them (last column); overhead = peak real_used / peak "
		"requested", NCOLS(h), h, w2_cells);
}

static const char *w3_memory(int kind)
{
	switch (kind) {
	case K_OURS: return "one shm pool, per-process caches";
	case K_LOCKED: return "one shm pool, global lock only";
	case K_SYS: return "own heap per process";
	default: return "-";
	}
}

static void w3_cells(col_t *c, const struct wl_result *r, int a)
{
	fmt_spread(c[0], r, a, 0, "ops_per_s", 1e6);
	for (int p = 1; p < 4; p++) {
		fmt_spread(c[2 * p - 1], r, a, p, "ops_per_s", 1e6);
		fmt_ratio(c[2 * p], r, a, p, a, 0, "ops_per_s");
	}
	snprintf(c[7], COLW, "%s", w3_memory(alloc_defs[a].kind));
}

void table_w3(const struct wl_result *r)
{
	static const char *const h[] = { "allocator", "P=1 Mops/s",
		"P=2 Mops/s", "xP=1", "P=4 Mops/s", "xP=1", "P=8 Mops/s", "xP=1",
		"memory" };
	table(r, "aggregate Mops/s median [min-max]; xP=1 = throughput at P "
		"over throughput at P=1; system allocators: each process its own "
		"heap (no sharing, no lock: the upper bound)", NCOLS(h), h,
		w3_cells);
}

static void w4_cells(col_t *c, const struct wl_result *r, int a)
{
	int t = alloc_index("tlsf");
	fmt_spread(c[0], r, a, 0, "msgs_per_s", 1e6);
	fmt_spread(c[1], r, a, 1, "msgs_per_s", 1e6);
	fmt_ratio(c[2], r, a, 0, t, 0, "msgs_per_s");
	fmt_ratio(c[3], r, a, 1, t, 1, "msgs_per_s");
}

void table_w4(const struct wl_result *r)
{
	static const char *const h[] = { "allocator", "1+1 Mmsgs/s",
		"2+2 Mmsgs/s", "1+1 vs tlsf", "2+2 vs tlsf" };
	table(r, "messages per second, median [min-max]; the producer writes "
		"the first and last byte, the consumer checks the first; \"vs "
		"tlsf\" = throughput over tlsf's (above 1 is faster)", NCOLS(h),
		h, w4_cells);
}

static void w5_timer_note(const struct wl_result *r)
{
	for (int a = 0; a < NALLOCS; a++) {
		char cost[COLW], step[COLW];
		if (!r->ran[a] || !cell_get(&r->cell[a][0], "timer_cost_ns"))
			continue;
		fmt_median(cost, r, a, 0, "timer_cost_ns", 1);
		fmt_median(step, r, a, 0, "timer_step_ns", 1);
		printf("Timer: rdtsc (lfence-fenced) calibrated against "
			"CLOCK_MONOTONIC on x86-64, else CLOCK_MONOTONIC; its own "
			"cost, %s ns (median of 100,000 empty windows), is "
			"subtracted from every sample; resolution %s ns.  Our pools "
			"are pre-faulted before the warm-up (all of the pkg pool "
			"taken in 1 MiB pieces, written, freed: pkg_init maps with "
			"MAP_NORESERVE); system allocators are not (they have no "
			"fixed pool), their warm-up faults their heap in.\n\n",
			cost, step);
		return;
	}
}

void table_w5(const struct wl_result *r)
{
	static const char *const h[] = { "allocator", "op", "p50 ns",
		"p99 ns", "p99.9 ns", "p99.99 ns", "max ns" };
	static const char *const pct[] = { "p50", "p99", "p99.9", "p99.99",
		"max" };
	static const char *const ops[] = { "malloc", "free" };
	title(r, "per-op latency percentiles (nearest rank), each the median "
		"over runs");
	w5_timer_note(r);
	head(NCOLS(h), h);
	for (int a = 0; a < NALLOCS; a++)
		for (int o = 0; o < 2 && r->ran[a]; o++) {
			col_t c[NCOLS(h)];
			snprintf(c[0], COLW, "%s", alloc_defs[a].label);
			snprintf(c[1], COLW, "%s", ops[o]);
			for (int k = 0; k < 5; k++) {
				char name[48];
				snprintf(name, sizeof(name), "%s_%s_ns", ops[o], pct[k]);
				fmt_median(c[2 + k], r, a, 0, name, 1);
			}
			row(NCOLS(h), c);
		}
	printf("\n");
}

static void w6_cells(col_t *c, const struct wl_result *r, int a)
{
	fmt_spread(c[0], r, a, 0, "utilisation", 0.01);
	fmt_median(c[1], r, a, 0, "utilisation_min", 0.01);
}

void table_w6(const struct wl_result *r)
{
	static const char *const h[] = { "allocator", "utilisation %",
		"worst round %" };
	table(r, "utilisation = mean over rounds of requested live bytes at "
		"the first failure / pool size; higher is better", NCOLS(h), h,
		w6_cells);
}

/* --- faults and context switches, every workload --------------------------- */

static void param_label(char *b, const struct wl_result *r, int p)
{
	int v = r->w->param[p];
	if (!strcmp(r->w->id, "w4"))
		snprintf(b, COLW, "%d+%d", v, v);
	else
		snprintf(b, COLW, "P=%d", v);
}

/* Three per-million-op counts shown together in one cell, "a / b / c". */
struct triple {
	const char *metric[3];
	const char *head;       /* the cell's heading */
	const char *title;      /* what the table shows */
	int errors;             /* 1: every allocator, and a column of the
	                         * library's error reports; 0: only
	                         * allocators that report the metrics */
};

static const struct triple usage_triple = {
	{ "faults_per_mop", "vcsw_per_mop", "ivcsw_per_mop" },
	"faults / vol cs / invol cs",
	"page faults / voluntary / involuntary context switches per million "
	"ops, medians over runs (getrusage over the timed phases, summed over "
	"the workers); library errors: the library's reports of level error "
	"or worse on the workers' stderr, all runs",
	1,
};

static const struct triple lock_triple = {
	{ "lock_acq_per_mop", "lock_contended_per_mop", "lock_sleeps_per_mop" },
	"acquired / contended / sleeps",
	"the shared pool's global lock per million ops: acquisitions, "
	"contended acquisitions, sleeps (futex waits), medians over runs "
	"(the lock's own counters, shm_lock_stats, over the team's run)",
	0,
};

static const struct triple cache_triple = {
	{ "cache_refills_per_mop", "cache_cut_per_mop",
		"cache_to_heap_per_mop" },
	"refills / cut / to heap",
	"the shared pool's per-process caches per million ops: refills "
	"(misses served in a global-lock section), fragments they cut from "
	"the heap, fragments given back to the heap, medians over runs "
	"(shm_cache_flow, over the team's run; what else a refill took or a "
	"flush gave went through the depot)",
	0,
};

static void fmt_triple(char *b, const struct wl_result *r, int a, int p,
		const struct triple *t)
{
	char x[3][COLW];
	for (int k = 0; k < 3; k++)
		fmt_median(x[k], r, a, p, t->metric[k], 1);
	snprintf(b, COLW, "%.16s / %.16s / %.16s", x[0], x[1], x[2]);
}

/* The library's error reports of each parameter's runs, "0 / 0 / 0". */
static void fmt_errors(char *b, const struct wl_result *r, int a)
{
	int n = 0;
	for (int p = 0; p < r->w->nparam && n < COLW; p++)
		n += snprintf(b + n, (size_t)(COLW - n), "%s%d", p ? " / " : "",
			r->cell[a][p].lib_errors);
}

static void triple_row(const struct wl_result *r, int a, int ncols,
		const struct triple *t)
{
	col_t c[MAX_COLS];
	snprintf(c[0], COLW, "%s", alloc_defs[a].label);
	for (int p = 0; p < r->w->nparam; p++)
		fmt_triple(c[1 + p], r, a, p, t);
	if (t->errors)
		fmt_errors(c[1 + r->w->nparam], r, a);
	row(ncols, c);
}

/* Is allocator a in t's table? */
static int triple_has(const struct wl_result *r, int a,
		const struct triple *t)
{
	return r->ran[a] && (t->errors ||
		cell_get(&r->cell[a][0], t->metric[0]));
}

static void table_triple(const struct wl_result *r, const struct triple *t)
{
	col_t h[MAX_COLS];
	const char *names[MAX_COLS];
	int n = 1 + r->w->nparam + t->errors, any = 0;
	for (int a = 0; a < NALLOCS; a++)
		any |= triple_has(r, a, t);
	if (!any)
		return;
	snprintf(h[0], COLW, "allocator");
	snprintf(h[n - 1], COLW, "library errors");
	for (int p = 0; p < r->w->nparam; p++) {
		char l[COLW];
		param_label(l, r, p);
		snprintf(h[1 + p], COLW, "%.20s%s%s",
			r->w->nparam > 1 ? l : "", r->w->nparam > 1 ? ": " : "",
			t->head);
	}
	for (int k = 0; k < n; k++)
		names[k] = h[k];
	printf("%s %s: %s%s.\n\n", r->w->id, r->w->name, t->title,
		t->errors && r->w->nparam > 1 ? ", per parameter" : "");
	head(n, names);
	for (int a = 0; a < NALLOCS; a++)
		if (triple_has(r, a, t))
			triple_row(r, a, n, t);
	printf("\n");
}

void report_table(const struct wl_result *r)
{
	r->w->table(r);
	table_triple(r, &usage_triple);
	table_triple(r, &lock_triple);
	table_triple(r, &cache_triple);
	for (int a = 0; a < NALLOCS; a++)
		for (int p = 0; p < r->w->nparam; p++)
			if (r->ran[a] && r->cell[a][p].failed)
				printf("Note: %s, %s param %d: %d of %d runs "
					"failed, %d library error reports (see "
					"stderr); a failed run's figures are left out.\n\n",
					alloc_defs[a].label, r->w->id, r->w->param[p],
					r->cell[a][p].failed, r->runs,
					r->cell[a][p].lib_errors);
}

/* --- JSON ------------------------------------------------------------------- */

static void json_cell(const struct wl_result *r, int a, int p, FILE *out)
{
	const struct cell *c = &r->cell[a][p];
	if (!c->ok)
		fprintf(out, "{\"type\":\"failed\",\"workload\":\"%s\","
			"\"name\":\"%s\",\"alloc\":\"%s\",\"procs\":%d,"
			"\"failed\":%d,\"lib_errors\":%d}\n", r->w->id, r->w->name,
			alloc_defs[a].name, r->w->param[p], c->failed,
			c->lib_errors);
	for (int k = 0; k < c->nmetric; k++) {
		const struct series *s = &c->m[k];
		if (!s->n)
			continue;
		fprintf(out, "{\"type\":\"result\",\"workload\":\"%s\","
			"\"name\":\"%s\",\"alloc\":\"%s\",\"procs\":%d,"
			"\"metric\":\"%s\",\"median\":%.9g,\"min\":%.9g,"
			"\"max\":%.9g,\"runs\":%d,\"failed\":%d,\"scale\":%g,"
			"\"real_used_src\":\"%s\",\"lib_errors\":%d}\n", r->w->id,
			r->w->name, alloc_defs[a].name, r->w->param[p], s->name,
			series_median(s), series_min(s), series_max(s), s->n,
			c->failed, r->scale, c->used_src, c->lib_errors);
	}
}

void report_json(const struct wl_result *r, FILE *out)
{
	for (int a = 0; a < NALLOCS; a++)
		for (int p = 0; p < r->w->nparam; p++)
			if (r->ran[a])
				json_cell(r, a, p, out);
}
