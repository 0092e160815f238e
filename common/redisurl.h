/* SPDX-License-Identifier: MIT */
/*
 * Redis connection addresses: "redis://[user:password@]host[:port][/db]",
 * the same with "rediss://" for TLS (tlsconf.h, tlslink.h),
 * "unix:///path/to.sock[?db=N]" and
 * "sentinel://[user:password@]host:port[,host:port...]/master-name[/db]"
 * and "sentinel+tls://..." (the same over TLS; common/sentinelurl.h),
 * "cluster://[user:password@]host[:port][,host[:port]...]" and
 * "cluster+tls://..." (a Redis Cluster's seed nodes; the same header).
 * The address comes from --redis, else
 * CELERIAC_REDIS_URL, else redis://127.0.0.1:6379/0.  A password can be kept
 * off the command line with CELERIAC_REDIS_PASSWORD (used when the URL has
 * none).
 */
#ifndef CELERIAC_REDISURL_H
#define CELERIAC_REDISURL_H

#include <stddef.h>

#include "sentinelurl.h"

#define REDISURL_DEFAULT "redis://127.0.0.1:6379/0"
#define REDISURL_ENV "CELERIAC_REDIS_URL"
#define REDISURL_PASSWORD_ENV "CELERIAC_REDIS_PASSWORD"

/* A parsed address.  Every string is owned by the struct. */
struct redisurl {
    char *host;     /* TCP host, NULL for a unix socket */
    int port;       /* TCP port */
    char *path;     /* unix socket path, NULL for TCP */
    char *user;     /* ACL user name, NULL for the default user */
    char *password; /* NULL when no AUTH is needed */
    int db;         /* database number for SELECT */
    int tls;        /* rediss://: TLS to host:port; sentinel+tls://: TLS
                     * to every sentinel and to the master; cluster+tls://:
                     * to every node */
    /* sentinel:// and cluster:// only, else NULL: where to ask for the
     * master, whose address the connecting code puts in host and port. */
    struct sentinelurl *sentinel;
};

/*
 * Parses url into *u (which is overwritten).  Returns 0, or -1 with *cause
 * set to a message the caller owns and must free; the message shows the
 * URL redacted (redisurl_redact()).
 */
int redisurl_parse(const char *url, struct redisurl *u, char **cause);
/* Picks the address: opt if not NULL, else the environment, else default. */
const char *redisurl_choose(const char *opt);
/* Parses redisurl_choose(opt) and applies CELERIAC_REDIS_PASSWORD. */
int redisurl_resolve(const char *opt, struct redisurl *u, char **cause);
/* "host:port/db" (+ " (TLS)") or "unix:path/db" with no credentials;
 * caller frees. */
char *redisurl_describe(const struct redisurl *u);
/*
 * Fills argv/lens with the AUTH command for u and returns its argc (2 or 3),
 * or 0 when no AUTH is needed.  The pointers are borrowed from u.
 */
int redisurl_auth_argv(const struct redisurl *u, const char *argv[3],
                       size_t lens[3]);
void redisurl_clear(struct redisurl *u);
/* The decimal number s[0..n) (1 to 10 digits, nothing else) into *out if
 * it is at most max: 0, else -1.  For the parts of an address. */
int redisurl_number(const char *s, size_t n, long max, long *out);
/*
 * url as it may be shown to a person or written to a log: everything
 * between "//" and the last '@' (user and password) replaced by "***".
 * Works on any string, also one that does not parse.  Caller frees.
 */
char *redisurl_redact(const char *url);
/*
 * Overwrites, in place, the bytes redisurl_redact() hides with '*': for a
 * --redis value in argv, after it was copied, so that ps and
 * /proc/PID/cmdline do not show the password.
 */
void redisurl_scrub(char *url);

#endif
