/*
 * udp.h - srproxy's SIP transport: UDP on cfg.listen (-l, default
 * 127.0.0.1:5060, an unprivileged port, so no root is needed), bound by
 * the main process before fork, one socket per SIP worker.
 */
#ifndef SRP_SIP_UDP_H
#define SRP_SIP_UDP_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

/* A peer's address: IPv4 or IPv6. */
union sip_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* The largest datagram taken; a bigger one is dropped and counted
 * (too_large). */
#define SIP_UDP_MAX 65535

/* A received datagram goes here (proxy.c).  buf is NUL-terminated at
 * buf[len] and writable; it lives until the call returns. */
void sip_receive(char *buf, size_t len, const union sip_addr *src);

/* Main process, before fork: bind one socket per worker on listen
 * (SO_REUSEPORT; udp.c says why).  0 or -1 (logged). */
int udp_init(const char *listen, int workers);
/* SIP worker of rank r (1..): add its socket to this process's loop. */
int udp_child_init(int rank);
void udp_destroy(void);
/* Send one datagram.  0, or -1 (counted by the caller). */
int udp_send(const union sip_addr *to, const char *buf, size_t len);
/* The address we listen on, and its text ("127.0.0.1", "[::1]") and port,
 * for Via and Record-Route. */
const union sip_addr *udp_local(void);
const char *udp_local_host(void);
unsigned udp_local_port(void);
/* a == b (family, address, port). */
int sip_addr_eq(const union sip_addr *a, const union sip_addr *b);
socklen_t sip_addr_len(const union sip_addr *a);
/* A literal IPv4 or IPv6 address ("[::1]" or "::1"; no DNS) and a port
 * (0: 5060) into a.  0, or -1 when host is not a literal address. */
int sip_addr_set(union sip_addr *a, const char *host, size_t len,
		unsigned port);
/* a's address as text (IPv6 without brackets) and its port. */
const char *sip_addr_ip(const union sip_addr *a, char *buf, size_t size);
unsigned sip_addr_port(const union sip_addr *a);

#endif /* SRP_SIP_UDP_H */
