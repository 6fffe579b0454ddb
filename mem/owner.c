/*
 * owner.c - identities of processes and threads, and the death test (see
 * owner.h for the scheme and why it was chosen).  Costs: the fast paths
 * read two cached words; a new process or thread reads /proc once for its
 * start time (one open and one read); a death test is one kill() and one
 * read of /proc/ID/stat, run only by a waiter every LOCK_CHECK_MS or by a
 * reclaimer.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "owner.h"

static struct mem_self_proc *self;          /* a wipe-on-fork page */
static struct mem_self_proc self_fallback;  /* when the page is not to be had */
static int wipeonfork;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;
__thread struct mem_self_thread mem_self_me
	__attribute__((tls_model("initial-exec")));
struct mem_self_proc *mem_self_page;    /* self, once it is set */

/* --- /proc/ID/stat ------------------------------------------------------- */

/* State letter and start time (field 22) of a task; -1 if unreadable. */
static int read_stat(const char *path, char *state, uint64_t *start)
{
	char buf[512];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');  /* comm may hold spaces, ')' */
	if (!p || p[1] != ' ')
		return -1;
	*state = p[2];
	for (int field = 3; field <= 22; field++)   /* the space before it */
		if (!(p = strchr(p + 1, ' ')))
			return -1;
	*start = strtoull(p + 1, NULL, 10);
	return 0;
}

static uint32_t gen_of_start(uint64_t start)
{
	return OWNER_GEN_START | (uint32_t)(start & ~OWNER_GEN_START);
}

/* Our own generation: a start time, or a nonce where /proc is closed. */
static uint32_t gen_of_self(const char *path, uint32_t id)
{
	char state;
	uint64_t start;
	if (read_stat(path, &state, &start) == 0)
		return gen_of_start(start);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
		((uint64_t)id * 0x9e3779b97f4a7c15ull);
	x ^= x >> 29;
	return (uint32_t)(x ^ (x >> 32)) & ~OWNER_GEN_START;
}

/* --- this process and thread --------------------------------------------- */

static void forget_fallback(void)
{
	__atomic_store_n(&self_fallback.pid, 0, __ATOMIC_RELEASE);
}

static void self_setup(void)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
#ifdef MADV_WIPEONFORK
	if (p != MAP_FAILED && madvise(p, (size_t)page, MADV_WIPEONFORK) == 0) {
		self = p;
		wipeonfork = 1;
		return;
	}
#endif
	if (p != MAP_FAILED)
		munmap(p, (size_t)page);
	self = &self_fallback;
	pthread_atfork(NULL, NULL, forget_fallback);
}

static void self_publish(void)
{
	self_setup();
	__atomic_store_n(&mem_self_page, self, __ATOMIC_RELEASE);
}

static struct mem_self_proc *self_get(void)
{
	if (__builtin_expect(!self, 0))
		pthread_once(&self_once, self_publish);
	if (__builtin_expect(!__atomic_load_n(&self->pid, __ATOMIC_ACQUIRE), 0)) {
		pid_t pid = getpid();
		self->pgen = gen_of_self("/proc/self/stat", (uint32_t)pid);
		__atomic_store_n(&self->pid, pid, __ATOMIC_RELEASE);
	}
	return self;
}

const struct mem_self_proc *mem_self_proc_slow(void)
{
	return self_get();
}

pid_t mem_self_pid(void)
{
	return self_get()->pid;
}

uint32_t mem_self_pgen(void)
{
	return self_get()->pgen;
}

static struct mem_self_thread *thread_get(void)
{
	struct mem_self_proc *s = self_get();
	if (__builtin_expect(mem_self_me.pid != s->pid, 0)) {
		uint32_t tid = (uint32_t)syscall(SYS_gettid);
		mem_self_me.tgen = tid == (uint32_t)s->pid ? s->pgen :
			gen_of_self("/proc/thread-self/stat", tid);
		mem_self_me.tid = tid;
		mem_self_me.pid = s->pid;
	}
	return &mem_self_me;
}

const struct mem_self_thread *mem_self_thread_slow(void)
{
	return thread_get();
}

uint32_t mem_self_tid(void)
{
	return thread_get()->tid;
}

uint32_t mem_self_tgen(void)
{
	return thread_get()->tgen;
}

int mem_owner_wipeonfork(void)
{
	self_get();
	return wipeonfork;
}

/* --- others -------------------------------------------------------------- */

int mem_task_dead(uint32_t id, uint32_t gen)
{
	char path[64], state;
	uint64_t start;
	if (id == 0 || id > 0x3fffffffu)
		return 0;
	if (kill((pid_t)id, 0) < 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%u/stat", id);
	if (read_stat(path, &state, &start) < 0)
		return 0;       /* no /proc, hidepid: alive as far as we know */
	if (state == 'Z' || state == 'X')
		return 1;
	return (gen & OWNER_GEN_START) && gen_of_start(start) != gen;
}

int mem_pid_is_dead(pid_t pid)
{
	return mem_task_dead((uint32_t)pid, 0);
}
