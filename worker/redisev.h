/* SPDX-License-Identifier: MIT */
/*
 * hiredis async contexts on a libevent base, with a persistent read event.
 *
 * hiredis 0.14's own adapter (hiredis/adapters/libevent.h) registers a
 * one-shot read event that hiredis adds again after every reply: libevent
 * then takes the socket out of epoll and puts it back for each reply (two
 * epoll_ctl calls, ~2 per task on a busy worker).  Here the read event
 * stays registered from attach to cleanup; the write event is as in
 * hiredis's adapter.  Owns the two events (freed by hiredis's cleanup
 * hook when the context goes).
 */
#ifndef CELERIAC_REDISEV_H
#define CELERIAC_REDISEV_H

#include <event2/event.h>
#include <hiredis/async.h>

/* Attaches ac to base.  0, or -1 (out of memory, or already attached). */
int redisev_attach(redisAsyncContext *ac, struct event_base *base);

#endif
