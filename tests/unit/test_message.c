/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of protocol/message.c: decoding every field of a task message,
 * each kind of bad message (with the error type and a message that names the
 * problem), and message_encode() round trips.
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

#include "error.h"
#include "message.h"
#include "xmalloc.h"
#include "version.h"

/* ---- helpers ---- */

/* Decodes s, which must succeed; the caller clears *m. */
static void
decode_ok(const char *s, struct message *m)
{
    struct proto_error err;
    memset(&err, 0, sizeof(err));
    int r = message_decode(s, strlen(s), m, &err);
    if (r != 0)
        print_error("decoding %s failed: %s: %s\n", s, err.type, err.message);
    assert_int_equal(r, 0);
    assert_non_null(m->root);
    assert_non_null(m->task);
    assert_non_null(m->args);
    assert_true(json_is_object(m->args));
}

/*
 * Decodes buf[0..len), which must fail with error type "type" and a message
 * that contains every one of the NULL-terminated words.  Returns nothing;
 * clears the message.
 */
static void
decode_fails_n(const char *buf, size_t len, const char *type, ...)
{
    struct message m = MESSAGE_INIT;
    struct proto_error err;
    memset(&err, 0, sizeof(err));
    int r = message_decode(buf, len, &m, &err);
    if (r != -1)
        print_error("decoding %.*s was accepted\n", (int)len, buf);
    assert_int_equal(r, -1);
    if (strcmp(err.type, type) != 0)
        print_error("decoding %.*s: %s: %s\n", (int)len, buf, err.type,
                    err.message);
    assert_string_equal(err.type, type);

    va_list ap;
    va_start(ap, type);
    const char *word;
    while ((word = va_arg(ap, const char *)) != NULL) {
        if (strstr(err.message, word) == NULL)
            print_error("decoding %.*s: message \"%s\" does not mention "
                        "\"%s\"\n",
                        (int)len, buf, err.message, word);
        assert_non_null(strstr(err.message, word));
    }
    va_end(ap);
    /* A person reads this: one non-empty line. */
    assert_true(strlen(err.message) > 10);
    assert_null(strchr(err.message, '\n'));
    message_clear(&m);
    assert_null(m.root);
}

#define decode_fails(s, type, ...)                                             \
    decode_fails_n((s), strlen(s), (type), __VA_ARGS__, (const char *)NULL)

/* ---- valid messages ---- */

static void
test_minimal(void **state)
{
    (void)state;
    struct message m = MESSAGE_INIT;
    decode_ok("{\"task\":\"hash\"}", &m);
    assert_string_equal(m.task, "hash");
    assert_null(m.id);
    assert_null(m.reply_to);
    assert_int_equal(json_object_size(m.args), 0);
    assert_int_equal(m.version, PROTOCOL_VERSION);
    message_clear(&m);
    assert_null(m.root);
    assert_null(m.task);
}

static void
test_every_field(void **state)
{
    (void)state;
    struct message m = MESSAGE_INIT;
    decode_ok("{\"v\":1,\"task\":\"hash\",\"id\":\"job-42\","
              "\"reply_to\":\"celeriac:reply:abc\","
              "\"args\":{\"data\":\"abc\",\"algorithm\":\"sha256\"}}",
              &m);
    assert_string_equal(m.task, "hash");
    assert_string_equal(m.id, "job-42");
    assert_string_equal(m.reply_to, "celeriac:reply:abc");
    assert_int_equal(m.version, 1);
    assert_int_equal(json_object_size(m.args), 2);
    assert_string_equal(json_string_value(json_object_get(m.args, "data")),
                        "abc");
    assert_string_equal(json_string_value(json_object_get(m.args, "algorithm")),
                        "sha256");
    message_clear(&m);
}

static void
test_unknown_fields_ignored(void **state)
{
    (void)state;
    struct message m = MESSAGE_INIT;
    decode_ok("{\"task\":\"hash\",\"eta\":\"2030-01-01T00:00:00Z\","
              "\"priority\":[1,2],\"headers\":{\"x\":null}}",
              &m);
    assert_string_equal(m.task, "hash");
    message_clear(&m);
}

static void
test_null_optional_fields(void **state)
{
    (void)state;
    struct message m = MESSAGE_INIT;
    decode_ok("{\"task\":\"hash\",\"id\":null,\"reply_to\":null,"
              "\"args\":null}",
              &m);
    assert_null(m.id);
    assert_null(m.reply_to);
    assert_int_equal(json_object_size(m.args), 0);
    message_clear(&m);
}

static void
test_whitespace_and_unicode(void **state)
{
    (void)state;
    struct message m = MESSAGE_INIT;
    decode_ok(" \n{ \"task\" : \"hash\" ,\n \"id\" : \"\\u00e9t\xc3\xa9\" }\n",
              &m);
    assert_string_equal(m.id, "\xc3\xa9t\xc3\xa9");
    message_clear(&m);
}

static void
test_name_length_limit(void **state)
{
    (void)state;
    char id[PROTOCOL_MAX_NAME + 1];
    char buf[PROTOCOL_MAX_NAME + 64];
    memset(id, 'x', PROTOCOL_MAX_NAME);
    id[PROTOCOL_MAX_NAME] = '\0';
    snprintf(buf, sizeof(buf), "{\"task\":\"hash\",\"id\":\"%s\"}", id);

    struct message m = MESSAGE_INIT;
    decode_ok(buf, &m); /* exactly the limit is fine */
    assert_int_equal(strlen(m.id), PROTOCOL_MAX_NAME);
    message_clear(&m);
}

static void
test_decode_not_nul_terminated(void **state)
{
    (void)state;
    /* The buffer is a Redis reply: length-delimited, not a C string. */
    const char s[] = "{\"task\":\"hash\"}GARBAGE";
    struct message m = MESSAGE_INIT;
    struct proto_error err;
    assert_int_equal(message_decode(s, 15, &m, &err), 0);
    assert_string_equal(m.task, "hash");
    message_clear(&m);
}

/* ---- bad messages ---- */

static void
test_invalid_json(void **state)
{
    (void)state;
    decode_fails("{\"task\":\"hash\"", ERROR_INVALID_MESSAGE, "JSON");
    decode_fails("{task:hash}", ERROR_INVALID_MESSAGE, "JSON");
    decode_fails("{\"task\":\"hash\",}", ERROR_INVALID_MESSAGE, "JSON");
    decode_fails("{\"task\":\"hash\"} {}", ERROR_INVALID_MESSAGE, "JSON");
    decode_fails("", ERROR_INVALID_MESSAGE, "JSON");
    decode_fails("   ", ERROR_INVALID_MESSAGE, "JSON");
    decode_fails("{\"task\":\"h\xff\"}", ERROR_INVALID_MESSAGE, "JSON");
    decode_fails("\xef\xbb\xbf{\"task\":\"hash\"}", ERROR_INVALID_MESSAGE,
                 "JSON");
}

static void
test_not_an_object(void **state)
{
    (void)state;
    decode_fails("[]", ERROR_INVALID_MESSAGE, "object");
    decode_fails("[{\"task\":\"hash\"}]", ERROR_INVALID_MESSAGE, "object");
    /*
     * jansson refuses a bare scalar at the top level while parsing; its
     * message ("'[' or '{' expected") still says what was wanted.
     */
    static const char *const scalars[] = {"\"hash\"", "42", "true", "null"};
    for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++)
        decode_fails(scalars[i], ERROR_INVALID_MESSAGE, "{");
}

static void
test_missing_task(void **state)
{
    (void)state;
    decode_fails("{}", ERROR_INVALID_MESSAGE, "'task'");
    decode_fails("{\"args\":{\"data\":\"x\"}}", ERROR_INVALID_MESSAGE,
                 "'task'");
    decode_fails("{\"task\":null}", ERROR_INVALID_MESSAGE, "'task'");
    decode_fails("{\"Task\":\"hash\"}", ERROR_INVALID_MESSAGE, "'task'");
}

static void
test_missing_task_keeps_id(void **state)
{
    (void)state;
    /* The id and reply_to survive so the FAILURE reaches the producer. */
    const char *s = "{\"id\":\"t1\",\"reply_to\":\"r1\",\"args\":{}}";
    struct message m = MESSAGE_INIT;
    struct proto_error err;
    assert_int_equal(message_decode(s, strlen(s), &m, &err), -1);
    assert_string_equal(err.type, ERROR_INVALID_MESSAGE);
    assert_non_null(m.id);
    assert_string_equal(m.id, "t1");
    assert_non_null(m.reply_to);
    assert_string_equal(m.reply_to, "r1");
    assert_null(m.task);
    message_clear(&m);
}

static void
test_bad_args_keeps_id(void **state)
{
    (void)state;
    const char *s = "{\"id\":\"t2\",\"task\":\"hash\",\"args\":[1]}";
    struct message m = MESSAGE_INIT;
    struct proto_error err;
    assert_int_equal(message_decode(s, strlen(s), &m, &err), -1);
    assert_string_equal(m.id, "t2");
    assert_string_equal(m.task, "hash");
    message_clear(&m);
}

static void
test_wrong_types(void **state)
{
    (void)state;
    static const char *const fields[] = {"task", "id", "reply_to"};
    static const struct {
        const char *json;
        const char *kind;
    } values[] = {
        {"42", "number"},     {"1.5", "number"},       {"true", "boolean"},
        {"false", "boolean"}, {"[\"hash\"]", "array"}, {"{}", "object"},
    };
    for (size_t f = 0; f < 3; f++) {
        for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
            char buf[256], quoted[32];
            /* Keep a valid task so only the field under test is wrong. */
            if (strcmp(fields[f], "task") == 0)
                snprintf(buf, sizeof(buf), "{\"task\":%s}", values[v].json);
            else
                snprintf(buf, sizeof(buf), "{\"task\":\"hash\",\"%s\":%s}",
                         fields[f], values[v].json);
            snprintf(quoted, sizeof(quoted), "'%s'", fields[f]);
            decode_fails(buf, ERROR_INVALID_MESSAGE, quoted, "string",
                         values[v].kind);
        }
    }
}

static void
test_args_not_object(void **state)
{
    (void)state;
    static const char *const values[] = {
        "[]", "[1,2]", "\"data=abc\"", "7", "true", "false",
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char buf[128];
        snprintf(buf, sizeof(buf), "{\"task\":\"hash\",\"args\":%s}",
                 values[i]);
        decode_fails(buf, ERROR_INVALID_MESSAGE, "'args'", "object");
    }
}

static void
test_version(void **state)
{
    (void)state;
    char buf[128];
    snprintf(buf, sizeof(buf), "{\"task\":\"hash\",\"v\":%d}",
             PROTOCOL_VERSION + 1);
    decode_fails(buf, ERROR_INVALID_MESSAGE, "version", "2");
    decode_fails("{\"task\":\"hash\",\"v\":99999999999}", ERROR_INVALID_MESSAGE,
                 "version");
    decode_fails("{\"task\":\"hash\",\"v\":0}", ERROR_INVALID_MESSAGE, "'v'");
    decode_fails("{\"task\":\"hash\",\"v\":-1}", ERROR_INVALID_MESSAGE, "'v'");
    decode_fails("{\"task\":\"hash\",\"v\":\"1\"}", ERROR_INVALID_MESSAGE,
                 "'v'");
    decode_fails("{\"task\":\"hash\",\"v\":1.0}", ERROR_INVALID_MESSAGE, "'v'");
    decode_fails("{\"task\":\"hash\",\"v\":null}", ERROR_INVALID_MESSAGE,
                 "'v'");
}

static void
test_too_long_names(void **state)
{
    (void)state;
    static const char *const fields[] = {"task", "id", "reply_to"};
    char name[PROTOCOL_MAX_NAME + 2];
    memset(name, 'n', PROTOCOL_MAX_NAME + 1);
    name[PROTOCOL_MAX_NAME + 1] = '\0';
    for (size_t f = 0; f < 3; f++) {
        char buf[PROTOCOL_MAX_NAME + 128], quoted[32], limit[16];
        if (strcmp(fields[f], "task") == 0)
            snprintf(buf, sizeof(buf), "{\"task\":\"%s\"}", name);
        else
            snprintf(buf, sizeof(buf), "{\"task\":\"hash\",\"%s\":\"%s\"}",
                     fields[f], name);
        snprintf(quoted, sizeof(quoted), "'%s'", fields[f]);
        snprintf(limit, sizeof(limit), "%d", PROTOCOL_MAX_NAME);
        decode_fails(buf, ERROR_INVALID_MESSAGE, quoted, limit);
    }
}

static void
test_empty_names(void **state)
{
    (void)state;
    decode_fails("{\"task\":\"\"}", ERROR_INVALID_MESSAGE, "'task'");
    decode_fails("{\"task\":\"hash\",\"id\":\"\"}", ERROR_INVALID_MESSAGE,
                 "'id'");
    decode_fails("{\"task\":\"hash\",\"reply_to\":\"\"}", ERROR_INVALID_MESSAGE,
                 "'reply_to'");
}

static void
test_duplicate_keys(void **state)
{
    (void)state;
    /* Which of two "task" fields wins is undefined: refuse both. */
    decode_fails("{\"task\":\"hash\",\"task\":\"other\"}",
                 ERROR_INVALID_MESSAGE, "duplicate");
    decode_fails("{\"task\":\"hash\",\"id\":\"a\",\"id\":\"b\"}",
                 ERROR_INVALID_MESSAGE, "duplicate");
    decode_fails("{\"task\":\"hash\",\"args\":{\"data\":\"a\","
                 "\"data\":\"b\"}}",
                 ERROR_INVALID_MESSAGE, "duplicate");
}

static void
test_nul_in_strings(void **state)
{
    (void)state;
    /* An escaped NUL would cut the name short in C: refused. */
    decode_fails("{\"task\":\"ha\\u0000sh\"}", ERROR_INVALID_MESSAGE, "NUL");
    decode_fails("{\"task\":\"hash\",\"id\":\"a\\u0000b\"}",
                 ERROR_INVALID_MESSAGE, "NUL");
    decode_fails("{\"task\":\"hash\",\"args\":{\"data\":\"a\\u0000b\"}}",
                 ERROR_INVALID_MESSAGE, "NUL");
    /* A raw NUL byte inside the buffer is not JSON at all. */
    static const char raw[] = "{\"task\":\"ha\0sh\"}";
    decode_fails_n(raw, sizeof(raw) - 1, ERROR_INVALID_MESSAGE,
                   "NUL byte at offset 11", (const char *)NULL);
    /* jansson alone skips one that follows a number; the retry copied the
     * text and cut it at the NUL (found by fuzz_message). */
    static const char after_number[] =
        "{\"task\":\"hash\",\"retries\":2\0,\"max_retries\":5}";
    decode_fails_n(after_number, sizeof(after_number) - 1,
                   ERROR_INVALID_MESSAGE, "NUL byte at offset 26",
                   (const char *)NULL);
}

static void
test_oversize_message(void **state)
{
    (void)state;
    /* Refused by its length alone, before parsing: the buffer is not read. */
    size_t len = (size_t)PROTOCOL_MAX_MESSAGE + 1;
    char *buf = malloc(len);
    assert_non_null(buf);
    memset(buf, ' ', len);
    memcpy(buf, "{\"task\":\"hash\"}", 15);
    char limit[32];
    snprintf(limit, sizeof(limit), "%u", PROTOCOL_MAX_MESSAGE);
    decode_fails_n(buf, len, ERROR_PAYLOAD_TOO_LARGE, limit,
                   (const char *)NULL);
    free(buf);
}

static void
test_error_null_is_allowed(void **state)
{
    (void)state;
    /* A caller that does not need the reason may pass err == NULL. */
    struct message m = MESSAGE_INIT;
    assert_int_equal(message_decode("[]", 2, &m, NULL), -1);
    message_clear(&m);
}

/* ---- encoding ---- */

static void
test_encode_round_trip(void **state)
{
    (void)state;
    json_t *args = json_pack("{s:s, s:s, s:i}", "data", "h\xc3\xa9llo \"q\"",
                             "algorithm", "sha3-256", "iterations", 5);
    char *s = message_encode("hash", args, "id-1", "celeriac:reply:x");
    assert_non_null(s);

    struct message m = MESSAGE_INIT;
    decode_ok(s, &m);
    assert_string_equal(m.task, "hash");
    assert_string_equal(m.id, "id-1");
    assert_string_equal(m.reply_to, "celeriac:reply:x");
    assert_int_equal(m.version, PROTOCOL_VERSION);
    assert_true(json_equal(m.args, args));
    /* The encoder carries "v" explicitly. */
    assert_int_equal(json_integer_value(json_object_get(m.root, "v")),
                     PROTOCOL_VERSION);
    /* Compact: one line, fit for redis-cli and logs. */
    assert_null(strchr(s, '\n'));
    message_clear(&m);
    free(s);

    /* The caller's args are copied, not taken. */
    assert_int_equal(args->refcount, 1);
    json_decref(args);
}

static void
test_encode_defaults(void **state)
{
    (void)state;
    char *s = message_encode("hash", NULL, NULL, NULL);
    assert_non_null(s);
    struct message m = MESSAGE_INIT;
    decode_ok(s, &m);
    assert_null(m.id);
    assert_null(m.reply_to);
    assert_int_equal(json_object_size(m.args), 0);
    assert_null(json_object_get(m.root, "id"));
    assert_null(json_object_get(m.root, "reply_to"));
    message_clear(&m);
    free(s);
}

static void
test_encode_rejects_non_object_args(void **state)
{
    (void)state;
    json_t *arr = json_array();
    assert_null(message_encode("hash", arr, NULL, NULL));
    json_decref(arr);
    json_t *str = json_string("x");
    assert_null(message_encode("hash", str, NULL, NULL));
    json_decref(str);
}

/*
 * Large messages take a fast path (message.c, message_splice).  It must give
 * exactly what jansson gives: the same tree for every valid message, and
 * an error for every invalid one.
 */
static void
test_large_messages_match_jansson(void **state)
{
    (void)state;
    char big[6001];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[100] = '\'';
    char *cases[] = {
        /* valid: plain ASCII payload (fast path) */
        xasprintf("{\"task\":\"hash\",\"args\":{\"data\":\"%s\"}}", big),
        xasprintf("{\"task\":\"hash\",\"id\":\"x\",\"args\":{\"data_b64\":"
                  "\"%s\",\"algorithm\":\"sha256\"},\"v\":1}",
                  big),
        xasprintf("{\"task\":\"hash\",\"args\":{\"data\":[\"%s\",1]}}", big),
        /* the marker's text as a user value elsewhere: falls back */
        xasprintf("{\"task\":\"\\u0001celeriac-splice\\u0002\",\"args\":"
                  "{\"data\":\"%s\"}}",
                  big),
        /* the longest string is a key */
        xasprintf("{\"task\":\"hash\",\"args\":{\"%s\":\"d\"}}", big),
        /* the longest string is a key and a value spells the marker: the
         * value stays the marker's 17 bytes (it once became the key) */
        xasprintf("{\"task\":\"hash\",\"args\":{\"%s\":1,\"data\":"
                  "\"\\u0001celeriac-splice\\u0002\"}}",
                  big),
        xasprintf("{\"task\":\"hash\",\"args\":{\"data\":"
                  "\"\\u0001celeriac-splice\\u0002\",\"%s\" \t\r\n: 1}}",
                  big),
        /* escapes, non-ASCII, quotes after backslashes */
        xasprintf("{\"task\":\"hash\",\"args\":{\"data\":\"%s\\\\\"}}", big),
        xasprintf("{\"task\":\"hash\",\"args\":{\"data\":\"%s\\\"q\"}}", big),
        xasprintf("{\"task\":\"hash\",\"args\":{\"data\":\"\xc3\xa9%s\"}}",
                  big),
        /* invalid JSON around a big string */
        xasprintf("{\"task\":\"hash\",\"args\":{\"data\":\"%s\"}", big),
        xasprintf("{\"task\":\"hash\",\"args\":{\"data\":\"%s\",}}", big),
        xasprintf("{\"task\":\"hash\" x,\"args\":{\"data\":\"%s\"}}", big),
        xasprintf("{\"task\":\"hash\",\"task\":\"h\",\"args\":{\"data\":"
                  "\"%s\"}}",
                  big),
        xasprintf("{\"task\":\"hash\",\"args\":{\"data\":\"%s", big),
        xasprintf("{\"task\":\"hash\",\"args\":{\"data\":\"%s\t\"}}", big),
        /* an escape, a control byte, DEL or a high byte deep inside a
         * 64-byte block of the payload */
        xasprintf("{\"task\":\"hash\",\"args\":{\"data\":\"%.3000s\\n%s\"}}",
                  big, big),
        xasprintf("{\"task\":\"hash\",\"args\":{\"data\":\"%.3001s\x01%s\"}}",
                  big, big),
        xasprintf("{\"task\":\"hash\",\"args\":{\"data\":\"%.3037s\x7f%s\"}}",
                  big, big),
        xasprintf("{\"task\":\"hash\",\"args\":{\"data\":"
                  "\"%.4095s\xe2\x82\xac%s\"}}",
                  big, big),
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t jerr;
        size_t len = strlen(cases[i]);
        json_t *ref = json_loadb(cases[i], len, JSON_REJECT_DUPLICATES, &jerr);
        struct message m = MESSAGE_INIT;
        struct proto_error err;
        int rc = message_decode(cases[i], len, &m, &err);
        if (ref == NULL) {
            /* jansson refuses it: so must we, as invalid JSON */
            assert_int_equal(rc, -1);
            assert_string_equal(err.type, ERROR_INVALID_MESSAGE);
            assert_non_null(strstr(err.message, "not valid JSON"));
        } else if (m.root != NULL) {
            /* message_decode adds "args": {} when absent; all have args */
            if (!json_equal(ref, m.root))
                fail_msg("case %zu: fast path differs from jansson", i);
        }
        json_decref(ref);
        message_clear(&m);
        free(cases[i]);
    }
}

/* Members are dropped by their decoded key and the rest copied as given. */
/* message_mentions() and message_mentions_any() say what memmem() says, on
 * quotes, escaped quotes, a needle at either end and a large payload; checked
 * against memmem(). */
static void
test_mentions_matches_memmem(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{\"task\":\"hash\",\"rate_limit\":\"5/s\"}",
        "\"rate_limit\"",
        "_limit\"",
        "x_limit\\\"",                 /* x_limit\" : an escaped backslash */
        "{\"data\":\"a_limit\\\"b\"}", /* "a_limit\"b": escaped quote */
        "\"\"\"\"",
        "",
        "{\"data\":\"_limi\"}",
    };
    static const char *const needles[] = {"_limit\"", "\"unique_for\"", "\"",
                                          "\"url\"", "limit"};
    for (size_t t = 0; t < sizeof(texts) / sizeof(*texts); t++)
        for (size_t n = 0; n < sizeof(needles) / sizeof(*needles); n++) {
            size_t len = strlen(texts[t]), nlen = strlen(needles[n]);
            int want =
                len >= nlen && memmem(texts[t], len, needles[n], nlen) != NULL;
            assert_int_equal(message_mentions(texts[t], len, needles[n], nlen),
                             want);
        }
    /* All needles in one pass: the bits say what memmem() says of each. */
    const size_t nn = sizeof(needles) / sizeof(*needles);
    for (size_t t = 0; t < sizeof(texts) / sizeof(*texts); t++) {
        size_t len = strlen(texts[t]);
        unsigned want = 0;
        for (size_t n = 0; n < nn; n++)
            if (memmem(texts[t], len, needles[n], strlen(needles[n])) != NULL)
                want |= 1u << n;
        assert_int_equal(message_mentions_any(texts[t], len, needles, nn),
                         want);
        assert_int_equal(message_mentions_any(texts[t], len, needles + 1, 2),
                         (want >> 1) & 3u);
    }
    /* A large payload, the key before it, after it, and absent. */
    size_t big = 300 * 1024;
    char *m = malloc(big + 64);
    assert_non_null(m);
    memcpy(m, "{\"data\":\"", 9);
    memset(m + 9, 'q', big);
    memcpy(m + 9 + big, "\",\"unique_for\":5}", 18);
    size_t len = 9 + big + 18;
    assert_true(message_mentions(m, len, "\"unique_for\"", 12));
    assert_false(message_mentions(m, len, "_limit\"", 7));
    assert_false(message_mentions(m, len - 10, "\"unique_for\"", 12));
    static const char *const keys[] = {"_limit\"", "\"unique_for\""};
    assert_int_equal(message_mentions_any(m, len, keys, 2), 2u);
    assert_int_equal(message_mentions_any(m, len - 10, keys, 2), 0u);
    free(m);
}

static void
test_with_members(void **state)
{
    (void)state;
    static const char *const drop[] = {"id", "errors", NULL};
    const char *in = " { \"\\u0069d\" : \"a\", \"n\":[1e9, {\"id\":0.1}],"
                     "\"s\":\"},\\\"\",\"errors\":[1,[2]] ,\"v\":1 } ";
    size_t n;
    char *out = message_with_members(in, strlen(in), drop, "\"id\":\"b\"", &n);
    assert_non_null(out);
    assert_int_equal(strlen(out), n);
    assert_string_equal(out, "{\"n\":[1e9, {\"id\":0.1}],\"s\":\"},\\\"\","
                             "\"v\":1 ,\"id\":\"b\"}");
    free(out);
    out = message_with_members("{}", 2, drop, "", &n);
    assert_string_equal(out, "{}");
    free(out);
    out = message_with_members("{\"id\":1}", 8, drop, "\"x\":2", &n);
    assert_string_equal(out, "{\"x\":2}");
    free(out);
    assert_null(message_with_members("[1]", 3, drop, "", &n));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_messages_match_jansson),
        cmocka_unit_test(test_with_members),
        cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_unknown_fields_ignored),
        cmocka_unit_test(test_null_optional_fields),
        cmocka_unit_test(test_whitespace_and_unicode),
        cmocka_unit_test(test_name_length_limit),
        cmocka_unit_test(test_decode_not_nul_terminated),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_missing_task),
        cmocka_unit_test(test_missing_task_keeps_id),
        cmocka_unit_test(test_bad_args_keeps_id),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_args_not_object),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_too_long_names),
        cmocka_unit_test(test_empty_names),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_nul_in_strings),
        cmocka_unit_test(test_oversize_message),
        cmocka_unit_test(test_error_null_is_allowed),
        cmocka_unit_test(test_mentions_matches_memmem),
        cmocka_unit_test(test_encode_round_trip),
        cmocka_unit_test(test_encode_defaults),
        cmocka_unit_test(test_encode_rejects_non_object_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
