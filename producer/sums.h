/* SPDX-License-Identifier: MIT */
/*
 * The checksum line formats of coreutils sha512sum (9.x), so that
 * `celeriac hash` output is byte-identical and `celeriac hash -c` reads
 * what sha512sum writes:
 *
 *   [\]HEX  NAME          text mode ("HEX *NAME" in binary mode)
 *   [\]TAG (NAME) = HEX   --tag (BSD style), TAG e.g. "SHA512"
 *
 * A leading backslash means NAME is escaped: "\\" for a backslash, "\n"
 * for a newline, "\r" for a carriage return.  An unescaped NAME ends at the
 * first NUL byte, an escaped one may not hold any (as coreutils 9 reads
 * them).
 */
#ifndef CELERIAC_SUMS_H
#define CELERIAC_SUMS_H

#include <stddef.h>
#include <stdio.h>

/* Parser state kept across the lines of one checksum file. */
struct sums_parser {
    const char *tag; /* "SHA512" etc.; borrowed */
    size_t hexlen;   /* digest length in hex characters */
    int reversed;    /* -1 unknown, 0 GNU "HEX  NAME", 1 BSD "HEX NAME" */
};

/* One parsed line; the pointers point into the line. */
struct sums_line {
    char *hex;  /* hexlen hex digits, NUL-terminated */
    char *name; /* the file name, unescaped, NUL-terminated */
    int binary; /* '*' before the name */
};

/* The --tag label of an algorithm ("sha512" -> "SHA512"); caller frees. */
char *sums_tag(const char *algorithm);
/* True if coreutils escapes name when printing a checksum line. */
int sums_needs_escape(const char *name);
/* Writes name to out, escaping '\\', '\n' and '\r' if escape is set. */
void sums_put_name(FILE *out, const char *name, int escape);
/*
 * Quotes name for an error message the way coreutils does (shell style,
 * only when needed).  Returns a string the caller frees.
 */
char *sums_quote(const char *name);
/*
 * Parses one line of a checksum file, in place (line[len] must be
 * writable; a trailing '\r' is dropped).  Returns 1 with *out filled, 0
 * for a line to ignore (empty or a '#' comment), or -1 if the line is not
 * a proper checksum line.
 */
int sums_parse(struct sums_parser *p, char *line, size_t len,
               struct sums_line *out);

#endif
