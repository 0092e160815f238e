/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of worker/netguard.c, the SSRF guard of URL fetches: a table
 * of addresses with the verdict of the default policy (every refused range,
 * its edges, and the IPv6 forms that embed an IPv4 address), then the
 * --allow-hosts exceptions (names, addresses, CIDR blocks) and their bad
 * forms.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netguard.h"

/* ---- helpers ---- */

/* The socket address of the numeric address text. */
static struct sockaddr_storage
addr_of(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
    } else {
        print_error("'%s' is not an address\n", text);
        fail();
    }
    return ss;
}

/*
 * One row: the address, and a word of the default policy's reason when it
 * is refused, or NULL when it is allowed.
 */
struct row {
    const char *addr;
    const char *refused;
};

static void
check_rows(const struct row *rows, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        struct sockaddr_storage ss = addr_of(rows[i].addr);
        const char *why = netguard_classify((struct sockaddr *)&ss);
        int ok = rows[i].refused == NULL
                     ? why == NULL
                     : why != NULL && strstr(why, rows[i].refused) != NULL;
        if (!ok) {
            print_error("%s: expected %s, got %s\n", rows[i].addr,
                        rows[i].refused ? rows[i].refused : "allowed",
                        why ? why : "allowed");
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* ---- the default policy ---- */

static void
test_ipv4_table(void **state)
{
    (void)state;
    static const struct row rows[] = {
        /* Public unicast. */
        {"1.1.1.1", NULL},
        {"8.8.8.8", NULL},
        {"93.184.216.34", NULL},
        {"223.255.255.255", NULL},
        /* Unspecified, "this network". */
        {"0.0.0.0", "unspecified"},
        {"0.255.255.255", "unspecified"},
        {"1.0.0.0", NULL},
        /* Private, with the edges of each block. */
        {"10.0.0.0", "private"},
        {"10.255.255.255", "private"},
        {"11.0.0.0", NULL},
        {"9.255.255.255", NULL},
        {"172.16.0.0", "private"},
        {"172.31.255.255", "private"},
        {"172.15.255.255", NULL},
        {"172.32.0.0", NULL},
        {"192.168.0.1", "private"},
        {"192.168.255.255", "private"},
        {"192.169.0.0", NULL},
        /* Shared address space (CGNAT). */
        {"100.64.0.0", "CGNAT"},
        {"100.127.255.255", "CGNAT"},
        {"100.63.255.255", NULL},
        {"100.128.0.0", NULL},
        /* Loopback, all of 127/8. */
        {"127.0.0.1", "loopback"},
        {"127.0.0.2", "loopback"},
        {"127.255.255.254", "loopback"},
        /* Link-local, the metadata service named. */
        {"169.254.169.254", "metadata"},
        {"169.254.0.1", "link-local"},
        {"169.253.255.255", NULL},
        {"169.255.0.0", NULL},
        /* Special purpose and documentation. */
        {"192.0.0.8", "IETF"},
        {"192.0.2.1", "documentation"},
        {"198.51.100.7", "documentation"},
        {"203.0.113.9", "documentation"},
        {"198.18.0.1", "benchmarking"},
        {"198.19.255.255", "benchmarking"},
        {"198.20.0.0", NULL},
        {"192.88.99.1", "6to4"},
        /* Multicast, reserved, broadcast. */
        {"224.0.0.1", "multicast"},
        {"239.255.255.255", "multicast"},
        {"240.0.0.1", "reserved"},
        {"255.255.255.254", "reserved"},
        {"255.255.255.255", "broadcast"},
    };
    check_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

static void
test_ipv6_table(void **state)
{
    (void)state;
    static const struct row rows[] = {
        /* Public unicast. */
        {"2606:4700:4700::1111", NULL},
        {"2a00:1450:4001:80b::200e", NULL},
        /* Unspecified, loopback. */
        {"::", "unspecified"},
        {"::1", "loopback"},
        /* Unique-local, link-local, site-local, multicast. */
        {"fc00::1", "unique-local"},
        {"fd12:3456:789a::1", "unique-local"},
        {"fe80::1", "link-local"},
        {"febf:ffff::1", "link-local"},
        {"fec0::1", "site-local"},
        {"ff02::1", "multicast"},
        {"ff05::2", "multicast"},
        /* Documentation, discard-only. */
        {"2001:db8::1", "documentation"},
        {"100::1", "discard"},
        /* IPv4-mapped forms: judged as the IPv4 address. */
        {"::ffff:127.0.0.1", "loopback"},
        {"::ffff:10.1.2.3", "private"},
        {"::ffff:169.254.169.254", "metadata"},
        {"::ffff:7f00:1", "loopback"},
        {"::ffff:8.8.8.8", NULL},
        /* IPv4-compatible (deprecated): refused whatever it carries. */
        {"::127.0.0.1", "loopback"},
        {"::8.8.8.8", "IPv4-compatible"},
        /* NAT64 (RFC 6052) with a refused and a public IPv4 address. */
        {"64:ff9b::7f00:1", "loopback"},
        {"64:ff9b::a9fe:a9fe", "metadata"},
        {"64:ff9b::808:808", NULL},
        {"64:ff9b:1::1", "NAT64"},
        /* 6to4: the IPv4 address is in bits 16..47. */
        {"2002:7f00:1::1", "loopback"},
        {"2002:c0a8:101::1", "private"},
        {"2002:808:808::1", NULL},
        /* Teredo: the client address is stored inverted. */
        {"2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"},
        {"2001:0:4136:e378:8000:63bf:f7f7:f7f7", NULL},
    };
    check_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

/* ---- exceptions ---- */

static int
allowed(const struct netguard *g, const char *host, const char *addr)
{
    struct sockaddr_storage ss = addr_of(addr);
    char why[256] = "";
    int r = netguard_check(g, host, (struct sockaddr *)&ss, why, sizeof(why));
    if (r != 0) {
        /* A refusal names the address and says why. */
        assert_non_null(strstr(why, addr));
        assert_non_null(strstr(why, " is "));
    }
    return r == 0;
}

static void
test_no_exceptions(void **state)
{
    (void)state;
    struct netguard *g = netguard_new();
    assert_non_null(g);
    assert_false(allowed(g, "localhost", "127.0.0.1"));
    assert_false(allowed(g, "127.0.0.1", "127.0.0.1"));
    assert_true(allowed(g, "example.com", "93.184.216.34"));
    /* A NULL guard is the default policy. */
    assert_false(allowed(NULL, "metadata", "169.254.169.254"));
    assert_true(allowed(NULL, "one.one", "1.1.1.1"));
    netguard_free(g);
}

static void
test_exceptions(void **state)
{
    (void)state;
    struct netguard *g = netguard_new();
    char *cause = NULL;
    assert_int_equal(
        netguard_allow(g, "127.0.0.1, Files.Example.,10.1.0.0/16 fd00::/8",
                       &cause),
        0);
    assert_null(cause);
    /* The address itself, only that one. */
    assert_true(allowed(g, "127.0.0.1", "127.0.0.1"));
    assert_true(allowed(g, "localhost", "127.0.0.1"));
    assert_false(allowed(g, "127.0.0.2", "127.0.0.2"));
    /* Its IPv4-mapped form matches it too. */
    assert_true(allowed(g, "x", "::ffff:127.0.0.1"));
    /* A name: any address it resolves to, case and final dot ignored. */
    assert_true(allowed(g, "files.example", "192.168.1.1"));
    assert_true(allowed(g, "FILES.EXAMPLE.", "::1"));
    assert_false(allowed(g, "other.example", "192.168.1.1"));
    assert_false(allowed(g, "sub.files.example", "192.168.1.1"));
    /* CIDR blocks, with their edges. */
    assert_true(allowed(g, "a", "10.1.0.0"));
    assert_true(allowed(g, "a", "10.1.255.255"));
    assert_false(allowed(g, "a", "10.2.0.0"));
    assert_true(allowed(g, "a", "fd00::5"));
    assert_false(allowed(g, "a", "fc00::5"));
    netguard_free(g);
}

static void
test_odd_prefixes(void **state)
{
    (void)state;
    struct netguard *g = netguard_new();
    char *cause = NULL;
    assert_int_equal(netguard_allow(g, "127.0.0.0/9,fe80::/12", &cause), 0);
    assert_true(allowed(g, "a", "127.127.255.255"));
    /* 127.128.0.0 is outside 127.0.0.0/9: still loopback, refused. */
    assert_false(allowed(g, "a", "127.128.0.0"));
    assert_true(allowed(g, "a", "fe8f::1"));
    assert_false(allowed(g, "a", "fe90::1"));
    netguard_free(g);
    /* /0 opens everything of that family. */
    g = netguard_new();
    assert_int_equal(netguard_allow(g, "0.0.0.0/0", &cause), 0);
    assert_true(allowed(g, "a", "10.0.0.1"));
    assert_false(allowed(g, "a", "::1"));
    netguard_free(g);
}

static void
test_bad_entries(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "name/8",
        "-lead",       "a..b@c", "http://x",  "1.2.3.4/-1", "_x/1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct netguard *g = netguard_new();
        char *cause = NULL;
        int r = netguard_allow(g, bad[i], &cause);
        if (r != -1)
            print_error("'%s' was accepted\n", bad[i]);
        assert_int_equal(r, -1);
        assert_non_null(cause);
        /* It quotes the entry and says what to give instead. */
        assert_non_null(strstr(cause, bad[i]));
        assert_non_null(strstr(cause, "CIDR"));
        free(cause);
        netguard_free(g);
    }
    /* Entries before a bad one are kept; empty pieces are skipped. */
    struct netguard *g = netguard_new();
    char *cause = NULL;
    assert_int_equal(netguard_allow(g, " ,10.9.0.0/16,, bad/1", &cause), -1);
    free(cause);
    assert_true(allowed(g, "a", "10.9.1.1"));
    assert_int_equal(netguard_allow(g, "", &cause), 0);
    assert_null(cause);
    netguard_free(g);
}

static void
test_addr_str(void **state)
{
    (void)state;
    char buf[64];
    struct sockaddr_storage a = addr_of("192.0.2.10");
    assert_string_equal(
        netguard_addr_str((struct sockaddr *)&a, buf, sizeof(buf)),
        "192.0.2.10");
    a = addr_of("2001:db8::a");
    assert_string_equal(
        netguard_addr_str((struct sockaddr *)&a, buf, sizeof(buf)),
        "2001:db8::a");
    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_non_null(netguard_classify(&un));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_table),
        cmocka_unit_test(test_ipv6_table),
        cmocka_unit_test(test_no_exceptions),
        cmocka_unit_test(test_exceptions),
        cmocka_unit_test(test_odd_prefixes),
        cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_addr_str),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
