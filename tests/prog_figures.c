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

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "lockhold")) {
		size_t mib = argc > 2 ? strtoul(argv[2], NULL, 0) : 1024;
		size_t frags = argc > 3 ? strtoul(argv[3], NULL, 0) : 1000000;
		if (argc > 4)
			mem_scan_chunk = (unsigned)strtoul(argv[4], NULL, 0);
		printf("| backend | fragments | mem_walk | mem_check | scan holds "
			"| longest hold | mean hold | scan | sums |\n"
			"|---|---|---|---|---|---|---|---|---|\n");
		for (int i = 0; i < 3; i++)
			lockhold(backend[i], mib, frags);
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
	fprintf(stderr, "usage: prog_figures lockhold [MiB [FRAGMENTS]] | "
		"overhead | populate [MiB [huge]]\n");
	return 2;
}
