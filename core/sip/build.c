/*
 * build.c - replies and forwarded messages written into a caller's
 * buffer (build.h has the contract).
 *
 * Every function writes through struct wbuf: each put checks the room
 * left, and once something did not fit the buffer is "full", later puts
 * do nothing and the result is SIP_E_NOSPACE.  So the writers read as a
 * straight list of puts, and the bound is checked in one place.
 *
 * A forwarded message is the received one copied in spans, with a few
 * edits at known offsets (the top Via value, the Max-Forwards value, the
 * removed Via): cost O(message length), one memcpy per span.
 *
 * Stateless identifiers (branch, To tag) are FNV-1a 64 over the fields
 * named in build.h with a splitmix64 finish: stable for a retransmission,
 * different for different transactions; not a cryptographic hash (RFC
 * 3261 16.11 only asks for uniqueness and stability).
 */
#include <string.h>

#include "sip/build.h"
#include "sip/parse.h"

struct wbuf {
	char *p, *e, *start;
	int full;
};

static void wb_init(struct wbuf *w, char *out, size_t size)
{
	w->p = w->start = out;
	w->e = out + size;
	w->full = 0;
}

static void put(struct wbuf *w, const char *s, size_t n)
{
	if (w->full || (size_t)(w->e - w->p) < n) {
		w->full = 1;
		return;
	}
	memcpy(w->p, s, n);
	w->p += n;
}

static void puts_(struct wbuf *w, const char *s)
{
	put(w, s, strlen(s));
}

static void put_str(struct wbuf *w, struct sip_str s)
{
	put(w, s.s, s.len);
}

static void put_u32(struct wbuf *w, uint32_t v)
{
	char b[10];
	int i = sizeof(b);
	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(w, b + i, sizeof(b) - (size_t)i);
}

static void put_hex64(struct wbuf *w, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	char b[16];
	for (int i = 15; i >= 0; i--, v >>= 4)
		b[i] = hex[v & 15];
	put(w, b, sizeof(b));
}

static int wb_done(const struct wbuf *w)
{
	return w->full ? SIP_E_NOSPACE : (int)(w->p - w->start);
}

/* "Name: value" CRLF of header i, as the message has them. */
static void put_hdr(struct wbuf *w, const struct sip_msg *m, int i)
{
	put_str(w, sip_hdr_name(m, i));
	put(w, ": ", 2);
	put_str(w, sip_hdr_value(m, i));
	put(w, "\r\n", 2);
}

/* --- hashes -------------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return (h ^ 0xff) * 0x100000001b3ull;   /* field separator */
}

static uint64_t fnv_str(uint64_t h, struct sip_str s)
{
	return fnv(h, s.s ? s.s : "", s.s ? s.len : 0);
}

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#define FNV_BASIS 0xcbf29ce484222325ull

/* The transaction's identity: the top Via's branch when it has the
 * RFC 3261 magic cookie, else the fields RFC 3261 16.11 lists. */
static int txn_hash(const struct sip_msg *m, uint64_t *h)
{
	struct sip_via v;
	struct sip_naddr from, to;
	struct sip_cseq cs;
	struct sip_str id;
	int rc = sip_get_via(m, 0, &v);
	if (rc)
		return rc;
	if (v.branch.len > 7 && !memcmp(v.branch.s, "z9hG4bK", 7)) {
		*h = fnv_str(FNV_BASIS, v.branch);
		return 0;
	}
	if ((rc = sip_get_from(m, &from)) || (rc = sip_get_to(m, &to)) ||
	    (rc = sip_get_callid(m, &id)) || (rc = sip_get_cseq(m, &cs)))
		return rc;
	uint64_t x = fnv(FNV_BASIS, m->buf + v.start, v.end - v.start);
	x = fnv_str(fnv_str(fnv_str(x, id), from.tag), to.tag);
	x = fnv_str(x, m->ruri);
	*h = fnv(x, (const char *)&cs.num, sizeof(cs.num));
	return 0;
}

int sip_make_branch(const struct sip_msg *req, const char *host,
		uint16_t port, char *out, size_t size)
{
	struct wbuf w;
	uint64_t h;
	int rc = txn_hash(req, &h);
	if (rc)
		return rc;
	h = fnv(h, host, strlen(host));
	h = fnv(h, (const char *)&port, sizeof(port));
	wb_init(&w, out, size);
	puts_(&w, "z9hG4bKsr");
	put_hex64(&w, mix(h));
	return wb_done(&w);
}

int sip_make_tag(const struct sip_msg *req, char *out, size_t size)
{
	struct wbuf w;
	struct sip_naddr from;
	struct sip_str id;
	uint64_t h;
	int rc = txn_hash(req, &h);
	if (rc || (rc = sip_get_from(req, &from)) ||
	    (rc = sip_get_callid(req, &id)))
		return rc;
	h = fnv_str(fnv_str(h, id), from.tag);
	wb_init(&w, out, size);
	put_hex64(&w, mix(h ^ 0x7467));
	return wb_done(&w);
}

/* --- Via ----------------------------------------------------------------- */

/* The Via's sent-by host is the text ip (IPv6: inside its brackets). */
static int host_is(const struct sip_via *v, const char *ip)
{
	struct sip_str h = v->host;
	if (v->ipv6) {
		h.s++;
		h.len -= 2;
	}
	if (strlen(ip) != h.len)
		return 0;
	for (uint32_t i = 0; i < h.len; i++)
		if (lc(h.s[i]) != lc(ip[i]))
			return 0;
	return 1;
}

static void put_via_fixed(struct wbuf *w, const struct sip_msg *m,
		const struct sip_via *v, const struct sip_src *src)
{
	const char *b = m->buf, *e = b + v->end;
	if (!src) {
		put(w, b + v->start, v->end - v->start);
		return;
	}
	int add_recv = (v->has_rport && v->rport < 0) || !host_is(v, src->ip);
	const char *p = v->params.len ? v->params.s : e, *last = p;
	struct sip_param prm;
	put(w, b + v->start, (size_t)(p - (b + v->start)));
	while (sip_param_next(&p, e, &prm) > 0) {
		if (add_recv && STR_IS(prm.name, "received")) {
			/* dropped: ours follows */
		} else if (STR_IS(prm.name, "rport") && !prm.value.s) {
			puts_(w, ";rport=");
			put_u32(w, src->port);
		} else {
			put(w, last, (size_t)(p - last));
		}
		last = p;
	}
	if (add_recv) {
		puts_(w, ";received=");
		puts_(w, src->ip);
	}
}

int sip_via_fix(const struct sip_msg *m, const struct sip_via *v,
		const struct sip_src *src, char *out, size_t size)
{
	struct wbuf w;
	wb_init(&w, out, size);
	put_via_fixed(&w, m, v, src);
	return wb_done(&w);
}

void sip_via_dest(const struct sip_via *v, struct sip_str *host,
		uint16_t *port)
{
	*host = v->received.len ? v->received : v->maddr.len ? v->maddr :
		v->host;
	if (host->len >= 2 && host->s[0] == '[') {
		host->s++;
		host->len -= 2;
	}
	*port = v->rport > 0 ? (uint16_t)v->rport : v->port ? v->port :
		v->proto == SIP_PROTO_TLS ? 5061 : 5060;
}

/* --- replies -------------------------------------------------------------- */

struct reason { uint16_t code; const char *text; };

static const struct reason reasons[] = {
	{ 100, "Trying" }, { 180, "Ringing" }, { 181, "Call Is Being Forwarded" },
	{ 182, "Queued" }, { 183, "Session Progress" }, { 200, "OK" },
	{ 202, "Accepted" }, { 300, "Multiple Choices" },
	{ 301, "Moved Permanently" }, { 302, "Moved Temporarily" },
	{ 305, "Use Proxy" }, { 380, "Alternative Service" },
	{ 400, "Bad Request" }, { 401, "Unauthorized" },
	{ 403, "Forbidden" }, { 404, "Not Found" },
	{ 405, "Method Not Allowed" }, { 406, "Not Acceptable" },
	{ 407, "Proxy Authentication Required" }, { 408, "Request Timeout" },
	{ 410, "Gone" }, { 413, "Request Entity Too Large" },
	{ 414, "Request-URI Too Long" }, { 415, "Unsupported Media Type" },
	{ 416, "Unsupported URI Scheme" }, { 420, "Bad Extension" },
	{ 421, "Extension Required" }, { 423, "Interval Too Brief" },
	{ 480, "Temporarily Unavailable" },
	{ 481, "Call/Transaction Does Not Exist" }, { 482, "Loop Detected" },
	{ 483, "Too Many Hops" }, { 484, "Address Incomplete" },
	{ 485, "Ambiguous" }, { 486, "Busy Here" },
	{ 487, "Request Terminated" }, { 488, "Not Acceptable Here" },
	{ 491, "Request Pending" }, { 493, "Undecipherable" },
	{ 500, "Server Internal Error" }, { 501, "Not Implemented" },
	{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
	{ 504, "Server Time-out" }, { 505, "Version Not Supported" },
	{ 513, "Message Too Large" }, { 600, "Busy Everywhere" },
	{ 603, "Decline" }, { 604, "Does Not Exist Anywhere" },
	{ 606, "Not Acceptable" },
};

const char *sip_reason(int code)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == code)
			return reasons[i].text;
	return "Unknown";
}

/* Every Via line; the top value fixed for src. */
static void put_vias(struct wbuf *w, const struct sip_msg *m,
		const struct sip_via *top, const struct sip_src *src)
{
	for (int h = sip_hdr_first(m, SIP_H_VIA); h >= 0;
	     h = sip_hdr_next(m, h)) {
		if (h != top->hdr) {
			put_hdr(w, m, h);
			continue;
		}
		const struct sip_hdr *x = &m->hdr[h];
		put_str(w, sip_hdr_name(m, h));
		put(w, ": ", 2);
		put_via_fixed(w, m, top, src);
		put(w, m->buf + top->end, x->body + x->body_len - top->end);
		put(w, "\r\n", 2);
	}
}

static int put_to(struct wbuf *w, const struct sip_msg *m,
		const struct sip_reply_spec *r)
{
	struct sip_naddr to;
	char tag[16];
	int h = sip_hdr_first(m, SIP_H_TO), rc = sip_get_to(m, &to);
	if (rc)
		return rc;
	if (to.tag.len || r->code == 100) {
		put_hdr(w, m, h);
		return 0;
	}
	put_str(w, sip_hdr_name(m, h));
	put(w, ": ", 2);
	put_str(w, sip_hdr_value(m, h));
	puts_(w, ";tag=");
	if (r->to_tag) {
		puts_(w, r->to_tag);
	} else {
		if ((rc = sip_make_tag(m, tag, sizeof(tag))) < 0)
			return rc;
		put(w, tag, (size_t)rc);
	}
	put(w, "\r\n", 2);
	return 0;
}

/* The headers a reply copies must be there and well formed. */
static int reply_check(const struct sip_msg *m, const struct sip_reply_spec *r,
		struct sip_via *top)
{
	struct sip_naddr a;
	struct sip_cseq cs;
	struct sip_str id;
	int rc;
	if (m->type != SIP_REQUEST || r->code < 100 || r->code > 699)
		return SIP_E_ARG;
	if ((rc = sip_get_via(m, 0, top)) || (rc = sip_get_from(m, &a)) ||
	    (rc = sip_get_callid(m, &id)) || (rc = sip_get_cseq(m, &cs)))
		return rc;
	return 0;
}

int sip_build_reply(const struct sip_msg *req, const struct sip_reply_spec *r,
		char *out, size_t size)
{
	struct sip_via top;
	struct wbuf w;
	int rc = reply_check(req, r, &top);
	if (rc)
		return rc;
	wb_init(&w, out, size);
	puts_(&w, "SIP/2.0 ");
	put_u32(&w, (uint32_t)r->code);
	put(&w, " ", 1);
	puts_(&w, r->reason ? r->reason : sip_reason(r->code));
	put(&w, "\r\n", 2);
	put_vias(&w, req, &top, r->src);
	put_hdr(&w, req, sip_hdr_first(req, SIP_H_FROM));
	if ((rc = put_to(&w, req, r)))
		return rc;
	put_hdr(&w, req, sip_hdr_first(req, SIP_H_CALLID));
	put_hdr(&w, req, sip_hdr_first(req, SIP_H_CSEQ));
	if (r->extra)
		put(&w, r->extra, r->extra_len);
	if (r->server) {
		puts_(&w, "Server: ");
		puts_(&w, r->server);
		put(&w, "\r\n", 2);
	}
	puts_(&w, "Content-Length: 0\r\n\r\n");
	return wb_done(&w);
}

int sip_put_contact(char *out, size_t size, struct sip_str uri,
		uint32_t expires)
{
	struct wbuf w;
	wb_init(&w, out, size);
	puts_(&w, "Contact: <");
	put_str(&w, uri);
	puts_(&w, ">;expires=");
	put_u32(&w, expires);
	put(&w, "\r\n", 2);
	return wb_done(&w);
}

/* --- forwarding ----------------------------------------------------------- */

/* Edits of a forwarded request, in offset order. */
struct fwd_edit {
	uint32_t from, to;
	int is_via;
};

static void put_our_via(struct wbuf *w, const struct sip_msg *m,
		const struct sip_fwd_spec *f, int *rc)
{
	char br[32];
	int n = sip_make_branch(m, f->host, f->port, br, sizeof(br));
	if (n < 0) {
		*rc = n;
		return;
	}
	puts_(w, "Via: SIP/2.0/");
	puts_(w, f->transport ? f->transport : "UDP");
	put(w, " ", 1);
	puts_(w, f->host);
	if (f->port) {
		put(w, ":", 1);
		put_u32(w, f->port);
	}
	puts_(w, ";branch=");
	put(w, br, (size_t)n);
	put(w, "\r\n", 2);
}

static void put_first_line(struct wbuf *w, const struct sip_msg *m,
		const struct sip_fwd_spec *f)
{
	if (!f->ruri) {
		put(w, m->buf + m->start, m->hdrs - m->start);
		return;
	}
	put_str(w, m->method);
	put(w, " ", 1);
	put(w, f->ruri, f->ruri_len);
	puts_(w, " SIP/2.0\r\n");
}

/* The header section from m->hdrs to the blank line, with the edits. */
static void put_edited(struct wbuf *w, const struct sip_msg *m,
		struct fwd_edit *ed, int ned, const struct sip_via *top,
		const struct sip_src *src, uint32_t maxfwd)
{
	uint32_t pos = m->hdrs;
	if (ned == 2 && ed[1].from < ed[0].from) {
		struct fwd_edit t = ed[0];
		ed[0] = ed[1];
		ed[1] = t;
	}
	for (int i = 0; i < ned; i++) {
		put(w, m->buf + pos, ed[i].from - pos);
		if (ed[i].is_via)
			put_via_fixed(w, m, top, src);
		else
			put_u32(w, maxfwd - 1);
		pos = ed[i].to;
	}
	put(w, m->buf + pos, m->body - pos);
}

static int fwd_check(const struct sip_msg *m, const struct sip_fwd_spec *f,
		struct sip_via *top, uint32_t *maxfwd, struct sip_str *body)
{
	int rc;
	if (m->type != SIP_REQUEST || !f->host || !*f->host)
		return SIP_E_ARG;
	if ((rc = sip_get_via(m, 0, top)) || (rc = sip_get_body(m, body)))
		return rc;
	rc = sip_get_max_forwards(m, maxfwd);
	if (rc == SIP_E_NOHDR) {
		*maxfwd = 71;   /* written as 70 */
		return 1;
	}
	if (rc)
		return rc;
	return *maxfwd == 0 ? SIP_E_MAXFWD : 0;
}

int sip_build_fwd_request(const struct sip_msg *req,
		const struct sip_fwd_spec *f, char *out, size_t size)
{
	struct sip_via top;
	struct sip_str body;
	struct fwd_edit ed[2];
	struct wbuf w;
	uint32_t mf;
	int rc = fwd_check(req, f, &top, &mf, &body), ned = 0, missing = rc;
	if (rc < 0)
		return rc;
	wb_init(&w, out, size);
	put_first_line(&w, req, f);
	rc = 0;
	put_our_via(&w, req, f, &rc);
	if (rc)
		return rc;
	if (missing)
		puts_(&w, "Max-Forwards: 70\r\n");
	ed[ned++] = (struct fwd_edit){ top.start, top.end, 1 };
	if (!missing) {
		const struct sip_hdr *h = &req->hdr[sip_hdr_first(req,
			SIP_H_MAXFWD)];
		ed[ned++] = (struct fwd_edit){ h->body, h->body + h->body_len,
			0 };
	}
	put_edited(&w, req, ed, ned, &top, f->src, mf);
	put_str(&w, body);
	return wb_done(&w);
}

int sip_build_fwd_reply(const struct sip_msg *rpl, char *out, size_t size)
{
	struct sip_via top, next;
	struct sip_str body;
	struct wbuf w;
	uint32_t from, to;
	int rc;
	if (rpl->type != SIP_REPLY)
		return SIP_E_ARG;
	if ((rc = sip_get_via(rpl, 0, &top)) ||
	    (rc = sip_get_via(rpl, 1, &next)) || (rc = sip_get_body(rpl, &body)))
		return rc;
	if (top.last_in_hdr) {
		sip_hdr_line(rpl, top.hdr, &from, &to);
	} else {
		from = top.start;
		to = top.next;
	}
	wb_init(&w, out, size);
	put(&w, rpl->buf + rpl->start, from - rpl->start);
	put(&w, rpl->buf + to, rpl->body - to);
	put_str(&w, body);
	return wb_done(&w);
}
