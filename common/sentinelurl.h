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
 *
 * Redis Cluster addresses use the same look-up with other questions:
 * "cluster://[user:password@]host[:port][,host[:port]...]" (or
 * "cluster+tls://...") names seed nodes of the cluster (port 6379 by
 * default), each asked in turn for CLUSTER SLOTS at every connect; the
 * master serving the deployment's slot (the slot of its --prefix, which
 * must have a hash tag: keyslot.h) is the one connected to.  The seeds
 * are asked with the URL's own user and password.
 */
#ifndef CELERIAC_SENTINELURL_H
#define CELERIAC_SENTINELURL_H

#define SENTINELURL_SCHEME "sentinel://"
/* The same with TLS on every connection: to each sentinel and to the
 * master (whose certificate must name the address the sentinels give). */
#define SENTINELURL_TLS_SCHEME "sentinel+tls://"
#define SENTINELURL_PASSWORD_ENV "CELERIAC_SENTINEL_PASSWORD"
#define SENTINELURL_DEFAULT_PORT 26379
#define SENTINELURL_CLUSTER_SCHEME "cluster://"
#define SENTINELURL_CLUSTER_TLS_SCHEME "cluster+tls://"
#define SENTINELURL_CLUSTER_DEFAULT_PORT 6379
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
    char *user;     /* cluster://: the seeds' AUTH user, NULL for none */
    char *password; /* AUTH for the sentinels, NULL for none */
    int tls;        /* sentinel+tls://: TLS to the sentinels and master */
    int cluster;    /* cluster://: the hosts are seed nodes of a cluster */
    int slot;       /* cluster://: the deployment's slot, -1 until set */
};

/*
 * Parses the part of a sentinel:// URL after "//" and any "user:password@"
 * (hosts, "/", master name, optional "/db") into a new *s and *db.
 * Returns 0, or -1 with *why set to a static reason.
 */
int sentinelurl_parse(const char *hosts, struct sentinelurl **s, int *db,
                      const char **why);
/*
 * Parses the part of a cluster:// URL after "//" and any "user:password@"
 * (seed nodes, and nothing after them but an optional "/" or "/0": a
 * cluster has database 0 only) into a new *s.  0, or -1 with *why static.
 */
int sentinelurl_parse_cluster(const char *hosts, struct sentinelurl **s,
                              const char **why);
/*
 * cluster://: sets the deployment's slot from its key prefix: 0, or -1
 * with *why (static) if the prefix has no hash tag, so that its keys
 * would be spread over slots that scripts cannot reach together.
 */
int sentinelurl_set_prefix(struct sentinelurl *s, const char *prefix,
                           const char **why);
/* "sentinel:NAME@host:port,host:port" or "cluster:host:port,..." (no
 * credentials); caller frees. */
char *sentinelurl_describe(const struct sentinelurl *s);
/* Sets the sentinels' password from CELERIAC_SENTINEL_PASSWORD; for a
 * cluster, the seeds' user and password from the URL's (borrowed,
 * copied). */
void sentinelurl_env(struct sentinelurl *s, const char *user,
                     const char *password);
void sentinelurl_free(struct sentinelurl *s);

#endif
