/*
 * sites.c - call sites named by a test (test.alloc FILE FUNC LINE MODULE),
 * kept in shm.
 *
 * A fragment's record points at its struct mem_site, and every process
 * that scans the pool reads that record and its strings: the shm summary
 * at exit is made by the main process, a worker walks its own pkg for
 * pkg.summary.  A site made in the RPC process's pkg would be garbage to
 * all of them, so sites live in one shm table made before fork (one
 * fragment, module "rpc", there from the start: test allocations then move
 * the counters by their own blocks only).  Equal names give the same
 * entry; the table never shrinks (RPC_SITES_MAX entries).
 *
 * Only the RPC process adds entries (one process, one thread); an entry is
 * complete before n counts it, and others read entries by index.
 */
#include <stdio.h>
#include <string.h>

#include "rpc/rpc_int.h"

#define RPC_SITES_MAX 64

struct site_entry {
	struct mem_site site;
	char file[96], func[64], mod[32];
};

struct site_table {
	unsigned n;
	struct site_entry e[RPC_SITES_MAX];
};

static struct site_table *sites;

int rpc_sites_init(void)
{
	if (sites)
		return 0;
	sites = shm_mallocxz(sizeof(*sites));
	return sites ? 0 : -1;
}

static int same(const struct site_entry *e, const char *file,
		const char *func, unsigned line, const char *mod)
{
	return e->site.line == line && !strcmp(e->file, file) &&
		!strcmp(e->func, func) && !strcmp(e->mod, mod);
}

int rpc_site_intern(const char *file, const char *func, unsigned line,
		const char *mod)
{
	unsigned n = sites ? __atomic_load_n(&sites->n, __ATOMIC_ACQUIRE) : 0;
	struct site_entry *e;
	for (unsigned i = 0; i < n; i++)
		if (same(&sites->e[i], file, func, line, mod))
			return (int)i;
	if (!sites || n == RPC_SITES_MAX)
		return -1;
	e = &sites->e[n];
	snprintf(e->file, sizeof(e->file), "%s", file);
	snprintf(e->func, sizeof(e->func), "%s", func);
	snprintf(e->mod, sizeof(e->mod), "%s", mod);
	e->site = (struct mem_site){ e->file, e->func, e->mod, line };
	__atomic_store_n(&sites->n, n + 1, __ATOMIC_RELEASE);
	return (int)n;
}

const struct mem_site *rpc_site_at(int index)
{
	if (!sites || index < 0 ||
	    (unsigned)index >= __atomic_load_n(&sites->n, __ATOMIC_ACQUIRE))
		return NULL;
	return &sites->e[index].site;
}
