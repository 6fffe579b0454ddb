/*
 * membench.c - the driver of BENCH.md's fixed benchmark suite.
 *
 *   membench [--alloc A[,B..]] [--workload W[,W..]] [--runs N]
 *            [--scale F] [--seed S] [--timeout SEC] [--json]
 *            [--json-out FILE]
 *   membench --list
 *
 * For every workload the driver runs each allocator --runs times, each
 * run in a fresh process: it fork/execs the worker binary that has the
 * allocator linked in (membench-srmem for fm/qm/tlsf, membench-glibc,
 * -jemalloc, -mimalloc, -tcmalloc), one run of one allocator at a time,
 * interleaved (A B C A B C ...) so that drift of the machine hits every
 * allocator alike.  The worker prints its metrics; the driver keeps one
 * value per run and reports the median with min and max (report.c).
 * "harness" (the worker's `none` allocator: PRNG, loop and byte writes,
 * no allocator) runs alongside in W1-W3 to show the harness's own cost.
 *
 * A worker binary that was not built (its library is not installed) is
 * skipped with a note, never an error.  A run that fails or outlives
 * --timeout is killed with its process group and counted as failed.
 * So is a run whose workers reported a library error: a worker's stderr
 * (its forked W3/W4 team's too) goes to a scratch file, which the driver
 * copies to its own stderr after the run, counting the library's reports
 * of level error or worse ("srmem: level 0..3: ..." from the worker's log
 * hook, "srmem: ERROR: ..." from the default one).  A wrong report under
 * load is a finding, not noise: the tables count them per cell and the
 * exit status is 1 when any run failed.
 * Progress goes to stderr (one updating line on a terminal).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"

const struct alloc_def alloc_defs[NALLOCS] = {
	{ "tlsf", "membench-srmem", "tlsf", K_OURS },
	{ "fm", "membench-srmem", "f_malloc", K_OURS },
	{ "qm", "membench-srmem", "q_malloc", K_OURS },
	{ "tlsf-lock", "membench-srmem", "tlsf, global lock only", K_LOCKED },
	{ "fm-lock", "membench-srmem", "f_malloc, global lock only", K_LOCKED },
	{ "qm-lock", "membench-srmem", "q_malloc, global lock only", K_LOCKED },
	{ "tlsf-nofill", "membench-srmem", "tlsf, no write-after-free fill",
		K_OURS },
	{ "tlsf-noq", "membench-srmem", "tlsf, frees at once (no queues)",
		K_OURS },
	{ "fm-noq", "membench-srmem", "f_malloc, frees at once (no queues)",
		K_OURS },
	{ "qm-noq", "membench-srmem", "q_malloc, frees at once (no queues)",
		K_OURS },
	{ "tlsf-4k", "membench-srmem", "tlsf, 4 KiB pages", K_OURS },
	{ "fm-4k", "membench-srmem", "f_malloc, 4 KiB pages", K_OURS },
	{ "qm-4k", "membench-srmem", "q_malloc, 4 KiB pages", K_OURS },
	{ "tlsf-slab", "membench-srmem", "tlsf, small objects in spans",
		K_OURS },
	{ "fm-slab", "membench-srmem", "f_malloc, small objects in spans",
		K_OURS },
	{ "qm-slab", "membench-srmem", "q_malloc, small objects in spans",
		K_OURS },
	{ "glibc", "membench-glibc", "glibc malloc", K_SYS },
	{ "jemalloc", "membench-jemalloc", "jemalloc", K_SYS },
	{ "mimalloc", "membench-mimalloc", "mimalloc", K_SYS },
	{ "tcmalloc", "membench-tcmalloc", "tcmalloc", K_SYS },
	{ "none", "membench-glibc", "harness (no allocator)", K_HARNESS },
};
#define HARNESS (NALLOCS - 1)

/* --- what each workload is, at this scale -------------------------------- */

static void count(char *buf, size_t len, double n)
{
	if (n >= 1e6)
		snprintf(buf, len, "%g M", n / 1e6);
	else if (n >= 1e3)
		snprintf(buf, len, "%g k", n / 1e3);
	else
		snprintf(buf, len, "%g", n);
}

#define SCALED(n) ((double)(uint64_t)((n) * scale + 0.5))

static void describe_w1(char *buf, size_t len, double scale)
{
	char n[32];
	count(n, sizeof(n), SCALED(1e6));
	snprintf(buf, len, "pool 256 MiB; N = %s blocks of 64 B; fill, free "
		"FIFO / LIFO / random", n);
}

static void describe_w2(char *buf, size_t len, double scale)
{
	char n[32];
	count(n, sizeof(n), SCALED(1e7));
	snprintf(buf, len, "pool 256 MiB; L = 50,000 slots; %s ops of the "
		"SIP size mix", n);
}

static void describe_w3(char *buf, size_t len, double scale)
{
	char n[32];
	count(n, sizeof(n), SCALED(2e6));
	snprintf(buf, len, "shared pool 512 MiB made before fork; P forked "
		"workers, each W2 with L = 20,000 and %s ops, seed 42+i", n);
}

static void describe_w4(char *buf, size_t len, double scale)
{
	char n[32];
	count(n, sizeof(n), SCALED(2e6));
	snprintf(buf, len, "shm pool 256 MiB; ring of 4096 in shm; %s "
		"messages per producer; 1+1 and 2+2 processes", n);
}

static void describe_w5(char *buf, size_t len, double scale)
{
	char w[32], n[32];
	count(w, sizeof(w), SCALED(5e6));
	count(n, sizeof(n), SCALED(1e6));
	snprintf(buf, len, "pool 256 MiB; %s W2 ops warm-up, then %s W2 ops "
		"with each malloc and free timed", w, n);
}

static void describe_w6(char *buf, size_t len, double scale)
{
	(void)scale;
	snprintf(buf, len, "pool 64 MiB; 20 rounds of fill-until-failure, "
		"free a random half (never scaled)");
}

static void describe_w6s(char *buf, size_t len, double scale)
{
	(void)scale;
	snprintf(buf, len, "W6 on a 64 MiB shm pool through shm_* (per-process "
		"caches included; never scaled)");
}

const struct workload_def workload_defs[7] = {
	{ "w1", "same-size", K_OURS | K_SYS | K_HARNESS, 1, { 1 },
		describe_w1, table_w1 },
	{ "w2", "sip-mix", K_OURS | K_SYS | K_HARNESS, 1, { 1 },
		describe_w2, table_w2 },
	{ "w3", "shm-scale", K_OURS | K_LOCKED | K_SYS | K_HARNESS, 4,
		{ 1, 2, 4, 8 },
		describe_w3, table_w3 },
	{ "w4", "handoff", K_OURS | K_LOCKED, 2, { 1, 2 }, describe_w4,
		table_w4 },
	{ "w5", "latency", K_OURS | K_SYS, 1, { 1 }, describe_w5, table_w5 },
	{ "w6", "fill", K_OURS, 1, { 1 }, describe_w6, table_w6 },
	{ "w6s", "fill-shm", K_OURS | K_LOCKED, 1, { 1 }, describe_w6s,
		table_w6 },
};
#define NWORKLOADS 7

/* --- options -------------------------------------------------------------- */

static struct {
	int alloc_order[NALLOCS], nalloc;       /* as given, in order */
	int workloads[NWORKLOADS], nworkload;
	int runs;
	double scale;
	unsigned long long seed;
	double timeout;
	int json, list;
	const char *json_out;   /* JSON lines here too, beside the tables */
} opt = { .runs = 5, .scale = 1, .seed = 42, .timeout = 900 };

static char bindir[4096];
static int available[NALLOCS];
static char version[NALLOCS][160];

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("membench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static int find_alloc(const char *s)
{
	if (!strcmp(s, "harness"))
		return HARNESS;
	for (int a = 0; a < NALLOCS; a++)
		if (!strcmp(s, alloc_defs[a].name))
			return a;
	return -1;
}

static int find_workload(const char *s)
{
	for (int w = 0; w < NWORKLOADS; w++)
		if (!strcasecmp(s, workload_defs[w].id) ||
		    !strcmp(s, workload_defs[w].name))
			return w;
	return -1;
}

/* Split a comma list, map each name with find(), append to out. */
static int parse_list(const char *arg, int (*find)(const char *), int *out,
		const char *what)
{
	char buf[512], *save = NULL;
	int n = 0;
	snprintf(buf, sizeof(buf), "%s", arg);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int k = find(t);
		if (k < 0)
			die("unknown %s '%s' (see --list)", what, t);
		for (int j = 0; j < n; j++)
			if (out[j] == k)
				k = -1;
		if (k >= 0)
			out[n++] = k;
	}
	return n;
}

static void usage(void)
{
	fputs("usage: membench [--alloc A[,B..]] [--workload W[,W..]] "
		"[--runs N] [--scale F]\n                [--seed S] "
		"[--timeout SEC] [--json]\n                [--json-out FILE]\n"
		"       membench --list\n"
		"allocators: fm qm tlsf glibc jemalloc mimalloc tcmalloc\n"
		"            fm-lock qm-lock tlsf-lock (shm caches off)\n"
		"            tlsf-nofill (mem_free_check = 0: MEMDBG's "
		"write-after-free fill off)\n"
		"            fm-noq qm-noq tlsf-noq (mem_free_queue = 0: "
		"frees at once)\n"
		"            fm-4k qm-4k tlsf-4k (pkg_huge_pages = shm_huge_pages"
		" = 0: 4 KiB pages)\n"
		"            fm-slab qm-slab tlsf-slab (pkg_slab = 1: small pkg "
		"objects in spans)\n"
		"workloads: w1 same-size, w2 sip-mix, w3 shm-scale, w4 handoff, "
		"w5 latency, w6 fill,\n           w6s fill-shm\n", stderr);
	exit(2);
}

static const char *need(int argc, char **argv, int i)
{
	if (i + 1 >= argc)
		usage();
	return argv[i + 1];
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--list"))
			opt.list = 1;
		else if (!strcmp(a, "--json"))
			opt.json = 1;
		else if (!strcmp(a, "--json-out"))
			opt.json_out = need(argc, argv, i++);
		else if (!strcmp(a, "--alloc"))
			opt.nalloc = parse_list(need(argc, argv, i++), find_alloc,
					opt.alloc_order, "allocator");
		else if (!strcmp(a, "--workload"))
			opt.nworkload = parse_list(need(argc, argv, i++),
					find_workload, opt.workloads, "workload");
		else if (!strcmp(a, "--runs"))
			opt.runs = atoi(need(argc, argv, i++));
		else if (!strcmp(a, "--scale"))
			opt.scale = strtod(need(argc, argv, i++), NULL);
		else if (!strcmp(a, "--seed"))
			opt.seed = strtoull(need(argc, argv, i++), NULL, 0);
		else if (!strcmp(a, "--timeout"))
			opt.timeout = strtod(need(argc, argv, i++), NULL);
		else
			usage();
	}
	if (opt.runs < 1 || opt.runs > MAX_RUNS)
		die("--runs must be 1..%d", MAX_RUNS);
	if (!(opt.scale > 0 && opt.scale <= 1000) || !(opt.timeout > 0))
		die("--scale and --timeout must be positive");
}

/* Defaults: every allocator (the harness last), every workload. */
static void fill_defaults(void)
{
	if (!opt.nalloc)
		for (int a = 0; a < HARNESS; a++)
			opt.alloc_order[opt.nalloc++] = a;
	int has_harness = 0;
	for (int k = 0; k < opt.nalloc; k++)
		has_harness |= opt.alloc_order[k] == HARNESS;
	if (!has_harness)
		opt.alloc_order[opt.nalloc++] = HARNESS;
	if (!opt.nworkload)
		for (int w = 0; w < NWORKLOADS; w++)
			opt.workloads[opt.nworkload++] = w;
}

/* --- running a worker ---------------------------------------------------- */

static volatile pid_t current_group;

static void on_signal(int sig)
{
	if (current_group > 0)
		kill(-current_group, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* errfd >= 0: the child's stderr goes there. */
static pid_t spawn(char *const argv[], int *out_fd, int errfd)
{
	int fd[2];
	if (pipe(fd) < 0)
		die("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (!pid) {
		setpgid(0, 0);      /* so a timeout can kill a whole W3 team */
		dup2(fd[1], 1);
		if (errfd >= 0)
			dup2(errfd, 2);
		close(fd[0]);
		close(fd[1]);
		execv(argv[0], argv);
		fprintf(stderr, "membench: exec %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	current_group = pid;
	close(fd[1]);
	*out_fd = fd[0];
	return pid;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read all of fd into buf until EOF or the deadline; -1 on timeout. */
static int read_all(int fd, char *buf, size_t len, double timeout)
{
	size_t n = 0;
	double deadline = mono_s() + timeout;
	for (;;) {
		double left = deadline - mono_s();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left <= 0)
			return -1;
		int r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		ssize_t got = read(fd, buf + n, len - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
		if (n == len - 1)
			break;
	}
	buf[n] = 0;
	return 0;
}

/* Run argv, its stdout into buf (its stderr to errfd if >= 0).  0 if it
 * exited 0 in time. */
static int capture(char *const argv[], char *buf, size_t len, double timeout,
		int errfd)
{
	int fd, st;
	pid_t pid = spawn(argv, &fd, errfd);
	int late = read_all(fd, buf, len, timeout) < 0;
	close(fd);
	if (late) {
		kill(-pid, SIGKILL);
		fprintf(stderr, "membench: %s %s %s: killed after %g s\n",
			argv[0], argv[1], argv[2], timeout);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	current_group = 0;
	return !late && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* --- the workers' stderr: library error reports ----------------------------- */

static FILE *err_file;      /* every run's stderr, emptied after each */
static int runs_failed, lib_errors;

/* A report of level error or worse, as the worker's log hook
 * (alloc_srmem.c: "srmem: level N: ") or the library's default
 * ("srmem: ERROR: ", "srmem: CRITICAL: ") writes it. */
static int is_lib_error(const char *l)
{
	int level;
	if (sscanf(l, "srmem: level %d:", &level) == 1)
		return level <= 3;
	return !strncmp(l, "srmem: ERROR: ", 14) ||
		!strncmp(l, "srmem: CRITICAL: ", 17);
}

/* Copy what the last run wrote on stderr to ours; its library errors. */
static int drain_stderr(void)
{
	char *line = NULL;
	size_t cap = 0;
	int n = 0;
	fflush(err_file);
	rewind(err_file);
	while (getline(&line, &cap, err_file) > 0) {
		fputs(line, stderr);
		n += is_lib_error(line);
	}
	free(line);
	if (ftruncate(fileno(err_file), 0) < 0)
		die("scratch file: %s", strerror(errno));
	rewind(err_file);
	return n;
}

/* --- collecting results -------------------------------------------------- */

static struct series *cell_series(struct cell *c, const char *name)
{
	for (int k = 0; k < c->nmetric; k++)
		if (!strcmp(c->m[k].name, name))
			return &c->m[k];
	if (c->nmetric == MAX_METRICS)
		return NULL;
	struct series *s = &c->m[c->nmetric++];
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->n = 0;
	return s;
}

static void cell_add(struct cell *c, const char *name, double v)
{
	struct series *s = cell_series(c, name);
	if (s && s->n < MAX_RUNS)
		s->v[s->n++] = v;
}

/* W1's summary figure: mean time of all 6N ops of one run. */
static void derive(const struct workload_def *w, struct cell *c)
{
	if (strcmp(w->id, "w1"))
		return;
	const struct series *a = cell_get(c, "alloc_ns"),
		*f = cell_get(c, "free_fifo_ns"), *l = cell_get(c, "free_lifo_ns"),
		*r = cell_get(c, "free_random_ns");
	if (!a || !f || !l || !r)
		return;
	int i = a->n - 1;
	cell_add(c, "op_ns", (3 * a->v[i] + f->v[i] + l->v[i] + r->v[i]) / 6);
}

/* Take the lines of one successful run into the cell. */
static void parse_run(char *out, struct cell *c)
{
	char *save = NULL;
	for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char name[64];
		double v;
		if (sscanf(l, "metric %63s %lf", name, &v) == 2)
			cell_add(c, name, v);
		else if (!strncmp(l, "info used_src ", 14))
			snprintf(c->used_src, sizeof(c->used_src), "%s", l + 14);
	}
}

static void run_one(const struct workload_def *w, int a, int param,
		struct cell *c)
{
	char path[4200], scale[32], procs[16], seed[32];
	static char out[1 << 16];
	snprintf(path, sizeof(path), "%s/%s", bindir, alloc_defs[a].binary);
	snprintf(scale, sizeof(scale), "%.17g", opt.scale);
	snprintf(procs, sizeof(procs), "%d", param);
	snprintf(seed, sizeof(seed), "%llu", opt.seed);
	char *argv[] = { path, (char *)w->id, (char *)alloc_defs[a].name,
		"--scale", scale, "--procs", procs, "--seed", seed, NULL };
	int bad = capture(argv, out, sizeof(out), opt.timeout,
			fileno(err_file)) < 0;
	int errs = drain_stderr();
	c->lib_errors += errs;
	lib_errors += errs;
	if (bad || errs) {
		c->failed++;
		runs_failed++;
		fprintf(stderr, "membench: %s %s (param %d): run failed%s\n",
			w->id, alloc_defs[a].name, param, errs ?
			": the library reported errors" : "");
		return;
	}
	c->ok++;
	parse_run(out, c);
	derive(w, c);
}

/* --- progress ---------------------------------------------------------------- */

static double t_start;

static void progress(const struct workload_def *w, int run, int a, int param,
		int done, int total)
{
	char line[160], p[16] = "";
	if (w->nparam > 1)
		snprintf(p, sizeof(p), " P=%d", param);
	snprintf(line, sizeof(line), "membench: %s %s run %d/%d %s%s [%d/%d] "
		"%.0f s", w->id, w->name, run + 1, opt.runs, alloc_defs[a].name,
		p, done + 1, total, mono_s() - t_start);
	if (isatty(2))
		fprintf(stderr, "\r%-79s", line);
	else if (!done || done * 10 / total != (done - 1) * 10 / total)
		fprintf(stderr, "%s\n", line);
}

static void progress_end(void)
{
	if (isatty(2))
		fprintf(stderr, "\r%79s\r", "");
}

/* --- the plan ------------------------------------------------------------------- */

/* The allocators that run workload w, in the order given. */
static int participants(const struct workload_def *w, int *who)
{
	int n = 0;
	for (int k = 0; k < opt.nalloc; k++) {
		int a = opt.alloc_order[k];
		if ((w->kinds & alloc_defs[a].kind) && available[a])
			who[n++] = a;
	}
	return n;
}

static void run_workload(const struct workload_def *w, struct wl_result *r)
{
	int who[NALLOCS], n = participants(w, who);
	memset(r, 0, sizeof(*r));
	r->w = w;
	r->runs = opt.runs;
	r->scale = opt.scale;
	int total = opt.runs * w->nparam * n, done = 0;
	for (int run = 0; run < opt.runs; run++)
		for (int p = 0; p < w->nparam; p++)
			for (int k = 0; k < n; k++, done++) {
				progress(w, run, who[k], w->param[p], done, total);
				r->ran[who[k]] = 1;
				run_one(w, who[k], w->param[p], &r->cell[who[k]][p]);
			}
	progress_end();
}

/* --- set-up and the header -------------------------------------------------------- */

static void find_workers(void)
{
	ssize_t n = readlink("/proc/self/exe", bindir, sizeof(bindir) - 1);
	if (n <= 0)
		die("cannot find my own binary: %s", strerror(errno));
	bindir[n] = 0;
	*strrchr(bindir, '/') = 0;
	for (int a = 0; a < NALLOCS; a++) {
		char path[4200], buf[512];
		snprintf(path, sizeof(path), "%s/%s", bindir, alloc_defs[a].binary);
		char *argv[] = { path, "--version", NULL };
		available[a] = !access(path, X_OK) &&
			!capture(argv, buf, sizeof(buf), 30, -1);
		if (available[a])
			snprintf(version[a], sizeof(version[a]), "%.*s",
				(int)strcspn(buf, "\n"), buf);
	}
}

static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];
	snprintf(buf, len, "unknown CPU");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(buf, len, "%s", strchr(line, ':') + 2);
			buf[strcspn(buf, "\n")] = 0;
			break;
		}
	if (f)
		fclose(f);
}

static void header_md(void)
{
	char cpu[128];
	struct utsname u;
	uname(&u);
	cpu_model(cpu, sizeof(cpu));
	printf("# membench: BENCH.md workloads\n\n");
	printf("- machine: %s, %ld cores, %s %s\n", cpu,
		sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release);
	printf("- runs: median of %d, each in a fresh process, allocators "
		"interleaved; [min-max] over the runs\n", opt.runs);
	if (opt.scale != 1)
		printf("- **scaled-down pass: N and op counts x %g of BENCH.md** "
			"(pool sizes, L and W6's rounds unchanged); not the "
			"BENCH.md figures, which `make bench-full` gives\n",
			opt.scale);
	else
		printf("- sizes: BENCH.md, unscaled\n");
	printf("- system allocators are linked into their own worker "
		"binaries (membench-jemalloc ...), not LD_PRELOADed\n");
	for (int k = 0; k < opt.nalloc; k++) {
		int a = opt.alloc_order[k];
		if (available[a])
			printf("- %s: %s (%s)\n", alloc_defs[a].label, version[a],
				alloc_defs[a].binary);
		else
			printf("- %s: **skipped**: %s not built (its library is "
				"not installed; `make deps`)\n",
				alloc_defs[a].label, alloc_defs[a].binary);
	}
	printf("\n");
}

static void header_json(FILE *out)
{
	fprintf(out, "{\"type\":\"meta\",\"runs\":%d,\"scale\":%g,\"seed\":%llu,"
		"\"cores\":%ld,\"allocators\":[", opt.runs, opt.scale, opt.seed,
		sysconf(_SC_NPROCESSORS_ONLN));
	for (int k = 0, first = 1; k < opt.nalloc; k++) {
		int a = opt.alloc_order[k];
		fprintf(out, "%s{\"alloc\":\"%s\",\"available\":%s,"
			"\"version\":\"%s\"}",
			first ? "" : ",", alloc_defs[a].name,
			available[a] ? "true" : "false", version[a]);
		first = 0;
	}
	fprintf(out, "]}\n");
}

static void list(void)
{
	printf("workloads:\n");
	for (int w = 0; w < NWORKLOADS; w++) {
		char d[256];
		workload_defs[w].describe(d, sizeof(d), 1);
		printf("  %s %-10s %s\n", workload_defs[w].id,
			workload_defs[w].name, d);
	}
	printf("allocators:\n");
	for (int a = 0; a < NALLOCS; a++)
		printf("  %-9s %-18s %s\n", a == HARNESS ? "harness" :
			alloc_defs[a].name, alloc_defs[a].binary,
			available[a] ? version[a] : "not built: skipped");
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	find_workers();
	if (opt.list) {
		list();
		return 0;
	}
	fill_defaults();
	if (!(err_file = tmpfile()))
		die("scratch file for the workers' stderr: %s", strerror(errno));
	t_start = mono_s();
	FILE *jout = opt.json ? stdout : NULL;
	if (opt.json_out && !(jout = fopen(opt.json_out, "w")))
		die("%s: %s", opt.json_out, strerror(errno));
	if (jout)
		header_json(jout);
	if (!opt.json)
		header_md();
	static struct wl_result r;
	for (int k = 0; k < opt.nworkload; k++) {
		run_workload(&workload_defs[opt.workloads[k]], &r);
		if (jout)
			report_json(&r, jout);
		if (!opt.json)
			report_table(&r);
	}
	if (jout && jout != stdout && fclose(jout))
		die("%s: %s", opt.json_out, strerror(errno));
	if (!opt.json)
		printf("membench: done in %.0f s\n", mono_s() - t_start);
	if (runs_failed)
		fprintf(stderr, "membench: %d runs failed, %d library error "
			"reports among them\n", runs_failed, lib_errors);
	return runs_failed ? 1 : 0;
}
