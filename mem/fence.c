/*
 * fence.c - the asymmetric fence (fence.h) over membarrier(2).
 *
 * mem_fence_others() asks for MEMBARRIER_CMD_GLOBAL_EXPEDITED, which
 * interrupts only the CPUs running a process registered with
 * MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED (mem_fence_join()); should the
 * kernel refuse it, MEMBARRIER_CMD_GLOBAL, which waits for every CPU to
 * pass through a barrier and needs no registration.  Registration is per
 * address space: fork() gives the child a new one, which is not
 * registered, so joining is remembered per pid.
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fence.h"

static int membarrier(int cmd)
{
#ifdef __NR_membarrier
	return (int)syscall(__NR_membarrier, cmd, 0, 0);
#else
	(void)cmd;
	errno = ENOSYS;
	return -1;
#endif
}

#define FENCE_NEEDS (MEMBARRIER_CMD_GLOBAL_EXPEDITED | \
	MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED)

int mem_fence_available(void)
{
	static int known = -1;
	int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
	if (k < 0) {
		int cmds = membarrier(MEMBARRIER_CMD_QUERY);
		k = cmds > 0 && (cmds & FENCE_NEEDS) == FENCE_NEEDS;
		__atomic_store_n(&known, k, __ATOMIC_RELAXED);
	}
	return k;
}

int mem_fence_join(void)
{
	static pid_t joined;    /* the pid that registered */
	pid_t me = getpid();
	if (__atomic_load_n(&joined, __ATOMIC_ACQUIRE) == me)
		return 0;
	if (!mem_fence_available() ||
	    membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) < 0)
		return -1;
	__atomic_store_n(&joined, me, __ATOMIC_RELEASE);
	return 0;
}

int mem_fence_others(void)
{
	if (membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0)
		return 0;
	return membarrier(MEMBARRIER_CMD_GLOBAL) == 0 ? 0 : -1;
}
