/*
 * freed.c - what happens to a fragment's bytes between its free and its
 * next use: the write-after-free check (MEMDBG), and who owned it (the
 * owner words of the MEMDBG record, debug.h).
 *
 * The fill.  When a fragment is freed (back to the heap, or parked in a
 * shm cache) the bytes its caller had are overwritten with FILL_BYTE:
 * all of them up to FILL_FULL bytes, else the first FILL_HEAD and the
 * last FILL_TAIL (a bounded cost per free: 128 bytes at most).  The
 * record's tag is then "armed" (debug.h).  The fill is verified when the
 * fragment is handed out again (by the heap, a cache refill or a cache),
 * when it leaves a cache for the heap, and by the heap checker; the first
 * byte that changed is reported with the fragment's allocation and free
 * sites and owners and with who found it, then the fragment is handed out
 * anyway (or its fill rewritten): no crash, no leak.
 *
 * No false positives.  A freed record describes [user, user + req) of the
 * block that starts at its payload, so the check is sound only while that
 * block is still a free block starting there and nobody but the backend
 * wrote into it.  What the backends write into a free block (backend.h):
 * its first 16 payload bytes (links: the record's req and usable words,
 * never the fill), its last 8 usable bytes (boundary tag; past the canary,
 * so never the fill), and, when blocks join, the absorbed block's header
 * and the survivor's new end, both past the survivor's fill.  A split
 * hands out the start of a free block and writes the rest's header past
 * the part handed out, or (tlsf, big requests) hands out the top end and
 * leaves the block shorter, its new boundary tag in its last 8 usable
 * bytes; a check is clipped to the block as it is, less those 8.  What
 * ends a free block without handing it out is a join into its
 * predecessor: before a free, the backend says whether it may join the
 * fragment into the block before it (joins_prev), and then its record is
 * disarmed; after a free or an in-place resize the old successor, if its
 * record is armed, is asked whether it still is a block (block_state).  Hence an
 * armed record only ever sits at the start of a free block (or a parked
 * one) whose fill nobody else could write, and a stale record revived by a
 * later split at the same address is never armed.  A parked fragment is a
 * used block to the backend: nothing but the cache's link word at P+0
 * (debug.h) is written into it.
 *
 * mem_free_check = 0 stops filling and arming; records already armed are
 * still verified and disarmed, so the setting may change at any time.
 *
 * Owners.  An owner word half is a process: pid (22 bits, Linux's
 * PID_MAX_LIMIT) and the small id the embedding program gave with
 * mem_set_proc_id() (10 bits: id + 513, 0 for none).  srproxy gives its
 * process rank.  Reports on shm fragments name both owners.
 *
 * Costs: a free fills at most 128 bytes, asks joins_prev() and, when the
 * block grew, the old successor's block_state(); an allocation that reuses
 * an armed fragment compares at most 128 bytes with the fill.  Both move
 * 16 bytes at a time, inline, with no call (freed.h, the hot paths); only
 * a broken fill is looked at byte by byte, here.  The record grows by 16
 * bytes (debug.h); doc/DIAGNOSTICS.md has the measured cost.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "freed.h"
#include "internal.h"
#include "owner.h"

#define OWNER_PID_BITS 22
#define OWNER_ID_BIAS 513

/* --- owners -------------------------------------------------------------- */

static int proc_id_field;          /* id + OWNER_ID_BIAS; 0 = none */
static pid_t proc_id_pid;          /* the process that set it */
/* This process's owner half, computed once; a forked child forgets it
 * (pthread_atfork), so no pid is read on the fast path. */
uint32_t mem_owner_word;
static pthread_once_t owner_once = PTHREAD_ONCE_INIT;

static void owner_forget(void)
{
	mem_owner_word = 0;
}

static void owner_setup(void)
{
	pthread_atfork(NULL, NULL, owner_forget);
}

int mem_set_proc_id(int id)
{
	if (id < MEM_PROC_ID_MIN || id > MEM_PROC_ID_MAX)
		return -1;
	proc_id_field = id + OWNER_ID_BIAS;
	proc_id_pid = mem_self_pid();
	mem_owner_word = 0;
	return 0;
}

uint32_t mem_owner_compute(void)
{
	pthread_once(&owner_once, owner_setup);
	pid_t pid = mem_self_pid();
	uint32_t id = proc_id_pid == pid ? (uint32_t)proc_id_field : 0;
	mem_owner_word = ((uint32_t)pid & ((1u << OWNER_PID_BITS) - 1)) |
		id << OWNER_PID_BITS;
	return mem_owner_word;
}

struct mem_proc mem_proc_of(uint32_t proc)
{
	int id = (int)(proc >> OWNER_PID_BITS);
	struct mem_proc p = { proc & ((1u << OWNER_PID_BITS) - 1),
		id ? id - OWNER_ID_BIAS : 0, id != 0 };
	return p;
}

const char *mem_owner_str(uint32_t owner, char *buf, size_t len)
{
	struct mem_proc p = mem_proc_of(owner);
	if (!p.pid)
		snprintf(buf, len, "an unknown process");
	else if (!p.has_rank)
		snprintf(buf, len, "pid %u", p.pid);
	else
		snprintf(buf, len, "pid %u (rank %d)", p.pid, p.rank);
	return buf;
}

#if MEMDBG

/* ", by pid P (rank R)" for shm pools, where processes differ. */
static const char *by_owner(const struct mem_pool *pool, uint32_t owner,
		char *buf, size_t len)
{
	char o[64];
	if (!pool->lock) {
		*buf = 0;
		return buf;
	}
	snprintf(buf, len, " by %s", mem_owner_str(owner, o, sizeof(o)));
	return buf;
}

/* --- the fill (its fast paths: freed.h) ---------------------------------- */

/* First byte of [from, to) that is not the fill, or -1. */
static int64_t changed(const unsigned char *p, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++)
		if (p[i] != FILL_BYTE)
			return (int64_t)i;
	return -1;
}

void mem_freed_disarm(void *user)
{
	dbg_set_dead(user, dbg_dead_bits(user) & ~DBG_ARMED);
}

/* The filled ranges of a fragment of req bytes: [0, head) and [tail, req)
 * (tail == req: none).  DBG_REQ_BIG: too big for the tag, head only. */
static void fill_ranges(uint64_t req, uint64_t *head, uint64_t *tail)
{
	if (req <= FILL_FULL) {
		*head = *tail = req;
		return;
	}
	*head = FILL_HEAD;
	*tail = req == DBG_REQ_BIG ? req : req - FILL_TAIL;
}

/* The first changed byte of an armed fragment of req bytes, looking at no
 * byte at or past limit; -1: none. */
static int64_t first_changed(const void *user, uint64_t req, uint64_t limit)
{
	uint64_t head, tail;
	fill_ranges(req, &head, &tail);
	int64_t at = changed(user, 0, head < limit ? head : limit);
	if (at < 0 && tail < limit)
		at = changed(user, tail, req < limit ? req : limit);
	return at;
}

static void report(struct mem_pool *pool, const void *user, int64_t at,
		const char *finder)
{
	const struct dbg_hdr *h = dbg_hdr(user);
	char a[240], f[240], ao[80], fo[80];
	uint64_t req = dbg_req(user);
	mem_log(MEM_L_ERR, "%s: write after free at offset %lld of the "
		"fragment %p (%llu%s bytes) allocated at %s%s, freed at %s%s, "
		"found by %s", pool->name, (long long)at, user,
		(unsigned long long)req, req == DBG_REQ_BIG ? "+" : "",
		mem_record_site_str(h->alloc, a, sizeof(a)),
		by_owner(pool, (uint32_t)h->owner, ao, sizeof(ao)),
		mem_record_site_str(h->freed, f, sizeof(f)),
		by_owner(pool, (uint32_t)(h->owner >> 32), fo, sizeof(fo)),
		finder);
}

/* A changed byte at `at`: report it (unless the record changed while it
 * was compared: a parked fragment its cache handed out meanwhile), then
 * rewrite the fill or apply mem_safety.  Off the fast path. */
static __attribute__((noinline)) int found(struct mem_pool *pool, void *user,
		uint64_t tag, int64_t at, const char *finder,
		const struct mem_site *site, int repair)
{
	char s[240], by[300];
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (dbg_hdr(user)->tag != tag)
		return 0;
	snprintf(by, sizeof(by), "%s%s%s", finder, site ? " at " : "",
		site ? mem_site_str(site, s, sizeof(s)) : "");
	report(pool, user, at, by);
	if (repair)
		fill_armed(user, dbg_req(user));
	if (!mem_safety && !repair) {
		mem_log(MEM_L_CRIT, "%s: mem_safety=0: aborting", pool->name);
		abort();
	}
	return 1;
}

/* fill_broken() of the ranges clipped at limit (fill_differs() of each,
 * so each is FILL_FULL bytes at most). */
static uint64_t broken_before(const void *user, uint64_t req, uint64_t limit)
{
	uint64_t head, tail, end = req < limit ? req : limit;
	fill_ranges(req, &head, &tail);
	uint64_t d = fill_differs(user, head < end ? head : end);
	if (tail < end)
		d |= fill_differs((const unsigned char *)user + tail,
			end - tail);
	return d;
}

int mem_freed_found(struct mem_pool *pool, void *user, uint64_t tag,
		uint64_t req, uint64_t limit, const char *finder,
		const struct mem_site *site, int repair)
{
	if (!broken_before(user, req, limit))
		return 0;
	int64_t at = first_changed(user, req, limit);
	return at < 0 ? 0 : found(pool, user, tag, at, finder, site, repair);
}

/* An armed record at payload whose block is gone (joined into the block
 * before it) is disarmed.  A used block there is a parked fragment, its
 * record its cache owner's to change (without the global lock). */
void mem_freed_disarm_joined(struct mem_pool *pool, char *payload)
{
	void *user = dbg_user(payload);
	if (payload < pool->start || (char *)user > pool->end ||
			!dbg_armed(user))
		return;
	if (POOL_BE(pool)->block_state(pool->st, payload) == MEM_BLOCK_BAD)
		mem_freed_disarm(user);
}

/* The last block that starts at or before at (walk order is address
 * order). */
struct holder {
	char *at;
	struct mem_block b;
};

static int holder_of(const struct mem_block *b, void *arg)
{
	struct holder *h = arg;
	if ((char *)b->payload > h->at)
		return 1;
	h->b = *b;
	return 0;
}

void mem_freed_after_rebuild(struct mem_pool *pool)
{
	uint64_t seq;
	struct holder h = { POOL_BE(pool)->last(pool->st, &seq), { 0 } };
	if (!h.at)
		return;
	POOL_BE(pool)->walk(pool->st, holder_of, &h);
	if (h.b.payload && !h.b.used && h.b.size >= DBG_EXTRA &&
			dbg_armed(dbg_user(h.b.payload)))
		mem_freed_disarm(dbg_user(h.b.payload));
}

#endif /* MEMDBG */

int mem_freed_swallowed(const struct mem_block *b, void *arg)
{
#if MEMDBG
	struct mem_pool *pool = arg;
	void *user = dbg_user(b->payload);
	if (b->size >= DBG_EXTRA && (char *)b->payload >= pool->start &&
			(char *)user < pool->end && dbg_armed(user))
		mem_freed_disarm(user);
#else
	(void)b; (void)arg;
#endif
	return 0;
}

void mem_heap_changed(struct mem_pool *pool, void *user, uint64_t usable)
{
#if MEMDBG
	char *payload = dbg_payload(user);
	mem_freed_disarm_joined(pool, payload);
	mem_freed_disarm_joined(pool, payload + usable +
		POOL_BE(pool)->frag_overhead);
#else
	(void)pool; (void)user; (void)usable;
#endif
}
