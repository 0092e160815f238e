/* SPDX-License-Identifier: MIT */
/* The CLI's TLS connections: socketpair + tlslink + a thread (tlspipe.h). */
#include "tlspipe.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tlsconf.h"
#include "tlslink.h"
#include "xmalloc.h"

static struct tlsconf tlspipe_conf;
static SSL_CTX *tlspipe_ctx; /* made once, on the first connection */
static pthread_mutex_t tlspipe_lock = PTHREAD_MUTEX_INITIALIZER;
static char *tlspipe_error; /* guarded by tlspipe_lock */

/*
 * One connection: the handshake's outcome (filled on the calling thread),
 * then the thread that moves its bytes.  Kept in a list until exit, when
 * every thread still running is stopped and joined (tlspipe_atexit()).
 */
struct tlspipe_run {
    struct event_base *base;
    struct tlslink *link;  /* NULL once gone */
    struct event *stop_ev; /* readable when stop_w is closed */
    int stop_r, stop_w;
    int done;    /* ready() was called */
    char *cause; /* owned: why the handshake failed */
    pthread_t th;
    struct tlspipe_run *next;
};

static struct tlspipe_run *tlspipe_runs; /* touched by the main thread */

static void tlspipe_ready(void *arg, struct tlslink *l, const char *err,
                          const char *version);
static void tlspipe_ended(void *arg, struct tlslink *l, const char *err);
static void tlspipe_gone(void *arg, struct tlslink *l);
static void tlspipe_stop_cb(evutil_socket_t fd, short what, void *arg);
static void *tlspipe_main(void *arg);
static void tlspipe_atexit(void);
static void tlspipe_run_free(struct tlspipe_run *run);

static const struct tlslink_cbs tlspipe_cbs = {
    .ready = tlspipe_ready,
    .ended = tlspipe_ended,
    .gone = tlspipe_gone,
};

int
tlspipe_set(const char *name, const char *value)
{
    return tlsconf_set(&tlspipe_conf, name, value);
}

void
tlspipe_use(const struct tlsconf *t)
{
    const struct {
        const char *name;
        const char *value;
    } set[] = {{"tls-ca-file", t->ca_file},
               {"tls-ca-dir", t->ca_dir},
               {"tls-cert", t->cert},
               {"tls-key", t->key}};
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
        if (set[i].value != NULL)
            tlsconf_set(&tlspipe_conf, set[i].name, set[i].value);
}

static void
tlspipe_ready(void *arg, struct tlslink *l, const char *err,
              const char *version)
{
    struct tlspipe_run *w = arg;

    (void)l;
    (void)version;
    w->done = 1;
    if (err != NULL)
        w->cause = xstrdup(err);
    event_base_loopbreak(w->base);
}

/* The link ended: nothing is left for the loop but the stop event. */
static void
tlspipe_gone(void *arg, struct tlslink *l)
{
    struct tlspipe_run *run = arg;

    (void)l;
    run->link = NULL;
    event_del(run->stop_ev);
}

/* The process is exiting (tlspipe_atexit()): end the link now. */
static void
tlspipe_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tlspipe_run *run = arg;

    (void)fd;
    (void)what;
    if (run->link != NULL)
        tlslink_free(run->link); /* calls tlspipe_gone() */
}

static void
tlspipe_run_free(struct tlspipe_run *run)
{
    if (run->stop_ev != NULL)
        event_free(run->stop_ev);
    if (run->base != NULL)
        event_base_free(run->base);
    if (run->stop_r >= 0)
        close(run->stop_r);
    if (run->stop_w >= 0)
        close(run->stop_w);
    free(run->cause);
    free(run);
}

/* Stops and joins every pipe's thread, so that none outlives main(). */
static void
tlspipe_atexit(void)
{
    while (tlspipe_runs != NULL) {
        struct tlspipe_run *run = tlspipe_runs;
        tlspipe_runs = run->next;
        close(run->stop_w);
        run->stop_w = -1;
        pthread_join(run->th, NULL);
        tlspipe_run_free(run);
    }
    SSL_CTX_free(tlspipe_ctx);
    tlspipe_ctx = NULL;
    tlsconf_clear(&tlspipe_conf);
    free(tlspipe_error);
    tlspipe_error = NULL;
}

/* Runs on the pipe's thread; the run's handshake fields are not used. */
static void
tlspipe_ended(void *arg, struct tlslink *l, const char *err)
{
    (void)arg;
    (void)l;
    if (err == NULL)
        return;
    pthread_mutex_lock(&tlspipe_lock);
    free(tlspipe_error);
    tlspipe_error = xstrdup(err);
    pthread_mutex_unlock(&tlspipe_lock);
}

char *
tlspipe_last_error(void)
{
    pthread_mutex_lock(&tlspipe_lock);
    char *e = tlspipe_error != NULL ? xstrdup(tlspipe_error) : NULL;
    pthread_mutex_unlock(&tlspipe_lock);
    return e;
}

static void *
tlspipe_main(void *arg)
{
    struct tlspipe_run *run = arg;
    event_base_dispatch(run->base);
    OPENSSL_thread_stop(); /* this thread's error queue */
    return NULL;
}

int
tlspipe_open(const struct redisurl *u, const char *where, long connect_ms,
             char **cause)
{
    struct tlspipe_run *run;
    int sv[2], stop[2];

    if (tlspipe_ctx == NULL) {
        tlsconf_env(&tlspipe_conf);
        tlspipe_ctx = tlsconf_ctx_new(&tlspipe_conf, cause);
        if (tlspipe_ctx == NULL)
            return -1;
        atexit(tlspipe_atexit);
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        *cause =
            xasprintf("cannot make a socket pair for TLS: %s", strerror(errno));
        return -1;
    }
    if (pipe2(stop, O_CLOEXEC | O_NONBLOCK) < 0) {
        *cause = xasprintf("cannot make a pipe for TLS: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    run = xcalloc(1, sizeof(*run));
    run->stop_r = stop[0];
    run->stop_w = stop[1];
    run->base = event_base_new();
    if (run->base != NULL)
        run->stop_ev =
            event_new(run->base, run->stop_r, EV_READ, tlspipe_stop_cb, run);
    if (run->stop_ev == NULL) {
        close(sv[0]);
        close(sv[1]);
        tlspipe_run_free(run);
        *cause = xstrdup("cannot set up TLS: out of memory");
        return -1;
    }
    pthread_mutex_lock(&tlspipe_lock);
    free(tlspipe_error);
    tlspipe_error = NULL;
    pthread_mutex_unlock(&tlspipe_lock);
    run->link =
        tlslink_start(run->base, NULL, tlspipe_ctx, u->host, u->port, where,
                      sv[1], connect_ms, &tlspipe_cbs, run, cause);
    if (run->link == NULL) {
        close(sv[0]);
        tlspipe_run_free(run);
        return -1;
    }
    event_add(run->stop_ev, NULL);
    while (!run->done && event_base_loop(run->base, EVLOOP_ONCE) == 0)
        ;
    if (!run->done || run->cause != NULL) {
        *cause = run->cause != NULL ? run->cause
                                    : xasprintf("TLS connection to %s: the "
                                                "event loop stopped",
                                                where);
        run->cause = NULL;
        close(sv[0]);
        if (run->link != NULL)
            tlslink_free(run->link);
        tlspipe_run_free(run);
        return -1;
    }
    int err = pthread_create(&run->th, NULL, tlspipe_main, run);
    if (err != 0) {
        *cause = xasprintf("cannot start the TLS thread: %s", strerror(err));
        close(sv[0]);
        tlslink_free(run->link);
        tlspipe_run_free(run);
        return -1;
    }
    run->next = tlspipe_runs;
    tlspipe_runs = run;
    return sv[0];
}
