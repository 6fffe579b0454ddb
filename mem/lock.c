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

int mem_lock_get(struct mem_lock *lk)
{
	return mem_lock_get_counted(lk, NULL);
}

void mem_lock_release(struct mem_lock *lk)
{
	mem_lock_release_counted(lk, NULL);
}

#if LOCK_PTHREAD

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

static int locked(struct mem_lock *lk, int rc)
{
	if (rc == 0) {
		lk->owner = (int32_t)mem_self_tid();
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

/* Contended: trylock failed, so this blocks (a sleep, as counted). */
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
	rc = locked(lk, lock_polling(lk));
	if (c) {
		ctr_add(&c->sleeps, 1);
		count_waited(c, t0, rc);
	}
	return rc;
}

void mem_lock_release_counted(struct mem_lock *lk, struct mem_lock_ctr *c)
{
	if (c)
		count_release(c);
	lk->owner = 0;
	pthread_mutex_unlock(&lk->mutex);
}

pid_t mem_lock_owner(const struct mem_lock *lk)
{
	return __atomic_load_n(&lk->owner, __ATOMIC_RELAXED);
}

#else /* futex */

static long futex(uint32_t *word, int op, uint32_t val,
		const struct timespec *timeout)
{
	return syscall(SYS_futex, word, op, val, timeout, NULL, 0);
}

/* The state as one 64-bit value: word and gen change together. */
static inline uint64_t state_of(uint32_t word, uint32_t gen)
{
	struct mem_lock x;
	x.st.h.word = word;
	x.st.h.gen = gen;
	return x.st.all;
}

static inline uint32_t word_of(uint64_t all)
{
	struct mem_lock x;
	x.st.all = all;
	return x.st.h.word;
}

static inline uint32_t gen_of(uint64_t all)
{
	struct mem_lock x;
	x.st.all = all;
	return x.st.h.gen;
}

static inline uint64_t state_load(const struct mem_lock *lk)
{
	return __atomic_load_n(&lk->st.all, __ATOMIC_RELAXED);
}

static inline int state_cas(struct mem_lock *lk, uint64_t old, uint64_t new)
{
	return __atomic_compare_exchange_n(&lk->st.all, &old, new, 0,
			__ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

int mem_lock_init(struct mem_lock *lk)
{
	memset(lk, 0, sizeof(*lk));
	return 0;
}

void mem_lock_destroy(struct mem_lock *lk)
{
	(void)lk;
}

static int spin_for_free(struct mem_lock *lk, uint64_t self)
{
	for (int i = 0; i < LOCK_SPIN; i++) {
		cpu_relax();
		if (state_load(lk) == 0 && state_cas(lk, 0, self))
			return 1;
	}
	return 0;
}

/* Sleep while the word still reads w (locked, waiters bit set). */
static int sleep_on(struct mem_lock *lk, uint32_t w, struct mem_lock_ctr *c)
{
	struct timespec ts = { 0, LOCK_CHECK_MS * 1000000L };
	if (c)
		ctr_add(&c->sleeps, 1);
	if (futex(&lk->st.h.word, FUTEX_WAIT, w, &ts) < 0 && errno == ETIMEDOUT)
		return 1;
	return 0;
}

/* Our own tid in the word: a dead predecessor (locks are not recursive). */
static int owner_dead(uint64_t st, uint32_t tid)
{
	uint32_t owner = word_of(st) & ~LOCK_WAITERS;
	return owner == tid || mem_task_dead(owner, gen_of(st));
}

static int take_from_dead(struct mem_lock *lk, uint64_t st, uint64_t self)
{
	if (!owner_dead(st, word_of(self)))
		return 0;
	/* Keep the waiters bit: others may sleep on the word too. */
	if (!state_cas(lk, st, self | state_of(LOCK_WAITERS, 0)))
		return 0;
	lk->recoveries++;
	lk->last_dead = (int32_t)(word_of(st) & ~LOCK_WAITERS);
	return 1;
}

/* The first CAS failed: spin, then sleep; 1 when taken from a dead owner.
 * A word holding our own tid is taken at once, without a sleep. */
static int get_slow(struct mem_lock *lk, uint64_t self, struct mem_lock_ctr *c)
{
	uint64_t waiters = state_of(LOCK_WAITERS, 0);
	if (spin_for_free(lk, self))
		return 0;
	for (int slept = 0;; ) {
		uint64_t st = state_load(lk);
		if (st == 0) {
			/* We slept: others may still sleep, so keep waking them. */
			if (state_cas(lk, 0, self | waiters))
				return 0;
			continue;
		}
		if (!(st & waiters) && !state_cas(lk, st, st | waiters))
			continue;
		st |= waiters;
		if ((slept || (word_of(st) & ~LOCK_WAITERS) == word_of(self)) &&
		    take_from_dead(lk, st, self))
			return 1;
		slept = sleep_on(lk, word_of(st), c);
	}
}

/* Out of line, so that the uncontended path saves no registers. */
__attribute__((noinline))
static int get_contended(struct mem_lock *lk, uint64_t self,
		struct mem_lock_ctr *c)
{
	uint64_t t0 = c ? mem_tick() : 0;
	int r = get_slow(lk, self, c);
	if (c)
		count_waited(c, t0, r);
	return r;
}

int mem_lock_get_counted(struct mem_lock *lk, struct mem_lock_ctr *c)
{
	uint64_t self = state_of(mem_self_tid(), mem_self_tgen());
	if (__builtin_expect(!state_cas(lk, 0, self), 0))
		return get_contended(lk, self, c);
	if (c)
		count_acquired(c);
	return 0;
}

void mem_lock_release_counted(struct mem_lock *lk, struct mem_lock_ctr *c)
{
	if (c)
		count_release(c);
	uint64_t st = __atomic_exchange_n(&lk->st.all, 0, __ATOMIC_RELEASE);
	if (word_of(st) & LOCK_WAITERS)
		futex(&lk->st.h.word, FUTEX_WAKE, 1, NULL);
}

pid_t mem_lock_owner(const struct mem_lock *lk)
{
	return (pid_t)(word_of(state_load(lk)) & ~LOCK_WAITERS);
}

#endif
