/* SPDX-License-Identifier: MIT */
/*
 * Digests and HMACs with OpenSSL 3 EVP.  Each algorithm is fetched once per
 * process and kept (HASH_CACHE entries), so a child pays the provider
 * look-up only for the first task of each algorithm.  Pure computation.
 */
#ifndef CELERIAC_HASH_H
#define CELERIAC_HASH_H

#include <stddef.h>

#include "error.h"

/* Large enough for any digest OpenSSL 3 offers (EVP_MAX_MD_SIZE). */
#define HASH_MAX_DIGEST 64

/*
 * Computes the digest (or the HMAC, when key is not NULL) of data[0..len)
 * with the named algorithm, then applies the same operation to its own
 * output until it has run iterations times in all.  Writes the raw digest
 * to out and its length to *outlen.  Returns 0, or -1 with *err filled
 * (UnknownAlgorithm for a name OpenSSL does not know).
 */
int hash_compute(const char *algorithm, const unsigned char *data,
                 size_t len, const unsigned char *key, size_t key_len,
                 unsigned long iterations, unsigned char out[HASH_MAX_DIGEST],
                 unsigned *outlen, struct proto_error *err);
/*
 * A digest (or HMAC) computed over a stream of chunks: one per run, so that
 * many runs can be open at once.  Owned by its creator; hash_stream_free()
 * releases it.
 */
struct hash_stream;
/* Returns 0 if OpenSSL has the named digest (fetched once and cached), or
 * -1 with *err filled (UnknownAlgorithm). */
int hash_known(const char *algorithm, struct proto_error *err);
/* Starts a stream with the named algorithm, keyed (HMAC) when key is not
 * NULL.  Returns the stream, or NULL with *err filled (UnknownAlgorithm). */
struct hash_stream *hash_stream_new(const char *algorithm,
                                    const unsigned char *key, size_t key_len,
                                    struct proto_error *err);
/* Feeds len more bytes.  Returns 0, or -1 with *err filled. */
int hash_stream_update(struct hash_stream *s, const unsigned char *p,
                       size_t len, struct proto_error *err);
/* Ends the stream's first round, then applies the operation to its own
 * output until it has run iterations times in all (as hash_compute).
 * Returns 0, or -1 with *err filled. */
int hash_stream_final(struct hash_stream *s, unsigned long iterations,
                      unsigned char out[HASH_MAX_DIGEST], unsigned *outlen,
                      struct proto_error *err);
void hash_stream_free(struct hash_stream *s);
/* Writes the lowercase hex of bin[0..n) and a NUL to hex (2n+1 bytes). */
void hash_hex(char *hex, const unsigned char *bin, size_t n);
/* Releases the fetched algorithms. */
void hash_cleanup(void);

#endif
