/*
 * alarm.c - usage alarms: a pool whose real_used passes a threshold (warn,
 * default 80 %; crit, default 95 % of its total) logs it once, counts it,
 * and shows it (core.shmmem, pkg.stats, /metrics: "alarm"); falling back
 * below logs once too.
 *
 * Where it is checked.  Never on the allocation path: pkg pools are
 * checked by their own process where it publishes its counters
 * (proc_publish_pkg, at most every 100 ms and at least every second), shm
 * by the timer process every second (job "mem.alarm") and by whoever reads
 * the shm counters for an operator (core.shmmem, shm.stats, /metrics), so
 * what they show agrees with the alarm they show.
 *
 * State.  One shm block made before fork: the thresholds (set by
 * --mem-warn/--mem-crit, changed at run time by mem.alarm, read by every
 * process) and one struct alarm_state for shm and per process-table
 * entry.  A pkg state is written by its process only; a new process in an
 * entry starts from ok without a message.  The shm level may be evaluated
 * by several processes at once: a change is a CAS on the level word, and
 * only the process whose CAS succeeds logs and counts it, so each crossing
 * is logged exactly once.
 *
 * Hysteresis.  A level is entered at its threshold and left only ALARM_HYST
 * points below it, so a pool hovering at the threshold does not flap.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "runtime/alarm.h"
#include "runtime/cfg.h"
#include "runtime/log.h"
#include "runtime/module.h"
#include "runtime/proc.h"
#include "runtime/timer.h"

struct alarm_tab {
	uint32_t warn, crit;
	struct alarm_state shm;
	struct alarm_state pkg[PROC_MAX];
};

static struct alarm_tab *tab;

static const char *const names[] = { "ok", "warn", "crit" };

const char *alarm_name(int level)
{
	return level >= ALARM_OK && level <= ALARM_CRIT ? names[level] : "?";
}

void alarm_get(unsigned *warn, unsigned *crit)
{
	*warn = tab ? __atomic_load_n(&tab->warn, __ATOMIC_RELAXED) : 0;
	*crit = tab ? __atomic_load_n(&tab->crit, __ATOMIC_RELAXED) : 0;
}

int alarm_set(unsigned warn, unsigned crit)
{
	if (!tab || warn > 100 || crit > 100 || (warn && crit && warn > crit))
		return -1;
	__atomic_store_n(&tab->warn, warn, __ATOMIC_RELAXED);
	__atomic_store_n(&tab->crit, crit, __ATOMIC_RELAXED);
	return 0;
}

/* The level for real_used out of total, from level cur (hysteresis). */
static int level_of(uint64_t used, uint64_t total, int cur)
{
	unsigned thr[3] = { 0, 0, 0 };
	int level = ALARM_OK;
	alarm_get(&thr[ALARM_WARN], &thr[ALARM_CRIT]);
	for (int l = ALARM_WARN; l <= ALARM_CRIT; l++) {
		unsigned t = thr[l];
		if (!t)
			continue;
		if (l <= cur)
			t = t > ALARM_HYST ? t - ALARM_HYST : 0;
		if (used * 100 >= (uint64_t)t * total)
			level = l;
	}
	return level;
}

static unsigned pct(const struct mem_info *mi)
{
	return mi->total_size ? (unsigned)(mi->real_used * 100 /
		mi->total_size) : 0;
}

/* The one message of a change from old to now for pool (what). */
static void log_change(const char *what, int old, int now,
		const struct mem_info *mi)
{
	unsigned w, c;
	alarm_get(&w, &c);
	if (now > old)
		LOG(now == ALARM_CRIT ? L_ERR : L_WARN, "%s memory at %u%% "
			"(real_used %llu of %llu bytes): above the %s threshold "
			"%u%%", what, pct(mi), (unsigned long long)mi->real_used,
			(unsigned long long)mi->total_size, alarm_name(now),
			now == ALARM_CRIT ? c : w);
	else
		LM_NOTICE("%s memory back to %u%% (real_used %llu of %llu "
			"bytes): below the %s threshold %u%%, now %s", what,
			pct(mi), (unsigned long long)mi->real_used,
			(unsigned long long)mi->total_size, alarm_name(old),
			old == ALARM_CRIT ? c : w, alarm_name(now));
}

static void count_change(struct alarm_state *st, int old, int now)
{
	if (now > old)
		__atomic_fetch_add(&st->raised[now], 1, __ATOMIC_RELAXED);
	else if (now == ALARM_OK)
		__atomic_fetch_add(&st->cleared, 1, __ATOMIC_RELAXED);
}

int alarm_check_shm(const struct mem_info *mi)
{
	if (!tab)
		return ALARM_OK;
	uint32_t old = __atomic_load_n(&tab->shm.level, __ATOMIC_ACQUIRE);
	int now = level_of(mi->real_used, mi->total_size, (int)old);
	if ((uint32_t)now == old || !__atomic_compare_exchange_n(
			&tab->shm.level, &old, (uint32_t)now, 0,
			__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return (int)__atomic_load_n(&tab->shm.level, __ATOMIC_ACQUIRE);
	count_change(&tab->shm, (int)old, now);
	log_change("shm", (int)old, now, mi);
	return now;
}

int alarm_check_pkg(const struct mem_info *mi)
{
	char what[96];
	if (!tab || !proc_table)
		return ALARM_OK;
	struct alarm_state *st = &tab->pkg[proc_index];
	pid_t self = getpid();
	if (st->pid != self) {          /* a new process in this entry */
		memset(st, 0, sizeof(*st));
		st->pid = self;
	}
	int old = (int)st->level, now = level_of(mi->real_used,
		mi->total_size, old);
	if (now == old)
		return now;
	__atomic_store_n(&st->level, (uint32_t)now, __ATOMIC_RELEASE);
	count_change(st, old, now);
	snprintf(what, sizeof(what), "pkg of process %d (%s) pid %d",
		proc_index, proc_table[proc_index].desc, (int)self);
	log_change(what, old, now, mi);
	return now;
}

static void copy_state(const struct alarm_state *st, struct alarm_state *out)
{
	out->level = __atomic_load_n(&st->level, __ATOMIC_ACQUIRE);
	out->pid = st->pid;
	for (int l = 0; l < 3; l++)
		out->raised[l] = __atomic_load_n(&st->raised[l],
			__ATOMIC_RELAXED);
	out->cleared = __atomic_load_n(&st->cleared, __ATOMIC_RELAXED);
}

void alarm_shm_state(struct alarm_state *out)
{
	memset(out, 0, sizeof(*out));
	if (tab)
		copy_state(&tab->shm, out);
}

void alarm_pkg_state(int entry, struct alarm_state *out)
{
	memset(out, 0, sizeof(*out));
	if (tab && entry >= 0 && entry < PROC_MAX &&
	    tab->pkg[entry].pid == proc_table[entry].pid)
		copy_state(&tab->pkg[entry], out);
}

/* --- the module ------------------------------------------------------------ */

static void shm_job(uint64_t now, void *arg)
{
	struct mem_info mi;
	(void)now;
	(void)arg;
	shm_info(&mi);
	alarm_check_shm(&mi);
}

static int alarm_init(void)
{
	tab = shm_mallocxz(sizeof(*tab));
	if (!tab) {
		LM_CRIT("no shm for the memory alarms (%zu bytes)", sizeof(*tab));
		return -1;
	}
	if (alarm_set((unsigned)cfg.mem_warn, (unsigned)cfg.mem_crit) < 0) {
		LM_CRIT("memory alarms: warn %d%% above crit %d%%",
			cfg.mem_warn, cfg.mem_crit);
		return -1;
	}
	return timer_register("mem.alarm", 1000, shm_job, NULL);
}

SRP_MODULE(alarm_module) = {
	.name = "alarm",
	.order = -90,
	.init = alarm_init,
};
