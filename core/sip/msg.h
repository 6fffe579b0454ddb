/*
 * msg.h - srproxy's SIP message: a lazy, zero-copy parser (RFC 3261
 * syntax, RFC 3581 rport) over a received datagram.
 *
 * sip_parse() reads the first line and splits the header section into
 * lines; nothing else.  Each header is one struct sip_hdr of offsets into
 * the caller's buffer (which must stay put and unchanged until
 * sip_msg_free()); a header's value is parsed only when an accessor asks
 * for it, and every accessor parses again on each call (no cache: each
 * costs O(length of the value), a few tens of ns).  Results point into the
 * buffer (struct sip_str); nothing is copied, nothing is NUL-terminated.
 *
 * Allocation, exactly (all from pkg, module "sip"):
 *   - sip_parse() keeps the first SIP_HDR_INLINE headers in the array
 *     inside struct sip_msg: no allocation at all for such messages;
 *   - a message with more header lines takes ONE pkg block, at the
 *     (SIP_HDR_INLINE+1)-th header, sized from a count of the line feeds
 *     left in the buffer (an upper bound on the header lines left), so it
 *     never grows again; 16 bytes per header;
 *   - accessors and builders never allocate;
 *   - sip_msg_free() gives that block back (a no-op otherwise; safe to
 *     call twice, and after a failed sip_parse(), which has freed already).
 * The inline array was chosen by measurement (utils/sipbench/README.md):
 * taking one pkg block per message (sip_hdr_inline = 0) adds ~1,200
 * instructions (pkg_malloc + pkg_free, MEMDBG=1) to the ~7,500 of
 * parse + the proxy's fields for a typical INVITE (+16%), while a UA's
 * or sipp's messages carry 8-15 header lines: 24 inline (384 bytes)
 * covers them, and a larger message still costs one allocation only.
 *
 * Bounds: buf is never read at or past buf + len (it need not end in
 * NUL); len <= SIP_MAX_LEN; at most SIP_MAX_HDRS header lines; header
 * names of 1..255 bytes.  Numbers are range-checked (CSeq < 2^31, port
 * 1..65535, Max-Forwards <= 255, Expires and Content-Length < 2^32,
 * Content-Length within the datagram).  Errors are the negative SIP_E_*
 * codes; sip_strerror() names them.  Nothing here logs: the caller counts
 * and drops.
 */
#ifndef SRP_SIP_MSG_H
#define SRP_SIP_MSG_H

#include <stddef.h>
#include <stdint.h>

#define SIP_MAX_LEN 65535u      /* the largest message (a UDP datagram) */
#define SIP_MAX_HDRS 1024u      /* header lines per message */
#define SIP_HDR_INLINE 24u      /* headers kept inside struct sip_msg */

/* Errors: every function returns 0 (or a count/length) or one of these. */
enum sip_err {
	SIP_OK = 0,
	SIP_E_NOSPACE = -1,     /* builder: the output does not fit */
	SIP_E_TRUNC = -2,       /* the message ends before its header section */
	SIP_E_EMPTY = -3,       /* only CRLFs (a keep-alive) */
	SIP_E_TOOBIG = -4,      /* longer than SIP_MAX_LEN */
	SIP_E_LINE = -5,        /* bad request or status line */
	SIP_E_VERSION = -6,     /* not SIP/2.0 */
	SIP_E_HDR = -7,         /* bad header line (name, colon) */
	SIP_E_TOOMANY = -8,     /* more headers/values than the limit */
	SIP_E_NOMEM = -9,       /* pkg memory exhausted */
	SIP_E_NOHDR = -10,      /* no such header (or value index) */
	SIP_E_SYNTAX = -11,     /* bad header value */
	SIP_E_RANGE = -12,      /* number out of range */
	SIP_E_URI = -13,        /* bad URI */
	SIP_E_DUP = -14,        /* a single-valued header appears twice */
	SIP_E_MISMATCH = -15,   /* CSeq method differs from the request's */
	SIP_E_BODY = -16,       /* Content-Length beyond the datagram */
	SIP_E_MAXFWD = -17,     /* builder: Max-Forwards is 0 (answer 483) */
	SIP_E_ARG = -18,        /* builder: bad argument */
};
#define SIP_E_COUNT 19          /* number of codes, SIP_OK included */

const char *sip_strerror(int err);

/* A span of the message's buffer. */
struct sip_str {
	const char *s;
	uint32_t len;
};

enum sip_method {
	SIP_M_OTHER, SIP_M_INVITE, SIP_M_ACK, SIP_M_BYE, SIP_M_CANCEL,
	SIP_M_REGISTER, SIP_M_OPTIONS, SIP_M_INFO, SIP_M_UPDATE, SIP_M_PRACK,
	SIP_M_SUBSCRIBE, SIP_M_NOTIFY, SIP_M_MESSAGE, SIP_M_REFER,
	SIP_M_PUBLISH,
};

/* Header types; compact forms map to the same type. */
enum sip_htype {
	SIP_H_OTHER, SIP_H_VIA, SIP_H_FROM, SIP_H_TO, SIP_H_CALLID,
	SIP_H_CSEQ, SIP_H_CONTACT, SIP_H_EXPIRES, SIP_H_MAXFWD, SIP_H_ROUTE,
	SIP_H_RECROUTE, SIP_H_CLEN, SIP_H_CTYPE, SIP_H_CENC, SIP_H_SUPPORTED,
	SIP_H_SUBJECT, SIP_H_EVENT, SIP_H_REFER_TO, SIP_H_REFERRED_BY,
	SIP_H_ALLOW, SIP_H_ALLOW_EVENTS, SIP_H_REQUIRE, SIP_H_PROXY_REQUIRE,
	SIP_H_UNSUPPORTED, SIP_H_USER_AGENT, SIP_H_SERVER,
	SIP_H_AUTHORIZATION, SIP_H_PROXY_AUTHZ, SIP_H_WWW_AUTH,
	SIP_H_PROXY_AUTH, SIP_H_ACCEPT_CONTACT, SIP_H_REJECT_CONTACT,
	SIP_H_REQ_DISPOSITION, SIP_H_SESSION_EXPIRES, SIP_H_IDENTITY,
	SIP_H_IDENTITY_INFO, SIP_H_MIN_EXPIRES, SIP_H_PATH,
	SIP_H_NTYPES
};

/* One header line (folded continuation lines included): offsets into the
 * buffer.  The line runs from name to the next header's name (or to the
 * blank line, sip_msg.eoh, for the last one). */
struct sip_hdr {
	uint32_t name;          /* offset of the name */
	uint32_t body;          /* offset of the value, leading LWS skipped */
	uint32_t body_len;      /* trailing LWS and CRLF trimmed */
	uint8_t name_len;
	uint8_t type;           /* enum sip_htype */
	uint16_t next;          /* index + 1 of the next header of this type */
};
_Static_assert(sizeof(struct sip_hdr) == 16, "sip_hdr is 16 bytes");

enum sip_msg_type { SIP_REQUEST = 1, SIP_REPLY = 2 };

struct sip_msg {
	const char *buf;
	uint32_t len;
	uint8_t type;           /* enum sip_msg_type */
	uint8_t method_id;      /* enum sip_method (requests) */
	uint16_t code;          /* status code (replies) */
	struct sip_str method;  /* requests */
	struct sip_str ruri;    /* requests: the Request-URI's text */
	struct sip_str reason;  /* replies */
	uint32_t start;         /* offset of the first line (CRLFs skipped) */
	uint32_t hdrs;          /* offset of the first header line */
	uint32_t eoh;           /* offset of the blank line */
	uint32_t body;          /* offset just past the blank line */
	uint16_t nhdr;          /* headers in hdr[] */
	uint16_t cap;           /* room in hdr[] */
	struct sip_hdr *hdr;    /* inl, or the one pkg block */
	uint16_t first[SIP_H_NTYPES];   /* index + 1 of the first of a type */
	struct sip_hdr inl[SIP_HDR_INLINE];
};

/* Headers kept inline before the pkg block is taken: SIP_HDR_INLINE by
 * default; 0 makes every message with headers take its block (the
 * benchmark measures that way, the tests cover the pkg path with it). */
extern unsigned sip_hdr_inline;

/* Parse the first line and split the headers.  0 or SIP_E_*; on error
 * nothing stays allocated.  Call sip_msg_free() when done either way. */
int sip_parse(struct sip_msg *m, const char *buf, size_t len);
void sip_msg_free(struct sip_msg *m);

/* --- headers as lines ---------------------------------------------------- */
/* Index of the first header of a type, -1 when absent. */
int sip_hdr_first(const struct sip_msg *m, enum sip_htype t);
/* Index of the next header of the same type after i, -1 at the end. */
int sip_hdr_next(const struct sip_msg *m, int i);
/* Index of the first header named name (case-insensitive, full names
 * only), -1 when absent: for headers without a type of their own. */
int sip_hdr_find(const struct sip_msg *m, const char *name, size_t len);
struct sip_str sip_hdr_value(const struct sip_msg *m, int i);
struct sip_str sip_hdr_name(const struct sip_msg *m, int i);
/* Offsets of header i's whole line: [*from, *to), CRLF(s) included. */
void sip_hdr_line(const struct sip_msg *m, int i, uint32_t *from,
		uint32_t *to);
/* The number of headers of a type (multi-line). */
int sip_hdr_count(const struct sip_msg *m, enum sip_htype t);

/* --- parsed values ------------------------------------------------------- */
enum sip_scheme { SIP_URI_SIP = 1, SIP_URI_SIPS, SIP_URI_TEL, SIP_URI_OTHER };

struct sip_uri {
	uint8_t scheme;         /* enum sip_scheme */
	uint8_t ipv6;           /* host is an IPv6 reference ("[...]") */
	uint8_t lr;             /* ;lr present */
	uint16_t port;          /* 0 when absent */
	struct sip_str user, passwd, host, params, headers;
	struct sip_str transport, maddr, user_param;  /* URI parameters */
	struct sip_str opaque;  /* tel: / other schemes: all after ':' */
};

/* A Via value (via-parm). */
enum sip_proto { SIP_PROTO_OTHER, SIP_PROTO_UDP, SIP_PROTO_TCP,
	SIP_PROTO_TLS, SIP_PROTO_SCTP, SIP_PROTO_WS, SIP_PROTO_WSS };

struct sip_via {
	struct sip_str name, version, transport;  /* "SIP" "2.0" "UDP" */
	uint8_t proto;          /* enum sip_proto */
	uint8_t ipv6;
	uint8_t has_rport;      /* ;rport present (with or without value) */
	uint8_t last_in_hdr;    /* no other value follows in this line */
	int32_t rport;          /* its value, -1 when absent or empty */
	uint16_t port;          /* 0 when absent */
	struct sip_str host;    /* "[::1]" keeps its brackets */
	struct sip_str branch, received, maddr, ttl;
	struct sip_str params;  /* ";..." all the parameters */
	int hdr;                /* index of its header line */
	uint32_t start, end;    /* the value's offsets, params included */
	uint32_t next;          /* where the next value of the line starts
	                           (or the value's end when last_in_hdr) */
};

/* From, To, Contact, Route values. */
struct sip_naddr {
	struct sip_str whole;   /* the whole value, params included */
	struct sip_str display; /* display name (quotes kept) or empty */
	struct sip_str uri_str; /* the URI's text */
	struct sip_uri uri;
	struct sip_str params;  /* header parameters ";...", or empty */
	struct sip_str tag;     /* ;tag= value (From/To), else empty */
	int64_t expires;        /* Contact ;expires= (< 2^32), -1 absent */
	int32_t q;              /* Contact ;q= in thousandths, -1 absent */
};

struct sip_cseq {
	uint32_t num;           /* < 2^31 */
	uint8_t method_id;
	struct sip_str method;
};

/* The Request-URI, parsed. */
int sip_get_ruri(const struct sip_msg *m, struct sip_uri *u);
/* Via value i (0: the top one), counted over all Via lines in order:
 * 0, SIP_E_NOHDR when there are fewer, or the value's error. */
int sip_get_via(const struct sip_msg *m, int i, struct sip_via *v);
int sip_via_count(const struct sip_msg *m);     /* or SIP_E_* */
int sip_get_cseq(const struct sip_msg *m, struct sip_cseq *c);
int sip_get_from(const struct sip_msg *m, struct sip_naddr *a);
int sip_get_to(const struct sip_msg *m, struct sip_naddr *a);
int sip_get_callid(const struct sip_msg *m, struct sip_str *id);
/* Contacts of every Contact line, in order, into c[0..max): their number,
 * SIP_E_TOOMANY when more than max, SIP_E_NOHDR when none.  "Contact: *"
 * sets *star (and gives 0 contacts); a star beside others is an error. */
int sip_get_contacts(const struct sip_msg *m, struct sip_naddr *c, int max,
		int *star);
int sip_get_expires(const struct sip_msg *m, uint32_t *secs);
int sip_get_max_forwards(const struct sip_msg *m, uint32_t *n);
/* Route values (name-addr only) of every Route line, as contacts. */
int sip_get_routes(const struct sip_msg *m, struct sip_naddr *r, int max);
int sip_get_content_length(const struct sip_msg *m, uint32_t *n);
/* The body: Content-Length bytes after the blank line (SIP_E_BODY when
 * the datagram is shorter), or all of the rest when there is no
 * Content-Length (UDP, RFC 3261 18.3). */
int sip_get_body(const struct sip_msg *m, struct sip_str *body);

/* Every field a proxy or registrar reads, parsed once: Request-URI, all
 * Vias, From, To, Call-ID, CSeq (number, and method = the request's),
 * Max-Forwards, Contacts, Expires, Routes, Content-Length and body; the
 * single-valued ones must not repeat.  The first error, or 0. */
int sip_msg_check(const struct sip_msg *m);

/* Standalone parsers the accessors use (s..s+len, no NUL needed). */
int sip_parse_uri(const char *s, size_t len, struct sip_uri *u);
int sip_method_id(const char *s, size_t len);

#endif /* SRP_SIP_MSG_H */
