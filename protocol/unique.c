/* SPDX-License-Identifier: MIT */
/* Unique tasks: their fields and the name of their lock; see unique.h. */
#include "unique.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "build.h"
#include "keys.h"
#include "message.h"

int
unique_decode(const json_t *root, size_t msg_len, struct unique *u,
              struct proto_error *err)
{
    json_t *f = json_object_get(root, UNIQUE_F_FOR);
    json_t *k = json_object_get(root, UNIQUE_F_KEY);
    memset(u, 0, sizeof(*u));
    if (f != NULL && json_is_null(f))
        f = NULL;
    if (k != NULL && json_is_null(k))
        k = NULL;
    if (f == NULL) {
        if (k != NULL)
            return proto_error_set(err, ERROR_INVALID_MESSAGE,
                                   "field '" UNIQUE_F_KEY "' needs '"
                                   UNIQUE_F_FOR "' (the seconds the task "
                                   "stays unique)");
        return 0;
    }
    if (!json_is_integer(f) || json_integer_value(f) < 1 ||
        json_integer_value(f) > UNIQUE_FOR_MAX)
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "field '" UNIQUE_F_FOR "' must be a whole "
                               "number of seconds from 1 to %lld",
                               UNIQUE_FOR_MAX);
    u->for_s = (long long)json_integer_value(f);
    if (k != NULL) {
        size_t n = json_is_string(k) ? json_string_length(k) : 0;
        if (n == 0 || n > UNIQUE_KEY_MAX ||
            memchr(json_string_value(k), '\0', n) != NULL)
            return proto_error_set(err, ERROR_INVALID_MESSAGE,
                                   "field '" UNIQUE_F_KEY "' must be a "
                                   "string of 1 to %d bytes with no NUL",
                                   UNIQUE_KEY_MAX);
        u->key = json_string_value(k);
        u->key_len = n;
    } else if (msg_len > UNIQUE_MESSAGE_MAX) {
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "a unique task of %zu bytes needs a '"
                               UNIQUE_F_KEY "': only messages up to %d "
                               "bytes are keyed by their arguments",
                               msg_len, UNIQUE_MESSAGE_MAX);
    }
    return 0;
}

int
unique_digest(const char *key, size_t key_len, const char *task,
              const json_t *args, char hex[UNIQUE_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char *canon = NULL;
    int ok;

    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return -1;
    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    if (key != NULL) {
        ok = ok && EVP_DigestUpdate(ctx, "key\n", 4) == 1 &&
             EVP_DigestUpdate(ctx, key, key_len) == 1;
    } else {
        if (args != NULL)
            canon = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
        const char *c = args == NULL ? "{}" : canon;
        ok = ok && c != NULL && EVP_DigestUpdate(ctx, "task\n", 5) == 1 &&
             EVP_DigestUpdate(ctx, task, strlen(task)) == 1 &&
             EVP_DigestUpdate(ctx, "\n", 1) == 1 &&
             EVP_DigestUpdate(ctx, c, strlen(c)) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    free(canon);
    if (!ok)
        return -1;
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

int
unique_lock_of(const char *msg, size_t len, const char *prefix, char *buf,
               size_t n)
{
    static const char *const drop[] = {BUILD_F_ARGS, NULL};
    static const char needle[] = "\"" UNIQUE_F_FOR "\"";
    char hex[UNIQUE_HEX_LEN + 1];
    char *small = NULL;
    size_t small_len = 0;
    json_error_t jerr;
    struct unique u;
    int rc = 0;

    if (msg == NULL || !message_mentions(msg, len, needle, sizeof(needle) - 1))
        return 0;
    if (len > UNIQUE_MESSAGE_MAX) {
        /* Keyed by unique_key (unique_decode): the arguments are not
         * needed, and not decoded. */
        small = message_with_members(msg, len, drop, "", &small_len);
        if (small == NULL)
            return 0;
    }
    json_t *root = small ? json_loadb(small, small_len,
                                      JSON_REJECT_DUPLICATES, &jerr)
                         : message_load(msg, len, &jerr);
    free(small);
    const json_t *task = json_object_get(root, BUILD_F_TASK);
    const json_t *args = json_object_get(root, BUILD_F_ARGS);
    if (args != NULL && json_is_null(args))
        args = NULL;
    if (json_is_object(root) && json_is_string(task) &&
        (args == NULL || json_is_object(args)) &&
        unique_decode(root, len, &u, NULL) == 0 && u.for_s > 0 &&
        unique_digest(u.key, u.key_len, json_string_value(task), args,
                      hex) == 0 &&
        keys_unique(buf, n, prefix, hex) == 0)
        rc = 1;
    json_decref(root);
    return rc;
}
