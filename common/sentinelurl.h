/* SPDX-License-Identifier: MIT */
/*
 * Redis Sentinel addresses:
 * "sentinel://[user:password@]host[:port][,host[:port]...]/master-name[/db]",
 * or "sentinel+tls://..." for TLS to the sentinels and the master.
 * The hosts are sentinels (port 26379 by default); the master's address is
 * asked of them at every connect (common/sentinel.h).  The user and
 * password are those of the Redis master and replicas, as in redis://; a
 * password for the sentinels themselves comes from
 * CELERIAC_SENTINEL_PASSWORD (AUTH to each sentinel, when set).
 */
#ifndef CELERIAC_SENTINELURL_H
#define CELERIAC_SENTINELURL_H

#define SENTINELURL_SCHEME "sentinel://"
/* The same with TLS on every connection: to each sentinel and to the
 * master (whose certificate must name the address the sentinels give). */
#define SENTINELURL_TLS_SCHEME "sentinel+tls://"
#define SENTINELURL_PASSWORD_ENV "CELERIAC_SENTINEL_PASSWORD"
#define SENTINELURL_DEFAULT_PORT 26379
/* At most this many sentinels in one URL. */
#define SENTINELURL_MAX 16

/* One sentinel's address; host owned. */
struct sentinelurl_addr {
    char *host;
    int port;
};

/* The sentinel part of a parsed address; everything owned. */
struct sentinelurl {
    struct sentinelurl_addr *addrs;
    int naddrs;
    char *master;   /* the master's name in the sentinels' configuration */
    char *password; /* AUTH for the sentinels, NULL for none */
    int tls;        /* sentinel+tls://: TLS to the sentinels and master */
};

/*
 * Parses the part of a sentinel:// URL after "//" and any "user:password@"
 * (hosts, "/", master name, optional "/db") into a new *s and *db.
 * Returns 0, or -1 with *why set to a static reason.
 */
int sentinelurl_parse(const char *hosts, struct sentinelurl **s, int *db,
                      const char **why);
/* "sentinel:NAME@host:port,host:port" (no credentials); caller frees. */
char *sentinelurl_describe(const struct sentinelurl *s);
/* Sets the sentinels' password from CELERIAC_SENTINEL_PASSWORD. */
void sentinelurl_env(struct sentinelurl *s);
void sentinelurl_free(struct sentinelurl *s);

#endif
