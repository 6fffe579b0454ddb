/*
 * check_diag.c - the diagnostics: call sites, the walker and the scan,
 * sums per call site and per module, the report, their log forms, the
 * mem_summary dumps, 64-bit totals, and seeded defects (a leak, a double
 * free, an overflow) whose reports must name the exact lines.
 *
 * Every case runs per backend ("fm", "qm", "tlsf": tcase_add_loop_test)
 * on a 4 MiB pkg pool unless it says otherwise (shm for the cache, the
 * concurrent scan and the summary dumps; a 5 GiB MAP_NORESERVE pkg pool
 * for the counters above 4 GiB).  The same assertions hold in both MEMDBG
 * builds: with MEMDBG=0 there is no call site to find, and the cases check
 * that the data says so ("no call site": a NULL site, one row for all)
 * while counts and bytes stay exact (bytes are then usable sizes).
 *
 * Call sites are recorded on the line of the call itself through AT(),
 * which stores __LINE__ and calls on the same line, so a report must name
 * exactly that line.  Log output is captured with mem_set_log (memtest.h).
 */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "memtest.h"

#define POOL_SIZE ((size_t)4 << 20)
#define GiB ((uint64_t)1 << 30)

/* Evaluate call on this line and remember the line in *lp. */
#define AT(lp, call) (*(lp) = __LINE__, (call))

static size_t cache_default;
static unsigned chunk_default;

/* A module other than "core", as one built with MOD_NAME "dialog" would
 * record it (a name no path of this tree holds, for the file filter). */
static const struct mem_site dlg_new = { "dialog/dlg_hash.c", "new_dlg",
	"dialog", 40 };
static const struct mem_site dlg_cell = { "dialog/dlg_var.c", "new_var",
	"dialog", 7 };

/* --- helpers ------------------------------------------------------------- */

/* The reports are asserted right after the call that causes them: no
 * free queue (mem_free_queue, check_fqueue.c).  The scans, the overflows
 * and the reports here are of the heap's own fragments: no spans of
 * small objects either (pkg_slab; they have check_slab.c). */
static void start(int i)
{
	t_log_start();
	mem_free_queue = 0;
	pkg_slab = 0;
	ck_assert_int_eq(pkg_init(POOL_SIZE, t_backend(i)), 0);
}

/* "this file:func:line [core]", as the library prints a site. */
/* The site is this file's func:line (MEMDBG), or NULL (MEMDBG=0). */
static void site_is(const struct mem_site *s, const char *func, int line,
		const char *what)
{
	if (!MEMDBG) {
		T_ASSERT(s == NULL, "%s: a call site without MEMDBG", what);
		return;
	}
	T_ASSERT(s != NULL, "%s: no call site", what);
	T_ASSERT(!strcmp(s->file, __FILE__) && !strcmp(s->func, func) &&
		s->line == (unsigned)line && !strcmp(s->mod, "core"),
		"%s: site %s:%s:%u [%s], want %s:%d", what, s->file, s->func,
		s->line, s->mod, func, line);
}

/* Usable size of a used fragment, as the walker reports it. */
static uint64_t walk_size(const void *p)
{
	struct t_find x = t_frag_at(mem_pkg_pool, p);
	T_ASSERT(x.found && x.frag.used, "%p is not a used fragment", p);
	return x.frag.size;
}

/* Bytes a summary counts for p: asked (MEMDBG), else usable. */
static uint64_t sum_bytes(const void *p, size_t asked)
{
	return MEMDBG ? asked : mem_usable_size(mem_pkg_pool, p);
}

static const struct mem_site_sum *row_at(const struct mem_sums_data *d,
		const char *func, int line)
{
	for (size_t i = 0; i < d->nsites; i++)
		if (d->sites[i].file && !strcmp(d->sites[i].file, __FILE__) &&
		    !strcmp(d->sites[i].func, func) &&
		    d->sites[i].line == (unsigned)line)
			return &d->sites[i];
	return NULL;
}

/* --- call sites ---------------------------------------------------------- */

START_TEST(test_sites_recorded)
{
	int la, lb, lc, lfa, lfb, lfc;
	start(_i);
	char *a = AT(&la, pkg_malloc(200));
	char *b = AT(&lb, pkg_malloc(200));
	char *c = AT(&lc, pkg_malloc(200));
	void *guard = pkg_malloc(200);
	struct t_find x = t_frag_at(mem_pkg_pool, b);
	ck_assert(x.found && x.frag.used && !x.frag.cached);
	site_is(x.frag.alloc, __func__, lb, "used b");
	ck_assert_ptr_null(x.frag.freed);
	ck_assert_uint_eq(x.frag.req_size, MEMDBG ? 200 : 0);
	AT(&lfa, pkg_free(a));
	x = t_frag_at(mem_pkg_pool, a);
	ck_assert(x.found && !x.frag.used);
	site_is(x.frag.alloc, __func__, la, "freed a: alloc");
	site_is(x.frag.freed, __func__, lfa, "freed a: free");
	/* b joins a: the fragment at a is the one freed last */
	AT(&lfb, pkg_free(b));
	x = t_frag_at(mem_pkg_pool, a);
	ck_assert(x.found && !x.frag.used && x.frag.size >= 400);
	site_is(x.frag.alloc, __func__, la, "a+b: alloc");
	site_is(x.frag.freed, __func__, lfa, "a+b: free");
	/* c joins them too; its own record survives inside for a double
	 * free of c to name */
	AT(&lfc, pkg_free(c));
	ck_assert_int_eq(mem_check(mem_pkg_pool), 0);
	t_log_clear();
	int l2;
	AT(&l2, pkg_free(c));
	char want[1024], s1[256], s2[256], s3[256];
	if (MEMDBG) {
		snprintf(want, sizeof(want), "double free %p at %s; allocated "
			"at %s; first freed at %s", (void *)c,
			t_site(s1, sizeof(s1), __FILE__, __func__, l2),
			t_site(s2, sizeof(s2), __FILE__, __func__, lc),
			t_site(s3, sizeof(s3), __FILE__, __func__, lfc));
		T_LOG_HAS(want);
	} else {
		T_LOG_HAS("no call site");
		T_ASSERT(!t_log_has("allocated at"), "MEMDBG=0 named a site:"
			"\n%s", t_log_buf);
	}
	ck_assert_int_eq(mem_check(mem_pkg_pool), 0);
	pkg_free(guard);
}
END_TEST

/* --- sums ---------------------------------------------------------------- */

/* The leak of the sums cases: 3 x 100 at one line, 1 x 200 at another,
 * 2 x 50 and 1 x 30 from module "dialog"; noise allocated and freed. */
struct leak {
	void *p100[3], *p200, *tm[3];
	int l100, l200;
};

static void leak_some(struct leak *k)
{
	for (int i = 0; i < 3; i++) {
		void *noise = pkg_malloc(64 + i);
		k->p100[i] = AT(&k->l100, pkg_malloc(100));
		pkg_free(noise);
	}
	k->p200 = AT(&k->l200, pkg_malloc(200));
	k->tm[0] = mem_malloc(mem_pkg_pool, 50, &dlg_new);
	k->tm[1] = mem_malloc(mem_pkg_pool, 50, &dlg_new);
	k->tm[2] = mem_malloc(mem_pkg_pool, 30, &dlg_cell);
}

static uint64_t leak_bytes(const struct leak *k)
{
	uint64_t n = sum_bytes(k->p200, 200) + sum_bytes(k->tm[0], 50) +
		sum_bytes(k->tm[1], 50) + sum_bytes(k->tm[2], 30);
	for (int i = 0; i < 3; i++)
		n += sum_bytes(k->p100[i], 100);
	return n;
}

static void row_is(const struct mem_site_sum *r, uint64_t count,
		uint64_t bytes, uint64_t usable, const char *what)
{
	T_ASSERT(r != NULL, "%s: no row", what);
	T_ASSERT(r->count == count && r->bytes == bytes && r->usable == usable,
		"%s: count %llu bytes %llu usable %llu, want %llu %llu %llu",
		what, (unsigned long long)r->count,
		(unsigned long long)r->bytes, (unsigned long long)r->usable,
		(unsigned long long)count, (unsigned long long)bytes,
		(unsigned long long)usable);
}

static void sums_memdbg(const struct mem_sums_data *d, const struct leak *k)
{
	ck_assert_int_eq(d->sites_known, 1);
	ck_assert_uint_eq(d->nsites, 4);
	uint64_t u100 = 0;
	for (int i = 0; i < 3; i++)
		u100 += walk_size(k->p100[i]);
	row_is(row_at(d, "leak_some", k->l100), 3, 300, u100, "3 x 100");
	row_is(&d->sites[0], 3, 300, u100, "largest");
	row_is(&d->sites[1], 1, 200, walk_size(k->p200), "second");
	site_is(&(struct mem_site){ d->sites[1].file, d->sites[1].func,
		d->sites[1].mod, d->sites[1].line }, "leak_some", k->l200, "200");
	row_is(&d->sites[2], 2, 100, walk_size(k->tm[0]) + walk_size(k->tm[1]),
		"dialog new");
	ck_assert_str_eq(d->sites[2].mod, "dialog");
	ck_assert_str_eq(d->sites[2].file, "dialog/dlg_hash.c");
	ck_assert_str_eq(d->sites[2].func, "new_dlg");
	ck_assert_uint_eq(d->sites[2].line, 40);
	row_is(&d->sites[3], 1, 30, walk_size(k->tm[2]), "dialog var");
}

START_TEST(test_sums)
{
	struct leak k;
	start(_i);
	leak_some(&k);
	struct mem_sums_data *d = mem_sums_get(mem_pkg_pool, NULL);
	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(d->pool, "pkg");
	ck_assert_str_eq(d->backend, t_backend_long(_i));
	ck_assert_int_eq(d->scan.result, 0);
	ck_assert_uint_eq(d->count, 7);
	ck_assert_uint_eq(d->bytes, leak_bytes(&k));
	if (MEMDBG) {
		sums_memdbg(d, &k);
	} else {        /* one row, no call site, exact totals */
		ck_assert_int_eq(d->sites_known, 0);
		ck_assert_uint_eq(d->nsites, 1);
		ck_assert_ptr_null(d->sites[0].file);
		row_is(&d->sites[0], 7, leak_bytes(&k), leak_bytes(&k), "all");
	}
	mem_sums_release(d);
}
END_TEST

START_TEST(test_sums_log)
{
	struct leak k;
	char want[512], s[256];
	start(_i);
	leak_some(&k);
	t_log_clear();
	pkg_sums();
	snprintf(want, sizeof(want), "<6> pkg: sums (%s): %d call sites, 7 "
		"used fragments, %llu bytes", t_backend_long(_i),
		MEMDBG ? 4 : 1, (unsigned long long)leak_bytes(&k));
	T_LOG_HAS(want);
	if (MEMDBG) {
		snprintf(want, sizeof(want), "pkg: sum: count=3 bytes=300 at "
			"%s\n", t_site(s, sizeof(s), __FILE__, "leak_some", k.l100));
		T_LOG_HAS(want);
		T_LOG_HAS("pkg: sum: count=2 bytes=100 at dialog/dlg_hash.c:"
			"new_dlg:40 [dialog]\n");
	} else {
		snprintf(want, sizeof(want), "pkg: sum: count=7 bytes=%llu at "
			"no call site\n", (unsigned long long)leak_bytes(&k));
		T_LOG_HAS(want);
		T_LOG_HAS("MEMDBG=0: no call sites recorded");
	}
	T_LOG_HAS("pkg: sums: scanned ");
	T_LOG_HAS(" fragments in 1 chunks, longest ");
}
END_TEST

START_TEST(test_mod_sums)
{
	struct leak k;
	start(_i);
	leak_some(&k);
	struct mem_sums_data *d = mem_sums_get(mem_pkg_pool, "all");
	ck_assert_ptr_nonnull(d);
	if (!MEMDBG) {
		ck_assert_uint_eq(d->nmods, 1);
		ck_assert_ptr_null(d->mods[0].mod);
		ck_assert_uint_eq(d->mods[0].count, 7);
		mem_sums_release(d);
		d = mem_sums_get(mem_pkg_pool, "dialog");   /* nothing known */
		ck_assert_uint_eq(d->nsites + d->nmods + d->count, 0);
		mem_sums_release(d);
		return;
	}
	ck_assert_uint_eq(d->nmods, 2);
	ck_assert_str_eq(d->mods[0].mod, "core");
	ck_assert_uint_eq(d->mods[0].count, 4);
	ck_assert_uint_eq(d->mods[0].bytes, 500);
	ck_assert_uint_eq(d->mods[0].nsites, 2);
	ck_assert_uint_eq(d->sites[d->mods[0].sites[0]].bytes, 300);
	ck_assert_str_eq(d->mods[1].mod, "dialog");
	ck_assert_uint_eq(d->mods[1].count, 3);
	ck_assert_uint_eq(d->mods[1].bytes, 130);
	ck_assert_str_eq(d->sites[d->mods[1].sites[0]].func, "new_dlg");
	ck_assert_str_eq(d->sites[d->mods[1].sites[1]].func, "new_var");
	mem_sums_release(d);
	d = mem_sums_get(mem_pkg_pool, "dialog");
	ck_assert_uint_eq(d->nmods, 1);
	ck_assert_uint_eq(d->nsites, 2);
	ck_assert_uint_eq(d->count, 3);
	ck_assert_uint_eq(d->bytes, 130);
	mem_sums_release(d);
}
END_TEST

START_TEST(test_mod_sums_log)
{
	struct leak k;
	start(_i);
	leak_some(&k);
	t_log_clear();
	mem_mod_sums(mem_pkg_pool, "dialog");
	if (MEMDBG) {
		T_LOG_HAS("pkg: module dialog: count=3 bytes=130 in 2 call "
			"sites\n");
		T_LOG_HAS("pkg: module site: count=1 bytes=30 at "
			"dialog/dlg_var.c:new_var:7 [dialog]\n");
		T_ASSERT(!t_log_has("module core"), "core listed:\n%s",
			t_log_buf);
	} else {
		T_LOG_HAS("pkg: modules (");
		T_LOG_HAS(": 0 modules, 0 used fragments, 0 bytes");
	}
	t_log_clear();
	mem_mod_sums(mem_pkg_pool, NULL);
	T_LOG_HAS(MEMDBG ? "pkg: module core: count=4 bytes=500 in 2 call sites"
		: "pkg: module (no call site): count=7");
}
END_TEST

/* Two records with the same text (two macros on one line) are one row. */
START_TEST(test_sums_merge)
{
	static const struct mem_site s1 = { "x.c", "f", "core", 1 };
	static const struct mem_site s2 = { "x.c", "f", "core", 1 };
	start(_i);
	mem_malloc(mem_pkg_pool, 10, &s1);
	mem_malloc(mem_pkg_pool, 20, &s2);
	struct mem_sums_data *d = mem_sums_get(mem_pkg_pool, NULL);
	ck_assert_uint_eq(d->nsites, 1);
	ck_assert_uint_eq(d->sites[0].count, 2);
	if (MEMDBG)
		ck_assert_uint_eq(d->sites[0].bytes, 30);
	else
		ck_assert_ptr_null(d->sites[0].file);
	mem_sums_release(d);
}
END_TEST

/* Enough sites to grow the table a few times: none lumped together. */
START_TEST(test_sums_many_sites)
{
	enum { N = 3000 };
	struct mem_site *sites = calloc(N, sizeof(*sites));
	start(_i);
	for (int i = 0; i < N; i++) {
		sites[i] = (struct mem_site){ "many.c", "f", "core", (unsigned)i };
		ck_assert_ptr_nonnull(mem_malloc(mem_pkg_pool, 1 + i % 7,
			&sites[i]));
	}
	struct mem_sums_data *d = mem_sums_get(mem_pkg_pool, NULL);
	ck_assert_uint_eq(d->nsites, MEMDBG ? N : 1);
	ck_assert_uint_eq(d->count, N);
	for (size_t i = 1; i < d->nsites; i++)
		T_ASSERT(d->sites[i - 1].bytes >= d->sites[i].bytes,
			"rows not largest first at %zu", i);
	mem_sums_release(d);
	free(sites);
}
END_TEST

/* --- report -------------------------------------------------------------- */

START_TEST(test_report)
{
	int ls, lb, lf;
	start(_i);
	void *small = AT(&ls, pkg_malloc(16));
	void *mid = pkg_malloc(100);
	void *gap = pkg_malloc(3000);
	void *big = AT(&lb, pkg_malloc(5000));
	void *tail = pkg_malloc(100);
	AT(&lf, pkg_free(gap));
	struct mem_report_data r;
	ck_assert_int_eq(mem_report_get(mem_pkg_pool, &r), 0);
	struct mem_info mi;
	pkg_info(&mi);
	ck_assert_mem_eq(&r.info, &mi, sizeof(mi));
	ck_assert_uint_eq(r.used_frags, 4);
	ck_assert_uint_eq(r.free_frags, mi.total_frags);
	ck_assert_uint_eq(r.cached_frags + r.broken_frags, 0);
	ck_assert_uint_eq(r.used_bytes, walk_size(small) + walk_size(mid) +
		walk_size(big) + walk_size(tail));
	ck_assert_uint_eq(r.used_bytes + 4 * DBG_EXTRA, mi.used_size);
	ck_assert_uint_eq(r.asked_bytes, MEMDBG ? 16 + 100 + 5000 + 100 : 0);
	ck_assert_ptr_eq(r.min_used.addr, small);
	site_is(r.min_used.alloc, __func__, ls, "smallest used");
	ck_assert_ptr_eq(r.max_used.addr, big);
	site_is(r.max_used.alloc, __func__, lb, "largest used");
	ck_assert_ptr_eq(r.min_free.addr, gap);
	site_is(r.min_free.freed, __func__, lf, "smallest free");
	ck_assert(r.max_free.size > POOL_SIZE / 2);    /* the rest */
	ck_assert_uint_eq(r.scan.result, 0);
	ck_assert_uint_eq(r.scan.frags, r.used_frags + r.free_frags);
}
END_TEST

START_TEST(test_report_log)
{
	int lb;
	char want[512], s[256];
	start(_i);
	pkg_malloc(16);
	void *big = AT(&lb, pkg_malloc(5000));
	t_log_clear();
	pkg_report();
	snprintf(want, sizeof(want), "<6> pkg: report (%s): total ",
		t_backend_long(_i));
	T_LOG_HAS(want);
	T_LOG_HAS("pkg: report: used fragments 2 (");
	snprintf(want, sizeof(want), "pkg: report: largest used %p %llu "
		"bytes (asked %d) allocated at %s\n", big,
		(unsigned long long)walk_size(big), MEMDBG ? 5000 : 0,
		MEMDBG ? t_site(s, sizeof(s), __FILE__, __func__, lb) : "no call site");
	T_LOG_HAS(want);
	T_LOG_HAS("pkg: report: largest free ");
	T_LOG_HAS("pkg: report: scanned 3 fragments in 1 chunks, longest ");
}
END_TEST

/* --- status -------------------------------------------------------------- */

struct seen {
	const void *addr[64];
	int n;
};

static int note(const struct mem_frag *f, void *arg)
{
	struct seen *s = arg;
	if (s->n < 64)
		s->addr[s->n] = f->addr;
	s->n++;
	return 0;
}

START_TEST(test_status_filter)
{
	struct leak k;
	struct seen all = { .n = 0 }, mine = { .n = 0 }, dlg = { .n = 0 };
	start(_i);
	leak_some(&k);
	ck_assert_int_eq(mem_scan(mem_pkg_pool, NULL, note, &all, NULL), 0);
	ck_assert_int_eq(mem_scan(mem_pkg_pool, "check_diag.c", note, &mine,
		NULL), 0);
	ck_assert_int_eq(mem_scan(mem_pkg_pool, "dialog", note, &dlg, NULL), 0);
	ck_assert_int_ge(all.n, 8);     /* 7 used, the free rest */
	ck_assert_int_eq(mine.n, MEMDBG ? 4 : 0);
	ck_assert_int_eq(dlg.n, MEMDBG ? 3 : 0);
	if (MEMDBG) {
		ck_assert_ptr_eq(dlg.addr[0], k.tm[0]);
		ck_assert_ptr_eq(dlg.addr[2], k.tm[2]);
	}
	t_log_clear();
	mem_status(mem_pkg_pool, "dialog");
	T_LOG_HAS(", used ones matching dialog\n");
	if (MEMDBG)
		T_LOG_HAS(" bytes (asked 50) allocated at "
			"dialog/dlg_hash.c:new_dlg:40 [dialog]\n");
	T_ASSERT(t_log_lines == (unsigned)dlg.n + 2, "%u lines:\n%s",
		t_log_lines, t_log_buf);
}
END_TEST

START_TEST(test_status_log)
{
	int la, lb, lf;
	char want[512], s1[256], s2[256];
	start(_i);
	void *a = AT(&la, pkg_malloc(300));
	void *b = AT(&lb, pkg_malloc(300));
	AT(&lf, pkg_free(a));
	t_log_clear();
	pkg_status();
	snprintf(want, sizeof(want), "<6> pkg: status (%s): total ",
		t_backend_long(_i));
	T_LOG_HAS(want);
	snprintf(want, sizeof(want), "pkg:      1. %p free %llu bytes, freed "
		"at %s, allocated at %s\n", a,
		(unsigned long long)t_frag_at(mem_pkg_pool, a).frag.size,
		MEMDBG ? t_site(s1, sizeof(s1), __FILE__, __func__, lf) : "no call site",
		MEMDBG ? t_site(s2, sizeof(s2), __FILE__, __func__, la) : "no call site");
	T_LOG_HAS(want);
	snprintf(want, sizeof(want), "pkg:      2. %p used %llu bytes (asked "
		"%d) allocated at %s\n", b, (unsigned long long)walk_size(b),
		MEMDBG ? 300 : 0,
		MEMDBG ? t_site(s1, sizeof(s1), __FILE__, __func__, lb) : "no call site");
	T_LOG_HAS(want);
	T_LOG_HAS("pkg: status: scanned 3 fragments in 1 chunks, longest ");
}
END_TEST

/* --- the scan ------------------------------------------------------------ */

/* What a scan must always be: fragments in the pool, aligned, in address
 * order without overlap; optionally the exact sequence of a walk, and the
 * number of times it met blocks of a set that nobody touches. */
struct order {
	struct mem_pool *pool;
	const char *prev;
	uint64_t prev_size;
	int n, bad;
	const void **addrs;     /* an exact walk's sequence, or NULL */
	const void **stable;    /* sorted, or NULL */
	size_t nstable, found;
	void **live;            /* fn frees and allocates these (churn) */
	size_t nlive;
	uint64_t seed;
};

static int ptr_cmp(const void *a, const void *b)
{
	const void *x = *(const void *const *)a, *y = *(const void *const *)b;
	return x < y ? -1 : x > y;
}

static int in_order(const struct mem_frag *f, void *arg)
{
	struct order *o = arg;
	const char *a = f->addr;
	o->bad += o->n && a < o->prev + o->prev_size;
	o->bad += !mem_pool_contains(o->pool, a) || (uintptr_t)a % 16;
	o->bad += o->addrs && o->addrs[o->n] != a;
	o->found += o->stable && f->used &&
		bsearch(&a, o->stable, o->nstable, sizeof(a), ptr_cmp);
	o->prev = a;
	o->prev_size = f->size;
	o->n++;
	if (o->nlive) {         /* allowed: fn runs with the lock released */
		size_t i = t_rand(&o->seed) % o->nlive;
		mem_free(o->pool, o->live[i], MEM_HERE);
		o->live[i] = mem_malloc(o->pool, t_range(&o->seed, 1, 900),
				MEM_HERE);
	}
	return 0;
}

static int record(const struct mem_frag *f, void *arg)
{
	struct order *o = arg;
	o->addrs[o->n++] = f->addr;
	return 0;
}

START_TEST(test_scan_chunks)
{
	enum { N = 500 };
	static const void *addrs[2 * N + 2];
	struct order exact = { .addrs = addrs }, o = { .addrs = addrs };
	struct mem_scan_stats st;
	start(_i);
	for (int i = 0; i < N; i++)
		pkg_malloc(1 + i % 300);
	ck_assert_int_eq(mem_walk(mem_pkg_pool, record, &exact), 0);
	mem_scan_chunk = 7;
	o.pool = mem_pkg_pool;
	ck_assert_int_eq(mem_scan(mem_pkg_pool, NULL, in_order, &o, &st), 0);
	ck_assert_int_eq(o.bad, 0);
	ck_assert_int_eq(o.n, exact.n);
	ck_assert_uint_eq(st.frags, (uint64_t)exact.n);
	ck_assert_uint_eq(st.sections, (uint64_t)(exact.n + 6) / 7);
	ck_assert_uint_eq(st.resyncs, 0);
	ck_assert(st.max_hold_ns > 0 && st.max_hold_ns <= st.total_hold_ns);
}
END_TEST

/* The resume point vanishes under the scan, twice: mem_scan_chunk = 1, so
 * every fragment ends a chunk and the next block is where the scan goes on.
 * At a[4], fn frees a[4] and a[5]: a[5] joins a[4], and the scan goes back
 * to a[4] (still a block) and skips it.  At a[17], fn frees a[0..18]: one
 * free block, no anchor left, so the scan starts over and skips it. */
struct resync {
	void *a[20];
	const void *seen[64];
	int n;
};

static int resync_fn(const struct mem_frag *f, void *arg)
{
	struct resync *r = arg;
	r->seen[r->n++] = f->addr;
	if (f->addr == r->a[4]) {
		pkg_free(r->a[4]);
		pkg_free(r->a[5]);
	} else if (f->addr == r->a[17]) {
		for (int i = 0; i <= 18; i++)
			if (i != 4 && i != 5)
				pkg_free(r->a[i]);
	}
	return 0;
}

START_TEST(test_scan_resync)
{
	struct resync r = { .n = 0 };
	struct mem_scan_stats st;
	int k = 0;
	start(_i);
	for (int i = 0; i < 20; i++)
		r.a[i] = pkg_malloc(100);
	mem_scan_chunk = 1;
	ck_assert_int_eq(mem_scan(mem_pkg_pool, NULL, resync_fn, &r, &st), 0);
	ck_assert_uint_eq(st.resyncs, 2);
	for (int i = 0; i < 20; i++)
		if (i != 5 && i != 18)
			T_ASSERT(r.seen[k++] == r.a[i], "fragment %d: %p, want "
				"a[%d] %p", k - 1, r.seen[k - 1], i, r.a[i]);
	ck_assert_int_eq(r.n, k + 1);   /* and the free rest of the pool */
	ck_assert_int_eq(mem_check(mem_pkg_pool), 0);
}
END_TEST

/* A damaged header (tlsf: its check bits, so the walk can pass it while
 * block_state() refuses it and its predecessor): the scan ends in order
 * with 0, -1 or -2, never loops, whatever the chunk. */
START_TEST(test_scan_corrupt)
{
	void *a[10];
	start(_i);
	for (int i = 0; i < 10; i++)
		a[i] = pkg_malloc(100);
	*(uint64_t *)((char *)a[5] - DBG_HEAD - 8) ^= (uint64_t)1 << 62;
	ck_assert_int_gt(mem_check(mem_pkg_pool), 0);
	for (unsigned c = 1; c <= 4; c++) {
		struct order o = { .pool = mem_pkg_pool };
		struct mem_scan_stats st;
		mem_scan_chunk = c;
		int rc = mem_scan(mem_pkg_pool, NULL, in_order, &o, &st);
		T_ASSERT(rc == 0 || rc == -1 || rc == -2, "chunk %u: %d", c, rc);
		ck_assert_int_eq(rc, st.result);
		ck_assert_int_eq(o.bad, 0);
		ck_assert_int_ge(o.n, 5);       /* a[0..4] at least */
	}
}
END_TEST

/* fn frees and allocates at every fragment: the scan stays in order, ends,
 * and sees every block nobody touched exactly once. */
START_TEST(test_scan_churn)
{
	enum { N = 400, STABLE = 50 };
	void *live[N];
	const void *stable[STABLE];
	struct order o = { .live = live, .nlive = N, .seed = 7,
		.stable = stable, .nstable = STABLE };
	struct mem_scan_stats st;
	start(_i);
	for (int i = 0; i < N; i++) {
		live[i] = pkg_malloc(t_range(&o.seed, 1, 900));
		if (i % 8 == 0)
			stable[i / 8] = pkg_malloc(77);
	}
	qsort(stable, STABLE, sizeof(*stable), ptr_cmp);
	mem_scan_chunk = 5;
	o.pool = mem_pkg_pool;
	ck_assert_int_eq(mem_scan(mem_pkg_pool, NULL, in_order, &o, &st), 0);
	ck_assert_int_eq(o.bad, 0);
	ck_assert_uint_eq(o.found, STABLE);
	ck_assert_int_eq(mem_check(mem_pkg_pool), 0);
}
END_TEST

/* Children allocate and free shm as fast as they can while the parent
 * scans with a small chunk: every scan ends in order and sees each of the
 * parent's untouched blocks exactly once; the heap stays sound. */
static int churn_child(uint64_t seed)
{
	void *slot[128] = { 0 };
	for (int i = 0; i < 100000; i++) {
		int k = (int)(t_rand(&seed) % 128);
		shm_free(slot[k]);
		if (!(slot[k] = shm_malloc(t_range(&seed, 1, 3000))))
			return 1;
	}
	for (int k = 0; k < 128; k++)
		shm_free(slot[k]);
	return 0;
}

/* Reap the children that have exited; how many are left. */
static int reap(pid_t *kid, int n)
{
	int left = 0, status;
	for (int c = 0; c < n; c++) {
		if (kid[c] && waitpid(kid[c], &status, WNOHANG) == kid[c]) {
			ck_assert(WIFEXITED(status) && !WEXITSTATUS(status));
			kid[c] = 0;
		}
		left += kid[c] != 0;
	}
	return left;
}

START_TEST(test_scan_concurrent)
{
	enum { STABLE = 200, KIDS = 2 };
	const void *stable[STABLE];
	pid_t kid[KIDS];
	uint64_t resyncs = 0;
	int scans = 0;
	t_log_start();
	ck_assert_int_eq(shm_init((size_t)32 << 20, t_backend(_i)), 0);
	for (int i = 0; i < STABLE; i++)
		stable[i] = shm_malloc(77);
	qsort(stable, STABLE, sizeof(*stable), ptr_cmp);
	for (int c = 0; c < KIDS; c++)
		if ((kid[c] = fork()) == 0)
			_exit(churn_child(100 + (uint64_t)c));
	mem_scan_chunk = 16;
	while (reap(kid, KIDS) || scans < 3) {
		struct order o = { .pool = mem_shm_pool, .stable = stable,
			.nstable = STABLE };
		struct mem_scan_stats st;
		ck_assert_int_eq(mem_scan(mem_shm_pool, NULL, in_order, &o, &st),
			0);
		ck_assert_int_eq(o.bad, 0);
		ck_assert_uint_eq(o.found, STABLE);
		resyncs += st.resyncs;
		scans++;
	}
	fprintf(stderr, "scan_concurrent %s: %d scans, %llu resyncs\n",
		t_backend(_i), scans, (unsigned long long)resyncs);
	ck_assert_int_eq(mem_check(mem_shm_pool), 0);
}
END_TEST

/* The resumable backend walk: any chunk size gives the walk's sequence. */
struct seq {
	void *p[256];
	int n;
};

static int seq_add(const struct mem_block *b, void *arg)
{
	struct seq *s = arg;
	s->p[s->n++] = b->payload;
	return s->n == 256;
}

START_TEST(test_walk_from)
{
	static const struct mem_backend *const be[] = {
		&mem_fm_backend, &mem_qm_backend, &mem_tlsf_backend,
	};
	static char region[1 << 20] __attribute__((aligned(16)));
	void *st = be[_i]->create(region, sizeof(region));
	struct seq whole = { .n = 0 };
	uint64_t seed = 3;
	void *p[100];
	for (int i = 0; i < 100; i++)
		p[i] = be[_i]->malloc(st, t_range(&seed, 1, 2000));
	for (int i = 0; i < 100; i += 3)
		be[_i]->free(st, p[i]);
	ck_assert_int_eq(be[_i]->walk(st, seq_add, &whole), 0);
	for (uint64_t k = 1; k <= 9; k += 4) {
		struct seq part = { .n = 0 };
		void *from = NULL;
		do
			ck_assert_int_eq(be[_i]->walk_from(st, &from, k, seq_add,
				&part), 0);
		while (from);
		ck_assert_int_eq(part.n, whole.n);
		ck_assert_mem_eq(part.p, whole.p,
			sizeof(void *) * (size_t)whole.n);
	}
	void *from = NULL;      /* fn stops it: from is the next block */
	struct seq stop = { .n = 255 };
	ck_assert_int_eq(be[_i]->walk_from(st, &from, 5, seq_add, &stop), 1);
	ck_assert_ptr_eq(from, whole.p[1]);
}
END_TEST

/* --- seeded defects ------------------------------------------------------ */

START_TEST(test_overflow)
{
	int la;
	char want[512], s[256];
	start(_i);
	char *p = AT(&la, pkg_malloc(100));
	void *next = pkg_malloc(100);
	if (!MEMDBG) {  /* no canary: past the usable end, into the guards */
		size_t n = mem_usable_size(mem_pkg_pool, p);
		ck_assert_ptr_null(t_frag_at(mem_pkg_pool, p).frag.alloc);
		memset(p + n, 0xa5, 8);
		ck_assert_int_gt(mem_check(mem_pkg_pool), 0);
		T_LOG_HAS("heap check: ");
		return;
	}
	p[100] = 'x';   /* one byte past what was asked for */
	ck_assert_int_eq(mem_check(mem_pkg_pool), 1);
	snprintf(want, sizeof(want), "pkg: heap check: write past the end of "
		"fragment %p (100 bytes) allocated at %s\n", (void *)p,
		t_site(s, sizeof(s), __FILE__, __func__, la));
	T_LOG_HAS(want);
	struct mem_report_data r;
	mem_report_get(mem_pkg_pool, &r);
	ck_assert_uint_eq(r.broken_frags, 1);
	ck_assert_ptr_eq(r.first_broken.addr, p);
	site_is(r.first_broken.alloc, __func__, la, "overflowed");
	t_log_clear();
	pkg_report();
	snprintf(want, sizeof(want), "<3> pkg: report: 1 fragments written "
		"past their end or over their record; first %p allocated at "
		"%s\n", (void *)p, s);
	T_LOG_HAS(want);
	t_log_clear();
	pkg_status();
	T_LOG_HAS("allocated at");
	T_LOG_HAS("; DAMAGED: end canary or record overwritten\n");
	t_log_clear();
	pkg_free(p);
	snprintf(want, sizeof(want), "write past the end of the fragment %p",
		(void *)p);
	T_LOG_HAS(want);
	snprintf(want, sizeof(want), "; allocated at %s\n", s);
	T_LOG_HAS(want);
	pkg_free(next);
}
END_TEST

/* q_malloc's own guards, in both builds: a write past the usable size. */
START_TEST(test_overflow_qm_guard)
{
	start(1);
	char *p = pkg_malloc(100);
	pkg_malloc(100);
	p[walk_size(p) + DBG_EXTRA - DBG_HEAD] ^= 0x5a;    /* the guard word */
	ck_assert_int_gt(mem_check(mem_pkg_pool), 0);
	T_LOG_HAS("qm: footer guard broken (write past the usable size?)");
}
END_TEST

/* --- cached fragments ---------------------------------------------------- */

START_TEST(test_cached)
{
	int la, lf;
	t_log_start();
	shm_cache_size = 512 << 10;
	ck_assert_int_eq(shm_init((size_t)8 << 20, t_backend(_i)), 0);
	void *keep = shm_malloc(64);
	void *p = AT(&la, shm_malloc(64));
	AT(&lf, shm_free(p));
	uint64_t bytes, blocks;
	shm_cache_stats(&bytes, &blocks);
	struct t_find x = t_frag_at(mem_shm_pool, p);
	ck_assert(x.found && !x.frag.used);
	ck_assert_int_eq(x.frag.cached, blocks > 0);
	if (blocks) {
		site_is(x.frag.alloc, __func__, la, "cached: alloc");
		site_is(x.frag.freed, __func__, lf, "cached: free");
	}
	struct mem_report_data r;
	mem_report_get(mem_shm_pool, &r);
	ck_assert_uint_eq(r.cached_frags, blocks);
	ck_assert_uint_eq(r.used_frags, 1);
	struct mem_sums_data *d = mem_sums_get(mem_shm_pool, NULL);
	ck_assert_uint_eq(d->count, 1);         /* cached ones are not used */
	mem_sums_release(d);
	shm_free(keep);
}
END_TEST

/* --- counters above 4 GiB ------------------------------------------------ */

START_TEST(test_above_4g)
{
	int l;
	char want[256];
	t_log_start();
	ck_assert_int_eq(pkg_init((size_t)5 << 30, t_backend(_i)), 0);
	void *p[3];
	for (int i = 0; i < 3; i++)
		p[i] = AT(&l, pkg_malloc(3 * GiB / 2));
	ck_assert(p[0] && p[1] && p[2]);
	struct mem_info mi;
	pkg_info(&mi);
	ck_assert_uint_gt(mi.used_size, 4 * GiB);
	ck_assert_uint_gt(mi.real_used, 9 * GiB / 2);
	uint64_t want_bytes = MEMDBG ? 9 * GiB / 2 :
		3 * (uint64_t)mem_usable_size(mem_pkg_pool, p[0]);
	struct mem_sums_data *d = mem_sums_get(mem_pkg_pool, NULL);
	ck_assert_uint_eq(d->nsites, 1);
	ck_assert_uint_eq(d->sites[0].count, 3);
	ck_assert_uint_eq(d->sites[0].bytes, want_bytes);
	ck_assert_uint_gt(d->sites[0].usable, 4 * GiB);
	mem_sums_release(d);
	t_log_clear();
	pkg_sums();
	snprintf(want, sizeof(want), "pkg: sum: count=3 bytes=%llu at ",
		(unsigned long long)want_bytes);
	T_LOG_HAS(want);
	for (int i = 0; i < 3; i++)
		pkg_free(p[i]);
	void *one = pkg_malloc(9 * GiB / 2);    /* one fragment > 4 GiB */
	struct mem_report_data r;
	mem_report_get(mem_pkg_pool, &r);
	ck_assert_ptr_eq(r.max_used.addr, one);
	ck_assert_uint_ge(r.max_used.size, 9 * GiB / 2);
	ck_assert_uint_eq(r.asked_bytes, MEMDBG ? 9 * GiB / 2 : 0);
	ck_assert_uint_gt(r.used_bytes, 4 * GiB);
}
END_TEST

/* --- mem_summary ---------------------------------------------------------- */

START_TEST(test_summary_poll)
{
	t_log_start();
	ck_assert_int_eq(pkg_init(POOL_SIZE, t_backend(_i)), 0);
	ck_assert_int_eq(shm_init((size_t)8 << 20, t_backend(_i)), 0);
	pkg_malloc(10);
	shm_malloc(20);
	mem_summary = 4 | 8;
	mem_summary_install();
	ck_assert_int_eq(mem_summary_poll(), 0);
	T_LOG_EMPTY();
	raise(SIGUSR1);
	ck_assert_int_eq(mem_summary_poll(), 1);
	T_LOG_HAS("<6> pkg: sums (");
	T_LOG_HAS("<6> shm: sums (");
	ck_assert_int_eq(mem_summary_poll(), 0);
	pid_t kid = fork();
	if (kid == 0) {         /* a worker: its pkg, never the shm */
		t_log_clear();
		raise(SIGUSR1);
		int ok = mem_summary_poll() == 1 && t_log_has("pkg: sums (") &&
			!t_log_has("shm: ");
		_exit(ok ? 0 : 1);
	}
	int status;
	ck_assert_int_eq(waitpid(kid, &status, 0), kid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	t_log_clear();
	mem_summary = 1 | 2;
	mem_summary_dump();
	T_LOG_HAS("<6> pkg: status (");
	T_LOG_HAS("<6> shm: status (");
	T_ASSERT(!t_log_has("sums"), "sums not asked for:\n%s", t_log_buf);
	mem_summary = 0;
}
END_TEST

/* --- the suite ------------------------------------------------------------ */

static void teardown(void)
{
	t_teardown();
	shm_cache_size = cache_default;
	mem_scan_chunk = chunk_default;
	mem_summary = 0;
}

static void add_loop(Suite *s, const char *name, const TTest *t, int n)
{
	t_add_loop(s, name, t, n, teardown, 120);
}

Suite *diag_suite(void)
{
	Suite *s = suite_create("diag");
	cache_default = shm_cache_size;
	chunk_default = mem_scan_chunk;
	add_loop(s, "sites_recorded", test_sites_recorded, T_NBACKENDS);
	add_loop(s, "sums", test_sums, T_NBACKENDS);
	add_loop(s, "sums_log", test_sums_log, T_NBACKENDS);
	add_loop(s, "mod_sums", test_mod_sums, T_NBACKENDS);
	add_loop(s, "mod_sums_log", test_mod_sums_log, T_NBACKENDS);
	add_loop(s, "sums_merge", test_sums_merge, T_NBACKENDS);
	add_loop(s, "sums_many_sites", test_sums_many_sites, T_NBACKENDS);
	add_loop(s, "report", test_report, T_NBACKENDS);
	add_loop(s, "report_log", test_report_log, T_NBACKENDS);
	add_loop(s, "status_filter", test_status_filter, T_NBACKENDS);
	add_loop(s, "status_log", test_status_log, T_NBACKENDS);
	add_loop(s, "scan_chunks", test_scan_chunks, T_NBACKENDS);
	add_loop(s, "scan_resync", test_scan_resync, T_NBACKENDS);
	add_loop(s, "scan_churn", test_scan_churn, T_NBACKENDS);
	add_loop(s, "scan_corrupt", test_scan_corrupt, T_NBACKENDS);
	add_loop(s, "scan_concurrent", test_scan_concurrent, T_NBACKENDS);
	add_loop(s, "walk_from", test_walk_from, T_NBACKENDS);
	add_loop(s, "overflow", test_overflow, T_NBACKENDS);
	add_loop(s, "overflow_qm_guard", test_overflow_qm_guard, 1);
	add_loop(s, "cached", test_cached, T_NBACKENDS);
	add_loop(s, "above_4g", test_above_4g, T_NBACKENDS);
	add_loop(s, "summary_poll", test_summary_poll, T_NBACKENDS);
	return s;
}
