/*
 * dump.c - the diagnostics in the log: thin formatters over the data of
 * status.c (mem_scan) and summary.c (mem_sums_get, mem_report_get), and
 * the mem_summary dumps at exit and on SIGUSR1.  Nothing here walks a heap
 * or takes a lock itself; every line goes through mem_log() at level info,
 * in the formats doc/DIAGNOSTICS.md documents (tests and scripts grep
 * them: change both together).
 *
 * SIGUSR1.  Formatting allocates and takes locks, which a signal handler
 * must not do (the signal may land inside the allocator, with the shm lock
 * held by this very process).  So the handler only sets a flag, and the
 * dump happens at a safe point: mem_summary_poll(), which a server calls
 * from its main loop (a timer tick is enough), does it when the flag is
 * set.  The exit dump runs from atexit(), a normal context.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ULL(x) ((unsigned long long)(x))

static const char *row_text(const struct mem_site_sum *r, char *buf,
		size_t len)
{
	struct mem_site s = { r->file, r->func, r->mod, r->line };
	return mem_site_str(r->file ? &s : NULL, buf, len);
}

static void log_scan(const char *pool, const char *what,
		const struct mem_scan_stats *st)
{
	mem_log(MEM_L_INFO, "%s: %s: scanned %llu fragments in %llu chunks, "
		"longest %llu us%s", pool, what, ULL(st->frags),
		ULL(st->sections), ULL(st->max_hold_ns / 1000),
		st->result == -1 ? "; heap corrupt, scan stopped" :
		st->result == -2 ? "; lost its way too often, scan stopped" : "");
}

/* --- status -------------------------------------------------------------- */

struct status_ctx {
	const char *pool;
	unsigned long n;
	int procs;              /* shm: name the processes */
};

/* " by pid P (rank R)" when the pool is shared and the process known. */
static const char *by_proc(int procs, uint32_t proc, char *buf, size_t len)
{
	char o[64];
	*buf = 0;
	if (procs && proc)
		snprintf(buf, len, " by %s", mem_owner_str(proc, o, sizeof(o)));
	return buf;
}

static int status_frag(const struct mem_frag *f, void *arg)
{
	struct status_ctx *c = arg;
	char a[256], b[256], pa[80], pf[80];
	c->n++;
	if (f->hole)
		mem_log(MEM_L_ERR, "%s: %6lu. %p HOLE of %llu bytes: the "
			"header below is overwritten and nothing could rebuild it",
			c->pool, c->n, f->addr, ULL(f->size));
	else if (f->used)
		mem_log(MEM_L_INFO, "%s: %6lu. %p used %llu bytes (asked %llu) "
			"allocated at %s%s%s", c->pool, c->n, f->addr,
			ULL(f->size), ULL(f->req_size),
			mem_site_str(f->alloc, a, sizeof(a)),
			by_proc(c->procs, f->alloc_proc, pa, sizeof(pa)),
			f->header_broken ? "; DAMAGED: header overwritten "
			"(size from the record)" : f->broken ? "; DAMAGED: end "
			"canary or record overwritten" : "");
	else
		mem_log(MEM_L_INFO, "%s: %6lu. %p %s %llu bytes, freed at "
			"%s%s, allocated at %s%s", c->pool, c->n, f->addr,
			f->cached ? "cached" : "free", ULL(f->size),
			mem_site_str(f->freed, a, sizeof(a)),
			by_proc(c->procs, f->free_proc, pf, sizeof(pf)),
			mem_site_str(f->alloc, b, sizeof(b)),
			by_proc(c->procs, f->alloc_proc, pa, sizeof(pa)));
	return 0;
}

void mem_status(struct mem_pool *pool, const char *filter)
{
	struct status_ctx c = { pool->name, 0, pool->lock != NULL };
	struct mem_scan_stats st;
	struct mem_info mi;
	mem_pool_info(pool, &mi);
	mem_log(MEM_L_INFO, "%s: status (%s): total %llu, used %llu, "
		"real_used %llu, free %llu, free fragments %llu%s%s",
		pool->name, POOL_BE(pool)->long_name, ULL(mi.total_size),
		ULL(mi.used_size), ULL(mi.real_used), ULL(mi.free_size),
		ULL(mi.total_frags), filter ? ", used ones matching " : "",
		filter ? filter : "");
	mem_scan(pool, filter, status_frag, &c, &st);
	log_scan(pool->name, "status", &st);
}

/* --- sums ---------------------------------------------------------------- */

static void log_row(const char *pool, const char *what,
		const struct mem_site_sum *r)
{
	char site[256];
	mem_log(MEM_L_INFO, "%s: %s: count=%llu bytes=%llu at %s", pool, what,
		ULL(r->count), ULL(r->bytes), row_text(r, site, sizeof(site)));
}

void mem_sums(struct mem_pool *pool)
{
	struct mem_sums_data *d = mem_sums_get(pool, NULL);
	if (!d)
		return;
	mem_log(MEM_L_INFO, "%s: sums (%s): %zu call sites, %llu used "
		"fragments, %llu bytes%s", pool->name, d->backend, d->nsites,
		ULL(d->count), ULL(d->bytes),
		d->sites_known ? "" : " (MEMDBG=0: no call sites recorded)");
	for (size_t i = 0; i < d->nsites; i++)
		log_row(pool->name, "sum", &d->sites[i]);
	log_scan(pool->name, "sums", &d->scan);
	mem_sums_release(d);
}

void mem_mod_sums(struct mem_pool *pool, const char *mod)
{
	struct mem_sums_data *d = mem_sums_get(pool, mod);
	if (!d)
		return;
	mem_log(MEM_L_INFO, "%s: modules (%s): %zu modules, %llu used "
		"fragments, %llu bytes", pool->name, d->backend, d->nmods,
		ULL(d->count), ULL(d->bytes));
	for (size_t i = 0; i < d->nmods; i++) {
		const struct mem_mod_sum *m = &d->mods[i];
		const char *name = m->mod ? m->mod : "(no call site)";
		mem_log(MEM_L_INFO, "%s: module %s: count=%llu bytes=%llu in "
			"%zu call sites", pool->name, name, ULL(m->count),
			ULL(m->bytes), m->nsites);
		for (size_t k = 0; k < m->nsites; k++)
			log_row(pool->name, "module site",
				&d->sites[m->sites[k]]);
	}
	mem_sums_release(d);
}

/* --- report -------------------------------------------------------------- */

static void log_extreme(const char *pool, const char *what, uint64_t n,
		const struct mem_frag *f)
{
	char a[256], b[256];
	if (!n)
		return;
	if (f->used)
		mem_log(MEM_L_INFO, "%s: report: %s %p %llu bytes (asked %llu) "
			"allocated at %s", pool, what, f->addr, ULL(f->size),
			ULL(f->req_size), mem_site_str(f->alloc, a, sizeof(a)));
	else
		mem_log(MEM_L_INFO, "%s: report: %s %p %llu bytes, freed at %s, "
			"allocated at %s", pool, what, f->addr, ULL(f->size),
			mem_site_str(f->freed, a, sizeof(a)),
			mem_site_str(f->alloc, b, sizeof(b)));
}

static void log_counts(const struct mem_report_data *r)
{
	const struct mem_info *mi = &r->info;
	mem_log(MEM_L_INFO, "%s: report (%s): total %llu, free %llu, used "
		"%llu, real_used %llu, max_used %llu, free fragments %llu",
		r->pool, r->backend, ULL(mi->total_size), ULL(mi->free_size),
		ULL(mi->used_size), ULL(mi->real_used), ULL(mi->max_used),
		ULL(mi->total_frags));
	mem_log(MEM_L_INFO, "%s: report: used fragments %llu (%llu bytes, "
		"%llu asked), free fragments %llu (%llu bytes), cached "
		"fragments %llu (%llu bytes)", r->pool, ULL(r->used_frags),
		ULL(r->used_bytes), ULL(r->asked_bytes), ULL(r->free_frags),
		ULL(r->free_bytes), ULL(r->cached_frags), ULL(r->cached_bytes));
}

void mem_report(struct mem_pool *pool)
{
	struct mem_report_data r;
	char a[256];
	mem_report_get(pool, &r);
	log_counts(&r);
	log_extreme(r.pool, "smallest used", r.used_frags, &r.min_used);
	log_extreme(r.pool, "largest used", r.used_frags, &r.max_used);
	log_extreme(r.pool, "smallest free", r.free_frags, &r.min_free);
	log_extreme(r.pool, "largest free", r.free_frags, &r.max_free);
	if (r.broken_frags)
		mem_log(MEM_L_ERR, "%s: report: %llu fragments written past "
			"their end or over their record; first %p allocated at "
			"%s", r.pool, ULL(r.broken_frags), r.first_broken.addr,
			mem_site_str(r.first_broken.alloc, a, sizeof(a)));
	if (r.holes)
		mem_log(MEM_L_ERR, "%s: report: %llu areas (%llu bytes) behind "
			"overwritten headers could not be read", r.pool,
			ULL(r.holes), ULL(r.hole_bytes));
	log_scan(r.pool, "report", &r.scan);
}

/* --- mem_summary at exit and on SIGUSR1 ---------------------------------- */

static volatile sig_atomic_t summary_asked;
static pid_t summary_main;      /* logs the shm parts; 0: every process */
static int summary_installed;

static void summary_signal(int sig)
{
	(void)sig;
	summary_asked = 1;
}

static void summary_at_exit(void)
{
	mem_summary_dump();
}

void mem_summary_set_main(void)
{
	summary_main = mem_self_pid();
}

void mem_summary_dump(void)
{
	int shm = mem_shm_pool && (!summary_main ||
		summary_main == mem_self_pid());
	if (mem_pkg_pool && (mem_summary & 1))
		mem_status(mem_pkg_pool, NULL);
	if (shm && (mem_summary & 2))
		mem_status(mem_shm_pool, NULL);
	if (mem_pkg_pool && (mem_summary & 4))
		mem_sums(mem_pkg_pool);
	if (shm && (mem_summary & 8))
		mem_sums(mem_shm_pool);
}

int mem_summary_poll(void)
{
	if (!summary_asked)
		return 0;
	summary_asked = 0;
	mem_summary_dump();
	return 1;
}

void mem_summary_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = summary_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (!summary_installed++)
		atexit(summary_at_exit);
	if (!summary_main)      /* shm_init() names the main process */
		mem_summary_set_main();
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		mem_log(MEM_L_WARN, "mem_summary: no SIGUSR1 handler");
}
