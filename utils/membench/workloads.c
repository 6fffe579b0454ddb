/*
 * workloads.c - BENCH.md's workloads W1-W6, written once against the ops
 * table of bench.h, so every allocator replays the same op sequence.
 *
 * Each function runs one workload in the calling process and prints its
 * metrics (`metric NAME VALUE`); the driver runs each in a fresh process.
 * Timings are CLOCK_MONOTONIC around whole phases, except W5, which times
 * each malloc and free on its own (timer.c) and subtracts the timer's own
 * cost.  Work that is not the allocator's (shuffling, statistics reads)
 * is kept out of the timed phases or timed and subtracted.  Page faults
 * and context switches are counted over the timed phases (bench_ru) and
 * reported per million ops: W1 6N ops (the allocs and frees), W2/W3/W5
 * their ops, W4 two per message (a malloc and a free), W6 its mallocs and
 * frees.
 *
 * --scale multiplies N and op counts, never pool sizes, slot counts (L)
 * or W6's rounds: those define the shape of the heap, and a quick pass
 * should see the same shape, only for less long.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ring.h"
#include "team.h"
#include "timer.h"

/* --- W2's op, shared by W2, W3 and W5 ------------------------------------- */

struct w2 {
	const struct bench_alloc *a;
	void **slot;
	uint32_t *size;
	uint64_t nslots;
	uint64_t rng;
	uint64_t live, peak_live;   /* requested bytes */
	uint64_t failed;            /* malloc/realloc that returned NULL */
};

static void w2_setup(struct w2 *w, const struct bench_alloc *a,
		uint64_t nslots, uint64_t seed)
{
	memset(w, 0, sizeof(*w));
	w->a = a;
	w->nslots = nslots;
	w->rng = seed;
	w->slot = bench_map(nslots * sizeof(void *), 0);
	w->size = bench_map(nslots * sizeof(uint32_t), 0);
}

static inline void w2_account(struct w2 *w, uint64_t i, void *p, size_t n)
{
	w->live += n - w->size[i];
	if (w->live > w->peak_live)
		w->peak_live = w->live;
	w->slot[i] = p;
	w->size[i] = (uint32_t)n;
}

static inline void w2_malloc(struct w2 *w, uint64_t i)
{
	size_t n = sip_size(&w->rng);
	void *p = w->a->malloc(n);
	if (!p) {
		w->failed++;
		return;
	}
	touch(p, n);
	w2_account(w, i, p, n);
}

static inline void w2_realloc(struct w2 *w, uint64_t i)
{
	size_t n = sip_size(&w->rng);
	void *p = w->a->realloc(w->slot[i], n);
	if (!p) {
		w->failed++;
		return;
	}
	touch(p, n);
	w2_account(w, i, p, n);
}

static inline void w2_free(struct w2 *w, uint64_t i)
{
	w->a->free(w->slot[i]);
	w->live -= w->size[i];
	w->slot[i] = NULL;
	w->size[i] = 0;
}

/* One op of W2: slot = rnd() % L; empty: malloc; else 1 in 10 realloc,
 * else free. */
static inline void w2_op(struct w2 *w)
{
	uint64_t i = splitmix64(&w->rng) % w->nslots;
	if (!w->slot[i])
		w2_malloc(w, i);
	else if (splitmix64(&w->rng) % 10 == 0)
		w2_realloc(w, i);
	else
		w2_free(w, i);
}

/* --- W1 same-size ----------------------------------------------------------- */

#define W1_POOL (256 * MiB)
#define W1_N 1000000
#define W1_SIZE 64

static int w1_fill(const struct bench_alloc *a, void **v, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		if (!(v[i] = a->malloc(W1_SIZE))) {
			fprintf(stderr, "w1: malloc %lu of %lu failed\n",
				(unsigned long)i, (unsigned long)n);
			return -1;
		}
		touch(v[i], W1_SIZE);
	}
	return 0;
}

static void w1_drain(const struct bench_alloc *a, void **v, uint64_t n,
		int reverse)
{
	if (reverse)
		for (uint64_t i = n; i-- > 0;)
			a->free(v[i]);
	else
		for (uint64_t i = 0; i < n; i++)
			a->free(v[i]);
}

static void shuffle(void **v, uint64_t n, uint64_t *rng)
{
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = splitmix64(rng) % (i + 1);
		void *t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
}

int w1_same_size(const struct bench_params *bp)
{
	static const char *const free_metric[] = {
		"free_fifo_ns", "free_lifo_ns", "free_random_ns",
	};
	static const char *const free_cpu_metric[] = {
		"cpu_free_fifo_ns", "cpu_free_lifo_ns", "cpu_free_random_ns",
	};
	const struct bench_alloc *a = bp->a;
	if (a->init(bp->name, W1_POOL) < 0)
		return -1;
	uint64_t n = bench_scaled(W1_N, bp->scale), rng = bp->seed;
	void **v = bench_map(n * sizeof(void *), 0);
	double t_alloc = 0, c_alloc = 0;
	struct bench_ru ru = { 0 }, ru0;
	bench_ru_now(&ru0);
	for (int order = 0; order < 3; order++) {
		double t0 = now_ns(), c0 = cpu_now_ns();
		if (w1_fill(a, v, n) < 0)
			return -1;
		t_alloc += now_ns() - t0;
		c_alloc += cpu_now_ns() - c0;
		if (order == 2)
			shuffle(v, n, &rng);
		t0 = now_ns();
		c0 = cpu_now_ns();
		w1_drain(a, v, n, order == 1);
		bench_metric(free_metric[order], (now_ns() - t0) / (double)n);
		bench_metric(free_cpu_metric[order],
			(cpu_now_ns() - c0) / (double)n);
	}
	bench_ru_add_since(&ru, &ru0);
	bench_metric("alloc_ns", t_alloc / (3.0 * (double)n));
	bench_metric("cpu_alloc_ns", c_alloc / (3.0 * (double)n));
	bench_metric("n", (double)n);
	bench_ru_report(&ru, 6.0 * (double)n);
	return 0;
}

/* --- W2 sip-mix -------------------------------------------------------------- */

#define W2_POOL (256 * MiB)
#define W2_SLOTS 50000
#define W2_OPS 10000000

/* Allocators that keep no peak of their own are sampled whenever the
 * requested live bytes pass their last sampled value by 1 %, and every
 * 16384 ops; the time spent sampling is taken out of the op time. */
struct peak_probe {
	const struct bench_alloc *a;
	uint64_t peak_used;
	uint64_t next_live;     /* sample when live requested exceeds this */
	double t_spent;
	uint64_t samples;
};

static void probe_sample(struct peak_probe *pp, uint64_t live)
{
	double t0 = now_ns();
	struct bench_usage u;
	pp->a->usage(&u);
	if (u.real_used != BENCH_UNKNOWN && u.real_used > pp->peak_used)
		pp->peak_used = u.real_used;
	pp->next_live = live + live / 100;
	pp->samples++;
	pp->t_spent += now_ns() - t0;
}

static uint64_t w2_loop(struct w2 *w, uint64_t ops, struct peak_probe *pp)
{
	if (!pp) {
		for (uint64_t op = 0; op < ops; op++)
			w2_op(w);
		return ops;
	}
	for (uint64_t op = 0; op < ops; op++) {
		w2_op(w);
		if (w->live > pp->next_live || !(op & 16383))
			probe_sample(pp, w->live);
	}
	return ops;
}

/* Report the end state and peaks; `pp` holds the sampled peak, if any. */
static void w2_report(const struct w2 *w, const struct peak_probe *pp)
{
	struct bench_usage u = { BENCH_UNKNOWN, BENCH_UNKNOWN, BENCH_UNKNOWN,
		BENCH_UNKNOWN };
	if (w->a->usage)
		w->a->usage(&u);
	uint64_t peak = u.peak_used;
	if (peak == BENCH_UNKNOWN && pp && pp->samples)
		peak = pp->peak_used;
	bench_metric("peak_req_bytes", (double)w->peak_live);
	if (peak != BENCH_UNKNOWN) {
		bench_metric("peak_used_bytes", (double)peak);
		bench_metric("overhead", (double)peak / (double)w->peak_live);
	}
	if (u.free_largest != BENCH_UNKNOWN)
		bench_metric("end_free_largest", (double)u.free_largest);
	if (u.free_total != BENCH_UNKNOWN)
		bench_metric("end_free_total", (double)u.free_total);
	bench_metric("peak_sampled", pp ? (double)pp->samples : 0);
	bench_metric("failed_ops", (double)w->failed);
}

/* Does the allocator keep an exact peak of its own (no sampling needed)? */
static int has_own_peak(const struct bench_alloc *a)
{
	struct bench_usage u;
	if (!a->usage)
		return 1;   /* nothing to sample */
	a->usage(&u);
	return u.peak_used != BENCH_UNKNOWN || u.real_used == BENCH_UNKNOWN;
}

/* MEMBENCH_PREFAULT=1: W2 with the pool faulted in before the timed
 * phase (allocators with a fixed pool: ours), so that its ns/op holds no
 * first touch of a page (doc/PERFORMANCE.md, "W2 and the first touch of
 * the pool").  The prefault takes the whole pool once, which the pool's
 * own peak keeps: such a run reports no peak and no overhead. */
static int w2_prefault(const struct bench_alloc *a)
{
	const char *v = getenv("MEMBENCH_PREFAULT");
	if (!v || !atoi(v) || !a->prefault)
		return 0;
	a->prefault();
	return 1;
}

int w2_sip_mix(const struct bench_params *bp)
{
	if (bp->a->init(bp->name, W2_POOL) < 0)
		return -1;
	int pre = w2_prefault(bp->a);
	struct w2 w;
	w2_setup(&w, bp->a, W2_SLOTS, bp->seed);
	struct peak_probe probe = { .a = bp->a }, *pp = NULL;
	if (!has_own_peak(bp->a) && !pre)
		pp = &probe;
	uint64_t ops = bench_scaled(W2_OPS, bp->scale);
	struct bench_ru ru = { 0 }, ru0;
	bench_ru_now(&ru0);
	double t0 = now_ns();
	w2_loop(&w, ops, pp);
	double t = now_ns() - t0 - (pp ? pp->t_spent : 0);
	bench_ru_add_since(&ru, &ru0);
	bench_metric("ns_per_op", t / (double)ops);
	bench_metric("ops", (double)ops);
	bench_ru_report(&ru, (double)ops);
	bench_metric("prefaulted", pre);
	if (!pre)
		w2_report(&w, pp);
	return 0;
}

/* The usage of a team's timed stretch per million ops; its start-up
 * (child set-up, populating) apart. */
static void team_report_usage(const struct team_usage *u, double ops)
{
	bench_ru_report(&u->run, ops);
	bench_metric("start_faults", u->start.faults);
	bench_metric("start_ms", u->start_ms);
}

/* The global lock's counts of a team's run per million ops (all its
 * processes, start-up included: a worker's set-up takes no lock), and
 * the caches' traffic with the heap over the same run. */
struct shared_counts {
	double lock[4], cache[5];
};

static void counts_before(const struct bench_alloc *a, struct shared_counts *c)
{
	if (a->lock_counts)
		a->lock_counts(c->lock);
	if (a->cache_counts)
		a->cache_counts(c->cache);
}

static void counts_report(const struct bench_alloc *a,
		const struct shared_counts *c0, double ops)
{
	static const char *const lock[4] = { "lock_acq_per_mop",
		"lock_contended_per_mop", "lock_sleeps_per_mop",
		"lock_held_ns_per_op" };
	static const char *const cache[5] = { "cache_refills_per_mop",
		"cache_from_depot_per_mop", "cache_cut_per_mop",
		"cache_to_depot_per_mop", "cache_to_heap_per_mop" };
	struct shared_counts c;
	if (a->lock_counts) {
		a->lock_counts(c.lock);
		for (int k = 0; k < 4; k++)
			bench_metric(lock[k], (c.lock[k] - c0->lock[k]) *
				(k < 3 ? 1e6 : 1) / ops);
	}
	if (a->cache_counts) {
		a->cache_counts(c.cache);
		for (int k = 0; k < 5; k++)
			bench_metric(cache[k], (c.cache[k] - c0->cache[k]) *
				1e6 / ops);
	}
}

/* --- W3 shm-scale ------------------------------------------------------------ */

#define W3_POOL (512 * MiB)
#define W3_SLOTS 20000
#define W3_OPS 2000000

struct w3_arg {
	const struct bench_alloc *a;
	uint64_t seed, ops;
};

/* What a forked worker of a shared pool does first, as a server's child
 * does after fork (our shm pools: shm_child_init). */
static void shared_child_init(const struct bench_alloc *a)
{
	if (a->child_init)
		a->child_init();
}

/* Worker i: the allocator's child set-up, its slots and the first touch
 * of them happen before the start line, the W2 loop between the lines. */
static void *w3_prepare(int i, void *arg)
{
	struct w3_arg *wa = arg;
	shared_child_init(wa->a);
	struct w2 *w = bench_map(sizeof(*w), 0);
	w2_setup(w, wa->a, W3_SLOTS, wa->seed + (uint64_t)i);
	return w;
}

static int w3_run(int i, void *ctx, void *arg)
{
	struct w3_arg *wa = arg;
	(void)i;
	w2_loop(ctx, wa->ops, NULL);
	return 0;
}

int w3_shm_scale(const struct bench_params *bp)
{
	/* Our pools: one shm pool made before fork.  System allocators:
	 * every process its own heap (the no-sharing upper bound). */
	struct w3_arg wa = { bp->shared ? bp->shared : bp->a, bp->seed,
		bench_scaled(W3_OPS, bp->scale) };
	if (wa.a->init(bp->name, W3_POOL) < 0)
		return -1;
	struct team_job job = { w3_prepare, w3_run, &wa };
	struct team_usage u;
	struct shared_counts lk;
	counts_before(wa.a, &lk);
	double wall = team_run(bp->procs, &job, &u);
	if (wall <= 0)
		return -1;
	double total = (double)wa.ops * bp->procs;
	bench_metric("ops_per_s", total / (wall / 1e9));
	bench_metric("wall_ms", wall / 1e6);
	bench_metric("procs", bp->procs);
	team_report_usage(&u, total);
	counts_report(wa.a, &lk, total);
	return 0;
}

/* --- W4 handoff ----------------------------------------------------------------- */

#define W4_POOL (256 * MiB)
#define W4_MSGS 2000000
#define W4_TAG 0x5a

/* What a producer puts on the ring after its last message: a consumer
 * that takes one is done.  Each producer puts one and there are as many
 * consumers as producers, so the last one leaves after every message (the
 * ring hands positions out in order, and a consumer finishes the message
 * it took before it takes the next).  A shared count of messages would
 * cost every message a locked add on a line both consumers write: a
 * harness cost of the same order as the free it measures. */
static const char w4_done;
#define W4_DONE ((unsigned char *)&w4_done)

struct w4_arg {
	const struct bench_alloc *a;
	struct ring *ring;
	_Atomic uint64_t *consumed;     /* summed once per consumer, at its end */
	uint64_t seed, msgs, total;
	int pairs;
	_Atomic uint64_t *bad;
};

/* Processes 0..pairs-1 produce, the others consume. */
static int w4_produce(struct w4_arg *wa, int i)
{
	uint64_t rng = wa->seed + (uint64_t)i;
	for (uint64_t m = 0; m < wa->msgs; m++) {
		size_t n = sip_size(&rng);
		unsigned char *p;
		while (!(p = wa->a->malloc(n)))
			team_yield();   /* pool full: consumers will free */
		p[0] = W4_TAG;
		p[n - 1] = (unsigned char)n;
		ring_put(wa->ring, p);
	}
	ring_put(wa->ring, (void *)W4_DONE);
	return 0;
}

static int w4_consume(struct w4_arg *wa)
{
	uint64_t n = 0, bad = 0;
	for (;;) {
		unsigned char *p = ring_get(wa->ring);
		if (p == W4_DONE)
			break;
		bad += p[0] != W4_TAG;
		wa->a->free(p);
		n++;
	}
	atomic_fetch_add(wa->consumed, n);
	atomic_fetch_add(wa->bad, bad);
	return 0;
}

static void *w4_prepare(int i, void *arg)
{
	struct w4_arg *wa = arg;
	(void)i;
	shared_child_init(wa->a);
	return NULL;
}

static int w4_run(int i, void *ctx, void *arg)
{
	struct w4_arg *wa = arg;
	(void)ctx;
	return i < wa->pairs ? w4_produce(wa, i) : w4_consume(wa);
}

int w4_handoff(const struct bench_params *bp)
{
	if (!bp->shared) {
		fprintf(stderr, "w4: %s cannot share a pool\n", bp->name);
		return -1;
	}
	struct w4_arg wa = { .a = bp->shared, .seed = bp->seed,
		.msgs = bench_scaled(W4_MSGS, bp->scale), .pairs = bp->procs };
	if (wa.a->init(bp->name, W4_POOL) < 0)
		return -1;
	wa.total = wa.msgs * (uint64_t)wa.pairs;
	if (!(wa.ring = ring_create(wa.a)))
		return -1;
	_Atomic uint64_t *counters = bench_map(2 * sizeof(*counters), 1);
	wa.consumed = &counters[0];
	wa.bad = &counters[1];
	struct team_job job = { w4_prepare, w4_run, &wa };
	struct team_usage u;
	struct shared_counts lk;
	counts_before(wa.a, &lk);
	double wall = team_run(2 * bp->procs, &job, &u);
	if (wall <= 0)
		return -1;
	bench_metric("msgs_per_s", (double)wa.total / (wall / 1e9));
	team_report_usage(&u, 2.0 * (double)wa.total);
	counts_report(wa.a, &lk, 2.0 * (double)wa.total);
	bench_metric("pairs", bp->procs);
	bench_metric("bad_msgs", (double)atomic_load(wa.bad));
	if (atomic_load(wa.consumed) != wa.total) {
		fprintf(stderr, "w4: %llu of %llu messages consumed\n",
			(unsigned long long)atomic_load(wa.consumed),
			(unsigned long long)wa.total);
		return -1;
	}
	return atomic_load(wa.bad) ? -1 : 0;
}

/* --- W5 latency ------------------------------------------------------------------ */

#define W5_POOL (256 * MiB)
#define W5_WARM 5000000
#define W5_OPS 1000000

struct w5_samples {
	uint64_t *t;
	uint64_t n;
};

/* W2's op again, with the malloc or free timed on its own.  Realloc is
 * run but not timed (BENCH.md times malloc and free). */
static inline void w5_op(struct w2 *w, struct w5_samples *ms,
		struct w5_samples *fs)
{
	uint64_t i = splitmix64(&w->rng) % w->nslots;
	if (!w->slot[i]) {
		size_t n = sip_size(&w->rng);
		uint64_t t0 = timer_ticks();
		void *p = w->a->malloc(n);
		ms->t[ms->n++] = timer_ticks() - t0;
		if (!p) {
			w->failed++;
			return;
		}
		touch(p, n);
		w2_account(w, i, p, n);
	} else if (splitmix64(&w->rng) % 10 == 0) {
		w2_realloc(w, i);
	} else {
		uint64_t t0 = timer_ticks();
		w->a->free(w->slot[i]);
		fs->t[fs->n++] = timer_ticks() - t0;
		w->live -= w->size[i];
		w->slot[i] = NULL;
		w->size[i] = 0;
	}
}

/* Nearest-rank percentiles of the samples, timer cost taken off. */
static void w5_report(const char *op, struct w5_samples *s,
		const struct timer_cal *tc)
{
	static const struct { const char *name; double q; } pct[] = {
		{ "p50", 0.50 }, { "p99", 0.99 }, { "p99.9", 0.999 },
		{ "p99.99", 0.9999 }, { "max", 1.0 },
	};
	char name[64];
	qsort(s->t, s->n, sizeof(*s->t), bench_cmp_u64);
	for (size_t k = 0; k < sizeof(pct) / sizeof(pct[0]) && s->n; k++) {
		uint64_t rank = (uint64_t)(pct[k].q * (double)s->n + 0.999999);
		uint64_t idx = rank ? rank - 1 : 0;
		snprintf(name, sizeof(name), "%s_%s_ns", op, pct[k].name);
		bench_metric(name, timer_ns(tc, s->t[idx]));
	}
	snprintf(name, sizeof(name), "%s_samples", op);
	bench_metric(name, (double)s->n);
}

int w5_latency(const struct bench_params *bp)
{
	const struct bench_alloc *a = bp->a;
	if (a->init(bp->name, W5_POOL) < 0)
		return -1;
	if (a->prefault)
		a->prefault();
	struct w2 w;
	w2_setup(&w, a, W2_SLOTS, bp->seed);
	w2_loop(&w, bench_scaled(W5_WARM, bp->scale), NULL);
	uint64_t ops = bench_scaled(W5_OPS, bp->scale);
	struct w5_samples ms = { bench_map(ops * 8, 0), 0 };
	struct w5_samples fs = { bench_map(ops * 8, 0), 0 };
	struct timer_cal tc;
	timer_calibrate(&tc);
	struct bench_ru ru = { 0 }, ru0;
	bench_ru_now(&ru0);
	for (uint64_t op = 0; op < ops; op++)
		w5_op(&w, &ms, &fs);
	bench_ru_add_since(&ru, &ru0);
	bench_ru_report(&ru, (double)ops);
	bench_metric("timer_cost_ns", (double)tc.cost_ticks * tc.ns_per_tick);
	bench_metric("timer_step_ns", (double)tc.step_ticks * tc.ns_per_tick);
	bench_metric("prefaulted", a->prefault != NULL);
	w5_report("malloc", &ms, &tc);
	w5_report("free", &fs, &tc);
	return 0;
}

/* --- W6 fill ------------------------------------------------------------------------ */

#define W6_POOL (64 * MiB)
#define W6_ROUNDS 20

struct w6 {
	void **p;
	uint32_t *size;
	uint64_t n, cap;
	uint64_t live;
	uint64_t ops;       /* mallocs and frees */
};

/* Allocate sip_size() blocks until one fails. */
static void w6_fill_up(const struct bench_alloc *a, struct w6 *f,
		uint64_t *rng)
{
	while (f->n < f->cap) {
		size_t n = sip_size(rng);
		void *p = a->malloc(n);
		if (!p)
			return;
		touch(p, n);
		f->ops++;
		f->p[f->n] = p;
		f->size[f->n++] = (uint32_t)n;
		f->live += n;
	}
}

/* Free a random half: shuffle the live blocks, free the first half. */
static void w6_free_half(const struct bench_alloc *a, struct w6 *f,
		uint64_t *rng)
{
	for (uint64_t i = f->n - 1; i > 0; i--) {
		uint64_t j = splitmix64(rng) % (i + 1), ts = f->size[i];
		void *tp = f->p[i];
		f->p[i] = f->p[j];
		f->size[i] = f->size[j];
		f->p[j] = tp;
		f->size[j] = (uint32_t)ts;
	}
	uint64_t half = f->n / 2, keep = f->n - half;
	f->ops += half;
	for (uint64_t i = 0; i < half; i++) {
		a->free(f->p[i]);
		f->live -= f->size[i];
	}
	memmove(f->p, f->p + half, keep * sizeof(*f->p));
	memmove(f->size, f->size + half, keep * sizeof(*f->size));
	f->n = keep;
}

static int w6_run(const struct bench_params *bp, const struct bench_alloc *a)
{
	if (!a || a->init(bp->name, W6_POOL) < 0)
		return -1;
	struct w6 f = { .cap = W6_POOL / 16 };
	f.p = bench_map(f.cap * sizeof(void *), 0);
	f.size = bench_map(f.cap * sizeof(uint32_t), 0);
	uint64_t rng = bp->seed;
	double sum = 0, lo = 1;
	struct bench_ru ru = { 0 }, ru0;
	bench_ru_now(&ru0);
	for (int r = 0; r < W6_ROUNDS; r++) {
		w6_fill_up(a, &f, &rng);
		double u = (double)f.live / (double)W6_POOL;
		sum += u;
		lo = u < lo ? u : lo;
		w6_free_half(a, &f, &rng);
	}
	bench_ru_add_since(&ru, &ru0);
	bench_metric("utilisation", sum / W6_ROUNDS);
	bench_metric("utilisation_min", lo);
	bench_metric("rounds", W6_ROUNDS);
	bench_ru_report(&ru, (double)f.ops);
	return 0;
}

int w6_fill(const struct bench_params *bp)
{
	return w6_run(bp, bp->a);
}

/* The same fill on the shared pool: what the per-process caches cost in
 * usable memory (a new workload, so W6 keeps its definition). */
int w6_fill_shm(const struct bench_params *bp)
{
	return w6_run(bp, bp->shared);
}
