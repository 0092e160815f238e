/* SPDX-License-Identifier: MIT */
/* The local copy of revoked task ids and the check of a message. */
#include "revoked.h"

#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "taskscan.h"
#include "version.h"
#include "xmalloc.h"

void
revoked_init(struct revoked *r)
{
    r->ids = NULL;
    r->n = 0;
}

void
revoked_clear(struct revoked *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->ids[i]);
    free(r->ids);
    revoked_init(r);
}

static int
revoked_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t
revoked_load(struct revoked *r, const char *const *ids, const size_t *lens,
             size_t n)
{
    struct revoked old = *r;
    revoked_init(r);
    if (n > REVOKED_MAX)
        n = REVOKED_MAX;
    size_t added = 0;
    if (n > 0) {
        r->ids = xmalloc(n * sizeof(*r->ids));
        for (size_t i = 0; i < n; i++) {
            if (lens[i] == 0 || lens[i] > PROTOCOL_MAX_NAME ||
                memchr(ids[i], '\0', lens[i]) != NULL)
                continue;
            r->ids[r->n++] = xstrndup(ids[i], lens[i]);
        }
        qsort(r->ids, r->n, sizeof(*r->ids), revoked_cmp);
        /* Both sorted: one merge pass counts the ids the old copy lacked
         * (a duplicate in the new one counts once). */
        size_t j = 0;
        for (size_t i = 0; i < r->n; i++) {
            if (i > 0 && strcmp(r->ids[i - 1], r->ids[i]) == 0)
                continue;
            int c = 1;
            while (j < old.n && (c = strcmp(old.ids[j], r->ids[i])) < 0)
                j++;
            if (j >= old.n || c != 0)
                added++;
        }
    }
    revoked_clear(&old);
    return added;
}

int
revoked_has(const struct revoked *r, const char *id)
{
    if (r->n == 0 || id == NULL)
        return 0;
    return bsearch(&id, r->ids, r->n, sizeof(*r->ids), revoked_cmp) != NULL;
}

int
revoked_message(const struct revoked *r, const char *msg, size_t len,
                const char *queue, const char *entry_id)
{
    if (r->n == 0)
        return 0;
    if (msg != NULL) {
        char task[PROTOCOL_MAX_NAME + 1], id[PROTOCOL_MAX_NAME + 1];
        taskscan_message(msg, len, task, id, sizeof(id));
        if (id[0] != '\0')
            return revoked_has(r, id);
    }
    char tid[KEYS_MAX];
    if (keys_task_id(tid, sizeof(tid), queue, entry_id) < 0)
        return 0;
    return revoked_has(r, tid);
}
