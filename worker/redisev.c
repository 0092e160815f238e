/* SPDX-License-Identifier: MIT */
/* hiredis on libevent with a persistent read event; see redisev.h. */
#include "redisev.h"

#include <hiredis/sds.h>
#include <stdlib.h>
#include <unistd.h>

/* While a large reply is arriving, one read takes up to this much
 * (hiredis reads 16 KiB at a time: 65 system calls for one 1 MiB read of
 * 256 KiB messages). */
#define REDISEV_READ_BYTES (1024 * 1024)
/* "A large reply is arriving": at least this much of it is buffered. */
#define REDISEV_BIG_PENDING (16 * 1024)
/* The reader's buffer is kept between replies up to this much unused
 * (hiredis's default, 16 KiB, frees it after every large reply and grows
 * it again, copy by copy, for the next). */
#define REDISEV_KEEP_BYTES (4 * 1024 * 1024)

struct redisev {
    redisAsyncContext *ac;
    struct event *rev, *wev;
};

static void
redisev_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct redisev *e = arg;
    redisContext *c = &e->ac->c;
    redisReader *r = c->reader;
    (void)what;
    /* In the middle of a large reply, read what has arrived in one call,
     * straight into the end of hiredis's reader buffer (what
     * redisReaderFeed() would copy it to; the reader's buf, pos and len
     * are public in hiredis/read.h and the buffer is an sds string);
     * hiredis's own read below then usually finds nothing (EAGAIN) and it
     * processes the replies.  End of stream and errors are left for that
     * read to see and handle (it disconnects); a reader that failed on
     * the bytes fails there again.  Small replies take hiredis's path
     * alone: no extra system call. */
    if ((c->flags & REDIS_CONNECTED) && c->err == 0 && r->err == 0 &&
        r->len - r->pos >= REDISEV_BIG_PENDING) {
        sds buf = sdsMakeRoomFor(r->buf, REDISEV_READ_BYTES);
        if (buf != NULL) {
            r->buf = buf;
            ssize_t n = read(fd, buf + sdslen(buf), REDISEV_READ_BYTES);
            if (n > 0) {
                sdsIncrLen(buf, (int)n);
                r->len = sdslen(buf);
            }
        }
    }
    redisAsyncHandleRead(e->ac);
}

static void
redisev_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct redisev *e = arg;
    (void)fd;
    (void)what;
    redisAsyncHandleWrite(e->ac);
}

/* hiredis asks for reads after every reply: a no-op while registered. */
static void
redisev_add_read(void *data)
{
    struct redisev *e = data;
    if (!event_pending(e->rev, EV_READ, NULL))
        event_add(e->rev, NULL);
}

static void
redisev_del_read(void *data)
{
    struct redisev *e = data;
    event_del(e->rev);
}

static void
redisev_add_write(void *data)
{
    struct redisev *e = data;
    event_add(e->wev, NULL);
}

static void
redisev_del_write(void *data)
{
    struct redisev *e = data;
    event_del(e->wev);
}

static void
redisev_cleanup(void *data)
{
    struct redisev *e = data;
    event_free(e->rev);
    event_free(e->wev);
    free(e);
}

int
redisev_attach(redisAsyncContext *ac, struct event_base *base)
{
    if (ac->ev.data != NULL)
        return -1;
    struct redisev *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return -1;
    e->ac = ac;
    e->rev = event_new(base, ac->c.fd, EV_READ | EV_PERSIST, redisev_read_cb,
                       e);
    e->wev = event_new(base, ac->c.fd, EV_WRITE, redisev_write_cb, e);
    if (e->rev == NULL || e->wev == NULL) {
        if (e->rev != NULL)
            event_free(e->rev);
        if (e->wev != NULL)
            event_free(e->wev);
        free(e);
        return -1;
    }
    ac->ev.addRead = redisev_add_read;
    ac->ev.delRead = redisev_del_read;
    ac->ev.addWrite = redisev_add_write;
    ac->ev.delWrite = redisev_del_write;
    ac->ev.cleanup = redisev_cleanup;
    ac->ev.data = e;
    if (ac->c.reader->maxbuf != 0 && ac->c.reader->maxbuf < REDISEV_KEEP_BYTES)
        ac->c.reader->maxbuf = REDISEV_KEEP_BYTES;
    event_add(e->rev, NULL);
    event_add(e->wev, NULL);
    return 0;
}
