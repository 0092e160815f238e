/* SPDX-License-Identifier: MIT */
/*
 * Escaping of untrusted bytes (task ids, key and queue names, error
 * reasons, URLs typed by a person) before they reach a log line or a
 * terminal: a newline in a task id must not forge a log line, and an ANSI
 * sequence in a key name must not drive the terminal of `celeriac status`.
 *
 * Valid UTF-8 passes unchanged, except the C0 controls (0x00-0x1f), DEL and
 * the C1 controls U+0080-U+009F; those and every byte that is not part of
 * valid UTF-8 are written as \xNN (lowercase hex).  With ESCAPE_BACKSLASH a
 * backslash is written as "\\", so that the output is unambiguous.
 */
#ifndef CELERIAC_ESCAPE_H
#define CELERIAC_ESCAPE_H

#include <stddef.h>

#define ESCAPE_BACKSLASH 1 /* write '\' as "\\" */

/*
 * Writes s[0..n) escaped into out (cap bytes, cap > 0), always
 * NUL-terminated; an escape sequence is never cut in two.  Returns the
 * number of input bytes consumed (n when everything fit).
 */
size_t escape_buf(char *out, size_t cap, const char *s, size_t n, int flags);
/* The escaped copy of the NUL-terminated s; the caller frees it. */
char *escape_dup(const char *s, int flags);

#endif
