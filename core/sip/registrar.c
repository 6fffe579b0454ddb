/*
 * registrar.c - REGISTER (RFC 3261 10.3) in srproxy: the request's fields
 * go to usrloc (ul_register, one bucket lock, all or nothing), and the
 * answer is 200 OK listing every binding the AOR has now with its
 * remaining seconds, or the error usrloc gave (400, 403, 423 with
 * Min-Expires, 500, 503).
 *
 * The AOR is the To URI's user part as it is on the wire (no domain, as
 * Kamailio's use_domain=0; no unescaping), so "sip:alice@a.example" and
 * "sip:alice@b.example" are one user.  A contact is stored as its URI's
 * text; the source of the REGISTER is kept as "udp:IP:PORT" (received),
 * which the proxy uses when the contact's host is not a literal address.
 *
 * Memory: the bindings usrloc copies out for the answer (one pkg block)
 * and the Contact lines of the 200 (one pkg block), both freed here.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mem.h"
#include "runtime/log.h"
#include "sip/proxy.h"
#include "sip/stats.h"
#include "sip/usrloc.h"

/* "Contact: <" uri ">;expires=" 10 digits CRLF */
#define CONTACT_LINE_EXTRA 32

struct reg_in {
	struct sip_naddr to;
	struct sip_naddr ct[UL_CONTACTS_MAX];
	struct ul_contact_in in[UL_CONTACTS_MAX];
	char received[UL_RECEIVED_MAX];
	struct ul_req r;
};

/* The fields of the REGISTER into r.  0, or the SIP code to answer. */
static int reg_read(struct sip_rx *rx, struct reg_in *g)
{
	const struct sip_msg *m = &rx->msg;
	struct sip_cseq cs;
	struct sip_str id;
	uint32_t e;
	int n, star = 0, h;

	if (sip_get_to(m, &g->to) || !g->to.uri.user.len ||
			sip_get_callid(m, &id) || sip_get_cseq(m, &cs))
		return 400;
	n = sip_get_contacts(m, g->ct, UL_CONTACTS_MAX, &star);
	if (n == SIP_E_TOOMANY)
		return 403;
	if (n == SIP_E_NOHDR)
		n = 0;
	if (n < 0)
		return 400;
	for (int i = 0; i < n; i++)
		g->in[i] = (struct ul_contact_in){
			{ g->ct[i].uri_str.s, g->ct[i].uri_str.len },
			g->ct[i].expires, g->ct[i].q };
	g->r = (struct ul_req){
		.aor = { g->to.uri.user.s, g->to.uri.user.len },
		.contacts = g->in, .ncontacts = (unsigned)n, .star = star,
		.expires_hdr = sip_get_expires(m, &e) == 0 ? (int64_t)e : -1,
		.call_id = { id.s, id.len }, .cseq = cs.num,
		.now = (int64_t)time(NULL) };
	snprintf(g->received, sizeof(g->received),
			rx->src->sa.sa_family == AF_INET6 ? "udp:[%s]:%u" :
			"udp:%s:%u", rx->ip, rx->from.port);
	g->r.received = (struct ul_str){ g->received, strlen(g->received) };
	if ((h = sip_hdr_first(m, SIP_H_USER_AGENT)) >= 0) {
		struct sip_str ua = sip_hdr_value(m, h);
		g->r.user_agent = (struct ul_str){ ua.s, ua.len };
	}
	return 0;
}

/* 200 OK with one Contact line per binding. */
static void reply_bindings(struct sip_rx *rx, const struct ul_set *set)
{
	size_t size = 1, len = 0;
	char *extra;
	unsigned i;

	for (i = 0; i < set->n; i++)
		size += set->c[i].uri_len + CONTACT_LINE_EXTRA;
	extra = pkg_malloc(size);
	if (!extra) {
		sip_stat_inc(ST_NO_MEM);
		sip_reply(rx, 500, NULL, NULL, 0);
		return;
	}
	for (i = 0; i < set->n; i++) {
		struct sip_str u = { set->c[i].uri, set->c[i].uri_len };
		int n = sip_put_contact(extra + len, size - len, u,
				(uint32_t)set->c[i].expires_in);
		if (n > 0)
			len += (size_t)n;
	}
	sip_reply(rx, 200, NULL, extra, len);
	pkg_free(extra);
}

static void reply_error(struct sip_rx *rx, int rc,
		const struct ul_result *res)
{
	char mine[40];
	int n = 0;

	if (rc == UL_E_BRIEF)
		n = snprintf(mine, sizeof(mine), "Min-Expires: %u\r\n",
				res->min_expires);
	else if (rc == UL_E_PKG)
		sip_stat_inc(ST_NO_MEM);
	sip_reply(rx, ul_sip_code(rc), ul_strerror(rc), n > 0 ? mine : NULL,
			n > 0 ? (size_t)n : 0);
}

void reg_handle(struct sip_rx *rx)
{
	struct reg_in g = { 0 };
	struct ul_result res = { 0 };
	int code = reg_read(rx, &g), rc;

	if (code) {
		sip_stat_inc(ST_REJECTED_REGS);
		sip_reply(rx, code, NULL, NULL, 0);
		return;
	}
	rc = ul_register(&g.r, &res);
	if (rc == UL_OK) {
		sip_stat_inc(ST_ACCEPTED_REGS);
		reply_bindings(rx, res.set);
	} else {
		sip_stat_inc(ST_REJECTED_REGS);
		reply_error(rx, rc, &res);
	}
	pkg_free(res.set);
}
