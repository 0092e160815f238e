/* SPDX-License-Identifier: MIT */
/* OpenSSL EVP digest and HMAC wrapper with a per-process algorithm cache. */
#include "hash.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HASH_CACHE 16

/* One fetched algorithm; md is an owned reference from EVP_MD_fetch. */
struct hash_entry {
    char name[65];
    EVP_MD *md;
};

static struct hash_entry hash_cache[HASH_CACHE];
static EVP_MD_CTX *hash_ctx;
static EVP_MAC *hash_hmac; /* the HMAC implementation, fetched once */

static EVP_MD *hash_fetch(const char *algorithm);
static int hash_hmac_rounds(EVP_MD *md, const unsigned char *data,
                            size_t len, const unsigned char *key,
                            size_t key_len, unsigned long iterations,
                            unsigned char out[HASH_MAX_DIGEST],
                            unsigned *outlen);

/* Returns the cached algorithm (borrowed), fetching it on first use. */
static EVP_MD *
hash_fetch(const char *algorithm)
{
    int free_at = -1;
    for (int i = 0; i < HASH_CACHE; i++) {
        if (hash_cache[i].md == NULL) {
            if (free_at < 0)
                free_at = i;
            continue;
        }
        if (strcasecmp(hash_cache[i].name, algorithm) == 0)
            return hash_cache[i].md;
    }
    EVP_MD *md = EVP_MD_fetch(NULL, algorithm, NULL);
    if (md == NULL) {
        ERR_clear_error();
        return NULL;
    }
    /* XOFs (shake*) have no fixed size in this API; refuse them. */
    if (EVP_MD_get_size(md) <= 0 || EVP_MD_get_size(md) > HASH_MAX_DIGEST ||
        (EVP_MD_get_flags(md) & EVP_MD_FLAG_XOF)) {
        EVP_MD_free(md);
        return NULL;
    }
    if (free_at < 0) { /* full: drop the last entry */
        free_at = HASH_CACHE - 1;
        EVP_MD_free(hash_cache[free_at].md);
    }
    snprintf(hash_cache[free_at].name, sizeof(hash_cache[free_at].name), "%s",
             algorithm);
    hash_cache[free_at].md = md;
    return md;
}

/*
 * iterations rounds of HMAC with md and key.  The key is processed once
 * (hashed if longer than a block, then mixed into the inner and outer pad
 * states) by the first EVP_MAC_init; each later round re-initialises the
 * context with a NULL key, which copies those keyed states back instead of
 * processing the key again, so a round costs the same for a 4 KiB key as
 * for a short one (2 compression-function calls for a digest of at most
 * one block).  Twice as fast as EVP_MAC_CTX_dup per round, which allocates.
 * Returns 1, or 0 when OpenSSL fails (its error queue says why).
 */
static int
hash_hmac_rounds(EVP_MD *md, const unsigned char *data, size_t len,
                 const unsigned char *key, size_t key_len,
                 unsigned long iterations, unsigned char out[HASH_MAX_DIGEST],
                 unsigned *outlen)
{
    if (hash_hmac == NULL &&
        (hash_hmac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL)) == NULL)
        return 0;
    EVP_MAC_CTX *keyed = EVP_MAC_CTX_new(hash_hmac);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                         (char *)EVP_MD_get0_name(md), 0),
        OSSL_PARAM_construct_end(),
    };
    /* EVP_MAC_init wants a non-NULL key even when it is empty. */
    static const unsigned char empty[1];
    int ok = keyed != NULL &&
             EVP_MAC_init(keyed, key_len ? key : empty, key_len, params);
    const unsigned char *in = data;
    size_t in_len = len, n = 0;
    for (unsigned long i = 0; ok && i < iterations; i++) {
        ok = (i == 0 || EVP_MAC_init(keyed, NULL, 0, NULL)) &&
             EVP_MAC_update(keyed, in, in_len) &&
             EVP_MAC_final(keyed, out, &n, HASH_MAX_DIGEST);
        in = out;
        in_len = n;
    }
    EVP_MAC_CTX_free(keyed);
    *outlen = (unsigned)n;
    return ok;
}

int
hash_compute(const char *algorithm, const unsigned char *data, size_t len,
             const unsigned char *key, size_t key_len,
             unsigned long iterations, unsigned char out[HASH_MAX_DIGEST],
             unsigned *outlen, struct proto_error *err)
{
    EVP_MD *md = hash_fetch(algorithm);
    if (md == NULL)
        return proto_error_set(err, ERROR_UNKNOWN_ALGORITHM,
                               "unknown digest algorithm '%.64s'; use a name "
                               "that 'openssl list -digest-algorithms' shows, "
                               "such as sha512, sha256, sha3-256 or blake2b512",
                               algorithm);
    if (hash_ctx == NULL && (hash_ctx = EVP_MD_CTX_new()) == NULL)
        return proto_error_set(err, ERROR_INTERNAL, "out of memory");

    if (key != NULL) {
        if (!hash_hmac_rounds(md, data, len, key, key_len, iterations, out,
                              outlen))
            goto ossl_fail;
        return 0;
    }
    const unsigned char *in = data;
    size_t in_len = len;
    for (unsigned long i = 0; i < iterations; i++) {
        if (!EVP_DigestInit_ex2(hash_ctx, md, NULL) ||
            !EVP_DigestUpdate(hash_ctx, in, in_len) ||
            !EVP_DigestFinal_ex(hash_ctx, out, outlen))
            goto ossl_fail;
        in = out;
        in_len = *outlen;
    }
    return 0;
ossl_fail:;
    unsigned long e = ERR_get_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return proto_error_set(err, ERROR_INTERNAL, "OpenSSL failed computing %s: %s",
                           algorithm, buf);
}

/* A run in progress: exactly one of md_ctx, mac_ctx is set. */
struct hash_stream {
    EVP_MD_CTX *md_ctx;
    EVP_MAC_CTX *mac_ctx;
    unsigned char *key; /* owned copy, for the later HMAC rounds */
    size_t key_len;
    char algorithm[65];
};

/* Fills *err with OpenSSL's last error while computing algorithm. */
static int
hash_ossl_error(const char *algorithm, struct proto_error *err)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return proto_error_set(err, ERROR_INTERNAL,
                           "OpenSSL failed computing %s: %s", algorithm, buf);
}

int
hash_known(const char *algorithm, struct proto_error *err)
{
    if (hash_fetch(algorithm) != NULL)
        return 0;
    return proto_error_set(err, ERROR_UNKNOWN_ALGORITHM,
                           "unknown digest algorithm '%.64s'; use a name "
                           "that 'openssl list -digest-algorithms' shows, "
                           "such as sha512, sha256, sha3-256 or blake2b512",
                           algorithm);
}

struct hash_stream *
hash_stream_new(const char *algorithm, const unsigned char *key,
                size_t key_len, struct proto_error *err)
{
    EVP_MD *md = hash_fetch(algorithm);
    if (md == NULL) {
        hash_known(algorithm, err);
        return NULL;
    }
    struct hash_stream *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        proto_error_set(err, ERROR_INTERNAL, "out of memory");
        return NULL;
    }
    snprintf(s->algorithm, sizeof(s->algorithm), "%s", algorithm);
    int ok;
    if (key != NULL) {
        static const unsigned char empty[1];
        s->key = malloc(key_len ? key_len : 1);
        if (s->key != NULL)
            memcpy(s->key, key_len ? key : empty, key_len);
        s->key_len = key_len;
        if (hash_hmac == NULL)
            hash_hmac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                             (char *)EVP_MD_get0_name(md), 0),
            OSSL_PARAM_construct_end(),
        };
        ok = s->key != NULL && hash_hmac != NULL &&
             (s->mac_ctx = EVP_MAC_CTX_new(hash_hmac)) != NULL &&
             EVP_MAC_init(s->mac_ctx, s->key, key_len, params);
    } else {
        /* The context of the last run, if free: a new one per task costs
         * allocations that a stream of small tasks notices. */
        s->md_ctx = hash_ctx != NULL ? hash_ctx : EVP_MD_CTX_new();
        hash_ctx = NULL;
        ok = s->md_ctx != NULL && EVP_DigestInit_ex2(s->md_ctx, md, NULL);
    }
    if (!ok) {
        hash_ossl_error(algorithm, err);
        hash_stream_free(s);
        return NULL;
    }
    return s;
}

int
hash_stream_update(struct hash_stream *s, const unsigned char *p, size_t len,
                   struct proto_error *err)
{
    int ok = s->mac_ctx ? EVP_MAC_update(s->mac_ctx, p, len)
                        : EVP_DigestUpdate(s->md_ctx, p, len);
    return ok ? 0 : hash_ossl_error(s->algorithm, err);
}

int
hash_stream_final(struct hash_stream *s, unsigned long iterations,
                  unsigned char out[HASH_MAX_DIGEST], unsigned *outlen,
                  struct proto_error *err)
{
    size_t n = 0;
    int ok = s->mac_ctx ? EVP_MAC_final(s->mac_ctx, out, &n, HASH_MAX_DIGEST)
                        : EVP_DigestFinal_ex(s->md_ctx, out, outlen);
    if (!ok)
        return hash_ossl_error(s->algorithm, err);
    if (s->mac_ctx)
        *outlen = (unsigned)n;
    if (iterations <= 1)
        return 0;
    unsigned char first[HASH_MAX_DIGEST];
    memcpy(first, out, *outlen);
    return hash_compute(s->algorithm, first, *outlen, s->mac_ctx ? s->key : NULL,
                        s->key_len, iterations - 1, out, outlen, err);
}

void
hash_stream_free(struct hash_stream *s)
{
    if (s == NULL)
        return;
    if (hash_ctx == NULL) /* kept for the next run (hash_cleanup frees) */
        hash_ctx = s->md_ctx;
    else
        EVP_MD_CTX_free(s->md_ctx);
    EVP_MAC_CTX_free(s->mac_ctx);
    if (s->key != NULL)
        explicit_bzero(s->key, s->key_len);
    free(s->key);
    free(s);
}

void
hash_hex(char *hex, const unsigned char *bin, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[bin[i] >> 4];
        hex[2 * i + 1] = digits[bin[i] & 15];
    }
    hex[2 * n] = '\0';
}

void
hash_cleanup(void)
{
    for (int i = 0; i < HASH_CACHE; i++) {
        EVP_MD_free(hash_cache[i].md);
        hash_cache[i].md = NULL;
    }
    EVP_MD_CTX_free(hash_ctx);
    hash_ctx = NULL;
    EVP_MAC_free(hash_hmac);
    hash_hmac = NULL;
}
