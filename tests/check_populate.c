/*
 * check_populate.c - shm_child_init() and shm_populate: a forked child
 * that populated its page tables touches the whole segment with (almost)
 * no page fault; one that did not takes one fault per page.
 *
 * Workload: a 32 MiB shm pool (8,192 pages of 4 KiB), made resident by the
 * parent first, so that every fault a child counts is a page-table fault
 * of its own, not the allocation of a page.  The child writes one byte per
 * page (an atomic or with 0, which changes nothing) and counts its minor
 * and major faults with getrusage() around the touch.  Not a timing test.
 * A block written by the parent before fork keeps its bytes across the
 * child's populate.
 *
 * shm_huge_pages and pkg_huge_pages: the pool's VmFlags in
 * /proc/self/smaps show whether it was madvise(MADV_HUGEPAGE)d ("hg"), for
 * each setting against what the kernel's transparent_hugepage/
 * shmem_enabled (shm) or enabled (pkg) allows here; a pkg pool asked for
 * them starts on a 2 MiB boundary.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "memtest.h"
#include "proctest.h"

#define POP_SIZE ((size_t)32 << 20)
#define POP_BLOCK 4096

struct pop_result {
	long faults;
	long intact;
};

static struct pop_result *result;      /* shared with the child */
static unsigned char *block;           /* written by the parent */

static long faults_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt + ru.ru_majflt;
}

/* One write per page of the segment, changing nothing.  Not instrumented
 * by ASan: its shadow check of each write would fault in shadow pages and
 * be counted as the segment's faults. */
__attribute__((no_sanitize_address))
static void touch_segment(void)
{
	char *seg = (char *)mem_shm_pool;   /* the pool lives in the segment */
	char *lo = (char *)((uintptr_t)seg & ~(uintptr_t)4095);
	for (size_t off = 0; off < POP_SIZE; off += 4096)
		if (shm_address_in(lo + off))
			__atomic_fetch_or(lo + off, 0, __ATOMIC_RELAXED);
}

static int child_touch(void *arg)
{
	(void)arg;
	if (shm_child_init() < 0)
		return 1;
	long f0 = faults_now();
	touch_segment();
	result->faults = faults_now() - f0;
	result->intact = 1;
	for (size_t i = 0; i < POP_BLOCK; i++)
		result->intact &= block[i] == (unsigned char)(i * 7);
	return 0;
}

/* A segment of 4 KiB pages (a fault per page), whatever the kernel's
 * huge-page setting. */
static void start(void)
{
	t_log_start();
	shm_huge_pages = 0;
	int rc = shm_init(POP_SIZE, NULL);
	shm_huge_pages = SHM_HUGE_AUTO;
	ck_assert_int_eq(rc, 0);
	result = mmap(NULL, sizeof(*result), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(result, MAP_FAILED);
	block = shm_malloc(POP_BLOCK);
	ck_assert_ptr_nonnull(block);
	for (size_t i = 0; i < POP_BLOCK; i++)
		block[i] = (unsigned char)(i * 7);
	touch_segment();        /* resident: children fault only their tables */
}

static long child_faults(int populate)
{
	shm_populate = populate;
	memset(result, 0, sizeof(*result));
	t_expect_exit0(t_spawn(child_touch, NULL));
	ck_assert_int_eq(result->intact, 1);
	return result->faults;
}

static void teardown(void)
{
	shm_free(block);
	munmap(result, sizeof(*result));
	shm_populate = 1;
	t_teardown();
}

START_TEST(test_child_populated)
{
	start();
	long with = child_faults(1), without = child_faults(0);
	long pages = (long)(POP_SIZE / 4096);
	ck_assert_msg(with < 64, "populated child: %ld faults", with);
	ck_assert_msg(without > pages / 2, "unpopulated child: %ld faults "
		"for %ld pages", without, pages);
	teardown();
}
END_TEST

START_TEST(test_force_alloc_populates)
{
	shm_force_alloc = 1;
	shm_huge_pages = 0;
	int rc = shm_init(POP_SIZE, NULL);
	shm_force_alloc = 0;
	shm_huge_pages = SHM_HUGE_AUTO;
	ck_assert_int_eq(rc, 0);
	long f0 = faults_now();
	touch_segment();
	long f = faults_now() - f0;
	ck_assert_msg(f < 64, "after shm_force_alloc: %ld faults", f);
	t_teardown();
}
END_TEST

START_TEST(test_no_segment)
{
	t_log_start();
	ck_assert_int_eq(shm_child_init(), -1);
	T_LOG_HAS("no shm segment");
	t_teardown();
}
END_TEST

/* The VmFlags of the mapping holding p: "hg" is MADV_HUGEPAGE. */
static int mapping_flag(const void *p, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0, found = -1;
	ck_assert_ptr_nonnull(f);
	while (found < 0 && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {  /* a mapping */
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			char want[8];
			snprintf(want, sizeof(want), " %s", flag);
			found = strstr(line + 8, want) != NULL;
		}
	}
	fclose(f);
	ck_assert_msg(found >= 0, "no VmFlags for %p in /proc/self/smaps", p);
	return found;
}

/* What this kernel gives a MADV_HUGEPAGE'd mapping: shmem (shm) or
 * private anonymous memory (pkg). */
static int thp_allowed(int shm)
{
	char buf[128] = "";
	FILE *f = fopen(shm ? "/sys/kernel/mm/transparent_hugepage/shmem_enabled"
			: "/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	if (!shm)
		return strstr(buf, "[always]") || strstr(buf, "[madvise]");
	return strstr(buf, "[advise]") || strstr(buf, "[always]") ||
		strstr(buf, "[within_size]") || strstr(buf, "[force]");
}

/* The pool's init with its huge-page setting: madvised or not, what the
 * log says, and what pkg_huge() or shm_huge() answers. */
static void check_huge(int shm, int setting, int allowed)
{
	const char *name = shm ? "shm" : "pkg";
	int *knob = shm ? &shm_huge_pages : &pkg_huge_pages;
	t_log_start();
	*knob = setting;
	int rc = shm ? shm_init(POP_SIZE, NULL) : pkg_init(POP_SIZE, NULL);
	*knob = MEM_HUGE_AUTO;
	ck_assert_int_eq(rc, 0);
	const void *pool = shm ? (void *)mem_shm_pool : (void *)mem_pkg_pool;
	int want = setting == 1 || (setting == MEM_HUGE_AUTO && allowed);
	int got = mapping_flag(pool, "hg");
	ck_assert_msg(got == want, "%s_huge_pages %d, THP %s: "
		"madvised %d, want %d", name, setting, allowed ? "allowed" :
		"not allowed", got, want);
	ck_assert_int_eq(shm ? shm_huge() : pkg_huge(), want && allowed);
	if (!shm && want)
		ck_assert_uint_eq((uintptr_t)pool % ((uintptr_t)2 << 20), 0);
	if (setting == 1 && !allowed) {
		char msg[96];
		snprintf(msg, sizeof(msg), "%s: %s_huge_pages: the kernel's "
			"transparent_hugepage/%s is", name, name,
			shm ? "shmem_enabled" : "enabled");
		T_LOG_HAS(msg);
	} else {
		ck_assert_msg(t_log_lines == 0, "%s init logged:\n%s", name,
			t_log_buf);
	}
	if (!shm) {     /* the pool serves, huge pages or not */
		void *p = pkg_malloc(100000);
		ck_assert_ptr_nonnull(p);
		memset(p, 0x5a, 100000);
		pkg_free(p);
		ck_assert_int_eq(mem_check(mem_pkg_pool), 0);
	}
	t_teardown();
	ck_assert_int_eq(shm ? shm_huge() : pkg_huge(), 0);
}

START_TEST(test_huge_pages)
{
	int allowed = thp_allowed(1);
	ck_assert_int_eq(shm_huge_pages, SHM_HUGE_AUTO);
	check_huge(1, SHM_HUGE_AUTO, allowed);
	check_huge(1, 1, allowed);
	check_huge(1, 0, allowed);
}
END_TEST

START_TEST(test_pkg_huge_pages)
{
	int allowed = thp_allowed(0);
	ck_assert_int_eq(pkg_huge_pages, MEM_HUGE_AUTO);
	pkg_destroy();          /* the suite's own pool, if any */
	check_huge(0, MEM_HUGE_AUTO, allowed);
	check_huge(0, 1, allowed);
	check_huge(0, 0, allowed);
	/* a size the alignment's slack would wrap: refused, no pool */
	t_log_start();
	pkg_huge_pages = 1;
	ck_assert_int_eq(pkg_init(SIZE_MAX - 4096, NULL), -1);
	pkg_huge_pages = MEM_HUGE_AUTO;
	T_LOG_HAS("pkg: cannot map");
	ck_assert_ptr_null(mem_pkg_pool);
	t_teardown();
}
END_TEST

Suite *populate_suite(void)
{
	Suite *s = suite_create("populate");
	TCase *tc = tcase_create("populate");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_child_populated);
	tcase_add_test(tc, test_force_alloc_populates);
	tcase_add_test(tc, test_no_segment);
	tcase_add_test(tc, test_huge_pages);
	tcase_add_test(tc, test_pkg_huge_pages);
	suite_add_tcase(s, tc);
	return s;
}
