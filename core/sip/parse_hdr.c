/*
 * parse_hdr.c - the accessors: each finds its header lines through
 * m->first[type] (O(1)) and parses the value on every call, without
 * allocating and without a cache (cost: one pass over the value).
 *
 * Multi-valued headers (Via, Contact, Route) are walked line by line in
 * message order and value by value within a line (comma-separated).
 * Single-valued ones (From, To, Call-ID, CSeq, Max-Forwards, Expires,
 * Content-Length) read the first line of their type; sip_msg_check()
 * reports a repeated one as SIP_E_DUP.
 *
 * Via grammar (RFC 3261 20.42, 25.1): sent-protocol = name SLASH version
 * SLASH transport (SLASH allows LWS around '/'), LWS, sent-by = host
 * [COLON port], then ";" params: branch, received, rport (RFC 3581: with
 * or without a value), maddr, ttl, others kept in params only.
 */
#include <string.h>

#include "sip/parse.h"

/* --- Via ------------------------------------------------------------------ */

static int slash_token(const char **pp, const char *e, struct sip_str *t,
		int slash)
{
	const char *p = skip_lws(*pp, e), *s;
	if (slash) {
		if (p == e || *p != '/')
			return SIP_E_SYNTAX;
		p = skip_lws(p + 1, e);
	}
	s = p;
	p = skip_cls(p, e, CC_TOKEN);
	if (p == s)
		return SIP_E_SYNTAX;
	*t = mkstr(s, p);
	*pp = p;
	return 0;
}

static uint8_t via_proto(struct sip_str t)
{
	if (STR_IS(t, "udp"))
		return SIP_PROTO_UDP;
	if (STR_IS(t, "tcp"))
		return SIP_PROTO_TCP;
	if (STR_IS(t, "tls"))
		return SIP_PROTO_TLS;
	if (STR_IS(t, "sctp"))
		return SIP_PROTO_SCTP;
	if (STR_IS(t, "ws"))
		return SIP_PROTO_WS;
	if (STR_IS(t, "wss"))
		return SIP_PROTO_WSS;
	return SIP_PROTO_OTHER;
}

static int via_param(struct sip_via *v, const struct sip_param *prm)
{
	struct sip_str n = prm->name, val = prm->value;
	int has = val.s != NULL;
	if (STR_IS(n, "branch")) {
		if (!has || *val.s == '"')
			return SIP_E_SYNTAX;
		v->branch = val;
	} else if (STR_IS(n, "received")) {
		if (!has || *val.s == '"')
			return SIP_E_SYNTAX;
		v->received = val;
	} else if (STR_IS(n, "rport")) {
		v->has_rport = 1;
		if (has) {
			uint32_t port;
			int rc = sip_u32(val.s, val.s + val.len, 65535, &port);
			if (rc)
				return rc;
			v->rport = (int32_t)port;
		}
	} else if (STR_IS(n, "maddr")) {
		v->maddr = val;
	} else if (STR_IS(n, "ttl")) {
		v->ttl = val;
	}
	return 0;
}

static int via_params(const char **pp, const char *e, struct sip_via *v)
{
	struct sip_param prm;
	const char *p = *pp, *s = skip_lws(p, e), *last = p;
	int rc;
	while ((rc = sip_param_next(&p, e, &prm)) > 0) {
		if ((rc = via_param(v, &prm)))
			return rc;
		last = p;
	}
	if (rc < 0)
		return rc;
	v->params = mkstr(last > s ? s : last, last);
	*pp = last;
	return 0;
}

/* One via-parm from *pp; *pp ends at the start of the next value. */
static int via_one(const struct sip_msg *m, const char **pp, const char *e,
		struct sip_via *v)
{
	const char *p = skip_lws(*pp, e), *q;
	int rc;
	memset(v, 0, sizeof(*v));
	v->rport = -1;
	v->start = (uint32_t)(p - m->buf);
	if ((rc = slash_token(&p, e, &v->name, 0)) ||
	    (rc = slash_token(&p, e, &v->version, 1)) ||
	    (rc = slash_token(&p, e, &v->transport, 1)))
		return rc;
	v->proto = via_proto(v->transport);
	q = skip_lws(p, e);
	if (q == p)
		return SIP_E_SYNTAX;
	rc = sip_hostport(&q, e, &v->host, &v->port, &v->ipv6);
	if (rc)
		return rc == SIP_E_RANGE ? rc : SIP_E_SYNTAX;
	p = q;
	if ((rc = via_params(&p, e, v)))
		return rc;
	v->end = (uint32_t)(p - m->buf);
	p = skip_lws(p, e);
	if (p == e) {
		v->last_in_hdr = 1;
		v->next = v->end;
	} else if (*p == ',') {
		p = skip_lws(p + 1, e);
		if (p == e)
			return SIP_E_SYNTAX;
		v->next = (uint32_t)(p - m->buf);
	} else {
		return SIP_E_SYNTAX;
	}
	*pp = p;
	return 0;
}

/* Via values in order until index want (-1: all); the count seen. */
static int via_walk(const struct sip_msg *m, int want, struct sip_via *v)
{
	int n = 0;
	for (int h = sip_hdr_first(m, SIP_H_VIA); h >= 0;
	     h = sip_hdr_next(m, h)) {
		struct sip_str b = hdr_str(m, h);
		const char *p = b.s, *e = b.s + b.len;
		do {
			int rc = via_one(m, &p, e, v);
			if (rc)
				return rc;
			v->hdr = h;
			if (n++ == want)
				return n;
		} while (!v->last_in_hdr);
	}
	return n;
}

int sip_get_via(const struct sip_msg *m, int i, struct sip_via *v)
{
	if (i < 0)
		return SIP_E_NOHDR;
	int n = via_walk(m, i, v);
	return n < 0 ? n : n == i + 1 ? 0 : SIP_E_NOHDR;
}

int sip_via_count(const struct sip_msg *m)
{
	struct sip_via v;
	return via_walk(m, -1, &v);
}

/* --- single-valued headers --------------------------------------------- */

static int first_value(const struct sip_msg *m, enum sip_htype t,
		struct sip_str *v)
{
	int h = sip_hdr_first(m, t);
	if (h < 0)
		return SIP_E_NOHDR;
	*v = hdr_str(m, h);
	return 0;
}

static int number_hdr(const struct sip_msg *m, enum sip_htype t,
		uint32_t max, uint32_t *out)
{
	struct sip_str v;
	int rc = first_value(m, t, &v);
	return rc ? rc : sip_u32(v.s, v.s + v.len, max, out);
}

int sip_get_cseq(const struct sip_msg *m, struct sip_cseq *c)
{
	struct sip_str v;
	int rc = first_value(m, SIP_H_CSEQ, &v);
	if (rc)
		return rc;
	const char *p = v.s, *e = v.s + v.len, *d = skip_cls(p, e, CC_DIGIT);
	const char *ms = skip_lws(d, e), *me = skip_cls(ms, e, CC_TOKEN);
	if (d == p || ms == d || me == ms || me != e)
		return SIP_E_SYNTAX;
	if ((rc = sip_u32(p, d, 0x7fffffffu, &c->num)))
		return rc;
	c->method = mkstr(ms, me);
	c->method_id = (uint8_t)sip_method_id(ms, (size_t)(me - ms));
	return 0;
}

static int naddr_hdr(const struct sip_msg *m, enum sip_htype t,
		struct sip_naddr *a)
{
	struct sip_str v;
	int rc = first_value(m, t, &v);
	if (rc)
		return rc;
	const char *p = v.s;
	if ((rc = sip_naddr(&p, v.s + v.len, a, 0)))
		return rc;
	return p == v.s + v.len ? 0 : SIP_E_SYNTAX;
}

int sip_get_from(const struct sip_msg *m, struct sip_naddr *a)
{
	return naddr_hdr(m, SIP_H_FROM, a);
}

int sip_get_to(const struct sip_msg *m, struct sip_naddr *a)
{
	return naddr_hdr(m, SIP_H_TO, a);
}

/* callid = word ["@" word] */
int sip_get_callid(const struct sip_msg *m, struct sip_str *id)
{
	int rc = first_value(m, SIP_H_CALLID, id);
	if (rc)
		return rc;
	const char *p = id->s, *e = p + id->len, *q = skip_cls(p, e, CC_WORD);
	if (q == p)
		return SIP_E_SYNTAX;
	if (q < e && *q == '@') {
		p = q + 1;
		q = skip_cls(p, e, CC_WORD);
		if (q == p)
			return SIP_E_SYNTAX;
	}
	return q == e ? 0 : SIP_E_SYNTAX;
}

int sip_get_expires(const struct sip_msg *m, uint32_t *secs)
{
	return number_hdr(m, SIP_H_EXPIRES, UINT32_MAX, secs);
}

int sip_get_max_forwards(const struct sip_msg *m, uint32_t *n)
{
	return number_hdr(m, SIP_H_MAXFWD, 255, n);
}

int sip_get_content_length(const struct sip_msg *m, uint32_t *n)
{
	int rc = number_hdr(m, SIP_H_CLEN, UINT32_MAX, n);
	if (!rc && *n > m->len - m->body)
		return SIP_E_BODY;
	return rc;
}

int sip_get_body(const struct sip_msg *m, struct sip_str *body)
{
	uint32_t n;
	int rc = sip_get_content_length(m, &n);
	if (rc == SIP_E_NOHDR)
		n = m->len - m->body;
	else if (rc)
		return rc;
	body->s = m->buf + m->body;
	body->len = n;
	return 0;
}

int sip_get_ruri(const struct sip_msg *m, struct sip_uri *u)
{
	if (m->type != SIP_REQUEST)
		return SIP_E_NOHDR;
	return sip_parse_uri(m->ruri.s, m->ruri.len, u);
}

/* --- lists: Contact, Route ------------------------------------------------ */

/* One line's values into out[*n..max) (out NULL: count only). */
static int naddr_line(struct sip_str v, int need_angle, struct sip_naddr *out,
		int max, int *n)
{
	struct sip_naddr tmp;
	const char *p = v.s, *e = v.s + v.len;
	for (;;) {
		struct sip_naddr *a = out && *n < max ? &out[*n] : &tmp;
		int rc = sip_naddr(&p, e, a, need_angle);
		if (rc)
			return rc;
		if (++*n > max && out)
			return SIP_E_TOOMANY;
		if (p == e)
			return 0;
		p++;            /* the ',' */
		if (skip_lws(p, e) == e)
			return SIP_E_SYNTAX;
	}
}

static int is_star(struct sip_str v)
{
	return v.len == 1 && *v.s == '*';
}

static int naddr_list(const struct sip_msg *m, enum sip_htype t,
		struct sip_naddr *out, int max, int *star)
{
	int n = 0, stars = 0, rc;
	for (int h = sip_hdr_first(m, t); h >= 0; h = sip_hdr_next(m, h)) {
		struct sip_str v = hdr_str(m, h);
		if (star && v.len && *v.s == '*') {
			if (!is_star(v))
				return SIP_E_SYNTAX;   /* "*" and more */
			stars++;
			continue;
		}
		if ((rc = naddr_line(v, !star, out, max, &n)))
			return rc;
	}
	if (stars && (n || stars > 1))
		return SIP_E_SYNTAX;
	if (star)
		*star = stars;
	if (!n && !stars)
		return SIP_E_NOHDR;
	return n;
}

int sip_get_contacts(const struct sip_msg *m, struct sip_naddr *c, int max,
		int *star)
{
	int s;
	return naddr_list(m, SIP_H_CONTACT, c, max, star ? star : &s);
}

int sip_get_routes(const struct sip_msg *m, struct sip_naddr *r, int max)
{
	return naddr_list(m, SIP_H_ROUTE, r, max, NULL);
}

/* --- the whole message --------------------------------------------------- */

static int check_single(const struct sip_msg *m)
{
	static const uint8_t single[] = { SIP_H_FROM, SIP_H_TO, SIP_H_CALLID,
		SIP_H_CSEQ, SIP_H_MAXFWD, SIP_H_CLEN, SIP_H_EXPIRES };
	for (size_t i = 0; i < sizeof(single); i++) {
		int h = sip_hdr_first(m, single[i]);
		if (h >= 0 && sip_hdr_next(m, h) >= 0)
			return SIP_E_DUP;
	}
	return 0;
}

static int check_required(const struct sip_msg *m)
{
	struct sip_naddr a;
	struct sip_cseq cs;
	struct sip_str s;
	int rc;
	if ((rc = sip_via_count(m)) <= 0)
		return rc ? rc : SIP_E_NOHDR;
	if ((rc = sip_get_from(m, &a)) || (rc = sip_get_to(m, &a)) ||
	    (rc = sip_get_callid(m, &s)) || (rc = sip_get_cseq(m, &cs)))
		return rc;
	if (m->type == SIP_REQUEST && (cs.method.len != m->method.len ||
	    memcmp(cs.method.s, m->method.s, cs.method.len)))
		return SIP_E_MISMATCH;
	return 0;
}

/* An optional header: absent is fine. */
static int opt(int rc)
{
	return rc == SIP_E_NOHDR || rc > 0 ? 0 : rc;
}

int sip_msg_check(const struct sip_msg *m)
{
	struct sip_uri u;
	struct sip_str body;
	uint32_t n;
	int rc, star;
	if ((rc = check_single(m)))
		return rc;
	if (m->type == SIP_REQUEST && (rc = sip_get_ruri(m, &u)))
		return rc;
	if ((rc = check_required(m)) ||
	    (rc = opt(sip_get_max_forwards(m, &n))) ||
	    (rc = opt(sip_get_expires(m, &n))) ||
	    (rc = opt(naddr_list(m, SIP_H_CONTACT, NULL, 0, &star))) ||
	    (rc = opt(naddr_list(m, SIP_H_ROUTE, NULL, 0, NULL))) ||
	    (rc = sip_get_body(m, &body)))
		return rc;
	return 0;
}
