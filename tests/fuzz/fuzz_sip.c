/*
 * fuzz_sip.c - one datagram through the SIP side: the parser and every
 * accessor, with the spans they return checked to lie inside the
 * datagram, then the whole receive path of a worker (sip_receive():
 * registrar with its usrloc table in shm, stateless proxy, replies built
 * and handed to a socket that is not open, so nothing leaves the
 * process).
 *
 * Input: byte 0 picks the parser's mode (bit 0: every header line in the
 * pkg block instead of the inline array); the rest is the datagram, copied
 * to a buffer of its exact size so that a read past it is caught (ASan in
 * the fuzz build).  After each input, pkg holds what it held before: the
 * parser and the receive path leak nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "memtest.h"
#include "fuzz.h"
#include "sip/msg.h"
#include "sip/proxy.h"
#include "sip/udp.h"

/* s lies inside [buf, buf + len) (an empty span may sit at its end). */
static void in_msg(const struct sip_msg *m, struct sip_str s, const char *what)
{
	if (!s.len)
		return;
	T_ASSERT(s.s >= m->buf && s.s + s.len <= m->buf + m->len, "%s: span "
		"outside the message", what);
}

static void uri_spans(const struct sip_msg *m, const struct sip_uri *u)
{
	in_msg(m, u->user, "uri user");
	in_msg(m, u->host, "uri host");
	in_msg(m, u->params, "uri params");
	in_msg(m, u->headers, "uri headers");
}

static void naddr_spans(const struct sip_msg *m, const struct sip_naddr *a)
{
	in_msg(m, a->whole, "name-addr");
	in_msg(m, a->uri_str, "name-addr uri");
	in_msg(m, a->tag, "tag");
	uri_spans(m, &a->uri);
}

/* Every header line, by type and by name. */
static void headers(const struct sip_msg *m)
{
	for (int t = 0; t < SIP_H_NTYPES; t++)
		for (int i = sip_hdr_first(m, (enum sip_htype)t); i >= 0;
				i = sip_hdr_next(m, i)) {
			uint32_t from, to;
			T_ASSERT(i < m->nhdr, "header index %d of %u", i,
				m->nhdr);
			in_msg(m, sip_hdr_value(m, i), "header value");
			in_msg(m, sip_hdr_name(m, i), "header name");
			sip_hdr_line(m, i, &from, &to);
			T_ASSERT(from <= to && to <= m->len, "header line");
		}
	(void)sip_hdr_find(m, "x-fuzz", 6);
}

/* Every parsed value a proxy or registrar reads. */
static void values(const struct sip_msg *m)
{
	struct sip_uri u;
	struct sip_via v;
	struct sip_naddr a[8];
	struct sip_cseq cs;
	struct sip_str s;
	uint32_t x;
	int star, n;
	if (m->type == SIP_REQUEST && sip_get_ruri(m, &u) == 0)
		uri_spans(m, &u);
	for (int i = 0; i < 16 && sip_get_via(m, i, &v) == 0; i++)
		in_msg(m, v.host, "via host");
	(void)sip_via_count(m);
	if (sip_get_cseq(m, &cs) == 0)
		in_msg(m, cs.method, "cseq method");
	if (sip_get_from(m, a) == 0)
		naddr_spans(m, a);
	if (sip_get_to(m, a) == 0)
		naddr_spans(m, a);
	if (sip_get_callid(m, &s) == 0)
		in_msg(m, s, "call-id");
	n = sip_get_contacts(m, a, 8, &star);
	for (int i = 0; i < n; i++)
		naddr_spans(m, &a[i]);
	n = sip_get_routes(m, a, 8);
	for (int i = 0; i < n; i++)
		naddr_spans(m, &a[i]);
	(void)sip_get_expires(m, &x);
	(void)sip_get_max_forwards(m, &x);
	(void)sip_get_content_length(m, &x);
	if (sip_get_body(m, &s) == 0)
		in_msg(m, s, "body");
	(void)sip_msg_check(m);
}

int fuzz_sip(const uint8_t *d, size_t n)
{
	struct sip_msg m;
	struct mem_info before, after;
	union sip_addr src;
	if (n < 1)
		return 0;
	fuzz_setup();
	/* exact size for the parser; the receive path's copy ends in NUL */
	char *buf = malloc(n - 1 ? n - 1 : 1), *rx = malloc(n);
	T_ASSERT(buf && rx, "no libc memory");
	memcpy(buf, d + 1, n - 1);
	memcpy(rx, d + 1, n - 1);
	rx[n - 1] = '\0';
	sip_hdr_inline = d[0] & 1 ? 0 : SIP_HDR_INLINE;
	pkg_info(&before);
	if (sip_parse(&m, buf, n - 1) == 0) {
		headers(&m);
		values(&m);
	}
	sip_msg_free(&m);
	T_ASSERT(sip_addr_set(&src, "127.0.0.1", 9, 5060) == 0, "address");
	sip_receive(rx, n - 1, &src);
	pkg_info(&after);
	T_ASSERT(after.used_size == before.used_size, "pkg used %llu -> %llu: "
		"a leak", (unsigned long long)before.used_size,
		(unsigned long long)after.used_size);
	free(buf);
	free(rx);
	return 0;
}
