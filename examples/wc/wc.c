/* SPDX-License-Identifier: MIT */
/*
 * An example celeriac task plug-in: "wc" counts the bytes, lines and words
 * of its byte stream, like wc(1).  Its one argument, "separators" (a
 * string of at most 32 ASCII characters; default " \t\n\r\v\f"), lists the
 * bytes that end a word.
 *
 *   make && celeriac-worker --load ./wc.so
 *   celeriac send wc '{"data": "two words\n"}'
 *   -> "result": {"bytes": 10, "lines": 1, "words": 2}
 *
 * Words may straddle chunks: the state remembers whether the last byte of
 * the previous chunk was inside a word.
 */
#include <celeriac/task.h>
#include <stdlib.h>
#include <string.h>

#define WC_DEFAULT_SEPARATORS " \t\n\r\v\f"
#define WC_MAX_SEPARATORS 32

struct wc_run {
    unsigned long long bytes, lines, words;
    int in_word;
    unsigned char sep[256]; /* 1 for a byte that ends a word */
};

/* The separators argument, or the default; NULL with *err when bad. */
static const char *
wc_separators(const json_t *args, struct celeriac_error *err)
{
    const json_t *s = json_object_get(args, "separators");
    if (s == NULL)
        return WC_DEFAULT_SEPARATORS;
    if (!json_is_string(s) || json_string_length(s) == 0 ||
        json_string_length(s) > WC_MAX_SEPARATORS) {
        celeriac_error_set(err, "InvalidArgument",
                           "argument 'separators' must be a string of 1 to "
                           "%d characters, such as \" ,;\"",
                           WC_MAX_SEPARATORS);
        return NULL;
    }
    for (const char *p = json_string_value(s); *p; p++)
        if ((unsigned char)*p > 127) {
            celeriac_error_set(err, "InvalidArgument",
                               "argument 'separators' must be ASCII "
                               "characters only");
            return NULL;
        }
    return json_string_value(s);
}

static int
wc_validate(const json_t *args, struct celeriac_error *err)
{
    return wc_separators(args, err) ? 0 : -1;
}

static void *
wc_init(const json_t *args, struct celeriac_error *err)
{
    const char *sep = wc_separators(args, err);
    if (sep == NULL)
        return NULL;
    struct wc_run *run = calloc(1, sizeof(*run));
    if (run == NULL) {
        celeriac_error_set(err, "InternalError", "out of memory");
        return NULL;
    }
    for (; *sep; sep++)
        run->sep[(unsigned char)*sep] = 1;
    return run;
}

static int
wc_update(void *state, const unsigned char *chunk, size_t len,
          struct celeriac_error *err)
{
    struct wc_run *run = state;
    (void)err;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = chunk[i];
        run->lines += c == '\n';
        if (run->sep[c] || c == '\n') {
            run->in_word = 0;
        } else if (!run->in_word) {
            run->in_word = 1;
            run->words++;
        }
    }
    run->bytes += len;
    return 0;
}

static json_t *
wc_final(void *state, struct celeriac_error *err)
{
    struct wc_run *run = state;
    json_t *v = json_pack("{s:I, s:I, s:I}", "bytes", (json_int_t)run->bytes,
                          "lines", (json_int_t)run->lines, "words",
                          (json_int_t)run->words);
    if (v == NULL)
        celeriac_error_set(err, "InternalError", "out of memory");
    return v;
}

static const struct celeriac_task wc_task = {
    .api_version = CELERIAC_TASK_API_VERSION,
    .name = "wc",
    .summary = "bytes, lines and words of the source, like wc(1)",
    .input = CELERIAC_INPUT_BYTES,
    .validate = wc_validate,
    .init = wc_init,
    .update = wc_update,
    .final = wc_final,
    .free = free,
};

/* The plug-in's entry point (CELERIAC_PLUGIN_INIT_SYMBOL). */
int celeriac_plugin_init(unsigned api_version, celeriac_register_fn reg,
                         void *ctx);

int
celeriac_plugin_init(unsigned api_version, celeriac_register_fn reg,
                     void *ctx)
{
    if (api_version != CELERIAC_TASK_API_VERSION)
        return -1;
    return reg(ctx, &wc_task);
}
