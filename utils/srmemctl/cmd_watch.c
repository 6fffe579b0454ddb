/*
 * cmd_watch.c - `watch`: shm usage and every process's pkg usage, redrawn
 * every --interval seconds (default 2) until interrupted, or --count
 * frames.  Each frame is two calls (core.shmmem, pkg.stats), so a frame
 * costs the server two cheap reads of published counters, never a heap
 * walk.  On a terminal each frame clears the screen and redraws (ANSI
 * "home + erase"); to a pipe or file the frames follow one another with
 * no escape codes, so `watch --count N > log` is a plain record.  With
 * --json each frame is one JSON object {frame, time, shm, pkg}.
 */
#include "srmemctl.h"
#include "table.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define WATCH_INTERVAL 2.0

void ctl_sleep(double secs)
{
	struct timespec ts = { (time_t)secs,
		(long)((secs - (double)(time_t)secs) * 1e9) };

	while (nanosleep(&ts, &ts) < 0)
		;
}

static void shm_line(const json_t *s)
{
	char a[FMT_LEN], b[FMT_LEN], d[FMT_LEN], e[FMT_LEN], f[FMT_LEN];
	char g[FMT_LEN];
	long long total = jint(s, "total");

	printf("shm %s: used %s, real_used %s (%.1f%%), free %s, "
			"max_used %s, cached %s, %lld fragments\n\n",
			fmt_bytes(a, sizeof(a), total),
			fmt_bytes(b, sizeof(b), jint(s, "used")),
			fmt_bytes(d, sizeof(d), jint(s, "real_used")),
			total ? 100.0 * jint(s, "real_used") / total : 0.0,
			fmt_bytes(e, sizeof(e), jint(s, "free")),
			fmt_bytes(f, sizeof(f), jint(s, "max_used")),
			fmt_bytes(g, sizeof(g), jint(s, "cached")),
			jint(s, "fragments"));
}

static void frame_text(long long n, long long count, double every,
		const json_t *shm, const json_t *pkg)
{
	char when[32], of[32] = "";
	time_t now = time(NULL);

	strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
	if (count)
		snprintf(of, sizeof(of), "/%lld", count);
	if (isatty(STDOUT_FILENO))
		fputs("\033[H\033[2J", stdout);
	else if (n > 1)
		putchar('\n');
	printf("srproxy memory at %s, every %g s, frame %lld%s\n", when,
			every, n, of);
	shm_line(shm);
	pkg_table(pkg);
}

static int frame(struct ctl *c, long long n, long long count, double every)
{
	json_t *shm, *pkg;
	int rc = ctl_call(c, "core.shmmem", NULL, &shm);

	if (rc)
		return rc;
	rc = ctl_call(c, "pkg.stats", NULL, &pkg);
	if (!rc && c->json) {
		json_t *f = json_pack("{s:I, s:I, s:O, s:O}", "frame", n,
				"time", (json_int_t)time(NULL), "shm", shm,
				"pkg", pkg);
		json_print(f);
		json_decref(f);
	} else if (!rc) {
		frame_text(n, count, every, shm, pkg);
	}
	fflush(stdout);
	json_decref(shm);
	json_decref(pkg);
	return rc;
}

int cmd_watch(struct ctl *c)
{
	double every;
	long long count;
	int rc = EXIT_OK;

	if (ctl_opt_secs(c, "--interval", WATCH_INTERVAL, &every) ||
			ctl_opt_long(c, "--count", 0, &count))
		return EXIT_USAGE;
	for (long long n = 1; !rc && (!count || n <= count); n++) {
		if (n > 1)
			ctl_sleep(every);
		rc = frame(c, n, count, every);
	}
	return rc;
}
