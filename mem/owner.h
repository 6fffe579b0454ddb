/*
 * owner.h - who holds a lock or a cache slot, and whether it still runs.
 *
 * An owner is named by an id (a thread id for locks, a process id for
 * cache slots) and a generation, so that a dead owner's recycled id is not
 * taken for the owner itself:
 *
 *     gen = OWNER_GEN_START | (start time of the task, in clock ticks)
 *           when /proc/thread-self/stat could be read, else
 *     gen = a random nonce (OWNER_GEN_START clear)
 *
 * Why this and not a pidfd or the kernel's robust futex list: a pidfd is a
 * descriptor of one process and cannot be shared through the segment; the
 * robust list (FUTEX_OWNER_DIED) has one head per thread, and glibc owns
 * it for its own robust mutexes (LOCK=pthread uses exactly that).  A start
 * time is what the kernel itself uses to tell two tasks with one id apart,
 * and costs nothing while the owner runs.
 *
 * Death (mem_task_dead): kill(id, 0) fails with ESRCH, or /proc/ID/stat
 * says zombie, or it shows another start time than gen records.  Nothing
 * else: an unreadable /proc (a chroot, hidepid, a tmpfs over it) and
 * EPERM mean "alive", so a live owner is never taken over.  Where /proc
 * cannot be read, a recycled id is caught by its new owner itself: a task
 * that finds its own id in a lock it does not hold knows the holder is a
 * dead predecessor (locks are not recursive).
 *
 * Forks of every kind.  The process identity is cached in a page marked
 * MADV_WIPEONFORK: the kernel hands any child (fork(), a raw clone() or
 * syscall(SYS_fork) that bypasses pthread_atfork) a zeroed copy, so the
 * first call in the child computes its own identity; the fast paths only
 * compare two cached words.  Kernels before 4.14 lack it: then
 * pthread_atfork refreshes the cache and a raw clone child keeps its
 * parent's identity (doc/RELIABILITY.md).  Threads keep their own thread
 * id and generation, revalidated against the process's.
 */
#ifndef SRMEM_OWNER_H
#define SRMEM_OWNER_H

#include <stdint.h>
#include <sys/types.h>

#define OWNER_GEN_START 0x80000000u

/* This process: id and generation (start time of the process). */
pid_t mem_self_pid(void);
uint32_t mem_self_pgen(void);
/* This thread: id and generation, for lock words. */
uint32_t mem_self_tid(void);
uint32_t mem_self_tgen(void);

/* The same, on the fast paths (locks, cache slots): inline, a load or
 * two and a compare while the cached identity belongs to this process (a
 * fork wipes the process page, so a child recomputes; see above). */
struct mem_self_proc {
	pid_t pid;              /* 0: not known in this process yet */
	uint32_t pgen;
};
extern struct mem_self_proc *mem_self_page;     /* set once, then fixed */
const struct mem_self_proc *mem_self_proc_slow(void);

static inline const struct mem_self_proc *mem_self_proc(void)
{
	struct mem_self_proc *s = mem_self_page;
	if (__builtin_expect(s && __atomic_load_n(&s->pid, __ATOMIC_ACQUIRE),
			1))
		return s;
	return mem_self_proc_slow();
}

struct mem_self_thread {
	pid_t pid;              /* the process this was computed in; 0: never */
	uint32_t tid;
	uint32_t tgen;
};
extern __thread struct mem_self_thread mem_self_me
	__attribute__((tls_model("initial-exec")));
const struct mem_self_thread *mem_self_thread_slow(void);

static inline const struct mem_self_thread *mem_self_thread(void)
{
	struct mem_self_proc *s = mem_self_page;
	if (__builtin_expect(s && mem_self_me.pid && mem_self_me.pid ==
			__atomic_load_n(&s->pid, __ATOMIC_ACQUIRE), 1))
		return &mem_self_me;
	return mem_self_thread_slow();
}
/* Has the task (id, gen) exited or been replaced by a recycled id? */
int mem_task_dead(uint32_t id, uint32_t gen);
/* Kept for callers that know a pid only: dead by ESRCH or zombie. */
int mem_pid_is_dead(pid_t pid);
/* Is the identity cache wiped on fork by the kernel (raw clones seen)? */
int mem_owner_wipeonfork(void);

#endif /* SRMEM_OWNER_H */
