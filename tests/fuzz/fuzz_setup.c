/*
 * fuzz_setup.c - the state the sip and rpc targets run in, made once per
 * process as srproxy's main process makes it before fork: pkg and shm,
 * jansson on pkg, the process table (this process alone, so no RPC
 * method needs IPC), the call-site table, the SIP counters and a small
 * registrar table.  No socket is opened: udp_init() is not called, so
 * replies and forwards are built, fail to send and are counted, and
 * nothing leaves the process.
 */
#include "memtest.h"
#include "fuzz.h"
#include "rpc/rpc_int.h"
#include "runtime/proc.h"
#include "sip/stats.h"
#include "sip/usrloc.h"

#define FUZZ_PKG ((size_t)8 << 20)
#define FUZZ_SHM ((size_t)32 << 20)

void fuzz_setup(void)
{
	static int done;
	static const struct ul_cfg cfg = { .hash_size = 64, .lim = {
		.default_expires = 3600, .min_expires = 60,
		.max_expires = 86400, .max_contacts = 10 } };
	if (done)
		return;
	done = 1;
	T_ASSERT(pkg_init(FUZZ_PKG, NULL) == 0 && shm_init(FUZZ_SHM, NULL) ==
		0, "fuzz_setup: pools");
	rpc_json_alloc_init();
	T_ASSERT(proc_table_init() == 0 && rpc_sites_init() == 0 &&
		sip_stats_init() == 0 && ul_init(&cfg) == 0,
		"fuzz_setup: tables");
	rpc_test_enabled = 0;
}
