/* The README's embedding example: init, fork, shm_malloc in a child,
 * shm_free in the parent.  Built like a user would: mem.h + libsrmem.a. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "mem.h"

int main(void)
{
	if (pkg_init(8 << 20, NULL) < 0 || shm_init(64 << 20, NULL) < 0)
		return 1;
	char **slot = shm_malloc(sizeof(char *));   /* shared with the child */
	pid_t pid = fork();
	if (pid == 0) {                             /* child: allocate */
		*slot = shm_malloc(32);
		strcpy(*slot, "hello from the child");
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	printf("%s (backend %s)\n", *slot, mem_default_backend());
	shm_free(*slot);                            /* parent: free */
	shm_free(slot);
	shm_destroy();
	return 0;
}
