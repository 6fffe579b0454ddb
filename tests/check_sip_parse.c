/*
 * check_sip_parse.c - srproxy's SIP message layer (core/sip/msg.h,
 * build.h): real messages through every accessor, each builder's output
 * compared byte for byte, each class of malformed input with its error,
 * reads bounded by len (messages placed against a PROT_NONE page), and
 * the generated corpus (tests/sip/corpus.bin, utils/sipbench) through
 * sip_parse, sip_msg_check and the builders with pkg `used` back to its
 * start after every message and the rejected count the generator wrote.
 *
 * Every case runs on a fresh 4 MiB pkg pool of the default backend; the
 * corpus case runs twice: with the inline header array, and with
 * sip_hdr_inline = 0 so that every message takes (and gives back) its pkg
 * block.
 */
#define _GNU_SOURCE     /* memmem */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memtest.h"
#include "sip/build.h"
#include "sip/msg.h"

#define POOL_SIZE ((size_t)4 << 20)

#define CRLF "\r\n"

static const char REGISTER[] =
	"REGISTER sip:example.com SIP/2.0" CRLF
	"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport" CRLF
	"Max-Forwards: 70" CRLF
	"To: Alice <sip:alice@example.com>" CRLF
	"From: Alice <sip:alice@example.com>;tag=1928301774" CRLF
	"Call-ID: a84b4c76e66710@pc33.example.com" CRLF
	"CSeq: 314159 REGISTER" CRLF
	"Contact: <sip:alice@192.0.2.10:5060;transport=udp>;expires=3600;q=0.7,"
	" \"Alice \\\"M\\\"\" <sip:alice@198.51.100.7>;q=1" CRLF
	"Contact: sip:alice@203.0.113.5:5070;expires=60" CRLF
	"Expires: 7200" CRLF
	"Content-Length: 0" CRLF
	CRLF;

#define SDP "v=0" CRLF \
	"o=alice 2890844526 2890844526 IN IP4 pc33.example.com" CRLF \
	"s=-" CRLF "c=IN IP4 192.0.2.101" CRLF "t=0 0" CRLF \
	"m=audio 49172 RTP/AVP 0" CRLF "a=rtpmap:0 PCMU/8000" CRLF

/* After Via and Max-Forwards, the same in the forwarded INVITE. */
#define INVITE_REST \
	"Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>" CRLF \
	"To: Bob <sip:bob@example.com>" CRLF \
	"From: \"Alice A.\" <sip:alice@example.com>;tag=1928301774" CRLF \
	"Call-ID: a84b4c76e66710@pc33.example.com" CRLF \
	"CSeq: 314159 INVITE" CRLF \
	"Contact: <sip:alice@pc33.example.com>" CRLF \
	"Content-Type: application/sdp" CRLF \
	"Content-Length: 141" CRLF

#define INVITE_VIA "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bKnashds8"
#define INVITE_LINE "INVITE sip:bob@example.com;user=phone SIP/2.0" CRLF

static const char INVITE[] = INVITE_LINE INVITE_VIA CRLF
	"Max-Forwards: 70" CRLF INVITE_REST CRLF SDP;

/* The second Via value, and all after the first Via line. */
#define OK200_VIA2 "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds" \
	";received=192.0.2.99;rport=5999"
#define OK200_TAIL \
	"Via: SIP/2.0/TCP [2001:db8::9]:5070;branch=z9hG4bKlast" CRLF \
	"To: Bob <sip:bob@example.com>;tag=a6c85cf" CRLF \
	"From: Alice <sip:alice@example.com>;tag=1928301774" CRLF \
	"Call-ID: a84b4c76e66710@pc33.example.com" CRLF \
	"CSeq: 314159 INVITE" CRLF \
	"Contact: <sip:bob@192.0.2.4>" CRLF \
	"Content-Length: 0" CRLF \
	CRLF

static const char OK200[] =
	"SIP/2.0 200 OK" CRLF
	"Via: SIP/2.0/UDP proxy.example.com:5060;branch=z9hG4bKsr01, "
	OK200_VIA2 CRLF OK200_TAIL;

static const char COMPACT[] =
	"OPTIONS sip:carol@chicago.example.com SIP/2.0" CRLF
	"v: SIP/2.0/UDP pc33.example.com" CRLF
	"  ;branch=z9hG4bKhjhs8ass877" CRLF
	"VIA: SIP / 2.0 / UDP 10.0.0.1 : 5080 ;rport=5080 ;received=10.0.0.1" CRLF
	"max-forwards:70" CRLF
	"t: <sip:carol@chicago.example.com>" CRLF
	"f: Alice <sip:alice@example.com>" CRLF
	" ;tag=1928301774" CRLF
	"i: a84b4c76e66710" CRLF
	"CSEQ: 63104 OPTIONS" CRLF
	"m: <sip:alice@pc33.example.com>" CRLF
	"Subject: first line" CRLF
	"\tsecond line" CRLF
	"k: path" CRLF
	"l: 0" CRLF
	CRLF;

static const char IPV6[] =
	"INVITE sip:bob@[2001:db8::1]:5080;transport=udp SIP/2.0\n"
	"Via: SIP/2.0/UDP [2001:db8::10]:5062;rport;branch=z9hG4bK6\n"
	"Max-Forwards: 1\n"
	"To: <sip:bob@[2001:db8::1]>\n"
	"From: <sip:alice@[2001:db8::10]:5062>;tag=x1\n"
	"Call-ID: 6@2001:db8::10\n"
	"CSeq: 1 INVITE\n"
	"Contact: <sip:alice@[2001:db8::10]:5062>\n"
	"\n";

static struct mem_info pkg_start;

static void setup(void)
{
	ck_assert_int_eq(pkg_init(POOL_SIZE, NULL), 0);
	pkg_info(&pkg_start);
}

static void teardown(void)
{
	sip_hdr_inline = SIP_HDR_INLINE;
	pkg_destroy();
}

static void pkg_back(const char *where)
{
	struct mem_info mi;
	pkg_info(&mi);
	T_ASSERT(mi.used_size == pkg_start.used_size &&
		mi.real_used == pkg_start.real_used, "%s: pkg used %llu "
		"(start %llu)", where, (unsigned long long)mi.used_size,
		(unsigned long long)pkg_start.used_size);
}

static int parse_lit(struct sip_msg *m, const char *s)
{
	return sip_parse(m, s, strlen(s));
}

/* The span equals the literal. */
#define STR_EQ(st, lit) do { \
		struct sip_str s_ = (st); \
		T_ASSERT(s_.len == strlen(lit) && !memcmp(s_.s, lit, s_.len), \
			"%s: \"%.*s\", want \"%s\"", #st, (int)s_.len, \
			s_.s ? s_.s : "", lit); \
	} while (0)

/* out[0..n) contains the literal. */
#define HAS(out, n, lit) T_ASSERT(memmem(out, (size_t)(n), lit, \
		sizeof(lit) - 1), "no \"%s\" in:\n%.*s", lit, (int)(n), out)

/* --- real messages --------------------------------------------------------- */

START_TEST(register_contacts)
{
	struct sip_msg m;
	struct sip_naddr c[4];
	int star = -1;
	uint32_t n;
	ck_assert_int_eq(parse_lit(&m, REGISTER), 0);
	ck_assert_int_eq(m.type, SIP_REQUEST);
	ck_assert_int_eq(m.method_id, SIP_M_REGISTER);
	STR_EQ(m.ruri, "sip:example.com");
	ck_assert_int_eq(m.nhdr, 10);
	ck_assert_int_eq(sip_get_contacts(&m, c, 4, &star), 3);
	ck_assert_int_eq(star, 0);
	STR_EQ(c[0].uri_str, "sip:alice@192.0.2.10:5060;transport=udp");
	STR_EQ(c[0].uri.host, "192.0.2.10");
	ck_assert_int_eq(c[0].uri.port, 5060);
	STR_EQ(c[0].uri.transport, "udp");
	ck_assert_int_eq(c[0].expires, 3600);
	ck_assert_int_eq(c[0].q, 700);
	STR_EQ(c[0].params, ";expires=3600;q=0.7");
	STR_EQ(c[1].display, "\"Alice \\\"M\\\"\"");
	STR_EQ(c[1].uri.user, "alice");
	ck_assert_int_eq(c[1].q, 1000);
	ck_assert_int_eq(c[1].expires, -1);
	STR_EQ(c[2].uri_str, "sip:alice@203.0.113.5:5070");
	ck_assert_int_eq(c[2].expires, 60);
	ck_assert_int_eq(c[2].uri.port, 5070);
	ck_assert_int_eq(sip_get_contacts(&m, c, 2, NULL), SIP_E_TOOMANY);
	ck_assert_int_eq(sip_get_expires(&m, &n), 0);
	ck_assert_int_eq(n, 7200);
	ck_assert_int_eq(sip_get_content_length(&m, &n), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(sip_msg_check(&m), 0);
	sip_msg_free(&m);
	pkg_back("register");
}
END_TEST

START_TEST(invite_sdp)
{
	struct sip_msg m;
	struct sip_uri u;
	struct sip_naddr a, r[2];
	struct sip_cseq cs;
	struct sip_str s;
	uint32_t n;
	ck_assert_int_eq(parse_lit(&m, INVITE), 0);
	ck_assert_int_eq(m.method_id, SIP_M_INVITE);
	STR_EQ(m.method, "INVITE");
	ck_assert_int_eq(sip_get_ruri(&m, &u), 0);
	ck_assert_int_eq(u.scheme, SIP_URI_SIP);
	STR_EQ(u.user, "bob");
	STR_EQ(u.host, "example.com");
	STR_EQ(u.user_param, "phone");
	STR_EQ(u.params, ";user=phone");
	ck_assert_int_eq(sip_get_cseq(&m, &cs), 0);
	ck_assert_uint_eq(cs.num, 314159);
	ck_assert_int_eq(cs.method_id, SIP_M_INVITE);
	ck_assert_int_eq(sip_get_callid(&m, &s), 0);
	STR_EQ(s, "a84b4c76e66710@pc33.example.com");
	ck_assert_int_eq(sip_get_from(&m, &a), 0);
	STR_EQ(a.display, "\"Alice A.\"");
	STR_EQ(a.tag, "1928301774");
	STR_EQ(a.uri_str, "sip:alice@example.com");
	ck_assert_int_eq(sip_get_to(&m, &a), 0);
	ck_assert_int_eq(a.tag.len, 0);
	STR_EQ(a.display, "Bob");
	ck_assert_int_eq(sip_get_max_forwards(&m, &n), 0);
	ck_assert_int_eq(n, 70);
	ck_assert_int_eq(sip_get_routes(&m, r, 2), 2);
	STR_EQ(r[1].uri.host, "p2.example.com");
	ck_assert_int_eq(r[0].uri.lr, 1);
	ck_assert_int_eq(sip_get_body(&m, &s), 0);
	STR_EQ(s, SDP);
	ck_assert_int_eq(m.body, strlen(INVITE) - strlen(SDP));
	ck_assert_int_eq(sip_get_expires(&m, &n), SIP_E_NOHDR);
	ck_assert_int_eq(sip_hdr_find(&m, "content-TYPE", 12),
		sip_hdr_first(&m, SIP_H_CTYPE));
	ck_assert_int_eq(sip_msg_check(&m), 0);
	sip_msg_free(&m);
	pkg_back("invite");
}
END_TEST

START_TEST(reply_vias)
{
	struct sip_msg m;
	struct sip_via v;
	struct sip_str h;
	uint16_t port;
	ck_assert_int_eq(parse_lit(&m, OK200), 0);
	ck_assert_int_eq(m.type, SIP_REPLY);
	ck_assert_int_eq(m.code, 200);
	STR_EQ(m.reason, "OK");
	ck_assert_int_eq(sip_via_count(&m), 3);
	ck_assert_int_eq(sip_get_via(&m, 0, &v), 0);
	STR_EQ(v.host, "proxy.example.com");
	ck_assert_int_eq(v.port, 5060);
	ck_assert_int_eq(v.last_in_hdr, 0);
	STR_EQ(v.branch, "z9hG4bKsr01");
	ck_assert_int_eq(sip_get_via(&m, 1, &v), 0);
	STR_EQ(v.received, "192.0.2.99");
	ck_assert_int_eq(v.rport, 5999);
	ck_assert_int_eq(v.has_rport, 1);
	ck_assert_int_eq(v.hdr, 0);
	ck_assert_int_eq(v.last_in_hdr, 1);
	STR_EQ(v.params, ";branch=z9hG4bK776asdhds;received=192.0.2.99"
		";rport=5999");
	sip_via_dest(&v, &h, &port);
	STR_EQ(h, "192.0.2.99");
	ck_assert_int_eq(port, 5999);
	ck_assert_int_eq(sip_get_via(&m, 2, &v), 0);
	ck_assert_int_eq(v.proto, SIP_PROTO_TCP);
	ck_assert_int_eq(v.ipv6, 1);
	STR_EQ(v.host, "[2001:db8::9]");
	ck_assert_int_eq(v.hdr, 1);
	sip_via_dest(&v, &h, &port);
	STR_EQ(h, "2001:db8::9");
	ck_assert_int_eq(port, 5070);
	ck_assert_int_eq(sip_get_via(&m, 3, &v), SIP_E_NOHDR);
	ck_assert_int_eq(sip_msg_check(&m), 0);
	sip_msg_free(&m);
}
END_TEST

START_TEST(compact_folded)
{
	struct sip_msg m;
	struct sip_via v;
	struct sip_naddr a, c[2];
	struct sip_str s;
	uint32_t n;
	ck_assert_int_eq(parse_lit(&m, COMPACT), 0);
	ck_assert_int_eq(m.method_id, SIP_M_OPTIONS);
	ck_assert_int_eq(sip_hdr_count(&m, SIP_H_VIA), 2);
	ck_assert_int_eq(sip_get_via(&m, 0, &v), 0);
	STR_EQ(v.branch, "z9hG4bKhjhs8ass877");
	STR_EQ(v.host, "pc33.example.com");
	ck_assert_int_eq(v.port, 0);
	ck_assert_int_eq(sip_get_via(&m, 1, &v), 0);
	STR_EQ(v.name, "SIP");
	STR_EQ(v.version, "2.0");
	STR_EQ(v.transport, "UDP");
	ck_assert_int_eq(v.port, 5080);
	ck_assert_int_eq(v.rport, 5080);
	STR_EQ(v.received, "10.0.0.1");
	ck_assert_int_eq(sip_get_from(&m, &a), 0);
	STR_EQ(a.tag, "1928301774");
	ck_assert_int_eq(sip_get_callid(&m, &s), 0);
	STR_EQ(s, "a84b4c76e66710");
	ck_assert_int_eq(sip_get_contacts(&m, c, 2, NULL), 1);
	ck_assert_int_eq(sip_get_max_forwards(&m, &n), 0);
	ck_assert_int_eq(n, 70);
	ck_assert_int_eq(sip_get_content_length(&m, &n), 0);
	STR_EQ(sip_hdr_value(&m, sip_hdr_first(&m, SIP_H_SUBJECT)),
		"first line" CRLF "\tsecond line");
	STR_EQ(sip_hdr_name(&m, sip_hdr_first(&m, SIP_H_SUPPORTED)), "k");
	ck_assert_int_eq(sip_msg_check(&m), 0);
	sip_msg_free(&m);
}
END_TEST

START_TEST(ipv6_lf)
{
	struct sip_msg m;
	struct sip_uri u;
	struct sip_via v;
	struct sip_naddr c[1];
	struct sip_str b;
	ck_assert_int_eq(parse_lit(&m, IPV6), 0);
	ck_assert_int_eq(sip_get_ruri(&m, &u), 0);
	STR_EQ(u.host, "[2001:db8::1]");
	ck_assert_int_eq(u.ipv6, 1);
	ck_assert_int_eq(u.port, 5080);
	STR_EQ(u.transport, "udp");
	ck_assert_int_eq(sip_get_via(&m, 0, &v), 0);
	ck_assert_int_eq(v.has_rport, 1);
	ck_assert_int_eq(v.rport, -1);
	STR_EQ(v.branch, "z9hG4bK6");
	ck_assert_int_eq(sip_get_contacts(&m, c, 1, NULL), 1);
	STR_EQ(c[0].uri.host, "[2001:db8::10]");
	ck_assert_int_eq(sip_get_body(&m, &b), 0);
	ck_assert_int_eq(b.len, 0);
	ck_assert_int_eq(sip_msg_check(&m), 0);
	sip_msg_free(&m);
}
END_TEST

START_TEST(uris)
{
	struct sip_uri u;
#define URI(s) sip_parse_uri(s, strlen(s), &u)
	ck_assert_int_eq(URI("sips:alice:secret@example.com:5061;lr;maddr=10.0.0.1"
		"?subject=x&priority=urgent"), 0);
	ck_assert_int_eq(u.scheme, SIP_URI_SIPS);
	STR_EQ(u.user, "alice");
	STR_EQ(u.passwd, "secret");
	ck_assert_int_eq(u.port, 5061);
	ck_assert_int_eq(u.lr, 1);
	STR_EQ(u.maddr, "10.0.0.1");
	STR_EQ(u.headers, "subject=x&priority=urgent");
	ck_assert_int_eq(URI("SIP:%61lice@EXAMPLE.com"), 0);
	ck_assert_int_eq(URI("tel:+1-201-555-0123"), 0);
	ck_assert_int_eq(u.scheme, SIP_URI_TEL);
	STR_EQ(u.opaque, "+1-201-555-0123");
	ck_assert_int_eq(URI("sip:a@b:65536"), SIP_E_RANGE);
	ck_assert_int_eq(URI("sip:a@b:0"), SIP_E_RANGE);
	ck_assert_int_eq(URI("sip:a@b:"), SIP_E_URI);
	ck_assert_int_eq(URI("sip:a@b:12x"), SIP_E_URI);
	ck_assert_int_eq(URI("sip:@b"), SIP_E_URI);
	ck_assert_int_eq(URI("sip:a@"), SIP_E_URI);
	ck_assert_int_eq(URI("sip:a@[1::2"), SIP_E_URI);
	ck_assert_int_eq(URI("sip:a@[]"), SIP_E_URI);
	ck_assert_int_eq(URI("sip:a@[zz::1]"), SIP_E_URI);
	ck_assert_int_eq(URI("sip:a%4@b"), SIP_E_URI);
	ck_assert_int_eq(URI("sip:a@b;=x"), SIP_E_URI);
	ck_assert_int_eq(URI("sip:a b@c"), SIP_E_URI);
	ck_assert_int_eq(URI("sip"), SIP_E_URI);
	ck_assert_int_eq(URI(":x"), SIP_E_URI);
	ck_assert_int_eq(URI("tel:"), SIP_E_URI);
#undef URI
}
END_TEST

/* --- malformed input ------------------------------------------------------ */

/* REGISTER with line k (0-based, the first line is 0) replaced by rep. */
static int parse_with(struct sip_msg *m, char *buf, size_t size, int k,
		const char *rep)
{
	const char *p = REGISTER;
	size_t n = 0;
	for (int line = 0; *p; line++) {
		const char *nl = strchr(p, '\n') + 1;
		if (line == k)
			n += (size_t)snprintf(buf + n, size - n, "%s", rep);
		else
			n += (size_t)snprintf(buf + n, size - n, "%.*s",
				(int)(nl - p), p);
		p = nl;
	}
	return sip_parse(m, buf, n);
}

struct bad {
	int line;
	const char *text;
	int parse_rc, check_rc;
};

static const struct bad bads[] = {
	{ 0, "REGISTER sip:example.com SIP/3.0" CRLF, SIP_E_VERSION, 0 },
	{ 0, "REGISTER  sip:example.com SIP/2.0" CRLF, SIP_E_LINE, 0 },
	{ 0, "REGISTER example.com SIP/2.0" CRLF, SIP_E_URI, 0 },
	{ 0, "REGISTER sip:example.com" CRLF, SIP_E_LINE, 0 },
	{ 0, "SIP/2.0 99 Low" CRLF, SIP_E_LINE, 0 },
	{ 0, "SIP/2.0 2000 OK" CRLF, SIP_E_LINE, 0 },
	{ 0, "SIP/1.0 200 OK" CRLF, SIP_E_VERSION, 0 },
	{ 0, "REGISTER sip:example.com:99999 SIP/2.0" CRLF, 0, SIP_E_RANGE },
	{ 1, "Via SIP/2.0/UDP h;branch=z9hG4bK1" CRLF, SIP_E_HDR, 0 },
	{ 1, " Via: SIP/2.0/UDP h" CRLF, SIP_E_HDR, 0 },
	{ 1, "V@a: x" CRLF, SIP_E_HDR, 0 },
	{ 1, "Via: SIP/2.0/UDP" CRLF, 0, SIP_E_SYNTAX },
	{ 1, "Via: SIP/2.0 UDP h" CRLF, 0, SIP_E_SYNTAX },
	{ 1, "Via: SIP/2.0/UDP h:70000" CRLF, 0, SIP_E_RANGE },
	{ 1, "Via: SIP/2.0/UDP h;rport=65536" CRLF, 0, SIP_E_RANGE },
	{ 1, "Via: SIP/2.0/UDP h;branch" CRLF, 0, SIP_E_SYNTAX },
	{ 1, "Via: SIP/2.0/UDP h;branch=a b" CRLF, 0, SIP_E_SYNTAX },
	{ 1, "Via: SIP/2.0/UDP h," CRLF, 0, SIP_E_SYNTAX },
	{ 1, "Via: SIP/2.0/UDP [::1" CRLF, 0, SIP_E_SYNTAX },
	{ 1, "X: y" CRLF, 0, SIP_E_NOHDR },
	{ 2, "Max-Forwards: 256" CRLF, 0, SIP_E_RANGE },
	{ 2, "Max-Forwards: -1" CRLF, 0, SIP_E_SYNTAX },
	{ 3, "To: <sip:a@b" CRLF, 0, SIP_E_SYNTAX },
	{ 3, "To: <sip:a@b>, <sip:c@d>" CRLF, 0, SIP_E_SYNTAX },
	{ 3, "To: <http:>" CRLF, 0, SIP_E_URI },
	{ 4, "From: \"unterminated <sip:a@b>" CRLF, 0, SIP_E_SYNTAX },
	{ 4, "From: <sip:a@b>;tag" CRLF, 0, SIP_E_SYNTAX },
	{ 4, "From: <sip:a@b>;=x" CRLF, 0, SIP_E_SYNTAX },
	{ 4, "To: <sip:a@b>" CRLF, 0, SIP_E_DUP },
	{ 5, "Call-ID: a b" CRLF, 0, SIP_E_SYNTAX },
	{ 5, "Call-ID: @x" CRLF, 0, SIP_E_SYNTAX },
	{ 5, "Call-ID:" CRLF, 0, SIP_E_SYNTAX },
	{ 6, "CSeq: 2147483648 REGISTER" CRLF, 0, SIP_E_RANGE },
	{ 6, "CSeq: 99999999999999999999 REGISTER" CRLF, 0, SIP_E_RANGE },
	{ 6, "CSeq: 1" CRLF, 0, SIP_E_SYNTAX },
	{ 6, "CSeq: 1REGISTER" CRLF, 0, SIP_E_SYNTAX },
	{ 6, "CSeq: 1 INVITE" CRLF, 0, SIP_E_MISMATCH },
	{ 7, "Contact: *, <sip:a@b>" CRLF, 0, SIP_E_SYNTAX },
	{ 7, "Contact: <sip:a@b>;q=1.5" CRLF, 0, SIP_E_RANGE },
	{ 7, "Contact: <sip:a@b>;q=0.1234" CRLF, 0, SIP_E_SYNTAX },
	{ 7, "Contact: <sip:a@b>;expires=4294967296" CRLF, 0, SIP_E_RANGE },
	{ 7, "Contact: <sip:a@b>;expires" CRLF, 0, SIP_E_SYNTAX },
	{ 7, "Contact: <sip:a@b>," CRLF, 0, SIP_E_SYNTAX },
	{ 9, "Expires: 4294967296" CRLF, 0, SIP_E_RANGE },
	{ 9, "Expires: 12a" CRLF, 0, SIP_E_SYNTAX },
	{ 10, "Content-Length: 1" CRLF, 0, SIP_E_BODY },
	{ 10, "Content-Length: 99999999999" CRLF, 0, SIP_E_RANGE },
	{ 10, "Route: sip:p1" CRLF, 0, SIP_E_SYNTAX },
	{ 11, "", SIP_E_TRUNC, 0 },
	{ 11, CRLF CRLF, 0, 0 },
	{ 11, "\r", SIP_E_TRUNC, 0 },
};

START_TEST(malformed_classes)
{
	char buf[2048];
	struct sip_msg m;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		int rc = parse_with(&m, buf, sizeof(buf), b->line, b->text);
		T_ASSERT(rc == b->parse_rc, "case %zu (%s): parse %d (%s), want "
			"%d", i, b->text, rc, sip_strerror(rc), b->parse_rc);
		if (!rc) {
			rc = sip_msg_check(&m);
			T_ASSERT(rc == b->check_rc, "case %zu (%s): check %d (%s), "
				"want %d", i, b->text, rc, sip_strerror(rc),
				b->check_rc);
		}
		sip_msg_free(&m);
		pkg_back(b->text);
	}
}
END_TEST

START_TEST(malformed_whole)
{
	struct sip_msg m;
	static char big[SIP_MAX_LEN + 1];
	ck_assert_int_eq(sip_parse(&m, "", 0), SIP_E_EMPTY);
	ck_assert_int_eq(parse_lit(&m, CRLF CRLF), SIP_E_EMPTY);
	ck_assert_int_eq(parse_lit(&m, "INVITE"), SIP_E_TRUNC);
	ck_assert_int_eq(parse_lit(&m, "OPTIONS sip:a SIP/2.0" CRLF "A: b" CRLF),
		SIP_E_TRUNC);
	ck_assert_int_eq(parse_lit(&m, "OPTIONS sip:a SIP/2.0" CRLF "A: b"),
		SIP_E_TRUNC);
	ck_assert_int_eq(parse_lit(&m, "OPTIONS sip:a SIP/2.0" CRLF "A"),
		SIP_E_TRUNC);
	ck_assert_int_eq(parse_lit(&m, "\x01\x02\xff binary" CRLF CRLF),
		SIP_E_LINE);
	ck_assert_int_eq(sip_parse(&m, big, sizeof(big)), SIP_E_TOOBIG);
	/* a 256-byte header name */
	memset(big, 'a', 300);
	memcpy(big, "OPTIONS sip:a SIP/2.0\r\n", 23);
	memcpy(big + 23 + 256, ": x\r\n\r\n", 7);
	ck_assert_int_eq(sip_parse(&m, big, 23 + 256 + 7), SIP_E_HDR);
	ck_assert_int_eq(sip_parse(&m, big, 23 + 255 + 1), SIP_E_TRUNC);
	/* 1025 header lines */
	size_t n = 23;
	for (int i = 0; i < 1025; i++)
		n += (size_t)sprintf(big + n, "X: %d\r\n", i);
	n += (size_t)sprintf(big + n, "\r\n");
	ck_assert_int_eq(sip_parse(&m, big, n), SIP_E_TOOMANY);
	pkg_back("whole");
}
END_TEST

/* Every prefix of each message, each placed so that its last byte is the
 * last before a PROT_NONE page: a read past len faults. */
START_TEST(never_past_len)
{
	static const char *const msgs[] = { REGISTER, INVITE, OK200, COMPACT,
		IPV6 };
	long pg = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
	for (size_t k = 0; k < sizeof(msgs) / sizeof(msgs[0]); k++) {
		size_t len = strlen(msgs[k]);
		for (size_t n = 0; n <= len; n++) {
			struct sip_msg m;
			char *b = map + pg - n;
			memcpy(b, msgs[k], n);
			if (sip_parse(&m, b, n) == 0)
				(void)sip_msg_check(&m);
			sip_msg_free(&m);
		}
	}
	pkg_back("prefixes");
}
END_TEST

/* More headers than the inline array: one pkg block, given back. */
START_TEST(pkg_block)
{
	char buf[4096];
	struct sip_msg m;
	struct mem_info mi;
	size_t n = (size_t)sprintf(buf, "%.*s", (int)(strlen(INVITE) -
		strlen(SDP) - 2), INVITE);
	for (int i = 0; i < 40; i++)
		n += (size_t)sprintf(buf + n, "X-Extra-%d: %d\r\n", i, i);
	n += (size_t)sprintf(buf + n, "\r\n%s", SDP);
	ck_assert_int_eq(sip_parse(&m, buf, n), 0);
	ck_assert_int_eq(m.nhdr, 50);
	ck_assert_ptr_ne(m.hdr, m.inl);
	pkg_info(&mi);
	ck_assert_uint_gt(mi.used_size, pkg_start.used_size);
	ck_assert_int_eq(sip_msg_check(&m), 0);
	ck_assert_int_eq(sip_hdr_find(&m, "x-extra-39", 10), 49);
	/* the chain of a type runs in message order */
	int k = 10;
	for (int i = sip_hdr_first(&m, SIP_H_OTHER); i >= 0;
	     i = sip_hdr_next(&m, i))
		ck_assert_int_eq(i, k++);
	ck_assert_int_eq(k, 50);
	sip_msg_free(&m);
	sip_msg_free(&m);
	pkg_back("block");
	sip_hdr_inline = 0;
	ck_assert_int_eq(parse_lit(&m, REGISTER), 0);
	ck_assert_ptr_ne(m.hdr, m.inl);
	ck_assert_int_eq(sip_msg_check(&m), 0);
	sip_msg_free(&m);
	pkg_back("inline 0");
}
END_TEST

/* --- builders ---------------------------------------------------------------- */

/* The builder's output fits exactly its length and fails below it. */
typedef int (*build_fn)(const struct sip_msg *m, const void *arg, char *out,
		size_t size);

static void build_eq(build_fn fn, const struct sip_msg *m, const void *arg,
		const char *want)
{
	static char out[8192];
	size_t n = strlen(want);
	int rc = fn(m, arg, out, sizeof(out));
	T_ASSERT(rc == (int)n && !memcmp(out, want, n), "built %d bytes:\n"
		"%.*s\nwant %zu:\n%s", rc, rc > 0 ? rc : 0, out, n, want);
	for (size_t k = 0; k < n; k++) {
		rc = fn(m, arg, out, k);
		T_ASSERT(rc == SIP_E_NOSPACE, "size %zu: %d", k, rc);
	}
	ck_assert_int_eq(fn(m, arg, out, n), (int)n);
}

static int reply_fn(const struct sip_msg *m, const void *arg, char *out,
		size_t size)
{
	return sip_build_reply(m, arg, out, size);
}

static int fwd_fn(const struct sip_msg *m, const void *arg, char *out,
		size_t size)
{
	return sip_build_fwd_request(m, arg, out, size);
}

static int fwd_reply_fn(const struct sip_msg *m, const void *arg, char *out,
		size_t size)
{
	(void)arg;
	return sip_build_fwd_reply(m, out, size);
}

START_TEST(build_reply_register)
{
	struct sip_msg m;
	struct sip_src src = { "192.0.2.10", 5060 };
	struct sip_naddr c[3];
	char extra[256];
	ck_assert_int_eq(parse_lit(&m, REGISTER), 0);
	ck_assert_int_eq(sip_get_contacts(&m, c, 3, NULL), 3);
	int n = sip_put_contact(extra, sizeof(extra), c[0].uri_str, 3600);
	n += sip_put_contact(extra + n, sizeof(extra) - (size_t)n,
		c[2].uri_str, 60);
	struct sip_reply_spec r = { .code = 200, .src = &src, .to_tag = "t1",
		.extra = extra, .extra_len = (size_t)n, .server = "srproxy" };
	build_eq(reply_fn, &m, &r,
		"SIP/2.0 200 OK" CRLF
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds"
		";rport=5060;received=192.0.2.10" CRLF
		"From: Alice <sip:alice@example.com>;tag=1928301774" CRLF
		"To: Alice <sip:alice@example.com>;tag=t1" CRLF
		"Call-ID: a84b4c76e66710@pc33.example.com" CRLF
		"CSeq: 314159 REGISTER" CRLF
		"Contact: <sip:alice@192.0.2.10:5060;transport=udp>;expires=3600"
		CRLF "Contact: <sip:alice@203.0.113.5:5070>;expires=60" CRLF
		"Server: srproxy" CRLF
		"Content-Length: 0" CRLF CRLF);
	sip_msg_free(&m);
}
END_TEST

START_TEST(build_reply_tags)
{
	struct sip_msg m, r2;
	char out[2048], tag[32], tag2[32];
	/* the From/To of the built reply must parse; a tag made when none given */
	ck_assert_int_eq(parse_lit(&m, INVITE), 0);
	struct sip_reply_spec r = { .code = 100 };
	build_eq(reply_fn, &m, &r,
		"SIP/2.0 100 Trying" CRLF
		"Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bKnashds8" CRLF
		"From: \"Alice A.\" <sip:alice@example.com>;tag=1928301774" CRLF
		"To: Bob <sip:bob@example.com>" CRLF
		"Call-ID: a84b4c76e66710@pc33.example.com" CRLF
		"CSeq: 314159 INVITE" CRLF
		"Content-Length: 0" CRLF CRLF);
	struct sip_src src = { "192.0.2.33", 5066 };
	struct sip_reply_spec r4 = { .code = 483, .src = &src };
	int n = sip_build_reply(&m, &r4, out, sizeof(out));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(sip_parse(&r2, out, (size_t)n), 0);
	ck_assert_int_eq(sip_msg_check(&r2), 0);
	ck_assert_int_eq(r2.code, 483);
	STR_EQ(r2.reason, "Too Many Hops");
	struct sip_naddr to;
	struct sip_via v;
	ck_assert_int_eq(sip_get_to(&r2, &to), 0);
	ck_assert_int_eq(sip_make_tag(&m, tag, sizeof(tag)), 16);
	tag[16] = 0;
	STR_EQ(to.tag, tag);
	ck_assert_int_eq(sip_get_via(&r2, 0, &v), 0);
	STR_EQ(v.received, "192.0.2.33");
	ck_assert_int_eq(v.has_rport, 0);
	/* same request again: same tag; another Call-ID: another */
	ck_assert_int_eq(sip_make_tag(&m, tag2, sizeof(tag2)), 16);
	ck_assert(!memcmp(tag, tag2, 16));
	struct sip_reply_spec bad = { .code = 700 };
	ck_assert_int_eq(sip_build_reply(&m, &bad, out, sizeof(out)),
		SIP_E_ARG);
	sip_msg_free(&r2);
	sip_msg_free(&m);
	ck_assert_int_eq(parse_lit(&m, OK200), 0);
	ck_assert_int_eq(sip_build_reply(&m, &r, out, sizeof(out)), SIP_E_ARG);
	sip_msg_free(&m);
}
END_TEST

START_TEST(build_reply_via_lines)
{
	/* several Via values and lines: all copied, only the top one fixed */
	static const char req[] =
		"BYE sip:bob@192.0.2.4 SIP/2.0" CRLF
		"Via: SIP/2.0/UDP p.example.com;received=1.2.3.4;rport;branch=z9hG4bKa"
		" , SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKb" CRLF
		"v: SIP/2.0/UDP 192.0.2.11;branch=z9hG4bKc" CRLF
		"f: <sip:a@b>;tag=1" CRLF
		"t: <sip:c@d>;tag=2" CRLF
		"i: x" CRLF
		"CSeq: 2 BYE" CRLF
		CRLF;
	struct sip_msg m;
	struct sip_src src = { "192.0.2.77", 6000 };
	ck_assert_int_eq(parse_lit(&m, req), 0);
	struct sip_reply_spec r = { .code = 200, .src = &src };
	build_eq(reply_fn, &m, &r,
		"SIP/2.0 200 OK" CRLF
		"Via: SIP/2.0/UDP p.example.com;rport=6000;branch=z9hG4bKa"
		";received=192.0.2.77 , SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKb" CRLF
		"v: SIP/2.0/UDP 192.0.2.11;branch=z9hG4bKc" CRLF
		"f: <sip:a@b>;tag=1" CRLF
		"t: <sip:c@d>;tag=2" CRLF
		"i: x" CRLF
		"CSeq: 2 BYE" CRLF
		"Content-Length: 0" CRLF CRLF);
	sip_msg_free(&m);
}
END_TEST

START_TEST(build_via_fix)
{
	struct sip_msg m;
	struct sip_via v;
	char out[256];
	struct sip_src same = { "192.0.2.10", 5060 }, other = { "10.9.8.7", 1 };
	ck_assert_int_eq(parse_lit(&m, OK200), 0);
	ck_assert_int_eq(sip_get_via(&m, 1, &v), 0);
	/* rport has a value: kept; received replaced (host differs) */
	int n = sip_via_fix(&m, &v, &other, out, sizeof(out));
	ck_assert_int_eq(n, (int)strlen("SIP/2.0/UDP 192.0.2.10:5062;branch="
		"z9hG4bK776asdhds;rport=5999;received=10.9.8.7"));
	ck_assert(!memcmp(out, "SIP/2.0/UDP 192.0.2.10:5062;branch="
		"z9hG4bK776asdhds;rport=5999;received=10.9.8.7", (size_t)n));
	/* host is the source, no rport: unchanged */
	n = sip_via_fix(&m, &v, &same, out, sizeof(out));
	ck_assert(!memcmp(out, "SIP/2.0/UDP 192.0.2.10:5062;branch="
		"z9hG4bK776asdhds;received=192.0.2.99;rport=5999", (size_t)n));
	ck_assert_int_eq(sip_get_via(&m, 2, &v), 0);
	struct sip_src v6 = { "2001:DB8::9", 5070 };
	n = sip_via_fix(&m, &v, &v6, out, sizeof(out));
	ck_assert(!memcmp(out, "SIP/2.0/TCP [2001:db8::9]:5070;branch=z9hG4bKlast",
		(size_t)n));
	ck_assert_int_eq(sip_via_fix(&m, &v, &other, out, 10), SIP_E_NOSPACE);
	sip_msg_free(&m);
}
END_TEST

START_TEST(build_fwd_request)
{
	struct sip_msg m, f2;
	char br[64], want[4096];
	static char out[4096];
	struct sip_src src = { "192.0.2.33", 5066 };
	struct sip_fwd_spec f = { .host = "192.0.2.1", .port = 5060,
		.src = &src };
	ck_assert_int_eq(parse_lit(&m, INVITE), 0);
	int n = sip_make_branch(&m, "192.0.2.1", 5060, br, sizeof(br));
	ck_assert_int_eq(n, 25);
	br[n] = 0;
	ck_assert(!strncmp(br, "z9hG4bKsr", 9));
	snprintf(want, sizeof(want), INVITE_LINE
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=%s" CRLF
		INVITE_VIA ";received=192.0.2.33" CRLF
		"Max-Forwards: 69" CRLF INVITE_REST CRLF SDP, br);
	build_eq(fwd_fn, &m, &f, want);
	/* the output parses, with two Vias, ours on top */
	n = sip_build_fwd_request(&m, &f, out, sizeof(out));
	ck_assert_int_eq(sip_parse(&f2, out, (size_t)n), 0);
	ck_assert_int_eq(sip_msg_check(&f2), 0);
	ck_assert_int_eq(sip_via_count(&f2), 2);
	/* stable: the same branch again; another host: another branch */
	char br2[64];
	ck_assert_int_eq(sip_make_branch(&m, "192.0.2.1", 5060, br2, 64), 25);
	ck_assert(!memcmp(br, br2, 25));
	ck_assert_int_eq(sip_make_branch(&m, "192.0.2.2", 5060, br2, 64), 25);
	ck_assert(memcmp(br, br2, 25));
	sip_msg_free(&f2);
	/* Request-URI rewritten, no source fix, TCP */
	struct sip_fwd_spec g = { .host = "[2001:db8::1]", .transport = "TCP",
		.ruri = "sip:bob@192.0.2.4:5070", .ruri_len = 22 };
	n = sip_build_fwd_request(&m, &g, out, sizeof(out));
	ck_assert_int_gt(n, 0);
	ck_assert(!memcmp(out, "INVITE sip:bob@192.0.2.4:5070 SIP/2.0\r\n"
		"Via: SIP/2.0/TCP [2001:db8::1];branch=z9hG4bKsr", 86));
	HAS(out, n, "\r\nVia: SIP/2.0/UDP pc33.example.com;branch="
		"z9hG4bKnashds8\r\n");
	sip_msg_free(&m);
}
END_TEST

START_TEST(build_fwd_maxfwd)
{
	struct sip_msg m;
	char out[2048];
	struct sip_fwd_spec f = { .host = "proxy" };
	/* no Max-Forwards: 70 inserted after our Via */
	ck_assert_int_eq(parse_lit(&m, COMPACT), 0);
	int n = sip_build_fwd_request(&m, &f, out, sizeof(out));
	ck_assert_int_gt(n, 0);
	HAS(out, n, "\r\nmax-forwards:69\r\n");
	sip_msg_free(&m);
	static const char nomf[] = "MESSAGE sip:a@b SIP/2.0" CRLF
		"Via: SIP/2.0/UDP h;branch=z9hG4bK1" CRLF
		"f: <sip:c@d>;tag=1" CRLF "t: <sip:a@b>" CRLF "i: 1" CRLF
		"CSeq: 1 MESSAGE" CRLF "l: 2" CRLF CRLF "hi";
	ck_assert_int_eq(parse_lit(&m, nomf), 0);
	char br[32];
	ck_assert_int_eq(sip_make_branch(&m, "proxy", 0, br, sizeof(br)), 25);
	char want[1024];
	snprintf(want, sizeof(want), "MESSAGE sip:a@b SIP/2.0" CRLF
		"Via: SIP/2.0/UDP proxy;branch=%.25s" CRLF
		"Max-Forwards: 70" CRLF
		"Via: SIP/2.0/UDP h;branch=z9hG4bK1" CRLF
		"f: <sip:c@d>;tag=1" CRLF "t: <sip:a@b>" CRLF "i: 1" CRLF
		"CSeq: 1 MESSAGE" CRLF "l: 2" CRLF CRLF "hi", br);
	build_eq(fwd_fn, &m, &f, want);
	sip_msg_free(&m);
	/* Max-Forwards 0: the caller answers 483 */
	ck_assert_int_eq(parse_lit(&m, "OPTIONS sip:a SIP/2.0" CRLF
		"Via: SIP/2.0/UDP h" CRLF "Max-Forwards: 0" CRLF CRLF), 0);
	ck_assert_int_eq(sip_build_fwd_request(&m, &f, out, sizeof(out)),
		SIP_E_MAXFWD);
	sip_msg_free(&m);
}
END_TEST

START_TEST(build_fwd_reply)
{
	struct sip_msg m;
	ck_assert_int_eq(parse_lit(&m, OK200), 0);
	build_eq(fwd_reply_fn, &m, NULL, "SIP/2.0 200 OK" CRLF
		"Via: " OK200_VIA2 CRLF OK200_TAIL);
	sip_msg_free(&m);
	/* top Via alone on its line: the line goes */
	static const char r2[] = CRLF "SIP/2.0 180 Ringing" CRLF
		"Via: SIP/2.0/UDP us;branch=z9hG4bKsr1" CRLF
		"Via: SIP/2.0/UDP them;branch=z9hG4bK2" CRLF
		"CSeq: 1 INVITE" CRLF CRLF;
	ck_assert_int_eq(parse_lit(&m, r2), 0);
	build_eq(fwd_reply_fn, &m, NULL, "SIP/2.0 180 Ringing" CRLF
		"Via: SIP/2.0/UDP them;branch=z9hG4bK2" CRLF
		"CSeq: 1 INVITE" CRLF CRLF);
	sip_msg_free(&m);
	/* only our Via: nowhere to send it */
	ck_assert_int_eq(parse_lit(&m, "SIP/2.0 200 OK" CRLF
		"Via: SIP/2.0/UDP us" CRLF CRLF), 0);
	char out[256];
	ck_assert_int_eq(sip_build_fwd_reply(&m, out, sizeof(out)), SIP_E_NOHDR);
	sip_msg_free(&m);
}
END_TEST

/* --- the corpus ------------------------------------------------------------ */

struct corpus {
	unsigned char *data;
	size_t len;
	long records, parse_rejected, rejected;
};

static void corpus_path(char *buf, size_t size, const char *name)
{
	t_data_path(buf, size, "SIP_CORPUS_DIR", "sip", name);
}

/* The number after "\nkey " (the file starts with a comment line). */
static long count_of(const char *text, const char *key)
{
	char k[64];
	snprintf(k, sizeof(k), "\n%s ", key);
	const char *p = strstr(text, k);
	T_ASSERT(p, "corpus.count lacks %s", key);
	return strtol(p + strlen(k), NULL, 10);
}

static void corpus_load(struct corpus *c)
{
	char path[1024], text[512];
	corpus_path(path, sizeof(path), "corpus.bin");
	FILE *f = fopen(path, "rb");
	T_ASSERT(f, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	c->len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	c->data = malloc(c->len);
	T_ASSERT(c->data && fread(c->data, 1, c->len, f) == c->len, "read %s",
		path);
	fclose(f);
	corpus_path(path, sizeof(path), "corpus.count");
	f = fopen(path, "r");
	T_ASSERT(f, "%s: %s", path, strerror(errno));
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = 0;
	fclose(f);
	c->records = count_of(text, "records");
	c->parse_rejected = count_of(text, "parse_rejected");
	c->rejected = count_of(text, "rejected");
}

/* Everything the server would do with a message; 1 when rejected. */
static int corpus_one(const unsigned char *p, size_t n, int *parse_bad)
{
	static char out[SIP_MAX_LEN + 4096];
	struct sip_msg m;
	struct sip_src src = { "192.0.2.1", 5060 };
	struct sip_naddr c[8];
	int rc = sip_parse(&m, (const char *)p, n);
	*parse_bad = rc != 0;
	if (rc == 0) {
		rc = sip_msg_check(&m);
		(void)sip_get_contacts(&m, c, 8, NULL);
		if (m.type == SIP_REQUEST) {
			struct sip_reply_spec r = { .code = 404, .src = &src };
			struct sip_fwd_spec f = { .host = "192.0.2.1", .port =
				5060, .src = &src };
			(void)sip_build_reply(&m, &r, out, sizeof(out));
			(void)sip_build_fwd_request(&m, &f, out, sizeof(out));
		} else {
			(void)sip_build_fwd_reply(&m, out, sizeof(out));
		}
	}
	sip_msg_free(&m);
	return rc != 0;
}

START_TEST(corpus_all)
{
	struct corpus c;
	long records = 0, parse_rej = 0, rej = 0;
	sip_hdr_inline = (unsigned)_i;  /* 0: every message takes a block */
	corpus_load(&c);
	for (size_t off = 0; off + 4 <= c.len; records++) {
		const unsigned char *p = c.data + off;
		size_t n = (size_t)p[0] | (size_t)p[1] << 8 |
			(size_t)p[2] << 16 | (size_t)p[3] << 24;
		T_ASSERT(off + 4 + n <= c.len, "record %ld overruns", records);
		int pb;
		/* a private copy of exactly n bytes: ASan sees any overread */
		unsigned char *copy = malloc(n ? n : 1);
		memcpy(copy, p + 4, n);
		rej += corpus_one(copy, n, &pb);
		parse_rej += pb;
		free(copy);
		struct mem_info mi;
		pkg_info(&mi);
		T_ASSERT(mi.used_size == pkg_start.used_size && mi.real_used ==
			pkg_start.real_used, "record %ld: pkg used %llu, start "
			"%llu", records, (unsigned long long)mi.used_size,
			(unsigned long long)pkg_start.used_size);
		off += 4 + n;
	}
	free(c.data);
	ck_assert_int_ge(records, 10000);
	ck_assert_int_eq(records, c.records);
	ck_assert_int_eq(parse_rej, c.parse_rejected);
	ck_assert_int_eq(rej, c.rejected);
}
END_TEST

Suite *sip_parse_suite(void)
{
	Suite *s = suite_create("sip_parse");
	TCase *tc = tcase_create("messages");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, register_contacts);
	tcase_add_test(tc, invite_sdp);
	tcase_add_test(tc, reply_vias);
	tcase_add_test(tc, compact_folded);
	tcase_add_test(tc, ipv6_lf);
	tcase_add_test(tc, uris);
	tcase_add_test(tc, malformed_classes);
	tcase_add_test(tc, malformed_whole);
	tcase_add_test(tc, never_past_len);
	tcase_add_test(tc, pkg_block);
	suite_add_tcase(s, tc);
	tc = tcase_create("builders");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, build_reply_register);
	tcase_add_test(tc, build_reply_tags);
	tcase_add_test(tc, build_reply_via_lines);
	tcase_add_test(tc, build_via_fix);
	tcase_add_test(tc, build_fwd_request);
	tcase_add_test(tc, build_fwd_maxfwd);
	tcase_add_test(tc, build_fwd_reply);
	suite_add_tcase(s, tc);
	tc = tcase_create("corpus");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	/* the loop index is the inline header count: 0 and the default */
	tcase_add_loop_test(tc, corpus_all, 0, 1);
	tcase_add_loop_test(tc, corpus_all, SIP_HDR_INLINE, SIP_HDR_INLINE + 1);
	suite_add_tcase(s, tc);
	return s;
}
