/* SPDX-License-Identifier: MIT */
/* Parsing of Redis connection URLs. */
#include "redisurl.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sentinelurl.h"
#include "xmalloc.h"

static char *redisurl_unescape(const char *s, size_t n);
static void redisurl_bad(char **cause, const char *url, const char *why);
static int redisurl_secret(const char *url, size_t *start, size_t *end);

/*
 * Where the credentials of url are, or would be: from after "//" (or, with
 * no "//", after the first ':') to the last '@'.  Returns 1 with the span
 * [*start, *end), or 0 if there is no '@' after that point.
 */
static int
redisurl_secret(const char *url, size_t *start, size_t *end)
{
    const char *slashes = strstr(url, "//"), *colon = strchr(url, ':');
    const char *at = strrchr(url, '@');
    const char *from = slashes ? slashes + 2 : colon ? colon + 1 : url;

    if (at == NULL || at < from)
        return 0;
    *start = (size_t)(from - url);
    *end = (size_t)(at - url);
    return 1;
}

char *
redisurl_redact(const char *url)
{
    size_t start, end;

    if (!redisurl_secret(url, &start, &end))
        return xstrdup(url);
    return xasprintf("%.*s***%s", (int)start, url, url + end);
}

void
redisurl_scrub(char *url)
{
    size_t start, end;

    if (redisurl_secret(url, &start, &end))
        memset(url + start, '*', end - start);
}

/* Sets *cause to "bad Redis URL 'URL': why", the URL redacted. */
static void
redisurl_bad(char **cause, const char *url, const char *why)
{
    char *shown = redisurl_redact(url);
    *cause = xasprintf("bad Redis URL '%s': %s", shown, why);
    free(shown);
}

/* Percent-decodes s[0..n); returns an owned string, or NULL if it would
 * contain a NUL (%00). */
static char *
redisurl_unescape(const char *s, size_t n)
{
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n &&
            isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            *o = (char)strtol(hex, NULL, 16);
            if (*o++ == '\0') { /* would cut the string short */
                free(out);
                return NULL;
            }
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

int
redisurl_number(const char *s, size_t n, long max, long *out)
{
    if (n == 0 || n > 10)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

int
redisurl_parse(const char *url, struct redisurl *u, char **cause)
{
    memset(u, 0, sizeof(*u));
    u->port = 6379;
    long v;

    if (strncmp(url, "unix://", 7) == 0) {
        const char *p = url + 7, *q = strchr(p, '?');
        size_t plen = q ? (size_t)(q - p) : strlen(p);
        if (plen == 0 || p[0] != '/') {
            redisurl_bad(cause, url, "expected unix:///absolute/path.sock");
            return -1;
        }
        u->path = redisurl_unescape(p, plen);
        if (u->path == NULL) {
            redisurl_bad(cause, url, "%00 is not allowed");
            return -1;
        }
        if (q != NULL) {
            if (strncmp(q, "?db=", 4) != 0 ||
                redisurl_number(q + 4, strlen(q + 4), 1 << 20, &v) < 0) {
                redisurl_bad(cause, url, "the only query allowed is ?db=N");
                goto fail;
            }
            u->db = (int)v;
        }
        return 0;
    }
    size_t stls_len = strlen(SENTINELURL_TLS_SCHEME);
    size_t scheme_len = strlen(SENTINELURL_SCHEME);
    size_t ctls_len = strlen(SENTINELURL_CLUSTER_TLS_SCHEME);
    size_t cluster_len = strlen(SENTINELURL_CLUSTER_SCHEME);
    int stls = strncmp(url, SENTINELURL_TLS_SCHEME, stls_len) == 0;
    int ctls = strncmp(url, SENTINELURL_CLUSTER_TLS_SCHEME, ctls_len) == 0;
    int cluster =
        ctls || strncmp(url, SENTINELURL_CLUSTER_SCHEME, cluster_len) == 0;
    int tls = stls || ctls || strncmp(url, "rediss://", 9) == 0;
    int sentinel = stls || strncmp(url, SENTINELURL_SCHEME, scheme_len) == 0;
    if (!tls && !sentinel && !cluster && strncmp(url, "redis://", 8) != 0) {
        redisurl_bad(cause, url,
                     "it must start with redis://, rediss://, unix://, "
                     "sentinel://, sentinel+tls://, cluster:// or "
                     "cluster+tls://");
        return -1;
    }
    const char *p = url + (stls       ? stls_len
                           : ctls     ? ctls_len
                           : cluster  ? cluster_len
                           : sentinel ? scheme_len
                           : tls      ? 9
                                      : 8);
    const char *end = p + strcspn(p, "/");
    const char *at = memrchr(p, '@', (size_t)(end - p));
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon != NULL) {
            if (colon > p)
                u->user = redisurl_unescape(p, (size_t)(colon - p));
            u->password = redisurl_unescape(colon + 1,
                                            (size_t)(at - colon - 1));
        } else if (at > p) {
            u->password = redisurl_unescape(p, (size_t)(at - p));
        }
        if ((colon != NULL && colon > p && u->user == NULL) ||
            (at > p && u->password == NULL)) {
            redisurl_bad(cause, url,
                         "%00 is not allowed in the user or password");
            goto fail;
        }
        p = at + 1;
    }
    if (sentinel || cluster) {
        const char *why;
        if (cluster ? sentinelurl_parse_cluster(p, &u->sentinel, &why)
                    : sentinelurl_parse(p, &u->sentinel, &u->db, &why)) {
            redisurl_bad(cause, url, why);
            goto fail;
        }
        u->tls = tls;
        u->sentinel->tls = tls;
        return 0;
    }
    const char *hostend = end;
    const char *colon = NULL;
    if (*p == '[') { /* [ipv6]:port */
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (rb == NULL) {
            redisurl_bad(cause, url, "unclosed '['");
            goto fail;
        }
        u->host = xstrndup(p + 1, (size_t)(rb - p - 1));
        if (rb + 1 < end && rb[1] == ':')
            colon = rb + 1;
        else if (rb + 1 != end) {
            redisurl_bad(cause, url, "junk after ']'");
            goto fail;
        }
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        hostend = colon ? colon : end;
        if (hostend == p) {
            redisurl_bad(cause, url, "no host name");
            goto fail;
        }
        u->host = xstrndup(p, (size_t)(hostend - p));
    }
    if (colon != NULL) {
        if (redisurl_number(colon + 1, (size_t)(end - colon - 1), 65535,
                            &v) < 0 ||
            v == 0) {
            redisurl_bad(cause, url,
                         "the port must be a number from 1 to 65535");
            goto fail;
        }
        u->port = (int)v;
    }
    if (*end == '/' && end[1] != '\0') {
        if (redisurl_number(end + 1, strlen(end + 1), 1 << 20, &v) < 0) {
            redisurl_bad(cause, url,
                         "the database after '/' must be a number");
            goto fail;
        }
        u->db = (int)v;
    }
    u->tls = tls;
    return 0;
fail:
    redisurl_clear(u);
    return -1;
}

const char *
redisurl_choose(const char *opt)
{
    if (opt != NULL && *opt != '\0')
        return opt;
    const char *env = getenv(REDISURL_ENV);
    if (env != NULL && *env != '\0')
        return env;
    return REDISURL_DEFAULT;
}

int
redisurl_resolve(const char *opt, struct redisurl *u, char **cause)
{
    if (redisurl_parse(redisurl_choose(opt), u, cause) < 0)
        return -1;
    const char *pw = getenv(REDISURL_PASSWORD_ENV);
    /* "user:@host" takes the user's password from the environment too
     * (and sends it empty, for a nopass user, when none is set there). */
    if ((u->password == NULL || u->password[0] == '\0') && pw != NULL &&
        *pw != '\0') {
        free(u->password);
        u->password = xstrdup(pw);
    }
    if (u->sentinel != NULL)
        sentinelurl_env(u->sentinel, u->user, u->password);
    return 0;
}

char *
redisurl_describe(const struct redisurl *u)
{
    if (u->path != NULL)
        return xasprintf("unix:%s/%d", u->path, u->db);
    const char *tls = u->tls ? " (TLS)" : "";
    if (u->sentinel != NULL) {
        char *s = sentinelurl_describe(u->sentinel);
        char *out = xasprintf("%s/%d%s", s, u->db, tls);
        free(s);
        return out;
    }
    if (strchr(u->host, ':') != NULL)
        return xasprintf("[%s]:%d/%d%s", u->host, u->port, u->db, tls);
    return xasprintf("%s:%d/%d%s", u->host, u->port, u->db, tls);
}

int
redisurl_auth_argv(const struct redisurl *u, const char *argv[3],
                   size_t lens[3])
{
    if (u->password == NULL)
        return 0;
    int argc = 0;
    argv[argc++] = "AUTH";
    if (u->user != NULL)
        argv[argc++] = u->user;
    argv[argc++] = u->password;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return argc;
}

void
redisurl_clear(struct redisurl *u)
{
    free(u->host);
    free(u->path);
    free(u->user);
    free(u->password);
    sentinelurl_free(u->sentinel);
    memset(u, 0, sizeof(*u));
}
