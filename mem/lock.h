/*
 * lock.h - the shm lock: a mutex that lives in the shared segment.
 *
 * futex build (default).  A 64-bit state in the segment: the 32-bit futex
 * word, and beside it the holder's generation (owner.h), both written by
 * one CAS so that the pair is never torn:
 *
 *     word: 0                  free                     (state 0)
 *           tid                locked by thread tid     (state 1)
 *           tid | LOCK_WAITERS locked, someone sleeps   (state 2)
 *     gen:  the holder's generation (0 when free)
 *
 * Storing the owner in the lock state itself (rather than beside it)
 * means the owner is known the instant the lock is taken: there is no window
 * in which the lock is held by nobody we could name.  Acquire is one CAS on
 * the fast path; a contended caller polls the state up to LOCK_SPIN
 * pauses (a CAS only when it reads free), then sets LOCK_WAITERS and
 * sleeps in FUTEX_WAIT; woken, it polls again before sleeping again.
 * Release is one exchange, plus FUTEX_WAKE only when the waiters bit was
 * set.  Why 1,024 pauses (about 20 us here) and not 128: lock.c.
 *
 * A learning lock (mem_lock_learn_spin: the shm heap lock when there are
 * no caches, so every shm call takes it) spins differently: every waiter
 * polls, its polls spaced 1, 2, 4 .. 64 pauses apart, for a length learnt
 * from the last spin (twice the pauses a won spin took; half a lost one's
 * when the holder never released meanwhile, as when it was preempted;
 * twice when the lock changed hands), and a poll that reads the lock free
 * waits LOCK_SPIN_DEFER pauses and reads again before its CAS, leaving
 * the lock to a holder that takes it again at once.  The holder counts
 * its releases on the lock's line for that (releases).  Sleeping, waking
 * and takeovers are as above.
 *
 * Dead owners.  A sleeper wakes at least every LOCK_CHECK_MS and asks
 * whether the owner (tid, gen) still runs (owner.h: ESRCH, a zombie, or
 * another start time under that id mean dead; an unreadable /proc means
 * alive).  A waiter that finds its own tid in the word takes over at once:
 * locks are not recursive, so that holder is a dead predecessor whose id
 * was recycled.  The taker swaps its own (tid, gen) in and mem_lock_get()
 * returns 1: the caller owns the lock and must verify the data it
 * protects before trusting it (mem.c checks the heap).
 *
 * pthread build (LOCK=pthread).  The heap lock and shm_lock.c's public
 * locks are a process-shared, robust pthread mutex (the slot locks are
 * the polled lock below, in both builds); EOWNERDEAD is turned into the same "recovered" return.  A contended
 * caller polls the holder's id (owner, 0 once released) up to LOCK_SPIN
 * pauses, trying the mutex when it reads free, before it blocks.  A
 * blocked waiter wakes every LOCK_CHECK_MS and tries again: the kernel
 * wakes one waiter when a holder dies, and if that one dies as well the
 * others would never be woken.
 *
 * The polled lock (struct mem_plock: the shm caches' slot locks, taken
 * by whoever holds a slot other than the thread that holds it fast:
 * threads of the same process, a drain, the taker of a dead owner;
 * cache.c "Slot holds").  The same
 * state, the same take (one CAS from free) and the same takeover as the
 * futex build's heap lock; its waiters never write a held state, so the release is one
 * plain store of 0 and no wake-up:
 *
 *                 CAS 0 -> (tid, gen), acquire
 *     +----------+ ------------------------------> +--------------------+
 *     | free (0) |                                 | held by (tid, gen) |
 *     +----------+ <------------------------------ +--------------------+
 *          ^        store 0, release: the holder,            |
 *          |        the state's only writer                  | it dies
 *          |                                                 v
 *          |                                       +--------------------+
 *          |                                       | held by a dead one |
 *          |                                       +--------------------+
 *          |                 a waiter finds it dead (owner.h) |
 *          |                 or finds its own tid there: CAS  |
 *          |                 to its (tid, gen), get returns 1 v
 *          |                                       +--------------------+
 *          +-------------------------------------- | held by the taker  |
 *             store 0 once the caller repaired     +--------------------+
 *
 * A waiter writes nothing on the way (no LOCK_WAITERS in this lock).
 *
 * Why a plain store is enough.  While the lock is held nobody but its
 * holder writes the state: waiters only read it, CAS only a free state
 * (which the holder's store makes), and take over only from a holder
 * that is dead, which stores nothing again.  So the release has no other
 * writer to race with and needs no read-modify-write; a release store
 * (x86: a plain mov, which the CPU never reorders before the section's
 * loads and stores; arm64: stlr) publishes the section to the next
 * taker's acquiring CAS.  Mutual exclusion rests on that CAS alone.
 * What the release gives up is knowing whether someone waits, so nobody
 * is woken: a waiter polls LOCK_SPIN pauses (a CAS when it reads free,
 * as above), then naps in FUTEX_WAIT on the word it read (back at once
 * if it changed), LOCK_NAP_MIN_US at first, doubling up to
 * LOCK_NAP_MAX_US, and polls again after each nap; every LOCK_CHECK_MS
 * of naps it asks whether the holder lives, and a holder with its own
 * tid it takes over at once, as a heap-lock sleeper does.  Bounds: a
 * waiter sees a release at most LOCK_NAP_MAX_US (1 ms) late plus its
 * scheduling delay (a release during its spin: at once); a dead holder
 * is taken over within LOCK_CHECK_MS of naps plus the last nap and the
 * spins between them (about 22 ms); napping costs a spin (about 20 us)
 * per nap, 2% of a core at the longest.  No waiter can hang: it never sleeps without a
 * timeout.  Nothing here needs the heap lock's kind: the pthread build
 * has the same polled lock (struct mem_lock_word, lock.c's code), where
 * a robust mutex would cost a locked instruction and its robust-list
 * bookkeeping on each side.
 *
 * Counting (the heap lock only; lockstat.c keeps the counters).  The
 * *_counted calls take one process's struct mem_lock_ctr, written by that
 * process only, so counting adds no shared write: the uncontended path
 * adds one increment and, one acquisition in LOCKSTAT_HOLD_SAMPLE, two
 * clock reads (tick.h) for the hold.  A contended acquisition (futex: the
 * first CAS failed; pthread: trylock failed) is timed from that failure to
 * the acquisition; sleeps count FUTEX_WAITs (pthread: the blocking lock
 * after the spin ran out, at most one per contended acquisition); a
 * takeover is timed like a wait, so its duration is how long the taker
 * waited for a dead owner.  NULL counts nothing.
 */
#ifndef SRMEM_LOCK_H
#define SRMEM_LOCK_H

#include <stdint.h>
#include <sys/types.h>

#include "owner.h"

#if LOCK_PTHREAD
#include <pthread.h>
#endif

#define LOCK_WAITERS 0x80000000u
#define LOCK_SPIN 1024     /* pauses polled before a sleep (lock.c) */
#define LOCK_CHECK_MS 20
#define LOCK_SPIN_MIN 8    /* a learning lock's shortest spin (lock.c) */
/* A learning lock's spinner that reads the lock free waits this many
 * pauses and reads it again before its CAS (lock.c spin_learnt). */
#define LOCK_SPIN_DEFER 64
#define LOCK_NAP_MIN_US 50      /* a polled lock's first nap */
#define LOCK_NAP_MAX_US 1000    /* its longest: how late it sees a release */

/* A spin (LOCK_SPIN pauses; a pause costs 10-140 cycles by CPU model, so
 * at most about 150 us even at 1 GHz) stays far below the period at which
 * a sleeper looks for a dead owner: spinning never delays a takeover. */
_Static_assert(LOCK_SPIN <= UINT16_MAX && LOCK_SPIN_MIN <= LOCK_SPIN,
		"a learnt spin length fits its word");
_Static_assert(LOCK_SPIN_DEFER < LOCK_SPIN,
		"a learnt spin, deferred CASes counted in, stays a spin");
_Static_assert(LOCK_SPIN >= 1 && (LOCK_SPIN + 2 * LOCK_SPIN_DEFER) * 150 <=
		LOCK_CHECK_MS * 1000000 / 100,
		"a spin (a learnt one: its last gap and deferral past its "
		"length) is under 1% of LOCK_CHECK_MS");
/* A polled waiter asks about its holder's life every LOCK_CHECK_MS of
 * naps, so a nap must fit in that period (and in a timespec's tv_nsec). */
_Static_assert(LOCK_NAP_MIN_US >= 1 && LOCK_NAP_MIN_US <= LOCK_NAP_MAX_US &&
		LOCK_NAP_MAX_US <= LOCK_CHECK_MS * 1000,
		"a nap fits in the liveness period");

/* One pause of a spin. */
static inline void mem_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* A lock's state (the diagrams above): the futex build's heap lock and,
 * in both builds, the polled lock. */
struct mem_lock_word {
	union {
		uint64_t all;
		struct {
			uint32_t word;  /* the futex word: tid | LOCK_WAITERS */
			uint32_t gen;   /* the holder's generation */
		} h;
	} st;
	uint32_t recoveries; /* dead owners taken over, for reports */
	int32_t last_dead;   /* tid of the last dead owner */
	uint16_t spin_len;   /* a learning lock's spin, pauses; 0: LOCK_SPIN */
	uint16_t releases;   /* bumped by each release (wraps) */
	uint16_t pad[2];
};
_Static_assert(sizeof(((struct mem_lock_word *)0)->st) == 8,
		"word and generation change together, in one CAS");

struct mem_lock {
#if LOCK_PTHREAD
	pthread_mutex_t mutex;
	int32_t owner;       /* written by the holder, for reports */
	uint32_t recoveries; /* as in struct mem_lock_word */
	int32_t last_dead;
#else
	struct mem_lock_word w;
#endif
};

/* One process's counts for one lock, in ticks (tick.h) where timed.
 * Written by the owner with atomic stores (never torn for a reader). */
struct mem_lock_ctr {
	uint64_t acquired, contended, sleeps;
	uint64_t wait, wait_max;
	uint64_t hold_samples, hold, hold_max;
	uint64_t takeovers, takeover, takeover_max;
	uint64_t hold_t0;       /* tick of the sampled acquisition held now */
};

#define LOCKSTAT_HOLD_SAMPLE 64         /* a power of two */

/* The word's take, both builds: the caller's state (its tid and
 * generation), and the one CAS that takes a free word (1 when it did). */
static inline uint64_t mem_lock_self(void)
{
	const struct mem_self_thread *me = mem_self_thread();
	struct mem_lock_word x;
	x.st.h.word = me->tid;
	x.st.h.gen = me->tgen;
	return x.st.all;
}

static inline int mem_lock_try(struct mem_lock_word *w, uint64_t self)
{
	uint64_t free_state = 0;
	return __builtin_expect(__atomic_compare_exchange_n(&w->st.all,
		&free_state, self, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED), 1);
}

int mem_lock_init(struct mem_lock *lk);
/* A lock whose sections are short and follow each other (the heap lock
 * without the shm caches) learns how long its waiters spin (lock.c
 * spin_learnt); others spin LOCK_SPIN pauses.  The futex build's; a no-op
 * in the pthread build. */
void mem_lock_learn_spin(struct mem_lock *lk);
void mem_lock_destroy(struct mem_lock *lk);
/* 0: locked.  1: locked, taken over from a dead owner (check the data). */
#if LOCK_PTHREAD
int mem_lock_get(struct mem_lock *lk);
void mem_lock_release(struct mem_lock *lk);

/* Dead owners taken over so far (any process may be taking one now). */
static inline uint32_t mem_lock_recoveries(const struct mem_lock *lk)
{
	return __atomic_load_n(&lk->recoveries, __ATOMIC_RELAXED);
}

static inline int32_t mem_lock_last_dead(const struct mem_lock *lk)
{
	return lk->last_dead;
}
#else
/* The uncounted take and release are inline (shm_lock.c's public locks):
 * one compare-and-swap, one exchange; lock.c waits, takes over a dead
 * owner and wakes a sleeper. */
int mem_lock_get_contended(struct mem_lock *lk, uint64_t self);
void mem_lock_wake(struct mem_lock *lk);

static inline int mem_lock_get(struct mem_lock *lk)
{
	uint64_t self = mem_lock_self();
	if (mem_lock_try(&lk->w, self))
		return 0;
	return mem_lock_get_contended(lk, self);
}

/* The holder, before it releases: one more release, on the line the
 * release writes anyway (a learning lock's waiters compare it). */
static inline void mem_lock_released(struct mem_lock_word *w)
{
	__atomic_store_n(&w->releases, (uint16_t)(w->releases + 1),
		__ATOMIC_RELAXED);
}

static inline void mem_lock_release(struct mem_lock *lk)
{
	struct mem_lock_word x;
	mem_lock_released(&lk->w);
	x.st.all = __atomic_exchange_n(&lk->w.st.all, 0, __ATOMIC_RELEASE);
	if (__builtin_expect(x.st.h.word & LOCK_WAITERS, 0))
		mem_lock_wake(lk);
}

/* Dead owners taken over so far (any process may be taking one now). */
static inline uint32_t mem_lock_recoveries(const struct mem_lock *lk)
{
	return __atomic_load_n(&lk->w.recoveries, __ATOMIC_RELAXED);
}

static inline int32_t mem_lock_last_dead(const struct mem_lock *lk)
{
	return lk->w.last_dead;
}
#endif
/* The same, counted into c (NULL: not counted). */
int mem_lock_get_counted(struct mem_lock *lk, struct mem_lock_ctr *c);
void mem_lock_release_counted(struct mem_lock *lk, struct mem_lock_ctr *c);
/* The thread id holding the lock, 0 if free or unknown (pthread build). */
pid_t mem_lock_owner(const struct mem_lock *lk);

/* The polled lock (above), the same in both builds: the word, taken by
 * the same CAS, released by the one store that only a lock no waiter
 * writes allows. */
struct mem_plock {
	struct mem_lock_word w;
};

static inline void mem_plock_init(struct mem_plock *pl)
{
	__builtin_memset(pl, 0, sizeof(*pl));
}

/* The first CAS failed: poll, nap, take over a dead holder (lock.c). */
int mem_lock_get_polled(struct mem_lock_word *w, uint64_t self);

/* The polled lock's wait for another word: until *word reads 0, spinning
 * LOCK_SPIN pauses, then napping as a polled waiter (FUTEX_WAIT on the
 * word, nobody wakes it); the thread that the lock state holder names
 * ((tid, generation), struct mem_lock_word) is asked about before the
 * first nap and every LOCK_CHECK_MS of naps after.  1: that thread is
 * dead and *word still set (the caller clears it), 0: *word read 0. */
int mem_wait_clear(uint32_t *word, uint64_t holder);

static inline int mem_plock_get(struct mem_plock *pl)
{
	uint64_t self = mem_lock_self();
	if (mem_lock_try(&pl->w, self))
		return 0;
	return mem_lock_get_polled(&pl->w, self);
}

static inline void mem_plock_release(struct mem_plock *pl)
{
	__atomic_store_n(&pl->w.st.all, 0, __ATOMIC_RELEASE);
}

/* The thread id holding it, 0 if free. */
static inline pid_t mem_plock_owner(const struct mem_plock *pl)
{
	struct mem_lock_word x;
	x.st.all = __atomic_load_n(&pl->w.st.all, __ATOMIC_RELAXED);
	return (pid_t)(x.st.h.word & ~LOCK_WAITERS);
}

#endif /* SRMEM_LOCK_H */
