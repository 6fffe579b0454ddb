/*
 * check_conformance.c - the contract of mem.h, one suite run against every
 * backend ("fm", "qm", "tlsf": tcase_add_loop_test, _i indexes them).
 *
 * Every test lays a fresh 4 MiB pkg pool (and a 4 MiB shm pool for the shm
 * cases) over the backend under test, keeps a model of the blocks it holds
 * ({pointer, size, content pattern}) and after EVERY step (one malloc, free
 * or realloc) checks:
 *   - mem_check() == 0;
 *   - the info() counters against what mem_walk() recomputes (memtest.h:
 *     used_size, total_frags, free_size, real_used, max_used monotone);
 *   - the used fragments are exactly the model's blocks, 16-aligned, not
 *     overlapping, and every block still holds its pattern.
 *
 * Cases: alignment over sizes 0..70000; a seeded random workload against
 * the model; realloc (grow in place, grow by moving, shrink, NULL, 0);
 * exhaustion and full recovery; sizes near SIZE_MAX; realloc and reallocxf
 * failing; mallocxz over dirty memory; free(NULL); malloc(0); exact
 * counters per operation; backend names; the same contract through shm_*
 * (each shm case twice: with the per-process shm caches and without);
 * shm_destroy + shm_init again; shm_address_in; an unknown backend name.
 *
 * With the shm caches, blocks parked in a cache are cached, not used
 * (mem.h): "back to the start" checks used_size, real_used and free_size
 * with them parked, then empties them (t_shm_drain, memtest.h) for the
 * free fragments; "a failing request changes no counter" is checked with
 * empty caches: a failure drains them before it gives up.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtest.h"

#define POOL_SIZE ((size_t)4 << 20)
#define MAXLIVE 4096

static struct t_pool pkg_tp, shm_tp;
static struct t_pool *cur;              /* the pool the helpers work on */
static struct t_live live[MAXLIVE];
static size_t nlive;
static uint64_t seed = 42;

/* --- helpers ------------------------------------------------------------- */

/* The invariants of every step (see the file comment). */
#define STEP() step(__LINE__)
static void step(int line)
{
	char what[32];
	snprintf(what, sizeof(what), "line %d", line);
	t_pool_verify(cur, live, nlive, what);
	t_live_verify(live, nlive, what);
}

static void start_pkg(int i)
{
	t_log_start();
	ck_assert_int_eq(pkg_init(POOL_SIZE, t_backend(i)), 0);
	t_pool_start(&pkg_tp, mem_pkg_pool);
	cur = &pkg_tp;
	nlive = 0;
	STEP();
}

/* Loop index i: backend i % 3; i >= 3 turns the per-process shm caches
 * off, so that both shm paths keep the contract. */
static size_t cache_default;

static void start_shm(int i)
{
	t_log_start();
	shm_cache_size = i >= T_NBACKENDS ? 0 : cache_default;
	ck_assert_int_eq(shm_init(POOL_SIZE, t_backend(i % T_NBACKENDS)), 0);
	t_pool_start(&shm_tp, mem_shm_pool);
	cur = &shm_tp;
	nlive = 0;
	STEP();
}

static void add_live(void *p, size_t n)
{
	T_ASSERT(nlive < MAXLIVE, "model full");
	uint64_t w = t_rand(&seed);
	t_fill(p, 0, n, w);
	live[nlive++] = (struct t_live){ p, n, w };
}

/* malloc n bytes that must be granted; fill and remember them. */
static void *m_alloc(size_t n, int line)
{
	void *p = mem_malloc(cur->pool, n, MEM_HERE);
	T_ASSERT(p != NULL, "line %d: malloc(%zu) failed", line, n);
	T_ASSERT((uintptr_t)p % 16 == 0, "line %d: malloc(%zu) = %p is not "
		"16-aligned", line, n, p);
	add_live(p, n);
	return p;
}

static size_t m_index(const void *p)
{
	for (size_t i = 0; i < nlive; i++)
		if (live[i].p == p)
			return i;
	ck_abort_msg("%p is not in the model", p);
	return 0;
}

static void m_forget(size_t i)
{
	live[i] = live[--nlive];
}

static void m_free(size_t i, int line)
{
	size_t bad = t_verify(live[i].p, 0, live[i].n, live[i].w);
	T_ASSERT(bad == SIZE_MAX, "line %d: %p corrupt at %zu before free",
		line, live[i].p, bad);
	mem_free(cur->pool, live[i].p, MEM_HERE);
	m_forget(i);
}

/* realloc block i to n bytes (n > 0, must succeed); returns the new
 * pointer after checking the kept contents and filling the new tail. */
static void *m_realloc(size_t i, size_t n, int line)
{
	struct t_live *l = &live[i];
	void *q = mem_realloc(cur->pool, l->p, n, MEM_HERE);
	T_ASSERT(q != NULL, "line %d: realloc(%p, %zu -> %zu) failed", line,
		l->p, l->n, n);
	T_ASSERT((uintptr_t)q % 16 == 0, "line %d: realloc gave %p", line, q);
	size_t keep = l->n < n ? l->n : n;
	size_t bad = t_verify(q, 0, keep, l->w);
	T_ASSERT(bad == SIZE_MAX, "line %d: realloc(%zu -> %zu) %p -> %p lost "
		"byte %zu", line, l->n, n, l->p, q, bad);
	t_fill(q, keep, n, l->w);
	l->p = q;
	l->n = n;
	return q;
}

static void free_all(int line)
{
	char what[32];
	while (nlive) {
		m_free(nlive / 2, line);
		step(line);
	}
	snprintf(what, sizeof(what), "line %d", line);
	t_pool_back_to_start(cur, what);
}

/* A SIP-ish size: mostly small, some pages, rarely large. */
static size_t pick_size(uint64_t *s)
{
	uint64_t r = t_rand(s) % 1000;
	if (r < 5)
		return 0;
	if (r < 900)
		return t_range(s, 1, 600);
	if (r < 995)
		return t_range(s, 601, 8000);
	return t_range(s, 8001, 40000);
}

/* --- alignment ----------------------------------------------------------- */

static size_t next_size(size_t n)
{
	return n < 1100 ? n + 1 : n < 4200 ? n + 7 : n + 331;
}

/* Three blocks of n bytes, freed middle first (so that both joins run). */
static void align_round(size_t n)
{
	for (int k = 0; k < 3; k++) {
		m_alloc(n, __LINE__);
		STEP();
	}
	size_t base = nlive - 3;
	void *a = live[base].p, *b = live[base + 1].p, *c = live[base + 2].p;
	m_free(m_index(b), __LINE__);
	STEP();
	m_free(m_index(a), __LINE__);
	STEP();
	m_free(m_index(c), __LINE__);
	STEP();
}

START_TEST(test_alignment)
{
	static const size_t edges[] = {
		4095, 4096, 4097, 8191, 8192, 8193, 16383, 16384, 16385,
		32767, 32768, 32769, 65535, 65536, 65537, 69999, 70000,
	};
	start_pkg(_i);
	for (size_t n = 0; n <= 70000; n = next_size(n))
		align_round(n);
	for (size_t k = 0; k < sizeof(edges) / sizeof(edges[0]); k++)
		align_round(edges[k]);
	/* Alignment also with neighbours alive. */
	for (size_t n = 0; n < 600; n += 13) {
		m_alloc(n, __LINE__);
		STEP();
	}
	free_all(__LINE__);
}
END_TEST

/* --- random workload against the model ----------------------------------- */

/* ops random malloc/free/realloc steps (seed 42) with at most max_live
 * blocks, every step checked against the model and the heap checker. */
static void random_steps(int ops, size_t max_live)
{
	uint64_t s = 42;
	for (int k = 0; k < ops; k++) {
		uint64_t r = t_rand(&s) % 100;
		if (nlive == 0 || (nlive < max_live && r < 50)) {
			m_alloc(pick_size(&s), __LINE__);
		} else if (r < 80) {
			m_free(t_rand(&s) % nlive, __LINE__);
		} else {
			size_t n = pick_size(&s);
			m_realloc(t_rand(&s) % nlive, n ? n : 1, __LINE__);
		}
		STEP();
	}
	free_all(__LINE__);
}

START_TEST(test_no_overlap)
{
	start_pkg(_i);
	random_steps(3000, 200);
}
END_TEST

/* --- realloc ------------------------------------------------------------- */

START_TEST(test_realloc_grow_in_place)
{
	start_pkg(_i);
	/* Above the small objects' sizes (pkg_slab): a fragment of the heap. */
	void *p = m_alloc(600, __LINE__);
	STEP();
	/* The rest of the pool follows p, free: growing must not move. */
	struct t_find f = t_frag_at(cur->pool, p);
	ck_assert(f.found && f.has_next && !f.next.used);
	ck_assert_uint_gt(f.next.size, 4000);
	void *q = m_realloc(0, 1000, __LINE__);
	ck_assert_ptr_eq(q, p);
	STEP();
	q = m_realloc(0, 3000, __LINE__);
	ck_assert_ptr_eq(q, p);
	STEP();
	/* Shrinking always stays in place and keeps the prefix. */
	for (int n = 2900; n >= 50; n -= 450) {
		q = m_realloc(0, (size_t)n, __LINE__);
		ck_assert_ptr_eq(q, p);
		STEP();
	}
	/* Grow into a freed neighbour: a, b, c; free b; grow a over b. */
	void *b = m_alloc(2000, __LINE__);
	m_alloc(100, __LINE__);
	STEP();
	f = t_frag_at(cur->pool, p);
	ck_assert(f.has_next && f.next.addr == b);
	m_free(m_index(b), __LINE__);
	STEP();
	q = m_realloc(m_index(p), 1000, __LINE__);
	ck_assert_ptr_eq(q, p);
	STEP();
	/* Same size: nothing moves, nothing is lost. */
	q = m_realloc(m_index(p), 1000, __LINE__);
	ck_assert_ptr_eq(q, p);
	STEP();
	free_all(__LINE__);
}
END_TEST

START_TEST(test_realloc_move)
{
	start_pkg(_i);
	void *a = m_alloc(100, __LINE__);
	void *b = m_alloc(100, __LINE__);
	STEP();
	/* Whichever is lower has a used neighbour right after it. */
	void *lo = a < b ? a : b, *hi = a < b ? b : a;
	struct t_find f = t_frag_at(cur->pool, lo);
	ck_assert(f.found && f.has_next && f.next.addr == hi && f.next.used);
	void *q = m_realloc(m_index(lo), 5000, __LINE__);
	ck_assert_ptr_ne(q, lo);
	STEP();
	/* The old place is free again (or joined into a free neighbour). */
	f = t_frag_at(cur->pool, lo);
	ck_assert(!f.found || !f.frag.used);
	/* Grow and shrink through many sizes, with a blocker after each
	 * move half of the time so that both paths run. */
	uint64_t s = 7;
	size_t i = m_index(q);
	for (int k = 0; k < 300; k++) {
		size_t n = t_range(&s, 1, k % 3 ? 3000 : 60000);
		void *old = live[i].p;
		void *moved = m_realloc(i, n, __LINE__);
		STEP();
		if (moved != old && k % 2) {
			m_alloc(t_range(&s, 1, 200), __LINE__);
			STEP();
		}
		i = m_index(moved);
	}
	free_all(__LINE__);
}
END_TEST

START_TEST(test_realloc_null_and_zero)
{
	start_pkg(_i);
	/* realloc(NULL, n) is malloc(n). */
	void *p = pkg_realloc(NULL, 300);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq((uintptr_t)p % 16, 0);
	add_live(p, 300);
	STEP();
	/* realloc(p, 0) frees p and returns NULL. */
	ck_assert_ptr_null(pkg_realloc(p, 0));
	m_forget(m_index(p));
	STEP();
	t_pool_back_to_start(cur, T_AT);
	/* realloc(NULL, 0) is malloc(0): a unique, freeable pointer. */
	p = pkg_realloc(NULL, 0);
	ck_assert_ptr_nonnull(p);
	add_live(p, 0);
	STEP();
	m_free(0, __LINE__);
	STEP();
	t_pool_back_to_start(cur, T_AT);
	T_LOG_EMPTY();
	pkg_destroy();
}
END_TEST

/* --- exhaustion and recovery --------------------------------------------- */

/* Allocate n-byte blocks until the pool says no; returns how many. */
static unsigned fill_with(size_t n)
{
	unsigned got = 0;
	for (;;) {
		struct mem_info before, after;
		mem_pool_info(cur->pool, &before);
		void *p = mem_malloc(cur->pool, n, MEM_HERE);
		if (!p) {
			mem_pool_info(cur->pool, &after);
			t_info_same(&before, &after, T_AT);
			STEP();
			return got;
		}
		ck_assert_uint_eq((uintptr_t)p % 16, 0);
		add_live(p, n);
		STEP();
		got++;
	}
}

START_TEST(test_exhaustion)
{
	start_pkg(_i);
	mem_oom_interval = 0;   /* every failure of fill_with()'s one site */
	unsigned big = fill_with(64 << 10);
	ck_assert_uint_ge(big, 50);     /* most of 4 MiB in 64 KiB blocks */
	for (size_t n = 32 << 10; n >= 16; n /= 2)
		fill_with(n);
	fill_with(1);
	fill_with(0);
	T_LOG_HAS("pkg: not enough memory for 0 bytes");
	/* Exhausted: what is left are fragments too small for malloc(0). */
	struct mem_info mi;
	pkg_info(&mi);
	ck_assert_uint_lt(mi.free_size, 256 * (mi.total_frags + 1));
	ck_assert_uint_eq(pkg_available(), mi.free_size);
	/* Free every other block first, then the rest: all must join. */
	for (size_t k = 0; k < nlive; k++) {
		m_free(k, __LINE__);
		STEP();
	}
	free_all(__LINE__);
	/* And the whole pool is usable again. */
	unsigned again = fill_with(64 << 10);
	ck_assert_uint_eq(again, big);
	free_all(__LINE__);
	pkg_destroy();
}
END_TEST

/* --- sizes that cannot be met -------------------------------------------- */

static void huge_sizes(size_t *v, size_t *n)
{
	struct mem_info mi;
	mem_pool_info(cur->pool, &mi);
	size_t k = 0;
	v[k++] = SIZE_MAX;
	v[k++] = SIZE_MAX - 8;
	v[k++] = SIZE_MAX - 15;
	v[k++] = SIZE_MAX - 40;
	v[k++] = SIZE_MAX / 2;
	v[k++] = SIZE_MAX / 2 + 1;
	v[k++] = (size_t)1 << 60;
	v[k++] = ((size_t)1 << 60) - 1;
	v[k++] = POOL_SIZE + 1;
	v[k++] = (size_t)mi.total_size + 1;
	*n = k;
}

START_TEST(test_huge_sizes)
{
	size_t v[16], n;
	start_pkg(_i);
	m_alloc(1000, __LINE__);        /* a pool that is not empty */
	STEP();
	huge_sizes(v, &n);
	for (size_t k = 0; k < n; k++) {
		struct mem_info before, after;
		pkg_info(&before);
		T_ASSERT(!pkg_malloc(v[k]), "pkg_malloc(%zu) succeeded", v[k]);
		STEP();
		T_ASSERT(!pkg_mallocxz(v[k]), "pkg_mallocxz(%zu) succeeded",
			v[k]);
		STEP();
		T_ASSERT(!pkg_realloc(NULL, v[k]), "pkg_realloc(NULL, %zu) "
			"succeeded", v[k]);
		STEP();
		T_ASSERT(!pkg_reallocxf(NULL, v[k]), "pkg_reallocxf(NULL, %zu) "
			"succeeded", v[k]);
		STEP();
		pkg_info(&after);
		t_info_same(&before, &after, T_AT);
	}
	/* free_size + 1 cannot be met either. */
	struct mem_info before, after;
	pkg_info(&before);
	ck_assert_ptr_null(pkg_malloc(before.free_size + 1));
	STEP();
	pkg_info(&after);
	t_info_same(&before, &after, T_AT);
	free_all(__LINE__);
	pkg_destroy();
}
END_TEST

START_TEST(test_realloc_impossible)
{
	size_t v[16], n;
	start_pkg(_i);
	void *p = m_alloc(200, __LINE__);
	m_alloc(50, __LINE__);
	STEP();
	huge_sizes(v, &n);
	for (size_t k = 0; k < n; k++) {
		struct mem_info before, after;
		pkg_info(&before);
		ck_assert_ptr_null(pkg_realloc(p, v[k]));
		pkg_info(&after);
		t_info_same(&before, &after, T_AT);
		/* p is still ours, intact, and still usable. */
		STEP();
		ck_assert_uint_ge(mem_usable_size(mem_pkg_pool, p), 200);
	}
	void *q = m_realloc(m_index(p), 400, __LINE__);
	STEP();
	(void)q;
	free_all(__LINE__);
	pkg_destroy();
}
END_TEST

START_TEST(test_reallocxf_frees)
{
	size_t v[16], n;
	start_pkg(_i);
	huge_sizes(v, &n);
	for (size_t k = 0; k < n; k++) {
		void *p = m_alloc(200, __LINE__);
		STEP();
		ck_assert_ptr_null(pkg_reallocxf(p, v[k]));
		m_forget(m_index(p));       /* released by the failure */
		STEP();
		t_pool_back_to_start(cur, T_AT);
	}
	/* On success it is a realloc: contents kept. */
	void *p = m_alloc(200, __LINE__);
	void *q = pkg_reallocxf(p, 5000);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(t_verify(q, 0, 200, live[0].w), SIZE_MAX);
	t_fill(q, 200, 5000, live[0].w);
	live[0].p = q;
	live[0].n = 5000;
	STEP();
	free_all(__LINE__);
	pkg_destroy();
}
END_TEST

/* --- mallocxz, free(NULL), malloc(0) -------------------------------------- */

/* Make every free byte of the pool dirty. */
static void dirty_pool(void)
{
	struct mem_info mi;
	mem_pool_info(cur->pool, &mi);
	size_t n = mi.free_size;
	void *p;
	while (!(p = mem_malloc(cur->pool, n, MEM_HERE)))
		n -= n / 64 + 16;
	ck_assert_uint_gt(n, mi.free_size / 2);
	memset(p, 0xa5, n);
	mem_free(cur->pool, p, MEM_HERE);
	STEP();
}

static void check_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		T_ASSERT(p[i] == 0, "mallocxz(%zu): byte %zu is %#x", n, i,
			p[i]);
}

START_TEST(test_mallocxz)
{
	static const size_t sizes[] = {
		1, 7, 16, 24, 100, 511, 1000, 4096, 5000, 40000, 100000,
	};
	start_pkg(_i);
	dirty_pool();
	for (int round = 0; round < 2; round++)
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			size_t n = sizes[k];
			unsigned char *p = pkg_mallocxz(n);
			ck_assert_ptr_nonnull(p);
			check_zero(p, n);
			memset(p, 0xa5, n);         /* dirty for the next */
			if (round) {
				add_live(p, n);     /* keep: moves the rest */
			} else {
				pkg_free(p);
			}
			STEP();
		}
	unsigned char *z = pkg_mallocxz(0);
	ck_assert_ptr_nonnull(z);
	add_live(z, 0);
	STEP();
	free_all(__LINE__);
	pkg_destroy();
}
END_TEST

START_TEST(test_free_null)
{
	struct mem_info before, after;
	start_pkg(_i);
	m_alloc(10, __LINE__);
	pkg_info(&before);
	pkg_free(NULL);
	mem_free_unsafe(mem_pkg_pool, NULL, MEM_HERE);
	STEP();
	pkg_info(&after);
	t_info_same(&before, &after, T_AT);
	T_LOG_EMPTY();
	free_all(__LINE__);
	pkg_destroy();
}
END_TEST

START_TEST(test_malloc0)
{
	start_pkg(_i);
	for (int k = 0; k < 64; k++) {
		m_alloc(0, __LINE__);       /* non-NULL, aligned */
		STEP();                     /* a used fragment of its own */
	}
	for (size_t a = 0; a < nlive; a++)
		for (size_t b = a + 1; b < nlive; b++)
			ck_assert_ptr_ne(live[a].p, live[b].p);
	/* Each is a real fragment: the walk's sizes keep them apart. */
	for (size_t a = 0; a + 1 < nlive; a++) {
		struct t_find f = t_frag_at(cur->pool, live[a].p);
		ck_assert(f.found && f.frag.used);
		ck_assert((const char *)live[a + 1].p >=
			(const char *)live[a].p + f.frag.size);
	}
	/* And freeable, in any order. */
	uint64_t s = 3;
	while (nlive) {
		m_free(t_rand(&s) % nlive, __LINE__);
		STEP();
	}
	t_pool_back_to_start(cur, T_AT);
	T_LOG_EMPTY();
	pkg_destroy();
}
END_TEST

/* --- counters, one operation at a time ----------------------------------- */

/* The full size of p's fragment: the distance to the next one (to the
 * start of the next span, when that is an object of a span).  The last
 * fragment of the heap has none that the walk shows (tlsf puts large
 * fragments at the top end): its real_used step is not compared. */
static uint64_t full_size(const struct t_find *f)
{
	ck_assert(f->found);
	const void *next = f->next.span ? f->next.span : f->next.addr;
	return f->has_next ? (uint64_t)((const char *)next -
		(const char *)f->frag.addr) : 0;
}

/* An object of a span (pkg_slab) has no header: real_used moves only
 * when a span is made or given back, by at least the span's bytes. */
static int span_step(const struct t_find *f, uint64_t real_moved)
{
	return !real_moved || real_moved >= f->frag.span_size;
}

/* malloc: used_size grows by the new fragment's usable size and real_used
 * by its full size, exactly, as the walk sees the fragment. */
static void info_after_malloc(uint64_t *s, int k)
{
	struct mem_info before, after;
	pkg_info(&before);
	void *p = m_alloc(pick_size(s), __LINE__);
	pkg_info(&after);
	struct t_find f = t_frag_at(cur->pool, p);
	T_ASSERT(after.used_size - before.used_size == f.frag.size + DBG_EXTRA,
		"step %d: used_size grew by %llu for a %llu byte fragment", k,
		(unsigned long long)(after.used_size - before.used_size),
		(unsigned long long)f.frag.size);
	T_ASSERT(f.frag.span ? span_step(&f, after.real_used -
		before.real_used) : !f.has_next || after.real_used -
		before.real_used == full_size(&f),
		"step %d: real_used grew by %llu for a %llu byte fragment", k,
		(unsigned long long)(after.real_used - before.real_used),
		(unsigned long long)full_size(&f));
}

/* free: the same amounts come back. */
static void info_after_free(uint64_t *s, int k)
{
	struct mem_info before, after;
	size_t i = t_rand(s) % nlive;
	struct t_find f = t_frag_at(cur->pool, live[i].p);
	pkg_info(&before);
	m_free(i, __LINE__);
	pkg_info(&after);
	T_ASSERT(before.used_size - after.used_size == f.frag.size + DBG_EXTRA,
		"step %d: used_size fell by %llu for a %llu byte fragment", k,
		(unsigned long long)(before.used_size - after.used_size),
		(unsigned long long)f.frag.size);
	T_ASSERT(f.frag.span ? span_step(&f, before.real_used -
		after.real_used) : !f.has_next || before.real_used -
		after.real_used == full_size(&f),
		"step %d: real_used fell by %llu for a %llu byte fragment", k,
		(unsigned long long)(before.real_used - after.real_used),
		(unsigned long long)full_size(&f));
}

START_TEST(test_info_exact)
{
	struct mem_info mi;
	uint64_t s = 11;
	start_pkg(_i);
	uint64_t peak = cur->start.max_used;
	for (int k = 0; k < 600; k++) {
		if (nlive == 0 || (nlive < 100 && t_rand(&s) % 3))
			info_after_malloc(&s, k);
		else
			info_after_free(&s, k);
		/* with only malloc and free, max_used is the peak seen */
		pkg_info(&mi);
		if (mi.real_used > peak)
			peak = mi.real_used;
		T_ASSERT(mi.max_used == peak, "step %d: max_used %llu, peak "
			"%llu", k, (unsigned long long)mi.max_used,
			(unsigned long long)peak);
		STEP();
	}
	free_all(__LINE__);
	pkg_destroy();
}
END_TEST

/* --- names ----------------------------------------------------------------- */

START_TEST(test_backend_name)
{
	start_pkg(_i);
	ck_assert_str_eq(mem_pool_backend(mem_pkg_pool), t_backend_long(_i));
	pkg_destroy();
	/* The long name picks the same backend. */
	ck_assert_int_eq(pkg_init(POOL_SIZE, t_backend_long(_i)), 0);
	ck_assert_str_eq(mem_pool_backend(mem_pkg_pool), t_backend_long(_i));
	pkg_destroy();
	ck_assert_int_eq(shm_init(POOL_SIZE, t_backend(_i)), 0);
	ck_assert_str_eq(mem_pool_backend(mem_shm_pool), t_backend_long(_i));
	ck_assert_int_eq(mem_check(mem_shm_pool), 0);
	shm_destroy();
	/* NULL is the build's default; the list names every backend. */
	ck_assert_int_eq(pkg_init(POOL_SIZE, NULL), 0);
	ck_assert_str_eq(mem_pool_backend(mem_pkg_pool), mem_default_backend());
	pkg_destroy();
	const char *const *names = mem_backend_names();
	ck_assert_str_eq(names[_i], t_backend(_i));
	T_LOG_EMPTY();
}
END_TEST

START_TEST(test_unknown_backend)
{
	t_log_start();
	ck_assert_int_eq(pkg_init(POOL_SIZE, "dlmalloc"), -1);
	ck_assert_ptr_null(mem_pkg_pool);
	T_LOG_HAS("<3> unknown memory manager 'dlmalloc'");
	T_LOG_HAS("valid names are fm (f_malloc), qm (q_malloc), tlsf "
		"(tlsf_malloc)");
	t_log_clear();
	ck_assert_int_eq(shm_init(POOL_SIZE, "TLSF"), -1);
	ck_assert_ptr_null(mem_shm_pool);
	T_LOG_HAS("unknown memory manager 'TLSF': valid names are fm "
		"(f_malloc), qm (q_malloc), tlsf (tlsf_malloc)");
	/* A failed init leaves nothing behind: a good name works now. */
	ck_assert_int_eq(pkg_init(POOL_SIZE, "qm"), 0);
	ck_assert_int_eq(shm_init(POOL_SIZE, "fm"), 0);
	ck_assert_int_eq(pkg_check(), 0);
	ck_assert_int_eq(shm_check(), 0);
	pkg_destroy();
	shm_destroy();
}
END_TEST

/* --- shm ------------------------------------------------------------------- */

/* Alignment, contents and realloc through the shm macros. */
START_TEST(test_shm_alloc_realloc)
{
	start_shm(_i);
	for (size_t sz = 0; sz < 3000; sz += 37) {
		void *p = shm_malloc(sz);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq((uintptr_t)p % 16, 0);
		ck_assert(shm_address_in(p));
		add_live(p, sz);
		STEP();
	}
	for (size_t k = 0; k < nlive; k += 2) {
		struct t_live *l = &live[k];
		size_t n = l->n * 2 + 1;
		void *q = shm_realloc(l->p, n);
		ck_assert_ptr_nonnull(q);
		ck_assert_uint_eq((uintptr_t)q % 16, 0);
		ck_assert_uint_eq(t_verify(q, 0, l->n, l->w), SIZE_MAX);
		t_fill(q, l->n, n, l->w);
		l->p = q;
		l->n = n;
		STEP();
	}
	while (nlive) {
		shm_free(live[0].p);
		m_forget(0);
		STEP();
	}
	t_pool_back_to_start(cur, T_AT);
	shm_destroy();
}
END_TEST

START_TEST(test_shm_mallocxz)
{
	start_shm(_i);
	dirty_pool();
	for (size_t n = 1; n < 20000; n = n * 3 + 1) {
		unsigned char *z = shm_mallocxz(n);
		ck_assert_ptr_nonnull(z);
		check_zero(z, n);
		memset(z, 0xa5, n);
		shm_free(z);
		STEP();
	}
	t_pool_back_to_start(cur, T_AT);
	shm_destroy();
}
END_TEST

/* Impossible sizes: NULL, no counter changes, the old block is kept; and
 * reallocxf frees it.  The caches are emptied first: a failing request
 * drains them before it gives up, which changes the counters once. */
START_TEST(test_shm_huge_sizes)
{
	size_t v[16], n;
	struct mem_info before, after;
	start_shm(_i);
	void *p = shm_malloc(100);
	ck_assert_ptr_nonnull(p);
	add_live(p, 100);
	t_shm_drain();
	STEP();
	huge_sizes(v, &n);
	for (size_t k = 0; k < n; k++) {
		shm_info(&before);
		T_ASSERT(!shm_malloc(v[k]), "shm_malloc(%zu) succeeded", v[k]);
		STEP();
		T_ASSERT(!shm_mallocxz(v[k]), "shm_mallocxz(%zu) succeeded",
			v[k]);
		STEP();
		T_ASSERT(!shm_realloc(p, v[k]), "shm_realloc(p, %zu) succeeded",
			v[k]);
		STEP();
		shm_info(&after);
		t_info_same(&before, &after, T_AT);
	}
	ck_assert_ptr_null(shm_reallocxf(p, SIZE_MAX));
	m_forget(0);
	STEP();
	t_pool_back_to_start(cur, T_AT);
	shm_destroy();
}
END_TEST

START_TEST(test_shm_null_and_zero)
{
	struct mem_info before, after;
	start_shm(_i);
	shm_info(&before);
	shm_free(NULL);
	shm_info(&after);
	t_info_same(&before, &after, T_AT);
	for (int k = 0; k < 32; k++) {
		void *z = shm_malloc(0);
		ck_assert_ptr_nonnull(z);
		ck_assert_uint_eq((uintptr_t)z % 16, 0);
		for (size_t i = 0; i < nlive; i++)
			ck_assert_ptr_ne(live[i].p, z);
		add_live(z, 0);
		STEP();
	}
	ck_assert_ptr_null(shm_realloc(live[0].p, 0));     /* frees */
	m_forget(0);
	STEP();
	free_all(__LINE__);
	T_LOG_EMPTY();
	shm_destroy();
}
END_TEST

/* The _unsafe variants, under the global lock (no mem_check in there: it
 * takes the lock itself). */
START_TEST(test_shm_unsafe)
{
	start_shm(_i);
	shm_global_lock();
	void *u = shm_malloc_unsafe(500);
	ck_assert_ptr_nonnull(u);
	t_fill(u, 0, 500, 77);
	void *v = shm_realloc_unsafe(u, 5000);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(t_verify(v, 0, 500, 77), SIZE_MAX);
	shm_global_unlock();
	live[nlive++] = (struct t_live){ v, 5000, T_NOPAT };
	STEP();
	shm_global_lock();
	shm_free_unsafe(v);
	shm_global_unlock();
	m_forget(0);
	STEP();
	t_pool_back_to_start(cur, T_AT);
	ck_assert_uint_eq(shm_available(), cur->start.free_size);
	shm_destroy();
}
END_TEST

/* shm_destroy, then shm_init: the new segment (often at the same address)
 * starts clean, per-process caches included. */
START_TEST(test_shm_reinit)
{
	for (int round = 0; round < 3; round++) {
		start_shm(_i);
		for (int k = 0; k < 200; k++)
			m_alloc((size_t)k * 7 % 700, __LINE__);
		STEP();
		free_all(__LINE__);
		shm_destroy();
		ck_assert_ptr_null(mem_shm_pool);
	}
}
END_TEST

START_TEST(test_shm_random)
{
	start_shm(_i);
	random_steps(1500, 150);
	shm_destroy();
}
END_TEST

START_TEST(test_shm_address_in)
{
	int local = 0;
	ck_assert(!shm_address_in(&local));
	ck_assert(!shm_address_in(NULL));
	start_pkg(_i);
	ck_assert_int_eq(shm_init(POOL_SIZE, t_backend(_i)), 0);
	char *p = shm_malloc(1000);
	char *q = pkg_malloc(1000);
	char *h = malloc(1000);
	ck_assert(p && q && h);
	ck_assert(shm_address_in(p));
	ck_assert(shm_address_in(p + 999));
	ck_assert(shm_address_in(mem_shm_pool));      /* lives in the segment */
	ck_assert(!shm_address_in(q));
	ck_assert(!shm_address_in(h));
	ck_assert(!shm_address_in(&local));
	ck_assert(!shm_address_in(NULL));
	ck_assert(!shm_address_in((char *)mem_shm_pool + 2 * POOL_SIZE));
	ck_assert(mem_pool_contains(mem_shm_pool, p));
	ck_assert(!mem_pool_contains(mem_shm_pool, q));
	ck_assert(mem_pool_contains(mem_pkg_pool, q));
	shm_free(p);
	pkg_free(q);
	free(h);
	ck_assert_int_eq(shm_check(), 0);
	shm_destroy();
	ck_assert(!shm_address_in(p));
	pkg_destroy();
}
END_TEST

/* --- the suite --------------------------------------------------------------- */

static void teardown(void)
{
	t_teardown();
	shm_cache_size = cache_default;
}

static TCase *loop_case(Suite *s, const char *name, const TTest *t, int n)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, t, 0, n);
	suite_add_tcase(s, tc);
	return tc;
}

static TCase *per_backend(Suite *s, const char *name, const TTest *t)
{
	return loop_case(s, name, t, T_NBACKENDS);
}

Suite *conformance_suite(void)
{
	Suite *s = suite_create("conformance");
	cache_default = shm_cache_size;
	per_backend(s, "alignment", test_alignment);
	per_backend(s, "no_overlap", test_no_overlap);
	per_backend(s, "realloc_grow_in_place", test_realloc_grow_in_place);
	per_backend(s, "realloc_move", test_realloc_move);
	per_backend(s, "realloc_null_and_zero", test_realloc_null_and_zero);
	per_backend(s, "exhaustion", test_exhaustion);
	per_backend(s, "huge_sizes", test_huge_sizes);
	per_backend(s, "realloc_impossible", test_realloc_impossible);
	per_backend(s, "reallocxf_frees", test_reallocxf_frees);
	per_backend(s, "mallocxz", test_mallocxz);
	per_backend(s, "free_null", test_free_null);
	per_backend(s, "malloc0", test_malloc0);
	per_backend(s, "info_exact", test_info_exact);
	per_backend(s, "backend_name", test_backend_name);
	loop_case(s, "shm_alloc_realloc", test_shm_alloc_realloc,
		2 * T_NBACKENDS);
	loop_case(s, "shm_mallocxz", test_shm_mallocxz, 2 * T_NBACKENDS);
	loop_case(s, "shm_huge_sizes", test_shm_huge_sizes, 2 * T_NBACKENDS);
	loop_case(s, "shm_null_and_zero", test_shm_null_and_zero,
		2 * T_NBACKENDS);
	loop_case(s, "shm_unsafe", test_shm_unsafe, 2 * T_NBACKENDS);
	loop_case(s, "shm_random", test_shm_random, 2 * T_NBACKENDS);
	loop_case(s, "shm_reinit", test_shm_reinit, 2 * T_NBACKENDS);
	per_backend(s, "shm_address_in", test_shm_address_in);

	TCase *tc = tcase_create("unknown_backend");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_unknown_backend);
	suite_add_tcase(s, tc);
	return s;
}
