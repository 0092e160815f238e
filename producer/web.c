/* SPDX-License-Identifier: MIT */
/* `celeriac web` (web.h): options, the HTTP server and its routes. */
#include "web.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <sys/queue.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conn.h"
#include "keys.h"
#include "webaction.h"
#include "webpage.h"
#include "webpoll.h"
#include "xmalloc.h"

/* The environment variable naming the program actions run (tests point
 * it at a stub); this celeriac when unset. */
#define WEB_CLI_ENV "CELERIAC_WEB_CLI"

struct web {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct webpoll poll;
    struct webactions actions;
    char *token;      /* NULL: read-only; owned */
    int loopback;     /* listening on loopback: Host must name it */
    /* The connections that made a request, until they close. */
    struct evhttp_connection *conn[WEB_MAX_CONNECTIONS];
    int conns;
    struct event *resume; /* re-enables the listener after an error */
};

static int web_read_token(const char *spec, char **out);
static int web_split_listen(const char *s, char **host, unsigned *port);
static int web_is_loopback(const char *host);
static int web_track(struct web *w, struct evhttp_connection *evcon, int add);
static void web_conn_closed(struct evhttp_connection *evcon, void *arg);
static void web_accept_error(struct evconnlistener *lev, void *arg);
static void web_resume(evutil_socket_t fd, short what, void *arg);
static void web_request(struct evhttp_request *req, void *arg);
static void web_send(struct evhttp_request *req, int code, const char *reason,
                     const char *type, const char *body, size_t len);
static void web_error(struct evhttp_request *req, int code,
                      const char *reason, const char *message);
static int web_host_ok(const struct web *w, struct evhttp_request *req);
static int web_token_ok(const struct web *w, struct evhttp_request *req);
static void web_action(struct web *w, struct evhttp_request *req,
                       const char *path);
static void web_sigchld(evutil_socket_t fd, short what, void *arg);
static void web_sigstop(evutil_socket_t fd, short what, void *arg);
static int web_valid_entry(const char *s);

/* clang-format off */
void
web_usage(FILE *out)
{
    fprintf(out,
"Usage: celeriac web [--listen ADDR:PORT] [--interval S]\n"
"                    [--allow-control TOKEN-FILE | --allow-control env:VAR]\n"
"\n"
"Serves the web dashboard: one page (no external scripts, fonts or\n"
"styles) with the queues, the workers, a live throughput chart, the\n"
"recent task failures (from the events stream, when workers write it)\n"
"and the dead letters, refreshed every S seconds; the same data as JSON\n"
"at /api/snapshot.  Read-only unless --allow-control is\n"
"given: then the page can requeue dead letters, pause or resume a queue\n"
"and shut a worker down, each request carrying the token in the\n"
"X-Celeriac-Token header (without it: 403).  Actions run this program as\n"
"a child: `celeriac dead --requeue ENTRY|--all`, `celeriac control\n"
"pause|resume QUEUE`, `celeriac control --to WORKER shutdown`.\n"
"\n"
"  --listen ADDR:PORT     where to listen (default " WEB_DEFAULT_LISTEN ");\n"
"                         any address other than loopback lets others\n"
"                         on the network see the cluster\n"
"  --interval S           seconds between two snapshots (default 1)\n"
"  --allow-control FILE   allow actions; the token is the first line of\n"
"                         FILE (at least 16 characters), or with env:VAR\n"
"                         the environment variable VAR\n"
"\n%s"
"\n"
"Stops on SIGINT or SIGTERM.  Exit codes: 0 stopped, 1 cannot listen,\n"
"2 usage error.\n",
            cli_global_help);
}
/* clang-format on */

static int
web_read_token(const char *spec, char **out)
{
    char buf[4097];
    size_t n = 0;

    if (strncmp(spec, "env:", 4) == 0) {
        const char *v = getenv(spec + 4);
        if (v == NULL) {
            cli_warnx("--allow-control %s: the variable %s is not set",
                      cli_safe(spec), cli_safe(spec + 4));
            return -1;
        }
        snprintf(buf, sizeof(buf), "%s", v);
        n = strlen(buf);
    } else {
        int fd = open(spec, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            cli_warn("--allow-control: cannot open the token file %s",
                     cli_safe(spec));
            return -1;
        }
        ssize_t r;
        while (n < sizeof(buf) - 1 &&
               (r = read(fd, buf + n, sizeof(buf) - 1 - n)) != 0) {
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                cli_warn("--allow-control: cannot read %s", cli_safe(spec));
                close(fd);
                return -1;
            }
            n += (size_t)r;
        }
        close(fd);
        buf[n] = '\0';
        char *nl = strchr(buf, '\n');
        if (nl != NULL)
            *nl = '\0';
        n = strlen(buf);
    }
    while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
                     buf[n - 1] == '\t'))
        buf[--n] = '\0';
    if (n < WEB_TOKEN_MIN) {
        cli_warnx("--allow-control %s: the token must have at least %d "
                  "characters (e.g. openssl rand -hex 32 > FILE)",
                  cli_safe(spec), WEB_TOKEN_MIN);
        return -1;
    }
    *out = xstrdup(buf);
    explicit_bzero(buf, sizeof(buf));
    return 0;
}

/* "host:port", "[v6]:port".  Returns 0, or -1 if it is neither. */
static int
web_split_listen(const char *s, char **host, unsigned *port)
{
    const char *colon = strrchr(s, ':');
    char *end;
    if (colon == NULL || colon == s)
        return -1;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || colon[1] == '\0' || p > 65535)
        return -1;
    if (s[0] == '[') {
        if (colon[-1] != ']' || colon - s < 3)
            return -1;
        *host = xstrndup(s + 1, (size_t)(colon - s - 2));
    } else {
        *host = xstrndup(s, (size_t)(colon - s));
        if (strchr(*host, ':') != NULL) {
            free(*host);
            return -1;
        }
    }
    *port = (unsigned)p;
    return 0;
}

static int
web_is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
}

/* Finds evcon among the tracked connections; adds it when add is set and
 * there is room.  Returns 1 if it is (now) tracked, 0 if not. */
static int
web_track(struct web *w, struct evhttp_connection *evcon, int add)
{
    for (int i = 0; i < WEB_MAX_CONNECTIONS; i++)
        if (w->conn[i] == evcon)
            return 1;
    if (!add)
        return 0;
    for (int i = 0; i < WEB_MAX_CONNECTIONS; i++)
        if (w->conn[i] == NULL) {
            w->conn[i] = evcon;
            w->conns++;
            evhttp_connection_set_closecb(evcon, web_conn_closed, w);
            return 1;
        }
    return 0;
}

/* A tracked connection is being freed: its slot is free again, and an
 * action it waits for will not answer it. */
static void
web_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    struct web *w = arg;
    for (int i = 0; i < WEB_MAX_CONNECTIONS; i++)
        if (w->conn[i] == evcon) {
            w->conn[i] = NULL;
            w->conns--;
        }
    webaction_conn_gone(&w->actions, evcon);
}

/* accept() failed (out of descriptors, most likely): pause the listener
 * for a second instead of spinning on it. */
static void
web_accept_error(struct evconnlistener *lev, void *arg)
{
    struct web *w = arg;
    int err = EVUTIL_SOCKET_ERROR();
    struct timeval tv = {1, 0};
    cli_warnx("web: cannot accept a connection (%s); pausing for a second",
              evutil_socket_error_to_string(err));
    evconnlistener_disable(lev);
    evtimer_add(w->resume, &tv);
}

static void
web_resume(evutil_socket_t fd, short what, void *arg)
{
    struct web *w = arg;
    (void)fd;
    (void)what;
    if (w->bound != NULL)
        evconnlistener_enable(evhttp_bound_socket_get_listener(w->bound));
}

static void
web_send(struct evhttp_request *req, int code, const char *reason,
         const char *type, const char *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *b = evbuffer_new();
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    if (b == NULL) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
        evbuffer_add(b, body, len);
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

/* {"error": message} with the status code. */
static void
web_error(struct evhttp_request *req, int code, const char *reason,
          const char *message)
{
    json_t *doc = json_pack("{s:s}", "error", message);
    char *body = json_dumps(doc, JSON_COMPACT);
    web_send(req, code, reason, "application/json", body ? body : "{}",
             body ? strlen(body) : 2);
    free(body);
    json_decref(doc);
}

/* A server on loopback answers only requests for a loopback name, so
 * that a page from elsewhere cannot reach it through DNS rebinding. */
static int
web_host_ok(const struct web *w, struct evhttp_request *req)
{
    if (!w->loopback)
        return 1;
    const char *host = evhttp_find_header(
        evhttp_request_get_input_headers(req), "Host");
    if (host == NULL)
        return 0;
    char name[300];
    size_t n = strcspn(host, host[0] == '[' ? "]" : ":");
    if (host[0] == '[')
        host++, n--;
    if (n == 0 || n >= sizeof(name))
        return 0;
    memcpy(name, host, n);
    name[n] = '\0';
    return web_is_loopback(name);
}

static int
web_token_ok(const struct web *w, struct evhttp_request *req)
{
    const char *t = evhttp_find_header(evhttp_request_get_input_headers(req),
                                       WEB_TOKEN_HEADER);
    size_t n = strlen(w->token);
    return t != NULL && strlen(t) == n && CRYPTO_memcmp(t, w->token, n) == 0;
}

/* A dead-letter entry id: digits-digits. */
static int
web_valid_entry(const char *s)
{
    size_t a = strspn(s, "0123456789");
    if (a == 0 || a > 20 || s[a] != '-')
        return 0;
    size_t b = strspn(s + a + 1, "0123456789");
    return b > 0 && b <= 20 && s[a + 1 + b] == '\0';
}

static void
web_action(struct web *w, struct evhttp_request *req, const char *path)
{
    struct evkeyvalq q;
    const char *args[8] = {NULL};
    const char *query =
        evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));

    if (strcmp(path, "/api/requeue") != 0 && strcmp(path, "/api/pause") != 0 &&
        strcmp(path, "/api/resume") != 0 &&
        strcmp(path, "/api/shutdown") != 0) {
        web_error(req, 404, "Not Found", "no such action");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          "POST");
        web_error(req, 405, "Method Not Allowed", "actions are POST requests");
        return;
    }
    if (w->token == NULL) {
        web_error(req, 403, "Forbidden",
                  "read-only: start celeriac web with --allow-control to "
                  "allow actions");
        return;
    }
    if (!web_token_ok(w, req)) {
        web_error(req, 403, "Forbidden",
                  "missing or wrong token in the " WEB_TOKEN_HEADER
                  " header");
        return;
    }
    TAILQ_INIT(&q);
    if (query != NULL && evhttp_parse_query_str(query, &q) < 0) {
        web_error(req, 400, "Bad Request", "bad query string");
        return;
    }
    const char *queue = evhttp_find_header(&q, "queue");
    const char *worker = evhttp_find_header(&q, "worker");
    const char *entry = evhttp_find_header(&q, "entry");
    const char *all = evhttp_find_header(&q, "all");
    const char *bad = NULL;

    if (strcmp(path, "/api/requeue") == 0) {
        args[0] = "dead";
        args[1] = "--requeue";
        if (all != NULL && strcmp(all, "1") == 0)
            args[2] = "--all";
        else if (entry != NULL && web_valid_entry(entry))
            args[2] = entry;
        else
            bad = "requeue takes entry=ID (a dead-letter entry id) or all=1";
    } else if (strcmp(path, "/api/pause") == 0 ||
               strcmp(path, "/api/resume") == 0) {
        args[0] = "control";
        args[1] = path + 5;
        if (queue != NULL && keys_valid_name(queue) && queue[0] != '-')
            args[2] = queue;
        else
            bad = "pause and resume take queue=NAME (a valid queue name)";
    } else { /* /api/shutdown */
        args[0] = "control";
        args[1] = "--to";
        if (worker != NULL && keys_valid_worker(worker) && worker[0] != '-')
            args[2] = worker;
        else
            bad = "shutdown takes worker=NAME (a valid worker name)";
        args[3] = "shutdown";
    }
    if (bad != NULL)
        web_error(req, 400, "Bad Request", bad);
    else
        webaction_run(&w->actions, req, args);
    evhttp_clear_headers(&q);
}

static void
web_request(struct evhttp_request *req, void *arg)
{
    struct web *w = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

    if (path == NULL || *path == '\0')
        path = "/";
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon != NULL && !web_track(w, evcon, 1)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
                          "close");
        web_error(req, 503, "Service Unavailable",
                  "too many connections; try again");
        return;
    }
    if (!web_host_ok(w, req)) {
        web_error(req, 403, "Forbidden",
                  "this server answers only requests for a loopback name "
                  "(Host: 127.0.0.1, localhost or [::1])");
        return;
    }
    if (strncmp(path, "/api/", 5) == 0 && strcmp(path, "/api/snapshot") != 0) {
        web_action(w, req, path);
        return;
    }
    int page = strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0;
    int snap = strcmp(path, "/api/snapshot") == 0;
    if (!page && !snap) {
        web_error(req, 404, "Not Found", "no such page");
        return;
    }
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          "GET, HEAD");
        web_error(req, 405, "Method Not Allowed", "use GET");
        return;
    }
    if (page) {
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Content-Security-Policy",
                          "default-src 'none'; script-src 'unsafe-inline'; "
                          "style-src 'unsafe-inline'; connect-src 'self'; "
                          "img-src 'self' data:; frame-ancestors 'none'");
        web_send(req, 200, "OK", "text/html; charset=utf-8", webpage_html,
                 strlen(webpage_html));
        return;
    }
    size_t len;
    const char *snapshot = webpoll_latest(&w->poll, &len);
    if (snapshot == NULL) {
        web_error(req, 503, "Service Unavailable",
                  "no snapshot yet; try again in a second");
        return;
    }
    web_send(req, 200, "OK", "application/json", snapshot, len);
}

/* Reaps every child that ended: the snapshot process or an action. */
static void
web_sigchld(evutil_socket_t fd, short what, void *arg)
{
    struct web *w = arg;
    int status;
    pid_t pid;
    (void)fd;
    (void)what;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        if (!webpoll_reaped(&w->poll, pid, status))
            webaction_reaped(&w->actions, pid, status);
}

static void
web_sigstop(evutil_socket_t fd, short what, void *arg)
{
    struct web *w = arg;
    (void)fd;
    (void)what;
    event_base_loopexit(w->base, NULL);
}

int
web_main(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_LONG_OPTIONS,
        {"listen", required_argument, NULL, 'l'},
        {"interval", required_argument, NULL, 'i'},
        {"allow-control", required_argument, NULL, 'A'},
        {NULL, 0, NULL, 0},
    };
    static struct web w; /* static: reachable from the callbacks */
    const char *listen = WEB_DEFAULT_LISTEN, *control = NULL;
    int64_t interval_us = 1000000;
    char *host = NULL;
    unsigned port = 0;
    int opt, rc = CLI_EXIT_FAILED;
    struct event *sigs[3] = {NULL, NULL, NULL};

    memset(&w, 0, sizeof(w));
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            listen = optarg;
            break;
        case 'i':
            if (cli_parse_seconds(optarg, &interval_us) < 0 ||
                interval_us < 100000)
                return cli_usage("web",
                                 "--interval takes seconds, at least 0.1 "
                                 "('%s')",
                                 optarg);
            break;
        case 'A':
            control = optarg;
            break;
        case 'h':
        case CLI_OPT_HELP:
            web_usage(stdout);
            return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        case '?':
            return cli_usage("web", "bad option (see above)");
        default:
            if (cli_global_option(cli, opt, optarg) < 0)
                return CLI_EXIT_USAGE;
            break;
        }
    }
    if (optind < argc)
        return cli_usage("web", "web takes no arguments ('%s')", argv[optind]);
    if (web_split_listen(listen, &host, &port) < 0)
        return cli_usage("web",
                         "--listen takes ADDR:PORT, e.g. 127.0.0.1:8080 or "
                         "[::1]:8080 ('%s')",
                         listen);
    if (control != NULL && web_read_token(control, &w.token) < 0) {
        free(host);
        return CLI_EXIT_USAGE;
    }
    w.loopback = web_is_loopback(host);
    /* A bad Redis URL is said once here, not by every snapshot process. */
    struct conn probe;
    memset(&probe, 0, sizeof(probe));
    if (conn_init(&probe, cli->redis, cli->prefix) < 0) {
        free(host);
        free(w.token);
        return CLI_EXIT_USAGE;
    }
    conn_close(&probe);

    w.base = event_base_new();
    w.http = w.base ? evhttp_new(w.base) : NULL;
    if (w.http == NULL) {
        cli_warnx("web: cannot set up the event loop");
        goto done;
    }
    evhttp_set_max_headers_size(w.http, WEB_MAX_HEADERS);
    evhttp_set_max_body_size(w.http, WEB_MAX_BODY);
    evhttp_set_timeout(w.http, WEB_TIMEOUT_S);
    evhttp_set_allowed_methods(w.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
                                           EVHTTP_REQ_POST);
    evhttp_set_gencb(w.http, web_request, &w);
    w.bound = evhttp_bind_socket_with_handle(w.http, host, (uint16_t)port);
    if (w.bound == NULL) {
        cli_warn("web: cannot listen on %s", cli_safe(listen));
        goto done;
    }
    w.resume = evtimer_new(w.base, web_resume, &w);
    if (w.resume == NULL) {
        cli_warnx("web: out of memory");
        goto done;
    }
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(w.bound),
                                web_accept_error);
    if (webpoll_start(&w.poll, w.base, cli->redis, cli->prefix, interval_us,
                      w.token != NULL) < 0 ||
        webaction_init(&w.actions, w.base, getenv(WEB_CLI_ENV), cli->redis,
                       cli->prefix) < 0)
        goto done;
    sigs[0] = evsignal_new(w.base, SIGCHLD, web_sigchld, &w);
    sigs[1] = evsignal_new(w.base, SIGINT, web_sigstop, &w);
    sigs[2] = evsignal_new(w.base, SIGTERM, web_sigstop, &w);
    for (int i = 0; i < 3; i++)
        if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) < 0) {
            cli_warnx("web: cannot watch signals");
            goto done;
        }
    /* A child may have ended before SIGCHLD was watched. */
    web_sigchld(-1, 0, &w);
    fprintf(stderr, "celeriac: web: serving http://%s/ (%s)\n",
            cli_safe(listen),
            w.token ? "control allowed with the token" : "read-only");
    fflush(stderr);
    event_base_dispatch(w.base);
    fprintf(stderr, "celeriac: web: stopped\n");
    rc = CLI_EXIT_OK;
done:
    webaction_cleanup(&w.actions);
    webpoll_stop(&w.poll);
    for (int i = 0; i < 3; i++)
        if (sigs[i] != NULL)
            event_free(sigs[i]);
    w.bound = NULL; /* freed with the server: not to be resumed */
    if (w.resume != NULL)
        event_free(w.resume);
    if (w.http != NULL)
        evhttp_free(w.http);
    if (w.base != NULL)
        event_base_free(w.base);
    if (w.token != NULL) {
        explicit_bzero(w.token, strlen(w.token));
        free(w.token);
    }
    free(host);
    return rc;
}
