/* SPDX-License-Identifier: MIT */
/* The entries this worker finished last; see recent.h. */
#include "recent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

void
recent_init(struct recent *r, size_t cap)
{
    r->cap = cap > 0 ? cap : 1;
    r->head = 0;
    r->n = 0;
    r->queue = xcalloc(r->cap, sizeof(*r->queue));
    r->id = xcalloc(r->cap, sizeof(*r->id));
}

void
recent_free(struct recent *r)
{
    free(r->queue);
    free(r->id);
    r->queue = NULL;
    r->id = NULL;
    r->cap = r->n = r->head = 0;
}

void
recent_add(struct recent *r, int queue, const char *id)
{
    if (r->cap == 0 || id == NULL)
        return;
    r->queue[r->head] = queue;
    snprintf(r->id[r->head], sizeof(r->id[r->head]), "%s", id);
    r->head = (r->head + 1) % r->cap;
    if (r->n < r->cap)
        r->n++;
}

int
recent_has(const struct recent *r, int queue, const char *id)
{
    if (id == NULL)
        return 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->queue[i] == queue && strcmp(r->id[i], id) == 0)
            return 1;
    return 0;
}
