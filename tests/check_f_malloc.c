/*
 * check_f_malloc.c - what is special to the f_malloc backend, driven
 * through mem_fm_backend directly on an mmap'd region (no common layer).
 *
 * The shared conformance suite covers the contract every backend keeps;
 * these cases pin down f_malloc's own layout and policy: fragment sizes
 * (round16(n + 8), at least 32), the exact/logarithmic class edge at 32 KiB,
 * joins with mem_join = 1 and none with mem_join = 0, in-place resize,
 * block_state on free, used, mid-fragment and garbage pointers, the free
 * record bytes the backend must not touch, and check() finding damage.
 * Every case runs check() after its steps.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "../mem/backend.h"

#define REGION ((size_t)16 << 20)

static const struct mem_backend *fm = &mem_fm_backend;
static void *region;
static void *st;
static int saved_join;
static int problems;

static void count_problem(void *arg, const void *where, const char *what)
{
	(void)arg;
	(void)where;
	(void)what;
	problems++;
}

static int heap_check(void)
{
	problems = 0;
	return fm->check(st, count_problem, NULL);
}

static void setup(void)
{
	saved_join = mem_join;
	region = mmap(NULL, REGION, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(region, MAP_FAILED);
}

static void teardown(void)
{
	munmap(region, REGION);
	mem_join = saved_join;
}

/* mem_join is read at create() time. */
static void pool_new(int join)
{
	mem_join = join;
	st = fm->create(region, REGION);
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(heap_check(), 0);
}

static struct mem_info info(void)
{
	struct mem_info mi;

	fm->info(st, &mi);
	return mi;
}

static void *alloc(size_t n)
{
	void *p = fm->malloc(st, n);

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq((uintptr_t)p % MEM_ALIGN, 0);
	ck_assert_uint_ge(fm->usable_size(st, p), n);
	return p;
}

static uint64_t *header(void *p)
{
	return (uint64_t *)((char *)p - 8);
}

static size_t usable(void *p)
{
	return fm->usable_size(st, p);
}

static void *after(void *p)
{
	return (char *)p + usable(p) + 8;
}

START_TEST(test_fragment_sizes)
{
	static const size_t ask[] = { 1, 16, 24, 25, 40, 41, 1000, 32744 };
	static const size_t get[] = { 24, 24, 24, 40, 40, 56, 1000, 32744 };
	void *prev = NULL;

	pool_new(1);
	for (unsigned i = 0; i < sizeof(ask) / sizeof(ask[0]); i++) {
		void *p = alloc(ask[i]);

		ck_assert_uint_eq(usable(p), get[i]);
		/* carved from the front of the one free fragment */
		if (prev)
			ck_assert_ptr_eq(p, after(prev));
		prev = p;
	}
	ck_assert_uint_eq(info().min_frag, 32);
	ck_assert_int_eq(heap_check(), 0);
}
END_TEST

START_TEST(test_exact_class_reuse)
{
	void *a, *b;

	pool_new(1);
	a = alloc(1000);
	alloc(16);
	b = alloc(1000);
	alloc(16);
	fm->free(st, a);
	fm->free(st, b);
	ck_assert_uint_eq(info().total_frags, 3);
	/* exact class, last freed first; 992 has the same 1008-byte size */
	ck_assert_ptr_eq(fm->malloc(st, 992), b);
	ck_assert_ptr_eq(fm->malloc(st, 1000), a);
	ck_assert_uint_eq(info().total_frags, 1);
	ck_assert_int_eq(heap_check(), 0);
}
END_TEST

/* 32752 is the largest exact fragment, 32768 the smallest log-class one;
 * the log class [32768, 36864) is searched first-fit, and a fragment too
 * small for the request is passed over for the next class. */
START_TEST(test_class_edge_32k)
{
	void *h1, *h2, *h3;

	pool_new(1);
	h1 = alloc(32744);
	alloc(16);
	h2 = alloc(32760);
	alloc(16);
	h3 = alloc(36856);
	alloc(16);
	ck_assert_uint_eq(usable(h1) + 8, 32752);
	ck_assert_uint_eq(usable(h2) + 8, 32768);
	fm->free(st, h1);
	fm->free(st, h2);
	fm->free(st, h3);
	ck_assert_ptr_eq(fm->malloc(st, 32744), h1);
	ck_assert_ptr_eq(fm->malloc(st, 32760), h2);
	fm->free(st, h2);
	/* same class as h2 (32768) but larger: h2 must not be split */
	ck_assert_ptr_eq(fm->malloc(st, 34000), h3);
	ck_assert_int_eq(fm->block_state(st, h2), MEM_BLOCK_FREE);
	ck_assert_uint_eq(usable(h2) + 8, 32768);
	ck_assert_int_eq(heap_check(), 0);
}
END_TEST

START_TEST(test_too_large_fails)
{
	struct mem_info before, mi;
	uint64_t whole;
	void *p;

	pool_new(1);
	before = info();
	whole = before.free_size;
	ck_assert_uint_eq(before.free_size + before.real_used, before.total_size);
	ck_assert_uint_eq(before.total_size, REGION);
	ck_assert_ptr_null(fm->malloc(st, whole - 8 + 1));
	ck_assert_ptr_null(fm->malloc(st, MEM_MAX_REQUEST));
	mi = info();
	ck_assert_int_eq(memcmp(&mi, &before, sizeof(mi)), 0);
	p = alloc(whole - 8);
	ck_assert_uint_eq(info().free_size, 0);
	ck_assert_uint_eq(info().total_frags, 0);
	ck_assert_ptr_null(fm->malloc(st, 1));
	ck_assert_int_eq(heap_check(), 0);
	fm->free(st, p);
	ck_assert_uint_eq(info().free_size, whole);
	ck_assert_uint_eq(info().total_frags, 1);
	ck_assert_int_eq(heap_check(), 0);
}
END_TEST

START_TEST(test_join_both_ways)
{
	void *a, *b, *c, *x, *y;

	pool_new(1);
	a = alloc(100);
	b = alloc(100);
	c = alloc(100);
	alloc(100);
	fm->free(st, a);
	fm->free(st, c);
	ck_assert_uint_eq(info().total_frags, 3);
	fm->free(st, b);        /* joins a (backwards) and c (forwards) */
	ck_assert_uint_eq(info().total_frags, 2);
	ck_assert_int_eq(fm->block_state(st, a), MEM_BLOCK_FREE);
	ck_assert_uint_eq(usable(a), 3 * 112 - 8);
	ck_assert_int_eq(fm->block_state(st, b), MEM_BLOCK_BAD);
	ck_assert_int_eq(fm->block_state(st, c), MEM_BLOCK_BAD);
	ck_assert_int_eq(heap_check(), 0);
	ck_assert_ptr_eq(fm->malloc(st, 3 * 112 - 8), a);

	x = alloc(100);
	y = alloc(100);
	alloc(100);
	fm->free(st, y);
	fm->free(st, x);        /* forwards only */
	ck_assert_uint_eq(usable(x), 2 * 112 - 8);
	ck_assert_int_eq(heap_check(), 0);
	ck_assert_ptr_eq(fm->malloc(st, 100), x);
	ck_assert_ptr_eq(fm->malloc(st, 100), y);
	fm->free(st, x);
	fm->free(st, y);        /* backwards only */
	ck_assert_uint_eq(usable(x), 2 * 112 - 8);
	ck_assert_int_eq(fm->block_state(st, y), MEM_BLOCK_BAD);
	ck_assert_int_eq(heap_check(), 0);
}
END_TEST

/* A run of same-size fragments freed in address order (each free joins
 * the one before) and in reverse (each joins the one after): the joined
 * fragment grows through the exact classes, across 32 KiB and through
 * the log classes, keeping its place on its list or moving, and check()
 * finds it on the list of its size after every free. */
#define RUN 700

static void free_run(void **v, int reverse)
{
	for (int i = 0; i < RUN; i++) {
		fm->free(st, v[reverse ? RUN - 1 - i : i]);
		ck_assert_msg(heap_check() == 0, "free %d of the run", i);
		ck_assert_uint_eq(usable(v[reverse ? RUN - 1 - i : 0]),
			(uint64_t)(i + 1) * 112 - 8);
	}
}

START_TEST(test_join_run_classes)
{
	static void *v[RUN];

	pool_new(1);
	for (int reverse = 0; reverse < 2; reverse++) {
		for (int i = 0; i < RUN; i++)
			v[i] = alloc(100);
		void *guard = alloc(100);
		free_run(v, reverse);
		ck_assert_ptr_eq(fm->malloc(st, RUN * 112 - 8), v[0]);
		fm->free(st, v[0]);
		fm->free(st, guard);
		ck_assert_uint_eq(info().total_frags, 1);
	}
}
END_TEST

/* A pointer into a used fragment whose preceding word passes for a used
 * header of a size that fits: the next header that size names says its
 * predecessor is free, so free() refuses it and changes nothing. */
START_TEST(test_free_refuses_fake_header)
{
	pool_new(1);
	char *a = alloc(200);
	void *b = alloc(100);
	char *q = a + 16;
	struct mem_info before = info();

	*(uint64_t *)(q - 8) = 64;              /* used, 64 bytes */
	*(uint64_t *)(q - 8 + 64) = 32 | 2;     /* 32 bytes, PREV_FREE */
	ck_assert_int_eq(fm->block_state(st, q), MEM_BLOCK_BAD);
	ck_assert_int_eq(fm->free(st, q), MEM_BLOCK_BAD);
	ck_assert_uint_eq(info().free_size, before.free_size);
	ck_assert_int_eq(heap_check(), 0);
	fm->free(st, b);
	fm->free(st, a);
	ck_assert_uint_eq(info().total_frags, 1);
	ck_assert_int_eq(heap_check(), 0);
}
END_TEST

START_TEST(test_no_join)
{
	void *a, *b, *c, *p;

	pool_new(0);
	a = alloc(100);
	b = alloc(100);
	c = alloc(100);
	alloc(100);
	fm->free(st, a);
	fm->free(st, c);
	fm->free(st, b);
	ck_assert_uint_eq(info().total_frags, 4);
	ck_assert_int_eq(fm->block_state(st, a), MEM_BLOCK_FREE);
	ck_assert_int_eq(fm->block_state(st, b), MEM_BLOCK_FREE);
	ck_assert_int_eq(fm->block_state(st, c), MEM_BLOCK_FREE);
	ck_assert_int_eq(heap_check(), 0);
	ck_assert_ptr_eq(fm->malloc(st, 100), b);
	p = alloc(300);         /* a and c alone are too small */
	ck_assert_uint_gt((uintptr_t)p, (uintptr_t)c);
	ck_assert_int_eq(heap_check(), 0);
}
END_TEST

struct used_list {
	size_t n;
	void *p[1 << 18];
};

static int collect_used(const struct mem_block *b, void *arg)
{
	struct used_list *l = arg;

	ck_assert_uint_lt(l->n, sizeof(l->p) / sizeof(l->p[0]));
	if (b->used)
		l->p[l->n++] = b->payload;
	return 0;
}

static void free_all_walked(void)
{
	static struct used_list l;

	l.n = 0;
	ck_assert_int_eq(fm->walk(st, collect_used, &l), 0);
	for (size_t i = 0; i < l.n; i++)
		fm->free(st, l.p[i]);
}

START_TEST(test_no_join_fails_fragmented)
{
	uint64_t n = 0;

	pool_new(0);
	while (fm->malloc(st, 100))
		n++;
	free_all_walked();
	ck_assert_uint_eq(info().used_size, 0);
	ck_assert_uint_ge(info().total_frags, n);
	ck_assert_int_eq(heap_check(), 0);
	/* no fragment of 208 exists, and malloc does not walk to join */
	ck_assert_ptr_null(fm->malloc(st, 200));
	ck_assert_ptr_nonnull(fm->malloc(st, 100));
	ck_assert_int_eq(heap_check(), 0);
}
END_TEST

START_TEST(test_resize_in_place)
{
	struct mem_info before, mi;
	unsigned char *p;
	void *g;

	pool_new(1);
	p = alloc(1000);
	g = alloc(16);
	memset(p, 0xa5, 1000);
	ck_assert_int_eq(fm->resize(st, p, 500), 0);      /* split the tail */
	ck_assert_uint_eq(usable(p), 504);
	ck_assert_uint_eq(info().total_frags, 2);
	ck_assert_int_eq(heap_check(), 0);
	ck_assert_int_eq(fm->resize(st, p, 1000), 0);     /* absorb it again */
	ck_assert_uint_eq(usable(p), 1000);
	ck_assert_uint_eq(info().total_frags, 1);
	for (int i = 0; i < 500; i++)
		ck_assert_uint_eq(p[i], 0xa5);
	before = info();
	ck_assert_int_eq(fm->resize(st, p, 2000), -1);    /* next is used */
	mi = info();
	ck_assert_int_eq(memcmp(&mi, &before, sizeof(mi)), 0);
	ck_assert_uint_eq(usable(p), 1000);
	ck_assert_int_eq(fm->resize(st, p, 984), 0);      /* 16 left: kept */
	ck_assert_uint_eq(usable(p), 1000);
	fm->free(st, g);
	ck_assert_int_eq(fm->resize(st, p, 984), 0);      /* 16 join next */
	ck_assert_uint_eq(usable(p), 984);
	ck_assert_uint_eq(info().total_frags, 1);
	ck_assert_int_eq(heap_check(), 0);
	ck_assert_int_eq(fm->resize(st, p, 100008), 0);   /* grow into tail */
	ck_assert_uint_eq(usable(p), 100008);
	ck_assert_uint_eq(p[0], 0xa5);
	ck_assert_uint_eq(info().used_size, 100008);
	ck_assert_int_eq(heap_check(), 0);
}
END_TEST

START_TEST(test_resize_no_join)
{
	void *p, *g;

	pool_new(0);
	p = alloc(1000);
	g = alloc(1000);
	alloc(16);
	fm->free(st, g);
	ck_assert_int_eq(fm->resize(st, p, 500), 0);  /* tail not joined */
	ck_assert_uint_eq(info().total_frags, 3);
	ck_assert_int_eq(heap_check(), 0);
	ck_assert_int_eq(fm->resize(st, p, 1000), 0); /* grow still absorbs */
	ck_assert_uint_eq(info().total_frags, 2);
	ck_assert_int_eq(heap_check(), 0);
}
END_TEST

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

START_TEST(test_block_state)
{
	uint64_t seed = 7;
	uint64_t *junk;
	char *a, *b;

	pool_new(1);
	a = alloc(100);
	b = alloc(100);
	junk = alloc(4096);
	alloc(16);
	ck_assert_int_eq(fm->block_state(st, a), MEM_BLOCK_USED);
	ck_assert_int_eq(fm->block_state(st, a + 16), MEM_BLOCK_BAD);
	ck_assert_int_eq(fm->block_state(st, (char *)region + 64),
			MEM_BLOCK_BAD);
	/* user data is not a header, whatever it holds */
	for (int i = 0; i < 4096 / 8; i++)
		junk[i] = splitmix(&seed);
	for (int i = 2; i < 4096 / 8; i += 2)
		ck_assert_int_eq(fm->block_state(st, &junk[i]), MEM_BLOCK_BAD);
	memset(junk, 0xff, 4096);
	for (int i = 2; i < 4096 / 8; i += 2)
		ck_assert_int_eq(fm->block_state(st, &junk[i]), MEM_BLOCK_BAD);
	memset(junk, 0, 4096);
	for (int i = 2; i < 4096 / 8; i += 2)
		ck_assert_int_eq(fm->block_state(st, &junk[i]), MEM_BLOCK_BAD);
	ck_assert_int_eq(fm->block_state(st, junk), MEM_BLOCK_USED);
	fm->free(st, a);
	ck_assert_int_eq(fm->block_state(st, a), MEM_BLOCK_FREE);
	ck_assert_int_eq(fm->block_state(st, a + 32), MEM_BLOCK_BAD);
	fm->free(st, b);        /* joined into a: no longer a block */
	ck_assert_int_eq(fm->block_state(st, b), MEM_BLOCK_BAD);
	ck_assert_int_eq(fm->block_state(st, a), MEM_BLOCK_FREE);
	ck_assert_int_eq(heap_check(), 0);
}
END_TEST

/* The common layer keeps a record at payload+16..+40 of a freed block;
 * only the first 16 bytes are the backend's, at every size. */
START_TEST(test_free_record_kept)
{
	static const size_t sizes[] = { 24, 40, 56, 72, 200, 5000, 40008 };

	pool_new(1);
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *p, rec[24];
		size_t n = sizes[i] - 16 < 24 ? sizes[i] - 16 : 24;
		void *next;

		alloc(16);
		p = alloc(sizes[i]);
		next = alloc(16);
		alloc(16);
		ck_assert_uint_eq(usable(p), sizes[i]);
		memset(rec, 0x40 + i, sizeof(rec));
		memcpy(p + 16, rec, n);
		fm->free(st, p);
		ck_assert_int_eq(memcmp(p + 16, rec, n), 0);
		fm->free(st, next);     /* joins forwards: p stays the start */
		ck_assert_int_eq(fm->block_state(st, p), MEM_BLOCK_FREE);
		ck_assert_int_eq(memcmp(p + 16, rec, n), 0);
		ck_assert_int_eq(heap_check(), 0);
	}
}
END_TEST

START_TEST(test_check_finds_damage)
{
	uint64_t *ha, *hc, saved;
	void **link;
	char *a, *b, *c;

	pool_new(1);
	a = alloc(100);
	b = alloc(100);
	c = alloc(100);
	alloc(100);
	fm->free(st, b);
	ha = header(a);
	hc = header(c);

	saved = *ha;
	*ha = saved + 16;       /* size of a used fragment */
	ck_assert_int_gt(heap_check(), 0);
	ck_assert_int_gt(problems, 0);
	ck_assert_int_eq(fm->block_state(st, a), MEM_BLOCK_BAD);
	*ha = saved;
	ck_assert_int_eq(heap_check(), 0);

	saved = *hc;
	*hc = saved & ~(uint64_t)2;     /* c forgets that b is free */
	ck_assert_int_gt(heap_check(), 0);
	*hc = saved;

	link = (void **)b;
	saved = (uint64_t)(uintptr_t)link[0];
	link[0] = a;            /* b's list link points into the heap, wrongly */
	ck_assert_int_gt(heap_check(), 0);
	ck_assert_int_eq(fm->block_state(st, b), MEM_BLOCK_BAD);
	link[0] = (void *)(uintptr_t)saved;

	*header(b) ^= 1 << 7;   /* size no longer matches c's view of it */
	ck_assert_int_gt(heap_check(), 0);
	*header(b) ^= 1 << 7;
	ck_assert_int_eq(heap_check(), 0);
}
END_TEST

START_TEST(test_counters)
{
	void *p[64];
	uint64_t used = 0, peak = 0;
	struct mem_info mi;

	pool_new(1);
	for (int i = 0; i < 64; i++) {
		p[i] = alloc((size_t)i * 37 + 1);
		used += usable(p[i]);
	}
	for (int i = 0; i < 64; i += 3) {
		used -= usable(p[i]);
		fm->free(st, p[i]);
	}
	mi = info();
	ck_assert_uint_eq(mi.used_size, used);
	ck_assert_uint_eq(mi.free_size + mi.real_used, mi.total_size);
	ck_assert_uint_ge(mi.max_used, mi.real_used);
	peak = mi.max_used;
	for (int i = 1; i < 64; i += 3)
		fm->free(st, p[i]);
	mi = info();
	ck_assert_uint_eq(mi.max_used, peak);
	ck_assert_uint_eq(mi.free_size + mi.real_used, mi.total_size);
	ck_assert_int_eq(heap_check(), 0);
}
END_TEST

static int walk_order(const struct mem_block *b, void *arg)
{
	const void **last = arg;

	ck_assert_uint_gt((uintptr_t)b->payload, (uintptr_t)*last);
	ck_assert_uint_eq(b->size % 16, 8);
	*last = b->payload;
	return 0;
}

static int walk_stop(const struct mem_block *b, void *arg)
{
	(void)b;
	return ++*(int *)arg == 2 ? 42 : 0;
}

START_TEST(test_walk)
{
	const void *last = NULL;
	int seen = 0;
	void *b;

	pool_new(1);
	alloc(10);
	b = alloc(20);
	alloc(30);
	fm->free(st, b);
	ck_assert_int_eq(fm->walk(st, walk_order, &last), 0);
	ck_assert_int_eq(fm->walk(st, walk_stop, &seen), 42);
	ck_assert_int_eq(seen, 2);
}
END_TEST

/* Sizes above 4 GiB; skipped where the system will not map the region. */
START_TEST(test_huge_region)
{
	size_t size = (size_t)5 << 30, big = (size_t)9 << 29;
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct mem_info mi;
	char *p;

	if (mem == MAP_FAILED)
		return;
	mem_join = 1;
	st = fm->create(mem, size);
	ck_assert_ptr_nonnull(st);
	p = fm->malloc(st, big);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_ge(fm->usable_size(st, p), big);
	p[0] = p[big - 1] = 1;
	fm->info(st, &mi);
	ck_assert_uint_eq(mi.total_size, size);
	ck_assert_uint_eq(mi.used_size, fm->usable_size(st, p));
	ck_assert_ptr_null(fm->malloc(st, (size_t)1 << 30));
	ck_assert_int_eq(fm->check(st, count_problem, NULL), 0);
	fm->free(st, p);
	fm->info(st, &mi);
	ck_assert_uint_eq(mi.total_frags, 1);
	ck_assert_int_eq(fm->check(st, count_problem, NULL), 0);
	munmap(mem, size);
}
END_TEST

Suite *f_malloc_suite(void)
{
	Suite *s = suite_create("f_malloc");
	TCase *tc = tcase_create("fm");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fragment_sizes);
	tcase_add_test(tc, test_exact_class_reuse);
	tcase_add_test(tc, test_class_edge_32k);
	tcase_add_test(tc, test_too_large_fails);
	tcase_add_test(tc, test_join_both_ways);
	tcase_add_test(tc, test_join_run_classes);
	tcase_add_test(tc, test_free_refuses_fake_header);
	tcase_add_test(tc, test_no_join);
	tcase_add_test(tc, test_no_join_fails_fragmented);
	tcase_add_test(tc, test_resize_in_place);
	tcase_add_test(tc, test_resize_no_join);
	tcase_add_test(tc, test_block_state);
	tcase_add_test(tc, test_free_record_kept);
	tcase_add_test(tc, test_check_finds_damage);
	tcase_add_test(tc, test_counters);
	tcase_add_test(tc, test_walk);
	tcase_add_test(tc, test_huge_region);
	suite_add_tcase(s, tc);
	return s;
}
