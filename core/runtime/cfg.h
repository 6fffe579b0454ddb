/*
 * cfg.h - the server's settings, filled from the command line (opts.c)
 * before anything is initialised and read-only afterwards (every child
 * inherits the same copy).  Defaults are in cfg.c.
 */
#ifndef SRP_CFG_H
#define SRP_CFG_H

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

struct srp_cfg {
	size_t shm_size, pkg_size;      /* bytes (-m / -M take MB) */
	const char *shm_backend;        /* -x, NULL: the build's MEMMNG */
	const char *pkg_backend;        /* -X */
	int workers;                    /* -n, SIP worker processes */
	const char *listen;             /* -l addr:port, SIP over UDP */
	const char *rpc_socket;         /* -s path of the JSON-RPC socket */
	unsigned rpc_mode;              /* --rpc-mode, octal, default 0600 */
	const char *http;               /* --http addr:port, NULL: no HTTP */
	int foreground;                 /* -f */
	int log_level;                  /* -d */
	int test_methods;               /* --test-methods: the test.* RPCs */
	int restart_max;                /* deaths of one child tolerated in
	                                   restart_window s before the server
	                                   stops (policy in doc/SERVER.md) */
	int restart_window;
	int mem_summary;                /* --mem-summary, the library's bits */
	size_t shm_cache;               /* --shm-cache bytes, SHM_CACHE_AUTO */
	int shm_populate;               /* --shm-populate, the library's */
	int shm_huge_pages;             /* --shm-huge-pages, MEM_HUGE_AUTO */
	int pkg_huge_pages;             /* --pkg-huge-pages, MEM_HUGE_AUTO */
	int mem_free_check;             /* --mem-free-check, the library's */
	int mem_free_queue;             /* --mem-free-queue, the library's */
	int pkg_slab;                   /* --pkg-slab, the library's */
	int mem_warn, mem_crit;         /* --mem-warn/--mem-crit: alarm
	                                   thresholds, % of a pool (0 off) */
	const char *argv0;
};

extern struct srp_cfg cfg;

#define SRP_NAME "srproxy"
#define SRP_VERSION "0.2.0"

/* Limits the options enforce (opts.c, doc/SERVER.md). */
#define CFG_SHM_MB_MAX (1u << 20)       /* 1 TiB */
#define CFG_PKG_MB_MAX (1u << 16)       /* 64 GiB */
#define CFG_RESTART_MAX_MAX 1000
#define CFG_RESTART_WINDOW_MAX 3600
#define CFG_SHM_CACHE_MAX ((size_t)1 << 30)

/* Put the defaults into c: 64 MB shm, 8 MB pkg, 4 workers, SIP on
 * 127.0.0.1:5060, RPC socket ./srproxy.sock (CFG_ROOT_SOCKET for root),
 * mode 0600, restart at most 5 times in 10 s, log level INFO. */
void cfg_defaults(struct srp_cfg *c);
#define CFG_ROOT_SOCKET "/var/run/srproxy/srproxy.sock"

/* "1.2.3.4:5060" or "[::1]:5060" (literal addresses, port 1..65535) into a
 * socket address.  0, or -1 (not an address:port). */
int cfg_parse_addr(const char *s, struct sockaddr_storage *ss,
		socklen_t *len);

/* Parse argv into c (after cfg_defaults).  Returns OPTS_RUN (start),
 * OPTS_EXIT (-h or -V printed to out: exit 0) or OPTS_BAD (one line naming
 * the option and its valid values in err: exit 2). */
enum { OPTS_RUN = 0, OPTS_EXIT = 1, OPTS_BAD = 2 };
int opts_parse(int argc, char **argv, struct srp_cfg *c, FILE *out,
		char *err, size_t errlen);

#endif /* SRP_CFG_H */
