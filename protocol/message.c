/* SPDX-License-Identifier: MIT */
/* Task message decoding and encoding. */
#include "message.h"

#include <string.h>

#include "version.h"

static int message_string(json_t *root, const char *field, const char **out,
                          struct proto_error *err);

/* Reads optional string field into *out; -1 if it is there but bad. */
static int
message_string(json_t *root, const char *field, const char **out,
               struct proto_error *err)
{
    json_t *v = json_object_get(root, field);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "field '%s' must be a string, not %s", field,
                               json_is_object(v)   ? "an object"
                               : json_is_array(v)  ? "an array"
                               : json_is_number(v) ? "a number"
                                                   : "a boolean");
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0 || n > PROTOCOL_MAX_NAME || memchr(s, '\0', n) != NULL)
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "field '%s' must be 1 to %d bytes with no NUL",
                               field, PROTOCOL_MAX_NAME);
    *out = s;
    return 0;
}

int
message_decode(const char *buf, size_t len, struct message *m,
               struct proto_error *err)
{
    json_error_t jerr;
    memset(m, 0, sizeof(*m));
    m->version = PROTOCOL_VERSION;

    if (len > PROTOCOL_MAX_MESSAGE)
        return proto_error_set(err, ERROR_PAYLOAD_TOO_LARGE,
                               "message is %zu bytes; the limit is %u", len,
                               PROTOCOL_MAX_MESSAGE);
    m->root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (m->root == NULL)
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "message is not valid JSON: %s at line %d "
                               "column %d",
                               jerr.text, jerr.line, jerr.column);
    if (!json_is_object(m->root))
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "message must be a JSON object");
    /* id and reply_to first: a failure below can still be answered. */
    if (message_string(m->root, "id", &m->id, err) < 0 ||
        message_string(m->root, "reply_to", &m->reply_to, err) < 0 ||
        message_string(m->root, "task", &m->task, err) < 0)
        return -1;
    if (m->task == NULL)
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "message has no 'task' field naming the task "
                               "to run");
    json_t *v = json_object_get(m->root, "v");
    if (v != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return proto_error_set(err, ERROR_INVALID_MESSAGE,
                                   "field 'v' must be a positive integer");
        if (json_integer_value(v) > PROTOCOL_VERSION)
            return proto_error_set(err, ERROR_INVALID_MESSAGE,
                                   "message is protocol version %lld; this "
                                   "worker speaks version %d",
                                   (long long)json_integer_value(v),
                                   PROTOCOL_VERSION);
        m->version = (int)json_integer_value(v);
    }
    m->args = json_object_get(m->root, "args");
    if (m->args == NULL || json_is_null(m->args)) {
        m->args = json_object();
        json_object_set_new(m->root, "args", m->args);
    } else if (!json_is_object(m->args)) {
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "field 'args' must be a JSON object of named "
                               "arguments");
    }
    return 0;
}

void
message_clear(struct message *m)
{
    json_decref(m->root);
    memset(m, 0, sizeof(*m));
}

char *
message_encode(const char *task, const json_t *args, const char *id,
               const char *reply_to)
{
    if (args != NULL && !json_is_object(args))
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "v", json_integer(PROTOCOL_VERSION));
    json_object_set_new(o, "task", json_string(task));
    json_object_set_new(o, "args",
                        args ? json_deep_copy(args) : json_object());
    if (id != NULL)
        json_object_set_new(o, "id", json_string(id));
    if (reply_to != NULL)
        json_object_set_new(o, "reply_to", json_string(reply_to));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}
