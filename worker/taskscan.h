/* SPDX-License-Identifier: MIT */
/*
 * The top-level "task" and "id" of a task message, found without decoding
 * it (for events, metrics and `celeriac inspect active`: the parent never
 * parses a message on its loop), and the creation time of a stream entry
 * from its id.  Pure functions.
 */
#ifndef CELERIAC_TASKSCAN_H
#define CELERIAC_TASKSCAN_H

#include <stddef.h>

/* The most bytes of a message looked at. */
#define TASKSCAN_MAX (64 * 1024)

/*
 * Copies the top-level "task" and "id" string values of the JSON object
 * msg[0..len) into task and id (each n bytes, terminated).  A value is ""
 * when absent, not a string, escaped, holding control characters, too
 * long for n, or past the first TASKSCAN_MAX bytes; nested objects and
 * arrays are skipped.
 */
void taskscan_message(const char *msg, size_t len, char *task, char *id,
                      size_t n);
/* Unix ms of a stream entry id "<ms>-<seq>", or 0. */
long long taskscan_entry_ms(const char *entry_id);

#endif
