/* SPDX-License-Identifier: MIT */
/* Parsing of the sentinel list and master name of sentinel:// URLs. */
#include "sentinelurl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyslot.h"
#include "redisurl.h"
#include "xmalloc.h"

static int sentinelurl_addr(const char *p, size_t n,
                            struct sentinelurl_addr *a, const char **why);
static int sentinelurl_hosts(struct sentinelurl *s, const char *p,
                             const char *end, const char **why);

/* One "host[:port]" or "[v6]:port" of p[0..n). */
static int
sentinelurl_addr(const char *p, size_t n, struct sentinelurl_addr *a,
                 const char **why)
{
    const char *end = p + n, *colon = NULL, *hend;
    long v;

    /* a->port is the default port, set by the caller */
    if (n > 0 && *p == '[') {
        const char *rb = memchr(p, ']', n);
        if (rb == NULL || rb == p + 1) {
            *why = "a sentinel's IPv6 address needs '[address]'";
            return -1;
        }
        if (rb + 1 < end && rb[1] != ':') {
            *why = "junk after ']' in a sentinel's address";
            return -1;
        }
        colon = rb + 1 < end ? rb + 1 : NULL;
        a->host = xstrndup(p + 1, (size_t)(rb - p - 1));
    } else {
        colon = memchr(p, ':', n);
        hend = colon ? colon : end;
        if (hend == p) {
            *why = "a sentinel has no host name (empty item in the list?)";
            return -1;
        }
        for (const char *q = p; q < hend; q++)
            if (!isalnum((unsigned char)*q) && *q != '.' && *q != '-' &&
                *q != '_') {
                *why = "a sentinel's host name has a character that is not "
                       "a letter, digit, '.', '-' or '_'";
                return -1;
            }
        a->host = xstrndup(p, (size_t)(hend - p));
    }
    if (colon != NULL) {
        if (redisurl_number(colon + 1, (size_t)(end - colon - 1), 65535,
                               &v) < 0 ||
            v == 0) {
            free(a->host);
            a->host = NULL;
            *why = "a sentinel's port must be a number from 1 to 65535";
            return -1;
        }
        a->port = (int)v;
    }
    return 0;
}

/* The comma-separated addresses of p[0..end) into s->addrs. */
static int
sentinelurl_hosts(struct sentinelurl *s, const char *p, const char *end,
                  const char **why)
{
    s->addrs = xcalloc(SENTINELURL_MAX, sizeof(*s->addrs));
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        if (s->naddrs == SENTINELURL_MAX) {
            *why = s->cluster ? "more than 16 seed nodes"
                              : "more than 16 sentinels";
            return -1;
        }
        s->addrs[s->naddrs].port = s->cluster ? SENTINELURL_CLUSTER_DEFAULT_PORT
                                              : SENTINELURL_DEFAULT_PORT;
        if (sentinelurl_addr(p, (size_t)(e - p), &s->addrs[s->naddrs], why) < 0)
            return -1;
        s->naddrs++;
        p = e + 1;
    }
    return 0;
}

int
sentinelurl_parse_cluster(const char *hosts, struct sentinelurl **out,
                          const char **why)
{
    struct sentinelurl *s = xcalloc(1, sizeof(*s));
    const char *slash = strchr(hosts, '/');
    const char *end = slash ? slash : hosts + strlen(hosts);

    *out = NULL;
    s->cluster = 1;
    s->slot = -1;
    if (end == hosts) {
        *why = "expected cluster://HOST[:PORT][,HOST[:PORT]...]";
        goto fail;
    }
    if (slash != NULL && strcmp(slash, "/") != 0 && strcmp(slash, "/0") != 0) {
        *why = "a Redis Cluster has database 0 only: nothing may follow "
               "the seed nodes but \"/\" or \"/0\"";
        goto fail;
    }
    if (sentinelurl_hosts(s, hosts, end, why) < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    sentinelurl_free(s);
    return -1;
}

int
sentinelurl_set_prefix(struct sentinelurl *s, const char *prefix,
                       const char **why)
{
    if (!s->cluster)
        return 0;
    if (!keyslot_has_tag(prefix)) {
        *why = "on a Redis Cluster every key of a deployment must be in one "
               "hash slot: give a --prefix with a hash tag, e.g. --prefix "
               "'{celeriac}:', to the workers and to every celeriac command";
        return -1;
    }
    s->slot = keyslot(prefix, strlen(prefix));
    return 0;
}

int
sentinelurl_parse(const char *hosts, struct sentinelurl **out, int *db,
                  const char **why)
{
    struct sentinelurl *s = xcalloc(1, sizeof(*s));
    const char *slash = strchr(hosts, '/'), *p = hosts;
    long v;

    *out = NULL;
    *db = 0;
    s->slot = -1;
    if (slash == NULL || slash == hosts) {
        *why = slash ? "no sentinel before the '/'"
                     : "expected sentinel://HOST:PORT[,HOST:PORT...]/"
                       "MASTER-NAME[/DB]";
        goto fail;
    }
    if (sentinelurl_hosts(s, p, slash, why) < 0)
        goto fail;
    const char *name = slash + 1, *nend = strchr(name, '/');
    size_t nlen = nend ? (size_t)(nend - name) : strlen(name);
    if (nlen == 0) {
        *why = "no master name after the sentinels (.../MASTER-NAME)";
        goto fail;
    }
    for (size_t i = 0; i < nlen; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '.' &&
            name[i] != '-' && name[i] != '_') {
            *why = "the master name may hold only letters, digits, '.', "
                   "'-' and '_'";
            goto fail;
        }
    s->master = xstrndup(name, nlen);
    if (nend != NULL && nend[1] != '\0') {
        if (redisurl_number(nend + 1, strlen(nend + 1), 1 << 20, &v) < 0) {
            *why = "the database after the master name must be a number";
            goto fail;
        }
        *db = (int)v;
    }
    *out = s;
    return 0;
fail:
    sentinelurl_free(s);
    return -1;
}

char *
sentinelurl_describe(const struct sentinelurl *s)
{
    size_t cap = (s->master ? strlen(s->master) : 0) + 16;
    for (int i = 0; i < s->naddrs; i++)
        cap += strlen(s->addrs[i].host) + 10;
    char *out = xmalloc(cap), *o = out;
    if (s->cluster)
        o += snprintf(o, cap, "cluster:");
    else
        o += snprintf(o, cap, "sentinel:%s@", s->master);
    for (int i = 0; i < s->naddrs; i++) {
        int v6 = strchr(s->addrs[i].host, ':') != NULL;
        o += snprintf(o, cap - (size_t)(o - out), "%s%s%s%s:%d",
                      i ? "," : "", v6 ? "[" : "", s->addrs[i].host,
                      v6 ? "]" : "", s->addrs[i].port);
    }
    return out;
}

void
sentinelurl_env(struct sentinelurl *s, const char *user, const char *password)
{
    const char *pw = s->cluster ? password : getenv(SENTINELURL_PASSWORD_ENV);
    free(s->user);
    s->user = s->cluster && user != NULL ? xstrdup(user) : NULL;
    free(s->password);
    /* A cluster's "user:@host" sends the user's empty password. */
    s->password =
        pw != NULL && (*pw != '\0' || s->user != NULL) ? xstrdup(pw) : NULL;
}

void
sentinelurl_free(struct sentinelurl *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->naddrs; i++)
        free(s->addrs[i].host);
    free(s->addrs);
    free(s->master);
    free(s->user);
    free(s->password);
    free(s);
}
