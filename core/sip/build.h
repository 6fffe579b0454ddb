/*
 * build.h - what srproxy's stateless proxy and registrar write: replies to
 * a request, a forwarded request, a forwarded reply.  Pure buffer
 * functions over a parsed struct sip_msg (msg.h): they write into the
 * caller's out[0..size) and return the length written, or a negative
 * SIP_E_* code; SIP_E_NOSPACE (-1) when it does not fit (out is then
 * garbage).  No allocation, no sockets, no NUL terminator added.
 *
 * Addresses are text: an IPv4 "192.0.2.1" or an IPv6 without brackets
 * "2001:db8::1" for a packet's source; a Via host as it goes on the wire
 * ("[2001:db8::1]" with brackets).
 */
#ifndef SRP_SIP_BUILD_H
#define SRP_SIP_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "sip/msg.h"

/* Where a request came from (the received/rport fix). */
struct sip_src {
	const char *ip;
	uint16_t port;
};

struct sip_reply_spec {
	int code;                       /* 100..699 */
	const char *reason;             /* NULL: sip_reason(code) */
	const struct sip_src *src;      /* NULL: the top Via copied as is */
	const char *to_tag;             /* NULL: sip_make_tag()'s, when the
	                                   To has none and code > 100 */
	const char *extra;              /* header lines, each ending in CRLF */
	size_t extra_len;
	const char *server;             /* Server: value, NULL for none */
};

/* A reply to req: status line, its Via lines (the top value with
 * received/rport, RFC 3261 18.2.1 and RFC 3581 4), From, To (a tag added
 * when it has none and code > 100), Call-ID, CSeq, extra, Server,
 * "Content-Length: 0", blank line.  Header lines are written as
 * "Name: value" CRLF with the request's names and values. */
int sip_build_reply(const struct sip_msg *req, const struct sip_reply_spec *r,
		char *out, size_t size);

struct sip_fwd_spec {
	const char *host;               /* our Via's sent-by host */
	uint16_t port;                  /* 0: none written */
	const char *transport;          /* "UDP" when NULL */
	const struct sip_src *src;      /* NULL: the request's Via unchanged */
	const char *ruri;               /* new Request-URI, NULL: keep */
	size_t ruri_len;
};

/* req forwarded: first line (Request-URI replaced when asked), our Via
 * with sip_make_branch()'s branch, "Max-Forwards: 70" when it had none,
 * then every header line as received, but the top Via value fixed
 * (received/rport) and Max-Forwards decremented; the body (Content-Length
 * bytes).  SIP_E_MAXFWD when Max-Forwards is 0 (the caller answers 483). */
int sip_build_fwd_request(const struct sip_msg *req,
		const struct sip_fwd_spec *f, char *out, size_t size);

/* rpl without its top Via value (ours): the line goes when it held only
 * that value.  SIP_E_NOHDR when no Via would be left to send it by. */
int sip_build_fwd_reply(const struct sip_msg *rpl, char *out, size_t size);

/* The Via value v of m with the received/rport fix for a packet from src:
 * an empty ";rport" gets the source port; ";received=ip" is added when
 * rport was asked for or the sent-by host is not that ip (replacing a
 * received the value had). */
int sip_via_fix(const struct sip_msg *m, const struct sip_via *v,
		const struct sip_src *src, char *out, size_t size);

/* Where a reply goes by Via v (RFC 3261 18.2.2, RFC 3581): received, or
 * maddr, or the sent-by host (IPv6 without brackets); rport's value, or
 * the sent-by port, or 5060 (5061 for TLS). */
void sip_via_dest(const struct sip_via *v, struct sip_str *host,
		uint16_t *port);

/* Our branch for forwarding req statelessly (RFC 3261 16.11): the magic
 * cookie and 16 hex digits of a hash of the top Via's branch (when it
 * has the cookie; else of the top Via, Call-ID, CSeq, From and To tags and
 * Request-URI) and our host:port.  A retransmission gets the same branch;
 * a CANCEL or non-2xx ACK the same as its INVITE. */
int sip_make_branch(const struct sip_msg *req, const char *host,
		uint16_t port, char *out, size_t size);
/* A To tag for our replies to req, stable across retransmissions. */
int sip_make_tag(const struct sip_msg *req, char *out, size_t size);
/* "Contact: <uri>;expires=N" CRLF, for sip_reply_spec.extra. */
int sip_put_contact(char *out, size_t size, struct sip_str uri,
		uint32_t expires);
/* The RFC 3261 reason phrase of a code, "Unknown" when it has none. */
const char *sip_reason(int code);

#endif /* SRP_SIP_BUILD_H */
