/*
 * fuzz_alloc.c - allocator operation sequences decoded from an input, on a
 * fresh 256 KiB pkg pool of one backend, with the heap checker and a model
 * of the live blocks after every step.
 *
 * Input: a sequence of steps, each one operation byte and (where it takes
 * a size) two size bytes, little-endian u16 v:
 *   op >> 5   what: 0-1 malloc, 2 mallocxz, 3 free, 4 realloc,
 *             5 reallocxf, 6 misuse (MEMDBG builds), 7 rewrite;
 *   op & 31   which of 32 slots it works on (malloc into a held slot
 *             frees the old block first);
 *   v >> 14   the size's class: 0 v & 0xff, 1 v & 0xfff, 2 v & 0x3fff
 *             (past the pool's reach now and then), 3 a special size:
 *             0, SIZE_MAX, SIZE_MAX - 8 or more than the pool.
 * Misuse (op 6, MEMDBG): free a block twice, free a pointer 16 bytes into
 * a block, or free a pointer outside the pool: each must be reported
 * ("double free", "not the start of a fragment", "outside the pool") and
 * change nothing.  Rewrite (op 7): mem_usable_size() covers the size
 * asked for; the block gets a new pattern.
 * After every step: t_pool_verify() (mem_check() == 0 and every counter
 * from a walk; the used fragments are exactly the model's blocks) and
 * every block's contents; nothing but out-of-memory reports in the log.
 * At the end every block is freed and every counter is back at its start.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memtest.h"
#include "fuzz.h"

#define FUZZ_POOL ((size_t)256 << 10)
#define NSLOTS 32

struct fz {
	struct t_pool tp;
	struct t_live slot[NSLOTS];     /* p == NULL: empty */
	uint64_t seq;                   /* pattern words, all different */
	unsigned step;
};

static size_t decode_size(unsigned v)
{
	static const size_t special[4] = {
		0, SIZE_MAX, SIZE_MAX - 8, FUZZ_POOL + 1,
	};
	switch (v >> 14) {
	case 0: return v & 0xff;
	case 1: return v & 0xfff;
	case 2: return v & 0x3fff;
	default: return special[v & 3];
	}
}

/* The pattern of a new block or a rewritten one. */
static uint64_t next_word(struct fz *z)
{
	z->seq += T_PAT_STEP;
	return z->seq | 1;      /* never T_NOPAT */
}

/* A block the pool handed out for n bytes: aligned, in the pool; record
 * it in slot s and fill it. */
static void got(struct fz *z, struct t_live *s, void *p, size_t n)
{
	T_ASSERT((uintptr_t)p % 16 == 0 && mem_pool_contains(mem_pkg_pool, p),
		"step %u: bad pointer %p", z->step, p);
	*s = (struct t_live){ p, n, next_word(z) };
	t_fill(p, 0, n, s->w);
}

static void drop(struct t_live *s)
{
	pkg_free(s->p);
	memset(s, 0, sizeof(*s));
}

static void op_malloc(struct fz *z, struct t_live *s, size_t n, int zero)
{
	if (s->p)
		drop(s);
	void *p = zero ? pkg_mallocxz(n) : pkg_malloc(n);
	if (!p)
		return;
	if (zero)
		for (size_t i = 0; i < n; i++)
			T_ASSERT(((unsigned char *)p)[i] == 0, "step %u: "
				"mallocxz(%zu): byte %zu not zero", z->step, n,
				i);
	got(z, s, p, n);
}

/* realloc / reallocxf: on failure the block stays (realloc) or is gone
 * (reallocxf); size 0 frees it. */
static void op_realloc(struct fz *z, struct t_live *s, size_t n, int xf)
{
	struct t_live old = *s;
	void *q = xf ? pkg_reallocxf(s->p, n) : pkg_realloc(s->p, n);
	if (!q) {
		if (xf || n == 0 || !old.p)
			memset(s, 0, sizeof(*s));
		return;
	}
	size_t keep = old.n < n ? old.n : n;
	T_ASSERT(!old.p || t_verify(q, 0, keep, old.w) == SIZE_MAX, "step %u: "
		"realloc(%zu -> %zu) lost the contents", z->step, old.n, n);
	T_ASSERT((uintptr_t)q % 16 == 0, "step %u: bad pointer", z->step);
	*s = (struct t_live){ q, n, old.p ? old.w : next_word(z) };
	t_fill(q, old.p ? keep : 0, n, s->w);
}

/* A misuse is reported, and changes nothing. */
static void op_misuse(struct fz *z, struct t_live *s, unsigned how)
{
	static char outside[32];
	const char *want;
	t_log_clear();
	if (!MEMDBG)
		return;
	if (how == 0 && s->p) {
		void *p = s->p;
		drop(s);
		pkg_free(p);
		want = "double free";
	} else if (how == 1 && s->p && s->n >= 32) {
		pkg_free((char *)s->p + 16);
		want = "not the start of a fragment";
	} else {
		pkg_free(outside + 16);
		want = "outside the pool";
	}
	T_ASSERT(t_log_has(want), "step %u: misuse not reported as \"%s\": "
		"%s", z->step, want, t_log_buf);
	t_log_clear();
}

static void op_rewrite(struct fz *z, struct t_live *s)
{
	if (!s->p)
		return;
	size_t u = mem_usable_size(mem_pkg_pool, s->p);
	T_ASSERT(u >= s->n, "step %u: usable %zu < %zu asked", z->step, u,
		s->n);
	s->w = next_word(z);
	t_fill(s->p, 0, s->n, s->w);
}

/* Only out-of-memory reports may appear outside misuse steps. */
static void log_only_oom(struct fz *z)
{
	T_ASSERT(t_log_count("not enough memory") == t_log_lines, "step %u: unexpected report: %s",
		z->step, t_log_buf);
	t_log_clear();
}

static void verify(struct fz *z)
{
	struct t_live live[NSLOTS];
	size_t n = 0;
	char where[32];
	for (unsigned i = 0; i < NSLOTS; i++)
		if (z->slot[i].p)
			live[n++] = z->slot[i];
	snprintf(where, sizeof(where), "step %u", z->step);
	t_live_verify(live, n, where);
	t_pool_verify(&z->tp, live, n, where);
}

static void run_step(struct fz *z, unsigned op, unsigned v)
{
	struct t_live *s = &z->slot[op & (NSLOTS - 1)];
	size_t n = decode_size(v);
	switch (op >> 5) {
	case 0: case 1: op_malloc(z, s, n, 0); break;
	case 2: op_malloc(z, s, n, 1); break;
	case 3: if (s->p) drop(s); break;
	case 4: op_realloc(z, s, n, 0); break;
	case 5: op_realloc(z, s, n, 1); break;
	case 6: op_misuse(z, s, v % 3); break;
	default: op_rewrite(z, s); break;
	}
	log_only_oom(z);
	verify(z);
}

int fuzz_alloc(const char *backend, const uint8_t *d, size_t n)
{
	static struct fz z;
	memset(&z, 0, sizeof(z));
	t_log_start();
	mem_safety = 1;
	mem_oom_interval = 0;
	T_ASSERT(pkg_init(FUZZ_POOL, backend) == 0, "pkg_init(%s)", backend);
	t_pool_start(&z.tp, mem_pkg_pool);
	for (size_t i = 0; i < n; i += 3, z.step++)
		run_step(&z, d[i], (i + 1 < n ? d[i + 1] : 0) |
			(i + 2 < n ? (unsigned)d[i + 2] << 8 : 0));
	for (unsigned i = 0; i < NSLOTS; i++)
		if (z.slot[i].p)
			drop(&z.slot[i]);
	t_pool_verify(&z.tp, NULL, 0, "the end");
	t_pool_back_to_start(&z.tp, "the end");
	pkg_destroy();
	mem_set_log(NULL);
	return 0;
}

int fuzz_alloc_fm(const uint8_t *d, size_t n)
{
	return fuzz_alloc("fm", d, n);
}

int fuzz_alloc_qm(const uint8_t *d, size_t n)
{
	return fuzz_alloc("qm", d, n);
}

int fuzz_alloc_tlsf(const uint8_t *d, size_t n)
{
	return fuzz_alloc("tlsf", d, n);
}
