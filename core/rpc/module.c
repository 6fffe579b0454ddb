/*
 * module.c - the RPC layer as a module of the runtime.
 *
 * init() (main process, before fork):
 *   - jansson allocates from pkg (json_set_alloc_funcs), in every process
 *     that inherits the setting, so the RPC layer's memory is module
 *     "rpc" in pkg.stats / mod.stats and a leak in it shows there;
 *   - binds the UNIX socket (cfg.rpc_socket, mode cfg.rpc_mode) and, with
 *     cfg.http, the loopback HTTP socket, so that a busy path or port stops
 *     the start-up at once with a clear message;
 *   - adds the RPC process (rpc_main) and registers the IPC commands other
 *     processes answer (their own pkg: sums, check, test blocks, lock hold);
 *   - makes the shm table of test call sites.
 * child_init(): processes other than the RPC one close the sockets.
 * destroy(): the socket file is removed.
 *
 * The socket: a path where something answers belongs to another server,
 * and start-up is refused with its pid when SO_PEERCRED tells it; a socket
 * file nobody answers on (connect refused) is stale and replaced; a path
 * that is not a socket is never removed.
 */
#define _GNU_SOURCE     /* struct ucred, accept4 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rpc/rpc_int.h"
#include "runtime/cfg.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "runtime/module.h"
#include "runtime/proc.h"

uint64_t rpc_oom_count;
int rpc_listen_fd = -1;
int rpc_http_fd = -1;
int64_t rpc_started;
int rpc_test_enabled;
static int bound;               /* this process made the socket file */

/* --- jansson in pkg ------------------------------------------------------- */

static void *json_pkg_malloc(size_t n)
{
	void *p = pkg_malloc(n);
	if (!p)
		rpc_oom_count++;
	return p;
}

static void json_pkg_free(void *p)
{
	pkg_free(p);
}

void rpc_json_alloc_init(void)
{
	json_set_alloc_funcs(json_pkg_malloc, json_pkg_free);
}

char *rpc_ipc_reply(json_t *j, const char **err)
{
	char *t = j ? rpc_json_to_malloc(j) : NULL;
	json_decref(j);
	if (!t)
		*err = "out of memory";
	return t;
}

/* --- IPC commands --------------------------------------------------------- */

static const struct {
	const char *name;
	ipc_fn fn;
} ipc_cmds[] = {
	{ "rpc.pkg_sums", rpc_ipc_pkg_sums },
	{ "rpc.pkg_mods", rpc_ipc_pkg_mods },
	{ "rpc.pkg_check", rpc_ipc_pkg_check },
	{ "rpc.pkg_map", rpc_ipc_pkg_map },
	{ "rpc.test_alloc", rpc_ipc_test_alloc },
	{ "rpc.test_free", rpc_ipc_test_free },
	{ "rpc.lock_hold", rpc_ipc_lock_hold },
};

#define NCMDS (sizeof(ipc_cmds) / sizeof(ipc_cmds[0]))

ipc_fn rpc_ipc_find(const char *name)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (!strcmp(ipc_cmds[i].name, name))
			return ipc_cmds[i].fn;
	return NULL;
}

static int ipc_cmds_register(void)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (ipc_register(ipc_cmds[i].name, ipc_cmds[i].fn) < 0)
			return -1;
	return 0;
}

/* --- the UNIX socket ------------------------------------------------------ */

static int sock_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		LM_ERR("RPC socket path too long (at most %zu bytes): %s",
			sizeof(sa->sun_path) - 1, path);
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

/* 1: a server answers there (refused), 0: free or stale (removed), -1. */
static int path_taken(const struct sockaddr_un *sa, const char *path)
{
	struct stat st;
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd, rc;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		LM_ERR("%s exists and is not a socket; not touching it", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	if (rc == 0) {
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 &&
		    cr.pid > 0)
			LM_ERR("another srproxy is running on %s (pid %d)",
				path, (int)cr.pid);
		else
			LM_ERR("another srproxy is running on %s", path);
	}
	close(fd);
	if (rc == 0)
		return 1;
	LM_INFO("removing the stale RPC socket %s", path);
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int sock_bind(const char *path, unsigned mode)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd, rc;
	if (sock_addr(&sa, path) < 0 || path_taken(&sa, path) != 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	old = umask(~mode & 0777);      /* the file is born with its mode */
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 128) < 0)
		goto fail;
	return fd;
fail:
	LM_ERR("RPC socket %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* --- the module ----------------------------------------------------------- */

static void rpc_main(int index)
{
	(void)index;
	if (rpc_server_start() < 0 || (rpc_http_fd >= 0 && rpc_http_start() < 0))
		exit(1);
	loop_run();
	rpc_http_stop();
	rpc_server_stop();
}

static int mod_child_init(int rank)
{
	if (rank == PROC_RPC)
		return 0;
	if (rpc_listen_fd >= 0)
		close(rpc_listen_fd);
	if (rpc_http_fd >= 0)
		close(rpc_http_fd);
	rpc_listen_fd = rpc_http_fd = -1;
	bound = 0;
	return 0;
}

static int mod_init(void)
{
	rpc_started = (int64_t)time(NULL);
	rpc_test_enabled = cfg.test_methods;
	rpc_json_alloc_init();
	if (rpc_sites_init() < 0) {
		LM_ERR("no shm for the RPC's call-site table");
		return -1;
	}
	if ((rpc_listen_fd = sock_bind(cfg.rpc_socket, cfg.rpc_mode)) < 0)
		return -1;
	bound = 1;
	if (cfg.http && (rpc_http_fd = rpc_http_bind(cfg.http)) < 0)
		goto fail;
	if (ipc_cmds_register() < 0 ||
	    proc_add(PROC_RPC, "jsonrpc server", rpc_main) < 0) {
		LM_ERR("could not add the RPC process or its IPC commands");
		goto fail;
	}
	return 0;
fail:                   /* destroy() does not run after a failed init */
	mod_child_init(0);
	unlink(cfg.rpc_socket);
	return -1;
}

static void mod_destroy(void)
{
	if (bound)
		unlink(cfg.rpc_socket);
	bound = 0;
}

SRP_MODULE(rpc_module) = { "rpc", 50, mod_init, mod_child_init,
	mod_destroy };
