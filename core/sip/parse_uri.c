/*
 * parse_uri.c - the pieces header values are made of: numbers, quoted
 * strings, ";name=value" parameters, SIP URIs (RFC 3261 19.1.1) and
 * name-addr / addr-spec values (20.10).
 *
 * SIP URI: "sip:" / "sips:" [user [":" password] "@"] host [":" port]
 * *(";" param) ["?" headers].  '@' can only appear in the userinfo (the
 * grammar of host, params and headers excludes it), so one memchr splits
 * the userinfo off.  host is a hostname / IPv4 (alnum - . _) or an IPv6
 * reference "[...]" (hex digits, ':' and '.'); port is 1..65535.  Other
 * schemes (tel:, urn:, ...) are accepted as scheme ":" opaque text.
 *
 * A name-addr is [display-name] "<" URI ">" (display: tokens or a quoted
 * string); an addr-spec is a bare URI that ends at ';', ',' or LWS, its
 * ';' parameters being the header's (RFC 3261 20.10).  Every function
 * reads only [p, e) and costs one pass over its span.
 */
#include <string.h>

#include "sip/parse.h"

int sip_u32(const char *p, const char *e, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	if (p == e)
		return SIP_E_SYNTAX;
	for (; p < e; p++) {
		if (!cc(*p, CC_DIGIT))
			return SIP_E_SYNTAX;
		if (v <= max)
			v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v > max)
		return SIP_E_RANGE;
	*out = (uint32_t)v;
	return 0;
}

int sip_quoted(const char **pp, const char *e)
{
	const char *p = *pp + 1;
	while (p < e) {
		if (*p == '\\') {
			p += 2;
			continue;
		}
		if (*p == '"') {
			*pp = p + 1;
			return 0;
		}
		p++;
	}
	return SIP_E_SYNTAX;
}

/* A parameter value: token, host (IPv6 references too) or a path. */
static int pval_char(char c)
{
	return cc(c, CC_TOKEN) || c == ':' || c == '[' || c == ']' || c == '/';
}

static int param_value(const char **pp, const char *e, struct sip_str *v)
{
	const char *p = *pp, *s = p;
	if (p < e && *p == '"') {
		int rc = sip_quoted(&p, e);
		if (rc)
			return rc;
	} else {
		while (p < e && pval_char(*p))
			p++;
	}
	if (p == s)
		return SIP_E_SYNTAX;
	*v = mkstr(s, p);
	*pp = p;
	return 0;
}

int sip_param_next(const char **pp, const char *e, struct sip_param *prm)
{
	const char *p = skip_lws(*pp, e), *n;
	if (p == e || *p != ';') {
		*pp = p;
		return 0;
	}
	n = p = skip_lws(p + 1, e);
	p = skip_cls(p, e, CC_TOKEN);
	if (p == n)
		return SIP_E_SYNTAX;
	prm->name = mkstr(n, p);
	prm->value.s = NULL;
	prm->value.len = 0;
	const char *q = skip_lws(p, e);
	if (q < e && *q == '=') {
		q = skip_lws(q + 1, e);
		int rc = param_value(&q, e, &prm->value);
		if (rc)
			return rc;
		p = q;
	}
	*pp = p;
	return 1;
}

/* --- URI ------------------------------------------------------------------ */

/* A character of a URI's user, password, params or headers: printable,
 * not one of the delimiters around a URI; '%' must start an escape. */
static int uri_text(const char *p, const char *e)
{
	for (; p < e; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' ||
		    c == '@')
			return SIP_E_URI;
		if (c == '%' && (e - p < 3 || !cc(p[1], CC_HEX) ||
		    !cc(p[2], CC_HEX)))
			return SIP_E_URI;
	}
	return 0;
}

static int uri_userinfo(const char *p, const char *e, struct sip_uri *u)
{
	const char *c = memchr(p, ':', (size_t)(e - p));
	if (c) {
		u->passwd = mkstr(c + 1, e);
		e = c;
	}
	if (e == p)
		return SIP_E_URI;
	u->user = mkstr(p, e);
	return uri_text(p, c ? u->passwd.s + u->passwd.len : e);
}

static int ipv6_ref(const char *p, const char *e, const char **end)
{
	const char *q = memchr(p, ']', (size_t)(e - p));
	if (!q || q == p + 1)
		return SIP_E_URI;
	for (const char *k = p + 1; k < q; k++)
		if (!cc(*k, CC_HEX) && *k != ':' && *k != '.')
			return SIP_E_URI;
	*end = q + 1;
	return 0;
}

/* host [":" port] at *pp, for URIs and Via's sent-by (lws: SWS allowed
 * around the colon, as Via's grammar has it). */
static int hostport(const char **pp, const char *e, struct sip_str *host,
		uint16_t *port, uint8_t *ipv6, int lws)
{
	const char *p = *pp, *q;
	if (p < e && *p == '[') {
		if (ipv6_ref(p, e, &q))
			return SIP_E_URI;
		*ipv6 = 1;
	} else {
		q = skip_cls(p, e, CC_HOST);
		if (q == p)
			return SIP_E_URI;
	}
	*host = mkstr(p, q);
	p = lws ? skip_lws(q, e) : q;
	if (p < e && *p == ':') {
		p = lws ? skip_lws(p + 1, e) : p + 1;
		q = skip_cls(p, e, CC_DIGIT);
		uint32_t v;
		int rc = sip_u32(p, q, 65535, &v);
		if (rc == SIP_E_RANGE || (!rc && v == 0))
			return SIP_E_RANGE;
		if (rc)
			return SIP_E_URI;
		*port = (uint16_t)v;
		p = q;
	} else {
		p = q;
	}
	*pp = p;
	return 0;
}

int sip_hostport(const char **pp, const char *e, struct sip_str *host,
		uint16_t *port, uint8_t *ipv6)
{
	return hostport(pp, e, host, port, ipv6, 1);
}

static void uri_param(struct sip_uri *u, struct sip_str n, struct sip_str v)
{
	if (STR_IS(n, "transport"))
		u->transport = v;
	else if (STR_IS(n, "lr"))
		u->lr = 1;
	else if (STR_IS(n, "maddr"))
		u->maddr = v;
	else if (STR_IS(n, "user"))
		u->user_param = v;
}

/* ";a=b;c" over [p, e): each name non-empty. */
static int uri_params(const char *p, const char *e, struct sip_uri *u)
{
	int rc = uri_text(p, e);
	if (rc)
		return rc;
	while (p < e) {
		const char *n = p + 1, *end = memchr(n, ';', (size_t)(e - n));
		if (!end)
			end = e;
		const char *eq = memchr(n, '=', (size_t)(end - n));
		if ((eq ? eq : end) == n)
			return SIP_E_URI;
		struct sip_str name = mkstr(n, eq ? eq : end);
		struct sip_str val = eq ? mkstr(eq + 1, end) : mkstr(end, end);
		uri_param(u, name, val);
		p = end;
	}
	return 0;
}

static int sip_uri_rest(const char *p, const char *e, struct sip_uri *u)
{
	const char *at = memchr(p, '@', (size_t)(e - p));
	int rc;
	if (at) {
		if ((rc = uri_userinfo(p, at, u)))
			return rc;
		p = at + 1;
	}
	if ((rc = hostport(&p, e, &u->host, &u->port, &u->ipv6, 0)))
		return rc;
	if (p < e && *p == ';') {
		const char *q = memchr(p, '?', (size_t)(e - p));
		u->params = mkstr(p, q ? q : e);
		if ((rc = uri_params(p, q ? q : e, u)))
			return rc;
		p = q ? q : e;
	}
	if (p < e && *p == '?') {
		u->headers = mkstr(p + 1, e);
		if ((rc = uri_text(p + 1, e)))
			return rc;
		p = e;
	}
	return p == e ? 0 : SIP_E_URI;
}

int sip_parse_uri(const char *s, size_t len, struct sip_uri *u)
{
	const char *p = s, *e = s + len;
	memset(u, 0, sizeof(*u));
	while (p < e && (cc(*p, CC_ALPHA | CC_DIGIT) || *p == '+' ||
	       *p == '-' || *p == '.'))
		p++;
	if (p == s || p == e || *p != ':' || !cc(*s, CC_ALPHA))
		return SIP_E_URI;
	struct sip_str sch = mkstr(s, p);
	if (STR_IS(sch, "sip") || STR_IS(sch, "sips")) {
		u->scheme = sch.len == 3 ? SIP_URI_SIP : SIP_URI_SIPS;
		return sip_uri_rest(p + 1, e, u);
	}
	u->scheme = STR_IS(sch, "tel") ? SIP_URI_TEL : SIP_URI_OTHER;
	u->opaque = mkstr(p + 1, e);
	if (!u->opaque.len)
		return SIP_E_URI;
	for (p++; p < e; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return SIP_E_URI;
	return 0;
}

/* --- name-addr / addr-spec -------------------------------------------------- */

/* [display-name] "<": *pp moves to the '<' when there is one. */
static int naddr_display(const char **pp, const char *e, struct sip_naddr *a)
{
	const char *p = *pp, *s = p;
	if (p < e && *p == '"') {
		int rc = sip_quoted(&p, e);
		if (rc)
			return rc;
		a->display = mkstr(s, p);
		p = skip_lws(p, e);
		if (p == e || *p != '<')
			return SIP_E_SYNTAX;
		*pp = p;
		return 0;
	}
	while (p < e && cc(*p, CC_TOKEN | CC_LWS))
		p++;
	if (p < e && *p == '<') {
		a->display = mkstr(s, trim_end(s, p));
		*pp = p;
	}
	return 0;
}

static int naddr_uri(const char **pp, const char *e, struct sip_naddr *a,
		int need_angle)
{
	const char *p = *pp, *q;
	if (p < e && *p == '<') {
		q = memchr(p, '>', (size_t)(e - p));
		if (!q)
			return SIP_E_SYNTAX;
		a->uri_str = mkstr(p + 1, q);
		*pp = q + 1;
	} else {
		if (need_angle)
			return SIP_E_SYNTAX;
		for (q = p; q < e && *q != ';' && *q != ',' && !cc(*q, CC_LWS);)
			q++;
		a->uri_str = mkstr(p, q);
		*pp = q;
	}
	return sip_parse_uri(a->uri_str.s, a->uri_str.len, &a->uri);
}

/* q-value "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")], in thousandths. */
static int qvalue(struct sip_str v, int32_t *q)
{
	const char *p = v.s, *e = v.s + v.len;
	if (p == e || (*p != '0' && *p != '1'))
		return SIP_E_SYNTAX;
	int32_t r = (*p++ - '0') * 1000, scale = 100;
	if (p < e && *p++ != '.')
		return SIP_E_SYNTAX;
	if (e - p > 3)
		return SIP_E_SYNTAX;
	for (; p < e; p++, scale /= 10) {
		if (!cc(*p, CC_DIGIT))
			return SIP_E_SYNTAX;
		r += (*p - '0') * scale;
	}
	if (r > 1000)
		return SIP_E_RANGE;
	*q = r;
	return 0;
}

static int naddr_param(struct sip_naddr *a, const struct sip_param *prm)
{
	uint32_t v;
	int rc;
	if (STR_IS(prm->name, "tag")) {
		if (!prm->value.s || *prm->value.s == '"')
			return SIP_E_SYNTAX;
		if (!a->tag.s)
			a->tag = prm->value;
	} else if (STR_IS(prm->name, "expires")) {
		if (!prm->value.s)
			return SIP_E_SYNTAX;
		if ((rc = sip_u32(prm->value.s, prm->value.s + prm->value.len,
				UINT32_MAX, &v)))
			return rc;
		a->expires = v;
	} else if (STR_IS(prm->name, "q")) {
		if (!prm->value.s)
			return SIP_E_SYNTAX;
		return qvalue(prm->value, &a->q);
	}
	return 0;
}

int sip_naddr(const char **pp, const char *e, struct sip_naddr *a,
		int need_angle)
{
	const char *p = skip_lws(*pp, e), *s = p;
	struct sip_param prm;
	int rc;
	memset(a, 0, sizeof(*a));
	a->expires = -1;
	a->q = -1;
	if ((rc = naddr_display(&p, e, a)) ||
	    (rc = naddr_uri(&p, e, a, need_angle)))
		return rc;
	const char *ps = skip_lws(p, e);
	while ((rc = sip_param_next(&p, e, &prm)) > 0)
		if ((rc = naddr_param(a, &prm)))
			return rc;
	if (rc < 0)
		return rc;
	if (p > ps)
		a->params = mkstr(ps, trim_end(ps, p));
	if (p < e && *p != ',')
		return SIP_E_SYNTAX;
	a->whole = mkstr(s, trim_end(s, p));
	*pp = p;
	return 0;
}
