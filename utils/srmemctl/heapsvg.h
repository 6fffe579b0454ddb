/*
 * heapsvg.h - a shm.map reply drawn as an SVG picture (heapsvg.c has the
 * drawing and its guarantees).
 */
#ifndef SRMEMCTL_HEAPSVG_H
#define SRMEMCTL_HEAPSVG_H

#include <stdio.h>

#include <jansson.h>

enum hmap_layout { HMAP_HILBERT, HMAP_STRIP };

/* Pixels of the map: 128 x 128 (Hilbert) or 256 x 64 (strip). */
#define HMAP_PIXELS 16384

/* Draw the map of reply (a shm.map result) to f; title names the pool
 * ("shm", "pkg of pid 42").  0, or -1 when the reply is not a map (a
 * message is printed). */
int hmap_svg(const json_t *reply, enum hmap_layout layout, const char *title,
		FILE *f);
/* The one-line caption of a map: pool, backend, used, free, largest free,
 * fragments. */
void hmap_caption(const json_t *reply, const char *title, char *buf,
		size_t size);

#endif /* SRMEMCTL_HEAPSVG_H */
