/*
 * log.c - the server's one log stream.
 *
 * A message is formatted into a buffer on the stack and leaves in one
 * write(2) (stderr) or one send(2) (syslog): no allocation, no stdio, no
 * lock, so it is safe in a forked child and lines of different processes
 * never interleave (a write of up to PIPE_BUF bytes to a pipe is atomic;
 * to a file opened O_APPEND each write lands whole).
 *
 * Syslog is spoken directly on /dev/log (RFC 3164 framing, facility
 * daemon): glibc's syslog() formats through a memory stream, which
 * allocates.  When /dev/log is missing (containers) syslog lines are lost,
 * as with syslog(); the start-up errors a daemon must show its operator
 * are also kept in log_errors for main.c to hand to the parent.
 *
 * The library's reports (mem_set_log) arrive with syslog levels already,
 * under the module name "srmem" and without a file:line of ours.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "runtime/log.h"

#define LOG_LINE_MAX 2048
#define SYSLOG_DAEMON (3 << 3)     /* facility daemon, RFC 3164 */

int log_level = L_INFO;
char log_errors[LOG_ERRORS_MAX];

static char log_ident[32] = "srproxy";
static int log_stderr = 1;
static int syslog_fd = -1;

static const char *const level_names[] = {
	[L_CRIT] = "CRITICAL", [L_ERR] = "ERROR", [L_WARN] = "WARNING",
	[L_NOTICE] = "NOTICE", [L_INFO] = "INFO", [L_DBG] = "DEBUG",
};

const char *log_level_name(int level)
{
	if (level < L_CRIT)
		level = L_CRIT;
	if (level > L_DBG)
		level = L_DBG;
	return level_names[level];
}

/* Numbers 2..7, the names above, and the short ones (crit, err, warn, dbg). */
int log_level_parse(const char *s)
{
	static const struct { const char *name; int level; } alias[] = {
		{ "crit", L_CRIT }, { "err", L_ERR }, { "warn", L_WARN },
		{ "dbg", L_DBG },
	};
	char *end;
	if (!s || !*s)
		return -1;
	long v = strtol(s, &end, 10);
	if (!*end)
		return v >= L_CRIT && v <= L_DBG ? (int)v : -1;
	for (int l = L_CRIT; l <= L_DBG; l++)
		if (!strcasecmp(s, level_names[l]))
			return l;
	for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
		if (!strcasecmp(s, alias[i].name))
			return alias[i].level;
	return -1;
}

/* "/work/main/core/runtime/proc.c" -> "runtime/proc.c": enough to find it. */
static const char *short_file(const char *file)
{
	const char *last = strrchr(file, '/'), *p;
	if (!last)
		return file;
	for (p = last - 1; p > file && *p != '/'; p--)
		;
	return p > file ? p + 1 : file;
}

static void syslog_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, "/dev/log");
	if (syslog_fd < 0)
		syslog_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (syslog_fd >= 0 && connect(syslog_fd, (struct sockaddr *)&sa,
			sizeof(sa)) < 0) {
		close(syslog_fd);
		syslog_fd = -1;
	}
}

/* "<PRI>Mmm dd hh:mm:ss srproxy[PID]: " then the text. */
static void syslog_send(int level, const char *text, size_t len)
{
	char buf[LOG_LINE_MAX + 64], stamp[32];
	time_t t = time(NULL);
	struct tm tm;
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S",
			localtime_r(&t, &tm));
	int n = snprintf(buf, sizeof(buf), "<%d>%s %s[%d]: %.*s",
			SYSLOG_DAEMON | level, stamp, log_ident, (int)getpid(),
			(int)len, text);
	if (n > (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 1;
	for (int tries = 0; tries < 2; tries++) {
		if (syslog_fd < 0)
			syslog_connect();
		if (syslog_fd < 0 || send(syslog_fd, buf, (size_t)n,
				MSG_NOSIGNAL) >= 0)
			return;
		close(syslog_fd);       /* syslogd restarted: reconnect once */
		syslog_fd = -1;
	}
}

/* Append to log_errors ("; " between lines), as much as fits. */
static void keep_error(const char *text, size_t len)
{
	size_t at = strlen(log_errors), room;
	if (at && at + 2 < LOG_ERRORS_MAX) {
		memcpy(log_errors + at, "; ", 2);
		at += 2;
	}
	room = LOG_ERRORS_MAX - 1 - at;
	len = len < room ? len : room;
	memcpy(log_errors + at, text, len);
	log_errors[at + len] = '\0';
}

static void emit(int level, const char *text, size_t len)
{
	if (level <= L_ERR)
		keep_error(text, len);
	if (!log_stderr) {
		syslog_send(level, text, len);
		return;
	}
	char line[LOG_LINE_MAX + 64];
	int n = snprintf(line, sizeof(line), "%s[%d]: %.*s\n", log_ident,
			(int)getpid(), (int)len, text);
	if (n > (int)sizeof(line) - 1) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	int saved = errno;
	(void)!write(2, line, (size_t)n);
	errno = saved;
}

void log_msg(int level, const char *mod, const char *file, int line,
		const char *fmt, ...)
{
	char text[LOG_LINE_MAX];
	int n;
	if (file)
		n = snprintf(text, sizeof(text), "%s: <%s> [%s:%d]: ",
				log_level_name(level), mod, short_file(file), line);
	else
		n = snprintf(text, sizeof(text), "%s: <%s>: ",
				log_level_name(level), mod);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = strlen(text);
	while (len && text[len - 1] == '\n')
		len--;
	emit(level, text, len);
}

/* The library's levels are syslog's (2, 3, 4, 6, 7), as ours. */
static void mem_log_hook(int level, const char *msg)
{
	if (level <= log_level)
		log_msg(level, "srmem", NULL, 0, "%s", msg);
}

void log_init(const char *ident, int to_stderr, int level)
{
	if (ident && *ident)
		snprintf(log_ident, sizeof(log_ident), "%s", ident);
	log_stderr = to_stderr;
	if (level >= L_CRIT && level <= L_DBG)
		log_level = level;
	if (!to_stderr) {
		tzset();        /* localtime_r() then never reads files */
		syslog_connect();
	}
	mem_set_log(mem_log_hook);
}

/* Route the library's reports here again, after code that captured them
 * for a while (the RPC's mem.check) with its own mem_set_log hook. */
void log_mem_attach(void)
{
	mem_set_log(mem_log_hook);
}
