/*
 * stats.h - the SIP counters of srproxy, read through RPC `core.stats`.
 *
 * Names are Kamailio's where Kamailio has the counter (core: rcv_requests,
 * fwd_replies, bad_msg_hdr...; sl: 200_replies, 4xx_replies, sent_replies;
 * registrar: accepted_regs, rejected_regs), so dashboards carry over.
 *
 * Storage: one row of counters per process-table entry, in shm, made by
 * the main process before fork.  A process only ever writes its own row
 * (single writer: a relaxed load and store, no lock, no atomic RMW on the
 * message path); a reader sums the rows.  A restarted entry goes on from
 * its predecessor's row, so totals never go back.
 */
#ifndef SRP_SIP_STATS_H
#define SRP_SIP_STATS_H

#include <stdint.h>

/* X(enum, "name") - the order is the order `core.stats` lists them. */
#define SIP_STATS(X) \
	X(RCV_REQUESTS, "rcv_requests") \
	X(RCV_REPLIES, "rcv_replies") \
	X(FWD_REQUESTS, "fwd_requests") \
	X(FWD_REPLIES, "fwd_replies") \
	X(DROP_REQUESTS, "drop_requests") \
	X(DROP_REPLIES, "drop_replies") \
	X(ERR_REQUESTS, "err_requests") \
	X(ERR_REPLIES, "err_replies") \
	X(BAD_MSG_HDR, "bad_msg_hdr") \
	X(BAD_URIS, "bad_URIs_rcvd") \
	X(UNSUPPORTED, "unsupported_methods") \
	X(TOO_LARGE, "too_large") \
	X(NO_MEM, "no_pkg_mem") \
	X(SENT_REPLIES, "sent_replies") \
	X(SEND_FAILURES, "failures") \
	X(R1XX, "1xx_replies") \
	X(R200, "200_replies") \
	X(R202, "202_replies") \
	X(R2XX, "2xx_replies") \
	X(R300, "300_replies") \
	X(R301, "301_replies") \
	X(R302, "302_replies") \
	X(R3XX, "3xx_replies") \
	X(R400, "400_replies") \
	X(R401, "401_replies") \
	X(R403, "403_replies") \
	X(R404, "404_replies") \
	X(R407, "407_replies") \
	X(R408, "408_replies") \
	X(R423, "423_replies") \
	X(R483, "483_replies") \
	X(R4XX, "4xx_replies") \
	X(R500, "500_replies") \
	X(R503, "503_replies") \
	X(R5XX, "5xx_replies") \
	X(R6XX, "6xx_replies") \
	X(RCV_ACKS, "received_ACKs") \
	X(ACCEPTED_REGS, "accepted_regs") \
	X(REJECTED_REGS, "rejected_regs")

#define SIP_STAT_ENUM(e, n) ST_##e,
enum sip_stat { SIP_STATS(SIP_STAT_ENUM) SIP_STAT_N };
#undef SIP_STAT_ENUM

/* Make the rows (main process, before fork).  0 or -1. */
int sip_stats_init(void);
void sip_stats_destroy(void);
/* Count one event in this process's row. */
void sip_stat_inc(enum sip_stat s);
/* Count a reply we sent: sent_replies, and the code's own counter if it has
 * one, else its class's (as Kamailio's sl: the Nxx counters hold the codes
 * of the class that have no counter of their own). */
void sip_stat_reply(int code);
/* The sum over every process. */
uint64_t sip_stat_get(enum sip_stat s);
const char *sip_stat_name(enum sip_stat s);

#endif /* SRP_SIP_STATS_H */
