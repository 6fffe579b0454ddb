/*
 * lockstat.c - statistics of the shm heap lock: per-process rows in the
 * segment, summed when read (mem.h: mem_lock_stats_get).
 *
 * Why rows.  A shared counter would put one more contended cache line on
 * every lock hand-over: exactly the cost being measured.  So each process
 * claims a row at its first acquisition (LOCKSTAT_ROWS rows of their own
 * cache lines, after the segment's head) and only it writes there (lock.c
 * counts; atomic stores, so a reader never sees a torn word).  Readers sum
 * the rows without any lock: racy, never torn, exact once nobody is
 * between two counter stores.
 *
 * Claiming, as the shm caches claim their slots (cache.c): a row already
 * ours (same pid, an earlier process of that pid: it keeps counting), then
 * a free row (CAS pid 0 -> self), then a row whose process has exited: the
 * CAS pid dead -> self makes it ours, and its counts are first folded into
 * `retired`, so totals never lose an exited process's figures (a reader
 * that runs between the fold and the zeroing may count that row twice,
 * once).  With every row taken by a live process, a process counts
 * nothing (`unrowed` says how many such processes there were).
 *
 * Costs: a lookup per acquisition is a compare of the cached table (a
 * forked child forgets it in a pthread_atfork handler, so no pid is read
 * on the fast path); the claim (once per process) is a scan of LOCKSTAT_ROWS rows, plus
 * a liveness check per row when none is free.  Reading is O(rows).
 */
#include <pthread.h>
#include <string.h>

#include "internal.h"
#include "lockstat.h"
#include "tick.h"

_Static_assert(MEM_LOCK_ROWS >= LOCKSTAT_ROWS, "every row fits mem.h's");

struct lockstat_tab *lockstat_my_tab;
struct mem_lock_ctr *lockstat_my_ctr;

static void forget_row(void)
{
	lockstat_my_tab = NULL;
	lockstat_my_ctr = NULL;
}

size_t lockstat_size(void)
{
	return (sizeof(struct lockstat_tab) + 63) & ~(size_t)63;
}

static void atfork_setup(void)
{
	pthread_atfork(NULL, NULL, forget_row);
}

void lockstat_init(struct lockstat_tab *t)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	memset(t, 0, sizeof(*t));
	forget_row();
	pthread_once(&once, atfork_setup);
	mem_tick_init();
}

/* --- claiming a row ------------------------------------------------------- */

static void raise_to(uint32_t *n, uint32_t v)
{
	uint32_t cur = __atomic_load_n(n, __ATOMIC_RELAXED);
	while (cur < v && !__atomic_compare_exchange_n(n, &cur, v, 1,
			__ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

static void fold_max(uint64_t *dst, uint64_t v)
{
	uint64_t cur = __atomic_load_n(dst, __ATOMIC_RELAXED);
	while (cur < v && !__atomic_compare_exchange_n(dst, &cur, v, 1,
			__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* A dead process's row into retired (other claimers may fold at once). */
static void fold(struct mem_lock_ctr *r, struct mem_lock_ctr *c)
{
	__atomic_fetch_add(&r->acquired, c->acquired, __ATOMIC_RELAXED);
	__atomic_fetch_add(&r->contended, c->contended, __ATOMIC_RELAXED);
	__atomic_fetch_add(&r->sleeps, c->sleeps, __ATOMIC_RELAXED);
	__atomic_fetch_add(&r->wait, c->wait, __ATOMIC_RELAXED);
	__atomic_fetch_add(&r->hold_samples, c->hold_samples, __ATOMIC_RELAXED);
	__atomic_fetch_add(&r->hold, c->hold, __ATOMIC_RELAXED);
	__atomic_fetch_add(&r->takeovers, c->takeovers, __ATOMIC_RELAXED);
	__atomic_fetch_add(&r->takeover, c->takeover, __ATOMIC_RELAXED);
	fold_max(&r->wait_max, c->wait_max);
	fold_max(&r->hold_max, c->hold_max);
	fold_max(&r->takeover_max, c->takeover_max);
	memset(c, 0, sizeof(*c));
}

static int row_take(struct lockstat_tab *t, unsigned i, int32_t from,
		int32_t self)
{
	if (!__atomic_compare_exchange_n(&t->row[i].pid, &from, self, 0,
			__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return 0;
	if (from)
		fold(&t->retired, &t->row[i].c);
	t->row[i].c.hold_t0 = 0;
	raise_to(&t->nrows, i + 1);
	return 1;
}

static struct mem_lock_ctr *row_claim(struct lockstat_tab *t, int32_t self)
{
	for (unsigned i = 0; i < LOCKSTAT_ROWS; i++)
		if (__atomic_load_n(&t->row[i].pid, __ATOMIC_ACQUIRE) == self) {
			t->row[i].c.hold_t0 = 0;
			return &t->row[i].c;
		}
	for (unsigned i = 0; i < LOCKSTAT_ROWS; i++)
		if (row_take(t, i, 0, self))
			return &t->row[i].c;
	for (unsigned i = 0; i < LOCKSTAT_ROWS; i++) {
		int32_t pid = __atomic_load_n(&t->row[i].pid, __ATOMIC_ACQUIRE);
		if (pid && mem_pid_is_dead(pid) && row_take(t, i, pid, self))
			return &t->row[i].c;
	}
	__atomic_fetch_add(&t->unrowed, 1, __ATOMIC_RELAXED);
	return NULL;
}

struct mem_lock_ctr *lockstat_claim(struct lockstat_tab *t)
{
	lockstat_my_ctr = t ? row_claim(t, mem_self_pid()) : NULL;
	lockstat_my_tab = t;
	return lockstat_my_ctr;
}

/* --- reading --------------------------------------------------------------- */

static uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* One row's counters, in ns, into out (pid set by the caller). */
static void row_read(const struct mem_lock_ctr *c, uint64_t rate,
		struct mem_lock_stat *o)
{
	o->acquired = ld(&c->acquired);
	o->contended = ld(&c->contended);
	o->sleeps = ld(&c->sleeps);
	o->wait_ns = mem_tick_ns(ld(&c->wait), rate);
	o->wait_max_ns = mem_tick_ns(ld(&c->wait_max), rate);
	o->hold_samples = ld(&c->hold_samples);
	o->hold_sampled_ns = mem_tick_ns(ld(&c->hold), rate);
	o->hold_max_ns = mem_tick_ns(ld(&c->hold_max), rate);
	o->takeovers = ld(&c->takeovers);
	o->takeover_ns = mem_tick_ns(ld(&c->takeover), rate);
	o->takeover_max_ns = mem_tick_ns(ld(&c->takeover_max), rate);
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static void total_add(struct mem_lock_stat *t, const struct mem_lock_stat *r)
{
	t->acquired += r->acquired;
	t->contended += r->contended;
	t->sleeps += r->sleeps;
	t->wait_ns += r->wait_ns;
	t->wait_max_ns = max64(t->wait_max_ns, r->wait_max_ns);
	t->hold_samples += r->hold_samples;
	t->hold_sampled_ns += r->hold_sampled_ns;
	t->hold_max_ns = max64(t->hold_max_ns, r->hold_max_ns);
	t->takeovers += r->takeovers;
	t->takeover_ns += r->takeover_ns;
	t->takeover_max_ns = max64(t->takeover_max_ns, r->takeover_max_ns);
}

/* The sampled holds scaled to every acquisition. */
static void hold_estimate(struct mem_lock_stat *s)
{
	s->hold_ns = s->hold_samples ? (uint64_t)((unsigned __int128)
		s->hold_sampled_ns * s->acquired / s->hold_samples) : 0;
}

int mem_lock_stats_get(struct mem_pool *pool, struct mem_lock_stats *out)
{
	memset(out, 0, sizeof(*out));
	struct lockstat_tab *t = pool ? pool->lstat : NULL;
	if (!t)
		return -1;
	uint64_t rate = mem_tick_rate();
	out->clock = mem_tick_source();
	out->hold_sample = LOCKSTAT_HOLD_SAMPLE;
	out->owner = mem_lock_owner(pool->lock);
	out->recoveries = mem_lock_recoveries(pool->lock);
	out->unrowed = __atomic_load_n(&t->unrowed, __ATOMIC_RELAXED);
	row_read(&t->retired, rate, &out->total);
	uint32_t n = __atomic_load_n(&t->nrows, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n && i < MEM_LOCK_ROWS; i++) {
		int32_t pid = __atomic_load_n(&t->row[i].pid, __ATOMIC_ACQUIRE);
		if (!pid)
			continue;
		struct mem_lock_stat *r = &out->rows[out->nrows++];
		row_read(&t->row[i].c, rate, r);
		r->pid = pid;
		hold_estimate(r);
		total_add(&out->total, r);
	}
	hold_estimate(&out->total);
	return 0;
}
