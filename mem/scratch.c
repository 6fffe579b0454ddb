/*
 * scratch.c - memory for diagnostic results, apart from every pool.
 *
 * A report about a pool must not be written into that pool: it would
 * change what it describes, and fail exactly when the pool is full.  Nor
 * should it lean on libc's heap, which the program may be debugging too.
 * So each result (a summary, a hash table, a scan's chunk buffer) is an
 * anonymous private mapping of its own, zero-filled, with its length kept
 * in a 16-byte prefix so that one call gives it back.  Cost: one mmap and
 * one munmap per result, rounded up to whole pages.
 */
#include <sys/mman.h>

#include "internal.h"

#define SCRATCH_HEAD 16u        /* keeps the result 16-aligned */

void *mem_scratch_alloc(size_t len)
{
	size_t *h = mmap(NULL, len + SCRATCH_HEAD, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h == MAP_FAILED) {
		mem_log(MEM_L_ERR, "no scratch memory for %zu bytes of "
			"diagnostics", len);
		return NULL;
	}
	*h = len + SCRATCH_HEAD;
	return (char *)h + SCRATCH_HEAD;
}

void mem_scratch_free(void *p)
{
	if (!p)
		return;
	size_t *h = (size_t *)((char *)p - SCRATCH_HEAD);
	munmap(h, *h);
}
