/*
 * check.c - the heap checker, the same for every backend, in one piece
 * (mem_check: one hold of the lock) or in pieces a live server can afford
 * (mem_check_chunked: many short holds).  Both run the same three passes
 * over the same functions, so they find the same problems; they differ in
 * how much of the heap one hold covers.
 *
 *   1. blocks  a walk of every block in address order (damage.c's walker
 *              in fix mode: a broken header is reported, naming the
 *              overflow, and rebuilt from its MEMDBG record, or passed as a
 *              hole).  Each block gets check_one(): the backend's local
 *              invariants (check_block: its boundary with the next block,
 *              its list links when free, its trailer) and the MEMDBG
 *              record's (tag, end canary).  The walk also sums the blocks.
 *   2. lists   every free list from its head (check_list): each entry a
 *              sane free block of that list whose back link names the
 *              entry before it.  A broken back link ends the list, so a
 *              cycle is found within one lap.
 *   3. global  one hold, O(lists): bitmaps against heads, the sentinel,
 *              and the counters and the number of listed blocks against
 *              the sums of passes 1 and 2 (check_global).
 * Each finding gets its severity in one place, found().
 *
 * In pieces.  Pass 1 is the scan's walk (status.c, mem_chunked): at most
 * mem_scan_chunk blocks per hold, resumed after the last block checked, or
 * from an anchor when that block is gone.  Pass 2 goes on in the list and
 * at the entry where the last hold stopped, at most mem_scan_chunk entries
 * (an empty list counts one) per hold; when other processes held the lock
 * in between (the pool counts its lock sections), the entry is first
 * checked to be still a free block of that list whose back link is the
 * last entry seen; if not, that list starts again from its head, and after
 * LIST_RESTARTS restarts it is left unverified (lists_lost).  Pass 3 is
 * one hold.
 *
 * What is sound while other processes allocate and free between holds.
 * Every finding is made within one hold from what that hold read, so the
 * chunked check reports nothing that was not wrong at that instant (no
 * false alarm from concurrent change).  Local invariants - every block's
 * header, trailer, record, its boundary with the next block, a free
 * block's links to its list neighbours and to its list's head, every list
 * entry met - are checked exactly for every block that exists unchanged
 * through the check; blocks changed meanwhile may be seen before or after
 * the change, or not at all (the next check sees them, and every free
 * passes the allocator's own checks).  What needs the whole heap at one
 * instant - the counters against the sums of all blocks, the number of
 * listed blocks against the number of free ones (the only thing that can
 * see a detached cycle of free blocks whose links agree with each other) -
 * is compared only when no other process held the lock from the first
 * hold to the last (stats.exact), since sums gathered across changes
 * match no instant.  Otherwise it is left out and said so; the bitmaps
 * and the sentinel are checked in pass 3 either way.
 *
 * Bound on one hold: mem_scan_chunk block checks (each O(1): a few
 * headers, the list neighbours) plus the scan's resume bound (status.c),
 * or mem_scan_chunk list entries, or the O(lists) global pass (462 list
 * heads for qm, 1,280 for tlsf, 2,440 for fm); measured in
 * doc/DIAGNOSTICS.md.
 */
#include "debug.h"
#include "freed.h"
#include "internal.h"
#include "slab.h"

#define LIST_RESTARTS 8

struct check_ctx {
	struct mem_pool *pool;
	struct mem_check_result r;
	struct mem_heap_sums sums;
	uint64_t blocks, holes;
};

/* The one place a finding gets its severity (mem.h, mem_check_result). */
static void found(struct check_ctx *c, int structure, int n)
{
	c->r.problems += n;
	if (structure)
		c->r.structure += n;
	else
		c->r.application += n;
}

/* A backend's finding, logged; counted by the caller from the return. */
static void check_problem(void *arg, const void *where, const char *what)
{
	struct check_ctx *c = arg;
	mem_log(MEM_L_ERR, "%s: heap check: %s at %p", c->pool->name, what,
		where);
}

/* The same, for check_list(), which returns a status, not a count. */
static void list_problem(void *arg, const void *where, const char *what)
{
	check_problem(arg, where, what);
	found(arg, 1, 1);
}

/* --- one block ------------------------------------------------------------ */

#if MEMDBG
/* A fragment parked in a per-process cache keeps the canary of its last
 * use (cache.c checks it when the fragment leaves the cache); batch
 * fragments (req 0) have none to check. */
static int parked_bad(const void *user, uint64_t usable)
{
	uint64_t req = dbg_req(user);
	int bad = req && req <= usable - DBG_EXTRA && !dbg_canary_at(user, req);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return bad && dbg_state(user) == DBG_DEAD;
}

/* Read twice, the tag around each (a cache unparking it marks it busy
 * first: debug.h), as mem_used_record() does. */
static int parked_overrun(const void *user, uint64_t usable)
{
	return parked_bad(user, usable) && parked_bad(user, usable);
}

/* The record of a used fragment: tag, then end canary. */
static void check_record(struct check_ctx *c, const struct mem_block *b)
{
	void *user = dbg_user(b->payload);
	char site[256];
	enum mem_rec r = b->used ? mem_used_record(user, b->size) : REC_LIVE;
	int parked_bad = r == REC_PARKED && parked_overrun(user, b->size);
	if (r == REC_BROKEN)
		mem_log(MEM_L_ERR, "%s: heap check: used fragment %p has a "
			"broken debug record", c->pool->name, user);
	else if (r == REC_OVERRUN || parked_bad)
		mem_log(MEM_L_ERR, "%s: heap check: write past the end of "
			"%sfragment %p (%llu bytes) allocated at %s",
			c->pool->name, parked_bad ? "cached " : "", user,
			(unsigned long long)dbg_req(user),
			mem_record_site_str(dbg_hdr(user)->alloc, site,
				sizeof(site)));
	found(c, 0, r == REC_BROKEN || r == REC_OVERRUN || parked_bad);
	/* Freed and parked fragments keep their write-after-free fill
	 * (freed.c); a heap one is rewritten once reported, a parked one is
	 * its cache owner's: reported, left alone. */
	if ((!b->used || r == REC_PARKED) && !b->broken && b->size >= DBG_EXTRA)
		found(c, 0, mem_freed_verify(c->pool, user, b->size,
			"the heap check", NULL, !b->used));
}
#else
static void check_record(struct check_ctx *c, const struct mem_block *b)
{
	(void)c;
	(void)b;
}
#endif

/* Every local invariant of one block, under the hold that visits it: the
 * one per-block verification of both checkers (extend it here).  A hole
 * (a broken header nothing could rebuild) gets the backend's reason; a
 * header rebuilt from its record is sound again, its record is checked. */
static int check_one(const struct mem_block *b, void *arg)
{
	struct check_ctx *c = arg;
	int hole = b->broken && !b->used;
	c->blocks++;
	if (hole)
		c->holes++;
	else
		mem_heap_sums_add(&c->sums, b);
	if (!b->broken || hole)
		found(c, 1, POOL_BE(c->pool)->check_block(c->pool->st, b,
			check_problem, c));
	if (!hole)
		check_record(c, b);
	return 0;
}

/* --- the three passes ------------------------------------------------------ */

struct checker {
	struct check_ctx c;
	struct mem_holds h;
	struct mem_chunked walk;
	struct mem_list_pos pos;
	uint64_t budget;                /* block or list visits per hold */
	unsigned restarts;              /* of the list pos names */
	uint64_t lists_lost;
	int walk_rc;
};

static void check_blocks(struct checker *k)
{
	do {
		int changed = mem_hold_begin(k->c.pool, &k->h);
		k->walk_rc = mem_chunked_step(&k->walk, k->budget, changed);
		mem_hold_end(k->c.pool, &k->h);
	} while (!k->walk.done);
}

/* The list at pos is done (0), or lost (-2): on to the next, or again. */
static void list_next(struct checker *k, int rc)
{
	if (rc == -2 && ++k->restarts <= LIST_RESTARTS) {
		k->pos = (struct mem_list_pos){ .list = k->pos.list };
		return;
	}
	if (rc == -2)
		k->lists_lost++;
	else
		k->c.sums.listed += k->pos.n;
	k->pos = (struct mem_list_pos){ .list = k->pos.list + 1 };
	k->restarts = 0;
}

/* One hold's worth of list entries; recheck: others held the lock since
 * pos was left.  Returns 1 when every list is done. */
static int lists_piece(struct checker *k, int recheck)
{
	const struct mem_backend *be = POOL_BE(k->c.pool);
	uint64_t units = k->budget;
	while (k->pos.list < be->nlists && units) {
		uint64_t seen = k->pos.n;
		int rc = be->check_list(k->c.pool->st, &k->pos, units, 0,
			recheck, list_problem, &k->c);
		recheck = 0;
		uint64_t used = k->pos.n - seen + 1;
		units -= used < units ? used : units;
		if (rc != 1)
			list_next(k, rc);
	}
	return k->pos.list >= be->nlists;
}

static void check_lists(struct checker *k)
{
	int done;
	do {
		int changed = mem_hold_begin(k->c.pool, &k->h);
		done = lists_piece(k, changed);
		mem_hold_end(k->c.pool, &k->h);
	} while (!done);
}

/* The sums are of one instant: one hold, or no other section between. */
static int sums_exact(const struct checker *k)
{
	return !k->h.st.changes && !k->walk_rc && !k->walk.resyncs &&
		!k->c.holes && !k->lists_lost;
}

static void check_global(struct checker *k)
{
	struct mem_pool *pool = k->c.pool;
	mem_hold_begin(pool, &k->h);
	int exact = sums_exact(k);
	found(&k->c, 1, POOL_BE(pool)->check_global(pool->st, exact ?
		&k->c.sums : NULL, check_problem, &k->c));
	mem_hold_end(pool, &k->h);
}

/* locked: take the lock per piece; else the caller holds it (one piece). */
static void check_run(struct checker *k, struct mem_pool *pool, int locked)
{
	k->c.pool = pool;
	k->h.locked = locked;
	k->budget = !locked ? UINT64_MAX : mem_scan_chunk ? mem_scan_chunk : 1;
	mem_chunked_init(&k->walk, pool, check_one, &k->c, "heap check");
	check_blocks(k);
	/* walker findings: rebuilt headers are the program's damage, holes
	 * the allocator's (the backend has said why in check_one) */
	found(&k->c, 0, (int)(k->walk.walker.damaged - k->walk.walker.holes));
	found(&k->c, 1, (int)k->walk.walker.holes);
	check_lists(k);
	check_global(k);
	if (!MEMDBG && pool->slab) {
		mem_hold_begin(pool, &k->h);
		found(&k->c, 1, slab_check(pool, check_problem, &k->c));
		mem_hold_end(pool, &k->h);
	}
}

int mem_check_unsafe_ex(struct mem_pool *pool, struct mem_check_result *res)
{
	mem_fq_drain_pkg(pool);
	struct checker k = { 0 };
	check_run(&k, pool, 0);
	if (res)
		*res = k.c.r;
	return k.c.r.problems;
}

int mem_check_unsafe(struct mem_pool *pool)
{
	return mem_check_unsafe_ex(pool, NULL);
}

int mem_check_ex(struct mem_pool *pool, struct mem_check_result *res)
{
	mem_pool_lock(pool);
	int n = mem_check_unsafe_ex(pool, res);
	mem_pool_unlock(pool);
	return n;
}

int mem_check(struct mem_pool *pool)
{
	return mem_check_ex(pool, NULL);
}

int mem_check_chunked(struct mem_pool *pool, struct mem_check_result *res,
		struct mem_check_stats *stats)
{
	struct checker k = { 0 };
	check_run(&k, pool, 1);
	if (res)
		*res = k.c.r;
	if (stats) {
		*stats = (struct mem_check_stats){ .scan = k.h.st,
			.listed = k.c.sums.listed, .lists_lost = k.lists_lost,
			.exact = sums_exact(&k) };
		stats->scan.frags = k.c.blocks;
		stats->scan.resyncs = k.walk.resyncs;
		stats->scan.result = k.walk_rc;
	}
	return k.c.r.problems;
}

/* --- a backend alone (its check(), for the backends' own tests) ----------- */

struct be_check {
	const struct mem_backend *be;
	void *st;
	mem_problem_fn problem;
	void *arg;
	int count;
	struct mem_heap_sums sums;
};

static void be_problem(void *arg, const void *where, const char *what)
{
	struct be_check *c = arg;
	c->count++;
	if (c->problem)
		c->problem(c->arg, where, what);
}

static int be_block(const struct mem_block *b, void *arg)
{
	struct be_check *c = arg;
	mem_heap_sums_add(&c->sums, b);
	c->count += c->be->check_block(c->st, b, c->problem, c->arg);
	return 0;
}

/* The three passes above with no pool around the backend: no records, no
 * repair; the walk stops at the first broken header (the backend says
 * why) and the counters are then left alone. */
int mem_backend_check(const struct mem_backend *be, void *st,
		mem_problem_fn problem, void *arg)
{
	struct be_check c = { .be = be, .st = st, .problem = problem,
		.arg = arg };
	void *from = NULL;
	int complete = be->walk_from(st, &from, UINT64_MAX, be_block, &c) == 0;
	if (!complete) {
		struct mem_block b = { .payload = from, .broken = 1 };
		c.count += be->check_block(st, &b, problem, arg);
	}
	for (unsigned l = 0; l < be->nlists; l++) {
		struct mem_list_pos pos = { .list = l };
		be->check_list(st, &pos, UINT64_MAX, 0, 0, be_problem, &c);
		c.sums.listed += pos.n;
	}
	c.count += be->check_global(st, complete ? &c.sums : NULL, problem,
		arg);
	return c.count;
}
