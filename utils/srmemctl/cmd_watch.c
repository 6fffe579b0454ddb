/*
 * cmd_watch.c - `watch`: shm usage and every process's pkg usage, redrawn
 * every --interval seconds (default 2) until interrupted, or --count
 * frames.  Each frame is two calls (core.shmmem, pkg.stats), so a frame
 * costs the server two cheap reads of published counters, never a heap
 * walk.  On a terminal each frame clears the screen and redraws (ANSI
 * "home + erase"); to a pipe or file the frames follow one another with
 * no escape codes, so `watch --count N > log` is a plain record.  With
 * --json each frame is one JSON object {frame, time, shm, pkg}.  Each
 * frame also shows how far shm's and each process's real_used moved
 * since the frame before: a slow leak shows as a column that never goes
 * back to 0 (then `srmemctl leaks` names its call site).
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

void watch_shm_line(const json_t *s, const json_t *prev)
{
	char a[FMT_LEN], b[FMT_LEN], d[FMT_LEN], e[FMT_LEN], f[FMT_LEN];
	char g[FMT_LEN], h[FMT_LEN];
	long long total = jint(s, "total");

	printf("shm %s: used %s, real_used %s (%.1f%%, change %s), free %s, "
			"max_used %s, cached %s, %lld free fragments\n\n",
			fmt_bytes(a, sizeof(a), total),
			fmt_bytes(b, sizeof(b), jint(s, "used")),
			fmt_bytes(d, sizeof(d), jint(s, "real_used")),
			pct_of(jint(s, "real_used"), total),
			prev ? fmt_change(h, sizeof(h), jint(s, "real_used") -
				jint(prev, "real_used")) : "-",
			fmt_bytes(e, sizeof(e), jint(s, "free")),
			fmt_bytes(f, sizeof(f), jint(s, "max_used")),
			fmt_bytes(g, sizeof(g), jint(s, "cached")),
			jint(s, "fragments"));
}

struct frame {
	long long n, count;     /* this frame, of count (0: no end) */
	double every;
	json_t *shm, *pkg;      /* this frame's results */
	json_t *shm0, *pkg0;    /* the last frame's, NULL at first */
};

void watch_frame_head(const char *what, long long n, long long count,
		double every)
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
	printf("srproxy %s at %s, every %g s, frame %lld%s\n", what, when,
			every, n, of);
}

static void frame_text(const struct frame *f)
{
	json_t *none = json_array();

	watch_frame_head("memory", f->n, f->count, f->every);
	watch_shm_line(f->shm, f->shm0);
	pkg_table(f->pkg, f->pkg0 ? f->pkg0 : none);
	json_decref(none);
}

static void frame_json(const struct frame *f)
{
	json_t *o = json_pack("{s:I, s:I, s:O, s:O}", "frame", f->n,
			"time", (json_int_t)time(NULL), "shm", f->shm,
			"pkg", f->pkg);

	json_print(o);
	json_decref(o);
}

/* One frame; the last frame's results are dropped, this one's kept. */
static int frame(struct ctl *c, struct frame *f)
{
	int rc = ctl_call(c, "core.shmmem", NULL, &f->shm);

	if (!rc && (rc = ctl_call(c, "pkg.stats", NULL, &f->pkg)))
		json_decref(f->shm);
	if (rc)
		return rc;
	if (c->json)
		frame_json(f);
	else
		frame_text(f);
	fflush(stdout);
	json_decref(f->shm0);
	json_decref(f->pkg0);
	f->shm0 = f->shm;
	f->pkg0 = f->pkg;
	return EXIT_OK;
}

int cmd_watch(struct ctl *c)
{
	struct frame f = { .n = 0 };
	int rc = EXIT_OK;

	if (ctl_opt_secs(c, "--interval", WATCH_INTERVAL, &f.every) ||
			ctl_opt_long(c, "--count", 0, &f.count))
		return EXIT_USAGE;
	for (f.n = 1; !rc && (!f.count || f.n <= f.count); f.n++) {
		if (f.n > 1)
			ctl_sleep(f.every);
		rc = frame(c, &f);
	}
	json_decref(f.shm0);
	json_decref(f.pkg0);
	return rc;
}
