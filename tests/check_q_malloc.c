/*
 * check_q_malloc.c - what is special to q_malloc, driven through the
 * backend table on a private mapping: boundary-tag coalescing in both
 * directions, guard words (overflow, corrupted header, stale and interior
 * pointers), in-place resize, the free-list size classes, and the promise
 * to leave a freed block's payload + 16 .. + 40 alone.  The heap checker
 * runs after every step that should leave the heap healthy.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "../mem/backend.h"
#include "../mem/q_malloc.h"

#define POOL_SIZE ((size_t)1 << 20)

Suite *q_malloc_suite(void);    /* found by the build, run by tests/main.c */

static const struct mem_backend *qm = &mem_qm_backend;
static unsigned char *mem;
static size_t mem_size;
static void *st;
static int problems;
static char last_problem[128];

static void on_problem(void *arg, const void *where, const char *what)
{
	(void)arg;
	(void)where;
	problems++;
	strncpy(last_problem, what, sizeof(last_problem) - 1);
}

static void pool_open(size_t size)
{
	mem_size = size;
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_ptr_ne(mem, MAP_FAILED);
	st = qm->create(mem, size);
	ck_assert_ptr_nonnull(st);
	problems = 0;
	last_problem[0] = '\0';
}

static void setup(void)
{
	pool_open(POOL_SIZE);
}

static void teardown(void)
{
	munmap(mem, mem_size);
}

static int check_heap(void)
{
	problems = 0;
	return qm->check(st, on_problem, NULL);
}

#define HEAP_OK() ck_assert_msg(check_heap() == 0, "heap: %s", last_problem)

static unsigned char *alloc(size_t n)
{
	unsigned char *p = qm->malloc(st, n);

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq((uintptr_t)p % MEM_ALIGN, 0);
	return p;
}

static struct mem_info info(void)
{
	struct mem_info mi;

	qm->info(st, &mi);
	return mi;
}

/* "Nothing changed": every counter as it was. */
static void assert_info_same(const struct mem_info *before)
{
	struct mem_info now = info();

	ck_assert_mem_eq(&now, before, sizeof(now));
}

static size_t usable(const void *p)
{
	return qm->usable_size(st, p);
}

static int state(const void *p)
{
	return qm->block_state(st, p);
}

/* --- layout ------------------------------------------------------------- */

START_TEST(test_min_fragment)
{
	unsigned char *a = alloc(1), *b = alloc(1);
	struct mem_info mi = info();

	ck_assert_uint_eq(usable(a), QM_MIN_USABLE);
	ck_assert_uint_eq((size_t)(b - a), QM_MIN_FRAG);
	ck_assert_uint_eq(mi.min_frag, QM_MIN_FRAG);
	ck_assert_uint_eq(mi.used_size, 2 * QM_MIN_USABLE);
	ck_assert_uint_eq(mi.free_size + mi.real_used, mi.total_size);
	ck_assert_uint_eq(usable(alloc(49)), 64);
	HEAP_OK();
}
END_TEST

START_TEST(test_create_too_small)
{
	size_t n;

	ck_assert_ptr_null(qm->create(mem, 64));
	/* the smallest pool that works holds exactly one minimum fragment */
	for (n = 64; !qm->create(mem, n); n += MEM_ALIGN)
		;
	st = qm->create(mem, n);
	ck_assert_ptr_nonnull(qm->malloc(st, 1));
	ck_assert_ptr_null(qm->malloc(st, 1));
	ck_assert_uint_eq(info().free_size, 0);
	HEAP_OK();
	st = qm->create(mem, n - MEM_ALIGN);
	ck_assert_ptr_null(st);
}
END_TEST

/* --- coalescing --------------------------------------------------------- */

START_TEST(test_coalesce_next)
{
	unsigned char *a = alloc(100), *b = alloc(200);
	uint64_t frags;

	alloc(1);               /* keeps a and b away from the free tail */
	frags = info().total_frags;
	qm->free(st, b);
	ck_assert_int_eq(state(b), MEM_BLOCK_FREE);
	ck_assert_uint_eq(info().total_frags, frags + 1);
	qm->free(st, a);        /* a absorbs b */
	HEAP_OK();
	ck_assert_uint_eq(info().total_frags, frags + 1);
	ck_assert_int_eq(state(a), MEM_BLOCK_FREE);
	ck_assert_int_eq(state(b), MEM_BLOCK_BAD);  /* stale: header wiped */
	ck_assert_ptr_eq(alloc(112 + 208 + QM_OVERHEAD), a);
	HEAP_OK();
}
END_TEST

START_TEST(test_coalesce_prev)
{
	unsigned char *a = alloc(100), *b = alloc(200);
	uint64_t frags;

	alloc(1);
	frags = info().total_frags;
	qm->free(st, a);
	qm->free(st, b);        /* a absorbs b from the other side */
	HEAP_OK();
	ck_assert_uint_eq(info().total_frags, frags + 1);
	ck_assert_int_eq(state(b), MEM_BLOCK_BAD);
	ck_assert_uint_eq(usable(a), 112 + 208 + QM_OVERHEAD);
}
END_TEST

START_TEST(test_coalesce_both)
{
	unsigned char *a = alloc(100), *b = alloc(100), *c = alloc(100);
	uint64_t frags;

	alloc(1);
	frags = info().total_frags;
	qm->free(st, a);
	qm->free(st, c);
	ck_assert_uint_eq(info().total_frags, frags + 2);
	qm->free(st, b);
	HEAP_OK();
	ck_assert_uint_eq(info().total_frags, frags + 1);
	ck_assert_uint_eq(usable(a), 3 * 112 + 2 * QM_OVERHEAD);
	ck_assert_int_eq(state(b), MEM_BLOCK_BAD);
	ck_assert_int_eq(state(c), MEM_BLOCK_BAD);
}
END_TEST

START_TEST(test_back_to_one_fragment)
{
	struct mem_info empty = info(), mi;
	unsigned char *p[64];
	int i;

	for (i = 0; i < 64; i++)
		p[i] = alloc(16 + (size_t)i * 37);
	for (i = 0; i < 64; i += 2)
		qm->free(st, p[i]);
	HEAP_OK();
	for (i = 1; i < 64; i += 2)
		qm->free(st, p[i]);
	HEAP_OK();
	mi = info();
	ck_assert_uint_eq(mi.total_frags, 1);
	ck_assert_uint_eq(mi.used_size, 0);
	ck_assert_uint_eq(mi.real_used, empty.real_used);
	ck_assert_uint_gt(mi.max_used, empty.real_used);
}
END_TEST

/* --- free blocks keep what the common layer wrote ----------------------- */

static void write_record(unsigned char *p, unsigned char tag)
{
	int i;

	for (i = 16; i < 40; i++)
		p[i] = (unsigned char)(tag + i);
}

static void assert_record(const unsigned char *p, unsigned char tag)
{
	int i;

	for (i = 16; i < 40; i++)
		ck_assert_uint_eq(p[i], (unsigned char)(tag + i));
}

START_TEST(test_free_records_untouched)
{
	/* 40 bytes: what the smallest MEMDBG request needs, in both builds */
	unsigned char *a = alloc(40), *b = alloc(40), *c = alloc(40);

	alloc(1);
	write_record(b, 0x10);
	qm->free(st, b);        /* both neighbours used */
	assert_record(b, 0x10);
	write_record(a, 0x20);
	qm->free(st, a);        /* absorbs b */
	assert_record(a, 0x20);
	assert_record(b, 0x10);
	write_record(c, 0x30);
	qm->free(st, c);        /* absorbed by a */
	assert_record(a, 0x20);
	assert_record(b, 0x10);
	assert_record(c, 0x30);
	HEAP_OK();
}
END_TEST

/* --- guards ------------------------------------------------------------- */

START_TEST(test_overflow_one_byte)
{
	unsigned char *a = alloc(100), *b = alloc(100);
	size_t n = usable(a);

	memset(b, 0xbb, usable(b));
	a[n] ^= 0x5a;           /* first byte past the usable size */
	ck_assert_int_ge(check_heap(), 1);
	ck_assert_ptr_nonnull(strstr(last_problem, "footer"));
	ck_assert_int_eq(state(a), MEM_BLOCK_USED);
	ck_assert_int_eq(qm->resize(st, a, 50), -1);    /* keeps the evidence */
	ck_assert_int_eq(qm->resize(st, a, 500), -1);
	qm->free(st, a);        /* rewrites the footer, corrupts nothing */
	HEAP_OK();
	ck_assert_int_eq(state(b), MEM_BLOCK_USED);
	ck_assert_uint_eq(b[0], 0xbb);
	ck_assert_uint_eq(b[usable(b) - 1], 0xbb);
}
END_TEST

START_TEST(test_overflow_next_free)
{
	unsigned char *a = alloc(100), *b = alloc(100);

	alloc(1);
	qm->free(st, b);
	a[usable(a)] = 0;       /* a's footer broken, b is free */
	ck_assert_int_ge(check_heap(), 1);
	qm->free(st, a);
	HEAP_OK();
	ck_assert_uint_eq(usable(a), 2 * 112 + QM_OVERHEAD);
}
END_TEST

START_TEST(test_corrupt_header)
{
	unsigned char *a = alloc(64);
	uint64_t *hdr = (uint64_t *)(void *)(a - QM_HDR_SIZE);
	uint64_t save;

	save = hdr[1];
	hdr[1] ^= 1;            /* check word */
	ck_assert_int_eq(state(a), MEM_BLOCK_BAD);
	ck_assert_int_ge(check_heap(), 1);
	ck_assert_ptr_nonnull(strstr(last_problem, "header"));
	hdr[1] = save;
	ck_assert_int_eq(state(a), MEM_BLOCK_USED);
	save = hdr[0];
	hdr[0] += 16;           /* size word, guard untouched */
	ck_assert_int_eq(state(a), MEM_BLOCK_BAD);
	hdr[0] = save;
	HEAP_OK();
}
END_TEST

/* What rebuild() is told of a free fragment it joins: nothing to do here. */
static int swallowed(const struct mem_block *b, void *arg)
{
	(void)b;
	(void)arg;
	return 0;
}

/* A process killed inside qm_take(), cutting b out of the free fragment
 * that followed a, between the two words of b's header: qm_set_tags()
 * wrote the rest's tags, then b's footer, then b's size, and died before
 * b's guard, so the header holds the new size with the guard of the free
 * fragment it was cut from.  The chain's order of stores makes that the
 * only torn header a death can leave, and the rebuild after the death
 * takes it: the guard is mended, b stays used at its size, the counters
 * are recomputed, and the heap frees back to one fragment.  The other
 * tear (old size, new guard: what the binary stored before a compiler
 * fence forced the order, doc/RELIABILITY.md "Kill storm") has no footer
 * that agrees with it, and the rebuild refuses it (the pool is then
 * declared broken by the common layer, which is why the order is kept). */
START_TEST(test_torn_header_rebuilt)
{
	unsigned char *a = alloc(64);
	uint64_t *cut = (uint64_t *)(void *)(a + usable(a) + QM_FOOT_SIZE);
	uint64_t old_size = cut[0], old_check = cut[1];
	struct mem_info fresh, mi;

	qm->info(st, &fresh);
	unsigned char *b = alloc(200);
	ck_assert_ptr_eq(b, (unsigned char *)cut + QM_HDR_SIZE);
	size_t ub = usable(b);
	qm->info(st, &fresh);
	ck_assert_uint_ne(cut[0], old_size);
	cut[1] = old_check;                     /* killed before the guard */
	ck_assert_int_eq(state(b), MEM_BLOCK_BAD);
	ck_assert_int_ge(check_heap(), 1);

	ck_assert_int_ge(qm->rebuild(st, swallowed, NULL), 0);
	HEAP_OK();
	ck_assert_int_eq(state(b), MEM_BLOCK_USED);
	ck_assert_uint_eq(usable(b), ub);
	qm->info(st, &mi);
	ck_assert_uint_eq(mi.used_size, fresh.used_size);
	ck_assert_uint_eq(mi.real_used, fresh.real_used);
	ck_assert_uint_eq(mi.total_frags, fresh.total_frags);
	qm->free(st, b);
	qm->free(st, a);
	HEAP_OK();
	qm->info(st, &mi);
	ck_assert_uint_eq(mi.used_size, 0);
	ck_assert_uint_eq(mi.total_frags, 1);

	/* the other tear: the old size under the new guard */
	a = alloc(64);
	b = alloc(200);
	ck_assert_ptr_eq(b, (unsigned char *)cut + QM_HDR_SIZE);
	cut[0] = old_size;
	ck_assert_int_eq(state(b), MEM_BLOCK_BAD);
	ck_assert_int_eq(qm->rebuild(st, swallowed, NULL), -1);
}
END_TEST

START_TEST(test_interior_pointers_bad)
{
	unsigned char *a = alloc(1000);
	size_t off;

	memset(a, 0, usable(a));
	for (off = MEM_ALIGN; off < usable(a); off += MEM_ALIGN)
		ck_assert_int_eq(state(a + off), MEM_BLOCK_BAD);
	for (off = 0; mem + off < a; off += MEM_ALIGN)  /* the state itself */
		ck_assert_int_eq(state(mem + off), MEM_BLOCK_BAD);
	ck_assert_int_eq(state(mem + POOL_SIZE - MEM_ALIGN), MEM_BLOCK_BAD);
	ck_assert_int_eq(state(a), MEM_BLOCK_USED);
}
END_TEST

START_TEST(test_free_block_state)
{
	unsigned char *a = alloc(300);
	uint64_t *foot;

	alloc(1);
	qm->free(st, a);
	ck_assert_int_eq(state(a), MEM_BLOCK_FREE);
	foot = (uint64_t *)(void *)(a + usable(a));
	*foot ^= 4;             /* a free fragment must have a sound footer */
	ck_assert_int_eq(state(a), MEM_BLOCK_BAD);
	*foot ^= 4;
	ck_assert_ptr_eq(alloc(300), a);
	ck_assert_int_eq(state(a), MEM_BLOCK_USED);
}
END_TEST

START_TEST(test_corrupt_free_links)
{
	unsigned char *a = alloc(300), *b;
	uintptr_t *link = (uintptr_t *)(void *)a;
	uintptr_t save;

	alloc(1);
	qm->free(st, a);
	save = link[0];
	link[0] = 0x1234560;    /* a write after free over the next link */
	ck_assert_int_ge(check_heap(), 1);
	b = alloc(300);         /* must not take (or unlink) a */
	ck_assert_ptr_ne(b, a);
	link[0] = save;
	qm->free(st, b);
	HEAP_OK();
}
END_TEST

/* A free neighbour whose back link is broken is not joined (free() would
 * unlink it through that link): b stays a fragment of its own. */
START_TEST(test_join_refuses_broken_links)
{
	unsigned char *a = alloc(300), *b = alloc(300);
	uintptr_t *link = (uintptr_t *)(void *)a;
	uintptr_t save;

	alloc(1);
	qm->free(st, a);
	save = link[1];
	link[1] = (uintptr_t)(mem + 4096);      /* a's prev: wild */
	ck_assert_int_eq(qm->free(st, b), MEM_BLOCK_USED);
	ck_assert_int_eq(state(b), MEM_BLOCK_FREE);     /* not swallowed */
	ck_assert_int_eq(state(a), MEM_BLOCK_FREE);
	ck_assert_int_ge(check_heap(), 1);
	link[1] = save;
}
END_TEST

/* --- resize in place ---------------------------------------------------- */

START_TEST(test_resize_shrink)
{
	unsigned char *a = alloc(1000), *t;
	uint64_t frags;
	size_t i;

	alloc(1);
	frags = info().total_frags;
	for (i = 0; i < 1000; i++)
		a[i] = (unsigned char)i;
	ck_assert_int_eq(qm->resize(st, a, 100), 0);
	ck_assert_uint_eq(usable(a), 112);
	t = a + 112 + QM_OVERHEAD;      /* the tail split off */
	ck_assert_int_eq(state(t), MEM_BLOCK_FREE);
	ck_assert_uint_eq(info().total_frags, frags + 1);
	for (i = 0; i < 100; i++)
		ck_assert_uint_eq(a[i], (unsigned char)i);
	HEAP_OK();
	/* shrinking next to a free fragment hands the bytes to it */
	ck_assert_int_eq(qm->resize(st, a, 96), 0);
	ck_assert_uint_eq(usable(a), 96);
	ck_assert_int_eq(state(t), MEM_BLOCK_BAD);
	ck_assert_int_eq(state(t - 16), MEM_BLOCK_FREE);
	ck_assert_uint_eq(info().total_frags, frags + 1);
	HEAP_OK();
}
END_TEST

START_TEST(test_resize_shrink_slack)
{
	unsigned char *a = alloc(200);
	struct mem_info before;

	alloc(1);
	before = info();
	/* 16 bytes short of a fragment cannot be cut, and the next one is used */
	ck_assert_int_eq(qm->resize(st, a, 208 - (QM_MIN_FRAG - 16)), 0);
	ck_assert_uint_eq(usable(a), 208);
	assert_info_same(&before);
	HEAP_OK();
}
END_TEST

START_TEST(test_resize_grow)
{
	unsigned char *a = alloc(100), *b = alloc(100), *c = alloc(1000);
	struct mem_info before;

	alloc(1);
	memset(a, 0xaa, 100);
	qm->free(st, b);
	/* absorb b exactly */
	ck_assert_int_eq(qm->resize(st, a, 112 + 112 + QM_OVERHEAD), 0);
	ck_assert_uint_eq(usable(a), 256);
	ck_assert_int_eq(state(b), MEM_BLOCK_BAD);
	HEAP_OK();
	/* next is used: nothing changes */
	before = info();
	ck_assert_int_eq(qm->resize(st, a, 300), -1);
	ck_assert_uint_eq(usable(a), 256);
	assert_info_same(&before);
	/* absorb part of c, the rest stays free */
	qm->free(st, c);
	ck_assert_int_eq(qm->resize(st, a, 600), 0);
	ck_assert_uint_eq(usable(a), 608);
	ck_assert_int_eq(state(a + 608 + QM_OVERHEAD), MEM_BLOCK_FREE);
	ck_assert_uint_eq(a[0], 0xaa);
	ck_assert_uint_eq(a[99], 0xaa);
	HEAP_OK();
	/* more than the free neighbour holds: nothing changes */
	before = info();
	ck_assert_int_eq(qm->resize(st, a, 5000), -1);
	ck_assert_uint_eq(usable(a), 608);
	assert_info_same(&before);
	HEAP_OK();
}
END_TEST

/* --- size classes ------------------------------------------------------- */

/* A free fragment of exactly `n` usable bytes, fenced by used ones. */
static unsigned char *hole(size_t n)
{
	unsigned char *p = alloc(n);

	alloc(1);
	return p;
}

START_TEST(test_exact_classes)
{
	unsigned char *h48 = hole(48), *h64 = hole(64);
	unsigned char *h4096 = hole(4096), *h4112 = hole(4112);

	qm->free(st, h64);
	qm->free(st, h48);
	qm->free(st, h4112);
	qm->free(st, h4096);
	ck_assert_ptr_eq(alloc(49), h64);       /* not the 48 one, not the tail */
	ck_assert_ptr_eq(alloc(4097), h4112);   /* first logarithmic class */
	ck_assert_ptr_eq(alloc(4096), h4096);   /* last exact class */
	ck_assert_ptr_eq(alloc(1), h48);
	HEAP_OK();
}
END_TEST

START_TEST(test_log_class_first_fit)
{
	/* 5008 and 5104 share the class [4096, 5120) */
	unsigned char *big = hole(5104), *small = hole(5008);

	qm->free(st, big);
	qm->free(st, small);    /* list head now */
	ck_assert_ptr_eq(alloc(5050), big);     /* skips the head, too small */
	ck_assert_ptr_eq(alloc(5000), small);
	HEAP_OK();
}
END_TEST

/* malloc walks a list checking each back link where it reads it: an
 * entry whose prev does not name the entry the walk came from is not
 * taken, and neither is a head whose successor does not link back to it
 * (unlinking the head writes that successor's prev). */
START_TEST(test_fit_walk_back_links)
{
	/* 5008 and 5104 share the class [4096, 5120) */
	unsigned char *big = hole(5104), *small = hole(5008);
	unsigned char *h1 = hole(64), *h2 = hole(64);
	uintptr_t *big_prev = (uintptr_t *)(void *)(big + 8);
	uintptr_t *h1_prev = (uintptr_t *)(void *)(h1 + 8);
	uintptr_t save_big, save_h1;
	unsigned char *p, *q;

	qm->free(st, big);
	qm->free(st, small);    /* list: small -> big */
	qm->free(st, h1);
	qm->free(st, h2);       /* list: h2 -> h1 */
	save_big = *big_prev;
	save_h1 = *h1_prev;
	*big_prev = 0;          /* writes after free over the back links */
	*h1_prev = 0;
	ck_assert_int_ge(check_heap(), 1);
	p = alloc(5050);        /* skips small, must not take big */
	ck_assert_ptr_ne(p, big);
	q = alloc(64);          /* must not take h2 (nor h1) */
	ck_assert_ptr_ne(q, h2);
	ck_assert_ptr_ne(q, h1);
	*big_prev = save_big;
	*h1_prev = save_h1;
	HEAP_OK();
	ck_assert_ptr_eq(alloc(5050), big);
	ck_assert_ptr_eq(alloc(64), h2);
	HEAP_OK();
}
END_TEST

START_TEST(test_too_large_fails)
{
	unsigned char *p[256];
	struct mem_info before;
	int n, i;

	for (n = 0; n < 256 && (p[n] = qm->malloc(st, 8000)); n++)
		;
	ck_assert_int_lt(n, 256);       /* the pool is full */
	for (i = 0; i < n; i += 2)
		qm->free(st, p[i]);
	before = info();
	ck_assert_uint_gt(before.free_size, 20000);
	ck_assert_ptr_null(qm->malloc(st, 20000));      /* no single fragment */
	ck_assert_ptr_null(qm->malloc(st, MEM_MAX_REQUEST));
	assert_info_same(&before);
	HEAP_OK();
}
END_TEST

/* --- walk, counters, large regions -------------------------------------- */

struct walk_state {
	const unsigned char *next;
	uint64_t used, frags;
};

static int walk_fn(const struct mem_block *b, void *arg)
{
	struct walk_state *w = arg;

	if (w->next)
		ck_assert_ptr_eq(b->payload, w->next);
	w->next = (const unsigned char *)b->payload + b->size + QM_OVERHEAD;
	if (b->used)
		w->used += b->size;
	else
		w->frags++;
	return 0;
}

START_TEST(test_walk_and_counters)
{
	struct walk_state w = { 0 };
	unsigned char *p[20];
	struct mem_info mi;
	int i;

	for (i = 0; i < 20; i++)
		p[i] = alloc((size_t)(i + 1) * 100);
	for (i = 0; i < 20; i += 3)
		qm->free(st, p[i]);
	ck_assert_int_eq(qm->resize(st, p[1], 50), 0);
	ck_assert_int_eq(qm->walk(st, walk_fn, &w), 0);
	mi = info();
	ck_assert_uint_eq(w.used, mi.used_size);
	ck_assert_uint_eq(w.frags, mi.total_frags);
	ck_assert_uint_eq(mi.free_size + mi.real_used, mi.total_size);
	ck_assert_uint_eq(mi.total_size, POOL_SIZE);
	ck_assert_uint_ge(mi.max_used, mi.real_used);
	HEAP_OK();
}
END_TEST

START_TEST(test_region_over_4g)
{
	size_t big = (size_t)4608 << 20;        /* 4.5 GiB */
	unsigned char *a;

	teardown();
	pool_open((size_t)5 << 30);
	a = alloc(big);
	a[0] = 1;
	a[big - 1] = 2;
	ck_assert_uint_ge(usable(a), big);
	ck_assert_uint_eq(info().used_size, usable(a));
	ck_assert_ptr_null(qm->malloc(st, (size_t)1 << 30));
	HEAP_OK();
	qm->free(st, a);
	ck_assert_uint_eq(info().total_frags, 1);
	HEAP_OK();
}
END_TEST

Suite *q_malloc_suite(void)
{
	Suite *s = suite_create("q_malloc");
	TCase *tc = tcase_create("q_malloc");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_min_fragment);
	tcase_add_test(tc, test_create_too_small);
	tcase_add_test(tc, test_coalesce_next);
	tcase_add_test(tc, test_coalesce_prev);
	tcase_add_test(tc, test_coalesce_both);
	tcase_add_test(tc, test_back_to_one_fragment);
	tcase_add_test(tc, test_free_records_untouched);
	tcase_add_test(tc, test_overflow_one_byte);
	tcase_add_test(tc, test_overflow_next_free);
	tcase_add_test(tc, test_corrupt_header);
	tcase_add_test(tc, test_interior_pointers_bad);
	tcase_add_test(tc, test_free_block_state);
	tcase_add_test(tc, test_corrupt_free_links);
	tcase_add_test(tc, test_join_refuses_broken_links);
	tcase_add_test(tc, test_fit_walk_back_links);
	tcase_add_test(tc, test_resize_shrink);
	tcase_add_test(tc, test_resize_shrink_slack);
	tcase_add_test(tc, test_resize_grow);
	tcase_add_test(tc, test_exact_classes);
	tcase_add_test(tc, test_log_class_first_fit);
	tcase_add_test(tc, test_too_large_fails);
	tcase_add_test(tc, test_walk_and_counters);
	tcase_add_test(tc, test_region_over_4g);
	tcase_add_test(tc, test_torn_header_rebuilt);
	suite_add_tcase(s, tc);
	return s;
}
