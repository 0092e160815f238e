/* SPDX-License-Identifier: MIT */
/* Argument decoding of the built-in hash task. */
#include "hashtask.h"

#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "version.h"

static const char *hashtask_kind(const json_t *v);
static int hashtask_bytes(const json_t *args, const char *plain, const char *b64,
                          size_t limit, const unsigned char **out,
                          size_t *len, unsigned char **owned, int *present,
                          struct proto_error *err);

static const char *
hashtask_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/*
 * Reads exactly-one-of (plain, b64) as bytes.  *present tells whether either
 * was given.  Returns 0 or -1 with *err filled.
 */
static int
hashtask_bytes(const json_t *args, const char *plain, const char *b64,
               size_t limit, const unsigned char **out, size_t *len,
               unsigned char **owned, int *present, struct proto_error *err)
{
    json_t *p = json_object_get(args, plain);
    json_t *b = json_object_get(args, b64);
    *present = p != NULL || b != NULL;
    if (p != NULL && b != NULL)
        return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                               "give either '%s' or '%s', not both", plain,
                               b64);
    json_t *v = p ? p : b;
    const char *name = p ? plain : b64;
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                               "argument '%s' must be a string, not %s", name,
                               hashtask_kind(v));
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (p != NULL) {
        if (n > limit)
            return proto_error_set(err, ERROR_PAYLOAD_TOO_LARGE,
                                   "argument '%s' is %zu bytes; the limit is "
                                   "%zu",
                                   name, n, limit);
        *out = (const unsigned char *)s;
        *len = n;
        return 0;
    }
    /* A loose bound first (line breaks and padding make the text longer
     * than its bytes need), so that no huge buffer is allocated for input
     * far over the limit; the exact check follows the decoding. */
    if (n / 4 * 3 > limit + limit / 16 + 3)
        return proto_error_set(err, ERROR_PAYLOAD_TOO_LARGE,
                               "argument '%s' decodes to more than %zu bytes, "
                               "the limit",
                               name, limit);
    unsigned char *buf = malloc(b64_decoded_max(n));
    if (buf == NULL)
        return proto_error_set(err, ERROR_INTERNAL,
                               "out of memory decoding '%s'", name);
    size_t at;
    if (b64_decode(s, n, buf, len, &at) < 0) {
        free(buf);
        if (at < n)
            return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                                   "argument '%s' is not valid base64: bad "
                                   "character 0x%02x at offset %zu",
                                   name, (unsigned char)s[at], at);
        return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                               "argument '%s' is not valid base64: bad length "
                               "or padding",
                               name);
    }
    if (*len > limit) {
        free(buf);
        return proto_error_set(err, ERROR_PAYLOAD_TOO_LARGE,
                               "argument '%s' decodes to %zu bytes; the limit "
                               "is %zu",
                               name, *len, limit);
    }
    *owned = buf;
    *out = buf;
    return 0;
}

int
hashtask_decode_params(const json_t *args, struct hashtask *t,
                       struct proto_error *err)
{
    int present;
    memset(t, 0, sizeof(*t));
    t->algorithm = HASHTASK_DEFAULT_ALGORITHM;
    t->iterations = 1;

    json_t *a = json_object_get(args, HASHTASK_ALGORITHM);
    if (a != NULL) {
        if (!json_is_string(a))
            return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                                   "argument 'algorithm' must be a string, "
                                   "not %s",
                                   hashtask_kind(a));
        t->algorithm = json_string_value(a);
        size_t alen = json_string_length(a);
        if (alen == 0 || alen > 64 ||
            strspn(t->algorithm, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "abcdefghijklmnopqrstuvwxyz0123456789._/-") !=
                alen)
            return proto_error_set(err, ERROR_UNKNOWN_ALGORITHM,
                                   "argument 'algorithm' must name a digest "
                                   "such as sha512 or sha256");
    }
    json_t *it = json_object_get(args, "iterations");
    if (it != NULL) {
        if (!json_is_integer(it))
            return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                                   "argument 'iterations' must be an integer, "
                                   "not %s",
                                   hashtask_kind(it));
        json_int_t n = json_integer_value(it);
        if (n < 1 || (unsigned long long)n > PROTOCOL_MAX_ITERATIONS)
            return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                                   "argument 'iterations' must be from 1 to "
                                   "%lu, not %lld",
                                   PROTOCOL_MAX_ITERATIONS, (long long)n);
        t->iterations = (unsigned long)n;
    }
    if (hashtask_bytes(args, "hmac_key", "hmac_key_b64", PROTOCOL_MAX_HMAC_KEY,
                       &t->key, &t->key_len, &t->key_owned, &present,
                       err) < 0)
        goto fail;
    if (present && t->key == NULL)
        t->key = (const unsigned char *)""; /* an empty HMAC key is valid */
    return 0;
fail:
    hashtask_clear(t);
    return -1;
}

int
hashtask_inline(const json_t *args, const unsigned char **data, size_t *len,
                unsigned char **owned, int *present, struct proto_error *err)
{
    *data = NULL;
    *len = 0;
    *owned = NULL;
    return hashtask_bytes(args, HASHTASK_DATA, HASHTASK_DATA_B64,
                          PROTOCOL_MAX_DATA, data, len, owned, present, err);
}

int
hashtask_decode(json_t *args, struct hashtask *t, struct proto_error *err)
{
    int present;
    if (hashtask_decode_params(args, t, err) < 0)
        return -1;
    if (hashtask_inline(args, &t->data, &t->len, &t->data_owned, &present,
                        err) < 0)
        goto fail;
    if (!present) {
        proto_error_set(err, ERROR_INVALID_ARGUMENT,
                        "task 'hash' needs the bytes to hash in 'data' (a "
                        "string) or 'data_b64' (base64)");
        goto fail;
    }
    return 0;
fail:
    hashtask_clear(t);
    return -1;
}

void
hashtask_clear(struct hashtask *t)
{
    free(t->data_owned);
    free(t->key_owned);
    memset(t, 0, sizeof(*t));
}
