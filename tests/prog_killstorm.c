/*
 * prog_killstorm.c - the kill storm (doc/RELIABILITY.md, "Kill storm"):
 * under a multi-process load with the per-process shm caches on, SIGKILL
 * a random worker at a random moment, trial after trial, and after each
 * trial verify what srmem promises when a process dies anywhere.
 *
 *   prog_killstorm BACKEND TRIALS [SEED]
 *
 * KS_VERBOSE=1 prints each victim's place as the driver found it ("kill:
 * pid P in FUNCTION (FILE), holding the global lock, ...") on stderr, so
 * that the kill before a failed trial can be read off the log; KS_DUMP=1
 * prints, after the first failed trial, each broken fragment the walk
 * meets with the raw words around its header ("DUMP ...").  The two
 * found q_malloc's torn header (RELIABILITY.md, "Kill storm").
 *
 * Workload.  One 32 MiB shm pool of BACKEND.  Each trial forks WORKERS
 * processes (a cache budget of 128 KiB each, so that flushes and refills
 * come often); each keeps up to NP fragments in a table of its own in shm
 * and loops: allocate (16 B..2 KiB through the cache, 4..64 KiB, and one
 * in 16 of 100..400 KiB through the global lock), free, realloc, and now
 * and then shm_cache_reclaim() or shm_cache_drain() (which drains other
 * processes' slots).  After 1..8 ms the driver stops a random worker
 * with SIGSTOP, notes where it is (below), and SIGKILLs it; in one trial
 * in six a second worker is killed 0..25 ms later, while the survivors
 * may be taking the first one's locks over (a sleeper looks at a holder
 * every LOCK_CHECK_MS, 20 ms) and reclaiming its slot; in two in six,
 * when the first victim held the global lock, the worker that takes it
 * over is killed as soon as the driver sees the takeover (it is in
 * recovery then, or just done: deaths in a row).  The survivors run
 * 25 ms after the first kill, then free every fragment in their tables,
 * reclaim and exit; the driver frees what the dead had in theirs.
 *
 * After every trial:
 *   hangs    a survivor that has not exited 10 s after being told to stop
 *            (killed then, and counted);
 *   aborts   a survivor or the driver killed by any signal but ours;
 *   lost     after every cache is drained, a used fragment nobody holds
 *            beyond what a dead process had in its hands (a call in
 *            progress: at most one fragment, two for a realloc) and
 *            used_size above the baseline: bytes lost (any "cached"
 *            fragment left after the drain is lost too);
 *   check    mem_check() reports nothing.
 * What was in the dead process's hands is freed by the driver, so the
 * next trial starts from the baseline exactly.
 *
 * Where the victims were.  Timing-based: the kill moment is random, and
 * the point is found afterwards, not forced.  The stopped victim's
 * program counter (/proc/PID/syscall) is looked up in the program's
 * symbol table (nm -l: the source file of the function), and the shared
 * state says which locks it holds and which operation was in flight:
 *   backend      pc in tlsf.c, f_malloc.c or q_malloc.c (a split or a
 *                join may be half done);
 *   flush        it holds the global lock while a chain of its slot (or
 *                of the slot it drains) is on its way to the heap;
 *   refill       a refill's cut in progress (cutting), or pc in cache.c
 *                holding the global lock with its own slot locked;
 *   slot lock    it holds a slot lock;
 *   reclaim      it holds another process's slot lock (draining it);
 *   global lock  it holds the global lock;
 *   recovery     pc in the recovery code (rebuild, the checker) or a
 *                takeover in progress;
 *   in a syscall waiting (futex), or none of the above.
 * A kill counts in every row that applies.
 *
 * Output: one line per trial that failed (with why), then a summary: trials,
 * kills, hangs, aborts, bytes lost, orphans freed, the longest lock
 * takeover (lock statistics: how long a waiter waited for a dead owner
 * before it took over) and the longest single shm call of a survivor,
 * and the kills per point.  Exit status 0 when every trial passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "killtest.h"

#define POOL ((size_t)32 << 20)
#define WORKERS 4
#define NP 192
#define STOP_WAIT_MS 10000
/* The survivors run this long after the first kill: a sleeper notices a
 * dead lock holder within LOCK_CHECK_MS, so a second kill in this window
 * may fall into a takeover, a recovery or a reclaim. */
#define AFTER_US ((LOCK_CHECK_MS + 5) * 1000)
/* A small cache budget: flushes and refills come often. */
#define CACHE_BUDGET ((size_t)128 << 10)

struct wtab {
	void *p[NP];
	volatile uint32_t pending;      /* 1: a call in progress; 2: realloc */
	uint64_t max_call_ns;
};

struct shared {
	volatile int stop;
	struct wtab w[WORKERS];
};

static struct shared *sh;

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* --- the workers ---------------------------------------------------------- */

static size_t pick_size(uint64_t *x)
{
	uint64_t r = kt_rnd(x);
	switch (r % 16) {
	case 0:
		return 100000 + (size_t)(r >> 8) % 300000;
	case 1: case 2:
		return 4096 + (size_t)(r >> 8) % 61440;
	default:
		return 16 + (size_t)(r >> 8) % 2032;
	}
}

/* One operation on slot k of the table: the table entry is cleared before
 * a free and set after an allocation, pending covers the gap. */
static void op(struct wtab *t, unsigned k, uint64_t *x)
{
	void *p = t->p[k];
	uint64_t r = kt_rnd(x) % 64;
	if (r == 0) {
		shm_cache_reclaim();
	} else if (r == 1 && kt_rnd(x) % 4 == 0) {
		shm_cache_drain();
	} else if (!p) {
		t->pending = 1;
		t->p[k] = shm_malloc(pick_size(x));
		t->pending = 0;
	} else if (r < 8) {
		t->pending = 2;
		t->p[k] = NULL;
		t->p[k] = shm_realloc(p, pick_size(x));
		if (!t->p[k])
			shm_free(p);
		t->pending = 0;
	} else {
		t->pending = 1;
		t->p[k] = NULL;
		shm_free(p);
		t->pending = 0;
	}
}

static void table_free(struct wtab *t)
{
	for (unsigned k = 0; k < NP; k++) {
		void *p = t->p[k];
		t->p[k] = NULL;
		shm_free(p);
	}
}

/* A worker that crashes prints where (the abort is counted by reap()). */
static void crashed(int sig)
{
	void *pc[32];
	int n = backtrace(pc, 32);
	dprintf(2, "  worker %d: signal %d at:\n", (int)getpid(), sig);
	backtrace_symbols_fd(pc, n, 2);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void worker(int i, uint64_t seed)
{
	struct wtab *t = &sh->w[i];
	uint64_t x = seed;
	signal(SIGSEGV, crashed);
	signal(SIGBUS, crashed);
	signal(SIGABRT, crashed);
	while (!sh->stop) {
		uint64_t t0 = now_ns();
		op(t, (unsigned)(kt_rnd(&x) % NP), &x);
		uint64_t d = now_ns() - t0;
		if (d > t->max_call_ns)
			t->max_call_ns = d;
	}
	table_free(t);
	shm_cache_reclaim();
	_exit(0);
}

/* --- where a victim was ----------------------------------------------------- */

struct sym {
	uintptr_t addr;
	char file[24];
	char name[40];
};

static struct sym *syms;
static size_t nsyms;
static uintptr_t exe_base;

/* The program's functions with their source files, from nm -l. */
static void load_symbols(void)
{
	char cmd[256], line[512], exe[200];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	FILE *m = fopen("/proc/self/maps", "r");
	if (n <= 0 || !m)
		return;
	exe[n] = 0;
	while (fgets(line, sizeof(line), m)) {
		unsigned long lo, off;
		if (strstr(line, exe) && sscanf(line, "%lx-%*x %*s %lx", &lo,
				&off) == 2 && off == 0) {
			exe_base = lo;
			break;
		}
	}
	fclose(m);
	snprintf(cmd, sizeof(cmd), "nm -n -l --defined-only %s 2>/dev/null",
		exe);
	FILE *f = popen(cmd, "r");
	size_t cap = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long a;
		char type, name[200], where[300] = "";
		if (sscanf(line, "%lx %c %199s %299s", &a, &type, name,
				where) < 3 || (type != 't' && type != 'T'))
			continue;
		if (nsyms == cap && !(syms = realloc(syms, (cap = cap * 2 + 256) *
				sizeof(*syms))))
			break;
		struct sym *s = &syms[nsyms++];
		const char *base = strrchr(where, '/');
		s->addr = exe_base + a;
		snprintf(s->name, sizeof(s->name), "%.39s", name);
		snprintf(s->file, sizeof(s->file), "%.23s", base ? base + 1 :
			"");
		char *colon = strchr(s->file, ':');
		if (colon)
			*colon = 0;
	}
	if (f)
		pclose(f);
}

static const struct sym *sym_of(uintptr_t pc)
{
	size_t lo = 0, hi = nsyms;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (syms[mid].addr <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &syms[lo - 1] : NULL;
}

enum point {
	P_BACKEND, P_FLUSH, P_REFILL, P_SLOT, P_RECLAIM, P_GLOBAL, P_RECOVERY,
	P_SYSCALL, P_NONE, P_UNKNOWN, NPOINTS
};

static const char *const point_name[NPOINTS] = {
	"inside the backend", "in a cache flush (chain in flight)",
	"in a refill (cut in flight)", "holding a slot lock",
	"reclaiming or draining another's slot", "holding the global lock",
	"in recovery (rebuild, check, takeover)", "waiting in a syscall",
	"none of the above (own code, cache hit)", "pc unknown",
};

static uint64_t kills_at[NPOINTS];

static int file_is(const struct sym *s, const char *f)
{
	return s && !strcmp(s->file, f);
}

static int in_recovery_code(const struct sym *s)
{
	return s && (file_is(s, "status.c") || file_is(s, "damage.c") ||
		strstr(s->name, "rebuild") || strstr(s->name, "recover") ||
		strstr(s->name, "take_from_dead"));
}

/* The stopped victim's pc, or 0; *sys: it is in a system call.  The file
 * reads "-1 SP PC" outside a system call, "NR A1..A6 SP PC" inside one. */
static uintptr_t victim_pc(pid_t pid, int *sys)
{
	char path[64], buf[320], *tok[10], *save = NULL;
	int n = 0;
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	FILE *f = fopen(path, "r");
	*sys = 0;
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	for (char *w = strtok_r(buf, " \n", &save); w && n < 10;
			w = strtok_r(NULL, " \n", &save))
		tok[n++] = w;
	if (n != 3 && n != 9)
		return 0;
	*sys = n == 9;
	return (uintptr_t)strtoull(tok[n - 1], NULL, 16);
}

static int holds(pid_t owner, pid_t pid)
{
	return owner == pid;
}

/* Note every point the stopped victim is at. */
static void classify(pid_t pid)
{
	struct mem_pool *pool = mem_shm_pool;
	struct mem_cache *c = pool->cache;
	int sys, any = 0, global = holds(mem_lock_owner(pool->lock), pid);
	uintptr_t pc = victim_pc(pid, &sys);
	const struct sym *s = pc ? sym_of(pc) : NULL;
	int mark[NPOINTS] = { 0 };
	mark[P_GLOBAL] = global;
	mark[P_BACKEND] = file_is(s, "tlsf.c") || file_is(s, "f_malloc.c") ||
		file_is(s, "q_malloc.c");
	mark[P_RECOVERY] = in_recovery_code(s);
	mark[P_SYSCALL] = sys;
	for (unsigned i = 0; c && i < CACHE_SLOTS; i++) {
		struct cache_slot *sl = &c->slot[i];
		if (!kt_holds_slot(sl, pid))
			continue;
		mark[P_SLOT] = 1;
		if ((pid_t)(uint32_t)sl->owner != pid)
			mark[P_RECLAIM] = 1;
		if (global && (sl->held || sl->freeing))
			mark[P_FLUSH] = 1;
		if (sl->cutting || (global && file_is(s, "cache.c") &&
				(pid_t)(uint32_t)sl->owner == pid && !sl->held))
			mark[P_REFILL] = 1;
	}
	if (getenv("KS_VERBOSE"))       /* where each trial's victim was */
		fprintf(stderr, "kill: pid %d in %s (%s)%s%s%s%s%s\n",
			(int)pid, s ? s->name : "?", s ? s->file : "?",
			sys ? ", in a syscall" : "",
			global ? ", holding the global lock" : "",
			mark[P_SLOT] ? ", holding a slot lock" : "",
			mark[P_REFILL] ? ", cutting for a refill" : "",
			mark[P_FLUSH] ? ", flushing" : "");
	for (int p = 0; p < P_NONE; p++)
		if (mark[p]) {
			kills_at[p]++;
			any = 1;
		}
	if (!any)
		kills_at[pc ? P_NONE : P_UNKNOWN]++;
}

/* --- a trial ---------------------------------------------------------------- */

struct totals {
	uint64_t trials, kills, hangs, aborts, failed, lost_bytes, orphans;
	uint64_t max_call_ns;
};

static struct kt_sweep base;
static uint64_t base_used;

static pid_t spawn_worker(int i, uint64_t seed)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		worker(i, seed);
	return pid;
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = { (time_t)(us / 1000000),
		(long)(us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Stop the victim, note where it is, kill it; its allowance of fragments
 * in its hands. */
static unsigned kill_victim(pid_t pid, int i, struct totals *t)
{
	int st;
	kill(pid, SIGSTOP);
	waitpid(pid, &st, WUNTRACED);
	classify(pid);
	unsigned allow = sh->w[i].pending;
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	t->kills++;
	return allow;
}

/* A survivor that did not stop: where it waits, and who holds what. */
static void hang_report(pid_t pid)
{
	struct mem_cache *c = mem_shm_pool->cache;
	int sys, st;
	kill(pid, SIGSTOP);
	waitpid(pid, &st, WUNTRACED);
	uintptr_t pc = victim_pc(pid, &sys);
	const struct sym *s = pc ? sym_of(pc) : NULL;
	printf("  worker %d hung at %#lx %s (%s)%s; global lock held by %d\n",
		(int)pid, (unsigned long)pc, s ? s->name : "?", s ? s->file : "?",
		sys ? " in a system call" : "",
		(int)mem_lock_owner(mem_shm_pool->lock));
	for (unsigned i = 0; c && i < CACHE_SLOTS; i++) {
		if (mem_plock_owner(&c->slot[i].lock))
			printf("    slot %u (owner %d) locked by %d\n", i,
				(int)(uint32_t)c->slot[i].owner,
				(int)mem_plock_owner(&c->slot[i].lock));
		if (c->slot[i].busy)
			printf("    slot %u (owner %d) held fast by %d%s\n", i,
				(int)(uint32_t)c->slot[i].owner,
				(int)(uint32_t)c->slot[i].fast,
				c->slot[i].req ? ", stopped" : "");
	}
}

/* Wait for the survivors; 1 per hang, aborts counted. */
static void reap(pid_t *pid, int *dead, struct totals *t, int *bad)
{
	uint64_t deadline = now_ns() + (uint64_t)STOP_WAIT_MS * 1000000;
	for (int i = 0; i < WORKERS; i++) {
		int st = 0;
		pid_t r = 0;
		if (dead[i])
			continue;
		while ((r = waitpid(pid[i], &st, WNOHANG)) == 0 &&
				now_ns() < deadline)
			sleep_us(1000);
		if (r == 0) {
			hang_report(pid[i]);
			kill(pid[i], SIGKILL);
			waitpid(pid[i], &st, 0);
			t->hangs++;
			*bad = 1;
			printf("  worker %d hung\n", (int)pid[i]);
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			t->aborts++;
			*bad = 1;
			printf("  worker %d: %s %d\n", (int)pid[i],
				WIFEXITED(st) ? "exit status" : "signal",
				WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		}
	}
}

/* After a trial: the orphans a dead process had in its hands are freed
 * (allow of them at most), the rest is lost; the checker runs. */
static void settle(unsigned allow, struct totals *t, int *bad)
{
	struct kt_sweep *w = &base;
	uint64_t used = kt_settle(w);
	t->orphans += w->orphans;
	if (w->orphans > allow || w->cached || used != base_used) {
		printf("  lost: %llu orphans (allowed %u), %llu cached after "
			"the drain, used %llu vs %llu\n",
			(unsigned long long)w->orphans, allow,
			(unsigned long long)w->cached,
			(unsigned long long)used, (unsigned long long)base_used);
		t->lost_bytes += used > base_used ? used - base_used : 0;
		*bad = 1;
		base_used = used;       /* go on from here */
	}
	struct mem_check_result r;
	if (mem_check_ex(mem_shm_pool, &r)) {
		printf("  heap check: %d problems (%d structure)\n",
			r.problems, r.structure);
		*bad = 1;
	}
}

/* A second victim: in one trial in six, a random worker at a random
 * moment of the next AFTER_US; in two in six, the worker that takes the
 * first victim's global lock over, as soon as it has (when the first
 * held it: the taker is in recovery now).  -1: none. */
static int second_victim(uint64_t *x, const pid_t *pid, int v)
{
	uint64_t r = kt_rnd(x) % 6;
	if (r >= 3)
		return -1;
	if (r == 0) {
		sleep_us(kt_rnd(x) % AFTER_US);
		return (int)((v + 1 + kt_rnd(x) % (WORKERS - 1)) % WORKERS);
	}
	struct mem_lock *lk = mem_shm_pool->lock;
	uint32_t seen = mem_lock_recoveries(lk);
	uint64_t end = now_ns() + 4 * AFTER_US * 1000ull;
	while (now_ns() < end) {
		if (mem_lock_recoveries(lk) != seen) {
			pid_t owner = mem_lock_owner(lk);
			for (int i = 0; i < WORKERS; i++)
				if (i != v && pid[i] == owner)
					return i;
			break;
		}
	}
	return -1;
}

static int dumped;
static const void *dump_prev;

/* KS_DUMP: the fragments around the first broken place, raw words too. */
static int dump_frag(const struct mem_frag *f, void *arg)
{
	(void)arg;
	if (f->broken || f->hole || f->header_broken) {
		const uint64_t *w = (const uint64_t *)((const char *)f->addr - 64);
		printf("DUMP prev %p; frag %p size %llu req %llu used %d cached "
			"%d broken %d hdr_broken %d hole %d\n", dump_prev, f->addr,
			(unsigned long long)f->size,
			(unsigned long long)f->req_size, f->used, f->cached,
			f->broken, f->header_broken, f->hole);
		for (int k = 0; k < 24; k++)
			printf("DUMP %p: %016llx\n", (const void *)&w[k],
				(unsigned long long)w[k]);
	}
	dump_prev = f->addr;
	return 0;
}

static void trial(uint64_t *x, struct totals *t)
{
	pid_t pid[WORKERS];
	int dead[WORKERS] = { 0 }, bad = 0;
	unsigned allow = 0;
	sh->stop = 0;
	for (int i = 0; i < WORKERS; i++)
		pid[i] = spawn_worker(i, kt_rnd(x));
	sleep_us(1000 + kt_rnd(x) % 7000);
	int v = (int)(kt_rnd(x) % WORKERS);
	allow += kill_victim(pid[v], v, t);
	dead[v] = 1;
	uint64_t t0 = now_ns();
	int v2 = second_victim(x, pid, v);
	if (v2 >= 0) {
		allow += kill_victim(pid[v2], v2, t);
		dead[v2] = 1;
	}
	for (int i = 0; i < WORKERS; i++)
		if (dead[i])
			table_free(&sh->w[i]);
	uint64_t spent = (now_ns() - t0) / 1000;
	sleep_us(spent < AFTER_US ? AFTER_US - spent : 0);
	sh->stop = 1;
	reap(pid, dead, t, &bad);
	for (int i = 0; i < WORKERS; i++) {
		if (sh->w[i].max_call_ns > t->max_call_ns && !dead[i])
			t->max_call_ns = sh->w[i].max_call_ns;
		sh->w[i].max_call_ns = 0;
		sh->w[i].pending = 0;
	}
	settle(allow, t, &bad);
	/* settle() freed what a crashed survivor left in its table: no
	 * worker of the next trial may free it again */
	for (int i = 0; i < WORKERS; i++)
		memset(sh->w[i].p, 0, sizeof(sh->w[i].p));
	t->trials++;
	t->failed += bad;
	if (bad)
		printf("trial %llu failed\n", (unsigned long long)t->trials);
	if (bad && getenv("KS_DUMP") && !dumped++)
		mem_walk(mem_shm_pool, dump_frag, NULL);
}

static void report(const char *backend, const struct totals *t)
{
	struct mem_lock_stats ls;
	double take = shm_lock_stats(&ls) == 0 ?
		(double)ls.total.takeover_max_ns / 1e6 : -1;
	printf("killstorm %s (%s): trials %llu, kills %llu, failed %llu, "
		"hangs %llu, aborts %llu, bytes lost %llu, orphans freed %llu\n",
		backend, mem_build_info(), (unsigned long long)t->trials,
		(unsigned long long)t->kills, (unsigned long long)t->failed,
		(unsigned long long)t->hangs, (unsigned long long)t->aborts,
		(unsigned long long)t->lost_bytes,
		(unsigned long long)t->orphans);
	printf("  longest takeover %.2f ms (%u dead owners taken over); "
		"longest shm call of a survivor %.2f ms\n", take,
		ls.recoveries, (double)t->max_call_ns / 1e6);
	for (int p = 0; p < NPOINTS; p++)
		printf("  %-40s %llu\n", point_name[p],
			(unsigned long long)kills_at[p]);
}

/* The driver's own log: reports of recoveries are expected, one line
 * each is too many for thousands of trials; they are counted. */
static uint64_t log_lines[8];

static void quiet_log(int level, const char *msg)
{
	(void)msg;
	log_lines[level & 7]++;
	if (level <= 3)     /* critical and errors: the trace of a failure */
		fprintf(stderr, "srmem: %s: %s\n", level <= 2 ? "CRITICAL" :
			"ERROR", msg);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: prog_killstorm BACKEND TRIALS [SEED]\n");
		return 2;
	}
	uint64_t x = argc > 3 ? strtoull(argv[3], NULL, 0) : 1;
	long trials = atol(argv[2]);
	struct totals t = { 0 };
	mem_set_log(quiet_log);
	shm_cache_size = CACHE_BUDGET;
	if (shm_init(POOL, argv[1]) < 0)
		return 2;
	if (!mem_shm_pool->cache)
		printf("(no per-process caches in this build)\n");
	load_symbols();
	sh = shm_mallocxz(sizeof(*sh));
	if (!sh)
		return 2;
	base_used = kt_used_now();
	kt_baseline(&base);
	for (long k = 0; k < trials; k++)
		trial(&x, &t);
	report(argv[1], &t);
	printf("  log lines: %llu critical, %llu errors, %llu warnings\n",
		(unsigned long long)log_lines[2],
		(unsigned long long)log_lines[3],
		(unsigned long long)log_lines[4]);
	shm_free(sh);
	shm_destroy();
	free(syms);
	return t.failed ? 1 : 0;
}
