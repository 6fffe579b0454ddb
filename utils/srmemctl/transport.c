/*
 * transport.c - one JSON-RPC 2.0 call over srproxy's UNIX stream socket.
 *
 * A call is: connect, write one request object, read until the bytes read
 * so far end with "\n" and parse as one JSON text, close.  Every step
 * shares one deadline (--timeout, default 10 s) kept on the monotonic
 * clock, so a server that accepts and never answers, or answers forever,
 * costs at most that long.  The reply is held in memory; its size is
 * bounded (CTL_MAX_REPLY) so a runaway peer cannot exhaust the client.
 *
 * Failures are told apart before they are reported, because each has its
 * own remedy: no file at the path (start the server), a file that is not
 * a socket, a socket nobody listens on (a stale file), no permission (the
 * socket is 0600), a peer that does not speak JSON-RPC (not ours), no
 * reply in time.  All of them exit with EXIT_SERVER; a JSON-RPC error
 * object exits with EXIT_RPC.  Each failure prints one line on stderr.
 */
#include "srmemctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CTL_MAX_REPLY (512u << 20)

struct call {
	const struct ctl *c;
	const char *method;
	int fd;
	double deadline;        /* monotonic seconds */
	char *buf;
	size_t len, cap;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Milliseconds left before the deadline, for poll(); 0 once passed. */
static int left_ms(const struct call *k)
{
	double ms = (k->deadline - now()) * 1000;

	return ms <= 0 ? 0 : ms > 1e9 ? 1000000000 : (int)ms + 1;
}

static int fail(const struct call *k, const char *fmt, const char *what)
{
	fprintf(stderr, "srmemctl: ");
	fprintf(stderr, fmt, k->c->sock, what);
	fputc('\n', stderr);
	return EXIT_SERVER;
}

static int not_running(const struct call *k, const char *why)
{
	return fail(k, "no srproxy answers on %s (%s); start it with "
			"`make run` or srproxy -s PATH", why);
}

/* One message per reason the socket cannot be reached. */
static int connect_failed(const struct call *k, int err)
{
	switch (err) {
	case ENOENT:
		return not_running(k, "no such file");
	case ECONNREFUSED:
		return not_running(k, "connection refused: nobody listens, "
				"a stale socket file?");
	case EACCES:
	case EPERM:
		return fail(k, "%s: permission denied%s", " (the socket is "
				"mode 0600: run srmemctl as srproxy's user)");
	case ENOTSOCK:
		return fail(k, "%s is not a socket%s", " (not srproxy's RPC "
				"socket; give the right one with -s PATH)");
	case ETIMEDOUT:
		return fail(k, "%s: no connection within the timeout%s",
				" (the server is busy or stuck)");
	default:
		return fail(k, "cannot connect to %s: %s", strerror(err));
	}
}

static int path_check(const struct call *k)
{
	struct stat st;

	if (stat(k->c->sock, &st) < 0)
		return connect_failed(k, errno);
	if (!S_ISSOCK(st.st_mode))
		return connect_failed(k, ENOTSOCK);
	if (strlen(k->c->sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return fail(k, "%s: path too long for a UNIX socket%s", "");
	return EXIT_OK;
}

/* Non-blocking connect; a full backlog (EAGAIN) is retried until the
 * deadline, since a UNIX socket does not complete connects later. */
static int sock_connect(struct call *k)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int rc = path_check(k);

	if (rc)
		return rc;
	strcpy(sa.sun_path, k->c->sock);
	k->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (k->fd < 0)
		return fail(k, "socket for %s: %s", strerror(errno));
	while (connect(k->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return connect_failed(k, errno);
		if (!left_ms(k))
			return connect_failed(k, ETIMEDOUT);
		poll(NULL, 0, 10);
	}
	return EXIT_OK;
}

/* Wait for fd to be ready for ev; 0 ready, else the exit status. */
static int wait_fd(struct call *k, short ev)
{
	struct pollfd p = { .fd = k->fd, .events = ev };
	int n;

	do
		n = poll(&p, 1, left_ms(k));
	while (n < 0 && errno == EINTR);
	if (n > 0)
		return EXIT_OK;
	fprintf(stderr, "srmemctl: %s: no reply from %s within %g s\n",
			k->method, k->c->sock, k->c->timeout);
	return EXIT_SERVER;
}

static int send_all(struct call *k, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(k->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			int rc = wait_fd(k, POLLOUT);
			if (rc)
				return rc;
			continue;
		}
		if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
			return EXIT_OK;         /* the peer may have answered */
		if (w < 0)
			return fail(k, "%s: send failed: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	return EXIT_OK;
}

static int not_ours(const struct call *k)
{
	return fail(k, "%s: the reply is not JSON-RPC 2.0%s", " (is this "
			"srproxy's RPC socket?)");
}

/* The bytes so far: 1 a whole JSON text (*out set), 0 need more, or
 * -1 they can never become one. */
static int try_parse(struct call *k, int eof, json_t **out)
{
	json_error_t err;
	size_t i = strspn(k->buf, " \t\r\n");

	if (i < k->len && k->buf[i] != '{' && k->buf[i] != '[')
		return -1;
	if (!eof && (k->len == 0 || k->buf[k->len - 1] != '\n'))
		return 0;
	*out = json_loadb(k->buf, k->len, 0, &err);
	if (*out)
		return 1;
	if (!eof && json_error_code(&err) == json_error_premature_end_of_input)
		return 0;
	return -1;
}

static int grow(struct call *k)
{
	if (k->len + 1 < k->cap)
		return EXIT_OK;
	if (k->cap >= CTL_MAX_REPLY)
		return fail(k, "%s: reply larger than %s", "512 MiB");
	k->cap = k->cap ? 2 * k->cap : 65536;
	k->buf = realloc(k->buf, k->cap);
	if (!k->buf)
		return fail(k, "%s: %s", "out of memory for the reply");
	return EXIT_OK;
}

static int read_reply(struct call *k, json_t **reply)
{
	for (;;) {
		int rc = grow(k), got;
		ssize_t r;
		if (rc || (rc = wait_fd(k, POLLIN)))
			return rc;
		r = recv(k->fd, k->buf + k->len, k->cap - k->len - 1, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0)
			return fail(k, "%s: receive failed: %s", strerror(errno));
		k->len += (size_t)r;
		k->buf[k->len] = '\0';
		if (r == 0 && k->len == 0)
			return fail(k, "%s closed the connection without a "
					"reply%s", " (not srproxy, or its RPC process "
					"died: see the server's log)");
		got = try_parse(k, r == 0, reply);
		if (got)
			return got > 0 ? EXIT_OK : not_ours(k);
	}
}

static int send_request(struct call *k, json_t *params, int id)
{
	json_t *req = json_pack("{s:s, s:s, s:i}", "jsonrpc", "2.0",
			"method", k->method, "id", id);
	char *text, *line;
	int rc;

	if (params && !(json_is_array(params) && !json_array_size(params)))
		json_object_set(req, "params", params);
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text || !(line = realloc(text, strlen(text) + 2)))
		return free(text), fail(k, "%s: %s", "cannot encode the request");
	strcat(line, "\n");
	rc = send_all(k, line, strlen(line));
	free(line);
	return rc;
}

static int rpc_error(const struct call *k, json_t *err)
{
	json_t *msg = json_object_get(err, "message");

	if (!json_is_object(err) || !json_is_integer(json_object_get(err, "code")))
		return not_ours(k);
	fprintf(stderr, "srmemctl: %s: error %lld: %s\n", k->method,
			jint(err, "code"), json_is_string(msg) ?
			json_string_value(msg) : "(no message)");
	return EXIT_RPC;
}

/* A JSON-RPC 2.0 response to our id: its result, or its error reported. */
static int unwrap(const struct call *k, json_t *reply, int id, json_t **result)
{
	json_t *res = json_object_get(reply, "result");
	json_t *err = json_object_get(reply, "error");

	if (!json_is_object(reply) || !jstr(reply, "jsonrpc") ||
			strcmp(jstr(reply, "jsonrpc"), "2.0") ||
			(!res == !err))
		return not_ours(k);
	if (err)
		return rpc_error(k, err);
	if (jint(reply, "id") != id)
		return not_ours(k);
	*result = json_incref(res);
	return EXIT_OK;
}

int ctl_call(const struct ctl *c, const char *method, json_t *params,
		json_t **result)
{
	struct call k = { .c = c, .method = method, .fd = -1,
		.deadline = now() + c->timeout };
	json_t *reply = NULL;
	int id = (int)getpid(), rc;

	*result = NULL;
	rc = sock_connect(&k);
	if (!rc)
		rc = send_request(&k, params, id);
	if (!rc)
		rc = read_reply(&k, &reply);
	if (!rc)
		rc = unwrap(&k, reply, id, result);
	json_decref(reply);
	json_decref(params);
	free(k.buf);
	if (k.fd >= 0)
		close(k.fd);
	return rc;
}

int ctl_has_method(const struct ctl *c, const char *method, int *status)
{
	json_t *list, *v;
	size_t i;
	int found = 0;

	*status = ctl_call(c, "system.listMethods", NULL, &list);
	if (*status)
		return -1;
	json_array_foreach(list, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), method))
			found = 1;
	json_decref(list);
	return found;
}
