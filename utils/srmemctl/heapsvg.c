/*
 * heapsvg.c - `srmemctl map`'s picture: a pool in address order, one
 * colour per fragment state (used by module, free, cached, broken).
 *
 * Layout.  The pool's region is cut into HMAP_PIXELS pixels of equal bytes
 * and the pixels are laid out in address order along a Hilbert curve
 * (128 x 128: neighbours in memory stay neighbours on the picture, so a
 * block is a compact blob) or in rows (a strip, 256 x 64, left to right).
 *
 * Colour.  A pixel usually covers several fragments (a 64 MiB pool: 4 KiB
 * a pixel).  Walking the pixels in address order, each class (a used
 * module, free, cached, broken) gains credit equal to the share of the
 * pixel's bytes it holds, and the pixel takes the class with the most
 * credit, which then pays one pixel.  So every class's pixel count is its
 * byte share of the pool to within a pixel or two (the leftover credit of
 * each class stays below one pixel), a region of one class is solid,
 * and a region where classes alternate below the pixel size comes out
 * speckled in their proportions: fragmentation is seen, not averaged
 * away.  The bytes come from the reply's runs, whose extents include the
 * fragments' headers; the caption's figures are the reply's totals
 * (payload bytes).
 *
 * Palette.  A module's colour is picked by a hash of its name from a
 * fixed palette, so it is the same on every map; two modules of one map
 * that hash alike take the next free colour (the larger one keeps its
 * own).  Free, cached, broken and the backend's "(heap)" have fixed
 * colours outside that palette.
 *
 * The SVG, for tools as well as eyes: one group per class (class
 * "cls", data-state, data-module, data-pixels) holding one path of
 * row-runs "M x y h w v 1 h -w z" in pixel units; the largest free blocks
 * as groups id "largest-free-N" (data-offset, data-size) with the
 * outline of their pixels and a numbered mark; the caption as text id
 * "caption"; the legend as group id "legend"; exact figures in <desc>.
 */
#include "heapsvg.h"
#include "srmemctl.h"
#include "table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLASSES 48
#define TOP_FREE 5
#define PALETTE 12

static const char *const palette[PALETTE] = {
	"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
	"#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39",
};
#define COLOUR_FREE "#ececec"
#define COLOUR_CACHED "#fde68a"
#define COLOUR_BROKEN "#d62728"
#define COLOUR_HEAP "#4d4d4d"

struct cls {
	const char *state;      /* "used", "free", "cached", "broken" */
	const char *mod;        /* used: the module */
	const char *colour;
	double bytes;           /* extent bytes in the runs */
	long pixels;
};

/* A run as drawn: up to four (class, bytes) parts over [off, end). */
struct mrun {
	double off, end;
	int n;
	int cls[4];
	double bytes[4];
};

struct map {
	unsigned w, h, scale;
	enum hmap_layout layout;
	double size, px;                /* bytes of the pool, of a pixel */
	int ncls;
	struct cls cls[MAX_CLASSES];
	size_t nruns;
	struct mrun *runs;
	unsigned char *img;             /* class per pixel, row-major */
	unsigned *d_at;                 /* curve index per pixel, row-major */
};

static void *need(void *p)
{
	if (!p) {
		fputs("srmemctl: out of memory\n", stderr);
		exit(EXIT_FAILURE);
	}
	return p;
}

/* --- the curve --------------------------------------------------------------- */

/* Index d along a Hilbert curve of side n (a power of 2) to (x, y). */
static void hilbert_xy(unsigned n, unsigned d, unsigned *x, unsigned *y)
{
	unsigned rx, ry, t = d;
	*x = *y = 0;
	for (unsigned s = 1; s < n; s *= 2) {
		rx = 1 & (t / 2);
		ry = 1 & (t ^ rx);
		if (!ry) {
			if (rx) {
				*x = s - 1 - *x;
				*y = s - 1 - *y;
			}
			unsigned k = *x;
			*x = *y;
			*y = k;
		}
		*x += s * rx;
		*y += s * ry;
		t /= 4;
	}
}

static void pixel_xy(const struct map *m, unsigned d, unsigned *x, unsigned *y)
{
	if (m->layout == HMAP_HILBERT) {
		hilbert_xy(m->w, d, x, y);
	} else {
		*x = d % m->w;
		*y = d / m->w;
	}
}

/* --- classes ------------------------------------------------------------------ */

static unsigned name_hash(const char *s)
{
	unsigned h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static int class_of(struct map *m, const char *state, const char *mod)
{
	int used = !strcmp(state, "used");
	if (!used)
		mod = NULL;
	else if (!mod)
		mod = "(unknown)";
	for (int i = 0; i < m->ncls; i++)
		if (!strcmp(m->cls[i].state, state) && (!used ||
				!strcmp(m->cls[i].mod, mod)))
			return i;
	if (m->ncls == MAX_CLASSES)
		return m->ncls - 1;     /* past the bound: the last class */
	m->cls[m->ncls] = (struct cls){ state, mod, NULL, 0, 0 };
	return m->ncls++;
}

static const char *fixed_colour(const struct cls *c)
{
	if (!strcmp(c->state, "free"))
		return COLOUR_FREE;
	if (!strcmp(c->state, "cached"))
		return COLOUR_CACHED;
	if (!strcmp(c->state, "broken"))
		return COLOUR_BROKEN;
	return !strcmp(c->mod, "(heap)") ? COLOUR_HEAP : NULL;
}

static int by_bytes(const void *a, const void *b)
{
	const struct cls *x = *(const struct cls *const *)a;
	const struct cls *y = *(const struct cls *const *)b;
	return (x->bytes < y->bytes) - (x->bytes > y->bytes);
}

/* Colours: fixed ones, then modules by hash, largest module first. */
static void colour_classes(struct map *m)
{
	struct cls *order[MAX_CLASSES];
	int taken[PALETTE] = { 0 };
	for (int i = 0; i < m->ncls; i++)
		order[i] = &m->cls[i];
	qsort(order, (size_t)m->ncls, sizeof(order[0]), by_bytes);
	for (int i = 0; i < m->ncls; i++) {
		struct cls *c = order[i];
		unsigned k = name_hash(c->mod ? c->mod : c->state) % PALETTE;
		if ((c->colour = fixed_colour(c)))
			continue;
		for (int t = 0; t < PALETTE && taken[k]; t++)
			k = (k + 1) % PALETTE;
		taken[k] = 1;
		c->colour = palette[k];
	}
}

/* --- the reply's runs --------------------------------------------------------- */

static void part(struct mrun *r, int cls, double bytes)
{
	if (bytes > 0 && r->n < 4) {
		r->cls[r->n] = cls;
		r->bytes[r->n++] = bytes;
	}
}

/* [off, len, state, module, frags (, used, free, cached, broken)] */
static int read_run(struct map *m, const json_t *a, struct mrun *r)
{
	static const char *const states[] = { "used", "free", "cached",
		"broken" };
	const char *st = json_string_value(json_array_get(a, 2));
	const char *mod = json_string_value(json_array_get(a, 3));
	double len = (double)json_integer_value(json_array_get(a, 1));
	if (!json_is_array(a) || !st)
		return -1;
	r->off = (double)json_integer_value(json_array_get(a, 0));
	r->end = r->off + len;
	r->n = 0;
	if (strcmp(st, "mixed")) {
		part(r, class_of(m, st, mod), len);
		return 0;
	}
	for (int s = 0; s < 4; s++) {
		double b = (double)json_integer_value(json_array_get(a, 5 + s));
		if (b > 0)
			part(r, class_of(m, states[s], mod), b);
	}
	return 0;
}

static int read_runs(struct map *m, const json_t *reply)
{
	const json_t *runs = json_object_get(reply, "runs"), *a;
	size_t i;
	if (!json_is_array(runs) || !(m->size > 0))
		return -1;
	m->nruns = json_array_size(runs);
	m->runs = need(calloc(m->nruns + 1, sizeof(*m->runs)));
	json_array_foreach(runs, i, a) {
		if (read_run(m, a, &m->runs[i]) < 0)
			return -1;
		for (int k = 0; k < m->runs[i].n; k++)
			m->cls[m->runs[i].cls[k]].bytes += m->runs[i].bytes[k];
	}
	return 0;
}

/* --- pixels -------------------------------------------------------------------- */

/* Bytes of each class in [lo, hi), from the runs from *first on. */
static void pixel_bytes(const struct map *m, size_t *first, double lo,
		double hi, double *v)
{
	memset(v, 0, sizeof(double) * MAX_CLASSES);
	for (size_t j = *first; j < m->nruns && m->runs[j].off < hi; j++) {
		const struct mrun *r = &m->runs[j];
		double a = r->off > lo ? r->off : lo;
		double b = r->end < hi ? r->end : hi;
		double len = r->end - r->off, sum = 0;
		for (int k = 0; k < r->n; k++)
			sum += r->bytes[k];
		if (b <= a || len <= 0 || sum <= 0)
			continue;
		for (int k = 0; k < r->n; k++)
			v[r->cls[k]] += (b - a) * r->bytes[k] / sum;
	}
	while (*first < m->nruns && m->runs[*first].end <= hi)
		(*first)++;
}

/* The class with the most credit takes the pixel and pays for it. */
static int pick(struct map *m, double *credit, const double *v)
{
	int best = 0;
	for (int k = 0; k < m->ncls; k++) {
		credit[k] += v[k] / m->px;
		if (credit[k] > credit[best])
			best = k;
	}
	credit[best] -= 1;
	m->cls[best].pixels++;
	return best;
}

static void rasterise(struct map *m)
{
	double credit[MAX_CLASSES] = { 0 }, v[MAX_CLASSES];
	size_t first = 0;
	unsigned n = m->w * m->h, x, y;
	m->img = need(calloc(n, 1));
	m->d_at = need(calloc(n, sizeof(*m->d_at)));
	for (unsigned d = 0; d < n; d++) {
		pixel_bytes(m, &first, d * m->px, (d + 1) * m->px, v);
		pixel_xy(m, d, &x, &y);
		m->img[y * m->w + x] = (unsigned char)pick(m, credit, v);
		m->d_at[y * m->w + x] = d;
	}
}

/* --- SVG ------------------------------------------------------------------------- */

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* One class's pixels as row-runs. */
static void class_path(const struct map *m, int k, FILE *f)
{
	const struct cls *c = &m->cls[k];
	fprintf(f, "<g class=\"cls\" data-state=\"%s\" data-module=\"", c->state);
	xml_text(f, c->mod ? c->mod : "");
	fprintf(f, "\" data-pixels=\"%ld\" fill=\"%s\"><path d=\"", c->pixels,
		c->colour);
	for (unsigned y = 0; y < m->h; y++)
		for (unsigned x = 0; x < m->w; x++) {
			unsigned x0 = x;
			if (m->img[y * m->w + x] != k)
				continue;
			while (x + 1 < m->w && m->img[y * m->w + x + 1] == k)
				x++;
			fprintf(f, "M%u %uh%uv1h-%uz", x0, y, x - x0 + 1,
				x - x0 + 1);
		}
	fputs("\"/></g>\n", f);
}

static int inside(const struct map *m, int x, int y, unsigned a, unsigned b)
{
	unsigned d;
	if (x < 0 || y < 0 || x >= (int)m->w || y >= (int)m->h)
		return 0;
	d = m->d_at[(unsigned)y * m->w + (unsigned)x];
	return d >= a && d <= b;
}

/* The outline of the pixels [a, b] of the curve: every pixel side whose
 * neighbour is not one of them. */
static void outline(const struct map *m, unsigned a, unsigned b, FILE *f)
{
	unsigned x, y;
	fputs("<path fill=\"none\" stroke=\"#000\" stroke-width=\"0.35\" d=\"", f);
	for (unsigned d = a; d <= b; d++) {
		pixel_xy(m, d, &x, &y);
		int X = (int)x, Y = (int)y;
		if (!inside(m, X, Y - 1, a, b))
			fprintf(f, "M%d %dh1", X, Y);
		if (!inside(m, X, Y + 1, a, b))
			fprintf(f, "M%d %dh1", X, Y + 1);
		if (!inside(m, X - 1, Y, a, b))
			fprintf(f, "M%d %dv1", X, Y);
		if (!inside(m, X + 1, Y, a, b))
			fprintf(f, "M%d %dv1", X + 1, Y);
	}
	fputs("\"/>\n", f);
}

static void free_mark(const struct map *m, int i, const json_t *blk, FILE *f)
{
	double off = (double)jint(blk, "offset"), size = (double)jint(blk, "size");
	unsigned n = m->w * m->h, a = (unsigned)(off / m->px), b;
	unsigned x, y;
	b = (unsigned)((off + (size > 0 ? size - 1 : 0)) / m->px);
	if (a >= n)
		return;
	if (b >= n)
		b = n - 1;
	fprintf(f, "<g id=\"largest-free-%d\" data-rank=\"%d\" data-address=\"%s\" "
		"data-offset=\"%lld\" data-size=\"%lld\">\n", i + 1, i + 1,
		jstr_or(blk, "address", "?"), jint(blk, "offset"),
		jint(blk, "size"));
	outline(m, a, b, f);
	pixel_xy(m, a + (b - a) / 2, &x, &y);
	fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\" fill=\"#fff\" "
		"stroke=\"#000\" stroke-width=\"0.3\"/><text x=\"%.1f\" "
		"y=\"%.1f\" font-size=\"3\" text-anchor=\"middle\" "
		"font-family=\"sans-serif\">%d</text>\n</g>\n", x + 0.5, y + 0.5,
		x + 0.5, y + 1.5, i + 1);
}

static void map_body(const struct map *m, const json_t *reply, FILE *f)
{
	const json_t *top = json_object_get(reply, "largest_free"), *blk;
	size_t i;
	fprintf(f, "<g id=\"map\" transform=\"translate(10 44) scale(%u)\">\n"
		"<rect width=\"%u\" height=\"%u\" fill=\"#fff\" stroke=\"#999\" "
		"stroke-width=\"0.2\"/>\n", m->scale, m->w, m->h);
	for (int k = 0; k < m->ncls; k++)
		if (m->cls[k].pixels)
			class_path(m, k, f);
	json_array_foreach(top, i, blk)
		if (i < TOP_FREE)
			free_mark(m, (int)i, blk, f);
	fputs("</g>\n", f);
}

static void legend_row(FILE *f, int x, int y, const char *colour,
		const char *label, const char *value)
{
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" "
		"fill=\"%s\" stroke=\"#666\" stroke-width=\"0.5\"/>"
		"<text x=\"%d\" y=\"%d\">", x, y - 10, colour, x + 18, y);
	xml_text(f, label);
	fputs(" ", f);
	xml_text(f, value);
	fputs("</text>\n", f);
}

/* The legend: every class drawn, largest first, then the free blocks. */
static int legend(const struct map *m, const json_t *reply, int x, FILE *f)
{
	const struct cls *order[MAX_CLASSES];
	const json_t *top = json_object_get(reply, "largest_free"), *blk;
	char label[160], val[96], b[FMT_LEN];
	int y = 62;
	size_t i;
	for (int k = 0; k < m->ncls; k++)
		order[k] = &m->cls[k];
	qsort(order, (size_t)m->ncls, sizeof(order[0]), by_bytes);
	fprintf(f, "<g id=\"legend\" font-family=\"sans-serif\" "
		"font-size=\"12\">\n<text x=\"%d\" y=\"%d\" "
		"font-weight=\"bold\">state: module, bytes, share</text>\n",
		x, y - 18);
	for (int k = 0; k < m->ncls; k++, y += 18) {
		const struct cls *c = order[k];
		snprintf(label, sizeof(label), "%s%s%s", c->state,
			c->mod ? ": " : "", c->mod ? c->mod : "");
		snprintf(val, sizeof(val), "%s, %.1f%%", fmt_bytes(b, sizeof(b),
			(long long)c->bytes), 100 * c->bytes / m->size);
		legend_row(f, x, y, c->colour, label, val);
	}
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">largest "
		"free blocks (outlined)</text>\n", x, y += 8);
	json_array_foreach(top, i, blk) {
		if (i >= TOP_FREE)
			break;
		fprintf(f, "<text x=\"%d\" y=\"%d\">%zu: %s at %s</text>\n", x,
			y += 18, i + 1, fmt_bytes(b, sizeof(b), jint(blk, "size")),
			jstr_or(blk, "address", "?"));
	}
	fputs("</g>\n", f);
	return y + 10;
}

void hmap_caption(const json_t *reply, const char *title, char *buf,
		size_t size)
{
	const json_t *t = json_object_get(reply, "totals");
	char s[FMT_LEN], u[FMT_LEN], fr[FMT_LEN], l[FMT_LEN], c[FMT_LEN + 16] = "";
	if (jint(t, "cached"))
		snprintf(c, sizeof(c), ", cached %s", fmt_bytes(l, sizeof(l),
			jint(t, "cached")));
	snprintf(buf, size, "%s pool, %s, %s: used %s, free %s%s, largest free "
		"%s, %lld fragments", title, jstr_or(reply, "backend", "?"),
		fmt_bytes(s, sizeof(s), jint(reply, "size")),
		fmt_bytes(u, sizeof(u), jint(t, "used")),
		fmt_bytes(fr, sizeof(fr), jint(t, "free")), c,
		fmt_bytes(l, sizeof(l), jint(t, "largest_free")),
		jint(t, "fragments"));
}

static void desc(const json_t *reply, FILE *f)
{
	const json_t *t = json_object_get(reply, "totals");
	fprintf(f, "<desc>pool=%s backend=%s size=%lld used=%lld free=%lld "
		"cached=%lld broken=%lld largest_free=%lld fragments=%lld "
		"runs=%lld reduced=%s</desc>\n", jstr_or(reply, "pool", "?"),
		jstr_or(reply, "backend", "?"), jint(reply, "size"),
		jint(t, "used"), jint(t, "free"), jint(t, "cached"),
		jint(t, "broken"), jint(t, "largest_free"), jint(t, "fragments"),
		jint(reply, "count"), json_is_true(json_object_get(reply,
		"reduced")) ? "yes" : "no");
}

static void notes(const struct map *m, const json_t *reply, int y, FILE *f)
{
	const json_t *scan = json_object_get(reply, "scan");
	char px[FMT_LEN];
	fprintf(f, "<text id=\"notes\" x=\"10\" y=\"%d\" font-family="
		"\"sans-serif\" font-size=\"11\" fill=\"#444\">address order "
		"%s, one pixel = %s; %lld runs%s; scan: %lld chunks, longest "
		"lock hold %lld us</text>\n", y, m->layout == HMAP_HILBERT ?
		"along a Hilbert curve from the top left" : "in rows, left to "
		"right", fmt_bytes(px, sizeof(px), (long long)m->px),
		jint(reply, "count"), json_is_true(json_object_get(reply,
		"reduced")) ? " (reduced to cells)" : "",
		jint(scan, "chunks"), jint(scan, "max_hold_us"));
}

static void write_svg(const struct map *m, const json_t *reply,
		const char *title, FILE *f)
{
	char cap[512];
	int mw = (int)(m->w * m->scale), mh = (int)(m->h * m->scale);
	int lh = 62 + 18 * m->ncls + 8 + 18 * TOP_FREE + 10;
	int h = (mh + 80 > lh ? mh + 80 : lh);
	hmap_caption(reply, title, cap, sizeof(cap));
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns="
		"\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\">\n", mw + 400, h, mw + 400, h);
	desc(reply, f);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n"
		"<text id=\"caption\" x=\"10\" y=\"26\" font-family=\"sans-serif\" "
		"font-size=\"15\">");
	xml_text(f, cap);
	fputs("</text>\n", f);
	map_body(m, reply, f);
	notes(m, reply, 44 + mh + 20, f);
	legend(m, reply, mw + 30, f);
	fputs("</svg>\n", f);
}

int hmap_svg(const json_t *reply, enum hmap_layout layout, const char *title,
		FILE *f)
{
	struct map m = { .layout = layout };
	m.w = layout == HMAP_HILBERT ? 128 : 256;
	m.h = HMAP_PIXELS / m.w;
	m.scale = layout == HMAP_HILBERT ? 4 : 3;
	m.size = (double)jint(reply, "size");
	m.px = m.size / HMAP_PIXELS;
	if (read_runs(&m, reply) < 0) {
		fputs("srmemctl: map: the reply is not a map (no runs)\n", stderr);
		free(m.runs);
		return -1;
	}
	colour_classes(&m);
	rasterise(&m);
	write_svg(&m, reply, title, f);
	free(m.runs);
	free(m.img);
	free(m.d_at);
	return 0;
}
