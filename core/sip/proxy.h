/*
 * proxy.h - one received SIP message while srproxy handles it, and the
 * calls the registrar shares with the stateless proxy.
 */
#ifndef SRP_SIP_PROXY_H
#define SRP_SIP_PROXY_H

#include <arpa/inet.h>
#include <stddef.h>

#include "sip/build.h"
#include "sip/msg.h"
#include "sip/udp.h"

struct sip_rx {
	struct sip_msg msg;             /* parsed in place over the datagram */
	const union sip_addr *src;      /* who sent it */
	struct sip_src from;            /* the same as text, for received/rport */
	char ip[INET6_ADDRSTRLEN];
};

/* Answer the request rx with code; extra: header lines ending in CRLF
 * (or NULL).  Counts the reply (or the failure).  0 sent, -1 not. */
int sip_reply(struct sip_rx *rx, int code, const char *reason,
		const char *extra, size_t extra_len);

/* REGISTER (registrar.c): store, answer 200 with the bindings, or the
 * error usrloc gave. */
void reg_handle(struct sip_rx *rx);

#endif /* SRP_SIP_PROXY_H */
