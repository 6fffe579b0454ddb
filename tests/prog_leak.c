/* prog_leak.c - a program with known defects at known lines, for the
 * integration drivers: it leaks one pkg fragment of 123 bytes and one shm
 * fragment of 321 bytes (LEAK_* lines below), then prints the summaries.
 *   prog_leak            log pkg and shm sums to stderr
 *   prog_leak uninit     also branch on bytes never written (for memcheck) */
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
	pkg_sums();
	shm_sums();
	return 0;
}
