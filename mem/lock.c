/*
 * lock.c - the shm lock (see lock.h for the state machine and the policy
 * for dead owners).  Costs: uncontended get + release is one CAS and one
 * exchange on a line no other process touches; a sleeper polls its owner's
 * liveness every LOCK_CHECK_MS, which costs nothing while the owner is
 * alive and bounds a hang on a dead one to that interval (a recycled id of
 * our own: no wait at all).  The state is 64 bits (word and generation,
 * lock.h) so acquire and release stay one CAS and one exchange.  Counting (lock.h)
 * adds one owner-only increment per acquisition, a clock read pair per
 * LOCKSTAT_HOLD_SAMPLE acquisitions, and two clock reads per contended one.
 * The polled lock (lock.h) shares the take, the waiting and the takeover
 * below (struct waiter says which way a caller waits); its release is
 * lock.h's one store.
 *
 * Wait policy (both builds; a learning lock's, the caches-off heap lock's,
 * is spin_learnt() below, chosen by throughput on a quiet host:
 * doc/PERFORMANCE.md): poll up to LOCK_SPIN = 1,024 pauses (about
 * 20 us on this EPYC, about one futex sleep and wake-up) with a plain read,
 * a CAS (pthread: a trylock) only when the lock reads free, then sleep;
 * a waiter woken by a release polls again before it sleeps again.  Chosen
 * by counting futex calls (perf, syscalls:sys_{enter,exit}_futex), which
 * host load moves far less than time: W3 tlsf-lock, caches off, scale 0.3,
 * one run each, two runs per cell, load 9-12 on 2 cores:
 *
 *   variant (pauses)          P=4 waits    P=8 waits    P=8 wakes (none)
 *                             (vcsw/Mop)   (vcsw/Mop)
 *   128 (before)              690-3,445    13.3-14.2 k  19.6-20.1 k (74%)
 *                             (183-506)    (1,086-1,132)
 *   1,024                     469-596      1.8-2.1 k    1.5-1.7 k (5-8%)
 *                             (181-221)    (342-405)
 *   1,024, CAS without read   369-407      1.6-2.3 k    1.2-2.0 k (3-4%)
 *                             (140-163)    (318-449)
 *   1,024, backoff 1..8       567-582      1.9-3.2 k    1.7-2.6 k (6-16%)
 *                             (190-203)    (332-619)
 *   1,024, stop after 256     738-1,255    4.6-7.1 k    5.3-9.6 k (57-73%)
 *     unchanged               (225-333)    (529-594)
 *   2,048                     413-621      1.1-1.5 k    0.8-1.2 k (1-7%)
 *                             (168-194)    (216-278)
 *   1,024, sched_yield once   381-469      1.7-2.0 k    1.6-1.7 k (12-16%)
 *                             (145-165)    (305-320)
 *   1,024, poll again after   454-466      1.1-1.3 k    0.9-1.1 k (1-2%)
 *     a wake-up (kept)        (188-191)    (218-271)
 *
 * At P=2 every variant made 40-120 waits per run (the two processes
 * rarely run at once on a loaded host).  Throughput could not tell the
 * variants apart at this load (one build's P=1 ran 1.3-4.1 Mops/s).  The
 * 128-pause spin slept so soon that most releases then found the waiters
 * bit of a sleeper already gone and woke nobody (74% of FUTEX_WAKEs); a
 * count of sleepers beside the word would remove the 1-2% left, not worth
 * a bigger lock.  "Spin only while the holder runs" was tried as "stop
 * when the state has not changed for 256 pauses": it slept 3-4x as often.
 * Against the 128-pause lock, interleaved (utils/membench/against.sh, 3
 * rounds, load 7-16), sleeps per Mop at P=4 / 8: tlsf-lock 2,488 / 243
 * -> 117 / 194, fm-lock 1,169 / 522 -> 135 / 146, qm-lock 163 / 615 ->
 * 175 / 207; throughput inside the host's noise (0.48-1.17x per cell).
 * The spin cannot delay a takeover: a sleeper still times out every
 * LOCK_CHECK_MS (lock.h's static assert bounds a spin to 1% of that).
 */
#define _GNU_SOURCE        /* pthread_mutex_clocklock */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "lock.h"
#include "tick.h"

/* --- counting (the owner writes, anyone reads) --------------------------- */

static inline void ctr_add(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, *c + v, __ATOMIC_RELAXED);
}

static inline void ctr_max(uint64_t *c, uint64_t v)
{
	if (v > *c)
		__atomic_store_n(c, v, __ATOMIC_RELAXED);
}

/* The clock reads of a hold sample, out of line: the fast paths then
 * keep their few registers. */
__attribute__((noinline, cold))
static void hold_start(struct mem_lock_ctr *c)
{
	c->hold_t0 = mem_tick();
}

__attribute__((noinline, cold))
static void hold_end(struct mem_lock_ctr *c)
{
	uint64_t d = mem_tick() - c->hold_t0;
	c->hold_t0 = 0;
	ctr_add(&c->hold_samples, 1);
	ctr_add(&c->hold, d);
	ctr_max(&c->hold_max, d);
}

/* Every acquisition: count it, and start a hold sample now and then. */
static inline void count_acquired(struct mem_lock_ctr *c)
{
	ctr_add(&c->acquired, 1);
	if (__builtin_expect((c->acquired & (LOCKSTAT_HOLD_SAMPLE - 1)) == 0, 0))
		hold_start(c);
}

/* A contended acquisition that began waiting at tick t0. */
static void count_waited(struct mem_lock_ctr *c, uint64_t t0, int took_over)
{
	uint64_t d = mem_tick() - t0;
	ctr_add(&c->contended, 1);
	ctr_add(&c->wait, d);
	ctr_max(&c->wait_max, d);
	if (took_over) {
		ctr_add(&c->takeovers, 1);
		ctr_add(&c->takeover, d);
		ctr_max(&c->takeover_max, d);
	}
	count_acquired(c);
}

static inline void count_release(struct mem_lock_ctr *c)
{
	if (__builtin_expect(c->hold_t0 != 0, 0))
		hold_end(c);
}

static inline void cpu_relax_n(unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		mem_cpu_relax();
}

/* --- the word: the futex build's heap lock, both builds' polled lock --- */

static long futex(uint32_t *word, int op, uint32_t val,
		const struct timespec *timeout)
{
	return syscall(SYS_futex, word, op, val, timeout, NULL, 0);
}

/* The state as one 64-bit value: word and gen change together. */
static inline uint64_t state_of(uint32_t word, uint32_t gen)
{
	struct mem_lock_word x;
	x.st.h.word = word;
	x.st.h.gen = gen;
	return x.st.all;
}

static inline uint32_t word_of(uint64_t all)
{
	struct mem_lock_word x;
	x.st.all = all;
	return x.st.h.word;
}

static inline uint32_t gen_of(uint64_t all)
{
	struct mem_lock_word x;
	x.st.all = all;
	return x.st.h.gen;
}

static inline uint64_t state_load(const struct mem_lock_word *lw)
{
	return __atomic_load_n(&lw->st.all, __ATOMIC_RELAXED);
}

static inline int state_cas(struct mem_lock_word *lw, uint64_t old,
		uint64_t new)
{
	return __atomic_compare_exchange_n(&lw->st.all, &old, new, 0,
			__ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* A learning lock's spin: polls spaced 1, 2, 4 .. 64 pauses apart (so
 * that a holder that releases and takes the lock again keeps it), for the
 * length learnt so far.  A spin that won teaches twice the pauses it
 * took; one that lost while the holder never released (preempted, or a
 * long section) half its length; one that lost races to other takers
 * twice its length.  Every waiter spins: capping the spinners at one
 * fewer than the CPUs (as until 2026-12-03) made W3 without caches
 * 1.03-1.17x slower at P = 2, 4 and 8, with 5-90x the sleeps.  A spinner
 * that reads the lock free defers its CAS by LOCK_SPIN_DEFER pauses and
 * takes the lock only if it still reads free: a holder that takes it
 * again at once (its next call) keeps the heap's lines on its own CPU
 * instead of handing them to the other (W3 without caches 1.12-1.17x at
 * P=2, 1.03-1.08x at P=4, unchanged at P=8; doc/PERFORMANCE.md, "The
 * lock's wait policy").  The deferred pauses count in the spin's length,
 * so a spin stays within its length plus one gap and one deferral (the
 * static assert in lock.h). */
static int spin_learnt(struct mem_lock_word *lw, uint64_t want)
{
	unsigned len = __atomic_load_n(&lw->spin_len, __ATOMIC_RELAXED);
	uint16_t r0 = __atomic_load_n(&lw->releases, __ATOMIC_RELAXED);
	unsigned i = 0, gap = 1;
	int got = 0;
	len = len < LOCK_SPIN_MIN ? LOCK_SPIN_MIN : len;
	for (; i < len && !got; i += gap) {
		cpu_relax_n(gap);
		if (state_load(lw) == 0) {
			cpu_relax_n(LOCK_SPIN_DEFER);
			i += LOCK_SPIN_DEFER;
			got = state_load(lw) == 0 && state_cas(lw, 0, want);
		}
		gap = gap < 64 ? 2 * gap : gap;
	}
	if (got)
		len = 2 * i > len ? 2 * i : len;
	else if (__atomic_load_n(&lw->releases, __ATOMIC_RELAXED) == r0)
		len /= 2;
	else
		len *= 2;
	__atomic_store_n(&lw->spin_len, (uint16_t)(len > LOCK_SPIN ?
		LOCK_SPIN : len), __ATOMIC_RELAXED);
	return got;
}

/* Poll the state up to LOCK_SPIN pauses; CAS only when it reads free (a
 * CAS on a held lock would take the line from the holder).  want: our
 * state, with the waiters bit once we have slept.  A learning lock spins
 * as spin_learnt() says. */
static int spin_for_free(struct mem_lock_word *lw, uint64_t want)
{
	if (lw->spin_len)
		return spin_learnt(lw, want);
	for (int i = 0; i < LOCK_SPIN; i++) {
		mem_cpu_relax();
		if (state_load(lw) == 0 && state_cas(lw, 0, want))
			return 1;
	}
	return 0;
}

/* How one caller waits (lock.h): a heap-lock sleeper sets the waiters
 * bit and is woken by the release; a polled lock's waiter never writes a
 * held state and naps for a bounded, growing time instead. */
struct waiter {
	uint64_t self;
	uint64_t waiters;       /* state_of(LOCK_WAITERS, 0); 0: polled */
	long nap_us;            /* polled: the next nap */
	long napped_us;         /* polled: napped since the last look at the
	                         * holder's life */
	struct mem_lock_ctr *c;
};

/* A polled nap: 1 once LOCK_CHECK_MS of them have passed since the last
 * time it said so, which is when the holder's life is worth a look. */
static int nap_on(uint32_t *word, uint32_t w, struct waiter *wt)
{
	struct timespec ts = { 0, wt->nap_us * 1000L };
	futex(word, FUTEX_WAIT, w, &ts);
	wt->napped_us += wt->nap_us;
	if (wt->nap_us < LOCK_NAP_MAX_US)
		wt->nap_us = 2 * wt->nap_us < LOCK_NAP_MAX_US ?
			2 * wt->nap_us : LOCK_NAP_MAX_US;
	if (wt->napped_us < LOCK_CHECK_MS * 1000L)
		return 0;
	wt->napped_us = 0;
	return 1;
}

/* Sleep while the word still reads w (locked; the heap lock: waiters bit
 * set); 1 when it is time to ask whether the holder lives. */
static int sleep_on(struct mem_lock_word *lw, uint32_t w, struct waiter *wt)
{
	struct timespec ts = { 0, LOCK_CHECK_MS * 1000000L };
	if (wt->c)
		ctr_add(&wt->c->sleeps, 1);
	if (!wt->waiters)
		return nap_on(&lw->st.h.word, w, wt);
	if (futex(&lw->st.h.word, FUTEX_WAIT, w, &ts) < 0 && errno == ETIMEDOUT)
		return 1;
	return 0;
}

/* Our own tid in the word: a dead predecessor (locks are not recursive). */
static int owner_dead(uint64_t st, uint32_t tid)
{
	uint32_t owner = word_of(st) & ~LOCK_WAITERS;
	return owner == tid || mem_task_dead(owner, gen_of(st));
}

int mem_wait_clear(uint32_t *word, uint64_t holder)
{
	struct waiter wt = { 0, 0, LOCK_NAP_MIN_US, 0, NULL };
	int look = 1;   /* the first look at the holder: before the first nap */
	uint32_t w;
	for (unsigned n = 0; (w = __atomic_load_n(word, __ATOMIC_ACQUIRE));
			n++) {
		if (n < LOCK_SPIN) {
			mem_cpu_relax();
			continue;
		}
		if (look && owner_dead(holder, 0))
			return 1;
		look = nap_on(word, w, &wt);
	}
	return 0;
}

static int take_from_dead(struct mem_lock_word *lw, uint64_t st,
		const struct waiter *wt)
{
	if (!owner_dead(st, word_of(wt->self)))
		return 0;
	/* Keep the waiters bit: others may sleep on the word too. */
	if (!state_cas(lw, st, wt->self | wt->waiters))
		return 0;
	lw->recoveries++;
	lw->last_dead = (int32_t)(word_of(st) & ~LOCK_WAITERS);
	return 1;
}

/* The first CAS failed: spin, then sleep, and after each wake-up spin
 * before sleeping again; 1 when taken from a dead owner.
 * A word holding our own tid is taken at once, without a sleep.  A
 * polled waiter (waiters 0) leaves a held state alone. */
static int get_slow(struct mem_lock_word *lw, struct waiter *wt)
{
	uint64_t self = wt->self, waiters = wt->waiters;
	if (spin_for_free(lw, self))
		return 0;
	for (int slept = 0;; ) {
		uint64_t st = state_load(lw);
		if (st == 0) {
			/* We slept: others may still sleep, so keep waking them. */
			if (state_cas(lw, 0, self | waiters))
				return 0;
			continue;
		}
		if (waiters && !(st & waiters) &&
		    !state_cas(lw, st, st | waiters))
			continue;
		st |= waiters;
		if ((slept || (word_of(st) & ~LOCK_WAITERS) == word_of(self)) &&
		    take_from_dead(lw, st, wt))
			return 1;
		slept = sleep_on(lw, word_of(st), wt);
		/* Not yet a look at the holder: spin again before sleeping
		 * again. */
		if (!slept && spin_for_free(lw, self | waiters))
			return 0;
	}
}

/* Out of line, so that the uncontended path saves no registers. */
__attribute__((noinline))
static int get_contended(struct mem_lock_word *lw, uint64_t self, int polled,
		struct mem_lock_ctr *c)
{
	struct waiter wt = { self, polled ? 0 : state_of(LOCK_WAITERS, 0),
		LOCK_NAP_MIN_US, 0, c };
	uint64_t t0 = c ? mem_tick() : 0;
	int r = get_slow(lw, &wt);
	if (c)
		count_waited(c, t0, r);
	return r;
}

int mem_lock_get_polled(struct mem_lock_word *lw, uint64_t self)
{
	return get_contended(lw, self, 1, NULL);
}

#if LOCK_PTHREAD

int mem_lock_get(struct mem_lock *lk)
{
	return mem_lock_get_counted(lk, NULL);
}

void mem_lock_release(struct mem_lock *lk)
{
	mem_lock_release_counted(lk, NULL);
}

int mem_lock_init(struct mem_lock *lk)
{
	pthread_mutexattr_t a;
	memset(lk, 0, sizeof(*lk));
	if (pthread_mutexattr_init(&a))
		return -1;
	int rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!rc)
		rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (!rc)
		rc = pthread_mutex_init(&lk->mutex, &a);
	pthread_mutexattr_destroy(&a);
	return rc ? -1 : 0;
}

void mem_lock_destroy(struct mem_lock *lk)
{
	pthread_mutex_destroy(&lk->mutex);
}

void mem_lock_learn_spin(struct mem_lock *lk)
{
	(void)lk;       /* the mutex's own wait (lock.h) */
}

static int locked(struct mem_lock *lk, int rc)
{
	if (rc == 0) {
		__atomic_store_n(&lk->owner, (int32_t)mem_self_tid(),
				__ATOMIC_RELAXED);
		return 0;
	}
	if (rc == EOWNERDEAD) {
		pthread_mutex_consistent(&lk->mutex);
		lk->recoveries++;
		lk->last_dead = lk->owner;
		lk->owner = (int32_t)mem_self_tid();
		return 1;
	}
	/* ENOTRECOVERABLE or worse: nothing sane is left to do. */
	static const char msg[] = "srmem: CRITICAL: shm lock unrecoverable\n";
	(void)!write(2, msg, sizeof(msg) - 1);
	abort();
}

/* Block, waking every LOCK_CHECK_MS to try again.  When a holder dies,
 * the kernel marks the mutex and wakes ONE waiter; if that waiter dies
 * too before it takes the mutex, nobody else is woken, and the others
 * would sleep for good.  A waiter that tries again sees the mark and
 * takes the mutex over (EOWNERDEAD), as the futex build's sleepers do. */
static int lock_polling(struct mem_lock *lk)
{
	for (;;) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += LOCK_CHECK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		int rc = pthread_mutex_clocklock(&lk->mutex, CLOCK_MONOTONIC,
			&ts);
		if (rc != ETIMEDOUT)
			return rc;
	}
}

/* Poll the holder's id (0 once it released) up to LOCK_SPIN pauses and
 * try the mutex only when it reads free, as the futex build polls its
 * word; EBUSY when the budget ran out.  A dead holder's id stays, so a
 * takeover waits for lock_polling() as before. */
static int spin_trylock(struct mem_lock *lk)
{
	for (int i = 0; i < LOCK_SPIN; i++) {
		mem_cpu_relax();
		if (__atomic_load_n(&lk->owner, __ATOMIC_RELAXED) == 0) {
			int rc = pthread_mutex_trylock(&lk->mutex);
			if (rc != EBUSY)
				return rc;
		}
	}
	return EBUSY;
}

/* Contended: trylock failed, so this spins, then blocks (a sleep). */
int mem_lock_get_counted(struct mem_lock *lk, struct mem_lock_ctr *c)
{
	int rc = pthread_mutex_trylock(&lk->mutex);
	if (rc != EBUSY) {
		rc = locked(lk, rc);
		if (c)
			rc ? count_waited(c, mem_tick(), 1) : count_acquired(c);
		return rc;
	}
	uint64_t t0 = c ? mem_tick() : 0;
	int slept = 0;
	rc = spin_trylock(lk);
	if (rc == EBUSY) {
		slept = 1;
		rc = lock_polling(lk);
	}
	rc = locked(lk, rc);
	if (c) {
		ctr_add(&c->sleeps, (uint64_t)slept);
		count_waited(c, t0, rc);
	}
	return rc;
}

void mem_lock_release_counted(struct mem_lock *lk, struct mem_lock_ctr *c)
{
	if (c)
		count_release(c);
	__atomic_store_n(&lk->owner, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&lk->mutex);
}

pid_t mem_lock_owner(const struct mem_lock *lk)
{
	return __atomic_load_n(&lk->owner, __ATOMIC_RELAXED);
}

#else /* futex */

int mem_lock_init(struct mem_lock *lk)
{
	memset(lk, 0, sizeof(*lk));
	return 0;
}

void mem_lock_learn_spin(struct mem_lock *lk)
{
	lk->w.spin_len = LOCK_SPIN;
}

void mem_lock_destroy(struct mem_lock *lk)
{
	(void)lk;
}

int mem_lock_get_counted(struct mem_lock *lk, struct mem_lock_ctr *c)
{
	uint64_t self = mem_lock_self();
	if (__builtin_expect(!mem_lock_try(&lk->w, self), 0))
		return get_contended(&lk->w, self, 0, c);
	if (c)
		count_acquired(c);
	return 0;
}

int mem_lock_get_contended(struct mem_lock *lk, uint64_t self)
{
	return get_contended(&lk->w, self, 0, NULL);
}

void mem_lock_wake(struct mem_lock *lk)
{
	futex(&lk->w.st.h.word, FUTEX_WAKE, 1, NULL);
}

void mem_lock_release_counted(struct mem_lock *lk, struct mem_lock_ctr *c)
{
	if (c)
		count_release(c);
	mem_lock_released(&lk->w);
	uint64_t st = __atomic_exchange_n(&lk->w.st.all, 0, __ATOMIC_RELEASE);
	if (word_of(st) & LOCK_WAITERS)
		mem_lock_wake(lk);
}

pid_t mem_lock_owner(const struct mem_lock *lk)
{
	return (pid_t)(word_of(state_load(&lk->w)) & ~LOCK_WAITERS);
}

#endif
