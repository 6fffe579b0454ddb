/*
 * pkg.c - private memory: one pool per process, no lock.
 *
 * pkg_init() maps a private anonymous region before fork; each child
 * inherits a copy-on-write image of the pool and from then on allocates
 * from its own copy, exactly as if it had called pkg_init() itself.  The
 * pool struct sits at the start of the region, then (pkg_slab, MEMDBG=0)
 * the small objects' map (slab.c), then the backend's heap.
 * pkg_huge_pages (by default: where the kernel allows) asks for
 * transparent huge pages (pages.c): a free and a reuse land all over the
 * pool, and 2 MiB TLB entries spare each of them a page walk.
 */
#include <sys/mman.h>

#include "internal.h"
#include "slab.h"
#include "track.h"

struct mem_pool *mem_pkg_pool;

static size_t pkg_region_size;
static int huge_asked;  /* the pool is MADV_HUGEPAGE'd, and allowed */

int pkg_huge_pages = MEM_HUGE_AUTO;
int pkg_slab = 0;

#define PKG_HEAD ((sizeof(struct mem_pool) + 63) & ~(size_t)63)

int pkg_init(size_t size, const char *backend)
{
	if (mem_pkg_pool) {
		mem_log(MEM_L_ERR, "pkg: already initialised");
		return -1;
	}
	track_setup();
	size_t slab = !MEMDBG && pkg_slab && !track_watching() ?
		slab_size(size) : 0;
	if (!MEMDBG && pkg_slab && !track_watching() && !slab)
		mem_log(MEM_L_WARN, "pkg: pkg_slab: a pool of %zu MiB is above "
			"what the span map covers (64 GiB): no spans", size >> 20);
	size_t head = PKG_HEAD + ((slab + 63) & ~(size_t)63);
	if (size < head + 4096) {
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
	if (mem_pool_setup(pool, "pkg", region + head, region + size,
			backend, NULL) < 0) {
		munmap(region, size);
		return -1;
	}
	if (slab && (pkg_slab > 0 || POOL_BE(pool) != &mem_qm_backend))
		slab_create(pool, region + PKG_HEAD);
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
