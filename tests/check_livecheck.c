/*
 * check_livecheck.c - the chunked heap checker (mem_check_chunked) against
 * the whole-heap one (mem_check_ex), on seeded defects and under
 * concurrent change.
 *
 * Every defect case runs on nine pools: pkg, shm without per-process
 * caches and shm with them, each on fm, qm and tlsf (loop index i:
 * backend i % 3, pool i / 3).  A case fills the pool with neighbours of
 * mixed sizes, some freed, seeds one defect, keeps a copy of the pool's
 * region, and runs the whole-heap check and the chunked one with chunks
 * of 1, 3 and 256, restoring the region before each (the checker
 * rebuilds headers): each must find problems, and the chunked runs must
 * report exactly what the whole check reports (same log lines, same
 * counts by severity), in more than one hold, with the counters compared
 * (exact: nobody else touched the pool).  The defects:
 *   broken_header  a used fragment's backend header overwritten;
 *   overflow       a write from one fragment through the end canary and
 *                  the next fragment's header, and (MEMDBG) one over
 *                  another's end canary only;
 *   list           a free block's list link pointed into a used fragment;
 *   counter        the backend's used_size counter off by 16 (found by
 *                  its value in the backend's control structure);
 *   double_free    an API double free (reported by free; both checkers
 *                  then find nothing), then what a double free does to a
 *                  list without checks: the block linked to itself.
 * live (shm, caches off and on, each backend): a child allocates and
 * frees while the parent runs chunked checks with chunks of 1 to 64: no
 * problem may be reported (every finding comes from one hold), the check
 * sees the other process's sections (changes) and then leaves the
 * counters out (exact 0); a quiet pool gives exact 1 with every free
 * block listed.
 */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memtest.h"

#define POOL_SIZE ((size_t)4 << 20)
#define NPOOLS 9
#define NFRAGS 48

/* Bytes from a payload down to the backend's block pointer (fm, qm, tlsf):
 * what a free list links. */
static const unsigned link_off[T_NBACKENDS] = { 8, 16, 16 };
/* The backend's header right below a payload. */
static const unsigned hdr_size[T_NBACKENDS] = { 8, 16, 8 };

static size_t cache_default;
static unsigned chunk_default;
static int use_shm;

#define ALLOC(n) (use_shm ? shm_malloc(n) : pkg_malloc(n))
#define FREE(p) (use_shm ? shm_free(p) : pkg_free(p))

struct heap {
	struct mem_pool *pool;
	void *p[NFRAGS];
	int be;
};

/* NFRAGS neighbours of 40..400 bytes, every third one freed. */
static void heap_make(struct heap *h, int i)
{
	uint64_t seed = 7;
	t_log_start();
	h->be = i % T_NBACKENDS;
	use_shm = i >= T_NBACKENDS;
	if (!use_shm) {
		pkg_slab = 0;   /* the heap's headers and counters are damaged */
		ck_assert_int_eq(pkg_init(POOL_SIZE, t_backend(h->be)), 0);
		h->pool = mem_pkg_pool;
	} else {
		shm_cache_size = i < 2 * T_NBACKENDS ? 0 : 512u << 10;
		ck_assert_int_eq(shm_init(POOL_SIZE, t_backend(h->be)), 0);
		h->pool = mem_shm_pool;
	}
	for (int k = 0; k < NFRAGS; k++)
		ck_assert_ptr_nonnull(h->p[k] = ALLOC(t_range(&seed, 40, 400)));
	for (int k = 1; k < NFRAGS; k += 3) {
		FREE(h->p[k]);
		h->p[k] = NULL;
	}
}

/* --- finding blocks ------------------------------------------------------- */

struct find {
	const void *p;          /* in: a used fragment; out: the next one */
	int state;
	struct mem_frag big;    /* the largest free (not cached) fragment */
};

static int find_fn(const struct mem_frag *f, void *arg)
{
	struct find *x = arg;
	if (!f->used && !f->cached && !f->hole && f->size > x->big.size)
		x->big = *f;
	if (x->state == 1) {
		x->p = f->addr;
		x->state = 2;
	} else if (!x->state && f->addr == x->p) {
		x->state = 1;
	}
	return 0;
}

static struct find find(struct heap *h, const void *p)
{
	struct find x = { .p = p };
	mem_walk(h->pool, find_fn, &x);
	ck_assert_uint_gt(x.big.size, 0);
	return x;
}

/* The payload the backend handed out for a free fragment. */
static char *payload_of(const struct mem_frag *f)
{
	return (char *)f->addr - DBG_HEAD;
}

/* --- both checkers on the same damage -------------------------------------- */

struct run {
	struct mem_check_result r;
	struct mem_check_stats st;
	char log[8192];
};

static void run_log(struct run *x)
{
	snprintf(x->log, sizeof(x->log), "%s", t_log_buf);
}

/* The whole check, then the chunked one in chunks of 1, 3 and 256, each
 * on the region as seeded; every chunked run must say what the whole one
 * said.  Returns the whole check's result. */
static struct mem_check_result both_checks(struct heap *h)
{
	const void *start;
	uint64_t size;
	static const unsigned chunks[] = { 1, 3, 256 };
	static struct run whole, part;
	mem_pool_range(h->pool, &start, &size);
	char *copy = malloc(size);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, start, size);
	t_log_clear();
	mem_check_ex(h->pool, &whole.r);
	run_log(&whole);
	for (unsigned c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		memcpy((void *)start, copy, size);
		mem_scan_chunk = chunks[c];
		t_log_clear();
		mem_check_chunked(h->pool, &part.r, &part.st);
		run_log(&part);
		ck_assert_str_eq(part.log, whole.log);
		ck_assert_int_eq(part.r.problems, whole.r.problems);
		ck_assert_int_eq(part.r.structure, whole.r.structure);
		ck_assert_int_eq(part.r.application, whole.r.application);
		ck_assert_int_eq(part.st.exact, !part.st.scan.resyncs &&
			!part.st.scan.result && !strstr(part.log, "skipped"));
		ck_assert_uint_eq(part.st.scan.changes, 0);
		ck_assert_uint_gt(part.st.scan.sections, chunks[c] == 1 ? 3 : 2);
	}
	free(copy);
	ck_assert_int_gt(whole.r.problems, 0);
	return whole.r;
}

/* --- the defects ------------------------------------------------------------ */

START_TEST(test_broken_header)
{
	struct heap h;
	heap_make(&h, _i);
	char *v = h.p[NFRAGS / 2];
	memset(v - DBG_HEAD - hdr_size[h.be], 0x5a, hdr_size[h.be]);
	struct mem_check_result r = both_checks(&h);
	if (MEMDBG)     /* rebuilt from its record */
		ck_assert_int_gt(r.application, 0);
	else            /* a hole */
		ck_assert_int_gt(r.structure, 0);
}
END_TEST

START_TEST(test_overflow)
{
	struct heap h;
	heap_make(&h, _i);
	char *a = h.p[NFRAGS / 2 + 2];   /* its neighbour is used too */
	struct find x = find(&h, a);
	ck_assert_int_eq(x.state, 2);
	memset(a, 'A', (size_t)((const char *)x.p - DBG_HEAD - a));
#if MEMDBG
	char *c = h.p[NFRAGS - 3];      /* and one over its canary only */
	memset(c, 'C', dbg_hdr(c)->req + 8);
#endif
	struct mem_check_result r = both_checks(&h);
	if (MEMDBG) {
		ck_assert_int_eq(r.structure, 0);
		T_LOG_HAS("heap check: overflow from the fragment allocated at ");
		T_LOG_HAS("heap check: write past the end of fragment ");
	}
}
END_TEST

START_TEST(test_list)
{
	struct heap h;
	heap_make(&h, _i);
	struct find x = find(&h, NULL);
	void *stray = (char *)h.p[0] + 8;
	memcpy(payload_of(&x.big), &stray, sizeof(stray));
	struct mem_check_result r = both_checks(&h);
	ck_assert_int_gt(r.structure, 0);
	T_LOG_HAS("list");
}
END_TEST

/* used_size as the pool reports it, nothing parked in a cache. */
static uint64_t used_now(struct heap *h)
{
	struct mem_info mi;
	if (use_shm)
		shm_cache_drain();
	mem_pool_info(h->pool, &mi);
	return mi.used_size;
}

/* The one word of the backend's control structure that is used_size: of
 * the words of the region's first 64 KiB equal to it, the one that still
 * is after one more allocation.  One look is not enough: a MEMDBG
 * record's owner word is the allocating pid, which now and then equals
 * used_size in every record there (seen in CI: 33 words). */
static uint64_t *used_counter(struct heap *h)
{
	const void *start;
	uint64_t size, used = used_now(h);
	uint64_t *w, *cand[64], *hit = NULL;
	int n = 0, hits = 0;
	mem_pool_range(h->pool, &start, &size);
	w = (uint64_t *)start;
	for (size_t k = 0; k < (64u << 10) / 8 && n < 64; k++)
		if (w[k] == used)
			cand[n++] = &w[k];
	void *more = ALLOC(64);
	ck_assert_ptr_nonnull(more);
	used = used_now(h);
	for (int k = 0; k < n; k++)
		if (*cand[k] == used) {
			hit = cand[k];
			hits++;
		}
	FREE(more);
	(void)used_now(h);
	ck_assert_int_eq(hits, 1);
	return hit;
}

START_TEST(test_counter)
{
	struct heap h;
	heap_make(&h, _i);
	*used_counter(&h) += 16;
	struct mem_check_result r = both_checks(&h);
	ck_assert_int_gt(r.structure, 0);
	T_LOG_HAS("used_size");
}
END_TEST

START_TEST(test_double_free)
{
	struct heap h;
	struct mem_check_result r;
	struct mem_check_stats st;
	heap_make(&h, _i);
	mem_scan_chunk = 2;
	void *d = h.p[NFRAGS - 1];
	FREE(d);
	FREE(d);                /* reported, ignored */
	ck_assert_int_eq(mem_check_ex(h.pool, &r), 0);
	ck_assert_int_eq(mem_check_chunked(h.pool, &r, &st), 0);
	ck_assert_int_eq(st.exact, 1);
	/* a free block linked to itself, as a double free without checks
	 * leaves a LIFO list */
	struct find x = find(&h, NULL);
	char *self = payload_of(&x.big) - link_off[h.be];
	memcpy(payload_of(&x.big), &self, sizeof(self));
	r = both_checks(&h);
	ck_assert_int_gt(r.structure, 0);
}
END_TEST

/* --- concurrent change ------------------------------------------------------ */

/* Allocate and free at random until killed; *started once under way. */
static void churn(volatile int *started)
{
	enum { L = 256 };
	void *slot[L] = { 0 };
	uint64_t seed = 99;
	for (uint64_t n = 0;; n++) {
		if (n == 1000)
			*started = 1;
		size_t k = t_rand(&seed) % L;
		if (slot[k]) {
			shm_free(slot[k]);
			slot[k] = NULL;
		} else {
			slot[k] = shm_malloc(t_range(&seed, 16, 2000));
		}
	}
}

START_TEST(test_live)
{
	struct mem_check_result r;
	struct mem_check_stats st;
	int i = _i;
	t_log_start();
	shm_cache_size = i < T_NBACKENDS ? 0 : 64u << 10;
	ck_assert_int_eq(shm_init(16u << 20, t_backend(i % T_NBACKENDS)), 0);
	uint64_t seed = 3;
	for (int k = 0; k < 4000; k++) {        /* a heap with long lists */
		void *p = shm_malloc(t_range(&seed, 16, 600));
		if (k % 2)
			shm_free(p);
	}
	mem_scan_chunk = 16;
	ck_assert_int_eq(mem_check_chunked(mem_shm_pool, &r, &st), 0);
	ck_assert_int_eq(st.exact, 1);
	ck_assert_uint_gt(st.listed, 0);
	volatile int *started = shm_mallocxz(sizeof(*started));
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid)
		churn(started);
	while (!*started)
		usleep(1000);
	uint64_t changes = 0;
	for (int round = 0; round < 40 || (!changes && round < 4000); round++) {
		mem_scan_chunk = 1u << (round % 7);
		t_log_clear();
		int n = mem_check_chunked(mem_shm_pool, &r, &st);
		T_ASSERT(n == 0, "round %d, chunk %u: %d problems while another "
			"process allocates:\n%s", round, mem_scan_chunk, n,
			t_log_buf);
		if (st.scan.changes)
			T_ASSERT(!st.exact, "counters compared across changes");
		changes += st.scan.changes;
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ck_assert_uint_gt(changes, 0);
}
END_TEST

/* --- the suite ------------------------------------------------------------ */

static void teardown(void)
{
	t_teardown();
	shm_cache_size = cache_default;
	mem_scan_chunk = chunk_default;
}

static void add_loop(Suite *s, const char *name, const TTest *t, int n)
{
	t_heavy(t_add_loop(s, name, t, n, teardown, 60));
}

Suite *livecheck_suite(void)
{
	Suite *s = suite_create("livecheck");
	cache_default = shm_cache_size;
	chunk_default = mem_scan_chunk;
	add_loop(s, "broken_header", test_broken_header, NPOOLS);
	add_loop(s, "overflow", test_overflow, NPOOLS);
	add_loop(s, "list", test_list, NPOOLS);
	add_loop(s, "counter", test_counter, NPOOLS);
	add_loop(s, "double_free", test_double_free, NPOOLS);
	add_loop(s, "live", test_live, 2 * T_NBACKENDS);
	return s;
}
