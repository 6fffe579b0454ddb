/*
 * log.c - where srmem's reports go.  The library never writes to a FILE*
 * behind the program's back: every message goes through one function that
 * the program may replace (mem_set_log); the default writes one line per
 * message to stderr with write(2), so it is safe in a forked child and
 * does not allocate.
 *
 * A call site named by a fragment's record (where it was allocated or
 * freed) is printed through mem_record_site_str(), which reads the site
 * and its strings through a pipe: a stale or overwritten record makes the
 * report say "an unreadable call site (ADDR)" instead of crashing it.
 */
#define _GNU_SOURCE        /* pipe2 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "internal.h"

static const char *level_name(int level)
{
	switch (level) {
	case MEM_L_CRIT: return "CRITICAL";
	case MEM_L_ERR: return "ERROR";
	case MEM_L_WARN: return "WARNING";
	case MEM_L_INFO: return "INFO";
	default: return "DEBUG";
	}
}

static void log_stderr(int level, const char *msg)
{
	char line[1200];
	int n = snprintf(line, sizeof(line), "srmem: %s: %s\n",
			level_name(level), msg);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	(void)!write(2, line, (size_t)n);
}

static mem_log_fn log_fn = log_stderr;

void mem_set_log(mem_log_fn fn)
{
	log_fn = fn ? fn : log_stderr;
}

void mem_log(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_fn(level, msg);
}

const char *mem_site_str(const struct mem_site *s, char *buf, size_t len)
{
	if (!s)
		snprintf(buf, len, "no call site");
	else
		snprintf(buf, len, "%s:%s:%u [%s]", s->file, s->func, s->line,
				s->mod ? s->mod : "core");
	return buf;
}

/* --- a site read from a record ------------------------------------------- */

/* Copy n bytes from src, which may not be mapped, through a pipe: the
 * kernel reports a fault (EFAULT) where a load would crash.  Returns the
 * bytes copied (fewer when the source ends in an unmapped page).  The
 * system call itself, not write(): a string is read up to n bytes past
 * its start, beyond its own object, which a sanitizer's write() would
 * take for an overflow of the program's. */
static size_t probe_copy(const int fd[2], void *dst, const void *src,
		size_t n)
{
	ssize_t w = syscall(SYS_write, fd[1], src, n);
	if (w <= 0)
		return 0;
	size_t got = 0;
	while (got < (size_t)w) {
		ssize_t r = read(fd[0], (char *)dst + got, (size_t)w - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* A string of a site: what could be read up to its NUL (or the buffer's
 * end), anything not printable shown as '?'; NULL when none of it is
 * readable. */
static const char *probe_str(const int fd[2], const char *src, char *buf,
		size_t len)
{
	size_t got = src ? probe_copy(fd, buf, src, len - 1) : 0;
	if (!got)
		return NULL;
	buf[got] = 0;
	for (char *c = buf; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	return buf;
}

static const char *site_probe(const int fd[2], const struct mem_site *s,
		char *buf, size_t len)
{
	struct mem_site copy;
	char file[96], func[64], mod[32];
	if ((uintptr_t)s % _Alignof(struct mem_site) ||
			probe_copy(fd, &copy, s, sizeof(copy)) != sizeof(copy)) {
		snprintf(buf, len, "an unreadable call site (%p)", (void *)s);
		return buf;
	}
	const char *fi = probe_str(fd, copy.file, file, sizeof(file));
	const char *fu = probe_str(fd, copy.func, func, sizeof(func));
	const char *mo = copy.mod ? probe_str(fd, copy.mod, mod, sizeof(mod)) :
		"core";
	if (!fi || !fu || !mo)
		snprintf(buf, len, "a call site with unreadable names (%p)",
			(void *)s);
	else
		snprintf(buf, len, "%s:%s:%u [%s]", fi, fu, copy.line, mo);
	return buf;
}

/* A site pointer kept in a fragment's record is only as good as the
 * record: a double free of memory reused since finds a stale record
 * whose tag still reads "freed" while the application wrote over its
 * site words.  Such a pointer is read through the kernel first (a pipe
 * per call: error paths only), never followed blindly. */
const char *mem_record_site_str(const struct mem_site *s, char *buf,
		size_t len)
{
	int fd[2];
	if (!s)
		return mem_site_str(s, buf, len);
	if (pipe2(fd, O_CLOEXEC)) {
		snprintf(buf, len, "call site %p (not read: no pipe)",
			(void *)s);
		return buf;
	}
	site_probe(fd, s, buf, len);
	close(fd[0]);
	close(fd[1]);
	return buf;
}
