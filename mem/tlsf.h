/*
 * tlsf.h - the TLSF backend: two-level segregated fit, O(1) malloc and free.
 *
 * The common layer reaches it only through mem_tlsf_backend (backend.h).
 * The constants below are what a caller may rely on when sizing a pool or
 * testing the backend; everything else is private to tlsf.c.
 */
#ifndef SRMEM_TLSF_H
#define SRMEM_TLSF_H

#include <stdint.h>

#include "backend.h"

/* Bytes a used block costs beyond its usable size: one size word. */
#define TLSF_BLOCK_OVERHEAD 8u
/* Smallest block (header included); also mem_info.min_frag. */
#define TLSF_MIN_BLOCK 32u
/* Larger regions are accepted, but only their first TLSF_MAX_REGION bytes
 * are managed (total_size says how many). */
#define TLSF_MAX_REGION ((uint64_t)1 << 48)

extern const struct mem_backend mem_tlsf_backend;

#endif /* SRMEM_TLSF_H */
