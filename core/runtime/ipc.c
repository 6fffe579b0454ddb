/*
 * ipc.c - run a named command in another process of the server (ipc.h).
 *
 * Each process has two abstract UNIX datagram sockets, named after the
 * main pid and its table index (nothing on disk to clean up, gone with the
 * process): "\0srproxy.<main>.<index>" serves requests from the event
 * loop, "\0srproxy.<main>.<index>.r" receives the answers to its own
 * calls.  A request {seq, name, arg} is one datagram; the server runs the
 * command, copies the text into a shm block and sends {seq, address,
 * length} (or an error text) back; the caller copies the text into
 * malloc() memory and frees the block.
 *
 * Trust: abstract sockets can be reached by any local process, so every
 * datagram carries the sender's kernel-checked credentials
 * (SCM_CREDENTIALS) and is dropped unless the sender is a process of our
 * table (a reply: the very process asked); a reply's address must lie in
 * the shm segment.
 *
 * Waiting: ipc_call() polls its reply socket up to timeout_ms, and also
 * serves requests meanwhile (two processes calling each other would
 * otherwise both wait out the timeout); a command run that way may call
 * again, up to IPC_DEPTH calls deep, and a reply for an outer call that
 * arrives during an inner one is kept for it.  A reply nobody waits for
 * any more (its caller timed out) is freed when the reply socket is next
 * read: from the loop, or at the next call.  A block is lost only when
 * its caller dies between the server's send and its own next read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mem.h"
#include "runtime/ipc.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "runtime/proc.h"

#define IPC_CMDS_MAX 64
#define IPC_DEPTH 4
#define IPC_ERR_MAX 192
#define IPC_SERVE_BATCH 16
#define MAGIC_REQ 0x51525049u           /* "IPRQ" */
#define MAGIC_REP 0x50525049u           /* "IPRP" */

struct ipc_req {
	uint32_t magic, seq;
	char name[IPC_NAME_MAX];
	char arg[IPC_ARG_MAX];
};

struct ipc_rep {
	uint32_t magic, seq;
	int32_t ok;
	uint32_t pad;
	uint64_t addr, len;             /* the text in shm, when ok */
	char err[IPC_ERR_MAX];
};

struct ipc_cmd {
	char name[IPC_NAME_MAX];
	ipc_fn fn;
};

struct pending {
	uint32_t seq;
	pid_t pid;                      /* the process asked */
	int done;
	struct ipc_rep rep;
};

static struct ipc_cmd cmds[IPC_CMDS_MAX];
static int ncmds;
static int srv_fd = -1, cli_fd = -1, my_index = -1;
static uint32_t call_seq;
static struct pending pend[IPC_DEPTH];
static int depth;

/* --- names and sockets ---------------------------------------------------- */

static socklen_t ipc_addr(int index, const char *suffix,
		struct sockaddr_un *sa)
{
	int main_pid = proc_table ? proc_table[PROC_MAIN].pid : getpid();
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1,
			"srproxy.%d.%d%s", main_pid, index, suffix);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int ipc_socket(int index, const char *suffix)
{
	struct sockaddr_un sa;
	socklen_t len = ipc_addr(index, suffix, &sa);
	int one = 1;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one,
			sizeof(one)) < 0 || bind(fd, (struct sockaddr *)&sa,
			len) < 0) {
		LM_ERR("IPC socket @%s: %s", sa.sun_path + 1, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* One datagram and its sender's pid (0: no credentials). */
static ssize_t recv_cred(int fd, void *buf, size_t len,
		struct sockaddr_un *from, socklen_t *fromlen, pid_t *pid)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
		.msg_name = from, .msg_namelen = from ? sizeof(*from) : 0 };
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
	*pid = 0;
	if (n < 0)
		return n;
	if (fromlen)
		*fromlen = mh.msg_namelen;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET &&
				c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred uc;
			memcpy(&uc, CMSG_DATA(c), sizeof(uc));
			*pid = uc.pid;
		}
	return n;
}

/* --- replies -------------------------------------------------------------- */

static int rep_valid(const struct ipc_rep *r)
{
	const char *p = (const char *)(uintptr_t)r->addr;
	return r->len < ((uint64_t)1 << 40) && shm_address_in(p) &&
		shm_address_in(p + r->len);
}

static void rep_discard(struct ipc_rep *r)
{
	if (r->ok && rep_valid(r))
		shm_free((void *)(uintptr_t)r->addr);
}

/* Read every reply queued: ours are marked done, others freed. */
static void read_replies(void)
{
	struct ipc_rep r;
	pid_t pid;
	ssize_t n;
	while ((n = recv_cred(cli_fd, &r, sizeof(r), NULL, NULL, &pid)) >= 0) {
		if ((size_t)n != sizeof(r) || r.magic != MAGIC_REP ||
				proc_find_pid(pid) < 0)
			continue;       /* not from one of us: never trusted */
		r.err[IPC_ERR_MAX - 1] = '\0';
		int k = depth - 1;
		while (k >= 0 && (pend[k].seq != r.seq || pend[k].done ||
				pend[k].pid != pid))
			k--;
		if (k < 0) {
			LM_DBG("IPC: late reply %u from pid %d freed", r.seq,
				(int)pid);
			rep_discard(&r);
			continue;
		}
		pend[k].rep = r;
		pend[k].done = 1;
	}
}

static void reply_drain_cb(int fd, void *arg)
{
	(void)fd;
	(void)arg;
	read_replies();
}

/* --- serving -------------------------------------------------------------- */

static ipc_fn cmd_find(const char *name)
{
	for (int i = 0; i < ncmds; i++)
		if (!strcmp(cmds[i].name, name))
			return cmds[i].fn;
	return NULL;
}

/* Run a command here: the text (malloc'd), or NULL and why in err. */
static char *run_cmd(const char *name, const char *arg, char *err,
		size_t errlen)
{
	const char *why = NULL;
	ipc_fn fn = cmd_find(name);
	if (!fn) {
		snprintf(err, errlen, "unknown IPC command '%s'", name);
		return NULL;
	}
	char *text = fn(arg, &why);
	if (!text)
		snprintf(err, errlen, "%s", why ? why : "the command failed");
	return text;
}

static void serve_one(const struct ipc_req *q, const struct sockaddr_un *to,
		socklen_t tolen)
{
	struct ipc_rep r = { .magic = MAGIC_REP, .seq = q->seq };
	char *text = run_cmd(q->name, q->arg, r.err, sizeof(r.err)), *blk = NULL;
	if (text) {
		size_t len = strlen(text);
		blk = shm_malloc(len + 1);
		if (blk) {
			memcpy(blk, text, len + 1);
			r.ok = 1;
			r.addr = (uint64_t)(uintptr_t)blk;
			r.len = len;
		} else {
			snprintf(r.err, sizeof(r.err), "no shm for a %zu-byte "
				"reply", len + 1);
		}
		free(text);
	}
	if (sendto(srv_fd, &r, sizeof(r), MSG_DONTWAIT | MSG_NOSIGNAL,
			(const struct sockaddr *)to, tolen) < 0) {
		LM_WARN("IPC: reply to '%s' lost: %s", q->name, strerror(errno));
		if (blk)
			shm_free(blk);
	}
}

static void serve_requests(void)
{
	struct ipc_req q;
	struct sockaddr_un from;
	socklen_t fromlen;
	pid_t pid;
	for (int i = 0; i < IPC_SERVE_BATCH; i++) {
		ssize_t n = recv_cred(srv_fd, &q, sizeof(q), &from, &fromlen,
				&pid);
		if (n < 0)
			return;
		if ((size_t)n != sizeof(q) || q.magic != MAGIC_REQ ||
				proc_find_pid(pid) < 0) {
			LM_WARN("IPC: dropped a datagram from pid %d (not a "
				"request of ours)", (int)pid);
			continue;
		}
		q.name[IPC_NAME_MAX - 1] = q.arg[IPC_ARG_MAX - 1] = '\0';
		serve_one(&q, &from, fromlen);
	}
}

static void serve_cb(int fd, void *arg)
{
	(void)fd;
	(void)arg;
	serve_requests();
}

/* --- the API -------------------------------------------------------------- */

int ipc_register(const char *name, ipc_fn fn)
{
	if (!name || !fn || strlen(name) >= IPC_NAME_MAX) {
		LM_ERR("IPC: bad command name '%s'", name ? name : "(null)");
		return -1;
	}
	if (cmd_find(name) || ncmds == IPC_CMDS_MAX) {
		LM_ERR("IPC: cannot register '%s': %s", name, ncmds ==
			IPC_CMDS_MAX ? "table full" : "already registered");
		return -1;
	}
	snprintf(cmds[ncmds].name, IPC_NAME_MAX, "%s", name);
	cmds[ncmds++].fn = fn;
	return 0;
}

int ipc_child_init(int index)
{
	if (srv_fd >= 0) {              /* the parent's, inherited */
		loop_del(srv_fd);
		loop_del(cli_fd);
		close(srv_fd);
		close(cli_fd);
		srv_fd = cli_fd = -1;
	}
	depth = 0;
	my_index = index;
	srv_fd = ipc_socket(index, "");
	cli_fd = ipc_socket(index, ".r");
	if (srv_fd < 0 || cli_fd < 0 || loop_add(srv_fd, serve_cb, NULL) < 0 ||
			loop_add(cli_fd, reply_drain_cb, NULL) < 0) {
		LM_ERR("IPC: process %d cannot serve requests", index);
		return -1;
	}
	return 0;
}

__attribute__((format(printf, 3, 4)))
static char *fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return NULL;
}

static char *call_local(const char *name, const char *arg, char *err,
		size_t errlen)
{
	char why[IPC_ERR_MAX];
	char *text = run_cmd(name, arg, why, sizeof(why));
	return text ? text : fail(err, errlen, "%s", why);
}

/* Wait for pend[k]; serve requests meanwhile at the outer levels. */
static int wait_reply(int k, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		read_replies();
		if (pend[k].done)
			return 0;
		uint64_t now = now_ms();
		if (now >= end)
			return -1;
		struct pollfd p[2] = { { cli_fd, POLLIN, 0 }, { srv_fd, POLLIN, 0 } };
		int serve = depth < IPC_DEPTH;
		if (poll(p, serve ? 2 : 1, (int)(end - now)) > 0 && serve &&
				p[1].revents)
			serve_requests();
	}
}

static char *take_reply(struct ipc_rep *r, int index, char *err,
		size_t errlen)
{
	struct proc_entry *e = &proc_table[index];
	if (!r->ok)
		return fail(err, errlen, "process %d (%s): %s", index, e->desc,
			r->err);
	if (!rep_valid(r))
		return fail(err, errlen, "process %d (%s): reply outside shm",
			index, e->desc);
	char *text = malloc(r->len + 1);
	if (text) {
		memcpy(text, (const char *)(uintptr_t)r->addr, r->len);
		text[r->len] = '\0';
	}
	shm_free((void *)(uintptr_t)r->addr);
	return text ? text : fail(err, errlen, "no memory for a %llu-byte "
		"reply", (unsigned long long)r->len);
}

static char *check_target(int index, char *err, size_t errlen)
{
	if (!proc_table || index < 0 || index >= proc_count)
		return fail(err, errlen, "no process with index %d", index);
	struct proc_entry *e = &proc_table[index];
	if (e->pid <= 0 || e->state != PROC_RUNNING)
		return fail(err, errlen, "process %d (%s) is not running",
			index, e->desc);
	return (char *)e;
}

char *ipc_call(int index, const char *name, const char *arg, int timeout_ms,
		char *err, size_t errlen)
{
	struct ipc_req q = { .magic = MAGIC_REQ };
	struct sockaddr_un to;
	if (!name || strlen(name) >= IPC_NAME_MAX || (arg && strlen(arg) >=
			IPC_ARG_MAX))
		return fail(err, errlen, "IPC: command name or argument too long");
	if (index == proc_index)
		return call_local(name, arg ? arg : "", err, errlen);
	if (!check_target(index, err, errlen))
		return NULL;
	if (srv_fd < 0 || my_index != proc_index)
		return fail(err, errlen, "IPC is not set up in this process");
	if (depth == IPC_DEPTH)
		return fail(err, errlen, "IPC: calls nested too deep");
	read_replies();                 /* late ones of earlier calls */
	snprintf(q.name, sizeof(q.name), "%s", name);
	snprintf(q.arg, sizeof(q.arg), "%s", arg ? arg : "");
	q.seq = ++call_seq;
	socklen_t tolen = ipc_addr(index, "", &to);
	if (sendto(cli_fd, &q, sizeof(q), MSG_DONTWAIT | MSG_NOSIGNAL,
			(struct sockaddr *)&to, tolen) < 0)
		return fail(err, errlen, "process %d (%s) cannot be reached: %s",
			index, proc_table[index].desc, strerror(errno));
	int k = depth++;
	pend[k] = (struct pending){ .seq = q.seq,
		.pid = proc_table[index].pid };
	int r = wait_reply(k, timeout_ms > 0 ? timeout_ms : 1);
	depth--;
	if (r < 0)
		return fail(err, errlen, "process %d (%s) did not answer '%s' "
			"within %d ms", index, proc_table[index].desc, name,
			timeout_ms);
	return take_reply(&pend[k].rep, index, err, errlen);
}
