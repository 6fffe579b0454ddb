/*
 * prog_rpcabuse.c - a tiny JSON-RPC client for srproxy's UNIX socket, and
 * the abuse test of the RPC server (sockets and libc only).
 *
 *   prog_rpcabuse call SOCKET METHOD [PARAMS-JSON]   print the reply line
 *   prog_rpcabuse raw SOCKET TEXT                    send TEXT, print a line
 *   prog_rpcabuse abuse SOCKET                       the abuse sequence
 *
 * The abuse sequence, each step checked and printed (PASS/FAIL):
 *   malformed JSON, a batch of bad requests, unknown method, wrong param
 *   types; a 10 MB request (an error, then the connection closes); a
 *   client that connects and never sends while others are served; a
 *   client that asks for a big shm.status and closes at once; 100 clients
 *   at once, every one answered.  Then the server must still answer and
 *   the RPC process's pkg `used` (pkg.stats rank -2) must be back where it
 *   was before the abuse (nothing leaked).  Exit status: failures.
 *
 * Replies are checked by looking for fragments of text ("code":-32700),
 * not parsed: this program is the server's adversary, not a JSON client.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define REPLY_MAX (64u << 20)

static const char *sock_path;
static int failures;

static int dial(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "connect %s: %s\n", sock_path, strerror(errno));
		exit(2);
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One reply line (malloc'd, without "\n"), or NULL on EOF/timeout. */
static char *read_line(int fd, int timeout_ms)
{
	size_t len = 0, cap = 4096;
	char *b = malloc(cap);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (b && poll(&p, 1, timeout_ms) > 0) {
		ssize_t r;
		if (len + 1 >= cap) {
			char *nb = cap < REPLY_MAX ? realloc(b, cap *= 2) : NULL;
			if (!nb)
				break;
			b = nb;
		}
		r = recv(fd, b + len, 1, 0);
		if (r <= 0)
			break;
		if (b[len] == '\n') {
			b[len] = '\0';
			return b;
		}
		len++;
	}
	free(b);
	return NULL;
}

static char *roundtrip(const char *text)
{
	int fd = dial();
	char *r = send_all(fd, text, strlen(text)) ? NULL : read_line(fd, 10000);
	close(fd);
	return r;
}

static char *call(const char *method, const char *params)
{
	char req[4096];
	snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"method\":\"%s\","
		"\"params\":%s,\"id\":1}", method, params ? params : "[]");
	return roundtrip(req);
}

static void check(int ok, const char *what, const char *reply)
{
	printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
	if (!ok) {
		printf("    reply: %.300s\n", reply ? reply : "(none)");
		failures++;
	}
}

static void expect(const char *text, const char *want, const char *what)
{
	char *r = roundtrip(text);
	check(r && strstr(r, want), what, r);
	free(r);
}

/* "used":N of the RPC process's pkg.stats row. */
static long long rpc_pkg_used(void)
{
	char *r = call("pkg.stats", "[\"rank\",-2]"), *u;
	long long v = -1;
	if (r && (u = strstr(r, "\"used\":")))
		v = atoll(u + 7);
	free(r);
	return v;
}

/* --- the steps ------------------------------------------------------------ */

static void malformed(void)
{
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"core.ps\",,\"id\":1}",
		"\"code\":-32700", "malformed JSON: -32700");
	expect("[1,2]", "\"code\":-32600", "batch of non-objects: -32600");
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"no.such\",\"id\":1}",
		"\"code\":-32601", "unknown method: -32601");
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"core.shmmem\","
		"\"params\":[[1]],\"id\":1}", "\"code\":-32602",
		"wrong param type: -32602");
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"shm.status\","
		"\"params\":[\"\",\"x\"],\"id\":1}", "\"code\":-32602",
		"non-numeric limit: -32602");
	expect("{\"method\":\"core.ps\",\"id\":1}", "\"code\":-32600",
		"no jsonrpc member: -32600");
}

static void huge_request(void)
{
	size_t n = 10u << 20;
	char *big = malloc(n), *r;
	int fd = dial();
	memset(big, ' ', n);
	memcpy(big, "{\"jsonrpc\":\"2.0\",\"method\":\"core.ps\",\"params\":[\"", 45);
	send_all(fd, big, n);           /* fails once the server closes */
	r = read_line(fd, 10000);
	check(r && strstr(r, "\"code\":-32600"), "10 MB request: -32600", r);
	free(r);
	r = read_line(fd, 5000);
	check(!r, "10 MB request: connection closed", r);
	free(r);
	free(big);
	close(fd);
}

static void silent_client(void)
{
	int quiet = dial();
	char *r = call("core.uptime", NULL);
	check(r && strstr(r, "\"uptime\""), "served while a client says "
		"nothing", r);
	free(r);
	send_all(quiet, "{\"jsonrpc\":", 11);    /* and then nothing more */
	r = call("core.version", NULL);
	check(r && strstr(r, "srproxy"), "served while a client stalls "
		"mid-request", r);
	free(r);
	close(quiet);
}

static void gone_mid_reply(void)
{
	for (int i = 0; i < 5; i++) {
		int fd = dial();
		const char *req = "{\"jsonrpc\":\"2.0\",\"method\":\"shm.status\","
			"\"params\":[\"\",100000],\"id\":1}";
		send_all(fd, req, strlen(req));
		usleep(20000);
		close(fd);
	}
	char *r = call("core.uptime", NULL);
	check(r && strstr(r, "\"uptime\""), "alive after clients left "
		"mid-reply", r);
	free(r);
}

static void many_clients(int n)
{
	int *fds = malloc(sizeof(int) * (size_t)n), ok = 0;
	const char *req = "{\"jsonrpc\":\"2.0\",\"method\":\"core.uptime\","
		"\"id\":7}";
	for (int i = 0; i < n; i++) {
		fds[i] = dial();
		send_all(fds[i], req, strlen(req));
	}
	for (int i = 0; i < n; i++) {
		char *r = read_line(fds[i], 20000);
		ok += r && strstr(r, "\"id\":7");
		free(r);
		close(fds[i]);
	}
	printf("%s: %d clients at once, %d answered\n", ok == n ? "PASS" :
		"FAIL", n, ok);
	failures += ok != n;
	free(fds);
}

static int abuse(void)
{
	long long before, after = -1;
	char *r = call("core.uptime", NULL);  /* warm up the dispatcher */
	free(r);
	usleep(1200000);
	before = rpc_pkg_used();
	malformed();
	huge_request();
	silent_client();
	gone_mid_reply();
	many_clients(100);
	for (int i = 0; i < 30 && after != before; i++) {
		usleep(200000);         /* published at least every second */
		after = rpc_pkg_used();
	}
	r = call("core.ps", NULL);
	check(r && strstr(r, "\"result\""), "still answers after the abuse", r);
	free(r);
	printf("%s: RPC process pkg used %lld before, %lld after\n",
		before == after && before > 0 ? "PASS" : "FAIL", before, after);
	failures += !(before == after && before > 0);
	return failures;
}

int main(int argc, char **argv)
{
	char *r;
	signal(SIGPIPE, SIG_IGN);
	if (argc < 3)
		goto usage;
	sock_path = argv[2];
	if (!strcmp(argv[1], "abuse"))
		return abuse() ? 1 : 0;
	if (!strcmp(argv[1], "call") && argc >= 4)
		r = call(argv[3], argc > 4 ? argv[4] : NULL);
	else if (!strcmp(argv[1], "raw") && argc == 4)
		r = roundtrip(argv[3]);
	else
		goto usage;
	if (!r)
		return 2;
	puts(r);
	free(r);
	return 0;
usage:
	fprintf(stderr, "usage: prog_rpcabuse call SOCKET METHOD [PARAMS]\n"
		"       prog_rpcabuse raw SOCKET TEXT\n"
		"       prog_rpcabuse abuse SOCKET\n");
	return 2;
}
