/* SPDX-License-Identifier: MIT */
/*
 * Differential libFuzzer target for message_load() (protocol/message.c):
 * its fast path for large messages (the splice of the longest string) must
 * give the same answer as json_loadb(..., JSON_REJECT_DUPLICATES) on every
 * input: both refuse it, or both accept it with trees that json_equal()
 * calls equal.
 *
 * The fast path only starts at MESSAGE_SPLICE_MIN bytes, which random
 * mutation rarely reaches, so the input is expanded first: each '@'
 * followed by a digit d (at most FUZZ_RUNS of them) becomes a run of
 * 4090 + 3 * d letters 'a', which straddles the 4096-byte threshold.  A
 * seed like {"@9":1,"data":"\u0001..."} is then a message whose longest
 * string is a key.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

/* Stops the run with the reason; libFuzzer keeps the input as a crash. */
#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__,   \
                    #cond);                                                    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

#define FUZZ_RUNS 16
#define FUZZ_RUN_BASE 4090
#define FUZZ_RUN_STEP 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *fuzz_expand(const uint8_t *data, size_t size, size_t *len);

/* Returns the input with its runs expanded (owned), its length in *len. */
static char *
fuzz_expand(const uint8_t *data, size_t size, size_t *len)
{
    size_t runs = 0, n = 0;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '@' && i + 1 < size && data[i + 1] >= '0' &&
            data[i + 1] <= '9' && runs < FUZZ_RUNS) {
            runs++;
            n += FUZZ_RUN_BASE + FUZZ_RUN_STEP * (size_t)(data[i + 1] - '0');
            i++;
        } else {
            n++;
        }
    }
    char *out = malloc(n ? n : 1), *p = out;
    if (out == NULL)
        abort();
    runs = 0;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '@' && i + 1 < size && data[i + 1] >= '0' &&
            data[i + 1] <= '9' && runs < FUZZ_RUNS) {
            size_t k = FUZZ_RUN_BASE +
                       FUZZ_RUN_STEP * (size_t)(data[i + 1] - '0');
            runs++;
            memset(p, 'a', k);
            p += k;
            i++;
        } else {
            *p++ = (char)data[i];
        }
    }
    *len = n;
    return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len;
    char *text = fuzz_expand(data, size, &len);
    json_error_t e1, e2;
    json_t *fast = message_load(text, len, &e1);
    json_t *ref = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e2);

    FUZZ_CHECK((fast == NULL) == (ref == NULL),
               "message_load %s, json_loadb %s (%s)",
               fast ? "accepts" : "refuses", ref ? "accepts" : "refuses",
               ref ? "" : e2.text);
    if (fast != NULL) {
        FUZZ_CHECK(json_equal(fast, ref), "the trees differ (%zu bytes)",
                   len);
    } else {
        /* The same error, at the same place: the fast path re-parses. */
        FUZZ_CHECK(strcmp(e1.text, e2.text) == 0 && e1.line == e2.line &&
                       e1.column == e2.column && e1.position == e2.position,
                   "errors differ: '%s' at %d:%d vs '%s' at %d:%d", e1.text,
                   e1.line, e1.column, e2.text, e2.line, e2.column);
    }
    /* message_mentions() is memmem() for needles that end in a quote. */
    static const char *const needles[] = {"_limit\"", "\"unique_for\"",
                                          "\"url\"", "\"", "a\""};
    for (size_t k = 0; k < sizeof(needles) / sizeof(*needles); k++) {
        size_t nlen = strlen(needles[k]);
        int want = len >= nlen && memmem(text, len, needles[k], nlen) != NULL;
        FUZZ_CHECK(message_mentions(text, len, needles[k], nlen) == want,
                   "message_mentions(%s) says %d, memmem %d", needles[k], !want,
                   want);
    }
    json_decref(fast);
    json_decref(ref);
    free(text);
    return 0;
}
