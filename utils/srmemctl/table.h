/*
 * table.h - aligned text tables and human units for srmemctl's output.
 *
 * A table is built row by row (tbl_add() appends a cell to the last row,
 * tbl_row() starts a new one) and printed once, when every width is known:
 * a header line, then the rows; numbers right-aligned, text left-aligned,
 * the last column never padded.  Cells are copied, so callers may pass
 * stack buffers.
 */
#ifndef SRMEMCTL_TABLE_H
#define SRMEMCTL_TABLE_H

#include <stdio.h>

enum tbl_align { TBL_L, TBL_R };

struct table;

struct table *tbl_new(void);
void tbl_col(struct table *t, const char *title, enum tbl_align align);
void tbl_row(struct table *t);
void tbl_add(struct table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void tbl_print(struct table *t, FILE *f);
void tbl_free(struct table *t);

/* "512 B", "1.5 KiB", "64.0 MiB", "2.0 GiB": binary units, one decimal. */
const char *fmt_bytes(char *buf, size_t size, long long bytes);
/* "3d 04:05:06", "04:05:06" */
const char *fmt_secs(char *buf, size_t size, long long secs);

/* "850 ns", "12.5 us", "3.2 ms", "1.25 s" */
const char *fmt_ns(char *buf, size_t size, long long ns);

/* part in percent of whole; 0 when whole is 0. */
double pct_of(long long part, long long whole);

#define FMT_LEN 48

#endif /* SRMEMCTL_TABLE_H */
