/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/redisurl.c: redis:// and unix:// addresses with every
 * part, their bounds and bad forms, percent-escapes, and how the address and
 * password are picked from options and the environment; sentinel://
 * addresses (common/sentinelurl.c) and the replies of Sentinel and ROLE
 * (common/sentinel.c); cluster:// addresses, CLUSTER SLOTS and MOVED
 * replies, and Redis Cluster's hash slots (common/keyslot.c).
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

#include "keyslot.h"
#include "redisurl.h"
#include "sentinel.h"

/* ---- helpers ---- */

/* Parses url, which must succeed; the caller clears *u. */
static void
parse_ok(const char *url, struct redisurl *u)
{
    char *cause = NULL;
    int r = redisurl_parse(url, u, &cause);
    if (r != 0)
        print_error("'%s' refused: %s\n", url, cause ? cause : "(no cause)");
    assert_int_equal(r, 0);
    assert_null(cause);
}

/*
 * Parses url, which must fail with a cause that quotes it (redacted) and
 * says why.
 */
static void
parse_fails(const char *url, const char *why)
{
    struct redisurl u;
    char *cause = NULL, *shown = redisurl_redact(url);
    memset(&u, 0x5a, sizeof(u));
    int r = redisurl_parse(url, &u, &cause);
    if (r != -1)
        print_error("'%s' was accepted\n", url);
    assert_int_equal(r, -1);
    assert_non_null(cause);
    if (strstr(cause, shown) == NULL || strstr(cause, why) == NULL)
        print_error("'%s': cause \"%s\" should quote \"%s\" and say \"%s\"\n",
                    url, cause, shown, why);
    assert_non_null(strstr(cause, shown));
    assert_non_null(strstr(cause, why));
    free(cause);
    free(shown);
    /* Nothing is left to free after a failure. */
    assert_null(u.host);
    assert_null(u.path);
    assert_null(u.user);
    assert_null(u.password);
}

/* Checks a TCP address: host, port, db, user, password (NULL = none). */
static void
expect_tcp(const char *url, const char *host, int port, int db,
           const char *user, const char *password)
{
    struct redisurl u;
    parse_ok(url, &u);
    assert_non_null(u.host);
    assert_string_equal(u.host, host);
    assert_null(u.path);
    assert_int_equal(u.port, port);
    assert_int_equal(u.db, db);
    if (user == NULL)
        assert_null(u.user);
    else
        assert_string_equal(u.user, user);
    if (password == NULL)
        assert_null(u.password);
    else
        assert_string_equal(u.password, password);
    redisurl_clear(&u);
    assert_null(u.host);
}

static void
expect_unix(const char *url, const char *path, int db)
{
    struct redisurl u;
    parse_ok(url, &u);
    assert_null(u.host);
    assert_non_null(u.path);
    assert_string_equal(u.path, path);
    assert_int_equal(u.db, db);
    assert_null(u.password);
    redisurl_clear(&u);
}

/* Clears the environment the functions read; runs before each test. */
static int
env_clean(void **state)
{
    (void)state;
    unsetenv(REDISURL_ENV);
    unsetenv(REDISURL_PASSWORD_ENV);
    unsetenv(SENTINELURL_PASSWORD_ENV);
    return 0;
}

/* ---- redis:// ---- */

static void
test_tcp_defaults(void **state)
{
    (void)state;
    expect_tcp("redis://localhost", "localhost", 6379, 0, NULL, NULL);
    expect_tcp("redis://localhost/", "localhost", 6379, 0, NULL, NULL);
    expect_tcp("redis://10.0.0.5:6380", "10.0.0.5", 6380, 0, NULL, NULL);
    expect_tcp(REDISURL_DEFAULT, "127.0.0.1", 6379, 0, NULL, NULL);
}

static void
test_tcp_user_password(void **state)
{
    (void)state;
    expect_tcp("redis://alice:s3cret@redis.example:6390/2", "redis.example",
               6390, 2, "alice", "s3cret");
    /* Password only (the default user). */
    expect_tcp("redis://:s3cret@host", "host", 6379, 0, NULL, "s3cret");
    expect_tcp("redis://:s3cret@host:7000/9", "host", 7000, 9, NULL, "s3cret");
    /* ':' in the password; '@' in the password (the last '@' counts). */
    expect_tcp("redis://bob:pa:ss@h", "h", 6379, 0, "bob", "pa:ss");
    expect_tcp("redis://bob:p@ss@h", "h", 6379, 0, "bob", "p@ss");
    /* An empty password after ':' is an empty password, not none. */
    expect_tcp("redis://bob:@h", "h", 6379, 0, "bob", "");
}

static void
test_tcp_percent_escapes(void **state)
{
    (void)state;
    expect_tcp("redis://us%40er:p%2Fw%3A%25x@h:1/3", "h", 1, 3, "us@er",
               "p/w:%x");
    /* Upper and lower case hex; '%' not followed by two hex digits stays. */
    expect_tcp("redis://:%2f%2F@h", "h", 6379, 0, NULL, "//");
    expect_tcp("redis://:100%@h", "h", 6379, 0, NULL, "100%");
    expect_tcp("redis://:%zz@h", "h", 6379, 0, NULL, "%zz");
    expect_tcp("redis://:ab%4@h", "h", 6379, 0, NULL, "ab%4");
    expect_tcp("redis://:%41@h", "h", 6379, 0, NULL, "A");
    /* %20 and '+' : only percent-escapes are decoded. */
    expect_tcp("redis://:a%20b+c@h", "h", 6379, 0, NULL, "a b+c");
}

static void
test_tcp_ipv6(void **state)
{
    (void)state;
    expect_tcp("redis://[::1]", "::1", 6379, 0, NULL, NULL);
    expect_tcp("redis://[::1]:6380/4", "::1", 6380, 4, NULL, NULL);
    expect_tcp("redis://u:p@[fe80::1:2]:7000", "fe80::1:2", 7000, 0, "u", "p");
    parse_fails("redis://[::1", "'['");
    parse_fails("redis://[::1]x", "']'");
    parse_fails("redis://[::1]:", "port");
    parse_fails("redis://[::1]:0", "port");
}

static void
test_tcp_port_bounds(void **state)
{
    (void)state;
    expect_tcp("redis://h:1", "h", 1, 0, NULL, NULL);
    expect_tcp("redis://h:65535", "h", 65535, 0, NULL, NULL);
    expect_tcp("redis://h:06379", "h", 6379, 0, NULL, NULL);
    parse_fails("redis://h:0", "port");
    parse_fails("redis://h:65536", "port");
    parse_fails("redis://h:99999999999", "port");
    parse_fails("redis://h:-1", "port");
    parse_fails("redis://h:", "port");
    parse_fails("redis://h:63 79", "port");
    parse_fails("redis://h:6379x", "port");
    parse_fails("redis://h:+80", "port");
}

static void
test_tcp_db(void **state)
{
    (void)state;
    expect_tcp("redis://h/0", "h", 6379, 0, NULL, NULL);
    expect_tcp("redis://h:1/15", "h", 1, 15, NULL, NULL);
    expect_tcp("redis://h/1048576", "h", 6379, 1048576, NULL, NULL);
    parse_fails("redis://h/1048577", "database");
    parse_fails("redis://h/abc", "database");
    parse_fails("redis://h/-1", "database");
    parse_fails("redis://h/1/2", "database");
    parse_fails("redis://h/0?timeout=1", "database");
}

static void
test_tcp_no_host(void **state)
{
    (void)state;
    parse_fails("redis://", "host");
    parse_fails("redis://:6379", "host");
    parse_fails("redis://u:p@", "host");
    parse_fails("redis://u:p@:6379/0", "host");
    parse_fails("redis:///0", "host");
}

static void
test_bad_schemes(void **state)
{
    (void)state;
    parse_fails("", "redis://");
    parse_fails("localhost:6379", "redis://");
    parse_fails("http://localhost", "redis://");
    parse_fails("redisss://localhost", "rediss://"); /* rediss://: test_tlslink */
    parse_fails("redis:/localhost", "redis://");
    parse_fails("redis:localhost", "redis://");
    parse_fails("unix:/tmp/r.sock", "redis://");
    parse_fails(" redis://h", "redis://");
}

/* ---- unix:// ---- */

static void
test_unix(void **state)
{
    (void)state;
    expect_unix("unix:///tmp/redis.sock", "/tmp/redis.sock", 0);
    expect_unix("unix:///tmp/redis.sock?db=3", "/tmp/redis.sock", 3);
    expect_unix("unix:///var/run/a%20b.sock", "/var/run/a b.sock", 0);
    expect_unix("unix:///s", "/s", 0);
    parse_fails("unix://", "unix:///");
    parse_fails("unix://relative.sock", "unix:///");
    parse_fails("unix://?db=1", "unix:///");
    parse_fails("unix:///tmp/r.sock?db=", "db=N");
    parse_fails("unix:///tmp/r.sock?db=x", "db=N");
    parse_fails("unix:///tmp/r.sock?db=1&x=2", "db=N");
    parse_fails("unix:///tmp/r.sock?password=x", "db=N");
}

/* ---- choosing and resolving ---- */

static void
test_choose(void **state)
{
    (void)state;
    assert_string_equal(redisurl_choose(NULL), REDISURL_DEFAULT);
    assert_string_equal(redisurl_choose(""), REDISURL_DEFAULT);
    assert_string_equal(redisurl_choose("redis://opt"), "redis://opt");
    setenv(REDISURL_ENV, "redis://env:1/1", 1);
    assert_string_equal(redisurl_choose(NULL), "redis://env:1/1");
    assert_string_equal(redisurl_choose(""), "redis://env:1/1");
    assert_string_equal(redisurl_choose("redis://opt"), "redis://opt");
    setenv(REDISURL_ENV, "", 1);
    assert_string_equal(redisurl_choose(NULL), REDISURL_DEFAULT);
}

static void
test_resolve_password_env(void **state)
{
    (void)state;
    struct redisurl u;
    char *cause = NULL;

    /* The password from the environment fills in a URL without one. */
    setenv(REDISURL_PASSWORD_ENV, "from-env", 1);
    assert_int_equal(redisurl_resolve("redis://h:7/1", &u, &cause), 0);
    assert_string_equal(u.host, "h");
    assert_int_equal(u.port, 7);
    assert_int_equal(u.db, 1);
    assert_null(u.user);
    assert_string_equal(u.password, "from-env");
    redisurl_clear(&u);

    /* Also for a unix socket and for the default address. */
    assert_int_equal(redisurl_resolve("unix:///tmp/x.sock", &u, &cause), 0);
    assert_string_equal(u.password, "from-env");
    redisurl_clear(&u);
    assert_int_equal(redisurl_resolve(NULL, &u, &cause), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_string_equal(u.password, "from-env");
    redisurl_clear(&u);

    /* A password in the URL wins; the user name is kept either way. */
    assert_int_equal(redisurl_resolve("redis://al:url-pw@h", &u, &cause), 0);
    assert_string_equal(u.user, "al");
    assert_string_equal(u.password, "url-pw");
    redisurl_clear(&u);

    /* An ACL user with an empty password in the URL takes it from the
     * environment (docs/SECURITY.md). */
    assert_int_equal(redisurl_resolve("redis://al:@h", &u, &cause), 0);
    assert_string_equal(u.user, "al");
    assert_string_equal(u.password, "from-env");
    redisurl_clear(&u);

    /* An empty variable means no password (an empty one stays empty). */
    setenv(REDISURL_PASSWORD_ENV, "", 1);
    assert_int_equal(redisurl_resolve("redis://al:@h", &u, &cause), 0);
    assert_string_equal(u.password, "");
    redisurl_clear(&u);
    assert_int_equal(redisurl_resolve("redis://h", &u, &cause), 0);
    assert_null(u.password);
    redisurl_clear(&u);
    assert_null(cause);
}

static void
test_resolve_url_env(void **state)
{
    (void)state;
    struct redisurl u;
    char *cause = NULL;

    setenv(REDISURL_ENV, "redis://:pw@envhost:6390/5", 1);
    assert_int_equal(redisurl_resolve(NULL, &u, &cause), 0);
    assert_string_equal(u.host, "envhost");
    assert_int_equal(u.port, 6390);
    assert_int_equal(u.db, 5);
    assert_string_equal(u.password, "pw");
    redisurl_clear(&u);

    /* --redis beats the environment. */
    assert_int_equal(redisurl_resolve("unix:///r.sock?db=2", &u, &cause), 0);
    assert_string_equal(u.path, "/r.sock");
    assert_int_equal(u.db, 2);
    redisurl_clear(&u);

    /* A bad address from the environment is an error, quoted. */
    setenv(REDISURL_ENV, "tcp://nope", 1);
    assert_int_equal(redisurl_resolve(NULL, &u, &cause), -1);
    assert_non_null(cause);
    assert_non_null(strstr(cause, "tcp://nope"));
    free(cause);
}

static void
test_describe_hides_credentials(void **state)
{
    (void)state;
    struct redisurl u;
    char *d;

    parse_ok("redis://alice:topsecret@host:6390/3", &u);
    d = redisurl_describe(&u);
    assert_string_equal(d, "host:6390/3");
    assert_null(strstr(d, "topsecret"));
    assert_null(strstr(d, "alice"));
    free(d);
    redisurl_clear(&u);

    parse_ok("redis://[::1]:6380", &u);
    d = redisurl_describe(&u);
    assert_string_equal(d, "[::1]:6380/0");
    free(d);
    redisurl_clear(&u);

    parse_ok("unix:///tmp/r.sock?db=4", &u);
    d = redisurl_describe(&u);
    assert_string_equal(d, "unix:/tmp/r.sock/4");
    free(d);
    redisurl_clear(&u);
}

static void
test_auth_argv(void **state)
{
    (void)state;
    struct redisurl u;
    const char *argv[3];
    size_t lens[3];

    parse_ok("redis://h", &u);
    assert_int_equal(redisurl_auth_argv(&u, argv, lens), 0);
    redisurl_clear(&u);

    parse_ok("redis://:pw@h", &u);
    assert_int_equal(redisurl_auth_argv(&u, argv, lens), 2);
    assert_string_equal(argv[0], "AUTH");
    assert_string_equal(argv[1], "pw");
    assert_int_equal(lens[0], 4);
    assert_int_equal(lens[1], 2);
    redisurl_clear(&u);

    parse_ok("redis://alice:pw@h", &u);
    assert_int_equal(redisurl_auth_argv(&u, argv, lens), 3);
    assert_string_equal(argv[0], "AUTH");
    assert_string_equal(argv[1], "alice");
    assert_int_equal(lens[1], 5);
    redisurl_clear(&u);

    /* A user with an empty password still sends both. */
    parse_ok("redis://alice:@h", &u);
    assert_int_equal(redisurl_auth_argv(&u, argv, lens), 3);
    assert_string_equal(argv[2], "");
    assert_int_equal(lens[2], 0);
    redisurl_clear(&u);
}

static void
test_clear_twice(void **state)
{
    (void)state;
    struct redisurl u;
    parse_ok("redis://a:b@c:1/2", &u);
    redisurl_clear(&u);
    redisurl_clear(&u); /* a cleared struct is safe to clear again */
    assert_null(u.host);
}

#define T(f) cmocka_unit_test_setup(f, env_clean)

/* Everything between "//" (or the scheme's ':') and the last '@' is hidden. */
static void
test_redact(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"redis://u:s3cret@h:1/0", "redis://***@h:1/0"},
        {"redis://:s3cret@h", "redis://***@h"},
        {"redis://s3cret@h", "redis://***@h"},
        {"redis://h:6379/0", "redis://h:6379/0"},
        {"unix:///tmp/r.sock?db=1", "unix:///tmp/r.sock?db=1"},
        /* a password holding '/' and '@' does not parse: still hidden */
        {"redis://:p@ss/w@rd@h:99999", "redis://***@h:99999"},
        {"redis:u:s3cret@h", "redis:***@h"},
        {"u:s3cret@h", "u:***@h"},
        {"s3cret@h", "***@h"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = redisurl_redact(cases[i][0]);
        if (strcmp(got, cases[i][1]) != 0)
            print_error("redact('%s') = '%s', want '%s'\n", cases[i][0], got,
                        cases[i][1]);
        assert_string_equal(got, cases[i][1]);
        free(got);
    }
}

/* The bytes redact hides are overwritten in place; the length stays. */
static void
test_scrub(void **state)
{
    (void)state;
    char a[] = "redis://u:s3cret@h:1/0", b[] = "redis://h:1/0",
         c[] = "--redis=redis://:p@ss/w@rd@h";
    redisurl_scrub(a);
    assert_string_equal(a, "redis://********@h:1/0");
    redisurl_scrub(b);
    assert_string_equal(b, "redis://h:1/0");
    redisurl_scrub(c + 8);
    assert_string_equal(c, "--redis=redis://**********@h");
}

/* No parse error shows the password, however far parsing got. */
static void
test_parse_errors_hide_password(void **state)
{
    (void)state;
    static const char *const urls[] = {
        "redis://u:s3cret@h:0",        "redis://u:s3cret@h/x",
        "redis://u:s3cret@",           "redis://u:s3cret@[::1",
        "redis://u:s3cret@[::1]x",     "redis://:s3cret@h:1/0?x",
        "redis//u:s3cret@h",           "http://u:s3cret@h",
        "redis://:s3cret/x@h:99999",   "redis://:s3cr%00et@h",
        "unix://u:s3cret@/tmp/r.sock",
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        struct redisurl u;
        char *cause = NULL;
        assert_int_equal(redisurl_parse(urls[i], &u, &cause), -1);
        if (strstr(cause, "s3cr") != NULL)
            print_error("'%s': cause \"%s\" shows the password\n", urls[i],
                        cause);
        assert_null(strstr(cause, "s3cr"));
        assert_non_null(strstr(cause, "***@"));
        free(cause);
    }
}

/* A %00 would cut the user, password or path short: refused. */
static void
test_escaped_nul_refused(void **state)
{
    (void)state;
    static const char *const urls[] = {
        "redis://:pa%00ss@h:1/0", "redis://us%00er:pw@h:1/0",
        "unix:///tmp/a%00b.sock",
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        struct redisurl u;
        char *cause = NULL;
        assert_int_equal(redisurl_parse(urls[i], &u, &cause), -1);
        assert_non_null(strstr(cause, "%00"));
        free(cause);
    }
}

/* ---- sentinel:// ---- */

static void
test_sentinel_full(void **state)
{
    (void)state;
    struct redisurl u;
    parse_ok("sentinel://app:pw%40x@10.0.0.1:26380,[::1]:5000,s3/mymaster/3",
             &u);
    assert_null(u.host);
    assert_null(u.path);
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "pw@x");
    assert_int_equal(u.db, 3);
    assert_non_null(u.sentinel);
    assert_int_equal(u.sentinel->naddrs, 3);
    assert_string_equal(u.sentinel->addrs[0].host, "10.0.0.1");
    assert_int_equal(u.sentinel->addrs[0].port, 26380);
    assert_string_equal(u.sentinel->addrs[1].host, "::1");
    assert_int_equal(u.sentinel->addrs[1].port, 5000);
    assert_string_equal(u.sentinel->addrs[2].host, "s3");
    assert_int_equal(u.sentinel->addrs[2].port, 26379); /* the default */
    assert_string_equal(u.sentinel->master, "mymaster");
    assert_null(u.sentinel->password);
    char *d = redisurl_describe(&u);
    assert_string_equal(d, "sentinel:mymaster@10.0.0.1:26380,[::1]:5000,"
                           "s3:26379/3");
    assert_null(strstr(d, "pw"));
    free(d);
    redisurl_clear(&u);
    assert_null(u.sentinel);

    parse_ok("sentinel://h/m", &u);
    assert_int_equal(u.db, 0);
    assert_null(u.password);
    assert_int_equal(u.sentinel->naddrs, 1);
    redisurl_clear(&u);
    parse_ok("sentinel://h/m/", &u); /* a trailing '/': database 0 */
    assert_int_equal(u.db, 0);
    redisurl_clear(&u);
}

static void
test_sentinel_bad(void **state)
{
    (void)state;
    parse_fails("sentinel://", "sentinel://HOST:PORT");
    parse_fails("sentinel://h", "sentinel://HOST:PORT");
    parse_fails("sentinel:///m", "no sentinel");
    parse_fails("sentinel://h/", "no master name");
    parse_fails("sentinel://h//1", "no master name");
    parse_fails("sentinel://h,/m", "no host name");
    parse_fails("sentinel://,h/m", "no host name");
    parse_fails("sentinel://h:0/m", "from 1 to 65535");
    parse_fails("sentinel://h:65536/m", "from 1 to 65535");
    parse_fails("sentinel://h:x/m", "from 1 to 65535");
    parse_fails("sentinel://h:/m", "from 1 to 65535");
    parse_fails("sentinel://[::1/m", "[address]");
    parse_fails("sentinel://[]:1/m", "[address]");
    parse_fails("sentinel://[::1]x/m", "junk after ']'");
    parse_fails("sentinel://h%20x/m", "host name");
    parse_fails("sentinel://h/m*x", "master name");
    parse_fails("sentinel://h/m x", "master name");
    parse_fails("sentinel://h/m/db", "must be a number");
    parse_fails("sentinel://h/m/1/2", "must be a number");
    parse_fails("sentinel://:pw@h/m/-1", "must be a number");
    parse_fails("sentinel://a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q/m",
                "more than 16");
    /* 16 is allowed */
    struct redisurl u;
    parse_ok("sentinel://a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p/m", &u);
    assert_int_equal(u.sentinel->naddrs, 16);
    redisurl_clear(&u);
}

/* sentinel+tls://: the same parts, TLS for the sentinels and the master. */
static void
test_sentinel_tls(void **state)
{
    (void)state;
    struct redisurl u;
    parse_ok("sentinel+tls://:pw@10.0.0.1:26380,s2/mymaster/2", &u);
    assert_int_equal(u.tls, 1);
    assert_non_null(u.sentinel);
    assert_int_equal(u.sentinel->tls, 1);
    assert_int_equal(u.sentinel->naddrs, 2);
    assert_string_equal(u.sentinel->addrs[1].host, "s2");
    assert_int_equal(u.sentinel->addrs[1].port, 26379);
    assert_string_equal(u.sentinel->master, "mymaster");
    assert_string_equal(u.password, "pw");
    assert_int_equal(u.db, 2);
    char *d = redisurl_describe(&u);
    assert_string_equal(d, "sentinel:mymaster@10.0.0.1:26380,s2:26379/2 "
                           "(TLS)");
    free(d);
    redisurl_clear(&u);
    parse_ok("sentinel://h/m", &u); /* plain stays plain */
    assert_int_equal(u.tls, 0);
    assert_int_equal(u.sentinel->tls, 0);
    redisurl_clear(&u);
    parse_fails("sentinel+tls://h", "sentinel://HOST:PORT");
    parse_fails("sentinel+tls://h/", "no master name");
    parse_fails("sentinel+ssl://h/m", "sentinel+tls://");
    char *r = redisurl_redact("sentinel+tls://u:secret@h/m");
    assert_string_equal(r, "sentinel+tls://***@h/m");
    free(r);
}

static void
test_sentinel_passwords(void **state)
{
    (void)state;
    struct redisurl u;
    char *cause = NULL;
    setenv(REDISURL_PASSWORD_ENV, "datapw", 1);
    setenv(SENTINELURL_PASSWORD_ENV, "sentpw", 1);
    assert_int_equal(redisurl_resolve("sentinel://h:1/m", &u, &cause), 0);
    assert_string_equal(u.password, "datapw");
    assert_string_equal(u.sentinel->password, "sentpw");
    const char *argv[3];
    size_t lens[3];
    assert_int_equal(redisurl_auth_argv(&u, argv, lens), 2);
    assert_string_equal(argv[1], "datapw");
    redisurl_clear(&u);
    unsetenv(SENTINELURL_PASSWORD_ENV);
    setenv(REDISURL_ENV, "sentinel://:urlpw@h:1/m", 1);
    assert_int_equal(redisurl_resolve(NULL, &u, &cause), 0);
    assert_string_equal(u.password, "urlpw"); /* the URL's wins */
    assert_null(u.sentinel->password);
    redisurl_clear(&u);
    /* The password never shows in a parse error. */
    assert_int_equal(redisurl_parse("sentinel://:s3cret@h/", &u, &cause), -1);
    assert_null(strstr(cause, "s3cret"));
    free(cause);
}

/* ---- cluster:// ---- */

static void
test_cluster_url(void **state)
{
    (void)state;
    struct redisurl u;
    char *cause = NULL;
    parse_ok("cluster://app:pw@10.0.0.1:7000,[::1]:7001,n3", &u);
    assert_non_null(u.sentinel);
    assert_int_equal(u.sentinel->cluster, 1);
    assert_int_equal(u.sentinel->slot, -1);
    assert_null(u.sentinel->master);
    assert_int_equal(u.sentinel->naddrs, 3);
    assert_int_equal(u.sentinel->addrs[0].port, 7000);
    assert_string_equal(u.sentinel->addrs[1].host, "::1");
    assert_int_equal(u.sentinel->addrs[2].port, 6379); /* the default */
    assert_int_equal(u.db, 0);
    assert_int_equal(u.tls, 0);
    char *d = redisurl_describe(&u);
    assert_string_equal(d, "cluster:10.0.0.1:7000,[::1]:7001,n3:6379/0");
    assert_null(strstr(d, "pw"));
    free(d);
    const char *why = NULL;
    assert_int_equal(sentinelurl_set_prefix(u.sentinel, "celeriac:", &why), -1);
    assert_non_null(strstr(why, "hash tag"));
    assert_int_equal(sentinelurl_set_prefix(u.sentinel, "{celeriac}:", &why),
                     0);
    assert_int_equal(u.sentinel->slot, keyslot("celeriac", 8));
    redisurl_clear(&u);
    parse_ok("cluster://h/", &u);
    redisurl_clear(&u);
    parse_ok("cluster+tls://h:7000/0", &u);
    assert_int_equal(u.tls, 1);
    assert_int_equal(u.sentinel->tls, 1);
    redisurl_clear(&u);
    parse_fails("cluster://", "cluster://HOST");
    parse_fails("cluster:///", "cluster://HOST");
    parse_fails("cluster://h/1", "database 0 only");
    parse_fails("cluster://h/m", "database 0 only");
    parse_fails("cluster://h,,g", "no host name");
    parse_fails("cluster://h:0", "from 1 to 65535");
    /* A sentinel:// address has no slot to set: nothing to check. */
    parse_ok("sentinel://h/m", &u);
    assert_int_equal(sentinelurl_set_prefix(u.sentinel, "x:", &why), 0);
    redisurl_clear(&u);
    /* The seeds are asked with the URL's user and password, never with
     * CELERIAC_SENTINEL_PASSWORD. */
    setenv(SENTINELURL_PASSWORD_ENV, "sentpw", 1);
    assert_int_equal(redisurl_resolve("cluster://app:pw@h", &u, &cause), 0);
    assert_string_equal(u.sentinel->user, "app");
    assert_string_equal(u.sentinel->password, "pw");
    redisurl_clear(&u);
    setenv(REDISURL_PASSWORD_ENV, "envpw", 1);
    assert_int_equal(redisurl_resolve("cluster://h", &u, &cause), 0);
    assert_null(u.sentinel->user);
    assert_string_equal(u.sentinel->password, "envpw");
    redisurl_clear(&u);
    unsetenv(REDISURL_PASSWORD_ENV);
    assert_int_equal(redisurl_resolve("cluster://h", &u, &cause), 0);
    assert_null(u.sentinel->password);
    redisurl_clear(&u);
    unsetenv(SENTINELURL_PASSWORD_ENV);
}

/* Redis Cluster's own examples: the same tag, the same slot. */
static void
test_keyslot(void **state)
{
    (void)state;
    assert_int_equal(keyslot("123456789", 9), 0x31c3 % 16384);
    assert_int_equal(keyslot("foo", 3), 12182);
    assert_int_equal(keyslot("{user1000}.following", 20),
                     keyslot("{user1000}.followers", 20));
    assert_int_equal(keyslot("{user1000}.following", 20),
                     keyslot("user1000", 8));
    /* "{}" and an unclosed '{' hash the whole key; only the first tag
     * counts. */
    assert_int_equal(keyslot("foo{}{bar}", 10),
                     keyslot("foo{}{bar}", 10) /* stable */);
    assert_int_not_equal(keyslot("foo{}{bar}", 10), keyslot("bar", 3));
    assert_int_equal(keyslot("foo{{bar}}zap", 13), keyslot("{bar", 4));
    assert_int_equal(keyslot("foo{bar}{zap}", 13), keyslot("bar", 3));
    assert_int_equal(keyslot_has_tag("{celeriac}:"), 1);
    assert_int_equal(keyslot_has_tag("app:{q}:"), 1);
    assert_int_equal(keyslot_has_tag("celeriac:"), 0);
    assert_int_equal(keyslot_has_tag("{}:"), 0);
    assert_int_equal(keyslot_has_tag("{celeriac:"), 0);
    assert_int_equal(keyslot("", 0), 0);
}

/* ---- replies of Sentinel and ROLE (hand-built) ---- */

static redisReply *
mk_str(int type, const char *s)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = type;
    r->str = strdup(s);
    r->len = strlen(s);
    return r;
}

static redisReply *
mk_int(long long v)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_INTEGER;
    r->integer = v;
    return r;
}

static redisReply *
mk_array(size_t n, redisReply **e)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_ARRAY;
    r->elements = n;
    r->element = calloc(n ? n : 1, sizeof(*e));
    if (n > 0)
        memcpy(r->element, e, n * sizeof(*e));
    return r;
}

static void
test_sentinel_master_reply(void **state)
{
    (void)state;
    char *host = NULL;
    int port = 0;
    const char *why = NULL;

    redisReply *ok = mk_array(2, (redisReply *[]){
        mk_str(REDIS_REPLY_STRING, "10.1.2.3"),
        mk_str(REDIS_REPLY_STRING, "6380")});
    assert_int_equal(sentinel_master_reply(ok, &host, &port, &why), 0);
    assert_string_equal(host, "10.1.2.3");
    assert_int_equal(port, 6380);
    free(host);
    freeReplyObject(ok);

    redisReply *nil = calloc(1, sizeof(*nil));
    nil->type = REDIS_REPLY_NIL;
    assert_int_equal(sentinel_master_reply(nil, &host, &port, &why), -1);
    assert_non_null(strstr(why, "does not know"));
    freeReplyObject(nil);

    static const char *const ports[] = {"0", "65536", "", "80x", "-1"};
    for (size_t i = 0; i < 5; i++) {
        redisReply *bad = mk_array(2, (redisReply *[]){
            mk_str(REDIS_REPLY_STRING, "h"),
            mk_str(REDIS_REPLY_STRING, ports[i])});
        assert_int_equal(sentinel_master_reply(bad, &host, &port, &why), -1);
        freeReplyObject(bad);
    }
    redisReply *one = mk_array(1, (redisReply *[]){
        mk_str(REDIS_REPLY_STRING, "h")});
    assert_int_equal(sentinel_master_reply(one, &host, &port, &why), -1);
    freeReplyObject(one);
    redisReply *err = mk_str(REDIS_REPLY_ERROR, "NOAUTH");
    assert_int_equal(sentinel_master_reply(err, &host, &port, &why), -1);
    assert_int_equal(sentinel_readonly(err), 0);
    freeReplyObject(err);
    assert_int_equal(sentinel_master_reply(NULL, &host, &port, &why), -1);
}

static void
test_sentinel_role_reply(void **state)
{
    (void)state;
    char what[128] = "";
    redisReply *m = mk_array(3, (redisReply *[]){
        mk_str(REDIS_REPLY_STRING, "master"), mk_int(100),
        mk_array(0, NULL)});
    assert_int_equal(sentinel_role_reply(m, what, sizeof(what)), 1);
    freeReplyObject(m);
    redisReply *s = mk_array(5, (redisReply *[]){
        mk_str(REDIS_REPLY_STRING, "slave"),
        mk_str(REDIS_REPLY_STRING, "10.0.0.9"), mk_int(6379),
        mk_str(REDIS_REPLY_STRING, "connected"), mk_int(5)});
    assert_int_equal(sentinel_role_reply(s, what, sizeof(what)), 0);
    assert_string_equal(what, "a replica of 10.0.0.9:6379");
    freeReplyObject(s);
    redisReply *sen = mk_array(2, (redisReply *[]){
        mk_str(REDIS_REPLY_STRING, "sentinel"), mk_array(0, NULL)});
    assert_int_equal(sentinel_role_reply(sen, what, sizeof(what)), 0);
    assert_string_equal(what, "a sentinel, not a master");
    freeReplyObject(sen);
    redisReply *e = mk_str(REDIS_REPLY_ERROR, "NOPERM no ROLE for you");
    assert_int_equal(sentinel_role_reply(e, what, sizeof(what)), -1);
    freeReplyObject(e);
    assert_int_equal(sentinel_role_reply(NULL, what, sizeof(what)), -1);
    redisReply *ro = mk_str(REDIS_REPLY_ERROR,
                            "READONLY You can't write against a read only "
                            "replica.");
    assert_int_equal(sentinel_readonly(ro), 1);
    freeReplyObject(ro);
}

/* One CLUSTER SLOTS range: start, end, the master, one replica. */
static redisReply *
mk_range(long long a, long long b, const char *host, long long port)
{
    return mk_array(
        4, (redisReply *[]){
               mk_int(a), mk_int(b),
               mk_array(3, (redisReply *[]){mk_str(REDIS_REPLY_STRING, host),
                                            mk_int(port),
                                            mk_str(REDIS_REPLY_STRING, "id1")}),
               mk_array(3, (redisReply *[]){
                               mk_str(REDIS_REPLY_STRING, "10.9.9.9"),
                               mk_int(9), mk_str(REDIS_REPLY_STRING, "id2")})});
}

static void
test_cluster_slots_reply(void **state)
{
    (void)state;
    char *host = NULL;
    int port = 0;
    const char *why = NULL;
    redisReply *r =
        mk_array(3, (redisReply *[]){mk_range(0, 5460, "10.0.0.1", 7000),
                                     mk_range(5461, 10922, "", 7001),
                                     mk_range(10923, 16383, "?", 7002)});
    assert_int_equal(
        sentinel_cluster_reply(r, 5460, "seed", &host, &port, &why), 0);
    assert_string_equal(host, "10.0.0.1");
    assert_int_equal(port, 7000);
    free(host);
    /* No address announced: the node asked. */
    assert_int_equal(
        sentinel_cluster_reply(r, 5461, "seed", &host, &port, &why), 0);
    assert_string_equal(host, "seed");
    assert_int_equal(port, 7001);
    free(host);
    assert_int_equal(
        sentinel_cluster_reply(r, 16383, "seed", &host, &port, &why), 0);
    assert_string_equal(host, "seed");
    free(host);
    freeReplyObject(r);
    /* A slot nobody serves, a bad port, an error, not a list. */
    r = mk_array(1, (redisReply *[]){mk_range(0, 100, "h", 7000)});
    assert_int_equal(sentinel_cluster_reply(r, 101, "s", &host, &port, &why),
                     -1);
    assert_non_null(strstr(why, "no master serves"));
    freeReplyObject(r);
    r = mk_array(1, (redisReply *[]){mk_range(0, 100, "h", 70000)});
    assert_int_equal(sentinel_cluster_reply(r, 5, "s", &host, &port, &why), -1);
    freeReplyObject(r);
    r = mk_str(REDIS_REPLY_ERROR,
               "ERR This instance has cluster support disabled");
    assert_int_equal(sentinel_cluster_reply(r, 5, "s", &host, &port, &why), -1);
    assert_non_null(strstr(why, "cluster mode off"));
    assert_int_equal(sentinel_moved(r), 0);
    freeReplyObject(r);
    r = mk_int(3);
    assert_int_equal(sentinel_cluster_reply(r, 5, "s", &host, &port, &why), -1);
    freeReplyObject(r);
    assert_int_equal(sentinel_cluster_reply(NULL, 5, "s", &host, &port, &why),
                     -1);
    static const char *const moved[] = {"MOVED 3999 127.0.0.1:6381",
                                        "ASK 3999 127.0.0.1:6381",
                                        "CLUSTERDOWN The cluster is down"};
    for (size_t i = 0; i < 3; i++) {
        r = mk_str(REDIS_REPLY_ERROR, moved[i]);
        assert_int_equal(sentinel_moved(r), 1);
        freeReplyObject(r);
    }
    r = mk_str(REDIS_REPLY_STRING, "MOVED 1 h:1");
    assert_int_equal(sentinel_moved(r), 0);
    freeReplyObject(r);
    assert_int_equal(sentinel_moved(NULL), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escaped_nul_refused),
        T(test_cluster_url),
        cmocka_unit_test(test_keyslot),
        cmocka_unit_test(test_cluster_slots_reply),
        T(test_tcp_defaults),
        T(test_tcp_user_password),
        T(test_tcp_percent_escapes),
        T(test_tcp_ipv6),
        T(test_tcp_port_bounds),
        T(test_tcp_db),
        T(test_tcp_no_host),
        T(test_bad_schemes),
        T(test_unix),
        T(test_choose),
        T(test_resolve_password_env),
        T(test_resolve_url_env),
        T(test_describe_hides_credentials),
        T(test_auth_argv),
        T(test_clear_twice),
        T(test_redact),
        T(test_scrub),
        T(test_parse_errors_hide_password),
        T(test_sentinel_full),
        T(test_sentinel_tls),
        T(test_sentinel_bad),
        T(test_sentinel_passwords),
        T(test_sentinel_master_reply),
        T(test_sentinel_role_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
