/*
 * killtest.h - what the kill storm (prog_killstorm.c) and the kill sweep
 * (killsweep.c) share: their random numbers, what a dead process held,
 * and the account after a death: every cache drained, the used fragments
 * that nobody holds (orphans) found by a walk against the baseline's
 * used fragments, used_size against the baseline.
 */
#ifndef SRMEM_KILLTEST_H
#define SRMEM_KILLTEST_H

#include <stdint.h>
#include <sys/types.h>

#include "mem.h"
#include "internal.h"
#include "cache.h"

/* splitmix64: one seed, one sequence, on every machine. */
static inline uint64_t kt_rnd(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* pid holds slot sl: its lock, or a fast hold (mem/cache.c "Slot
 * holds": busy, the fast word naming pid's thread). */
static inline int kt_holds_slot(const struct cache_slot *sl, pid_t pid)
{
	return mem_plock_owner(&sl->lock) == pid ||
		(__atomic_load_n(&sl->busy, __ATOMIC_RELAXED) &&
		 (pid_t)(uint32_t)__atomic_load_n(&sl->fast,
			__ATOMIC_RELAXED) == pid);
}

/* used_size once every cache (this process's, and the dead's) is
 * drained. */
static inline uint64_t kt_used_now(void)
{
	struct mem_info mi;
	shm_cache_reclaim();
	shm_cache_drain();
	shm_info(&mi);
	return mi.used_size;
}

/* The used fragments of the baseline, and a walk's orphans against it. */
#define KT_BASE 128
#define KT_ORPHANS 16

struct kt_sweep {
	uintptr_t base[KT_BASE];
	unsigned nbase;
	uint64_t orphans, cached;       /* of the last kt_orphans() */
	void *orphan[KT_ORPHANS];
	unsigned norphan;
};

static inline int kt_note_base(const struct mem_frag *f, void *arg)
{
	struct kt_sweep *w = arg;
	if (f->used && w->nbase < KT_BASE)
		w->base[w->nbase++] = (uintptr_t)f->addr;
	return 0;
}

static inline int kt_is_base(const struct kt_sweep *w, const void *a)
{
	for (unsigned i = 0; i < w->nbase; i++)
		if (w->base[i] == (uintptr_t)a)
			return 1;
	return 0;
}

static inline int kt_sweep_frag(const struct mem_frag *f, void *arg)
{
	struct kt_sweep *w = arg;
	if (f->cached)
		w->cached++;
	else if (f->used && !kt_is_base(w, f->addr)) {
		if (w->norphan < KT_ORPHANS)
			w->orphan[w->norphan++] = (void *)f->addr;
		w->orphans++;
	}
	return 0;
}

/* The baseline: the pool's used fragments now (at most KT_BASE). */
static inline void kt_baseline(struct kt_sweep *w)
{
	w->nbase = 0;
	mem_walk(mem_shm_pool, kt_note_base, w);
}

/* After a death: drain every cache, find the orphans (w->orphans; the
 * first KT_ORPHANS in w->orphan, freed here, their addresses kept) and
 * the fragments still "cached" after the drain; used_size then. */
static inline uint64_t kt_settle(struct kt_sweep *w)
{
	w->orphans = w->cached = 0;
	w->norphan = 0;
	shm_cache_reclaim();
	shm_cache_drain();
	mem_walk(mem_shm_pool, kt_sweep_frag, w);
	for (unsigned k = 0; k < w->norphan; k++)
		shm_free(w->orphan[k]);
	return kt_used_now();
}

#endif /* SRMEM_KILLTEST_H */
