/*
 * stats.c - the SIP counters (see stats.h) and RPC `core.stats`.
 *
 * Layout: PROC_MAX rows of SIP_STAT_N 64-bit counters in one shm block,
 * each row padded to whole cache lines so that two workers never write the
 * same line.  Writes are a relaxed load and store by the row's only writer;
 * reads are relaxed loads summed over the rows, so a reader may see a sum
 * that misses an increment in flight, never a torn one.  Cost: one cache
 * line write per counted event; memory PROC_MAX * ~320 bytes.
 */
#include <string.h>

#include "mem.h"
#include "rpc/rpc.h"
#include "runtime/log.h"
#include "runtime/proc.h"
#include "sip/stats.h"

#define ROW_WORDS (((SIP_STAT_N * 8 + 63) / 64) * 8)

static uint64_t *rows;          /* PROC_MAX * ROW_WORDS, in shm */

#define SIP_STAT_NAME(e, n) n,
static const char *const names[SIP_STAT_N] = { SIP_STATS(SIP_STAT_NAME) };
#undef SIP_STAT_NAME

int sip_stats_init(void)
{
	rows = shm_mallocxz(sizeof(uint64_t) * ROW_WORDS * PROC_MAX);
	if (!rows) {
		LM_ERR("no shm for the SIP counters");
		return -1;
	}
	return 0;
}

void sip_stats_destroy(void)
{
	shm_free(rows);
	rows = NULL;
}

void sip_stat_inc(enum sip_stat s)
{
	uint64_t *c;

	if (!rows || proc_index < 0 || proc_index >= PROC_MAX)
		return;
	c = &rows[(size_t)proc_index * ROW_WORDS + s];
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1,
			__ATOMIC_RELAXED);
}

/* The counter of a reply code: its own, else its class's. */
static enum sip_stat reply_stat(int code)
{
	static const struct { int code; enum sip_stat st; } own[] = {
		{200, ST_R200}, {202, ST_R202}, {300, ST_R300}, {301, ST_R301},
		{302, ST_R302}, {400, ST_R400}, {401, ST_R401}, {403, ST_R403},
		{404, ST_R404}, {407, ST_R407}, {408, ST_R408}, {423, ST_R423},
		{483, ST_R483}, {500, ST_R500}, {503, ST_R503},
	};
	static const enum sip_stat cls[] = { ST_R1XX, ST_R1XX, ST_R2XX,
		ST_R3XX, ST_R4XX, ST_R5XX, ST_R6XX };
	size_t i;

	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (own[i].code == code)
			return own[i].st;
	return cls[code >= 100 && code < 700 ? code / 100 : 6];
}

void sip_stat_reply(int code)
{
	sip_stat_inc(ST_SENT_REPLIES);
	sip_stat_inc(reply_stat(code));
}

uint64_t sip_stat_get(enum sip_stat s)
{
	uint64_t sum = 0;
	int i;

	if (!rows)
		return 0;
	for (i = 0; i < PROC_MAX; i++)
		sum += __atomic_load_n(&rows[(size_t)i * ROW_WORDS + s],
				__ATOMIC_RELAXED);
	return sum;
}

const char *sip_stat_name(enum sip_stat s)
{
	return s < SIP_STAT_N ? names[s] : "?";
}

/* core.stats [NAME]: every counter, or those whose name contains NAME
 * ("all" is every counter, as in kamcmd stats.get_statistics all). */
static int rpc_core_stats(struct rpc_ctx *c, json_t *params, json_t **result)
{
	const char *want = NULL;
	json_t *o;
	int s;

	if (rpc_arg_str(c, params, 0, "name", 0, &want) < 0)
		return -1;
	if (want && strcmp(want, "all") == 0)
		want = NULL;
	o = json_object();
	if (!o)
		return rpc_fail(c, RPC_INTERNAL, "out of memory");
	for (s = 0; s < SIP_STAT_N; s++)
		if (!want || strstr(names[s], want))
			json_object_set_new(o, names[s],
					json_integer((json_int_t)sip_stat_get(s)));
	*result = o;
	return 0;
}

RPC_METHOD(m_core_stats) = {
	.name = "core.stats",
	.fn = rpc_core_stats,
	.params = "[NAME|all]",
	.doc = "SIP counters summed over every process (Kamailio's names)",
};
