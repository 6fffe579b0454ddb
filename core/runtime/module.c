/*
 * module.c - the modules the linker gathered in section "srp_modules".
 *
 * GNU ld defines __start_/__stop_ symbols for a section whose name is a C
 * identifier, but only when some object puts something in it; declared
 * weak, they are NULL in a build without modules (the unit tests link the
 * runtime alone), and the table is empty.  The hooks run in a fixed order,
 * `order` then name, whatever the link order was; the sorted table (at
 * most MODULES_MAX pointers) is built once, before the first fork.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/log.h"
#include "runtime/module.h"

#define MODULES_MAX 64

extern const struct srp_module __start_srp_modules[] __attribute__((weak));
extern const struct srp_module __stop_srp_modules[] __attribute__((weak));

static const struct srp_module *sorted[MODULES_MAX];
static int nsorted = -1;
static int ninited;             /* modules whose init() succeeded */

static int by_order(const void *a, const void *b)
{
	const struct srp_module *x = *(const struct srp_module *const *)a;
	const struct srp_module *y = *(const struct srp_module *const *)b;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void modules_sort(void)
{
	const struct srp_module *m;
	nsorted = 0;
	if (!__start_srp_modules || !__stop_srp_modules)
		return;
	for (m = __start_srp_modules; m < __stop_srp_modules; m++) {
		if (nsorted == MODULES_MAX) {
			LM_CRIT("more than %d modules; %s and later ignored",
				MODULES_MAX, m->name);
			break;
		}
		sorted[nsorted++] = m;
	}
	qsort(sorted, (size_t)nsorted, sizeof(sorted[0]), by_order);
}

int modules_list(const struct srp_module *const **out)
{
	if (nsorted < 0)
		modules_sort();
	*out = sorted;
	return nsorted;
}

int modules_init(void)
{
	const struct srp_module *const *m;
	int n = modules_list(&m);
	for (ninited = 0; ninited < n; ninited++) {
		if (!m[ninited]->init)
			continue;
		LM_DBG("module %s: init", m[ninited]->name);
		if (m[ninited]->init() < 0) {
			LM_ERR("module %s failed to start", m[ninited]->name);
			return -1;
		}
	}
	return 0;
}

/* Only the modules whose init() ran in the main process: a child's
 * set-up builds on it. */
int modules_child_init(int rank)
{
	const struct srp_module *const *m;
	modules_list(&m);
	for (int i = 0; i < ninited; i++)
		if (m[i]->child_init && m[i]->child_init(rank) < 0) {
			LM_ERR("module %s: child_init(rank %d) failed",
				m[i]->name, rank);
			return -1;
		}
	return 0;
}

/* Reverse order: a module is torn down before those it was built on;
 * only modules whose init() succeeded (a failed start-up must not undo
 * what it never did, such as another instance's socket file). */
void modules_destroy(void)
{
	const struct srp_module *const *m;
	modules_list(&m);
	while (ninited > 0) {
		ninited--;
		if (m[ninited]->destroy)
			m[ninited]->destroy();
	}
}
