/*
 * table.c - aligned text tables and human units (see table.h).
 *
 * Cells are kept as strings in a growing array of rows; printing makes
 * two passes (widths, then text).  Tables here are small (a row per
 * process or per call site shown, bounded by --top/--limit), so the
 * simple O(rows x cols) layout is all it needs.  Allocation failure ends
 * the program: a CLI has nothing better to do.
 */
#include "table.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define TBL_MAX_COLS 12

struct table {
	int ncols;
	const char *title[TBL_MAX_COLS];
	enum tbl_align align[TBL_MAX_COLS];
	size_t nrows, cap;
	char *(*rows)[TBL_MAX_COLS];
	int cur;                /* cells filled in the last row */
};

static void *need(void *p)
{
	if (!p) {
		fputs("srmemctl: out of memory\n", stderr);
		exit(EXIT_FAILURE);
	}
	return p;
}

struct table *tbl_new(void)
{
	return need(calloc(1, sizeof(struct table)));
}

void tbl_col(struct table *t, const char *title, enum tbl_align align)
{
	if (t->ncols == TBL_MAX_COLS)
		return;
	t->title[t->ncols] = title;
	t->align[t->ncols++] = align;
}

void tbl_row(struct table *t)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 16;
		t->rows = need(realloc(t->rows, t->cap * sizeof(*t->rows)));
	}
	memset(t->rows[t->nrows++], 0, sizeof(*t->rows));
	t->cur = 0;
}

void tbl_add(struct table *t, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!t->nrows)
		tbl_row(t);
	if (t->cur == t->ncols)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	t->rows[t->nrows - 1][t->cur++] = need(strdup(buf));
}

/* Columns on screen: UTF-8 continuation bytes take none ("→" is one). */
static int width(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static const char *cell(const struct table *t, size_t r, int c)
{
	const char *s = t->rows[r][c];

	return s ? s : "";
}

static void widths(const struct table *t, int *w)
{
	for (int c = 0; c < t->ncols; c++) {
		w[c] = width(t->title[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			int n = width(cell(t, r, c));
			if (n > w[c])
				w[c] = n;
		}
	}
}

static void line(const struct table *t, const int *w, const char **text,
		FILE *f)
{
	int last = t->ncols - 1;

	for (int c = 0; c <= last; c++) {
		int pad = w[c] - width(text[c]);
		if (c)
			fputs("  ", f);
		if (t->align[c] == TBL_R)
			fprintf(f, "%*s%s", pad, "", text[c]);
		else if (c == last)
			fputs(text[c], f);
		else
			fprintf(f, "%s%*s", text[c], pad, "");
	}
	fputc('\n', f);
}

void tbl_print(struct table *t, FILE *f)
{
	int w[TBL_MAX_COLS];
	const char *text[TBL_MAX_COLS];

	widths(t, w);
	line(t, w, t->title, f);
	for (size_t r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++)
			text[c] = cell(t, r, c);
		line(t, w, text, f);
	}
}

void tbl_free(struct table *t)
{
	if (!t)
		return;
	for (size_t r = 0; r < t->nrows; r++)
		for (int c = 0; c < TBL_MAX_COLS; c++)
			free(t->rows[r][c]);
	free(t->rows);
	free(t);
}

const char *fmt_bytes(char *buf, size_t size, long long bytes)
{
	static const char *unit[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = -1;

	if (bytes > -1024 && bytes < 1024) {
		snprintf(buf, size, "%lld B", bytes);
		return buf;
	}
	while ((v >= 1024 || v <= -1024) && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, "%.1f %s", v, unit[u]);
	return buf;
}

const char *fmt_secs(char *buf, size_t size, long long secs)
{
	long long d = secs / 86400, h = secs / 3600 % 24;
	long long m = secs / 60 % 60, s = secs % 60;

	if (d)
		snprintf(buf, size, "%lldd %02lld:%02lld:%02lld", d, h, m, s);
	else
		snprintf(buf, size, "%02lld:%02lld:%02lld", h, m, s);
	return buf;
}

const char *fmt_ns(char *buf, size_t size, long long ns)
{
	if (ns < 1000)
		snprintf(buf, size, "%lld ns", ns);
	else if (ns < 1000000)
		snprintf(buf, size, "%.1f us", ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, size, "%.1f ms", ns / 1e6);
	else
		snprintf(buf, size, "%.2f s", ns / 1e9);
	return buf;
}

double pct_of(long long part, long long whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}
