/*
 * check_freed.c - seeded writes after free, and the processes reports
 * name (mem/freed.c).
 *
 * Every case runs on nine pools: pkg, shm without per-process caches
 * (shm_cache_size = 0) and shm with them, each on fm, qm and tlsf (loop
 * index i: backend i % 3, pool i / 3).  A seeded case frees a fragment
 * between two live neighbours (so that it is reused as it is), writes one
 * byte into it, and asserts the whole report by substring: the offset,
 * the size asked for, the allocation and free sites, with "by pid P"
 * (rank R) on shm, and who found it:
 *   reuse          the next allocation of the same size;
 *   check          the heap checker (an application finding), which
 *                  rewrites the fill of a heap fragment;
 *   leave_cache    a parked fragment given back to the heap (the cache's
 *                  flush); without caches, the checker finds it;
 *   large          past FILL_FULL, the first and the last bytes are
 *                  checked: a write at the end is found with its offset;
 *   edges          every byte of the fill, for sizes around each edge of
 *                  the fill's 16-byte windows (mem/freed.h) and of
 *                  FILL_FULL: a write there is found by the heap checker
 *                  with its offset; a write between the head and the
 *                  tail of a large fragment is not (it is not filled);
 *   off            mem_free_check = 0: nothing filled, nothing reported;
 *   owners         shm: a child with rank 3 allocates, this process with
 *                  rank 5 frees: the report names both; ids out of range
 *                  are refused;
 *   no_false       random malloc/realloc/free of 1..40000 bytes (joins,
 *                  splits, in-place resizes, cache hits and flushes), the
 *                  checker every 500 operations: no report, no problem;
 *   no_false_procs shm only: two children churn while this process
 *                  checks; none of them reports anything;
 *   plain_words    the fill word and zero never read as a freed tag, at
 *                  16 M addresses around one where they once did.
 * With MEMDBG=0 there is no fill and a freed fragment's first bytes are
 * the allocator's links: the seeded cases are skipped (said on stderr),
 * the false-positive cases run as they are.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memtest.h"

#ifndef SHM_CACHE
#define SHM_CACHE 1
#endif

#define POOL_SIZE ((size_t)8 << 20)
#define NPOOLS 9
#define AT(lp, call) (*(lp) = __LINE__, (call))

static size_t cache_default;
static int use_shm;
static struct mem_pool *pool;

#define ALLOC(n) (use_shm ? shm_malloc(n) : pkg_malloc(n))
#define REALLOC(p, n) (use_shm ? shm_realloc(p, n) : pkg_realloc(p, n))
#define FREE(p) (use_shm ? shm_free(p) : pkg_free(p))

static void setup(int i)
{
	t_log_start();
	mem_free_check = 1;
	use_shm = i >= T_NBACKENDS;
	if (!use_shm) {
		ck_assert_int_eq(pkg_init(POOL_SIZE, t_backend(i)), 0);
		pool = mem_pkg_pool;
		return;
	}
	shm_cache_size = i < 2 * T_NBACKENDS ? 0 : 512u << 10;
	ck_assert_int_eq(shm_init(POOL_SIZE, t_backend(i % T_NBACKENDS)), 0);
	pool = mem_shm_pool;
}

static void teardown(void)
{
	if (use_shm)
		shm_destroy();
	shm_cache_size = cache_default;
	mem_free_check = 1;
}

static void drain(void)
{
	if (use_shm)
		shm_cache_drain();
}

/* Fragments parked in this process's cache: does this pool have one? */
static int cached_pool(int i)
{
	return SHM_CACHE && i >= 2 * T_NBACKENDS;
}

/* Without the MEMDBG record a freed fragment's first bytes are the
 * allocator's own links (backend.h, cache.c): a seeded write would break
 * them, and there is no fill to find it.  Said once per case. */
static int skip_seeded(int i, const char *name)
{
	if (MEMDBG)
		return 0;
	use_shm = 0;
	if (i == 0)
		fprintf(stderr, "SKIP: %s: needs MEMDBG=1 (no fill to find a "
			"write after free; the write would hit free-list "
			"links)\n", name);
	return 1;
}

/* " by pid P" (and its rank) on shm, where processes differ; "" on pkg. */
static const char *by(char *buf, size_t len, pid_t pid, int rank)
{
	if (!use_shm)
		*buf = 0;
	else if (rank == INT32_MIN)
		snprintf(buf, len, " by pid %d", (int)pid);
	else
		snprintf(buf, len, " by pid %d (rank %d)", (int)pid, rank);
	return buf;
}

/* The report, up to "found by ". */
static void expect_report(const void *p, long at, size_t req, int la,
		const char *alloc_by, int lf, const char *free_by,
		const char *func)
{
	char want[1024], s1[256], s2[256];
	snprintf(want, sizeof(want), "%s: write after free at offset %ld of "
		"the fragment %p (%zu bytes) allocated at %s%s, freed at %s%s, "
		"found by ", use_shm ? "shm" : "pkg", at, p, req,
		t_site(s1, sizeof(s1), __FILE__, func, la), alloc_by,
		t_site(s2, sizeof(s2), __FILE__, func, lf), free_by);
	T_LOG_HAS(want);
}

/* A fragment of n bytes freed between two live neighbours. */
struct seed {
	char *before, *c, *after;
	int la, lf;
};

/* What seed() writes into the fragment before its free (< 0: nothing). */
static int seed_byte = -1;

static void seed(struct seed *s, size_t n)
{
	s->before = ALLOC(n);
	AT(&s->la, s->c = ALLOC(n));
	s->after = ALLOC(n);
	ck_assert(s->before && s->c && s->after);
	if (seed_byte >= 0)
		memset(s->c, seed_byte, n);
	AT(&s->lf, FREE(s->c));
}

static void seed_done(struct seed *s, void *d)
{
	FREE(d);
	FREE(s->before);
	FREE(s->after);
	drain();
	ck_assert_int_eq(mem_check(pool), 0);
}

START_TEST(test_reuse)
{
	struct seed s;
	char me[64], site[256], want[512];
	int ld;
	if (skip_seeded(_i, "reuse"))
		return;
	setup(_i);
	seed(&s, 100);
	s.c[10] = 'U';
	char *d;
	AT(&ld, d = ALLOC(100));
	ck_assert_ptr_eq(d, s.c);
	by(me, sizeof(me), getpid(), INT32_MIN);
	expect_report(s.c, 10, 100, s.la, me, s.lf, me, "seed");
	snprintf(want, sizeof(want), "found by the allocation at %s\n",
		t_site(site, sizeof(site), __FILE__, __func__, ld));
	T_LOG_HAS(want);
	ck_assert_uint_eq(t_log_lines, 1);
	seed_done(&s, d);
}
END_TEST

START_TEST(test_check)
{
	struct seed s;
	struct mem_check_result r;
	char me[64];
	if (skip_seeded(_i, "check"))
		return;
	setup(_i);
	seed(&s, 100);
	s.c[0] = 0;     /* the commonest: a stale "next = NULL" */
	ck_assert_int_eq(mem_check_ex(pool, &r), 1);
	ck_assert_int_eq(r.application, 1);
	ck_assert_int_eq(r.structure, 0);
	by(me, sizeof(me), getpid(), INT32_MIN);
	expect_report(s.c, 0, 100, s.la, me, s.lf, me, "seed");
	T_LOG_HAS("found by the heap check\n");
	if (!cached_pool(_i))   /* a heap fragment's fill was rewritten */
		ck_assert_int_eq(mem_check(pool), 0);
	t_log_clear();
	char *d = ALLOC(100);
	ck_assert_ptr_eq(d, s.c);
	/* a parked one is its cache owner's: reported again when reused */
	ck_assert_uint_eq(t_log_lines, cached_pool(_i));
	seed_done(&s, d);
}
END_TEST

START_TEST(test_leave_cache)
{
	struct seed s;
	char me[64];
	if (skip_seeded(_i, "leave_cache"))
		return;
	setup(_i);
	seed(&s, 200);
	s.c[190] = 'U';  /* in the last FILL_TAIL bytes */
	drain();
	if (cached_pool(_i)) {
		by(me, sizeof(me), getpid(), INT32_MIN);
		expect_report(s.c, 190, 200, s.la, me, s.lf, me, "seed");
		T_LOG_HAS("found by its leaving the cache of this process\n");
		t_log_clear();
	}
	T_LOG_EMPTY();
	/* flushed with its fill rewritten, or found now in the heap */
	ck_assert_int_eq(mem_check(pool), !cached_pool(_i));
	ck_assert_int_eq(mem_check(pool), 0);
	seed_done(&s, ALLOC(200));
}
END_TEST

START_TEST(test_large)
{
	struct seed s;
	char me[64];
	if (skip_seeded(_i, "large"))
		return;
	setup(_i);
	seed(&s, 1000);
	s.c[3] = 'U';
	s.c[995] = 'U';
	ck_assert_int_eq(mem_check(pool), 1);
	by(me, sizeof(me), getpid(), INT32_MIN);        /* the first byte */
	expect_report(s.c, 3, 1000, s.la, me, s.lf, me, "seed");
	t_log_clear();
	drain();        /* a parked one: found again as it leaves the cache */
	ck_assert_uint_eq(t_log_lines, cached_pool(_i));
	t_log_clear();
	char *d = ALLOC(1000);
	FREE(d);
	d = ALLOC(1000);
	FREE(d);
	drain();
	ck_assert_int_eq(mem_check(pool), 0);
	T_LOG_EMPTY();          /* clean frees and reuses: nothing */
	s.c = ALLOC(1000);      /* whichever block: free it, then hit its end */
	AT(&s.la, d = ALLOC(1000));
	AT(&s.lf, FREE(d));
	d[995] = 'U';
	drain();        /* cached: found leaving the cache; else by the check */
	ck_assert_int_eq(mem_check(pool), !cached_pool(_i));
	expect_report(d, 995, 1000, s.la, me, s.lf, me, __func__);
	FREE(s.c);
	s.c = NULL;
	seed_done(&s, NULL);
}
END_TEST

/* Is offset k of a fragment of n bytes filled when freed (freed.c)? */
static int filled_at(size_t n, size_t k)
{
	return n <= 128 || k < 96 || k >= n - 32;
}

/* One changed byte at offset k of a freed fragment of n bytes: the heap
 * checker reports it (filled) or says nothing; the fill is then put back
 * (the checker rewrites a heap fragment's, not a parked one's). */
static void edge(size_t n, size_t k)
{
	struct seed s;
	char me[64];
	seed_byte = 0x55;       /* not the fill: a byte it misses shows */
	seed(&s, n);
	seed_byte = -1;
	unsigned char was = (unsigned char)s.c[k];
	s.c[k] = (char)(was ^ 0x20);
	int found = filled_at(n, k);
	ck_assert_msg(mem_check(pool) == found, "size %zu, offset %zu", n, k);
	if (found) {
		by(me, sizeof(me), getpid(), INT32_MIN);
		expect_report(s.c, (long)k, n, s.la, me, s.lf, me, "seed");
		ck_assert_uint_eq(t_log_lines, 1);
	}
	t_log_clear();
	s.c[k] = (char)(found ? 0xdf : was);
	seed_done(&s, NULL);
	T_LOG_EMPTY();
}

START_TEST(test_edges)
{
	static const size_t sizes[] = { 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17,
		31, 32, 33, 47, 48, 49, 63, 64, 65, 79, 80, 81, 95, 96, 97,
		111, 112, 113, 127, 128, 129, 130, 143, 144, 160, 161, 1000 };
	if (skip_seeded(_i, "edges"))
		return;
	setup(_i);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (size_t k = 0; k < sizes[i]; k++)
			if (sizes[i] <= 200 || filled_at(sizes[i], k) ||
					k == 96 || k == sizes[i] - 33)
				edge(sizes[i], k);
}
END_TEST

START_TEST(test_off)
{
	struct seed s;
	if (skip_seeded(_i, "off"))
		return;
	setup(_i);
	mem_free_check = 0;
	seed(&s, 100);
	s.c[10] = 'U';
	ck_assert_int_eq(mem_check(pool), 0);
	char *d = ALLOC(100);
	ck_assert_ptr_eq(d, s.c);
	ck_assert_int_eq(d[10], 'U');   /* not filled: the stale byte */
	T_LOG_EMPTY();
	mem_free_check = 1;             /* on again at once: no stale state */
	seed_done(&s, d);
	T_LOG_EMPTY();
}
END_TEST

START_TEST(test_owners)
{
	char ma[64], mf[64];
	int fds[2], la = 0, lf;
	char *c;
	if (skip_seeded(_i, "owners"))
		return;
	setup(_i);
	ck_assert_int_eq(mem_set_proc_id(MEM_PROC_ID_MAX + 1), -1);
	ck_assert_int_eq(mem_set_proc_id(MEM_PROC_ID_MIN - 1), -1);
	ck_assert_int_eq(mem_set_proc_id(5), 0);
	char *before = ALLOC(100);
	ck_assert_int_eq(pipe(fds), 0);
	pid_t kid = fork();
	if (kid == 0) {
		mem_set_proc_id(3);
		AT(&la, c = ALLOC(100));
		ssize_t w = write(fds[1], &c, sizeof(c));
		w += write(fds[1], &la, sizeof(la));
		_exit(w == sizeof(c) + sizeof(la) ? 0 : 1);
	}
	ck_assert_int_eq(read(fds[0], &c, sizeof(c)), sizeof(c));
	ck_assert_int_eq(read(fds[0], &la, sizeof(la)), sizeof(la));
	int st;
	ck_assert_int_eq(waitpid(kid, &st, 0), kid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(fds[0]);
	close(fds[1]);
	if (!use_shm)   /* pkg: the child's copy; this one's own fragment */
		c = ALLOC(100);
	char *after = ALLOC(100);
	AT(&lf, FREE(c));
	c[10] = 'U';
	char *d = ALLOC(100);
	if (use_shm) {
		expect_report(c, 10, 100, la, by(ma, sizeof(ma), kid, 3), lf,
			by(mf, sizeof(mf), getpid(), 5), "test_owners_fn");
	} else {        /* pkg reports name no process */
		T_LOG_HAS("pkg: write after free at offset 10 of the fragment");
		ck_assert(!t_log_has(" by pid "));
	}
	mem_set_proc_id(0);
	FREE(d);
	FREE(before);
	FREE(after);
	drain();
	ck_assert_int_eq(mem_check(pool), 0);
	ck_assert_int_eq(mem_set_proc_id(MEM_PROC_ID_MIN), 0);
}
END_TEST

/* Random malloc/realloc/free over slots, filling what it owns and
 * checking that nothing else wrote there; mem_check every 500 ops. */
static int churn(uint64_t seed, int ops, int checks)
{
	enum { SLOTS = 256 };
	struct t_live live[SLOTS] = { 0 };
	for (int op = 0; op < ops; op++) {
		struct t_live *l = &live[t_rand(&seed) % SLOTS];
		size_t n = t_rand(&seed) % 50 ? t_range(&seed, 1, 3000) :
			t_range(&seed, 3000, 40000);
		if (l->p && t_verify(l->p, 0, l->n, l->w) != SIZE_MAX)
			return 1;
		if (l->p && t_rand(&seed) % 3 == 0) {
			void *q = REALLOC(l->p, n);
			if (!q)
				return 2;
			if (t_verify(q, 0, l->n < n ? l->n : n, l->w) !=
					SIZE_MAX)
				return 3;
			l->p = q;
		} else {
			FREE(l->p);
			if (!(l->p = ALLOC(n)))
				return 2;
		}
		l->n = n;
		l->w = t_rand(&seed);
		t_fill(l->p, 0, n, l->w);
		if (checks && op % 500 == 0 && mem_check(pool))
			return 4;
	}
	for (int k = 0; k < SLOTS; k++)
		FREE(live[k].p);
	return 0;
}

/* A word that fills whole regions (the fill pattern, the zeros of fresh
 * pages) never reads as a freed record's tag, at any address.  With the
 * address only XORed into the tag's check, each such word passed at one
 * 16-aligned address of every 4 GiB: a W3 run met it in its pool at
 * 0x7f3065c12080 (the first address scanned here) and reported a write
 * after free, of 210588673 bytes, where an allocation found the fill of
 * an older fragment in its record.  16 M addresses around it. */
START_TEST(test_plain_words)
{
#if MEMDBG
	static const uint64_t words[] = { 0, DBG_FILL_WORD };
	const uintptr_t seen = 0x7f3065c12080;
	for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++)
		for (uint64_t i = 0; i < (1u << 24); i++) {
			uintptr_t a = seen + 16 * (i % 2 ? i / 2 : -(i / 2));
			const void *u = (const void *)a;
			if (dbg_state_of(u, words[k]) == DBG_DEAD ||
			    dbg_armed_bits(u, words[k]))
				ck_abort_msg("0x%016llx reads as a freed tag at "
					"%p", (unsigned long long)words[k], u);
		}
#endif
}
END_TEST

START_TEST(test_no_false)
{
	setup(_i);
	ck_assert_int_eq(churn(42 + (uint64_t)_i, 20000, 1), 0);
	drain();
	ck_assert_int_eq(mem_check(pool), 0);
	T_LOG_EMPTY();
}
END_TEST

START_TEST(test_no_false_procs)
{
	enum { KIDS = 2 };
	pid_t kid[KIDS];
	setup(_i);
	if (!use_shm)
		return;         /* one process: test_no_false */
	for (int k = 0; k < KIDS; k++)
		if ((kid[k] = fork()) == 0) {
			t_log_clear();
			int rc = churn(100 + (uint64_t)k, 20000, 0);
			_exit(rc ? rc : t_log_lines ? 5 : 0);
		}
	for (int n = 0; n < 20; n++)
		ck_assert_int_eq(mem_check(pool), 0);
	for (int k = 0; k < KIDS; k++) {
		int st;
		ck_assert_int_eq(waitpid(kid[k], &st, 0), kid[k]);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			"child %d: status %#x", k, st);
	}
	shm_cache_reclaim();
	ck_assert_int_eq(mem_check(pool), 0);
	T_LOG_EMPTY();
}
END_TEST

static void add_loop(Suite *s, const char *name, const TTest *t)
{
	t_add_loop(s, name, t, NPOOLS, teardown, 120);
}

Suite *freed_suite(void)
{
	Suite *s = suite_create("freed");
	cache_default = shm_cache_size;
	add_loop(s, "reuse", test_reuse);
	add_loop(s, "check", test_check);
	add_loop(s, "leave_cache", test_leave_cache);
	add_loop(s, "large", test_large);
	add_loop(s, "edges", test_edges);
	add_loop(s, "off", test_off);
	add_loop(s, "owners", test_owners);
	add_loop(s, "no_false", test_no_false);
	add_loop(s, "no_false_procs", test_no_false_procs);
	TCase *tc = tcase_create("plain_words");
	tcase_add_test(tc, test_plain_words);
	suite_add_tcase(s, tc);
	return s;
}
