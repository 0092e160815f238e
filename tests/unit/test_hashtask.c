/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of protocol/hashtask.c: the arguments of the built-in hash
 * task, their defaults, and every kind of bad argument with the error type
 * and a message naming the argument.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "error.h"
#include "hashtask.h"
#include "version.h"

/* ---- helpers ---- */

/*
 * Values a test hands over to be released by the teardown, so that a
 * failed assertion (which leaves the test by longjmp) leaks nothing that
 * valgrind would report.
 */
static json_t *held_json[8];
static void *held_mem[8];

static json_t *
hold_json(json_t *v)
{
    for (size_t i = 0; i < 8; i++) {
        if (held_json[i] == NULL) {
            held_json[i] = v;
            return v;
        }
    }
    fail_msg("too many held JSON values");
    return NULL;
}

static void *
hold_mem(void *p)
{
    for (size_t i = 0; i < 8; i++) {
        if (held_mem[i] == NULL) {
            held_mem[i] = p;
            return p;
        }
    }
    fail_msg("too many held buffers");
    return NULL;
}

static int
release_held(void **state)
{
    (void)state;
    for (size_t i = 0; i < 8; i++) {
        json_decref(held_json[i]);
        held_json[i] = NULL;
        free(held_mem[i]);
        held_mem[i] = NULL;
    }
    return 0;
}

/* Parses a JSON object literal; the caller owns the new reference. */
static json_t *
args_from(const char *s)
{
    json_error_t jerr;
    json_t *a = json_loads(s, 0, &jerr);
    if (a == NULL)
        print_error("bad test JSON %s: %s\n", s, jerr.text);
    assert_non_null(a);
    return a;
}

/* Decodes args, which must succeed; the caller clears *t. */
static void
decode_ok(json_t *args, struct hashtask *t)
{
    struct proto_error err;
    memset(&err, 0, sizeof(err));
    int r = hashtask_decode(args, t, &err);
    if (r != 0)
        print_error("hash args refused: %s: %s\n", err.type, err.message);
    assert_int_equal(r, 0);
}

/*
 * Decodes args, which must fail with error type "type" and a message that
 * contains every one of the NULL-terminated words.  Also checks that a
 * failed decode leaves nothing to free.
 */
static void
decode_fails_v(json_t *args, const char *type, ...)
{
    struct hashtask t;
    struct proto_error err;
    memset(&err, 0, sizeof(err));
    memset(&t, 0xa5, sizeof(t));
    int r = hashtask_decode(args, &t, &err);
    char *dump = json_dumps(args, JSON_COMPACT);
    if (r != -1)
        print_error("hash args %.200s were accepted\n", dump);
    assert_int_equal(r, -1);
    if (strcmp(err.type, type) != 0)
        print_error("hash args %.200s: %s: %s\n", dump, err.type, err.message);
    assert_string_equal(err.type, type);
    va_list ap;
    va_start(ap, type);
    const char *word;
    while ((word = va_arg(ap, const char *)) != NULL) {
        if (strstr(err.message, word) == NULL)
            print_error("hash args %.200s: message \"%s\" does not mention "
                        "\"%s\"\n",
                        dump, err.message, word);
        assert_non_null(strstr(err.message, word));
    }
    va_end(ap);
    free(dump);
    assert_null(t.data_owned);
    assert_null(t.key_owned);
    hashtask_clear(&t); /* harmless after a failure */
}

#define decode_fails(args, type, ...)                                          \
    decode_fails_v((args), (type), __VA_ARGS__, (const char *)NULL)

/* Decodes the JSON text s, which must fail like decode_fails(). */
#define text_fails(s, type, ...)                                               \
    do {                                                                       \
        json_t *a_ = args_from(s);                                             \
        decode_fails(a_, (type), __VA_ARGS__);                                 \
        json_decref(a_);                                                       \
    } while (0)

/* The base64 text of src[0..n); the caller frees it. */
static char *
b64_of(const void *src, size_t n)
{
    char *s = malloc(b64_encoded_len(n) + 1);
    assert_non_null(s);
    s[b64_encode_into(s, src, n)] = '\0';
    return s;
}

/* ---- valid arguments ---- */

static void
test_defaults(void **state)
{
    (void)state;
    json_t *a = args_from("{\"data\":\"abc\"}");
    struct hashtask t;
    decode_ok(a, &t);
    assert_string_equal(t.algorithm, "sha512");
    assert_string_equal(t.algorithm, HASHTASK_DEFAULT_ALGORITHM);
    assert_int_equal(t.iterations, 1);
    assert_int_equal(t.len, 3);
    assert_memory_equal(t.data, "abc", 3);
    assert_null(t.key);
    assert_int_equal(t.key_len, 0);
    assert_null(t.data_owned); /* borrowed from the JSON */
    hashtask_clear(&t);
    assert_null(t.data);
    json_decref(a);
}

static void
test_every_argument(void **state)
{
    (void)state;
    json_t *a = args_from("{\"algorithm\":\"sha3-256\",\"data\":\"h\xc3\xa9\","
                          "\"hmac_key\":\"k\",\"iterations\":1000,"
                          "\"future_option\":true}");
    struct hashtask t;
    decode_ok(a, &t);
    assert_string_equal(t.algorithm, "sha3-256");
    assert_int_equal(t.len, 3); /* UTF-8 bytes, not characters */
    assert_memory_equal(t.data, "h\xc3\xa9", 3);
    assert_non_null(t.key);
    assert_int_equal(t.key_len, 1);
    assert_memory_equal(t.key, "k", 1);
    assert_int_equal(t.iterations, 1000);
    hashtask_clear(&t);
    json_decref(a);
}

static void
test_data_empty(void **state)
{
    (void)state;
    json_t *a = args_from("{\"data\":\"\"}");
    struct hashtask t;
    decode_ok(a, &t);
    assert_int_equal(t.len, 0);
    assert_non_null(t.data);
    hashtask_clear(&t);
    json_decref(a);

    a = args_from("{\"data_b64\":\"\"}");
    decode_ok(a, &t);
    assert_int_equal(t.len, 0);
    assert_non_null(t.data);
    hashtask_clear(&t);
    json_decref(a);
}

static void
test_data_b64_binary(void **state)
{
    (void)state;
    unsigned char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)(255 - i);
    char *enc = b64_of(bytes, sizeof(bytes));
    json_t *a = json_pack("{s:s}", "data_b64", enc);
    struct hashtask t;
    decode_ok(a, &t);
    assert_int_equal(t.len, 256);
    assert_memory_equal(t.data, bytes, 256);
    assert_non_null(t.data_owned);
    hashtask_clear(&t);
    json_decref(a);
    free(enc);
}

static void
test_data_b64_wrapped_unpadded(void **state)
{
    (void)state;
    json_t *a = args_from("{\"data_b64\":\"Zm9v\\nYmE\"}");
    struct hashtask t;
    decode_ok(a, &t);
    assert_int_equal(t.len, 5);
    assert_memory_equal(t.data, "fooba", 5);
    hashtask_clear(&t);
    json_decref(a);
}

static void
test_hmac_key_variants(void **state)
{
    (void)state;
    struct hashtask t;
    json_t *a;

    a = args_from("{\"data\":\"x\",\"hmac_key\":\"secret\"}");
    decode_ok(a, &t);
    assert_int_equal(t.key_len, 6);
    assert_memory_equal(t.key, "secret", 6);
    hashtask_clear(&t);
    json_decref(a);

    /* base64 key with a NUL and high bytes */
    a = args_from("{\"data\":\"x\",\"hmac_key_b64\":\"AP8B\"}");
    decode_ok(a, &t);
    assert_int_equal(t.key_len, 3);
    assert_memory_equal(t.key, "\x00\xff\x01", 3);
    assert_non_null(t.key_owned);
    hashtask_clear(&t);
    json_decref(a);

    /* An empty key is a valid HMAC key, not "no key". */
    a = args_from("{\"data\":\"x\",\"hmac_key\":\"\"}");
    decode_ok(a, &t);
    assert_non_null(t.key);
    assert_int_equal(t.key_len, 0);
    hashtask_clear(&t);
    json_decref(a);

    a = args_from("{\"data\":\"x\",\"hmac_key_b64\":\"\"}");
    decode_ok(a, &t);
    assert_non_null(t.key);
    assert_int_equal(t.key_len, 0);
    hashtask_clear(&t);
    json_decref(a);

    /* The longest key allowed. */
    char *key = malloc(PROTOCOL_MAX_HMAC_KEY + 1);
    assert_non_null(key);
    memset(key, 'k', PROTOCOL_MAX_HMAC_KEY);
    key[PROTOCOL_MAX_HMAC_KEY] = '\0';
    a = json_pack("{s:s,s:s}", "data", "x", "hmac_key", key);
    decode_ok(a, &t);
    assert_int_equal(t.key_len, PROTOCOL_MAX_HMAC_KEY);
    hashtask_clear(&t);
    json_decref(a);
    free(key);
}

static void
test_hmac_key_b64_limit(void **state)
{
    (void)state;
    /* The longest key in base64 (4096 = 3k + 1: "==" padding). */
    unsigned char key[PROTOCOL_MAX_HMAC_KEY];
    memset(key, 0xfe, sizeof(key));
    char *enc = hold_mem(b64_of(key, sizeof(key)));
    json_t *a =
        hold_json(json_pack("{s:s,s:s}", "data", "x", "hmac_key_b64", enc));
    struct hashtask t;
    decode_ok(a, &t);
    assert_int_equal(t.key_len, PROTOCOL_MAX_HMAC_KEY);
    assert_memory_equal(t.key, key, sizeof(key));
    hashtask_clear(&t);
}

static void
test_iterations_bounds(void **state)
{
    (void)state;
    char buf[128];
    struct hashtask t;
    json_t *a;

    a = args_from("{\"data\":\"x\",\"iterations\":1}");
    decode_ok(a, &t);
    assert_int_equal(t.iterations, 1);
    hashtask_clear(&t);
    json_decref(a);

    snprintf(buf, sizeof(buf), "{\"data\":\"x\",\"iterations\":%lu}",
             PROTOCOL_MAX_ITERATIONS);
    a = args_from(buf);
    decode_ok(a, &t);
    assert_int_equal(t.iterations, PROTOCOL_MAX_ITERATIONS);
    hashtask_clear(&t);
    json_decref(a);

    char max[32];
    snprintf(max, sizeof(max), "%lu", PROTOCOL_MAX_ITERATIONS);
    snprintf(buf, sizeof(buf), "{\"data\":\"x\",\"iterations\":%lu}",
             PROTOCOL_MAX_ITERATIONS + 1);
    text_fails(buf, ERROR_INVALID_ARGUMENT, "'iterations'", max);
    text_fails("{\"data\":\"x\",\"iterations\":0}", ERROR_INVALID_ARGUMENT,
               "'iterations'", max);
    text_fails("{\"data\":\"x\",\"iterations\":-1}", ERROR_INVALID_ARGUMENT,
               "'iterations'");
    text_fails("{\"data\":\"x\",\"iterations\":-9223372036854775808}",
               ERROR_INVALID_ARGUMENT, "'iterations'");
    text_fails("{\"data\":\"x\",\"iterations\":9223372036854775807}",
               ERROR_INVALID_ARGUMENT, "'iterations'");
}

static void
test_iterations_types(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *kind;
    } values[] = {
        {"\"5\"", "string"}, {"5.0", "number"}, {"2.5", "number"},
        {"true", "boolean"}, {"[5]", "array"},  {"{}", "object"},
        {"null", "null"},
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char buf[128];
        snprintf(buf, sizeof(buf), "{\"data\":\"x\",\"iterations\":%s}",
                 values[i].json);
        text_fails(buf, ERROR_INVALID_ARGUMENT, "'iterations'", "integer",
                   values[i].kind);
    }
}

/* ---- bad arguments ---- */

static void
test_neither_data(void **state)
{
    (void)state;
    text_fails("{}", ERROR_INVALID_ARGUMENT, "'data'", "'data_b64'");
    text_fails("{\"algorithm\":\"sha256\",\"hmac_key\":\"k\"}",
               ERROR_INVALID_ARGUMENT, "'data'", "'data_b64'");
    text_fails("{\"Data\":\"x\"}", ERROR_INVALID_ARGUMENT, "'data'");
}

static void
test_both_data(void **state)
{
    (void)state;
    text_fails("{\"data\":\"x\",\"data_b64\":\"eA==\"}", ERROR_INVALID_ARGUMENT,
               "'data'", "'data_b64'", "both");
    text_fails("{\"data\":\"x\",\"hmac_key\":\"k\",\"hmac_key_b64\":\"aw==\"}",
               ERROR_INVALID_ARGUMENT, "'hmac_key'", "'hmac_key_b64'", "both");
}

static void
test_wrong_types(void **state)
{
    (void)state;
    static const char *const fields[] = {"data", "data_b64", "hmac_key",
                                         "hmac_key_b64"};
    static const struct {
        const char *json;
        const char *kind;
    } values[] = {
        {"42", "number"},     {"1e3", "number"}, {"true", "boolean"},
        {"[\"x\"]", "array"}, {"{}", "object"},
    };
    for (size_t f = 0; f < 4; f++) {
        for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
            char buf[128], quoted[32];
            if (strncmp(fields[f], "data", 4) == 0)
                snprintf(buf, sizeof(buf), "{\"%s\":%s}", fields[f],
                         values[v].json);
            else
                snprintf(buf, sizeof(buf), "{\"data\":\"x\",\"%s\":%s}",
                         fields[f], values[v].json);
            snprintf(quoted, sizeof(quoted), "'%s'", fields[f]);
            text_fails(buf, ERROR_INVALID_ARGUMENT, quoted, "string",
                       values[v].kind);
        }
    }
}

static void
test_null_data(void **state)
{
    (void)state;
    /* null is a value of the wrong type, not an absent argument. */
    text_fails("{\"data\":null}", ERROR_INVALID_ARGUMENT, "'data'");
    text_fails("{\"data_b64\":null}", ERROR_INVALID_ARGUMENT, "'data_b64'");
}

static void
test_bad_base64(void **state)
{
    (void)state;
    text_fails("{\"data_b64\":\"Zm9v!\"}", ERROR_INVALID_ARGUMENT, "'data_b64'",
               "base64", "0x21", "offset 4");
    text_fails("{\"data_b64\":\"Zm9v YmFy\"}", ERROR_INVALID_ARGUMENT,
               "'data_b64'", "base64", "offset 4");
    text_fails("{\"data_b64\":\"Zm-v\"}", ERROR_INVALID_ARGUMENT, "'data_b64'",
               "base64");
    text_fails("{\"data_b64\":\"Z\"}", ERROR_INVALID_ARGUMENT, "'data_b64'",
               "base64", "padding");
    text_fails("{\"data_b64\":\"Zg=\"}", ERROR_INVALID_ARGUMENT, "'data_b64'",
               "base64");
    text_fails("{\"data_b64\":\"Zh==\"}", ERROR_INVALID_ARGUMENT, "'data_b64'",
               "base64");
    text_fails("{\"data_b64\":\"Zg==Zg==\"}", ERROR_INVALID_ARGUMENT,
               "'data_b64'", "base64");
    text_fails("{\"data_b64\":\"h\xc3\xa9llo\"}", ERROR_INVALID_ARGUMENT,
               "'data_b64'", "base64", "0xc3");
    text_fails("{\"data\":\"x\",\"hmac_key_b64\":\"not base64!\"}",
               ERROR_INVALID_ARGUMENT, "'hmac_key_b64'", "base64");
}

static void
test_algorithm(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *kind;
    } values[] = {
        {"512", "number"}, {"true", "boolean"}, {"[\"sha512\"]", "array"},
        {"{}", "object"},  {"null", "null"},
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char buf[128];
        snprintf(buf, sizeof(buf), "{\"data\":\"x\",\"algorithm\":%s}",
                 values[i].json);
        text_fails(buf, ERROR_INVALID_ARGUMENT, "'algorithm'", "string",
                   values[i].kind);
    }
    /* Names are checked by the code that hashes; absurd ones here. */
    text_fails("{\"data\":\"x\",\"algorithm\":\"\"}", ERROR_UNKNOWN_ALGORITHM,
               "'algorithm'");
    char name[100], buf[200];
    memset(name, 'a', 99);
    name[99] = '\0';
    snprintf(buf, sizeof(buf), "{\"data\":\"x\",\"algorithm\":\"%s\"}", name);
    text_fails(buf, ERROR_UNKNOWN_ALGORITHM, "'algorithm'");

    /* Only the characters digest names use: letters, digits, . _ / - */
    /* JSON text of each name, escapes included */
    static const char *const bad_names[] = {
        "sha 256",   "sha256\\n", "md5;ls",    "sha256\\\"",
        "sh\\u00e4", "\\u0000",   "sha256\\t",
    };
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        char doc[128];
        snprintf(doc, sizeof(doc), "{\"data\":\"x\",\"algorithm\":\"%s\"}",
                 bad_names[i]);
        json_error_t jerr;
        json_t *args = json_loads(doc, JSON_ALLOW_NUL, &jerr);
        assert_non_null(args);
        decode_fails(args, ERROR_UNKNOWN_ALGORITHM, "'algorithm'");
        json_decref(args);
    }
    static const char *const good_names[] = {
        "SHA512",   "sha512-256",         "SHA2-512/256", "blake2b512",
        "ssl3-md5", "1.2.840.113549.2.5", "sm3_x",
    };
    for (size_t i = 0; i < sizeof(good_names) / sizeof(good_names[0]); i++) {
        json_t *args =
            json_pack("{s:s,s:s}", "data", "x", "algorithm", good_names[i]);
        struct hashtask g;
        decode_ok(args, &g);
        assert_string_equal(g.algorithm, good_names[i]);
        hashtask_clear(&g);
        json_decref(args);
    }

    /* Any plausible name passes through unchanged. */
    json_t *a = args_from("{\"data\":\"x\",\"algorithm\":\"no-such-digest\"}");
    struct hashtask t;
    decode_ok(a, &t);
    assert_string_equal(t.algorithm, "no-such-digest");
    hashtask_clear(&t);
    json_decref(a);
}

static void
test_hmac_key_too_long(void **state)
{
    (void)state;
    char *key = malloc(PROTOCOL_MAX_HMAC_KEY + 2);
    assert_non_null(key);
    memset(key, 'k', PROTOCOL_MAX_HMAC_KEY + 1);
    key[PROTOCOL_MAX_HMAC_KEY + 1] = '\0';
    json_t *a = json_pack("{s:s,s:s}", "data", "x", "hmac_key", key);
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", PROTOCOL_MAX_HMAC_KEY);
    decode_fails(a, ERROR_PAYLOAD_TOO_LARGE, "'hmac_key'", limit);
    json_decref(a);

    char *enc = b64_of(key, PROTOCOL_MAX_HMAC_KEY + 1);
    a = json_pack("{s:s,s:s}", "data", "x", "hmac_key_b64", enc);
    decode_fails(a, ERROR_PAYLOAD_TOO_LARGE, "'hmac_key_b64'", limit);
    json_decref(a);
    free(enc);
    free(key);
}

/*
 * A string of n bytes 'd' as a JSON value; json_stringn_nocheck skips the
 * UTF-8 scan, which is slow under valgrind for 32 MiB.
 */
static json_t *
big_string(size_t n, char c)
{
    char *s = malloc(n);
    assert_non_null(s);
    memset(s, c, n);
    json_t *v = json_stringn_nocheck(s, n);
    free(s);
    assert_non_null(v);
    return v;
}

static void
test_data_size_limit(void **state)
{
    (void)state;
    char limit[32];
    snprintf(limit, sizeof(limit), "%u", PROTOCOL_MAX_DATA);
    struct hashtask t;

    /* Exactly the limit is accepted. */
    json_t *a = json_object();
    json_object_set_new(a, "data", big_string(PROTOCOL_MAX_DATA, 'd'));
    decode_ok(a, &t);
    assert_int_equal(t.len, PROTOCOL_MAX_DATA);
    hashtask_clear(&t);
    json_decref(a);

    /* One byte more is PayloadTooLarge, naming the argument and limit. */
    a = json_object();
    json_object_set_new(a, "data", big_string(PROTOCOL_MAX_DATA + 1, 'd'));
    decode_fails(a, ERROR_PAYLOAD_TOO_LARGE, "'data'", limit);
    json_decref(a);
}

/* A JSON string of the base64 of PROTOCOL_MAX_DATA + extra zero bytes. */
static json_t *
big_b64(size_t extra, int wrap, int unpadded)
{
    size_t n = PROTOCOL_MAX_DATA + extra;
    unsigned char *raw = calloc(1, n);
    assert_non_null(raw);
    char *enc = b64_of(raw, n);
    free(raw);
    size_t elen = strlen(enc);
    if (unpadded)
        while (elen > 0 && enc[elen - 1] == '=')
            elen--;
    if (!wrap) {
        json_t *v = json_stringn_nocheck(enc, elen);
        free(enc);
        return v;
    }
    /* As base64(1) prints it: lines of 76 columns. */
    char *wrapped = malloc(elen + elen / 76 + 2);
    assert_non_null(wrapped);
    size_t o = 0;
    for (size_t i = 0; i < elen; i++) {
        wrapped[o++] = enc[i];
        if (i % 76 == 75)
            wrapped[o++] = '\n';
    }
    wrapped[o++] = '\n';
    json_t *v = json_stringn_nocheck(wrapped, o);
    free(wrapped);
    free(enc);
    return v;
}

/* Decodes {"data_b64": v} (v is stolen), which must give the limit. */
static void
expect_b64_at_limit(json_t *v)
{
    json_t *a = hold_json(json_object());
    json_object_set_new(a, "data_b64", v);
    struct hashtask t;
    decode_ok(a, &t);
    assert_int_equal(t.len, PROTOCOL_MAX_DATA);
    hashtask_clear(&t);
}

static void
test_data_b64_over_limit(void **state)
{
    (void)state;
    char limit[32];
    snprintf(limit, sizeof(limit), "%u", PROTOCOL_MAX_DATA);
    json_t *a = json_object();
    json_object_set_new(a, "data_b64", big_b64(1, 0, 0));
    decode_fails(a, ERROR_PAYLOAD_TOO_LARGE, "'data_b64'", limit);
    json_decref(a);
}

static void
test_data_b64_at_limit_padded(void **state)
{
    (void)state;
    /* 32 MiB = 3k + 2 bytes: the encoding ends in one '='. */
    expect_b64_at_limit(big_b64(0, 0, 0));
}

static void
test_data_b64_at_limit_unpadded(void **state)
{
    (void)state;
    expect_b64_at_limit(big_b64(0, 0, 1));
}

static void
test_data_b64_at_limit_wrapped(void **state)
{
    (void)state;
    /* b64.h promises that the output of base64(1) is fine. */
    expect_b64_at_limit(big_b64(0, 1, 0));
}

static void
test_error_message_fits(void **state)
{
    (void)state;
    /* A long bad argument name never overflows the fixed error buffer. */
    char buf[2048];
    memset(buf, 0, sizeof(buf));
    strcpy(buf, "{\"data_b64\":\"");
    size_t o = strlen(buf);
    memset(buf + o, 'A', 1000);
    strcpy(buf + o + 1000, "*\"}");
    text_fails(buf, ERROR_INVALID_ARGUMENT, "'data_b64'", "offset 1000");
}

#define T(f) cmocka_unit_test_teardown(f, release_held)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_every_argument),
        T(test_data_empty),
        T(test_data_b64_binary),
        T(test_data_b64_wrapped_unpadded),
        T(test_hmac_key_variants),
        T(test_hmac_key_b64_limit),
        T(test_iterations_bounds),
        T(test_iterations_types),
        T(test_neither_data),
        T(test_both_data),
        T(test_wrong_types),
        T(test_null_data),
        T(test_bad_base64),
        T(test_algorithm),
        T(test_hmac_key_too_long),
        T(test_data_size_limit),
        T(test_data_b64_over_limit),
        T(test_data_b64_at_limit_padded),
        T(test_data_b64_at_limit_unpadded),
        T(test_data_b64_at_limit_wrapped),
        T(test_error_message_fits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
