/*
 * check_usrloc.c - the registrar's location table (core/sip/usrloc.c), per
 * backend: RFC 3261 10.3 steps 6-8 as ul_register() applies them, lookups,
 * expiry, out of shm, several processes, a holder killed with a bucket
 * lock.  Every test makes fresh pools (shm 32 MiB unless it says, pkg
 * 4 MiB) and a table of 64 buckets, and ends with the heap checker and
 * shm back at its value before ul_init().
 *
 *   bytes_per_contact  10,000 AORs with one contact each (strings of a
 *                      typical sipp registration): shm real_used grown,
 *                      divided by 10,000, printed, at most 576 (the goal of
 *                      issue 10 for MEMDBG=1; it holds for MEMDBG=0 too).
 *   multiproc          4 children register 250 AORs each at once, a 5th
 *                      process expires them all: shm used back exactly.
 *   dead holder        a child SIGKILLed inside a bucket lock, once right
 *                      after taking it and once halfway through rewriting a
 *                      block: the others go on, the half-written AOR is
 *                      dropped, the heap is intact.
 * Children report through their exit status only.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memtest.h"
#include "proctest.h"
#include "rpc/rpc_int.h"
#include "sip/usrloc.h"

#define SHM_SIZE ((size_t)32 << 20)
#define PKG_SIZE ((size_t)4 << 20)
#define T0 1000000              /* "now" of the tests, in seconds */

static struct t_pool tp;
static const struct ul_cfg small_cfg = {
	.hash_size = 64,
	.lim = { .default_expires = 3600, .min_expires = 60,
		.max_expires = 7200, .max_contacts = 4 },
};

static void start_sized(int i, size_t shm, const struct ul_cfg *c)
{
	t_log_start();
	ck_assert_int_eq(pkg_init(PKG_SIZE, t_backend(i)), 0);
	ck_assert_int_eq(shm_init(shm, t_backend(i)), 0);
	t_pool_start(&tp, mem_shm_pool);
	ck_assert_int_eq(ul_init(c), 0);
}

static void start(int i)
{
	start_sized(i, SHM_SIZE, &small_cfg);
}

/* Heap sane, table freed, shm as it was before ul_init. */
static void finish(const char *where)
{
	ck_assert_int_eq(mem_check(mem_shm_pool), 0);
	ul_destroy();
	t_pool_verify(&tp, NULL, 0, where);
	t_pool_back_to_start(&tp, where);
	ck_assert_int_eq(mem_check(mem_pkg_pool), 0);
}

static struct ul_str S(const char *s)
{
	return (struct ul_str){ s, strlen(s) };
}

/* A REGISTER of one AOR; contacts filled by the caller. */
static struct ul_req req(const char *aor, const char *cid, uint32_t cseq,
		int64_t now)
{
	struct ul_req r;
	memset(&r, 0, sizeof(r));
	r.aor = S(aor);
	r.call_id = S(cid);
	r.cseq = cseq;
	r.received = S("udp:10.0.0.1:5060");
	r.user_agent = S("check/1.0");
	r.expires_hdr = -1;
	r.now = now;
	return r;
}

static struct ul_contact_in ct(const char *uri, int64_t expires, int q)
{
	return (struct ul_contact_in){ S(uri), expires, q };
}

/* One contact: ul_register's code, the answer freed. */
static int reg1(const char *aor, const char *uri, int64_t expires,
		const char *cid, uint32_t cseq, int64_t now)
{
	struct ul_contact_in c = ct(uri, expires, -1);
	struct ul_req r = req(aor, cid, cseq, now);
	struct ul_result res;
	r.contacts = &c;
	r.ncontacts = 1;
	int rc = ul_register(&r, &res);
	pkg_free(res.set);
	return rc;
}

/* Bindings of aor live at now (0 if none). */
static unsigned nbind(const char *aor, int64_t now)
{
	int rc;
	struct ul_set *s = ul_lookup(S(aor), now, &rc);
	unsigned n = s ? s->n : 0;
	ck_assert_int_eq(rc, s ? UL_OK : UL_E_NOTFOUND);
	pkg_free(s);
	return n;
}

static void counts_are(uint64_t aors, uint64_t cts)
{
	uint64_t a, c;
	ul_counts(&a, &c);
	ck_assert_uint_eq(a, aors);
	ck_assert_uint_eq(c, cts);
}

/* --- step 7: bindings ------------------------------------------------------ */

START_TEST(test_new_binding)
{
	start(_i);
	struct ul_contact_in c = ct("sip:alice@10.0.0.1:5060", -1, 500);
	struct ul_req r = req("sip:alice@example.com", "cid-1", 1, T0);
	struct ul_result res;
	r.contacts = &c;
	r.ncontacts = 1;
	ck_assert_int_eq(ul_register(&r, &res), UL_OK);
	ck_assert_ptr_nonnull(res.set);
	ck_assert_uint_eq(res.set->n, 1);
	const struct ul_binding *b = &res.set->c[0];
	ck_assert_str_eq(b->uri, "sip:alice@10.0.0.1:5060");
	ck_assert_str_eq(b->call_id, "cid-1");
	ck_assert_str_eq(b->received, "udp:10.0.0.1:5060");
	ck_assert_str_eq(b->user_agent, "check/1.0");
	ck_assert_int_eq(b->expires_in, 3600);  /* the default */
	ck_assert_int_eq(b->expires, T0 + 3600);
	ck_assert_int_eq(b->modified, T0);
	ck_assert_int_eq(b->q, 500);
	ck_assert_uint_eq(b->cseq, 1);
	ck_assert_str_eq(res.set->aor, "sip:alice@example.com");
	pkg_free(res.set);
	/* The proxy's lookup sees the same, 100 s later. */
	int rc;
	struct ul_set *s = ul_lookup(S("sip:alice@example.com"), T0 + 100, &rc);
	ck_assert_int_eq(rc, UL_OK);
	ck_assert_uint_eq(s->n, 1);
	ck_assert_int_eq(s->c[0].expires_in, 3500);
	pkg_free(s);
	/* A query (no Contact) answers the bindings and changes nothing. */
	struct ul_req q = req("sip:alice@example.com", "cid-9", 1, T0);
	ck_assert_int_eq(ul_register(&q, &res), UL_OK);
	ck_assert_uint_eq(res.set->n, 1);
	pkg_free(res.set);
	ck_assert_int_eq(ul_register(&q, NULL), UL_OK);
	counts_are(1, 1);
	ck_assert_uint_eq(nbind("sip:bob@example.com", T0), 0);
	finish("new binding");
}
END_TEST

START_TEST(test_expires_choice)
{
	start(_i);
	struct ul_contact_in c[3] = { ct("sip:a@h1", 120, -1),
		ct("sip:a@h2", -1, -1), ct("sip:a@h3", 100000, -1) };
	struct ul_req r = req("sip:a@example.com", "cid", 1, T0);
	struct ul_result res;
	r.contacts = c;
	r.ncontacts = 3;
	r.expires_hdr = 300;
	ck_assert_int_eq(ul_register(&r, &res), UL_OK);
	ck_assert_uint_eq(res.set->n, 3);
	for (unsigned k = 0; k < 3; k++) {
		const struct ul_binding *b = &res.set->c[k];
		int64_t want = b->uri[7] == '1' ? 120 :    /* param */
			b->uri[7] == '2' ? 300 : 7200;      /* header, max */
		ck_assert_int_eq(b->expires_in, want);
	}
	pkg_free(res.set);
	/* 0 < expires < min: 423 with Min-Expires, and nothing stored. */
	struct ul_contact_in d = ct("sip:a@h4", 59, -1);
	r.contacts = &d;
	r.ncontacts = 1;
	r.cseq = 2;
	ck_assert_int_eq(ul_register(&r, &res), UL_E_BRIEF);
	ck_assert_ptr_null(res.set);
	ck_assert_uint_eq(res.min_expires, 60);
	ck_assert_int_eq(ul_sip_code(UL_E_BRIEF), 423);
	d.expires = -1;
	r.expires_hdr = 10;                     /* the header is brief too */
	ck_assert_int_eq(ul_register(&r, &res), UL_E_BRIEF);
	counts_are(1, 3);
	/* A per-request limit overrides the table's. */
	struct ul_limits lim = small_cfg.lim;
	lim.min_expires = 5;
	r.lim = &lim;
	ck_assert_int_eq(ul_register(&r, NULL), UL_OK);
	counts_are(1, 4);
	finish("expires choice");
}
END_TEST

static int hook_writes;

static void count_writes(int where)
{
	hook_writes += where == UL_AT_WRITING;
}

struct addrs {
	const void *a[64];
	unsigned n;
};

static int used_addr(const struct mem_frag *f, void *arg)
{
	struct addrs *x = arg;
	if (f->used && !f->cached && x->n < 64)
		x->a[x->n++] = f->addr;
	return 0;
}

START_TEST(test_refresh_in_place)
{
	start(_i);
	struct addrs before, after;
	struct mem_info m0, m1;
	ck_assert_int_eq(reg1("sip:r@x", "sip:r@10.1.1.1", 600, "c1", 1, T0),
		UL_OK);
	memset(&before, 0, sizeof(before));
	mem_walk(mem_shm_pool, used_addr, &before);
	shm_info(&m0);
	ul_fault_hook = count_writes;
	/* Refresh: same contact, higher CSeq, new expiry: rewritten where
	 * it is, no shm call at all. */
	ck_assert_int_eq(reg1("sip:r@x", "sip:r@10.1.1.1", 900, "c1", 2,
		T0 + 10), UL_OK);
	ck_assert_int_eq(hook_writes, 1);
	memset(&after, 0, sizeof(after));
	mem_walk(mem_shm_pool, used_addr, &after);
	shm_info(&m1);
	ck_assert_uint_eq(after.n, before.n);
	ck_assert(!memcmp(after.a, before.a, before.n * sizeof(before.a[0])));
	t_info_same(&m0, &m1, "refresh");
	int rc;
	struct ul_set *s = ul_lookup(S("sip:r@x"), T0 + 10, &rc);
	ck_assert_int_eq(s->c[0].expires_in, 900);
	ck_assert_uint_eq(s->c[0].cseq, 2);
	ck_assert_int_eq(s->c[0].modified, T0 + 10);
	pkg_free(s);
	/* A new Call-ID of the same length also fits. */
	ck_assert_int_eq(reg1("sip:r@x", "sip:r@10.1.1.1", 900, "c2", 1,
		T0 + 20), UL_OK);
	ck_assert_int_eq(hook_writes, 2);
	/* A longer one does not: a new block, the old one freed. */
	ck_assert_int_eq(reg1("sip:r@x", "sip:r@10.1.1.1", 900,
		"a-much-longer-call-id@somewhere", 1, T0 + 30), UL_OK);
	ck_assert_int_eq(hook_writes, 2);
	ul_fault_hook = NULL;
	counts_are(1, 1);
	finish("refresh in place");
}
END_TEST

START_TEST(test_remove)
{
	start(_i);
	struct ul_contact_in c[2] = { ct("sip:u@a", 600, -1),
		ct("sip:u@b", 600, -1) };
	struct ul_req r = req("sip:u@x", "cid", 1, T0);
	r.contacts = c;
	r.ncontacts = 2;
	ck_assert_int_eq(ul_register(&r, NULL), UL_OK);
	counts_are(1, 2);
	/* expires=0 on one contact removes that one. */
	ck_assert_int_eq(reg1("sip:u@x", "sip:u@a", 0, "cid", 2, T0), UL_OK);
	ck_assert_uint_eq(nbind("sip:u@x", T0), 1);
	/* Expires: 0 header on the other: the AOR goes. */
	c[1].expires = -1;
	r.contacts = &c[1];
	r.ncontacts = 1;
	r.expires_hdr = 0;
	r.cseq = 3;
	ck_assert_int_eq(ul_register(&r, NULL), UL_OK);
	counts_are(0, 0);
	/* Removing what is not there is no error. */
	ck_assert_int_eq(reg1("sip:u@x", "sip:u@z", 0, "cid", 4, T0), UL_OK);
	counts_are(0, 0);
	/* ul_rm. */
	ck_assert_int_eq(reg1("sip:u@x", "sip:u@a", 60, "cid", 5, T0), UL_OK);
	ck_assert_int_eq(ul_rm(S("sip:u@x")), UL_OK);
	ck_assert_int_eq(ul_rm(S("sip:u@x")), UL_E_NOTFOUND);
	counts_are(0, 0);
	finish("remove");
}
END_TEST

/* --- step 6: '*' ----------------------------------------------------------- */

START_TEST(test_wildcard)
{
	start(_i);
	struct ul_contact_in c[3] = { ct("sip:w@1", -1, -1), ct("sip:w@2", -1,
		-1), ct("sip:w@3", -1, -1) };
	struct ul_req r = req("sip:w@x", "cid-a", 10, T0);
	r.contacts = c;
	r.ncontacts = 2;
	ck_assert_int_eq(ul_register(&r, NULL), UL_OK);
	r = req("sip:w@x", "cid-b", 1, T0);     /* another UA */
	r.contacts = &c[2];
	r.ncontacts = 1;
	ck_assert_int_eq(ul_register(&r, NULL), UL_OK);
	counts_are(1, 3);
	/* '*' needs Expires: 0 and no other contact: else 400. */
	struct ul_req w = req("sip:w@x", "cid-z", 1, T0);
	w.star = 1;
	ck_assert_int_eq(ul_register(&w, NULL), UL_E_BAD);
	w.expires_hdr = 3600;
	ck_assert_int_eq(ul_register(&w, NULL), UL_E_BAD);
	w.expires_hdr = 0;
	w.contacts = c;
	w.ncontacts = 1;
	ck_assert_int_eq(ul_register(&w, NULL), UL_E_BAD);
	ck_assert_int_eq(ul_sip_code(UL_E_BAD), 400);
	/* Same Call-ID as two bindings, CSeq not higher: all refused. */
	w = req("sip:w@x", "cid-a", 10, T0);
	w.star = 1;
	w.expires_hdr = 0;
	ck_assert_int_eq(ul_register(&w, NULL), UL_E_CSEQ);
	counts_are(1, 3);
	w.cseq = 11;
	struct ul_result res;
	ck_assert_int_eq(ul_register(&w, &res), UL_OK);
	ck_assert_uint_eq(res.set->n, 0);
	pkg_free(res.set);
	counts_are(0, 0);
	ck_assert_uint_eq(nbind("sip:w@x", T0), 0);
	/* '*' on an unknown AOR: nothing to do, no error. */
	ck_assert_int_eq(ul_register(&w, NULL), UL_OK);
	finish("wildcard");
}
END_TEST

/* --- step 7: CSeq ordering -------------------------------------------------- */

START_TEST(test_cseq_order)
{
	start(_i);
	ck_assert_int_eq(reg1("sip:c@x", "sip:c@1", 600, "cid", 5, T0), UL_OK);
	ck_assert_int_eq(reg1("sip:c@x", "sip:c@1", 600, "cid", 5, T0),
		UL_E_CSEQ);                     /* a retransmission */
	ck_assert_int_eq(reg1("sip:c@x", "sip:c@1", 600, "cid", 4, T0),
		UL_E_CSEQ);                     /* late */
	ck_assert_int_eq(reg1("sip:c@x", "sip:c@1", 0, "cid", 4, T0),
		UL_E_CSEQ);                     /* a late removal too */
	ck_assert_int_eq(ul_sip_code(UL_E_CSEQ), 500);
	ck_assert_int_eq(reg1("sip:c@x", "sip:c@1", 600, "other", 1, T0),
		UL_OK);                         /* another Call-ID: taken */
	ck_assert_int_eq(reg1("sip:c@x", "sip:c@1", 600, "other", 2, T0),
		UL_OK);
	/* All or nothing: a new contact and a stale one in one request. */
	struct ul_contact_in c[2] = { ct("sip:c@new", 600, -1),
		ct("sip:c@1", 600, -1) };
	struct ul_req r = req("sip:c@x", "other", 2, T0);
	r.contacts = c;
	r.ncontacts = 2;
	ck_assert_int_eq(ul_register(&r, NULL), UL_E_CSEQ);
	ck_assert_uint_eq(nbind("sip:c@x", T0), 1);
	r.cseq = 3;
	ck_assert_int_eq(ul_register(&r, NULL), UL_OK);
	ck_assert_uint_eq(nbind("sip:c@x", T0), 2);
	/* An expired binding is gone for the rules too. */
	ck_assert_int_eq(reg1("sip:c@x", "sip:c@1", 600, "other", 1,
		T0 + 601), UL_OK);
	finish("cseq order");
}
END_TEST

START_TEST(test_q_order)
{
	start(_i);
	struct ul_contact_in c[4] = { ct("sip:q@low", -1, 100),
		ct("sip:q@half", -1, 500), ct("sip:q@none", -1, -1),
		ct("sip:q@one", -1, 1000) };
	struct ul_req r = req("sip:q@x", "cid", 1, T0);
	r.contacts = c;
	r.ncontacts = 3;
	ck_assert_int_eq(ul_register(&r, NULL), UL_OK);
	r.contacts = &c[3];                     /* later: newer at q 1.0 */
	r.ncontacts = 1;
	r.cseq = 2;
	r.now = T0 + 5;
	ck_assert_int_eq(ul_register(&r, NULL), UL_OK);
	int rc;
	struct ul_set *s = ul_lookup(S("sip:q@x"), T0 + 5, &rc);
	ck_assert_uint_eq(s->n, 4);
	ck_assert_str_eq(s->c[0].uri, "sip:q@one");
	ck_assert_str_eq(s->c[1].uri, "sip:q@none");
	ck_assert_str_eq(s->c[2].uri, "sip:q@half");
	ck_assert_str_eq(s->c[3].uri, "sip:q@low");
	ck_assert_int_eq(s->c[1].q, -1);
	pkg_free(s);
	finish("q order");
}
END_TEST

START_TEST(test_max_contacts)
{
	start(_i);
	char uri[8][32];
	struct ul_contact_in c[8];
	for (int k = 0; k < 8; k++) {
		snprintf(uri[k], sizeof(uri[k]), "sip:m@host%d", k);
		c[k] = ct(uri[k], -1, -1);
	}
	struct ul_req r = req("sip:m@x", "cid", 1, T0);
	r.contacts = c;
	r.ncontacts = 5;                        /* max_contacts is 4 */
	ck_assert_int_eq(ul_register(&r, NULL), UL_E_TOOMANY);
	counts_are(0, 0);
	r.ncontacts = 4;
	ck_assert_int_eq(ul_register(&r, NULL), UL_OK);
	r.contacts = &c[4];
	r.ncontacts = 1;
	r.cseq = 2;
	ck_assert_int_eq(ul_register(&r, NULL), UL_E_TOOMANY);
	ck_assert_int_eq(ul_sip_code(UL_E_TOOMANY), 403);
	/* Replacing one is fine: remove host0 and add host4 at once. */
	struct ul_contact_in two[2] = { ct(uri[0], 0, -1), ct(uri[4], -1, -1) };
	r.contacts = two;
	r.ncontacts = 2;
	ck_assert_int_eq(ul_register(&r, NULL), UL_OK);
	counts_are(1, 4);
	/* The same URI twice in one request: the last one counts. */
	struct ul_contact_in dup[2] = { ct(uri[5], 600, -1), ct(uri[5], 0, -1) };
	r.contacts = dup;
	r.cseq = 3;
	ck_assert_int_eq(ul_register(&r, NULL), UL_OK);
	counts_are(1, 4);
	finish("max contacts");
}
END_TEST

/* --- limits: nothing crashes, overlong input has its code ------------------- */

static int reg_len(size_t aor, size_t uri, size_t cid, size_t rcv,
		size_t ua)
{
	static char big[4096];
	memset(big, 'x', sizeof(big));
	struct ul_contact_in c = { { big, uri }, -1, -1 };
	struct ul_req r = req("a", "c", 1, T0);
	r.aor = (struct ul_str){ big, aor };
	r.call_id = (struct ul_str){ big, cid };
	r.received = (struct ul_str){ big, rcv };
	r.user_agent = (struct ul_str){ big, ua };
	r.contacts = &c;
	r.ncontacts = 1;
	return ul_register(&r, NULL);
}

START_TEST(test_limits)
{
	start(_i);
	ck_assert_int_eq(reg_len(UL_AOR_MAX, UL_URI_MAX, UL_CALLID_MAX,
		UL_RECEIVED_MAX, UL_UA_MAX), UL_OK);
	ck_assert_int_eq(reg_len(UL_AOR_MAX + 1, 10, 10, 10, 10),
		UL_E_TOOLONG);
	ck_assert_int_eq(reg_len(10, UL_URI_MAX + 1, 10, 10, 10),
		UL_E_TOOLONG);
	ck_assert_int_eq(reg_len(10, 10, UL_CALLID_MAX + 1, 10, 10),
		UL_E_TOOLONG);
	ck_assert_int_eq(reg_len(10, 10, 10, UL_RECEIVED_MAX + 1, 10),
		UL_E_TOOLONG);
	ck_assert_int_eq(reg_len(10, 10, 10, 10, UL_UA_MAX + 1),
		UL_E_TOOLONG);
	ck_assert_int_eq(reg_len(10, 10, 0, 0, 0), UL_OK);   /* empty ok */
	ck_assert_int_eq(reg_len(0, 10, 10, 10, 10), UL_E_BAD);
	ck_assert_int_eq(reg_len(10, 0, 10, 10, 10), UL_E_BAD);
	ck_assert_int_eq(ul_sip_code(UL_E_TOOLONG), 400);
	/* Bad q, bad now, NULL strings with lengths, too many contacts. */
	struct ul_contact_in c = ct("sip:z@1", -1, 1001);
	struct ul_req r = req("sip:z@x", "cid", 1, T0);
	r.contacts = &c;
	r.ncontacts = 1;
	ck_assert_int_eq(ul_register(&r, NULL), UL_E_BAD);
	c.q = -2;
	ck_assert_int_eq(ul_register(&r, NULL), UL_E_BAD);
	c.q = 0;
	r.now = -1;
	ck_assert_int_eq(ul_register(&r, NULL), UL_E_BAD);
	r.now = T0;
	r.call_id.s = NULL;
	ck_assert_int_eq(ul_register(&r, NULL), UL_E_BAD);
	r.call_id = S("cid");
	r.contacts = NULL;
	ck_assert_int_eq(ul_register(&r, NULL), UL_E_BAD);
	r.contacts = &c;
	r.ncontacts = UL_CONTACTS_MAX + 1;
	ck_assert_int_eq(ul_register(&r, NULL), UL_E_TOOMANY);
	/* Lookups and removals of odd AORs. */
	int rc;
	char big[UL_AOR_MAX + 2];
	memset(big, 'a', sizeof(big));
	ck_assert_ptr_null(ul_lookup((struct ul_str){ big, sizeof(big) }, T0,
		&rc));
	ck_assert_int_eq(rc, UL_E_TOOLONG);
	ck_assert_ptr_null(ul_lookup((struct ul_str){ NULL, 0 }, T0, &rc));
	ck_assert_int_eq(rc, UL_E_BAD);
	ck_assert_ptr_null(ul_lookup(S("x"), T0, NULL));
	ck_assert_int_eq(ul_rm((struct ul_str){ big, sizeof(big) }),
		UL_E_TOOLONG);
	ck_assert_int_eq(ul_rm((struct ul_str){ NULL, 3 }), UL_E_BAD);
	for (int k = UL_E_NOINIT; k <= UL_OK; k++)
		ck_assert_ptr_nonnull(ul_strerror(k));
	counts_are(2, 2);
	finish("limits");
}
END_TEST

START_TEST(test_no_table)
{
	ck_assert_int_eq(reg1("sip:n@x", "sip:n@1", 60, "c", 1, T0),
		UL_E_NOINIT);
	ck_assert_int_eq(ul_rm(S("sip:n@x")), UL_E_NOINIT);
	ck_assert_uint_eq(ul_timer(T0), 0);
	struct ul_cfg bad = small_cfg;
	bad.lim.max_contacts = UL_CONTACTS_MAX + 1;
	ck_assert_int_eq(shm_init(SHM_SIZE, NULL), 0);
	ck_assert_int_eq(ul_init(&bad), -1);
	bad = small_cfg;
	bad.lim.min_expires = 7201;
	ck_assert_int_eq(ul_init(&bad), -1);
	ck_assert_int_eq(ul_init(NULL), 0);     /* the defaults */
	ck_assert_int_eq(ul_init(NULL), -1);    /* once */
	ul_destroy();
	t_teardown();
}
END_TEST

/* --- expiry ------------------------------------------------------------------ */

START_TEST(test_expiry)
{
	start(_i);
	char aor[32];
	for (int k = 0; k < 200; k++) {
		snprintf(aor, sizeof(aor), "sip:e%d@x", k);
		ck_assert_int_eq(reg1(aor, "sip:e@a", 60 + k % 4 * 60, "cid",
			1, T0), UL_OK);
		ck_assert_int_eq(reg1(aor, "sip:e@b", 120, "cid", 2, T0),
			UL_OK);
	}
	counts_are(200, 400);
	ck_assert_uint_eq(ul_timer(T0 + 59), 0);
	/* Lookups skip what expired before the timer removes it. */
	ck_assert_uint_eq(nbind("sip:e0@x", T0 + 60), 1);
	ck_assert_uint_eq(ul_timer(T0 + 60), 50);       /* e0, e4...: @a */
	counts_are(200, 350);
	ck_assert_int_eq(mem_check(mem_shm_pool), 0);
	ck_assert_uint_eq(ul_timer(T0 + 120), 250);     /* @b, and e1...@a */
	counts_are(100, 100);
	ck_assert_uint_eq(nbind("sip:e2@x", T0 + 120), 1);
	ck_assert_uint_eq(nbind("sip:e1@x", T0 + 120), 0);
	ck_assert_uint_eq(ul_timer(T0 + 240), 100);
	counts_are(0, 0);
	finish("expiry");
}
END_TEST

static int walk_count(const struct ul_set *s, void *arg)
{
	unsigned *n = arg;
	ck_assert_uint_ge(s->n, 1);
	return ++*n >= 30 ? 7 : 0;
}

START_TEST(test_walk)
{
	start(_i);
	char aor[32];
	for (int k = 0; k < 50; k++) {
		snprintf(aor, sizeof(aor), "sip:w%d@x", k);
		ck_assert_int_eq(reg1(aor, "sip:w@a", k < 10 ? 60 : 600, "c",
			1, T0), UL_OK);
	}
	unsigned n = 0;
	ck_assert_int_eq(ul_walk(T0 + 60, walk_count, &n), 7);
	ck_assert_uint_eq(n, 30);
	n = 0;
	ck_assert_int_eq(ul_walk(T0 + 60, walk_count, &n), 7);
	n = 100;                                /* never stops on its own */
	ck_assert_int_eq(ul_walk(T0 + 60, walk_count, &n), 7);
	n = 0;
	ck_assert_int_eq(ul_walk(T0 + 700, walk_count, &n), 0);
	ck_assert_uint_eq(n, 0);
	finish("walk");
}
END_TEST

/* --- out of shm ----------------------------------------------------------------- */

START_TEST(test_out_of_shm)
{
	shm_cache_size = 0;     /* every byte in the counters, none parked */
	start_sized(_i, (size_t)256 << 10, &small_cfg);
	char aor[32];
	int k = 0, rc;
	struct mem_info m0, m1;
	uint64_t a0, c0, a1, c1;
	for (;; k++) {
		snprintf(aor, sizeof(aor), "sip:o%d@x", k);
		ul_counts(&a0, &c0);
		shm_info(&m0);
		if ((rc = reg1(aor, "sip:o@some.host:5060", 600, "cid", 1, T0)))
			break;
	}
	ck_assert_int_eq(rc, UL_E_NOMEM);
	ck_assert_int_eq(ul_sip_code(rc), 503);
	ck_assert_int_gt(k, 100);
	shm_info(&m1);
	ul_counts(&a1, &c1);
	ck_assert_uint_eq(a1, a0);
	ck_assert_uint_eq(c1, c0);
	ck_assert_uint_eq(m1.used_size, m0.used_size);
	ck_assert_uint_eq(m1.real_used, m0.real_used);
	ck_assert_uint_eq(nbind(aor, T0), 0);
	/* Growing an existing AOR fails alone: its binding stays as it was. */
	ck_assert_int_eq(reg1("sip:o0@x", "sip:o@another.host:5060", 600,
		"cid", 2, T0), UL_E_NOMEM);
	ck_assert_uint_eq(nbind("sip:o0@x", T0), 1);
	/* A refresh that fits still works with no memory left. */
	ck_assert_int_eq(reg1("sip:o0@x", "sip:o@some.host:5060", 700, "cid",
		3, T0), UL_OK);
	ck_assert_int_eq(mem_check(mem_shm_pool), 0);
	/* Memory back: registrations work again. */
	ck_assert_int_eq(ul_rm(S("sip:o1@x")), UL_OK);
	ck_assert_int_eq(ul_rm(S("sip:o2@x")), UL_OK);
	ck_assert_int_eq(reg1(aor, "sip:o@some.host:5060", 600, "cid", 1, T0),
		UL_OK);
	ck_assert_uint_eq(ul_timer(T0 + 700), (unsigned)k - 1);
	counts_are(0, 0);
	finish("out of shm");
	shm_cache_size = SHM_CACHE_AUTO;
}
END_TEST

START_TEST(test_out_of_pkg)
{
	start(_i);
	ck_assert_int_eq(reg1("sip:p@x", "sip:p@1", 600, "cid", 1, T0), UL_OK);
	struct mem_info pi;
	pkg_info(&pi);
	void *hog = pkg_malloc(pi.free_size - 512);
	while (hog && pkg_malloc(64))   /* leave less than an answer needs */
		;
	struct ul_contact_in c = ct("sip:p@2", 600, -1);
	struct ul_req r = req("sip:p@x", "cid", 2, T0);
	struct ul_result res;
	r.contacts = &c;
	r.ncontacts = 1;
	struct mem_info m0, m1;
	shm_info(&m0);
	ck_assert_int_eq(ul_register(&r, &res), UL_E_PKG);
	shm_info(&m1);
	t_info_same(&m0, &m1, "out of pkg");
	counts_are(1, 1);                       /* nothing changed */
	int rc;
	ck_assert_ptr_null(ul_lookup(S("sip:p@x"), T0, &rc));
	ck_assert_int_eq(rc, UL_E_PKG);
	ck_assert_int_eq(ul_register(&r, NULL), UL_OK);  /* no answer asked */
	counts_are(1, 2);
	ul_destroy();
	ck_assert_int_eq(mem_check(mem_shm_pool), 0);
	t_teardown();
}
END_TEST

/* --- bytes per contact --------------------------------------------------------- */

#define NAORS 10000

START_TEST(test_bytes_per_contact)
{
	struct ul_cfg cfg = ul_default_cfg;
	start_sized(_i, SHM_SIZE, &cfg);
	char aor[64], uri[96], cid[64];
	struct mem_info m0, m1;
	shm_info(&m0);
	for (int k = 0; k < NAORS; k++) {
		/* sipp-like: 28-byte AOR, 44-byte contact, 40-byte Call-ID,
		 * received "udp:ip:port", a short User-Agent. */
		snprintf(aor, sizeof(aor), "sip:user%06d@example.com", k);
		snprintf(uri, sizeof(uri), "sip:user%06d@127.0.0.1:%d;"
			"transport=udp", k, 10000 + k % 50000);
		snprintf(cid, sizeof(cid), "%d-%d@127.0.0.1-0123456789ab", k,
			4242 + k);
		struct ul_contact_in c = ct(uri, 3600, -1);
		struct ul_req r = req(aor, cid, 1, T0);
		r.received = S("udp:127.0.0.1:5061");
		r.user_agent = S("sipp/3.6.1");
		r.contacts = &c;
		r.ncontacts = 1;
		ck_assert_int_eq(ul_register(&r, NULL), UL_OK);
	}
	shm_info(&m1);
	double per = (double)(m1.real_used - m0.real_used) / NAORS;
	double pay = (double)(m1.used_size - m0.used_size) / NAORS;
	printf("usrloc: %s MEMDBG=%d: shm real_used per contact %.1f bytes "
		"(used %.1f), %d AORs of one contact\n", t_backend(_i), MEMDBG,
		per, pay, NAORS);
	ck_assert(per <= 576);
	counts_are(NAORS, NAORS);
	ck_assert_uint_eq(ul_timer(T0 + 3600), NAORS);
	finish("bytes per contact");
}
END_TEST

/* --- several processes ---------------------------------------------------------- */

#define KIDS 4
#define PER_KID 250

static int registrar(void *arg)
{
	int k = (int)(intptr_t)arg;
	char aor[32], uri[48];
	for (int j = 0; j < PER_KID; j++) {
		snprintf(aor, sizeof(aor), "sip:k%d-%d@x", k, j);
		snprintf(uri, sizeof(uri), "sip:k%d-%d@10.0.%d.1", k, j, k);
		if (reg1(aor, uri, 600, "cid", 1, T0) != UL_OK)
			return 2;
		if (reg1(aor, uri, 300, "cid", 2, T0) != UL_OK) /* refresh */
			return 3;
	}
	return 0;
}

static int expirer(void *arg)
{
	(void)arg;
	return ul_timer(T0 + 300) == KIDS * PER_KID ? 0 : 4;
}

START_TEST(test_multiproc)
{
	start(_i);
	pid_t kids[KIDS];
	for (int k = 0; k < KIDS; k++)
		kids[k] = t_spawn(registrar, (void *)(intptr_t)k);
	for (int k = 0; k < KIDS; k++)
		t_expect_exit0(kids[k]);
	counts_are(KIDS * PER_KID, KIDS * PER_KID);
	ck_assert_uint_eq(nbind("sip:k3-249@x", T0), 1);
	ck_assert_int_eq(mem_check(mem_shm_pool), 0);
	t_expect_exit0(t_spawn(expirer, NULL));        /* frees the others' blocks */
	counts_are(0, 0);
	finish("multiproc");
}
END_TEST

/* --- a holder killed inside a bucket lock ------------------------------------- */

static int kill_at;

static void die_at(int where)
{
	if (where == kill_at)
		raise(SIGKILL);
}

static int killed_registrar(void *arg)
{
	int k = (int)(intptr_t)arg;
	ul_fault_hook = die_at;
	kill_at = k;
	reg1("sip:d@x", "sip:d@1", 900, "cid", 2, T0);  /* in place */
	return 5;                       /* not reached */
}

static void on_alarm(int sig)
{
	static const char m[] = "usrloc: hangs on a dead holder\n";
	(void)sig;
	(void)!write(2, m, sizeof(m) - 1);
	_exit(99);
}

static void dead_holder(int i, int where, unsigned left)
{
	start(i);
	ck_assert_int_eq(reg1("sip:d@x", "sip:d@1", 600, "cid", 1, T0), UL_OK);
	pid_t pid = t_spawn(killed_registrar, (void *)(intptr_t)where);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	ck_assert_int_eq(si.si_code, CLD_KILLED);
	signal(SIGALRM, on_alarm);
	alarm(10);
	unsigned n = nbind("sip:d@x", T0);     /* takes the bucket over */
	ck_assert_int_eq(reg1("sip:d@y", "sip:d@1", 600, "cid", 1, T0), UL_OK);
	alarm(0);
	ck_assert_uint_eq(n, left);
	ck_assert_int_eq(mem_check(mem_shm_pool), 0);
	counts_are(left + 1, left + 1);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	finish("dead holder");
}

START_TEST(test_dead_holder_locked)
{
	dead_holder(_i, UL_AT_LOCKED, 1);       /* died before any change */
}
END_TEST

START_TEST(test_dead_holder_writing)
{
	dead_holder(_i, UL_AT_WRITING, 0);      /* the torn block is dropped */
}
END_TEST

/* --- RPC: ul.dump, ul.lookup, ul.rm ------------------------------------------ */

/* The reply to one request (params: JSON text or NULL), parsed. */
static json_t *rpc(const char *method, const char *params)
{
	char in[512];
	struct rpc_reply r;
	snprintf(in, sizeof(in), "{\"jsonrpc\":\"2.0\",\"method\":\"%s\","
		"\"params\":%s,\"id\":1}", method, params ? params : "[]");
	rpc_handle(in, strlen(in), &r);
	ck_assert_ptr_nonnull(r.text);
	json_t *j = json_loadb(r.text, r.len, 0, NULL);
	rpc_reply_release(&r);
	ck_assert_ptr_nonnull(j);
	return j;
}

static json_t *rpc_res(json_t *j)
{
	json_t *res = json_object_get(j, "result");
	T_ASSERT(res != NULL, "no result: %s", json_dumps(j, 0));
	return res;
}

static void rpc_err(const char *method, const char *params, int code,
		const char *msg)
{
	json_t *j = rpc(method, params), *e = json_object_get(j, "error");
	T_ASSERT(e && json_integer_value(json_object_get(e, "code")) == code &&
		(!msg || !strcmp(json_string_value(json_object_get(e,
		"message")), msg)), "%s %s: want %d %s: %s", method, params,
		code, msg ? msg : "", json_dumps(j, 0));
	json_decref(j);
}

START_TEST(test_rpc)
{
	start(_i);
	rpc_json_alloc_init();
	int64_t now = (int64_t)time(NULL);
	struct ul_contact_in c[2] = { ct("sip:r@10.0.0.2:5062", 600, 500),
		ct("sip:r@10.0.0.3", 300, -1) };
	struct ul_req r = req("sip:r@example.com", "cid-r", 7, now);
	r.contacts = c;
	r.ncontacts = 2;
	ck_assert_int_eq(ul_register(&r, NULL), UL_OK);
	ck_assert_int_eq(reg1("sip:s@example.com", "sip:s@h", 600, "c", 1,
		now), UL_OK);
	json_t *j = rpc("ul.lookup", "[\"sip:r@example.com\"]");
	json_t *a = rpc_res(j), *cts = json_object_get(a, "Contacts");
	ck_assert_str_eq(json_string_value(json_object_get(a, "AoR")),
		"sip:r@example.com");
	ck_assert_uint_eq(json_array_size(cts), 2);
	json_t *c0 = json_array_get(cts, 0), *c1 = json_array_get(cts, 1);
	ck_assert_str_eq(json_string_value(json_object_get(c0, "Address")),
		"sip:r@10.0.0.3");              /* no q: ranks as 1.0 */
	ck_assert(json_real_value(json_object_get(c0, "Q")) == -1.0);
	ck_assert(json_real_value(json_object_get(c1, "Q")) == 0.5);
	long long left = json_integer_value(json_object_get(c1, "Expires"));
	ck_assert(left >= 598 && left <= 600);
	ck_assert_str_eq(json_string_value(json_object_get(c1, "Call-ID")),
		"cid-r");
	ck_assert_int_eq(json_integer_value(json_object_get(c1, "CSeq")), 7);
	ck_assert_str_eq(json_string_value(json_object_get(c1, "Received")),
		"udp:10.0.0.1:5060");
	ck_assert_str_eq(json_string_value(json_object_get(c1, "User-Agent")),
		"check/1.0");
	ck_assert_int_eq(json_integer_value(json_object_get(c1,
		"Last-Modified")), now);
	json_decref(j);
	j = rpc("ul.dump", NULL);
	ck_assert_int_eq(json_integer_value(json_object_get(rpc_res(j),
		"Count")), 2);
	ck_assert_uint_eq(json_array_size(json_object_get(rpc_res(j),
		"AoRs")), 2);
	ck_assert(json_is_false(json_object_get(rpc_res(j), "Truncated")));
	json_decref(j);
	j = rpc("ul.dump", "[1]");
	ck_assert_int_eq(json_integer_value(json_object_get(rpc_res(j),
		"Count")), 1);
	ck_assert(json_is_true(json_object_get(rpc_res(j), "Truncated")));
	json_decref(j);
	rpc_err("ul.dump", "[0]", RPC_INVALID_PARAMS, NULL);
	rpc_err("ul.lookup", "[\"sip:nobody@x\"]", RPC_SERVER_ERROR,
		"AOR not found");
	rpc_err("ul.lookup", NULL, RPC_INVALID_PARAMS, NULL);
	rpc_err("ul.lookup", "[\"\"]", RPC_INVALID_PARAMS, NULL);
	j = rpc("ul.rm", "{\"aor\":\"sip:s@example.com\"}");
	ck_assert(json_is_true(json_object_get(rpc_res(j), "Removed")));
	json_decref(j);
	rpc_err("ul.rm", "[\"sip:s@example.com\"]", RPC_SERVER_ERROR,
		"AOR not found");
	counts_are(1, 2);
	finish("rpc");
}
END_TEST

Suite *usrloc_suite(void)
{
	Suite *s = suite_create("usrloc");
	TCase *tc = tcase_create("usrloc");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_new_binding, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_expires_choice, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_refresh_in_place, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_remove, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_wildcard, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_cseq_order, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_q_order, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_max_contacts, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_limits, 0, T_NBACKENDS);
	tcase_add_test(tc, test_no_table);
	tcase_add_loop_test(tc, test_expiry, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_walk, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_out_of_shm, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_out_of_pkg, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_bytes_per_contact, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_multiproc, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_dead_holder_locked, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_dead_holder_writing, 0, T_NBACKENDS);
	tcase_add_loop_test(tc, test_rpc, 0, T_NBACKENDS);
	suite_add_tcase(s, tc);
	return s;
}
