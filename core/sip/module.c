/*
 * module.c - the "sip" module of srproxy: what the runtime calls to start
 * and stop the SIP side (module.h).
 *
 *   init         main process, before fork: the counters' shm rows, the
 *                UDP sockets on cfg.listen (-l; default 127.0.0.1:5060, a
 *                port above 1024, so no root is needed), one per worker.
 *                An address that cannot be bound stops the start-up with
 *                the reason.
 *   child_init   SIP workers (rank >= 1) add their socket to their loop;
 *                the timer and RPC processes do not read SIP.
 *   destroy      closes the socket, frees the rows.
 *
 * The registrations themselves are the usrloc module's (sip/usrloc*.c):
 * it makes its table in its own init, which runs before this one (order).
 */
#include "runtime/cfg.h"
#include "runtime/module.h"
#include "sip/stats.h"
#include "sip/udp.h"

static int sip_init(void)
{
	if (sip_stats_init() < 0)
		return -1;
	return udp_init(cfg.listen, cfg.workers);
}

static int sip_child_init(int rank)
{
	return rank >= 1 ? udp_child_init(rank) : 0;
}

static void sip_destroy(void)
{
	udp_destroy();
	sip_stats_destroy();
}

SRP_MODULE(sip_module) = {
	.name = "sip",
	.order = 50,
	.init = sip_init,
	.child_init = sip_child_init,
	.destroy = sip_destroy,
};
