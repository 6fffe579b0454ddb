/*
 * pkg.c - private memory: one pool per process, no lock.
 *
 * pkg_init() maps a private anonymous region before fork; each child
 * inherits a copy-on-write image of the pool and from then on allocates
 * from its own copy, exactly as if it had called pkg_init() itself.  The
 * pool struct sits at the start of the region, the backend's heap after it.
 * pkg_huge_pages (by default: where the kernel allows) asks for
 * transparent huge pages (pages.c): a free and a reuse land all over the
 * pool, and 2 MiB TLB entries spare each of them a page walk.
 */
#include <sys/mman.h>

#include "internal.h"

struct mem_pool *mem_pkg_pool;

static size_t pkg_region_size;
static int huge_asked;  /* the pool is MADV_HUGEPAGE'd, and allowed */

int pkg_huge_pages = MEM_HUGE_AUTO;

#define PKG_HEAD ((sizeof(struct mem_pool) + 63) & ~(size_t)63)

int pkg_init(size_t size, const char *backend)
{
	if (mem_pkg_pool) {
		mem_log(MEM_L_ERR, "pkg: already initialised");
		return -1;
	}
	if (size < PKG_HEAD + 4096) {
		mem_log(MEM_L_ERR, "pkg: %zu bytes is too small a pool", size);
		return -1;
	}
	char *region = mem_pages_map_private(size, pkg_huge_pages != 0);
	if (region == MAP_FAILED) {
		mem_log(MEM_L_ERR, "pkg: cannot map %zu bytes", size);
		return -1;
	}
	huge_asked = mem_pages_huge("pkg", region, size, pkg_huge_pages, 0);
	struct mem_pool *pool = (struct mem_pool *)region;
	if (mem_pool_setup(pool, "pkg", region + PKG_HEAD, region + size,
			backend, NULL) < 0) {
		munmap(region, size);
		return -1;
	}
	pkg_region_size = size;
	mem_pkg_pool = pool;
	return 0;
}

int pkg_huge(void)
{
	return mem_pkg_pool && huge_asked;
}

void pkg_destroy(void)
{
	if (!mem_pkg_pool)
		return;
	munmap(mem_pkg_pool, pkg_region_size);
	mem_pkg_pool = NULL;
}
