/* SPDX-License-Identifier: MIT */
/* The worker's checks of a built-in task's arguments, before sending. */
#include "validate.h"

#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "hash.h"
#include "hashtask.h"

/* The source members a worker takes out of "args" before the task's own
 * checks (PROTOCOL.md, "Sources"). */
static const char *const validate_parent_sources[] = {
    BUILD_F_URL, BUILD_F_PATH, "upload", NULL,
};

static int
validate_hash(const json_t *args, int check_data, struct proto_error *err)
{
    int nsrc = 0, inline_src = 0;
    for (size_t i = 0; validate_parent_sources[i] != NULL; i++)
        nsrc += json_object_get(args, validate_parent_sources[i]) != NULL;
    inline_src = json_object_get(args, BUILD_F_DATA) != NULL ||
                 json_object_get(args, BUILD_F_DATA_B64) != NULL;
    if (nsrc + inline_src == 0)
        return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                               "task 'hash' needs its bytes from exactly "
                               "one source: 'data' (a string), 'data_b64' "
                               "(base64), 'url' or 'path'");
    if (nsrc + inline_src > 1 ||
        (json_object_get(args, BUILD_F_DATA) != NULL &&
         json_object_get(args, BUILD_F_DATA_B64) != NULL))
        return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                               "give exactly one of 'data', 'data_b64', "
                               "'url' and 'path'");
    if (inline_src && check_data) {
        const unsigned char *data;
        size_t len;
        unsigned char *owned = NULL;
        int present;
        int rc = hashtask_inline(args, &data, &len, &owned, &present, err);
        free(owned);
        if (rc < 0)
            return -1;
    }
    /* The task's own arguments, without the source members. */
    json_t *own = json_copy((json_t *)args);
    const char *const drop[] = {BUILD_F_DATA,  BUILD_F_DATA_B64,
                                BUILD_F_URL,   BUILD_F_PATH,
                                "upload",      "upload_bytes",
                                BUILD_F_ACCEPT_STATUS, NULL};
    for (size_t i = 0; drop[i] != NULL; i++)
        json_object_del(own, drop[i]);
    struct hashtask t;
    int rc = hashtask_decode_params(own, &t, err);
    if (rc == 0) {
        rc = hash_known(t.algorithm, err);
        hashtask_clear(&t);
    }
    json_decref(own);
    return rc;
}

int
validate_task(const char *task, const json_t *args, int check_data,
              struct proto_error *err)
{
    json_t *empty = NULL;
    int rc = 0;
    if (args == NULL)
        args = empty = json_object();
    if (strcmp(task, "hash") == 0)
        rc = validate_hash(args, check_data, err);
    json_decref(empty);
    return rc;
}
