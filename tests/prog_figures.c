/* prog_figures.c - the figures doc/DIAGNOSTICS.md quotes, measured.
 *
 *   prog_figures lockhold [MiB [FRAGMENTS [CHUNK]]]
 *       (defaults: 1024 MiB, 1000000 fragments, mem_scan_chunk as built)
 *       Per backend: an shm pool of MiB with caches off, filled with
 *       FRAGMENTS fragments of 16..1800 bytes (uniform, in a row), every
 *       other one then freed: half used, half free, none joined.  Then
 *       how long the shm lock is held by one exact mem_walk(), by one
 *       mem_check(), and by mem_scan() (what every status, sums and
 *       report uses): its number of holds, the longest, the mean, and the
 *       wall time of the whole scan and of mem_sums_get().
 *   prog_figures livecheck [MiB [FRAGMENTS [CHUNK]]]
 *       (defaults as lockhold) The same pool per backend, and a forked
 *       worker doing shm_malloc + shm_free pairs, each pair timed, into
 *       one histogram per phase: 300 ms idle, one mem_check(), one
 *       mem_check_chunked().  Prints each check's time (and its CPU time
 *       and involuntary context switches: on a loaded machine the wall
 *       times include preemption), the chunked one's holds, longest and
 *       mean hold (and CPU per hold, an upper bound of the work in one),
 *       the worker's lock sections it saw and whether the counters could
 *       be compared (exact); then per
 *       phase the worker's pairs, p99, p99.9 (log2 bucket upper bounds)
 *       and longest pair.
 *   prog_figures overhead
 *       Per backend: real_used per fragment for requests of 16, 64 and
 *       1000 bytes (10000 of each in a fresh pkg pool); run it in a MEMDBG=0
 *       and a MEMDBG=1 build and take the difference.
 *   prog_figures populate [MiB [huge]]
 *       (default 1024 MiB) An shm segment of MiB (with shm_huge_pages when
 *       "huge" is given), then three children one after the other: the
 *       first populates (shm_child_init: allocates and zeroes the pages
 *       and fills its page tables), the second populates pages that are
 *       now resident (page tables only), the third does not populate and
 *       writes one byte per page instead.  Each: wall time, ms per GiB,
 *       page faults (getrusage), and the segment's huge-page mappings
 *       (ShmemPmdMapped of /proc/self/smaps_rollup).
 * Output: Markdown table rows on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "mem.h"

static const char *const backend[] = { "fm", "qm", "tlsf" };

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int count_frag(const struct mem_frag *f, void *arg)
{
	(void)f;
	++*(uint64_t *)arg;
	return 0;
}

/* FRAGMENTS fragments in a row, then every other one freed: used and free
 * alternate, so none joins.  -1 if the pool is too small. */
static int fill(size_t frags)
{
	void **p = malloc(frags * sizeof(*p));
	uint64_t seed = 88172645463325252ull;
	size_t i;
	for (i = 0; p && i < frags; i++)
		if (!(p[i] = shm_malloc(16 + next_rand(&seed) % 1785)))
			break;
	int ok = p && i == frags;
	for (size_t k = 0; ok && k < frags; k += 2)
		shm_free(p[k]);
	free(p);
	return ok ? 0 : -1;
}

static void lockhold(const char *be, size_t mib, size_t frags)
{
	struct mem_scan_stats st;
	uint64_t n = 0;
	shm_cache_size = 0;
	if (shm_init(mib << 20, be) < 0 || fill(frags) < 0) {
		printf("| %s | pool too small for %zu fragments |\n", be, frags);
		shm_destroy();
		return;
	}
	double t0 = now_ms();
	mem_walk(mem_shm_pool, count_frag, &n);
	double walk = now_ms() - t0;
	t0 = now_ms();
	int bad = mem_check(mem_shm_pool);
	double check = now_ms() - t0;
	t0 = now_ms();
	mem_scan(mem_shm_pool, NULL, count_frag, &n, &st);
	double scan = now_ms() - t0;
	t0 = now_ms();
	mem_sums_release(mem_sums_get(mem_shm_pool, NULL));
	double sums = now_ms() - t0;
	printf("| %s | %llu | %.1f ms | %.1f ms%s | %llu | %.0f us | %.0f us "
		"| %.0f ms | %.0f ms |\n", be, (unsigned long long)st.frags,
		walk, check, bad ? " (PROBLEMS)" : "",
		(unsigned long long)st.sections, st.max_hold_ns / 1e3,
		st.total_hold_ns / 1e3 / (double)st.sections, scan, sums);
	shm_destroy();
}

/* --- livecheck ------------------------------------------------------------ */

/* What a worker's shm_malloc + shm_free pairs took while the main process
 * did one thing (a phase): count, longest, and a log2 histogram. */
#define LAT_BUCKETS 40
struct lat {
	uint64_t ops, max_ns;
	uint64_t bucket[LAT_BUCKETS];   /* bucket k: [2^k, 2^(k+1)) ns */
};

struct lat_shared {
	volatile int phase;             /* set by the main process; -1: stop */
	volatile int seen;              /* the phase the worker is in */
	struct lat lat[4];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void lat_add(struct lat *l, uint64_t ns)
{
	unsigned k = ns ? 63u - (unsigned)__builtin_clzll(ns) : 0;
	l->ops++;
	l->bucket[k < LAT_BUCKETS ? k : LAT_BUCKETS - 1]++;
	if (ns > l->max_ns)
		l->max_ns = ns;
}

/* The upper bound of the bucket holding quantile q. */
static uint64_t lat_quantile(const struct lat *l, double q)
{
	uint64_t want = (uint64_t)(q * (double)l->ops), n = 0;
	for (unsigned k = 0; k < LAT_BUCKETS; k++)
		if ((n += l->bucket[k]) > want)
			return (uint64_t)2 << k;
	return l->max_ns;
}

/* The worker: malloc + free of 16..1800 bytes, timed pair by pair, into
 * the histogram of the phase the main process says it is in. */
static void lat_worker(struct lat_shared *sh)
{
	enum { L = 64 };
	void *slot[L] = { 0 };
	uint64_t seed = 42;
	for (int ph; (ph = sh->phase) >= 0;) {
		unsigned k = (unsigned)(next_rand(&seed) % L);
		uint64_t t0 = mono_ns();
		if (slot[k])
			shm_free(slot[k]);
		slot[k] = shm_malloc(16 + next_rand(&seed) % 1785);
		lat_add(&sh->lat[ph], mono_ns() - t0);
		sh->seen = ph;
	}
	_exit(0);
}

static void lat_phase(struct lat_shared *sh, int ph)
{
	sh->phase = ph;
	while (sh->seen != ph)
		;
}

static void lat_print(const char *what, const struct lat *l)
{
	printf("| %s | %llu | %.1f us | %.1f us | %.1f us |", what,
		(unsigned long long)l->ops, lat_quantile(l, 0.99) / 1e3,
		lat_quantile(l, 0.999) / 1e3, l->max_ns / 1e3);
}

/* This process's CPU time (ms) and involuntary context switches. */
static void cpu_now(double *ms, long *preempted)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	*ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
		(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	*preempted = ru.ru_nivcsw;
}

static void livecheck(const char *be, size_t mib, size_t frags)
{
	struct mem_check_result r;
	struct mem_check_stats cs;
	shm_cache_size = 0;
	if (shm_init(mib << 20, be) < 0 || fill(frags) < 0) {
		printf("| %s | pool too small for %zu fragments |\n", be, frags);
		shm_destroy();
		return;
	}
	struct lat_shared *sh = shm_mallocxz(sizeof(*sh));
	fflush(NULL);
	pid_t pid = fork();
	if (!pid)
		lat_worker(sh);
	lat_phase(sh, 0);               /* idle: 300 ms of nothing */
	double t0 = now_ms();
	while (now_ms() - t0 < 300)
		;
	double c0, c1, c2;
	long v0, v1, v2;
	lat_phase(sh, 1);
	cpu_now(&c0, &v0);
	t0 = now_ms();
	int whole = mem_check(mem_shm_pool);
	double whole_ms = now_ms() - t0;
	cpu_now(&c1, &v1);
	lat_phase(sh, 2);
	t0 = now_ms();
	mem_check_chunked(mem_shm_pool, &r, &cs);
	double part_ms = now_ms() - t0;
	cpu_now(&c2, &v2);
	lat_phase(sh, 3);
	sh->phase = -1;
	waitpid(pid, NULL, 0);
	printf("| %s | %llu | %.0f ms (cpu %.0f ms, %ld preempted)%s | %.0f ms "
		"(cpu %.0f ms, %ld preempted)%s | %llu | %.0f us | %.1f us "
		"(cpu %.1f us) | %llu | %d |\n", be,
		(unsigned long long)cs.scan.frags, whole_ms, c1 - c0, v1 - v0,
		whole ? " (PROBLEMS)" : "", part_ms, c2 - c1, v2 - v1,
		r.problems ? " (PROBLEMS)" : "",
		(unsigned long long)cs.scan.sections, cs.scan.max_hold_ns / 1e3,
		cs.scan.total_hold_ns / 1e3 / (double)cs.scan.sections,
		(c2 - c1) * 1e3 / (double)cs.scan.sections,
		(unsigned long long)cs.scan.changes, cs.exact);
	static const char *const ph[] = { "idle", "during mem_check",
		"during mem_check_chunked" };
	for (int k = 0; k < 3; k++) {
		char what[64];
		snprintf(what, sizeof(what), "%s: worker %s", be, ph[k]);
		lat_print(what, &sh->lat[k]);
		printf("\n");
	}
	shm_destroy();
}

static uint64_t per_frag(const char *be, size_t size)
{
	enum { N = 10000 };
	struct mem_info a, b;
	if (pkg_init(64 << 20, be) < 0)
		exit(1);
	pkg_info(&a);
	for (int i = 0; i < N; i++)
		if (!pkg_malloc(size))
			exit(1);
	pkg_info(&b);
	pkg_destroy();
	return (b.real_used - a.real_used) / N;
}

/* --- populate ------------------------------------------------------------ */

static long faults_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt + ru.ru_majflt;
}

static long pmd_mapped_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "ShmemPmdMapped: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* One write per page of the segment, changing nothing. */
static void touch_all(size_t size)
{
	char *lo = (char *)((uintptr_t)mem_shm_pool & ~(uintptr_t)4095);
	for (size_t off = 0; off < size; off += 4096)
		__atomic_fetch_or(lo + off, 0, __ATOMIC_RELAXED);
}

static void populate_child(const char *what, size_t mib, int populate)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid) {
		waitpid(pid, NULL, 0);
		return;
	}
	shm_populate = populate;
	long f0 = faults_now();
	double t0 = now_ms();
	if (populate)
		shm_child_init();
	else
		touch_all(mib << 20);
	double ms = now_ms() - t0;
	printf("| %s | %zu | %.1f | %.1f | %ld | %ld |\n", what, mib, ms,
		ms * 1024 / (double)mib, faults_now() - f0, pmd_mapped_kib());
	fflush(NULL);
	_exit(0);
}

static int populate_figures(size_t mib, int huge)
{
	shm_huge_pages = huge;
	if (shm_init(mib << 20, NULL) < 0)
		return 1;
	printf("| child | MiB | ms | ms per GiB | faults | ShmemPmdMapped KiB |\n"
		"|---|---|---|---|---|---|\n");
	populate_child("first populate (allocates the pages)", mib, 1);
	populate_child("populate of resident pages", mib, 1);
	populate_child("no populate: one write per page", mib, 0);
	shm_destroy();
	return 0;
}

/* lockhold and livecheck: [MiB [FRAGMENTS [CHUNK]]], the header, then
 * fn per backend. */
static int per_backend(int argc, char **argv, const char *header,
		void (*fn)(const char *, size_t, size_t))
{
	size_t mib = argc > 2 ? strtoul(argv[2], NULL, 0) : 1024;
	size_t frags = argc > 3 ? strtoul(argv[3], NULL, 0) : 1000000;
	if (argc > 4)
		mem_scan_chunk = (unsigned)strtoul(argv[4], NULL, 0);
	printf("%s\n|---|---|---|---|---|---|---|---|---|\n", header);
	for (int i = 0; i < 3; i++)
		fn(backend[i], mib, frags);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "lockhold"))
		return per_backend(argc, argv, "| backend | fragments | mem_walk "
			"| mem_check | scan holds | longest hold | mean hold | "
			"scan | sums |", lockhold);
	if (!strcmp(mode, "livecheck")) {
		per_backend(argc, argv, "| backend | blocks | mem_check (one "
			"hold) | mem_check_chunked | holds | longest hold | mean "
			"hold | others' sections | exact |", livecheck);
		printf("\n(worker rows: | what | malloc+free pairs | p99 | "
			"p99.9 | max |)\n");
		return 0;
	}
	if (!strcmp(mode, "overhead")) {
		printf("| backend | MEMDBG | 16 B | 64 B | 1000 B |\n"
			"|---|---|---|---|---|\n");
		for (int i = 0; i < 3; i++)
			printf("| %s | %d | %llu | %llu | %llu |\n", backend[i],
				MEMDBG, (unsigned long long)per_frag(backend[i], 16),
				(unsigned long long)per_frag(backend[i], 64),
				(unsigned long long)per_frag(backend[i], 1000));
		return 0;
	}
	if (!strcmp(mode, "populate"))
		return populate_figures(argc > 2 ? strtoul(argv[2], NULL, 0) :
			1024, argc > 3 && !strcmp(argv[3], "huge"));
	fprintf(stderr, "usage: prog_figures lockhold|livecheck [MiB [FRAGMENTS "
		"[CHUNK]]] | overhead | populate [MiB [huge]]\n");
	return 2;
}
