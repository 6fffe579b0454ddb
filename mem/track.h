/*
 * track.h - tell Valgrind what the pools hand out, defined once.
 *
 * Without these client requests Valgrind sees one big mmap and nothing
 * inside it.  With them every fragment is a heap block to memcheck: reads
 * of never-written bytes are reported, and fragments nobody points to at
 * exit are listed as leaks with the stack that allocated them.
 *
 * A freed fragment is handed back to the allocator as defined memory, since
 * the backend keeps its own links and boundary tags in freed payloads; so
 * memcheck does not see use-after-free here (MEMDBG's tags report double
 * frees instead).  Outside Valgrind each request costs a few instructions;
 * HAVE_VALGRIND=0 (no valgrind.h) compiles them away.
 */
#ifndef SRMEM_TRACK_H
#define SRMEM_TRACK_H

#if HAVE_VALGRIND
#include <valgrind/memcheck.h>
#define track_alloc(p, n)  VALGRIND_MALLOCLIKE_BLOCK((p), (n), 0, 0)
#define track_free(p, n) \
	do { VALGRIND_FREELIKE_BLOCK((p), 0); \
	     VALGRIND_MAKE_MEM_DEFINED((p), (n)); } while (0)
#define track_resize(p, old, n) \
	VALGRIND_RESIZEINPLACE_BLOCK((p), (old), (n), 0)
#else
/* Arguments are not evaluated: a size computed only for Valgrind costs
 * nothing here. */
#define track_alloc(p, n)       do { } while (0)
#define track_free(p, n)        do { } while (0)
#define track_resize(p, old, n) do { } while (0)
#endif

#endif /* SRMEM_TRACK_H */
