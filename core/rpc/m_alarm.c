/*
 * m_alarm.c - mem.alarm [warn PCT] [crit PCT]: read or set the memory
 * alarm thresholds (runtime/alarm.c) at run time, and see every pool's
 * alarm: shm (checked now against fresh counters) and each running
 * process's pkg (as that process last checked it, when it published its
 * counters).  New thresholds live in shm, so every process uses them from
 * its next check on.
 */
#include <string.h>

#include "rpc/rpc_int.h"
#include "runtime/alarm.h"
#include "runtime/proc.h"

static json_t *state_json(const struct alarm_state *a)
{
	return json_pack("{s:s,s:I,s:I,s:I}", "alarm", alarm_name((int)a->level),
		"raised_warn", (json_int_t)a->raised[ALARM_WARN],
		"raised_crit", (json_int_t)a->raised[ALARM_CRIT],
		"cleared", (json_int_t)a->cleared);
}

static json_t *pkg_rows(void)
{
	json_t *arr = json_array();
	struct alarm_state a;
	for (int i = 0; i < proc_count; i++) {
		if (!proc_table[i].pid || proc_table[i].state != PROC_RUNNING)
			continue;
		alarm_pkg_state(i, &a);
		json_t *o = state_json(&a);
		json_object_update_new(o, json_pack("{s:i,s:i,s:s}", "pid",
			(int)proc_table[i].pid, "rank", (int)proc_table[i].rank,
			"desc", proc_table[i].desc));
		json_array_append_new(arr, o);
	}
	return arr;
}

/* "warn N" / "crit N" pairs, positional or named; -1 when bad. */
static int read_pct(struct rpc_ctx *c, json_t *params, const char *key,
		unsigned *v)
{
	long long n;
	int r = -2;
	if (json_is_array(params) && json_array_size(params) % 2)
		return rpc_fail(c, RPC_INVALID_PARAMS, "parameters: "
			"[warn PCT] [crit PCT]");
	for (int i = 0; json_is_array(params) && i + 1 < (int)json_array_size(
			params) && r == -2; i += 2) {
		const char *k = json_string_value(json_array_get(params, i));
		if (k && !strcmp(k, key))
			r = rpc_arg_int(c, params, i + 1, key, 1, &n);
		else if (!k || (strcmp(k, "warn") && strcmp(k, "crit")))
			return rpc_fail(c, RPC_INVALID_PARAMS, "parameters: "
				"[warn PCT] [crit PCT]");
	}
	if (json_is_object(params))
		r = rpc_arg_int(c, params, -1, key, 0, &n);
	if (r < 0 && r != -2)
		return -1;
	if (r == 1 && (n < 0 || n > 100))
		return rpc_fail(c, RPC_INVALID_PARAMS, "%s must be 0..100 "
			"(percent of a pool; 0 off)", key);
	if (r == 1)
		*v = (unsigned)n;
	return 0;
}

static int m_alarm(struct rpc_ctx *c, json_t *params, json_t **res)
{
	unsigned warn, crit;
	struct mem_info mi;
	struct alarm_state a;
	alarm_get(&warn, &crit);
	if (read_pct(c, params, "warn", &warn) < 0 ||
	    read_pct(c, params, "crit", &crit) < 0)
		return -1;
	if (alarm_set(warn, crit) < 0)
		return rpc_fail(c, RPC_INVALID_PARAMS, "warn %u%% is above "
			"crit %u%%", warn, crit);
	shm_info(&mi);
	alarm_check_shm(&mi);
	alarm_shm_state(&a);
	*res = json_pack("{s:i,s:i,s:i,s:o,s:o}", "warn", (int)warn,
		"crit", (int)crit, "hysteresis", ALARM_HYST,
		"shm", state_json(&a), "pkg", pkg_rows());
	return 0;
}

RPC_METHOD(mem_alarm_m) = { "mem.alarm", m_alarm, "[warn PCT] [crit PCT]",
	"memory alarm thresholds (read, or set) and every pool's alarm", 0 };
