/*
 * check_heapmap.c - shm.map's reduction (core/rpc/heapmap.c) on made-up
 * fragments, then on a real pool through mem_scan().
 *
 *   exact        a handful of fragments: runs join by state and module,
 *                cover [0, size) exactly, "(heap)" at both ends, totals
 *                and the largest free blocks in order.
 *   reduced      100,000 fragments alternating used (two modules, one
 *                holding 3/4 of the used bytes) and free, cap 64: at most
 *                64 runs, every state's bytes over the runs equal to the
 *                exact sum, mixed cells vote the majority module, runs in
 *                order and contiguous.
 *   pure cells   a reduced map whose halves are one state each (whole
 *                cells; the used half 3/4 module a, 1/4 b, too many runs
 *                to stay exact) joins its pure cells back into two runs,
 *                the used one named after a.
 *   skipped      a fragment out of order (a live pool moved) is counted
 *                and left out; the map still covers the region.
 *   real pool    a pkg pool of every backend after a fragmenting
 *                workload, through mem_scan(): the map's totals match
 *                mem_report_get()'s.
 */
#include <check.h>
#include <string.h>

#include "memtest.h"
#include "rpc/heapmap.h"

#define BASE ((uintptr_t)1 << 20)

static const struct mem_site site_a = { "a.c", "fa", "moda", 1 };
static const struct mem_site site_b = { "b.c", "fb", "modb", 2 };

static struct mem_frag frag(uint64_t off, uint64_t size, int used,
		const struct mem_site *s)
{
	struct mem_frag f;
	memset(&f, 0, sizeof(f));
	f.addr = (const void *)(BASE + off);
	f.size = size;
	f.used = used;
	f.alloc = used ? s : NULL;
	return f;
}

static void add(struct heapmap *hm, struct mem_frag f)
{
	hm_add(&f, hm);
}

/* Runs in order, contiguous, bytes summing to len, covering the region. */
static void covers(const struct heapmap *hm)
{
	uint64_t at = 0;
	for (unsigned i = 0; i < hm->n; i++) {
		const struct hm_run *r = &hm->runs[i];
		uint64_t sum = 0;
		for (int s = 0; s < HM_NSTATES; s++)
			sum += r->bytes[s];
		T_ASSERT(r->off == at, "run %u at %llu, not %llu", i,
			(unsigned long long)r->off, (unsigned long long)at);
		T_ASSERT(sum == r->len, "run %u: bytes %llu, len %llu", i,
			(unsigned long long)sum, (unsigned long long)r->len);
		at += r->len;
	}
	T_ASSERT(at == hm->size, "runs end at %llu, the region at %llu",
		(unsigned long long)at, (unsigned long long)hm->size);
}

static const char *mod_of(const struct heapmap *hm, const struct hm_run *r)
{
	return r->mod == HM_NO_MOD ? NULL : hm->mods[r->mod];
}

START_TEST(test_exact)
{
	struct heapmap hm;
	ck_assert_int_eq(hm_init(&hm, (void *)BASE, 10000, 16), 0);
	add(&hm, frag(100, 900, 1, &site_a));   /* [0,100) heap, [100,1000) */
	add(&hm, frag(1016, 984, 1, &site_a));  /* joins: same module */
	add(&hm, frag(2016, 500, 1, &site_b));
	add(&hm, frag(2532, 1468, 0, NULL));    /* free 1468 */
	add(&hm, frag(4016, 984, 1, &site_b));
	add(&hm, frag(5016, 3000, 0, NULL));    /* free 3000: the largest */
	hm_finish(&hm);
	covers(&hm);
	ck_assert_uint_eq(hm.n, 7);
	ck_assert_str_eq(mod_of(&hm, &hm.runs[0]), "(heap)");
	ck_assert_uint_eq(hm.runs[0].len, 100);
	ck_assert_str_eq(mod_of(&hm, &hm.runs[1]), "moda");
	ck_assert_uint_eq(hm.runs[1].len, 1900);
	ck_assert_uint_eq(hm.runs[1].frags, 2);
	ck_assert_str_eq(mod_of(&hm, &hm.runs[2]), "modb");
	ck_assert_int_eq(hm_run_state(&hm.runs[3]), HM_FREE);
	ck_assert_uint_eq(hm.runs[3].len, 1484);
	ck_assert_int_eq(hm_run_state(&hm.runs[5]), HM_FREE);
	ck_assert_str_eq(mod_of(&hm, &hm.runs[6]), "(heap)");
	ck_assert_uint_eq(hm.runs[6].off, 8016);
	ck_assert_uint_eq(hm.cell, 0);
	ck_assert_uint_eq(hm.t.bytes[HM_USED], 900 + 984 + 500 + 984);
	ck_assert_uint_eq(hm.t.bytes[HM_FREE], 1468 + 3000);
	ck_assert_uint_eq(hm.t.count[HM_USED], 4);
	ck_assert_uint_eq(hm.nfree, 2);
	ck_assert_uint_eq(hm.top[0].size, 3000);
	ck_assert_uint_eq(hm.top[0].off, 5016);
	ck_assert_uint_eq(hm.top[1].size, 1468);
	hm_release(&hm);
}
END_TEST

/* 100,000 fragments of 64 + 16 bytes: used (a 3 of 4, b 1 of 4), free. */
START_TEST(test_reduced)
{
	enum { N = 100000, STEP = 80 };
	uint64_t want[HM_NSTATES] = { 0 }, got[HM_NSTATES] = { 0 };
	struct heapmap hm;
	unsigned mixed = 0, maj = 0;
	ck_assert_int_eq(hm_init(&hm, (void *)BASE, (uint64_t)N * STEP, 64), 0);
	for (unsigned i = 0; i < N; i++) {
		int used = i % 2 == 0;
		add(&hm, frag((uint64_t)i * STEP + 16, 64, used,
			i % 8 == 2 ? &site_b : &site_a));
		want[used ? HM_USED : HM_FREE] += STEP;
	}
	/* (the first header is "(heap)", a used run too: no change) */
	hm_finish(&hm);
	covers(&hm);
	T_ASSERT(hm.n <= 64 && hm.cell > 0, "%u runs, cell %llu", hm.n,
		(unsigned long long)hm.cell);
	for (unsigned i = 0; i < hm.n; i++) {
		for (int s = 0; s < HM_NSTATES; s++)
			got[s] += hm.runs[i].bytes[s];
		mixed += hm_run_state(&hm.runs[i]) == HM_MIXED;
		maj += hm.runs[i].mod != HM_NO_MOD &&
			!strcmp(mod_of(&hm, &hm.runs[i]), "moda");
	}
	for (int s = 0; s < HM_NSTATES; s++)
		T_ASSERT(got[s] == want[s], "state %d: %llu bytes, not %llu", s,
			(unsigned long long)got[s], (unsigned long long)want[s]);
	ck_assert_uint_eq(mixed, hm.n);
	ck_assert_uint_eq(maj, hm.n);
	ck_assert_uint_eq(hm.t.frags, N);
	ck_assert_uint_eq(hm.t.count[HM_USED], N / 2);
	ck_assert_uint_eq(hm.nfree, HM_TOP_FREE);
	hm_release(&hm);
}
END_TEST

START_TEST(test_pure_cells)
{
	enum { N = 1000, STEP = 64 };
	struct heapmap hm;
	ck_assert_int_eq(hm_init(&hm, (void *)BASE, (uint64_t)N * STEP, 16), 0);
	for (unsigned i = 0; i < N; i++)        /* used: a, a, a, b..., free */
		add(&hm, frag((uint64_t)i * STEP + 16, STEP - 16, i < N / 2,
			i % 4 == 3 ? &site_b : &site_a));
	hm_finish(&hm);
	covers(&hm);
	ck_assert_uint_gt(hm.cell, 0);
	ck_assert_uint_eq(hm.n, 2);     /* the halves are whole cells */
	ck_assert_str_eq(mod_of(&hm, &hm.runs[0]), "moda");
	ck_assert_int_eq(hm_run_state(&hm.runs[1]), HM_FREE);
	ck_assert_uint_eq(hm.runs[1].off, (uint64_t)N * STEP / 2);
	hm_release(&hm);
}
END_TEST

START_TEST(test_skipped)
{
	struct heapmap hm;
	ck_assert_int_eq(hm_init(&hm, (void *)BASE, 4096, 16), 0);
	add(&hm, frag(16, 1000, 1, &site_a));
	add(&hm, frag(500, 100, 0, NULL));      /* behind the last one */
	add(&hm, frag(5000, 100, 0, NULL));     /* past the region */
	add(&hm, frag(1032, 3000, 0, NULL));
	hm_finish(&hm);
	covers(&hm);
	ck_assert_uint_eq(hm.t.frags, 4);
	ck_assert_uint_eq(hm.t.skipped, 2);
	ck_assert_uint_eq(hm.t.bytes[HM_FREE], 3000);
	hm_release(&hm);
}
END_TEST

START_TEST(test_bad_cap)
{
	struct heapmap hm;
	ck_assert_int_eq(hm_init(&hm, (void *)BASE, 4096, 8), -1);
	ck_assert_int_eq(hm_init(&hm, (void *)BASE, 4096, HM_CAP_MAX + 1), -1);
	hm_release(&hm);
}
END_TEST

/* A real pool: every other block of 2000 freed, then the map's totals
 * against mem_report_get(). */
START_TEST(test_real_pool)
{
	struct mem_report_data r;
	struct heapmap hm;
	const void *base;
	uint64_t size;
	static void *p[2000];
	t_log_start();
	ck_assert_int_eq(pkg_init((size_t)8 << 20, t_backend(_i)), 0);
	for (int i = 0; i < 2000; i++)
		ck_assert_ptr_nonnull(p[i] = pkg_malloc(100 + i % 7 * 16));
	for (int i = 0; i < 2000; i += 2)
		pkg_free(p[i]);
	mem_pool_range(mem_pkg_pool, &base, &size);
	ck_assert_int_eq(hm_init(&hm, base, size, 64), 0);
	ck_assert_int_eq(mem_scan(mem_pkg_pool, NULL, hm_add, &hm, NULL), 0);
	hm_finish(&hm);
	covers(&hm);
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(mem_report_get(mem_pkg_pool, &r), 0);
	ck_assert_uint_eq(hm.t.bytes[HM_USED], r.used_bytes);
	ck_assert_uint_eq(hm.t.bytes[HM_FREE], r.free_bytes);
	ck_assert_uint_eq(hm.t.count[HM_FREE], r.free_frags);
	ck_assert_uint_eq(hm.top[0].size, r.max_free.size);
	ck_assert_uint_gt(hm.cell, 0);
	if (MEMDBG)
		ck_assert_str_eq(hm.mods[hm.runs[0].mod], "core");
	hm_release(&hm);
	for (int i = 1; i < 2000; i += 2)
		pkg_free(p[i]);
	pkg_destroy();
}
END_TEST

Suite *heapmap_suite(void)
{
	Suite *s = suite_create("heapmap");
	TCase *tc = tcase_create("heapmap");
	tcase_add_test(tc, test_exact);
	tcase_add_test(tc, test_reduced);
	tcase_add_test(tc, test_pure_cells);
	tcase_add_test(tc, test_skipped);
	tcase_add_test(tc, test_bad_cap);
	tcase_add_loop_test(tc, test_real_pool, 0, T_NBACKENDS);
	suite_add_tcase(s, tc);
	return s;
}
