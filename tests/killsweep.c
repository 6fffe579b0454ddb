/*
 * killsweep.c - the kill sweep: a process killed at each kill point of a
 * fixed sequence of shm calls, one trial per point (doc/RELIABILITY.md,
 * "Kill sweep").
 *
 *   killsweep BACKEND [SEQUENCES [PER_SITE]]
 *
 * Built only against a library compiled with MEM_KILL_POINTS=1 (`make
 * killsweep`; mem/killpoint.c).  There every MEM_KILL_FENCE() - each
 * place where the backends, the common layer and the shm caches order
 * their stores for a process that may die between any two (a split, a
 * join, the journal, a flush, a refill, the depot) - and every
 * MEM_KILL_POINT() (a free-list link written, the block not yet listed or
 * marked) is a numbered point at which the process can be made to die.
 * The kill storm (prog_killstorm.c) finds such places by timing, a few in
 * thousands of trials; the sweep goes to each place of its sequences, on
 * every run, and says which one failed.
 *
 * A sequence.  A trial process T makes a fresh pool (16 MiB of BACKEND, a
 * cache budget of 16 KiB so that flushes, depot traffic and refills come
 * often), allocates fragments of its own and frees every third (holes, so
 * that frees join on both sides): the baseline.  Then it gives NHAND new
 * fragments to the victim's table, parks NPARK small ones in its own
 * cache (which the victim's drains take), and forks the victim V.  V runs
 * NOPS calls chosen by the sequence's seed: small and medium allocations
 * through its cache, large ones (past 256 KiB) through the global lock,
 * frees of its own and of T's fragments, reallocs that grow, shrink or
 * move, three large fragments freed outer ones first (a locked free that
 * joins both ways), and now and then shm_cache_reclaim() or
 * shm_cache_drain().  Odd sequences give the depot no room (every flush
 * goes to the heap block by block), sequences 2 and 3 of every 4 free at
 * once (MEMDBG=0: no free queue).  One process runs at a time and nothing
 * depends on time, so point n is the same place in every run.  A first
 * run counts the points and notes where each is (its fence, and a hash of
 * the call chain that reached it: the same fence under a cache flush and
 * under a locked free are two sites).  Then V is killed at PER_SITE
 * points of every site (default 3: the first, the last and one between;
 * 0: at every point), in SEQUENCES sequences (default 8).
 *
 * Deaths in a row.  Every point at which V died holding the global lock
 * is visited a second time with a second victim: after V's death, S (a
 * child of T) takes the lock over - the recovery - and is itself killed
 * at its point J, chosen per trial among its first SNEAR points (the
 * takeover, finishing V's call) or, in every other trial, its first SMAX
 * (deeper: the rebuild's list inserts, draining V's slot; S may also
 * finish its calls before J); then T recovers from both.
 *
 * After each trial T, the survivor, verifies:
 *   - it takes the locks over and uses the pool (a large and a cached
 *     allocation and free) without hanging (alarm: 20 s) or crashing, and
 *     the pool is not declared broken (no critical log line);
 *   - after the victims' table is freed and every cache drained, each
 *     used fragment nobody holds is one a dead victim had in its hands:
 *     the new fragment of its allocation or realloc, or the fragment of
 *     its free or realloc, but not the fragment of a free that died
 *     inside the heap's free (the backend's file), which the taker
 *     finishes (mem.c release_recover, cache.c recover_freeing); after
 *     those are freed, used_size is back at the baseline exactly (no byte
 *     lost, none counted twice) and no fragment is left "cached";
 *   - mem_check_ex() reports nothing, then again after T_AFTER more
 *     mixed calls of T's.
 * A failed trial prints its point, the site and what failed, with T's
 * log.  KS_RANGE=LO-HI visits those points only; KS_TRIALS=1 prints
 * every trial; KS_VERBOSE=1 lists the sites.
 *
 * Output: per sequence its points, sites and visits; then the trials (the
 * runs without a kill among them), how many kills fell while V held the
 * global lock or its cache slot, how many second victims died in
 * recovery, the failures and the time.  Exit
 * status 0 when every trial passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "killtest.h"

#define POOL ((size_t)16 << 20)
#define CACHE_BUDGET ((size_t)16 << 10)
#define NT 96                   /* T's own fragments */
#define NHAND 12                /* given to V */
#define NPARK 24                /* parked in T's cache */
#define NP 40                   /* V's table */
#define NOPS 240                /* V's calls */
#define T_AFTER 400             /* T's calls after the checks */
#define SMAX 4096               /* S dies at one of its first SMAX points, */
#define SNEAR 48                /* in one trial of two at one of SNEAR */
#define MAX_POINTS (1ul << 17)
/* Trials run NPAR at a time, each with its own table: a kill with the
 * global lock held costs the survivor its wait for the dead owner
 * (LOCK_CHECK_MS, lock.h), a sleep; the trials share nothing else. */
#define NPAR 32

/* A victim's call in progress: what it has in its hands. */
struct call {
	volatile uint32_t pending;      /* CALL_* */
	void *volatile inflight;        /* the fragment it frees or moves */
	unsigned long at;               /* killed at this point, 0: not */
	const struct mem_kill_site *site;       /* there */
};

enum { CALL_NONE, CALL_MALLOC, CALL_FREE, CALL_REALLOC };
enum { HELD_GLOBAL = 1, HELD_SLOT = 2 };

/* One trial's table, shared by T, V, S and the driver. */
struct vtab {
	void *p[NP];                    /* V's fragments */
	struct call v, s;
	struct mem_kill_site strace[SMAX];      /* S's points */
	volatile uint32_t done;         /* V ran its whole sequence */
	volatile uint32_t s_died;       /* S was killed */
	volatile uint32_t held;         /* V died holding HELD_* */
	unsigned long passed;           /* kill points V passed */
};

static struct vtab *vt;                 /* this trial's */
static struct mem_kill_site *trace;     /* the dry run's points */

static size_t pick_size(uint64_t *x)
{
	uint64_t r = kt_rnd(x);
	switch (r % 16) {
	case 0: case 1:
		return 100000 + (size_t)(r >> 8) % 300000;
	case 2: case 3: case 4:
		return 1024 + (size_t)(r >> 8) % 64512;
	default:
		return 8 + (size_t)(r >> 8) % 1016;
	}
}

/* --- T's log: kept, printed when its trial fails ------------------------ */

static char logbuf[8192];
static size_t loglen;
static unsigned crit;

static void keep_log(int level, const char *msg)
{
	if (level <= MEM_L_CRIT)
		crit++;
	int n = snprintf(logbuf + loglen, sizeof(logbuf) - loglen,
		"    log %d: %s\n", level, msg);
	if (n > 0 && loglen + (size_t)n < sizeof(logbuf))
		loglen += (size_t)n;
}

/* --- the victims ------------------------------------------------------------ */

static void die_at(unsigned long at, struct mem_kill_site *tr,
		unsigned long len)
{
	alarm(20);
	mem_kill_passed = 0;        /* the parent's points are not ours */
	mem_kill_trace = tr;
	mem_kill_trace_len = len;
	mem_kill_at = at;
}

static void *call_malloc(struct call *c, size_t n)
{
	c->pending = CALL_MALLOC;
	void *p = shm_malloc(n);
	c->pending = CALL_NONE;
	return p;
}

static void call_free(struct call *c, void *p)
{
	c->inflight = p;
	c->pending = CALL_FREE;
	shm_free(p);
	c->pending = CALL_NONE;
	c->inflight = NULL;
}

/* Three large fragments through the global lock, the outer two freed,
 * then the middle one: a locked free that joins on both sides.  They
 * live in the last NTRIO entries of V's table. */
#define NTRIO 3
static void v_trio(void)
{
	struct call *c = &vt->v;
	void **t = &vt->p[NP - NTRIO];
	for (unsigned i = 0; i < NTRIO; i++)
		t[i] = call_malloc(c, 300000);
	for (unsigned i = 0; i < NTRIO; i++) {
		unsigned k = (i + 2) % NTRIO;       /* 2, 0, then 1 */
		void *p = t[k];
		t[k] = NULL;
		call_free(c, p);
	}
}

/* One call of V's on slot k of its table: the entry is cleared before a
 * free and set after an allocation. */
static void v_op(unsigned k, uint64_t *x)
{
	struct call *c = &vt->v;
	void *p = vt->p[k];
	uint64_t r = kt_rnd(x) % 32;
	if (r == 0) {
		shm_cache_reclaim();
	} else if (r == 1) {
		shm_cache_drain();
	} else if (r == 2) {
		v_trio();
	} else if (!p) {
		vt->p[k] = call_malloc(c, pick_size(x));
	} else if (r < 10) {
		c->inflight = p;
		c->pending = CALL_REALLOC;
		vt->p[k] = NULL;
		void *q = shm_realloc(p, pick_size(x));
		vt->p[k] = q ? q : p;
		c->pending = CALL_NONE;
		c->inflight = NULL;
	} else {
		vt->p[k] = NULL;
		call_free(c, p);
	}
}

static void victim(uint64_t seed, unsigned long at,
		struct mem_kill_site *tr, unsigned long len)
{
	uint64_t x = seed;
	die_at(at, tr, len);
	for (unsigned i = 0; i < NOPS; i++)
		v_op((unsigned)(kt_rnd(&x) % (NP - NTRIO)), &x);
	vt->passed = mem_kill_passed;
	vt->done = 1;
	_exit(0);
}

/* The second victim: the first calls after V's death (the takeover, the
 * rebuild, the drain of V's slot), killed at its point j. */
static void second(unsigned long j)
{
	struct call *c = &vt->s;
	die_at(j, vt->strace, SMAX);
	void *big = call_malloc(c, 300000);
	call_free(c, big);
	void *small = call_malloc(c, 100);
	call_free(c, small);
	shm_cache_drain();
	_exit(0);
}

/* --- the survivor's checks ------------------------------------------------------ */

static struct kt_sweep base;
static uint64_t base_used;
static int fails;

/* What the dead V held: the global lock, its slot. */
static uint32_t held_by(pid_t pid)
{
	struct mem_pool *pool = mem_shm_pool;
	struct mem_cache *c = pool->cache;
	uint32_t h = mem_lock_owner(pool->lock) == pid ? HELD_GLOBAL : 0;
	for (unsigned i = 0; c && i < CACHE_SLOTS; i++)
		if (kt_holds_slot(&c->slot[i], pid))
			h |= HELD_SLOT;
	return h;
}

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("    ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fails++;
}

static void check_heap(const char *when)
{
	struct mem_check_result r;
	if (mem_check_ex(mem_shm_pool, &r))
		fail("heap check %s: %d problems (%d structure)", when,
			r.problems, r.structure);
}

static int in_backend_file(const struct mem_kill_site *s)
{
	return s && (strstr(s->file, "tlsf.c") ||
		strstr(s->file, "f_malloc.c") || strstr(s->file, "q_malloc.c"));
}

/* May the fragment a dead victim was freeing or moving stay used? */
static int own_may_stay(const struct call *c)
{
	if (c->pending == CALL_REALLOC)
		return 1;
	return c->pending == CALL_FREE && !in_backend_file(c->site);
}

/* The used fragments nobody holds that the dead victims' calls do not
 * explain (above); 0 when all are explained.  Each dead allocation or
 * realloc explains one fragment, whatever its address. */
static unsigned unexplained(const struct kt_sweep *w)
{
	const struct call *c[2] = { &vt->v, &vt->s };
	unsigned fresh = 0, other = 0, bad = 0;
	for (int i = 0; i < 2; i++)
		fresh += c[i]->at && (c[i]->pending == CALL_MALLOC ||
			c[i]->pending == CALL_REALLOC);
	if (w->orphans > w->norphan)
		return (unsigned)w->orphans;
	for (unsigned k = 0; k < w->norphan; k++) {
		const void *o = w->orphan[k];
		int own = 0, may = 0;   /* S may hold what V freed, again */
		for (int i = 0; i < 2; i++)
			if (c[i]->at && c[i]->inflight == o) {
				own = 1;
				may |= own_may_stay(c[i]);
			}
		bad += own && !may;
		other += !own;
	}
	/* a fresh fragment may lie where a freed one was (S's malloc
	 * reusing the block whose free V's death left to S) */
	return bad + other > fresh ? bad + other - fresh : 0;
}

static void describe(char *buf, size_t len, const struct call *c)
{
	if (!c->at)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "call %u at point %lu (%s:%d)", c->pending,
			c->at, c->site ? c->site->file : "?",
			c->site ? c->site->line : 0);
}

/* After the deaths: free V's table and what the victims left in their
 * hands; account; check. */
static void settle(void)
{
	for (unsigned k = 0; k < NP; k++) {
		void *p = vt->p[k];
		vt->p[k] = NULL;
		shm_free(p);
	}
	struct kt_sweep *w = &base;
	uint64_t used = kt_settle(w);
	unsigned bad = unexplained(w);
	char v[160], s[160];
	describe(v, sizeof(v), &vt->v);
	describe(s, sizeof(s), &vt->s);
	if (getenv("KS_TRIALS"))
		printf("    V %s; S %s: %llu orphans, %u unexplained\n", v, s,
			(unsigned long long)w->orphans, bad);
	if (bad || w->cached || used != base_used)
		fail("lost: %llu used fragments nobody holds, %u of them not "
			"what the victims had in their hands (V %s; S %s); %llu "
			"cached after the drain; used %llu against %llu",
			(unsigned long long)w->orphans, bad, v, s,
			(unsigned long long)w->cached, (unsigned long long)used,
			(unsigned long long)base_used);
	check_heap("after the kill");
}

/* T before V: its fragments with holes between them (the baseline), then
 * NHAND more in V's table and NPARK parked in its own cache. */
static void prepare(void **tp, uint64_t seed)
{
	uint64_t x = seed ^ 0x5eed;
	for (unsigned i = 0; i < NT; i++)
		tp[i] = shm_malloc(pick_size(&x));
	for (unsigned i = 0; i < NT; i += 3) {
		shm_free(tp[i]);
		tp[i] = NULL;
	}
	base_used = kt_used_now();
	kt_baseline(&base);
	for (unsigned h = 0; h < NHAND; h++)
		vt->p[h * (NP / NHAND)] = shm_malloc(pick_size(&x));
	void *park[NPARK];
	for (unsigned i = 0; i < NPARK; i++)
		park[i] = shm_malloc(16 + 16 * (i % 8));
	for (unsigned i = 0; i < NPARK; i++)
		shm_free(park[i]);
}

/* T after the deaths: take over, account, check, go on. */
static void survive(void **tp, uint64_t seed)
{
	uint64_t x = seed ^ 0xa11;
	void *big = shm_malloc(200000), *small = shm_malloc(100);
	if (!big || !small)
		fail("the survivor's first allocations failed");
	shm_free(big);
	shm_free(small);
	shm_cache_drain();
	settle();
	for (unsigned i = 0; i < T_AFTER; i++) {
		unsigned k = (unsigned)(kt_rnd(&x) % NT);
		if (tp[k]) {
			shm_free(tp[k]);
			tp[k] = NULL;
		} else {
			tp[k] = shm_malloc(pick_size(&x));
		}
	}
	for (unsigned k = 0; k < NT; k++)
		shm_free(tp[k]);
	check_heap("after the survivor's calls");
	if (crit)
		fail("%u critical log lines: the pool was declared broken", crit);
}

static int wait_child(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

static pid_t fork_or_exit(void)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		_exit(2);
	return pid;
}

/* One trial: V killed at point `at` (0: never), then, when j > 0, S at
 * its point j.  Runs in its own process T; exit status 0 passed, 1
 * failed, 3 V was not killed where meant. */
static void trial(const char *backend, uint64_t seed, unsigned long at,
		unsigned long j)
{
	static void *tp[NT];
	struct mem_kill_site *tr = mem_kill_trace;  /* V's points only */
	unsigned long len = mem_kill_trace_len;
	mem_kill_trace = NULL;
	mem_kill_trace_len = 0;
	alarm(20);
	mem_set_log(keep_log);
	shm_cache_size = CACHE_BUDGET;
	if (shm_init(POOL, backend) < 0) {
		fputs(logbuf, stdout);
		fflush(NULL);
		_exit(4);
	}
	memset(vt, 0, sizeof(*vt));
	if ((seed & 1) && mem_shm_pool->cache)  /* every flush to the heap */
		mem_shm_pool->cache->depot_limit = 0;
	if (seed & 2)   /* MEMDBG=0: every free at its call, not queued */
		mem_free_queue = 0;
	prepare(tp, seed);
	pid_t pid = fork_or_exit();
	if (pid == 0)
		victim(seed, at, tr, len);
	int st = wait_child(pid);
	int killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
	if (at && !killed) {
		printf("    point %lu: the victim was not killed there (%s)\n",
			at, vt->done ? "ran its whole sequence" : "other end");
		_exit(3);
	}
	if (!at && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		_exit(2);
	vt->held = held_by(pid);
	vt->v.at = at;
	vt->v.site = at ? &trace[at - 1] : NULL;
	if (j) {
		pid = fork_or_exit();
		if (pid == 0)
			second(j);
		st = wait_child(pid);
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) {
			vt->s_died = 1;
			vt->s.at = j;
			vt->s.site = &vt->strace[j - 1];
		} else if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			fail("the second victim died of %d", st);
		}
	}
	survive(tp, seed);
	shm_destroy();
	if (fails && loglen)
		fputs(logbuf, stdout);
	fflush(NULL);
	_exit(fails ? 1 : 0);
}

/* --- the driver ---------------------------------------------------------- */

static struct vtab *vts;        /* NPAR tables, MAP_SHARED */

struct running {
	pid_t pid;
	unsigned long at, j;
};

static pid_t start_trial(const char *backend, uint64_t seed,
		unsigned long at, unsigned long j, unsigned k)
{
	fflush(NULL);
	vt = &vts[k];
	pid_t pid = fork();
	if (pid == 0)
		trial(backend, seed, at, j);
	return pid;
}

/* Wait for any trial; its index, its status in *rc (0 passed, 3 the
 * victim was not killed where meant, else failed). */
static unsigned end_trial(struct running *run, int *rc)
{
	int st;
	pid_t pid;
	while ((pid = wait(&st)) < 0 && errno == EINTR)
		;
	for (unsigned k = 0; k < NPAR; k++) {
		if (run[k].pid != pid || pid <= 0)
			continue;
		run[k].pid = 0;
		if (WIFEXITED(st)) {
			*rc = WEXITSTATUS(st);
		} else {
			printf("    point %lu: the survivor died of signal %d\n",
				run[k].at, WTERMSIG(st));
			*rc = 1;
		}
		return k;
	}
	*rc = -1;
	return NPAR;
}

struct totals {
	unsigned long trials, failed, strays, global, slot, seconds, s_died;
};

/* Run the trials at[i] (with S at j[i] when j is not NULL), NPAR at a
 * time; the points at which V died holding the global lock go to
 * relock. */
static int run_trials(const char *backend, unsigned seq, uint64_t seed,
		const unsigned long *at, const unsigned long *j,
		unsigned long n, unsigned long *relock, unsigned long *nrelock,
		struct totals *t)
{
	struct running run[NPAR] = { { 0, 0, 0 } };
	for (unsigned long i = 0, busy = 0; i < n || busy; ) {
		unsigned k = 0;
		int rc;
		if (i < n && busy < NPAR) {
			while (run[k].pid)
				k++;
			run[k].at = at[i];
			run[k].j = j ? j[i] : 0;
			run[k].pid = start_trial(backend, seed, run[k].at,
				run[k].j, k);
			if (run[k].pid < 0)
				return -1;
			busy++;
			i++;
			continue;
		}
		k = end_trial(run, &rc);
		if (k == NPAR)
			return -1;
		busy--;
		t->trials++;
		t->seconds += run[k].j != 0;
		t->s_died += vts[k].s_died;
		t->global += (vts[k].held & HELD_GLOBAL) != 0;
		t->slot += (vts[k].held & HELD_SLOT) != 0;
		if (relock && (vts[k].held & HELD_GLOBAL))
			relock[(*nrelock)++] = run[k].at;
		t->strays += rc == 3;
		if (rc == 4) {
			printf("killsweep: no %s pool in this build (see the log "
				"above)\n", backend);
			return -1;
		}
		if (rc != 0 && !run[k].at) {
			t->failed++;
			printf("  sequence %u, without a kill: failed\n", seq);
		} else if (rc != 0) {
			const struct mem_kill_site *s = &trace[run[k].at - 1];
			t->failed++;
			char second[64] = "";
			if (run[k].j)
				snprintf(second, sizeof(second), ", second victim "
					"at its point %lu", run[k].j);
			printf("  sequence %u, point %lu (%s:%d)%s: failed\n",
				seq, run[k].at, s->file, s->line, second);
		}
	}
	return 0;
}

/* --- which points: every site, PER_SITE of its occurrences ------------ */

static unsigned long npoints;

static int by_site(const void *a, const void *b)
{
	const struct mem_kill_site *x = &trace[*(const unsigned long *)a];
	const struct mem_kill_site *y = &trace[*(const unsigned long *)b];
	if (x->at != y->at)
		return (uintptr_t)x->at < (uintptr_t)y->at ? -1 : 1;
	if (x->ctx != y->ctx)
		return x->ctx < y->ctx ? -1 : 1;
	return *(const unsigned long *)a < *(const unsigned long *)b ? -1 : 1;
}

static int by_value(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a;
	unsigned long y = *(const unsigned long *)b;
	return x < y ? -1 : x > y;
}

static int same_site(unsigned long a, unsigned long b)
{
	return trace[a].at == trace[b].at && trace[a].ctx == trace[b].ctx;
}

/* The points to visit (1-based, ascending) into pick; their count.  A
 * site is one call of the kill point (an inlined fence has one per copy)
 * reached by one call chain; per_site 0: every point. */
static unsigned long choose(unsigned long *pick, unsigned per_site,
		unsigned long *sites)
{
	unsigned long *ix = malloc(npoints * sizeof(*ix)), n = 0;
	if (!ix)
		exit(2);
	for (unsigned long i = 0; i < npoints; i++)
		ix[i] = i;
	qsort(ix, npoints, sizeof(*ix), by_site);
	*sites = 0;
	for (unsigned long lo = 0, hi; lo < npoints; lo = hi) {
		for (hi = lo + 1; hi < npoints && same_site(ix[hi], ix[lo]);
				hi++)
			;
		unsigned long m = hi - lo;
		(*sites)++;
		if (!per_site || m <= per_site) {
			for (unsigned long k = lo; k < hi; k++)
				pick[n++] = ix[k] + 1;
			continue;
		}
		for (unsigned k = 0; k < per_site; k++)   /* first, last, between */
			pick[n++] = ix[lo + k * (m - 1) / (per_site - 1)] + 1;
	}
	free(ix);
	qsort(pick, n, sizeof(*pick), by_value);
	return n;
}

/* KS_VERBOSE=1: every site with its points. */
static void list_sites(void)
{
	for (unsigned long i = 0; i < npoints; i++) {
		unsigned long seen = 0, first = 1;
		for (unsigned long k = 0; k < npoints; k++)
			if (same_site(k, i)) {
				first &= k >= i;
				seen++;
			}
		if (first)
			printf("    site %s:%d (%p, chain %016llx): %lu points\n",
				trace[i].file, trace[i].line, trace[i].at,
				(unsigned long long)trace[i].ctx, seen);
	}
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One sequence: count its points, visit the chosen ones, then the deaths
 * in a row. */
static int sweep_sequence(const char *backend, unsigned seq,
		unsigned per_site, unsigned long *pick, unsigned long *relock,
		unsigned long *js, struct totals *t)
{
	uint64_t seed = 1000 + seq;
	unsigned long dry = 0, nrelock = 0, sites, n, lo, hi;
	mem_kill_trace = trace;
	mem_kill_trace_len = MAX_POINTS;
	int rc = run_trials(backend, seq, seed, &dry, NULL, 1, NULL, NULL, t);
	mem_kill_trace = NULL;
	mem_kill_trace_len = 0;
	if (rc < 0)
		return -1;
	if (!vts[0].done || vts[0].passed > MAX_POINTS) {
		printf("killsweep %s: sequence %u does not run to its end "
			"without a kill\n", backend, seq);
		return -1;
	}
	npoints = vts[0].passed;
	n = choose(pick, per_site, &sites);
	const char *range = getenv("KS_RANGE");
	if (range && sscanf(range, "%lu-%lu", &lo, &hi) == 2)
		for (n = 0; lo <= hi && lo <= npoints; lo++)
			pick[n++] = lo;
	printf("killsweep %s (%s): sequence %u: %lu kill points at %lu "
		"sites, %lu visited\n", backend, mem_build_info(), seq,
		npoints, sites, n);
	if (getenv("KS_VERBOSE"))
		list_sites();
	if (run_trials(backend, seq, seed, pick, NULL, n, relock, &nrelock, t))
		return -1;
	qsort(relock, nrelock, sizeof(*relock), by_value);
	for (unsigned long i = 0; i < nrelock; i++)
		js[i] = 1 + (relock[i] * 2654435761u >> 7) %
			(i % 2 ? SMAX : SNEAR);
	return run_trials(backend, seq, seed, relock, js, nrelock, NULL, NULL,
		t);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: killsweep BACKEND [SEQUENCES [PER_SITE]]\n");
		return 2;
	}
	if (!mem_kill_points_built()) {
		fprintf(stderr, "killsweep: this library has no kill points "
			"(build it with `make killsweep`)\n");
		return 2;
	}
	const char *backend = argv[1];
	unsigned seqs = argc > 2 ? (unsigned)atoi(argv[2]) : 8;
	unsigned per_site = argc > 3 ? (unsigned)atoi(argv[3]) : 3;
	vts = mmap(NULL, NPAR * sizeof(*vts), PROT_READ | PROT_WRITE,
		MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	trace = mmap(NULL, MAX_POINTS * sizeof(*trace), PROT_READ |
		PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned long *pick = malloc(3 * MAX_POINTS * sizeof(*pick));
	if (vts == MAP_FAILED || trace == MAP_FAILED || !pick ||
			per_site == 1)
		return 2;
	struct totals t = { 0 };
	double t0 = now_s();
	for (unsigned s = 0; s < seqs; s++)
		if (sweep_sequence(backend, s, per_site, pick,
				pick + MAX_POINTS, pick + 2 * MAX_POINTS, &t))
			return 1;
	printf("killsweep %s: %lu trials (%lu holding the global lock, %lu "
		"holding its cache slot; %lu with a second victim, %lu of them "
		"killed in recovery), %lu failed (%lu not killed where meant), "
		"%.1f s\n", backend, t.trials, t.global, t.slot, t.seconds,
		t.s_died, t.failed, t.strays, now_s() - t0);
	return t.failed ? 1 : 0;
}
