/*
 * pages.c - which pages a pool's region gets: transparent huge pages
 * where the kernel gives them, for both pools.
 *
 * Why.  A pool is one region of hundreds of MiB, and a server's requests
 * land all over it: with 4 KiB pages nearly every fragment a free or a
 * reuse touches needs a TLB entry of its own, and the page walk for it
 * is a miss of its own besides the fragment's line.  A 2 MiB page covers
 * 512 times the memory per entry.  Measured (doc/PERFORMANCE.md, "Huge
 * pages"): W2 on pkg 1.3-1.4x faster in every backend, W3 on shm twice as
 * fast at P=8.
 *
 * How.  madvise(MADV_HUGEPAGE) on the region, before anything touches it.
 * Whether the kernel then gives 2 MiB pages is its setting, not ours:
 *
 *     pool  mapping              sysfs file (transparent_hugepage/)  gives
 *     pkg   private, anonymous   enabled          always, madvise
 *     shm   shared, anonymous    shmem_enabled    always, within_size,
 *                                                 advise, force
 *
 * The setting of each pool (pkg_huge_pages, shm_huge_pages, mem.h):
 * MEM_HUGE_AUTO asks only where the kernel will give them, silently; 1
 * asks and warns where it will not (the madvise itself succeeds there);
 * 0 never asks (the kernel's "always" still gives them).  Debian's
 * defaults: "madvise" for private memory, "never" for shmem.
 *
 * Cost: memory is taken 2 MiB at a time where the region is touched
 * (MAP_NORESERVE regions stay unreserved), and the kernel's "defrag"
 * setting decides whether a first touch may compact memory to find one.
 * A pkg pool inherited across fork is copy-on-write: where the parent
 * touched it, the child's first write copies a 4 KiB page out of the
 * shared 2 MiB one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "internal.h"

#define THP_DIR "/sys/kernel/mm/transparent_hugepage/"

/* "always within_size advise [never] deny force": the bracketed word,
 * "unknown" without the file. */
static void thp_mode(const char *file, char *mode, size_t len)
{
	char path[96], buf[128] = "";
	snprintf(mode, len, "unknown");
	snprintf(path, sizeof(path), THP_DIR "%s", file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	char *open_br = n > 0 ? strchr(buf, '[') : NULL;
	char *close_br = open_br ? strchr(open_br, ']') : NULL;
	if (close_br)
		snprintf(mode, len, "%.*s", (int)(close_br - open_br - 1),
			open_br + 1);
}

/* Does the kernel give a MADV_HUGEPAGE'd mapping of this kind 2 MiB
 * pages in this mode? */
static int thp_allows(int shared, const char *mode)
{
	if (!shared)
		return !strcmp(mode, "always") || !strcmp(mode, "madvise");
	return !strcmp(mode, "advise") || !strcmp(mode, "always") ||
		!strcmp(mode, "within_size") || !strcmp(mode, "force");
}

int mem_pages_huge(const char *pool, char *region, size_t size, int setting,
		int shared)
{
	char mode[32];
	const char *file = shared ? "shmem_enabled" : "enabled";
	if (!setting)
		return 0;
	thp_mode(file, mode, sizeof(mode));
	int allowed = thp_allows(shared, mode);
	if (setting == MEM_HUGE_AUTO && !allowed)
		return 0;
	if (madvise(region, size, MADV_HUGEPAGE) < 0) {
		mem_log(setting == MEM_HUGE_AUTO ? MEM_L_INFO : MEM_L_WARN,
			"%s: no transparent huge pages: %s", pool,
			strerror(errno));
		return 0;
	}
	if (!allowed)
		mem_log(MEM_L_WARN, "%s: %s_huge_pages: the kernel's "
			"transparent_hugepage/%s is '%s', so the pool gets "
			"4 KiB pages ('%s' would give 2 MiB ones)", pool, pool,
			file, mode, shared ? "advise" : "madvise");
	return allowed;
}

/* An anonymous private region of size bytes whose start is 2 MiB aligned
 * when huge pages may come, so that none of it is left to a partial huge
 * page at either end (kernels before 6.7 do not align such mappings). */
void *mem_pages_map_private(size_t size, int huge)
{
	const size_t align = (size_t)2 << 20;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	if (!huge || size < align || size > SIZE_MAX - align)
		return mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
	char *raw = mmap(NULL, size + align, PROT_READ | PROT_WRITE, flags,
			-1, 0);
	if (raw == MAP_FAILED)
		return raw;
	char *start = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	if (start > raw)
		munmap(raw, (size_t)(start - raw));
	munmap(start + size, (size_t)(raw + align - start));
	return start;
}
