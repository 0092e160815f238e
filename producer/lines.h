/* SPDX-License-Identifier: MIT */
/*
 * Reading a file or stdin line by line, fast and with bounded memory: one
 * large buffer that lines are returned from in place (no copy, no
 * allocation per line).  Used for `send --batch` input and `hash -c` lists.
 */
#ifndef CELERIAC_LINES_H
#define CELERIAC_LINES_H

#include <stddef.h>
#include <stdint.h>

#define LINES_EOF 0
#define LINES_OK 1
#define LINES_TOO_LONG 2

struct lines {
    int fd;               /* -1 when closed; 0 for stdin (not closed) */
    const char *name;     /* file name for messages; borrowed */
    char *buf;            /* owned */
    size_t cap;           /* allocated size of buf */
    size_t start, end;    /* unread bytes are buf[start..end) */
    size_t max;           /* longest line accepted, in bytes */
    int eof;              /* read() returned 0 */
    unsigned long lineno; /* number of the line last returned, from 1 */
    uint64_t offset;      /* bytes consumed so far (for progress) */
    uint64_t size;        /* file size when known (regular file), else 0 */
};

/*
 * Opens path ("-" is stdin).  Lines longer than max bytes are skipped with
 * LINES_TOO_LONG.  Returns 0, or -1 after printing why it cannot be read.
 */
int lines_open(struct lines *l, const char *path, size_t max);
/*
 * Returns the next line without its newline in *line and *len (valid until
 * next call; the byte after it may be overwritten with NUL).  Returns
 * LINES_OK, LINES_TOO_LONG (line skipped, *len = its length so far),
 * LINES_EOF, or -1 after printing a read error.
 */
int lines_next(struct lines *l, char **line, size_t *len);
void lines_close(struct lines *l);

#endif
