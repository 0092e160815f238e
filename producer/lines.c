/* SPDX-License-Identifier: MIT */
/* A buffered line reader over a file descriptor. */
#include "lines.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "xmalloc.h"

#define LINES_CHUNK (1u << 20)

static int lines_fill(struct lines *l);

int
lines_open(struct lines *l, const char *path, size_t max)
{
    struct stat st;

    memset(l, 0, sizeof(*l));
    l->name = path;
    l->max = max;
    if (strcmp(path, "-") == 0) {
        l->fd = STDIN_FILENO;
        l->name = "standard input";
    } else if ((l->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        cli_warn("%s", path);
        return -1;
    }
    if (fstat(l->fd, &st) == 0 && S_ISREG(st.st_mode))
        l->size = (uint64_t)st.st_size;
    l->cap = LINES_CHUNK * 2;
    l->buf = xmalloc(l->cap + 1);
    return 0;
}

/*
 * Reads more bytes after the unread ones, moving them to the front or
 * growing the buffer first if there is no room.  Returns the number of
 * bytes read (0 at end of file), or -1 after printing a read error.
 */
static int
lines_fill(struct lines *l)
{
    if (l->start > 0 && (l->cap - l->end < LINES_CHUNK)) {
        memmove(l->buf, l->buf + l->start, l->end - l->start);
        l->end -= l->start;
        l->start = 0;
    }
    if (l->cap - l->end < LINES_CHUNK) {
        l->cap = l->cap * 2;
        l->buf = xrealloc(l->buf, l->cap + 1);
    }
    for (;;) {
        ssize_t n = read(l->fd, l->buf + l->end, l->cap - l->end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cli_warn("cannot read %s", l->name);
            return -1;
        }
        if (n == 0)
            l->eof = 1;
        l->end += (size_t)n;
        return (int)(n > 0);
    }
}

int
lines_next(struct lines *l, char **line, size_t *len)
{
    size_t scanned = 0; /* bytes after start known to hold no '\n' */
    int skipping = 0;   /* inside a line longer than max */
    size_t skipped = 0;

    for (;;) {
        char *p = l->buf + l->start;
        size_t avail = l->end - l->start;
        char *nl = memchr(p + scanned, '\n', avail - scanned);
        if (nl != NULL || (l->eof && avail > 0)) {
            size_t n = nl ? (size_t)(nl - p) : avail;
            l->start += n + (nl != NULL);
            l->offset += n + (nl != NULL);
            l->lineno++;
            if (skipping || n > l->max) {
                *line = NULL;
                *len = skipped + n;
                return LINES_TOO_LONG;
            }
            p[n] = '\0'; /* buf has one spare byte past cap */
            *line = p;
            *len = n;
            return LINES_OK;
        }
        if (l->eof)
            return LINES_EOF;
        if (avail > l->max) {
            /* Too long: drop what we have and look for its end. */
            skipping = 1;
            skipped += avail;
            l->offset += avail;
            l->start = l->end = 0;
            scanned = 0;
        } else {
            scanned = avail;
        }
        if (lines_fill(l) < 0)
            return -1;
    }
}

void
lines_close(struct lines *l)
{
    if (l->fd > STDIN_FILENO)
        close(l->fd);
    free(l->buf);
    memset(l, 0, sizeof(*l));
    l->fd = -1;
}
