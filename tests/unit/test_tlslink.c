/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of rediss://: the URL (common/redisurl.c), the TLS settings
 * (common/tlsconf.c) and the bridge (common/tlslink.c) against a TLS server
 * in the same event loop, with a CA and certificates made here in memory.
 * The bridge must carry bytes both ways intact, hold at most about
 * 2 x TLSLINK_BUF_MAX while the plain side does not read (back-pressure),
 * and say what is wrong for: a certificate for another name, an untrusted
 * CA, a plain server, a closed port.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "redisurl.h"
#include "tlsconf.h"
#include "tlslink.h"

/* ---- certificates ---- */

static long serial = 1;

static void
add_ext(X509 *x, X509V3_CTX *v, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v, nid, value);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

/* A certificate for key: a CA when issuer is NULL (self-signed). */
static X509 *
cert_new(EVP_PKEY *key, const char *cn, const char *san, X509 *issuer,
         EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();
    X509V3_CTX v;

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn,
                               -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509V3_set_ctx_nodb(&v);
    X509V3_set_ctx(&v, issuer ? issuer : x, x, NULL, NULL, 0);
    if (issuer == NULL) {
        add_ext(x, &v, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, &v, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, &v, NID_basic_constraints, "CA:FALSE");
        add_ext(x, &v, NID_subject_alt_name, san);
    }
    assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

/* The test's PKI: a CA (in a PEM file), and server contexts for a
 * certificate valid for localhost/127.0.0.1 and one for another name. */
struct pki {
    char ca_path[64];
    SSL_CTX *good;  /* CN localhost, SAN localhost + 127.0.0.1 */
    SSL_CTX *wrong; /* SAN other.example only */
};

static SSL_CTX *
server_ctx(X509 *cert, EVP_PKEY *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
    return ctx;
}

static void
pki_make(struct pki *p)
{
    EVP_PKEY *cakey = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
    assert_non_null(cakey);
    assert_non_null(key);
    X509 *ca = cert_new(cakey, "test ca", NULL, NULL, NULL);
    X509 *good =
        cert_new(key, "localhost", "DNS:localhost,DNS:multi.test,IP:127.0.0.1",
                 ca, cakey);
    X509 *wrong =
        cert_new(key, "other.example", "DNS:other.example", ca, cakey);
    snprintf(p->ca_path, sizeof(p->ca_path), "/tmp/celeriac-ca-XXXXXX");
    int fd = mkstemp(p->ca_path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, ca), 1);
    fclose(f);
    p->good = server_ctx(good, key);
    p->wrong = server_ctx(wrong, key);
    X509_free(ca);
    X509_free(good);
    X509_free(wrong);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(key);
}

static void
pki_free(struct pki *p)
{
    unlink(p->ca_path);
    SSL_CTX_free(p->good);
    SSL_CTX_free(p->wrong);
}

/* ---- a server in the same loop ---- */

#define BIG (8 * 1024 * 1024)

enum server_mode { SERVE_TLS, SERVE_PLAIN };

struct server {
    struct event_base *base;
    struct evconnlistener *lev;
    SSL_CTX *ctx; /* for SERVE_TLS */
    enum server_mode mode;
    struct bufferevent *conn;
    int port;
};

static unsigned char
pattern(size_t i)
{
    return (unsigned char)((i * 7 + i / 251) & 0xff);
}

/* Echoes what it gets; "BIG\n" asks for BIG bytes of pattern(). */
static void
server_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    unsigned char head[4];
    if (evbuffer_copyout(in, head, 4) == 4 && memcmp(head, "BIG\n", 4) == 0) {
        evbuffer_drain(in, 4);
        unsigned char *buf = malloc(BIG);
        for (size_t i = 0; i < BIG; i++)
            buf[i] = pattern(i);
        bufferevent_write(bev, buf, BIG);
        free(buf);
        return;
    }
    bufferevent_write_buffer(bev, in);
}

static void
server_event(struct bufferevent *bev, short what, void *arg)
{
    struct server *s = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        bufferevent_free(bev);
        s->conn = NULL;
    }
}

static void
server_accept(struct evconnlistener *lev, evutil_socket_t fd,
              struct sockaddr *sa, int len, void *arg)
{
    struct server *s = arg;
    (void)lev;
    (void)sa;
    (void)len;
    if (s->mode == SERVE_PLAIN) {
        /* What a plain Redis answers to a ClientHello, more or less. */
        static const char junk[] = "-ERR unknown command\r\n";
        assert_int_equal(write(fd, junk, sizeof(junk) - 1),
                         (ssize_t)sizeof(junk) - 1);
        close(fd);
        return;
    }
    s->conn = bufferevent_openssl_socket_new(s->base, fd, SSL_new(s->ctx),
                                             BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(s->conn, server_read, NULL, server_event, s);
    bufferevent_enable(s->conn, EV_READ | EV_WRITE);
}

static void
server_start(struct server *s, struct event_base *base, SSL_CTX *ctx,
             enum server_mode mode)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    memset(s, 0, sizeof(*s));
    s->base = base;
    s->ctx = ctx;
    s->mode = mode;
    s->lev = evconnlistener_new_bind(base, server_accept, s,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                     8, (struct sockaddr *)&sin, sizeof(sin));
    assert_non_null(s->lev);
    socklen_t len = sizeof(sin);
    getsockname(evconnlistener_get_fd(s->lev), (struct sockaddr *)&sin, &len);
    s->port = ntohs(sin.sin_port);
}

static void
server_stop(struct server *s)
{
    if (s->conn != NULL)
        bufferevent_free(s->conn);
    evconnlistener_free(s->lev);
}

/* ---- the client side: a link and hiredis's end of it ---- */

struct client {
    struct tlslink *link;
    int fd; /* hiredis's end */
    int ready, gone;
    char *err;
};

static void
client_ready(void *arg, struct tlslink *l, const char *err, const char *version)
{
    struct client *c = arg;
    (void)l;
    c->ready = 1;
    if (err != NULL)
        c->err = strdup(err);
    else
        assert_non_null(version);
}

static void
client_gone(void *arg, struct tlslink *l)
{
    struct client *c = arg;
    (void)l;
    c->gone = 1;
    c->link = NULL;
}

static const struct tlslink_cbs client_cbs = {
    .ready = client_ready,
    .gone = client_gone,
};

/* Starts a link to host:port and runs the loop until its handshake is
 * over.  Returns 0 if connected, -1 with c->err set. */
static int
client_connect_dns(struct client *c, struct event_base *base,
                   struct evdns_base *dns, SSL_CTX *ctx, const char *host,
                   int port)
{
    int sv[2];
    char *cause = NULL;
    memset(c, 0, sizeof(*c));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    c->fd = sv[0];
    fcntl(c->fd, F_SETFL, O_NONBLOCK);
    c->link = tlslink_start(base, dns, ctx, host, port, "the server", sv[1],
                            5000, &client_cbs, c, &cause);
    if (c->link == NULL) {
        c->err = cause;
        return -1;
    }
    while (!c->ready)
        assert_int_equal(event_base_loop(base, EVLOOP_ONCE), 0);
    return c->err == NULL ? 0 : -1;
}

static int
client_connect(struct client *c, struct event_base *base, SSL_CTX *ctx,
               const char *host, int port)
{
    return client_connect_dns(c, base, NULL, ctx, host, port);
}

static void
client_close(struct client *c, struct event_base *base)
{
    close(c->fd);
    for (int i = 0; i < 1000 && !c->gone && c->link != NULL; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    if (c->link != NULL)
        tlslink_free(c->link);
    free(c->err);
}

static SSL_CTX *
client_ctx(const char *ca_file)
{
    struct tlsconf t = {0};
    char *cause = NULL;
    if (ca_file != NULL)
        tlsconf_set(&t, "tls-ca-file", ca_file);
    SSL_CTX *ctx = tlsconf_ctx_new(&t, &cause);
    if (ctx == NULL)
        print_error("%s\n", cause);
    assert_non_null(ctx);
    tlsconf_clear(&t);
    return ctx;
}

/* ---- tests ---- */

static void
test_rediss_url(void **state)
{
    struct redisurl u;
    char *cause = NULL;
    (void)state;
    assert_int_equal(
        redisurl_parse("rediss://bob:pw@redis.example:6380/2", &u, &cause), 0);
    assert_int_equal(u.tls, 1);
    assert_string_equal(u.host, "redis.example");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 2);
    assert_string_equal(u.user, "bob");
    assert_string_equal(u.password, "pw");
    char *d = redisurl_describe(&u);
    assert_string_equal(d, "redis.example:6380/2 (TLS)");
    free(d);
    redisurl_clear(&u);
    assert_int_equal(redisurl_parse("redis://h", &u, &cause), 0);
    assert_int_equal(u.tls, 0);
    redisurl_clear(&u);
    assert_int_equal(redisurl_parse("rediss://[::1]", &u, &cause), 0);
    assert_int_equal(u.tls, 1);
    assert_string_equal(u.host, "::1");
    redisurl_clear(&u);
    static const char *bad[] = {"redisss://h", "rediss:/h", "rediss://",
                                "tls://h"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(redisurl_parse(bad[i], &u, &cause), -1);
        assert_non_null(cause);
        free(cause);
        cause = NULL;
    }
    /* The secret of a rediss:// URL is hidden like any other. */
    d = redisurl_redact("rediss://bob:pw@h:1/0");
    assert_string_equal(d, "rediss://***@h:1/0");
    free(d);
}

static void
test_conf_errors(void **state)
{
    struct tlsconf t = {0};
    char *cause = NULL;
    (void)state;

    assert_int_equal(tlsconf_set(&t, "tls-nonsense", "x"), -1);
    tlsconf_set(&t, "tls-ca-file", "/nonexistent/ca.pem");
    assert_null(tlsconf_ctx_new(&t, &cause));
    assert_non_null(strstr(cause, "--tls-ca-file '/nonexistent/ca.pem'"));
    assert_non_null(strstr(cause, "No such file or directory"));
    free(cause);
    tlsconf_clear(&t);

    tlsconf_set(&t, "tls-key", "/nonexistent/key.pem");
    assert_null(tlsconf_ctx_new(&t, &cause));
    assert_non_null(strstr(cause, "without --tls-cert"));
    free(cause);
    tlsconf_clear(&t);

    tlsconf_set(&t, "tls-cert", "/nonexistent/cert.pem");
    assert_null(tlsconf_ctx_new(&t, &cause));
    assert_non_null(strstr(cause, "--tls-cert '/nonexistent/cert.pem'"));
    free(cause);
    tlsconf_clear(&t);

    /* The environment fills what the options left unset. */
    setenv("CELERIAC_TLS_CA_DIR", "/env/dir", 1);
    setenv("CELERIAC_TLS_CA_FILE", "/env/file", 1);
    tlsconf_set(&t, "tls-ca-file", "/opt/file");
    tlsconf_env(&t);
    assert_string_equal(t.ca_file, "/opt/file");
    assert_string_equal(t.ca_dir, "/env/dir");
    assert_null(t.cert);
    tlsconf_clear(&t);
    unsetenv("CELERIAC_TLS_CA_DIR");
    unsetenv("CELERIAC_TLS_CA_FILE");
}

/* 1 MiB each way at once, and BIG bytes from the server while the plain
 * side reads nothing for a while: bounded, then delivered intact. */
static void
test_link_carries_bytes_bounded(void **state)
{
    struct pki p;
    struct server s;
    struct client c;
    (void)state;
    pki_make(&p);
    struct event_base *base = event_base_new();
    server_start(&s, base, p.good, SERVE_TLS);
    SSL_CTX *ctx = client_ctx(p.ca_path);

    assert_int_equal(client_connect(&c, base, ctx, "localhost", s.port), 0);

    /* Echo: write and read at the same time. */
    size_t n = 1024 * 1024, sent = 0, got = 0;
    unsigned char *out = malloc(n), *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        out[i] = pattern(i + 3);
    while (got < n) {
        if (sent < n) {
            ssize_t w = write(c.fd, out + sent, n - sent);
            if (w > 0)
                sent += (size_t)w;
        }
        ssize_t r = read(c.fd, in + got, n - got);
        if (r > 0)
            got += (size_t)r;
        assert_true(r != 0);
        event_base_loop(base, EVLOOP_NONBLOCK);
        assert_true(tlslink_buffered(c.link) <= 2 * TLSLINK_BUF_MAX + 65536);
    }
    assert_memory_equal(in, out, n);
    free(in);
    free(out);

    /* The server sends BIG bytes; nobody reads the plain side. */
    assert_int_equal(write(c.fd, "BIG\n", 4), 4);
    size_t most = 0;
    for (int i = 0; i < 3000; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        size_t b = tlslink_buffered(c.link);
        if (b > most)
            most = b;
    }
    if (most > 2 * TLSLINK_BUF_MAX + 65536)
        print_error("the link held %zu bytes\n", most);
    assert_true(most <= 2 * TLSLINK_BUF_MAX + 65536);
    assert_true(most >= TLSLINK_BUF_MAX / 2); /* it did fill, then stop */
    /* Now read it all. */
    unsigned char *buf = malloc(65536);
    size_t total = 0;
    int bad = 0;
    while (total < BIG) {
        ssize_t r = read(c.fd, buf, 65536);
        assert_true(r != 0);
        for (ssize_t i = 0; i < r; i++)
            bad |= buf[i] != pattern(total + (size_t)i);
        if (r > 0)
            total += (size_t)r;
        event_base_loop(base, EVLOOP_NONBLOCK);
        assert_true(tlslink_buffered(c.link) <= 2 * TLSLINK_BUF_MAX + 65536);
    }
    assert_int_equal(total, BIG);
    assert_false(bad);
    free(buf);

    /* hiredis closing its end ends the link. */
    client_close(&c, base);
    assert_true(c.gone);
    server_stop(&s);
    SSL_CTX_free(ctx);
    event_base_free(base);
    pki_free(&p);
}

/* Connects to a server and returns the reason it failed; caller frees. */
static char *
failure(SSL_CTX *server, enum server_mode mode, SSL_CTX *ctx, const char *host,
        int close_first)
{
    struct server s;
    struct client c;
    struct event_base *base = event_base_new();
    server_start(&s, base, server, mode);
    int port = s.port;
    if (close_first)
        server_stop(&s);
    assert_int_equal(client_connect(&c, base, ctx, host, port), -1);
    assert_non_null(c.err);
    char *err = c.err;
    c.err = NULL;
    for (int i = 0; i < 200; i++) /* let the server side settle */
        event_base_loop(base, EVLOOP_NONBLOCK);
    assert_true(c.gone || c.link == NULL);
    if (!close_first)
        server_stop(&s);
    event_base_free(base);
    return err;
}

static void
expect(char *err, const char *words)
{
    if (strstr(err, words) == NULL)
        print_error("\"%s\" should say \"%s\"\n", err, words);
    assert_non_null(strstr(err, words));
    free(err);
}

static void
test_link_failures_say_what_to_do(void **state)
{
    struct pki p;
    (void)state;
    pki_make(&p);
    SSL_CTX *ctx = client_ctx(p.ca_path);
    SSL_CTX *system = client_ctx(NULL);

    expect(failure(p.wrong, SERVE_TLS, ctx, "localhost", 0),
           "is not valid for that host name (hostname mismatch)");
    expect(failure(p.wrong, SERVE_TLS, ctx, "127.0.0.1", 0),
           "is not valid for that host name");
    expect(failure(p.good, SERVE_TLS, system, "localhost", 0),
           "give the CA that signed it with --tls-ca-file");
    expect(failure(NULL, SERVE_PLAIN, ctx, "localhost", 0),
           "use redis:// (or sentinel://) for a server without TLS");
    expect(failure(p.good, SERVE_TLS, ctx, "127.0.0.1", 1),
           "Connection refused — is redis-server running");
    expect(failure(p.good, SERVE_TLS, ctx, "no-such-host.invalid", 0),
           "cannot resolve the host of the server");

    SSL_CTX_free(ctx);
    SSL_CTX_free(system);
    pki_free(&p);
}

/* A name with two addresses, the first refusing: the second is used
 * (resolved with evdns from a hosts file, as in the worker). */
static void
test_link_tries_every_address(void **state)
{
    struct pki p;
    struct server s;
    struct client c;
    char hosts[] = "/tmp/celeriac-hosts-XXXXXX";
    (void)state;
    pki_make(&p);
    struct event_base *base = event_base_new();
    server_start(&s, base, p.good, SERVE_TLS);
    int fd = mkstemp(hosts);
    assert_true(fd >= 0);
    const char text[] = "127.0.0.2 multi.test\n127.0.0.1 multi.test\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1),
                     (ssize_t)sizeof(text) - 1);
    close(fd);
    struct evdns_base *dns = evdns_base_new(base, 0);
    assert_non_null(dns);
    assert_int_equal(evdns_base_load_hosts(dns, hosts), 0);
    SSL_CTX *ctx = client_ctx(p.ca_path);

    assert_int_equal(
        client_connect_dns(&c, base, dns, ctx, "multi.test", s.port), 0);
    assert_int_equal(write(c.fd, "ping", 4), 4);
    char buf[4];
    size_t got = 0;
    while (got < 4) {
        ssize_t r = read(c.fd, buf + got, 4 - got);
        if (r > 0)
            got += (size_t)r;
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    assert_memory_equal(buf, "ping", 4);
    client_close(&c, base);

    /* Only refusing addresses: the last one's error. */
    server_stop(&s);
    assert_int_equal(
        client_connect_dns(&c, base, dns, ctx, "multi.test", s.port), -1);
    if (strstr(c.err, "Connection refused") == NULL)
        print_error("%s\n", c.err);
    assert_non_null(strstr(c.err, "Connection refused"));
    free(c.err);
    close(c.fd);

    evdns_base_free(dns, 0);
    unlink(hosts);
    SSL_CTX_free(ctx);
    event_base_free(base);
    pki_free(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rediss_url),
        cmocka_unit_test(test_conf_errors),
        cmocka_unit_test(test_link_carries_bytes_bounded),
        cmocka_unit_test(test_link_failures_say_what_to_do),
        cmocka_unit_test(test_link_tries_every_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
