/* SPDX-License-Identifier: MIT */
/*
 * Which ticks of a periodic schedule to fire now (`celeriac beat`): the
 * due ticks no older than a grace time fire, late, in order; older ones
 * are missed and follow a misfire policy.  Pure computation on
 * common/cron.h schedules, so that it can be tested without Redis.
 */
#ifndef CELERIAC_BEATPLAN_H
#define CELERIAC_BEATPLAN_H

#include <stddef.h>
#include <stdint.h>

#include "cron.h"

/* A catch-up looks back at most this far (older ticks are not counted). */
#define BEATPLAN_LOOKBACK_S (400LL * 86400)

/* What happens to ticks missed for longer than the grace time. */
enum beatplan_misfire {
    BEATPLAN_ONCE, /* the latest of them fires, once */
    BEATPLAN_SKIP, /* none fires */
    BEATPLAN_ALL,  /* each fires, the latest max_catchup of them */
};

struct beatplan {
    int64_t *ticks;  /* owned (free()): the ticks to fire, oldest first */
    size_t n;
    int64_t next;    /* the first tick after now; -1: none */
    int missed;      /* 1 if some ticks were older than the grace time */
    int64_t edge;    /* ticks before it were missed (now - grace) */
};

/*
 * Plans the ticks of c from `next` (the first tick not yet handled) up to
 * now_s (Unix seconds, inclusive), with the policy m, keeping at most
 * max_catchup (>= 1) missed ticks for BEATPLAN_ALL and treating ticks
 * older than grace seconds as missed.  Fills *p (p->ticks empty when
 * nothing is due).
 */
void beatplan_due(const struct cron *c, enum beatplan_misfire m,
                  int max_catchup, int64_t grace, int64_t next, int64_t now_s,
                  struct beatplan *p);

#endif
