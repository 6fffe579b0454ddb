/*
 * parse.c - sip_parse(): the first line and the header lines of a SIP
 * message, lazily and without copying (msg.h has the contract).
 *
 * Algorithm, one pass over the header section:
 *   - leading CRLFs are skipped (RFC 3261 7.5); only CRLFs: SIP_E_EMPTY;
 *   - the first line is a status line when it starts with "SIP/", else a
 *     request line "Method SP Request-URI SP SIP/2.0";
 *   - each header line: a token name, optional SP/HT, ':', the value up to
 *     a line break not followed by SP/HT (a folded line continues it);
 *     memchr finds each line feed, so the cost is one scan of the section
 *     plus one name lookup (switch on length and first letter) per line;
 *   - line ends are CRLF or a bare LF; the blank line ends the section and
 *     the body starts after it.  No blank line within len: SIP_E_TRUNC.
 * Headers of one type are chained (sip_hdr.next) from m->first[type], so
 * an accessor goes straight to its lines.
 *
 * Invariants after a successful parse: every offset and length is inside
 * [0, len); hdr[i].name < hdr[i].body <= hdr[i].body + body_len < eoh;
 * nhdr <= cap; hdr is m->inl or the one pkg block (m->hdr != m->inl).
 */
#include <string.h>

#include "mem.h"
#include "sip/parse.h"

unsigned sip_hdr_inline = SIP_HDR_INLINE;

/* --- character classes ---------------------------------------------------- */

#define C_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define C_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define C_IN(c, set) ((c) != 0 && __builtin_strchr(set, (c)) != 0)
#define C_TOKEN(c) (C_ALPHA(c) || C_DIGIT(c) || C_IN(c, "-.!%*_+`'~"))
#define CLS(c) ((C_TOKEN(c) ? CC_TOKEN : 0) | (C_DIGIT(c) ? CC_DIGIT : 0) | \
	(C_ALPHA(c) ? CC_ALPHA : 0) | \
	(C_DIGIT(c) || C_IN(c, "abcdefABCDEF") ? CC_HEX : 0) | \
	(C_IN(c, " \t") ? CC_WS : 0) | (C_IN(c, " \t\r\n") ? CC_LWS : 0) | \
	(C_ALPHA(c) || C_DIGIT(c) || C_IN(c, "-._") ? CC_HOST : 0) | \
	(C_TOKEN(c) || C_IN(c, "()<>:\\\"/[]?{}") ? CC_WORD : 0))
#define R4(i) CLS(i), CLS((i) + 1), CLS((i) + 2), CLS((i) + 3)
#define R16(i) R4(i), R4((i) + 4), R4((i) + 8), R4((i) + 12)
#define R64(i) R16(i), R16((i) + 16), R16((i) + 32), R16((i) + 48)

const uint8_t sip_cc[256] = { R64(0), R64(64), R64(128), R64(192) };

/* --- names --------------------------------------------------------------- */

static const char *const err_names[SIP_E_COUNT] = {
	"ok", "output does not fit", "truncated message", "empty message",
	"message too big", "bad first line", "not SIP/2.0", "bad header line",
	"too many headers or values", "out of pkg memory", "header missing",
	"bad header value", "number out of range", "bad URI",
	"header repeated", "CSeq method differs from the request's",
	"Content-Length beyond the message", "Max-Forwards exhausted",
	"bad argument",
};

const char *sip_strerror(int err)
{
	if (err > 0 || -err >= SIP_E_COUNT)
		return "unknown error";
	return err_names[-err];
}

struct name_id {
	const char *name;       /* lower case */
	uint8_t len, id;
};

static const struct name_id methods[] = {
	{ "invite", 6, SIP_M_INVITE }, { "ack", 3, SIP_M_ACK },
	{ "bye", 3, SIP_M_BYE }, { "cancel", 6, SIP_M_CANCEL },
	{ "register", 8, SIP_M_REGISTER }, { "options", 7, SIP_M_OPTIONS },
	{ "info", 4, SIP_M_INFO }, { "update", 6, SIP_M_UPDATE },
	{ "prack", 5, SIP_M_PRACK }, { "subscribe", 9, SIP_M_SUBSCRIBE },
	{ "notify", 6, SIP_M_NOTIFY }, { "message", 7, SIP_M_MESSAGE },
	{ "refer", 5, SIP_M_REFER }, { "publish", 7, SIP_M_PUBLISH },
};

/* Methods are case-sensitive (RFC 3261 7.1): "invite" is another method. */
int sip_method_id(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		const struct name_id *n = &methods[i];
		if (n->len != len)
			continue;
		size_t k = 0;
		while (k < len && s[k] == n->name[k] - 32)
			k++;
		if (k == len)
			return n->id;
	}
	return SIP_M_OTHER;
}

/* Full header names grouped by first letter (lower case); compact
 * forms in compact[]. */
static const struct name_id hnames[] = {
	{ "accept-contact", 14, SIP_H_ACCEPT_CONTACT },
	{ "allow", 5, SIP_H_ALLOW }, { "allow-events", 12, SIP_H_ALLOW_EVENTS },
	{ "authorization", 13, SIP_H_AUTHORIZATION },
	{ "call-id", 7, SIP_H_CALLID }, { "contact", 7, SIP_H_CONTACT },
	{ "content-length", 14, SIP_H_CLEN }, { "content-type", 12, SIP_H_CTYPE },
	{ "content-encoding", 16, SIP_H_CENC }, { "cseq", 4, SIP_H_CSEQ },
	{ "event", 5, SIP_H_EVENT }, { "expires", 7, SIP_H_EXPIRES },
	{ "from", 4, SIP_H_FROM },
	{ "identity", 8, SIP_H_IDENTITY },
	{ "identity-info", 13, SIP_H_IDENTITY_INFO },
	{ "max-forwards", 12, SIP_H_MAXFWD },
	{ "min-expires", 11, SIP_H_MIN_EXPIRES },
	{ "path", 4, SIP_H_PATH }, { "proxy-require", 13, SIP_H_PROXY_REQUIRE },
	{ "proxy-authorization", 19, SIP_H_PROXY_AUTHZ },
	{ "proxy-authenticate", 18, SIP_H_PROXY_AUTH },
	{ "route", 5, SIP_H_ROUTE }, { "record-route", 12, SIP_H_RECROUTE },
	{ "require", 7, SIP_H_REQUIRE }, { "refer-to", 8, SIP_H_REFER_TO },
	{ "referred-by", 11, SIP_H_REFERRED_BY },
	{ "reject-contact", 14, SIP_H_REJECT_CONTACT },
	{ "request-disposition", 19, SIP_H_REQ_DISPOSITION },
	{ "supported", 9, SIP_H_SUPPORTED }, { "subject", 7, SIP_H_SUBJECT },
	{ "server", 6, SIP_H_SERVER },
	{ "session-expires", 15, SIP_H_SESSION_EXPIRES },
	{ "to", 2, SIP_H_TO },
	{ "user-agent", 10, SIP_H_USER_AGENT },
	{ "unsupported", 11, SIP_H_UNSUPPORTED },
	{ "via", 3, SIP_H_VIA },
	{ "www-authenticate", 16, SIP_H_WWW_AUTH },
};
#define NHNAMES (sizeof(hnames) / sizeof(hnames[0]))

/* RFC 3261 7.3.3 and the extensions' compact forms, by letter. */
static const uint8_t compact[26] = {
	['a' - 'a'] = SIP_H_ACCEPT_CONTACT, ['b' - 'a'] = SIP_H_REFERRED_BY,
	['c' - 'a'] = SIP_H_CTYPE, ['d' - 'a'] = SIP_H_REQ_DISPOSITION,
	['e' - 'a'] = SIP_H_CENC, ['f' - 'a'] = SIP_H_FROM,
	['i' - 'a'] = SIP_H_CALLID, ['j' - 'a'] = SIP_H_REJECT_CONTACT,
	['k' - 'a'] = SIP_H_SUPPORTED, ['l' - 'a'] = SIP_H_CLEN,
	['m' - 'a'] = SIP_H_CONTACT, ['n' - 'a'] = SIP_H_IDENTITY_INFO,
	['o' - 'a'] = SIP_H_EVENT, ['r' - 'a'] = SIP_H_REFER_TO,
	['s' - 'a'] = SIP_H_SUBJECT, ['t' - 'a'] = SIP_H_TO,
	['u' - 'a'] = SIP_H_ALLOW_EVENTS, ['v' - 'a'] = SIP_H_VIA,
	['x' - 'a'] = SIP_H_SESSION_EXPIRES, ['y' - 'a'] = SIP_H_IDENTITY,
};

/* First index in hnames[] of each letter, built once (the table is
 * grouped by first letter; 0xff: none). */
static uint8_t hfirst[26];
static int hfirst_done;

static void hfirst_build(void)
{
	memset(hfirst, 0xff, sizeof(hfirst));
	for (unsigned i = NHNAMES; i-- > 0;)
		hfirst[hnames[i].name[0] - 'a'] = (uint8_t)i;
	hfirst_done = 1;
}

static unsigned hdr_type(const char *n, unsigned len)
{
	unsigned k = (unsigned)(lc(n[0]) - 'a');
	if (k >= 26)
		return SIP_H_OTHER;
	if (len == 1)
		return compact[k];
	if (__builtin_expect(!hfirst_done, 0))
		hfirst_build();
	for (unsigned i = hfirst[k]; i < NHNAMES &&
	     hnames[i].name[0] == (char)('a' + k); i++)
		if (hnames[i].len == len && ieq(n, hnames[i].name, len))
			return hnames[i].id;
	return SIP_H_OTHER;
}

/* --- the first line -------------------------------------------------------- */

/* End of the line starting at p: *eol at CR or LF, returns the next
 * line's start, or NULL when no LF is within the buffer. */
static const char *line_end(const char *p, const char *e, const char **eol)
{
	const char *nl = memchr(p, '\n', (size_t)(e - p));
	if (!nl)
		return NULL;
	*eol = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
	return nl + 1;
}

static int is_version(const char *p, const char *e)
{
	return e - p == 7 && ieq(p, "sip/2.0", 7);
}

static int parse_status(struct sip_msg *m, const char *p, const char *eol)
{
	const char *v = p;
	while (p < eol && *p != ' ')
		p++;
	if (!is_version(v, p))
		return p - v >= 4 && ieq(v, "sip/", 4) ? SIP_E_VERSION : SIP_E_LINE;
	if (eol - p < 4 || !cc(p[1], CC_DIGIT) || !cc(p[2], CC_DIGIT) ||
	    !cc(p[3], CC_DIGIT))
		return SIP_E_LINE;
	m->code = (uint16_t)((p[1] - '0') * 100 + (p[2] - '0') * 10 +
		(p[3] - '0'));
	if (m->code < 100 || m->code > 699)
		return SIP_E_LINE;
	p += 4;
	if (p < eol && *p != ' ')
		return SIP_E_LINE;
	m->reason = mkstr(p < eol ? p + 1 : p, eol);
	m->type = SIP_REPLY;
	return 0;
}

static int parse_request(struct sip_msg *m, const char *p, const char *eol)
{
	const char *s = p;
	p = skip_cls(p, eol, CC_TOKEN);
	if (p == s || p == eol || *p != ' ')
		return SIP_E_LINE;
	m->method = mkstr(s, p);
	m->method_id = (uint8_t)sip_method_id(s, (size_t)(p - s));
	s = ++p;
	while (p < eol && (unsigned char)*p > ' ' && *p != 0x7f)
		p++;
	if (p == s || p == eol || *p != ' ')
		return SIP_E_LINE;
	m->ruri = mkstr(s, p);
	if (!memchr(s, ':', (size_t)(p - s)))
		return SIP_E_URI;
	if (!is_version(p + 1, eol))
		return SIP_E_VERSION;
	m->type = SIP_REQUEST;
	return 0;
}

/* --- header lines -------------------------------------------------------- */

/* Room for one more header: the inline array, then one pkg block sized
 * by the line feeds left in [p, e). */
static int hdr_room(struct sip_msg *m, const char *p, const char *e)
{
	if (m->nhdr < m->cap)
		return 0;
	if (m->hdr != m->inl || m->nhdr >= SIP_MAX_HDRS)
		return SIP_E_TOOMANY;
	size_t n = m->nhdr + 1u;        /* this one, then one per LF left */
	for (const char *q = p; q < e && (q = memchr(q, '\n', (size_t)(e - q)));
	     q++)
		n++;
	if (n > SIP_MAX_HDRS)
		n = SIP_MAX_HDRS;
	struct sip_hdr *h = pkg_malloc(n * sizeof(*h));
	if (!h)
		return SIP_E_NOMEM;
	if (m->nhdr)
		memcpy(h, m->inl, m->nhdr * sizeof(*h));
	m->hdr = h;
	m->cap = (uint16_t)n;
	return 0;
}

/* Chain the new header to the last of its type (last[]: index of the
 * last one, valid where first[] is set), O(1) per header. */
static void hdr_link(struct sip_msg *m, uint16_t *last, unsigned type)
{
	uint16_t idx = m->nhdr;
	m->hdr[idx].next = 0;
	if (!m->first[type])
		m->first[type] = (uint16_t)(idx + 1);
	else
		m->hdr[last[type]].next = (uint16_t)(idx + 1);
	last[type] = idx;
}

/* The value from p: up to a line feed not followed by SP/HT.  Returns
 * the next line's start (NULL: no end within the buffer), *vend the
 * value's end with trailing LWS removed. */
static const char *value_end(const char *p, const char *e, const char **vend)
{
	const char *q = p, *nl;
	for (;;) {
		nl = memchr(q, '\n', (size_t)(e - q));
		if (!nl || nl + 1 == e)
			return NULL;
		if (nl[1] != ' ' && nl[1] != '\t')
			break;
		q = nl + 1;
	}
	*vend = trim_end(p, nl);
	return nl + 1;
}

static int parse_hdr_line(struct sip_msg *m, const char **pp, const char *e,
		uint16_t *last)
{
	const char *p = *pp, *n = p, *vend;
	p = skip_cls(p, e, CC_TOKEN);
	size_t nlen = (size_t)(p - n);
	if (nlen == 0 || nlen > 255)
		return p == e ? SIP_E_TRUNC : SIP_E_HDR;
	p = skip_cls(p, e, CC_WS);
	if (p == e)
		return SIP_E_TRUNC;
	if (*p != ':')
		return SIP_E_HDR;
	p = skip_cls(p + 1, e, CC_WS);
	const char *next = value_end(p, e, &vend);
	if (!next)
		return SIP_E_TRUNC;
	p = skip_lws(p, vend);  /* a value that starts on a folded line */
	int rc = hdr_room(m, next, e);
	if (rc)
		return rc;
	unsigned type = hdr_type(n, (unsigned)nlen);
	struct sip_hdr *h = &m->hdr[m->nhdr];
	h->name = (uint32_t)(n - m->buf);
	h->body = (uint32_t)(p - m->buf);
	h->body_len = (uint32_t)(vend - p);
	h->name_len = (uint8_t)nlen;
	h->type = (uint8_t)type;
	hdr_link(m, last, type);
	m->nhdr++;
	*pp = next;
	return 0;
}

/* Header lines from p to the blank line. */
static int parse_headers(struct sip_msg *m, const char *p, const char *e)
{
	uint16_t last[SIP_H_NTYPES];
	for (;;) {
		if (p == e)
			return SIP_E_TRUNC;
		if (*p == '\n' || (*p == '\r' && p + 1 < e && p[1] == '\n')) {
			m->eoh = (uint32_t)(p - m->buf);
			m->body = m->eoh + (*p == '\r' ? 2u : 1u);
			return 0;
		}
		if (*p == '\r' && p + 1 == e)
			return SIP_E_TRUNC;
		int rc = parse_hdr_line(m, &p, e, last);
		if (rc)
			return rc;
	}
}

static void msg_reset(struct sip_msg *m, const char *buf, size_t len)
{
	m->buf = buf;
	m->len = (uint32_t)len;
	m->type = 0;
	m->method_id = SIP_M_OTHER;
	m->code = 0;
	m->method = m->ruri = m->reason = mkstr(buf, buf);
	m->start = m->hdrs = m->eoh = m->body = 0;
	m->nhdr = 0;
	m->hdr = m->inl;
	m->cap = (uint16_t)(sip_hdr_inline < SIP_HDR_INLINE ? sip_hdr_inline :
		SIP_HDR_INLINE);
	memset(m->first, 0, sizeof(m->first));
}

static int parse_all(struct sip_msg *m, const char *buf, size_t len)
{
	const char *p = buf, *e = buf + len, *eol;
	while (p < e && (*p == '\r' || *p == '\n'))
		p++;
	if (p == e)
		return SIP_E_EMPTY;
	m->start = (uint32_t)(p - buf);
	const char *next = line_end(p, e, &eol);
	if (!next)
		return SIP_E_TRUNC;
	int rc = e - p >= 4 && ieq(p, "sip/", 4) ? parse_status(m, p, eol) :
		parse_request(m, p, eol);
	if (rc)
		return rc;
	m->hdrs = (uint32_t)(next - buf);
	return parse_headers(m, next, e);
}

int sip_parse(struct sip_msg *m, const char *buf, size_t len)
{
	msg_reset(m, buf, len > SIP_MAX_LEN ? 0 : len);
	if (len > SIP_MAX_LEN)
		return SIP_E_TOOBIG;
	int rc = parse_all(m, buf, len);
	if (rc)
		sip_msg_free(m);
	return rc;
}

void sip_msg_free(struct sip_msg *m)
{
	if (m->hdr && m->hdr != m->inl)
		pkg_free(m->hdr);
	m->hdr = m->inl;
	m->nhdr = 0;
	m->cap = 0;
	memset(m->first, 0, sizeof(m->first));
}

/* --- header access ------------------------------------------------------- */

int sip_hdr_first(const struct sip_msg *m, enum sip_htype t)
{
	return (unsigned)t < SIP_H_NTYPES ? (int)m->first[t] - 1 : -1;
}

int sip_hdr_next(const struct sip_msg *m, int i)
{
	return (int)m->hdr[i].next - 1;
}

int sip_hdr_count(const struct sip_msg *m, enum sip_htype t)
{
	int n = 0;
	for (int i = sip_hdr_first(m, t); i >= 0; i = sip_hdr_next(m, i))
		n++;
	return n;
}

int sip_hdr_find(const struct sip_msg *m, const char *name, size_t len)
{
	for (unsigned i = 0; i < m->nhdr; i++) {
		const struct sip_hdr *h = &m->hdr[i];
		if (h->name_len != len)
			continue;
		size_t k = 0;
		while (k < len && lc(m->buf[h->name + k]) == lc(name[k]))
			k++;
		if (k == len)
			return (int)i;
	}
	return -1;
}

struct sip_str sip_hdr_value(const struct sip_msg *m, int i)
{
	return hdr_str(m, i);
}

struct sip_str sip_hdr_name(const struct sip_msg *m, int i)
{
	struct sip_str r = { m->buf + m->hdr[i].name, m->hdr[i].name_len };
	return r;
}

void sip_hdr_line(const struct sip_msg *m, int i, uint32_t *from,
		uint32_t *to)
{
	*from = m->hdr[i].name;
	*to = (unsigned)i + 1 < m->nhdr ? m->hdr[i + 1].name : m->eoh;
}
