/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of protocol/build.c: the builder against every test vector of
 * protocol/vectors/messages.json (exact bytes), its refusals, the two-step
 * head + line form, and that every message it writes decodes as the task
 * message it was given.
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

#include "build.h"
#include "error.h"
#include "keys.h"
#include "message.h"
#include "scripts.h"

/* Run from the top of the tree (make unit does). */
#define VECTORS "protocol/vectors/messages.json"

static json_t *
load_vectors(void)
{
    json_error_t err;
    json_t *doc = json_load_file(VECTORS, JSON_REJECT_DUPLICATES, &err);
    if (doc == NULL)
        fail_msg("cannot read %s (run from the top of the tree): %s line %d",
                 VECTORS, err.text, err.line);
    return doc;
}

/* Decodes hex into a new buffer (free()). */
static unsigned char *
unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    unsigned char *out = malloc(n + 1);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
    *len = n;
    return out;
}

/* Fills s from a vector's "input"; *payload is owned by the caller. */
static void
spec_of(json_t *in, struct build_spec *s, unsigned char **payload)
{
    memset(s, 0, sizeof(*s));
    *payload = NULL;
    s->task = json_string_value(json_object_get(in, "task"));
    s->args = json_object_get(in, "args");
    s->payload_field = json_string_value(json_object_get(in, "payload_field"));
    const char *hex = json_string_value(json_object_get(in, "payload_hex"));
    if (hex != NULL) {
        *payload = unhex(hex, &s->payload_len);
        s->payload = *payload;
    }
    s->source_field = json_string_value(json_object_get(in, "source_field"));
    s->source = json_string_value(json_object_get(in, "source"));
    s->accept_status =
        json_string_value(json_object_get(in, "accept_status"));
    s->id = json_string_value(json_object_get(in, "id"));
    s->queue = json_string_value(json_object_get(in, "queue"));
    s->reply_to = json_string_value(json_object_get(in, "reply_to"));
    s->extra = json_object_get(in, "extra");
    json_t *line = json_object_get(in, "line");
    if (line != NULL) {
        s->line = json_string_value(line);
        s->line_len = json_string_length(line);
    }
}

/* Every vector: exact bytes, and the message decodes to its fields. */
static void
test_vectors(void **state)
{
    (void)state;
    json_t *doc = load_vectors();
    json_t *vs = json_object_get(doc, "vectors"), *v;
    size_t i;
    struct build b = BUILD_INIT;

    assert_true(json_array_size(vs) >= 10);
    json_array_foreach(vs, i, v)
    {
        struct build_spec s;
        unsigned char *payload;
        const char *want = json_string_value(json_object_get(v, "message"));
        const char *name = json_string_value(json_object_get(v, "name"));
        assert_non_null(want);
        spec_of(json_object_get(v, "input"), &s, &payload);
        int r = build_message(&b, &s);
        if (r != 0)
            fail_msg("vector '%s': %s", name, build_strerror(r));
        if (b.len != strlen(want) || memcmp(b.buf, want, b.len) != 0)
            fail_msg("vector '%s':\n  built %.*s\n  want  %s", name, (int)b.len,
                     b.buf, want);
        assert_int_equal(b.buf[b.len], '\0');

        /* What the worker reads back. */
        struct message m = MESSAGE_INIT;
        struct proto_error err;
        memset(&err, 0, sizeof(err));
        if (message_decode(b.buf, b.len, &m, &err) != 0 && s.task != NULL)
            fail_msg("vector '%s' does not decode: %s", name, err.message);
        if (s.task != NULL) {
            assert_string_equal(m.task, s.task);
            if (s.id != NULL)
                assert_string_equal(m.id, s.id);
            if (s.reply_to != NULL)
                assert_string_equal(m.reply_to, s.reply_to);
            if (s.payload_field != NULL)
                assert_non_null(json_object_get(m.args, s.payload_field));
            if (s.source_field != NULL)
                assert_string_equal(json_string_value(json_object_get(
                                        m.args, s.source_field)),
                                    s.source);
        }
        message_clear(&m);
        free(payload);
    }
    build_free(&b);
    json_decref(doc);
}

/* The refusals listed in the vectors, and the state left behind. */
static void
test_errors(void **state)
{
    (void)state;
    json_t *doc = load_vectors();
    json_t *es = json_object_get(doc, "errors"), *e;
    size_t i;
    struct build b = BUILD_INIT;

    assert_true(json_array_size(es) >= 3);
    json_array_foreach(es, i, e)
    {
        struct build_spec s;
        unsigned char *payload;
        const char *kind = json_string_value(json_object_get(e, "error"));
        spec_of(json_object_get(e, "input"), &s, &payload);
        int r = build_message(&b, &s);
        assert_int_equal(r, strcmp(kind, "args") == 0     ? -BUILD_E_ARGS
                            : strcmp(kind, "source") == 0 ? -BUILD_E_SOURCE
                                                          : -BUILD_E_LINE);
        assert_non_null(build_strerror(r));
        free(payload);
    }
    build_free(&b);
    json_decref(doc);
}

/* A string that is not UTF-8 is refused, not written. */
static void
test_not_utf8(void **state)
{
    (void)state;
    struct build b = BUILD_INIT;
    struct build_spec s = {.task = "hash", .id = "bad\xff"};
    assert_int_equal(build_message(&b, &s), -BUILD_E_UTF8);
    struct build_spec t = {.task = "h\xc3"};
    assert_int_equal(build_message(&b, &t), -BUILD_E_UTF8);
    build_free(&b);
}

/* One head, many lines: each message is head + that line, and a long line
 * after a short one (the buffer grows under the kept head). */
static void
test_head_then_lines(void **state)
{
    (void)state;
    struct build b = BUILD_INIT;
    struct build_spec s = {.reply_to = "celeriac:reply:t"};
    const char *head = "{\"v\":1,\"reply_to\":\"celeriac:reply:t\"";
    assert_int_equal(build_head(&b, &s), 0);
    assert_int_equal(b.head_len, strlen(head));
    for (int k = 0; k < 3; k++) {
        size_t n = k == 1 ? 100000 : 10;
        char *line = malloc(n + 64);
        assert_non_null(line);
        int w =
            snprintf(line, 64, "{\"task\":\"t%d\",\"args\":{\"data\":\"", k);
        memset(line + w, 'a', n);
        memcpy(line + w + n, "\"}}", 4);
        size_t len = (size_t)w + n + 3;
        assert_int_equal(build_finish(&b, line, len), 0);
        assert_int_equal(b.len, strlen(head) + len);
        assert_memory_equal(b.buf, head, strlen(head));
        assert_int_equal(b.buf[strlen(head)], ',');
        assert_memory_equal(b.buf + strlen(head) + 1, line + 1, len - 1);
        free(line);
    }
    /* A line with no members adds none. */
    assert_int_equal(build_finish(&b, " { } ", 5), 0);
    assert_string_equal(b.buf, "{\"v\":1,\"reply_to\":\"celeriac:reply:t\"}");
    size_t len;
    char *taken = build_take(&b, &len);
    assert_int_equal(len, strlen(taken));
    assert_null(b.buf);
    free(taken);
}

/* A large payload is base64-encoded into one buffer of about its size. */
static void
test_large_payload(void **state)
{
    (void)state;
    size_t n = 3u << 20;
    unsigned char *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 7);
    struct build b = BUILD_INIT;
    struct build_spec s = {.task = "hash",
                           .payload_field = "data_b64",
                           .payload = data,
                           .payload_len = n,
                           .id = "big",
                           .reply_to = "celeriac:reply:t"};
    assert_int_equal(build_message(&b, &s), 0);
    assert_true(b.cap < b.len + 8192); /* no doubling past the message */
    struct message m = MESSAGE_INIT;
    struct proto_error err;
    assert_int_equal(message_decode(b.buf, b.len, &m, &err), 0);
    assert_int_equal(json_string_length(json_object_get(m.args, "data_b64")),
                     n / 3 * 4);
    assert_string_equal(m.id, "big");
    message_clear(&m);
    build_free(&b);
    free(data);
}

/* The scripts spell their field names out (PROTOCOL.md quotes the finish
 * script verbatim; system tests evaluate the move script from the source):
 * they must be keys.h's and build.h's, which the CLI uses. */
static void
test_script_names(void **state)
{
    (void)state;
    assert_non_null(strstr(scripts_finish, "'*', '" KEYS_RESULT_FIELD "',\n"));
    assert_non_null(strstr(scripts_finish,
                           "'*', '" KEYS_DEAD_MSG
                           "', ARGV[j+5], '" KEYS_DEAD_REASON "',\n"));
    assert_non_null(strstr(scripts_finish,
                           "ARGV[j+6], '" KEYS_DEAD_QUEUE
                           "', stream, '" KEYS_DEAD_ENTRY "', eid)"));
    assert_string_equal(KEYS_DEAD_MSG, KEYS_MSG_FIELD);
    /* The move script: a due task's queue, and the entry it adds. */
    assert_non_null(strstr(scripts_move,
                           "local q = '" KEYS_DEFAULT_QUEUE "'\n"));
    assert_non_null(strstr(scripts_move,
                           "type(t['" BUILD_F_QUEUE "']) == 'string'"));
    assert_non_null(strstr(scripts_move,
                           "'XADD', key, '*', '" KEYS_MSG_FIELD "', m)"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_not_utf8),
        cmocka_unit_test(test_head_then_lines),
        cmocka_unit_test(test_large_payload),
        cmocka_unit_test(test_script_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
