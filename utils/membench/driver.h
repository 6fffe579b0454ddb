/*
 * driver.h - what the membench driver's two files share: the allocators
 * and workloads it knows, and the results of one workload's runs.
 *
 * membench.c plans and runs (one fork/exec of a worker binary per run,
 * interleaved A B C A B C ...); report.c turns the collected metrics into
 * Markdown tables or JSON lines.  A result is kept per allocator and per
 * parameter (W3's P, W4's pairs) as one series of values per metric, one
 * value per successful run; medians, minima and maxima are taken at the
 * edge, when printing.
 */
#ifndef MEMBENCH_DRIVER_H
#define MEMBENCH_DRIVER_H

#include <stdio.h>

#define MAX_RUNS 101
#define MAX_METRICS 40
#define MAX_PARAMS 4
#define NALLOCS 21

/* K_LOCKED: our backends with the per-process shm caches off (every shm
 * call takes the global lock), for the shared workloads only. */
enum alloc_kind { K_OURS = 1, K_SYS = 2, K_HARNESS = 4, K_LOCKED = 8 };

struct alloc_def {
	const char *name;       /* as on the command line and in JSON */
	const char *binary;     /* worker binary, next to membench */
	const char *label;      /* as in the tables */
	int kind;
};
extern const struct alloc_def alloc_defs[NALLOCS];

struct series {
	char name[40];
	int n;
	double v[MAX_RUNS];
};

/* One allocator x parameter of one workload. */
struct cell {
	int nmetric;
	struct series m[MAX_METRICS];
	int ok, failed;         /* runs; failed includes those with errors */
	int lib_errors;         /* the library's error reports, all runs */
	char used_src[128];
};

struct workload_def;

/* Everything one workload produced in this invocation. */
struct wl_result {
	const struct workload_def *w;
	int runs;
	double scale;
	int ran[NALLOCS];       /* allocator took part */
	struct cell cell[NALLOCS][MAX_PARAMS];
};

struct workload_def {
	const char *id, *name;
	int kinds;              /* enum alloc_kind bits that run it */
	int nparam;
	int param[MAX_PARAMS];  /* passed as --procs */
	/* The sizes this run uses, stated with the scale. */
	void (*describe)(char *buf, size_t len, double scale);
	void (*table)(const struct wl_result *r);
};
extern const struct workload_def workload_defs[7];

/* --- report.c --------------------------------------------------------- */
const struct series *cell_get(const struct cell *c, const char *metric);
double series_median(const struct series *s);
double series_min(const struct series *s);
double series_max(const struct series *s);
void report_json(const struct wl_result *r, FILE *out);
void report_table(const struct wl_result *r);

void table_w1(const struct wl_result *r);
void table_w2(const struct wl_result *r);
void table_w3(const struct wl_result *r);
void table_w4(const struct wl_result *r);
void table_w5(const struct wl_result *r);
void table_w6(const struct wl_result *r);

#endif /* MEMBENCH_DRIVER_H */
