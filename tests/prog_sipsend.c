/*
 * prog_sipsend.c - send a corpus of SIP messages to srproxy over UDP, for
 * tests/it_sip.sh: no crash, no hang, counters that match.
 *
 *   prog_sipsend ADDR:PORT CORPUS [WINDOW]
 *   prog_sipsend ADDR:PORT --ping      one OPTIONS, one second: exit 0
 *                                      when its 200 came, else 1
 *
 * CORPUS is tests/sip/corpus.bin: records of a 4-byte little-endian
 * length and that many bytes.  Each record is one datagram, sent as is.
 * Prints one line: "records R sent S empty E unsendable U pings P".
 *   empty       records of CR/LF only (keep-alives: the server ignores
 *               them and counts nothing)
 *   unsendable  longer than a UDP datagram can carry (not sent)
 *
 * Flow control, so that no datagram is lost in a full socket buffer and
 * the server's counters can be compared with what was sent: after WINDOW
 * records (default 16) or 32 KiB, an OPTIONS to the server itself ("ping")
 * and its 200 before going on; the server's replies to the corpus that
 * come back here are read and ignored.  A ping unanswered three times in
 * a row (1 s each) means the server hangs or died: exit 1.  Plain libc.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define UDP_MAX 65507           /* IPv4 payload of one datagram */
#define WINDOW_BYTES 32768

static int sock;
static struct sockaddr_in srv;
static unsigned long pings;

static int parse_addr(const char *s, struct sockaddr_in *a)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((unsigned short)atoi(colon + 1));
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static int send_ping(unsigned long n)
{
	char buf[512], host[INET_ADDRSTRLEN];
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	int len;

	getsockname(sock, (struct sockaddr *)&me, &ml);
	inet_ntop(AF_INET, &srv.sin_addr, host, sizeof(host));
	len = snprintf(buf, sizeof(buf),
		"OPTIONS sip:%s:%u SIP/2.0\r\n"
		"Via: SIP/2.0/UDP %s:%u;branch=z9hG4bKping%lu\r\n"
		"From: <sip:ping@%s>;tag=p%lu\r\nTo: <sip:%s>\r\n"
		"Call-ID: ping-%lu@sipsend\r\nCSeq: 1 OPTIONS\r\n"
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		host, ntohs(srv.sin_port), host, ntohs(me.sin_port), n,
		host, n, host, n);
	return sendto(sock, buf, (size_t)len, 0, (struct sockaddr *)&srv,
			sizeof(srv)) == len ? 0 : -1;
}

/* Wait up to ms for the 200 to ping n; other datagrams are read and
 * dropped.  1 answered, 0 not. */
static int wait_pong(unsigned long n, int ms)
{
	static char buf[UDP_MAX + 1];
	char want[64];
	struct pollfd p = { .fd = sock, .events = POLLIN };
	ssize_t r;

	snprintf(want, sizeof(want), "ping-%lu@sipsend", n);
	while (poll(&p, 1, ms) > 0) {
		r = recv(sock, buf, UDP_MAX, 0);
		if (r <= 0)
			continue;
		buf[r] = '\0';
		if (strncmp(buf, "SIP/2.0 200", 11) == 0 && strstr(buf, want))
			return 1;
	}
	return 0;
}

/* One synchronisation with the server: three tries. */
static int ping(void)
{
	unsigned long n = ++pings;

	for (int i = 0; i < 3; i++) {
		if (send_ping(n) == 0 && wait_pong(n, 1000))
			return 0;
	}
	fprintf(stderr, "prog_sipsend: no answer to ping %lu\n", n);
	return -1;
}

static int only_crlf(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != '\r' && p[i] != '\n')
			return 0;
	return 1;
}

static unsigned char *load(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *d;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 ||
			fseek(f, 0, SEEK_SET)) {
		perror(path);
		exit(2);
	}
	d = malloc(n ? (size_t)n : 1);
	if (!d || fread(d, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "%s: cannot read\n", path);
		exit(2);
	}
	fclose(f);
	*len = (size_t)n;
	return d;
}

int main(int argc, char **argv)
{
	unsigned long records = 0, sent = 0, empty = 0, unsendable = 0;
	size_t len, off = 0, inflight = 0, inbytes = 0;
	unsigned long window = argc > 3 ? strtoul(argv[3], NULL, 10) : 16;
	unsigned char *d;

	if (argc < 3 || parse_addr(argv[1], &srv) < 0 || window == 0) {
		fprintf(stderr, "usage: prog_sipsend ADDR:PORT CORPUS [WINDOW]\n"
				"       prog_sipsend ADDR:PORT --ping\n");
		return 2;
	}
	sock = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in me = { .sin_family = AF_INET };   /* any port */
	me.sin_addr = srv.sin_addr;
	/* bound now, so that the first ping's Via names our port */
	if (sock < 0 || bind(sock, (struct sockaddr *)&me, sizeof(me)) < 0)
		return 1;
	if (strcmp(argv[2], "--ping") == 0)
		return send_ping(1) == 0 && wait_pong(1, 1000) ? 0 : 1;
	d = load(argv[2], &len);
	if (ping() < 0)
		return 1;
	while (off + 4 <= len) {
		size_t n = (size_t)d[off] | (size_t)d[off + 1] << 8 |
			(size_t)d[off + 2] << 16 | (size_t)d[off + 3] << 24;
		const unsigned char *p = d + off + 4;

		if (n > len - off - 4) {
			fprintf(stderr, "record %lu overruns the file\n", records);
			return 2;
		}
		off += 4 + n;
		records++;
		if (n > UDP_MAX) {
			unsendable++;
			continue;
		}
		if (only_crlf(p, n))
			empty++;
		if (sendto(sock, p, n, 0, (struct sockaddr *)&srv,
				sizeof(srv)) != (ssize_t)n) {
			fprintf(stderr, "record %lu: sendto: %s\n", records,
					strerror(errno));
			return 1;
		}
		sent++;
		inbytes += n;
		if (++inflight >= window || inbytes >= WINDOW_BYTES) {
			if (ping() < 0)
				return 1;
			inflight = inbytes = 0;
		}
	}
	if (ping() < 0)
		return 1;
	printf("records %lu sent %lu empty %lu unsendable %lu pings %lu\n",
			records, sent, empty, unsendable, pings);
	free(d);
	return 0;
}
