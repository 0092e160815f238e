/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of worker/exec.c, one task message in, one result document
 * out, as a child computes it: success, every kind of failure with the id
 * it is addressed to, expiry, time limits reported before the task runs,
 * retryable failures turned into RETRY with the message to schedule, and
 * the parent's answers for tasks it could not run.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "exec.h"
#include "result.h"

/* What the started() callback saw. */
static unsigned started_calls;
static unsigned started_ms;

static void
on_started(void *arg, unsigned time_limit_ms)
{
    (void)arg;
    started_calls++;
    started_ms = time_limit_ms;
}

static const struct exec_env env = {
    .worker = "host:42",
    .default_time_limit_ms = 0,
    .report_rss = 0,
    .started = on_started,
    .arg = NULL,
};

/* The output of the current test, cleared by the teardown. */
static struct exec_out out;
static json_t *doc;

static int
reset(void **state)
{
    (void)state;
    started_calls = 0;
    started_ms = 0;
    return 0;
}

static int
release(void **state)
{
    (void)state;
    exec_out_clear(&out);
    json_decref(doc);
    doc = NULL;
    return 0;
}

/* Runs msg as entry 1795316242007-0 of "default"; parses the document. */
static void
run_env(const struct exec_env *e, const char *msg, unsigned attempts)
{
    exec_run(e, "1795316242007-0", "default", msg, strlen(msg), attempts, &out);
    assert_non_null(out.doc);
    assert_int_equal(strlen(out.doc), out.doc_len);
    json_error_t jerr;
    doc = json_loadb(out.doc, out.doc_len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        print_error("not JSON: %s\n", out.doc);
    assert_non_null(doc);
}

static void
run(const char *msg)
{
    run_env(&env, msg, 1);
}

static const char *
field(const char *key)
{
    json_t *v = json_object_get(doc, key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

/* Checks a FAILURE (or other non-success) with this type and word. */
static void
expect_error(const char *status, const char *type, const char *word)
{
    assert_string_equal(field("status"), status);
    assert_true(json_is_null(json_object_get(doc, "result")));
    json_t *e = json_object_get(doc, "error");
    assert_true(json_is_object(e));
    assert_string_equal(json_string_value(json_object_get(e, "type")), type);
    const char *m = json_string_value(json_object_get(e, "message"));
    assert_non_null(m);
    if (word != NULL && strstr(m, word) == NULL)
        print_error("\"%s\" does not mention \"%s\"\n", m, word);
    if (word != NULL)
        assert_non_null(strstr(m, word));
}

/* ---- success ---- */

static void
test_success(void **state)
{
    (void)state;
    run("{\"v\":1,\"task\":\"hash\",\"args\":{\"data\":\"abc\"}}");
    assert_int_equal(out.status, EXEC_SUCCESS);
    /* No id in the message: the task id is "<queue>/<entry id>". */
    assert_string_equal(out.id, "default/1795316242007-0");
    assert_null(out.reply_to);
    assert_null(out.sched);
    assert_string_equal(field("id"), "default/1795316242007-0");
    assert_string_equal(field("task"), "hash");
    assert_string_equal(field("status"), "SUCCESS");
    assert_string_equal(field("worker"), "host:42");
    json_t *res = json_object_get(doc, "result");
    assert_string_equal(json_string_value(json_object_get(res, "algorithm")),
                        "sha512");
    assert_string_equal(
        json_string_value(json_object_get(res, "digest")),
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a21"
        "92992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
    assert_int_equal(json_integer_value(json_object_get(res, "bytes")), 3);
    assert_true(json_is_null(json_object_get(doc, "error")));
    assert_int_equal(json_integer_value(json_object_get(doc, "attempts")), 1);
    assert_int_equal(json_integer_value(json_object_get(doc, "retries")), 0);
    assert_int_equal(started_calls, 0); /* no time limit */
}

static void
test_id_reply_to_attempts(void **state)
{
    (void)state;
    run_env(&env,
            "{\"task\":\"hash\",\"id\":\"job-1\",\"reply_to\":\"celeriac:reply:1\","
            "\"args\":{\"data_b64\":\"AP8=\",\"algorithm\":\"MD5\"}}",
            3);
    assert_string_equal(out.id, "job-1");
    assert_string_equal(out.reply_to, "celeriac:reply:1");
    assert_string_equal(field("id"), "job-1");
    assert_int_equal(json_integer_value(json_object_get(doc, "attempts")), 3);
    json_t *res = json_object_get(doc, "result");
    /* The algorithm is echoed as given. */
    assert_string_equal(json_string_value(json_object_get(res, "algorithm")),
                        "MD5");
    assert_int_equal(json_integer_value(json_object_get(res, "bytes")), 2);
}

/* ---- failures ---- */

static void
test_bad_messages(void **state)
{
    (void)state;
    run("not json");
    assert_int_equal(out.status, EXEC_FAILURE);
    expect_error("FAILURE", "InvalidMessage", "JSON");
    assert_string_equal(out.id, "default/1795316242007-0");
    assert_true(json_is_null(json_object_get(doc, "task")));
    release(NULL);

    run("{\"task\":\"resize\",\"id\":\"r1\"}");
    expect_error("FAILURE", "UnknownTask", "resize");
    assert_string_equal(out.id, "r1");
    assert_string_equal(field("task"), "resize");
    release(NULL);

    run("{\"task\":\"hash\",\"id\":\"a1\",\"reply_to\":\"celeriac:reply:back\","
        "\"args\":{\"data\":\"x\",\"algorithm\":\"sha999\"}}");
    expect_error("FAILURE", "UnknownAlgorithm", "sha999");
    assert_string_equal(out.reply_to, "celeriac:reply:back");
    release(NULL);

    /* A reply_to outside "<prefix>reply:" is refused and not used. */
    run("{\"task\":\"hash\",\"id\":\"a2\",\"reply_to\":\"app:key\","
        "\"args\":{\"data\":\"x\"}}");
    expect_error("FAILURE", "InvalidMessage", "reply_to");
    assert_null(out.reply_to);
    assert_non_null(strstr(out.doc, "celeriac:reply:"));
    release(NULL);

    run("{\"task\":\"hash\",\"args\":{\"data_b64\":\"a b\"}}");
    expect_error("FAILURE", "InvalidArgument", "data_b64");
    release(NULL);

    run("{\"task\":\"hash\",\"args\":{}}");
    expect_error("FAILURE", "InvalidArgument", "data");
    release(NULL);

    run("{\"task\":\"hash\",\"time_limit\":\"soon\",\"args\":{\"data\":1}}");
    expect_error("FAILURE", "InvalidMessage", "time_limit");
}

static void
test_bad_input_not_retried(void **state)
{
    (void)state;
    run("{\"task\":\"hash\",\"max_retries\":5,"
        "\"args\":{\"data\":\"x\",\"algorithm\":\"nope\"}}");
    assert_int_equal(out.status, EXEC_FAILURE);
    assert_null(out.sched);
}

static void
test_expired(void **state)
{
    (void)state;
    run("{\"task\":\"hash\",\"id\":\"e\",\"expires\":\"2020-01-01T00:00:00Z\","
        "\"time_limit\":5,\"args\":{\"data\":\"x\"}}");
    assert_int_equal(out.status, EXEC_EXPIRED);
    expect_error("EXPIRED", "Expired", "2020-01-01T00:00:00");
    assert_int_equal(started_calls, 0); /* it did not run */
    release(NULL);

    run("{\"task\":\"hash\",\"expires\":4102444800,\"args\":{\"data\":\"x\"}}");
    assert_int_equal(out.status, EXEC_SUCCESS);
}

static void
test_time_limit_reported(void **state)
{
    (void)state;
    run("{\"task\":\"hash\",\"time_limit\":0.0001,\"args\":{\"data\":\"x\"}}");
    assert_int_equal(out.status, EXEC_SUCCESS);
    assert_int_equal(started_calls, 1);
    assert_int_equal(started_ms, 1); /* rounded up, never 0 = none */
    release(NULL);
    started_calls = 0;

    /* The worker's default applies when the message has none. */
    struct exec_env dflt = env;
    dflt.default_time_limit_ms = 2500;
    run_env(&dflt, "{\"task\":\"hash\",\"args\":{\"data\":\"x\"}}", 1);
    assert_int_equal(started_calls, 1);
    assert_int_equal(started_ms, 2500);
    release(NULL);
    started_calls = 0;

    /* The message's own limit wins. */
    run_env(&dflt,
            "{\"task\":\"hash\",\"time_limit\":1.5,\"args\":{\"data\":\"x\"}}",
            1);
    assert_int_equal(started_ms, 1500);
}

/* ---- the parent's answers ---- */

static void
test_failure_for_lost_task(void **state)
{
    (void)state;
    const char *msg = "{\"task\":\"hash\",\"id\":\"w1\","
                      "\"reply_to\":\"celeriac:reply:rr\","
                      "\"args\":{\"data\":\"x\"}}";
    int64_t t0 = result_now_us() - 1000;
    exec_failure(&env, "5-0", "default", msg, strlen(msg), 5, ERROR_WORKER_LOST,
                 "the child was killed by signal 9", t0, 0, &out);
    assert_int_equal(out.status, EXEC_FAILURE);
    assert_string_equal(out.id, "w1");
    assert_string_equal(out.reply_to, "celeriac:reply:rr");
    json_error_t jerr;
    doc = json_loadb(out.doc, out.doc_len, 0, &jerr);
    assert_non_null(doc);
    expect_error("FAILURE", "WorkerLost", "signal 9");
    assert_int_equal(json_integer_value(json_object_get(doc, "attempts")), 5);
    assert_true(json_integer_value(json_object_get(doc, "runtime_us")) >= 1000);
}

static void
test_failure_without_message(void **state)
{
    (void)state;
    /* An entry with no msg field: keyed by the entry id, task null. */
    exec_failure(&env, "6-0", "default", NULL, 0, 1, ERROR_INVALID_MESSAGE,
                 "the stream entry has no 'msg' field", result_now_us(), 1,
                 &out);
    assert_int_equal(out.status, EXEC_FAILURE);
    assert_string_equal(out.id, "default/6-0");
    assert_null(out.reply_to);
    json_error_t jerr;
    doc = json_loadb(out.doc, out.doc_len, 0, &jerr);
    assert_non_null(doc);
    expect_error("FAILURE", "InvalidMessage", "msg");
    assert_true(json_is_null(json_object_get(doc, "task")));
}

static void
test_retry(void **state)
{
    (void)state;
    /* A retryable failure with retries left becomes RETRY + schedule. */
    const char *msg = "{\"task\":\"hash\",\"max_retries\":2,"
                      "\"retry_backoff\":10,\"retry_jitter\":false,"
                      "\"reply_to\":\"celeriac:reply:rr\",\"args\":{\"data\":\"x\"}}";
    int64_t now_ms = result_now_us() / 1000;
    exec_failure(&env, "7-0", "default", msg, strlen(msg), 1, ERROR_TIME_LIMIT,
                 "too slow", result_now_us(), 1, &out);
    assert_int_equal(out.status, EXEC_RETRY);
    assert_string_equal(out.id, "default/7-0");
    json_error_t jerr;
    doc = json_loadb(out.doc, out.doc_len, 0, &jerr);
    assert_non_null(doc);
    expect_error("RETRY", "TimeLimitExceeded", "too slow");
    /* Due after the first backoff, 10 s. */
    assert_true(out.due_ms >= now_ms + 10000);
    assert_true(out.due_ms <= now_ms + 11000);
    assert_non_null(out.sched);
    json_t *s = json_loads(out.sched, 0, &jerr);
    assert_non_null(s);
    assert_string_equal(json_string_value(json_object_get(s, "id")), "default/7-0");
    assert_string_equal(json_string_value(json_object_get(s, "queue")),
                        "default");
    assert_int_equal(json_integer_value(json_object_get(s, "retries")), 1);
    assert_int_equal(json_array_size(json_object_get(s, "errors")), 1);
    json_decref(s);
    release(NULL);

    /* Not when retries are used up, nor when the caller says no. */
    const char *last = "{\"task\":\"hash\",\"max_retries\":2,\"retries\":2,"
                       "\"args\":{\"data\":\"x\"}}";
    exec_failure(&env, "8-0", "default", last, strlen(last), 1,
                 ERROR_TIME_LIMIT, "too slow", result_now_us(), 1, &out);
    assert_int_equal(out.status, EXEC_FAILURE);
    assert_null(out.sched);
    doc = json_loadb(out.doc, out.doc_len, 0, &jerr);
    assert_int_equal(json_integer_value(json_object_get(doc, "retries")), 2);
    release(NULL);

    exec_failure(&env, "9-0", "default", msg, strlen(msg), 1, ERROR_TIME_LIMIT,
                 "too slow", result_now_us(), 0, &out);
    assert_int_equal(out.status, EXEC_FAILURE);
    assert_null(out.sched);
    release(NULL);

    /* WorkerLost is never retried by the retry policy. */
    exec_failure(&env, "10-0", "default", msg, strlen(msg), 1,
                 ERROR_WORKER_LOST, "killed", result_now_us(), 1, &out);
    assert_int_equal(out.status, EXEC_FAILURE);
}

/*
 * The worker owns "errors": a producer's own entries (numbers, objects,
 * long strings) never reach the result or the retry; the worker's history
 * is kept, at most RESULT_MAX_ERRORS entries.  The rest of the message is
 * scheduled byte for byte, numbers spelled as given.
 */
static void
test_bookkeeping_is_the_workers(void **state)
{
    (void)state;
    char *big = malloc(200000);
    strcpy(big, "{\"task\":\"hash\",\"max_retries\":50,\"retries\":3,"
                "\"retry_jitter\":false,\"n\":[1e9,0.1, 1E-7],"
                "\"\\u0069d\":\"t1\",\"queue\":\"old\","
                "\"args\":{\"data\":\"x\"},\"errors\":[1e9,{\"a\":1},");
    for (int i = 0; i < 12; i++)
        sprintf(big + strlen(big),
                "{\"type\":\"TimeLimitExceeded\",\"at\":"
                "\"2026-11-22T02:57:%02d.000000Z\",\"message\":\"m%d\"},",
                i, i);
    strcat(big, "{\"type\":\"Bad\",\"at\":\"yesterday\",\"message\":\"x\"},"
                "{\"type\":\"TimeLimitExceeded\",\"at\":"
                "\"2026-11-22T02:57:00.000000Z\",\"message\":\"");
    size_t n = strlen(big);
    memset(big + n, 'z', 100000);
    strcpy(big + n + 100000, "\"}]}");

    exec_failure(&env, "11-0", "q1", big, strlen(big), 1, ERROR_TIME_LIMIT,
                 "too slow", result_now_us(), 1, &out);
    assert_int_equal(out.status, EXEC_RETRY);
    assert_string_equal(out.id, "t1");
    assert_true(out.doc_len < 2000);
    json_error_t jerr;
    doc = json_loadb(out.doc, out.doc_len, 0, &jerr);
    assert_non_null(doc);
    json_t *errors = json_object_get(doc, "errors");
    assert_int_equal(json_array_size(errors), RESULT_MAX_ERRORS);
    /* the last 10 well-formed entries: m2 .. m11 */
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(errors, 0), "message")),
                        "m2");
    assert_int_equal(json_integer_value(json_object_get(doc, "retries")), 3);

    /* The retry: bookkeeping rewritten, everything else as given. */
    assert_non_null(out.sched);
    assert_non_null(strstr(out.sched, "\"n\":[1e9,0.1, 1E-7]"));
    assert_null(strstr(out.sched, "\"old\""));
    assert_true(strlen(out.sched) < 4000);
    json_t *s = json_loads(out.sched, JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(s);
    assert_string_equal(json_string_value(json_object_get(s, "id")), "t1");
    assert_string_equal(json_string_value(json_object_get(s, "queue")), "q1");
    assert_int_equal(json_integer_value(json_object_get(s, "retries")), 4);
    errors = json_object_get(s, "errors");
    assert_int_equal(json_array_size(errors), RESULT_MAX_ERRORS);
    json_t *last = json_array_get(errors, RESULT_MAX_ERRORS - 1);
    assert_string_equal(json_string_value(json_object_get(last, "message")),
                        "too slow");
    assert_true(result_history_entry(last));
    json_decref(s);
    free(big);
}

/* An outcome over the limit is a small FAILURE, never a bigger frame. */
static void
test_result_too_large(void **state)
{
    (void)state;
    struct exec_env small = env;
    small.max_out = 600;
    const char *msg = "{\"task\":\"hash\",\"id\":\"big1\",\"max_retries\":1,"
                      "\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                      "\",\"args\":{\"data\":\"x\"}}";
    /* a retry: RETRY document + the message to schedule, over 600 */
    exec_failure(&small, "12-0", "default", msg, strlen(msg), 1,
                 ERROR_INTERNAL, "OpenSSL failed", result_now_us(), 1, &out);
    assert_int_equal(out.status, EXEC_FAILURE);
    assert_null(out.sched);
    assert_string_equal(out.id, "big1");
    json_error_t jerr;
    doc = json_loadb(out.doc, out.doc_len, 0, &jerr);
    assert_non_null(doc);
    expect_error("FAILURE", ERROR_RESULT_TOO_LARGE, "limit");
    release(NULL);
    /* the same run with room for it */
    exec_failure(&env, "12-0", "default", msg, strlen(msg), 1, ERROR_INTERNAL,
                 "OpenSSL failed", result_now_us(), 1, &out);
    assert_int_equal(out.status, EXEC_RETRY);
}

/* ---- sources ---- */

static void
test_sources(void **state)
{
    (void)state;
    static const struct {
        const char *args, *type, *word;
    } bad[] = {
        {"{\"data\":\"x\",\"url\":\"http://a/\"}", "InvalidArgument",
         "not both 'data' and 'url'"},
        {"{\"path\":\"a\",\"data_b64\":\"eA==\"}", "InvalidArgument",
         "'data_b64' and 'path'"},
        {"{\"algorithm\":\"sha256\"}", "InvalidArgument", "'url' or 'path'"},
        {"{\"url\":7}", "InvalidArgument", "'url' must be"},
        {"{\"path\":\"\"}", "InvalidArgument", "'path' must be"},
        {"{\"data\":\"x\",\"accept_status\":\"any\"}", "InvalidArgument",
         "'url' source only"},
        {"{\"url\":\"http://a/\",\"accept_status\":\"2xx\"}",
         "InvalidArgument", "accept_status"},
        /* Sources the parent opens, reaching a child as they are. */
        {"{\"url\":\"http://a/\"}", "InvalidMessage", "64 KiB"},
        {"{\"path\":\"a/b\"}", "InvalidMessage", "'path' source"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char msg[256];
        snprintf(msg, sizeof(msg), "{\"task\":\"hash\",\"args\":%s}",
                 bad[i].args);
        run(msg);
        expect_error("FAILURE", bad[i].type, bad[i].word);
        release(NULL);
    }
    /* An unknown task lists the registered ones. */
    run("{\"task\":\"nope\",\"args\":{}}");
    expect_error("FAILURE", "UnknownTask", "this worker runs: hash");
}

/* A stream: bytes in pieces, facts in the result; a path's own facts. */
static void
test_stream_api(void **state)
{
    (void)state;
    struct exec_stream *s;
    const char *m = "{\"task\":\"hash\",\"id\":\"s\",\"args\":{\"url\":"
                    "\"http://h/\"}}";
    assert_int_equal(exec_stream_open(&env, "1-0", "default", m, strlen(m),
                                      1, EXEC_FEED_STREAM, &s, &out),
                     0);
    assert_int_equal(started_calls, 0); /* the parent times fetches */
    assert_int_equal(exec_stream_update(s, (const unsigned char *)"a", 1,
                                        &out),
                     0);
    assert_int_equal(exec_stream_update(s, (const unsigned char *)"bc", 2,
                                        &out),
                     0);
    assert_int_equal(exec_stream_bytes(s), 3);
    const char *facts = "{\"url\":\"http://h/\",\"status\":200}";
    exec_stream_end(s, NULL, NULL, facts, strlen(facts), &out);
    doc = json_loadb(out.doc, out.doc_len, 0, NULL);
    assert_string_equal(field("status"), "SUCCESS");
    json_t *res = json_object_get(doc, "result");
    assert_string_equal(json_string_value(json_object_get(res, "digest")),
                        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a"
                        "9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d"
                        "4423643ce80e2a9ac94fa54ca49f");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(doc, "source"), "status")),
                     200);
    release(NULL);
    /* A file task: the time limit is announced; facts {"path","bytes"}. */
    m = "{\"task\":\"hash\",\"time_limit\":2,\"args\":{\"path\":\"d/f\"}}";
    assert_int_equal(exec_stream_open(&env, "2-0", "default", m, strlen(m),
                                      1, EXEC_FEED_FILE, &s, &out),
                     0);
    assert_int_equal(started_calls, 1);
    assert_int_equal(exec_stream_update(s, (const unsigned char *)"xy", 2,
                                        &out),
                     0);
    exec_stream_end(s, "FileChanged", "it shrank", NULL, 0, &out);
    doc = json_loadb(out.doc, out.doc_len, 0, NULL);
    expect_error("FAILURE", "FileChanged", "shrank");
    json_t *src = json_object_get(doc, "source");
    assert_string_equal(json_string_value(json_object_get(src, "path")),
                        "d/f");
    assert_int_equal(json_integer_value(json_object_get(src, "bytes")), 2);
    release(NULL);
    /* The wrong source for the feed; an abort frees everything. */
    assert_int_equal(exec_stream_open(&env, "3-0", "default", m, strlen(m),
                                      1, EXEC_FEED_STREAM, &s, &out),
                     0);
    exec_stream_abort(s);
    m = "{\"task\":\"hash\",\"args\":{\"data\":\"x\"}}";
    assert_int_equal(exec_stream_open(&env, "4-0", "default", m, strlen(m),
                                      1, EXEC_FEED_FILE, &s, &out),
                     1);
    assert_null(s);
    doc = json_loadb(out.doc, out.doc_len, 0, NULL);
    expect_error("FAILURE", "InvalidMessage", "worker bug");
}

#define T(f) cmocka_unit_test_setup_teardown(f, reset, release)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_success),
        T(test_id_reply_to_attempts),
        T(test_bad_messages),
        T(test_bad_input_not_retried),
        T(test_expired),
        T(test_time_limit_reported),
        T(test_failure_for_lost_task),
        T(test_failure_without_message),
        T(test_retry),
        T(test_bookkeeping_is_the_workers),
        T(test_result_too_large),
        T(test_sources),
        T(test_stream_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
