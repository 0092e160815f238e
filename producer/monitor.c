/* SPDX-License-Identifier: MIT */
/* `celeriac monitor` (monitor.h): the terminal and the refresh loop. */
#include "monitor.h"

#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "monview.h"
#include "snapshot.h"
#include "xmalloc.h"

/* Socket timeout of a snapshot's commands: a frozen Redis shows as an
 * error after this long instead of freezing the screen for good. */
#define MONITOR_IO_TIMEOUT_MS 5000

static volatile sig_atomic_t monitor_stop;
static volatile sig_atomic_t monitor_resized;
static volatile sig_atomic_t monitor_suspend;
static struct termios monitor_saved;
static int monitor_tty_saved; /* monitor_saved holds stdin's modes */
static int monitor_screen;    /* the alternate screen is shown */

static void monitor_signal(int sig);
static void monitor_restore(void);
static int monitor_enter(void);
static void monitor_size(int *cols, int *rows);
static int monitor_draw(const struct monview *v, int rows);
static int monitor_once(struct conn *c, const char *prefix);
static int monitor_loop(struct conn *c, const char *prefix,
                        int64_t interval_us);

/* clang-format off */
void
monitor_usage(FILE *out)
{
    fprintf(out,
"Usage: celeriac monitor [--interval S] [--once]\n"
"\n"
"Shows the cluster live, redrawn every S seconds (default 1) on the whole\n"
"terminal (80x24 is enough): the throughput with a sparkline of the last\n"
"minutes; each queue's length, pending (held by workers), lag (not yet\n"
"read), consumers, rates in and out and the age of its oldest task; each\n"
"worker's host, time up, busy/all children, window, tasks done and\n"
"failed, rate and last beat; and the last dead letters.  q quits (so do\n"
"Ctrl-C and SIGTERM; Ctrl-Z suspends); the terminal is restored.  Rates\n"
"need two snapshots: they show as - at first.\n"
"\n"
"  --interval S   seconds between two snapshots (fractions allowed)\n"
"  --once         print one snapshot as plain text and exit; the default\n"
"                 when stdout is not a terminal\n"
"\n%s"
"\n"
"Exit codes: 0 quit or printed, 2 usage error, 4 Redis unreachable or\n"
"refused a command (--once).\n",
            cli_global_help);
}
/* clang-format on */

static void
monitor_signal(int sig)
{
    if (sig == SIGWINCH)
        monitor_resized = 1;
    else if (sig == SIGTSTP)
        monitor_suspend = 1;
    else
        monitor_stop = 1;
}

/* Leaves the alternate screen and gives stdin its modes back.  Safe to
 * call more than once (atexit and the normal way out). */
static void
monitor_restore(void)
{
    static const char leave[] = "\033[?25h\033[?1049l";
    if (monitor_screen) {
        monitor_screen = 0;
        if (write(STDOUT_FILENO, leave, sizeof(leave) - 1) < 0) {
            /* nothing more to do for a terminal that is gone */
        }
    }
    if (monitor_tty_saved) {
        monitor_tty_saved = 0;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &monitor_saved);
    }
}

/* Signals, stdin's modes (keys without Enter, no echo) and the alternate
 * screen; again after a suspension.  Returns 0, or -1 after saying why. */
static int
monitor_enter(void)
{
    static int once;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = monitor_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: poll() returns at once with EINTR. */
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGTSTP};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
    if (!once++)
        atexit(monitor_restore);
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &monitor_saved) == 0) {
        struct termios raw = monitor_saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0)
            monitor_tty_saved = 1;
    }
    static const char enter[] = "\033[?1049h\033[?25l\033[H\033[2J";
    monitor_screen = 1;
    if (cli_write_all(STDOUT_FILENO, enter, sizeof(enter) - 1) < 0) {
        cli_warn("cannot write to the terminal");
        return -1;
    }
    return 0;
}

static void
monitor_size(int *cols, int *rows)
{
    struct winsize ws;
    *cols = 80;
    *rows = 24;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 &&
        ws.ws_row > 0) {
        *cols = ws.ws_col;
        *rows = ws.ws_row;
    }
}

/* Draws the lines from the top left, each line cleared to its end and the
 * rest of the screen below, in one write (no flicker). */
static int
monitor_draw(const struct monview *v, int rows)
{
    size_t cap = 64, o;
    for (size_t i = 0; i < v->n; i++)
        cap += strlen(v->line[i]) + 8;
    char *buf = xmalloc(cap);
    memcpy(buf, "\033[H", 3);
    o = 3;
    for (size_t i = 0; i < v->n && (int)i < rows; i++) {
        size_t l = strlen(v->line[i]);
        memcpy(buf + o, v->line[i], l);
        o += l;
        if ((int)i + 1 < rows) {
            memcpy(buf + o, "\033[K\r\n", 5);
            o += 5;
        } else {
            memcpy(buf + o, "\033[K", 3);
            o += 3;
        }
    }
    memcpy(buf + o, "\033[J", 3);
    o += 3;
    int rc = cli_write_all(STDOUT_FILENO, buf, o);
    free(buf);
    return rc;
}

static int
monitor_once(struct conn *c, const char *prefix)
{
    struct snapshot_history h;
    struct monview v;
    memset(&h, 0, sizeof(h));
    memset(&v, 0, sizeof(v));

    json_t *doc = snapshot_take(c, prefix);
    if (doc == NULL) {
        if (conn_lost(c))
            conn_report_lost(c, "reading the cluster's state");
        return CLI_EXIT_REDIS;
    }
    snapshot_rates(doc, NULL);
    monview_render(&v, doc, &h, NULL, 0, 0, 0, 0);
    for (size_t i = 0; i < v.n; i++)
        printf("%s\n", v.line[i]);
    monview_clear(&v);
    json_decref(doc);
    return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}

static int
monitor_loop(struct conn *c, const char *prefix, int64_t interval_us)
{
    struct snapshot_history h;
    struct monview v;
    json_t *prev = NULL, *doc = NULL;
    const char *cs = nl_langinfo(CODESET);
    int utf8 = cs != NULL && strcmp(cs, "UTF-8") == 0, rc = CLI_EXIT_OK;
    int cols, rows;

    memset(&h, 0, sizeof(h));
    memset(&v, 0, sizeof(v));
    if (monitor_enter() < 0)
        return CLI_EXIT_FAILED;
    while (!monitor_stop) {
        int64_t next = cli_now_us() + interval_us;
        const char *error = NULL;
        if (conn_lost(c) && conn_reconnect(c, next) < 0)
            error = "Redis unreachable; trying again";
        if (error == NULL) {
            conn_set_timeout(c, MONITOR_IO_TIMEOUT_MS);
            json_t *cur = snapshot_take(c, prefix);
            if (cur == NULL) {
                error = conn_lost(c) ? "lost the connection to Redis; "
                                       "trying again"
                                     : "Redis refused a command (see above)";
            } else {
                snapshot_rates(cur, prev);
                json_t *tp = json_object_get(cur, "throughput");
                if (json_is_number(tp))
                    snapshot_history_push(&h, json_number_value(tp));
                json_decref(prev);
                prev = cur;
                doc = cur;
            }
        }
        for (;;) {
            monitor_size(&cols, &rows);
            monview_render(&v, doc, &h, error, cols, rows, utf8, 1);
            if (monitor_draw(&v, rows) < 0) {
                monitor_stop = 1; /* the terminal is gone */
                break;
            }
            monitor_resized = 0;
            /* Wait for the next refresh, a key or a signal. */
            int64_t left = next - cli_now_us();
            if (left <= 0 || monitor_stop)
                break;
            struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
            int n = poll(&p, 1, (int)((left + 999) / 1000));
            if (n < 0 && errno != EINTR) {
                cli_warn("poll");
                monitor_stop = 1;
                rc = CLI_EXIT_FAILED;
                break;
            }
            if (n > 0) {
                char keys[64];
                ssize_t r = read(STDIN_FILENO, keys, sizeof(keys));
                for (ssize_t i = 0; i < r; i++)
                    if (keys[i] == 'q' || keys[i] == 'Q')
                        monitor_stop = 1;
                if (r <= 0) {
                    /* Not a terminal at its end: only the clock and
                     * signals remain. */
                    struct timespec ts = {(time_t)(left / 1000000),
                                          (long)(left % 1000000) * 1000};
                    nanosleep(&ts, NULL);
                }
            }
            if (monitor_stop)
                break;
            if (monitor_suspend) {
                /* Ctrl-Z: give the terminal back, stop, and take it
                 * again when continued. */
                monitor_restore();
                signal(SIGTSTP, SIG_DFL);
                raise(SIGTSTP);
                monitor_suspend = 0;
                if (monitor_enter() < 0) {
                    rc = CLI_EXIT_FAILED;
                    monitor_stop = 1;
                    break;
                }
                monitor_resized = 1;
            }
            if (!monitor_resized && cli_now_us() >= next)
                break;
            if (!monitor_resized)
                continue;
        }
    }
    monview_clear(&v);
    json_decref(prev);
    monitor_restore();
    return rc;
}

int
monitor_main(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_LONG_OPTIONS,
        {"interval", required_argument, NULL, 'i'},
        {"once", no_argument, NULL, '1'},
        {NULL, 0, NULL, 0},
    };
    struct conn conn;
    int64_t interval_us = 1000000;
    int opt, once = 0, rc;

    memset(&conn, 0, sizeof(conn));
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'i':
            if (cli_parse_seconds(optarg, &interval_us) < 0 ||
                interval_us < 100000)
                return cli_usage("monitor",
                                 "--interval takes seconds, at least 0.1 "
                                 "('%s')",
                                 optarg);
            break;
        case '1':
            once = 1;
            break;
        case 'h':
        case CLI_OPT_HELP:
            monitor_usage(stdout);
            return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        case '?':
            return cli_usage("monitor", "bad option (see above)");
        default:
            if (cli_global_option(cli, opt, optarg) < 0)
                return CLI_EXIT_USAGE;
            break;
        }
    }
    if (optind < argc)
        return cli_usage("monitor", "monitor takes no arguments ('%s')",
                         argv[optind]);
    setlocale(LC_CTYPE, "");
    if (conn_init(&conn, cli->redis, cli->prefix) < 0)
        return CLI_EXIT_USAGE;
    if (!isatty(STDOUT_FILENO))
        once = 1;
    if (conn_connect(&conn) < 0 && once) {
        conn_close(&conn);
        return CLI_EXIT_REDIS;
    }
    conn_set_timeout(&conn, MONITOR_IO_TIMEOUT_MS);
    rc = once ? monitor_once(&conn, cli->prefix)
              : monitor_loop(&conn, cli->prefix, interval_us);
    conn_close(&conn);
    return rc;
}
