/*
 * check_recovery.c - what the survivors do when a process dies inside the
 * allocator (mem.c heap_recovered, cache.c "Nothing lost",
 * doc/RELIABILITY.md).  Each case kills a child at one exact point and
 * then lets other processes use the pool:
 *   half_record     killed between the backend's malloc and the MEMDBG
 *                   record (the block holds a stale record, even a
 *                   "freed" one): the taker reports it and completes the
 *                   record, naming the recovery; nobody aborts;
 *   overrun_death   an application overrun is in the heap when a lock
 *                   holder dies: reported as the application's, nobody
 *                   aborts;
 *   broken_once     a structure beyond repair: exactly one process (the
 *                   one that finds it) aborts, the pool is marked broken,
 *                   every other process's requests fail cleanly;
 *   flush_death     killed in a cache flush just before, just after and
 *                   inside (its links written over the block, the block
 *                   not free yet) the backend's free of a block of the
 *                   chain in flight;
 *   flush_death_reclaim  killed right after the backend freed the first
 *                   block of a flush, the slot then reclaimed before the
 *                   global lock is taken: held is settled under the
 *                   global lock before it is walked;
 *   refill_death    killed in a refill after the backend cut a fragment
 *                   and before it was parked;
 *   drain_death     a reclaimer killed while draining a dead process's
 *                   slot;
 *   depot_push_death, depot_pop_death  killed while a flush hands its
 *                   chain to the depot, or a refill takes one from it,
 *                   at each point between the two stores (cache.c, "the
 *                   depot"): the chain is kept once, by the slot or by
 *                   the depot, never lost, never freed or counted twice;
 *   unpark_death    killed while a fragment leaves its cache for the
 *                   caller (off its list, its record being rewritten):
 *                   it goes back to the heap, not to nobody;
 *   free_death      killed in a free through the global lock after the
 *                   MEMDBG record said freed, before the backend's free,
 *                   or inside it (its links over the record, the block
 *                   still used): the taker finishes that free;
 *   free_death_taker  the taker of such a holder killed inside the
 *                   backend's free as it finishes that free: the next
 *                   taker finishes it (deaths in a row);
 *   resize_death    killed in a realloc right after the backend shrank the
 *                   block in place, before the record says the new size:
 *                   the taker makes the record agree with the block;
 *   cache_resize_death  killed in a cache's in-place realloc while the
 *                   record was being rewritten (busy): the reclaimer
 *                   finishes the record, the fragment stays the
 *                   caller's and any free takes it;
 *   slot_lock_death killed holding its slot lock (lock.h's polled lock,
 *                   whose release is a plain store) with fragments
 *                   parked: another process's reclaim takes the lock
 *                   over (its get returns 1, the lock counts the
 *                   recovery and names the dead), empties and frees the
 *                   slot, and leaves the lock free.
 * The exact points are reached by wrapping the backend table (the pool's
 * be pointer, in the segment) with one that raises SIGKILL before or after
 * the real call.  Kills inside the backend itself (a split or a join half
 * done) are reached at random by the kill storm (tests/prog_killstorm.c,
 * it_killstorm.sh), which counts where each victim was.  After each case:
 * no child aborted, the heap checker passes, and once the caches are
 * drained used_size is back where it started.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "memtest.h"
#include "internal.h"
#include "cache.h"

#define POOL (8u << 20)
#define BIG 300000              /* past the caches: the global lock */

/* Kills at points of a free's own path: no free queue, which would move
 * them to a later free (check_shmfq.c and the kill storm have it). */
static void start(int i)
{
	t_log_start();
	mem_free_queue = 0;
	ck_assert_int_eq(shm_init(POOL, t_backend(i)), 0);
}

static int wait_status(pid_t pid)
{
	int st;
	pid_t r;
	do
		r = waitpid(pid, &st, 0);
	while (r < 0 && errno == EINTR);
	ck_assert_int_eq(r, pid);
	return st;
}

static pid_t spawn(void (*fn)(void *), void *arg)
{
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		alarm(30);
		fn(arg);
		_exit(0);
	}
	return pid;
}

static void expect_killed(pid_t pid)
{
	int st = wait_status(pid);
	T_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		"victim: status %#x, not killed where meant", st);
}

static void expect_exit0(pid_t pid)
{
	int st = wait_status(pid);
	T_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: %s %d",
		(int)pid, WIFEXITED(st) ? "exit status" : "signal",
		WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* A survivor: the global lock (a big request), then the caches. */
static void survivor(void *arg)
{
	(void)arg;
	void *big = shm_malloc(BIG), *p[40];
	if (!big)
		_exit(3);
	for (int k = 0; k < 40; k++)
		if (!(p[k] = shm_malloc(32 + (size_t)k * 8)))
			_exit(4);
	for (int k = 0; k < 40; k++)
		shm_free(p[k]);
	shm_free(big);
}

static void survivors(int n)
{
	pid_t pid[4];
	for (int k = 0; k < n; k++)
		pid[k] = spawn(survivor, NULL);
	for (int k = 0; k < n; k++)
		expect_exit0(pid[k]);
}

/* used_size once the dead are reclaimed and every cache drained. */
static uint64_t used_now(void)
{
	struct mem_info mi;
	shm_cache_reclaim();
	t_shm_drain();
	return shm_info(&mi), mi.used_size;
}

static void expect_sound(uint64_t base)
{
	struct mem_check_result r;
	mem_check_ex(mem_shm_pool, &r);
	T_ASSERT(r.structure == 0, "structure problems after recovery: %d",
		r.structure);
	ck_assert_uint_eq(used_now(), base);
}

/* --- dying with the lock --------------------------------------------------- */

struct victim {
	int how;                /* what to leave behind */
	void *left;             /* what it left: the fragment */
};

enum { LEAVE_NOTHING, LEAVE_SMASHED };

/* Take the global lock, leave the pool as `how` says, die. */
static void die_locked(void *arg)
{
	struct victim *v = arg;
	shm_global_lock();
	if (v->how == LEAVE_SMASHED) {
		/* a header and the record beside it wiped: nothing can tell
		 * where the next block starts */
		memset((char *)v->left - DBG_HEAD - 64, 0, 64 + DBG_HEAD);
	}
	raise(SIGKILL);
}

/* The fragment the walk finds at addr, if it is used. */
struct find {
	const void *addr;
	const struct mem_site *alloc;
	int used;
};

static int find_frag(const struct mem_frag *f, void *arg)
{
	struct find *x = arg;
	if (f->addr != x->addr)
		return 0;
	x->used = f->used;
	x->alloc = f->alloc;
	return 1;
}

START_TEST(test_overrun_death)
{
	start(_i);
	struct victim *v = shm_mallocxz(sizeof(*v));
	uint64_t base = used_now();
	char *p = shm_malloc(64);
	memset(p, 'x', 64 + 8);         /* the application's overrun */
	v->how = LEAVE_NOTHING;
	expect_killed(spawn(die_locked, v));
	void *q = shm_malloc(BIG);
	ck_assert_ptr_nonnull(q);
	shm_free(q);
	T_LOG_HAS("heap intact after owner death");
#if MEMDBG
	T_LOG_HAS("write past the end");
	T_LOG_HAS("application's own");
#endif
	survivors(3);
	shm_free(p);                    /* reported, and released */
	expect_sound(base);
	shm_free(v);
	shm_destroy();
}
END_TEST

static void try_big(void *arg)
{
	(void)arg;
	void *p = shm_malloc(BIG);
	_exit(p ? 5 : 0);               /* a broken pool refuses */
}

START_TEST(test_broken_once)
{
	start(_i);
	struct victim *v = shm_mallocxz(sizeof(*v));
	void *a = shm_malloc(BIG), *b = shm_malloc(BIG);
	v->left = b;
	v->how = LEAVE_SMASHED;
	expect_killed(spawn(die_locked, v));
	pid_t pid[3];
	int aborts = 0, clean = 0;
	for (int k = 0; k < 3; k++)
		pid[k] = spawn(try_big, NULL);
	for (int k = 0; k < 3; k++) {
		int st = wait_status(pid[k]);
		aborts += WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
		clean += WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	ck_assert_int_eq(aborts, 1);    /* the finder, and nobody after it */
	ck_assert_int_eq(clean, 2);
	ck_assert_ptr_null(shm_malloc(BIG));
	(void)a;
	shm_destroy();
}
END_TEST

/* --- dying in a cache operation ------------------------------------------- */

/* A backend table that raises SIGKILL at the n-th malloc, free or resize,
 * before or after the real call (the child's copy of these counters).
 * KILL_INSIDE (free only): killed inside the backend's free, once it
 * wrote its list links over the block's first words (the record, or the
 * parked mark and the cache's link) and before the block reads free:
 * what the kill storm found (RELIABILITY.md, 2026-12-03).  The links are
 * zeros here, as a free list's end would be. */
enum { KILL_BEFORE, KILL_AFTER, KILL_INSIDE };
static const struct mem_backend *real_be;
static struct mem_backend killer;
static int free_n, malloc_n, resize_n, after;

static void *kill_malloc(void *st, size_t n)
{
	if (--malloc_n == 0 && after == KILL_BEFORE)
		raise(SIGKILL);
	void *p = real_be->malloc(st, n);
	if (malloc_n == 0)
		raise(SIGKILL);
	return p;
}

static int kill_free(void *st, void *p)
{
	if (--free_n == 0 && after == KILL_INSIDE) {
		memset(p, 0, 32);
		raise(SIGKILL);
	}
	if (free_n == 0 && after == KILL_BEFORE)
		raise(SIGKILL);
	int rc = real_be->free(st, p);
	if (free_n == 0)
		raise(SIGKILL);
	return rc;
}

static int kill_resize(void *st, void *p, size_t n)
{
	if (--resize_n == 0 && after == KILL_BEFORE)
		raise(SIGKILL);
	int rc = real_be->resize(st, p, n);
	if (resize_n == 0)
		raise(SIGKILL);
	return rc;
}

static void arm(int frees, int mallocs, int kill_after)
{
	free_n = frees;
	malloc_n = mallocs;
	after = kill_after;
	killer = *real_be;
	killer.malloc = kill_malloc;
	killer.free = kill_free;
	killer.resize = kill_resize;
	mem_shm_pool->be = &killer;
}

/* The victim's fragments, in shm: what it still held when it died is
 * freed by the parent (each entry is cleared before its free). */
#define NHELD 200
static void **held;

static void park_many(void *arg)
{
	(void)arg;
	for (int k = 0; k < NHELD; k++)
		held[k] = shm_malloc(64);
	for (int k = 0; k < NHELD; k++) {
		void *p = held[k];
		held[k] = NULL;
		shm_free(p);
	}
}

static void held_free(void)
{
	for (int k = 0; k < NHELD; k++) {
		shm_free(held[k]);
		held[k] = NULL;
	}
}

/* The child arms the killer and runs fn; the parent puts the real table
 * back once it is dead. */
struct armed {
	int frees, mallocs, after;
	void (*fn)(void *);
	int resizes;
};

static void armed_child(void *arg)
{
	struct armed *a = arg;
	arm(a->frees, a->mallocs, a->after);
	resize_n = a->resizes;
	a->fn(NULL);
	_exit(9);                       /* the killer missed */
}

static void kill_in(void (*fn)(void *), int frees, int mallocs, int after_)
{
	struct armed a = { frees, mallocs, after_, fn, 0 };
	expect_killed(spawn(armed_child, &a));
	mem_shm_pool->be = real_be;
}

static int have_caches(const char *name)
{
	if (mem_shm_pool->cache)
		return 1;
	dprintf(2, "SKIP: %s: no per-process caches in this build\n", name);
	return 0;
}

/* The start of a case that kills a child holding fragments: the pool,
 * the backend the kill points wrap, the held array; the baseline. */
static uint64_t held_case(int i)
{
	start(i);
	real_be = mem_shm_pool->be;
	held = shm_mallocxz(NHELD * sizeof(void *));
	return used_now();
}

/* held_case() for a case of the caches; 0 (a SKIP line) when the build
 * has no caches. */
static int cache_case(int i, const char *name, uint64_t *base)
{
	*base = held_case(i);
	return have_caches(name);
}

/* This process takes the dead holder's lock over first (its log is the
 * one the case reads); then others go on. */
static void take_lock_over(void)
{
	void *p = shm_malloc(BIG);
	ck_assert_ptr_nonnull(p);
	shm_free(p);
	T_LOG_HAS("heap intact after owner death");
}

static void take_over(void)
{
	take_lock_over();
	survivors(2);
}

START_TEST(test_flush_death)
{
	uint64_t base;
	if (!cache_case(_i, "flush_death", &base))
		goto out;
	mem_shm_pool->cache->depot_limit = 0;   /* flushes go to the heap */
	for (int when = KILL_BEFORE; when <= KILL_INSIDE; when++) {
		/* the 5th block of the first flush: before, after and inside
		 * the backend's free */
		kill_in(park_many, 5, 0, when);
		take_over();
		held_free();
		expect_sound(base);
	}
out:
	shm_destroy();
}
END_TEST

/* Killed right after the backend freed the first block of a flush (its
 * neighbours used: the backend's list links went into it, over the
 * cache's link word), or inside that free (links written, block still
 * used), and the dead one's slot lock taken over by a reclaim before
 * anyone takes the global lock: the slot's held chain must not be walked
 * through that head, and none of it may be lost. */
START_TEST(test_flush_death_reclaim)
{
	uint64_t base;
	if (!cache_case(_i, "flush_death_reclaim", &base))
		goto out;
	mem_shm_pool->cache->depot_limit = 0;   /* flushes go to the heap */
	for (int when = KILL_AFTER; when <= KILL_INSIDE; when++) {
		kill_in(park_many, 1, 0, when);
		shm_cache_reclaim();
		T_LOG_HAS("heap intact after owner death");
		survivors(2);
		held_free();
		expect_sound(base);
	}
out:
	shm_destroy();
}
END_TEST

static void big_one(void *arg)
{
	(void)arg;
	shm_malloc(BIG);
}

START_TEST(test_half_record)
{
	start(_i);
	real_be = mem_shm_pool->be;
	uint64_t base = used_now();
	/* killed right after the backend's malloc, before any record word */
	kill_in(big_one, 0, 1, 1);
	uint64_t seq;
	void *left = dbg_user(real_be->last(mem_shm_pool->st, &seq));
	void *p = shm_malloc(BIG);      /* this process takes the lock over */
	ck_assert_ptr_nonnull(p);
	shm_free(p);
	T_LOG_HAS("heap intact after owner death");
	T_LOG_HAS("was being allocated when its process died");
	survivors(3);
	struct find f = { .addr = left };
	mem_walk(mem_shm_pool, find_frag, &f);
	T_ASSERT(f.used, "the orphan is not kept as used");
#if MEMDBG
	T_ASSERT(f.alloc && !strcmp(f.alloc->func, "heap_recovered"),
		"the orphan is not named after the recovery");
#endif
	shm_free(left);                 /* nobody else could ever free it */
	expect_sound(base);
	shm_destroy();
}
END_TEST

static void small_one(void *arg)
{
	(void)arg;
	shm_malloc(64);
}

START_TEST(test_refill_death)
{
	start(_i);
	real_be = mem_shm_pool->be;
	uint64_t base = used_now();
	if (!have_caches("refill_death"))
		goto out;
	kill_in(small_one, 0, 3, 1);    /* after the 3rd cut of a refill */
	take_over();
	expect_sound(base);
#if MEMDBG
	T_LOG_HAS("cut for a dead process's cache recovered");
#endif
out:
	shm_destroy();
}
END_TEST

static void parks_and_exits(void *arg)
{
	park_many(arg);
	_exit(0);
}

static void reclaimer(void *arg)
{
	(void)arg;
	shm_cache_reclaim();
}

START_TEST(test_drain_death)
{
	uint64_t base;
	if (!cache_case(_i, "drain_death", &base))
		goto out;
	expect_exit0(spawn(parks_and_exits, NULL));
	kill_in(reclaimer, 10, 0, 1);   /* mid-drain of the dead one's slot */
	take_over();
	expect_sound(base);
out:
	shm_destroy();
}
END_TEST

/* --- dying in a move between a slot and the depot ------------------------ */

static unsigned die_at, die_nth;

static void depot_killer(unsigned point)
{
	if (point == die_at && !--die_nth)
		raise(SIGKILL);
}

struct depot_victim {
	unsigned point, nth;            /* the nth time there (0: first) */
	void (*fn)(void *);
};

static void depot_victim(void *arg)
{
	struct depot_victim *v = arg;
	die_at = v->point;
	die_nth = v->nth ? v->nth : 1;
	cache_depot_probe = depot_killer;
	v->fn(NULL);
	_exit(9);                       /* the probe missed */
}

/* Once the dead are reclaimed, the stats count what the walker sees
 * parked: nothing counted twice, nothing missed. */
static int count_cached(const struct mem_frag *f, void *arg)
{
	*(uint64_t *)arg += f->cached;
	return 0;
}

static void expect_counted(void)
{
	uint64_t bytes, blocks, walked = 0;
	shm_cache_reclaim();
	shm_cache_stats(&bytes, &blocks);
	mem_walk(mem_shm_pool, count_cached, &walked);
	ck_assert_uint_eq(walked, blocks);
}

/* Every chain in the depot holds the fragments its entry says, its tail
 * last: none runs into a slot's list (no process is in the cache). */
static void expect_depot_whole(void)
{
	struct mem_cache *mc = mem_shm_pool->cache;
	for (unsigned c = 0; c < CACHE_CLASSES; c++)
		for (uint32_t k = 0; k < mc->depot[c].n; k++) {
			const struct cache_depot *d = &mc->depot[c];
			uint32_t n = 0;
			void *u = d->chain[k], *last = NULL;
			for (; u && n <= d->blocks[k]; n++) {
				last = u;
				u = *cache_link_of(u);
			}
			T_ASSERT(n == d->blocks[k] && last == d->tail[k],
				"depot class %u chain %u: %u fragments, its "
				"entry says %u", c, k, n, d->blocks[k]);
		}
}

/* take_over(), the depot checked before the survivors use it. */
static void take_over_depot(void)
{
	take_lock_over();
	expect_depot_whole();
	survivors(2);
}

START_TEST(test_depot_push_death)
{
	uint64_t base;
	if (!cache_case(_i, "depot_push_death", &base))
		goto out;
	for (unsigned point = DEPOT_PUSHING; point <= DEPOT_PUSHED;
			point++) {
		struct depot_victim v = { point, 0, park_many };
		expect_killed(spawn(depot_victim, &v));
		take_over_depot();
		expect_counted();
		held_free();
		expect_sound(base);
	}
out:
	shm_destroy();
}
END_TEST

/* A chain for the depot: a process that frees more than a list holds. */
static void fills_depot(void *arg)
{
	park_many(arg);
	_exit(mem_shm_pool->cache->depot_blocks ? 0 : 7);
}

/* The depot's last chain cut in two (its first `first` fragments stay in
 * its entry, the rest become the last chain), so that a refill takes two
 * chains, the second in front of a list that holds the first.  No
 * process is in the cache. */
static void split_depot(uint32_t first)
{
	struct mem_cache *mc = mem_shm_pool->cache;
	for (unsigned c = 0; c < CACHE_CLASSES; c++) {
		struct cache_depot *d = &mc->depot[c];
		uint32_t k = d->n - 1;
		if (!d->n || d->n == CACHE_DEPOT_CHAINS || d->blocks[k] <= first)
			continue;
		void *tail = d->chain[k];
		for (uint32_t j = 1; j < first; j++)
			tail = *cache_link_of(tail);
		void **link = cache_link_of(tail);
		uint64_t each = d->bytes[k] / d->blocks[k];  /* one exact class */
		d->chain[k + 1] = *link;
		d->tail[k + 1] = d->tail[k];
		d->blocks[k + 1] = d->blocks[k] - first;
		d->bytes[k + 1] = each * d->blocks[k + 1];
		*link = NULL;
		d->tail[k] = tail;
		d->blocks[k] = first;
		d->bytes[k] = each * first;
		d->n = k + 2;
		return;
	}
	ck_abort_msg("no chain in the depot to split");
}

START_TEST(test_depot_pop_death)
{
	uint64_t base;
	if (!cache_case(_i, "depot_pop_death", &base))
		goto out;
	/* one chain into an empty list, then the second of two in front
	 * of the first */
	for (unsigned nth = 1; nth <= 2; nth++)
		for (unsigned point = DEPOT_TAKING; point <= DEPOT_TAKEN;
				point++) {
			expect_exit0(spawn(fills_depot, NULL));
			if (nth == 2)
				split_depot(20);
			struct depot_victim v = { point, nth, small_one };
			expect_killed(spawn(depot_victim, &v));
			take_over_depot();
			expect_counted();
			expect_sound(base);
		}
out:
	shm_destroy();
}
END_TEST

static void frees_big(void *arg)
{
	(void)arg;
	held[0] = shm_malloc(BIG);
	shm_free(held[0]);      /* killed before or inside the backend's free */
}

START_TEST(test_free_death)
{
	uint64_t base = held_case(_i);
	static const int whens[] = { KILL_BEFORE, KILL_INSIDE };
	for (unsigned k = 0; k < sizeof(whens) / sizeof(whens[0]); k++) {
		int when = whens[k];
		t_log_clear();
		kill_in(frees_big, 1, 0, when);
		take_over();
		if (MEMDBG || when == KILL_INSIDE) {
			/* its record said freed, or it was in the backend's
			 * free (its links over the record): finished */
			T_LOG_HAS("was being freed when its process died");
		} else {
			/* nothing said freed yet: a fragment in the dead
			 * one's hands */
			shm_free(held[0]);
		}
		held[0] = NULL;
		expect_sound(base);
	}
	shm_destroy();
}
END_TEST

static void takes_lock(void *arg)
{
	(void)arg;
	shm_free(shm_malloc(BIG));  /* the takeover: killed finishing a free */
}

/* Deaths in a row (the kill sweep found it, RELIABILITY.md): the taker
 * of a holder killed inside a free finishes that free and is killed
 * inside the backend's free in turn: the journal still names the
 * fragment, and the next taker finishes it. */
START_TEST(test_free_death_taker)
{
	uint64_t base = held_case(_i);
	t_log_clear();
	kill_in(frees_big, 1, 0, KILL_INSIDE);
	kill_in(takes_lock, 1, 0, KILL_INSIDE);
	take_over();
	T_LOG_HAS("was being freed when its process died");
	held[0] = NULL;
	expect_sound(base);
	shm_destroy();
}
END_TEST

static void shrinks_big(void *arg)
{
	(void)arg;
	held[0] = shm_malloc(BIG);
	shm_realloc(held[0], BIG / 2);  /* killed after the backend's resize */
}

START_TEST(test_resize_death)
{
	uint64_t base = held_case(_i);
	struct armed a = { .after = 1, .fn = shrinks_big, .resizes = 1 };
	expect_killed(spawn(armed_child, &a));
	mem_shm_pool->be = real_be;
	take_over();
#if MEMDBG
	T_LOG_HAS("was being resized when its process died");
#endif
	T_ASSERT(!t_log_has("broken debug record") &&
		!t_log_has("write past the end"), "the record of the fragment "
		"in the dead realloc disagrees with its block:\n%s", t_log_buf);
	ck_assert_int_eq(mem_check(mem_shm_pool), 0);
	t_log_clear();
	shm_free(held[0]);              /* the dead one's: freed cleanly */
	T_LOG_EMPTY();
	expect_sound(base);
	shm_destroy();
}
END_TEST

/* The cache slot that names pid as its owner. */
static struct cache_slot *slot_of(pid_t pid)
{
	struct mem_cache *c = mem_shm_pool->cache;
	for (unsigned i = 0; i < c->nslots; i++)
		if ((uint32_t)c->slot[i].owner == (uint32_t)pid)
			return &c->slot[i];
	return NULL;
}

/* This process's cache slot (the one its calls use). */
static struct cache_slot *own_slot(void)
{
	return slot_of(getpid());
}

#if MEMDBG
/* Die in cache_realloc()'s in-place path, between marking the record busy
 * and rewriting it, with the slot naming the fragment (resizing), as that
 * path leaves them: no lock and no backend call lie inside that window,
 * so the state is made by hand. */
static void dies_resizing(void *arg)
{
	(void)arg;
	char *p = held[0] = shm_malloc(100);
	memset(p, 'r', 100);
	struct cache_slot *s = own_slot();
	if (!s)
		_exit(9);
	s->resizing = p;
	dbg_busy(p);
	raise(SIGKILL);
}
#endif

START_TEST(test_cache_resize_death)
{
	start(_i);
	held = shm_mallocxz(NHELD * sizeof(void *));
	if (!have_caches("cache_resize_death"))
		goto out;
#if MEMDBG
	uint64_t base = used_now();
	expect_killed(spawn(dies_resizing, NULL));
	shm_cache_reclaim();
	T_LOG_HAS("was being resized in its cache when its process died");
	t_log_clear();
	char *p = held[0];
	for (int k = 0; k < 100; k++)
		ck_assert_int_eq(p[k], 'r');
	shm_free(p);                    /* a fragment the dead one shared */
	T_LOG_EMPTY();
	expect_sound(base);
#else
	dprintf(2, "SKIP: cache_resize_death: no MEMDBG records in this "
		"build\n");
#endif
out:
	shm_destroy();
}
END_TEST

/* Die in unpark() as the kill storm found it: the fragment popped off its
 * list (moving names it) and, with MEMDBG, its record busy (rewritten for
 * the caller, debug.h).  The state is made by hand, as pop() and unpark()
 * leave it, since no backend call lies inside that window. */
static void dies_unparking(void *arg)
{
	(void)arg;
	void *p = shm_malloc(64);
	shm_free(p);                    /* parked: the head of its class */
	struct cache_slot *s = own_slot();
	if (!s)
		_exit(9);
	mem_plock_get(&s->lock);
	for (unsigned k = 0; k < CACHE_CLASSES; k++) {
		if (s->cls[k].head != p)
			continue;
		s->moving = p;
		s->cls[k].head = *cache_link_of(p);
#if MEMDBG
		dbg_busy(p);
#endif
		raise(SIGKILL);
	}
	_exit(9);                       /* not parked where expected */
}

START_TEST(test_unpark_death)
{
	start(_i);
	uint64_t base = used_now();
	if (!have_caches("unpark_death"))
		goto out;
	expect_killed(spawn(dies_unparking, NULL));
	survivors(2);
	expect_sound(base);             /* the fragment went back to the heap */
out:
	shm_destroy();
}
END_TEST

/* Park a few fragments, take the slot lock (lock.h's polled lock) and
 * die holding it, as any cache operation killed inside it would. */
static void dies_holding_slot(void *arg)
{
	(void)arg;
	void *p[8];
	for (int k = 0; k < 8; k++)
		if (!(p[k] = shm_malloc(64 + 16 * (size_t)k)))
			_exit(8);
	for (int k = 0; k < 8; k++)
		shm_free(p[k]);
	struct cache_slot *s = own_slot();
	if (!s || !s->blocks)
		_exit(9);
	mem_plock_get(&s->lock);
	raise(SIGKILL);
}

/* Another process's drain of the dead (srproxy's, when it reaps). */
static void reclaims(void *arg)
{
	(void)arg;
	_exit(shm_cache_reclaim() ? 0 : 5);
}

START_TEST(test_slot_lock_death)
{
	start(_i);
	uint64_t base = used_now();
	if (!have_caches("slot_lock_death"))
		goto out;
	pid_t v = spawn(dies_holding_slot, NULL);
	expect_killed(v);
	struct cache_slot *s = slot_of(v);
	ck_assert_ptr_nonnull(s);
	uint32_t rec = s->lock.w.recoveries;
	expect_exit0(spawn(reclaims, NULL));
	/* taken over (the drainer's get returned 1), the slot emptied and
	 * freed, the lock free again */
	ck_assert_uint_eq(s->lock.w.recoveries, rec + 1);
	ck_assert_int_eq(s->lock.w.last_dead, v);
	ck_assert_uint_eq(s->owner, 0);
	ck_assert_uint_eq(s->blocks, 0);
	ck_assert_int_eq(mem_plock_get(&s->lock), 0);
	mem_plock_release(&s->lock);
	expect_sound(base);
out:
	shm_destroy();
}
END_TEST

Suite *recovery_suite(void)
{
	Suite *s = suite_create("recovery");
	struct { const char *name; const TTest *fn; } cases[] = {
		{ "half_record", test_half_record },
		{ "overrun_death", test_overrun_death },
		{ "broken_once", test_broken_once },
		{ "flush_death", test_flush_death },
		{ "flush_death_reclaim", test_flush_death_reclaim },
		{ "refill_death", test_refill_death },
		{ "drain_death", test_drain_death },
		{ "depot_push_death", test_depot_push_death },
		{ "depot_pop_death", test_depot_pop_death },
		{ "unpark_death", test_unpark_death },
		{ "free_death", test_free_death },
		{ "free_death_taker", test_free_death_taker },
		{ "resize_death", test_resize_death },
		{ "cache_resize_death", test_cache_resize_death },
		{ "slot_lock_death", test_slot_lock_death },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		t_add_loop(s, cases[k].name, cases[k].fn, T_NBACKENDS,
				t_teardown, 120);
	return s;
}
