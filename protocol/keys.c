/* SPDX-License-Identifier: MIT */
/* Redis key names. */
#include "keys.h"

#include <stdio.h>
#include <string.h>

#include "version.h"

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
    return keys_fmt(buf, n, prefix, "queue", name);
}

int
keys_result(char *buf, size_t n, const char *prefix, const char *id)
{
    return keys_fmt(buf, n, prefix, "result", id);
}

int
keys_reply(char *buf, size_t n, const char *prefix, const char *token)
{
    return keys_fmt(buf, n, prefix, "reply", token);
}

int
keys_dead(char *buf, size_t n, const char *prefix)
{
    return keys_fmt(buf, n, prefix, "dead", NULL);
}

int
keys_scheduled(char *buf, size_t n, const char *prefix)
{
    return keys_fmt(buf, n, prefix, "scheduled", NULL);
}

int
keys_workers(char *buf, size_t n, const char *prefix)
{
    return keys_fmt(buf, n, prefix, "workers", NULL);
}

int
keys_worker(char *buf, size_t n, const char *prefix, const char *name)
{
    return keys_fmt(buf, n, prefix, "worker", name);
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
