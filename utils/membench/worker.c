/*
 * worker.c - one run of one workload for one allocator, in this process.
 *
 *   membench-FAMILY WORKLOAD ALLOC [--seed N] [--scale F] [--procs P]
 *   membench-FAMILY --names       the allocators this binary provides
 *   membench-FAMILY --version     their version / the library's build
 *
 * The driver (membench.c) execs one worker per run, so every run starts
 * from a fresh process and a fresh heap.  Results go to stdout as lines
 * `metric NAME VALUE` and `info NAME TEXT`; errors to stderr; the exit
 * status says whether the run is valid.  ALLOC `none` is the harness
 * alone (bench_none below), present in every worker binary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "bench.h"

/* --- helpers ------------------------------------------------------------- */

uint64_t bench_scaled(uint64_t n, double scale)
{
	double v = (double)n * scale + 0.5;
	return v < 1 ? 1 : (uint64_t)v;
}

void *bench_map(size_t size, int shared)
{
	int flags = MAP_ANONYMOUS | (shared ? MAP_SHARED : MAP_PRIVATE);
	void *p = mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE, flags,
			-1, 0);
	if (p == MAP_FAILED) {
		perror("membench: mmap");
		exit(1);
	}
	memset(p, 0, size);     /* fault the pages in now, not while timed */
	return p;
}

void bench_unmap(void *p, size_t size)
{
	munmap(p, size ? size : 1);
}

int bench_cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

void bench_metric(const char *name, double value)
{
	printf("metric %s %.17g\n", name, value);
}

void bench_info(const char *name, const char *text)
{
	printf("info %s %s\n", name, text);
}

void bench_ru_now(struct bench_ru *r)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	r->faults = (double)(ru.ru_minflt + ru.ru_majflt);
	r->vcsw = (double)ru.ru_nvcsw;
	r->ivcsw = (double)ru.ru_nivcsw;
	r->cpu_ns = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
		(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

void bench_ru_add(struct bench_ru *sum, const struct bench_ru *r)
{
	sum->faults += r->faults;
	sum->vcsw += r->vcsw;
	sum->ivcsw += r->ivcsw;
	sum->cpu_ns += r->cpu_ns;
}

void bench_ru_add_since(struct bench_ru *sum, const struct bench_ru *start)
{
	struct bench_ru now;
	bench_ru_now(&now);
	now.faults -= start->faults;
	now.vcsw -= start->vcsw;
	now.ivcsw -= start->ivcsw;
	now.cpu_ns -= start->cpu_ns;
	bench_ru_add(sum, &now);
}

void bench_ru_report(const struct bench_ru *r, double ops)
{
	bench_metric("faults", r->faults);
	bench_metric("vcsw", r->vcsw);
	bench_metric("ivcsw", r->ivcsw);
	bench_metric("faults_per_mop", r->faults * 1e6 / ops);
	bench_metric("vcsw_per_mop", r->vcsw * 1e6 / ops);
	bench_metric("ivcsw_per_mop", r->ivcsw * 1e6 / ops);
	bench_metric("cpu_ns_per_op", r->cpu_ns / ops);
}

/* --- the harness alone ----------------------------------------------------- */

/* Large enough for the largest sip_size(); every "allocation" is this. */
static _Alignas(64) unsigned char none_buf[262144 + 64];

static int none_init(const char *name, size_t size)
{
	(void)name;
	(void)size;
	return 0;
}

static void *none_malloc(size_t size)
{
	(void)size;
	return none_buf;
}

static void *none_realloc(void *p, size_t size)
{
	(void)p;
	(void)size;
	return none_buf;
}

static void none_free(void *p)
{
	(void)p;
}

const struct bench_alloc bench_none = {
	.init = none_init,
	.malloc = none_malloc,
	.realloc = none_realloc,
	.free = none_free,
	.used_src = "none",
	.free_src = "none",
};

/* --- main ---------------------------------------------------------------- */

static const struct {
	const char *id, *name;
	int (*run)(const struct bench_params *bp);
} workloads[] = {
	{ "w1", "same-size", w1_same_size },
	{ "w2", "sip-mix", w2_sip_mix },
	{ "w3", "shm-scale", w3_shm_scale },
	{ "w4", "handoff", w4_handoff },
	{ "w5", "latency", w5_latency },
	{ "w6", "fill", w6_fill },
	{ "w6s", "fill-shm", w6_fill_shm },
};
#define NWORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

static int find_workload(const char *s)
{
	for (size_t k = 0; k < NWORKLOADS; k++)
		if (!strcmp(s, workloads[k].id) || !strcmp(s, workloads[k].name))
			return (int)k;
	return -1;
}

/* Point bp at the tables for `name`; -1 if this binary lacks it. */
static int find_alloc(struct bench_params *bp, const char *name)
{
	bp->name = name;
	if (!strcmp(name, "none")) {
		bp->a = &bench_none;
		bp->shared = NULL;
		return 0;
	}
	for (const char *const *n = bench_family.names; *n; n++)
		if (!strcmp(name, *n)) {
			bp->a = bench_family.priv;
			bp->shared = bench_family.shared;
			return 0;
		}
	return -1;
}

static int parse_opts(struct bench_params *bp, int argc, char **argv)
{
	for (int i = 3; i < argc; i++) {
		if (i + 1 >= argc)
			return -1;
		if (!strcmp(argv[i], "--seed"))
			bp->seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--scale"))
			bp->scale = strtod(argv[++i], NULL);
		else if (!strcmp(argv[i], "--procs"))
			bp->procs = atoi(argv[++i]);
		else
			return -1;
	}
	return bp->scale > 0 && bp->procs > 0 ? 0 : -1;
}

static int usage(const char *prog)
{
	fprintf(stderr, "usage: %s WORKLOAD ALLOC [--seed N] [--scale F] "
		"[--procs P]\n       %s --names | --version\n", prog, prog);
	return 2;
}

static int list_names(void)
{
	for (const char *const *n = bench_family.names; *n; n++)
		printf("%s\n", *n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--names"))
		return list_names();
	if (argc == 2 && !strcmp(argv[1], "--version"))
		return printf("%s\n", bench_family.version()) < 0;
	struct bench_params bp = { .seed = 42, .scale = 1, .procs = 1 };
	int w = argc >= 3 ? find_workload(argv[1]) : -1;
	if (w < 0 || parse_opts(&bp, argc, argv) < 0)
		return usage(argv[0]);
	if (find_alloc(&bp, argv[2]) < 0) {
		fprintf(stderr, "%s: no allocator '%s' in this binary\n",
			argv[0], argv[2]);
		return 2;
	}
	bench_info("used_src", bp.a->used_src);
	bench_info("free_src", bp.a->free_src);
	fflush(stdout);     /* before any fork: children must not repeat it */
	int rc = workloads[w].run(&bp);
	fflush(stdout);
	return rc < 0;
}
