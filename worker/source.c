/* SPDX-License-Identifier: MIT */
/* The parent's look at a message's source; see source.h. */
#include "source.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "message.h"
#include "registry.h"
#include "xmalloc.h"

int
source_maybe(const char *msg, size_t len)
{
    if (msg == NULL || len > SOURCE_DECODE_MAX)
        return 0;
    static const char *const keys[] = {"\"url\"", "\"path\"", "\"upload\""};
    return message_mentions_any(msg, len, keys, 3) != 0;
}

void
source_url_host(const char *url, char *out, size_t outlen)
{
    out[0] = '\0';
    const char *p = strstr(url, "://");
    if (p == NULL || outlen == 0)
        return;
    p += 3;
    size_t end = strcspn(p, "/?#");
    const char *at = memchr(p, '@', end); /* user info: refused later */
    if (at != NULL) {
        end -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    size_t n;
    if (end > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', end);
        if (close == NULL)
            return;
        p++;
        n = (size_t)(close - p);
    } else {
        const char *colon = memchr(p, ':', end);
        n = colon != NULL ? (size_t)(colon - p) : end;
    }
    if (n == 0 || n >= outlen || n > SOURCE_HOST_MAX)
        return;
    for (size_t i = 0; i < n; i++) {
        char c = (char)tolower((unsigned char)p[i]);
        if (!(isdigit((unsigned char)c) || (c >= 'a' && c <= 'z') ||
              c == '.' || c == ':' || c == '-')) {
            out[0] = '\0';
            return;
        }
        out[i] = c;
    }
    out[n] = '\0';
}

int
source_parse(const char *msg, size_t len, struct source *src,
             struct proto_error *err)
{
    struct message m = MESSAGE_INIT;
    struct proto_error derr;
    int rc = 0;

    memset(src, 0, sizeof(*src));
    if (message_decode(msg, len, &m, &derr) < 0) {
        message_clear(&m); /* the child says what is wrong */
        return 0;
    }
    static const char *const names[] = {"data", "data_b64", "url", "path",
                                        "upload"};
    const char *named[5];
    int n = 0;
    for (int i = 0; i < 5; i++)
        if (json_object_get(m.args, names[i]) != NULL)
            named[n++] = names[i];
    json_t *url = json_object_get(m.args, "url");
    json_t *path = json_object_get(m.args, "path");
    json_t *acc = json_object_get(m.args, "accept_status");
    json_t *upload = json_object_get(m.args, "upload");
    json_t *ubytes = json_object_get(m.args, "upload_bytes");
    if (url == NULL && path == NULL && upload == NULL)
        goto out;
    if (n > 1) {
        rc = proto_error_set(err, ERROR_INVALID_ARGUMENT,
                             "the arguments name two sources, '%s' and "
                             "'%s'; give exactly one of data, data_b64, "
                             "url, path and upload",
                             named[0], named[1]);
        goto out;
    }
    if (url != NULL) {
        if (!json_is_string(url)) {
            rc = proto_error_set(err, ERROR_INVALID_ARGUMENT,
                                 "'url' must be a string such as "
                                 "\"https://example.com/file\"");
            goto out;
        }
        if (acc != NULL && !(json_is_string(acc) &&
                             strcmp(json_string_value(acc), "any") == 0)) {
            rc = proto_error_set(err, ERROR_INVALID_ARGUMENT,
                                 "'accept_status' may only be \"any\" (hash "
                                 "the body whatever the HTTP status); leave "
                                 "it out to fail on a status outside 2xx");
            goto out;
        }
        src->kind = SOURCE_URL;
        src->url = xstrdup(json_string_value(url));
        src->accept_any = acc != NULL;
        source_url_host(src->url, src->host, sizeof(src->host));
    } else if (upload != NULL) {
        if (!json_is_string(upload) || !json_is_integer(ubytes) ||
            json_integer_value(ubytes) < 0) {
            rc = proto_error_set(err, ERROR_INVALID_ARGUMENT,
                                 "'upload' must be a string naming the "
                                 "upload stream and 'upload_bytes' a whole "
                                 "number, the file's size (celeriac hash "
                                 "FILE writes both)");
            goto out;
        }
        src->kind = SOURCE_UPLOAD;
        src->path = xstrdup(json_string_value(upload));
        src->upload_bytes = (unsigned long long)json_integer_value(ubytes);
    } else {
        if (!json_is_string(path)) {
            rc = proto_error_set(err, ERROR_INVALID_ARGUMENT,
                                 "'path' must be a string naming a file "
                                 "under the worker's --files-root");
            goto out;
        }
        src->kind = SOURCE_PATH;
        src->path = xstrdup(json_string_value(path));
    }
    /* A url or upload task's arguments are checked before anything is
     * fetched. */
    if (src->kind == SOURCE_URL || src->kind == SOURCE_UPLOAD) {
        const struct celeriac_task *task = registry_find(m.task);
        char runs[512];
        if (task == NULL) {
            registry_names(runs, sizeof(runs));
            rc = proto_error_set(err, ERROR_UNKNOWN_TASK,
                                 "unknown task '%.64s'; this worker runs: "
                                 "%.400s",
                                 m.task, runs);
            goto out;
        }
        if (task->input != CELERIAC_INPUT_BYTES) {
            rc = proto_error_set(err, ERROR_INVALID_ARGUMENT,
                                 "task '%.64s' takes no bytes, so it cannot "
                                 "have a '%s'; leave the source out",
                                 m.task,
                                 src->kind == SOURCE_URL ? "url" : "upload");
            goto out;
        }
        if (task->validate != NULL) {
            struct celeriac_error cerr = {"", ""};
            json_t *args = json_copy(m.args);
            json_object_del(args, "url");
            json_object_del(args, "accept_status");
            json_object_del(args, "upload");
            json_object_del(args, "upload_bytes");
            int bad = task->validate(args, &cerr);
            json_decref(args);
            if (bad) {
                rc = proto_error_set(err,
                                     cerr.type[0] ? cerr.type
                                                  : ERROR_INVALID_ARGUMENT,
                                     "%s", cerr.message);
                goto out;
            }
        }
    }
out:
    message_clear(&m);
    if (rc < 0)
        source_clear(src);
    return rc;
}

void
source_clear(struct source *src)
{
    free(src->url);
    free(src->path);
    memset(src, 0, sizeof(*src));
}
