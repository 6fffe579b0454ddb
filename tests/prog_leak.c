/* prog_leak.c - a program with known defects at known lines, for the
 * integration drivers: it leaks one pkg fragment of 123 bytes and one shm
 * fragment of 321 bytes (LEAK_* lines below), then prints the summaries.
 *   prog_leak            log pkg and shm sums to stderr
 *   prog_leak uninit     also branch on bytes never written (for memcheck)
 *   prog_leak misuse     also touch one byte past the 100 bytes asked for,
 *                        and one byte of the block after it was freed, in a
 *                        pkg and in a shm block (for memcheck: each access
 *                        reads the byte and writes it back unchanged, so
 *                        the heap itself stays intact).  The shm block is
 *                        small: it is parked in this process's cache when
 *                        freed (or given back to the heap, SHM_CACHE=0). */
#include <stdio.h>
#include <string.h>
#include "mem.h"

static char *keep_pkg, *keep_shm;

static void leak_some(void)
{
	keep_pkg = pkg_malloc(123);   /* LEAK_PKG */
	keep_shm = shm_malloc(321);   /* LEAK_SHM */
	keep_pkg = NULL;
	keep_shm = NULL;
}

/* Read one byte and write it back. */
static void touch(volatile char *p)
{
	*p = *p;
}

static void misuse(void)
{
	char *p = pkg_malloc(100), *s = shm_malloc(100);
	if (!p || !s)
		return;
	memset(p, 1, 100);
	memset(s, 1, 100);
	touch(p + 100);               /* OVER_PKG */
	touch(s + 100);               /* OVER_SHM */
	pkg_free(p);                  /* FREE_PKG */
	shm_free(s);                  /* FREE_SHM */
	touch(p + 50);                /* UAF_PKG */
	touch(s + 50);                /* UAF_SHM */
}

int main(int argc, char **argv)
{
	if (pkg_init(4 << 20, NULL) < 0 || shm_init(8 << 20, NULL) < 0)
		return 1;
	for (int i = 0; i < 100; i++)
		pkg_free(pkg_malloc(64 + i));
	leak_some();
	if (argc > 1 && !strcmp(argv[1], "uninit")) {
		char *u = pkg_malloc(32);
		if (u[5] == 42)       /* UNINIT_READ */
			puts("unlikely");
		pkg_free(u);
	}
	if (argc > 1 && !strcmp(argv[1], "misuse"))
		misuse();
	pkg_sums();
	shm_sums();
	return 0;
}
