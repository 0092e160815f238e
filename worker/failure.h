/* SPDX-License-Identifier: MIT */
/*
 * Text for the parent's failure paths (a dead child, a time limit, a dead
 * letter), built so that it can never fail: every byte string that came
 * from outside (a consumer name read from Redis, an entry id, a queue
 * name) is made valid UTF-8 before it goes into JSON, and the encoders'
 * results are checked, with a fixed fallback.  Pure functions, no I/O:
 * linked into the unit tests and the fuzz targets as they are.
 */
#ifndef CELERIAC_FAILURE_H
#define CELERIAC_FAILURE_H

#include <stddef.h>

/*
 * Copies the NUL-terminated src into dst[0..cap) as valid UTF-8: every byte
 * that is not part of a well-formed UTF-8 sequence is written as the four
 * characters "\xNN".  The copy is cut at a character boundary to fit and is
 * always NUL-terminated (cap must be >= 1).  Returns its length.
 */
size_t failure_text(char *dst, size_t cap, const char *src);

/*
 * The "reason" field of a dead letter (PROTOCOL.md, "Dead letters"):
 * {"error":{"type":…,"message":…},"deliveries":N,"worker":…,"at":…}.
 * Every string is passed through failure_text() first.  Returns an owned
 * string (free()), never NULL.
 */
char *failure_reason_new(const char *type, const char *why,
                         unsigned deliveries, const char *worker,
                         const char *at);

#endif
