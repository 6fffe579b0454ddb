/*
 * alarm.h - usage alarms for the shm pool and each process's pkg pool
 * (alarm.c has the design).  Thresholds are percentages of a pool's total
 * in real_used terms; 0 turns a level off.
 */
#ifndef SRP_ALARM_H
#define SRP_ALARM_H

#include <stdint.h>

struct mem_info;

enum { ALARM_OK, ALARM_WARN, ALARM_CRIT };

#define ALARM_HYST 2    /* points below a threshold to fall back */

/* One pool's alarm: its level and how often each level was entered. */
struct alarm_state {
	uint32_t level;                 /* ALARM_* */
	int32_t pid;                    /* pkg: the process it belongs to */
	uint64_t raised[3];             /* [ALARM_WARN], [ALARM_CRIT] */
	uint64_t cleared;               /* falls back to ok */
};

/* Thresholds now (every process reads the shm copy). */
void alarm_get(unsigned *warn, unsigned *crit);
/* Set them (0..100, warn <= crit unless one is 0); 0, or -1 if invalid. */
int alarm_set(unsigned warn, unsigned crit);
/* Evaluate a pool: shm from any process (one wins each change), pkg by
 * the process itself.  Return the level after it. */
int alarm_check_shm(const struct mem_info *mi);
int alarm_check_pkg(const struct mem_info *mi);
/* A copy of the shm state / of entry i's pkg state (zeroed if none). */
void alarm_shm_state(struct alarm_state *out);
void alarm_pkg_state(int entry, struct alarm_state *out);
/* "ok", "warn", "crit" */
const char *alarm_name(int level);

#endif /* SRP_ALARM_H */
