/*
 * check_tlsf.c - what is special to the TLSF backend, driven through
 * mem_tlsf_backend directly on an mmap'd region (no common layer):
 * size-class boundaries, coalescing in both directions, in-place resize,
 * block_state on good and bad pointers, check() catching corruption,
 * a region larger than 4 GiB, and exact counters.  Every case runs the
 * heap checker after each step that changes the heap.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "../mem/backend.h"

#define POOL_SIZE ((size_t)1 << 20)
#define OVERHEAD 8u            /* bytes a used block costs over its usable */
#define MIN_BLOCK 32u

static const struct mem_backend *const B = &mem_tlsf_backend;
static void *region;
static size_t region_size;
static void *st;

static void *map_region(size_t size)
{
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

static void pool_setup(void)
{
	region_size = POOL_SIZE;
	region = map_region(region_size);
	ck_assert_ptr_nonnull(region);
	st = B->create(region, region_size);
	ck_assert_ptr_nonnull(st);
}

static void pool_teardown(void)
{
	munmap(region, region_size);
}

/* --- helpers ---------------------------------------------------------- */

static int checked(void)
{
	return B->check(st, NULL, NULL);
}

#define ck_heap_ok() ck_assert_int_eq(checked(), 0)

static struct mem_info info(void)
{
	struct mem_info mi;

	B->info(st, &mi);
	return mi;
}

/* Block size the backend makes for a request of n bytes. */
static size_t block_for(size_t n)
{
	size_t size = (n + OVERHEAD + 15) & ~(size_t)15;

	return size < MIN_BLOCK ? MIN_BLOCK : size;
}

static void *xmalloc(size_t n)
{
	void *p = B->malloc(st, n);

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq((uintptr_t)p % MEM_ALIGN, 0);
	ck_assert_uint_ge(B->usable_size(st, p), n);
	ck_heap_ok();
	return p;
}

static void xfree(void *p)
{
	ck_assert_int_eq(B->block_state(st, p), MEM_BLOCK_USED);
	B->free(st, p);
	ck_heap_ok();
}

struct tally {
	uint64_t blocks, free_blocks, free_bytes, used_usable;
	const void *last_free;
	uint64_t last_free_size;
};

static int tally_fn(const struct mem_block *b, void *arg)
{
	struct tally *t = arg;

	t->blocks++;
	if (b->used) {
		t->used_usable += b->size;
	} else {
		t->free_blocks++;
		t->free_bytes += b->size + OVERHEAD;
		t->last_free = b->payload;
		t->last_free_size = b->size;
	}
	return 0;
}

static struct tally walk_all(void)
{
	struct tally t = { 0 };

	ck_assert_int_eq(B->walk(st, tally_fn, &t), 0);
	return t;
}

/* The payload of the free block that holds p's address range, via walk. */
struct find {
	const void *p;
	struct mem_block found;
};

static int find_fn(const struct mem_block *b, void *arg)
{
	struct find *f = arg;

	if ((const char *)b->payload <= (const char *)f->p
			&& (const char *)f->p < (const char *)b->payload + b->size) {
		f->found = *b;
		return 1;
	}
	return 0;
}

static struct mem_block block_holding(const void *p)
{
	struct find f = { .p = p };

	ck_assert_int_eq(B->walk(st, find_fn, &f), 1);
	return f.found;
}

/* --- cases ------------------------------------------------------------ */

START_TEST(test_create_and_initial_counters)
{
	struct mem_info mi = info();
	struct tally t = walk_all();

	ck_assert_uint_eq(mi.total_size, POOL_SIZE);
	ck_assert_uint_eq(mi.used_size, 0);
	ck_assert_uint_eq(mi.total_frags, 1);
	ck_assert_uint_eq(mi.min_frag, MIN_BLOCK);
	ck_assert_uint_eq(mi.free_size + mi.real_used, mi.total_size);
	ck_assert_uint_eq(mi.max_used, mi.real_used);
	/* free_size is exactly the one free block. */
	ck_assert_uint_eq(t.blocks, 1);
	ck_assert_uint_eq(t.free_bytes, mi.free_size);
	/* the control structure (two zones of lists) is in real_used but
	 * stays small */
	ck_assert_uint_lt(mi.real_used, 24576);
	ck_heap_ok();
	ck_assert_ptr_null(B->create(region, 1024));
	ck_assert_str_eq(B->name, "tlsf");
	ck_assert_str_eq(B->long_name, "tlsf_malloc");
}
END_TEST

/* Requests around the linear/logarithmic boundary (512) and around powers
 * of two get exactly the rounded block, and the heap stays consistent. */
START_TEST(test_mapping_boundaries)
{
	static const size_t base[] = {
		1, 8, 23, 24, 25, 40, 41, 488, 495, 496, 497, 503, 504, 505,
		511, 512, 513, 520, 1016, 1017, 1024, 1025,
	};
	struct mem_info before = info();

	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
		void *p = xmalloc(base[i]);

		/* one free block remains, so the tail was split off exactly */
		ck_assert_uint_eq(B->usable_size(st, p),
			block_for(base[i]) - OVERHEAD);
		xfree(p);
	}
	for (unsigned k = 10; k < 19; k++) {
		for (int d = -17; d <= 17; d += 17) {
			size_t n = ((size_t)1 << k) + d;
			void *p = xmalloc(n);

			ck_assert_uint_eq(B->usable_size(st, p),
				block_for(n) - OVERHEAD);
			xfree(p);
		}
	}
	ck_assert_uint_eq(info().total_frags, 1);
	ck_assert_uint_eq(info().real_used, before.real_used);
}
END_TEST

/* Below 512 every 16-byte size has its own list: a free block of exactly
 * the requested size is found.  Above it, good fit rounds the request up
 * to the next class, so a free block from the class just below the rounded
 * one is skipped even when it would fit. */
START_TEST(test_exact_and_good_fit)
{
	void *a = xmalloc(40), *g1 = xmalloc(16);
	void *b, *c, *g2, *d;

	xfree(a);
	ck_assert_ptr_eq(xmalloc(40), a);           /* 48-byte block reused */

	b = xmalloc(1040 - OVERHEAD);       /* block 1040, class [1024, 1056) */
	g2 = xmalloc(16);
	xfree(b);
	/* 1040 rounds up into the next class [1056, 1088): b is skipped */
	c = xmalloc(1040 - OVERHEAD);
	ck_assert_ptr_ne(c, b);
	/* a request whose rounded class is b's own or lower takes b */
	d = xmalloc(1024 - OVERHEAD);
	ck_assert_ptr_eq(d, b);
	xfree(c);
	xfree(d);
	xfree(g2);
	xfree(g1);
	xfree(a);
	ck_assert_uint_eq(info().total_frags, 1);
}
END_TEST

/* The last block the walk shows (the one below the sentinel). */
static int last_fn(const struct mem_block *b, void *arg)
{
	*(struct mem_block *)arg = *b;
	return 0;
}

static struct mem_block last_block(void)
{
	struct mem_block last = { 0 };

	ck_assert_int_eq(B->walk(st, last_fn, &last), 0);
	return last;
}

/* Big blocks (16 KiB and up) are cut from the top end of a free block,
 * small ones from the bottom; a small request takes a free block made of
 * small blocks' space before one made of big blocks' space, even from a
 * larger class. */
START_TEST(test_big_top_small_zone)
{
	void *a = xmalloc(100), *b = xmalloc(5000), *c = xmalloc(100);
	void *top1 = xmalloc(20000), *top2 = xmalloc(20000);
	void *top3 = xmalloc(20000), *d, *rest;

	ck_assert((char *)a < (char *)b);
	ck_assert((char *)b < (char *)c);
	ck_assert_ptr_eq(last_block().payload, top1);   /* at the very top */
	ck_assert((char *)top2 < (char *)top1);
	ck_assert((char *)top3 < (char *)top2);
	ck_assert((char *)c < (char *)top3);
	/* a big-zone hole of ~3.6 KiB: top2's space less a big block cut
	 * from its top end */
	xfree(top2);
	d = xmalloc(16384);
	ck_assert((char *)d > (char *)top2);
	rest = block_holding(top2).payload;
	ck_assert_ptr_eq(rest, top2);
	ck_assert(!block_holding(top2).used);
	/* a small-zone hole of ~5 KiB, a larger class than rest's */
	xfree(b);
	ck_assert_uint_gt(block_holding(b).size, block_holding(rest).size);
	ck_assert_ptr_eq(xmalloc(1000), b);
	ck_assert(!block_holding(rest).used);
}
END_TEST

/* Three adjacent blocks a, b, c and a used guard after them: free a and
 * c, then b: everything merges into one block at a. */
START_TEST(test_coalesce_both_directions)
{
	void *a = xmalloc(100), *b = xmalloc(200), *c = xmalloc(300);
	void *guard = xmalloc(16);
	size_t total = block_for(100) + block_for(200) + block_for(300);
	struct mem_block m;

	ck_assert_ptr_eq((char *)b, (char *)a + block_for(100));
	ck_assert_ptr_eq((char *)c, (char *)b + block_for(200));
	ck_assert_uint_eq(info().total_frags, 1);
	xfree(a);
	ck_assert_uint_eq(info().total_frags, 2);
	xfree(c);
	ck_assert_uint_eq(info().total_frags, 3);
	ck_assert_int_eq(B->block_state(st, a), MEM_BLOCK_FREE);
	ck_assert_int_eq(B->block_state(st, c), MEM_BLOCK_FREE);
	xfree(b);                                   /* joins both sides */
	ck_assert_uint_eq(info().total_frags, 2);
	m = block_holding(c);
	ck_assert_ptr_eq(m.payload, a);
	ck_assert_int_eq(m.used, 0);
	ck_assert_uint_eq(m.size, total - OVERHEAD);
	ck_assert_int_eq(B->block_state(st, a), MEM_BLOCK_FREE);
	/* the swallowed headers are no blocks any more */
	ck_assert_int_eq(B->block_state(st, b), MEM_BLOCK_BAD);
	ck_assert_int_eq(B->block_state(st, c), MEM_BLOCK_BAD);
	/* the merged block serves a request of its whole size */
	ck_assert_ptr_eq(xmalloc(total - OVERHEAD), a);
	xfree(a);
	xfree(guard);
	ck_assert_uint_eq(info().total_frags, 1);
}
END_TEST

/* The other order: the middle first, then each neighbour joins it. */
START_TEST(test_coalesce_middle_first)
{
	void *a = xmalloc(64), *b = xmalloc(64), *c = xmalloc(64);
	void *guard = xmalloc(16);

	xfree(b);
	ck_assert_uint_eq(info().total_frags, 2);
	xfree(a);                                   /* a absorbs b */
	ck_assert_uint_eq(info().total_frags, 2);
	xfree(c);                                   /* a+b absorbs c */
	ck_assert_uint_eq(info().total_frags, 2);
	ck_assert_uint_eq(block_holding(c).size,
		3 * block_for(64) - OVERHEAD);
	xfree(guard);
	ck_assert_uint_eq(info().total_frags, 1);
}
END_TEST

START_TEST(test_resize_in_place)
{
	unsigned char *a = xmalloc(100), *b = xmalloc(100), *c = xmalloc(16);
	struct mem_info before, after;
	size_t u;

	memset(a, 0xa5, 100);
	/* grow fails while the next block is used: nothing changes */
	u = B->usable_size(st, a);
	before = info();
	ck_assert_int_eq(B->resize(st, a, 200), -1);
	ck_assert_uint_eq(B->usable_size(st, a), u);
	after = info();
	ck_assert_mem_eq(&before, &after, sizeof(before));
	ck_heap_ok();
	/* a shrink by less than a minimum block (112 -> 96) changes nothing
	 * and succeeds */
	ck_assert_int_eq(B->resize(st, a, 88), 0);
	ck_assert_uint_eq(B->usable_size(st, a), u);
	after = info();
	ck_assert_mem_eq(&before, &after, sizeof(before));
	/* free b: now a can grow over it, the excess split off again */
	xfree(b);
	ck_assert_int_eq(B->resize(st, a, 150), 0);
	ck_heap_ok();
	ck_assert_uint_eq(B->usable_size(st, a), block_for(150) - OVERHEAD);
	ck_assert_uint_eq(info().total_frags, 2);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(a[i], 0xa5);
	/* grow over all of it: block_for(100) + block_for(100) exactly */
	ck_assert_int_eq(B->resize(st, a,
		2 * block_for(100) - OVERHEAD), 0);
	ck_heap_ok();
	ck_assert_uint_eq(info().total_frags, 1);
	ck_assert_ptr_eq(c, a + 2 * block_for(100));
	/* too much: -1 */
	ck_assert_int_eq(B->resize(st, a, 2 * block_for(100)), -1);
	/* shrink: the tail becomes a free block before c */
	ck_assert_int_eq(B->resize(st, a, 20), 0);
	ck_heap_ok();
	ck_assert_uint_eq(B->usable_size(st, a), block_for(20) - OVERHEAD);
	ck_assert_uint_eq(info().total_frags, 2);
	for (int i = 0; i < 20; i++)
		ck_assert_uint_eq(a[i], 0xa5);
	xfree(a);
	xfree(c);
	ck_assert_uint_eq(info().total_frags, 1);
}
END_TEST

/* Shrinking next to a free block moves that block's start down, even when
 * the freed tail alone would be too small to be a block. */
START_TEST(test_resize_shrink_into_free_next)
{
	void *a = xmalloc(100), *b = xmalloc(100), *c = xmalloc(16);
	uint64_t free_before;

	xfree(b);
	free_before = info().free_size;
	ck_assert_int_eq(B->resize(st, a, 100 - 16), 0);   /* 16 bytes back */
	ck_heap_ok();
	ck_assert_uint_eq(info().free_size, free_before + 16);
	ck_assert_uint_eq(info().total_frags, 2);
	ck_assert_uint_eq(block_holding((char *)b - 16).size,
		block_for(100) + 16 - OVERHEAD);
	xfree(a);
	xfree(c);
	ck_assert_uint_eq(info().total_frags, 1);
}
END_TEST

START_TEST(test_block_state)
{
	unsigned char *a = xmalloc(256), *b = xmalloc(256), *c = xmalloc(256);
	uint64_t fake[2];

	ck_assert_int_eq(B->block_state(st, a), MEM_BLOCK_USED);
	xfree(b);
	ck_assert_int_eq(B->block_state(st, b), MEM_BLOCK_FREE);
	/* pointers into the middle of a used block */
	memset(a, 0, 256);
	for (int off = 16; off < 256; off += 16)
		ck_assert_int_eq(B->block_state(st, a + off), MEM_BLOCK_BAD);
	/* ... and of a free one */
	for (int off = 16; off < 256; off += 16)
		ck_assert_int_eq(B->block_state(st, b + off), MEM_BLOCK_BAD);
	/* garbage user data */
	for (int i = 0; i < 256; i++)
		c[i] = (unsigned char)(i * 37 + 11);
	for (int off = 16; off < 256; off += 16)
		ck_assert_int_eq(B->block_state(st, c + off), MEM_BLOCK_BAD);
	memset(c, 0xff, 256);
	for (int off = 16; off < 256; off += 16)
		ck_assert_int_eq(B->block_state(st, c + off), MEM_BLOCK_BAD);
	/* forged headers in user data: a used block of 64 bytes at c + 32
	 * followed by another at c + 96; only the tag can tell them apart */
	memset(c, 0, 256);
	fake[0] = 0;
	fake[1] = 64;
	memcpy(c + 32, fake, sizeof(fake));
	memcpy(c + 96, fake, sizeof(fake));
	ck_assert_int_eq(B->block_state(st, c + 48), MEM_BLOCK_BAD);
	/* the control structure and the first bytes of the region */
	ck_assert_int_eq(B->block_state(st, (char *)region + 16), MEM_BLOCK_BAD);
	ck_assert_int_eq(B->block_state(st, (char *)region + 4096),
		MEM_BLOCK_BAD);
	/* the end of the region */
	ck_assert_int_eq(B->block_state(st,
		(char *)region + region_size - 16), MEM_BLOCK_BAD);
	xfree(a);
	xfree(c);
	ck_heap_ok();
}
END_TEST

static int problems;

static void count_problem(void *arg, const void *where, const char *what)
{
	(void)where;
	(void)what;
	(*(int *)arg)++;
}

/* An overflow past a's usable bytes lands on b's size word. */
START_TEST(test_check_detects_corrupt_header)
{
	unsigned char *a = xmalloc(100), *b = xmalloc(100);
	size_t u = B->usable_size(st, a);
	unsigned char saved[8];

	(void)b;
	memcpy(saved, a + u, 8);
	memset(a + u, 0x41, 8);
	problems = 0;
	ck_assert_int_gt(B->check(st, count_problem, &problems), 0);
	ck_assert_int_gt(problems, 0);
	ck_assert_int_eq(B->block_state(st, b), MEM_BLOCK_BAD);
	memcpy(a + u, saved, 8);
	ck_heap_ok();
	/* a size grown by 16 with tag and flags intact: walk and check
	 * still notice */
	*(uint64_t *)(a + u) += 16;
	ck_assert_int_gt(checked(), 0);
	memcpy(a + u, saved, 8);
	ck_heap_ok();
}
END_TEST

/* A broken free-list link and a flipped FREE flag are both reported. */
START_TEST(test_check_detects_corrupt_free_block)
{
	unsigned char *a = xmalloc(100), *b = xmalloc(100), *c = xmalloc(100);
	unsigned char saved[16];

	(void)c;
	xfree(a);
	memcpy(saved, a, 16);
	memset(a, 0x5a, 16);                        /* the list links */
	ck_assert_int_gt(checked(), 0);
	ck_assert_int_eq(B->block_state(st, a), MEM_BLOCK_BAD);
	memcpy(a, saved, 16);
	ck_heap_ok();
	/* b's size word: clear b's PREV_FREE bit (a is free) */
	*(uint64_t *)(b - 8) &= ~(uint64_t)2;
	ck_assert_int_gt(checked(), 0);
	*(uint64_t *)(b - 8) |= 2;
	ck_heap_ok();
}
END_TEST

/* The common layer keeps free-site records at payload + 16 .. + 40 of a
 * freed block; coalescing must leave them for blocks of 64 bytes up. */
START_TEST(test_free_payload_untouched)
{
	unsigned char *z = xmalloc(100), *a = xmalloc(56), *b = xmalloc(100);
	unsigned char *g = xmalloc(16);
	unsigned char rec[24];

	for (int i = 0; i < 24; i++)
		rec[i] = (unsigned char)(0xc0 + i);
	memcpy(a + 16, rec, 24);
	memcpy(z + 16, rec, 24);
	xfree(a);
	ck_assert_mem_eq(a + 16, rec, 24);
	xfree(b);                                   /* a absorbs b */
	ck_assert_mem_eq(a + 16, rec, 24);
	xfree(z);                                   /* z absorbs a */
	ck_assert_mem_eq(z + 16, rec, 24);
	ck_assert_mem_eq(a + 16, rec, 24);
	xfree(g);
}
END_TEST

static int stop_at_third(const struct mem_block *b, void *arg)
{
	int *n = arg;

	(void)b;
	return ++*n == 3 ? 42 : 0;
}

START_TEST(test_walk_order_and_stop)
{
	void *p[8];
	struct tally t;
	int n = 0;

	for (int i = 0; i < 8; i++)
		p[i] = xmalloc(32 + 16 * i);
	for (int i = 0; i < 8; i += 2)
		xfree(p[i]);
	t = walk_all();
	ck_assert_uint_eq(t.blocks, 9);             /* 8 + the tail */
	ck_assert_uint_eq(t.free_blocks, 5);
	ck_assert_uint_eq(t.free_blocks, info().total_frags);
	ck_assert_ptr_eq(block_holding(p[3]).payload, p[3]);
	ck_assert_int_eq(B->walk(st, stop_at_third, &n), 42);
	ck_assert_int_eq(n, 3);
	for (int i = 1; i < 8; i += 2)
		xfree(p[i]);
}
END_TEST

START_TEST(test_request_too_large)
{
	struct mem_info mi = info();

	ck_assert_ptr_null(B->malloc(st, POOL_SIZE));
	ck_assert_ptr_null(B->malloc(st, MEM_MAX_REQUEST));
	ck_assert_uint_eq(info().free_size, mi.free_size);
	/* good fit rounds the request up past the one free block's class;
	 * nothing larger is free, so that class is searched (FIT_PROBES) and
	 * the block, exactly large enough, is served: the pool is full */
	void *all = B->malloc(st, mi.free_size - OVERHEAD);
	ck_assert_ptr_nonnull(all);
	ck_assert_uint_eq(info().free_size, 0);
	ck_heap_ok();
	xfree(all);
	/* and the class's lower bound (2^19 + k * 2^14 for a block just under
	 * 1 MiB) is served by good fit itself */
	ck_assert_uint_eq(mi.free_size >> 19, 1);
	ck_assert_ptr_nonnull(B->malloc(st,
		(mi.free_size & ~(uint64_t)((1 << 14) - 1)) - OVERHEAD));
	ck_heap_ok();
}
END_TEST

static uint64_t rng = 12345;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Random operations; after each, the counters equal a shadow ledger. */
START_TEST(test_counters_exact)
{
	enum { SLOTS = 200 };
	void *slot[SLOTS] = { 0 };
	uint64_t usable = 0, peak, base = info().real_used;

	peak = base;
	for (int op = 0; op < 20000; op++) {
		int k = (int)(next_rand() % SLOTS);
		size_t n = 1 + next_rand() % (next_rand() % 4 ? 300 : 20000);
		struct mem_info mi;
		struct tally t;

		if (!slot[k]) {
			slot[k] = B->malloc(st, n);
			if (slot[k])
				usable += B->usable_size(st, slot[k]);
		} else if (next_rand() % 4 == 0) {
			size_t u = B->usable_size(st, slot[k]);

			if (B->resize(st, slot[k], n) == 0)
				usable += B->usable_size(st, slot[k]) - u;
		} else {
			usable -= B->usable_size(st, slot[k]);
			B->free(st, slot[k]);
			slot[k] = NULL;
		}
		mi = info();
		t = walk_all();
		if (mi.real_used > peak)
			peak = mi.real_used;
		ck_assert_uint_eq(mi.used_size, usable);
		ck_assert_uint_eq(t.used_usable, usable);
		ck_assert_uint_eq(mi.real_used - base,
			usable + OVERHEAD * (t.blocks - t.free_blocks));
		ck_assert_uint_eq(mi.free_size + mi.real_used, mi.total_size);
		ck_assert_uint_eq(mi.free_size, t.free_bytes);
		ck_assert_uint_eq(mi.total_frags, t.free_blocks);
		ck_assert_uint_eq(mi.max_used, peak);
		if (op % 64 == 0)
			ck_heap_ok();
	}
	for (int k = 0; k < SLOTS; k++)
		if (slot[k])
			B->free(st, slot[k]);
	ck_heap_ok();
	ck_assert_uint_eq(info().real_used, base);
	ck_assert_uint_eq(info().total_frags, 1);
}
END_TEST

/* A region above 4 GiB: 64-bit sizes in headers, lists and counters.
 * MAP_NORESERVE: only the touched pages are ever backed. */
START_TEST(test_region_over_4g)
{
	size_t size = (size_t)5 << 30;
	void *m = map_region(size);
	void *s, *p, *q;
	struct mem_info mi;

	if (!m)
		return;                 /* no address space for it: nothing to test */
	s = B->create(m, size);
	ck_assert_ptr_nonnull(s);
	B->info(s, &mi);
	ck_assert_uint_eq(mi.total_size, size);
	p = B->malloc(s, (size_t)9 << 29);          /* 4.5 GiB */
	ck_assert_ptr_nonnull(p);
	((char *)p)[0] = 1;
	((char *)p)[((size_t)9 << 29) - 1] = 1;
	ck_assert_uint_ge(B->usable_size(s, p), (size_t)9 << 29);
	q = B->malloc(s, (size_t)1 << 29);          /* half a GiB is not left */
	ck_assert_ptr_null(q);
	q = B->malloc(s, (size_t)1 << 20);
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(B->check(s, NULL, NULL), 0);
	B->info(s, &mi);
	ck_assert_uint_gt(mi.used_size, (uint64_t)4 << 30);
	ck_assert_int_eq(B->resize(s, p, (size_t)1 << 30), 0);
	ck_assert_int_eq(B->check(s, NULL, NULL), 0);
	ck_assert_int_eq(B->block_state(s, p), MEM_BLOCK_USED);
	B->free(s, p);
	B->free(s, q);
	ck_assert_int_eq(B->check(s, NULL, NULL), 0);
	B->info(s, &mi);
	ck_assert_uint_eq(mi.total_frags, 1);
	ck_assert_uint_eq(mi.used_size, 0);
	ck_assert_uint_gt(mi.max_used, (uint64_t)4 << 30);
	munmap(m, size);
}
END_TEST

Suite *tlsf_suite(void)
{
	Suite *s = suite_create("tlsf");
	TCase *tc = tcase_create("algorithm");
	TCase *big = tcase_create("big region");

	tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
	tcase_add_test(tc, test_create_and_initial_counters);
	tcase_add_test(tc, test_mapping_boundaries);
	tcase_add_test(tc, test_exact_and_good_fit);
	tcase_add_test(tc, test_big_top_small_zone);
	tcase_add_test(tc, test_coalesce_both_directions);
	tcase_add_test(tc, test_coalesce_middle_first);
	tcase_add_test(tc, test_resize_in_place);
	tcase_add_test(tc, test_resize_shrink_into_free_next);
	tcase_add_test(tc, test_block_state);
	tcase_add_test(tc, test_check_detects_corrupt_header);
	tcase_add_test(tc, test_check_detects_corrupt_free_block);
	tcase_add_test(tc, test_free_payload_untouched);
	tcase_add_test(tc, test_walk_order_and_stop);
	tcase_add_test(tc, test_request_too_large);
	tcase_add_test(tc, test_counters_exact);
	suite_add_tcase(s, tc);
	tcase_set_timeout(big, 60);
	tcase_add_test(big, test_region_over_4g);
	suite_add_tcase(s, big);
	return s;
}
