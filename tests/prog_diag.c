/* prog_diag.c - seeded defects at known lines, for tests/it_diag.sh and the
 * "finding a leak" walkthrough of doc/DIAGNOSTICS.md.  The lines the
 * driver looks for are marked with a comment in capitals.
 *
 *   prog_diag leak [FLAGS]  leaks 3 x 100 bytes of pkg (LEAK_PKG) and 321
 *                           bytes of shm (LEAK_SHM); a forked worker leaks
 *                           55 bytes of pkg more (LEAK_WORKER); the
 *                           summaries are logged at exit per mem_summary =
 *                           FLAGS (default 12: pkg and shm sums)
 *   prog_diag serve         waits for SIGUSR1 (up to 10 s), logs the pkg sums
 *                           once from its loop, and exits
 *   prog_diag double        frees one fragment twice (DF_*)
 *   prog_diag overflow      writes past the end of a fragment (OV_ALLOC)
 *
 * Reports go to stderr (the default log).  stdout says what a MEMDBG=0
 * build cannot: the usable bytes of the leaks, which its sums count. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "mem.h"

static void *leaked[4];

static void leak_pkg(void)
{
	for (int i = 0; i < 3; i++)
		leaked[i] = pkg_malloc(100);   /* LEAK_PKG */
}

static void leak_shm(void)
{
	leaked[3] = shm_malloc(321);           /* LEAK_SHM */
}

static void worker(void)
{
	pkg_malloc(55);                        /* LEAK_WORKER */
	exit(0);        /* exit(), not _exit(): the summary runs at exit */
}

static int leak(int flags)
{
	mem_summary = flags;
	mem_summary_install();
	for (int i = 0; i < 100; i++)
		pkg_free(pkg_malloc(64 + i));
	leak_pkg();
	leak_shm();
	size_t pkg = 0;
	for (int i = 0; i < 3; i++)
		pkg += mem_usable_size(mem_pkg_pool, leaked[i]);
	printf("usable pkg %zu shm %zu\n", pkg,
		mem_usable_size(mem_shm_pool, leaked[3]));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		worker();
	waitpid(pid, NULL, 0);
	return 0;
}

static int serve(void)
{
	mem_summary = 4;
	mem_summary_install();
	leak_pkg();
	puts("ready");
	fflush(stdout);
	for (int i = 0; i < 1000; i++) {
		if (mem_summary_poll()) {       /* the safe point */
			mem_summary = 0;
			return 0;
		}
		usleep(10000);
	}
	return 1;
}

static void double_free(void)
{
	char *p = pkg_malloc(40);              /* DF_ALLOC */
	pkg_free(p);                           /* DF_FREE1 */
	pkg_free(p);                           /* DF_FREE2 */
}

static void overflow(void)
{
	/* a fragment of the heap: pkg's small objects (up to 512 bytes, in
	 * spans) have no header of their own to break in a release build */
	char *p = pkg_malloc(600);             /* OV_ALLOC */
	void *next = pkg_malloc(600);
	size_t n = mem_usable_size(mem_pkg_pool, p);
	memset(p + n, 0x5a, 8);
	if (pkg_check() == 0)
		exit(1);
	if (MEMDBG) {   /* the canary names the site; then give it back */
		pkg_report();
		pkg_free(p);
		pkg_free(next);
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "leak";
	if (pkg_init(4 << 20, NULL) < 0 || shm_init(8 << 20, NULL) < 0)
		return 1;
	if (!strcmp(mode, "leak"))
		return leak(argc > 2 ? atoi(argv[2]) : 4 | 8);
	if (!strcmp(mode, "serve"))
		return serve();
	if (!strcmp(mode, "double"))
		double_free();
	else if (!strcmp(mode, "overflow"))
		overflow();
	else
		return 2;
	return 0;
}
