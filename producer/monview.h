/* SPDX-License-Identifier: MIT */
/*
 * What `celeriac monitor` shows: a snapshot (snapshot.h) and the
 * throughput history turned into lines of text that fit a terminal of
 * cols × rows (0 × 0: no limit, the --once text).  Names from Redis are
 * escaped (cli_safe) so that no stored byte can move the cursor.
 */
#ifndef CELERIAC_MONVIEW_H
#define CELERIAC_MONVIEW_H

#include <jansson.h>
#include <stddef.h>

#include "snapshot.h"

/* The rendered screen: lines without their end of line. */
struct monview {
    char **line; /* owned */
    size_t n, cap;
};

/*
 * Renders doc (NULL: no snapshot yet; error, if not NULL, says why) into
 * v, emptied first.  utf8: the sparkline may use block characters;
 * interactive: the title says "q quits".
 */
void monview_render(struct monview *v, const json_t *doc,
                    const struct snapshot_history *h, const char *error,
                    int cols, int rows, int utf8, int interactive);
/* Frees the lines; v may be rendered into again. */
void monview_clear(struct monview *v);

#endif
