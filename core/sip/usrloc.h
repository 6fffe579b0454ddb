/*
 * usrloc.h - the registrar's location table: address of record (AOR) ->
 * its contacts (bindings), in shm, so that every SIP worker registers and
 * looks up in one table and the timer process expires what any worker
 * stored.
 *
 * The table is made by the main process before fork (ul_init, called by
 * the module's init).  It is a hash table of a power-of-two number of
 * buckets, each with its own shm_lock; every operation takes exactly one
 * bucket lock (the timer and the dump take them one after the other), and
 * inside it at most the shm heap lock: bucket -> heap is the only order.
 *
 * The API takes plain strings (pointer + length, not NUL-terminated) and
 * plain numbers, not parsed SIP messages: the caller (the REGISTER handler)
 * extracts them.  Strings are compared byte for byte (AORs and contact
 * URIs are expected in the caller's canonical form).  Times are seconds of
 * the caller's clock (the server uses time(NULL)), stored in 32 bits.
 *
 * What leaves the table is a copy: lookups and REGISTER answers get a
 * struct ul_set in the calling process's pkg memory (one block, freed with
 * pkg_free), made under the bucket lock, so nothing in shm is ever read
 * without the lock.
 */
#ifndef SRP_USRLOC_H
#define SRP_USRLOC_H

#include <stddef.h>
#include <stdint.h>

/* Longest strings stored (bytes); longer input is refused (UL_E_TOOLONG). */
#define UL_AOR_MAX 255
#define UL_URI_MAX 512
#define UL_CALLID_MAX 255
#define UL_RECEIVED_MAX 128
#define UL_UA_MAX 255
/* Most contacts one AOR may have, whatever the settings say. */
#define UL_CONTACTS_MAX 16
/* Largest expires value taken (about 68 years): larger is clamped. */
#define UL_EXPIRES_MAX 0x7fffffff

/* Return codes; ul_sip_code() maps them to a SIP reply status. */
enum ul_rc {
	UL_OK = 0,
	UL_E_BAD = -1,          /* 400: '*' with other contacts or Expires != 0,
	                           q out of 0..1000, empty AOR or URI */
	UL_E_TOOLONG = -2,      /* 400: a string beyond its UL_*_MAX */
	UL_E_CSEQ = -3,         /* 500: same Call-ID, CSeq not higher */
	UL_E_BRIEF = -4,        /* 423: expires below min (see min_expires) */
	UL_E_TOOMANY = -5,      /* 403: more than max_contacts for the AOR */
	UL_E_NOMEM = -6,        /* 503: out of shm; nothing was changed */
	UL_E_PKG = -7,          /* 500: out of pkg for the answer; no change */
	UL_E_NOTFOUND = -8,     /* lookup/rm: no such AOR (404 for a proxy) */
	UL_E_NOINIT = -9,       /* 500: ul_init() was not called */
};

/* A string as the parser sees it: not NUL-terminated. */
struct ul_str {
	const char *s;
	size_t len;
};

/* Settings.  Expiry values in seconds. */
struct ul_limits {
	unsigned default_expires;       /* no expires param, no Expires header */
	unsigned min_expires;           /* 0 < e < min: 423 Interval Too Brief */
	unsigned max_expires;           /* larger e is shortened to it */
	unsigned max_contacts;          /* per AOR, 1..UL_CONTACTS_MAX */
};

struct ul_cfg {
	unsigned hash_size;             /* buckets: rounded up to a power of 2,
	                                   1..1<<20 */
	struct ul_limits lim;
};

/* One Contact of a REGISTER. */
struct ul_contact_in {
	struct ul_str uri;
	int64_t expires;                /* ;expires= value, -1: absent */
	int q;                          /* ;q= in thousandths 0..1000, -1: absent */
};

/* One REGISTER, as RFC 3261 10.3 steps 6-8 need it. */
struct ul_req {
	struct ul_str aor;              /* the To URI, canonical */
	const struct ul_contact_in *contacts;
	unsigned ncontacts;             /* 0 and !star: a query */
	int star;                       /* Contact: * */
	int64_t expires_hdr;            /* Expires header, -1: absent */
	struct ul_str call_id;
	uint32_t cseq;
	struct ul_str received;         /* source "proto:ip:port", may be empty */
	struct ul_str user_agent;       /* may be empty */
	int64_t now;
	const struct ul_limits *lim;    /* NULL: the table's (ul_init) */
};

/* A binding as copied out.  Strings are NUL-terminated copies (an absent
 * User-Agent or received is ""). */
struct ul_binding {
	const char *uri, *call_id, *received, *user_agent;
	unsigned uri_len, call_id_len, received_len, user_agent_len;
	int64_t expires;                /* absolute */
	int64_t expires_in;             /* seconds left at 'now', >= 1 */
	int64_t modified;               /* when last written */
	uint32_t cseq;
	int q;                          /* -1 unspecified, else 0..1000 */
};

/* The live bindings of one AOR, highest q first (unspecified ranks as
 * 1000), then the most recently modified first.  One pkg block. */
struct ul_set {
	struct ul_set *next;            /* ul_walk's own use */
	const char *aor;
	unsigned aor_len;
	unsigned n;
	struct ul_binding c[];
};

struct ul_result {
	struct ul_set *set;             /* UL_OK: the bindings now (n may be 0);
	                                   the caller pkg_free()s it */
	unsigned min_expires;           /* UL_E_BRIEF: for the Min-Expires header */
};

/* 4096 buckets; expires default 3600 s, min 60, max 86400; 10 contacts. */
#define UL_CFG_DEFAULT { .hash_size = 4096, .lim = { .default_expires = 3600, \
		.min_expires = 60, .max_expires = 86400, .max_contacts = 10 } }
extern const struct ul_cfg ul_default_cfg;
/* What the usrloc module's init passes to ul_init (usrloc_mod.c): the
 * defaults, unless the options change it before modules_init(). */
extern struct ul_cfg ul_settings;

/* Make the table in shm (main process, before fork).  0, or -1 (logged;
 * nothing is left allocated).  cfg NULL: ul_default_cfg. */
int ul_init(const struct ul_cfg *cfg);
/* Free every binding and the table (main process, at shutdown). */
void ul_destroy(void);

/* Apply one REGISTER atomically: every binding change of the request, or
 * none.  A refresh whose strings fit the AOR's block rewrites it in place.
 * On UL_OK res->set holds the bindings for the 200 OK.  res may be NULL
 * when the answer is not wanted. */
int ul_register(const struct ul_req *r, struct ul_result *res);

/* The live bindings of an AOR, q-ordered, in pkg (pkg_free it).  NULL
 * with *rc = UL_E_NOTFOUND (none live), UL_E_PKG, UL_E_TOOLONG... */
struct ul_set *ul_lookup(struct ul_str aor, int64_t now, int *rc);

/* Remove an AOR and all its bindings.  UL_OK or UL_E_NOTFOUND. */
int ul_rm(struct ul_str aor);

/* Remove every binding expired at now (expires <= now) and every AOR left
 * empty, one bucket lock at a time.  Returns the bindings removed. */
unsigned ul_timer(int64_t now);

/* Call fn for each AOR with live bindings, bucket by bucket; fn runs with
 * no lock held, on a pkg copy it must not free.  fn returns non-zero to
 * stop; ul_walk returns that value, 0 after the last AOR, or UL_E_PKG. */
typedef int (*ul_walk_fn)(const struct ul_set *set, void *arg);
int ul_walk(int64_t now, ul_walk_fn fn, void *arg);

/* AORs and bindings stored now (expired ones until the timer runs). */
void ul_counts(uint64_t *aors, uint64_t *contacts);

/* The SIP status for a code (200 for UL_OK), and a reason phrase / text. */
int ul_sip_code(int rc);
const char *ul_strerror(int rc);

/* Fault injection for tests: when set, called with a bucket lock held:
 * UL_AT_LOCKED right after any operation takes it, UL_AT_WRITING halfway
 * through rewriting a block in place.  NULL in the server. */
enum { UL_AT_LOCKED = 1, UL_AT_WRITING = 2 };
extern void (*ul_fault_hook)(int where);

#endif /* SRP_USRLOC_H */
