/*
 * cfg.h - the server's settings, filled from the command line by main.c
 * before anything is initialised and read-only afterwards (every child
 * inherits the same copy).
 */
#ifndef SRP_CFG_H
#define SRP_CFG_H

#include <stddef.h>

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
	const char *argv0;
};

extern struct srp_cfg cfg;

#define SRP_NAME "srproxy"
#define SRP_VERSION "0.2.0"

#endif /* SRP_CFG_H */
