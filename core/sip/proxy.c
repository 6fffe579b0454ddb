/*
 * proxy.c - srproxy's stateless proxy: every datagram a SIP worker reads
 * (udp.c) is parsed in place (msg.h) and handled here, start to end, before
 * the next one is read.
 *
 *   request, malformed   bad_msg_hdr; 400 when a reply can be built
 *                        (err_requests), else dropped (drop_requests);
 *                        an ACK is never answered
 *   REGISTER             registrar.c (any Request-URI: we are the registrar)
 *   OPTIONS, no user     200 with Allow (the proxy itself)
 *   anything else        the Request-URI's user part is the AOR (no domain,
 *                        as Kamailio's use_domain=0); its first binding by q
 *                        gets the request, Request-URI replaced by the
 *                        contact, our Via on top, Max-Forwards decremented
 *                        (483 at 0), the sender's Via fixed (received/rport);
 *                        no binding: 404, an ACK is dropped
 *   reply                our Via on top: removed, sent by the next Via
 *                        (received/rport, else its host:port); otherwise
 *                        dropped (drop_replies)
 *
 * No state survives a message: no transaction, no dialog, no Record-Route
 * (ACK and BYE find the callee by the same lookup), Route headers are not
 * acted upon, and a contact must name a literal IP address (no DNS; a
 * hostname falls back on the address the REGISTER came from).
 *
 * Memory: the parser's header array when a message has many headers, the
 * output buffer (one pkg block, sized from the input), usrloc's copy of
 * the bindings; all pkg, module "sip", all freed before sip_receive()
 * returns, so a worker's pkg use after traffic is its use before.  A
 * failed allocation costs that message alone (no_pkg_mem, then dropped).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mem.h"
#include "runtime/cfg.h"
#include "runtime/log.h"
#include "sip/proxy.h"
#include "sip/stats.h"
#include "sip/usrloc.h"

#define SERVER_HDR SRP_NAME " " SRP_VERSION
/* Bytes a reply or a forwarded request may add to the input: status
 * line, our Via, received/rport, To tag, Max-Forwards, Server. */
#define SLACK 512
#define ALLOW_HDR "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, " \
	"INFO, UPDATE, PRACK, SUBSCRIBE, NOTIFY, MESSAGE, REFER, PUBLISH\r\n"

static char *out_alloc(size_t size)
{
	char *out = pkg_malloc(size);

	if (!out)
		sip_stat_inc(ST_NO_MEM);
	return out;
}

/* Where a reply to rx goes (RFC 3261 18.2.2, RFC 3581): the address the
 * request came from, on the top Via's port unless it asked for rport. */
static void reply_dest(const struct sip_rx *rx, union sip_addr *to)
{
	struct sip_via v;

	*to = *rx->src;
	if (sip_get_via(&rx->msg, 0, &v) || v.has_rport)
		return;
	if (to->sa.sa_family == AF_INET6)
		to->in6.sin6_port = htons(v.port ? v.port : 5060);
	else
		to->in.sin_port = htons(v.port ? v.port : 5060);
}

int sip_reply(struct sip_rx *rx, int code, const char *reason,
		const char *extra, size_t extra_len)
{
	struct sip_reply_spec r = { .code = code, .reason = reason,
		.src = &rx->from, .extra = extra, .extra_len = extra_len,
		.server = SERVER_HDR };
	size_t size = rx->msg.len + extra_len + SLACK;
	union sip_addr to;
	char *out = out_alloc(size);
	int n, rc = -1;

	if (!out)
		return -1;
	n = sip_build_reply(&rx->msg, &r, out, size);
	reply_dest(rx, &to);
	if (n >= 0 && udp_send(&to, out, (size_t)n) == 0) {
		sip_stat_reply(code);
		rc = 0;
	} else if (n >= 0 || n == SIP_E_NOSPACE) {
		sip_stat_inc(ST_SEND_FAILURES);
	}
	pkg_free(out);
	return rc;
}

/* A request we could not read: 400 naming the fault, when possible. */
static void bad_request(struct sip_rx *rx, int err)
{
	struct sip_uri u;
	char reason[80];

	sip_stat_inc(ST_BAD_MSG_HDR);
	if (sip_get_ruri(&rx->msg, &u) < 0)
		sip_stat_inc(ST_BAD_URIS);
	snprintf(reason, sizeof(reason), "Bad Request (%s)",
			sip_strerror(err));
	LM_DBG("bad request from %s:%u: %s", rx->ip, rx->from.port,
			sip_strerror(err));
	if (rx->msg.method_id != SIP_M_ACK &&
			sip_reply(rx, 400, reason, NULL, 0) == 0)
		sip_stat_inc(ST_ERR_REQUESTS);
	else
		sip_stat_inc(ST_DROP_REQUESTS);
}

/* Answer a request that goes no further; an ACK is dropped instead. */
static void refuse(struct sip_rx *rx, int code, const char *reason)
{
	if (rx->msg.method_id == SIP_M_ACK ||
			sip_reply(rx, code, reason, NULL, 0) < 0)
		sip_stat_inc(ST_DROP_REQUESTS);
}

/* Where a binding is reached: its URI's literal address, else the address
 * its REGISTER came from ("udp:IP:PORT", IPv6 in brackets). */
static int binding_dest(const struct ul_binding *b, const struct sip_uri *u,
		union sip_addr *to)
{
	const char *r = b->received, *colon;

	if (sip_addr_set(to, u->host.s, u->host.len, u->port) == 0)
		return 0;
	if (strncmp(r, "udp:", 4) == 0)
		r += 4;
	colon = strrchr(r, ':');
	if (!colon || colon == r)
		return -1;
	return sip_addr_set(to, r, (size_t)(colon - r),
			(unsigned)atoi(colon + 1));
}

static void send_forward(struct sip_rx *rx, const struct ul_binding *b,
		const union sip_addr *to)
{
	struct sip_fwd_spec f = { .host = udp_local_host(),
		.port = (uint16_t)udp_local_port(), .src = &rx->from,
		.ruri = b->uri, .ruri_len = b->uri_len };
	size_t size = rx->msg.len + b->uri_len + SLACK;
	char *out = out_alloc(size);
	int n;

	if (!out) {
		sip_stat_inc(ST_DROP_REQUESTS);
		return;
	}
	n = sip_build_fwd_request(&rx->msg, &f, out, size);
	if (n == SIP_E_MAXFWD) {
		refuse(rx, 483, NULL);
	} else if (n >= 0 && udp_send(to, out, (size_t)n) == 0) {
		sip_stat_inc(ST_FWD_REQUESTS);
	} else {
		sip_stat_inc(ST_SEND_FAILURES);
		sip_stat_inc(ST_DROP_REQUESTS);
	}
	pkg_free(out);
}

static void forward(struct sip_rx *rx, const struct ul_binding *b)
{
	struct sip_uri u;
	union sip_addr to;

	if (sip_parse_uri(b->uri, b->uri_len, &u) < 0 ||
			binding_dest(b, &u, &to) < 0) {
		refuse(rx, 478, "Unresolvable Destination");
		return;
	}
	send_forward(rx, b, &to);
}

/* Any request but REGISTER and OPTIONS to us: to the user's contact. */
static void route_request(struct sip_rx *rx, const struct sip_uri *ru)
{
	struct ul_str aor = { ru->user.s, ru->user.len };
	struct ul_set *set;
	int rc = UL_E_NOTFOUND;

	if (ru->scheme != SIP_URI_SIP && ru->scheme != SIP_URI_SIPS) {
		refuse(rx, 416, NULL);
		return;
	}
	set = aor.len ? ul_lookup(aor, (int64_t)time(NULL), &rc) : NULL;
	if (set && set->n) {
		forward(rx, &set->c[0]);
	} else if (rc == UL_E_PKG) {
		sip_stat_inc(ST_NO_MEM);
		refuse(rx, 500, NULL);
	} else {
		refuse(rx, 404, NULL);
	}
	pkg_free(set);
}

static void on_request(struct sip_rx *rx)
{
	struct sip_msg *m = &rx->msg;
	struct sip_uri ru;
	int rc;

	sip_stat_inc(ST_RCV_REQUESTS);
	if (m->method_id == SIP_M_ACK)
		sip_stat_inc(ST_RCV_ACKS);
	else if (m->method_id == SIP_M_OTHER)
		sip_stat_inc(ST_UNSUPPORTED);
	rc = sip_msg_check(m);
	if (rc == 0)
		rc = sip_get_ruri(m, &ru);
	if (rc < 0) {
		bad_request(rx, rc);
	} else if (m->method_id == SIP_M_REGISTER) {
		reg_handle(rx);
	} else if (m->method_id == SIP_M_OPTIONS && ru.user.len == 0) {
		if (sip_reply(rx, 200, NULL, ALLOW_HDR, sizeof(ALLOW_HDR) - 1))
			sip_stat_inc(ST_DROP_REQUESTS);
	} else {
		route_request(rx, &ru);
	}
}

/* The top Via is ours: our host as we write it, our port. */
static int via_is_ours(const struct sip_via *v)
{
	const char *h = udp_local_host();

	return v->host.len == strlen(h) &&
		strncasecmp(v->host.s, h, v->host.len) == 0 &&
		(v->port ? v->port : 5060) == udp_local_port();
}

static int reply_next_hop(const struct sip_msg *m, union sip_addr *to)
{
	struct sip_via top, next;
	struct sip_str host;
	uint16_t port;

	if (sip_get_via(m, 0, &top) || !via_is_ours(&top) ||
			sip_get_via(m, 1, &next))
		return -1;
	sip_via_dest(&next, &host, &port);
	return sip_addr_set(to, host.s, host.len, port);
}

static void on_reply(struct sip_rx *rx)
{
	struct sip_msg *m = &rx->msg;
	union sip_addr to;
	char *out;
	int n, rc;

	sip_stat_inc(ST_RCV_REPLIES);
	rc = sip_msg_check(m);
	if (rc < 0)
		sip_stat_inc(ST_BAD_MSG_HDR);
	if (rc < 0 || reply_next_hop(m, &to) < 0 || !(out = out_alloc(m->len))) {
		sip_stat_inc(ST_DROP_REPLIES);
		return;
	}
	n = sip_build_fwd_reply(m, out, m->len);
	if (n >= 0 && udp_send(&to, out, (size_t)n) == 0) {
		sip_stat_inc(ST_FWD_REPLIES);
	} else {
		sip_stat_inc(ST_SEND_FAILURES);
		sip_stat_inc(ST_DROP_REPLIES);
	}
	pkg_free(out);
}

/* The first line or the header lines could not be read: no reply can be
 * built, the message is dropped and counted by what it claimed to be. */
static void unreadable(const struct sip_msg *m, int err)
{
	if (err == SIP_E_NOMEM)
		sip_stat_inc(ST_NO_MEM);
	else
		sip_stat_inc(ST_BAD_MSG_HDR);
	if (m->type == SIP_REQUEST) {
		sip_stat_inc(ST_RCV_REQUESTS);
		sip_stat_inc(ST_DROP_REQUESTS);
	} else if (m->type == SIP_REPLY) {
		sip_stat_inc(ST_RCV_REPLIES);
		sip_stat_inc(ST_DROP_REPLIES);
	}
}

void sip_receive(char *buf, size_t len, const union sip_addr *src)
{
	struct sip_rx rx;
	int rc;

	rx.src = src;
	rx.from.ip = sip_addr_ip(src, rx.ip, sizeof(rx.ip));
	rx.from.port = (uint16_t)sip_addr_port(src);
	rc = sip_parse(&rx.msg, buf, len);
	if (rc == 0 && rx.msg.type == SIP_REQUEST)
		on_request(&rx);
	else if (rc == 0)
		on_reply(&rx);
	else if (rc != SIP_E_EMPTY)     /* CRLF keep-alives are ignored */
		unreadable(&rx.msg, rc);
	sip_msg_free(&rx.msg);
}
