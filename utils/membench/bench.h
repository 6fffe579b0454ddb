/*
 * bench.h - what the membench worker's files share: the allocator ops
 * table, the workload parameters, the PRNG and size mix of BENCH.md, and
 * the small helpers for timing and harness memory.
 *
 * One worker binary is linked per allocator family (membench-srmem with
 * libsrmem.a; membench-glibc, -jemalloc, -mimalloc, -tcmalloc with the
 * system allocator linked in, never preloaded).  Each family's file
 * (alloc_*.c) defines `bench_family`: the allocator names it provides and
 * one ops table for private memory and, where the allocator can share one
 * pool between forked processes, one for shared memory.  The workloads
 * (workloads.c) see nothing but the table, so every allocator runs the
 * same code and the same op sequence.
 *
 * The harness never allocates from the allocator under test: its own
 * arrays come from mmap (bench_map), touched before any timing starts.
 */
#ifndef MEMBENCH_BENCH_H
#define MEMBENCH_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MiB ((size_t)1 << 20)

/* What an allocator reports about its own memory.  A field it cannot
 * read is BENCH_UNKNOWN. */
#define BENCH_UNKNOWN UINT64_MAX
struct bench_usage {
	uint64_t real_used;     /* bytes the allocator counts as in use */
	uint64_t peak_used;     /* its own exact peak, if it keeps one */
	uint64_t free_total;    /* free bytes it holds (allocatable) */
	uint64_t free_largest;  /* largest free block */
};

/* One allocator, as the workloads call it.  malloc/realloc/free follow
 * the C library contract; usage may be NULL (nothing known). */
struct bench_alloc {
	/* Set up a pool of `size` bytes with backend `name` (our pools), or
	 * check that the linked allocator is the one in use (system ones).
	 * Returns 0, or -1 after printing why on stderr. */
	int (*init)(const char *name, size_t size);
	void *(*malloc)(size_t size);
	void *(*realloc)(void *p, size_t size);
	void (*free)(void *p);
	void (*usage)(struct bench_usage *u);
	/* Touch every page the pool can hand out, so no timed op pays a
	 * page fault; NULL where the allocator has no fixed pool. */
	void (*prefault)(void);
	/* Run in every forked worker of a shared pool before its start line,
	 * as a server runs it in every child after fork: ours map the shm
	 * segment into the worker's page tables (shm_child_init).  NULL:
	 * nothing to do. */
	void (*child_init)(void);
	/* The shared pool's global lock counts so far, all processes (live
	 * and exited): acquisitions, contended ones, sleeps, and the time it
	 * was held in ns (estimated from sampled holds).  NULL: no such
	 * lock (system allocators, the harness). */
	void (*lock_counts)(double out[4]);
	/* The shared pool's caches' traffic with the heap so far, all
	 * processes (shm_cache_flow): refills, fragments from the depot, cut
	 * from the heap, given back to the depot and to the heap.  NULL: no
	 * such caches. */
	void (*cache_counts)(double out[5]);
	const char *used_src;   /* how usage() gets real_used, for the report */
	const char *free_src;   /* how it gets free_total/free_largest */
};

/* An allocator family: the names it answers to and its tables.  `shared`
 * is NULL when processes cannot share one pool (W3 then runs each process
 * on its own heap; W4 and W6 are not run). */
struct bench_family {
	const char *const *names;
	const char *(*version)(void);   /* "jemalloc 5.3.0", the build, ... */
	const struct bench_alloc *priv;
	const struct bench_alloc *shared;
};
extern const struct bench_family bench_family;
/* The harness alone: malloc hands out one static buffer, free does
 * nothing; it measures the PRNG, the loop and the byte writes. */
extern const struct bench_alloc bench_none;

/* --- the workloads (workloads.c) ----------------------------------------- */
struct bench_params {
	const char *name;           /* allocator name, passed to init */
	const struct bench_alloc *a;
	const struct bench_alloc *shared;   /* NULL: no shared pool */
	uint64_t seed;
	double scale;               /* multiplies N and op counts */
	int procs;                  /* W3: P; W4: producer/consumer pairs */
};

/* Each runs one workload in this process (forking where the workload
 * says so) and prints `metric NAME VALUE` lines on stdout.  0 or -1. */
int w1_same_size(const struct bench_params *bp);
int w2_sip_mix(const struct bench_params *bp);
int w3_shm_scale(const struct bench_params *bp);
int w4_handoff(const struct bench_params *bp);
int w5_latency(const struct bench_params *bp);
int w6_fill(const struct bench_params *bp);
int w6_fill_shm(const struct bench_params *bp);

/* --- helpers (worker.c) -------------------------------------------------- */
static inline uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t uniform(uint64_t *s, uint64_t a, uint64_t b)
{
	return a + splitmix64(s) % (b - a + 1);
}

/* BENCH.md's SIP size mix. */
static inline size_t sip_size(uint64_t *s)
{
	uint64_t r = splitmix64(s) % 1000;
	if (r < 500)
		return uniform(s, 16, 128);
	if (r < 800)
		return uniform(s, 129, 512);
	if (r < 950)
		return uniform(s, 513, 4096);
	if (r < 999)
		return uniform(s, 4097, 32768);
	return uniform(s, 32769, 262144);
}

/* Every allocation writes its first and last byte. */
static inline void touch(void *p, size_t n)
{
	((volatile unsigned char *)p)[0] = (unsigned char)n;
	((volatile unsigned char *)p)[n - 1] = (unsigned char)(n >> 8);
}

static inline double clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline double now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* CPU time of this process (W1's phases: cpu_* metrics). */
static inline double cpu_now_ns(void)
{
	return clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

/* Page faults (minor + major) and context switches (voluntary: the
 * process slept, e.g. on a lock; involuntary: it was preempted) of this
 * process, from getrusage(RUSAGE_SELF).  Workloads take them around their
 * timed phases and report them per million ops, summed over the workers
 * of W3 and W4, so that a cost the timing hides shows. */
struct bench_ru {
	double faults, vcsw, ivcsw;
	double cpu_ns;          /* user + system time */
};
void bench_ru_now(struct bench_ru *r);
/* sum += (now - start). */
void bench_ru_add_since(struct bench_ru *sum, const struct bench_ru *start);
/* sum += r, field by field. */
void bench_ru_add(struct bench_ru *sum, const struct bench_ru *r);
/* Metrics faults_per_mop, vcsw_per_mop, ivcsw_per_mop (and the totals),
 * cpu_ns_per_op. */
void bench_ru_report(const struct bench_ru *r, double ops);

/* Scaled count, never below 1. */
uint64_t bench_scaled(uint64_t n, double scale);
/* Harness memory: private (or shared) anonymous pages, touched now. */
void *bench_map(size_t size, int shared);
void bench_unmap(void *p, size_t size);
/* qsort comparison of uint64_t. */
int bench_cmp_u64(const void *x, const void *y);
void bench_metric(const char *name, double value);
void bench_info(const char *name, const char *text);

#endif /* MEMBENCH_BENCH_H */
