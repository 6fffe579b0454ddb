/*
 * oom.c - the report of an allocation that failed for lack of memory:
 * its size, its call site and the pool's state, at most once per call
 * site per mem_oom_interval seconds in each process.
 *
 * Why a rate limit here, in the library.  A server out of memory fails the
 * same allocation thousands of times a second; one line per failure buries
 * the log (and costs each failure a formatted write).  The library is
 * where every failure passes, and it must behave without any server
 * around it, so the limit lives here and reports through mem_set_log like
 * every other report.  The next report of a site says how many failures
 * it left out.
 *
 * How.  A per-process table of OOM_SITES entries, open addressing on the
 * site pointer (sites are static records: the pointer is the identity;
 * MEMDBG=0 passes NULL, so all failures share one entry).  When the table
 * is full, the oldest entry is reused.  Only the failure path runs this:
 * the allocation fast path is untouched.  The pool's state is read from
 * the backend directly when the caller holds the lock (the *_unsafe
 * calls), else through mem_pool_info().
 */
#include <stdio.h>
#include <time.h>

#include "internal.h"

#define OOM_SITES 64

unsigned mem_oom_interval = 10;

struct oom_site {
	const struct mem_site *site;
	int used;
	uint64_t last_ms;               /* last report */
	uint64_t missed;                /* failures left out since then */
};

static struct oom_site oom_tab[OOM_SITES];

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The entry of site: its own, a free one, or the oldest. */
static struct oom_site *oom_entry(const struct mem_site *site)
{
	unsigned h = (unsigned)(((uintptr_t)site >> 4) * 2654435761u) %
		OOM_SITES;
	struct oom_site *oldest = &oom_tab[h];
	for (unsigned k = 0; k < OOM_SITES; k++) {
		struct oom_site *e = &oom_tab[(h + k) % OOM_SITES];
		if (e->used && e->site == site)
			return e;
		if (!e->used) {
			*e = (struct oom_site){ site, 1, 0, 0 };
			return e;
		}
		if (e->last_ms < oldest->last_ms)
			oldest = e;
	}
	*oldest = (struct oom_site){ site, 1, 0, 0 };
	return oldest;
}

/* 1: report now (and how many were left out before it). */
static int oom_due(const struct mem_site *site, uint64_t *missed)
{
	struct oom_site *e = oom_entry(site);
	uint64_t now = mono_ms();
	if (e->last_ms && mem_oom_interval &&
	    now - e->last_ms < (uint64_t)mem_oom_interval * 1000) {
		e->missed++;
		return 0;
	}
	*missed = e->missed;
	e->missed = 0;
	e->last_ms = now ? now : 1;
	return 1;
}

void mem_oom_report(struct mem_pool *pool, size_t size,
		const struct mem_site *site, int locked)
{
	char here[256], more[96] = "";
	struct mem_info mi;
	uint64_t missed;
	if (!oom_due(site, &missed))
		return;
	if (locked)
		POOL_BE(pool)->info(pool->st, &mi);
	else
		mem_pool_info(pool, &mi);
	if (missed)
		snprintf(more, sizeof(more), "; %llu more failures here in the "
			"last %u s", (unsigned long long)missed, mem_oom_interval);
	mem_log(MEM_L_ERR, "%s: not enough memory for %zu bytes at %s; pool: "
		"total %llu, real_used %llu (%llu%%), free %llu, free "
		"fragments %llu%s", pool->name, size,
		mem_site_str(site, here, sizeof(here)),
		(unsigned long long)mi.total_size,
		(unsigned long long)mi.real_used,
		(unsigned long long)(mi.total_size ? mi.real_used * 100 /
			mi.total_size : 0),
		(unsigned long long)mi.free_size,
		(unsigned long long)mi.total_frags, more);
}
