/*
 * cfg.c - the settings' defaults and the address syntax the options share.
 *
 * The defaults are Kamailio's where it has one (64 MB shm, 8 MB pkg) and
 * otherwise what starts without root and without surprises: SIP on the
 * loopback, the RPC socket in the working directory.  Run as root, the
 * socket goes where root's daemons keep theirs, CFG_ROOT_SOCKET (main.c
 * makes its directory).  `cfg` starts with the same values, so code linked
 * into the unit tests sees sane settings without calling cfg_defaults().
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "runtime/cfg.h"
#include "runtime/log.h"

#define DEFAULTS { \
	.shm_size = (size_t)64 << 20, .pkg_size = (size_t)8 << 20, \
	.workers = 4, .listen = "127.0.0.1:5060", \
	.rpc_socket = "./srproxy.sock", .rpc_mode = 0600, \
	.log_level = L_INFO, .restart_max = 5, .restart_window = 10, \
	.shm_cache = SHM_CACHE_AUTO, .shm_populate = 1, \
	.shm_huge_pages = MEM_HUGE_AUTO, .pkg_huge_pages = MEM_HUGE_AUTO, \
	.mem_warn = 80, \
	.mem_crit = 95, .mem_free_check = 1, .mem_free_queue = 1, \
	.pkg_slab = 0, \
	.argv0 = SRP_NAME }

struct srp_cfg cfg = DEFAULTS;

void cfg_defaults(struct srp_cfg *c)
{
	*c = (struct srp_cfg)DEFAULTS;
	if (geteuid() == 0)
		c->rpc_socket = CFG_ROOT_SOCKET;
}

static int parse_port(const char *s)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	long v = strtol(s, &end, 10);
	return *end || v < 1 || v > 65535 ? -1 : (int)v;
}

int cfg_parse_addr(const char *s, struct sockaddr_storage *ss,
		socklen_t *len)
{
	char host[64];
	const char *colon, *h = s;
	size_t hl;
	if (!s)
		return -1;
	if (*s == '[') {                        /* [v6]:port */
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -1;              /* bare v6 needs brackets */
		hl = (size_t)(colon - s);
	}
	int port = parse_port(colon + 1);
	if (port < 0 || hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (*s != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*len = sizeof(*v4);
		return 0;
	}
	if (*s == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
		return 0;
	}
	return -1;
}
