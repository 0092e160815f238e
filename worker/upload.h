/* SPDX-License-Identifier: MIT */
/*
 * The upload reader: the parent's side of an `upload` source (PROTOCOL.md,
 * "Sources", "Uploads").  A producer appends a file's bytes to the stream
 * <prefix>upload:<token> in entries {n: offset, d: bytes} and ends it with
 * {n: total, end: total}; the reader takes them out a few entries at a
 * time with one script call on the broker's write connection (the script
 * reads and deletes them, so Redis holds only the producer's window) and
 * hands each piece to its callbacks.  It never blocks the loop: when the
 * stream has nothing new it asks again after a short timer (2 ms doubling
 * to 50 ms).  Owns one struct upload per task and its timer.
 *
 * Its failures: UploadStalled (nothing new for the stall timeout),
 * UploadLost (the first entry it finds is not the first of the file: an
 * earlier attempt consumed part of it), UploadIncomplete (a gap, or the
 * end entry disagrees with upload_bytes), InvalidMessage (the key holds
 * something that is not a stream: nothing is written to it).
 */
#ifndef CELERIAC_UPLOAD_H
#define CELERIAC_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct broker;
struct upload;

/* Entries one script call takes at most (a producer writes 1 MiB each). */
#define UPLOAD_BATCH 4

struct upload_callbacks {
    /* The next len bytes of the file; returns 1 to pause the reader
     * (until upload_resume), else 0. */
    int (*on_chunk)(struct upload *u, const unsigned char *data, size_t len,
                    void *arg);
    /* The upload ended: err_type NULL when it was read whole (the stream
     * is deleted), else a failure type and err_msg for a person.  facts
     * is the result's "source" object as JSON text (borrowed).  The upload
     * is freed when this returns. */
    void (*on_done)(struct upload *u, const char *err_type,
                    const char *err_msg, const char *facts, void *arg);
};

/*
 * Starts reading key (borrowed only during the call), which must hold
 * `total` bytes; stall_ms ends it when nothing new came for that long
 * (while not paused).  Starts paused when paused is 1.  Returns the
 * reader (freed by on_done or upload_cancel).
 */
struct upload *upload_start(struct event_base *base, struct broker *b,
                            const char *key, uint64_t total, long stall_ms,
                            int paused, const struct upload_callbacks *cbs,
                            void *arg);
void upload_pause(struct upload *u);
void upload_resume(struct upload *u);
/* Ends it without calling on_done; a script call in flight is ignored. */
void upload_cancel(struct upload *u);

/* 1 when key is "<prefix>upload:<token>" with a token of 1 to 200 bytes
 * of letters, digits, '-' and '_'. */
int upload_key_ok(const char *prefix, const char *key);

#endif
