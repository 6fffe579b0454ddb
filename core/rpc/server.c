/*
 * server.c - the JSON-RPC server on the UNIX stream socket, in the RPC
 * process's single-threaded loop.
 *
 * One epoll set of our own holds the listening socket and every client;
 * the loop watches that one fd (loop_add), so a client's readiness to
 * read or to take more of a reply is one event here, whatever the loop's
 * poll(2) supports.  Per client:
 *
 *   read   bytes into a pkg buffer; a framing scan (depth of {}/[] outside
 *          strings, escapes honoured: framing only, jansson parses) finds
 *          where each JSON text ends, so requests may come without a
 *          newline, several per write or one split across many;
 *   run    each complete text through the dispatcher, in order;
 *   write  the reply and "\n" with MSG_NOSIGNAL; what the socket does not
 *          take stays queued (EPOLLOUT), and the client is not read until
 *          its reply is out (one reply in flight per client).
 *
 * Limits (doc/RPC.md): a request over RPC_MAX_REQUEST bytes gets -32600
 * and the connection closes; RPC_IDLE_MID_MS of silence inside a request,
 * RPC_IDLE_MS between requests, or a reply not taken for RPC_IDLE_MID_MS
 * closes it; at RPC_MAX_CLIENTS clients the listener leaves the set and
 * newcomers wait in the backlog.  A text that does not start with { or [
 * cannot be framed: it is answered (-32700 or -32600) and the connection
 * closed.  A client gone mid-reply costs a failed send, nothing more.
 * Every failure frees what the client held: nothing outlives its close.
 */
#define _GNU_SOURCE     /* struct ucred, accept4 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rpc/rpc_int.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "runtime/proc.h"

#define READ_CHUNK 65536
#define TICK_MS 1000

struct client {
	int fd;                 /* -1: free slot */
	char *in;
	size_t in_len, in_cap;
	size_t scan, start;     /* framing: next byte to look at, text start */
	int depth, in_str, esc, started, scalar;
	struct rpc_reply rep;
	size_t rep_off;         /* bytes of text + "\n" sent */
	int closing;            /* close once the reply is out */
	uint64_t last_ms;
};

static struct client clients[RPC_MAX_CLIENTS];
static int nclients, ep = -1, listening;
static const char too_big[] = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":"
	"-32600,\"message\":\"request larger than 1 MiB\"},\"id\":null}";
static const char no_mem[] = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":"
	"-32000,\"message\":\"out of memory in the RPC process\"},\"id\":null}";

/* --- epoll set ------------------------------------------------------------ */

static void watch(int fd, void *ptr, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };
	epoll_ctl(ep, op, fd, &ev);
}

/* The listener is in the set only while a client slot is free. */
static void listener_update(void)
{
	int want = nclients < RPC_MAX_CLIENTS;
	if (want == listening)
		return;
	watch(rpc_listen_fd, NULL, EPOLLIN, want ? EPOLL_CTL_ADD :
		EPOLL_CTL_DEL);
	listening = want;
}

static void client_close(struct client *cl)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, cl->fd, NULL);
	close(cl->fd);
	pkg_free(cl->in);
	rpc_reply_release(&cl->rep);
	memset(cl, 0, sizeof(*cl));
	cl->fd = -1;
	nclients--;
	listener_update();
}

/* --- framing -------------------------------------------------------------- */

static void frame_reset(struct client *cl)
{
	cl->scan = cl->start = 0;
	cl->depth = cl->in_str = cl->esc = cl->started = cl->scalar = 0;
}

static int frame_byte(struct client *cl, char ch)
{
	if (cl->in_str) {
		if (cl->esc)
			cl->esc = 0;
		else if (ch == '\\')
			cl->esc = 1;
		else if (ch == '"')
			cl->in_str = 0;
		return 0;
	}
	if (ch == '"')
		cl->in_str = 1;
	else if (ch == '{' || ch == '[')
		cl->depth++;
	else if (ch == '}' || ch == ']')
		return --cl->depth == 0;
	return 0;
}

/* Bytes of the next complete text (0: not yet).  A first byte other than
 * { or [ makes the rest of the buffer one unframable text (scalar). */
static size_t frame_end(struct client *cl)
{
	for (; cl->scan < cl->in_len; cl->scan++) {
		char ch = cl->in[cl->scan];
		if (!cl->started) {
			if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
				continue;
			cl->started = 1;
			cl->start = cl->scan;
			if (ch != '{' && ch != '[') {
				cl->scalar = 1;
				return cl->in_len;
			}
		}
		if (frame_byte(cl, ch))
			return ++cl->scan;
	}
	return 0;
}

/* --- writing -------------------------------------------------------------- */

static void set_static_reply(struct client *cl, const char *text, size_t len)
{
	rpc_reply_release(&cl->rep);
	cl->rep.text = (char *)text;
	cl->rep.len = len;
	cl->rep_off = 0;
	cl->closing = 1;
}

/* Send what the socket takes: 1 all out, 0 more to send, -1 client gone. */
static int flush(struct client *cl)
{
	while (cl->rep.text && cl->rep_off <= cl->rep.len) {
		const char *p = cl->rep_off < cl->rep.len ?
			cl->rep.text + cl->rep_off : "\n";
		size_t n = cl->rep_off < cl->rep.len ?
			cl->rep.len - cl->rep_off : 1;
		ssize_t w = send(cl->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0)
			return -1;
		cl->rep_off += (size_t)w;
		cl->last_ms = now_ms();
	}
	rpc_reply_release(&cl->rep);
	cl->rep_off = 0;
	return 1;
}

/* --- reading and running -------------------------------------------------- */

static void run_text(struct client *cl, size_t end)
{
	rpc_handle(cl->in + cl->start, end - cl->start, &cl->rep);
	cl->rep_off = 0;
	if (cl->scalar)
		cl->closing = 1;
	memmove(cl->in, cl->in + end, cl->in_len - end);
	cl->in_len -= end;
	frame_reset(cl);
	if (!cl->in_len && cl->in_cap > 4 * READ_CHUNK) {
		pkg_free(cl->in);       /* a big request's buffer goes back */
		cl->in = NULL;
		cl->in_cap = 0;
	}
}

/* Run the complete texts in the buffer while replies go out at once.
 * Returns -1 when the client is to be closed now. */
static int process(struct client *cl)
{
	for (;;) {
		size_t end;
		int f = flush(cl);
		if (f <= 0) {
			if (f == 0)
				watch(cl->fd, cl, EPOLLOUT, EPOLL_CTL_MOD);
			return f;
		}
		if (cl->closing)
			return -1;
		if ((end = frame_end(cl)))
			run_text(cl, end);
		else if (cl->in_len > RPC_MAX_REQUEST)
			set_static_reply(cl, too_big, sizeof(too_big) - 1);
		else
			break;
	}
	watch(cl->fd, cl, EPOLLIN, EPOLL_CTL_MOD);
	return 0;
}

/* Room for one more read; -1 when pkg has none. */
static int grow(struct client *cl)
{
	size_t cap = cl->in_cap ? cl->in_cap : 4096;
	char *p;
	if (cl->in_cap - cl->in_len >= READ_CHUNK / 4)
		return 0;
	while (cap - cl->in_len < READ_CHUNK / 4)
		cap *= 2;
	if (!(p = pkg_realloc(cl->in, cap)))
		return -1;
	cl->in = p;
	cl->in_cap = cap;
	return 0;
}

/* Read what is there (up to the size limit); -1: closed or failed. */
static int client_read(struct client *cl)
{
	while (cl->in_len <= RPC_MAX_REQUEST) {
		ssize_t r;
		if (grow(cl) < 0) {
			set_static_reply(cl, no_mem, sizeof(no_mem) - 1);
			return 0;
		}
		r = recv(cl->fd, cl->in + cl->in_len, cl->in_cap - cl->in_len,
			MSG_DONTWAIT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r <= 0)
			return -1;
		cl->in_len += (size_t)r;
		cl->last_ms = now_ms();
	}
	return 0;
}

static void client_event(struct client *cl, uint32_t events)
{
	int gone = 0;
	if (!cl->rep.text && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		gone = client_read(cl) < 0;
	if (process(cl) < 0 || (gone && !cl->rep.text))
		client_close(cl);
}

/* --- accepting ------------------------------------------------------------ */

static struct client *slot_free(void)
{
	for (int i = 0; i < RPC_MAX_CLIENTS; i++)
		if (clients[i].fd < 0)
			return &clients[i];
	return NULL;
}

static void accept_all(void)
{
	struct client *cl;
	while (nclients < RPC_MAX_CLIENTS && (cl = slot_free())) {
		int fd = accept4(rpc_listen_fd, NULL, NULL,
			SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				LM_WARN("RPC accept: %s", strerror(errno));
			if (errno != EINTR && errno != ECONNABORTED)
				break;
			continue;
		}
		memset(cl, 0, sizeof(*cl));
		cl->fd = fd;
		cl->last_ms = now_ms();
		nclients++;
		watch(fd, cl, EPOLLIN, EPOLL_CTL_ADD);
	}
	listener_update();
}

static void on_epoll(int fd, void *arg)
{
	struct epoll_event evs[64];
	int n = epoll_wait(fd, evs, 64, 0);
	(void)arg;
	for (int i = 0; i < n; i++) {
		if (!evs[i].data.ptr)
			accept_all();
		else
			client_event(evs[i].data.ptr, evs[i].events);
	}
}

/* --- timeouts and life ---------------------------------------------------- */

static void tick(void *arg)
{
	uint64_t now = now_ms();
	(void)arg;
	for (int i = 0; i < RPC_MAX_CLIENTS; i++) {
		struct client *cl = &clients[i];
		uint64_t idle = now - cl->last_ms;
		if (cl->fd < 0)
			continue;
		if ((cl->rep.text || cl->started) ? idle > RPC_IDLE_MID_MS :
		    idle > RPC_IDLE_MS)
			client_close(cl);
	}
}

int rpc_server_start(void)
{
	for (int i = 0; i < RPC_MAX_CLIENTS; i++)
		clients[i].fd = -1;
	nclients = listening = 0;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || loop_add(ep, on_epoll, NULL) < 0 ||
	    loop_set_tick(tick, NULL, TICK_MS) < 0) {
		LM_ERR("RPC server: no epoll set or loop slot: %s",
			strerror(errno));
		return -1;
	}
	listener_update();
	return 0;
}

void rpc_server_stop(void)
{
	for (int i = 0; i < RPC_MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			client_close(&clients[i]);
	if (ep >= 0) {
		loop_del(ep);
		close(ep);
	}
	ep = -1;
}
