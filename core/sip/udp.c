/*
 * udp.c - the UDP transport of srproxy (see udp.h).
 *
 * One socket per SIP worker, all bound to cfg.listen with SO_REUSEPORT by
 * the main process before fork; worker rank r reads socket r-1 only.  The
 * kernel picks a socket by a hash of the datagram's addresses and ports,
 * so:
 *   - each datagram wakes exactly one worker.  One socket polled by every
 *     worker woke them all for each datagram (poll() waiters are not
 *     exclusive): with 4 workers a REGISTER cost 2.8 times the CPU of one
 *     worker's (45 against 16 ms per 1,000, utils/sipbench);
 *   - the datagrams of one peer (address and port) stay in order: an ACK
 *     and the BYE sent right after it, or a 180 and its 200, can no longer
 *     be forwarded in the wrong order by two workers;
 *   - the cost: the traffic of one peer is one worker's work.  Many
 *     phones spread over the workers; a single upstream (one SBC) is
 *     served by one worker.
 * The main process keeps every socket open, so a dead worker's share
 * waits in its socket's buffer for the restarted worker instead of being
 * re-hashed.  Before the group is made, a probe bound without SO_REUSEPORT
 * checks that nobody holds the address (another srproxy's group would
 * otherwise silently share it).
 *
 * A wake reads at most RECV_BATCH datagrams so the loop's chores
 * (published pkg counters, signals) are never starved by a flood.  The
 * receive buffer is one static array per process (no allocation per
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
#include "runtime/proc.h"
#include "sip/stats.h"
#include "sip/udp.h"

#define RECV_BATCH 64
#define SOCK_BUF (4 << 20)

static int socks[PROC_MAX];
static int nsocks;
static int sock = -1;           /* this worker's */
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

/* A socket on local; reuse: join the SO_REUSEPORT group.  fd or -1. */
static int bind_one(socklen_t len, int reuse)
{
	int fd = socket(local.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK |
			SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	set_buffers(fd);
	if ((reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
			sizeof(one)) < 0) || bind(fd, &local.sa, len) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int udp_init(const char *listen, int workers)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int probe;

	if (cfg_parse_addr(listen, &ss, &len) < 0) {
		LM_ERR("-l %s: not an address:port", listen ? listen : "");
		return -1;
	}
	memcpy(&local, &ss, len);
	if ((probe = bind_one(len, 0)) < 0)
		goto fail;
	close(probe);
	for (nsocks = 0; nsocks < workers && nsocks < PROC_MAX; nsocks++)
		if ((socks[nsocks] = bind_one(len, 1)) < 0)
			goto fail;
	set_local_host();
	LM_INFO("SIP on udp:%s:%u, %d sockets", local_host, udp_local_port(),
			nsocks);
	return 0;
fail:
	LM_ERR("SIP socket on %s: %s", listen, strerror(errno));
	udp_destroy();
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

int udp_child_init(int rank)
{
	if (rank < 1 || nsocks == 0)
		return -1;
	sock = socks[(rank - 1) % nsocks];
	if (loop_add(sock, on_readable, NULL) < 0) {
		LM_ERR("cannot add the SIP socket to the loop");
		return -1;
	}
	return 0;
}

void udp_destroy(void)
{
	while (nsocks > 0)
		close(socks[--nsocks]);
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
