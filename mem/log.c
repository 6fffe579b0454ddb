/*
 * log.c - where srmem's reports go.  The library never writes to a FILE*
 * behind the program's back: every message goes through one function that
 * the program may replace (mem_set_log); the default writes one line per
 * message to stderr with write(2), so it is safe in a forked child and
 * does not allocate.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
