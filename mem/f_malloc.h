/*
 * f_malloc.h - the f_malloc ("fm") backend: segregated fit with exact size
 * classes, the fast one.
 *
 * Everything a program needs is the table below, installed by the common
 * layer (mem.c); the algorithm, its invariants and its costs are described
 * at the top of f_malloc.c.  What the backend assumes of its caller is the
 * contract of backend.h: no NULL, sizes in 1..MEM_MAX_REQUEST, free() and
 * resize() only on blocks block_state() has called used, and no locking
 * (the caller serialises every entry point of one pool).
 *
 * Setting read once per pool, at create() time:
 *   mem_join  1: free() joins a freed fragment with its free neighbours at
 *             once; 0: never (fragments of one size are reused as they are,
 *             and malloc() fails rather than walk the heap to join them).
 */
#ifndef SRMEM_F_MALLOC_H
#define SRMEM_F_MALLOC_H

#include "backend.h"

extern const struct mem_backend mem_fm_backend;

#endif /* SRMEM_F_MALLOC_H */
