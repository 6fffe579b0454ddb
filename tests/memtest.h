/*
 * memtest.h - helpers the Check suites share (header only: the Makefile
 * builds tests/check_*.c and main.c, so shared code lives in static
 * inline functions here).
 *
 *   t_backend(i)      the backend names the loop tests run over;
 *   t_rand()          splitmix64, the one PRNG of the suites;
 *   t_fill/t_verify   a position-dependent content pattern, so that a block
 *                     overwritten by another block, or copied at the wrong
 *                     offset, does not verify;
 *   t_log_*           a log capture for mem_set_log (a static buffer; Check
 *                     forks every test, so each test has its own);
 *   t_pool_verify     the invariants every step must keep: mem_check() == 0,
 *                     and every info() counter recomputed from mem_walk():
 *                       used_size   == sum of (size + DBG_EXTRA) of used frags
 *                       cached      == the same of cached frags
 *                                   == shm_cache_stats() bytes
 *                       total_frags == number of free frags
 *                       free_size + real_used == total_size
 *                       free_size   == sum of the full sizes of free and
 *                                      cached frags
 *                       real_used - full sizes of used frags: constant
 *                       max_used >= real_used, never decreasing;
 *                     the full size of a fragment is the distance to the next
 *                     one; the per-fragment header is learnt from the walk
 *                     (it is checked to be the same for every fragment), so
 *                     no backend constant is written here.  With a model of
 *                     the live blocks it also checks that the used fragments
 *                     are exactly the model's blocks (address, size, and with
 *                     MEMDBG the size asked for) and that they do not overlap.
 *                     Fragments parked in a per-process shm cache are
 *                     "cached" to the walk and to the counters (mem.h): not
 *                     used, not free fragments, and nobody's model block.
 *                     A free fragment too small for the MEMDBG record may
 *                     end the heap: the walk gives it size 0 and an address
 *                     just past the pool;
 *   t_shm_drain       empties every shm cache (shm_cache_drain()), so
 *                     that counters can be compared with the start.
 *
 * Hot loops use T_ASSERT, not ck_assert: Check's ck_assert* send a message
 * to the runner on every PASSING assertion, one write() each.
 */
#ifndef SRMEM_MEMTEST_H
#define SRMEM_MEMTEST_H

#include <inttypes.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "debug.h"      /* DBG_EXTRA: the MEMDBG record around each block */

#define T_UNUSED __attribute__((unused))
#define T_STR_(x) #x
#define T_STR(x) T_STR_(x)
/* "line N" of the caller, for failure messages. */
#define T_AT ("line " T_STR(__LINE__))

/* Fails the test (once, no message on success).  T_NO_CHECK (the fuzz
 * targets, tests/fuzz) has no Check runner: a failure prints and aborts,
 * which the fuzzer records as a crash. */
#ifdef T_NO_CHECK
#define T_FAIL(...) \
	(fprintf(stderr, __VA_ARGS__), fputc('\n', stderr), abort())
#else
#include <check.h>
#define T_FAIL(...) ck_abort_msg(__VA_ARGS__)

/* A test case named name running t for loop indexes 0..n-1, each with
 * teardown after it, within timeout seconds; returned for t_heavy(). */
static inline TCase *t_add_loop(Suite *s, const char *name, const TTest *t,
		int n, void (*teardown)(void), int timeout)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, timeout);
	tcase_add_loop_test(tc, t, 0, n);
	suite_add_tcase(s, tc);
	return tc;
}

/* Tags a case that takes seconds in every build (several processes or
 * threads, sleeps, long loops) and whose code MEMMNG does not change, as
 * its loop runs every backend: tests/run-all.sh runs it only in the
 * configurations that change what it tests (CK_EXCLUDE_TAGS=heavy in the
 * others; its header says which).  `make test` runs everything. */
static inline void t_heavy(TCase *tc)
{
	tcase_set_tags(tc, "heavy");
}
#endif
#define T_ASSERT(cond, ...) \
	do { \
		if (__builtin_expect(!(cond), 0)) \
			T_FAIL(__VA_ARGS__); \
	} while (0)

/* --- backends ------------------------------------------------------------ */

#define T_NBACKENDS 3

static inline const char *t_backend(int i)
{
	static const char *const names[T_NBACKENDS] = { "fm", "qm", "tlsf" };
	return names[i];
}

static inline const char *t_backend_long(int i)
{
	static const char *const names[T_NBACKENDS] = {
		"f_malloc", "q_malloc", "tlsf_malloc",
	};
	return names[i];
}

/* --- splitmix64 ---------------------------------------------------------- */

static inline uint64_t t_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline size_t t_range(uint64_t *s, size_t lo, size_t hi)
{
	return lo + (size_t)(t_rand(s) % (uint64_t)(hi - lo + 1));
}

/* --- content pattern ----------------------------------------------------- */

/* Byte i of a block with pattern w is byte (i % 8) (little-endian) of the
 * word w + (i / 8) * odd: every 8-byte word of a block differs from its
 * neighbours and from every other block's words. */
#define T_PAT_STEP 0x9e3779b97f4a7c15ull

static inline uint64_t t_pat_word(uint64_t w, size_t k)
{
	return w + (uint64_t)k * T_PAT_STEP;
}

static inline unsigned char t_pat_byte(uint64_t w, size_t i)
{
	return (unsigned char)(t_pat_word(w, i / 8) >> (8 * (i % 8)));
}

static inline uint64_t t_le64(uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap64(v);
#else
	return v;
#endif
}

/* Write the pattern into bytes [from, to) of p. */
static inline void t_fill(void *p, size_t from, size_t to, uint64_t w)
{
	unsigned char *c = p;
	size_t i = from;
	for (; i < to && i % 8; i++)
		c[i] = t_pat_byte(w, i);
	for (; i + 8 <= to; i += 8) {
		uint64_t v = t_le64(t_pat_word(w, i / 8));
		memcpy(c + i, &v, 8);
	}
	for (; i < to; i++)
		c[i] = t_pat_byte(w, i);
}

/* The first byte in [from, to) that breaks the pattern, or SIZE_MAX. */
static inline size_t t_verify(const void *p, size_t from, size_t to,
		uint64_t w)
{
	const unsigned char *c = p;
	size_t i = from;
	for (; i < to && i % 8; i++)
		if (c[i] != t_pat_byte(w, i))
			return i;
	for (; i + 8 <= to; i += 8) {
		uint64_t v;
		memcpy(&v, c + i, 8);
		if (v != t_le64(t_pat_word(w, i / 8)))
			break;
	}
	for (; i < to; i++)
		if (c[i] != t_pat_byte(w, i))
			return i;
	return SIZE_MAX;
}

/* --- log capture --------------------------------------------------------- */

static char t_log_buf[1 << 16] T_UNUSED;
static size_t t_log_len T_UNUSED;
static unsigned t_log_lines T_UNUSED;

static inline void t_log_capture(int level, const char *msg)
{
	size_t room = sizeof(t_log_buf) - t_log_len;
	int n = snprintf(t_log_buf + t_log_len, room, "<%d> %s\n", level, msg);
	if (n > 0)
		t_log_len += (size_t)n < room ? (size_t)n : room - 1;
	t_log_lines++;
}

static inline void t_log_clear(void)
{
	t_log_len = 0;
	t_log_lines = 0;
	t_log_buf[0] = '\0';
}

static inline void t_log_start(void)
{
	t_log_clear();
	mem_set_log(t_log_capture);
}

static inline int t_log_has(const char *s)
{
	return strstr(t_log_buf, s) != NULL;
}

/* How many times s occurs in the captured log. */
static inline unsigned t_log_count(const char *s)
{
	unsigned n = 0;
	for (const char *p = t_log_buf; (p = strstr(p, s)); p++)
		n++;
	return n;
}

/* Assert that the captured log contains s (the log is printed if not). */
#define T_LOG_HAS(s) \
	do { \
		const char *t_s_ = (s); \
		T_ASSERT(t_log_has(t_s_), "log lacks \"%s\"; log:\n%s", t_s_, \
			t_log_buf); \
	} while (0)

#define T_LOG_EMPTY() \
	T_ASSERT(t_log_lines == 0, "unexpected log:\n%s", t_log_buf)

/* The captured log is one report, which contains want. */
#define T_ONE_REPORT(want) \
	do { \
		T_LOG_HAS(want); \
		T_ASSERT(t_log_lines == 1, "%u reports, want 1:\n%s", \
			t_log_lines, t_log_buf); \
	} while (0)

/* A data file of the suites: $env/name when the variable env is set,
 * else tests/sub/name next to this header. */
static inline void t_data_path(char *buf, size_t size, const char *env,
		const char *sub, const char *name)
{
	const char *dir = getenv(env);
	if (dir) {
		snprintf(buf, size, "%s/%s", dir, name);
		return;
	}
	const char *slash = strrchr(__FILE__, '/');
	int n = slash ? (int)(slash - __FILE__) : 1;
	snprintf(buf, size, "%.*s/%s/%s", n, slash ? __FILE__ : ".", sub, name);
}

/* --- mutual exclusion ---------------------------------------------------- */

/* What the lock tests share in shm: a plain counter that only the lock
 * keeps exact, and an "inside" flag that catches two holders at once. */
struct t_excl {
	uint64_t counter;       /* incremented non-atomically */
	uint32_t inside;        /* 1 while someone holds the lock */
	uint32_t overlaps;      /* holders that found another one inside */
};

/* rounds increments of x->counter, each between get(lk) and put(lk). */
static inline void t_excl_run(struct t_excl *xp, unsigned rounds,
		void (*get)(void *), void (*put)(void *), void *lk)
{
	volatile struct t_excl *x = xp;
	for (unsigned i = 0; i < rounds; i++) {
		get(lk);
		if (x->inside)
			x->overlaps++;
		x->inside = 1;
		uint64_t v = x->counter;
		if (i % 64 == 0)
			sched_yield();  /* widen the window now and then */
		x->counter = v + 1;
		x->inside = 0;
		put(lk);
	}
}

static inline void t_global_get(void *lk)
{
	(void)lk;
	shm_global_lock();
}

static inline void t_global_put(void *lk)
{
	(void)lk;
	shm_global_unlock();
}

/* rounds increments of x->counter, each inside shm_global_lock(). */
static inline void t_excl_rounds(struct t_excl *xp, unsigned rounds)
{
	t_excl_run(xp, rounds, t_global_get, t_global_put, NULL);
}

/* How a report names a call site in a suite: "file:func:line [core]"
 * (file: the caller's __FILE__). */
static inline const char *t_site(char *buf, size_t len, const char *file,
		const char *func, int line)
{
	snprintf(buf, len, "%s:%s:%d [core]", file, func, line);
	return buf;
}

/* --- the model of live blocks -------------------------------------------- */

struct t_live {
	void *p;
	size_t n;       /* bytes asked for */
	uint64_t w;     /* content pattern; T_NOPAT: contents not tracked */
};

#define T_NOPAT 0

static inline int t_live_cmp(const void *a, const void *b)
{
	const struct t_live *x = a, *y = b;
	return x->p < y->p ? -1 : x->p > y->p;
}

/* Contents of every live block; "what" names the step in a failure. */
static inline void t_live_verify(const struct t_live *v, size_t n,
		const char *what)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].w == T_NOPAT)
			continue;
		size_t bad = t_verify(v[i].p, 0, v[i].n, v[i].w);
		T_ASSERT(bad == SIZE_MAX, "%s: block %p (%zu bytes) corrupt at "
			"byte %zu", what, v[i].p, v[i].n, bad);
	}
}

/* n blocks of size bytes from pool, each filled with its own pattern. */
static inline void t_take(struct mem_pool *pool, struct t_live *v, size_t n,
		size_t size, uint64_t *s)
{
	for (size_t k = 0; k < n; k++) {
		v[k] = (struct t_live){ mem_malloc(pool, size, MEM_HERE), size,
			t_rand(s) | 1 };
		ck_assert_ptr_nonnull(v[k].p);
		t_fill(v[k].p, 0, size, v[k].w);
	}
}

/* One random step on the model live[0..*nlive) (at most max blocks) in
 * pool: malloc (1/2), realloc (1/10) or free of 1..maxn bytes, contents
 * filled and checked across the realloc. */
static inline void t_model_step(struct mem_pool *pool, struct t_live *live,
		size_t *nlive, size_t max, size_t maxn, uint64_t *s)
{
	uint64_t r = t_rand(s) % 10;
	if (*nlive < max && (r < 5 || !*nlive)) {
		size_t n = t_range(s, 1, maxn);
		void *p = mem_malloc(pool, n, MEM_HERE);
		ck_assert_ptr_nonnull(p);
		live[*nlive] = (struct t_live){ p, n, t_rand(s) | 1 };
		t_fill(p, 0, n, live[*nlive].w);
		(*nlive)++;
	} else if (r < 6) {
		size_t k = t_range(s, 0, *nlive - 1);
		size_t n = t_range(s, 1, maxn);
		size_t keep = n < live[k].n ? n : live[k].n;
		void *p = mem_realloc(pool, live[k].p, n, MEM_HERE);
		ck_assert_ptr_nonnull(p);
		ck_assert(t_verify(p, 0, keep, live[k].w) == SIZE_MAX);
		live[k] = (struct t_live){ p, n, live[k].w };
		t_fill(p, 0, n, live[k].w);
	} else {
		size_t k = t_range(s, 0, *nlive - 1);
		mem_free(pool, live[k].p, MEM_HERE);
		live[k] = live[--*nlive];
	}
}

/* Free v[from..to) in order. */
static inline void t_free_run(struct mem_pool *pool, struct t_live *v,
		size_t from, size_t to)
{
	for (size_t k = from; k < to; k++)
		mem_free(pool, v[k].p, MEM_HERE);
}

/* --- counters against the walk ------------------------------------------- */

/* What the suites remember about one pool between steps. */
struct t_pool {
	struct mem_pool *pool;
	struct mem_info start;  /* right after init */
	uint64_t hdr;           /* per-fragment overhead, learnt from walks */
	int hdr_known;
	uint64_t fixed;         /* real_used - full size of the used frags */
	int fixed_known;
	uint64_t max_used;      /* last seen: must never decrease */
};

static inline void t_pool_start(struct t_pool *tp, struct mem_pool *pool)
{
	memset(tp, 0, sizeof(*tp));
	tp->pool = pool;
	mem_pool_info(pool, &tp->start);
	tp->max_used = tp->start.max_used;
}

struct t_walk {
	struct t_pool *tp;
	const struct t_live *live;      /* sorted by address, or NULL */
	size_t nlive, cur;
	const char *prev;
	uint64_t prev_size;
	int prev_used, prev_cached, nfrags;
	uint64_t n_used, n_free, n_cached, used_payload, used_full, free_full;
	uint64_t cached_payload, cached_full;
	const void *span;               /* the span of the last object seen */
	int in_span;                    /* a span's block is being accounted */
	int free_unknown;               /* a free frag of unknown full size */
	int used_unknown;               /* a used one (header not learnt yet) */
	char err[512];
};

/* Account for the previous fragment, whose full size is now known. */
static inline void t_walk_close(struct t_walk *w, uint64_t full)
{
	if (w->prev_size > 0) {
		uint64_t hdr = full - w->prev_size - DBG_EXTRA;
		if (full < w->prev_size + DBG_EXTRA ||
		    (w->tp->hdr_known && hdr != w->tp->hdr)) {
			snprintf(w->err, sizeof(w->err), "fragment %p: %" PRIu64
				" usable bytes in %" PRIu64 " bytes, overhead "
				"%" PRIu64 " (seen before: %" PRIu64 ")",
				(const void *)w->prev, w->prev_size, full, hdr,
				w->tp->hdr);
			return;
		}
		w->tp->hdr = hdr;
		w->tp->hdr_known = 1;
	}
	if (w->prev_cached)     /* free to the counters, used to the heap */
		w->cached_full += full;
	else if (w->prev_used)
		w->used_full += full;
	else
		w->free_full += full;
}

static inline int t_walk_model(struct t_walk *w, const struct mem_frag *f);
static inline int t_walk_frag(const struct mem_frag *f, void *arg);

/* An object of a span (pkg_slab): the span is one used block of the heap,
 * accounted as such when its first object is met (its full size closes
 * the fragment before); the objects count as what callers hold. */
static inline int t_walk_span_frag(struct t_walk *w, const struct mem_frag *f)
{
	if (f->span != w->span) {
		struct mem_frag blk;
		memset(&blk, 0, sizeof(blk));
		blk.addr = f->span;
		blk.size = f->span_size;
		blk.used = 1;
		w->span = f->span;
		w->in_span = 1;
		int rc = t_walk_frag(&blk, w);
		w->in_span = 0;
		if (rc)
			return rc;
		w->n_used--;    /* the block is no caller's fragment */
		w->used_payload -= f->span_size;
	}
	const char *a = f->addr, *end = (const char *)f->span + f->span_size;
	if (a < (const char *)f->span || a + f->size > end || (uintptr_t)a % 16) {
		snprintf(w->err, sizeof(w->err), "object %p (%" PRIu64
			" bytes) outside its span %p", f->addr, f->size, f->span);
		return 1;
	}
	if (f->used) {
		w->n_used++;
		w->used_payload += f->size;
		return t_walk_model(w, f);
	}
	return 0;
}

/* The model's next block is f. */
static inline int t_walk_model(struct t_walk *w, const struct mem_frag *f)
{
	if (!w->live)
		return 0;
	const struct t_live *l = w->cur < w->nlive ? &w->live[w->cur] : NULL;
	size_t want = l && l->n ? l->n : 1;
	if (!l || l->p != f->addr || f->size < want ||
	    (MEMDBG && f->req_size != want)) {
		snprintf(w->err, sizeof(w->err), "used fragment %p (%" PRIu64
			" bytes, asked %" PRIu64 ") is not the model's next "
			"block %p (%zu bytes)", f->addr, f->size, f->req_size,
			l ? l->p : NULL, l ? l->n : (size_t)0);
		return 1;
	}
	w->cur++;
	return 0;
}

static inline int t_walk_frag(const struct mem_frag *f, void *arg)
{
	struct t_walk *w = arg;
	const char *a = f->addr;
	if (f->span)
		return t_walk_span_frag(w, f);
	int tiny_end = !f->size && !f->used && !f->cached &&
		mem_pool_contains(w->tp->pool, a - DBG_HEAD);
	if ((uintptr_t)a % 16 || !(mem_pool_contains(w->tp->pool, a) ||
			tiny_end)) {
		snprintf(w->err, sizeof(w->err), "fragment %p misaligned or "
			"outside the pool", f->addr);
		return 1;
	}
	if (w->nfrags && (a <= w->prev || a < w->prev + w->prev_size)) {
		snprintf(w->err, sizeof(w->err), "fragment %p overlaps or "
			"precedes %p (%" PRIu64 " bytes)", f->addr,
			(const void *)w->prev, w->prev_size);
		return 1;
	}
	if (w->nfrags)
		t_walk_close(w, (uint64_t)(a - w->prev));
	if (w->err[0])
		return 1;
	if (f->cached) {
		w->n_cached++;
		w->cached_payload += f->size;
	} else if (f->used) {
		w->n_used++;
		w->used_payload += f->size;
		if (!w->in_span && t_walk_model(w, f))
			return 1;
	} else {
		w->n_free++;
	}
	w->prev = a;
	w->prev_size = f->size;
	w->prev_used = f->used || f->cached;
	w->prev_cached = f->cached;
	w->nfrags++;
	return 0;
}

/* The last fragment: its size only tells its full size once the header is
 * known (and when it is > 0: tiny free fragments are reported as 0). */
static inline void t_walk_last(struct t_walk *w)
{
	if (!w->nfrags)
		return;
	if (w->prev_size > 0 && w->tp->hdr_known)
		t_walk_close(w, w->prev_size + DBG_EXTRA + w->tp->hdr);
	else if (w->prev_cached)        /* its full size is free_size's */
		w->free_unknown = 1;
	else if (w->prev_used)
		w->used_unknown = 1;
	else
		w->free_unknown = 1;
}

/* Check the pool after a step; live (n entries, any order, may be NULL)
 * is every block the test holds in the pool.  where: names the step in a
 * failure message. */
static inline void t_pool_verify(struct t_pool *tp, struct t_live *live,
		size_t n, const char *where)
{
	struct mem_info mi;
	struct t_walk w;
	/* info() first: it gives dead processes' shm caches back to the heap,
	 * which must not happen between the walk and the counters. */
	mem_pool_info(tp->pool, &mi);
	int problems = mem_check(tp->pool);
	T_ASSERT(problems == 0, "%s: mem_check found %d problems", where,
		problems);
	if (live)
		qsort(live, n, sizeof(*live), t_live_cmp);
	memset(&w, 0, sizeof(w));
	w.tp = tp;
	w.live = live;
	w.nlive = n;
	int rc = mem_walk(tp->pool, t_walk_frag, &w);
	if (!w.err[0])
		t_walk_last(&w);
	T_ASSERT(!w.err[0], "%s: walk: %s", where, w.err);
	T_ASSERT(rc == 0, "%s: mem_walk returned %d", where, rc);
	T_ASSERT(!live || w.cur == n, "%s: %zu of the model's %zu blocks "
		"are not used fragments", where, n - w.cur, n);
	mem_pool_info(tp->pool, &mi);
#define T_EQ(a, b) T_ASSERT((a) == (b), "%s: %s = %" PRIu64 ", walk " \
		"says %" PRIu64 " (%s)", where, #a, (uint64_t)(a), \
		(uint64_t)(b), #b)
	T_EQ(mi.total_size, tp->start.total_size);
	T_EQ(mi.used_size, w.used_payload + w.n_used * DBG_EXTRA);
	T_EQ(mi.cached, w.cached_payload + w.n_cached * DBG_EXTRA);
	if (tp->pool == mem_shm_pool) {
		uint64_t bytes, blocks;
		shm_cache_stats(&bytes, &blocks);
		T_EQ(mi.cached, bytes);
		T_EQ(blocks, w.n_cached);
	}
	T_EQ(mi.total_frags, w.n_free);
	T_EQ(mi.free_size + mi.real_used, mi.total_size);
	T_EQ(mi.min_frag, tp->start.min_frag);
	if (!w.free_unknown)
		T_EQ(mi.free_size, w.free_full + w.cached_full);
	if (!w.used_unknown && tp->hdr_known) {
		if (!tp->fixed_known) {
			tp->fixed = mi.real_used - w.used_full;
			tp->fixed_known = 1;
		}
		T_EQ(mi.real_used - w.used_full, tp->fixed);
	}
#undef T_EQ
	T_ASSERT(mi.max_used >= mi.real_used, "%s: max_used %" PRIu64
		" < real_used %" PRIu64, where, mi.max_used, mi.real_used);
	T_ASSERT(mi.max_used >= tp->max_used, "%s: max_used fell from %"
		PRIu64 " to %" PRIu64, where, tp->max_used, mi.max_used);
	tp->max_used = mi.max_used;
	if (live)
		for (size_t i = 0; i + 1 < n; i++)
			T_ASSERT((char *)live[i].p + live[i].n <=
				(char *)live[i + 1].p, "%s: blocks %p "
				"(%zu bytes) and %p overlap", where, live[i].p,
				live[i].n, live[i + 1].p);
}

/* Give every fragment parked in a per-process shm cache back to the heap:
 * an allocation that cannot be met drains all caches before it fails
 * (mem.c, cache.c).  The failure's log line is not kept. */
static inline void t_shm_drain(void)
{
	uint64_t bytes, blocks;
	shm_cache_stats(&bytes, &blocks);
	if (!blocks)
		return;
	shm_cache_drain();
	shm_cache_stats(&bytes, &blocks);
	T_ASSERT(blocks == 0 && bytes == 0, "shm_cache_drain() left %llu "
		"blocks (%llu bytes) in the caches", (unsigned long long)blocks,
		(unsigned long long)bytes);
}

/* What callers hold is back to the start: used_size, real_used and
 * free_size, whatever the shm caches keep parked. */
static inline void t_pool_held_at_start(struct t_pool *tp, const char *where)
{
	struct mem_info mi, *s = &tp->start;
	mem_pool_info(tp->pool, &mi);
	T_ASSERT(mi.used_size == s->used_size && mi.real_used == s->real_used
		&& mi.free_size == s->free_size, "%s: held bytes not back to "
		"the start: used %" PRIu64 "/%" PRIu64 " real_used %" PRIu64
		"/%" PRIu64 " free %" PRIu64 "/%" PRIu64 " (cached %" PRIu64
		")", where, mi.used_size, s->used_size, mi.real_used,
		s->real_used, mi.free_size, s->free_size, mi.cached);
}

/* Every counter but max_used equals the values right after init: nothing
 * leaked (before the caches are drained), and once they are, every free
 * neighbour joined again. */
static inline void t_pool_back_to_start(struct t_pool *tp,
		const char *where)
{
	struct mem_info mi, *s = &tp->start;
	t_pool_held_at_start(tp, where);
	if (tp->pool == mem_shm_pool)
		t_shm_drain();
	mem_pool_info(tp->pool, &mi);
	T_ASSERT(mi.total_size == s->total_size && mi.free_size == s->free_size
		&& mi.used_size == s->used_size && mi.real_used == s->real_used
		&& mi.total_frags == s->total_frags && mi.min_frag ==
		s->min_frag && mi.cached == 0, "%s: counters not back to the start: free %"
		PRIu64 "/%" PRIu64 " used %" PRIu64 "/%" PRIu64 " real_used %"
		PRIu64 "/%" PRIu64 " frags %" PRIu64 "/%" PRIu64, where,
		mi.free_size, s->free_size, mi.used_size, s->used_size,
		mi.real_used, s->real_used, mi.total_frags, s->total_frags);
	T_ASSERT(mi.max_used >= s->max_used, "%s: max_used fell", where);
}

/* The n blocks of v are intact and the only ones held; free them: the
 * pool is back to its start. */
static inline void t_finish(struct t_pool *tp, struct t_live *v, size_t n,
		const char *where)
{
	t_live_verify(v, n, where);
	t_pool_verify(tp, v, n, where);
	t_free_run(tp->pool, v, 0, n);
	t_pool_back_to_start(tp, where);
}

/* The info counters did not change at all (max_used included). */
static inline void t_info_same(const struct mem_info *a,
		const struct mem_info *b, const char *where)
{
	T_ASSERT(!memcmp(a, b, sizeof(*a)), "%s: counters changed: free %"
		PRIu64 "->%" PRIu64 " used %" PRIu64 "->%" PRIu64 " real %"
		PRIu64 "->%" PRIu64 " max %" PRIu64 "->%" PRIu64 " frags %"
		PRIu64 "->%" PRIu64, where, a->free_size, b->free_size,
		a->used_size, b->used_size, a->real_used, b->real_used,
		a->max_used, b->max_used, a->total_frags, b->total_frags);
}

/* The fragment the walk reports at addr, and the one after it. */
struct t_find {
	const void *addr;
	struct mem_frag frag, next;
	int found, has_next;
};

static inline int t_find_frag(const struct mem_frag *f, void *arg)
{
	struct t_find *x = arg;
	if (x->found) {
		x->next = *f;
		x->has_next = 1;
		return 1;
	}
	if (f->addr == x->addr) {
		x->frag = *f;
		x->found = 1;
	}
	return 0;
}

static inline struct t_find t_frag_at(struct mem_pool *pool, const void *p)
{
	struct t_find x;
	memset(&x, 0, sizeof(x));
	x.addr = p;
	mem_walk(pool, t_find_frag, &x);
	return x;
}

/* Reset what a test may have changed (for CK_FORK=no runs). */
static inline void t_teardown(void)
{
	pkg_destroy();
	shm_destroy();
	mem_set_log(NULL);
	mem_safety = 1;
	pkg_slab = 0;
}

#endif /* SRMEM_MEMTEST_H */
