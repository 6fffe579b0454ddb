/*
 * udp.c - the UDP transport of srproxy (see udp.h).
 *
 * One non-blocking socket, bound before fork; every SIP worker polls the
 * same fd in its loop, so the kernel hands each datagram to one of them
 * (the others' recvfrom just sees EAGAIN).  A wake reads at most
 * RECV_BATCH datagrams so the loop's chores (published pkg counters,
 * signals) are never starved by a flood.
 *
 * The receive buffer is one static array per process (no allocation per
 * datagram); the parser and the handlers take their pkg memory from there
 * on, and give it all back before the next datagram is read.  A datagram
 * longer than SIP_UDP_MAX is seen whole through MSG_TRUNC and dropped
 * (too_large).  Buffers ask for 4 MiB; the kernel caps that at
 * net.core.{r,w}mem_max for an unprivileged process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/cfg.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "sip/stats.h"
#include "sip/udp.h"

#define RECV_BATCH 64
#define SOCK_BUF (4 << 20)

static int sock = -1;
static union sip_addr local;
static char local_host[INET6_ADDRSTRLEN + 2];
static char rbuf[SIP_UDP_MAX + 1];

socklen_t sip_addr_len(const union sip_addr *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in);
}

int sip_addr_eq(const union sip_addr *a, const union sip_addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return 0;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_port == b->in.sin_port &&
			a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
	return a->in6.sin6_port == b->in6.sin6_port &&
		memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0;
}

int sip_addr_set(union sip_addr *a, const char *host, size_t len,
		unsigned port)
{
	char t[INET6_ADDRSTRLEN];

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(t))
		return -1;
	memcpy(t, host, len);
	t[len] = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, t, &a->in.sin_addr) == 1) {
		a->in.sin_family = AF_INET;
		a->in.sin_port = htons(port ? port : 5060);
		return 0;
	}
	if (inet_pton(AF_INET6, t, &a->in6.sin6_addr) == 1) {
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons(port ? port : 5060);
		return 0;
	}
	return -1;
}

const char *sip_addr_ip(const union sip_addr *a, char *buf, size_t size)
{
	const void *p = a->sa.sa_family == AF_INET6 ?
		(const void *)&a->in6.sin6_addr : (const void *)&a->in.sin_addr;

	if (!inet_ntop(a->sa.sa_family, p, buf, (socklen_t)size))
		snprintf(buf, size, "?");
	return buf;
}

unsigned sip_addr_port(const union sip_addr *a)
{
	return ntohs(a->sa.sa_family == AF_INET6 ? a->in6.sin6_port :
			a->in.sin_port);
}

/* Our address as it goes into a Via: "1.2.3.4" or "[::1]". */
static void set_local_host(void)
{
	char t[INET6_ADDRSTRLEN];

	sip_addr_ip(&local, t, sizeof(t));
	snprintf(local_host, sizeof(local_host),
			local.sa.sa_family == AF_INET6 ? "[%s]" : "%s", t);
}

static void set_buffers(int fd)
{
	int n = SOCK_BUF;

	/* best effort: a smaller buffer only costs drops under bursts */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof(n));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &n, sizeof(n));
}

int udp_init(const char *listen)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (cfg_parse_addr(listen, &ss, &len) < 0) {
		LM_ERR("-l %s: not an address:port", listen ? listen : "");
		return -1;
	}
	memcpy(&local, &ss, len);
	sock = socket(local.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK |
			SOCK_CLOEXEC, 0);
	if (sock < 0)
		goto fail;
	set_buffers(sock);
	if (bind(sock, &local.sa, len) < 0)
		goto fail;
	set_local_host();
	LM_INFO("SIP on udp:%s:%u", local_host, udp_local_port());
	return 0;
fail:
	LM_ERR("SIP socket on %s: %s", listen, strerror(errno));
	if (sock >= 0)
		close(sock);
	sock = -1;
	return -1;
}

/* Readable: take up to RECV_BATCH datagrams. */
static void on_readable(int fd, void *arg)
{
	union sip_addr src;
	socklen_t sl;
	ssize_t n;
	int i;

	(void)arg;
	for (i = 0; i < RECV_BATCH; i++) {
		sl = sizeof(src);
		n = recvfrom(fd, rbuf, SIP_UDP_MAX, MSG_TRUNC, &src.sa, &sl);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
					errno != EINTR)
				LM_WARN("recvfrom: %s", strerror(errno));
			return;
		}
		if (n > SIP_UDP_MAX) {
			sip_stat_inc(ST_TOO_LARGE);
			continue;
		}
		rbuf[n] = '\0';
		sip_receive(rbuf, (size_t)n, &src);
	}
}

int udp_child_init(void)
{
	if (sock < 0)
		return -1;
	if (loop_add(sock, on_readable, NULL) < 0) {
		LM_ERR("cannot add the SIP socket to the loop");
		return -1;
	}
	return 0;
}

void udp_destroy(void)
{
	if (sock >= 0)
		close(sock);
	sock = -1;
}

int udp_send(const union sip_addr *to, const char *buf, size_t len)
{
	ssize_t n;

	do
		n = sendto(sock, buf, len, 0, &to->sa, sip_addr_len(to));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)len)
		return 0;
	LM_DBG("sendto: %s", n < 0 ? strerror(errno) : "short write");
	return -1;
}

const union sip_addr *udp_local(void)
{
	return &local;
}

const char *udp_local_host(void)
{
	return local_host;
}

unsigned udp_local_port(void)
{
	return sip_addr_port(&local);
}
