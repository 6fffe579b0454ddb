/*
 * http.c - JSON-RPC over HTTP: POST /RPC on a loopback address (--http
 * ADDR:PORT), with libmicrohttpd, in the RPC process's loop; and GET
 * /metrics, the Prometheus page (metrics.c; ?scan=1 rescans the heap).
 *
 * The socket is bound by the main process at init (a busy port or a
 * non-loopback address stops the start-up there) and handed to MHD in
 * the RPC process (MHD_OPTION_LISTEN_SOCKET).  MHD runs without threads
 * of its own (MHD_USE_EPOLL, external polling): its epoll fd sits in the
 * loop, MHD_run() runs when it is readable, and a tick re-armed from
 * MHD_get_timeout() drives its timers.  So every dispatch (and every pkg
 * allocation) happens on the RPC process's one thread.
 *
 * A request body is gathered in pkg up to RPC_MAX_REQUEST (more: 413) and
 * run through the same dispatcher as the UNIX socket; a notification-only
 * body gets 204.  The body buffer is freed when MHD says the request is
 * over, however it ended.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>

#include "rpc/rpc_int.h"
#include "runtime/cfg.h"
#include "runtime/log.h"
#include "runtime/loop.h"

#define HTTP_TICK_MAX_MS 1000

static struct MHD_Daemon *daemon_;
static int epfd = -1;

struct body {
	char *buf;
	size_t len;
	int too_big;
};

/* --- binding (main process) ----------------------------------------------- */

static int is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
	if (ss->ss_family == AF_INET)
		return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
	return ss->ss_family == AF_INET6 &&
		IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
}

int rpc_http_bind(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;
	if (cfg_parse_addr(addr, &ss, &len) < 0 || !is_loopback(&ss)) {
		LM_ERR("--http %s: a loopback address:port is required "
			"(127.0.0.1:8080, [::1]:8080)", addr);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
			sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0) {
		LM_ERR("--http %s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* --- requests ------------------------------------------------------------- */

static enum MHD_Result respond_as(struct MHD_Connection *con,
		unsigned status, const char *type, const char *text, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len,
		(void *)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ok;
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	ok = MHD_queue_response(con, status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result respond(struct MHD_Connection *con, unsigned status,
		const char *text, size_t len)
{
	return respond_as(con, status, "application/json", text, len);
}

static enum MHD_Result metrics(struct MHD_Connection *con)
{
	static const char oom[] = "out of pkg memory\n";
	const char *scan = MHD_lookup_connection_value(con,
		MHD_GET_ARGUMENT_KIND, "scan");
	size_t len;
	char *page = rpc_metrics(scan && !strcmp(scan, "1"), &len);
	enum MHD_Result ok;
	if (!page)
		return respond_as(con, MHD_HTTP_SERVICE_UNAVAILABLE,
			"text/plain", oom, sizeof(oom) - 1);
	ok = respond_as(con, MHD_HTTP_OK,
		"text/plain; version=0.0.4; charset=utf-8", page, len);
	pkg_free(page);
	return ok;
}

static void body_add(struct body *b, const char *data, size_t n)
{
	char *p;
	if (b->too_big || b->len + n > RPC_MAX_REQUEST ||
	    !(p = pkg_realloc(b->buf, b->len + n))) {
		b->too_big = 1;
		return;
	}
	memcpy(p + b->len, data, n);
	b->buf = p;
	b->len += n;
}

static enum MHD_Result run_body(struct MHD_Connection *con, struct body *b)
{
	struct rpc_reply rep;
	enum MHD_Result ok;
	static const char big[] = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":"
		"-32600,\"message\":\"request larger than 1 MiB, or no memory "
		"for it\"},\"id\":null}";
	if (b->too_big)
		return respond(con, MHD_HTTP_CONTENT_TOO_LARGE, big,
			sizeof(big) - 1);
	rpc_handle(b->buf ? b->buf : "", b->len, &rep);
	if (!rep.text)
		ok = respond(con, MHD_HTTP_NO_CONTENT, "", 0);
	else
		ok = respond(con, MHD_HTTP_OK, rep.text, rep.len);
	rpc_reply_release(&rep);
	return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con,
		const char *url, const char *method, const char *version,
		const char *data, size_t *data_size, void **con_cls)
{
	struct body *b = *con_cls;
	static const char nf[] = "{\"error\":\"POST /RPC or GET /metrics "
		"only\"}";
	(void)cls;
	(void)version;
	if (!strcmp(url, "/metrics") && !strcmp(method, "GET"))
		return metrics(con);
	if (strcmp(url, "/RPC") || strcmp(method, "POST"))
		return respond(con, MHD_HTTP_NOT_FOUND, nf, sizeof(nf) - 1);
	if (!b) {
		if (!(b = pkg_mallocxz(sizeof(*b))))
			return MHD_NO;
		*con_cls = b;
		return MHD_YES;
	}
	if (*data_size) {
		body_add(b, data, *data_size);
		*data_size = 0;
		return MHD_YES;
	}
	return run_body(con, b);
}

static void on_done(void *cls, struct MHD_Connection *con, void **con_cls,
		enum MHD_RequestTerminationCode toe)
{
	struct body *b = *con_cls;
	(void)cls;
	(void)con;
	(void)toe;
	if (b) {
		pkg_free(b->buf);
		pkg_free(b);
	}
	*con_cls = NULL;
}

/* --- in the loop ---------------------------------------------------------- */

static void http_tick(void *arg);

static void rearm(void)
{
	MHD_UNSIGNED_LONG_LONG t;
	int ms = HTTP_TICK_MAX_MS;
	if (MHD_get_timeout(daemon_, &t) == MHD_YES && t < (unsigned)ms)
		ms = t ? (int)t : 1;
	loop_set_tick(http_tick, NULL, ms);
}

static void http_tick(void *arg)
{
	(void)arg;
	MHD_run(daemon_);
	rearm();
}

static void on_ready(int fd, void *arg)
{
	(void)fd;
	http_tick(arg);
}

int rpc_http_start(void)
{
	const union MHD_DaemonInfo *di;
	daemon_ = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, on_request,
		NULL, MHD_OPTION_LISTEN_SOCKET, rpc_http_fd,
		MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)RPC_MAX_CLIENTS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(RPC_IDLE_MID_MS / 1000),
		MHD_OPTION_END);
	di = daemon_ ? MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_EPOLL_FD)
		: NULL;
	if (!di || loop_add(epfd = di->epoll_fd, on_ready, NULL) < 0) {
		LM_ERR("HTTP server could not start (libmicrohttpd)");
		return -1;
	}
	rearm();
	return 0;
}

void rpc_http_stop(void)
{
	if (!daemon_)
		return;
	loop_del(epfd);
	loop_set_tick(http_tick, NULL, 0);
	MHD_stop_daemon(daemon_);
	daemon_ = NULL;
}
