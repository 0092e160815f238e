/* SPDX-License-Identifier: MIT */
/*
 * The built-in "hash" task through the public task interface: a digest or
 * HMAC (hash.h) over the bytes of the message's source, with its own
 * arguments (protocol/hashtask.h: algorithm, hmac_key[_b64], iterations)
 * and the result {"algorithm", "digest", "bytes"}.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hash.h"
#include "hashtask.h"
#include "registry.h"

/* One run. */
struct task_hash_run {
    struct hash_stream *hs; /* owned */
    unsigned long iterations;
    size_t bytes; /* seen so far (size_t: a path has no size limit) */
    char algorithm[65];
};

static int task_hash_validate(const json_t *args, struct celeriac_error *err);
static void *task_hash_init(const json_t *args, struct celeriac_error *err);
static int task_hash_update(void *state, const unsigned char *chunk,
                            size_t len, struct celeriac_error *err);
static json_t *task_hash_final(void *state, struct celeriac_error *err);
static void task_hash_free(void *state);
static void task_hash_error(struct celeriac_error *out,
                            const struct proto_error *in);

const struct celeriac_task task_hash = {
    .api_version = CELERIAC_TASK_API_VERSION,
    .name = HASHTASK_NAME,
    .summary = "digest or HMAC of the source's bytes with an OpenSSL "
               "algorithm (default sha512)",
    .input = CELERIAC_INPUT_BYTES,
    .validate = task_hash_validate,
    .init = task_hash_init,
    .update = task_hash_update,
    .final = task_hash_final,
    .free = task_hash_free,
};

static void
task_hash_error(struct celeriac_error *out, const struct proto_error *in)
{
    snprintf(out->type, sizeof(out->type), "%s", in->type);
    snprintf(out->message, sizeof(out->message), "%s", in->message);
}

static int
task_hash_validate(const json_t *args, struct celeriac_error *err)
{
    struct hashtask t;
    struct proto_error pe;
    if (hashtask_decode_params(args, &t, &pe) < 0) {
        task_hash_error(err, &pe);
        return -1;
    }
    /* The parent validates a url task before it fetches: an unknown
     * algorithm must not cost a download. */
    int rc = hash_known(t.algorithm, &pe);
    if (rc < 0)
        task_hash_error(err, &pe);
    hashtask_clear(&t);
    return rc;
}

static void *
task_hash_init(const json_t *args, struct celeriac_error *err)
{
    struct hashtask t;
    struct proto_error pe;
    if (hashtask_decode_params(args, &t, &pe) < 0) {
        task_hash_error(err, &pe);
        return NULL;
    }
    struct task_hash_run *run = calloc(1, sizeof(*run));
    if (run == NULL) {
        hashtask_clear(&t);
        celeriac_error_set(err, ERROR_INTERNAL, "out of memory");
        return NULL;
    }
    run->hs = hash_stream_new(t.algorithm, t.key, t.key_len, &pe);
    run->iterations = t.iterations;
    snprintf(run->algorithm, sizeof(run->algorithm), "%s", t.algorithm);
    hashtask_clear(&t);
    if (run->hs == NULL) {
        task_hash_error(err, &pe);
        free(run);
        return NULL;
    }
    return run;
}

static int
task_hash_update(void *state, const unsigned char *chunk, size_t len,
                 struct celeriac_error *err)
{
    struct task_hash_run *run = state;
    struct proto_error pe;
    if (hash_stream_update(run->hs, chunk, len, &pe) < 0) {
        task_hash_error(err, &pe);
        return -1;
    }
    run->bytes += len;
    return 0;
}

static json_t *
task_hash_final(void *state, struct celeriac_error *err)
{
    struct task_hash_run *run = state;
    struct proto_error pe;
    unsigned char digest[HASH_MAX_DIGEST];
    char hex[2 * HASH_MAX_DIGEST + 1];
    unsigned n;
    if (hash_stream_final(run->hs, run->iterations, digest, &n, &pe) < 0) {
        task_hash_error(err, &pe);
        return NULL;
    }
    hash_hex(hex, digest, n);
    /* Built by hand, not json_pack: this runs for every task, and both
     * strings are ASCII already checked (the name by hashtask). */
    json_t *v = json_object();
    if (v == NULL ||
        json_object_set_new_nocheck(v, "algorithm",
                                    json_string_nocheck(run->algorithm)) ||
        json_object_set_new_nocheck(v, "digest", json_string_nocheck(hex)) ||
        json_object_set_new_nocheck(v, "bytes",
                                    json_integer((json_int_t)run->bytes))) {
        json_decref(v);
        celeriac_error_set(err, ERROR_INTERNAL, "out of memory");
        return NULL;
    }
    return v;
}

static void
task_hash_free(void *state)
{
    struct task_hash_run *run = state;
    hash_stream_free(run->hs);
    free(run);
}
