/* SPDX-License-Identifier: MIT */
/*
 * The arguments of the built-in "hash" task (PROTOCOL.md, "Task hash"):
 *
 *   algorithm    string, an OpenSSL digest name; default "sha512"
 *   data         string, hashed as its UTF-8 bytes       } exactly one
 *   data_b64     string, standard base64 of the bytes    } source, or
 *                "url" / "path" (PROTOCOL.md, "Sources")  }
 *   hmac_key     string (UTF-8 bytes)       } at most one; then the result
 *   hmac_key_b64 string (base64 bytes)      } is the HMAC with that digest
 *   iterations   integer 1..PROTOCOL_MAX_ITERATIONS; default 1: the digest
 *                is applied again to its own output that many times in all
 *
 * Checking that the algorithm exists is left to the code that hashes.
 */
#ifndef CELERIAC_HASHTASK_H
#define CELERIAC_HASHTASK_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"

#define HASHTASK_NAME "hash"
#define HASHTASK_DEFAULT_ALGORITHM "sha512"
/* Argument names. */
#define HASHTASK_ALGORITHM "algorithm"
#define HASHTASK_DATA "data"
#define HASHTASK_DATA_B64 "data_b64"

/*
 * Decoded arguments.  data and key point either into the JSON arguments
 * (borrowed; valid while they live) or into data_owned/key_owned, which
 * hashtask_clear() frees.
 */
struct hashtask {
    const char *algorithm;
    const unsigned char *data;
    size_t len;
    const unsigned char *key; /* NULL: plain digest, else HMAC */
    size_t key_len;
    unsigned long iterations;
    unsigned char *data_owned;
    unsigned char *key_owned;
};

/* Decodes args (borrowed) into *t, the inline bytes included (one of
 * 'data' or 'data_b64' required).  Returns 0, or -1 with *err filled. */
int hashtask_decode(json_t *args, struct hashtask *t, struct proto_error *err);
/* Decodes the task's own arguments only (algorithm, HMAC key, iterations;
 * t->data stays NULL): what the worker checks once the source fields are
 * taken out.  Returns 0, or -1 with *err filled. */
int hashtask_decode_params(const json_t *args, struct hashtask *t,
                           struct proto_error *err);
/*
 * Reads an inline source, 'data' (UTF-8) or 'data_b64', of at most
 * PROTOCOL_MAX_DATA bytes: *data points into args (borrowed) or into
 * *owned (free()).  *present tells whether either was given.  Returns 0,
 * or -1 with *err filled (both given, not a string, bad base64, too large).
 */
int hashtask_inline(const json_t *args, const unsigned char **data,
                    size_t *len, unsigned char **owned, int *present,
                    struct proto_error *err);
void hashtask_clear(struct hashtask *t);

#endif
