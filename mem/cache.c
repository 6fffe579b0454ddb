/*
 * cache.c - per-process caches of small shm fragments (magazines in the
 * sense of Bonwick and Adams, USENIX 2001, kept in the shared segment).
 *
 * Why.  With one global lock, two workers that allocate at full speed spend
 * their time passing the lock's cache line and the heap's metadata back and
 * forth, and a holder preempted by the scheduler stalls everyone.  Most
 * shm traffic of a SIP server is small fragments freed soon after: a
 * process that keeps its own small free fragments can serve most requests
 * with no shared write at all.
 *
 * How.  Each process claims a slot in the segment.  A slot holds one LIFO
 * list per class of backend usable size: exact 16-byte classes below
 * 512 bytes, then 8 classes per doubling up to 256 KiB ("big" classes).
 *   free    a checked fragment of class c goes on this process's list c,
 *           marked as parked (MEMDBG: tag "freed" with the free site;
 *           otherwise a cookie).  The check reads the fragment's record
 *           (MEMDBG) or its own backend header, never the next block's,
 *           which only a flush joining with it needs (flushable).  A list over its bound sends half of it
 *           back to the heap in one global-lock section; a slot over its
 *           byte budget gives back lists down to 3/4 of it (over_budget).
 *   malloc  pop list c; on a miss take the global lock once and cut a batch
 *           of half the list's bound.  A big request takes the head of its
 *           own class if it is large enough, else the head of the next
 *           class (which always is); a big miss cuts a batch for the next
 *           class, fragments of that class's smallest size, so that every
 *           one of them fits any request of class c.  Waste: under 1/8 of
 *           the size, 1/16 on average.  Requests in the last class or of
 *           256 KiB and more go straight to the heap.
 *   tight   a heap with no free block of 1 MiB left gets no batches and
 *           no parked frees, until it has one of 2 MiB again ("Room").
 * Any fragment can be parked by any process: a fragment allocated by one
 * process and freed by another simply joins the freeing process's cache,
 * and is reused or returned to the heap from there.
 *
 * The depot.  What a list or a budget gives back goes, as one chain per
 * list, to a per-class depot shared by all processes (bounded: chains per
 * class, bytes per class and in all), in one O(1) global-lock section;
 * a refill takes whole chains from there before it cuts from the
 * backend.  Only what the depot cannot take goes back to the heap
 * fragment by fragment.  See "the depot" below.
 *
 * Sizing (what the global lock costs per op).  A list is filled to half
 * its bound by a refill and flushed down to half of it, so between two
 * global sections it takes a random walk of about (bound / 2)^2 frees and
 * allocations of that class: the lock is taken about 4 / bound^2 times per
 * op of the class, and the list holds bound / 2 fragments on average.  The
 * bound is 32 KiB of fragments for exact classes and 256 KiB for big ones
 * (8 to 128 fragments; 1 for the classes over 128 KiB, which a W2 mix
 * touches once in 1,000 requests): under W3 (BENCH.md) about 1,600 global
 * sections per million ops instead of 29,000 with 4 KiB exact classes and
 * 8 KiB bounds, and a slot near its default budget of 8 MiB.  Few classes
 * per doubling above 512 bytes matter as much as the bound: the memory a
 * class holds is its bound times its size, so 24 classes from 512 bytes to
 * 4 KiB can afford bounds of 64 to 128 where 224 exact ones could afford 8.
 *
 * Any fragment can be parked by any process: a fragment allocated by one
 * process and freed by another simply joins the freeing process's cache,
 * and is reused or returned to the heap from there.
 *
 * Honest numbers.  Parked fragments are used blocks to the backend, but
 * nobody holds them: shm_info() reports them as cached, not used.  Each
 * slot counts the exact backend usable bytes it parks (a big fragment
 * carries its size; an exact class c holds blocks of 16 c + slack usable
 * bytes only, slack fixed by the backend's frag_overhead), so
 *   used_size = heap used_size - cached
 *   real_used = heap real_used - (cached + parked blocks * frag_overhead)
 * hold exactly once no process is inside a cache operation, and after
 * every fragment is freed used_size is back where it started whatever is
 * parked.  shm_cache_stats() gives the same bytes as cached.  Reads sum
 * the slots without their locks (racy but never torn: each counter is one
 * aligned word); the fast paths never take the global lock for them.
 * max_used is the callers' peak as sampled where the heap grows (every
 * locked allocation and batch refill that takes the heap past the peak)
 * and by every shm_info(): a peak made and undone by cache hits alone,
 * which write nothing shared, is not seen.  The heap checker and the
 * walker see parked fragments as "cached" (a used block with a parked
 * mark).
 *
 * What they trade with the heap.  Each slot counts its refills, the
 * fragments they took from the depot or cut from the heap, the chains
 * and fragments it gave the depot and the fragments it gave the heap,
 * and its budget overflows (struct shm_cache_flow): slow paths only,
 * under the slot lock, never on a hit or a parked free; cache_flow()
 * sums them with the pool's drains and reclaims (shm_cache_flow(),
 * shm.stats, /metrics, membench).  A fragment a refill cut is parked,
 * in the depot, with a caller or given back to the heap, so after
 * mallocs and frees alone and a full drain, cut equals to_heap (the
 * shm_cache test flow_counts).
 *
 * Nothing stranded.  When the heap cannot serve a request that what is
 * parked could meet (heap free + parked bytes >= the request: an absurd
 * size drains nobody), every slot that holds anything is drained,
 * whatever its owner, and the request retried, so a request fails only if
 * the memory is really not there (but see "Room": the holes parked
 * fragments leave are cut for their class).  A slot whose owner died is
 * drained when
 * a process looks for a slot, on such a failure and on
 * shm_cache_reclaim() (srproxy calls it when it reaps a worker); never on
 * shm_info(), which stays a read of counters.
 *
 * Room.  Batches and parking cost the heap memory two ways.  A big class's
 * batch is cut at its class's floor, so a live fragment carries up to 1/8
 * (1/16 on average) more than it asked for; and parked fragments (up to a
 * budget per slot and two more in the depot) are used blocks to the heap,
 * which their free neighbours cannot join: they cut up the large free
 * blocks that the rare big requests need, and the drain that gives them
 * back before a request fails leaves holes cut for their class.  Both are
 * harmless while the heap has room to spare.  Once it has no free block
 * of room bytes (1 MiB, or 1/8 of a smaller pool; the backend's has_room()
 * bitmap search, asked under the global lock after every section that
 * changes the heap: a refill, a flush, a locked malloc, realloc or free),
 * the heap is tight and the caches step aside: a miss takes the locked
 * path and gets its exact size, and a free goes on to the heap and joins
 * there (the slot's budget is 0, park_limit: the list the free parked in
 * is flushed at once, in one global section, the depot takes nothing);
 * hits still pop what the lists hold, so the lists empty out.  It is
 * roomy again when a free block of twice room is back (cache_room(): the
 * word changes only then).  A server whose shm
 * never runs short keeps a large free block and never sees this.  W6s
 * (BENCH.md's W6 on the shared pool: fill 64 MiB to the first failure,
 * free a random half, 20 rounds) goes tight in its first round and stays
 * so: utilisation 0.845 -> 0.900 over seeds 1..8 (global lock only 0.911;
 * MEMDBG 0.806 -> 0.869, lock 0.888); what is left is the first round,
 * filled through the caches.  Over seeds 1..32 (release), against 0.846
 * before, 0.901 now and 0.919 with the global lock only: no depot 0.862,
 * 32 big classes per doubling instead of 8 0.865, big classes not cached
 * at all 0.899, tight below 60 % of the pool free 0.905 (but the caches
 * then step aside in any heap 40 % used).
 * Cost: nothing on a hit or a free (a free compares its slot's bytes with
 * park_limit where it compared them with limit), one load on a miss, one
 * bitmap search per global section.
 *
 * Nothing lost.  A process may die at any instruction, so no chain of
 * parked fragments lives only on a stack: every one is reachable from its
 * slot in the segment.  A flush or a drain moves fragments from the lists
 * to the slot's held chain and gives held back to the heap, all with the
 * slot lock held; a refill parks each fragment in the slot as the backend
 * cuts it; the one fragment between a list and its caller (popped,
 * being parked or unparked, or the refill's first) is named by moving.
 * Whoever takes a dead holder's slot lock over (a reclaim, the
 * out-of-memory drain, a new process with its pid) repairs the slot:
 * moving, if still parked, joins held, and held goes to the heap.  Two
 * points lie inside the global lock, and its taker settles them after
 * the backend's rebuild (cache_recover): whether the backend had freed
 * held's head (freeing: is it still a used block of the chain?), and a
 * refill's cut that the backend made but the slot does not hold yet
 * (cutting, and the backend's last()).  An in-place realloc rewrites a
 * live fragment's record without a lock: resizing names it, and the
 * reclaimer of a dead owner finishes that record (resize_repair).  Cost:
 * two or three stores on the slot's own line per operation, none shared.
 * A chain moving between a slot and the depot is named by both for a
 * moment; the global lock's taker keeps the depot's copy (depot_settle).
 *
 * Owners.  A slot names its owner by pid and generation (owner.h) in one
 * 64-bit word, claimed by compare-and-swap from 0.  A reclaimer clears it
 * by compare-and-swap under the slot lock, only if it still names the
 * dead owner it found, after emptying the lists.  The owner re-reads the
 * word on every operation (the line it locks anyway), so a process whose
 * slot was taken claims another instead of sharing one; a new process
 * that finds its own pid with another generation in a slot drains that
 * dead predecessor's slot rather than adopting it.
 *
 * Locks.  Each slot is held by its owner on every operation and by
 * another process only to drain it.  The thread that claimed it holds it
 * with plain stores (a fast hold); anyone else takes the slot's lock and
 * stops fast holds for its section through the asymmetric fence ("Slot
 * holds" below, fence.h).  Order: slot, then global lock; never the
 * other way round.  Threads of one process share its slot: the first
 * other thread to hold it ends fast holds for good, and from then on the
 * slot lock names the thread holding it, so they take turns as processes
 * do; one thread at a time claims the slot (slot_settle), so that a
 * process never owns two.  The slot lock is lock.h's polled lock: its
 * waiters poll and nap rather than being woken, so its release is one
 * plain store (contention is rare: threads of one process, a drain).
 * Costs: a hit is two plain stores and a load on a private line and O(1)
 * list work (where the kernel has no fence: one atomic operation and a
 * store); a drain of a live owner adds one fence, about 0.2 us; a batch
 * refill or a flush is one global lock section for up to CACHE_BATCH
 * fragments.
 *
 * Fast paths.  A free makes each check once, inline (park_class: pool
 * range and alignment, the fragment's own header or MEMDBG record, the
 * parked mark) and calls mem_used_fragment() only to report a mistake; the
 * slot, its hold, the lists and the park are inline too, so that a hit
 * calls out only for the backend's own_usable().
 */
#include <sched.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "debug.h"
#include "fence.h"
#include "freed.h"
#include "internal.h"
#include "track.h"

#define CACHE_EXACT_MAX ((uint64_t)CACHE_EXACT * 16)   /* 512 bytes */
#define CACHE_MAX_USABLE (CACHE_EXACT_MAX << CACHE_BIG_DOUBLINGS) /* 256 KiB */
#define CACHE_CLASS_BYTES (32u << 10)   /* an exact list's bound, in bytes */
#define CACHE_BIG_BYTES (256u << 10)    /* a big list's bound, in bytes */
#define CACHE_LIST_MAX 128              /* any list's bound, in fragments */
#define CACHE_BATCH (CACHE_LIST_MAX / 2)
#define PARKED_COOKIE 0x5352ca5ed0c0ffeeull
#define CACHE_ROOM (4 * CACHE_MAX_USABLE)       /* 1 MiB: see "Room" */

size_t shm_cache_size = SHM_CACHE_AUTO;

size_t cache_limit(size_t pool_size)
{
	size_t limit = pool_size / 64;
	if (shm_cache_size != SHM_CACHE_AUTO)
		return shm_cache_size;
	return limit < (256u << 10) ? 256u << 10 :
		limit > (8u << 20) ? 8u << 20 : limit;
}

/* This process's slot: valid while my_owner is still our identity (a
 * child of any kind must claim its own), my_cache is still the segment's
 * cache and the slot still names us (a reclaimer may have taken it). */
static struct cache_slot *my_slot;
static struct mem_cache *my_cache;
static uint64_t my_owner;

/* --- parked fragments ---------------------------------------------------- */

static void park(void *user, const struct mem_site *site)
{
#if MEMDBG
	dbg_on_free(user, site);
	mem_freed_fill(user);
#else
	(void)site;
	uint64_t cookie = (uint64_t)(uintptr_t)user ^ PARKED_COOKIE;
	memcpy(user, &cookie, sizeof(cookie));
#endif
}

static int is_parked(const void *user)
{
#if MEMDBG
	return dbg_state(user) == DBG_DEAD;
#else
	uint64_t cookie;
	memcpy(&cookie, user, sizeof(cookie));
	track_defined(&cookie, sizeof(cookie)); /* a live block's unwritten
						   first word is not a fault */
	return cookie == ((uint64_t)(uintptr_t)user ^ PARKED_COOKIE);
#endif
}

/* A parked fragment leaves the cache (reused, or flushed to the heap):
 * its end canary (the free that parked it did not read that line), then
 * its write-after-free fill (freed.h; repair: rewritten when broken), on
 * one read of its tag.  An armed record, the common case, gives the
 * request for both.  Fragments cut for a batch (req 0) have no canary. */
static inline __attribute__((always_inline))
void parked_checks(struct mem_pool *pool, void *user, const char *finder,
		const struct mem_site *site, int repair)
{
#if MEMDBG
	uint64_t tag = dbg_hdr(user)->tag, bits = dbg_armed_bits(user, tag);
	uint64_t req = bits ? (bits >> 32) & DBG_REQ_BIG : dbg_req_of(user, tag);
	if (req && !(bits ? req == DBG_REQ_BIG || dbg_canary_at(user, req) :
			dbg_canary_ok_of(user, tag)))
		mem_report_bad(pool, "free (found when reused)", user,
			BAD_OVERFLOW, dbg_free_site(user));
	if (bits)
		freed_verify_armed(pool, user, tag, bits, dbg_usable(user),
			finder, site, repair);
#else
	(void)pool; (void)user; (void)finder; (void)site; (void)repair;
#endif
}

/* Wipe a parked mark from a fragment handed out (cache_taken()). */
static inline void mark_wipe(void *user)
{
#if !MEMDBG
	memset(user, 0, sizeof(uint64_t));
#else
	(void)user;
#endif
}

static void *unpark(struct mem_pool *pool, void *user, size_t size,
		const struct mem_site *site)
{
	size_t req = size ? size : 1;
	parked_checks(pool, user, "the allocation", site, 0);
#if MEMDBG
	dbg_busy(user);     /* checkers read it without our lock */
	dbg_on_alloc(dbg_payload(user), req, site, dbg_usable(user));
#else
	(void)site;
	mark_wipe(user);        /* cache_taken(), inline */
#endif
	(void)req;              /* track_alloc() compiles away without Valgrind */
	track_alloc(pool, user, req);
	return user;
}

/* A fresh fragment cut for a batch looks parked, with no sites. */
static void *park_fresh(void *payload, uint64_t usable)
{
	void *user = dbg_user(payload);
#if MEMDBG
	struct dbg_hdr *h = payload;
	h->req = 0;
	h->usable_x = usable ^ DBG_USABLE;
	h->owner = 0;
	h->alloc = NULL;
#else
	(void)usable;
#endif
	park(user, NULL);
#if MEMDBG
	h->owner = 0;   /* cut, never used: nobody freed it */
#endif
	return user;
}

/* --- slot lists (slot lock held) ----------------------------------------- */

/* --- classes ------------------------------------------------------------- */

/* The smallest usable size of class c. */
static inline uint64_t class_low(unsigned c)
{
	if (c < CACHE_EXACT)
		return 16 * (uint64_t)c;
	unsigned d = (c - CACHE_EXACT) / CACHE_BIG_STEPS;
	unsigned j = (c - CACHE_EXACT) % CACHE_BIG_STEPS;
	return (CACHE_EXACT_MAX << d) + j * ((CACHE_EXACT_MAX / CACHE_BIG_STEPS) << d);
}

/* The class whose range holds u (class_low(c) <= u < class_low(c + 1)),
 * or -1 beyond the last class. */
static int class_floor(uint64_t u)
{
	if (u < CACHE_EXACT_MAX)
		return (int)(u / 16);
	if (u >= CACHE_MAX_USABLE)
		return -1;
	unsigned d = 63 - (unsigned)__builtin_clzll(u / CACHE_EXACT_MAX);
	uint64_t j = (u - (CACHE_EXACT_MAX << d)) /
		((CACHE_EXACT_MAX / CACHE_BIG_STEPS) << d);
	return (int)(CACHE_EXACT + d * CACHE_BIG_STEPS + j);
}

/* A big parked fragment carries its usable size, so that a request can
 * be matched to it without reading the backend's header: the MEMDBG
 * record's, else a word at user + 16; exact classes need no size (any
 * fragment of class c fits). */
static inline uint64_t big_size(void *user)
{
#if MEMDBG
	return dbg_usable(user);
#else
	return *(uint64_t *)((char *)user + 16);
#endif
}

static inline void set_big_size(void *user, uint64_t usable)
{
#if MEMDBG
	(void)user;     /* the record has it already */
	(void)usable;
#else
	*(uint64_t *)((char *)user + 16) = usable;
#endif
}

/* The backend usable size of a parked fragment, exactly: an exact class
 * holds one size per backend (backend.h: usable + frag_overhead is a
 * multiple of 16), a big one carries its own.  Pushing and popping never
 * read a fragment's header. */
static inline uint64_t parked_size(const struct cache_slot *s, unsigned c,
		void *user)
{
	return c < CACHE_EXACT ? class_low(c) + s->slack : big_size(user);
}

/* Counters are written with atomic stores (the slot lock orders them for
 * the owner): readers sum them without that lock (cache_totals). */
static inline void count(struct cache_slot *s, int64_t blocks, int64_t bytes)
{
	__atomic_store_n(&s->blocks, s->blocks + (uint64_t)blocks,
		__ATOMIC_RELAXED);
	__atomic_store_n(&s->bytes, s->bytes + (uint64_t)bytes,
		__ATOMIC_RELAXED);
}

static inline __attribute__((always_inline)) void push(struct cache_slot *s,
		unsigned c, void *user)
{
	*cache_link_of(user) = s->cls[c].head;
	MEM_KILL_POINT();       /* linked to the list, not on it yet */
	s->cls[c].head = user;
	MEM_KILL_POINT();       /* on the list, not counted yet */
	s->cls[c].count++;
	count(s, 1, (int64_t)parked_size(s, c, user));
}

static inline __attribute__((always_inline)) void *pop(struct cache_slot *s,
		unsigned c)
{
	void *user = s->cls[c].head;
	if (!user)
		return NULL;
	s->moving = user;       /* in no list for a moment: slot_repair() */
	MEM_KILL_FENCE();
	s->cls[c].head = *cache_link_of(user);
	MEM_KILL_POINT();       /* off the list, still counted */
	s->cls[c].count--;
	count(s, -1, -(int64_t)parked_size(s, c, user));
	return user;
}

/* Park a fragment of usable bytes in the class its size gives (a cut for
 * the last class is under CACHE_MAX_USABLE by the backend's remainder
 * bound; should one ever reach it, it parks in the last class, whose
 * fragments carry their size). */
static void push_sized(struct cache_slot *s, void *user, uint64_t usable)
{
	int k = class_floor(usable);
	unsigned c = k < 0 ? CACHE_CLASSES - 1 : (unsigned)k;
	if (c >= CACHE_EXACT)
		set_big_size(user, usable);
	push(s, c, user);
}

/* A big request of need bytes: the head of its own class if that one is
 * large enough, else the head of the next class, which always is. */
static void *pop_big(struct cache_slot *s, unsigned c, uint64_t need)
{
	void *head = s->cls[c].head;
	if (head && big_size(head) >= need)
		return pop(s, c);
	return c + 1 < CACHE_CLASSES ? pop(s, c + 1) : NULL;
}

/* Move the first n fragments of list c onto held, on their way to the
 * depot or the heap (give_back(), flush_held()); returns the bytes moved,
 * *blocks the fragments, *tail the first one moved (the last of held). */
static uint64_t detach(struct cache_slot *s, unsigned c, uint32_t n,
		uint32_t *blocks, void **tail)
{
	uint64_t bytes = 0;
	*blocks = 0;
	while (n-- && s->cls[c].head) {
		void *user = pop(s, c);
		bytes += parked_size(s, c, user);
		if (!(*blocks)++)
			*tail = user;
		*cache_link_of(user) = s->held;
		MEM_KILL_FENCE();
		s->held = user;
	}
	MEM_KILL_FENCE();
	s->moving = NULL;
	return bytes;
}

/* Lock held: may this parked fragment go back to the heap?  The free
 * that parked it read only its record (MEMDBG) or its own header: an
 * overflow out of it (a broken canary, or the next header broken) or into
 * its header (block_state() says so; it reads the two headers the
 * backend's free reads next anyway) is reported and, MEMDBG, the headers
 * rebuilt (damage.c); when they cannot be (release builds: never), the
 * fragment is kept rather than freed into a heap that would be corrupted
 * further. */
static int flushable(struct mem_pool *pool, void *user)
{
	const struct mem_backend *be = POOL_BE(pool);
#if MEMDBG
	int canary = !dbg_req(user) || dbg_canary_ok(user);
	if (canary && be->block_state(pool->st, dbg_payload(user)) ==
			MEM_BLOCK_USED)
		return 1;
	mem_damage_fix(pool, "free", user);
#else
	if (be->block_state(pool->st, user) == MEM_BLOCK_USED)
		return 1;
	mem_report_bad(pool, "free (found when flushed)", user, BAD_OVERFLOW,
		NULL);
#endif
	return be->block_state(pool->st, dbg_payload(user)) == MEM_BLOCK_USED;
}

/* A parked fragment leaves the cache for the heap: its canary and its
 * write-after-free fill (rewritten when broken, so that the heap gets it
 * armed and whole). */
static void parked_left(struct mem_pool *pool, void *user)
{
	parked_checks(pool, user, "its leaving the cache of this process", NULL,
		1);
}

/* Give the slot's held chain back to the heap in one global-lock section
 * (slot lock held).  Each block is taken off held only after the backend
 * freed it; meanwhile freeing names it, so that the taker of a dead
 * holder's global lock knows whether that free happened (cache_recover). */
static void recover_freeing(struct mem_pool *pool, struct cache_slot *s);

/* Each fragment of held leaves the cache: its checks (parked_left). */
static void held_left(struct mem_pool *pool, struct cache_slot *s)
{
	for (void *u = s->held; u; u = *cache_link_of(u))
		parked_left(pool, u);
}

/* A flow counter of a slot (struct shm_cache_flow): its lock holder is
 * its only writer; readers sum without the lock. */
static inline void flow_add(uint64_t *ctr, uint64_t n)
{
	__atomic_store_n(ctr, *ctr + n, __ATOMIC_RELAXED);
}

/* held, checked by held_left(), to the heap: the global lock is held, and
 * so is the slot lock. */
static size_t held_to_heap(struct mem_pool *pool, struct cache_slot *s)
{
	size_t n = 0, freed = 0;
	for (void *u; (u = s->held); n++) {
		void *next = *cache_link_of(u);
		if (!mem_pool_broken(pool) && flushable(pool, u)) {
			s->freeing_next = next;
			MEM_KILL_FENCE();
			s->freeing = u;
			MEM_KILL_FENCE();
			mem_heap_free(pool, u, dbg_record_usable(u), 0);
			freed++;
		}
		MEM_KILL_FENCE();
		s->held = next;
		MEM_KILL_FENCE();
		s->freeing = NULL;
	}
	flow_add(&s->flow.to_heap, freed);
	cache_room(pool);
	return n;
}

static size_t flush_held(struct mem_pool *pool, struct cache_slot *s)
{
	if (!s->held)
		return 0;
	/* A flusher died in the backend's free of held's head (freeing is
	 * only ever set under this slot lock, now ours): once freed, that
	 * block's link word is the backend's, so held is settled under the
	 * global lock before anything walks it. */
	if (s->freeing) {
		mem_pool_lock(pool);
		recover_freeing(pool, s);
		mem_pool_unlock(pool);
	}
	held_left(pool, s);     /* before the lock */
	mem_pool_lock(pool);
	size_t n = held_to_heap(pool, s);
	mem_pool_unlock(pool);
	return n;
}

/* Global lock taken over from a dead holder, heap rebuilt (mem.c): the
 * holder may have been handing held's head to the backend, or cutting a
 * fragment for a refill that it had not noted yet.  Only the dead holder
 * was in a global section, and it held that slot's lock: nobody else
 * touches these words now.  A head the heap still has as used may have
 * had its words written all the same: a backend's free writes its list
 * links into the block before the block reads free, and the rebuild
 * keeps a free cut short as used.  Those links lie over the record or
 * the parked mark, and over held's link (the kill storm lost the rest of
 * the chain that way, or walked into a live fragment), so the head is
 * parked afresh and linked again to what followed it, which freeing_next
 * kept. */
static void recover_freeing(struct mem_pool *pool, struct cache_slot *s)
{
	void *u = s->freeing;
	if (!u)
		return;
	if (s->held == u) {
		void *payload = dbg_payload(u);
		if (!mem_heap_used_at(pool, payload)) {
			s->held = s->freeing_next;      /* the free happened */
		} else {
			park_fresh(payload, POOL_BE(pool)->usable_size(
				pool->st, payload));
			*cache_link_of(u) = s->freeing_next;
		}
	}
	s->freeing = NULL;
}

static int on_a_list(const struct cache_slot *s, const void *user)
{
	if (user == s->moving || user == s->held)
		return 1;
	for (unsigned c = 0; c < CACHE_CLASSES; c++)
		if (s->cls[c].head == user)
			return 1;
	return 0;
}

/* A cut the backend made (its last() moved on) whose block is used but in
 * no list yet: parked onto held, to go back to the heap. */
static void recover_cut(struct mem_pool *pool, struct cache_slot *s)
{
	const struct mem_backend *be = POOL_BE(pool);
	uint64_t seq;
	void *payload = be->last(pool->st, &seq);
	if (!s->cutting)
		return;
	s->cutting = 0;
	if (!payload || seq == s->cut_seq || on_a_list(s,
			dbg_user(payload)) || !mem_heap_used_at(pool, payload))
		return;
	void *user = park_fresh(payload, be->usable_size(pool->st, payload));
	*cache_link_of(user) = s->held;
	s->held = user;
	mem_log(MEM_L_WARN, "%s: fragment %p cut for a dead process's cache "
		"recovered", pool->name, user);
}

/* --- the depot ------------------------------------------------------------ */

/* The depot (struct cache_depot, per class, in the segment beside the
 * slots) keeps whole chains that flushes left for any process's refill:
 * a list over its bound (or a slot over its budget) hands the chain it
 * detached to the depot in one O(1) global-lock section when the depot
 * has room (CACHE_DEPOT_CHAINS chains of the class, depot_limit bytes in
 * all), and a refill of class c pops a whole chain there into its empty
 * list before it cuts from the backend.  A process that frees what
 * another allocates (a handoff) then feeds it without the heap between
 * them, and neither holds the global lock for a backend call per
 * fragment.  Beyond the bound the chain goes to the heap as before
 * (flush_held()); the out-of-memory drain empties the depot too
 * (depot_drain()).  Depot fragments stay parked (same mark, MEMDBG
 * records "freed"), and their bytes are cached (cache_totals()).
 *
 * Nothing lost, nothing twice.  A chain moves between a slot word (held,
 * or an empty list's head) and a depot entry in two single stores, the
 * word that will own it first: a push publishes the entry, then clears
 * held; a pop sets the slot word, then clears the entry.  Between the
 * two both name the chain, and the slot's depot_op says which word and
 * class: whoever takes a dead holder's global lock over keeps the
 * depot's copy and clears the slot's word (depot_settle(), "slot word ==
 * depot entry"), so that the chain is counted, walked and freed once;
 * n and the depot's counters are rebuilt from the entries
 * (depot_recount()).  A slot repairer settles under the global lock
 * before it walks anything (slot_repair()). */

void (*cache_depot_probe)(unsigned point);

#define DEPOT_VIA_LIST (1u << 16)       /* the list's head, else held */

static inline void depot_probe(unsigned point)
{
	void (*f)(unsigned) = cache_depot_probe;
	if (__builtin_expect(f != NULL, 0))
		f(point);
}

static inline unsigned op_class(uint32_t op)
{
	return (op & 0xffff) - 1;
}

static inline void **op_word(struct cache_slot *s, uint32_t op)
{
	return op & DEPOT_VIA_LIST ? &s->cls[op_class(op)].head : &s->held;
}

static inline void op_set(struct cache_slot *s, uint32_t op)
{
	MEM_KILL_FENCE();
	__atomic_store_n(&s->depot_op, op, __ATOMIC_RELEASE);
	MEM_KILL_FENCE();
}

/* Written under the global lock, read without it (cache_totals). */
static inline void depot_count(struct mem_cache *mc, int64_t blocks,
		int64_t bytes)
{
	__atomic_store_n(&mc->depot_blocks, mc->depot_blocks +
		(uint64_t)blocks, __ATOMIC_RELAXED);
	__atomic_store_n(&mc->depot_bytes, mc->depot_bytes + (uint64_t)bytes,
		__ATOMIC_RELAXED);
}

/* May a chain of bytes of class c go to the depot?  Room for a chain
 * in the class, whose chains hold at most two lists' bound in bytes (so
 * that the few fragments of the largest classes cannot fill the depot's
 * bytes for all), and within depot_limit in all; none while the heap is
 * tight ("Room").  Exact under the global lock; a racy look before
 * taking it. */
static int depot_room(struct mem_cache *mc, unsigned c, uint64_t bytes)
{
	const struct cache_depot *d = &mc->depot[c];
	uint32_t n = __atomic_load_n(&d->n, __ATOMIC_RELAXED);
	uint64_t in_class = bytes;
	if (n >= CACHE_DEPOT_CHAINS || !__atomic_load_n(&mc->park_limit,
			__ATOMIC_RELAXED) || __atomic_load_n(&mc->depot_bytes,
			__ATOMIC_RELAXED) + bytes > mc->depot_limit)
		return 0;
	for (uint32_t k = 0; k < n; k++)
		in_class += __atomic_load_n(&d->bytes[k], __ATOMIC_RELAXED);
	return in_class <= 2 * (uint64_t)(c < CACHE_EXACT ?
		CACHE_CLASS_BYTES : CACHE_BIG_BYTES);
}

/* held, a chain of class c (blocks fragments, bytes, its last fragment
 * tail), to the depot, which has room (global lock held). */
static void depot_push(struct mem_cache *mc, struct cache_slot *s,
		unsigned c, void *tail, uint32_t blocks, uint64_t bytes)
{
	struct cache_depot *d = &mc->depot[c];
	uint32_t k = d->n;
	op_set(s, c + 1);
	d->tail[k] = tail;
	d->blocks[k] = blocks;
	d->bytes[k] = bytes;
	depot_probe(DEPOT_PUSHING);
	MEM_KILL_FENCE();
	d->chain[k] = s->held;          /* published: named twice */
	depot_probe(DEPOT_PUSHED);
	MEM_KILL_FENCE();
	s->held = NULL;
	MEM_KILL_FENCE();
	__atomic_store_n(&d->n, k + 1, __ATOMIC_RELAXED);
	depot_count(mc, blocks, (int64_t)bytes);
	op_set(s, 0);
	flow_add(&s->flow.chains, 1);
	flow_add(&s->flow.to_depot, blocks);
}

/* The depot's last chain of class c (there is one) into the slot: onto
 * the empty held, or in front of list c (its tail's link, then the
 * list's head); returns it (global lock held). */
static void *depot_pop(struct mem_cache *mc, struct cache_slot *s,
		unsigned c, uint32_t via, uint32_t *blocks, uint64_t *bytes)
{
	struct cache_depot *d = &mc->depot[c];
	uint32_t k = d->n - 1, op = (c + 1) | via;
	void *chain = d->chain[k];
	*blocks = d->blocks[k];
	*bytes = d->bytes[k];
	op_set(s, op);
	if (via & DEPOT_VIA_LIST) {
		*cache_link_of(d->tail[k]) = s->cls[c].head;  /* runs into the list */
		MEM_KILL_FENCE();
	}
	*op_word(s, op) = chain;        /* named twice */
	depot_probe(DEPOT_TAKING);
	MEM_KILL_FENCE();
	d->chain[k] = NULL;             /* the slot's now */
	MEM_KILL_FENCE();
	__atomic_store_n(&d->n, k, __ATOMIC_RELAXED);
	depot_count(mc, -(int64_t)*blocks, -(int64_t)*bytes);
	depot_probe(DEPOT_TAKEN);
	op_set(s, 0);
	return chain;
}

static int depot_has(const struct cache_depot *d, const void *chain)
{
	for (unsigned k = 0; k < CACHE_DEPOT_CHAINS; k++)
		if (d->chain[k] == chain)
			return 1;
	return 0;
}

/* A pop in front of list c died before the depot let its chain go: the
 * list is put back as it was (what the chain's tail links to) and the
 * tail ends the chain again (a published chain's tail links nowhere). */
static void depot_unsplice(struct cache_depot *d, struct cache_slot *s,
		unsigned c)
{
	for (unsigned k = 0; k < CACHE_DEPOT_CHAINS; k++) {
		if (!d->chain[k])
			continue;
		void **link = cache_link_of(d->tail[k]);
		if (s->cls[c].head == d->chain[k])
			s->cls[c].head = *link;
		*link = NULL;
	}
}

/* Global lock held: a move between s and the depot that a dead holder
 * left half done keeps the depot's copy of a chain named twice.  Idle
 * (depot_op 0), nothing to do: a live slot's words never name a chain
 * the depot holds outside such a move. */
static void depot_settle(struct mem_cache *mc, struct cache_slot *s)
{
	uint32_t op = __atomic_load_n(&s->depot_op, __ATOMIC_ACQUIRE);
	if (!op)
		return;
	struct cache_depot *d = &mc->depot[op_class(op)];
	if (op & DEPOT_VIA_LIST)
		depot_unsplice(d, s, op_class(op));
	else if (s->held && depot_has(d, s->held))
		s->held = NULL;
	op_set(s, 0);
}

/* Global lock taken over: every class's n and the depot's counters from
 * its entries (a push or a pop may have died between its stores). */
static void depot_recount(struct mem_cache *mc)
{
	uint64_t blocks = 0, bytes = 0;
	for (unsigned c = 0; c < CACHE_CLASSES; c++) {
		struct cache_depot *d = &mc->depot[c];
		uint32_t n = 0;
		for (; n < CACHE_DEPOT_CHAINS && d->chain[n]; n++) {
			blocks += d->blocks[n];
			bytes += d->bytes[n];
		}
		__atomic_store_n(&d->n, n, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&mc->depot_blocks, blocks, __ATOMIC_RELAXED);
	__atomic_store_n(&mc->depot_bytes, bytes, __ATOMIC_RELAXED);
}

/* Give back the first n fragments of list c (slot lock held): as one
 * chain to the depot when held had nothing else and the depot has room,
 * else left on held for the heap (flush_held()).  locked: the caller
 * holds the global lock (a budget flush gives back several lists in one
 * section); else it is taken here if the depot has room. */
static void give_back(struct mem_pool *pool, struct cache_slot *s,
		unsigned c, uint32_t n, int locked)
{
	struct mem_cache *mc = pool->cache;
	int alone = !s->held;
	uint32_t blocks;
	void *tail = NULL;
	uint64_t bytes = detach(s, c, n, &blocks, &tail);
	if (!alone || !blocks || !depot_room(mc, c, bytes))
		return;
	if (!locked)
		mem_pool_lock(pool);
	if (!mem_pool_broken(pool) && depot_room(mc, c, bytes))
		depot_push(mc, s, c, tail, blocks, bytes);
	if (!locked)
		mem_pool_unlock(pool);
}

/* A refill's first try (slot and global lock held): chains of class c
 * from the depot in front of list c, up to want fragments and as long as
 * the slot's budget takes them; returns the caller's fragment (moving
 * names it), or NULL; *got: the fragments taken. */
static void *depot_refill(struct mem_cache *mc, struct cache_slot *s,
		unsigned c, unsigned want, unsigned *got)
{
	struct cache_depot *d = &mc->depot[c];
	uint32_t blocks;
	uint64_t bytes;
	while (*got < want && d->n && s->bytes + d->bytes[d->n - 1] <=
			mc->limit) {
		depot_pop(mc, s, c, DEPOT_VIA_LIST, &blocks, &bytes);
		s->cls[c].count += blocks;
		count(s, blocks, (int64_t)bytes);
		*got += blocks;
	}
	return *got ? pop(s, c) : NULL;
}

int cache_in_backend(struct mem_pool *pool)
{
	struct mem_cache *c = pool->cache;
	uint32_t n = __atomic_load_n(&c->nslots, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++)
		if (c->slot[i].freeing || c->slot[i].cutting)
			return 1;
	return 0;
}

void cache_recover(struct mem_pool *pool)
{
	struct mem_cache *c = pool->cache;
	uint32_t n = __atomic_load_n(&c->nslots, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++) {
		depot_settle(c, &c->slot[i]);
		recover_freeing(pool, &c->slot[i]);
		recover_cut(pool, &c->slot[i]);
	}
	depot_recount(c);
}

/* moving, found by slot_repair() off every list: did its caller never get
 * it?  Parked, it had not left the cache.  With MEMDBG, a record still
 * busy (debug.h) was being rewritten by unpark() for the caller, which
 * died before it returned: parked again here, so that it goes to the
 * heap, instead of being left live-looking to nobody, a fragment that
 * no free accepts (its tag is neither live nor freed). */
static int never_handed_out(void *m)
{
#if MEMDBG
	if (dbg_state(m) == DBG_BUSY) {
		park_fresh(dbg_payload(m), dbg_usable(m));
		return 1;
	}
#endif
	return is_parked(m);
}

/* The free queue's words ("The free queue", below): release builds only;
 * a debug build's slot has none. */
#if !MEMDBG
static void fq_to_held(struct mem_pool *pool, struct cache_slot *s);

/* The entry holding p, or -1. */
static inline int fq_find(const struct cache_slot *s, const void *p)
{
	for (unsigned i = 0; i < CACHE_FQ; i++)
		if (s->fq[i] == p)
			return (int)i;
	return -1;
}

static inline uint32_t fq_waiting(const struct cache_slot *s)
{
	return __atomic_load_n(&s->fq_len, __ATOMIC_RELAXED);
}

static inline void fq_out_clear(struct cache_slot *s)
{
	s->fq_out = NULL;
}
#else
static inline void fq_to_held(struct mem_pool *pool, struct cache_slot *s)
{
	(void)pool; (void)s;
}

static inline int fq_find(const struct cache_slot *s, const void *p)
{
	(void)s; (void)p;
	return -1;
}

static inline uint32_t fq_waiting(const struct cache_slot *s)
{
	(void)s;
	return 0;
}

static inline void fq_out_clear(struct cache_slot *s)
{
	(void)s;
}
#endif

/* The slot of a process that died holding it: lists are sound (a push
 * or pop is two stores, each leaving a list), counters may not be, and
 * one fragment may be in no list: moving.  Not handed out yet, it was on
 * its way to held or out of the cache before the caller got it: it joins
 * held.  Live, it reached its caller (unparked, or never parked).
 * The holder may have died inside a global section, which leaves words
 * of this slot (a depot move, held's head being freed, a cut) to whoever
 * takes the global lock over (cache_recover()), without this slot: the
 * repair runs under the global lock, so that it waits for that recovery
 * or makes it, and none can run on this slot afterwards (only a holder
 * of this slot, now us, starts those sections).  Before, only a depot
 * move took the global lock here, and a repair could push moving onto
 * held while a takeover's recover_freeing() rewrote held. */
static void slot_repair(struct mem_pool *pool, struct cache_slot *s)
{
	uint64_t blocks = 0, bytes = 0;
	mem_pool_lock(pool);
	depot_settle(pool->cache, s);
	void *m = s->moving;
	s->moving = NULL;
	if (m && !on_a_list(s, m) && never_handed_out(m)) {
		*cache_link_of(m) = s->held;
		s->held = m;
	}
	for (unsigned c = 0; c < CACHE_CLASSES; c++) {
		s->cls[c].count = 0;
		for (void *u = s->cls[c].head; u; u = *cache_link_of(u)) {
			s->cls[c].count++;
			blocks++;
			bytes += parked_size(s, c, u);
		}
	}
	__atomic_store_n(&s->blocks, blocks, __ATOMIC_RELAXED);
	__atomic_store_n(&s->bytes, bytes, __ATOMIC_RELAXED);
	mem_pool_unlock(pool);
	fq_to_held(pool, s);    /* a drainer of this slot died in its queue */
}

/* --- slot holds -------------------------------------------------------------
 *
 * A slot is held by its owner on every cached operation and by anyone
 * else almost never (a drain, another thread of the owner).  The slot
 * lock's CAS cost little by itself, but a locked instruction waits for
 * every store before it to complete: the caller's writes to the memory
 * it was just handed, cache misses that would otherwise retire in the
 * background.  At 8 processes on 2 CPUs, W3 spent 18 % of its samples on
 * that CAS (perf annotate, MEMDBG=1).  So the thread that claimed the
 * slot (fast, its lock word) holds it with plain stores, and the rare
 * other holder pays for the ordering (fence.h):
 *
 *   fast hold (s->fast is me)            locked hold (anyone)
 *   busy = 1                             take the slot lock
 *   req == 0 and fast still me ?         fast set and not me:
 *     in : busy = 0, locked hold           req = 1, mem_fence_others(),
 *   ... the operation ...                  wait until busy == 0
 *   busy = 0 (release)                   ... the operation ...
 *                                        req = 0 (release), drop the lock
 *
 * fast changes only under the slot lock: the claiming thread sets it once
 * its process joined the fence (slot_claimed), and a stopping holder
 * clears it, with req set until its release, when the owner is dead (its
 * drain) or when it is another thread of the owner process (threads that
 * share a slot take the lock from then on, as before).  A fast hold reads
 * fast again after req, so that one that finds req cleared also finds
 * the fast that was cleared before it.  A locked holder that finds fast
 * 0 needs no fence: nobody can hold the slot fast until it lets the lock
 * go.  A fast holder that died inside (busy stays 1) is
 * found dead by whoever waits for it, and the slot is repaired as after
 * a lock holder's death; so is a locked holder's req left at 1, which the
 * next taker of the lock rewrites.  A fence the kernel refuses (it
 * allowed the join, so only a sandbox added since could) is reported, and
 * the slot is waited out the long way, then held by the lock for good. */

enum { HOLD_FAST, HOLD_LOCKED, HOLD_STOPPED };

static inline uint64_t owner_load(const struct cache_slot *s)
{
	return __atomic_load_n(&s->owner, __ATOMIC_ACQUIRE);
}

static inline uint64_t self_owner(void);

/* The fast holder is out (1: it died inside, busy cleared for it); the
 * slot lock and req are ours: lock.c's polled wait, on busy. */
static int fast_wait_out(struct cache_slot *s, uint64_t fast)
{
	if (!mem_wait_clear(&s->busy, fast))
		return 0;
	__atomic_store_n(&s->busy, 0, __ATOMIC_RELAXED);
	return 1;
}

/* Stop fast holds for a locked hold: 1 when the fast holder died inside. */
static int fast_stop(struct mem_pool *pool, struct cache_slot *s,
		uint64_t fast)
{
	__atomic_store_n(&s->req, 1, __ATOMIC_RELAXED);
	if (mem_fence_others() == 0)
		return fast_wait_out(s, fast);
	mem_log(MEM_L_ERR, "%s: cache slot %u: the kernel refused a memory "
		"fence (membarrier); its owner takes the slot lock from now on",
		pool->name, (unsigned)(s - pool->cache->slot));
	int dead = fast_wait_out(s, fast);
	struct timespec ts = { 0, LOCK_NAP_MAX_US * 1000L };
	nanosleep(&ts, NULL);   /* the owner's store buffer, the long way */
	dead |= fast_wait_out(s, fast);
	__atomic_store_n(&s->fast, 0, __ATOMIC_RELAXED);
	return dead;
}

/* The slot lock, then no fast holder inside; taken over from a dead
 * holder (of either kind), the slot is repaired and what that holder
 * had on its way to the heap goes there now. */
static __attribute__((noinline)) int slot_lock_slow(struct mem_pool *pool,
		struct cache_slot *s, uint64_t self)
{
	int dead = mem_plock_get(&s->lock), hold = HOLD_LOCKED;
	uint64_t fast = __atomic_load_n(&s->fast, __ATOMIC_RELAXED);
	if (fast && fast != self) {
		dead |= fast_stop(pool, s, fast);
		hold = HOLD_STOPPED;    /* req stays set until the release */
		if (owner_load(s) == self_owner())      /* threads share it */
			__atomic_store_n(&s->fast, 0, __ATOMIC_RELAXED);
	} else if (__atomic_load_n(&s->req, __ATOMIC_RELAXED)) {
		/* nobody stops fast holds without the lock: a dead holder's */
		__atomic_store_n(&s->req, 0, __ATOMIC_RELAXED);
	}
	if (dead) {
		slot_repair(pool, s);
		flush_held(pool, s);
	}
	return hold;
}

/* Hold s for one operation: HOLD_* for slot_unlock(). */
static inline __attribute__((always_inline)) int slot_lock(
		struct mem_pool *pool, struct cache_slot *s)
{
	uint64_t self = mem_lock_self();
	if (__builtin_expect(__atomic_load_n(&s->fast, __ATOMIC_RELAXED) ==
			self, 1)) {
		__atomic_store_n(&s->busy, 1, __ATOMIC_RELAXED);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);  /* fence.h */
		/* fast again after req: a holder that cleared fast did so
		 * with req set, and cleared req after (release) */
		if (__builtin_expect(!__atomic_load_n(&s->req,
				__ATOMIC_ACQUIRE) && __atomic_load_n(&s->fast,
				__ATOMIC_RELAXED) == self, 1))
			return HOLD_FAST;
		__atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
	}
	return slot_lock_slow(pool, s, self);
}

static inline __attribute__((always_inline)) void slot_unlock(
		struct cache_slot *s, int hold)
{
	if (__builtin_expect(hold == HOLD_FAST, 1)) {
		__atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
		return;
	}
	if (hold == HOLD_STOPPED)
		__atomic_store_n(&s->req, 0, __ATOMIC_RELEASE);
	mem_plock_release(&s->lock);
}

/* A dead owner's in-place realloc (cache_realloc) that died rewriting
 * the record (busy): the fragment is live, and its caller may have shared
 * it, so the record is finished for its block, at the size it holds (the
 * old or the new one: both fit), and any free takes it again. */
static void resize_repair(struct mem_pool *pool, struct cache_slot *s)
{
	void *u = s->resizing;
	s->resizing = NULL;
#if MEMDBG
	if (!u || dbg_state(u) != DBG_BUSY)
		return;
	uint64_t req = dbg_resize_settle(u, POOL_BE(pool)->usable_size(
		pool->st, dbg_payload(u)));
	mem_log(MEM_L_WARN, "%s: fragment %p was being resized in its cache "
		"when its process died: its record now says %llu bytes",
		pool->name, u, (unsigned long long)req);
#else
	(void)pool;
	(void)u;
#endif
}

/* Empty a whole slot (its lock taken here and held until the heap has
 * everything: a drainer that dies leaves held to the next one).  dead:
 * the owner found dead, whose ownership is cleared (compare-and-swap,
 * under the slot lock) if the slot still names it; a slot that changed
 * hands meanwhile is left alone.  0: drain whatever the owner. */

static size_t slot_drain(struct mem_pool *pool, struct cache_slot *s,
		uint64_t dead)
{
	size_t n;
	int hold = slot_lock(pool, s);
	if (dead && owner_load(s) != dead) {
		slot_unlock(s, hold);
		return 0;
	}
	if (dead)
		resize_repair(pool, s);
	fq_to_held(pool, s);
	for (unsigned c = 0; c < CACHE_CLASSES; c++) {
		uint32_t blocks;
		void *tail;
		detach(s, c, UINT32_MAX, &blocks, &tail);
	}
	n = flush_held(pool, s);
	if (dead) {     /* the next claimer names its own fast thread */
		__atomic_store_n(&s->fast, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&s->busy, 0, __ATOMIC_RELAXED);
		__atomic_compare_exchange_n(&s->owner, &dead, 0, 0,
			__ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	}
	slot_unlock(s, hold);
	return n;
}

/* --- slots ---------------------------------------------------------------- */

size_t cache_size(void)
{
	return sizeof(struct mem_cache);
}

/* How many fragments list k may hold before half of it is flushed (see
 * "Sizing" above). */
static uint32_t list_max(unsigned k)
{
	uint64_t max = (k < CACHE_EXACT ? CACHE_CLASS_BYTES :
		CACHE_BIG_BYTES) / class_low(k);
	uint64_t lo = k < CACHE_EXACT ? 8 : 1;
	return (uint32_t)(max < lo ? lo : max > CACHE_LIST_MAX ?
		CACHE_LIST_MAX : max);
}

void cache_init(struct mem_cache *c, size_t limit, unsigned overhead,
		size_t pool_size)
{
	my_slot = NULL;    /* a new segment may reuse the old one's address */
	my_cache = NULL;
	my_owner = 0;
	memset(c, 0, sizeof(*c));
	c->limit = c->park_limit = limit;
	c->depot_limit = 2 * limit;     /* a handoff's flow, with room */
	c->room = pool_size / 8 < CACHE_ROOM ? pool_size / 8 : CACHE_ROOM;
	c->overhead = overhead;
	for (unsigned i = 0; i < CACHE_SLOTS; i++) {
		mem_plock_init(&c->slot[i].lock);
		c->slot[i].slack = (16 - overhead % 16) % 16;
		for (unsigned k = 1; k < CACHE_CLASSES; k++) {
			c->slot[i].cls[k].max = list_max(k);
		}
	}
}

static inline uint64_t self_owner(void)
{
	const struct mem_self_proc *me = mem_self_proc();
	return (uint64_t)(uint32_t)me->pid | (uint64_t)me->pgen << 32;
}

static inline pid_t owner_pid(uint64_t owner)
{
	return (pid_t)(uint32_t)owner;
}

/* Is the slot's owner gone?  Our own pid with another generation is a
 * dead predecessor whose pid we were given. */
static int owner_gone(uint64_t owner, uint64_t self)
{
	if (!owner || owner == self)
		return 0;
	if (owner_pid(owner) == owner_pid(self))
		return 1;
	return mem_task_dead((uint32_t)owner, (uint32_t)(owner >> 32));
}

static void nslots_raise(struct mem_cache *c, uint32_t i)
{
	uint32_t n = __atomic_load_n(&c->nslots, __ATOMIC_RELAXED);
	while (n < i + 1 && !__atomic_compare_exchange_n(&c->nslots, &n,
			i + 1, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

/* A free slot, claimed by compare-and-swap. */
static struct cache_slot *slot_claim(struct mem_cache *c, uint64_t self)
{
	for (unsigned i = 0; i < CACHE_SLOTS; i++) {
		uint64_t zero = 0;
		if (__atomic_compare_exchange_n(&c->slot[i].owner, &zero, self,
				0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			nslots_raise(c, i);
			return &c->slot[i];
		}
	}
	return NULL;
}

/* Slots a dead predecessor with our pid left: give them back first, so
 * that we never adopt one (its lock may name our pid). */
static void reclaim_predecessor(struct mem_pool *pool, uint64_t self)
{
	struct mem_cache *c = pool->cache;
	uint32_t n = __atomic_load_n(&c->nslots, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++) {
		uint64_t o = owner_load(&c->slot[i]);
		if (o != self && o && owner_pid(o) == owner_pid(self))
			__atomic_fetch_add(&c->reclaimed,
				slot_drain(pool, &c->slot[i], o),
				__ATOMIC_RELAXED);
	}
}

static struct cache_slot *slot_find(struct mem_pool *pool, uint64_t self)
{
	struct cache_slot *s;
	reclaim_predecessor(pool, self);
	s = slot_claim(pool->cache, self);
	if (!s && cache_reclaim_dead(pool))
		s = slot_claim(pool->cache, self);
	return s;
}

/* The slot this process uses, if it is still valid for self. */
static inline struct cache_slot *slot_mine(struct mem_pool *pool,
		uint64_t self)
{
	struct cache_slot *s = __atomic_load_n(&my_slot, __ATOMIC_RELAXED);
	if (__atomic_load_n(&my_owner, __ATOMIC_ACQUIRE) == self &&
	    __atomic_load_n(&my_cache, __ATOMIC_RELAXED) == pool->cache &&
	    s && owner_load(s) == self)
		return s;
	return NULL;
}

int cache_fast_holds = 1;

/* The claiming thread holds the slot fast from now on, once its process
 * has joined the fence ("Slot holds"). */
static void slot_claimed(struct mem_pool *pool, struct cache_slot *s)
{
	if (!cache_fast_holds || mem_fence_join() < 0)
		return;
	int hold = slot_lock(pool, s);
	__atomic_store_n(&s->fast, mem_lock_self(), __ATOMIC_RELAXED);
	slot_unlock(s, hold);
}

/* Threads of a process share its slot: the first of them to get here
 * claims it, the others wait and take the same one (two claims at once
 * would leave a slot named by us and used by nobody).  The word holds the
 * claiming process's identity, so a child forked while a thread of its
 * parent was here finds another identity in it and takes it over. */
static __attribute__((noinline)) struct cache_slot *slot_settle(
		struct mem_pool *pool, uint64_t self)
{
	static uint64_t settling;
	uint64_t cur = 0;
	while (!__atomic_compare_exchange_n(&settling, &cur, self, 0,
			__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		if (cur != self)
			continue;       /* a forked parent's: take it over */
		sched_yield();
		cur = 0;
	}
	struct cache_slot *s = slot_mine(pool, self);
	if (!s) {
		s = slot_find(pool, self);
		if (s)
			slot_claimed(pool, s);
		__atomic_store_n(&my_slot, s, __ATOMIC_RELAXED);
		__atomic_store_n(&my_cache, pool->cache, __ATOMIC_RELAXED);
		__atomic_store_n(&my_owner, self, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&settling, 0, __ATOMIC_RELEASE);
	return s;
}

static inline __attribute__((always_inline)) struct cache_slot *slot_get(
		struct mem_pool *pool)
{
	uint64_t self = self_owner();
	struct cache_slot *s = slot_mine(pool, self);
	return __builtin_expect(s != NULL, 1) ? s : slot_settle(pool, self);
}

size_t cache_reclaim_dead(struct mem_pool *pool)
{
	size_t n = 0;
	uint64_t self = self_owner();
	struct mem_cache *c = pool->cache;
	uint32_t nslots = __atomic_load_n(&c->nslots, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < nslots; i++) {
		uint64_t o = owner_load(&c->slot[i]);
		if (owner_gone(o, self))
			n += slot_drain(pool, &c->slot[i], o);
	}
	if (n)
		__atomic_fetch_add(&c->reclaimed, n, __ATOMIC_RELAXED);
	return n;
}

/* Every chain of the depot to the heap, through this process's slot
 * (held, then flush_held()): one chain per pair of global sections. */
static size_t depot_drain(struct mem_pool *pool)
{
	struct mem_cache *mc = pool->cache;
	struct cache_slot *s;
	size_t n = 0;
	if (!__atomic_load_n(&mc->depot_blocks, __ATOMIC_RELAXED) ||
	    !(s = slot_get(pool)))
		return 0;
	int hold = slot_lock(pool, s);
	n += flush_held(pool, s);
	for (unsigned c = 0; c < CACHE_CLASSES; c++) {
		while (__atomic_load_n(&mc->depot[c].n, __ATOMIC_RELAXED)) {
			uint32_t blocks;
			uint64_t bytes;
			int got = 0;
			mem_pool_lock(pool);
			if (mc->depot[c].n && !s->held) {
				depot_pop(mc, s, c, 0, &blocks, &bytes);
				got = 1;
			}
			mem_pool_unlock(pool);
			if (!got)
				break;
			n += flush_held(pool, s);
		}
	}
	slot_unlock(s, hold);
	return n;
}

/* Every slot that holds anything, whoever owns it (or nobody). */
size_t cache_drain_all(struct mem_pool *pool)
{
	struct mem_cache *c = pool->cache;
	size_t n = cache_reclaim_dead(pool);
	uint32_t nslots = __atomic_load_n(&c->nslots, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < nslots; i++)
		if (__atomic_load_n(&c->slot[i].blocks, __ATOMIC_RELAXED) ||
		    __atomic_load_n(&c->slot[i].held, __ATOMIC_RELAXED) ||
		    fq_waiting(&c->slot[i]))
			n += slot_drain(pool, &c->slot[i], 0);
	return n + depot_drain(pool);
}

/* Drain only when it can help: the request fits in what the heap has free
 * plus what is parked (an absurd size drains nothing).  That is also the
 * rate limit: a drain empties every cache, so the next one flushes only
 * what was parked since, and a slot with nothing parked costs one read. */
size_t cache_drain_for(struct mem_pool *pool, uint64_t need,
		uint64_t heap_free)
{
	uint64_t bytes, blocks;
	cache_totals(pool, &bytes, &blocks);
	if (!blocks || need > heap_free + bytes)
		return 0;
	__atomic_fetch_add(&pool->cache->drains, 1, __ATOMIC_RELAXED);
	return cache_drain_all(pool);
}

/* Only slots ever claimed can hold anything: a slot's first push follows
 * the claim that raised nslots. */
void cache_totals(struct mem_pool *pool, uint64_t *bytes, uint64_t *blocks)
{
	struct mem_cache *c = pool->cache;
	uint32_t n = __atomic_load_n(&c->nslots, __ATOMIC_ACQUIRE);
	*bytes = *blocks = 0;
	for (unsigned i = 0; i < n; i++) {
		*bytes += __atomic_load_n(&c->slot[i].bytes, __ATOMIC_RELAXED);
		*blocks += __atomic_load_n(&c->slot[i].blocks,
				__ATOMIC_RELAXED);
	}
	*bytes += __atomic_load_n(&c->depot_bytes, __ATOMIC_RELAXED);
	*blocks += __atomic_load_n(&c->depot_blocks, __ATOMIC_RELAXED);
}

void cache_flow(struct mem_pool *pool, struct shm_cache_flow *f)
{
	struct mem_cache *c = pool->cache;
	uint32_t n = __atomic_load_n(&c->nslots, __ATOMIC_ACQUIRE);
	*f = (struct shm_cache_flow){ 0 };
	for (unsigned i = 0; i < n; i++) {
		const struct shm_cache_flow *s = &c->slot[i].flow;
		f->refills += __atomic_load_n(&s->refills, __ATOMIC_RELAXED);
		f->from_depot += __atomic_load_n(&s->from_depot,
			__ATOMIC_RELAXED);
		f->cut += __atomic_load_n(&s->cut, __ATOMIC_RELAXED);
		f->chains += __atomic_load_n(&s->chains, __ATOMIC_RELAXED);
		f->to_depot += __atomic_load_n(&s->to_depot, __ATOMIC_RELAXED);
		f->to_heap += __atomic_load_n(&s->to_heap, __ATOMIC_RELAXED);
		f->over_budget += __atomic_load_n(&s->over_budget,
			__ATOMIC_RELAXED);
	}
	f->drains = __atomic_load_n(&c->drains, __ATOMIC_RELAXED);
	f->reclaimed = __atomic_load_n(&c->reclaimed, __ATOMIC_RELAXED);
}

/* Raise the callers' peak to real (never lowers it); returns the peak. */
static uint64_t peak_raise(struct mem_cache *c, uint64_t real)
{
	uint64_t m = __atomic_load_n(&c->max_used, __ATOMIC_RELAXED);
	while (real > m && !__atomic_compare_exchange_n(&c->max_used, &m,
			real, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	return real > m ? real : m;
}

/* The callers' real_used from the heap's: parked blocks out.  The slots
 * are summed after the heap's counters were read, so a refill that ran in
 * between may put them ahead for a moment: never go below floor (the
 * callers' used_size, or 0). */
static uint64_t callers_real(uint64_t heap_real, uint64_t floor,
		uint64_t parked_full)
{
	return heap_real - floor < parked_full ? floor : heap_real - parked_full;
}

void cache_info(struct mem_pool *pool, struct mem_info *mi)
{
	uint64_t bytes, blocks;
	cache_totals(pool, &bytes, &blocks);
	mi->cached = bytes < mi->used_size ? bytes : mi->used_size;
	mi->used_size -= mi->cached;
	mi->real_used = callers_real(mi->real_used, mi->used_size,
		bytes + blocks * pool->cache->overhead);
	mi->free_size = mi->total_size - mi->real_used;
	mi->max_used = peak_raise(pool->cache, mi->real_used);
}

/* The callers' real_used is at most the heap's: below the peak, the heap
 * cannot show a new one, and the slots are not read. */
void cache_peak(struct mem_pool *pool, uint64_t heap_real)
{
	struct mem_cache *c = pool->cache;
	uint64_t bytes, blocks;
	if (heap_real <= __atomic_load_n(&c->max_used, __ATOMIC_RELAXED))
		return;
	cache_totals(pool, &bytes, &blocks);
	peak_raise(c, callers_real(heap_real, 0,
		bytes + blocks * c->overhead));
}

/* --- room ------------------------------------------------------------------ */

/* Global lock held, the heap just changed (a refill, a flush, a locked
 * malloc, realloc or free): tight when the heap has no free block of
 * room bytes, roomy again once it has one of twice that (so that a heap
 * at the edge does not flip the word every section).  The word is written
 * only when it changes: the fast paths read it beside limit. */
void cache_room(struct mem_pool *pool)
{
	struct mem_cache *c = pool->cache;
	int was = !c->park_limit;
	int room = !!POOL_BE(pool)->has_room(pool->st,
		was ? 2 * c->room : c->room);
	if (room == was)
		__atomic_store_n(&c->park_limit, was ? c->limit : 0,
			__ATOMIC_RELAXED);
}

static inline int tight(const struct mem_pool *pool)
{
	return __builtin_expect(!__atomic_load_n(&pool->cache->park_limit,
		__ATOMIC_RELAXED), 0);
}

/* --- the fast paths ------------------------------------------------------- */

/* Cut one fragment of class c for a refill (global lock held): the
 * backend's last() is noted first, so that a process killed between the
 * backend's malloc and the push leaves a fragment recover_cut() finds. */
static void *cut(struct mem_pool *pool, struct cache_slot *s, unsigned c,
		uint64_t *usable, const struct mem_site *site)
{
	const struct mem_backend *be = POOL_BE(pool);
	be->last(pool->st, &s->cut_seq);
	MEM_KILL_FENCE();
	s->cutting = 1;
	MEM_KILL_FENCE();
	void *payload = be->malloc(pool->st, class_low(c));
	if (!payload)
		return NULL;
	*usable = be->usable_size(pool->st, payload);
#if MEMDBG
	mem_heap_taken(pool, payload, *usable, site);
#else
	(void)site;
#endif
	return park_fresh(payload, *usable);
}

/* Refill the empty list c in one global-lock section (slot lock held):
 * with a whole chain from the depot if it has one (depot_refill()), and
 * up to the batch size (a short chain is topped up) cut fragments from
 * the backend, CACHE_BATCH at most; park them in s as they come, but the
 * first, which is
 * the caller's (moving until it is unparked).  A backend may hand out
 * more than class_low(c) (a remainder too small to stand alone): such a
 * fragment parks in the class of its own size, so that every exact list
 * holds one usable size (parked_size). */
static void *refill(struct mem_pool *pool, struct cache_slot *s, unsigned c,
		const struct mem_site *site)
{
	unsigned want = s->cls[c].max / 2, got = 0;
	uint64_t room = pool->cache->limit > s->bytes ?
		(pool->cache->limit - s->bytes) / class_low(c) : 0;
	void *first = NULL, *user;
	uint64_t usable;
	want = want > room + 1 ? (unsigned)room + 1 : want;   /* the budget */
	want = want < 1 ? 1 : want > CACHE_BATCH ? CACHE_BATCH : want;
	mem_pool_lock(pool);
	if (!mem_pool_broken(pool))
		first = depot_refill(pool->cache, s, c, want, &got);
	unsigned from_depot = got;
	for (; got < want && !mem_pool_broken(pool) &&
			(user = cut(pool, s, c, &usable, site)); got++) {
		if (got)
			push_sized(s, user, usable);
		else
			first = s->moving = user;
		MEM_KILL_FENCE();
		s->cutting = 0;
	}
	s->cutting = 0;
	flow_add(&s->flow.refills, 1);
	flow_add(&s->flow.from_depot, from_depot);
	flow_add(&s->flow.cut, got - from_depot);
	uint64_t heap_real = mem_heap_real_used(pool);
	cache_room(pool);
	mem_pool_unlock(pool);
	if (got > from_depot)
		cache_peak(pool, heap_real);
	return first;
}

void *cache_malloc(struct mem_pool *pool, size_t size,
		const struct mem_site *site)
{
	if (size >= CACHE_MAX_USABLE)   /* before any sum can wrap */
		return NULL;
	uint64_t need = (uint64_t)(size ? size : 1) + DBG_EXTRA;
	unsigned exact = (unsigned)((need + 15) / 16);
	/* an exact class holds only what fits; past them, the class of need
	 * (at least the first big class) and the one after it */
	int c = exact < CACHE_EXACT ? (int)exact :
		class_floor(need > CACHE_EXACT_MAX ? need : CACHE_EXACT_MAX);
	struct cache_slot *s = c < 0 ? NULL : slot_get(pool);
	if (!s)
		return NULL;
	int hold = slot_lock(pool, s);
	void *user = c < CACHE_EXACT ? pop(s, (unsigned)c) :
		pop_big(s, (unsigned)c, need);
	/* A big miss refills the next class, whose every fragment fits;
	 * the last class, and any miss while the heap is tight, takes the
	 * locked path. */
	if (!user && c + 1 < CACHE_CLASSES && !tight(pool))
		user = refill(pool, s, (unsigned)c + (c >= CACHE_EXACT), site);
	if (user)       /* under the slot lock: moving names it till then */
		user = unpark(pool, user, size, site);
	MEM_KILL_FENCE();
	s->moving = NULL;
	slot_unlock(s, hold);
	if (user && fq_waiting(s) && fq_find(s, user) >= 0)
		cache_fq_handed_out(pool, user);
	return user;
}

/* What park_class() found: a class (>= 0), or one of these. */
enum { PARK_LOCKED = -1, PARK_MISUSE = -2 };

/* The class a fragment parks in, or PARK_LOCKED when it cannot be cached:
 * outside the pool (the locked path reports it), too big, or too small to
 * hold the parked mark and the link; *usable is its usable size.  Each
 * check is made once, here, inline: the free and realloc paths call no
 * mem_used_fragment() for a fragment that passes.  With MEMDBG a live
 * record gives the size (its line is read anyway for the tag), and the
 * backend's header is not touched; a record that is not live is
 * PARK_MISUSE, which mem_used_fragment() reports.  Otherwise the block's
 * own header says (mem_own_usable: one line, the next header is left to
 * the flush), a pointer it refuses (0) takes the locked path, whose full
 * check names the mistake, and a parked mark on a used block is a double
 * free (PARK_MISUSE). */
static inline int park_class(struct mem_pool *pool, void *p,
		uint64_t *usable)
{
	*usable = 0;
	if ((char *)p < pool->start + DBG_HEAD || (char *)p >= pool->end ||
	    (uintptr_t)p % MEM_ALIGN)
		return PARK_LOCKED;
#if MEMDBG
	if (dbg_state(p) != DBG_LIVE)
		return PARK_MISUSE;
	*usable = dbg_usable(p);
	if (*usable < dbg_hdr(p)->req + DBG_EXTRA)
		return PARK_LOCKED;  /* a record that disagrees: the locked
					path checks */
#else
	*usable = mem_own_usable(pool, dbg_payload(p));
#endif
	if (*usable < DBG_HEAD + 16)
		return PARK_LOCKED;
#if !MEMDBG
	if (is_parked(p))
		return PARK_MISUSE;
#endif
	return class_floor(*usable);
}

/* A PARK_MISUSE fragment given to free: mem_used_fragment() reports it
 * (a record not live, or a parked mark) and says 0. */
static void park_misuse(struct mem_pool *pool, void *p,
		const struct mem_site *site)
{
	(void)mem_used_fragment(pool, "free", p, site, CHECK_TRUST_RECORD |
		CHECK_LATER_CANARY | CHECK_OWN_HEADER);
}

/* How many fragments of list k to give back in pass `pass` of a budget
 * flush: first what lies above the level a flush or a refill leaves
 * (max / 2, so that no list is pushed towards a refill), then half of
 * what is left, then everything. */
static uint32_t budget_cut(const struct cache_class *l, unsigned pass)
{
	uint32_t n = l->count;
	return pass == 0 ? (n > l->max / 2 ? n - l->max / 2 : 0) :
		pass == 1 ? n - n / 2 : n;
}

/* What held has (a chain the depot had no room for) to the heap, in the
 * caller's global section: give_back() pushes to the depot only from an
 * empty held (global lock and slot lock held). */
static void held_out(struct mem_pool *pool, struct cache_slot *s)
{
	if (!s->held)
		return;
	held_left(pool, s);
	held_to_heap(pool, s);
}

/* Over its byte budget, a slot gives back lists from a rotating cursor
 * (budget_cut) until it holds at most 3/4 of the budget, so that the next
 * frees do not each cross it again.  Bounded by three passes over the
 * classes.  What it gives back goes to the depot, a chain per list, in
 * one global-lock section, or to held (flush_held) beyond the depot's
 * bound; held goes to the heap in the same section before the next
 * list is given back (held_out), so that one class with no room in the
 * depot does not send every list after it to the heap too.  While the
 * heap is tight the budget is 0 ("Room"): list c, where the free just
 * parked its fragment, goes to held for the heap at once, so that a free
 * costs nothing more than before while the heap has room. */
static void over_budget(struct mem_pool *pool, struct cache_slot *s,
		unsigned c)
{
	uint64_t limit = pool->cache->park_limit, goal = limit - limit / 4;
	int locked = 0;
	if (!limit) {
		uint32_t blocks;
		void *tail;
		detach(s, c, UINT32_MAX, &blocks, &tail);
		return;
	}
	if (s->bytes <= limit)
		return;
	flow_add(&s->flow.over_budget, 1);
	for (unsigned k = 0; s->bytes > goal && k < 3 * CACHE_CLASSES; k++) {
		s->evict = (s->evict + 1) % CACHE_CLASSES;
		uint32_t n = budget_cut(&s->cls[s->evict], k / CACHE_CLASSES);
		if (!n)
			continue;
		if (!locked)
			mem_pool_lock(pool);
		locked = 1;
		held_out(pool, s);
		give_back(pool, s, s->evict, n, 1);
	}
	if (locked) {
		held_out(pool, s);
		mem_pool_unlock(pool);
	}
}

/* Park a checked fragment of class c in s (slot lock held); flush what
 * overflows.  A fragment out of the free queue is named by fq_out until
 * moving names it, parked (the queue's recovery: fq_to_held()). */
static inline __attribute__((always_inline)) void park_locked(
		struct mem_pool *pool, struct cache_slot *s,
		void *p, unsigned c, uint64_t usable, const struct mem_site *site)
{
	s->moving = p;          /* parked but in no list: slot_repair() */
	MEM_KILL_FENCE();
	park(p, site);
	if (c >= CACHE_EXACT)
		set_big_size(p, usable);
	track_free(pool, p);
	MEM_KILL_FENCE();
	fq_out_clear(s);
	MEM_KILL_FENCE();
	push(s, c, p);
	MEM_KILL_FENCE();
	s->moving = NULL;
	if (s->cls[c].count > s->cls[c].max)
		give_back(pool, s, c, s->cls[c].count - s->cls[c].max / 2, 0);
	if (__builtin_expect(s->bytes > pool->cache->park_limit, 0))
		over_budget(pool, s, c);
}

/* Park a checked fragment of class c in s, with the slot lock held
 * throughout (held and moving are its words). */
static inline __attribute__((always_inline)) void park_checked(
		struct mem_pool *pool, struct cache_slot *s,
		void *p, unsigned c, uint64_t usable, const struct mem_site *site)
{
	int hold = slot_lock(pool, s);
	park_locked(pool, s, p, c, usable, site);
	if (__builtin_expect(s->held != NULL, 0))
		flush_held(pool, s);
	slot_unlock(s, hold);
}

/* --- the free queue (MEMDBG=0) --------------------------------------------
 *
 * A free reads its fragment's header (the size chooses the list) and its
 * first word (the parked mark): one line, seldom in the cache when many
 * processes share the CPUs (at 8 processes on 2 CPUs, W3 spent a fifth of
 * its samples on that load).  With the queue, a free prefetches the line
 * and puts the pointer in its slot's ring of CACHE_FQ; the push frees the
 * entry CACHE_FQ pushes old, as without the queue (park_class and
 * park_locked: every check, every report), its line fetched by now.  As
 * pkg's (mem/fqueue.h), with what the shared pool adds:
 *  - the ring is in the slot, under the slot lock: a process that dies
 *    leaves its waiting frees to whoever takes the slot over
 *    (fq_to_held: each goes to the heap), and fq_out names the entry
 *    being taken out while no ring entry does, until moving names it;
 *  - its process's second free of a waiting pointer is reported at its
 *    call; its process's allocation that hands out a waiting pointer
 *    reports that free and drops it (cache_fq_handed_out).  A second
 *    free of it in another process is reported when the later of the two
 *    is made (the parked mark), as any double free there; if the other
 *    process's free parked it and it was handed out in between, a
 *    release build cannot tell (nor can it without the queue, once a
 *    double-freed fragment is reused);
 *  - every process's queue settles (cache_fq_settle_all: fq_to_held
 *    under each slot's lock) before info, the cache counters, walks and
 *    status read, before a request fails and on mem_fq_drain(), so they
 *    read as without the queue; the caller's own (cache_fq_settle) at a
 *    realloc or usable_size of a pointer waiting there.
 * Off with MEMDBG (the debug free fills at the call), under Valgrind,
 * with mem_safety = 0 and with mem_free_queue = 0. */
#if !MEMDBG

static inline int fq_on(void)
{
	return mem_free_queue && mem_safety && !track_watching();
}

/* Free q, out of the queue (slot lock held, fq_out names it): parked in
 * its class, or a fragment past the last class onto held for the heap;
 * anything else (a mistake) is returned, for the locked path's report. */
static void *fq_release(struct mem_pool *pool, struct cache_slot *s,
		void *q, const struct mem_site *site)
{
	uint64_t usable;
	int c = park_class(pool, q, &usable);
	if (c >= 0) {
		park_locked(pool, s, q, (unsigned)c, usable, site);
		return NULL;
	}
	if (c != PARK_LOCKED || usable < DBG_HEAD + 16) {
		s->fq_out = NULL;
		return q;
	}
	s->moving = q;          /* slot_repair(): parked, it joins held */
	MEM_KILL_FENCE();
	park(q, site);
	track_free(pool, q);
	MEM_KILL_FENCE();
	s->fq_out = NULL;
	*cache_link_of(q) = s->held;
	MEM_KILL_FENCE();
	s->held = q;
	MEM_KILL_FENCE();
	s->moving = NULL;
	return NULL;
}

/* Take entry i out (slot lock held) and free it: fq_release(). */
static void *fq_take(struct mem_pool *pool, struct cache_slot *s, unsigned i)
{
	void *q = s->fq[i];
	s->fq_out = q;
	MEM_KILL_FENCE();
	s->fq[i] = NULL;
	MEM_KILL_FENCE();
	return fq_release(pool, s, q, s->fq_site[i]);
}

/* A drain (slot lock held, the owner alive or not): every waiting free
 * of s, and the one its owner was taking out if not parked yet (a kill
 * between naming it and replacing it leaves it in both words), freed;
 * mistakes reported. */
static void fq_to_held(struct mem_pool *pool, struct cache_slot *s)
{
	void *out = s->fq_out;
	for (unsigned i = 0; i < CACHE_FQ; i++) {
		if (!s->fq[i])
			continue;
		if (s->fq[i] == out)
			out = NULL;
		const struct mem_site *site = s->fq_site[i];
		void *x = fq_take(pool, s, i);
		if (x)
			mem_free_locked(pool, x, site);
	}
	s->fq_len = 0;
	s->fq_out = out;
	if (out && !is_parked(out)) {
		void *x = fq_release(pool, s, out, NULL);
		if (x)
			mem_free_locked(pool, x, NULL);
	}
	s->fq_out = NULL;
}

int cache_fq_free(struct mem_pool *pool, void *p, const struct mem_site *site,
		void **late, const struct mem_site **late_site)
{
	struct cache_slot *s;
	*late = NULL;
	if (!fq_on() || (char *)p < pool->start + 16 || (char *)p >= pool->end ||
	    (uintptr_t)p % MEM_ALIGN || !(s = slot_get(pool)))
		return 0;
	__builtin_prefetch((char *)p - 16, 1);
	__builtin_prefetch(p, 1);
	int hold = slot_lock(pool, s);
	if (__builtin_expect(s->fq_len && fq_find(s, p) >= 0, 0)) {
		slot_unlock(s, hold);
		mem_report_bad(pool, "free", p, BAD_DOUBLE, site);
		return 1;
	}
	unsigned i = s->fq_n++ % CACHE_FQ;
	void *q = s->fq[i];
	const struct mem_site *qs = s->fq_site[i];
	s->fq_out = q;
	MEM_KILL_FENCE();
	s->fq_site[i] = site;
	s->fq[i] = p;
	MEM_KILL_FENCE();
	if (q) {
		*late = fq_release(pool, s, q, qs);
		*late_site = qs;
	} else {
		s->fq_out = NULL;
		s->fq_len++;
	}
	if (__builtin_expect(s->held != NULL, 0))
		flush_held(pool, s);
	slot_unlock(s, hold);
	return 1;
}

void cache_fq_settle(struct mem_pool *pool)
{
	struct cache_slot *s = slot_mine(pool, self_owner());
	void *late[CACHE_FQ];
	const struct mem_site *late_site[CACHE_FQ];
	unsigned n = 0;
	if (!s || !__atomic_load_n(&s->fq_len, __ATOMIC_RELAXED))
		return;
	int hold = slot_lock(pool, s);
	for (unsigned k = 0; k < CACHE_FQ; k++) {      /* oldest first */
		unsigned i = (s->fq_n + k) % CACHE_FQ;
		if (!s->fq[i])
			continue;
		const struct mem_site *qs = s->fq_site[i];
		void *x = fq_take(pool, s, i);
		s->fq_len--;
		if (x) {
			late[n] = x;
			late_site[n++] = qs;
		}
	}
	if (s->held)
		flush_held(pool, s);
	slot_unlock(s, hold);
	for (unsigned k = 0; k < n; k++)
		mem_free_locked(pool, late[k], late_site[k]);
}

size_t cache_fq_settle_all(struct mem_pool *pool)
{
	struct mem_cache *c = pool->cache;
	uint32_t nslots = __atomic_load_n(&c->nslots, __ATOMIC_ACQUIRE);
	size_t n = 0;
	for (unsigned i = 0; i < nslots; i++) {
		struct cache_slot *s = &c->slot[i];
		if (!__atomic_load_n(&s->fq_len, __ATOMIC_RELAXED) &&
		    !__atomic_load_n(&s->fq_out, __ATOMIC_RELAXED))
			continue;
		int hold = slot_lock(pool, s);
		n += s->fq_len;
		fq_to_held(pool, s);
		if (s->held)
			flush_held(pool, s);
		slot_unlock(s, hold);
	}
	return n;
}

int cache_fq_holds(struct mem_pool *pool, const void *p)
{
	struct cache_slot *s = slot_mine(pool, self_owner());
	return s && __atomic_load_n(&s->fq_len, __ATOMIC_RELAXED) &&
		fq_find(s, p) >= 0;
}

void cache_fq_handed_out(struct mem_pool *pool, void *p)
{
	struct cache_slot *s = slot_mine(pool, self_owner());
	const struct mem_site *site = NULL;
	int i = -1;
	if (!s || !__atomic_load_n(&s->fq_len, __ATOMIC_RELAXED) ||
	    fq_find(s, p) < 0)
		return;
	int hold = slot_lock(pool, s);
	if ((i = fq_find(s, p)) >= 0) {
		site = s->fq_site[i];
		s->fq[i] = NULL;
		s->fq_len--;
	}
	slot_unlock(s, hold);
	if (i >= 0)
		mem_report_bad(pool, "free", p, BAD_DOUBLE, site);
}

unsigned cache_fq_len(struct mem_pool *pool)
{
	struct cache_slot *s = slot_mine(pool, self_owner());
	return s ? __atomic_load_n(&s->fq_len, __ATOMIC_RELAXED) : 0;
}
#else   /* MEMDBG: no queue */
int cache_fq_free(struct mem_pool *pool, void *p, const struct mem_site *site,
		void **late, const struct mem_site **late_site)
{
	(void)pool; (void)p; (void)site; (void)late_site;
	*late = NULL;
	return 0;
}

void cache_fq_settle(struct mem_pool *pool)
{
	(void)pool;
}

size_t cache_fq_settle_all(struct mem_pool *pool)
{
	(void)pool;
	return 0;
}

int cache_fq_holds(struct mem_pool *pool, const void *p)
{
	(void)pool; (void)p;
	return 0;
}

void cache_fq_handed_out(struct mem_pool *pool, void *p)
{
	(void)pool; (void)p;
}

unsigned cache_fq_len(struct mem_pool *pool)
{
	(void)pool;
	return 0;
}
#endif

int cache_free(struct mem_pool *pool, void *p, const struct mem_site *site)
{
	uint64_t usable;
	int c = park_class(pool, p, &usable);
	struct cache_slot *s = c == PARK_LOCKED ? NULL : slot_get(pool);
	if (!s)
		return 0;
	if (__builtin_expect(c >= 0, 1))
		park_checked(pool, s, p, (unsigned)c, usable, site);
	else
		park_misuse(pool, p, site);
	return 1;
}

/* Realloc between cached sizes (under 256 KiB) without the global lock:
 * keep the fragment when the new size fits and uses at least half of it,
 * else move it to a fragment from the cache (a miss there is one batch
 * refill, as for malloc).  *done = 0: not for this path (or no memory
 * here; the locked path then drains caches before it gives up). */
void *cache_realloc(struct mem_pool *pool, void *p, size_t size,
		const struct mem_site *site, int *done)
{
	uint64_t usable, need = (uint64_t)size + DBG_EXTRA;
	int c = park_class(pool, p, &usable);
	struct cache_slot *s;
	*done = 0;
	if (c == PARK_LOCKED || size >= CACHE_MAX_USABLE ||
	    !(s = slot_get(pool)))
		return NULL;   /* not cached: the locked path resizes in place */
	*done = 1;
	/* MEMDBG: the end canary too; a PARK_MISUSE is reported and 0 */
	if ((c < 0 || MEMDBG) && !mem_used_fragment(pool, "realloc", p, site,
			CHECK_TRUST_RECORD | CHECK_OWN_HEADER))
		return NULL;
	if (c < 0) {    /* it passed the second look: another process made it
			   live in between; the locked path judges it */
		*done = 0;
		return NULL;
	}
	size_t old = mem_user_size(pool, p);
	if (need <= usable && 2 * need >= usable) {
		track_resize(pool, p, old, size);
		s->resizing = p;        /* resize_repair() if we die here */
		MEM_KILL_FENCE();
		dbg_busy(p);
		dbg_on_resize(p, size, usable);
		MEM_KILL_FENCE();
		s->resizing = NULL;
		return p;
	}
	void *q = cache_malloc(pool, size, site);
	if (!q) {
		*done = 0;
		return NULL;
	}
	memcpy(q, p, old < size ? old : size);
	park_checked(pool, s, p, (unsigned)c, usable, site);
	return q;
}

int cache_is_parked(const void *user)
{
	return is_parked(user);
}

/* A fragment the heap hands out on the locked path may start where a
 * parked one started before a flush gave it back: without MEMDBG its
 * first word may still hold that parked mark, and if the caller never
 * writes it, its free would be taken for a double free (and the fragment
 * kept).  The mark is wiped at hand-out, on a line the caller gets anyway. */
void cache_taken(void *user)
{
	mark_wipe(user);
}
