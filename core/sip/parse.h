/*
 * parse.h - what parse.c, parse_uri.c and parse_hdr.c share: the
 * character classes of RFC 3261's grammar in one 256-entry table, and
 * the scanners every value parser is built from.
 *
 * Scanners take a position p and the end e of the span they may read and
 * never look at e or beyond.  Inside a header value, CR and LF only occur
 * as part of a folded line (parse.c guarantees it: a line break not
 * followed by SP/HT ends the header), so "LWS" here is any run of SP, HT,
 * CR and LF.
 */
#ifndef SRP_SIP_PARSE_H
#define SRP_SIP_PARSE_H

#include <stdint.h>

#include "sip/msg.h"

#define CC_TOKEN 0x01   /* token: alnum - . ! % * _ + ` ' ~ */
#define CC_DIGIT 0x02
#define CC_ALPHA 0x04
#define CC_HEX 0x08
#define CC_WS 0x10      /* SP HT */
#define CC_LWS 0x20     /* SP HT CR LF */
#define CC_HOST 0x40    /* alnum - . _ (hostname, IPv4) */
#define CC_WORD 0x80    /* Call-ID word: token ( ) < > : \ " / [ ] ? { } */

extern const uint8_t sip_cc[256];

static inline int cc(char c, unsigned bits)
{
	return sip_cc[(unsigned char)c] & bits;
}

static inline char lc(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
}

/* s[0..n) equals lower (lower-case literal) ignoring case: a byte
 * matches its literal exactly, or with bit 0x20 set when the literal is
 * a letter (so no other byte can pass for one). */
static inline int ieq(const char *s, const char *lower, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		char c = s[i], l = lower[i];
		if (c != l && ((c | 0x20) != l || (unsigned char)(l - 'a') > 25))
			return 0;
	}
	return 1;
}

#define STR_IS(st, lit) ((st).len == sizeof(lit) - 1 && \
		ieq((st).s, lit, sizeof(lit) - 1))

static inline const char *skip_lws(const char *p, const char *e)
{
	while (p < e && cc(*p, CC_LWS))
		p++;
	return p;
}

static inline const char *skip_cls(const char *p, const char *e,
		unsigned bits)
{
	while (p < e && cc(*p, bits))
		p++;
	return p;
}

/* End of [s, e) with trailing LWS removed. */
static inline const char *trim_end(const char *s, const char *e)
{
	while (e > s && cc(e[-1], CC_LWS))
		e--;
	return e;
}

static inline struct sip_str mkstr(const char *s, const char *e)
{
	struct sip_str r = { s, (uint32_t)(e - s) };
	return r;
}

static inline struct sip_str hdr_str(const struct sip_msg *m, int i)
{
	struct sip_str r = { m->buf + m->hdr[i].body, m->hdr[i].body_len };
	return r;
}

/* --- parse_uri.c ---------------------------------------------------------- */
/* Decimal [p, e), all digits, at most max: 0, SIP_E_SYNTAX or SIP_E_RANGE. */
int sip_u32(const char *p, const char *e, uint32_t max, uint32_t *out);
/* A quoted string at *pp ('"'): *pp moves past the closing quote. */
int sip_quoted(const char **pp, const char *e);

/* One header parameter ";name[=value]"; *pp at LWS or ';'.
 * 1: got one, *pp past it; 0: no ';' follows (*pp at the next non-LWS);
 * < 0: syntax. */
struct sip_param {
	struct sip_str name, value;     /* value.s NULL: no '=' */
};
int sip_param_next(const char **pp, const char *e, struct sip_param *p);

/* host [":" port] (Via's sent-by: LWS allowed around ':'); SIP_E_URI or
 * SIP_E_RANGE (port 0 or > 65535). */
int sip_hostport(const char **pp, const char *e, struct sip_str *host,
		uint16_t *port, uint8_t *ipv6);

/* A name-addr or addr-spec with its parameters, from *pp up to ',' or e;
 * *pp ends at the ',' or e.  need_angle: Route's name-addr only. */
int sip_naddr(const char **pp, const char *e, struct sip_naddr *a,
		int need_angle);

#endif /* SRP_SIP_PARSE_H */
