/*
 * fence.h - the asymmetric fence: a full memory barrier run on the CPUs
 * of other processes, on request (membarrier(2)).
 *
 * A lock whose holder is nearly always the same thread can let that
 * thread take it with plain stores, if the rare other taker pays for the
 * ordering instead (the slot holds of the shm caches, cache.c):
 *
 *     frequent side (no atomic)       rare side
 *     store  busy = 1                 store  req = 1
 *     load   req     (0: inside)      mem_fence_others()
 *     ...                             load   busy    (0: nobody inside)
 *     store  busy = 0 (release)
 *
 * On its own the frequent side's store may still sit in its CPU's store
 * buffer when its load reads req: both could see 0.  mem_fence_others()
 * makes every CPU that runs a process which joined execute a full
 * barrier before it returns, so that either the frequent side's store is
 * visible to the rare side's load or its load comes after the barrier
 * and sees req = 1.  A process that is not running has passed through
 * the kernel's context switch, a full barrier too.
 *
 * Costs (Linux 6.18, 2-CPU guest): a fence 0.2 us with
 * MEMBARRIER_CMD_GLOBAL_EXPEDITED; without it the kernel's
 * MEMBARRIER_CMD_GLOBAL, 12 ms.  Joining is one system call per process.
 */
#ifndef SRMEM_FENCE_H
#define SRMEM_FENCE_H

/* May this kernel fence other processes quickly?  1 yes (asked once). */
int mem_fence_available(void);

/* This process's CPUs take part in other processes' fences from now on
 * (once per process: a forked child joins again).  0, or -1 when the
 * kernel refuses: then the process must not rely on being fenced. */
int mem_fence_join(void);

/* A full barrier on every CPU running a process that joined, done when
 * this returns.  0, or -1 when the kernel refuses both ways. */
int mem_fence_others(void);

#endif /* SRMEM_FENCE_H */
