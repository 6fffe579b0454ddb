/*
 * cmd_map.c - `map`: a pool drawn in address order (heapsvg.c draws).
 *
 *   srmemctl map [--pool shm|pkg] [--pid P] [--layout hilbert|strip]
 *                [--cells N] [-o FILE.svg|FILE.png|-]
 *
 * One shm.map call (with "pkg P" for a process's pkg pool) asking for at
 * most --cells runs (default 2048: a 64 MiB pool too fragmented to be
 * sent exactly arrives as cells of 32 KiB, eight pixels each, fine enough
 * to show where the fragmentation lies).  The SVG is written
 * here; a .png is the same SVG passed through the first converter that
 * works: rsvg-convert (Debian librsvg2-bin), then ImageMagick's magick or
 * convert, from FILE.png.svg (removed after).  With none, that SVG is kept,
 * and the command says so and exits 1.  --json prints the reply instead.  Without -o the SVG goes
 * to stdout; with -o the caption is printed.
 */
#include "heapsvg.h"
#include "srmemctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAP_CELLS 2048

static int ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && !strcmp(s + n - t, tail);
}

/* "-" is stdout; else a new file, or NULL after a message. */
static FILE *open_out(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
	if (!f)
		fprintf(stderr, "srmemctl: map: cannot write %s: %m\n", path);
	return f;
}

static int write_svg_file(const json_t *r, enum hmap_layout layout,
		const char *title, const char *path)
{
	FILE *f = open_out(path);
	int rc;
	if (!f)
		return -1;
	rc = hmap_svg(r, layout, title, f);
	if (f != stdout && fclose(f) != 0)
		rc = -1;
	return rc;
}

/* A PNG file starts with these 8 bytes. */
static int is_png(const char *path)
{
	static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n',
		0x1a, '\n' };
	unsigned char b[8];
	FILE *f = fopen(path, "rb");
	int ok = f && fread(b, 1, 8, f) == 8 && !memcmp(b, sig, 8);
	if (f)
		fclose(f);
	return ok;
}

static int shell_quote_ok(const char *s)
{
	return !strpbrk(s, "'\n");
}

/* svg -> png with the first converter that makes a PNG. */
static const char *convert_png(const char *svg, const char *png)
{
	static const char *const tools[][2] = {
		{ "rsvg-convert", "rsvg-convert -o '%2$s' '%1$s'" },
		{ "magick", "magick '%1$s' '%2$s'" },
		{ "convert", "convert '%1$s' '%2$s'" },
	};
	char cmd[4096 + 64];
	if (!shell_quote_ok(svg) || !shell_quote_ok(png))
		return NULL;
	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
		int n = snprintf(cmd, sizeof(cmd), tools[i][1], svg, png);
		if (n < 0 || (size_t)n >= sizeof(cmd) - 16)
			return NULL;
		strcat(cmd, " 2>/dev/null");
		unlink(png);
		if (system(cmd) == 0 && is_png(png))
			return tools[i][0];
	}
	unlink(png);
	return NULL;
}

static int write_png(const json_t *r, enum hmap_layout layout,
		const char *title, const char *png)
{
	char svg[4096];
	const char *tool;
	snprintf(svg, sizeof(svg), "%s.svg", png);     /* never the user's */
	if (write_svg_file(r, layout, title, svg) < 0)
		return EXIT_RPC;
	if (!(tool = convert_png(svg, png))) {
		fprintf(stderr, "srmemctl: map: no SVG-to-PNG converter works "
			"here (install rsvg-convert from librsvg2-bin, or "
			"ImageMagick); the map is in %s\n", svg);
		return EXIT_RPC;
	}
	unlink(svg);
	printf("wrote %s (with %s)\n", png, tool);
	return EXIT_OK;
}

struct map_req {
	const char *pool, *out, *layout;
	long long pid, cells;
};

static int map_opts(struct ctl *c, struct map_req *q)
{
	if (ctl_opt_pool_pid(c, &q->pool, &q->pid) ||
	    ctl_opt_long(c, "--cells", MAP_CELLS, &q->cells))
		return -1;
	q->out = ctl_opt(c, "-o") ? ctl_opt(c, "-o") : ctl_opt(c, "--output");
	q->layout = ctl_opt(c, "--layout") ? ctl_opt(c, "--layout") : "hilbert";
	if (!q->out)
		q->out = "-";
	if (strcmp(q->layout, "hilbert") && strcmp(q->layout, "strip"))
		return ctl_usage_error(c, "--layout: hilbert or strip, not %s",
			q->layout), -1;
	return 0;
}

static json_t *map_params(const struct map_req *q)
{
	json_t *p = json_array();
	if (!strcmp(q->pool, "pkg")) {
		json_array_append_new(p, json_string("pkg"));
		json_array_append_new(p, json_integer(q->pid));
	}
	json_array_append_new(p, json_string("cells"));
	json_array_append_new(p, json_integer(q->cells));
	return p;
}

static int draw(const struct map_req *q, const json_t *r)
{
	enum hmap_layout layout = strcmp(q->layout, "strip") ? HMAP_HILBERT :
		HMAP_STRIP;
	char title[64], cap[512];
	if (!strcmp(q->pool, "pkg"))
		snprintf(title, sizeof(title), "pkg of pid %lld", q->pid);
	else
		snprintf(title, sizeof(title), "shm");
	if (ends_with(q->out, ".png"))
		return write_png(r, layout, title, q->out);
	if (write_svg_file(r, layout, title, q->out) < 0)
		return EXIT_RPC;
	hmap_caption(r, title, cap, sizeof(cap));
	if (strcmp(q->out, "-"))
		printf("wrote %s: %s\n", q->out, cap);
	return EXIT_OK;
}

int cmd_map(struct ctl *c)
{
	struct map_req q;
	json_t *r;
	int rc, has;
	if (map_opts(c, &q) < 0)
		return EXIT_USAGE;
	if ((has = ctl_has_method(c, "shm.map", &rc)) < 0)
		return rc;
	if (!has) {
		fprintf(stderr, "srmemctl: map: not available in this version "
			"(the server has no shm.map)\n");
		return EXIT_RPC;
	}
	if ((rc = ctl_call(c, "shm.map", map_params(&q), &r)))
		return rc;
	rc = c->json ? json_print(r) : draw(&q, r);
	json_decref(r);
	return rc;
}
