/*
 * m_core.c - the server's own methods: core.ps, core.version, core.uptime,
 * system.listMethods, system.methodHelp.
 *
 * core.ps reads the process table in shm (written by the main process and
 * by each process for itself); nothing is asked of the processes, so it
 * answers even when one of them hangs.
 */
#include <string.h>
#include <time.h>

#include "rpc/rpc_int.h"
#include "runtime/cfg.h"
#include "runtime/proc.h"

static const char *state_name(int s)
{
	switch (s) {
	case PROC_STARTING: return "starting";
	case PROC_RUNNING: return "running";
	case PROC_DEAD: return "dead";
	default: return "free";
	}
}

static json_t *ps_row(int i, uint64_t now)
{
	const struct proc_entry *e = &proc_table[i];
	uint64_t up = e->pid && now > e->started_ms ? now - e->started_ms : 0;
	return json_pack("{s:i,s:i,s:i,s:s,s:s,s:i,s:I}", "entry", i,
		"pid", (int)e->pid, "rank", (int)e->rank, "desc", e->desc,
		"state", state_name(e->state), "restarts", (int)e->restarts,
		"uptime_s", (json_int_t)(up / 1000));
}

static int m_ps(struct rpc_ctx *c, json_t *params, json_t **res)
{
	uint64_t now = now_ms();
	(void)c;
	(void)params;
	*res = json_array();
	for (int i = 0; i < proc_count; i++)
		if (proc_table[i].state != PROC_FREE)
			json_array_append_new(*res, ps_row(i, now));
	return 0;
}

static int m_version(struct rpc_ctx *c, json_t *params, json_t **res)
{
	(void)c;
	(void)params;
	*res = json_pack("{s:s,s:s,s:s,s:s}", "name", SRP_NAME,
		"version", SRP_VERSION, "build", mem_build_info(),
		"compiled", __DATE__ " " __TIME__);
	return 0;
}

static int m_uptime(struct rpc_ctx *c, json_t *params, json_t **res)
{
	int64_t now = (int64_t)time(NULL);
	(void)c;
	(void)params;
	*res = json_pack("{s:I,s:I,s:I}", "now", (json_int_t)now,
		"up_since", (json_int_t)rpc_started,
		"uptime", (json_int_t)(now - rpc_started));
	return 0;
}

static int m_list(struct rpc_ctx *c, json_t *params, json_t **res)
{
	const struct rpc_method *const *t;
	size_t n = rpc_methods(&t);
	(void)c;
	(void)params;
	*res = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(*res, json_string(t[i]->name));
	return 0;
}

static int m_help(struct rpc_ctx *c, json_t *params, json_t **res)
{
	const char *name;
	const struct rpc_method *m;
	if (rpc_arg_str(c, params, 0, "name", 1, &name) < 0)
		return -1;
	if (!(m = rpc_find(name)))
		return rpc_fail(c, RPC_SERVER_ERROR, "no method %s", name);
	*res = json_sprintf("%s%s%s: %s", m->name, m->params[0] ? " " : "",
		m->params, m->doc);
	return 0;
}

RPC_METHOD(core_ps) = { "core.ps", m_ps, "",
	"the processes: entry, pid, rank, desc, state, restarts, uptime_s", 0 };
RPC_METHOD(core_version) = { "core.version", m_version, "",
	"name, version, the library's build switches, compile date", 0 };
RPC_METHOD(core_uptime) = { "core.uptime", m_uptime, "",
	"now, up_since (unix time), uptime in seconds", 0 };
RPC_METHOD(sys_list) = { "system.listMethods", m_list, "",
	"every method's name, sorted", 0 };
RPC_METHOD(sys_help) = { "system.methodHelp", m_help, "NAME",
	"a method's parameters and what it does", 0 };
