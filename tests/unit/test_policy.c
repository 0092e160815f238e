/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of protocol/policy.c: the delivery fields of a task message
 * (time_limit, expires, max_retries, retry_backoff, retry_backoff_max,
 * retry_jitter, retries), which failures are retried, the backoff delays,
 * the message scheduled for a retry, and the ISO-8601 time parser.
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
#include "policy.h"

/* ---- helpers ---- */

/* Decodes the JSON text s, which must succeed. */
static void
decode_ok(const char *s, struct policy *p)
{
    json_error_t jerr;
    json_t *m = json_loads(s, 0, &jerr);
    assert_non_null(m);
    struct proto_error err;
    memset(&err, 0, sizeof(err));
    int r = policy_decode(m, p, &err);
    if (r != 0)
        print_error("%s refused: %s: %s\n", s, err.type, err.message);
    assert_int_equal(r, 0);
    json_decref(m);
}

/* Decodes s, which must fail with InvalidMessage naming field. */
static void
decode_fails(const char *s, const char *field)
{
    json_error_t jerr;
    json_t *m = json_loads(s, 0, &jerr);
    assert_non_null(m);
    struct policy p;
    struct proto_error err;
    memset(&err, 0, sizeof(err));
    int r = policy_decode(m, &p, &err);
    json_decref(m);
    if (r != -1)
        print_error("%s was accepted\n", s);
    assert_int_equal(r, -1);
    assert_string_equal(err.type, ERROR_INVALID_MESSAGE);
    char quoted[64];
    snprintf(quoted, sizeof(quoted), "'%s'", field);
    if (strstr(err.message, quoted) == NULL)
        print_error("%s: \"%s\" does not name %s\n", s, err.message, quoted);
    assert_non_null(strstr(err.message, quoted));
}

/* ---- decoding ---- */

static void
test_defaults(void **state)
{
    (void)state;
    struct policy p;
    decode_ok("{\"task\":\"hash\"}", &p);
    assert_true(p.time_limit == 0);
    assert_int_equal(p.expires_us, 0);
    assert_int_equal(p.max_retries, 0);
    assert_true(p.backoff == 1.0);
    assert_true(p.backoff_max == 600.0);
    assert_int_equal(p.jitter, 1);
    assert_int_equal(p.retries, 0);

    /* null counts as absent */
    decode_ok("{\"time_limit\":null,\"expires\":null,\"max_retries\":null,"
              "\"retry_backoff\":null,\"retry_jitter\":null}",
              &p);
    assert_true(p.time_limit == 0);
    assert_int_equal(p.expires_us, 0);
    assert_true(p.backoff == 1.0);
    assert_int_equal(p.jitter, 1);
}

static void
test_every_field(void **state)
{
    (void)state;
    struct policy p;
    decode_ok("{\"time_limit\":0.25,\"expires\":1795314828.5,"
              "\"max_retries\":3,\"retry_backoff\":0.1,"
              "\"retry_backoff_max\":2,\"retry_jitter\":false,"
              "\"retries\":2}",
              &p);
    assert_true(p.time_limit == 0.25);
    assert_int_equal(p.expires_us, 1795314828500000);
    assert_int_equal(p.max_retries, 3);
    assert_true(p.backoff == 0.1);
    assert_true(p.backoff_max == 2.0);
    assert_int_equal(p.jitter, 0);
    assert_int_equal(p.retries, 2);
}

static void
test_expires_string(void **state)
{
    (void)state;
    struct policy p;
    decode_ok("{\"expires\":\"2026-11-22T02:33:48Z\"}", &p);
    assert_int_equal(p.expires_us, 1795314828000000);
    decode_ok("{\"expires\":\"2026-11-22T02:33:48.123456Z\"}", &p);
    assert_int_equal(p.expires_us, 1795314828123456);
    decode_fails("{\"expires\":\"tomorrow\"}", "expires");
    decode_fails("{\"expires\":\"2026-11-22 02:33:48Z\"}", "expires");
    decode_fails("{\"expires\":\"2026-11-22T02:33:48\"}", "expires");
    decode_fails("{\"expires\":\"\"}", "expires");
}

static void
test_ranges(void **state)
{
    (void)state;
    struct policy p;
    decode_ok("{\"time_limit\":0,\"max_retries\":0,\"retry_backoff\":0}", &p);
    decode_ok("{\"time_limit\":4294967,\"max_retries\":1000,"
              "\"retry_backoff\":10000000,\"retry_backoff_max\":10000000}",
              &p);
    assert_int_equal(p.max_retries, 1000);
    decode_fails("{\"time_limit\":-1}", "time_limit");
    /* Its milliseconds must fit the uint32 of the STARTED frame. */
    decode_fails("{\"time_limit\":4294968}", "time_limit");
    decode_fails("{\"time_limit\":5000000}", "time_limit");
    decode_fails("{\"max_retries\":-1}", "max_retries");
    decode_fails("{\"max_retries\":1001}", "max_retries");
    decode_fails("{\"retry_backoff\":-0.5}", "retry_backoff");
    decode_fails("{\"retry_backoff_max\":1e8}", "retry_backoff_max");
    decode_fails("{\"retries\":-1}", "retries");
    decode_fails("{\"expires\":0}", "expires");
    decode_fails("{\"expires\":-5}", "expires");
    /* Found by fuzzing: past the year 10000 it overflowed int64 us. */
    decode_fails("{\"expires\":1e300}", "expires");
    decode_fails("{\"expires\":253402300800}", "expires");
    /* Counts are whole numbers. */
    decode_fails("{\"retries\":2.5}", "retries");
    decode_fails("{\"max_retries\":1.5}", "max_retries");
}

static void
test_wrong_types(void **state)
{
    (void)state;
    static const char *const fields[] = {
        "time_limit", "max_retries", "retry_backoff", "retry_backoff_max",
        "retries",    "expires",     "retry_jitter",
    };
    static const char *const values[] = {"\"5\"", "[1]", "{}", "true"};
    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
        for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
            /* retry_jitter is the one boolean */
            if (strcmp(fields[f], "retry_jitter") == 0 &&
                strcmp(values[v], "true") == 0)
                continue;
            char buf[128];
            snprintf(buf, sizeof(buf), "{\"%s\":%s}", fields[f], values[v]);
            decode_fails(buf, fields[f]);
        }
    }
    decode_fails("{\"retry_jitter\":1}", "retry_jitter");
    decode_fails("{\"retry_jitter\":\"yes\"}", "retry_jitter");
}

/* ---- retries ---- */

static void
test_retryable(void **state)
{
    (void)state;
    assert_true(policy_retryable(ERROR_TIME_LIMIT));
    assert_true(policy_retryable(ERROR_INTERNAL));
    /* Bad input never is; a lost worker is handled by redelivery. */
    assert_false(policy_retryable(ERROR_INVALID_MESSAGE));
    assert_false(policy_retryable(ERROR_INVALID_ARGUMENT));
    assert_false(policy_retryable(ERROR_UNKNOWN_TASK));
    assert_false(policy_retryable(ERROR_UNKNOWN_ALGORITHM));
    assert_false(policy_retryable(ERROR_PAYLOAD_TOO_LARGE));
    assert_false(policy_retryable(ERROR_WORKER_LOST));
}

/* The failures of a source: transient ones are retryable, HTTPError only
 * for a server error or 429; path failures and refusals never. */
static void
test_retryable_sources(void **state)
{
    (void)state;
    static const char *const transient[] = {"Timeout", "DNSError",
                                            "ConnectError", "BadResponse"};
    static const char *const final[] = {
        "TooManyRedirects", "BodyTooLarge", "AddressRefused", "TLSError",
        "BadURL", "SchemeRefused", ERROR_NO_FILES_ROOT,
        ERROR_PATH_OUTSIDE_ROOT, ERROR_FILE_NOT_FOUND, ERROR_NOT_A_FILE,
        ERROR_PERMISSION_DENIED, ERROR_FILE_CHANGED};
    for (size_t i = 0; i < 4; i++) {
        assert_true(policy_retryable(transient[i]));
        assert_true(policy_retryable_status(transient[i], 0));
    }
    for (size_t i = 0; i < sizeof(final) / sizeof(final[0]); i++) {
        assert_false(policy_retryable(final[i]));
        assert_false(policy_retryable_status(final[i], 503));
    }
    assert_true(policy_retryable_status("HTTPError", 500));
    assert_true(policy_retryable_status("HTTPError", 503));
    assert_true(policy_retryable_status("HTTPError", 599));
    assert_true(policy_retryable_status("HTTPError", 429));
    assert_false(policy_retryable_status("HTTPError", 404));
    assert_false(policy_retryable_status("HTTPError", 400));
    assert_false(policy_retryable_status("HTTPError", 600));
    assert_false(policy_retryable_status("HTTPError", 0));
    assert_false(policy_retryable("HTTPError"));
    assert_true(policy_retryable_status(ERROR_TIME_LIMIT, 404));
}

static void
test_backoff(void **state)
{
    (void)state;
    struct policy p;
    decode_ok("{\"retry_backoff\":1,\"retry_backoff_max\":600,"
              "\"retry_jitter\":false}",
              &p);
    /* Retry n waits backoff * 2^(n-1); p.retries = n - 1. */
    static const int64_t want[] = {1000,   2000,   4000,   8000,
                                   16000,  32000,  64000,  128000,
                                   256000, 512000, 600000, 600000};
    for (unsigned n = 0; n < sizeof(want) / sizeof(want[0]); n++) {
        p.retries = n;
        assert_int_equal(policy_backoff_ms(&p, 0.0), want[n]);
        assert_int_equal(policy_backoff_ms(&p, 0.99), want[n]);
    }
    /* A huge retry count neither overflows nor passes the cap. */
    p.retries = 1000000;
    assert_int_equal(policy_backoff_ms(&p, 0.5), 600000);
    /* Zero or tiny backoff: never sooner than the floor, so a task that
     * fails at once cannot be retried in a tight loop. */
    p.backoff = 0;
    p.retries = 3;
    assert_int_equal(policy_backoff_ms(&p, 0.5), POLICY_MIN_BACKOFF_MS);
    p.backoff = 0.001;
    p.retries = 0;
    assert_int_equal(policy_backoff_ms(&p, 0.0), POLICY_MIN_BACKOFF_MS);
    p.jitter = 1;
    p.backoff = 0.15; /* drawn from [75 ms, 150 ms]: 75 is floored */
    assert_int_equal(policy_backoff_ms(&p, 0.0), POLICY_MIN_BACKOFF_MS);
    assert_int_equal(policy_backoff_ms(&p, 0.99), 149);
}

static void
test_backoff_jitter(void **state)
{
    (void)state;
    struct policy p;
    decode_ok("{\"retry_backoff\":2,\"retries\":1}", &p);
    assert_int_equal(p.jitter, 1);
    /* delay 4 s, drawn from [2 s, 4 s] */
    assert_int_equal(policy_backoff_ms(&p, 0.0), 2000);
    assert_int_equal(policy_backoff_ms(&p, 0.5), 3000);
    int64_t hi = policy_backoff_ms(&p, 0.999999);
    assert_true(hi <= 4000 && hi >= 3990);
}

static void
test_reschedule(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *msg = json_loads("{\"v\":1,\"task\":\"hash\",\"args\":{\"data\":"
                             "\"x\"},\"max_retries\":3,\"reply_to\":\"r\","
                             "\"future\":[1]}",
                             0, &jerr);
    assert_non_null(msg);
    char *s = policy_reschedule(msg, "1795314828123-0", "default",
                                ERROR_TIME_LIMIT, "too slow", 1795314828123456);
    assert_non_null(s);
    json_t *m = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(m);
    /* The id is fixed, so the retry answers under the same task id. */
    assert_string_equal(json_string_value(json_object_get(m, "id")),
                        "1795314828123-0");
    assert_string_equal(json_string_value(json_object_get(m, "queue")),
                        "default");
    assert_int_equal(json_integer_value(json_object_get(m, "retries")), 1);
    json_t *errors = json_object_get(m, "errors");
    assert_int_equal(json_array_size(errors), 1);
    json_t *e = json_array_get(errors, 0);
    assert_string_equal(json_string_value(json_object_get(e, "type")),
                        "TimeLimitExceeded");
    assert_string_equal(json_string_value(json_object_get(e, "message")),
                        "too slow");
    assert_string_equal(json_string_value(json_object_get(e, "at")),
                        "2026-11-22T02:33:48.123456Z");
    /* Everything else is carried over unchanged. */
    assert_true(
        json_equal(json_object_get(m, "args"), json_object_get(msg, "args")));
    assert_true(json_equal(json_object_get(m, "future"),
                           json_object_get(msg, "future")));
    assert_string_equal(json_string_value(json_object_get(m, "reply_to")), "r");
    /* The caller's message is not changed. */
    assert_null(json_object_get(msg, "retries"));
    free(s);

    /* A second retry counts on and appends. */
    s = policy_reschedule(m, "1795314828123-0", "default", ERROR_INTERNAL,
                          "bad \xff byte", 1795314829000000);
    assert_non_null(s);
    json_t *m2 = json_loads(s, 0, &jerr);
    assert_non_null(m2);
    assert_int_equal(json_integer_value(json_object_get(m2, "retries")), 2);
    errors = json_object_get(m2, "errors");
    assert_int_equal(json_array_size(errors), 2);
    e = json_array_get(errors, 1);
    assert_string_equal(json_string_value(json_object_get(e, "type")),
                        "InternalError");
    /* A message that is not UTF-8 does not lose the error entry. */
    assert_true(json_is_string(json_object_get(e, "message")));
    free(s);
    json_decref(m2);
    json_decref(m);
    json_decref(msg);
}

/* ---- time parsing ---- */

static void
test_parse_time(void **state)
{
    (void)state;
    assert_int_equal(policy_parse_time("1970-01-01T00:00:01Z"), 1000000);
    assert_int_equal(policy_parse_time("2026-11-22T02:33:48Z"),
                     1795314828000000);
    assert_int_equal(policy_parse_time("2026-11-22T02:33:48.5Z"),
                     1795314828500000);
    assert_int_equal(policy_parse_time("2026-11-22T02:33:48.123456Z"),
                     1795314828123456);
    /* Digits past microseconds are dropped, not rounded. */
    assert_int_equal(policy_parse_time("2026-11-22T02:33:48.1234569Z"),
                     1795314828123456);
    assert_int_equal(policy_parse_time("2026-11-22T02:33:48+00:00"),
                     1795314828000000);
    assert_int_equal(policy_parse_time("2000-02-29T00:00:00Z"),
                     951782400000000);

    assert_int_equal(policy_parse_time(""), -1);
    assert_int_equal(policy_parse_time("2026-11-22"), -1);
    assert_int_equal(policy_parse_time("2026-11-22T02:33:48"), -1);
    assert_int_equal(policy_parse_time("2026-11-22T02:33:48+01:00"), -1);
    assert_int_equal(policy_parse_time("2026-11-22T02:33:48Zjunk"), -1);
    assert_int_equal(policy_parse_time("2026-13-22T02:33:48Z"), -1);
    assert_int_equal(policy_parse_time("2026-11-22T25:33:48Z"), -1);
    assert_int_equal(policy_parse_time("yesterday"), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_expires_string),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_retryable),
        cmocka_unit_test(test_retryable_sources),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_backoff_jitter),
        cmocka_unit_test(test_reschedule),
        cmocka_unit_test(test_parse_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
