/* SPDX-License-Identifier: MIT */
/* Which queue a worker reads next; see priority.h. */
#include "priority.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

int
priority_parse(struct priority *p, const char *spec, char *const *queues,
               int nqueues, char *why, size_t n)
{
    memset(p, 0, sizeof(*p));
    p->n = nqueues;
    if (spec == NULL)
        return 0;
    p->weight = xcalloc((size_t)nqueues, sizeof(*p->weight));
    p->vt = xcalloc((size_t)nqueues, sizeof(*p->vt));
    p->empty = xcalloc((size_t)nqueues, 1);
    for (int i = 0; i < nqueues; i++)
        p->weight[i] = 1;
    if (strcmp(spec, "strict") == 0) {
        p->mode = PRIORITY_STRICT;
        return 0;
    }
    p->mode = PRIORITY_WEIGHTED;
    char *copy = xstrdup(spec), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(tok, ':'), *end;
        long w = colon ? strtol(colon + 1, &end, 10) : 0;
        if (colon == NULL || end == colon + 1 || *end != '\0' || w < 1 ||
            w > PRIORITY_WEIGHT_MAX) {
            snprintf(why, n, "'%s': expected \"strict\" or QUEUE:WEIGHT,... "
                             "with weights from 1 to %d", spec,
                     PRIORITY_WEIGHT_MAX);
            goto bad;
        }
        *colon = '\0';
        int q = -1;
        for (int i = 0; i < nqueues; i++)
            if (strcmp(queues[i], tok) == 0)
                q = i;
        if (q < 0) {
            snprintf(why, n, "'%s': queue '%s' is not one of --queues", spec,
                     tok);
            goto bad;
        }
        p->weight[q] = (unsigned)w;
    }
    free(copy);
    return 0;
bad:
    free(copy);
    priority_free(p);
    return -1;
}

void
priority_free(struct priority *p)
{
    free(p->weight);
    free(p->vt);
    free(p->empty);
    memset(p, 0, sizeof(*p));
}

int
priority_next(struct priority *p)
{
    if (p->mode == PRIORITY_STRICT) {
        for (int i = 0; i < p->n; i++)
            if (!p->empty[i])
                return i;
        return -1;
    }
    /* The queue behind its share most, among those not found empty. */
    int best = -1;
    for (int i = 0; i < p->n; i++)
        if (!p->empty[i] && (best < 0 || p->vt[i] < p->vt[best]))
            best = i;
    return best;
}

void
priority_result(struct priority *p, int q, unsigned long got)
{
    if (q < 0 || q >= p->n)
        return;
    if (got == 0) {
        p->empty[q] = 1;
        /* An empty queue banks no share for later: it comes back level
         * with the least-served of the others, not ahead of them. */
        if (p->mode == PRIORITY_WEIGHTED) {
            double least = -1;
            for (int i = 0; i < p->n; i++)
                if (!p->empty[i] && (least < 0 || p->vt[i] < least))
                    least = p->vt[i];
            if (least > p->vt[q])
                p->vt[q] = least;
        }
        return;
    }
    if (p->mode == PRIORITY_WEIGHTED)
        p->vt[q] += (double)got / p->weight[q];
    memset(p->empty, 0, (size_t)p->n);
}

void
priority_reset(struct priority *p)
{
    if (p->empty != NULL)
        memset(p->empty, 0, (size_t)p->n);
    /* Every queue was empty: nobody is behind. */
    for (int i = 0; p->vt != NULL && i < p->n; i++)
        p->vt[i] = 0;
}
