/* SPDX-License-Identifier: MIT */
/*
 * The parent's look at a task message's source (PROTOCOL.md, "Sources"):
 * which messages name a "url" or a "path" the parent must handle on its
 * loop, and what it needs of them: the URL and its host (for throttling),
 * "accept_status", or the path.  Owns nothing beyond a struct source.
 *
 * Cheap first: only a message of at most SOURCE_DECODE_MAX bytes whose
 * bytes contain "url" or "path" (quoted) is decoded at all; any other
 * message goes to a child untouched, as before.  A url/path message the
 * parent does not set up (larger, or with an escaped key) reaches the
 * child, which refuses it with InvalidMessage.
 */
#ifndef CELERIAC_SOURCE_H
#define CELERIAC_SOURCE_H

#include <stddef.h>

#include "error.h"

/* Messages larger than this are never decoded by the parent. */
#define SOURCE_DECODE_MAX (64 * 1024)
/* Longest host name kept for throttling (the cluster key's limit). */
#define SOURCE_HOST_MAX 255

enum source_kind {
    SOURCE_INLINE = 0, /* data, data_b64 or none: a child does it all */
    SOURCE_URL,
    SOURCE_PATH,
    SOURCE_UPLOAD, /* a stream a producer fills (worker/upload.h) */
};

struct source {
    enum source_kind kind;
    char *url;  /* owned, SOURCE_URL */
    char *path; /* owned, SOURCE_PATH; the upload key, SOURCE_UPLOAD */
    unsigned long long upload_bytes; /* SOURCE_UPLOAD: the file's size */
    int accept_any; /* "accept_status": "any" */
    char host[SOURCE_HOST_MAX + 1]; /* lower-case host of url; "" if none */
};

/* 1 when msg[0..len) may name a url, path or upload source (the cheap
 * test). */
int source_maybe(const char *msg, size_t len);

/*
 * Decodes msg and fills *src.  Returns 0 (kind SOURCE_INLINE also for a
 * message that does not decode: the child reports that as today), or -1
 * with *err set when the message names its source wrongly (two sources,
 * a url or path that is not a string, an accept_status other than "any")
 * or, for a url, its task is unknown, takes no bytes, or its validate()
 * refuses the arguments (without the source fields): nothing is fetched
 * for a task that would refuse it.  source_clear() releases *src
 * either way.
 */
int source_parse(const char *msg, size_t len, struct source *src,
                 struct proto_error *err);
void source_clear(struct source *src);

/*
 * The host of an http(s) URL, lower-cased, IPv6 brackets removed, into
 * out[0..outlen); "" when the URL has none or it holds characters other
 * than [a-z0-9.:-] (the fetch then refuses the URL itself).
 */
void source_url_host(const char *url, char *out, size_t outlen);

#endif
