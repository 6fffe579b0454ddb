/*
 * usrloc_mod.c - the "usrloc" module of srproxy: makes the location table
 * in the main process before fork (so every SIP worker sees it) and gives
 * its expiry to the timer process, which thus frees blocks the workers
 * allocated.  Its order (40) puts it before the "sip" module (50), whose
 * workers use the table.
 *
 * Settings: ul_settings (usrloc.h), the defaults unless the options
 * change them before modules_init().  The expiry job runs every UL_TIMER_MS: a
 * binding outlives its expiry by at most that long in memory, never in
 * what lookups answer (they skip expired bindings).
 */
#include <time.h>

#include "runtime/log.h"
#include "runtime/module.h"
#include "runtime/timer.h"
#include "sip/usrloc.h"

#define UL_TIMER_MS 5000

struct ul_cfg ul_settings = UL_CFG_DEFAULT;

static void ul_expire(uint64_t now_ms, void *arg)
{
	(void)now_ms;
	(void)arg;
	unsigned n = ul_timer((int64_t)time(NULL));
	if (n)
		LM_DBG("usrloc: %u binding(s) expired", n);
}

static int ul_mod_init(void)
{
	if (ul_init(&ul_settings) < 0)
		return -1;
	return timer_register("usrloc", UL_TIMER_MS, ul_expire, NULL);
}

SRP_MODULE(usrloc_module) = {
	.name = "usrloc",
	.order = 40,
	.init = ul_mod_init,
	.destroy = ul_destroy,
};
