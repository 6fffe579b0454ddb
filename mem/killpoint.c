/*
 * killpoint.c - numbered kill points, for the kill sweep only.
 *
 * The allocator orders its stores for a process that dies between any
 * two of them: MEM_KILL_FENCE() (backend.h) marks each place where the
 * order matters, inside the backends (a split, a join), the common layer
 * (the journal) and the shm caches (a flush, a refill, the depot), and
 * MEM_KILL_POINT() a few places between fences worth a death (a list link
 * written before its block is listed).  In a build with MEM_KILL_POINTS=1
 * (`make killsweep`: a library of its own, never the shipped one) both
 * call mem_kill_point(), which counts the points this process has passed,
 * notes where each one is when the test asks (mem_kill_trace: the fence,
 * and the call chain that reached it), and raises SIGKILL at the one it
 * asked for.  tests/killsweep.c runs fixed sequences of shm calls once
 * to count their points, then once per chosen point with death there,
 * and checks after each what the survivors promise (doc/RELIABILITY.md):
 * no hang, no abort, no byte lost, a clean heap check.
 *
 * In every other build this file defines only mem_kill_points_built(),
 * a fence costs no instruction and a point is nothing.
 */
#include <execinfo.h>
#include <signal.h>
#include <stdint.h>

#include "backend.h"
#include "internal.h"

#if MEM_KILL_POINTS
unsigned long mem_kill_at;
unsigned long mem_kill_passed;
struct mem_kill_site *mem_kill_trace;
unsigned long mem_kill_trace_len;

/* Who called the fence's function, up to KILL_FRAMES deep, as one hash:
 * the same fence reached from a cache flush and from a locked free are
 * two places to die.  Only while tracing (the test's first run). */
#define KILL_FRAMES 12

static uint64_t call_chain(void)
{
	void *pc[KILL_FRAMES];
	int n = backtrace(pc, KILL_FRAMES);
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < n; i++)
		h = (h ^ (uint64_t)(uintptr_t)pc[i]) * 1099511628211ull;
	return h;
}

void mem_kill_point(const char *file, int line)
{
	unsigned long n = mem_kill_passed++;
	if (n < mem_kill_trace_len) {
		mem_kill_trace[n].file = file;
		mem_kill_trace[n].line = line;
		mem_kill_trace[n].at = __builtin_return_address(0);
		mem_kill_trace[n].ctx = call_chain();
	}
	if (n + 1 == mem_kill_at)
		raise(SIGKILL);
}
#endif

int mem_kill_points_built(void)
{
	return MEM_KILL_POINTS;
}
