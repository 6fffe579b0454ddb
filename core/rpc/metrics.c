/*
 * metrics.c - GET /metrics: the server's memory in the Prometheus text
 * exposition format 0.0.4, written here (no client library: the format
 * is "# HELP", "# TYPE" and one line per sample).
 *
 * Families (every one with HELP and TYPE; bytes in _bytes, durations in
 * _seconds, counters end in _total):
 *   srmem_shm_*            the shm pool: total, used, real_used, free,
 *                          cached, max_used bytes and free fragments
 *   srmem_pkg_*            the same per running process, labels pid, rank
 *                          and desc, as the process last published them
 *   srmem_processes        running processes
 *   srmem_shm_module_*     shm bytes and fragments per module (every one)
 *   srmem_shm_site_*       the same for the SITES_TOP largest call sites
 *                          (labels file, func, line, module)
 *   srmem_shm_scan_age_seconds  how old those two are
 *   srmem_shm_lock_*       the heap lock's counters (mem_lock_stats_get)
 *   srmem_alarm_*          thresholds, each pool's level, crossings
 *
 * Cheap to scrape.  Counters are the library's (one short lock for the shm
 * ones, none for pkg or the lock rows).  Module and site figures need a
 * heap scan: they come from the last one, which a scrape that finds it
 * SCAN_MAX_AGE_MS old or more refreshes after its reply (loop_defer), so a
 * default scrape never walks the heap and the heap is walked at most every
 * SCAN_MAX_AGE_MS, and only while someone scrapes.  GET /metrics?scan=1
 * scans before answering (for tests and one-off looks).  Label values are
 * escaped as the format says (backslash, double quote, newline).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "rpc/rpc_int.h"
#include "runtime/alarm.h"
#include "runtime/loop.h"
#include "runtime/proc.h"

#define SCAN_MAX_AGE_MS 5000
#define SITES_TOP 20

/* --- the text -------------------------------------------------------------- */

struct mbuf {
	char *p;
	size_t len, cap;
	int oom;
};

__attribute__((format(printf, 2, 3)))
static void put(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	for (int tries = 0; tries < 2 && !b->oom; tries++) {
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ?
			b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0 || (b->p && (size_t)n < b->cap - b->len)) {
			b->len += n > 0 ? (size_t)n : 0;
			return;
		}
		size_t cap = (b->cap ? b->cap : 16384) * 2 + (size_t)n;
		char *q = pkg_realloc(b->p, cap);
		if (!q) {
			b->oom = 1;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
}

static void family(struct mbuf *b, const char *name, const char *type,
		const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ,key="value" with value escaped (first: no comma). */
static void label(struct mbuf *b, const char *key, const char *v, int first)
{
	put(b, "%s%s=\"", first ? "" : ",", key);
	for (; v && *v; v++)
		if (*v == '\\' || *v == '"')
			put(b, "\\%c", *v);
		else if (*v == '\n')
			put(b, "\\n");
		else
			put(b, "%c", *v);
	put(b, "\"");
}

/* {pid="..",rank="..",desc=".."} of entry i, without the braces. */
static void proc_labels(struct mbuf *b, int i)
{
	char n[16];
	snprintf(n, sizeof(n), "%d", (int)proc_table[i].pid);
	label(b, "pid", n, 1);
	snprintf(n, sizeof(n), "%d", (int)proc_table[i].rank);
	label(b, "rank", n, 0);
	label(b, "desc", proc_table[i].desc, 0);
}

static int running(int i)
{
	return proc_table[i].pid > 0 && proc_table[i].state == PROC_RUNNING;
}

/* --- pools ------------------------------------------------------------------ */

static const struct pool_field {
	const char *name, *help;
	size_t off;
} pool_fields[] = {
	{ "total_bytes", "size of the heap", offsetof(struct mem_info,
		total_size) },
	{ "used_bytes", "payload bytes callers hold", offsetof(struct mem_info,
		used_size) },
	{ "real_used_bytes", "used bytes plus fragment headers",
		offsetof(struct mem_info, real_used) },
	{ "free_bytes", "total minus real_used", offsetof(struct mem_info,
		free_size) },
	{ "cached_bytes", "bytes parked in per-process shm caches",
		offsetof(struct mem_info, cached) },
	{ "max_used_bytes", "highest real_used seen", offsetof(struct mem_info,
		max_used) },
	{ "fragments", "free fragments (as Kamailio counts them)",
		offsetof(struct mem_info, total_frags) },
};

static uint64_t field(const struct mem_info *mi, size_t off)
{
	return *(const uint64_t *)((const char *)mi + off);
}

static void pkg_info_of(int i, struct mem_info *mi)
{
	struct proc_pkg p;
	proc_read_pkg(i, &p);
	*mi = (struct mem_info){ .total_size = p.total_size, .free_size =
		p.free_size, .used_size = p.used_size, .real_used = p.real_used,
		.max_used = p.max_used, .total_frags = p.total_frags };
}

static void pools(struct mbuf *b, const struct mem_info *shm)
{
	char name[64], help[128];
	struct mem_info mi;
	for (size_t f = 0; f < sizeof(pool_fields) / sizeof(pool_fields[0]);
			f++) {
		const struct pool_field *pf = &pool_fields[f];
		snprintf(name, sizeof(name), "srmem_shm_%s", pf->name);
		snprintf(help, sizeof(help), "shm pool: %s", pf->help);
		family(b, name, "gauge", help);
		put(b, "%s %llu\n", name, (unsigned long long)field(shm, pf->off));
		snprintf(name, sizeof(name), "srmem_pkg_%s", pf->name);
		snprintf(help, sizeof(help), "pkg pool of a process: %s "
			"(as it last published)", pf->help);
		family(b, name, "gauge", help);
		for (int i = 0; i < proc_count; i++) {
			if (!running(i))
				continue;
			pkg_info_of(i, &mi);
			put(b, "%s{", name);
			proc_labels(b, i);
			put(b, "} %llu\n", (unsigned long long)field(&mi, pf->off));
		}
	}
}

static void processes(struct mbuf *b)
{
	int n = 0;
	for (int i = 0; i < proc_count; i++)
		n += running(i);
	family(b, "srmem_processes", "gauge", "running server processes");
	put(b, "srmem_processes %d\n", n);
}

/* --- the cached scan: modules and call sites -------------------------------- */

static struct mem_sums_data *sums;
static uint64_t sums_ms;
static int scan_queued;

static void scan_now(void)
{
	struct mem_sums_data *d = mem_sums_get(mem_shm_pool, NULL);
	if (!d)
		return;
	mem_sums_release(sums);
	sums = d;
	sums_ms = now_ms();
}

static void scan_later(void *arg)
{
	(void)arg;
	scan_queued = 0;
	scan_now();
}

/* Refresh after the reply when the scan is old (or missing). */
static void scan_schedule(void)
{
	if (scan_queued || (sums && now_ms() - sums_ms < SCAN_MAX_AGE_MS))
		return;
	scan_queued = loop_defer(scan_later, NULL) == 0;
}

static void module_family(struct mbuf *b, const char *name,
		const char *help, int count)
{
	family(b, name, "gauge", help);
	for (size_t i = 0; sums && i < sums->nmods; i++) {
		const struct mem_mod_sum *m = &sums->mods[i];
		put(b, "%s{", name);
		label(b, "module", m->mod ? m->mod : "unknown", 1);
		put(b, "} %llu\n", (unsigned long long)(count ? m->count :
			m->bytes));
	}
}

static void site_labels(struct mbuf *b, const struct mem_site_sum *s)
{
	char line[16];
	snprintf(line, sizeof(line), "%u", s->line);
	label(b, "file", s->file, 1);
	label(b, "func", s->func, 0);
	label(b, "line", line, 0);
	label(b, "module", s->mod ? s->mod : "core", 0);
}

static void sites_family(struct mbuf *b, const char *name, const char *help,
		int count)
{
	family(b, name, "gauge", help);
	for (size_t i = 0, n = 0; sums && i < sums->nsites && n < SITES_TOP;
			i++) {
		const struct mem_site_sum *s = &sums->sites[i];
		if (!s->file)
			continue;       /* no call site known (MEMDBG=0) */
		n++;
		put(b, "%s{", name);
		site_labels(b, s);
		put(b, "} %llu\n", (unsigned long long)(count ? s->count :
			s->bytes));
	}
}

static void scan_families(struct mbuf *b)
{
	module_family(b, "srmem_shm_module_bytes", "shm bytes asked for by "
		"the used fragments of a module (cached scan)", 0);
	module_family(b, "srmem_shm_module_fragments", "used shm fragments "
		"of a module (cached scan)", 1);
	sites_family(b, "srmem_shm_site_bytes", "shm bytes asked for at one "
		"of the 20 largest call sites (cached scan)", 0);
	sites_family(b, "srmem_shm_site_fragments", "used shm fragments of "
		"one of the 20 largest call sites (cached scan)", 1);
	family(b, "srmem_shm_scan_age_seconds", "gauge", "age of the scan the "
		"module and site figures come from (refreshed at most every "
		"5 s, while scraped)");
	if (sums)
		put(b, "srmem_shm_scan_age_seconds %.3f\n",
			(double)(now_ms() - sums_ms) / 1000.0);
}

/* --- the lock ---------------------------------------------------------------- */

static void counter(struct mbuf *b, const char *name, const char *help,
		uint64_t v)
{
	family(b, name, "counter", help);
	put(b, "%s %llu\n", name, (unsigned long long)v);
}

static void seconds(struct mbuf *b, const char *name, const char *type,
		const char *help, uint64_t ns)
{
	family(b, name, type, help);
	put(b, "%s %.9f\n", name, (double)ns / 1e9);
}

static void lock_families(struct mbuf *b)
{
	struct mem_lock_stats *s = pkg_malloc(sizeof(*s));
	if (!s || shm_lock_stats(s) < 0) {
		pkg_free(s);
		return;
	}
	const struct mem_lock_stat *t = &s->total;
	counter(b, "srmem_shm_lock_acquisitions_total", "acquisitions of the "
		"shm heap lock", t->acquired);
	counter(b, "srmem_shm_lock_contended_total", "acquisitions that found "
		"the lock held", t->contended);
	counter(b, "srmem_shm_lock_sleeps_total", "sleeps in the kernel "
		"waiting for the lock", t->sleeps);
	seconds(b, "srmem_shm_lock_wait_seconds_total", "counter", "time spent "
		"waiting for the lock", t->wait_ns);
	seconds(b, "srmem_shm_lock_wait_max_seconds", "gauge", "longest wait "
		"for the lock", t->wait_max_ns);
	seconds(b, "srmem_shm_lock_hold_seconds_total", "counter", "time the "
		"lock was held (estimated from 1 acquisition in 64)", t->hold_ns);
	seconds(b, "srmem_shm_lock_hold_max_seconds", "gauge", "longest "
		"sampled hold of the lock", t->hold_max_ns);
	counter(b, "srmem_shm_lock_takeovers_total", "locks taken over from a "
		"process that died holding them", t->takeovers);
	seconds(b, "srmem_shm_lock_takeover_seconds_total", "counter", "time "
		"waited before those takeovers", t->takeover_ns);
	pkg_free(s);
}

/* --- the shm caches' traffic with the heap ---------------------------------- */

static void cache_families(struct mbuf *b)
{
	struct shm_cache_flow f;
	if (shm_cache_flow(&f) < 0)
		return;         /* a segment without caches */
	const struct { const char *way; uint64_t n; } ways[] = {
		{ "from_depot", f.from_depot }, { "cut", f.cut },
		{ "to_depot", f.to_depot }, { "to_heap", f.to_heap },
		{ "reclaimed", f.reclaimed },
	};
	counter(b, "srmem_shm_cache_refills_total", "cache misses served in "
		"a section of the shm heap lock", f.refills);
	family(b, "srmem_shm_cache_fragments_total", "counter", "fragments "
		"that entered the caches (from_depot, cut: from the heap) or "
		"left them (to_depot, to_heap; reclaimed: from dead processes)");
	for (size_t k = 0; k < sizeof(ways) / sizeof(ways[0]); k++) {
		put(b, "srmem_shm_cache_fragments_total{");
		label(b, "way", ways[k].way, 1);
		put(b, "} %llu\n", (unsigned long long)ways[k].n);
	}
	counter(b, "srmem_shm_cache_chains_total", "chains given back to the "
		"depot", f.chains);
	counter(b, "srmem_shm_cache_over_budget_total", "times a process's "
		"cache went over its byte budget", f.over_budget);
	counter(b, "srmem_shm_cache_drains_total", "requests that drained "
		"every cache before they could be served", f.drains);
}

/* --- alarms ------------------------------------------------------------------ */

static void alarm_thresholds(struct mbuf *b)
{
	unsigned w, c;
	alarm_get(&w, &c);
	family(b, "srmem_alarm_threshold_percent", "gauge", "alarm thresholds, "
		"percent of a pool's total in real_used (0: off)");
	put(b, "srmem_alarm_threshold_percent{level=\"warn\"} %u\n", w);
	put(b, "srmem_alarm_threshold_percent{level=\"crit\"} %u\n", c);
}

/* One line of family name for shm, then one per running process. */
static void alarm_family(struct mbuf *b, const char *name, const char *type,
		const char *help, int what)
{
	struct alarm_state a;
	static const char *const lv[] = { "ok", "warn", "crit" };
	family(b, name, type, help);
	for (int i = -1; i < proc_count; i++) {
		if (i >= 0 && !running(i))
			continue;
		if (i < 0)
			alarm_shm_state(&a);
		else
			alarm_pkg_state(i, &a);
		for (int l = what ? ALARM_WARN : 0; l <= (what ? ALARM_CRIT : 0);
				l++) {
			put(b, "%s{pool=\"%s\"", name, i < 0 ? "shm" : "pkg");
			if (i >= 0) {
				put(b, ",");
				proc_labels(b, i);
			}
			if (what)
				put(b, ",level=\"%s\"} %llu\n", lv[l],
					(unsigned long long)a.raised[l]);
			else
				put(b, "} %u\n", a.level);
		}
	}
}

static void alarm_families(struct mbuf *b)
{
	alarm_thresholds(b);
	alarm_family(b, "srmem_alarm_level", "gauge", "a pool's alarm: 0 ok, "
		"1 warn, 2 crit", 0);
	alarm_family(b, "srmem_alarm_raised_total", "counter", "times a pool "
		"entered an alarm level", 1);
}

/* --- the page ---------------------------------------------------------------- */

char *rpc_metrics(int scan, size_t *len)
{
	struct mbuf b = { NULL, 0, 0, 0 };
	struct mem_info shm;
	if (scan)
		scan_now();
	else
		scan_schedule();
	shm_info(&shm);
	alarm_check_shm(&shm);
	pools(&b, &shm);
	processes(&b);
	scan_families(&b);
	lock_families(&b);
	cache_families(&b);
	alarm_families(&b);
	if (b.oom) {
		pkg_free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
