/* SPDX-License-Identifier: MIT */
/*
 * Allocation wrappers that end the process with a message on out-of-memory,
 * so that error paths elsewhere are left for real errors.  Whatever they
 * return is owned by the caller and released with free().
 */
#ifndef CELERIAC_XMALLOC_H
#define CELERIAC_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
