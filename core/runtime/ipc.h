/*
 * ipc.h - ask another process of the server to run a named command and
 * answer with text (JSON, to the RPC layer; the runtime does not look).
 *
 * Why: a process's pkg pool is private, so only that process can walk it
 * (pkg.summary PID, the test methods that allocate in a worker).
 *
 * How: every process binds an abstract UNIX datagram socket named after
 * the main pid and its table index, and serves requests from its event
 * loop.  A request is a small datagram {seq, name, arg}; the answer text is
 * put in shm by the serving process (module "ipc") and its address sent
 * back; the asking process copies it and frees the shm block, so a reply
 * of any size crosses without pipes or limits.  A reply that arrives after
 * its caller gave up is freed by the caller's next ipc_call().
 */
#ifndef SRP_IPC_H
#define SRP_IPC_H

#include <stddef.h>

#define IPC_NAME_MAX 32
#define IPC_ARG_MAX 1024

/* Runs in the serving process.  Returns the reply text in memory from
 * malloc() (freed by the runtime), or NULL with *err set to a static
 * message. */
typedef char *(*ipc_fn)(const char *arg, const char **err);

/* Register a command (before fork, main process). */
int ipc_register(const char *name, ipc_fn fn);
/* Bind this process's socket and add it to the loop (runtime, at child
 * start, and in main). */
int ipc_child_init(int index);
/* Run `name(arg)` in the process of table entry `index` and wait up to
 * timeout_ms.  Returns the reply (malloc'd, caller frees) or NULL with a
 * message in err. */
char *ipc_call(int index, const char *name, const char *arg, int timeout_ms,
		char *err, size_t errlen);

#endif /* SRP_IPC_H */
