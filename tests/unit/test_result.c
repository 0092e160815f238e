/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of protocol/result.c: the result document for success and
 * failure, every field and its JSON type, invalid UTF-8 in an error message,
 * and the timestamp format.
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
#include <time.h>

#include "error.h"
#include "result.h"

/* ---- helpers ---- */

/* Parses an encoded document; checks it is one compact line. */
static json_t *
parse_doc(const char *s, size_t len)
{
    assert_non_null(s);
    assert_int_equal(strlen(s), len);
    assert_null(strchr(s, '\n'));
    json_error_t jerr;
    json_t *o = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
    if (o == NULL)
        print_error("result is not JSON: %s: %s\n", jerr.text, s);
    assert_non_null(o);
    assert_true(json_is_object(o));
    return o;
}

/* Borrowed string value of key in o, which must be a string. */
static const char *
str_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        print_error("'%s' is not a string\n", key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

/* Checks the ISO-8601 form "YYYY-MM-DDTHH:MM:SS.uuuuuuZ". */
static void
assert_timestamp(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    if (strlen(s) != strlen(shape))
        print_error("timestamp '%s' has the wrong length\n", s);
    assert_int_equal(strlen(s), strlen(shape));
    for (size_t i = 0; shape[i] != '\0'; i++) {
        if (shape[i] == 'd')
            assert_true(s[i] >= '0' && s[i] <= '9');
        else
            assert_int_equal(s[i], shape[i]);
    }
}

/* Every key of a result document, for the exact-keys check. */
static const char *const doc_keys[] = {
    "id",       "task",    "status", "result",     "error",       "worker",
    "attempts", "retries", "errors", "started_at", "finished_at", "runtime_us",
};

static void
assert_exact_keys(json_t *o)
{
    size_t n = sizeof(doc_keys) / sizeof(doc_keys[0]);
    for (size_t i = 0; i < n; i++) {
        if (json_object_get(o, doc_keys[i]) == NULL)
            print_error("result has no '%s'\n", doc_keys[i]);
        assert_non_null(json_object_get(o, doc_keys[i]));
    }
    assert_int_equal(json_object_size(o), n);
}

/* ---- tests ---- */

static void
test_success(void **state)
{
    (void)state;
    json_t *value = json_pack("{s:s,s:s,s:i}", "algorithm", "sha512", "digest",
                              "ddaf35a1", "bytes", 3);
    struct result r = {
        .id = "1700000000000-0",
        .task = "hash",
        .status = RESULT_SUCCESS,
        .value = value,
        .worker = "host:123",
        .attempts = 1,
        .started_us = 1795314828123456,
        .finished_us = 1795314828123470,
    };
    size_t len = 0;
    char *s = result_encode(&r, &len);
    json_t *o = parse_doc(s, len);
    assert_exact_keys(o);
    assert_string_equal(str_of(o, "id"), "1700000000000-0");
    assert_string_equal(str_of(o, "task"), "hash");
    assert_string_equal(str_of(o, "status"), "SUCCESS");
    assert_true(json_equal(json_object_get(o, "result"), value));
    assert_true(json_is_null(json_object_get(o, "error")));
    assert_string_equal(str_of(o, "worker"), "host:123");
    assert_true(json_is_integer(json_object_get(o, "attempts")));
    assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 1);
    assert_string_equal(str_of(o, "started_at"), "2026-11-22T02:33:48.123456Z");
    assert_string_equal(str_of(o, "finished_at"),
                        "2026-11-22T02:33:48.123470Z");
    assert_true(json_is_integer(json_object_get(o, "runtime_us")));
    assert_int_equal(json_integer_value(json_object_get(o, "runtime_us")), 14);
    /* The caller's value is copied, not taken or changed. */
    assert_int_equal(value->refcount, 1);
    json_decref(o);
    json_decref(value);
    free(s);
}

static void
test_failure(void **state)
{
    (void)state;
    struct result r = {
        .id = "job-7",
        .task = "hash",
        .status = RESULT_FAILURE,
        .err_type = ERROR_UNKNOWN_ALGORITHM,
        .err_msg = "unknown digest 'sha999' (\"quoted\", \\ and \t tab)",
        .worker = "w1",
        .attempts = 3,
        .started_us = 1000000,
        .finished_us = 3500000,
    };
    size_t len = 0;
    char *s = result_encode(&r, &len);
    json_t *o = parse_doc(s, len);
    assert_exact_keys(o);
    assert_string_equal(str_of(o, "status"), "FAILURE");
    assert_true(json_is_null(json_object_get(o, "result")));
    json_t *e = json_object_get(o, "error");
    assert_true(json_is_object(e));
    assert_int_equal(json_object_size(e), 2);
    assert_string_equal(str_of(e, "type"), "UnknownAlgorithm");
    assert_string_equal(str_of(e, "message"), r.err_msg);
    assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "runtime_us")),
                     2500000);
    assert_string_equal(str_of(o, "started_at"), "1970-01-01T00:00:01.000000Z");
    json_decref(o);
    free(s);
}

static void
test_failure_without_task(void **state)
{
    (void)state;
    /* A message with no task name still gets a document ("task": null). */
    struct result r = {
        .id = "1-0",
        .task = NULL,
        .status = RESULT_FAILURE,
        .err_type = ERROR_INVALID_MESSAGE,
        .err_msg = NULL,
        .worker = "w",
        .attempts = 1,
    };
    size_t len;
    char *s = result_encode(&r, &len);
    json_t *o = parse_doc(s, len);
    assert_exact_keys(o);
    assert_true(json_is_null(json_object_get(o, "task")));
    json_t *e = json_object_get(o, "error");
    assert_string_equal(str_of(e, "type"), "InvalidMessage");
    assert_string_equal(str_of(e, "message"), "");
    json_decref(o);
    free(s);
}

static void
test_success_without_value(void **state)
{
    (void)state;
    struct result r = {
        .id = "x",
        .task = "noop",
        .status = RESULT_SUCCESS,
        .worker = "w",
        .attempts = 1,
    };
    char *s = result_encode(&r, NULL); /* len may be NULL */
    json_t *o = parse_doc(s, strlen(s));
    assert_true(json_is_null(json_object_get(o, "result")));
    assert_true(json_is_null(json_object_get(o, "error")));
    json_decref(o);
    free(s);
}

static void
test_invalid_utf8_error_message(void **state)
{
    (void)state;
    /* Messages may quote bad input: the document must still be written. */
    static const char *const msgs[] = {
        "bad byte \xff in input",   "truncated \xc3",
        "overlong \xc0\xaf slash",  "surrogate \xed\xa0\x80 half",
        "mixed h\xc3\xa9 and \xfe",
    };
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        struct result r = {
            .id = "u",
            .task = "hash",
            .status = RESULT_FAILURE,
            .err_type = ERROR_INVALID_ARGUMENT,
            .err_msg = msgs[i],
            .worker = "w",
            .attempts = 1,
        };
        size_t len;
        char *s = result_encode(&r, &len);
        json_t *o = parse_doc(s, len); /* jansson checks the UTF-8 */
        json_t *e = json_object_get(o, "error");
        assert_true(json_is_object(e));
        const char *m = str_of(e, "message");
        /* Same length, ASCII kept, the bad parts replaced by '?'. */
        assert_int_equal(strlen(m), strlen(msgs[i]));
        assert_non_null(strchr(m, '?'));
        assert_int_equal(strncmp(m, msgs[i], 5), 0);
        assert_string_equal(str_of(e, "type"), "InvalidArgument");
        json_decref(o);
        free(s);
    }
}

static void
test_valid_utf8_error_message_kept(void **state)
{
    (void)state;
    struct result r = {
        .id = "u",
        .task = "hash",
        .status = RESULT_FAILURE,
        .err_type = ERROR_INVALID_ARGUMENT,
        .err_msg = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
        .worker = "w",
        .attempts = 1,
    };
    size_t len;
    char *s = result_encode(&r, &len);
    json_t *o = parse_doc(s, len);
    assert_string_equal(str_of(json_object_get(o, "error"), "message"),
                        r.err_msg);
    json_decref(o);
    free(s);
}

static void
test_format_time(void **state)
{
    (void)state;
    static const struct {
        int64_t us;
        const char *want;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000000Z"},
        {1, "1970-01-01T00:00:00.000001Z"},
        {999999, "1970-01-01T00:00:00.999999Z"},
        {1000000, "1970-01-01T00:00:01.000000Z"},
        {951782400000001, "2000-02-29T00:00:00.000001Z"},
        {1795314828123456, "2026-11-22T02:33:48.123456Z"},
        {4102444799999999, "2099-12-31T23:59:59.999999Z"},
        {253402300799999999, "9999-12-31T23:59:59.999999Z"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        memset(buf, '#', sizeof(buf));
        result_format_time(buf, cases[i].us);
        assert_string_equal(buf, cases[i].want);
        assert_timestamp(buf);
    }
}

static void
test_now(void **state)
{
    (void)state;
    int64_t a = result_now_us();
    time_t t = time(NULL);
    int64_t b = result_now_us();
    assert_true(b >= a);
    /* Same clock as time(): within two seconds. */
    assert_true(a / 1000000 <= (int64_t)t + 1);
    assert_true(b / 1000000 >= (int64_t)t - 1);
    char buf[32];
    result_format_time(buf, a);
    assert_timestamp(buf);
}

static void
test_timestamps_from_encode(void **state)
{
    (void)state;
    int64_t now = result_now_us();
    struct result r = {
        .id = "t",
        .task = "hash",
        .status = RESULT_SUCCESS,
        .worker = "w",
        .attempts = 1,
        .started_us = now,
        .finished_us = now + 1234,
    };
    size_t len;
    char *s = result_encode(&r, &len);
    json_t *o = parse_doc(s, len);
    assert_timestamp(str_of(o, "started_at"));
    assert_timestamp(str_of(o, "finished_at"));
    /* The ISO forms sort like the times they stand for. */
    assert_true(strcmp(str_of(o, "started_at"), str_of(o, "finished_at")) < 0);
    assert_int_equal(json_integer_value(json_object_get(o, "runtime_us")),
                     1234);
    json_decref(o);
    free(s);
}

static void
test_field_order(void **state)
{
    (void)state;
    /* PROTOCOL.md: "Fields, always all present, in this order". */
    struct result r = {
        .id = "o",
        .task = "hash",
        .status = RESULT_SUCCESS,
        .value_json = "{\"algorithm\":\"md5\",\"digest\":\"00\",\"bytes\":0}",
        .worker = "w",
        .attempts = 1,
    };
    size_t len;
    char *s = result_encode(&r, &len);
    const char *at = s;
    for (size_t i = 0; i < sizeof(doc_keys) / sizeof(doc_keys[0]); i++) {
        char quoted[32];
        snprintf(quoted, sizeof(quoted), "\"%s\":", doc_keys[i]);
        const char *p = strstr(at, quoted);
        if (p == NULL)
            print_error("'%s' missing or out of order in %s\n", doc_keys[i], s);
        assert_non_null(p);
        at = p + strlen(quoted);
    }
    json_t *o = parse_doc(s, len);
    assert_exact_keys(o);
    /* value_json is used verbatim as "result". */
    assert_string_equal(str_of(json_object_get(o, "result"), "algorithm"),
                        "md5");
    json_decref(o);
    free(s);
}

static void
test_retries_and_errors(void **state)
{
    (void)state;
    json_t *errors =
        json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s}]", "type", "TimeLimitExceeded",
                  "at", "2026-11-22T02:57:26.170886Z", "message", "first",
                  "type", "InternalError", "at", "2026-11-22T02:57:27.000000Z",
                  "message", "second");
    struct result r = {
        .id = "tl1",
        .task = "hash",
        .status = RESULT_FAILURE,
        .err_type = "TimeLimitExceeded",
        .err_msg = "third",
        .worker = "w",
        .attempts = 1,
        .retries = 2,
        .errors = errors,
        .started_us = 5,
        .finished_us = 9,
    };
    size_t len;
    char *s = result_encode(&r, &len);
    json_t *o = parse_doc(s, len);
    assert_int_equal(json_integer_value(json_object_get(o, "retries")), 2);
    assert_true(json_equal(json_object_get(o, "errors"), errors));
    json_decref(o);
    free(s);

    /* No earlier errors, or not an array: an empty array. */
    struct result plain = {
        .id = "p",
        .task = "hash",
        .status = RESULT_RETRY,
        .err_type = "InternalError",
        .err_msg = "x",
        .worker = "w",
        .attempts = 3,
    };
    s = result_encode(&plain, &len);
    o = parse_doc(s, len);
    assert_true(json_is_array(json_object_get(o, "errors")));
    assert_int_equal(json_array_size(json_object_get(o, "errors")), 0);
    assert_int_equal(json_integer_value(json_object_get(o, "retries")), 0);
    assert_string_equal(str_of(o, "status"), "RETRY");
    json_decref(o);
    free(s);

    json_t *notarray = json_object();
    plain.errors = notarray;
    plain.status = RESULT_EXPIRED;
    s = result_encode(&plain, &len);
    o = parse_doc(s, len);
    assert_int_equal(json_array_size(json_object_get(o, "errors")), 0);
    assert_string_equal(str_of(o, "status"), "EXPIRED");
    json_decref(o);
    free(s);
    json_decref(notarray);
    json_decref(errors);
}

static void
test_string_escapes(void **state)
{
    (void)state;
    /* Every control character, quotes and backslashes survive exactly. */
    char msg[64];
    size_t o = 0;
    for (int c = 1; c < 0x20; c++)
        msg[o++] = (char)c;
    strcpy(msg + o, "\"\\/\x7f end");
    struct result r = {
        .id = "id with \"quotes\" and \\",
        .task = "t\tab",
        .status = RESULT_FAILURE,
        .err_type = ERROR_INVALID_MESSAGE,
        .err_msg = msg,
        .worker = "w\n1",
        .attempts = 1,
    };
    size_t len;
    char *s = result_encode(&r, &len);
    json_t *doc = parse_doc(s, len); /* no raw newline: one line */
    assert_string_equal(str_of(doc, "id"), r.id);
    assert_string_equal(str_of(doc, "task"), r.task);
    assert_string_equal(str_of(doc, "worker"), r.worker);
    assert_string_equal(str_of(json_object_get(doc, "error"), "message"), msg);
    json_decref(doc);
    free(s);
}

static void
test_invalid_utf8_every_field(void **state)
{
    (void)state;
    /*
     * Each bad sequence becomes '?' per byte that cannot start a valid
     * character; the valid text around it is kept.
     */
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"a\x80z", "a?z"},                /* lone continuation byte */
        {"a\xc0\xafz", "a??z"},           /* overlong '/' */
        {"a\xc1\xbfz", "a??z"},           /* overlong */
        {"a\xe0\x80\xafz", "a???z"},      /* overlong, 3 bytes */
        {"a\xed\xa0\x80z", "a???z"},      /* UTF-16 surrogate */
        {"a\xf0\x80\x80\xafz", "a????z"}, /* overlong, 4 bytes */
        {"a\xf4\x90\x80\x80z", "a????z"}, /* past U+10FFFF */
        {"a\xf5\x80\x80\x80z", "a????z"}, /* never valid lead */
        {"a\xfe\xffz", "a??z"},
        {"a\xe2\x82", "a??"}, /* cut short at the end */
        {"a\xf0\x9f\x98", "a???"},
        {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", /* valid: kept */
         "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
        {"\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf", /* edges, valid */
         "\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct result r = {
            .id = cases[i].in,
            .task = cases[i].in,
            .status = RESULT_FAILURE,
            .err_type = ERROR_INVALID_MESSAGE,
            .err_msg = cases[i].in,
            .worker = cases[i].in,
            .attempts = 1,
        };
        size_t len;
        char *s = result_encode(&r, &len);
        json_t *o = parse_doc(s, len); /* jansson checks the UTF-8 */
        if (strcmp(str_of(o, "id"), cases[i].out) != 0)
            print_error("case %zu: got \"%s\"\n", i, str_of(o, "id"));
        assert_string_equal(str_of(o, "id"), cases[i].out);
        assert_string_equal(str_of(o, "task"), cases[i].out);
        assert_string_equal(str_of(o, "worker"), cases[i].out);
        assert_string_equal(str_of(json_object_get(o, "error"), "message"),
                            cases[i].out);
        json_decref(o);
        free(s);
    }
}

static void
test_format_time_back_and_forth(void **state)
{
    (void)state;
    /* The formatter caches the seconds; going back must not reuse them. */
    char buf[32];
    for (int round = 0; round < 3; round++) {
        result_format_time(buf, 1795314828123456);
        assert_string_equal(buf, "2026-11-22T02:33:48.123456Z");
        result_format_time(buf, 1795314828999999);
        assert_string_equal(buf, "2026-11-22T02:33:48.999999Z");
        result_format_time(buf, 1795314829000000);
        assert_string_equal(buf, "2026-11-22T02:33:49.000000Z");
        result_format_time(buf, 0);
        assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success),
        cmocka_unit_test(test_failure),
        cmocka_unit_test(test_failure_without_task),
        cmocka_unit_test(test_success_without_value),
        cmocka_unit_test(test_invalid_utf8_error_message),
        cmocka_unit_test(test_valid_utf8_error_message_kept),
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_now),
        cmocka_unit_test(test_timestamps_from_encode),
        cmocka_unit_test(test_field_order),
        cmocka_unit_test(test_retries_and_errors),
        cmocka_unit_test(test_string_escapes),
        cmocka_unit_test(test_invalid_utf8_every_field),
        cmocka_unit_test(test_format_time_back_and_forth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
