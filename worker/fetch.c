/* SPDX-License-Identifier: MIT */
/*
 * The URL fetcher (fetch.h): HTTP/1.1 over libevent bufferevents, TLS with
 * bufferevent_openssl, names with evdns_getaddrinfo.  Without a pool one
 * request per connection ("Connection: close"); with one (struct
 * fetch_pool, at the end of this file) connections are kept alive.  A
 * fetch moves through these phases, once per hop:
 *
 *   RESOLVE -> CONNECT -> WAIT_FIRST -> HEAD -> BODY -> (done)
 *                                        \-> redirect: RESOLVE of the next hop
 *   (a pooled connection: straight to WAIT_FIRST; if it fails before the
 *   first response byte, RESOLVE once on a new connection)
 *
 * Two timers bound it: the total timer (armed once, at the start) and the
 * phase timer (connect, then first byte; disarmed at the first byte).
 * Every function that may end the fetch returns GONE after freeing it; its
 * callers then return at once without touching it.
 */
#include "fetch.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "castore.h"
#include "netguard.h"

/* Longest URL accepted (first one or redirect target). */
#define URL_MAX 8192
/* Longest Content-Type kept. */
#define CTYPE_MAX 256
/* Allowed addresses of one name tried in turn, at most. */
#define ADDRS_MAX 8
/* Most header lines in one response. */
#define HEADERS_MAX 200
/* A redirect's body read (and dropped) to keep its connection, at most. */
#define REDIRECT_DRAIN_MAX (64 * 1024)

#define GONE 1

enum phase { P_START, P_RESOLVE, P_CONNECT, P_WAIT_FIRST, P_HEAD, P_BODY };
enum body_mode { B_NONE, B_LENGTH, B_CHUNKED, B_CLOSE };
enum chunk_state { C_SIZE, C_DATA, C_CRLF, C_TRAILER };

struct fetch {
    const struct fetch_config *cfg;
    struct fetch_callbacks cb;
    void *arg;
    unsigned flags;

    /* The current hop. */
    char *url;
    int https;
    char *host;  /* lowercase name or address literal, no brackets */
    int literal; /* host is an address literal */
    unsigned port;
    char *target; /* path and query */

    enum phase phase;
    struct evdns_getaddrinfo_request *dns_req;
    int in_dns;      /* inside evdns_getaddrinfo() */
    int dns_pending; /* its answer came during the call */
    int dns_result;
    struct evutil_addrinfo *dns_ai;
    struct sockaddr_storage addrs[ADDRS_MAX]; /* allowed, in DNS order */
    socklen_t addr_lens[ADDRS_MAX];
    unsigned naddrs, next_addr; /* next_addr - 1 is the one in use */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    char peer_str[INET6_ADDRSTRLEN + 8];
    struct bufferevent *bev;
    int eof;
    int reused; /* bev came from the pool (cleared when retried) */

    /* The response of the current hop. */
    int status;
    char reason[64];
    char *content_type;
    char *location;
    int64_t content_length;
    int chunked;
    size_t head_bytes;
    unsigned nheaders;
    enum body_mode mode;
    enum chunk_state cstate;
    uint64_t remaining;
    int http10;     /* the response is HTTP/1.0 */
    int draining;   /* reading a redirect's body, then to next_url */
    char *next_url;
    int conn_close; /* the response said "Connection: close" */

    uint64_t bytes;
    unsigned redirects;
    struct timespec t0;
    double first_byte_ms;
    int paused;

    struct event *total_timer;
    struct event *phase_timer;
    struct event *kick; /* starts the fetch, and resumes it */
};

static const char *const error_names[] = {
    [FETCH_OK] = "OK",
    [FETCH_HTTP_ERROR] = "HTTPError",
    [FETCH_TOO_MANY_REDIRECTS] = "TooManyRedirects",
    [FETCH_BODY_TOO_LARGE] = "BodyTooLarge",
    [FETCH_TIMEOUT] = "Timeout",
    [FETCH_DNS_ERROR] = "DNSError",
    [FETCH_ADDRESS_REFUSED] = "AddressRefused",
    [FETCH_TLS_ERROR] = "TLSError",
    [FETCH_BAD_URL] = "BadURL",
    [FETCH_SCHEME_REFUSED] = "SchemeRefused",
    [FETCH_CONNECT_ERROR] = "ConnectError",
    [FETCH_BAD_RESPONSE] = "BadResponse",
    [FETCH_NO_MEMORY] = "NoMemory",
};

const char *
fetch_error_name(enum fetch_error_type type)
{
    if ((size_t)type < sizeof(error_names) / sizeof(error_names[0]) &&
        error_names[type] != NULL)
        return error_names[type];
    return "FetchError";
}

static void set_error(struct fetch_error *err, enum fetch_error_type type,
                      int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
set_error(struct fetch_error *err, enum fetch_error_type type, int status,
          const char *fmt, ...)
{
    err->type = type;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

/* A URL cut for messages: at most 200 bytes. */
#define URLF "%.200s%s"
#define URLA(u) (u), (strlen(u) > 200 ? "..." : "")

static double
ms_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) * 1e3 +
           (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * Arms timer for ms milliseconds from now; 0 means no limit.  (libevent's
 * clock is coarse, a few ms: timers may fire that much early.)
 */
static void
arm(struct event *timer, unsigned ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    if (ms > 0) {
        event_base_update_cache_time(event_get_base(timer));
        evtimer_add(timer, &tv);
    }
}

/* ---- URLs ---- */

struct url_parts {
    int https;
    char *host;
    int literal;
    unsigned port;
    char *target;
};

static void
url_parts_clear(struct url_parts *u)
{
    free(u->host);
    free(u->target);
    memset(u, 0, sizeof(*u));
}

/*
 * Splits url into *u.  Returns 0, or -1 with err filled (BadURL,
 * SchemeRefused, NoMemory) and *u empty.
 */
static int
url_parse(const char *url, struct url_parts *u, struct fetch_error *err)
{
    memset(u, 0, sizeof(*u));
    size_t len = strlen(url);
    if (len > URL_MAX) {
        set_error(err, FETCH_BAD_URL, 0,
                  "URL of %zu bytes is longer than the %d accepted", len,
                  URL_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f) {
            set_error(err, FETCH_BAD_URL, 0,
                      "URL '" URLF "' has a space, control or non-ASCII "
                      "byte at offset %zu: percent-encode it",
                      URLA(url), i);
            return -1;
        }
    }
    size_t s = 0;
    while (s < len && (isalnum((unsigned char)url[s]) || url[s] == '+' ||
                       url[s] == '-' || url[s] == '.'))
        s++;
    if (s == 0 || s >= len || url[s] != ':' ||
        !isalpha((unsigned char)url[0])) {
        set_error(err, FETCH_BAD_URL, 0,
                  "URL '" URLF "' has no scheme: give an absolute "
                  "http:// or https:// URL",
                  URLA(url));
        return -1;
    }
    if (s == 5 && strncasecmp(url, "https", 5) == 0)
        u->https = 1;
    else if (!(s == 4 && strncasecmp(url, "http", 4) == 0)) {
        set_error(err, FETCH_SCHEME_REFUSED, 0,
                  "URL '" URLF "' has the scheme '%.*s': only http and "
                  "https URLs are fetched",
                  URLA(url), (int)(s > 32 ? 32 : s), url);
        return -1;
    }
    const char *p = url + s + 1;
    if (strncmp(p, "//", 2) != 0) {
        set_error(err, FETCH_BAD_URL, 0,
                  "URL '" URLF "' has no '//' and host after its scheme",
                  URLA(url));
        return -1;
    }
    p += 2;
    size_t alen = strcspn(p, "/?#");
    const char *auth = p, *aend = p + alen;
    if (memchr(auth, '@', alen) != NULL) {
        set_error(err, FETCH_BAD_URL, 0,
                  "URL '" URLF "' carries a user name or password: they "
                  "are not sent; remove them",
                  URLA(url));
        return -1;
    }
    const char *h = auth, *hend, *portp = NULL;
    if (alen > 0 && *auth == '[') {
        h = auth + 1;
        hend = memchr(h, ']', (size_t)(aend - h));
        if (hend == NULL)
            goto bad_host;
        if (hend + 1 < aend) {
            if (hend[1] != ':')
                goto bad_host;
            portp = hend + 2;
        }
        u->literal = 1;
    } else {
        hend = memchr(auth, ':', alen);
        if (hend != NULL)
            portp = hend + 1;
        else
            hend = aend;
    }
    size_t hlen = (size_t)(hend - h);
    if (hlen == 0 || hlen > 253)
        goto bad_host;
    u->host = malloc(hlen + 1);
    if (u->host == NULL)
        goto no_memory;
    for (size_t i = 0; i < hlen; i++)
        u->host[i] = (char)tolower((unsigned char)h[i]);
    u->host[hlen] = '\0';
    if (u->literal) {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, u->host, &a6) != 1)
            goto bad_host;
    } else {
        for (size_t i = 0; i < hlen; i++)
            if (!isalnum((unsigned char)u->host[i]) && u->host[i] != '-' &&
                u->host[i] != '.' && u->host[i] != '_')
                goto bad_host;
        struct in_addr a4;
        u->literal = inet_pton(AF_INET, u->host, &a4) == 1;
    }
    u->port = u->https ? 443 : 80;
    if (portp != NULL) {
        size_t plen = (size_t)(aend - portp);
        if (plen > 0) {
            unsigned v = 0;
            if (plen > 5)
                goto bad_port;
            for (size_t i = 0; i < plen; i++) {
                if (!isdigit((unsigned char)portp[i]))
                    goto bad_port;
                v = v * 10 + (unsigned)(portp[i] - '0');
            }
            if (v == 0 || v > 65535)
                goto bad_port;
            u->port = v;
        }
    }
    const char *t = aend;
    size_t tlen = strcspn(t, "#");
    int slash = tlen == 0 || *t != '/';
    u->target = malloc(tlen + 2);
    if (u->target == NULL)
        goto no_memory;
    snprintf(u->target, tlen + 2, "%s%.*s", slash ? "/" : "", (int)tlen, t);
    return 0;

bad_host:
    url_parts_clear(u);
    set_error(err, FETCH_BAD_URL, 0,
              "URL '" URLF "' has no valid host: give a DNS name, an IPv4 "
              "address or an IPv6 address in brackets",
              URLA(url));
    return -1;
bad_port:
    url_parts_clear(u);
    set_error(err, FETCH_BAD_URL, 0,
              "URL '" URLF "' has a bad port: give a number from 1 to 65535",
              URLA(url));
    return -1;
no_memory:
    url_parts_clear(u);
    set_error(err, FETCH_NO_MEMORY, 0, "out of memory parsing a URL");
    return -1;
}

/*
 * The absolute URL that ref (a Location value) names relative to base.
 * Returns a new string, or NULL when out of memory.
 */
static char *
url_resolve(const char *base, const char *ref)
{
    size_t s = 0;
    while (isalnum((unsigned char)ref[s]) || ref[s] == '+' || ref[s] == '-' ||
           ref[s] == '.')
        s++;
    if (s > 0 && ref[s] == ':' && isalpha((unsigned char)ref[0]))
        return strdup(ref); /* absolute */
    const char *colon = strchr(base, ':');
    size_t scheme_len = (size_t)(colon - base) + 1; /* "http:" */
    const char *auth = colon + 3;
    size_t auth_len = strcspn(auth, "/?#");
    size_t need = strlen(base) + strlen(ref) + 4;
    char *out = malloc(need);
    if (out == NULL)
        return NULL;
    if (ref[0] == '/' && ref[1] == '/') {
        snprintf(out, need, "%.*s%s", (int)scheme_len, base, ref);
    } else if (ref[0] == '/') {
        snprintf(out, need, "%.*s%s", (int)(auth + auth_len - base), base, ref);
    } else if (ref[0] == '?' || ref[0] == '\0') {
        size_t path_end =
            (size_t)(auth + auth_len - base) + strcspn(auth + auth_len, "?#");
        snprintf(out, need, "%.*s%s", (int)path_end, base, ref);
    } else {
        /* A relative path: replaces the last segment of the base path. */
        const char *path = auth + auth_len;
        size_t plen = strcspn(path, "?#");
        const char *last = NULL;
        for (size_t i = 0; i < plen; i++)
            if (path[i] == '/')
                last = path + i;
        if (last == NULL)
            snprintf(out, need, "%.*s/%s", (int)(path - base), base, ref);
        else
            snprintf(out, need, "%.*s%s", (int)(last + 1 - base), base, ref);
    }
    return out;
}

/* ---- TLS ---- */

SSL_CTX *
fetch_ssl_ctx_new(const char *ca_file, struct fetch_error *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        set_error(err, FETCH_TLS_ERROR, 0, "cannot make a TLS context: %s",
                  ERR_reason_error_string(ERR_get_error()));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                     : castore_use_system(ctx);
    if (ok != 1) {
        unsigned long e = ERR_get_error();
        char why[256];
        ERR_error_string_n(e, why, sizeof(why));
        if (ca_file)
            set_error(err, FETCH_TLS_ERROR, 0,
                      "cannot load CA certificates from '%.200s' (%s): give "
                      "a readable PEM file of CA certificates",
                      ca_file, why);
        else
            set_error(err, FETCH_TLS_ERROR, 0,
                      "cannot load the system's CA certificates (%s): "
                      "install ca-certificates or give --ca-file",
                      why);
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* ---- the pool's side, used by fetches (defined at the end) ---- */

static int pool_put(struct fetch *f);
static int pool_take(struct fetch *f);
static void pool_count_opened(struct fetch_pool *pool);
static void pool_count_retried(struct fetch_pool *pool);

/* ---- the end of a fetch ---- */

static void
fill_facts(const struct fetch *f, struct fetch_facts *facts)
{
    facts->status = f->status;
    facts->url = f->url ? f->url : "";
    facts->content_type = f->content_type ? f->content_type : "";
    facts->content_length = f->content_length;
    facts->bytes = f->bytes;
    facts->redirects = f->redirects;
    facts->first_byte_ms = f->first_byte_ms;
    facts->total_ms = ms_since(&f->t0);
}

static void
close_hop(struct fetch *f)
{
    if (f->dns_req != NULL) {
        struct evdns_getaddrinfo_request *r = f->dns_req;
        f->dns_req = NULL;
        evdns_getaddrinfo_cancel(r);
    }
    if (f->dns_ai != NULL) {
        evutil_freeaddrinfo(f->dns_ai);
        f->dns_ai = NULL;
    }
    if (f->bev != NULL) {
        bufferevent_free(f->bev);
        f->bev = NULL;
    }
    if (f->phase_timer != NULL)
        evtimer_del(f->phase_timer);
}

static void
fetch_free(struct fetch *f)
{
    close_hop(f);
    if (f->total_timer != NULL)
        event_free(f->total_timer);
    if (f->phase_timer != NULL)
        event_free(f->phase_timer);
    if (f->kick != NULL)
        event_free(f->kick);
    free(f->url);
    free(f->host);
    free(f->target);
    free(f->content_type);
    free(f->location);
    free(f->next_url);
    free(f);
}

void
fetch_cancel(struct fetch *f)
{
    if (f != NULL)
        fetch_free(f);
}

/* Ends the fetch with err (NULL: success), calls on_done, frees.  GONE. */
static int
finish(struct fetch *f, const struct fetch_error *err)
{
    struct fetch_error ok = {.type = FETCH_OK};
    struct fetch_facts facts;
    if (err == NULL)
        pool_put(f); /* takes f->bev when it may be reused */
    close_hop(f);
    fill_facts(f, &facts);
    if (f->cb.on_done != NULL)
        f->cb.on_done(f, &facts, err ? err : &ok, f->arg);
    fetch_free(f);
    return GONE;
}

static int fail(struct fetch *f, enum fetch_error_type type, int status,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
fail(struct fetch *f, enum fetch_error_type type, int status, const char *fmt,
     ...)
{
    struct fetch_error err = {.type = type, .status = status};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.message, sizeof(err.message), fmt, ap);
    va_end(ap);
    return finish(f, &err);
}

/* ---- a hop: resolve, check, connect ---- */

static void dns_cb(int result, struct evutil_addrinfo *ai, void *arg);
static void read_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static int process(struct fetch *f);

/* Makes url the current hop.  Returns 0, or GONE after failing. */
static int
set_hop(struct fetch *f, char *url)
{
    struct url_parts u;
    struct fetch_error err;
    if (url_parse(url, &u, &err) != 0) {
        free(url);
        return finish(f, &err);
    }
    free(f->url);
    free(f->host);
    free(f->target);
    f->url = url;
    f->https = u.https;
    f->host = u.host;
    f->literal = u.literal;
    f->port = u.port;
    f->target = u.target;
    return 0;
}

static int
name_is_invalid(const char *host)
{
    size_t n = strlen(host);
    if (n > 0 && host[n - 1] == '.')
        n--;
    return (n == 7 && strncmp(host, "invalid", 7) == 0) ||
           (n > 8 && strncmp(host + n - 8, ".invalid", 8) == 0);
}

static int resolve(struct fetch *f);
static int send_request(struct fetch *f);

static int
start_hop(struct fetch *f)
{
    f->phase = P_RESOLVE;
    f->eof = 0;
    f->reused = 0;
    f->http10 = 0;
    f->conn_close = 0;
    f->status = 0;
    f->content_length = -1;
    f->chunked = 0;
    free(f->content_type);
    f->content_type = NULL;
    free(f->location);
    f->location = NULL;
    f->head_bytes = 0;
    f->nheaders = 0;
    f->first_byte_ms = -1; /* of the response whose body is handed out */
    if (name_is_invalid(f->host))
        return fail(f, FETCH_DNS_ERROR, 0,
                    "host name '%s' does not exist (names under .invalid "
                    "never resolve, RFC 6761): check the URL",
                    f->host);
    if (pool_take(f))
        return send_request(f);
    return resolve(f);
}

/* Resolves the current hop's host and connects (from dns_cb). */
static int
resolve(struct fetch *f)
{
    f->phase = P_RESOLVE;
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    char port[8];
    snprintf(port, sizeof(port), "%u", f->port);
    f->in_dns = 1;
    f->dns_pending = 0;
    struct evdns_getaddrinfo_request *r =
        evdns_getaddrinfo(f->cfg->dns, f->host, port, &hints, dns_cb, f);
    f->in_dns = 0;
    if (!f->dns_pending) {
        f->dns_req = r;
        return 0;
    }
    /* Answered during the call (an address literal, /etc/hosts). */
    struct evutil_addrinfo *ai = f->dns_ai;
    f->dns_ai = NULL;
    f->dns_pending = 0;
    dns_cb(f->dns_result, ai, f);
    return 0; /* dns_cb may have freed f: the caller returns at once */
}

static int connect_failed(struct fetch *f, int e);

static int
connect_peer(struct fetch *f)
{
    struct bufferevent *bev;
    if (f->https) {
        SSL *ssl = SSL_new(f->cfg->ssl_ctx);
        if (ssl == NULL)
            return fail(f, FETCH_NO_MEMORY, 0, "cannot make a TLS session");
        int ok;
        if (f->literal) {
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), f->host);
        } else {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            ok = SSL_set1_host(ssl, f->host) == 1 &&
                 SSL_set_tlsext_host_name(ssl, f->host) == 1;
        }
        if (!ok) {
            SSL_free(ssl);
            ERR_clear_error();
            return fail(f, FETCH_TLS_ERROR, 0,
                        "cannot set the TLS host name '%s'", f->host);
        }
        bev = bufferevent_openssl_socket_new(f->cfg->base, -1, ssl,
                                             BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE);
        if (bev == NULL) {
            SSL_free(ssl);
            return fail(f, FETCH_NO_MEMORY, 0, "cannot make a TLS stream");
        }
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    } else {
        bev = bufferevent_socket_new(f->cfg->base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (bev == NULL)
            return fail(f, FETCH_NO_MEMORY, 0, "cannot make a socket stream");
    }
    f->bev = bev;
    f->phase = P_CONNECT;
    pool_count_opened(f->cfg->pool);
    bufferevent_setcb(bev, read_cb, NULL, event_cb, f);
    bufferevent_setwatermark(bev, EV_READ, 0, FETCH_READ_MAX);
    /* A TLS stream may decrypt a whole FETCH_READ_MAX per read event
     * (libevent's default is 16 KiB). */
    bufferevent_set_max_single_read(bev, FETCH_READ_MAX);
    arm(f->phase_timer, f->cfg->connect_ms);
    if (bufferevent_socket_connect(bev, (struct sockaddr *)&f->peer,
                                   (int)f->peer_len) != 0)
        return connect_failed(f, EVUTIL_SOCKET_ERROR());
    return 0;
}

/* Connects to the next allowed address.  0, or GONE after failing. */
static int
connect_next(struct fetch *f)
{
    unsigned i = f->next_addr++;
    memcpy(&f->peer, &f->addrs[i], f->addr_lens[i]);
    f->peer_len = f->addr_lens[i];
    char a[INET6_ADDRSTRLEN];
    netguard_addr_str((struct sockaddr *)&f->peer, a, sizeof(a));
    snprintf(f->peer_str, sizeof(f->peer_str),
             f->peer.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, f->port);
    return connect_peer(f);
}

/*
 * The connection to the current address failed (errno e, 0 for a
 * timeout): the next allowed address, if any, else the fetch fails.
 */
static int
connect_failed(struct fetch *f, int e)
{
    if (f->next_addr < f->naddrs) {
        bufferevent_free(f->bev);
        f->bev = NULL;
        evtimer_del(f->phase_timer);
        return connect_next(f);
    }
    const char *tried = f->naddrs > 1 ? " (and its other addresses)" : "";
    if (e == 0)
        return fail(f, FETCH_TIMEOUT, 0,
                    "connecting to %s (%s%s)%s for '" URLF "' took longer "
                    "than the connect timeout of %u ms: the host is "
                    "unreachable or overloaded",
                    f->host, f->peer_str, tried, f->https ? " with TLS" : "",
                    URLA(f->url), f->cfg->connect_ms);
    return fail(f, FETCH_CONNECT_ERROR, 0,
                "cannot connect to %s (%s%s) for '" URLF "': %s; check that "
                "the server is up and the port is right",
                f->host, f->peer_str, tried, URLA(f->url), strerror(e));
}

static void
dns_cb(int result, struct evutil_addrinfo *ai, void *arg)
{
    struct fetch *f = arg;
    if (result == EVUTIL_EAI_CANCEL) {
        if (ai != NULL)
            evutil_freeaddrinfo(ai);
        return; /* close_hop() cancelled it; f may be on its way out */
    }
    if (f->in_dns) {
        f->dns_pending = 1;
        f->dns_result = result;
        f->dns_ai = ai;
        return;
    }
    f->dns_req = NULL;
    if (result != 0) {
        if (ai != NULL)
            evutil_freeaddrinfo(ai);
        fail(f, FETCH_DNS_ERROR, 0,
             "cannot resolve host name '%s': %s; check the URL and the "
             "resolver (/etc/resolv.conf)",
             f->host, evutil_gai_strerror(result));
        return;
    }
    char why[256] = "";
    f->naddrs = f->next_addr = 0;
    for (struct evutil_addrinfo *a = ai; a != NULL; a = a->ai_next) {
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
            continue;
        if (a->ai_addrlen > sizeof(f->peer) || f->naddrs == ADDRS_MAX)
            continue;
        char w[256];
        if (netguard_check(f->cfg->guard, f->host, a->ai_addr, w, sizeof(w)) !=
            0) {
            if (why[0] == '\0')
                memcpy(why, w, sizeof(why));
            continue;
        }
        memcpy(&f->addrs[f->naddrs], a->ai_addr, a->ai_addrlen);
        f->addr_lens[f->naddrs++] = (socklen_t)a->ai_addrlen;
    }
    if (ai != NULL)
        evutil_freeaddrinfo(ai);
    if (f->naddrs == 0) {
        if (why[0] == '\0')
            fail(f, FETCH_DNS_ERROR, 0,
                 "host name '%s' has no IPv4 or IPv6 address", f->host);
        else
            fail(f, FETCH_ADDRESS_REFUSED, 0,
                 "refused to connect to '%s' for '" URLF "': %s, which "
                 "fetches may not reach; list it in --allow-hosts if it "
                 "must be fetched",
                 f->host, URLA(f->url), why);
        return;
    }
    connect_next(f);
}

/* ---- the request ---- */

static int
send_request(struct fetch *f)
{
    struct evbuffer *out = bufferevent_get_output(f->bev);
    int v6 = strchr(f->host, ':') != NULL;
    int default_port = f->port == (f->https ? 443u : 80u);
    char port[8] = "";
    if (!default_port)
        snprintf(port, sizeof(port), ":%u", f->port);
    if (evbuffer_add_printf(
            out,
            "GET %s HTTP/1.1\r\n"
            "Host: %s%s%s%s\r\n"
            "User-Agent: %s\r\n"
            "Accept: */*\r\n"
            "Accept-Encoding: identity\r\n"
            "%s"
            "\r\n",
            f->target, v6 ? "[" : "", f->host, v6 ? "]" : "", port,
            f->cfg->user_agent ? f->cfg->user_agent : "celeriac",
            f->cfg->pool ? "" : "Connection: close\r\n") < 0)
        return fail(f, FETCH_NO_MEMORY, 0, "cannot queue the request");
    short what = f->paused ? EV_WRITE : EV_READ | EV_WRITE;
    if (!f->https) {
        /* A plain request goes out now when the socket takes it (it
         * does on a connected, idle connection): no write event to
         * register, wait for and remove.  Whatever is left (or an error)
         * is the bufferevent's, as before. */
        evbuffer_write(out, bufferevent_getfd(f->bev));
        if (evbuffer_get_length(out) == 0)
            what &= ~EV_WRITE;
    }
    if (bufferevent_enable(f->bev, what) != 0)
        return fail(f, FETCH_NO_MEMORY, 0, "cannot queue the request");
    f->phase = P_WAIT_FIRST;
    arm(f->phase_timer, f->cfg->first_byte_ms);
    return 0;
}

/* ---- the response ---- */

static int
bad_response(struct fetch *f, const char *what)
{
    return fail(f, FETCH_BAD_RESPONSE, f->status,
                "%s (%s) sent a bad HTTP response for '" URLF "': %s", f->host,
                f->peer_str, URLA(f->url), what);
}

/* Reads one line of the head, or NULL (not all there yet, or failed). */
static char *
head_line(struct fetch *f, int *gone)
{
    struct evbuffer *in = bufferevent_get_input(f->bev);
    size_t n = 0;
    char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
    if (line == NULL) {
        if (evbuffer_get_length(in) + f->head_bytes > FETCH_HEAD_MAX)
            *gone = bad_response(f, "its headers are longer than 64 KiB");
        return NULL;
    }
    f->head_bytes += n + 2;
    if (f->head_bytes > FETCH_HEAD_MAX) {
        free(line);
        *gone = bad_response(f, "its headers are longer than 64 KiB");
        return NULL;
    }
    return line;
}

static int
parse_status(struct fetch *f, const char *line)
{
    if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) ||
        line[8] != ' ' || !isdigit((unsigned char)line[9]) ||
        !isdigit((unsigned char)line[10]) ||
        !isdigit((unsigned char)line[11]) ||
        (line[12] != ' ' && line[12] != '\0'))
        return bad_response(f, "its status line is not HTTP/1.x");
    f->status =
        (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    f->http10 = line[7] == '0';
    if (f->status < 100)
        return bad_response(f, "its status is under 100");
    const char *r = line[12] ? line + 13 : "";
    size_t i = 0;
    for (; r[i] != '\0' && i + 1 < sizeof(f->reason); i++)
        f->reason[i] = isprint((unsigned char)r[i]) ? r[i] : '?';
    f->reason[i] = '\0';
    return 0;
}

static void
trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

static int
parse_header(struct fetch *f, const char *line)
{
    if (++f->nheaders > HEADERS_MAX)
        return bad_response(f, "it has more than 200 header lines");
    if (line[0] == ' ' || line[0] == '\t')
        return bad_response(f, "it folds a header over lines");
    const char *colon = strchr(line, ':');
    if (colon == NULL || colon == line)
        return bad_response(f, "a header line has no name and colon");
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vlen = strlen(v);
    trim(&v, &vlen);
#define IS(name)                                                               \
    (nlen == sizeof(name) - 1 && strncasecmp(line, name, nlen) == 0)
    if (IS("Content-Length")) {
        if (vlen == 0 || vlen > 18)
            return bad_response(f, "its Content-Length is not a number");
        int64_t n = 0;
        for (size_t i = 0; i < vlen; i++) {
            if (!isdigit((unsigned char)v[i]))
                return bad_response(f, "its Content-Length is not a number");
            n = n * 10 + (v[i] - '0');
        }
        if (f->content_length >= 0 && f->content_length != n)
            return bad_response(f, "it has two different Content-Lengths");
        f->content_length = n;
    } else if (IS("Transfer-Encoding")) {
        /* Only "chunked" (last) and "identity" are understood. */
        const char *last = v;
        for (size_t i = 0; i < vlen; i++)
            if (v[i] == ',')
                last = v + i + 1;
        size_t llen = vlen - (size_t)(last - v);
        trim(&last, &llen);
        if (llen == 7 && strncasecmp(last, "chunked", 7) == 0)
            f->chunked = 1;
        else if (!(llen == 8 && strncasecmp(last, "identity", 8) == 0))
            return bad_response(f,
                                "it uses a transfer coding other than chunked");
    } else if (IS("Content-Type")) {
        free(f->content_type);
        f->content_type = strndup(v, vlen > CTYPE_MAX ? CTYPE_MAX : vlen);
        if (f->content_type == NULL)
            return fail(f, FETCH_NO_MEMORY, 0, "out of memory");
        for (char *c = f->content_type; *c; c++)
            if (!isprint((unsigned char)*c))
                *c = '?';
    } else if (IS("Connection")) {
        /* A "close" among its comma-separated options. */
        const char *t = v;
        while (t < v + vlen) {
            size_t tlen = strcspn(t, ",");
            if (tlen > (size_t)(v + vlen - t))
                tlen = (size_t)(v + vlen - t);
            const char *w = t;
            size_t wlen = tlen;
            trim(&w, &wlen);
            if (wlen == 5 && strncasecmp(w, "close", 5) == 0)
                f->conn_close = 1;
            t += tlen + 1;
        }
    } else if (IS("Location")) {
        if (vlen > URL_MAX)
            return bad_response(f, "its Location is longer than 8 KiB");
        free(f->location);
        f->location = strndup(v, vlen);
        if (f->location == NULL)
            return fail(f, FETCH_NO_MEMORY, 0, "out of memory");
    }
#undef IS
    return 0;
}

static int
is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 ||
           status == 308;
}

/* Goes to the redirect's next hop (f->next_url).  GONE. */
static int
follow(struct fetch *f)
{
    char *next = f->next_url;
    f->next_url = NULL;
    f->draining = 0;
    pool_put(f);
    close_hop(f);
    if (set_hop(f, next) == GONE)
        return GONE;
    start_hop(f);
    return GONE; /* start_hop may have ended f; stop processing */
}

/* The head is complete: follow, fail, or start the body. */
static int
head_done(struct fetch *f)
{
    if (f->status >= 100 && f->status < 200) {
        if (f->status == 101)
            return bad_response(f, "it switched protocols (101)");
        /* An interim response: the real one follows. */
        f->status = 0;
        f->phase = P_WAIT_FIRST;
        f->content_length = -1;
        f->chunked = 0;
        return 0;
    }
    if (is_redirect(f->status) && f->location != NULL) {
        if (f->redirects >= f->cfg->max_redirects)
            return fail(f, FETCH_TOO_MANY_REDIRECTS, f->status,
                        "'" URLF "' redirects again after %u redirects "
                        "(limit %u, --max-redirects): the server may "
                        "redirect in a loop; fetch the final URL directly",
                        URLA(f->url), f->redirects, f->cfg->max_redirects);
        char *next = url_resolve(f->url, f->location);
        if (next == NULL)
            return fail(f, FETCH_NO_MEMORY, 0, "out of memory");
        f->redirects++;
        f->next_url = next;
        if (f->cfg->pool != NULL && !f->chunked && !f->conn_close &&
            !f->http10 && f->content_length >= 0 &&
            f->content_length <= REDIRECT_DRAIN_MAX) {
            /* Its (short) body is read and dropped, then the connection
             * goes back to the pool and the next hop starts; a body that
             * does not come within the first-byte timeout, or a connection
             * that ends, only costs the connection. */
            f->mode = B_LENGTH;
            f->remaining = (uint64_t)f->content_length;
            f->phase = P_BODY;
            f->draining = 1;
            arm(f->phase_timer, f->cfg->first_byte_ms);
            return 0;
        }
        return follow(f);
    }
    if ((f->status < 200 || f->status > 299) &&
        !(f->flags & FETCH_ACCEPT_ANY_STATUS))
        return fail(f, FETCH_HTTP_ERROR, f->status,
                    "'" URLF "' answered HTTP %d %s: the server refused "
                    "or does not have it",
                    URLA(f->url), f->status, f->reason);
    if (f->cfg->max_body > 0 && f->content_length >= 0 &&
        (uint64_t)f->content_length > f->cfg->max_body)
        return fail(f, FETCH_BODY_TOO_LARGE, f->status,
                    "'" URLF "' has a body of %" PRId64 " bytes, over the "
                    "limit of %" PRIu64 " bytes (--max-fetch-bytes)",
                    URLA(f->url), f->content_length, f->cfg->max_body);
    if (f->status == 204 || f->status == 304) {
        f->mode = B_NONE;
    } else if (f->chunked) {
        f->mode = B_CHUNKED;
        f->cstate = C_SIZE;
        f->content_length = -1;
    } else if (f->content_length >= 0) {
        f->mode = B_LENGTH;
        f->remaining = (uint64_t)f->content_length;
    } else {
        f->mode = B_CLOSE;
    }
    f->phase = P_BODY;
    if (f->cb.on_headers != NULL) {
        struct fetch_facts facts;
        fill_facts(f, &facts);
        f->cb.on_headers(f, &facts, f->arg);
    }
    if (f->mode == B_NONE || (f->mode == B_LENGTH && f->remaining == 0))
        return finish(f, NULL);
    return 0;
}

/*
 * libevent 2.1 reads at most 4 KiB per read (EVBUFFER_MAX_READ, a constant
 * it offers no way to change): a 64 KiB body took 16 wake-ups of an
 * ioctl(FIONREAD) and a readv each.  On a plain connection, read_more()
 * takes what the socket holds of a body of known length in one recv()
 * into the input buffer, up to FETCH_READ_MAX.  Not under TLS: the TLS
 * bufferevent reads whole records already.  A failing recv() costs only
 * the saving (an error or the end is met by libevent's next read).
 */
static void
read_more(struct fetch *f)
{
    if (f->https || f->bev == NULL)
        return;
    struct evbuffer *in = bufferevent_get_input(f->bev);
    size_t have = evbuffer_get_length(in);
    uint64_t ahead = f->remaining > have ? f->remaining - have : 0;
    if (ahead == 0 || have >= FETCH_READ_MAX)
        return;
    size_t n = FETCH_READ_MAX - have;
    if (n > ahead)
        n = (size_t)ahead;
    /* A bufferevent keeps the end of its input frozen but while it reads
     * into it; this is such a read. */
    struct evbuffer_iovec v;
    evbuffer_unfreeze(in, 0);
    if (evbuffer_reserve_space(in, (ev_ssize_t)n, &v, 1) == 1) {
        ssize_t got = recv(bufferevent_getfd(f->bev), v.iov_base, n,
                           MSG_DONTWAIT);
        v.iov_len = got > 0 ? (size_t)got : 0;
        evbuffer_commit_space(in, &v, 1);
    }
    evbuffer_freeze(in, 0);
}

/* Hands out up to max bytes of the input.  Sets *took to what it gave. */
static int
deliver(struct fetch *f, uint64_t max, uint64_t *took)
{
    struct evbuffer *in = bufferevent_get_input(f->bev);
    *took = 0;
    while (!f->paused && *took < max && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        size_t n = v.iov_len;
        if (n > max - *took)
            n = (size_t)(max - *took);
        if (f->cfg->max_body > 0 && f->bytes + n > f->cfg->max_body)
            return fail(f, FETCH_BODY_TOO_LARGE, f->status,
                        "'" URLF "' sent more than the limit of %" PRIu64
                        " bytes (--max-fetch-bytes)",
                        URLA(f->url), f->cfg->max_body);
        f->bytes += n;
        if (f->cb.on_chunk != NULL &&
            f->cb.on_chunk(f, v.iov_base, n, f->arg) != 0) {
            fetch_free(f);
            return GONE;
        }
        evbuffer_drain(in, n);
        *took += n;
    }
    return 0;
}

static int
body_chunked(struct fetch *f)
{
    struct evbuffer *in = bufferevent_get_input(f->bev);
    for (;;) {
        if (f->cstate == C_DATA) {
            uint64_t took;
            if (deliver(f, f->remaining, &took) == GONE)
                return GONE;
            f->remaining -= took;
            if (f->remaining > 0)
                return 0;
            f->cstate = C_CRLF;
            continue;
        }
        size_t n = 0;
        char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
        if (line == NULL) {
            if (evbuffer_get_length(in) > 4096)
                return bad_response(f, "a chunk line is longer than 4 KiB");
            return 0;
        }
        if (f->cstate == C_CRLF) {
            free(line);
            if (n != 0)
                return bad_response(f, "a chunk does not end with CRLF");
            f->cstate = C_SIZE;
        } else if (f->cstate == C_SIZE) {
            uint64_t size = 0;
            size_t i = 0;
            for (; isxdigit((unsigned char)line[i]) && i < 15; i++) {
                int c = tolower((unsigned char)line[i]);
                size =
                    size * 16 + (uint64_t)(isdigit(c) ? c - '0' : c - 'a' + 10);
            }
            int ok = i > 0 && (line[i] == '\0' || line[i] == ';' ||
                               line[i] == ' ' || line[i] == '\t');
            free(line);
            if (!ok)
                return bad_response(f, "a chunk size is not hexadecimal");
            if (size == 0) {
                f->cstate = C_TRAILER;
            } else {
                f->remaining = size;
                f->cstate = C_DATA;
            }
        } else { /* C_TRAILER */
            free(line);
            if (++f->nheaders > HEADERS_MAX)
                return bad_response(f, "it has more than 200 trailer lines");
            if (n == 0)
                return finish(f, NULL);
        }
    }
}

/* Moves the response on with what the input holds.  0 or GONE. */
static int
process(struct fetch *f)
{
    struct evbuffer *in = bufferevent_get_input(f->bev);
    while (f->phase == P_WAIT_FIRST || f->phase == P_HEAD) {
        int gone = 0;
        char *line = head_line(f, &gone);
        if (gone)
            return GONE;
        if (line == NULL)
            break;
        int r;
        if (f->phase == P_WAIT_FIRST) {
            f->phase = P_HEAD;
            r = parse_status(f, line);
        } else if (line[0] == '\0') {
            r = head_done(f);
        } else {
            r = parse_header(f, line);
        }
        free(line);
        if (r == GONE)
            return GONE;
    }
    if (f->phase == P_BODY && f->draining) {
        size_t n = evbuffer_get_length(in);
        if (n > f->remaining)
            n = (size_t)f->remaining;
        evbuffer_drain(in, n);
        f->remaining -= n;
        if (f->remaining == 0 || f->eof)
            return follow(f);
        return 0;
    }
    if (f->phase == P_BODY && !f->paused) {
        uint64_t took;
        switch (f->mode) {
        case B_LENGTH:
            read_more(f);
            if (deliver(f, f->remaining, &took) == GONE)
                return GONE;
            f->remaining -= took;
            if (f->remaining == 0)
                return finish(f, NULL);
            break;
        case B_CHUNKED:
            if (body_chunked(f) == GONE)
                return GONE;
            break;
        case B_CLOSE:
            if (deliver(f, UINT64_MAX, &took) == GONE)
                return GONE;
            if (f->eof && evbuffer_get_length(in) == 0)
                return finish(f, NULL);
            break;
        case B_NONE:
            return finish(f, NULL);
        }
    }
    if (f->eof && !f->paused) {
        if (f->phase == P_WAIT_FIRST && f->status == 0 &&
            evbuffer_get_length(in) == 0)
            return fail(f, FETCH_BAD_RESPONSE, 0,
                        "%s (%s) closed the connection without answering "
                        "'" URLF "'",
                        f->host, f->peer_str, URLA(f->url));
        if (f->phase == P_BODY && f->mode == B_LENGTH)
            return fail(f, FETCH_BAD_RESPONSE, f->status,
                        "%s (%s) closed the connection after %" PRIu64
                        " of %" PRId64 " body bytes of '" URLF "'",
                        f->host, f->peer_str, f->bytes, f->content_length,
                        URLA(f->url));
        return bad_response(f, "the connection closed in the middle of it");
    }
    return 0;
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
    struct fetch *f = arg;
    (void)bev;
    if (f->first_byte_ms < 0)
        f->first_byte_ms = ms_since(&f->t0);
    if (f->phase == P_WAIT_FIRST)
        evtimer_del(f->phase_timer);
    process(f);
}

/* The TLS failure of bev, in words, into out. */
static void
tls_reason(struct fetch *f, char *out, size_t outlen)
{
    SSL *ssl = bufferevent_openssl_get_ssl(f->bev);
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e = bufferevent_get_openssl_error(f->bev);
    char lib[200] = "";
    if (e != 0)
        ERR_error_string_n(e, lib, sizeof(lib));
    while (bufferevent_get_openssl_error(f->bev) != 0)
        ;
    ERR_clear_error();
    if (v != X509_V_OK)
        snprintf(out, outlen, "certificate not accepted: %s",
                 X509_verify_cert_error_string(v));
    else if (e != 0)
        snprintf(out, outlen, "%s", lib);
    else
        out[0] = '\0';
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct fetch *f = arg;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        evtimer_del(f->phase_timer);
        send_request(f);
        return;
    }
    int e = EVUTIL_SOCKET_ERROR();
    if (f->draining && (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) {
        ERR_clear_error();
        f->eof = 1;
        follow(f);
        return;
    }
    if (f->reused && f->phase == P_WAIT_FIRST && f->first_byte_ms < 0 &&
        (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) {
        /* The server closed the kept-alive connection before it saw the
         * request: once more on a new connection. */
        pool_count_retried(f->cfg->pool);
        bufferevent_free(f->bev);
        f->bev = NULL;
        f->reused = 0;
        evtimer_del(f->phase_timer);
        ERR_clear_error();
        resolve(f);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        f->eof = 1;
        bufferevent_disable(f->bev, EV_READ);
        if (f->phase != P_CONNECT) {
            process(f);
            return;
        }
        e = 0; /* closed during the TLS handshake */
    } else if (!(what & BEV_EVENT_ERROR)) {
        return;
    }
    if (f->https) {
        char why[300];
        tls_reason(f, why, sizeof(why));
        if (why[0] != '\0' || (f->phase == P_CONNECT && e == 0)) {
            fail(f, FETCH_TLS_ERROR, 0,
                 "TLS with %s (%s) for '" URLF "' failed: %s; if the "
                 "server is trusted, give its CA with --ca-file",
                 f->host, f->peer_str, URLA(f->url),
                 why[0] ? why
                        : "the server closed the connection during "
                          "the handshake");
            return;
        }
    }
    if (f->phase == P_CONNECT)
        connect_failed(f, e ? e : ECONNABORTED);
    else
        fail(f, FETCH_CONNECT_ERROR, f->status,
             "the connection to %s (%s) broke while fetching '" URLF
             "' after %" PRIu64 " body bytes: %s",
             f->host, f->peer_str, URLA(f->url), f->bytes,
             e ? strerror(e) : "connection error");
}

/* ---- timers, start, pause ---- */

static void
total_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fetch *f = arg;
    (void)fd;
    (void)what;
    fail(f, FETCH_TIMEOUT, f->status,
         "fetching '" URLF "' took longer than the total timeout of %u ms "
         "(%" PRIu64 " body bytes so far): the server is slow or stalled",
         URLA(f->url), f->cfg->total_ms, f->bytes);
}

static void
phase_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fetch *f = arg;
    (void)fd;
    (void)what;
    if (f->draining)
        follow(f); /* the redirect's body is late: not worth waiting */
    else if (f->phase == P_CONNECT)
        connect_failed(f, 0);
    else
        fail(f, FETCH_TIMEOUT, 0,
             "%s (%s) sent no response to '" URLF "' within the first-byte "
             "timeout of %u ms: the server accepted the connection but does "
             "not answer",
             f->host, f->peer_str, URLA(f->url), f->cfg->first_byte_ms);
}

static void
kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fetch *f = arg;
    (void)fd;
    (void)what;
    if (f->phase == P_START) {
        arm(f->total_timer, f->cfg->total_ms);
        start_hop(f);
        return;
    }
    if (f->bev != NULL && !f->paused)
        process(f);
}

struct fetch *
fetch_start(const struct fetch_config *cfg, const char *url, unsigned flags,
            const struct fetch_callbacks *cb, void *arg,
            struct fetch_error *err)
{
    struct url_parts u;
    if (url_parse(url, &u, err) != 0)
        return NULL;
    struct fetch *f = calloc(1, sizeof(*f));
    if (f == NULL || (f->url = strdup(url)) == NULL) {
        free(f);
        url_parts_clear(&u);
        set_error(err, FETCH_NO_MEMORY, 0, "out of memory starting a fetch");
        return NULL;
    }
    f->cfg = cfg;
    f->cb = *cb;
    f->arg = arg;
    f->flags = flags;
    f->https = u.https;
    f->host = u.host;
    f->literal = u.literal;
    f->port = u.port;
    f->target = u.target;
    f->phase = P_START;
    f->content_length = -1;
    f->first_byte_ms = -1;
    clock_gettime(CLOCK_MONOTONIC, &f->t0);
    f->total_timer = evtimer_new(cfg->base, total_timeout_cb, f);
    f->phase_timer = evtimer_new(cfg->base, phase_timeout_cb, f);
    f->kick = event_new(cfg->base, -1, 0, kick_cb, f);
    if (f->total_timer == NULL || f->phase_timer == NULL || f->kick == NULL) {
        fetch_free(f);
        set_error(err, FETCH_NO_MEMORY, 0, "out of memory starting a fetch");
        return NULL;
    }
    event_active(f->kick, EV_TIMEOUT, 1);
    return f;
}

void
fetch_pause(struct fetch *f)
{
    if (f->paused)
        return;
    f->paused = 1;
    if (f->bev != NULL)
        bufferevent_disable(f->bev, EV_READ);
}

void
fetch_resume(struct fetch *f)
{
    if (!f->paused)
        return;
    f->paused = 0;
    if (f->bev != NULL && !f->eof)
        bufferevent_enable(f->bev, EV_READ);
    if (f->phase != P_START)
        event_active(f->kick, EV_TIMEOUT, 1);
}

/* ---- kept-alive connections ---- */

/* An idle connection, in its pool's list (oldest first). */
struct pool_conn {
    struct pool_conn *prev, *next;
    struct fetch_pool *pool;
    char key[300]; /* "https://host:port" */
    const struct netguard *guard;
    SSL_CTX *ssl_ctx;
    struct bufferevent *bev;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    char peer_str[INET6_ADDRSTRLEN + 8];
    struct event *timer;
};

struct fetch_pool {
    struct event_base *base;
    unsigned max_per_host;
    unsigned idle_ms;
    struct pool_conn *head, *tail;
    struct fetch_pool_stats stats;
};

struct fetch_pool *
fetch_pool_new(struct event_base *base, unsigned max_idle_per_host,
               unsigned idle_ms)
{
    struct fetch_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    pool->base = base;
    pool->max_per_host = max_idle_per_host;
    pool->idle_ms = idle_ms ? idle_ms : FETCH_POOL_IDLE_MS_DEFAULT;
    return pool;
}

static void
conn_unlink(struct pool_conn *c)
{
    struct fetch_pool *pool = c->pool;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        pool->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        pool->tail = c->prev;
    c->prev = c->next = NULL;
    pool->stats.idle--;
}

/* Unlinks and closes an idle connection. */
static void
conn_close(struct pool_conn *c)
{
    conn_unlink(c);
    bufferevent_free(c->bev);
    event_free(c->timer);
    free(c);
}

void
fetch_pool_free(struct fetch_pool *pool)
{
    if (pool == NULL)
        return;
    while (pool->head != NULL)
        conn_close(pool->head);
    free(pool);
}

void
fetch_pool_get_stats(const struct fetch_pool *pool,
                     struct fetch_pool_stats *out)
{
    *out = pool->stats;
}

static void
pool_count_opened(struct fetch_pool *pool)
{
    if (pool != NULL)
        pool->stats.opened++;
}

static void
pool_count_retried(struct fetch_pool *pool)
{
    if (pool != NULL)
        pool->stats.retried++;
}

/* An idle connection became readable: data nobody asked for, or EOF. */
static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct pool_conn *c = arg;
    (void)bev;
    c->pool->stats.dropped++;
    conn_close(c);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct pool_conn *c = arg;
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        ERR_clear_error();
        c->pool->stats.dropped++;
        conn_close(c);
    }
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pool_conn *c = arg;
    (void)fd;
    (void)what;
    c->pool->stats.expired++;
    conn_close(c);
}

static void
pool_key(const struct fetch *f, char *key, size_t len)
{
    snprintf(key, len, "%s://%s:%u", f->https ? "https" : "http", f->host,
             f->port);
}

/*
 * Gives f's connection to the pool when its response was read completely
 * and cleanly and the pool has room; f->bev is then NULL.  1 if given.
 */
static int
pool_put(struct fetch *f)
{
    struct fetch_pool *pool = f->cfg->pool;
    if (pool == NULL || f->bev == NULL || pool->max_per_host == 0 ||
        f->phase != P_BODY || f->eof || f->conn_close || f->http10 ||
        f->mode == B_CLOSE ||
        evbuffer_get_length(bufferevent_get_input(f->bev)) != 0 ||
        evbuffer_get_length(bufferevent_get_output(f->bev)) != 0)
        return 0;
    if (f->mode == B_LENGTH && f->remaining != 0)
        return 0;
    if (f->mode == B_CHUNKED && f->cstate != C_TRAILER)
        return 0;
    struct pool_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return 0;
    c->timer = evtimer_new(pool->base, conn_timer_cb, c);
    if (c->timer == NULL) {
        free(c);
        return 0;
    }
    pool_key(f, c->key, sizeof(c->key));
    /* Room: the oldest of this key, then the oldest of all, go first. */
    unsigned same = 0;
    struct pool_conn *oldest = NULL;
    for (struct pool_conn *o = pool->head; o != NULL; o = o->next)
        if (strcmp(o->key, c->key) == 0 && same++ == 0)
            oldest = o;
    if (same >= pool->max_per_host) {
        pool->stats.evicted++;
        conn_close(oldest);
    }
    if (pool->stats.idle >= FETCH_POOL_IDLE_MAX) {
        pool->stats.evicted++;
        conn_close(pool->head);
    }
    c->pool = pool;
    c->guard = f->cfg->guard;
    c->ssl_ctx = f->cfg->ssl_ctx;
    c->bev = f->bev;
    memcpy(&c->peer, &f->peer, sizeof(c->peer));
    c->peer_len = f->peer_len;
    memcpy(c->peer_str, f->peer_str, sizeof(c->peer_str));
    f->bev = NULL;
    bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
    bufferevent_disable(c->bev, EV_WRITE);
    bufferevent_enable(c->bev, EV_READ);
    c->prev = pool->tail;
    if (pool->tail != NULL)
        pool->tail->next = c;
    else
        pool->head = c;
    pool->tail = c;
    pool->stats.idle++;
    pool->stats.returned++;
    arm(c->timer, pool->idle_ms);
    return 1;
}

/*
 * Takes the most recently idle connection for f's hop (same scheme, host
 * name, port, guard and TLS context) into f->bev.  1 if taken, else 0.
 */
static int
pool_take(struct fetch *f)
{
    struct fetch_pool *pool = f->cfg->pool;
    if (pool == NULL || pool->head == NULL)
        return 0;
    char key[sizeof(((struct pool_conn *)0)->key)];
    pool_key(f, key, sizeof(key));
    struct pool_conn *c = pool->tail;
    while (c != NULL && (strcmp(c->key, key) != 0 ||
                         c->guard != f->cfg->guard ||
                         c->ssl_ctx != f->cfg->ssl_ctx))
        c = c->prev;
    if (c == NULL)
        return 0;
    conn_unlink(c);
    f->bev = c->bev;
    memcpy(&f->peer, &c->peer, sizeof(f->peer));
    f->peer_len = c->peer_len;
    memcpy(f->peer_str, c->peer_str, sizeof(f->peer_str));
    f->naddrs = f->next_addr = 0;
    f->reused = 1;
    f->phase = P_CONNECT;
    event_free(c->timer);
    free(c);
    bufferevent_setcb(f->bev, read_cb, NULL, event_cb, f);
    pool->stats.reused++;
    return 1;
}
