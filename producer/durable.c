/* SPDX-License-Identifier: MIT */
/* Waiting for replicas after sending (send --durable); see durable.h. */
#include "durable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
durable_parse(const char *arg)
{
    if (arg == NULL)
        return 1;
    char *end = NULL;
    long n = strtol(arg, &end, 10);
    if (end == arg || *end != '\0' || n < 1 || n > DURABLE_MAX)
        return -1;
    return (int)n;
}

void
durable_append(struct conn *c, int n)
{
    char nb[16], ms[16];
    snprintf(nb, sizeof(nb), "%d", n);
    snprintf(ms, sizeof(ms), "%d", DURABLE_WAIT_MS);
    const char *argv[] = {"WAIT", nb, ms};
    size_t lens[] = {4, strlen(nb), strlen(ms)};
    conn_append(c, 3, argv, lens);
}

long long
durable_reply(struct conn *c)
{
    redisReply *r = conn_reply(c);
    if (r == NULL)
        return -1;
    if (r->type != REDIS_REPLY_INTEGER) {
        conn_report_error(c, "WAIT (--durable)", r);
        freeReplyObject(r);
        return -1;
    }
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}
