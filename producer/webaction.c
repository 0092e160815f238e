/* SPDX-License-Identifier: MIT */
/* The web dashboard's action children (webaction.h). */
#include "webaction.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "escape.h"
#include "redisurl.h"
#include "xmalloc.h"

struct webaction {
    struct webactions *owner;
    struct evhttp_request *req;    /* NULL once its client went away */
    struct evhttp_connection *conn;
    pid_t pid;                     /* 0 once reaped */
    int status;
    struct bufferevent *out;       /* NULL once at its end */
    struct evbuffer *text;         /* what the child wrote, bounded */
    struct event *timeout;
    char *command;                 /* for the answer and the log */
};

static void webaction_finish(struct webaction *w);
static void webaction_read(struct bufferevent *bev, void *arg);
static void webaction_event(struct bufferevent *bev, short what, void *arg);
static void webaction_expired(evutil_socket_t fd, short what, void *arg);
static void webaction_reply(struct evhttp_request *req, int code,
                            const char *reason, json_t *doc);

int
webaction_init(struct webactions *a, struct event_base *base, const char *cli,
               const char *redis, const char *prefix)
{
    char self[PATH_MAX];

    memset(a, 0, sizeof(*a));
    a->base = base;
    if (cli == NULL || *cli == '\0') {
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0) {
            cli_warn("web: cannot find this program (/proc/self/exe) to run "
                     "actions with");
            return -1;
        }
        self[n] = '\0';
        cli = self;
    }
    a->cli = xstrdup(cli);
    a->redis = redis ? xstrdup(redis) : NULL;
    a->prefix = xstrdup(prefix);
    return 0;
}

static void
webaction_reply(struct evhttp_request *req, int code, const char *reason,
                json_t *doc)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    struct evbuffer *b = evbuffer_new();
    if (b == NULL || body == NULL) {
        evhttp_send_error(req, 500, "out of memory");
    } else {
        evbuffer_add(b, body, strlen(body));
        evbuffer_add(b, "\n", 1);
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Content-Type", "application/json");
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Cache-Control", "no-store");
        evhttp_send_reply(req, code, reason, b);
    }
    if (b != NULL)
        evbuffer_free(b);
    free(body);
}

void
webaction_run(struct webactions *a, struct evhttp_request *req,
              const char *const *args)
{
    const char *argv[WEBACTION_MAX_ARGS + 4];
    int slot = -1, fds[2], n = 0;

    for (int i = 0; i < WEBACTION_MAX_RUNNING; i++)
        if (a->running[i] == NULL) {
            slot = i;
            break;
        }
    if (slot < 0) {
        json_t *doc = json_pack("{s:b, s:s}", "ok", 0, "error",
                                "too many actions running; try again");
        webaction_reply(req, 503, "Busy", doc);
        json_decref(doc);
        return;
    }
    argv[n++] = a->cli;
    argv[n++] = "--prefix";
    argv[n++] = a->prefix;
    for (int i = 0; args[i] != NULL && i < WEBACTION_MAX_ARGS; i++)
        argv[n++] = args[i];
    argv[n] = NULL;

    struct evbuffer *cmd = evbuffer_new();
    evbuffer_add_printf(cmd, "celeriac");
    for (int i = 1; i < n; i++)
        evbuffer_add_printf(cmd, " %s", argv[i]);
    size_t cl = evbuffer_get_length(cmd);
    char *command = xmalloc(cl + 1);
    evbuffer_remove(cmd, command, cl);
    command[cl] = '\0';
    evbuffer_free(cmd);

    if (pipe2(fds, O_CLOEXEC) < 0) {
        cli_warn("web: cannot make a pipe for %s", cli_safe(command));
        free(command);
        evhttp_send_error(req, 500, "cannot start the action");
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        cli_warn("web: cannot fork for %s", cli_safe(command));
        close(fds[0]);
        close(fds[1]);
        free(command);
        evhttp_send_error(req, 500, "cannot start the action");
        return;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        /* The server's signal dispositions are not the program's. */
        signal(SIGPIPE, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (a->redis != NULL)
            setenv(REDISURL_ENV, a->redis, 1);
        execv(a->cli, (char *const *)argv);
        dprintf(STDERR_FILENO, "celeriac web: cannot run %s: %s\n", a->cli,
                strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    evutil_make_socket_nonblocking(fds[0]);

    struct webaction *w = xcalloc(1, sizeof(*w));
    w->owner = a;
    w->req = req;
    w->conn = evhttp_request_get_connection(req);
    w->pid = pid;
    w->command = command;
    w->text = evbuffer_new();
    w->out = bufferevent_socket_new(a->base, fds[0], BEV_OPT_CLOSE_ON_FREE);
    w->timeout = evtimer_new(a->base, webaction_expired, w);
    if (w->out == NULL || w->text == NULL || w->timeout == NULL) {
        if (w->out == NULL)
            close(fds[0]);
        cli_warnx("web: out of memory for %s", cli_safe(command));
        kill(pid, SIGKILL);
    } else {
        bufferevent_setcb(w->out, webaction_read, NULL, webaction_event, w);
        bufferevent_enable(w->out, EV_READ);
        struct timeval tv = {WEBACTION_TIMEOUT_S, 0};
        evtimer_add(w->timeout, &tv);
    }
    a->running[slot] = w;
    cli_warnx("web: running %s (pid %d)", cli_safe(command), (int)pid);
}

static void
webaction_read(struct bufferevent *bev, void *arg)
{
    struct webaction *w = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t have = evbuffer_get_length(w->text);
    size_t room = have < WEBACTION_MAX_OUTPUT ? WEBACTION_MAX_OUTPUT - have : 0;
    size_t n = evbuffer_get_length(in);
    if (room > 0)
        evbuffer_remove_buffer(in, w->text, n < room ? n : room);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void
webaction_event(struct bufferevent *bev, short what, void *arg)
{
    struct webaction *w = arg;
    (void)what;
    webaction_read(bev, w);
    bufferevent_free(w->out);
    w->out = NULL;
    webaction_finish(w);
}

void
webaction_conn_gone(struct webactions *a, struct evhttp_connection *conn)
{
    for (int i = 0; i < WEBACTION_MAX_RUNNING; i++) {
        struct webaction *w = a->running[i];
        if (w != NULL && w->conn == conn) {
            w->req = NULL;
            w->conn = NULL;
        }
    }
}

static void
webaction_expired(evutil_socket_t fd, short what, void *arg)
{
    struct webaction *w = arg;
    (void)fd;
    (void)what;
    if (w->pid > 0) {
        cli_warnx("web: %s ran for %d s; killed", cli_safe(w->command),
                  WEBACTION_TIMEOUT_S);
        kill(w->pid, SIGKILL);
    }
}

/* Answers and frees w once the child has exited and its output ended. */
static void
webaction_finish(struct webaction *w)
{
    struct webactions *a = w->owner;
    if (w->pid != 0 || w->out != NULL)
        return;
    int code = WIFEXITED(w->status) ? WEXITSTATUS(w->status)
                                    : 128 + WTERMSIG(w->status);
    if (w->req != NULL) {
        size_t n = evbuffer_get_length(w->text);
        char *text = xmalloc(n + 1);
        evbuffer_remove(w->text, text, n);
        text[n] = '\0';
        json_t *out = json_stringn(text, n);
        if (out == NULL) { /* not UTF-8: escaped */
            char *esc = escape_dup(text, 0);
            out = json_string(esc);
            free(esc);
        }
        json_t *doc = json_pack("{s:b, s:i, s:s, s:o}", "ok", code == 0,
                                "exit", code, "command", w->command, "output",
                                out);
        webaction_reply(w->req, 200, "OK", doc);
        json_decref(doc);
        free(text);
    }
    cli_warnx("web: %s exited with %d", cli_safe(w->command), code);
    for (int i = 0; i < WEBACTION_MAX_RUNNING; i++)
        if (a->running[i] == w)
            a->running[i] = NULL;
    if (w->timeout != NULL)
        event_free(w->timeout);
    if (w->text != NULL)
        evbuffer_free(w->text);
    free(w->command);
    free(w);
}

int
webaction_reaped(struct webactions *a, pid_t pid, int status)
{
    for (int i = 0; i < WEBACTION_MAX_RUNNING; i++) {
        struct webaction *w = a->running[i];
        if (w != NULL && w->pid == pid) {
            w->pid = 0;
            w->status = status;
            webaction_finish(w);
            return 1;
        }
    }
    return 0;
}

void
webaction_cleanup(struct webactions *a)
{
    for (int i = 0; i < WEBACTION_MAX_RUNNING; i++) {
        struct webaction *w = a->running[i];
        if (w == NULL)
            continue;
        if (w->pid > 0) {
            kill(w->pid, SIGKILL);
            waitpid(w->pid, &w->status, 0);
            w->pid = 0;
        }
        if (w->out != NULL) {
            bufferevent_free(w->out);
            w->out = NULL;
        }
        w->req = NULL; /* the server is going: no answer */
        webaction_finish(w);
    }
    free(a->cli);
    free(a->redis);
    free(a->prefix);
    memset(a, 0, sizeof(*a));
}
