/*
 * lockstat.h - the heap lock's counters, one row per process, in the shm
 * segment (lockstat.c has the design).
 */
#ifndef SRMEM_LOCKSTAT_H
#define SRMEM_LOCKSTAT_H

#include <stddef.h>
#include <stdint.h>

#include "lock.h"

#define LOCKSTAT_ROWS 128

/* A row: one process's counters; its own cache lines (the owner writes
 * them on every acquisition, nobody else writes them). */
struct lockstat_row {
	int32_t pid;            /* owner; 0 = free row */
	uint32_t pad_;
	struct mem_lock_ctr c;
} __attribute__((aligned(64)));

struct lockstat_tab {
	struct mem_lock_ctr retired;    /* rows of exited processes, folded */
	uint32_t nrows;                 /* rows ever claimed are below this */
	uint32_t unrowed;               /* processes that found no row */
	struct lockstat_row row[LOCKSTAT_ROWS];
};

size_t lockstat_size(void);
void lockstat_init(struct lockstat_tab *t);
/* This process's row, claimed at first use: the table it was claimed in
 * and its counters (a forked child forgets both, pthread_atfork). */
extern struct lockstat_tab *lockstat_my_tab;
extern struct mem_lock_ctr *lockstat_my_ctr;
struct mem_lock_ctr *lockstat_claim(struct lockstat_tab *t);

/* This process's counters, or NULL when t is NULL or every row belongs to
 * a live process.  Inline: on every acquisition and release it is one
 * compare and one load. */
static inline struct mem_lock_ctr *lockstat_mine(struct lockstat_tab *t)
{
	if (__builtin_expect(lockstat_my_tab == t, 1))
		return lockstat_my_ctr;
	return lockstat_claim(t);
}

#endif /* SRMEM_LOCKSTAT_H */
