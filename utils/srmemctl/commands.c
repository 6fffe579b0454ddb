/*
 * commands.c - srmemctl's command table and the shape most commands share.
 *
 * Each entry names the command, its function, the value options it takes
 * (main.c rejects any other), how many positional arguments it takes, and
 * its usage and help lines (`srmemctl -h`, `srmemctl CMD -h`).  Most
 * commands are one RPC call whose result is either printed as JSON
 * (--json) or formatted as a table: ctl_show() is that shape, once.
 */
#include "srmemctl.h"

#include <string.h>

const struct ctl_cmd ctl_cmds[] = {
	{ "shmmem", cmd_shmmem, "", 1, "shmmem [b|k|m|g]",
		"shared memory: total, free, used, real_used, max_used, "
		"cached, fragments" },
	{ "pkg", cmd_pkg, "--pid --rank", 0, "pkg [--pid P|--rank R]",
		"private (pkg) memory of every process, or of one" },
	{ "summary", cmd_summary, "--pool --top --pid --module", 0,
		"summary [--pool shm|pkg] [--top N] [--pid P] [--module M]",
		"memory held per call site, largest first (pkg: of process P)" },
	{ "status", cmd_status, "--filter --limit", 0,
		"status [--filter X] [--limit N]",
		"shm fragments one by one (filter: file part or module)" },
	{ "report", cmd_report, "", 0, "report",
		"shm fragment counts and bytes by state, extreme fragments" },
	{ "ps", cmd_ps, "", 0, "ps", "the server's processes" },
	{ "check", cmd_check, "--pool --pid", 0,
		"check [--pool shm|pkg] [--pid P]",
		"run the heap checker on shm, or on process P's pkg (default: "
		"the RPC process's); exit 1 when it finds problems" },
	{ "watch", cmd_watch, "--interval --count", 0,
		"watch [--interval S] [--count N]",
		"usage per pool and per process, redrawn every S s (default 2)" },
	{ "leaks", cmd_leaks, "--interval --pool --pid --top", 0,
		"leaks [--interval S] [--pool shm|pkg] [--pid P] [--top N]",
		"call sites whose count and bytes grew over S s (default 10)" },
	{ "mods", cmd_mods, "", 2, "mods [MODULE|all] [pkg|shm|all]",
		"memory per module and call site (mod.stats)" },
	{ "version", cmd_version, "", 0, "version",
		"server version and memory build" },
	{ "uptime", cmd_uptime, "", 0, "uptime", "how long the server runs" },
	{ "methods", cmd_methods, "", 0, "methods",
		"the RPC methods the server has" },
	{ "raw", cmd_raw, "", -1, "raw METHOD [PARAMS...]",
		"call any method; a parameter that is a JSON number stays one" },
	{ "lock", cmd_lock, "", 0, "lock",
		"shm lock statistics: acquisitions, contention, wait and hold "
		"times, takeovers; per process (shm.lock)" },
	{ "cache", cmd_cache, "", 0, "cache",
		"the per-process shm caches: what they hold, and how fragments "
		"came in (depot, heap) and went out since start-up (shm.stats)" },
	{ "map", cmd_map, "--pool --pid --layout --cells -o --output", 0,
		"map [--pool shm|pkg] [--pid P] [--layout hilbert|strip] "
		"[--cells N] [-o FILE.svg|FILE.png]",
		"the pool drawn in address order, coloured by state and module "
		"(SVG; PNG with rsvg-convert or ImageMagick)" },
	{ "top", cmd_top, "--interval --count --top", 0,
		"top [--interval S] [--count N] [--top K]",
		"usage per pool and process, the top K shm call sites and the "
		"lock figures, redrawn every S s (default 2)" },
	{ NULL, NULL, NULL, 0, NULL, NULL },
};

const struct ctl_cmd *ctl_find(const char *name)
{
	for (const struct ctl_cmd *k = ctl_cmds; k->name; k++)
		if (!strcmp(k->name, name))
			return k;
	return NULL;
}

int ctl_show(struct ctl *c, const char *method, json_t *params,
		int (*show)(struct ctl *c, json_t *result))
{
	json_t *r;
	int rc = ctl_call(c, method, params, &r);

	if (rc)
		return rc;
	rc = c->json ? json_print(r) : show(c, r);
	json_decref(r);
	return rc;
}
