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
/* Writes the lowercase hex of bin[0..n) and a NUL to hex (2n+1 bytes). */
void hash_hex(char *hex, const unsigned char *bin, size_t n);
/* Releases the fetched algorithms. */
void hash_cleanup(void);

#endif
