/*
 * lock.c - the shm lock (see lock.h for the state machine and the policy
 * for dead owners).  Costs: uncontended get + release is one CAS and one
 * exchange on a line no other process touches; a sleeper polls its owner's
 * liveness every LOCK_CHECK_MS, which costs nothing while the owner is
 * alive and bounds a hang on a dead one to that interval.  Counting (lock.h)
 * adds one owner-only increment per acquisition, a clock read pair per
 * LOCKSTAT_HOLD_SAMPLE acquisitions, and two clock reads per contended one.
 */
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

static pid_t self_pid;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void self_refresh(void)
{
	self_pid = getpid();
}

static void self_setup(void)
{
	self_refresh();
	pthread_atfork(NULL, NULL, self_refresh);
}

pid_t mem_self_pid(void)
{
	if (__builtin_expect(self_pid == 0, 0))
		pthread_once(&self_once, self_setup);
	return self_pid;
}

/* A zombie still answers kill(pid, 0); its /proc stat says 'Z'. */
int mem_pid_is_dead(pid_t pid)
{
	char path[64], buf[256];
	if (pid <= 0)
		return 0;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	const char *state = strrchr(buf, ')'); /* comm may contain spaces */
	return state && (state[2] == 'Z' || state[2] == 'X');
}

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

/* Every acquisition: count it, and start a hold sample now and then. */
static inline void count_acquired(struct mem_lock_ctr *c)
{
	ctr_add(&c->acquired, 1);
	if (__builtin_expect((c->acquired & (LOCKSTAT_HOLD_SAMPLE - 1)) == 0, 0))
		c->hold_t0 = mem_tick();
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
	if (__builtin_expect(c->hold_t0 != 0, 0)) {
		uint64_t d = mem_tick() - c->hold_t0;
		c->hold_t0 = 0;
		ctr_add(&c->hold_samples, 1);
		ctr_add(&c->hold, d);
		ctr_max(&c->hold_max, d);
	}
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
	mem_self_pid();
	return rc ? -1 : 0;
}

void mem_lock_destroy(struct mem_lock *lk)
{
	pthread_mutex_destroy(&lk->mutex);
}

static int locked(struct mem_lock *lk, int rc)
{
	if (rc == 0) {
		lk->owner = mem_self_pid();
		return 0;
	}
	if (rc == EOWNERDEAD) {
		pthread_mutex_consistent(&lk->mutex);
		lk->recoveries++;
		lk->last_dead = lk->owner;
		lk->owner = mem_self_pid();
		return 1;
	}
	/* ENOTRECOVERABLE or worse: nothing sane is left to do. */
	static const char msg[] = "srmem: CRITICAL: shm lock unrecoverable\n";
	(void)!write(2, msg, sizeof(msg) - 1);
	abort();
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
	rc = locked(lk, pthread_mutex_lock(&lk->mutex));
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

static inline uint32_t word_load(const uint32_t *w)
{
	return __atomic_load_n(w, __ATOMIC_RELAXED);
}

static inline int word_cas(uint32_t *w, uint32_t old, uint32_t new)
{
	return __atomic_compare_exchange_n(w, &old, new, 0, __ATOMIC_ACQUIRE,
			__ATOMIC_RELAXED);
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
	mem_self_pid();
	return 0;
}

void mem_lock_destroy(struct mem_lock *lk)
{
	(void)lk;
}

static int spin_for_free(struct mem_lock *lk, uint32_t self)
{
	for (int i = 0; i < LOCK_SPIN; i++) {
		cpu_relax();
		if (word_load(&lk->word) == 0 && word_cas(&lk->word, 0, self))
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
	if (futex(&lk->word, FUTEX_WAIT, w, &ts) < 0 && errno == ETIMEDOUT)
		return 1;
	return 0;
}

static int take_from_dead(struct mem_lock *lk, uint32_t w, uint32_t self)
{
	pid_t owner = (pid_t)(w & ~LOCK_WAITERS);
	if (!mem_pid_is_dead(owner))
		return 0;
	/* Keep the waiters bit: others may sleep on the word too. */
	if (!word_cas(&lk->word, w, self | LOCK_WAITERS))
		return 0;
	lk->recoveries++;
	lk->last_dead = owner;
	return 1;
}

/* The first CAS failed: spin, then sleep; 1 when taken from a dead owner. */
static int get_slow(struct mem_lock *lk, uint32_t self, struct mem_lock_ctr *c)
{
	if (spin_for_free(lk, self))
		return 0;
	for (;;) {
		uint32_t w = word_load(&lk->word);
		if (w == 0) {
			/* We slept: others may still sleep, so keep waking them. */
			if (word_cas(&lk->word, 0, self | LOCK_WAITERS))
				return 0;
			continue;
		}
		if (!(w & LOCK_WAITERS) &&
		    !word_cas(&lk->word, w, w | LOCK_WAITERS))
			continue;
		w |= LOCK_WAITERS;
		if (sleep_on(lk, w, c) && take_from_dead(lk, w, self))
			return 1;
	}
}

int mem_lock_get_counted(struct mem_lock *lk, struct mem_lock_ctr *c)
{
	uint32_t self = (uint32_t)mem_self_pid();
	if (__builtin_expect(word_cas(&lk->word, 0, self), 1)) {
		if (c)
			count_acquired(c);
		return 0;
	}
	uint64_t t0 = c ? mem_tick() : 0;
	int r = get_slow(lk, self, c);
	if (c)
		count_waited(c, t0, r);
	return r;
}

void mem_lock_release_counted(struct mem_lock *lk, struct mem_lock_ctr *c)
{
	if (c)
		count_release(c);
	uint32_t w = __atomic_exchange_n(&lk->word, 0, __ATOMIC_RELEASE);
	if (w & LOCK_WAITERS)
		futex(&lk->word, FUTEX_WAKE, 1, NULL);
}

pid_t mem_lock_owner(const struct mem_lock *lk)
{
	return (pid_t)(word_load(&lk->word) & ~LOCK_WAITERS);
}

#endif
