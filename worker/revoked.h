/* SPDX-License-Identifier: MIT */
/*
 * The worker's local copy of the revoked task ids (<prefix>revoked,
 * PROTOCOL.md "Revoked tasks"), refreshed once per heartbeat, and the
 * check of a received message against it.  Owns the copy of the ids.
 *
 * Cheap: with no revoked ids (the usual case) a message is not looked at.
 * Otherwise its top-level "id" is found without decoding the message
 * (taskscan_message(): bounded work at any size, a payload skipped with
 * memchr), and a message without one is checked by "<queue>/<entry id>".
 */
#ifndef CELERIAC_REVOKED_H
#define CELERIAC_REVOKED_H

#include <stddef.h>

/* Ids kept at most (those revoked longest ahead are dropped first). */
#define REVOKED_MAX 10000

struct revoked {
    char **ids; /* sorted (strcmp); owned */
    size_t n;
};

void revoked_init(struct revoked *r);
void revoked_clear(struct revoked *r);
/* Replaces the copy with ids[0..n) (ids[i] of lens[i] bytes; an id with
 * a NUL byte or of more than 200 bytes is skipped).  At most REVOKED_MAX
 * are kept.  Returns how many of them the copy it replaced did not have
 * (0: nothing held needs checking again). */
size_t revoked_load(struct revoked *r, const char *const *ids,
                    const size_t *lens, size_t n);
/* 1 when id is revoked. */
int revoked_has(const struct revoked *r, const char *id);
/*
 * 1 when the message msg[0..len) taken from entry entry_id of queue (its
 * name) is revoked, else 0.
 */
int revoked_message(const struct revoked *r, const char *msg, size_t len,
                    const char *queue, const char *entry_id);

#endif
