/* SPDX-License-Identifier: MIT */
/*
 * A one-line progress display on stderr: label, count (of a total when
 * known), percentage, bar, rate and ETA, redrawn at most 10 times a second.
 * It draws only when stderr is a terminal and stdout is not (so that output
 * lines and the bar do not garble each other); otherwise every call is a
 * no-op.
 */
#ifndef CELERIAC_PROGRESS_H
#define CELERIAC_PROGRESS_H

#include <stdint.h>

struct progress {
    int enabled;       /* drawing at all */
    int drawn;         /* a line is on the screen and needs a newline */
    const char *label; /* "sent", "done", ...; borrowed */
    uint64_t total;    /* items expected; 0 = unknown */
    int64_t start_us;  /* when this phase began (cli_now_us clock) */
    int64_t last_us;   /* last redraw */
    double frac;       /* last fraction reported; < 0 unknown */
};

/*
 * Starts a phase; total 0 means unknown.  Ends a previous phase first.  The
 * struct must be zeroed before its first use.
 */
void progress_start(struct progress *p, const char *label, uint64_t total);
/*
 * Reports count items done.  frac is the fraction of the work done, or a
 * negative number to use count / total (ETA shown only when known).  The
 * first line is drawn after a quarter of a second, so quick runs show none.
 */
void progress_update(struct progress *p, uint64_t count, double frac);
/*
 * Erases the line (if drawn), so that a message can be written on stderr;
 * the next update draws it again.
 */
void progress_clear(struct progress *p);
/*
 * Draws the final state of the phase (if anything was drawn) and moves to
 * a new line.
 */
void progress_end(struct progress *p, uint64_t count);

#endif
