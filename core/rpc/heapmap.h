/*
 * heapmap.h - a pool in address order, reduced to a bounded list of runs
 * (shm.map; heapmap.c has the reduction and its bounds).
 *
 * Fragments go in one at a time, in address order (mem_scan's order);
 * what comes out is at most `cap` runs that cover the pool's region
 * [0, size) exactly, plus totals and the largest free blocks.  A run's
 * extent is [end of the fragment before, end of its own payload): the
 * header in front of a fragment counts with it, and the backend's own
 * bookkeeping at both ends of the region is a run of module "(heap)".
 */
#ifndef SRP_HEAPMAP_H
#define SRP_HEAPMAP_H

#include <stdint.h>

#include "mem.h"

enum hm_state { HM_USED, HM_FREE, HM_CACHED, HM_BROKEN, HM_NSTATES,
	HM_MIXED = HM_NSTATES };

#define HM_MODS 32              /* modules named; the rest are "(other)" */
#define HM_TOP_FREE 5
#define HM_NO_MOD (-1)

/* A run: pure (bytes of one state, one module for used/broken ones) or,
 * after reduction, a cell of mixed bytes. */
struct hm_run {
	uint64_t off, len;
	uint64_t bytes[HM_NSTATES];     /* by state; they sum to len */
	uint64_t frags;                 /* fragments that start in the run */
	int mod;                        /* index in hm->mods, or HM_NO_MOD */
	uint64_t modw;                  /* weight of the module vote */
};

struct hm_free {
	uint64_t off, size;             /* offset of the payload, usable bytes */
};

struct hm_totals {
	uint64_t frags, skipped;        /* skipped: out of order (a live pool) */
	uint64_t count[HM_NSTATES];     /* fragments by state */
	uint64_t bytes[HM_NSTATES];     /* usable bytes by state */
};

struct heapmap {
	uintptr_t base;
	uint64_t size;
	unsigned cap;                   /* most runs in the result */
	unsigned n;                     /* runs (or cells) in use */
	struct hm_run *runs;
	uint64_t cell;                  /* bytes per cell once reduced, else 0 */
	uint64_t end;                   /* where the last fragment ended */
	unsigned nmods;
	const char *mods[HM_MODS + 2];  /* + "(heap)" and "(other)" */
	struct hm_totals t;
	unsigned nfree;
	struct hm_free top[HM_TOP_FREE];        /* largest first */
	int failed;                     /* no memory for the runs */
};

/* 0, or -1 when the runs cannot be had (cap: 16..HM_CAP_MAX). */
int hm_init(struct heapmap *hm, const void *base, uint64_t size, unsigned cap);
/* A mem_walk_fn: arg is the heapmap. */
int hm_add(const struct mem_frag *f, void *arg);
/* Close the map: the tail of the region, and cells back into runs. */
void hm_finish(struct heapmap *hm);
void hm_release(struct heapmap *hm);
/* The state of a run (HM_MIXED when more than one has bytes). */
int hm_run_state(const struct hm_run *r);
const char *hm_state_name(int state);

#define HM_CAP_MIN 16
#define HM_CAP_MAX 4096

#endif /* SRP_HEAPMAP_H */
