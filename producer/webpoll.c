/* SPDX-License-Identifier: MIT */
/* The web dashboard's snapshot child and its pipe (webpoll.h). */
#include "webpoll.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "conn.h"
#include "snapshot.h"
#include "xmalloc.h"

/* Socket timeout of a snapshot's commands in the child. */
#define WEBPOLL_IO_TIMEOUT_MS 5000

static void webpoll_child(struct webpoll *p, int fd) __attribute__((noreturn));
static int webpoll_spawn(struct webpoll *p);
static void webpoll_read(struct bufferevent *bev, void *arg);
static void webpoll_event(struct bufferevent *bev, short what, void *arg);
static void webpoll_again(evutil_socket_t fd, short what, void *arg);

/* The child: a snapshot per interval, one JSON line each, until the pipe
 * is closed or the parent is gone. */
static void
webpoll_child(struct webpoll *p, int fd)
{
    struct snapshot_history h;
    struct conn c;
    json_t *prev = NULL;

    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_IGN); /* Ctrl-C goes to the server, which stops us */
    signal(SIGCHLD, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    /* Only the pipe and the standard descriptors: not the listener. */
    for (int i = 3; i < 1024; i++)
        if (i != fd)
            close(i);
    memset(&h, 0, sizeof(h));
    memset(&c, 0, sizeof(c));
    if (conn_init(&c, p->redis, p->prefix) < 0)
        _exit(CLI_EXIT_USAGE);
    if (conn_connect(&c) == 0)
        conn_set_timeout(&c, WEBPOLL_IO_TIMEOUT_MS);
    for (;;) {
        int64_t next = cli_now_us() + p->interval_us;
        json_t *doc = NULL;
        if (getppid() == 1)
            _exit(0);
        if (conn_lost(&c) && conn_reconnect(&c, next) == 0)
            conn_set_timeout(&c, WEBPOLL_IO_TIMEOUT_MS);
        if (!conn_lost(&c))
            doc = snapshot_take(&c, p->prefix);
        if (doc != NULL) {
            snapshot_rates(doc, prev);
            json_t *tp = json_object_get(doc, "throughput");
            if (json_is_number(tp))
                snapshot_history_push(&h, json_number_value(tp));
            json_object_set_new(doc, "history", snapshot_history_json(&h));
            json_decref(prev);
            prev = json_incref(doc);
        } else {
            doc = json_pack("{s:s, s:s, s:s}", "error",
                            conn_lost(&c) ? "Redis unreachable; trying again"
                                          : "Redis refused a command (see "
                                            "the server's log)",
                            "redis", c.where ? c.where : "",
                            "prefix", p->prefix);
        }
        json_object_set_new(doc, "control", json_boolean(p->control));
        json_object_set_new(doc, "interval_ms",
                            json_integer(p->interval_us / 1000));
        char *line = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        if (line == NULL)
            _exit(1);
        size_t n = strlen(line);
        if (cli_write_all(fd, line, n) < 0 ||
            cli_write_all(fd, "\n", 1) < 0)
            _exit(0); /* the server is gone */
        free(line);
        int64_t left = next - cli_now_us();
        if (left > 0) {
            struct timespec ts = {(time_t)(left / 1000000),
                                  (long)(left % 1000000) * 1000};
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        }
    }
}

static int
webpoll_spawn(struct webpoll *p)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        cli_warn("web: cannot make the snapshot pipe");
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        cli_warn("web: cannot fork the snapshot process");
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        webpoll_child(p, fds[1]);
    }
    close(fds[1]);
    evutil_make_socket_nonblocking(fds[0]);
    p->pid = pid;
    p->bev = bufferevent_socket_new(p->base, fds[0], BEV_OPT_CLOSE_ON_FREE);
    if (p->bev == NULL) {
        close(fds[0]);
        cli_warnx("web: out of memory for the snapshot pipe");
        return -1;
    }
    bufferevent_setcb(p->bev, webpoll_read, NULL, webpoll_event, p);
    bufferevent_enable(p->bev, EV_READ);
    return 0;
}

/* Keeps the last complete line; drops a line that grows too long. */
static void
webpoll_read(struct bufferevent *bev, void *arg)
{
    struct webpoll *p = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n;
    char *line;

    while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) != NULL) {
        if (n > WEBPOLL_MAX_LINE) {
            free(line);
            continue;
        }
        free(p->latest);
        p->latest = line;
        p->latest_len = n;
    }
    if (evbuffer_get_length(in) > WEBPOLL_MAX_LINE) {
        cli_warnx("web: a snapshot is longer than %u bytes; dropped",
                  WEBPOLL_MAX_LINE);
        evbuffer_drain(in, evbuffer_get_length(in));
    }
}

/* End of the pipe: the child is gone or going (webpoll_reaped restarts). */
static void
webpoll_event(struct bufferevent *bev, short what, void *arg)
{
    struct webpoll *p = arg;
    (void)what;
    if (bev == p->bev) {
        bufferevent_free(p->bev);
        p->bev = NULL;
    }
}

static void
webpoll_again(evutil_socket_t fd, short what, void *arg)
{
    struct webpoll *p = arg;
    (void)fd;
    (void)what;
    if (p->pid == 0 && webpoll_spawn(p) < 0) {
        struct timeval tv = {1, 0};
        evtimer_add(p->again, &tv);
    }
}

int
webpoll_start(struct webpoll *p, struct event_base *base, const char *redis,
              const char *prefix, int64_t interval_us, int control)
{
    memset(p, 0, sizeof(*p));
    p->base = base;
    p->redis = redis ? xstrdup(redis) : NULL;
    p->prefix = xstrdup(prefix);
    p->interval_us = interval_us;
    p->control = control;
    p->again = evtimer_new(base, webpoll_again, p);
    if (p->again == NULL) {
        cli_warnx("web: out of memory");
        return -1;
    }
    return webpoll_spawn(p);
}

const char *
webpoll_latest(const struct webpoll *p, size_t *len)
{
    *len = p->latest_len;
    return p->latest;
}

int
webpoll_reaped(struct webpoll *p, pid_t pid, int status)
{
    if (pid != p->pid || pid == 0)
        return 0;
    p->pid = 0;
    if (p->bev != NULL) {
        bufferevent_free(p->bev);
        p->bev = NULL;
    }
    cli_warnx("web: the snapshot process ended (%s %d); starting it again",
              WIFSIGNALED(status) ? "signal" : "status",
              WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    struct timeval tv = {1, 0};
    evtimer_add(p->again, &tv);
    return 1;
}

void
webpoll_stop(struct webpoll *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
    }
    if (p->bev != NULL)
        bufferevent_free(p->bev);
    if (p->again != NULL)
        event_free(p->again);
    free(p->latest);
    free(p->redis);
    free(p->prefix);
    memset(p, 0, sizeof(*p));
}
