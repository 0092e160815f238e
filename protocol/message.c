/* SPDX-License-Identifier: MIT */
/* Task message decoding and encoding. */
#include "message.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "version.h"

static int message_string(json_t *root, const char *field, const char **out,
                          struct proto_error *err);
static json_t *message_splice(const char *buf, size_t len);
static int message_put_back(json_t *v, const char *marker, const char *s,
                            size_t n);
static const char *message_skip_ws(const char *p, const char *end);
static const char *message_skip_string(const char *p, const char *end);
static const char *message_skip_value(const char *p, const char *end);
static int message_key_in(const char *tok, size_t n,
                          const char *const *drop);

/* Messages at least this long try message_splice() first. */
#define MESSAGE_SPLICE_MIN 4096

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

/*
 * 1 if s[0..n) is printable ASCII with no backslash: a JSON string whose
 * decoding is its own bytes.  Fixed blocks of 64 with no branch inside, so
 * that the compiler vectorises them at -O2 (about 12 times faster than a
 * plain loop here: 19 us for 256 KiB, a tenth of hashing them).
 */
static int
message_plain(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char bad = 0;
    size_t k = 0;

    for (; k + 64 <= n && !bad; k += 64) {
        for (size_t j = 0; j < 64; j++) {
            unsigned char c = u[k + j];
            /* c < 0x20 wraps above 0x5e; so does c >= 0x7f */
            bad |= (unsigned char)(c - 0x20) > 0x5e;
            bad |= c == '\\';
        }
    }
    for (; k < n; k++) {
        unsigned char c = u[k];
        bad |= ((unsigned char)(c - 0x20) > 0x5e) | (c == '\\');
    }
    return bad == 0;
}

/*
 * The fast path for a large message, whose time goes almost all to
 * jansson's lexer walking one big string (the payload) byte by byte.  Finds
 * the longest string value (object keys are skipped); if it holds only
 * printable ASCII and no backslash, its JSON decoding is the bytes
 * themselves, so it is replaced by a marker, the rest is parsed by jansson,
 * and the bytes are put back where the marker is.  Returns the parsed tree (new reference), or
 * NULL to say "use the ordinary parse" — never a different answer than
 * json_loadb() would give.
 */
static json_t *
message_splice(const char *buf, size_t len)
{
    static const char marker[] = "\x01" "celeriac-splice" "\x02";
    const char *best = NULL;
    size_t best_len = 0;

    const char *p = buf, *end = buf + len;
    while ((p = memchr(p, '"', (size_t)(end - p))) != NULL) {
        const char *start = ++p, *q = p;
        /* The closing quote is the first one after an even number of
         * backslashes. */
        for (;;) {
            q = memchr(q, '"', (size_t)(end - q));
            if (q == NULL)
                return NULL; /* unterminated: let jansson report it */
            size_t bs = 0;
            while (q - bs > start && q[-1 - (ptrdiff_t)bs] == '\\')
                bs++;
            if (bs % 2 == 0)
                break;
            q++;
        }
        p = q + 1;
        /* A string followed by ':' is an object key (in any text jansson
         * accepts): never a candidate, or the marker would stand for a key
         * and put_back could fill a value that spells the marker. */
        const char *after = p;
        while (after < end && (*after == ' ' || *after == '\t' ||
                               *after == '\n' || *after == '\r'))
            after++;
        if (after < end && *after == ':')
            continue;
        if ((size_t)(q - start) > best_len) {
            best = start;
            best_len = (size_t)(q - start);
        }
    }
    if (best_len < MESSAGE_SPLICE_MIN)
        return NULL;
    if (!message_plain(best, best_len))
        return NULL;
    /* A message can spell the marker's value itself (its control bytes
     * escaped): then put_back finds it twice and the splice gives up. */
    static const char marker_json[] = "\\u0001celeriac-splice\\u0002";
    size_t head = (size_t)(best - buf), tail = len - head - best_len;
    size_t n = head + sizeof(marker_json) - 1 + tail;
    char *copy = malloc(n);
    if (copy == NULL)
        return NULL;
    memcpy(copy, buf, head);
    memcpy(copy + head, marker_json, sizeof(marker_json) - 1);
    memcpy(copy + head + sizeof(marker_json) - 1, best + best_len, tail);
    json_error_t jerr;
    json_t *root = json_loadb(copy, n, JSON_REJECT_DUPLICATES, &jerr);
    free(copy);
    if (root == NULL)
        return NULL;
    if (message_put_back(root, marker, best, best_len) != 1) {
        /* The message spells the marker itself: give up. */
        json_decref(root);
        return NULL;
    }
    return root;
}

/* Replaces the string value equal to marker under v by s[0..n); returns
 * how many values were replaced. */
static int
message_put_back(json_t *v, const char *marker, const char *s, size_t n)
{
    int found = 0;
    const char *key;
    json_t *child;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach(v, key, child)
        {
            if (json_is_string(child) &&
                strcmp(json_string_value(child), marker) == 0) {
                json_object_set_new(v, key, json_stringn_nocheck(s, n));
                found++;
            } else {
                found += message_put_back(child, marker, s, n);
            }
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child)
        {
            if (json_is_string(child) &&
                strcmp(json_string_value(child), marker) == 0) {
                json_array_set_new(v, i, json_stringn_nocheck(s, n));
                found++;
            } else {
                found += message_put_back(child, marker, s, n);
            }
        }
    }
    return found;
}

json_t *
message_load(const char *buf, size_t len, json_error_t *jerr)
{
    json_t *root = len >= MESSAGE_SPLICE_MIN ? message_splice(buf, len)
                                             : NULL;
    if (root == NULL)
        root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, jerr);
    return root;
}

static const char *
message_skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p is at an opening quote: returns the byte after the closing one. */
static const char *
message_skip_string(const char *p, const char *end)
{
    for (p++; p < end && *p != '"'; p++)
        if (*p == '\\')
            p++;
    return p < end ? p + 1 : end;
}

/* p is at a value inside an object: returns where it ends (at the ',' or
 * '}' that follows it, or end). */
static const char *
message_skip_value(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            p = message_skip_string(p, end);
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && depth-- == 0)
            break;
        else if (c == ',' && depth == 0)
            break;
        p++;
    }
    return p;
}

/* 1 if the string token tok[0..n) (quotes included) decodes to a name in
 * drop. */
static int
message_key_in(const char *tok, size_t n, const char *const *drop)
{
    json_t *k = NULL;
    const char *s = tok + 1;
    size_t sn = n - 2;
    if (memchr(tok, '\\', n) != NULL) { /* escaped: let jansson decode */
        k = json_loadb(tok, n, JSON_DECODE_ANY, NULL);
        if (!json_is_string(k)) {
            json_decref(k);
            return 0;
        }
        s = json_string_value(k);
        sn = json_string_length(k);
    }
    int found = 0;
    for (; *drop != NULL && !found; drop++)
        found = strlen(*drop) == sn && memcmp(*drop, s, sn) == 0;
    json_decref(k);
    return found;
}

unsigned
message_mentions_any(const char *buf, size_t len, const char *const *needles,
                     size_t n)
{
    unsigned found = 0, quoted = 0;
    size_t lens[32];
    if (buf == NULL || n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++) {
        lens[i] = strlen(needles[i]);
        if (lens[i] == 0 || lens[i] > len)
            continue;
        if (needles[i][lens[i] - 1] == '"')
            quoted |= 1u << i;
        else if (memmem(buf, len, needles[i], lens[i]) != NULL)
            found |= 1u << i;
    }
    /* One walk from quote to quote serves every quoted needle: at each
     * '"', does a needle end here? */
    const char *p = buf, *end = buf + len;
    while ((quoted & ~found) != 0 && p < end &&
           (p = memchr(p, '"', (size_t)(end - p))) != NULL) {
        size_t before = (size_t)(p - buf);
        for (size_t i = 0; i < n; i++)
            if ((quoted & ~found & (1u << i)) && lens[i] - 1 <= before &&
                memcmp(p - (lens[i] - 1), needles[i], lens[i] - 1) == 0)
                found |= 1u << i;
        p++;
    }
    return found;
}

int
message_mentions(const char *buf, size_t len, const char *needle, size_t nlen)
{
    char one[64];
    if (buf == NULL || nlen == 0 || nlen > len)
        return 0;
    if (nlen >= sizeof(one) || memchr(needle, '\0', nlen) != NULL)
        return memmem(buf, len, needle, nlen) != NULL;
    memcpy(one, needle, nlen);
    one[nlen] = '\0';
    const char *const needles[] = {one};
    return (int)message_mentions_any(buf, len, needles, 1);
}

char *
message_with_members(const char *buf, size_t len, const char *const *drop,
                     const char *add, size_t *out_len)
{
    const char *end = buf + len, *p = message_skip_ws(buf, end);
    if (p == end || *p != '{')
        return NULL;
    size_t add_len = strlen(add), n = 0;
    char *out = malloc(len + add_len + 3);
    if (out == NULL)
        return NULL;
    out[n++] = '{';
    p = message_skip_ws(p + 1, end);
    while (p < end && *p == '"') {
        const char *key = p;
        p = message_skip_string(p, end);
        size_t key_len = (size_t)(p - key);
        p = message_skip_ws(p, end);
        if (p == end || *p != ':')
            break;
        const char *value_end = message_skip_value(p + 1, end);
        if (!message_key_in(key, key_len, drop)) {
            if (n > 1)
                out[n++] = ',';
            memcpy(out + n, key, (size_t)(value_end - key));
            n += (size_t)(value_end - key);
        }
        p = value_end;
        if (p < end && *p == ',')
            p = message_skip_ws(p + 1, end);
    }
    if (p == end || *p != '}') {
        free(out);
        return NULL;
    }
    if (add_len > 0) {
        if (n > 1)
            out[n++] = ',';
        memcpy(out + n, add, add_len);
        n += add_len;
    }
    out[n++] = '}';
    out[n] = '\0';
    *out_len = n;
    return out;
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
    /* jansson skips a NUL byte that follows a number, but the text of a
     * message is copied as it is (a retry, a dead letter) and read as a C
     * string by other clients: a NUL would cut it there. */
    const char *nul = memchr(buf, '\0', len);
    if (nul != NULL)
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "message has a NUL byte at offset %zu; JSON "
                               "text has none (send binary data as "
                               "data_b64)",
                               (size_t)(nul - buf));
    m->root = message_load(buf, len, &jerr);
    if (m->root == NULL && jerr.text[0] == '\0')
        /* jansson says nothing when an allocation failed. */
        return proto_error_set(err, ERROR_PAYLOAD_TOO_LARGE,
                               "message of %zu bytes could not be decoded "
                               "within the memory a child may use; send "
                               "fewer or smaller JSON values",
                               len);
    if (m->root == NULL)
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "message is not valid JSON: %s at line %d "
                               "column %d",
                               jerr.text, jerr.line, jerr.column);
    if (!json_is_object(m->root))
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "message must be a JSON object");
    /* id and reply_to first: a failure below can still be answered. */
    if (message_string(m->root, BUILD_F_ID, &m->id, err) < 0 ||
        message_string(m->root, BUILD_F_REPLY_TO, &m->reply_to, err) < 0 ||
        message_string(m->root, BUILD_F_TASK, &m->task, err) < 0)
        return -1;
    if (m->task == NULL)
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "message has no 'task' field naming the task "
                               "to run");
    json_t *v = json_object_get(m->root, BUILD_F_VERSION);
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
    m->args = json_object_get(m->root, BUILD_F_ARGS);
    if (m->args == NULL || json_is_null(m->args)) {
        m->args = json_object();
        json_object_set_new(m->root, BUILD_F_ARGS, m->args);
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
    json_t *none = args == NULL ? json_object() : NULL;
    struct build b = BUILD_INIT;
    struct build_spec spec = {
        .task = task, .args = args ? args : none, .id = id,
        .reply_to = reply_to};
    int r = build_message(&b, &spec);
    json_decref(none);
    if (r < 0) {
        build_free(&b);
        return NULL;
    }
    return build_take(&b, NULL);
}
