/* SPDX-License-Identifier: MIT */
/*
 * Test driver of the URL fetcher (worker/fetch.h): fetches one URL on its
 * own event loop and prints one JSON object with the fetch facts, the
 * SHA-512 of the body, how it came (chunks, pauses) and the process's peak
 * resident memory (VmHWM).  Used by tests/system/test_fetch.py.
 *
 * With --count, --parallel or several URLs it runs many fetches instead
 * (each URL --count times, in turn, --parallel at once) and prints one JSON
 * object with each fetch's outcome in order ("fetches"), the rate and,
 * with --pool, what the connection pool did ("pool").
 *
 * Exit status: 0 when the fetch (every fetch) succeeded, 1 when one failed
 * (the JSON says how), 2 for a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "fetch.h"
#include "netguard.h"

struct run {
    struct event_base *base;
    EVP_MD_CTX *md;
    unsigned long chunks, pauses;
    int paused;                 /* between fetch_pause and fetch_resume */
    unsigned long while_paused; /* chunks handed out while paused: bugs */
    size_t max_chunk;
    unsigned pause_ms;
    struct event *resume_timer;
    struct fetch *fetch;
    json_t *out;
    int ok;
};

static long
vmhwm_kb(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (fp == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(fp);
    return kb;
}

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    (void)fd;
    (void)what;
    r->paused = 0;
    if (r->fetch != NULL)
        fetch_resume(r->fetch);
}

static int
on_chunk(struct fetch *f, const unsigned char *data, size_t len, void *arg)
{
    struct run *r = arg;
    r->chunks++;
    if (r->paused)
        r->while_paused++;
    if (len > r->max_chunk)
        r->max_chunk = len;
    EVP_DigestUpdate(r->md, data, len);
    if (r->pause_ms > 0) {
        /* Back-pressure: take nothing more until the timer says so. */
        struct timeval tv = {(time_t)(r->pause_ms / 1000),
                             (suseconds_t)(r->pause_ms % 1000) * 1000};
        fetch_pause(f);
        r->paused = 1;
        r->pauses++;
        evtimer_add(r->resume_timer, &tv);
    }
    return 0;
}

static void
on_done(struct fetch *f, const struct fetch_facts *facts,
        const struct fetch_error *err, void *arg)
{
    struct run *r = arg;
    (void)f;
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    EVP_DigestFinal_ex(r->md, d, &n);
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    r->ok = err->type == FETCH_OK;
    json_object_set_new(r->out, "ok", json_boolean(r->ok));
    if (!r->ok) {
        json_object_set_new(r->out, "error",
                            json_string(fetch_error_name(err->type)));
        json_object_set_new(r->out, "message", json_string(err->message));
        json_object_set_new(r->out, "error_status", json_integer(err->status));
    }
    json_object_set_new(r->out, "status", json_integer(facts->status));
    json_object_set_new(r->out, "url", json_string(facts->url));
    json_object_set_new(r->out, "content_type",
                        json_string(facts->content_type));
    json_object_set_new(r->out, "content_length",
                        json_integer(facts->content_length));
    json_object_set_new(r->out, "bytes",
                        json_integer((json_int_t)facts->bytes));
    json_object_set_new(r->out, "redirects", json_integer(facts->redirects));
    json_object_set_new(r->out, "first_byte_ms",
                        json_real(facts->first_byte_ms));
    json_object_set_new(r->out, "total_ms", json_real(facts->total_ms));
    json_object_set_new(r->out, "sha512", json_string(hex));
    json_object_set_new(r->out, "chunks", json_integer((json_int_t)r->chunks));
    json_object_set_new(r->out, "max_chunk",
                        json_integer((json_int_t)r->max_chunk));
    json_object_set_new(r->out, "pauses", json_integer((json_int_t)r->pauses));
    json_object_set_new(r->out, "while_paused",
                        json_integer((json_int_t)r->while_paused));
    r->fetch = NULL;
    event_base_loopbreak(r->base);
}

/* ---- many fetches ---- */

struct many;

struct item {
    struct many *m;
    size_t idx;
    EVP_MD_CTX *md;
};

struct many {
    struct event_base *base;
    const struct fetch_config *cfg;
    unsigned flags;
    char **urls;
    size_t nurls, total, next, done;
    unsigned running, parallel;
    json_t *fetches; /* array of total entries */
    size_t failed;
    unsigned interval_ms; /* wait between a fetch's end and the next */
    struct event *gap;
};

static void
hex_digest(EVP_MD_CTX *md, char *hex)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestFinal_ex(md, d, &n);
    hex[0] = '\0';
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static int
item_chunk(struct fetch *f, const unsigned char *data, size_t len, void *arg)
{
    struct item *it = arg;
    (void)f;
    EVP_DigestUpdate(it->md, data, len);
    return 0;
}

static void start_more(struct many *m);

static void
item_end(struct item *it, const struct fetch_facts *facts,
         const struct fetch_error *err)
{
    struct many *m = it->m;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    hex_digest(it->md, hex);
    json_t *o = json_object();
    int ok = err->type == FETCH_OK;
    json_object_set_new(o, "ok", json_boolean(ok));
    json_object_set_new(o, "url", json_string(m->urls[it->idx % m->nurls]));
    if (!ok) {
        m->failed++;
        json_object_set_new(o, "error",
                            json_string(fetch_error_name(err->type)));
        json_object_set_new(o, "message", json_string(err->message));
    }
    if (facts != NULL) {
        json_object_set_new(o, "status", json_integer(facts->status));
        json_object_set_new(o, "bytes",
                            json_integer((json_int_t)facts->bytes));
        json_object_set_new(o, "redirects", json_integer(facts->redirects));
    }
    json_object_set_new(o, "sha512", json_string(hex));
    json_array_set_new(m->fetches, it->idx, o);
    EVP_MD_CTX_free(it->md);
    free(it);
    m->done++;
}

static void
item_done(struct fetch *f, const struct fetch_facts *facts,
          const struct fetch_error *err, void *arg)
{
    struct item *it = arg;
    struct many *m = it->m;
    (void)f;
    item_end(it, facts, err);
    m->running--;
    if (m->done == m->total) {
        event_base_loopbreak(m->base);
    } else if (m->interval_ms > 0) {
        struct timeval tv = {(time_t)(m->interval_ms / 1000),
                             (suseconds_t)(m->interval_ms % 1000) * 1000};
        evtimer_add(m->gap, &tv);
    } else {
        start_more(m);
    }
}

static void
gap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_more(arg);
}

static void
start_more(struct many *m)
{
    static const struct fetch_callbacks cb = {.on_chunk = item_chunk,
                                              .on_done = item_done};
    while (m->running < m->parallel && m->next < m->total) {
        struct item *it = calloc(1, sizeof(*it));
        if (it == NULL || (it->md = EVP_MD_CTX_new()) == NULL ||
            EVP_DigestInit_ex(it->md, EVP_sha512(), NULL) != 1) {
            fprintf(stderr, "fetchget: out of memory\n");
            exit(2);
        }
        it->m = m;
        it->idx = m->next++;
        struct fetch_error err = {.type = FETCH_OK};
        if (fetch_start(m->cfg, m->urls[it->idx % m->nurls], m->flags, &cb,
                        it, &err) == NULL)
            item_end(it, NULL, &err);
        else
            m->running++;
    }
}

static void
pool_json(json_t *out, const struct fetch_pool *pool)
{
    struct fetch_pool_stats st;
    fetch_pool_get_stats(pool, &st);
    json_t *o = json_object();
    json_object_set_new(o, "opened", json_integer((json_int_t)st.opened));
    json_object_set_new(o, "reused", json_integer((json_int_t)st.reused));
    json_object_set_new(o, "retried", json_integer((json_int_t)st.retried));
    json_object_set_new(o, "returned",
                        json_integer((json_int_t)st.returned));
    json_object_set_new(o, "dropped", json_integer((json_int_t)st.dropped));
    json_object_set_new(o, "expired", json_integer((json_int_t)st.expired));
    json_object_set_new(o, "evicted", json_integer((json_int_t)st.evicted));
    json_object_set_new(o, "idle", json_integer(st.idle));
    json_object_set_new(out, "pool", o);
}

/* Runs all the fetches of m; fills out.  Returns 0 when all succeeded. */
static int
run_many(struct many *m, json_t *out)
{
    struct timespec t0, t1;
    m->fetches = json_array();
    for (size_t i = 0; i < m->total; i++)
        json_array_append_new(m->fetches, json_null());
    m->gap = evtimer_new(m->base, gap_cb, m);
    if (m->gap == NULL) {
        fprintf(stderr, "fetchget: out of memory\n");
        exit(2);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    start_more(m);
    if (m->done < m->total)
        event_base_dispatch(m->base);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    event_free(m->gap);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    json_object_set_new(out, "ok", json_boolean(m->failed == 0));
    json_object_set_new(out, "fetches", m->fetches);
    json_object_set_new(out, "failed", json_integer((json_int_t)m->failed));
    json_object_set_new(out, "elapsed_ms", json_real(ms));
    json_object_set_new(out, "urls_per_s",
                        json_real(ms > 0 ? (double)m->total * 1e3 / ms : 0));
    return m->failed == 0 ? 0 : 1;
}

static void
usage(FILE *to)
{
    fputs("usage: fetchget [options] URL...\n"
          "  --allow-hosts LIST       names, addresses, CIDRs to allow\n"
          "  --ca-file FILE           trust these CA certificates (PEM)\n"
          "  --max-redirects N        (default 5)\n"
          "  --max-bytes N            body limit in bytes, 0 none "
          "(default 0)\n"
          "  --connect-timeout MS     (default 10000)\n"
          "  --first-byte-timeout MS  (default 30000)\n"
          "  --total-timeout MS       (default 300000)\n"
          "  --accept-any-status      hand out the body of a non-2xx "
          "answer\n"
          "  --pause-ms MS            pause after each chunk, resume MS "
          "later\n"
          "  --dns-server IP:PORT     resolve with this name server only\n"
          "  --count N                fetch each URL N times (default 1)\n"
          "  --parallel N             N fetches at once (default 1)\n"
          "  --pool                   keep connections alive and reuse "
          "them\n"
          "  --pool-max-idle N        idle connections per host (default "
          "100)\n"
          "  --pool-idle-ms MS        close idle connections after MS "
          "(default 4000)\n"
          "  --interval-ms MS         wait MS after each fetch before the "
          "next\n",
          to);
}

static int
number(const char *s, unsigned long long *v)
{
    char *end;
    errno = 0;
    *v = strtoull(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && s[0] != '-' ? 0 : -1;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"allow-hosts", required_argument, NULL, 'a'},
        {"ca-file", required_argument, NULL, 'c'},
        {"max-redirects", required_argument, NULL, 'r'},
        {"max-bytes", required_argument, NULL, 'm'},
        {"connect-timeout", required_argument, NULL, 'C'},
        {"first-byte-timeout", required_argument, NULL, 'F'},
        {"total-timeout", required_argument, NULL, 'T'},
        {"accept-any-status", no_argument, NULL, 'A'},
        {"pause-ms", required_argument, NULL, 'p'},
        {"dns-server", required_argument, NULL, 'D'},
        {"count", required_argument, NULL, 'n'},
        {"parallel", required_argument, NULL, 'P'},
        {"pool", no_argument, NULL, 'o'},
        {"pool-max-idle", required_argument, NULL, 'I'},
        {"pool-idle-ms", required_argument, NULL, 'i'},
        {"interval-ms", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct fetch_config cfg = {
        .max_redirects = 5,
        .connect_ms = 10000,
        .first_byte_ms = 30000,
        .total_ms = 300000,
    };
    struct run r = {.ok = 0};
    const char *ca_file = NULL, *dns_server = NULL;
    unsigned flags = 0;
    unsigned long long count = 1, parallel = 1;
    unsigned pool_max_idle = 100, pool_idle_ms = 0, interval_ms = 0;
    int use_pool = 0, many = 0;
    struct netguard *guard = netguard_new();
    if (guard == NULL)
        return 2;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        unsigned long long v = 0;
        char *cause = NULL;
        if (strchr("rmCFTpnPIig", c) != NULL &&
            (number(optarg, &v) != 0 || (c != 'm' && v > 0xffffffffULL))) {
            fprintf(stderr, "fetchget: --%s: '%s' is not a number\n",
                    c == 'm' ? "max-bytes" : "(timeout or count)", optarg);
            return 2;
        }
        switch (c) {
        case 'a':
            if (netguard_allow(guard, optarg, &cause) != 0) {
                fprintf(stderr, "fetchget: %s\n", cause);
                return 2;
            }
            break;
        case 'c':
            ca_file = optarg;
            break;
        case 'r':
            cfg.max_redirects = (unsigned)v;
            break;
        case 'm':
            cfg.max_body = v;
            break;
        case 'C':
            cfg.connect_ms = (unsigned)v;
            break;
        case 'F':
            cfg.first_byte_ms = (unsigned)v;
            break;
        case 'T':
            cfg.total_ms = (unsigned)v;
            break;
        case 'A':
            flags |= FETCH_ACCEPT_ANY_STATUS;
            break;
        case 'D':
            dns_server = optarg;
            break;
        case 'p':
            r.pause_ms = (unsigned)v;
            break;
        case 'n':
            count = v;
            many = 1;
            break;
        case 'P':
            parallel = v ? v : 1;
            many = 1;
            break;
        case 'o':
            use_pool = 1;
            break;
        case 'I':
            pool_max_idle = (unsigned)v;
            break;
        case 'i':
            pool_idle_ms = (unsigned)v;
            break;
        case 'g':
            interval_ms = (unsigned)v;
            many = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    if (argc - optind > 1)
        many = 1;
    signal(SIGPIPE, SIG_IGN);
    struct fetch_error err = {.type = FETCH_OK};
    r.base = event_base_new();
    cfg.base = r.base;
    if (dns_server != NULL) {
        cfg.dns = evdns_base_new(r.base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (cfg.dns != NULL &&
            evdns_base_nameserver_ip_add(cfg.dns, dns_server) != 0) {
            fprintf(stderr, "fetchget: --dns-server: cannot use '%s'\n",
                    dns_server);
            return 2;
        }
    } else {
        cfg.dns = evdns_base_new(r.base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                             EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (cfg.dns == NULL) /* no resolv.conf: /etc/hosts, literals */
            cfg.dns = evdns_base_new(r.base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    }
    cfg.guard = guard;
    cfg.ssl_ctx = fetch_ssl_ctx_new(ca_file, &err);
    if (use_pool &&
        (cfg.pool = fetch_pool_new(r.base, pool_max_idle, pool_idle_ms)) ==
            NULL) {
        fprintf(stderr, "fetchget: out of memory\n");
        return 2;
    }
    r.md = EVP_MD_CTX_new();
    r.out = json_object();
    r.resume_timer = evtimer_new(r.base, resume_cb, &r);
    if (r.base == NULL || cfg.dns == NULL || r.md == NULL || r.out == NULL ||
        r.resume_timer == NULL ||
        EVP_DigestInit_ex(r.md, EVP_sha512(), NULL) != 1) {
        fprintf(stderr, "fetchget: cannot set up the event loop\n");
        return 2;
    }
    if (cfg.ssl_ctx != NULL && many) {
        struct many m = {
            .base = r.base,
            .cfg = &cfg,
            .flags = flags,
            .urls = argv + optind,
            .nurls = (size_t)(argc - optind),
            .total = (size_t)(argc - optind) * (size_t)count,
            .parallel = (unsigned)parallel,
            .interval_ms = interval_ms,
        };
        r.ok = run_many(&m, r.out) == 0;
    } else if (cfg.ssl_ctx != NULL) {
        struct fetch_callbacks cb = {.on_chunk = on_chunk, .on_done = on_done};
        r.fetch = fetch_start(&cfg, argv[optind], flags, &cb, &r, &err);
    }
    if (many && cfg.ssl_ctx != NULL) {
        /* done above */
    } else if (r.fetch != NULL) {
        event_base_dispatch(r.base);
    } else {
        json_object_set_new(r.out, "ok", json_false());
        json_object_set_new(r.out, "error",
                            json_string(fetch_error_name(err.type)));
        json_object_set_new(r.out, "message", json_string(err.message));
    }
    if (cfg.pool != NULL)
        pool_json(r.out, cfg.pool);
    json_object_set_new(r.out, "vmhwm_kb", json_integer(vmhwm_kb()));
    char *text = json_dumps(r.out, JSON_COMPACT | JSON_SORT_KEYS);
    if (text != NULL)
        puts(text);
    free(text);
    json_decref(r.out);
    if (r.fetch != NULL)
        fetch_cancel(r.fetch);
    event_free(r.resume_timer);
    EVP_MD_CTX_free(r.md);
    fetch_pool_free(cfg.pool);
    if (cfg.ssl_ctx != NULL)
        SSL_CTX_free(cfg.ssl_ctx);
    evdns_base_free(cfg.dns, 1);
    event_base_free(r.base);
    netguard_free(guard);
    return r.ok ? 0 : 1;
}
