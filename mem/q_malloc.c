/*
 * q_malloc.c - q_malloc ("qm"), the careful backend.
 *
 * What: a boundary-tag allocator meant for debugging.  Every fragment
 * carries a header and a footer, each with its size, a free flag and a
 * guard word, so that free() joins both physical neighbours in O(1) and so
 * that corruption is noticed instead of spread.
 *
 * Layout of the region handed to create():
 *
 *   | struct qm_state | frag | frag | ... | frag | end sentinel | slack |
 *
 * and of one fragment (all words 64-bit, every size a multiple of 16):
 *
 *   used: | size|0 | hcheck | payload (usable bytes) ........ | fcheck | size|0 |
 *   free: | size|F | hcheck | next | prev | (left alone) .... | fcheck | size|F |
 *         ^ header (16)      ^ payload, 16-aligned             ^ footer (16)
 *
 *   hcheck = QM_HDR_MAGIC  ^ address of the header ^ size|flags
 *   fcheck = QM_FOOT_MAGIC ^ address of the footer ^ size|flags
 *
 * Mixing the size word into the guard catches a stray write to the size as
 * well as one to the guard.  The footer starts right after the usable bytes
 * and with its guard word, so writing even one byte past the usable size
 * breaks fcheck, and check() reports it.  The end sentinel is a used
 * header of size 0, so the last fragment never looks for a free successor.
 *
 * Free lists: one exact list per 16 bytes of usable size from QM_MIN_USABLE
 * to QM_EXACT_MAX
 * then four lists per power of two above; a bitmap of non-empty lists makes
 * "smallest list that can hold n" a bit scan.  An exact list holds only
 * fragments that fit, so small requests are O(1); a logarithmic list is
 * searched first fit over at most QM_FIT_PROBES entries, and failing that
 * any fragment of a higher list fits, so malloc is bounded but near
 * exhaustion (no higher list has anything), when the whole list is walked
 * rather than fail while a fragment fits.
 * Lists are LIFO (a fragment just freed is cache-warm).
 *
 * Invariants (all verified by check()):
 *   - fragments tile [first, end) exactly; every guard word is intact;
 *   - no two free fragments are neighbours (free() joins at once);
 *   - every free fragment is on the list of its size exactly once, with
 *     consistent back links; a list's bitmap bit is set iff it is non-empty;
 *   - a fragment absorbed by a neighbour has its header wiped, so a stale
 *     pointer to it is MEM_BLOCK_BAD, never a second "used" block;
 *   - real_used = size of the region not in fragments (state, alignment,
 *     sentinel, slack) + full size of every used fragment, hence
 *     free_size = total_size - real_used = full size of every free fragment.
 *
 * check() verifies them in three pieces (backend.h): per fragment (its
 * guards, a free one's links, no free neighbour), per list (entries free,
 * on the right list, back links consistent), and globally (bitmap,
 * sentinel, counters, as many listed as free).
 *
 * Overhead: 32 bytes per fragment (16 header + 16 footer); the smallest
 * fragment is 48 bytes (16 usable: a free fragment's links), or with MEMDBG
 * 80 bytes (48 usable), so that payload + 16 .. + 48 (the common layer's
 * records of a freed block) stays clear of its footer.  The state is about
 * 3.8 KiB.
 *
 * Costs: malloc O(1) below QM_EXACT_MAX, else one list scan at most plus a
 * bit scan of 8 words; free and resize O(1); block_state O(1) and safe on
 * any pointer into the region; check() O(fragments); walk_from() O(max).
 *
 * Corruption: the backend cannot report (no logging here), so it refuses to
 * make things worse and leaves the evidence to check(): it joins, unlinks
 * or allocates only fragments whose guards and links are all consistent; a
 * broken footer of a block being freed is rewritten from its header; a
 * block whose footer is broken is not resized (the common layer then moves
 * it, and its own canary names the culprit).
 *
 * Each word is checked once, where the operation reads it anyway, and a
 * fragment's list is computed once and handed to qm_unlink():
 *   - free() trusts the block's own header (address, guard, size bound,
 *     used bit); of a physical neighbour it reads the free bit first (a
 *     used one is never joined, so its guard is not computed) and checks
 *     the rest of a free one (guard, footer, both links: qm_joinable) only
 *     to join it;
 *   - malloc() checks a list entry as its walk reaches it: a link read
 *     from the previous entry must lie in the heap, the entry must be a
 *     sound free header whose prev names the entry the walk came from
 *     (NULL for the head: so the walk cannot cycle, and that entry's next
 *     needs no second look); the one taken must also have a sound footer
 *     and a successor that links back to it.  A higher list's head is the
 *     same walk of one entry.
 */
#include "q_malloc.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define QM_HDR_MAGIC   0x5a17c0de9e3779bbULL
#define QM_FOOT_MAGIC  0xf007ba5e7f4a7c1dULL
#define QM_FREE        1ULL
#define QM_FLAG_MASK   ((uint64_t)MEM_ALIGN - 1)

struct qm_hdr {
	uint64_t size_flags;    /* whole fragment size | QM_FREE */
	uint64_t check;         /* hcheck */
};

/* check first: an overflow out of the payload hits the guard before the
 * size. */
struct qm_foot {
	uint64_t check;         /* fcheck */
	uint64_t size_flags;    /* copy of the header's */
};

/* The first 16 payload bytes of a free fragment. */
struct qm_links {
	struct qm_hdr *next;
	struct qm_hdr *prev;
};

_Static_assert(sizeof(struct qm_hdr) == QM_HDR_SIZE, "header is 16 bytes");
_Static_assert(sizeof(struct qm_foot) == QM_FOOT_SIZE, "footer is 16 bytes");
_Static_assert(offsetof(struct qm_foot, check) == 0,
		"an overflow must hit the footer guard first");
_Static_assert(sizeof(struct qm_links) <= 16,
		"links use only the first 16 payload bytes");
_Static_assert(QM_MIN_USABLE >= (MEMDBG ? 48 : 16) &&
		QM_MIN_USABLE % MEM_ALIGN == 0,
		"free footer must stay clear of the links and records");
_Static_assert(QM_HDR_SIZE % MEM_ALIGN == 0 && QM_FOOT_SIZE % MEM_ALIGN == 0,
		"tags keep payloads and fragment sizes 16-aligned");
_Static_assert((QM_HDR_MAGIC & QM_FLAG_MASK & ~QM_FREE) != 0,
		"a zeroed (wiped) header never has a valid guard");
_Static_assert(QM_EXACT_MAX == 4096, "qm_bucket() log classes start at 2^12");

/* Exact lists for usable 48 .. QM_EXACT_MAX, then 4 per power of two from
 * 2^12 up to 2^63. */
#define QM_EXACT_N      (QM_EXACT_MAX / MEM_ALIGN - QM_MIN_USABLE / MEM_ALIGN + 1)
#define QM_LOG_SUB      4
#define QM_LOG_N        ((64 - 12) * QM_LOG_SUB)
#define QM_NBUCKETS     (QM_EXACT_N + QM_LOG_N)
#define QM_BITMAP_WORDS ((QM_NBUCKETS + 63) / 64)

struct qm_state {
	struct qm_hdr *first;   /* first fragment */
	struct qm_hdr *end;     /* end sentinel: a used header of size 0 */
	uint64_t total_size;
	uint64_t used_size;
	uint64_t real_used;
	uint64_t max_used;
	uint64_t free_frags;
	uint64_t bitmap[QM_BITMAP_WORDS];
	struct qm_hdr *bucket[QM_NBUCKETS];
	struct qm_hdr *last;    /* what malloc handed out last (rebuild) */
	uint64_t nlast;         /* mallocs that got that far */
};

/* --- header and footer accessors ---------------------------------------- */

static inline uint64_t qm_size(const struct qm_hdr *h)
{
	return h->size_flags & ~QM_FLAG_MASK;
}

static inline bool qm_is_free(const struct qm_hdr *h)
{
	return (h->size_flags & QM_FREE) != 0;
}

static inline uint64_t qm_usable(const struct qm_hdr *h)
{
	return qm_size(h) - QM_OVERHEAD;
}

static inline void *qm_payload(const struct qm_hdr *h)
{
	return (char *)h + QM_HDR_SIZE;
}

static inline struct qm_hdr *qm_of_payload(const void *p)
{
	return (struct qm_hdr *)((char *)p - QM_HDR_SIZE);
}

static inline struct qm_hdr *qm_at(const struct qm_hdr *h, uint64_t off)
{
	return (struct qm_hdr *)((char *)h + off);
}

static inline struct qm_hdr *qm_next_phys(const struct qm_hdr *h)
{
	return qm_at(h, qm_size(h));
}

static inline struct qm_foot *qm_foot(const struct qm_hdr *h)
{
	return (struct qm_foot *)((char *)h + qm_size(h) - QM_FOOT_SIZE);
}

/* The footer of the physically previous fragment. */
static inline struct qm_foot *qm_prev_foot(const struct qm_hdr *h)
{
	return (struct qm_foot *)((char *)h - QM_FOOT_SIZE);
}

static inline struct qm_links *qm_links(const struct qm_hdr *h)
{
	return (struct qm_links *)qm_payload(h);
}

static inline uint64_t qm_hdr_guard(const struct qm_hdr *h, uint64_t sf)
{
	return QM_HDR_MAGIC ^ (uint64_t)(uintptr_t)h ^ sf;
}

static inline uint64_t qm_foot_guard(const struct qm_foot *f, uint64_t sf)
{
	return QM_FOOT_MAGIC ^ (uint64_t)(uintptr_t)f ^ sf;
}

static inline bool qm_hdr_ok(const struct qm_hdr *h)
{
	return h->check == qm_hdr_guard(h, h->size_flags);
}

static inline bool qm_foot_valid(const struct qm_foot *f)
{
	return f->check == qm_foot_guard(f, f->size_flags);
}

/* The footer is intact and agrees with the header. */
static inline bool qm_foot_ok(const struct qm_hdr *h)
{
	const struct qm_foot *f = qm_foot(h);

	return qm_foot_valid(f) && f->size_flags == h->size_flags;
}

/* Write both tags of a fragment (and so repair a broken footer).  The
 * footer goes first: a process killed between the header's two words
 * leaves a header whose guard fails but whose new size leads to a footer
 * that agrees with it, which rebuild() accepts (qm_torn). */
static void qm_set_tags(struct qm_hdr *h, uint64_t size, bool free)
{
	uint64_t sf = size | (free ? QM_FREE : 0);
	struct qm_foot *f = (struct qm_foot *)((char *)h + size - QM_FOOT_SIZE);

	f->size_flags = sf;
	f->check = qm_foot_guard(f, sf);
	MEM_KILL_FENCE();
	/* size first, guard second, in this order in the binary too (the
	 * compiler would store them either way round): a process killed
	 * between them leaves the new size with the old guard, the torn
	 * header qm_torn() knows and the rebuild mends */
	h->size_flags = sf;
	MEM_KILL_FENCE();
	h->check = qm_hdr_guard(h, sf);
}

/* A header that just became payload of a neighbour: make sure a stale
 * pointer to it is never taken for a block again. */
static inline void qm_wipe_hdr(struct qm_hdr *h)
{
	h->size_flags = 0;
	h->check = 0;
}

/* --- sanity of untrusted addresses -------------------------------------- */

/* h could start a fragment: aligned, and a minimum fragment fits before
 * the sentinel.  Says nothing of what is stored at h. */
static inline bool qm_addr_ok(const struct qm_state *st, const void *h)
{
	const char *c = h;

	return ((uintptr_t)c & QM_FLAG_MASK) == 0 && c >= (char *)st->first &&
		c + QM_MIN_FRAG <= (char *)st->end;
}

/* Header guard intact and its size within the heap. */
static inline bool qm_hdr_sane(const struct qm_state *st, const struct qm_hdr *h)
{
	uint64_t size = qm_size(h);

	return qm_hdr_ok(h) && size >= QM_MIN_FRAG &&
		size <= (uint64_t)((char *)st->end - (char *)h);
}

/* h's own header says used: what block_state() and own_usable() check of
 * a used fragment, and all that free() needs before it trusts the size
 * (the footer and the neighbours are read only to join, see qm_free). */
static inline bool qm_used_ok(const struct qm_state *st,
		const struct qm_hdr *h)
{
	return qm_addr_ok(st, h) && qm_hdr_sane(st, h) && !qm_is_free(h);
}

/* --- free lists --------------------------------------------------------- */

static unsigned qm_bucket(uint64_t usable)
{
	unsigned k;

	if (usable <= QM_EXACT_MAX)
		return (unsigned)(usable / MEM_ALIGN - QM_MIN_USABLE / MEM_ALIGN);
	k = 63u - (unsigned)__builtin_clzll(usable);
	return QM_EXACT_N + (k - 12) * QM_LOG_SUB +
		(unsigned)((usable >> (k - 2)) & (QM_LOG_SUB - 1));
}

static inline void qm_bit_set(struct qm_state *st, unsigned b)
{
	st->bitmap[b / 64] |= 1ULL << (b % 64);
}

static inline void qm_bit_clear(struct qm_state *st, unsigned b)
{
	st->bitmap[b / 64] &= ~(1ULL << (b % 64));
}

static inline bool qm_bit_test(const struct qm_state *st, unsigned b)
{
	return (st->bitmap[b / 64] >> (b % 64)) & 1;
}

/* The first non-empty list at or above b, or -1. */
static int qm_next_bucket(const struct qm_state *st, unsigned b)
{
	unsigned w = b / 64;
	uint64_t bits;

	if (b >= QM_NBUCKETS)
		return -1;
	bits = st->bitmap[w] & (~0ULL << (b % 64));
	while (!bits) {
		if (++w == QM_BITMAP_WORDS)
			return -1;
		bits = st->bitmap[w];
	}
	return (int)(w * 64 + (unsigned)__builtin_ctzll(bits));
}

static inline void qm_insert(struct qm_state *st, struct qm_hdr *h)
{
	unsigned b = qm_bucket(qm_usable(h));
	struct qm_links *l = qm_links(h);

	l->prev = NULL;
	l->next = st->bucket[b];
	MEM_KILL_POINT();       /* h's links written, h not listed yet */
	if (l->next)
		qm_links(l->next)->prev = h;
	st->bucket[b] = h;
	qm_bit_set(st, b);
	st->free_frags++;
}

/* h is on list b (the caller has checked its links, see qm_joinable() and
 * qm_first_fit()). */
static inline void qm_unlink(struct qm_state *st, struct qm_hdr *h,
		unsigned b)
{
	struct qm_links *l = qm_links(h);

	if (l->prev)
		qm_links(l->prev)->next = l->next;
	else
		st->bucket[b] = l->next;
	MEM_KILL_POINT();       /* half unlinked */
	if (l->next)
		qm_links(l->next)->prev = l->prev;
	if (!st->bucket[b])
		qm_bit_clear(st, b);
	st->free_frags--;
}

/* h's successor on its list (if any) lies in the heap and links back to
 * h: the one word unlinking h writes beyond h and its predecessor. */
static inline bool qm_next_links_back(const struct qm_state *st,
		const struct qm_hdr *h)
{
	const struct qm_hdr *n = qm_links(h)->next;

	return !n || (qm_addr_ok(st, n) && qm_links(n)->prev == h);
}

/* The links of free fragment h, which its size puts on list b, agree with
 * its neighbours on the list, so unlinking it writes only where it should.
 * For a fragment met by address (a physical neighbour, check()); one
 * reached by walking its list is checked by qm_first_fit(). */
static bool qm_links_ok(const struct qm_state *st, const struct qm_hdr *h,
		unsigned b)
{
	const struct qm_links *l = qm_links(h);
	const struct qm_hdr *head = st->bucket[b];

	if (!l->prev) {
		if (head != h)
			return false;
	} else if (head == h || !qm_addr_ok(st, l->prev) ||
			qm_links(l->prev)->next != h) {
		return false;
	}
	return qm_next_links_back(st, h);
}

/* h, met by address (a physical neighbour), is a free fragment whose
 * guards and links are all sound: its list, for qm_unlink(), else -1.
 * The free bit is read first: a used neighbour, the common case of a
 * free(), costs one load and is never joined, whatever its guard says. */
static inline int qm_joinable(const struct qm_state *st, const struct qm_hdr *h)
{
	unsigned b;

	if (!qm_is_free(h) || !qm_hdr_sane(st, h))
		return -1;
	b = qm_bucket(qm_usable(h));
	return qm_links_ok(st, h, b) && qm_foot_ok(h) ? (int)b : -1;
}

/* --- counters ----------------------------------------------------------- */

static void qm_charge(struct qm_state *st, uint64_t size)
{
	st->used_size += size - QM_OVERHEAD;
	st->real_used += size;
	if (st->real_used > st->max_used)
		st->max_used = st->real_used;
}

static void qm_credit(struct qm_state *st, uint64_t size)
{
	st->used_size -= size - QM_OVERHEAD;
	st->real_used -= size;
}

/* --- create ------------------------------------------------------------- */

static void *qm_create(void *mem, size_t size)
{
	struct qm_state *st = mem;
	uint64_t skip = (sizeof(*st) + QM_FLAG_MASK) & ~QM_FLAG_MASK;
	char *first = (char *)mem + skip;
	char *end;

	if (size < skip + QM_MIN_FRAG + QM_HDR_SIZE)
		return NULL;
	end = (char *)(((uintptr_t)mem + size) & ~(uintptr_t)QM_FLAG_MASK) -
		QM_HDR_SIZE;
	*st = (struct qm_state){
		.first = (struct qm_hdr *)first,
		.end = (struct qm_hdr *)end,
		.total_size = size,
		.real_used = size - (uint64_t)(end - first),
	};
	st->max_used = st->real_used;
	st->end->size_flags = 0;
	st->end->check = qm_hdr_guard(st->end, 0);
	qm_set_tags(st->first, (uint64_t)(end - first), true);
	qm_insert(st, st->first);
	return st;
}

/* --- malloc ------------------------------------------------------------- */

static uint64_t qm_frag_size(size_t n)
{
	uint64_t u = n < QM_MIN_USABLE ? QM_MIN_USABLE :
		((uint64_t)n + MEM_ALIGN - 1) & ~QM_FLAG_MASK;

	return u + QM_OVERHEAD;
}

/* First fit on list b over at most `probes` entries; stops at the first
 * entry that does not look right (check() will tell), since its links
 * cannot be trusted either.  Each link is checked once, where the walk
 * reads it: an entry reached through a link must lie in the heap, and
 * every entry must be a sound free header that links back to the entry
 * the walk came from (NULL for the head), so the walk never cycles; the
 * one taken must also have a sound footer and a successor that links back
 * to it (what qm_unlink() writes through). */
#define QM_FIT_PROBES 16

static struct qm_hdr *qm_first_fit(const struct qm_state *st, unsigned b,
		uint64_t size, unsigned probes)
{
	struct qm_hdr *h = st->bucket[b], *prev = NULL;

	for (unsigned k = 0; h && k < probes; k++) {
		if (__builtin_expect(!qm_is_free(h) || !qm_hdr_sane(st, h) ||
				qm_links(h)->prev != prev, 0))
			return NULL;
		if (qm_size(h) >= size && qm_foot_ok(h))
			return qm_next_links_back(st, h) ? h : NULL;
		prev = h;
		h = qm_links(h)->next;
		if (h && !qm_addr_ok(st, h))
			return NULL;
	}
	return NULL;
}

/* A sound free fragment of at least size bytes and its list (*bp), or
 * NULL. */
static struct qm_hdr *qm_find(const struct qm_state *st, uint64_t size,
		unsigned *bp)
{
	unsigned b = qm_bucket(size - QM_OVERHEAD);
	struct qm_hdr *h;
	int i;

	/* Every fragment on an exact list fits; on a log list it may not, so
	 * look at a few, then take a higher list's head (which fits); only
	 * with nothing larger anywhere, near exhaustion, walk the whole list
	 * rather than fail while a fragment fits. */
	*bp = b;
	h = qm_first_fit(st, b, size, QM_FIT_PROBES);
	if (h)
		return h;
	for (i = qm_next_bucket(st, b + 1); i >= 0;
			i = qm_next_bucket(st, (unsigned)i + 1)) {
		h = qm_first_fit(st, (unsigned)i, size, 1);
		if (h) {
			*bp = (unsigned)i;
			return h;
		}
	}
	return qm_first_fit(st, b, size, UINT_MAX);
}

/* Make h (unlinked, have bytes) a used fragment of size, putting the tail
 * back on a list when it can be a fragment of its own. */
static void qm_take(struct qm_state *st, struct qm_hdr *h, uint64_t have,
		uint64_t size)
{
	if (have - size >= QM_MIN_FRAG) {
		struct qm_hdr *rest = qm_at(h, size);

		qm_set_tags(rest, have - size, true);
		qm_insert(st, rest);
		have = size;
		MEM_KILL_FENCE();
	}
	qm_set_tags(h, have, false);
	qm_charge(st, have);
}

static void *qm_malloc(void *vst, size_t n)
{
	struct qm_state *st = vst;
	uint64_t size = qm_frag_size(n);
	unsigned b;
	struct qm_hdr *h = qm_find(st, size, &b);

	if (!h)
		return NULL;
	qm_unlink(st, h, b);
	st->last = h;
	st->nlast++;
	MEM_KILL_FENCE();
	qm_take(st, h, qm_size(h), size);
	return qm_payload(h);
}

/* --- free --------------------------------------------------------------- */

/* The next fragment, taken off its list if it is free and sound (its
 * size added to *size), else NULL. */
static struct qm_hdr *qm_join_next(struct qm_state *st, struct qm_hdr *h,
		uint64_t *size)
{
	struct qm_hdr *n = qm_at(h, *size);
	int b = qm_joinable(st, n);     /* the sentinel is used */

	if (b < 0)
		return NULL;
	qm_unlink(st, n, (unsigned)b);
	*size += qm_size(n);
	return n;
}

/* The previous fragment, taken off its list if it is free and sound (its
 * footer must agree with its header, found through that footer; its size
 * added to *size), else h. */
static struct qm_hdr *qm_join_prev(struct qm_state *st, struct qm_hdr *h,
		uint64_t *size)
{
	struct qm_hdr *p;
	const struct qm_foot *f;
	uint64_t psize;
	int b;

	if (h == st->first)
		return h;
	f = qm_prev_foot(h);
	if (!(f->size_flags & QM_FREE) || !qm_foot_valid(f))
		return h;
	psize = f->size_flags & ~QM_FLAG_MASK;
	if (psize < QM_MIN_FRAG ||
			psize > (uint64_t)((char *)h - (char *)st->first))
		return h;
	p = (struct qm_hdr *)((char *)h - psize);
	b = qm_joinable(st, p);
	if (b < 0 || qm_size(p) != psize)
		return h;
	qm_unlink(st, p, (unsigned)b);
	*size += psize;
	return p;
}

static int qm_block_state(void *vst, const void *p);

/* Once the header's guard vouches for it (what block_state() checks of a
 * used fragment), its size is trusted; the footer is not read:
 * qm_set_tags() below rewrites it (or the joined fragment's), which
 * repairs a footer broken by an overflow.  The joined fragment's tags are
 * written before any swallowed header is wiped, so the physical chain
 * stays whole at every store (rebuild()). */
static int qm_free(void *vst, void *p)
{
	struct qm_state *st = vst;
	struct qm_hdr *h = qm_of_payload(p), *start, *n;

	if (!qm_used_ok(st, h))
		return qm_block_state(vst, p);
	uint64_t size = qm_size(h);

	qm_credit(st, size);
	n = qm_join_next(st, h, &size);
	start = qm_join_prev(st, h, &size);
	MEM_KILL_FENCE();
	qm_set_tags(start, size, true);
	MEM_KILL_FENCE();
	if (n)
		qm_wipe_hdr(n);
	if (start != h)
		qm_wipe_hdr(h);
	qm_insert(st, start);
	return MEM_BLOCK_USED;
}

/* The words free() reads beyond h: h's own footer and the next header,
 * and the previous fragment's footer, whose header the free reads when
 * that footer says free (backend.h). */
static void qm_prefetch(void *vst, const void *p)
{
	const struct qm_hdr *h = qm_of_payload(p);

	/* integer sums: p may be wild, its size anything */
	uintptr_t next = (uintptr_t)h + qm_size(h);

	(void)vst;
	__builtin_prefetch((void *)next, 1);
	__builtin_prefetch((void *)(next - QM_FOOT_SIZE), 1);
	__builtin_prefetch(qm_prev_foot(h));
}

/* max_used, for the common layer to lower (backend.h). */
static uint64_t *qm_peak(void *vst)
{
	return &((struct qm_state *)vst)->max_used;
}

/* --- resize ------------------------------------------------------------- */

static void qm_shrink(struct qm_state *st, struct qm_hdr *h, uint64_t size,
		uint64_t want)
{
	struct qm_hdr *n = qm_at(h, size), *tail = qm_at(h, want);
	uint64_t rest = size - want;

	int b = qm_joinable(st, n);     /* the sentinel is used */
	bool joined = b >= 0;

	if (joined) {
		qm_unlink(st, n, (unsigned)b);
		rest += qm_size(n);
	} else if (rest < QM_MIN_FRAG) {
		return;         /* too little to stand alone: keep it as slack */
	}
	qm_credit(st, size);
	qm_set_tags(tail, rest, true);  /* free before h uncovers it */
	MEM_KILL_FENCE();
	qm_set_tags(h, want, false);
	qm_charge(st, want);
	MEM_KILL_FENCE();
	if (joined)
		qm_wipe_hdr(n);
	qm_insert(st, tail);
}

static int qm_grow(struct qm_state *st, struct qm_hdr *h, uint64_t size,
		uint64_t want)
{
	struct qm_hdr *n = qm_at(h, size);
	uint64_t have;
	int b = qm_joinable(st, n);     /* the sentinel is used */

	if (b < 0)
		return -1;
	have = size + qm_size(n);
	if (have < want)
		return -1;
	qm_unlink(st, n, (unsigned)b);
	qm_credit(st, size);
	/* h grows over all of n first (its footer lands at n's end, never
	 * on n's header), n is wiped, then the tail is cut: the chain stays
	 * whole at every store (rebuild()). */
	qm_set_tags(h, have, false);
	MEM_KILL_FENCE();
	qm_wipe_hdr(n);
	MEM_KILL_FENCE();
	qm_take(st, h, have, want);
	return 0;
}

static int qm_resize(void *vst, void *p, size_t n)
{
	struct qm_state *st = vst;
	struct qm_hdr *h = qm_of_payload(p);
	uint64_t size = qm_size(h), want = qm_frag_size(n);

	/* Keep an overflowed block as it is, for check() to find. */
	if (!qm_foot_ok(h))
		return -1;
	if (want > size)
		return qm_grow(st, h, size, want);
	if (want < size)
		qm_shrink(st, h, size, want);
	return 0;
}

/* --- queries ------------------------------------------------------------ */

static size_t qm_usable_size(void *vst, const void *p)
{
	(void)vst;
	return (size_t)qm_usable(qm_of_payload(p));
}

/* p may be anything in the region: read only words that lie inside the
 * heap, and trust a size only after its guard matched.  A used fragment
 * is judged on its own header alone (no next header to read here), so
 * own_usable() is the same check. */
static int qm_block_state(void *vst, const void *p)
{
	const struct qm_state *st = vst;
	const struct qm_hdr *h = qm_of_payload(p);

	if (!qm_addr_ok(st, h) || !qm_hdr_sane(st, h))
		return MEM_BLOCK_BAD;
	if (!qm_is_free(h))
		return MEM_BLOCK_USED;  /* even with a broken footer: see check() */
	return qm_foot_ok(h) ? MEM_BLOCK_FREE : MEM_BLOCK_BAD;
}

static uint64_t qm_own_usable(void *vst, const void *p)
{
	const struct qm_hdr *h = qm_of_payload(p);

	return qm_used_ok(vst, h) ? qm_usable(h) : 0;
}

static void qm_info(void *vst, struct mem_info *mi)
{
	const struct qm_state *st = vst;

	*mi = (struct mem_info){
		.total_size = st->total_size,
		.free_size = st->total_size - st->real_used,
		.used_size = st->used_size,
		.real_used = st->real_used,
		.max_used = st->max_used,
		.min_frag = QM_MIN_FRAG,
		.total_frags = st->free_frags,
	};
}

/* Visits fragments in address order; returns what fn returned to stop the
 * walk, -1 at a broken header (its payload left in *from), else 0. */
static int qm_walk_from(void *vst, void **from, uint64_t max, mem_block_fn fn,
		void *arg)
{
	const struct qm_state *st = vst;
	const struct qm_hdr *h = *from ? qm_of_payload(*from) : st->first;
	int r = 0;

	for (; h != st->end && max && !r; max--) {
		struct mem_block b;

		if (!qm_hdr_sane(st, h)) {
			*from = qm_payload(h);
			return -1;
		}
		b = (struct mem_block){ qm_payload(h), qm_usable(h),
			!qm_is_free(h), 0 };
		r = fn(&b, arg);
		h = qm_next_phys(h);
	}
	*from = h == st->end ? NULL : qm_payload(h);
	return r;
}

/* A used fragment of usable bytes (backend.h): header and footer rewritten
 * when either disagrees; it must end at a sane header or the sentinel. */
static int qm_repair(void *vst, void *p, uint64_t usable, int apply)
{
	const struct qm_state *st = vst;
	struct qm_hdr *h = qm_of_payload(p);
	const struct qm_hdr *next;
	uint64_t size = usable + QM_OVERHEAD;

	if (!qm_addr_ok(st, h) || size < QM_MIN_FRAG || size % MEM_ALIGN ||
			size > (uint64_t)((char *)st->end - (char *)h))
		return -1;
	next = qm_at(h, size);
	if (next != st->end && !qm_hdr_sane(st, next))
		return -1;
	if (h->size_flags == size && qm_hdr_ok(h) && qm_foot_ok(h))
		return 0;
	if (apply)
		qm_set_tags(h, size, false);
	return 1;
}

static int qm_walk(void *vst, mem_block_fn fn, void *arg)
{
	void *from = NULL;

	return qm_walk_from(vst, &from, UINT64_MAX, fn, arg);
}

/* --- check: one fragment, one list, the globals (backend.h) ------------ */

struct qm_report {
	mem_problem_fn fn;
	void *arg;
	int count;
};

static void qm_problem(struct qm_report *r, const void *where,
		const char *what)
{
	if (r->fn)
		r->fn(r->arg, where, what);
	r->count++;
}

/* Footer and the next fragment, once the next header is known sane. */
static void qm_check_tail(const struct qm_state *st, const struct qm_hdr *h,
		struct qm_report *r)
{
	const struct qm_hdr *next = qm_next_phys(h);

	if (!qm_foot_ok(h))
		qm_problem(r, qm_payload(h), qm_is_free(h) ?
			"qm: free fragment footer guard broken" :
			"qm: footer guard broken (write past the usable size?)");
	if (qm_is_free(h) && next != st->end && qm_is_free(next))
		qm_problem(r, qm_payload(next),
			"qm: free fragment next to a free fragment");
}

static int qm_check_block(void *vst, const struct mem_block *b,
		mem_problem_fn problem, void *arg)
{
	const struct qm_state *st = vst;
	struct qm_report r = { problem, arg, 0 };
	const struct qm_hdr *h = qm_of_payload(b->payload), *next;

	if (b->broken) {
		qm_problem(&r, b->payload, qm_hdr_ok(h) ?
			"qm: fragment size out of bounds, heap walk stopped" :
			"qm: header guard broken, heap walk stopped");
		return r.count;
	}
	if (qm_is_free(h) && !qm_links_ok(st, h, qm_bucket(qm_usable(h))))
		qm_problem(&r, b->payload,
			"qm: free fragment not properly on its list");
	next = qm_next_phys(h);
	if (next == st->end || qm_hdr_sane(st, next))
		qm_check_tail(st, h, &r);
	return r.count;
}

/* One entry of list pos->list; false ends the list's walk. */
static bool qm_list_entry_ok(const struct qm_state *st, const struct qm_hdr *h,
		struct mem_list_pos *pos, uint64_t limit, struct qm_report *r)
{
	if (!qm_addr_ok(st, h) || !qm_hdr_sane(st, h) || !qm_is_free(h)) {
		qm_problem(r, h, "qm: free list entry is not a free fragment");
		return false;
	}
	if (qm_links(h)->prev != pos->prev) {
		qm_problem(r, qm_payload(h), "qm: free list back link broken");
		return false;
	}
	if (++pos->n > limit) {
		qm_problem(r, qm_payload(h), "qm: free list too long (cycle?)");
		return false;
	}
	if (qm_bucket(qm_usable(h)) != pos->list)
		qm_problem(r, qm_payload(h), "qm: free fragment on the wrong list");
	return true;
}

static int qm_check_list(void *vst, struct mem_list_pos *pos, uint64_t max,
		uint64_t limit, int recheck, mem_problem_fn problem, void *arg)
{
	const struct qm_state *st = vst;
	struct qm_report r = { problem, arg, 0 };
	const struct qm_hdr *h = pos->entry ? pos->entry : st->bucket[pos->list];

	if (pos->entry && recheck && (!qm_addr_ok(st, h) ||
			!qm_hdr_sane(st, h) || !qm_is_free(h) ||
			qm_bucket(qm_usable(h)) != pos->list ||
			qm_links(h)->prev != pos->prev))
		return -2;
	if (!limit)
		limit = (uint64_t)((char *)st->end - (char *)st->first) /
			QM_MIN_FRAG;
	for (; h && max; max--) {
		if (!qm_list_entry_ok(st, h, pos, limit, &r)) {
			h = NULL;
			break;
		}
		pos->prev = (void *)h;
		h = qm_links(h)->next;
	}
	pos->entry = (void *)h;
	return h ? 1 : 0;
}

static void qm_check_counters(const struct qm_state *st,
		const struct mem_heap_sums *s, struct qm_report *r)
{
	uint64_t heap = (uint64_t)((char *)st->end - (char *)st->first);
	uint64_t fixed = st->total_size - heap;
	uint64_t used = s->used_usable + s->used_blocks * QM_OVERHEAD;
	uint64_t free = s->free_usable + s->free_blocks * QM_OVERHEAD;

	if (s->listed != s->free_blocks)
		qm_problem(r, st, "qm: free lists and heap disagree on free fragments");
	if (used + free != heap)
		qm_problem(r, st, "qm: fragment sizes do not add up to the heap");
	if (st->free_frags != s->free_blocks)
		qm_problem(r, st, "qm: free fragment counter wrong");
	if (st->used_size != s->used_usable)
		qm_problem(r, st, "qm: used_size counter wrong");
	if (st->real_used != fixed + used)
		qm_problem(r, st, "qm: real_used counter wrong");
	if (st->total_size - st->real_used != free)
		qm_problem(r, st, "qm: free_size does not match free fragments");
}

static int qm_check_global(void *vst, const struct mem_heap_sums *sums,
		mem_problem_fn problem, void *arg)
{
	const struct qm_state *st = vst;
	struct qm_report r = { problem, arg, 0 };

	for (unsigned b = 0; b < QM_NBUCKETS; b++)
		if ((st->bucket[b] != NULL) != qm_bit_test(st, b))
			qm_problem(&r, &st->bitmap[b / 64],
				"qm: bitmap disagrees with list");
	if (st->end->size_flags != 0 || !qm_hdr_ok(st->end))
		qm_problem(&r, st->end, "qm: end sentinel damaged");
	if (st->max_used < st->real_used)
		qm_problem(&r, st, "qm: max_used below real_used");
	if (sums)
		qm_check_counters(st, sums, &r);
	return r.count;
}

static int qm_check(void *vst, mem_problem_fn problem, void *arg)
{
	return mem_backend_check(&mem_qm_backend, vst, problem, arg);
}

/* free() joins the previous fragment only if its footer is sound and
 * says free (qm_join_prev checks more: a superset, as backend.h asks). */
static int qm_joins_prev(void *vst, const void *p)
{
	const struct qm_state *st = vst;
	const struct qm_hdr *h = qm_of_payload(p);
	if (h == st->first)
		return 0;
	const struct qm_foot *f = qm_prev_foot(h);
	return (f->size_flags & QM_FREE) && qm_foot_valid(f); /* the guard
		only for a free predecessor: most are used */
}

/* A list all of whose fragments hold n: an exact one, or the log list
 * above n's (backend.h). */
static int qm_has_room(void *vst, size_t n)
{
	uint64_t u = qm_frag_size(n) - QM_OVERHEAD;
	unsigned b = qm_bucket(u);
	return qm_next_bucket(vst, b + (u > QM_EXACT_MAX)) >= 0;
}

/* --- rebuild after a death (backend.h) ---------------------------------- */

/* A header whose guard fails only because its process was killed between
 * its two words (qm_set_tags() writes the footer first): its new size
 * leads to a footer that agrees with it. */
static bool qm_torn(const struct qm_state *st, const struct qm_hdr *h)
{
	uint64_t size = qm_size(h);

	if (size < QM_MIN_FRAG || size > (uint64_t)((char *)st->end -
			(char *)h))
		return false;
	return qm_foot_valid(qm_foot(h)) &&
		qm_foot(h)->size_flags == h->size_flags;
}

static bool qm_chain_whole(const struct qm_state *st)
{
	const struct qm_hdr *h = st->first;

	for (; h != st->end; h = qm_next_phys(h))
		if (!qm_hdr_sane(st, h) && !qm_torn(st, h))
			return false;
	return qm_hdr_ok(h) && h->size_flags == 0;
}

/* One fragment of the chain: torn guards mended, free neighbours joined
 * (tags of the whole first, then the swallowed header wiped), a used
 * fragment's footer that disagrees with its header (an operation cut
 * short, or the application's overrun: free() would rewrite it too)
 * rewritten and counted. */
static int qm_rebuild_frag(struct qm_state *st, struct qm_hdr *h,
		mem_block_fn swallowed, void *arg)
{
	uint64_t size = qm_size(h);
	int fixed = 0;

	h->check = qm_hdr_guard(h, h->size_flags);
	if (!qm_is_free(h)) {
		if (!qm_foot_ok(h)) {
			qm_set_tags(h, size, false);
			fixed = 1;
		}
		qm_charge(st, size);
		return fixed;
	}
	for (struct qm_hdr *n = qm_at(h, size); n != st->end &&
			qm_is_free(n); n = qm_at(h, size)) {
		swallowed(&(struct mem_block){ qm_payload(n), qm_usable(n),
			0, 0 }, arg);
		size += qm_size(n);
		qm_set_tags(h, size, true);
		MEM_KILL_FENCE();
		qm_wipe_hdr(n);
	}
	qm_set_tags(h, size, true);
	qm_insert(st, h);
	return 0;
}

static int qm_rebuild(void *vst, mem_block_fn swallowed, void *arg)
{
	struct qm_state *st = vst;
	int fixed = 0;

	if (!qm_chain_whole(st))
		return -1;
	memset(st->bucket, 0, sizeof(st->bucket));
	memset(st->bitmap, 0, sizeof(st->bitmap));
	st->free_frags = st->used_size = 0;
	st->real_used = st->total_size -
		(uint64_t)((char *)st->end - (char *)st->first);
	for (struct qm_hdr *h = st->first; h != st->end; h = qm_next_phys(h))
		fixed += qm_rebuild_frag(st, h, swallowed, arg);
	return fixed;
}

static void *qm_last(void *vst, uint64_t *seq)
{
	const struct qm_state *st = vst;

	*seq = st->nlast;
	return st->last ? qm_payload(st->last) : NULL;
}

const struct mem_backend mem_qm_backend = {
	.name = "qm",
	.long_name = "q_malloc",
	.frag_overhead = QM_OVERHEAD,
	.header_size = QM_HDR_SIZE,
	.create = qm_create,
	.malloc = qm_malloc,
	.free = qm_free,
	.resize = qm_resize,
	.usable_size = qm_usable_size,
	.block_state = qm_block_state,
	.own_usable = qm_own_usable,
	.info = qm_info,
	.check = qm_check,
	.walk = qm_walk,
	.walk_from = qm_walk_from,
	.repair = qm_repair,
	.nlists = QM_NBUCKETS,
	.check_block = qm_check_block,
	.check_list = qm_check_list,
	.check_global = qm_check_global,
	.joins_prev = qm_joins_prev,
	.has_room = qm_has_room,
	.rebuild = qm_rebuild,
	.last = qm_last,
	.prefetch = qm_prefetch,
	.peak = qm_peak,
};
