/* SPDX-License-Identifier: MIT */
/*
 * `celeriac web`: the web dashboard, served by libevent's HTTP server —
 * GET / (one self-contained page, webpage.h), GET /api/snapshot (the
 * latest snapshot, webpoll.h) and, only with --allow-control and the token
 * in the X-Celeriac-Token header, POST /api/requeue, /api/pause,
 * /api/resume and /api/shutdown (run as child processes, webaction.h).
 * Binds to loopback unless told otherwise, and then answers only requests
 * for a loopback host name.  Bounded: WEB_MAX_CONNECTIONS connections
 * served at once (a request on one more gets 503 and is closed), headers
 * and bodies limited (evhttp answers 413 beyond), a connection idle for
 * WEB_TIMEOUT_S closed, and a failing accept() pauses the listener for a
 * second.  The loop never waits on Redis or on a child.
 */
#ifndef CELERIAC_WEB_H
#define CELERIAC_WEB_H

#include <stdio.h>

#include "cli.h"

#define WEB_DEFAULT_LISTEN "127.0.0.1:8080"
#define WEB_MAX_CONNECTIONS 64
#define WEB_MAX_HEADERS 8192
#define WEB_MAX_BODY 4096
#define WEB_TIMEOUT_S 30
/* The header that carries the control token. */
#define WEB_TOKEN_HEADER "X-Celeriac-Token"
/* A control token is at least this long. */
#define WEB_TOKEN_MIN 16

int web_main(struct cli *cli, int argc, char **argv);
void web_usage(FILE *out);

#endif
