/*
 * log.h - the server's log: one line per message, to stderr (foreground,
 * -f) or syslog (daemon), filtered by level (-d).  The library's reports
 * reach the same log (log_init installs a mem_set_log hook), so an
 * operator reads one stream.
 *
 * Levels are syslog's and Kamailio's names for them:
 *   LM_CRIT 2, LM_ERR 3, LM_WARN 4, LM_NOTICE 5, LM_INFO 6, LM_DBG 7.
 * A line reads "srproxy[PID]: LEVEL: <module> [file:line]: text" on stderr;
 * syslog adds its own pid and time.  Writing never allocates and is safe in
 * a forked child (one write(2) per line).
 */
#ifndef SRP_LOG_H
#define SRP_LOG_H

#define L_CRIT 2
#define L_ERR 3
#define L_WARN 4
#define L_NOTICE 5
#define L_INFO 6
#define L_DBG 7

extern int log_level;   /* lines above it are dropped (default L_INFO) */

/* to_stderr: 1 stderr, 0 syslog (facility daemon).  Also routes the
 * library's reports here.  Safe to call again (after fork, say). */
void log_init(const char *ident, int to_stderr, int level);
/* Put the library's reports back on this log (after a mem_set_log capture). */
void log_mem_attach(void);
void log_msg(int level, const char *mod, const char *file, int line,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The lines logged at L_ERR or worse so far (without "srproxy[PID]: ",
 * joined by "; ", cut at LOG_ERRORS_MAX): a daemon hands them to the
 * process that launched it when its start-up fails. */
#define LOG_ERRORS_MAX 1024
extern char log_errors[LOG_ERRORS_MAX];
/* A level's name ("ERROR"), and a name or number to a level (-1: bad):
 * 2..7, CRITICAL/ERROR/WARNING/NOTICE/INFO/DEBUG, crit/err/warn/dbg, in
 * any case. */
const char *log_level_name(int level);
int log_level_parse(const char *s);

#ifndef MOD_NAME
#define MOD_NAME "core"
#endif

#define LOG(lev, ...) do { \
		if ((lev) <= log_level) \
			log_msg((lev), MOD_NAME, __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)
#define LM_CRIT(...) LOG(L_CRIT, __VA_ARGS__)
#define LM_ERR(...) LOG(L_ERR, __VA_ARGS__)
#define LM_WARN(...) LOG(L_WARN, __VA_ARGS__)
#define LM_NOTICE(...) LOG(L_NOTICE, __VA_ARGS__)
#define LM_INFO(...) LOG(L_INFO, __VA_ARGS__)
#define LM_DBG(...) LOG(L_DBG, __VA_ARGS__)

#endif /* SRP_LOG_H */
