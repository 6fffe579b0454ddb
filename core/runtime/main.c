/*
 * main.c - srproxy's main process: options, memory, the process table,
 * the children, and the loop that reaps them until a signal says stop.
 *
 * Order matters: pkg and shm exist before anything allocates; the process
 * table (in shm) before any proc_add; modules' init() runs in the main
 * process before any fork, so shared state, timers, IPC commands and
 * extra processes (the RPC process) are inherited by every child, and a
 * module that cannot start (the RPC socket of a running instance) stops
 * the server before a single child exists.
 *
 * Daemon mode (no -f): the process forks, the child calls setsid() and
 * forks again, so the server is no session leader and never gets a
 * terminal back; stdio goes to /dev/null and the log to syslog.  The
 * original process waits on a pipe until the daemon has started all its
 * children ("ok") or failed (the failing log line), so its exit status and
 * stderr tell the operator how the start went.  The working directory is
 * kept: relative paths (./srproxy.sock) mean what they meant.  This all
 * happens before pkg_init(), so the main process's pid never changes after
 * the library and the table have recorded it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "runtime/cfg.h"
#include "runtime/ipc.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "runtime/module.h"
#include "runtime/proc.h"
#include "runtime/timer.h"

#define STOP_TIMEOUT_MS 2000

/* --- daemon --------------------------------------------------------------- */

/* The original process: wait for the daemon's word, one line ("ok" or
 * the error), and exit with it.  Read up to the newline, not to EOF: the
 * children inherit the pipe's write end at fork. */
__attribute__((noreturn))
static void wait_for_daemon(int fd)
{
	char msg[LOG_ERRORS_MAX + 8];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof(msg) - 1 && !memchr(msg, '\n', got) &&
			((n = read(fd, msg + got, sizeof(msg) - 1 - got)) > 0 ||
			(n < 0 && errno == EINTR)))
		got += n > 0 ? (size_t)n : 0;
	msg[got] = '\0';
	msg[strcspn(msg, "\n")] = '\0';
	if (!strcmp(msg, "ok"))
		_exit(0);
	fprintf(stderr, "%s: %s\n", SRP_NAME, msg[0] ? msg :
		"the daemon ended during start-up (see syslog)");
	_exit(1);
}

static int daemonize(int *notify)
{
	int p[2];
	if (pipe(p) < 0) {
		fprintf(stderr, "%s: pipe: %s\n", SRP_NAME, strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: fork: %s\n", SRP_NAME, strerror(errno));
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		wait_for_daemon(p[0]);
	}
	close(p[0]);
	setsid();
	if ((pid = fork()) != 0)
		_exit(pid < 0 ? 1 : 0);
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	fcntl(p[1], F_SETFD, FD_CLOEXEC);
	*notify = p[1];
	return 0;
}

static void daemon_tell(int *notify, const char *msg)
{
	if (*notify < 0)
		return;
	(void)!write(*notify, msg, strlen(msg));
	(void)!write(*notify, "\n", 1);
	close(*notify);
	*notify = -1;
}

/* --- start ---------------------------------------------------------------- */

static void worker_main(int index)
{
	(void)index;
	loop_run();             /* the modules added their fds in child_init */
}

static int memory_init(void)
{
	mem_summary = cfg.mem_summary;
	shm_cache_size = cfg.shm_cache;
	shm_populate = cfg.shm_populate;
	shm_huge_pages = cfg.shm_huge_pages;
	pkg_huge_pages = cfg.pkg_huge_pages;
	mem_free_check = cfg.mem_free_check;
	mem_free_queue = cfg.mem_free_queue;
	pkg_slab = cfg.pkg_slab;
	if (pkg_init(cfg.pkg_size, cfg.pkg_backend) < 0) {
		LM_CRIT("cannot set up pkg memory (%zu MB, %s)",
			cfg.pkg_size >> 20, cfg.pkg_backend ? cfg.pkg_backend :
			mem_default_backend());
		return -1;
	}
	if (shm_init(cfg.shm_size, cfg.shm_backend) < 0) {
		LM_CRIT("cannot set up shm memory (%zu MB, %s)",
			cfg.shm_size >> 20, cfg.shm_backend ? cfg.shm_backend :
			mem_default_backend());
		return -1;
	}
	mem_summary_install();
	return 0;
}

/* Root's default socket lives in a directory of its own. */
static void socket_dir(void)
{
	if (strcmp(cfg.rpc_socket, CFG_ROOT_SOCKET))
		return;
	if (mkdir("/var/run/srproxy", 0755) < 0 && errno != EEXIST)
		LM_WARN("mkdir /var/run/srproxy: %s", strerror(errno));
}

static int add_processes(void)
{
	char desc[32];
	for (int i = 1; i <= cfg.workers; i++) {
		snprintf(desc, sizeof(desc), "sip worker #%d", i);
		if (proc_add(i, desc, worker_main) < 0)
			return -1;
	}
	return proc_add(PROC_TIMER, "timer", timer_main) < 0 ? -1 : 0;
}

static void log_start(void)
{
	LM_NOTICE("%s %s starting: shm %zu MB (%s, %s pages), pkg %zu MB "
		"(%s, %s pages), %d workers, SIP %s, RPC %s%s%s, %d processes, "
		"build %s",
		SRP_NAME, SRP_VERSION, cfg.shm_size >> 20,
		mem_pool_backend(mem_shm_pool), shm_huge() ? "2 MiB" : "4 KiB",
		cfg.pkg_size >> 20, mem_pool_backend(mem_pkg_pool),
		pkg_huge() ? "2 MiB" : "4 KiB", cfg.workers, cfg.listen,
		cfg.rpc_socket, cfg.http ? ", HTTP " : "",
		cfg.http ? cfg.http : "", proc_count, mem_build_info());
}

static int start(void)
{
	if (memory_init() < 0 || proc_table_init() < 0)
		return -1;
	socket_dir();
	loop_signals();
	if (proc_watch() < 0 || ipc_child_init(PROC_MAIN) < 0 ||
			add_processes() < 0 || modules_init() < 0)
		return -1;
	log_start();
	if (proc_start_all() < 0) {
		LM_CRIT("could not start every process");
		return -1;
	}
	return 0;
}

/* --- stop ----------------------------------------------------------------- */

static int stop(void)
{
	LM_NOTICE("stopping %s: %s", SRP_NAME, proc_policy_stop ?
		"the restart policy gave up" : "signal received");
	proc_stop_all(STOP_TIMEOUT_MS);
	modules_destroy();
	LM_NOTICE("%s stopped", SRP_NAME);
	return proc_policy_stop ? 1 : 0;    /* exit() logs mem_summary */
}

int main(int argc, char **argv)
{
	char err[512];
	int notify = -1;
	cfg_defaults(&cfg);
	int r = opts_parse(argc, argv, &cfg, stdout, err, sizeof(err));
	if (r != OPTS_RUN) {
		if (r == OPTS_BAD)
			fprintf(stderr, "%s: %s\n", SRP_NAME, err);
		return r == OPTS_EXIT ? 0 : 2;
	}
	if (!cfg.foreground && daemonize(&notify) < 0)
		return 1;
	log_init(SRP_NAME, cfg.foreground, cfg.log_level);
	if (start() < 0) {
		daemon_tell(&notify, log_errors[0] ? log_errors :
			"start-up failed");
		proc_stop_all(STOP_TIMEOUT_MS);
		modules_destroy();
		return 1;
	}
	daemon_tell(&notify, "ok");
	loop_run();
	return stop();
}
