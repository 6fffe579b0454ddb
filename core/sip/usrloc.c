/*
 * usrloc.c - the location table (usrloc.h): storage, the registrar's rules
 * (RFC 3261 10.3 steps 6-8), lookup, expiry, and recovery after a process
 * died holding a bucket lock.
 *
 * Memory.  An AOR and all its contacts are ONE shm block, strings inline
 * and without terminators, so a registered user with one contact costs one
 * fragment header (and, with MEMDBG, one 40-byte debug record) instead of
 * two or more:
 *
 *   | next | hash | cap|B | aor_len | n | aor... | ct 0 | ct 1 | ... | slack |
 *     8      4      2       1         1   (4-aligned entries)
 *   ct: | expires | modified | cseq | q | uri_len | cid | rcv | ua | strs |
 *         4         4          4      2   2         1     1     1   +1 pad
 *
 * cap is the size asked of shm_malloc; B (its top bit) is set while the
 * block is rewritten in place.  Limits (usrloc.h) bound an entry to
 * CT_MAX and a block to REC_MAX bytes, so a REGISTER is built in a stack
 * image first, checked whole, and only then written: in place when the
 * image fits cap (a refresh: the block keeps its address), else into a new
 * block linked in place of the old one.  Either every change of a request
 * lands or none does; out of shm fails that request alone.
 *
 * Dead holders.  Every change of the shared data is a store of one pointer
 * (link, unlink) or an in-place rewrite bracketed by B.  A process that
 * takes a bucket lock over from a dead holder (shm_lock_get() == 1) walks
 * the bucket: a block with B set is unlinked and freed, a block that is not
 * sane cuts the chain there (what follows is leaked, not trusted), and the
 * bucket's counters are recounted.  The worst a kill can do besides is leak
 * the one block it was about to link or free.
 *
 * Costs.  One bucket lock per operation; REGISTER copies its AOR's block
 * twice (image, then shm) - a few hundred bytes for the usual 1-3 contacts.
 * The timer holds each bucket lock only for that bucket's chain.
 */
#include <stdio.h>
#include <string.h>

#include "mem.h"
#include "runtime/log.h"
#include "sip/usrloc.h"

/* --- layout ------------------------------------------------------------- */

struct ul_rec {
	struct ul_rec *next;
	uint32_t hash;
	uint16_t cap_b;         /* cap | REC_BUSY */
	uint8_t aor_len;
	uint8_t n;              /* contacts */
	char aor[];
};
_Static_assert(sizeof(struct ul_rec) == 16, "record header is 16 bytes");

struct ul_ct {
	uint32_t expires, modified, cseq;
	int16_t q;
	uint16_t uri_len;
	uint8_t cid_len, rcv_len, ua_len, pad;
	char s[];               /* uri, call-id, received, user agent */
};
_Static_assert(sizeof(struct ul_ct) == 20, "contact header is 20 bytes");

#define REC_BUSY 0x8000u
#define CT_ALIGN(n) (((n) + 3) & ~(size_t)3)
#define CT_MAX CT_ALIGN(sizeof(struct ul_ct) + UL_URI_MAX + UL_CALLID_MAX + \
		UL_RECEIVED_MAX + UL_UA_MAX)
#define REC_MAX (CT_ALIGN(sizeof(struct ul_rec) + UL_AOR_MAX) + \
		UL_CONTACTS_MAX * CT_MAX)
_Static_assert(REC_MAX < REC_BUSY, "cap fits below the busy bit");
_Static_assert(UL_AOR_MAX <= 255 && UL_CALLID_MAX <= 255 &&
		UL_RECEIVED_MAX <= 255 && UL_UA_MAX <= 255 &&
		UL_CONTACTS_MAX <= 255, "lengths fit their 8-bit fields");

struct ul_bucket {
	struct ul_rec *head;
	struct shm_lock *lock;
	uint32_t naor, nct;     /* under the lock */
};

struct ul_table {
	uint32_t mask;
	struct ul_limits lim;
	struct shm_lock_set *locks;     /* one per bucket, one fragment */
	struct ul_bucket b[];
};

static struct ul_table *tab;    /* in shm; set before fork */

void (*ul_fault_hook)(int where);

const struct ul_cfg ul_default_cfg = UL_CFG_DEFAULT;

static inline size_t rec_cap(const struct ul_rec *r)
{
	return r->cap_b & ~REC_BUSY;
}

static inline int rec_busy(const struct ul_rec *r)
{
	return (r->cap_b & REC_BUSY) != 0;
}

static inline void rec_set_busy(struct ul_rec *r, int on)
{
	uint16_t v = (uint16_t)(rec_cap(r) | (on ? REC_BUSY : 0));
	__atomic_store_n(&r->cap_b, v, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline size_t ct_size(const struct ul_ct *c)
{
	return CT_ALIGN(sizeof(*c) + c->uri_len + c->cid_len + c->rcv_len +
			c->ua_len);
}

static inline struct ul_ct *rec_first(const struct ul_rec *r)
{
	return (struct ul_ct *)((char *)r +
			CT_ALIGN(sizeof(*r) + r->aor_len));
}

static inline struct ul_ct *ct_next(const struct ul_ct *c)
{
	return (struct ul_ct *)((char *)c + ct_size(c));
}

static inline const char *ct_cid(const struct ul_ct *c)
{
	return c->s + c->uri_len;
}

static inline const char *ct_rcv(const struct ul_ct *c)
{
	return ct_cid(c) + c->cid_len;
}

static inline const char *ct_ua(const struct ul_ct *c)
{
	return ct_rcv(c) + c->rcv_len;
}

static inline int ct_live(const struct ul_ct *c, uint32_t now)
{
	return c->expires > now;
}

static inline int str_eq(const char *a, size_t alen, const char *b,
		size_t blen)
{
	return alen == blen && !memcmp(a, b, alen);
}

/* FNV-1a: cheap, and good enough spread for SIP URIs. */
static uint32_t hash_str(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* --- table ---------------------------------------------------------------- */

static int cfg_check(const struct ul_cfg *c)
{
	const struct ul_limits *l = &c->lim;
	if (c->hash_size < 1 || c->hash_size > (1u << 20) ||
	    l->max_contacts < 1 || l->max_contacts > UL_CONTACTS_MAX ||
	    l->max_expires < 1 || l->max_expires > UL_EXPIRES_MAX ||
	    l->min_expires > l->max_expires ||
	    l->default_expires < l->min_expires ||
	    l->default_expires > l->max_expires) {
		LM_ERR("usrloc: bad settings: hash_size 1..2^20, max_contacts "
			"1..%d, min <= default <= max expires", UL_CONTACTS_MAX);
		return -1;
	}
	return 0;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

int ul_init(const struct ul_cfg *c)
{
	if (!c)
		c = &ul_default_cfg;
	if (tab) {
		LM_ERR("usrloc: already initialised");
		return -1;
	}
	if (cfg_check(c) < 0)
		return -1;
	uint32_t n = pow2_at_least(c->hash_size);
	struct ul_table *t = shm_mallocxz(sizeof(*t) + n * sizeof(t->b[0]));
	if (!t)
		goto nomem;
	t->mask = n - 1;
	t->lim = c->lim;
	if (!(t->locks = shm_lock_set_new(n))) {
		shm_free(t);
		goto nomem;
	}
	for (uint32_t i = 0; i < n; i++)
		t->b[i].lock = shm_lock_set_at(t->locks, i);
	tab = t;
	return 0;
nomem:
	LM_ERR("usrloc: out of shm for a table of %u buckets", n);
	return -1;
}

void ul_destroy(void)
{
	if (!tab)
		return;
	for (uint32_t i = 0; i <= tab->mask; i++) {
		struct ul_bucket *b = &tab->b[i];
		while (b->head) {
			struct ul_rec *r = b->head;
			b->head = r->next;
			shm_free(r);
		}
	}
	shm_lock_set_free(tab->locks);
	shm_free(tab);
	tab = NULL;
}

void ul_counts(uint64_t *aors, uint64_t *contacts)
{
	*aors = *contacts = 0;
	if (!tab)
		return;
	for (uint32_t i = 0; i <= tab->mask; i++) {
		*aors += __atomic_load_n(&tab->b[i].naor, __ATOMIC_RELAXED);
		*contacts += __atomic_load_n(&tab->b[i].nct, __ATOMIC_RELAXED);
	}
}

/* --- recovery after a dead holder --------------------------------------- */

/* Can r be trusted as a block of bucket idx?  Reads only inside r's cap. */
static int rec_sane(const struct ul_rec *r, uint32_t idx)
{
	if (!shm_address_in(r) || (uintptr_t)r % 8 ||
	    !shm_address_in((const char *)r + sizeof(*r) - 1))
		return 0;
	size_t cap = rec_cap(r), off = CT_ALIGN(sizeof(*r) + r->aor_len);
	if (cap > REC_MAX || off > cap || r->aor_len == 0 ||
	    !shm_address_in((const char *)r + cap - 1) ||
	    hash_str(r->aor, r->aor_len) != r->hash ||
	    (r->hash & tab->mask) != idx || r->n > UL_CONTACTS_MAX)
		return 0;
	for (unsigned i = 0; i < r->n; i++) {
		const struct ul_ct *c = (const void *)((const char *)r + off);
		if (off + sizeof(*c) > cap || c->uri_len > UL_URI_MAX)
			return 0;
		off += ct_size(c);
		if (off > cap)
			return 0;
	}
	return 1;
}

static void bucket_repair(struct ul_bucket *b, uint32_t idx)
{
	struct ul_rec **pp = &b->head;
	unsigned dropped = 0;
	b->naor = b->nct = 0;
	while (*pp) {
		struct ul_rec *r = *pp;
		if (!rec_sane(r, idx)) {
			LM_ERR("usrloc: bucket %u: damaged record %p: the rest "
				"of its chain is dropped", idx, (void *)r);
			*pp = NULL;
			break;
		}
		if (rec_busy(r)) {      /* died rewriting it: half old, half new */
			*pp = r->next;
			shm_free(r);
			dropped++;
			continue;
		}
		b->naor++;
		b->nct += r->n;
		pp = &r->next;
	}
	LM_WARN("usrloc: bucket %u taken over from a dead holder; %u "
		"half-written AOR(s) dropped", idx, dropped);
}

static struct ul_bucket *bucket_lock(uint32_t hash)
{
	uint32_t idx = hash & tab->mask;
	struct ul_bucket *b = &tab->b[idx];
	if (shm_lock_get(b->lock))
		bucket_repair(b, idx);
	if (ul_fault_hook)
		ul_fault_hook(UL_AT_LOCKED);
	return b;
}

static void bucket_unlock(struct ul_bucket *b)
{
	shm_lock_release(b->lock);
}

/* The AOR's block and the link that points at it, or NULL. */
static struct ul_rec *bucket_find(struct ul_bucket *b, struct ul_str aor,
		uint32_t hash, struct ul_rec ***link)
{
	struct ul_rec **pp = &b->head;
	for (; *pp; pp = &(*pp)->next) {
		struct ul_rec *r = *pp;
		if (r->hash == hash && str_eq(r->aor, r->aor_len, aor.s, aor.len))
			break;
	}
	*link = pp;
	return *pp;
}

/* --- copies out (pkg) ------------------------------------------------------ */

static size_t set_size(const struct ul_rec *r, uint32_t now, unsigned *n)
{
	size_t sz = sizeof(struct ul_set) + r->aor_len + 1;
	const struct ul_ct *c = rec_first(r);
	*n = 0;
	for (unsigned i = 0; i < r->n; i++, c = ct_next(c)) {
		if (!ct_live(c, now))
			continue;
		(*n)++;
		sz += sizeof(struct ul_binding) + c->uri_len + c->cid_len +
			c->rcv_len + c->ua_len + 4;
	}
	return sz;
}

static char *put_str(char **sp, const char *s, size_t len, unsigned *outlen)
{
	char *d = *sp;
	memcpy(d, s, len);
	d[len] = '\0';
	*sp += len + 1;
	*outlen = (unsigned)len;
	return d;
}

static void binding_fill(struct ul_binding *b, const struct ul_ct *c,
		uint32_t now, char **sp)
{
	b->uri = put_str(sp, c->s, c->uri_len, &b->uri_len);
	b->call_id = put_str(sp, ct_cid(c), c->cid_len, &b->call_id_len);
	b->received = put_str(sp, ct_rcv(c), c->rcv_len, &b->received_len);
	b->user_agent = put_str(sp, ct_ua(c), c->ua_len, &b->user_agent_len);
	b->expires = c->expires;
	b->expires_in = (int64_t)c->expires - now;
	b->modified = c->modified;
	b->cseq = c->cseq;
	b->q = c->q;
}

static int binding_before(const struct ul_binding *a,
		const struct ul_binding *b)
{
	int qa = a->q < 0 ? 1000 : a->q, qb = b->q < 0 ? 1000 : b->q;
	return qa != qb ? qa > qb : a->modified > b->modified;
}

/* Insertion sort: at most UL_CONTACTS_MAX entries. */
static void set_sort(struct ul_set *s)
{
	for (unsigned i = 1; i < s->n; i++) {
		struct ul_binding x = s->c[i];
		unsigned j = i;
		for (; j > 0 && binding_before(&x, &s->c[j - 1]); j--)
			s->c[j] = s->c[j - 1];
		s->c[j] = x;
	}
}

/* The live bindings of r in one pkg block, q-ordered; NULL: out of pkg. */
static struct ul_set *set_copy(const struct ul_rec *r, uint32_t now)
{
	unsigned n;
	struct ul_set *s = pkg_malloc(set_size(r, now, &n));
	if (!s)
		return NULL;
	char *sp = (char *)&s->c[n];
	s->next = NULL;
	s->n = n;
	s->aor = put_str(&sp, r->aor, r->aor_len, &s->aor_len);
	const struct ul_ct *c = rec_first(r);
	unsigned k = 0;
	for (unsigned i = 0; i < r->n; i++, c = ct_next(c))
		if (ct_live(c, now))
			binding_fill(&s->c[k++], c, now, &sp);
	set_sort(s);
	return s;
}

/* --- requests: checks before any lock ----------------------------------- */

static int str_ok(struct ul_str s, size_t max)
{
	if (s.len > max)
		return UL_E_TOOLONG;
	return s.len && !s.s ? UL_E_BAD : UL_OK;
}

static int aor_ok(struct ul_str aor)
{
	if (!aor.s || !aor.len)
		return UL_E_BAD;
	return aor.len > UL_AOR_MAX ? UL_E_TOOLONG : UL_OK;
}

/* Times are stored in 32 bits (unix seconds: until 2106); an expiry past
 * that saturates. */
static int now_ok(int64_t now)
{
	return now >= 0 && now < (int64_t)UINT32_MAX;
}

/* The request's strings, '*' rules and counts. */
static int req_shape(const struct ul_req *r)
{
	int rc;
	if (!now_ok(r->now) || (r->ncontacts && !r->contacts))
		return UL_E_BAD;
	if ((rc = aor_ok(r->aor)) || (rc = str_ok(r->call_id, UL_CALLID_MAX)) ||
	    (rc = str_ok(r->received, UL_RECEIVED_MAX)) ||
	    (rc = str_ok(r->user_agent, UL_UA_MAX)))
		return rc;
	if (r->star && (r->ncontacts || r->expires_hdr != 0))
		return UL_E_BAD;
	if (r->ncontacts > UL_CONTACTS_MAX)
		return UL_E_TOOMANY;
	for (unsigned i = 0; i < r->ncontacts; i++) {
		const struct ul_contact_in *c = &r->contacts[i];
		if (!c->uri.len || c->q < -1 || c->q > 1000)
			return UL_E_BAD;
		if ((rc = str_ok(c->uri, UL_URI_MAX)))
			return rc;
	}
	return UL_OK;
}

/* Each contact's expiry in seconds (0: remove), per RFC 3261 10.3 step 6
 * and 7: its expires param, else the Expires header, else the default;
 * shortened to max; 0 < e < min is 423. */
static int req_expires(const struct ul_req *r, const struct ul_limits *l,
		uint32_t *exp)
{
	for (unsigned i = 0; i < r->ncontacts; i++) {
		int64_t e = r->contacts[i].expires;
		if (e < 0)
			e = r->expires_hdr;
		if (e < 0)
			e = l->default_expires;
		if (e > l->max_expires)
			e = l->max_expires;
		if (e > 0 && e < l->min_expires)
			return UL_E_BRIEF;
		exp[i] = (uint32_t)e;
	}
	return UL_OK;
}

/* --- requests: the image of the AOR's new block ---------------------------- */

struct img {
	size_t len;
	struct ul_rec *rec;
	union {
		struct ul_rec hdr;
		char buf[REC_MAX];
	} u;
};

static void img_start(struct img *im, struct ul_str aor, uint32_t hash)
{
	im->rec = &im->u.hdr;
	memset(im->rec, 0, sizeof(*im->rec));
	im->rec->hash = hash;
	im->rec->aor_len = (uint8_t)aor.len;
	memcpy(im->rec->aor, aor.s, aor.len);
	im->len = CT_ALIGN(sizeof(struct ul_rec) + aor.len);
}

static void img_copy(struct img *im, const struct ul_ct *c)
{
	memcpy(im->u.buf + im->len, c, ct_size(c));
	im->len += ct_size(c);
	im->rec->n++;
}

static char *put_raw(char *d, struct ul_str s)
{
	if (s.len)
		memcpy(d, s.s, s.len);
	return d + s.len;
}

/* A binding from the request's contact i. */
static void img_new(struct img *im, const struct ul_req *r, unsigned i,
		uint32_t exp)
{
	struct ul_ct *c = (struct ul_ct *)(im->u.buf + im->len);
	uint32_t now = (uint32_t)r->now;
	const struct ul_contact_in *in = &r->contacts[i];
	c->expires = exp > UINT32_MAX - now ? UINT32_MAX : now + exp;
	c->modified = now;
	c->cseq = r->cseq;
	c->q = (int16_t)in->q;
	c->uri_len = (uint16_t)in->uri.len;
	c->cid_len = (uint8_t)r->call_id.len;
	c->rcv_len = (uint8_t)r->received.len;
	c->ua_len = (uint8_t)r->user_agent.len;
	c->pad = 0;
	char *d = put_raw(c->s, in->uri);
	d = put_raw(d, r->call_id);
	d = put_raw(d, r->received);
	d = put_raw(d, r->user_agent);
	memset(d, 0, ct_size(c) - (size_t)(d - (char *)c));
	img_copy(im, c);        /* in place: counts it */
}

/* Same Call-ID and a CSeq not higher: a late or repeated request. */
static int ct_stale(const struct ul_ct *c, const struct ul_req *r)
{
	return str_eq(ct_cid(c), c->cid_len, r->call_id.s, r->call_id.len) &&
		r->cseq <= c->cseq;
}

/* The request's last contact with c's URI, or -1. */
static int req_match(const struct ul_req *r, const char *uri, size_t len)
{
	for (unsigned i = r->ncontacts; i-- > 0;)
		if (str_eq(r->contacts[i].uri.s, r->contacts[i].uri.len, uri, len))
			return (int)i;
	return -1;
}

/* Step 6, '*' with Expires 0: every binding goes, unless one of them has
 * the request's Call-ID with a CSeq at least as high. */
static int build_star(const struct ul_rec *old, const struct ul_req *r)
{
	const struct ul_ct *c = old ? rec_first(old) : NULL;
	for (unsigned i = 0; old && i < old->n; i++, c = ct_next(c))
		if (ct_live(c, (uint32_t)r->now) && ct_stale(c, r))
			return UL_E_CSEQ;
	return UL_OK;
}

/* The old live bindings, each kept or replaced by the request's last
 * contact with its URI (or dropped when that one says 0). */
static int build_old(struct img *im, const struct ul_rec *old,
		const struct ul_req *r, const uint32_t *exp)
{
	const struct ul_ct *c = rec_first(old);
	for (unsigned k = 0; k < old->n; k++, c = ct_next(c)) {
		if (!ct_live(c, (uint32_t)r->now))
			continue;
		int i = req_match(r, c->s, c->uri_len);
		if (i < 0) {
			img_copy(im, c);
			continue;
		}
		if (ct_stale(c, r))
			return UL_E_CSEQ;
		if (exp[i])
			img_new(im, r, (unsigned)i, exp[i]);
	}
	return UL_OK;
}

/* Is URI i of the request among the old live bindings? */
static int old_has(const struct ul_rec *old, const struct ul_req *r,
		unsigned i)
{
	const struct ul_ct *c = old ? rec_first(old) : NULL;
	for (unsigned k = 0; old && k < old->n; k++, c = ct_next(c))
		if (ct_live(c, (uint32_t)r->now) && str_eq(c->s, c->uri_len,
				r->contacts[i].uri.s, r->contacts[i].uri.len))
			return 1;
	return 0;
}

/* Step 7: build the AOR's new block in im. */
static int build(struct img *im, const struct ul_rec *old,
		const struct ul_req *r, const uint32_t *exp, unsigned max)
{
	int rc;
	img_start(im, r->aor, hash_str(r->aor.s, r->aor.len));
	if (r->star)
		return build_star(old, r);
	if (old && (rc = build_old(im, old, r, exp)))
		return rc;
	for (unsigned i = 0; i < r->ncontacts; i++) {
		const struct ul_str *u = &r->contacts[i].uri;
		if (!exp[i] || req_match(r, u->s, u->len) != (int)i ||
		    old_has(old, r, i))
			continue;
		if (im->rec->n >= max)
			return UL_E_TOOMANY;
		img_new(im, r, i, exp[i]);
	}
	return im->rec->n > max ? UL_E_TOOMANY : UL_OK;
}

/* --- requests: commit --------------------------------------------------- */

static void count(struct ul_bucket *b, int daor, int dct)
{
	__atomic_store_n(&b->naor, b->naor + (uint32_t)daor, __ATOMIC_RELAXED);
	__atomic_store_n(&b->nct, b->nct + (uint32_t)dct, __ATOMIC_RELAXED);
}

/* Rewrite old from the image: B is set for the whole copy, so a holder
 * killed in the middle leaves a block the next holder throws away. */
static void commit_in_place(struct ul_rec *old, const struct img *im)
{
	size_t half = im->len / 2, from = offsetof(struct ul_rec, hash);
	struct ul_rec h = *im->rec;
	rec_set_busy(old, 1);
	h.next = old->next;
	h.cap_b = old->cap_b;   /* busy, same cap */
	memcpy((char *)old + from, (const char *)&h + from, sizeof(h) - from);
	memcpy((char *)old + sizeof(h), im->u.buf + sizeof(h), half - sizeof(h));
	if (ul_fault_hook)
		ul_fault_hook(UL_AT_WRITING);
	memcpy((char *)old + half, im->u.buf + half, im->len - half);
	rec_set_busy(old, 0);
}

/* Link a new block in old's place (or at the head). */
static int commit_new(struct ul_bucket *b, struct ul_rec **link,
		struct ul_rec *old, const struct img *im)
{
	struct ul_rec *nr = shm_malloc(im->len);
	if (!nr)
		return UL_E_NOMEM;
	memcpy(nr, im->u.buf, im->len);
	nr->cap_b = (uint16_t)im->len;
	nr->next = old ? old->next : b->head;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (old)
		*link = nr;
	else
		b->head = nr;
	shm_free(old);
	return UL_OK;
}

static int commit(struct ul_bucket *b, struct ul_rec **link,
		struct ul_rec *old, const struct img *im)
{
	int oldn = old ? old->n : 0, n = im->rec->n;
	if (!n) {
		if (old) {
			*link = old->next;
			shm_free(old);
			count(b, -1, -oldn);
		}
		return UL_OK;
	}
	/* In place when it fits and does not waste over half the block; a
	 * shrink that finds no memory stays in place. */
	if (old && im->len <= rec_cap(old) && im->len * 2 >= rec_cap(old)) {
		commit_in_place(old, im);
	} else if (commit_new(b, link, old, im) != UL_OK) {
		if (!old || im->len > rec_cap(old))
			return UL_E_NOMEM;
		commit_in_place(old, im);
	}
	count(b, old ? 0 : 1, n - oldn);
	return UL_OK;
}

/* --- the API ----------------------------------------------------------- */

/* Under the lock: build, copy the answer out, then commit (the answer
 * first, so that a pkg failure leaves shm untouched). */
static int apply(struct ul_bucket *b, const struct ul_req *r,
		const uint32_t *exp, const struct ul_limits *l,
		struct ul_result *res)
{
	static __thread struct img im;  /* REC_MAX: off the stack */
	struct ul_rec **link, *old = bucket_find(b, r->aor, hash_str(r->aor.s,
			r->aor.len), &link);
	int rc = build(&im, old, r, exp, l->max_contacts);
	if (rc)
		return rc;
	struct ul_set *set = NULL;
	if (res && !(set = set_copy(im.rec, (uint32_t)r->now)))
		return UL_E_PKG;
	if (r->star || r->ncontacts)
		rc = commit(b, link, old, &im);
	if (rc) {
		pkg_free(set);
		return rc;
	}
	if (res)
		res->set = set;
	return UL_OK;
}

int ul_register(const struct ul_req *r, struct ul_result *res)
{
	uint32_t exp[UL_CONTACTS_MAX];
	if (res)
		memset(res, 0, sizeof(*res));
	if (!tab)
		return UL_E_NOINIT;
	const struct ul_limits *l = r->lim ? r->lim : &tab->lim;
	int rc = req_shape(r);
	if (!rc && (rc = req_expires(r, l, exp)) == UL_E_BRIEF && res)
		res->min_expires = l->min_expires;
	if (rc)
		return rc;
	struct ul_bucket *b = bucket_lock(hash_str(r->aor.s, r->aor.len));
	rc = apply(b, r, exp, l, res);
	bucket_unlock(b);
	return rc;
}

struct ul_set *ul_lookup(struct ul_str aor, int64_t now, int *rcp)
{
	int dummy, rc;
	struct ul_set *s = NULL;
	struct ul_rec **link, *r;
	if (!rcp)
		rcp = &dummy;
	if (!tab || !now_ok(now) || (rc = aor_ok(aor))) {
		*rcp = !tab ? UL_E_NOINIT : !now_ok(now) ? UL_E_BAD : rc;
		return NULL;
	}
	uint32_t h = hash_str(aor.s, aor.len);
	struct ul_bucket *b = bucket_lock(h);
	if ((r = bucket_find(b, aor, h, &link)))
		s = set_copy(r, (uint32_t)now);
	bucket_unlock(b);
	*rcp = !r ? UL_E_NOTFOUND : !s ? UL_E_PKG : s->n ? UL_OK :
		UL_E_NOTFOUND;
	if (s && !s->n) {
		pkg_free(s);
		s = NULL;
	}
	return s;
}

int ul_rm(struct ul_str aor)
{
	int rc;
	struct ul_rec **link, *r;
	if (!tab)
		return UL_E_NOINIT;
	if ((rc = aor_ok(aor)))
		return rc;
	uint32_t h = hash_str(aor.s, aor.len);
	struct ul_bucket *b = bucket_lock(h);
	if ((r = bucket_find(b, aor, h, &link))) {
		*link = r->next;
		count(b, -1, -(int)r->n);
		shm_free(r);
	}
	bucket_unlock(b);
	return r ? UL_OK : UL_E_NOTFOUND;
}

/* --- expiry ---------------------------------------------------------------- */

/* Drop r's expired contacts in place; returns how many. */
static unsigned rec_expire(struct ul_rec *r, uint32_t now)
{
	struct ul_ct *c = rec_first(r), *dst = c;
	unsigned dead = 0, n = r->n;
	for (unsigned i = 0; i < n; i++, c = ct_next(c))
		dead += !ct_live(c, now);
	if (!dead || dead == n)
		return dead;
	rec_set_busy(r, 1);
	c = rec_first(r);
	for (unsigned i = 0; i < n; i++) {
		struct ul_ct *nx = ct_next(c);
		size_t sz = ct_size(c);
		if (ct_live(c, now)) {
			memmove(dst, c, sz);
			dst = (struct ul_ct *)((char *)dst + sz);
		}
		c = nx;
	}
	r->n = (uint8_t)(n - dead);
	rec_set_busy(r, 0);
	return dead;
}

static unsigned bucket_expire(struct ul_bucket *b, uint32_t now)
{
	unsigned gone = 0;
	struct ul_rec **pp = &b->head;
	while (*pp) {
		struct ul_rec *r = *pp;
		unsigned n = r->n, dead = rec_expire(r, now);
		gone += dead;
		if (dead == n) {
			*pp = r->next;
			count(b, -1, -(int)n);
			shm_free(r);
			continue;
		}
		count(b, 0, -(int)dead);
		pp = &r->next;
	}
	return gone;
}

unsigned ul_timer(int64_t now)
{
	unsigned gone = 0;
	if (!tab || !now_ok(now))
		return 0;
	for (uint32_t i = 0; i <= tab->mask; i++) {
		struct ul_bucket *b = &tab->b[i];
		if (!__atomic_load_n(&b->head, __ATOMIC_RELAXED))
			continue;       /* an empty bucket costs no lock */
		b = bucket_lock(i);
		gone += bucket_expire(b, (uint32_t)now);
		bucket_unlock(b);
	}
	return gone;
}

/* --- walk ------------------------------------------------------------------ */

static void set_list_free(struct ul_set *s)
{
	while (s) {
		struct ul_set *nx = s->next;
		pkg_free(s);
		s = nx;
	}
}

/* Copies of bucket i's AORs with live bindings, in chain order. */
static int bucket_copy(uint32_t i, uint32_t now, struct ul_set **out)
{
	struct ul_set **tail = out;
	struct ul_bucket *b = bucket_lock(i);
	int rc = UL_OK;
	*out = NULL;
	for (struct ul_rec *r = b->head; r && !rc; r = r->next) {
		struct ul_set *s = set_copy(r, now);
		if (!s)
			rc = UL_E_PKG;
		else if (!s->n)
			pkg_free(s);
		else {
			*tail = s;
			tail = &s->next;
		}
	}
	bucket_unlock(b);
	return rc;
}

int ul_walk(int64_t now, ul_walk_fn fn, void *arg)
{
	int rc = 0;
	if (!tab)
		return UL_E_NOINIT;
	if (!now_ok(now))
		return UL_E_BAD;
	for (uint32_t i = 0; i <= tab->mask && !rc; i++) {
		struct ul_set *list;
		if (!__atomic_load_n(&tab->b[i].head, __ATOMIC_RELAXED))
			continue;
		rc = bucket_copy(i, (uint32_t)now, &list);
		for (struct ul_set *s = list; s && !rc; s = s->next)
			rc = fn(s, arg);
		set_list_free(list);
	}
	return rc;
}

/* --- codes ----------------------------------------------------------------- */

int ul_sip_code(int rc)
{
	switch (rc) {
	case UL_OK: return 200;
	case UL_E_BAD: case UL_E_TOOLONG: return 400;
	case UL_E_TOOMANY: return 403;
	case UL_E_NOTFOUND: return 404;
	case UL_E_BRIEF: return 423;
	case UL_E_NOMEM: return 503;
	default: return 500;
	}
}

const char *ul_strerror(int rc)
{
	switch (rc) {
	case UL_OK: return "OK";
	case UL_E_BAD: return "Bad Request";
	case UL_E_TOOLONG: return "Bad Request (value too long)";
	case UL_E_CSEQ: return "Server Internal Error (CSeq out of order)";
	case UL_E_BRIEF: return "Interval Too Brief";
	case UL_E_TOOMANY: return "Forbidden (too many registered contacts)";
	case UL_E_NOMEM: return "Service Unavailable (out of shared memory)";
	case UL_E_PKG: return "Server Internal Error (out of memory)";
	case UL_E_NOTFOUND: return "Not Found";
	case UL_E_NOINIT: return "Server Internal Error (no location table)";
	default: return "Server Internal Error";
	}
}
