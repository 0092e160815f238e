/* SPDX-License-Identifier: MIT */
/* The CLI's TLS connections: socketpair + tlslink + a thread (tlspipe.h). */
#include "tlspipe.h"

#include <errno.h>
#include <event2/event.h>
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

/* The handshake's outcome, filled on the calling thread. */
struct tlspipe_wait {
    struct event_base *base;
    int done;
    char *cause; /* owned */
};

static void tlspipe_ready(void *arg, struct tlslink *l, const char *err,
                          const char *version);
static void tlspipe_ended(void *arg, struct tlslink *l, const char *err);
static void *tlspipe_main(void *arg);

static const struct tlslink_cbs tlspipe_cbs = {
    .ready = tlspipe_ready,
    .ended = tlspipe_ended,
};

int
tlspipe_set(const char *name, const char *value)
{
    return tlsconf_set(&tlspipe_conf, name, value);
}

static void
tlspipe_ready(void *arg, struct tlslink *l, const char *err,
              const char *version)
{
    struct tlspipe_wait *w = arg;

    (void)l;
    (void)version;
    w->done = 1;
    if (err != NULL)
        w->cause = xstrdup(err);
    event_base_loopbreak(w->base);
}

/* Runs on the pipe's thread; arg (the wait) is gone by then: unused. */
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
    struct event_base *base = arg;
    event_base_dispatch(base);
    event_base_free(base);
    return NULL;
}

int
tlspipe_open(const struct redisurl *u, const char *where, long connect_ms,
             char **cause)
{
    struct tlspipe_wait w = {0};
    int sv[2];
    pthread_t th;

    if (tlspipe_ctx == NULL) {
        tlsconf_env(&tlspipe_conf);
        tlspipe_ctx = tlsconf_ctx_new(&tlspipe_conf, cause);
        if (tlspipe_ctx == NULL)
            return -1;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        *cause = xasprintf("cannot make a socket pair for TLS: %s",
                           strerror(errno));
        return -1;
    }
    w.base = event_base_new();
    if (w.base == NULL) {
        close(sv[0]);
        close(sv[1]);
        *cause = xstrdup("cannot set up TLS: out of memory");
        return -1;
    }
    pthread_mutex_lock(&tlspipe_lock);
    free(tlspipe_error);
    tlspipe_error = NULL;
    pthread_mutex_unlock(&tlspipe_lock);
    /* The link's callbacks may still find w after this function returned:
     * only ready() uses it, and ready() is called once, before that. */
    if (tlslink_start(w.base, NULL, tlspipe_ctx, u->host, u->port, where,
                      sv[1], connect_ms, &tlspipe_cbs, &w, cause) == NULL) {
        close(sv[0]);
        event_base_free(w.base);
        return -1;
    }
    while (!w.done && event_base_loop(w.base, EVLOOP_ONCE) == 0)
        ;
    if (!w.done || w.cause != NULL) {
        *cause = w.cause != NULL ? w.cause
                                 : xasprintf("TLS connection to %s: the "
                                             "event loop stopped",
                                             where);
        close(sv[0]);
        event_base_free(w.base);
        return -1;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int err = pthread_create(&th, &attr, tlspipe_main, w.base);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        *cause = xasprintf("cannot start the TLS thread: %s", strerror(err));
        close(sv[0]); /* the link sees EOF and ends */
        event_base_dispatch(w.base);
        event_base_free(w.base);
        return -1;
    }
    return sv[0];
}
