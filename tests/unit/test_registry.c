/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of worker/registry.c and the built-in hash task through the
 * public interface (task_hash.c): what registration refuses and why, look
 * up, the list of names, loading a missing plug-in, and the streamed hash
 * (any chunking, HMAC, iterations) against the one-shot hash_compute().
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "registry.h"

static void *
t_init(const json_t *a, struct celeriac_error *e)
{
    (void)a;
    (void)e;
    return malloc(1);
}

static json_t *
t_final(void *s, struct celeriac_error *e)
{
    (void)s;
    (void)e;
    return json_true();
}

static int
t_update(void *s, const unsigned char *p, size_t n, struct celeriac_error *e)
{
    (void)s;
    (void)p;
    (void)n;
    (void)e;
    return 0;
}

static struct celeriac_task
good(const char *name)
{
    struct celeriac_task t = {
        .api_version = CELERIAC_TASK_API_VERSION,
        .name = name,
        .input = CELERIAC_INPUT_BYTES,
        .init = t_init,
        .update = t_update,
        .final = t_final,
        .free = free,
    };
    return t;
}

/* registry_add refuses t with a reason mentioning word. */
static void
refused(const struct celeriac_task *t, const char *word)
{
    char why[512];
    assert_int_equal(registry_add(t, why, sizeof(why)), -1);
    if (strstr(why, word) == NULL)
        fail_msg("'%s' does not mention '%s'", why, word);
}

static void
test_builtin_hash(void **state)
{
    (void)state;
    const struct celeriac_task *t = registry_find("hash");
    assert_non_null(t);
    assert_int_equal(t->input, CELERIAC_INPUT_BYTES);
    assert_null(registry_find("nope"));
    assert_null(registry_find(""));
}

static void
test_refusals(void **state)
{
    (void)state;
    struct celeriac_task t = good("x.ok");
    t.api_version = 2;
    refused(&t, "version 2");
    t = good("bad name");
    refused(&t, "[A-Za-z0-9_.:-]");
    t = good("");
    refused(&t, "1 to 64");
    t = good("a1234567890123456789012345678901234567890123456789012345678901234");
    refused(&t, "1 to 64");
    t = good("noinit");
    t.init = NULL;
    refused(&t, "no init");
    t = good("nofinal");
    t.final = NULL;
    refused(&t, "no final");
    t = good("nofree");
    t.free = NULL;
    refused(&t, "no free");
    t = good("noupdate");
    t.update = NULL;
    refused(&t, "no update");
    t = good("badinput");
    t.input = (enum celeriac_task_input)7;
    refused(&t, "input kind");
    t = good("hash");
    refused(&t, "already registered");
    refused(NULL, "NULL");
}

static void
test_add_and_names(void **state)
{
    (void)state;
    char why[256], names[256];
    struct celeriac_task t = good("my.task-1:x");
    assert_int_equal(registry_add(&t, why, sizeof(why)), 0);
    /* A task without input needs no update. */
    struct celeriac_task n = good("noinput");
    n.input = CELERIAC_INPUT_NONE;
    n.update = NULL;
    assert_int_equal(registry_add(&n, why, sizeof(why)), 0);
    assert_non_null(registry_find("my.task-1:x"));
    refused(&t, "already registered");
    registry_names(names, sizeof(names));
    assert_string_equal(names, "hash, my.task-1:x, noinput");
    /* Truncated safely. */
    registry_names(names, 6);
    assert_string_equal(names, "hash,");
}

static void
test_load_missing(void **state)
{
    (void)state;
    char *err = NULL;
    assert_int_equal(registry_load("/nonexistent/celeriac-x.so", &err), -1);
    assert_non_null(err);
    assert_non_null(strstr(err, "/nonexistent/celeriac-x.so"));
    assert_non_null(strstr(err, "No such file"));
    free(err);
}

/* Runs the registered hash task over data in chunks of step bytes. */
static json_t *
run_hash(const char *args_json, const unsigned char *data, size_t len,
         size_t step)
{
    const struct celeriac_task *t = registry_find("hash");
    struct celeriac_error err;
    json_t *args = json_loads(args_json, 0, NULL);
    assert_non_null(args);
    assert_int_equal(t->validate(args, &err), 0);
    void *st = t->init(args, &err);
    assert_non_null(st);
    for (size_t off = 0; off < len; off += step)
        assert_int_equal(
            t->update(st, data + off, len - off < step ? len - off : step,
                      &err),
            0);
    json_t *v = t->final(st, &err);
    t->free(st);
    json_decref(args);
    assert_non_null(v);
    return v;
}

static void
test_hash_streamed_equals_one_shot(void **state)
{
    (void)state;
    static const struct {
        const char *args, *alg, *key;
        unsigned long it;
    } cases[] = {
        {"{}", "sha512", NULL, 1},
        {"{\"algorithm\":\"sha256\",\"iterations\":3}", "sha256", NULL, 3},
        {"{\"algorithm\":\"sha3-256\",\"hmac_key\":\"k3y\"}", "sha3-256",
         "k3y", 1},
        {"{\"hmac_key\":\"\",\"iterations\":5}", "sha512", "", 5},
    };
    static const size_t steps[] = {1, 7, 4096, 100000};
    size_t len = 70001;
    unsigned char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 251 + 7);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        unsigned char d[HASH_MAX_DIGEST];
        char want[2 * HASH_MAX_DIGEST + 1];
        unsigned n;
        struct proto_error pe;
        const char *key = cases[c].key;
        assert_int_equal(hash_compute(cases[c].alg, data, len,
                                      (const unsigned char *)key,
                                      key ? strlen(key) : 0, cases[c].it, d,
                                      &n, &pe),
                         0);
        hash_hex(want, d, n);
        for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
            json_t *v = run_hash(cases[c].args, data, len, steps[s]);
            assert_string_equal(
                json_string_value(json_object_get(v, "digest")), want);
            assert_string_equal(
                json_string_value(json_object_get(v, "algorithm")),
                cases[c].alg);
            assert_int_equal(json_integer_value(json_object_get(v, "bytes")),
                             len);
            json_decref(v);
        }
    }
    free(data);
    hash_cleanup();
}

static void
test_hash_refuses(void **state)
{
    (void)state;
    const struct celeriac_task *t = registry_find("hash");
    struct celeriac_error err;
    json_t *args = json_loads("{\"iterations\":0}", 0, NULL);
    assert_int_equal(t->validate(args, &err), -1);
    assert_string_equal(err.type, "InvalidArgument");
    json_decref(args);
    args = json_loads("{\"algorithm\":\"sha999\"}", 0, NULL);
    /* Refused by validate (the parent's check before a fetch) and by
     * init alike. */
    assert_int_equal(t->validate(args, &err), -1);
    assert_string_equal(err.type, "UnknownAlgorithm");
    assert_null(t->init(args, &err));
    assert_string_equal(err.type, "UnknownAlgorithm");
    assert_non_null(strstr(err.message, "sha999"));
    json_decref(args);
    hash_cleanup();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_hash),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_add_and_names),
        cmocka_unit_test(test_load_missing),
        cmocka_unit_test(test_hash_streamed_equals_one_shot),
        cmocka_unit_test(test_hash_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
