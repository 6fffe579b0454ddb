/*
 * shm_lock.c - locks for a program's own data in shm (mem.h: struct
 * shm_lock), so that a server can guard a hash bucket, a table or a
 * counter block with the same lock the library uses for its heap.
 *
 * A struct shm_lock is a struct mem_lock (lock.h) in a shm fragment of its
 * own: the futex word with the owner's pid in it (or a robust pthread
 * mutex with LOCK=pthread), so a holder that died is recognised by the
 * next taker within LOCK_CHECK_MS and the lock changes hands.  The library
 * cannot know what the dead holder left half-done in the data the lock
 * guards, so it does not try: shm_lock_get() returns 1 and the caller
 * checks (and repairs or drops) its data before trusting it.
 *
 * A struct shm_lock_set is n of them in one fragment, so that a table of
 * 4,096 buckets costs 4,096 locks and one header, not 4,096 fragments.
 *
 * Costs: one shm fragment per lock or per set (its header, plus the MEMDBG
 * record); get and release are mem_lock's (one CAS, one exchange
 * uncontended).
 */
#include <stddef.h>

#include "internal.h"

struct shm_lock {
	struct mem_lock lk;
};

struct shm_lock_set {
	unsigned n;
	struct shm_lock l[];
};

struct shm_lock *shm_lock_new(void)
{
	struct shm_lock *l = shm_malloc(sizeof(*l));
	if (!l)
		return NULL;
	if (mem_lock_init(&l->lk) < 0) {
		shm_free(l);
		return NULL;
	}
	return l;
}

void shm_lock_free(struct shm_lock *l)
{
	if (!l)
		return;
	mem_lock_destroy(&l->lk);
	shm_free(l);
}

int shm_lock_get(struct shm_lock *l)
{
	return mem_lock_get(&l->lk);
}

void shm_lock_release(struct shm_lock *l)
{
	mem_lock_release(&l->lk);
}

struct shm_lock_set *shm_lock_set_new(unsigned n)
{
	if (!n) {
		mem_log(MEM_L_ERR, "shm_lock_set_new: a set of 0 locks");
		return NULL;
	}
	struct shm_lock_set *s = shm_malloc(offsetof(struct shm_lock_set, l)
			+ (size_t)n * sizeof(s->l[0]));
	if (!s)
		return NULL;
	for (s->n = 0; s->n < n; s->n++) {
		if (mem_lock_init(&s->l[s->n].lk) < 0) {
			shm_lock_set_free(s);
			return NULL;
		}
	}
	return s;
}

void shm_lock_set_free(struct shm_lock_set *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->n; i++)
		mem_lock_destroy(&s->l[i].lk);
	shm_free(s);
}

struct shm_lock *shm_lock_set_at(struct shm_lock_set *s, unsigned i)
{
	if (i < s->n)
		return &s->l[i];
	mem_log(MEM_L_ERR, "shm_lock_set_at: lock %u of a set of %u", i, s->n);
	return NULL;
}
