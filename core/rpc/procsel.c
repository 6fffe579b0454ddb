/*
 * procsel.c - naming a process in a request, and asking it something.
 *
 * A process is named as Kamailio's pkg.stats names it: a bare pid (42 or
 * "42"), or a pair ["pid", 42], ["rank", 1], ["index", 3]; named params
 * use the keys "pid", "rank" or "index".  Ranks are the table's: 1..n SIP
 * workers, 0 main, -1 timer, -2 RPC.  Only entries whose process runs now
 * can be named.
 *
 * rpc_ask() runs an IPC command in that process (ipc_call, bounded by a
 * timeout, so a stalled or dying process costs the request at most that)
 * and parses its JSON answer; the RPC process answers itself directly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_int.h"
#include "runtime/ipc.h"
#include "runtime/proc.h"

static int str_is_int(const char *s)
{
	char *end;
	(void)strtoll(s, &end, 10);
	return *s && !*end;
}

static int entry_alive(int i)
{
	return i >= 0 && i < proc_count && proc_table[i].pid != 0 &&
		proc_table[i].state != PROC_DEAD &&
		proc_table[i].state != PROC_FREE;
}

static int find_rank(long long rank)
{
	for (int i = 0; i < proc_count; i++)
		if (proc_table[i].rank == rank && entry_alive(i))
			return i;
	return -1;
}

/* kind: "pid", "rank" or "index"; -1 and rpc_fail() when none. */
static int select_entry(struct rpc_ctx *c, const char *kind, long long v)
{
	int e = -1;
	if (!strcmp(kind, "pid"))
		e = v > 0 ? proc_find_pid((pid_t)v) : -1;
	else if (!strcmp(kind, "rank"))
		e = find_rank(v);
	else if (!strcmp(kind, "index"))
		e = v >= 0 && v < proc_count ? (int)v : -1;
	else
		return rpc_fail(c, RPC_INVALID_PARAMS, "a process is named by "
			"pid, rank or index, not \"%s\"", kind);
	if (e < 0 || !entry_alive(e))
		return rpc_fail(c, RPC_SERVER_ERROR, "no running process with "
			"%s %lld", kind, v);
	return e;
}

static int named_proc(struct rpc_ctx *c, json_t *params, int *entry)
{
	static const char *const kinds[] = { "pid", "rank", "index" };
	long long v;
	for (size_t k = 0; k < 3; k++) {
		int r = rpc_arg_int(c, params, -1, kinds[k], 0, &v);
		if (r < 0)
			return -1;
		if (r == 1)
			return (*entry = select_entry(c, kinds[k], v)) < 0 ? -1 : 1;
	}
	return 0;
}

int rpc_arg_proc(struct rpc_ctx *c, json_t *params, int i, int required,
		int *entry)
{
	json_t *a = rpc_arg(params, i, NULL);
	const char *kind = "pid";
	long long v;
	if (json_is_object(params)) {
		int r = named_proc(c, params, entry);
		if (r != 0)
			return r;
	}
	if (!a)
		return required ? rpc_fail(c, RPC_INVALID_PARAMS, "missing "
			"parameter: a pid, or pid|rank|index N") : 0;
	if (json_is_string(a) && !str_is_int(json_string_value(a))) {
		kind = json_string_value(a);
		if (strcmp(kind, "pid") && strcmp(kind, "rank") &&
		    strcmp(kind, "index"))
			return rpc_fail(c, RPC_INVALID_PARAMS, "a process is "
				"named by a pid, or pid|rank|index N, not "
				"\"%s\"", kind);
		i++;
	}
	if (rpc_arg_int(c, params, i, kind, 1, &v) < 0)
		return -1;
	return (*entry = select_entry(c, kind, v)) < 0 ? -1 : 1;
}

static json_t *parse_answer(struct rpc_ctx *c, char *text, int entry)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);
	free(text);
	if (!j)
		rpc_fail(c, RPC_SERVER_ERROR, "process %d answered what is not "
			"JSON (or the RPC process is out of pkg)",
			(int)proc_table[entry].pid);
	return j;
}

json_t *rpc_ask(struct rpc_ctx *c, int entry, const char *name,
		const char *arg, int timeout_ms)
{
	char err[256] = "";
	const char *ferr = NULL;
	char *text;
	if (entry == proc_index) {
		ipc_fn fn = rpc_ipc_find(name);
		text = fn ? fn(arg, &ferr) : NULL;
		if (!text)
			snprintf(err, sizeof(err), "%s", ferr ? ferr :
				"no such command");
	} else {
		text = ipc_call(entry, name, arg, timeout_ms, err, sizeof(err));
	}
	if (!text) {
		rpc_fail(c, RPC_SERVER_ERROR, "process %d (entry %d): %s",
			(int)proc_table[entry].pid, entry, err[0] ? err :
			"no answer");
		return NULL;
	}
	return parse_answer(c, text, entry);
}
