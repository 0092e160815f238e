/* SPDX-License-Identifier: MIT */
/* Releasing the locks of finished unique tasks; see unique_release.h. */
#include "unique_release.h"

#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "scripts.h"
#include "unique.h"
#include "xmalloc.h"

static void
unique_release_cb(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;
    (void)ac;
    (void)priv;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_warnx("releasing the locks of unique tasks failed: %s; they "
                  "end with their unique_for",
                  reply->str);
}

void
unique_release_batch(struct broker *b, const struct slot_list *list)
{
    char rprefix[KEYS_MAX];
    const struct slot *s;
    size_t n = 0, argc = 3;

    if (keys_result(rprefix, sizeof(rprefix), b->prefix, "") < 0)
        return;
    size_t plen = strlen(rprefix);
    TAILQ_FOREACH(s, list, entry)
        n++;
    if (n == 0)
        return;
    /* EVAL script 0, then two arguments per lock. */
    const char **argv = xcalloc(3 + 2 * n, sizeof(char *));
    char (*locks)[KEYS_MAX] = xcalloc(n, KEYS_MAX);
    size_t k = 0;
    TAILQ_FOREACH(s, list, entry)
    {
        if (!(s->mentions & SLOT_MENTIONS_UNIQUE) || s->res_mode == NULL ||
            s->res_mode[0] == SCRIPTS_RETRY[0] ||
            strncmp(s->res_key, rprefix, plen) != 0)
            continue;
        if (unique_lock_of(s->msg, s->msg_len, b->prefix, locks[k],
                           KEYS_MAX) != 1)
            continue;
        argv[argc++] = locks[k++];
        argv[argc++] = s->res_key + plen; /* the task id */
    }
    if (k > 0) {
        argv[0] = "EVAL";
        argv[1] = scripts_unique_release;
        argv[2] = "0";
        broker_call(b, (int)argc, argv, NULL, unique_release_cb, NULL);
    }
    free(locks);
    free(argv);
}
