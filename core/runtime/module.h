/*
 * module.h - how a concern of the server (rpc, sip, ...) plugs into the
 * runtime without the runtime knowing it: each defines one static
 * struct srp_module with SRP_MODULE(), and the linker gathers them in the
 * section "srp_modules".  Adding a module is adding its files; the runtime
 * calls, in order of `order` (then name):
 *
 *   init()          main process, after pkg, shm and the process table,
 *                   before any fork: read settings, make shared state, add
 *                   processes (proc_add), timers (timer_register) and IPC
 *                   handlers (ipc_register).  -1 stops the start-up.
 *   child_init(r)   every child after fork, before its loop runs, with the
 *                   child's rank (1..n for SIP workers, PROC_TIMER,
 *                   PROC_RPC): open per-process fds, loop_add() them.
 *   destroy()       main process at shutdown, after every child ended
 *                   (reverse order).
 */
#ifndef SRP_MODULE_H
#define SRP_MODULE_H

struct srp_module {
	const char *name;
	int order;
	int (*init)(void);
	int (*child_init)(int rank);
	void (*destroy)(void);
};

#define SRP_MODULE(var) \
	static const struct srp_module var \
	__attribute__((used, section("srp_modules"), aligned(sizeof(void *))))

/* The modules in the order their hooks run; returns how many. */
int modules_list(const struct srp_module *const **out);
/* Run every module's hook in order; the first -1 stops and is returned.
 * child_init() and destroy() (in reverse order) run for the modules whose
 * init() succeeded.  A module keeps main-only clean-up
 * (unlinking its socket...) in destroy(), never in atexit(): children
 * inherit atexit handlers and leave through exit(). */
int modules_init(void);
int modules_child_init(int rank);
void modules_destroy(void);

#endif /* SRP_MODULE_H */
