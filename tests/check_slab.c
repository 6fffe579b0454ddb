/*
 * check_slab.c - small pkg objects in spans (mem/slab.c, pkg_slab): the
 * same answers as the heap's fragments, every mistake reported, nothing
 * lost, and the spans given back.
 *
 * Per backend, on a 4 MiB pkg pool (16 KiB spans).  Cases:
 *   model           random malloc/realloc/free of 1..700 bytes (across
 *                   SLAB_MAX), contents kept; counters, heap checker and
 *                   walk agree with the model every 23 steps; at the end
 *                   the counters are back to the start;
 *   in_spans        what release builds put in spans: sizes up to 512
 *                   only, objects of one class side by side, the walk
 *                   naming the span; freed and handed out again LIFO;
 *                   every span back to the heap once all is freed;
 *   realloc         in place within a class, moved (contents kept)
 *                   across classes and to and from the heap, realloc of
 *                   NULL and to 0;
 *   misuse          double free, a pointer into an object, into a span's
 *                   header, past the objects ever handed out, realloc
 *                   and usable_size of a freed object: one report each,
 *                   the heap sound, no object handed out twice;
 *   link_overwritten  a write after free into a freed object's link: the
 *                   next malloc of its size reports it, rebuilds the list
 *                   and hands out sound objects only (release builds:
 *                   MEMDBG=1 has its fill, check_freed.c);
 *   header_broken   a span header overwritten: a free into it is refused
 *                   with a report and the checker names the span; once
 *                   mended, all is freed as usual;
 *   oom_trims       a request that fits only once empty spans are given
 *                   back succeeds, with no report; a full heap makes a
 *                   small request fail cleanly;
 *   too_large       a pool above what the span map covers (64 GiB, a
 *                   NORESERVE mapping that stays untouched): a warning at
 *                   pkg_init, no spans, small requests served by the heap.
 * In MEMDBG=1 builds pkg_slab is ignored (every fragment has its record):
 * each case then asserts that no slab exists and runs its calls on the
 * heap, with the same answers and reports.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"    /* the pool's slab */
#include "slab.h"
#include "memtest.h"

#define POOL_SIZE ((size_t)4 << 20)

static struct t_pool tp;

static void start(int i)
{
	t_log_start();
	mem_safety = 1;
	pkg_slab = 1;   /* q_malloc too (PKG_SLAB_AUTO leaves it out) */
	ck_assert_int_eq(pkg_init(POOL_SIZE, t_backend(i)), 0);
	ck_assert(MEMDBG ? !mem_pkg_pool->slab : mem_pkg_pool->slab != NULL);
	t_pool_start(&tp, mem_pkg_pool);
}

static void teardown(void)
{
	pkg_destroy();
	pkg_slab = 0;
	mem_safety = 1;
}

static int slab_on(void)
{
	return mem_pkg_pool->slab != NULL;
}

static struct slab_span *span_of(const void *p)
{
	return slab_on() ? slab_span_of(mem_pkg_pool->slab, p) : NULL;
}

/* Free v[0..n): the pool is back to its start, nothing reported. */
static void free_all(void **v, int n)
{
	for (int k = 0; k < n; k++)
		pkg_free(v[k]);
	t_pool_back_to_start(&tp, T_AT);
	T_LOG_EMPTY();
}

static void *m(size_t n)
{
	void *p = pkg_malloc(n);
	ck_assert_ptr_nonnull(p);
	return p;
}

START_TEST(test_model)
{
	struct t_live live[300];
	size_t nlive = 0;
	uint64_t s = 17;
	start(_i);
	for (int k = 0; k < 4000; k++) {
		t_model_step(mem_pkg_pool, live, &nlive, 300, 700, &s);
		if (k % 23 == 0) {
			t_live_verify(live, nlive, T_AT);
			t_pool_verify(&tp, live, nlive, T_AT);
		}
	}
	t_finish(&tp, live, nlive, T_AT);
	T_LOG_EMPTY();
}
END_TEST

START_TEST(test_in_spans)
{
	static void *v[3000];
	start(_i);
	for (int k = 0; k < 3000; k++)
		v[k] = m(64);
	void *big = m(SLAB_MAX + 1);
	if (slab_on()) {
		ck_assert_ptr_null(span_of(big));
		for (int k = 0; k < 3000; k++) {
			struct slab_span *sp = span_of(v[k]);
			ck_assert_ptr_nonnull(sp);
			ck_assert_uint_eq(sp->osize, 64);
			if (k && span_of(v[k - 1]) == sp)   /* side by side */
				ck_assert_ptr_eq(v[k], (char *)v[k - 1] + 64);
		}
		struct t_find f = t_frag_at(mem_pkg_pool, v[10]);
		ck_assert(f.found && f.frag.used && f.frag.size == 64 &&
			f.frag.span == span_of(v[10]));
		ck_assert_uint_eq(mem_usable_size(mem_pkg_pool, v[10]), 64);
	}
	/* LIFO: the object freed last is the next one handed out */
	pkg_free(v[77]);
	void *again = m(60);
	if (slab_on())
		ck_assert_ptr_eq(again, v[77]);
	v[77] = again;
	t_pool_verify(&tp, NULL, 0, T_AT);
	for (int k = 0; k < 3000; k++)
		pkg_free(v[k]);
	pkg_free(big);
	t_pool_back_to_start(&tp, T_AT);
	if (slab_on())
		ck_assert_uint_eq(mem_pkg_pool->slab->spans, 0);
	T_LOG_EMPTY();
}
END_TEST

START_TEST(test_realloc)
{
	uint64_t w = 0x1234567;
	start(_i);
	char *p = m(70);
	t_fill(p, 0, 70, w);
	char *q = pkg_realloc(p, 80);           /* 80: 70's class */
	if (slab_on())
		ck_assert_ptr_eq(q, p);
	ck_assert(t_verify(q, 0, 70, w) == SIZE_MAX);
	t_fill(q, 0, 80, w);
	p = pkg_realloc(q, 300);                /* another class */
	ck_assert_ptr_nonnull(p);
	ck_assert(t_verify(p, 0, 80, w) == SIZE_MAX);
	if (slab_on())
		ck_assert_uint_eq(span_of(p)->osize, 304);
	t_fill(p, 0, 300, w);
	q = pkg_realloc(p, 5000);               /* to the heap */
	ck_assert_ptr_nonnull(q);
	ck_assert_ptr_null(span_of(q));
	ck_assert(t_verify(q, 0, 300, w) == SIZE_MAX);
	p = pkg_realloc(q, 40);                 /* a heap block shrinks */
	ck_assert_ptr_eq(p, q);
	ck_assert(t_verify(p, 0, 40, w) == SIZE_MAX);
	q = pkg_realloc(NULL, 40);
	ck_assert_ptr_nonnull(q);
	if (slab_on())
		ck_assert_ptr_nonnull(span_of(q));
	ck_assert_ptr_null(pkg_realloc(q, 0));  /* frees */
	pkg_free(p);
	t_pool_back_to_start(&tp, T_AT);
	T_LOG_EMPTY();
}
END_TEST

/* One report containing want, the heap sound, the log cleared. */
static void one_report(const char *want, const char *where)
{
	T_ASSERT(t_log_count(want) == 1 && t_log_lines == 1, "%s: want one "
		"report of \"%s\"; log:\n%s", where, want, t_log_buf);
	T_ASSERT(pkg_check() == 0, "%s: heap check failed", where);
	t_log_clear();
}

START_TEST(test_misuse)
{
	void *v[40];
	start(_i);
	for (int k = 0; k < 40; k++)
		v[k] = m(48);
	pkg_free(v[5]);
	pkg_free(v[5]);
	one_report("double free", T_AT);
	pkg_free((char *)v[6] + 16);
	one_report("not the start", T_AT);
	if (slab_on()) {
		struct slab_span *sp = span_of(v[0]);
		pkg_free(sp);                   /* the span's header */
		one_report("not the start", T_AT);
		pkg_free(slab_objects(sp) + (size_t)sp->bump * sp->osize);
		one_report("not the start", T_AT);
	}
	ck_assert_ptr_null(pkg_realloc(v[5], 100));
	one_report("double free", T_AT);
	ck_assert_uint_eq(mem_usable_size(mem_pkg_pool, v[5]), 0);
	one_report("double free", T_AT);
	/* the object freed once is handed out once */
	void *a = m(48), *b = m(48);
	ck_assert_ptr_ne(a, b);
	for (int k = 0; k < 40; k++)
		ck_assert(k == 5 || (v[k] != a && v[k] != b));
	v[5] = a;
	pkg_free(b);
	free_all(v, 40);
}
END_TEST

START_TEST(test_link_overwritten)
{
	void *v[20], *got[20];
	start(_i);
	for (int k = 0; k < 20; k++)
		v[k] = m(32);
	pkg_free(v[3]);
	pkg_free(v[9]);
	if (slab_on())  /* MEMDBG=1's fill and its reports: check_freed.c */
		memset(v[9], 0xab, 8);  /* a write after free */
	for (int k = 0; k < 20; k++)
		got[k] = k == 3 || k == 9 ? m(32) : v[k];
	T_ASSERT(t_log_count("write after free") == (unsigned)slab_on(),
		"log:\n%s", t_log_buf);
	t_log_clear();
	ck_assert_int_eq(pkg_check(), 0);
	for (int k = 0; k < 20; k++)    /* every object handed out once */
		for (int j = 0; j < k; j++)
			ck_assert_ptr_ne(got[k], got[j]);
	free_all(got, 20);
}
END_TEST

START_TEST(test_header_broken)
{
	void *v[10];
	start(_i);
	for (int k = 0; k < 10; k++)
		v[k] = m(100);
	if (!slab_on()) {
		free_all(v, 10);
		return;
	}
	struct slab_span *sp = span_of(v[0]);
	uint64_t magic = sp->magic;
	sp->magic = 0x4141414141414141ull;      /* an overflow before it */
	pkg_free(v[4]);
	T_ASSERT(t_log_count("span header is overwritten") == 1,
		"log:\n%s", t_log_buf);
	t_log_clear();
	ck_assert_int_gt(pkg_check(), 0);
	T_LOG_HAS("slab span header overwritten");
	t_log_clear();
	sp->magic = magic;
	ck_assert_int_eq(pkg_check(), 0);
	free_all(v, 10);        /* v[4] was left alone: still live */
}
END_TEST

START_TEST(test_oom_trims)
{
	static void *v[200000];
	size_t n = 0;
	start(_i);
	while (n < 200000 && (v[n] = pkg_malloc(24)))
		n++;
	ck_assert_uint_lt(n, 200000);    /* the heap filled up */
	ck_assert_ptr_null(pkg_malloc(SLAB_MAX + 16));
	t_log_clear();                  /* the out-of-memory reports */
	for (size_t k = 0; k < n; k++)
		pkg_free(v[k]);
	/* each class keeps its last span until something needs the room */
	void *big = pkg_malloc(POOL_SIZE / 2);
	ck_assert_ptr_nonnull(big);
	pkg_free(big);
	t_pool_back_to_start(&tp, T_AT);
	T_LOG_EMPTY();
}
END_TEST

START_TEST(test_too_large)
{
	const size_t size = (size_t)65 << 30;
	t_log_start();
	pkg_slab = 1;
	ck_assert_int_eq(pkg_init(size, t_backend(_i)), 0);
	ck_assert_ptr_null(mem_pkg_pool->slab);
	if (!MEMDBG)
		T_LOG_HAS("pkg: pkg_slab: a pool of 66560 MiB is above what "
			"the span map covers (64 GiB): no spans");
	t_log_clear();
	void *p = m(24);
	memset(p, 1, 24);
	pkg_free(p);
	ck_assert_int_eq(pkg_check(), 0);
	T_LOG_EMPTY();
}
END_TEST

Suite *slab_suite(void)
{
	Suite *s = suite_create("slab");
	t_add_loop(s, "model", test_model, T_NBACKENDS, teardown, 60);
	t_add_loop(s, "in_spans", test_in_spans, T_NBACKENDS, teardown, 30);
	t_add_loop(s, "realloc", test_realloc, T_NBACKENDS, teardown, 30);
	t_add_loop(s, "misuse", test_misuse, T_NBACKENDS, teardown, 30);
	t_add_loop(s, "link_overwritten", test_link_overwritten, T_NBACKENDS,
		teardown, 30);
	t_add_loop(s, "header_broken", test_header_broken, T_NBACKENDS,
		teardown, 30);
	t_add_loop(s, "oom_trims", test_oom_trims, T_NBACKENDS, teardown, 30);
	t_add_loop(s, "too_large", test_too_large, T_NBACKENDS, teardown, 30);
	return s;
}
