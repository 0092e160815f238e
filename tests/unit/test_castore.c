/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/castore.c: which directories count as a hashed CA
 * directory (8 hex digits, '.', digits), ':'-separated lists, and missing
 * or empty ones; and that the system store is set up either way.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "castore.h"

struct dirs {
    char plain[64];  /* names that are not hashed links */
    char hashed[64]; /* one hashed name among others */
};

static void
touch(const char *dir, const char *name)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    close(fd);
}

static void
rm(const char *dir, const char *name)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
}

static const char *const plain_names[] = {
    "ca-certificates.crt", "5a7722fb",    "5a7722fb.",   "5a7722fg.0",
    "5a7722f.0",           "5a7722fb.r0", "5a7722fb.0x", "README"};

static int
setup(void **state)
{
    static struct dirs d;
    strcpy(d.plain, "/tmp/castore-plain-XXXXXX");
    strcpy(d.hashed, "/tmp/castore-hashed-XXXXXX");
    if (mkdtemp(d.plain) == NULL || mkdtemp(d.hashed) == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(plain_names) / sizeof(*plain_names); i++)
        touch(d.plain, plain_names[i]);
    touch(d.hashed, "README");
    touch(d.hashed, "0A1b2C3d.12");
    *state = &d;
    return 0;
}

static int
teardown(void **state)
{
    struct dirs *d = *state;
    for (size_t i = 0; i < sizeof(plain_names) / sizeof(*plain_names); i++)
        rm(d->plain, plain_names[i]);
    rm(d->hashed, "README");
    rm(d->hashed, "0A1b2C3d.12");
    rmdir(d->plain);
    rmdir(d->hashed);
    return 0;
}

static void
test_hashed_names(void **state)
{
    struct dirs *d = *state;
    char list[200];
    assert_int_equal(castore_dir_is_hashed(d->plain), 0);
    assert_int_equal(castore_dir_is_hashed(d->hashed), 1);
    snprintf(list, sizeof(list), "%s:%s", d->plain, d->hashed);
    assert_int_equal(castore_dir_is_hashed(list), 1);
    snprintf(list, sizeof(list), "/nonexistent-castore::%s:", d->plain);
    assert_int_equal(castore_dir_is_hashed(list), 0);
    snprintf(list, sizeof(list), ":%s", d->hashed);
    assert_int_equal(castore_dir_is_hashed(list), 1);
    assert_int_equal(castore_dir_is_hashed(""), 0);
    assert_int_equal(castore_dir_is_hashed("/nonexistent-castore"), 0);
}

/* Either way (a hashed directory, or the fallback to OpenSSL's defaults
 * for one that is not) the context is set up. */
static void
test_use_system(void **state)
{
    struct dirs *d = *state;
    const char *dirs[] = {d->hashed, d->plain};
    unsetenv("SSL_CERT_FILE");
    for (int i = 0; i < 2; i++) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        assert_non_null(ctx);
        setenv("SSL_CERT_DIR", dirs[i], 1);
        assert_int_equal(castore_use_system(ctx), 1);
        SSL_CTX_free(ctx);
    }
    unsetenv("SSL_CERT_DIR");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hashed_names),
        cmocka_unit_test(test_use_system),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
