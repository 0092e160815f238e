/* SPDX-License-Identifier: MIT */
/*
 * The URL fetcher: one HTTP/1.1 GET of an http:// or https:// URL on the
 * caller's libevent loop, its body handed out chunk by chunk as it arrives.
 * Owns the connection, the TLS session, the name resolution (evdns) and the
 * timers of each fetch; never blocks the loop.  Every hop (the first URL
 * and each redirect) is resolved here, its addresses checked against the
 * SSRF guard (netguard.h), and the connection made to the checked address
 * itself, with the name in the Host header, SNI and certificate check: no
 * second resolution, no window for DNS rebinding.
 *
 * Memory is bounded whatever the body size: the fetcher holds at most one
 * read (FETCH_READ_MAX bytes) and the headers (FETCH_HEAD_MAX); a caller
 * that cannot take more calls fetch_pause() from its chunk callback and
 * fetch_resume() later, and the socket is not read meanwhile.
 *
 * Kept-alive connections (fetch_pool_new(), struct fetch_config's pool):
 * without a pool every request goes on a new connection and says
 * "Connection: close".  With one, a connection whose response was read
 * completely and cleanly (a Content-Length body read to its end, a chunked
 * body to its last chunk and trailers, or no body) goes back to the pool
 * and the next request to the same scheme, host name and port takes it
 * instead of resolving and connecting again; redirect hops take and give
 * back connections too.  Never reused: a connection after a close-delimited
 * body, a response saying "Connection: close" or from an HTTP/1.0 server,
 * an error, a timeout, a body over the limit, a cancel, or a stop from
 * on_chunk (whatever was paused before).  Reuse opens no window for DNS
 * rebinding: the address a pooled connection is connected to was checked
 * by the SSRF guard when it was opened, and a request on it resolves
 * nothing; a pooled connection is only given to a fetch with the same
 * guard and TLS context, and a TLS one keeps its verified session (the
 * host name, hence SNI and the certificate check, is part of the key).
 * An idle connection is closed after the pool's idle time, when the server
 * closes it, and when it becomes readable (a server has nothing to say on
 * an idle connection).  A request on a reused connection that fails before
 * any byte of its response (the server closed the connection while it was
 * idle) is sent again once on a new connection: GET is idempotent; never
 * after a response byte arrived.
 */
#ifndef CELERIAC_FETCH_H
#define CELERIAC_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct event_base;
struct evdns_base;
struct netguard;

/* Bytes read from the socket at most between two pauses' checks. */
#define FETCH_READ_MAX (64 * 1024)
/* Status line and headers of one response, at most. */
#define FETCH_HEAD_MAX (64 * 1024)

/* What went wrong; FETCH_OK for a fetch that succeeded. */
enum fetch_error_type {
    FETCH_OK = 0,
    FETCH_HTTP_ERROR,         /* "HTTPError": a status outside 2xx */
    FETCH_TOO_MANY_REDIRECTS, /* "TooManyRedirects" */
    FETCH_BODY_TOO_LARGE,     /* "BodyTooLarge" */
    FETCH_TIMEOUT,            /* "Timeout": connect, first byte or total */
    FETCH_DNS_ERROR,          /* "DNSError" */
    FETCH_ADDRESS_REFUSED,    /* "AddressRefused": the SSRF guard */
    FETCH_TLS_ERROR,          /* "TLSError": handshake, certificate, name */
    FETCH_BAD_URL,            /* "BadURL" */
    FETCH_SCHEME_REFUSED,     /* "SchemeRefused": not http or https */
    FETCH_CONNECT_ERROR,      /* "ConnectError": refused, unreachable */
    FETCH_BAD_RESPONSE,       /* "BadResponse": not HTTP/1.x, cut short */
    FETCH_NO_MEMORY,          /* "NoMemory" */
};

/* The error's name in results ("HTTPError", ...). */
const char *fetch_error_name(enum fetch_error_type type);

struct fetch_error {
    enum fetch_error_type type;
    int status;        /* the HTTP status for FETCH_HTTP_ERROR, else 0 */
    char message[512]; /* says what happened and what a person can do */
};

/* Facts about a fetch, valid during the callback that receives them. */
struct fetch_facts {
    int status;               /* 0 until a response's headers arrived */
    const char *url;          /* the URL of the last hop (final URL) */
    const char *content_type; /* "" when the server sent none */
    int64_t content_length;   /* -1 when the server did not say */
    uint64_t bytes;           /* body bytes handed out so far */
    unsigned redirects;       /* redirects followed */
    double first_byte_ms;     /* start to first response byte, or -1 */
    double total_ms;          /* start to now */
};

/* Limits and context shared by many fetches; the caller owns all of it. */
struct fetch_config {
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *ssl_ctx;             /* from fetch_ssl_ctx_new() */
    const struct netguard *guard; /* NULL: default policy, no exceptions */
    unsigned max_redirects;
    uint64_t max_body;      /* bytes; 0 means no limit */
    unsigned connect_ms;    /* per hop: TCP connect + TLS handshake */
    unsigned first_byte_ms; /* per hop: request sent to first byte */
    unsigned total_ms;      /* whole fetch, redirects included */
    const char *user_agent; /* NULL: "celeriac" */
    /* Added fields; a zeroed value keeps the behaviour before them. */
    struct fetch_pool *pool; /* NULL: one connection per request */
};

/* Flags of one fetch. */
#define FETCH_ACCEPT_ANY_STATUS 1u /* hand out the body of any final status */

struct fetch;

struct fetch_callbacks {
    /* The final response's headers (optional). */
    void (*on_headers)(struct fetch *f, const struct fetch_facts *facts,
                       void *arg);
    /*
     * A piece of the body, data[0..len).  May call fetch_pause(f).
     * Returns 0 to go on, or non-zero to stop the fetch: it is then freed
     * without on_done.
     */
    int (*on_chunk)(struct fetch *f, const unsigned char *data, size_t len,
                    void *arg);
    /*
     * The end: err->type is FETCH_OK when the whole body was handed out.
     * The fetch is freed when this returns.
     */
    void (*on_done)(struct fetch *f, const struct fetch_facts *facts,
                    const struct fetch_error *err, void *arg);
};

/*
 * A client TLS context that verifies peers against ca_file (PEM), or the
 * system's CA store when ca_file is NULL.  Returns NULL with err filled when
 * the file cannot be used.  The caller frees it with SSL_CTX_free().
 */
SSL_CTX *fetch_ssl_ctx_new(const char *ca_file, struct fetch_error *err);

/*
 * Starts fetching url.  Returns the fetch, whose callbacks run later from
 * the loop (never from inside this call), or NULL with err filled when the
 * URL is refused at once (FETCH_BAD_URL, FETCH_SCHEME_REFUSED) or memory
 * runs out.  cfg must outlive the fetch.
 */
struct fetch *fetch_start(const struct fetch_config *cfg, const char *url,
                          unsigned flags, const struct fetch_callbacks *cb,
                          void *arg, struct fetch_error *err);

/*
 * Stops handing out chunks and reading the socket until fetch_resume().
 * Timers keep running: a caller that stays paused past the total timeout
 * gets FETCH_TIMEOUT.
 */
void fetch_pause(struct fetch *f);
/* Goes on; the chunks held are handed out from the loop, not from here. */
void fetch_resume(struct fetch *f);

/*
 * Stops a fetch and frees it, with no callback.  Not from inside its own
 * callbacks (return non-zero from on_chunk instead).
 */
void fetch_cancel(struct fetch *f);

/* ---- kept-alive connections ---- */

/* Idle connections one pool keeps at most, all hosts together. */
#define FETCH_POOL_IDLE_MAX 1024
/* The idle time used when fetch_pool_new() is given 0 (under nginx's 75 s
 * keepalive_timeout default and the 5 s of many servers). */
#define FETCH_POOL_IDLE_MS_DEFAULT 4000

struct fetch_pool;

/*
 * A pool of idle connections on base: at most max_idle_per_host per scheme,
 * host and port (0: none kept, so nothing is reused) and
 * FETCH_POOL_IDLE_MAX in all (the oldest idle one is closed to make room),
 * each closed after idle_ms idle (0: FETCH_POOL_IDLE_MS_DEFAULT).  Returns
 * NULL when memory runs out.  The pool must outlive the fetches that use
 * it; the caller frees it with fetch_pool_free(), which closes the idle
 * connections.
 */
struct fetch_pool *fetch_pool_new(struct event_base *base,
                                  unsigned max_idle_per_host,
                                  unsigned idle_ms);
void fetch_pool_free(struct fetch_pool *pool);

/* What a pool did so far (counters since fetch_pool_new()). */
struct fetch_pool_stats {
    uint64_t opened;   /* connections opened by fetches using the pool */
    uint64_t reused;   /* requests sent on a connection from the pool */
    uint64_t retried;  /* requests sent again after a reused one failed */
    uint64_t returned; /* connections given back after a response */
    uint64_t dropped;  /* idle ones closed: server closed, readable */
    uint64_t expired;  /* idle ones closed after the idle time */
    uint64_t evicted;  /* idle ones closed to stay within the caps */
    unsigned idle;     /* idle connections now */
};
void fetch_pool_get_stats(const struct fetch_pool *pool,
                          struct fetch_pool_stats *out);

#endif
