/* SPDX-License-Identifier: MIT */
/*
 * The SSRF guard: default address policy and --allow-hosts exceptions
 * (netguard.h).  IPv4 addresses are handled as host-order 32-bit numbers;
 * IPv6 addresses as 16 bytes, with the forms that embed an IPv4 address
 * judged by the embedded address.
 */
#include "netguard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One exception: a CIDR block (an address is a block of one) or a name. */
struct netguard_entry {
    int family;             /* AF_INET, AF_INET6, or 0 for a name */
    unsigned char addr[16]; /* network order; 4 bytes used for AF_INET */
    unsigned prefix;
    char *name; /* lowercase, no final dot */
};

struct netguard {
    struct netguard_entry *entries;
    size_t n, cap;
};

/* ---- the default policy ---- */

struct v4_range {
    uint32_t net;
    unsigned prefix;
    const char *why;
};

#define V4(a, b, c, d)                                                         \
    (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) |    \
     (uint32_t)(d))

/* Refused IPv4 blocks (RFC 6890 and its updates), most specific first. */
static const struct v4_range v4_refused[] = {
    {V4(255, 255, 255, 255), 32, "broadcast"},
    {V4(169, 254, 169, 254), 32, "link-local (cloud metadata service)"},
    {V4(0, 0, 0, 0), 8, "unspecified (\"this network\")"},
    {V4(10, 0, 0, 0), 8, "private (RFC 1918)"},
    {V4(100, 64, 0, 0), 10, "shared address space (CGNAT, RFC 6598)"},
    {V4(127, 0, 0, 0), 8, "loopback"},
    {V4(169, 254, 0, 0), 16, "link-local"},
    {V4(172, 16, 0, 0), 12, "private (RFC 1918)"},
    {V4(192, 0, 0, 0), 24, "reserved for IETF protocol assignments"},
    {V4(192, 0, 2, 0), 24, "documentation (TEST-NET-1)"},
    {V4(192, 88, 99, 0), 24, "6to4 relay anycast"},
    {V4(192, 168, 0, 0), 16, "private (RFC 1918)"},
    {V4(198, 18, 0, 0), 15, "benchmarking (RFC 2544)"},
    {V4(198, 51, 100, 0), 24, "documentation (TEST-NET-2)"},
    {V4(203, 0, 113, 0), 24, "documentation (TEST-NET-3)"},
    {V4(224, 0, 0, 0), 4, "multicast"},
    {V4(240, 0, 0, 0), 4, "reserved (240.0.0.0/4)"},
};

static uint32_t
v4_mask(unsigned prefix)
{
    return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

static const char *
classify_v4(uint32_t a)
{
    for (size_t i = 0; i < sizeof(v4_refused) / sizeof(v4_refused[0]); i++)
        if ((a & v4_mask(v4_refused[i].prefix)) == v4_refused[i].net)
            return v4_refused[i].why;
    return NULL;
}

static uint32_t
load_v4(const unsigned char *p)
{
    return V4(p[0], p[1], p[2], p[3]);
}

static int
prefix_match(const unsigned char *a, const unsigned char *net, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, net, whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char m = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & m) == (net[whole] & m);
}

/*
 * Judges an IPv6 address that embeds an IPv4 address (IPv4-mapped,
 * IPv4-compatible, NAT64, 6to4, Teredo) by the embedded address at v4.
 */
static const char *
embedded(const unsigned char *v4)
{
    return classify_v4(load_v4(v4));
}

static const char *
classify_v6(const unsigned char *a)
{
    static const unsigned char zero[16] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                             0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
    static const unsigned char nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 1};
    static const unsigned char discard[8] = {0x01, 0x00};
    static const unsigned char doc[4] = {0x20, 0x01, 0x0d, 0xb8};
    static const unsigned char teredo[4] = {0x20, 0x01, 0, 0};
    static const unsigned char sixto4[2] = {0x20, 0x02};

    if (memcmp(a, zero, 16) == 0)
        return "unspecified";
    if (memcmp(a, zero, 15) == 0 && a[15] == 1)
        return "loopback";
    if (memcmp(a, mapped, 12) == 0)
        return embedded(a + 12);
    if (memcmp(a, zero, 12) == 0) {
        /* ::a.b.c.d, deprecated IPv4-compatible: judged as a.b.c.d. */
        const char *why = embedded(a + 12);
        return why ? why : "IPv4-compatible (deprecated)";
    }
    if (memcmp(a, nat64, 12) == 0)
        return embedded(a + 12);
    if (prefix_match(a, nat64_local, 48))
        return "local-use NAT64 (RFC 8215)";
    if (prefix_match(a, discard, 64))
        return "discard-only (RFC 6666)";
    if (prefix_match(a, doc, 32))
        return "documentation (2001:db8::/32)";
    if (prefix_match(a, teredo, 32)) {
        /* The client address is stored inverted in the last 32 bits. */
        unsigned char client[4] = {(unsigned char)~a[12], (unsigned char)~a[13],
                                   (unsigned char)~a[14],
                                   (unsigned char)~a[15]};
        return embedded(client);
    }
    if (prefix_match(a, sixto4, 16))
        return embedded(a + 2);
    if ((a[0] & 0xfe) == 0xfc)
        return "unique-local (fc00::/7)";
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return "link-local";
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
        return "site-local (deprecated)";
    if (a[0] == 0xff)
        return "multicast";
    return NULL;
}

const char *
netguard_classify(const struct sockaddr *addr)
{
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)addr;
        return classify_v4(ntohl(s->sin_addr.s_addr));
    }
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)addr;
        return classify_v6(s->sin6_addr.s6_addr);
    }
    return "not an Internet address";
}

const char *
netguard_addr_str(const struct sockaddr *addr, char *out, size_t outlen)
{
    const void *p = NULL;
    if (addr->sa_family == AF_INET)
        p = &((const struct sockaddr_in *)addr)->sin_addr;
    else if (addr->sa_family == AF_INET6)
        p = &((const struct sockaddr_in6 *)addr)->sin6_addr;
    if (p == NULL ||
        inet_ntop(addr->sa_family, p, out, (socklen_t)outlen) == NULL)
        snprintf(out, outlen, "(address of family %d)", addr->sa_family);
    return out;
}

/* ---- the exceptions ---- */

struct netguard *
netguard_new(void)
{
    return calloc(1, sizeof(struct netguard));
}

void
netguard_free(struct netguard *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->n; i++)
        free(g->entries[i].name);
    free(g->entries);
    free(g);
}

/* Lowercases name[0..len) without a final dot into a new string. */
static char *
name_dup(const char *name, size_t len)
{
    if (len > 0 && name[len - 1] == '.')
        len--;
    char *s = malloc(len + 1);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        s[i] = (char)tolower((unsigned char)name[i]);
    s[len] = '\0';
    return s;
}

static int
valid_name(const char *s, size_t len)
{
    if (len == 0 || len > 254)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' &&
            s[i] != '_')
            return 0;
    return s[0] != '.' && s[0] != '-';
}

/* Reads one entry word[0..len) into *e.  Returns 0 or -1. */
static int
parse_entry(const char *word, size_t len, struct netguard_entry *e)
{
    char buf[64];
    memset(e, 0, sizeof(*e));
    const char *slash = memchr(word, '/', len);
    size_t alen = slash ? (size_t)(slash - word) : len;
    if (alen < sizeof(buf)) {
        memcpy(buf, word, alen);
        buf[alen] = '\0';
        if (inet_pton(AF_INET, buf, e->addr) == 1)
            e->family = AF_INET;
        else if (inet_pton(AF_INET6, buf, e->addr) == 1)
            e->family = AF_INET6;
    }
    if (e->family == 0) {
        if (slash != NULL || !valid_name(word, len))
            return -1;
        e->name = name_dup(word, len);
        return e->name ? 0 : -1;
    }
    unsigned max = e->family == AF_INET ? 32 : 128;
    e->prefix = max;
    if (slash != NULL) {
        const char *p = slash + 1, *end = word + len;
        if (p == end || end - p > 3)
            return -1;
        unsigned v = 0;
        for (; p < end; p++) {
            if (!isdigit((unsigned char)*p))
                return -1;
            v = v * 10 + (unsigned)(*p - '0');
        }
        if (v > max)
            return -1;
        e->prefix = v;
    }
    return 0;
}

int
netguard_allow(struct netguard *g, const char *list, char **cause)
{
    *cause = NULL;
    const char *p = list;
    while (*p != '\0') {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        size_t len = strcspn(p, ", \t");
        struct netguard_entry e;
        if (parse_entry(p, len, &e) != 0) {
            size_t shown = len > 200 ? 200 : len;
#define BAD_ENTRY                                                              \
    "--allow-hosts: cannot read '%.*s': give host names, addresses "           \
    "(127.0.0.1, ::1) or CIDR blocks (10.0.0.0/8)"
            int n = snprintf(NULL, 0, BAD_ENTRY, (int)shown, p);
            *cause = malloc((size_t)n + 1);
            if (*cause != NULL)
                snprintf(*cause, (size_t)n + 1, BAD_ENTRY, (int)shown, p);
#undef BAD_ENTRY
            return -1;
        }
        if (g->n == g->cap) {
            size_t cap = g->cap ? g->cap * 2 : 8;
            struct netguard_entry *v = realloc(g->entries, cap * sizeof(*v));
            if (v == NULL) {
                free(e.name);
                *cause = strdup("--allow-hosts: out of memory");
                return -1;
            }
            g->entries = v;
            g->cap = cap;
        }
        g->entries[g->n++] = e;
        p += len;
    }
    return 0;
}

/*
 * The address as the exceptions see it: IPv4-mapped IPv6 addresses are
 * matched as the IPv4 address they carry.
 */
static int
normal_addr(const struct sockaddr *addr, unsigned char out[16])
{
    if (addr->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)addr)->sin_addr, 4);
        return AF_INET;
    }
    if (addr->sa_family == AF_INET6) {
        const unsigned char *a =
            ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                                 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, 12) == 0) {
            memcpy(out, a + 12, 4);
            return AF_INET;
        }
        memcpy(out, a, 16);
        return AF_INET6;
    }
    return 0;
}

static int
excepted(const struct netguard *g, const char *host,
         const struct sockaddr *addr)
{
    unsigned char a[16];
    int family = normal_addr(addr, a);
    size_t hlen = host ? strlen(host) : 0;
    if (hlen > 0 && host[hlen - 1] == '.')
        hlen--;
    for (size_t i = 0; g != NULL && i < g->n; i++) {
        const struct netguard_entry *e = &g->entries[i];
        if (e->name != NULL) {
            if (hlen > 0 && strlen(e->name) == hlen &&
                strncasecmp(e->name, host, hlen) == 0)
                return 1;
        } else if (e->family == family && prefix_match(a, e->addr, e->prefix)) {
            return 1;
        }
    }
    return 0;
}

int
netguard_check(const struct netguard *g, const char *host,
               const struct sockaddr *addr, char *why, size_t whylen)
{
    const char *reason = netguard_classify(addr);
    if (reason == NULL || excepted(g, host, addr))
        return 0;
    char shown[INET6_ADDRSTRLEN + 32];
    netguard_addr_str(addr, shown, sizeof(shown));
    snprintf(why, whylen, "%s is %s", shown, reason);
    return -1;
}
