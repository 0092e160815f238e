/* SPDX-License-Identifier: MIT */
/* Redis key names. */
#include "keys.h"

#include <stdio.h>
#include <string.h>

#include "version.h"

const char *const keys_heartbeat_fields[] = {
    KEYS_HB_NAME,       KEYS_HB_HOST,       KEYS_HB_PID,
    KEYS_HB_STARTED_AT, KEYS_HB_LAST_BEAT,  KEYS_HB_VERSION,
    KEYS_HB_CONCURRENCY, KEYS_HB_PREFETCH,  KEYS_HB_WINDOW, KEYS_HB_QUEUES,
    KEYS_HB_IN_FLIGHT,  KEYS_HB_STATE,      KEYS_HB_RATE,
    KEYS_HB_PAUSED,     KEYS_HB_BEAT,       KEYS_HB_RECEIVED,
    KEYS_HB_SUCCEEDED,  KEYS_HB_FAILED,     KEYS_HB_RETRIED,
    KEYS_HB_EXPIRED,    KEYS_HB_DEAD,       KEYS_HB_RECOVERED,
    KEYS_HB_DUPLICATES, KEYS_HB_CHILD_DEATHS, NULL,
};

const char *const keys_heartbeat_counters[] = {
    KEYS_HB_RECEIVED,  KEYS_HB_SUCCEEDED,  KEYS_HB_FAILED,
    KEYS_HB_RETRIED,   KEYS_HB_EXPIRED,    KEYS_HB_DEAD,
    KEYS_HB_RECOVERED, KEYS_HB_DUPLICATES, KEYS_HB_CHILD_DEATHS,
    NULL,
};

static int keys_fmt(char *buf, size_t n, const char *prefix, const char *kind,
                    const char *name);

static int
keys_fmt(char *buf, size_t n, const char *prefix, const char *kind,
         const char *name)
{
    int r = snprintf(buf, n, "%s%s%s%s", prefix, kind, name ? ":" : "",
                     name ? name : "");
    return (r < 0 || (size_t)r >= n) ? -1 : 0;
}

int
keys_queue(char *buf, size_t n, const char *prefix, const char *name)
{
    return keys_fmt(buf, n, prefix, KEYS_KIND_QUEUE, name);
}

int
keys_result(char *buf, size_t n, const char *prefix, const char *id)
{
    return keys_fmt(buf, n, prefix, KEYS_KIND_RESULT, id);
}

int
keys_reply(char *buf, size_t n, const char *prefix, const char *token)
{
    return keys_fmt(buf, n, prefix, KEYS_KIND_REPLY, token);
}

int
keys_upload(char *buf, size_t n, const char *prefix, const char *token)
{
    return keys_fmt(buf, n, prefix, KEYS_KIND_UPLOAD, token);
}

int
keys_dead(char *buf, size_t n, const char *prefix)
{
    return keys_fmt(buf, n, prefix, KEYS_KIND_DEAD, NULL);
}

int
keys_scheduled(char *buf, size_t n, const char *prefix)
{
    return keys_fmt(buf, n, prefix, KEYS_KIND_SCHEDULED, NULL);
}

int
keys_workers(char *buf, size_t n, const char *prefix)
{
    return keys_fmt(buf, n, prefix, KEYS_KIND_WORKERS, NULL);
}

int
keys_worker(char *buf, size_t n, const char *prefix, const char *name)
{
    return keys_fmt(buf, n, prefix, KEYS_KIND_WORKER, name);
}

int
keys_hostsem(char *buf, size_t n, const char *prefix, const char *host)
{
    char low[KEYS_HOST_MAX + 1];
    size_t len = strlen(host);
    if (len == 0 || len > KEYS_HOST_MAX)
        return -1;
    for (size_t i = 0; i <= len; i++) {
        char c = host[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        else if (c != '\0' && !(c >= 'a' && c <= 'z') &&
                 !(c >= '0' && c <= '9') && c != '.' && c != ':' && c != '-')
            return -1;
        low[i] = c;
    }
    return keys_fmt(buf, n, prefix, KEYS_KIND_HOSTSEM, low);
}

int
keys_valid_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > PROTOCOL_MAX_NAME)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c == 0x7f || c == ',')
            return 0;
    }
    return 1;
}

const char *
keys_queue_name(const char *key, const char *prefix)
{
    static const char kind[] = KEYS_KIND_QUEUE ":";
    size_t plen = strlen(prefix), klen = sizeof(kind) - 1;
    if (strncmp(key, prefix, plen) != 0 ||
        strncmp(key + plen, kind, klen) != 0 ||
        !keys_valid_name(key + plen + klen))
        return NULL;
    return key + plen + klen;
}

int
keys_reply_prefix(char *buf, size_t n, const char *prefix)
{
    return keys_fmt(buf, n, prefix, KEYS_KIND_REPLY, "");
}

int
keys_is_reply(const char *prefix, const char *key)
{
    static const char kind[] = KEYS_KIND_REPLY ":";
    size_t plen = strlen(prefix), klen = sizeof(kind) - 1;
    return strncmp(key, prefix, plen) == 0 &&
           strncmp(key + plen, kind, klen) == 0 && key[plen + klen] != '\0';
}

int
keys_task_id(char *buf, size_t n, const char *queue, const char *entry_id)
{
    int r = snprintf(buf, n, "%s/%s", queue, entry_id);
    return (r < 0 || (size_t)r >= n) ? -1 : 0;
}

int
keys_valid_prefix(const char *prefix)
{
    size_t len = strlen(prefix);
    if (len == 0 || len > KEYS_PREFIX_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)prefix[i];
        if (c <= ' ' || c >= 0x7f)
            return 0;
    }
    return 1;
}

int
keys_shard_prefix(char *buf, size_t n, const char *prefix, int i)
{
    const char *open = strchr(prefix, '{');
    const char *close = open ? strchr(open + 1, '}') : NULL;
    int r;

    if (close == NULL || close == open + 1 || i < 0 || i >= KEYS_SHARDS_MAX)
        return -1;
    if (i == 0)
        r = snprintf(buf, n, "%s", prefix);
    else
        r = snprintf(buf, n, "%.*s.%d%s", (int)(close - prefix), prefix, i,
                     close);
    if (r < 0 || (size_t)r >= n || (size_t)r > KEYS_PREFIX_MAX)
        return -1;
    return 0;
}

/* Length of the UTF-8 sequence at s (at most n bytes), or 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t
keys_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min, cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, min = 0x80, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, min = 0x800, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int
keys_valid_worker(const char *name)
{
    const unsigned char *s = (const unsigned char *)name;
    size_t len = strlen(name);
    if (!keys_valid_name(name))
        return 0;
    for (size_t i = 0; i < len;) {
        size_t k = keys_utf8_len(s + i, len - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

int
keys_revoked(char *buf, size_t n, const char *prefix)
{
    return keys_fmt(buf, n, prefix, KEYS_KIND_REVOKED, NULL);
}

int
keys_events(char *buf, size_t n, const char *prefix)
{
    return keys_fmt(buf, n, prefix, "events", NULL);
}

int
keys_control(char *buf, size_t n, const char *prefix)
{
    return keys_fmt(buf, n, prefix, "control", NULL);
}

int
keys_beat_lease(char *buf, size_t n, const char *prefix)
{
    return keys_fmt(buf, n, prefix, KEYS_KIND_BEAT, "lease");
}

int
keys_beat_token(char *buf, size_t n, const char *prefix)
{
    return keys_fmt(buf, n, prefix, KEYS_KIND_BEAT, "token");
}

int
keys_beat_last(char *buf, size_t n, const char *prefix)
{
    return keys_fmt(buf, n, prefix, KEYS_KIND_BEAT, "last");
}

int
keys_unique(char *buf, size_t n, const char *prefix, const char *digest)
{
    size_t len = strlen(digest);
    if (len != 64)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (!((digest[i] >= '0' && digest[i] <= '9') ||
              (digest[i] >= 'a' && digest[i] <= 'f')))
            return -1;
    return keys_fmt(buf, n, prefix, KEYS_KIND_UNIQUE, digest);
}

int
keys_limit(char *buf, size_t n, const char *prefix, const char *kind,
           const char *scope, const char *name)
{
    if ((strcmp(kind, KEYS_KIND_RATELIMIT) != 0 &&
         strcmp(kind, KEYS_KIND_CONCLIMIT) != 0) ||
        (strcmp(scope, "task") != 0 && strcmp(scope, "queue") != 0) ||
        !keys_valid_name(name))
        return -1;
    int r = snprintf(buf, n, "%s%s:%s:%s", prefix, kind, scope, name);
    return (r < 0 || (size_t)r >= n) ? -1 : 0;
}

int
keys_metrics_queue(char *buf, size_t n, const char *prefix, const char *queue)
{
    if (!keys_valid_name(queue))
        return -1;
    return keys_fmt(buf, n, prefix, "metrics", queue);
}
