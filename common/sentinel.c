/* SPDX-License-Identifier: MIT */
/* Replies of Redis Sentinel and of ROLE; see sentinel.h. */
#include "sentinel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

int
sentinel_master_reply(const redisReply *r, char **host, int *port,
                      const char **why)
{
    if (r == NULL) {
        *why = "no answer";
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL) {
        *why = "it does not know a master of that name";
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        *why = "it answered with an error";
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING ||
        r->element[0]->len == 0 || r->element[0]->len > 255) {
        *why = "its answer is not an address";
        return -1;
    }
    char *end = NULL;
    long p = strtol(r->element[1]->str, &end, 10);
    if (end == r->element[1]->str || *end != '\0' || p < 1 || p > 65535) {
        *why = "its answer has no valid port";
        return -1;
    }
    *host = xstrndup(r->element[0]->str, r->element[0]->len);
    *port = (int)p;
    return 0;
}

int
sentinel_role_reply(const redisReply *r, char *what, size_t n)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return -1;
    const char *role = r->element[0]->str;
    if (strcmp(role, "master") == 0)
        return 1;
    if (strcmp(role, "slave") == 0 && r->elements >= 3 &&
        r->element[1]->type == REDIS_REPLY_STRING &&
        r->element[2]->type == REDIS_REPLY_INTEGER)
        snprintf(what, n, "a replica of %s:%lld", r->element[1]->str,
                 r->element[2]->integer);
    else
        snprintf(what, n, "a %s, not a master", role);
    return 0;
}

int
sentinel_readonly(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
           strncmp(r->str, "READONLY", 8) == 0;
}

int
sentinel_cluster_reply(const redisReply *r, int slot, const char *seed_host,
                       char **host, int *port, const char **why)
{
    if (r == NULL) {
        *why = "no answer";
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        *why = "it answered with an error (cluster mode off?)";
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        *why = "its answer to CLUSTER SLOTS is not a list";
        return -1;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER)
            continue;
        if (slot < e->element[0]->integer || slot > e->element[1]->integer)
            continue;
        const redisReply *m = e->element[2];
        if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
            m->element[0]->type != REDIS_REPLY_STRING ||
            m->element[1]->type != REDIS_REPLY_INTEGER ||
            m->element[0]->len > 255 || m->element[1]->integer < 1 ||
            m->element[1]->integer > 65535) {
            *why = "its answer names no valid master address for the slot";
            return -1;
        }
        const char *a = m->element[0]->str;
        *host = xstrdup(a[0] == '\0' || strcmp(a, "?") == 0 ? seed_host : a);
        *port = (int)m->element[1]->integer;
        return 0;
    }
    *why = "no master serves the deployment's slot (the cluster is not "
           "fully set up, or is down)";
    return -1;
}

int
sentinel_moved(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
           (strncmp(r->str, "MOVED ", 6) == 0 ||
            strncmp(r->str, "ASK ", 4) == 0 ||
            strncmp(r->str, "CLUSTERDOWN", 11) == 0);
}
