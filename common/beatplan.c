/* SPDX-License-Identifier: MIT */
/* Which ticks of a periodic schedule to fire now; see beatplan.h. */
#include "beatplan.h"

#include <stdlib.h>

#include "xmalloc.h"

/* Appends t to p->ticks, which has room for cap. */
static void
beatplan_add(struct beatplan *p, size_t *cap, int64_t t)
{
    if (p->n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        p->ticks = xrealloc(p->ticks, *cap * sizeof(*p->ticks));
    }
    p->ticks[p->n++] = t;
}

/* The latest max_catchup ticks from `from` to before edge, oldest first. */
static void
beatplan_catchup(const struct cron *c, int max_catchup, int64_t from,
                 int64_t newest, int64_t edge, struct beatplan *p,
                 size_t *cap)
{
    size_t keep = (size_t)max_catchup, head = 0, count = 0;
    int64_t *ring = xmalloc(keep * sizeof(*ring));

    if (c->every > 0 && newest - from > (int64_t)keep * c->every)
        from = newest - ((int64_t)keep - 1) * c->every;
    else if (from < edge - BEATPLAN_LOOKBACK_S)
        from = cron_next(c, edge - BEATPLAN_LOOKBACK_S);
    for (int64_t u = from; u >= 0 && u < edge; u = cron_next(c, u)) {
        ring[(head + count) % keep] = u;
        if (count < keep)
            count++;
        else
            head = (head + 1) % keep;
    }
    for (size_t k = 0; k < count; k++)
        beatplan_add(p, cap, ring[(head + k) % keep]);
    free(ring);
}

void
beatplan_due(const struct cron *c, enum beatplan_misfire m, int max_catchup,
             int64_t grace, int64_t next, int64_t now_s, struct beatplan *p)
{
    size_t cap = 0;
    int64_t t = next;

    p->ticks = NULL;
    p->n = 0;
    p->missed = 0;
    p->edge = now_s - grace;
    p->next = next;
    if (t < 0 || t > now_s)
        return;
    if (t < p->edge) {
        int64_t newest = cron_last(c, p->edge - 1);
        p->missed = 1;
        if (m == BEATPLAN_ONCE && newest >= t)
            beatplan_add(p, &cap, newest);
        else if (m == BEATPLAN_ALL && newest >= t)
            beatplan_catchup(c, max_catchup < 1 ? 1 : max_catchup, t, newest,
                             p->edge, p, &cap);
        t = cron_next(c, p->edge - 1);
    }
    for (; t >= 0 && t <= now_s; t = cron_next(c, t))
        beatplan_add(p, &cap, t);
    p->next = t;
}
