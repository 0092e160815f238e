/* SPDX-License-Identifier: MIT */
/* Round robin over the shards, from a random start (shard.h). */
#include "shard.h"

#include "token.h"

void
shard_rr_init(struct shard_rr *rr, int n)
{
    unsigned char b[2];

    rr->n = n > 1 ? n : 1;
    rr->next = 0;
    if (rr->n > 1) {
        token_bytes(b, sizeof(b));
        rr->next = ((b[0] << 8) | b[1]) % rr->n;
    }
}

int
shard_rr_next(struct shard_rr *rr)
{
    int s = rr->next;
    rr->next = (rr->next + 1) % rr->n;
    return s;
}
