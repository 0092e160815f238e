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

/*
 * Copies the top-level "task" and "id" string values of the JSON object
 * msg[0..len) into task and id (each n bytes, terminated; escapes
 * decoded).  A value is "" when absent, not a string, holding a control
 * character, too long for n, or when the message is not well formed up to
 * it; nested objects and arrays are skipped, and the first of duplicate
 * keys counts.  Bounded work whatever the size: long strings (a payload)
 * are skipped with memchr, and a message that needs more than 65,536
 * other steps (deep nesting, thousands of tiny values) is given up on.
 */
void taskscan_message(const char *msg, size_t len, char *task, char *id,
                      size_t n);
/* Unix ms of a stream entry id "<ms>-<seq>", or 0. */
long long taskscan_entry_ms(const char *entry_id);

#endif
