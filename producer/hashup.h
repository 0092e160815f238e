/* SPDX-License-Identifier: MIT */
/*
 * `celeriac hash FILE` for a file larger than a message may carry: the
 * file goes to one worker through an upload stream (PROTOCOL.md, "Sources",
 * "Uploads").  The task message {"algorithm", "upload": <prefix>upload:<t>,
 * "upload_bytes": N} is sent first; then the file is read 1 MiB at a time
 * and each piece appended to the stream as {n: offset, d: bytes}, the last
 * entry {n: N, end: N}.  At most HASHUP_WINDOW entries are in the stream
 * unread: before adding one more the producer waits (polling XLEN with
 * short sleeps: the CLI may block) until the worker has taken some.  So the
 * producer holds 1 MiB, Redis at most the window.  When the task fails with
 * UploadLost (a worker died mid-upload and the attempt that took it over
 * found the head of the file gone) the file is sent again under a new
 * key, at most HASHUP_RESENDS times.  Owns nothing between calls.
 */
#ifndef CELERIAC_HASHUP_H
#define CELERIAC_HASHUP_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"

/* Bytes per stream entry. */
#define HASHUP_PIECE (1u << 20)
/* Entries in the stream not yet read by the worker, at most (8 MiB). */
#define HASHUP_WINDOW 8
/* Sends of the file again after UploadLost. */
#define HASHUP_RESENDS 2

struct hashup_opts {
    const char *prefix;    /* borrowed */
    const char *queue;     /* borrowed */
    const char *algorithm; /* borrowed */
    int64_t deadline_us;   /* cli_now_us() clock; 0 = none */
};

/* What became of one file. */
enum hashup_outcome {
    HASHUP_OK = 0,     /* digest is set */
    HASHUP_UNREADABLE, /* the file could not be read: *error set */
    HASHUP_FAILED,     /* the task failed, or Redis refused: *error set */
    HASHUP_TIMEOUT,    /* the deadline passed: *error set */
};

/*
 * Hashes the regular file open on fd (size bytes, read from offset 0)
 * through a worker.  Fills digest (lowercase hex, up to digest_len - 1
 * characters) on HASHUP_OK, else *error (owned by the caller).  *missing
 * is never set here (the file was open).
 */
int hashup_file(struct conn *c, const struct hashup_opts *o, int fd,
                uint64_t size, char *digest, size_t digest_len,
                char **error);

#endif
