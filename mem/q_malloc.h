/*
 * q_malloc.h - q_malloc ("qm"), the careful backend: boundary tags with
 * guard words on every fragment.  See q_malloc.c for the design.
 *
 * The only entry point is the table mem_qm_backend (declared in backend.h).
 * The constants below are the layout a user of the table can rely on (the
 * unit tests use them to aim their corruption at the guards):
 *
 *   | size|F | hcheck | payload: usable bytes ........... | fcheck | size|F |
 *   ^ fragment          ^ payload (16-aligned)              ^ footer, right
 *                                                             after the
 *                                                             usable bytes
 */
#ifndef SRMEM_Q_MALLOC_H
#define SRMEM_Q_MALLOC_H

#include "backend.h"

#define QM_HDR_SIZE     16u   /* {size|flags, check} before the payload */
#define QM_FOOT_SIZE    16u   /* {check, size|flags} after the usable bytes */
#define QM_OVERHEAD     (QM_HDR_SIZE + QM_FOOT_SIZE)
/* Smallest usable size: a free fragment keeps 16 bytes of list links and,
 * in MEMDBG builds, the common layer's free records (payload + 16 .. + 48)
 * clear of its footer; rounded up to MEM_ALIGN.  Without MEMDBG there are
 * no records, so no debug cost: the links alone. */
#if MEMDBG
#define QM_MIN_USABLE   48u
#else
#define QM_MIN_USABLE   16u
#endif
#define QM_MIN_FRAG     (QM_MIN_USABLE + QM_OVERHEAD)
/* Usable sizes up to this have one exact free list per 16 bytes. */
#define QM_EXACT_MAX    4096u

#endif /* SRMEM_Q_MALLOC_H */
