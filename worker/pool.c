/* SPDX-License-Identifier: MIT */
/* Forking, feeding, reaping and replacing the children; see pool.h. */
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/util.h>

#include "child.h"
#include "log.h"
#include "xmalloc.h"

/* The fd a child finds its socket on. */
#define POOL_CHILD_FD 3

static long long pool_now_ms(void);
static int pool_spawn(struct pool_child *c);
static void pool_child_exec(struct pool *p, int index, int fd, int chan)
    __attribute__((noreturn));
static void pool_write_cb(struct bufferevent *bev, void *arg);
static void pool_stream_result(struct pool_child *c, struct slot *s,
                               const struct ipc_result *r);
static void pool_read_cb(struct bufferevent *bev, void *arg);
static void pool_event_cb(struct bufferevent *bev, short what, void *arg);
static void pool_sigchld_cb(evutil_socket_t sig, short what, void *arg);
static void pool_respawn_cb(evutil_socket_t fd, short what, void *arg);
static void pool_gone(struct pool_child *c);
static void pool_drop(struct pool_child *c, const char *why);
static void pool_limit_cb(evutil_socket_t fd, short what, void *arg);
static void pool_steal_cb(evutil_socket_t fd, short what, void *arg);
static int pool_take_back(struct pool *p, struct pool_child *c,
                          struct slot *s);
static void pool_after_result(struct pool_child *c, uint32_t rss_kb);
static void pool_ring_put(struct pool *p, struct pool_child *c, struct slot *s,
                          struct ipc_task *t);
static int pool_usable(const struct pool_child *c);
static long pool_token_wait_ms(struct pool *p);

static long long
pool_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
pool_start(struct pool *p, struct event_base *base, int n,
           unsigned child_max, struct slot_table *slots, char *const *queues,
           const struct exec_env *env, const struct pool_cbs *cbs, void *arg)
{
    unsigned long max_tasks = p->max_tasks, max_rss_kb = p->max_rss_kb;
    int grow_max = p->grow_max;
    memset(p, 0, sizeof(*p));
    p->grow_max = grow_max;
    p->max_tasks = max_tasks; /* set by the caller before */
    p->max_rss_kb = max_rss_kb;
    p->base = base;
    p->n = grow_max > n ? grow_max : n;
    p->active = n;
    p->child_max = child_max;
    p->slots = slots;
    p->queues = queues;
    p->env = env;
    p->cbs = *cbs;
    p->arg = arg;
    p->children = xcalloc((size_t)p->n, sizeof(*p->children));
    p->tokens = POOL_RESPAWN_BURST(n);
    p->tokens_ms = pool_now_ms();
    p->steal_ev = evtimer_new(base, pool_steal_cb, p);
    p->sigchld = evsignal_new(base, SIGCHLD, pool_sigchld_cb, p);
    if (p->sigchld == NULL || evsignal_add(p->sigchld, NULL) < 0) {
        log_warnx("%s: cannot watch SIGCHLD", __func__);
        return -1;
    }
    int started = 0;
    for (int i = 0; i < p->n; i++) {
        struct pool_child *c = &p->children[i];
        c->index = i;
        c->pool = p;
        TAILQ_INIT(&c->running);
        TAILQ_INIT(&c->streams);
        c->fdchan = -1;
        ring_init(&c->ring);
        c->respawn_ev = evtimer_new(base, pool_respawn_cb, c);
        c->limit_ev = evtimer_new(base, pool_limit_cb, c);
        if (i < n && pool_spawn(c) == 0)
            started++;
    }
    return started > 0 ? 0 : -1;
}

/* Runs in the new child: sheds the parent's state, then the child loop. */
static void
pool_child_exec(struct pool *p, int index, int fd, int chan)
{
    char role[32];
    pid_t parent = getppid();
    struct ring *ring = &p->children[index].ring;

    /* Our ring, read-only, before its descriptor goes with the others
     * (the parent's writable mapping was not inherited: ring.h). */
    if (ring->fd >= 0 && ring_child_map(ring->fd, ring->size) < 0) {
        log_warn("child %d: cannot map its ring", index);
        _exit(1);
    }

    /* Only the socket, the descriptor channel and stdio survive; the
     * loop, Redis sockets and the other children's sockets belong to the
     * parent.  Both are moved out of the way first, so neither can be
     * overwritten by the other's dup2. */
    int hi_fd = fcntl(fd, F_DUPFD, POOL_CHILD_FD + 8);
    int hi_chan = fcntl(chan, F_DUPFD, POOL_CHILD_FD + 8);
    if (hi_fd < 0 || hi_chan < 0 || dup2(hi_fd, POOL_CHILD_FD) < 0 ||
        dup2(hi_chan, IPC_FD_CHANNEL) < 0)
        _exit(1);
    close_range(IPC_FD_CHANNEL + 1, ~0U, 0);
    /* Only our own claim map: another child's tasks are none of ours. */
    for (int i = 0; i < p->n; i++)
        if (i != index)
            claim_map_free(&p->children[i].claims);
    claim_child_set(&p->children[index].claims);
    /* Ctrl-C and SIGTERM are for the parent, which shuts down warm and
     * closes our socket when it is time; SIGKILL still works. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    snprintf(role, sizeof(role), "child %d", index);
    log_set_role(role);
    log_debug("started");
    _exit(child_main(POOL_CHILD_FD, p->env));
}

static int
pool_spawn(struct pool_child *c)
{
    struct pool *p = c->pool;
    int sv[2], ch[2];

    claim_map_free(&c->claims); /* the last process's, if any */
    /* A new process gets a new ring: nothing the last one saw or did
     * carries over.  Without one, large messages use the socket. */
    ring_free(&c->ring);
    ring_new(&c->ring, RING_SIZE);
    if (claim_map_new(&c->claims, p->slots->n) < 0) {
        log_warn("%s: claim map for child %d", __func__, c->index);
        return -1;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        log_warn("%s: socketpair for child %d", __func__, c->index);
        return -1;
    }
    /* The descriptor channel (ipc.h): path tasks' open files. */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch) < 0) {
        log_warn("%s: descriptor channel for child %d", __func__, c->index);
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_warn("%s: fork of child %d", __func__, c->index);
        close(sv[0]);
        close(sv[1]);
        close(ch[0]);
        close(ch[1]);
        return -1;
    }
    if (pid == 0)
        pool_child_exec(p, c->index, sv[1], ch[1]);
    /* NOTREACHED in the child */
    close(sv[1]);
    close(ch[1]);
    evutil_make_socket_nonblocking(ch[0]);
    if (c->fdchan >= 0)
        close(c->fdchan);
    c->fdchan = ch[0];
    evutil_make_socket_nonblocking(sv[0]);
    c->bev = bufferevent_socket_new(p->base, sv[0], BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        log_warnx("%s: bufferevent for child %d", __func__, c->index);
        close(sv[0]);
        kill(pid, SIGKILL); /* reaped and replaced through SIGCHLD */
        c->pid = pid;
        c->eof = 1;
        return -1;
    }
    bufferevent_setcb(c->bev, pool_read_cb, pool_write_cb, pool_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, POOL_STREAM_LOW, 0);
    /* Streamed bodies go out in writes of up to POOL_STREAM_LOW rather
     * than libevent's default 16 KiB: a 64 KiB body in one writev, not 4
     * (the socket's send buffer takes ~200 KiB). */
    bufferevent_set_max_single_write(c->bev, POOL_STREAM_LOW);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->congested = 0;
    c->nstreams = 0;
    c->pid = pid;
    c->eof = 0;
    c->reaped = 0;
    c->load = 0;
    c->tasks = 0;
    c->retiring = 0;
    c->limit_ms = 0;
    c->killed_ms = 0;
    c->spawned_ms = pool_now_ms();
    log_debug("child %d started as pid %ld", c->index, (long)pid);
    return 0;
}

/* 1 if c runs and may be given tasks: also not when the tasks it ran and
 * holds reach --max-tasks-per-child, so that a child about to be recycled
 * is not handed a queue it would run past its quota. */
static int
pool_usable(const struct pool_child *c)
{
    const struct pool *p = c->pool;
    return c->bev != NULL && !c->eof && !c->reaped && !c->retiring &&
           c->index < p->active &&
           (p->max_tasks == 0 ||
            c->tasks + (unsigned long)c->load + c->nstreams < p->max_tasks);
}

struct pool_child *
pool_pick(struct pool *p)
{
    struct pool_child *best = NULL;
    if (p->stopping)
        return NULL;
    for (int i = 0; i < p->n; i++) {
        struct pool_child *c = &p->children[i];
        if (!pool_usable(c) || c->load >= p->child_max)
            continue;
        if (best == NULL || c->load < best->load)
            best = c;
    }
    return best;
}

/* Copies s's message into c's ring if it has room, and makes t name it
 * there; else leaves t as it is (the frame carries the message). */
static void
pool_ring_put(struct pool *p, struct pool_child *c, struct slot *s,
              struct ipc_task *t)
{
    long oldest = -1;
    struct slot *q;
    /* Space is given back in send order: the oldest task still holding
     * some bounds the free part. */
    TAILQ_FOREACH(q, &c->running, entry)
        if (q->ring_len > 0) {
            oldest = q->ring_off;
            break;
        }
    long off = ring_alloc(&c->ring, oldest, (uint32_t)s->msg_len);
    if (off < 0) {
        p->ring_full++;
        log_debug("child %d's ring is full: a message of %zu bytes goes "
                  "through the socket",
                  c->index, s->msg_len);
        return;
    }
    memcpy(c->ring.map + off, s->msg, s->msg_len);
    s->ring_off = (uint32_t)off;
    s->ring_len = (uint32_t)s->msg_len;
    t->flags = IPC_TASK_RING;
    t->ring_off = s->ring_off;
    t->ring_len = s->ring_len;
    t->msg_len = 0;
    p->ring_sent++;
}

int
pool_send(struct pool *p, struct pool_child *c, struct slot *s)
{
    unsigned char head[IPC_HDR_LEN + IPC_TASK_FIXED];
    const char *queue = p->queues[s->queue];
    struct ipc_task t = {
        .attempts = s->attempts,
        .claim = claim_offer(&c->claims, s->index),
        .entry_id_len = (uint32_t)strlen(s->entry_id),
        .queue_len = (uint32_t)strlen(queue),
        .msg_len = (uint32_t)s->msg_len,
    };
    if (s->fail_type != NULL) {
        t.flags = IPC_TASK_FAIL | (s->fail_retry ? IPC_TASK_MAY_RETRY : 0);
        t.err_type_len = (uint32_t)strlen(s->fail_type);
        t.err_msg_len = (uint32_t)strlen(s->fail_why);
        t.started_us = (uint64_t)s->started_us;
    } else if (s->src_fd >= 0) {
        /* The file first: the child takes it when it reaches the task. */
        if (ipc_fd_send(c->fdchan, s->index, s->src_fd) < 0) {
            log_warn("%s: cannot pass a file to child %d", __func__,
                     c->index);
            claim_steal(&c->claims, s->index, t.claim);
            return -1;
        }
        t.flags = IPC_TASK_FD;
    } else if (s->msg_len >= POOL_RING_MIN && c->ring.map != NULL &&
               s->msg_len <= c->ring.size) {
        pool_ring_put(p, c, s, &t);
    }
    size_t plen = IPC_TASK_FIXED + t.entry_id_len + t.queue_len + t.msg_len +
                  t.err_type_len + t.err_msg_len;
    struct evbuffer *out = bufferevent_get_output(c->bev);

    s->claim = t.claim;
    ipc_hdr_write(head, IPC_TASK, s->index, plen);
    ipc_task_fixed(head + IPC_HDR_LEN, &t);
    evbuffer_add(out, head, sizeof(head));
    evbuffer_add(out, s->entry_id, t.entry_id_len);
    evbuffer_add(out, queue, t.queue_len);
    /* The slot keeps its message until the child answers or the task is
     * taken back, and a taken-back task is sent again (from the same
     * buffer) or answered only after this write: no copy needed. */
    if (t.msg_len > 0)
        evbuffer_add_reference(out, s->msg, t.msg_len, NULL, NULL);
    if (s->fail_type != NULL) {
        evbuffer_add(out, s->fail_type, t.err_type_len);
        evbuffer_add(out, s->fail_why, t.err_msg_len);
    }
    slot_move(p->slots, s, SLOT_RUNNING);
    s->child = c->index;
    if (c->load == 0)
        c->busy_since_ms = pool_now_ms();
    TAILQ_INSERT_TAIL(&c->running, s, entry);
    c->load++;
    return 0;
}

struct pool_child *
pool_pick_stream(struct pool *p)
{
    struct pool_child *best = NULL;
    size_t best_bytes = 0;
    if (p->stopping)
        return NULL;
    for (int i = 0; i < p->n; i++) {
        struct pool_child *c = &p->children[i];
        if (!pool_usable(c))
            continue;
        size_t bytes = pool_pending_bytes(c);
        if (best == NULL || c->nstreams < best->nstreams ||
            (c->nstreams == best->nstreams && bytes < best_bytes)) {
            best = c;
            best_bytes = bytes;
        }
    }
    return best;
}

size_t
pool_pending_bytes(const struct pool_child *c)
{
    if (c->bev == NULL)
        return 0;
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

void
pool_stream_open(struct pool *p, struct pool_child *c, struct slot *s)
{
    unsigned char head[IPC_HDR_LEN + IPC_TASK_FIXED];
    const char *queue = p->queues[s->queue];
    struct ipc_task t = {
        .attempts = s->attempts,
        .claim = 0, /* never taken back: no claim */
        .flags = IPC_TASK_STREAM,
        .started_us = (uint64_t)s->started_us,
        .entry_id_len = (uint32_t)strlen(s->entry_id),
        .queue_len = (uint32_t)strlen(queue),
        .msg_len = (uint32_t)s->msg_len,
    };
    size_t plen = IPC_TASK_FIXED + t.entry_id_len + t.queue_len + t.msg_len;
    struct evbuffer *out = bufferevent_get_output(c->bev);

    ipc_hdr_write(head, IPC_TASK, s->index, plen);
    ipc_task_fixed(head + IPC_HDR_LEN, &t);
    evbuffer_add(out, head, sizeof(head));
    evbuffer_add(out, s->entry_id, t.entry_id_len);
    evbuffer_add(out, queue, t.queue_len);
    /* The slot keeps its message until its result comes: no copy. */
    evbuffer_add_reference(out, s->msg, s->msg_len, NULL, NULL);
    s->claim = 0;
    s->child = c->index;
    s->streaming = 1;
    TAILQ_INSERT_TAIL(&c->streams, s, entry);
    c->nstreams++;
}

int
pool_stream_chunk(struct pool *p, struct slot *s, const unsigned char *data,
                  size_t len)
{
    struct pool_child *c = &p->children[s->child];
    struct evbuffer *out = bufferevent_get_output(c->bev);
    while (len > 0) {
        unsigned char head[IPC_HDR_LEN];
        size_t n = len < IPC_CHUNK_MAX ? len : IPC_CHUNK_MAX;
        ipc_hdr_write(head, IPC_CHUNK, s->index, n);
        evbuffer_add(out, head, sizeof(head));
        evbuffer_add(out, data, n);
        data += n;
        len -= n;
    }
    if (evbuffer_get_length(out) > POOL_STREAM_HIGH) {
        c->congested = 1;
        return 1;
    }
    return 0;
}

void
pool_stream_end(struct pool *p, struct slot *s, const char *err_type,
                const char *err_msg, const char *facts)
{
    struct pool_child *c = &p->children[s->child];
    struct evbuffer *out = bufferevent_get_output(c->bev);
    unsigned char head[IPC_HDR_LEN + IPC_END_FIXED];
    struct ipc_end e = {
        .err_type_len = err_type ? (uint32_t)strlen(err_type) : 0,
        .err_msg_len = err_type && err_msg ? (uint32_t)strlen(err_msg) : 0,
        .facts_len = facts ? (uint32_t)strlen(facts) : 0,
    };
    ipc_hdr_write(head, IPC_END, s->index,
                  IPC_END_FIXED + e.err_type_len + e.err_msg_len +
                      e.facts_len);
    ipc_end_fixed(head + IPC_HDR_LEN, &e);
    evbuffer_add(out, head, sizeof(head));
    if (e.err_type_len)
        evbuffer_add(out, err_type, e.err_type_len);
    if (e.err_msg_len)
        evbuffer_add(out, err_msg, e.err_msg_len);
    if (e.facts_len)
        evbuffer_add(out, facts, e.facts_len);
}

/* The output buffer went below the low watermark. */
static void
pool_write_cb(struct bufferevent *bev, void *arg)
{
    struct pool_child *c = arg;
    struct pool *p = c->pool;
    (void)bev;
    if (!c->congested)
        return;
    c->congested = 0;
    if (p->cbs.drained)
        p->cbs.drained(p->arg, c);
}

/* A streamed task's result: it may come in any order. */
static void
pool_stream_result(struct pool_child *c, struct slot *s,
                   const struct ipc_result *r)
{
    struct pool *p = c->pool;
    TAILQ_REMOVE(&c->streams, s, entry);
    c->nstreams--;
    s->streaming = 0;
    c->tasks++;
    c->quick_deaths = 0;
    p->cbs.result(p->arg, s, r);
    pool_after_result(c, r->rss_kb);
}

/* 1 if no frame to c is still in its output buffer: those refer to the
 * slots' messages (pool_send), so only then may a task sent to c be taken
 * back, answered and its slot reused. */
static int
pool_written(const struct pool_child *c)
{
    return c->bev != NULL && !c->eof &&
           evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
}

/*
 * Takes s, queued in c, back if c has not started it (its claim CAS wins,
 * claim.h): s is then READY, on no list, and returns 1; else 0 and s is
 * unchanged.  The one place a queued task leaves a live child unrun.
 */
static int
pool_take_back(struct pool *p, struct pool_child *c, struct slot *s)
{
    if (!claim_steal(&c->claims, s->index, s->claim))
        return 0;
    TAILQ_REMOVE(&c->running, s, entry);
    c->load--;
    s->ring_len = 0;
    slot_move(p->slots, s, SLOT_READY);
    s->child = -1;
    return 1;
}

int
pool_withdraw(struct pool *p, struct slot *s)
{
    if (s->state != SLOT_RUNNING || s->streaming || s->child < 0 ||
        s->child >= p->n)
        return 0;
    struct pool_child *c = &p->children[s->child];
    /* A path task may go: a child that finds its claim taken receives
     * the descriptor sent ahead of the frame and closes it (child.c). */
    if (!pool_written(c))
        return -1;
    return pool_take_back(p, c, s);
}

static void
pool_steal_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pool *p = arg;
    (void)fd;
    (void)what;
    if (p->cbs.idle)
        p->cbs.idle(p->arg);
}

unsigned
pool_steal(struct pool *p, struct slot_list *ready)
{
    long long now = pool_now_ms(), wait_ms = -1;
    struct pool_child *idle = NULL, *victim = NULL;
    if (p->stopping)
        return 0;
    for (int i = 0; i < p->n; i++) {
        struct pool_child *c = &p->children[i];
        if (pool_usable(c) && c->load == 0 && idle == NULL)
            idle = c;
        /* Only tasks whose frames are all in the socket: the output
         * buffer still refers to the slots' messages. */
        if (c->load < 2 || !pool_written(c))
            continue;
        long long quiet = now - c->busy_since_ms;
        if (quiet < POOL_STEAL_AFTER_MS) {
            if (wait_ms < 0 || POOL_STEAL_AFTER_MS - quiet < wait_ms)
                wait_ms = POOL_STEAL_AFTER_MS - quiet;
            continue;
        }
        if (victim == NULL || c->load > victim->load)
            victim = c;
    }
    if (idle == NULL)
        return 0;
    if (victim == NULL) {
        if (wait_ms >= 0 && p->steal_ev != NULL &&
            !evtimer_pending(p->steal_ev, NULL)) {
            struct timeval tv = {0, (suseconds_t)(wait_ms * 1000 + 100)};
            evtimer_add(p->steal_ev, &tv);
        }
        return 0;
    }
    /* Half of its queue, the newest first; the head is (or was) running. */
    unsigned want = victim->load / 2, got = 0;
    struct slot *s = TAILQ_LAST(&victim->running, slot_list);
    while (got < want && s != NULL && s != TAILQ_FIRST(&victim->running)) {
        struct slot *prev = TAILQ_PREV(s, slot_list, entry);
        /* A path task's descriptor is in that child's channel already. */
        if (s->src_fd >= 0 && s->fail_type == NULL)
            break;
        if (!pool_take_back(p, victim, s))
            break; /* started: so were all before it */
        TAILQ_INSERT_HEAD(ready, s, entry);
        got++;
        s = prev;
    }
    if (got) {
        p->stolen += got;
        log_debug("child %d is idle: took %u queued task(s) back from child "
                  "%d",
                  idle->index, got, victim->index);
    }
    return got;
}

/* Reassembles frames from a child and hands each result to the owner. */
static void
pool_read_cb(struct bufferevent *bev, void *arg)
{
    struct pool_child *c = arg;
    struct pool *p = c->pool;
    struct evbuffer *in = bufferevent_get_input(bev);
    int got = 0;

    for (;;) {
        unsigned char raw[IPC_HDR_LEN];
        struct ipc_hdr hdr;
        struct ipc_result r;
        const char *cause = NULL;
        size_t avail = evbuffer_get_length(in);

        if (avail < IPC_HDR_LEN)
            break;
        evbuffer_copyout(in, raw, IPC_HDR_LEN);
        int ok = ipc_frame_peek(raw, avail, &hdr, &cause);
        if (ok == 0)
            break;
        if (ok < 0 || hdr.type == IPC_TASK) {
            pool_drop(c, cause ? cause : "unexpected frame type");
            break;
        }
        unsigned char *frame = evbuffer_pullup(in, hdr.len);
        struct slot *s = TAILQ_FIRST(&c->running);
        if (hdr.type == IPC_STARTED) {
            if (hdr.len != IPC_HDR_LEN + IPC_STARTED_LEN || s == NULL ||
                s->index != hdr.seq) {
                pool_drop(c, "bad STARTED frame");
                break;
            }
            /* The task runs now: arm its time limit. */
            c->limit_ms = ipc_started_read(frame + IPC_HDR_LEN);
            struct timeval tv = {c->limit_ms / 1000,
                                 (c->limit_ms % 1000) * 1000};
            evtimer_add(c->limit_ev, &tv);
            evbuffer_drain(in, hdr.len);
            continue;
        }
        if (hdr.type != IPC_RESULT ||
            ipc_result_parse(frame + IPC_HDR_LEN, hdr.len - IPC_HDR_LEN,
                             &r) < 0) {
            pool_drop(c, "malformed result frame");
            break;
        }
        struct slot *ss = slot_get(p->slots, hdr.seq);
        if (ss != NULL && ss->streaming && ss->child == c->index) {
            pool_stream_result(c, ss, &r);
            evbuffer_drain(in, hdr.len);
            got++;
            continue;
        }
        if (s == NULL || s->index != hdr.seq) {
            pool_drop(c, "result for a task it was not running");
            break;
        }
        TAILQ_REMOVE(&c->running, s, entry);
        c->load--;
        s->ring_len = 0; /* the result gives its ring space back */
        c->tasks++;
        c->quick_deaths = 0;
        if (c->limit_ms) {
            evtimer_del(c->limit_ev);
            c->limit_ms = 0;
        }
        p->cbs.result(p->arg, s, &r);
        uint32_t rss_kb = r.rss_kb;
        evbuffer_drain(in, hdr.len);
        pool_after_result(c, rss_kb);
        got++;
    }
    if (got)
        c->busy_since_ms = pool_now_ms();
    if (got && p->cbs.idle)
        p->cbs.idle(p->arg);
}

/* Recycles a child that reached --max-tasks-per-child or
 * --max-memory-per-child: no new tasks, and once idle its socket is closed
 * so it exits by itself. */
static void
pool_after_result(struct pool_child *c, uint32_t rss_kb)
{
    struct pool *p = c->pool;
    if (!c->retiring && c->index >= p->active) {
        c->retiring = 1; /* the pool shrank */
    } else if (!c->retiring) {
        if (p->max_tasks && c->tasks >= p->max_tasks) {
            log_info("child %d (pid %ld) ran %lu tasks; recycling it",
                     c->index, (long)c->pid, c->tasks);
            c->retiring = 1;
        } else if (p->max_rss_kb && rss_kb > p->max_rss_kb) {
            log_info("child %d (pid %ld) uses %u KiB, over the %lu KiB "
                     "limit; recycling it",
                     c->index, (long)c->pid, rss_kb, p->max_rss_kb);
            c->retiring = 1;
        }
    }
    if (c->retiring && c->load == 0 && c->nstreams == 0 && c->bev != NULL &&
        !c->eof)
        shutdown(bufferevent_getfd(c->bev), SHUT_WR);
}

/* A task ran past its time limit: kill the child; pool_gone reports it. */
static void
pool_limit_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pool_child *c = arg;
    (void)fd;
    (void)what;
    if (c->pid <= 0 || c->reaped || c->limit_ms == 0)
        return;
    log_warnx("child %d (pid %ld) ran a task past its %u ms time limit; "
              "killing it",
              c->index, (long)c->pid, c->limit_ms);
    c->killed_ms = c->limit_ms;
    kill(c->pid, SIGKILL);
}

/* A child broke the frame protocol: it cannot be trusted with more work. */
static void
pool_drop(struct pool_child *c, const char *why)
{
    log_error("child %d (pid %ld) sent a bad frame (%s); killing it",
              c->index, (long)c->pid, why);
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    c->eof = 1; /* no EOF event will come with reading disabled */
    kill(c->pid, SIGKILL);
    if (c->reaped)
        pool_gone(c);
}

static void
pool_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct pool_child *c = arg;
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (what & BEV_EVENT_ERROR)
            log_debug("child %d socket error: %s", c->index,
                      evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
        c->eof = 1;
        if (c->reaped)
            pool_gone(c);
    }
}

static void
pool_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
    struct pool *p = arg;
    int st;
    pid_t pid;
    (void)sig;
    (void)what;

    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        int i = 0;
        for (; i < p->n; i++) {
            struct pool_child *c = &p->children[i];
            if (c->pid != pid || c->reaped)
                continue;
            c->reaped = 1;
            c->wstatus = st;
            if (c->eof)
                pool_gone(c);
            break;
        }
        if (i == p->n && p->cbs.reaped != NULL)
            p->cbs.reaped(p->arg, pid, st);
    }
}

/* Both reaped and EOF: account for its tasks and replace it. */
static void
pool_gone(struct pool_child *c)
{
    struct pool *p = c->pool;
    struct slot *s;
    int st = c->wstatus;

    int expected = (p->stopping || c->retiring) && c->load == 0 &&
                   c->nstreams == 0 &&
                   WIFEXITED(st) && WEXITSTATUS(st) == 0;
    evtimer_del(c->limit_ev);
    if (!expected) {
        p->deaths++;
        if (WIFSIGNALED(st))
            log_error("child %d (pid %ld) was killed by signal %d (%s) "
                      "with %u task(s) in hand",
                      c->index, (long)c->pid, WTERMSIG(st),
                      strsignal(WTERMSIG(st)), c->load);
        else
            log_error("child %d (pid %ld) exited with status %d with %u "
                      "task(s) in hand",
                      c->index, (long)c->pid, WEXITSTATUS(st), c->load);
    } else {
        if (c->retiring)
            p->recycled++;
        log_debug("child %d (pid %ld) exited", c->index, (long)c->pid);
    }
    bufferevent_free(c->bev);
    c->bev = NULL;
    if (c->fdchan >= 0)
        close(c->fdchan);
    c->fdchan = -1;
    c->congested = 0;
    pid_t pid = c->pid;
    c->pid = 0;
    /* Its open streams end with it, like the task it was running. */
    while ((s = TAILQ_FIRST(&c->streams)) != NULL) {
        TAILQ_REMOVE(&c->streams, s, entry);
        c->nstreams--;
        s->streaming = 0;
        if (p->cbs.lost)
            p->cbs.lost(p->arg, s, c->index, pid, st, 0);
    }
    /* The tasks it claimed had started (claim.h): the last of them was
     * running when it died; the ones before it had finished but their
     * results were lost with it.  The others had not started. */
    struct slot *ran = NULL;
    TAILQ_FOREACH(s, &c->running, entry) {
        if (claim_steal(&c->claims, s->index, s->claim))
            break;
        ran = s;
    }
    /* Its ring goes with it; a new process gets a new one. */
    ring_free(&c->ring);
    TAILQ_FOREACH(s, &c->running, entry)
        s->ring_len = 0;
    if (ran != NULL) {
        TAILQ_REMOVE(&c->running, ran, entry);
        if (p->cbs.lost)
            p->cbs.lost(p->arg, ran, c->index, pid, st, c->killed_ms);
    }
    while ((s = TAILQ_LAST(&c->running, slot_list)) != NULL) {
        TAILQ_REMOVE(&c->running, s, entry);
        if (p->cbs.requeue)
            p->cbs.requeue(p->arg, s); /* goes to the queue's head */
    }
    c->load = 0;
    claim_map_free(&c->claims);
    if (p->stopping) {
        if (pool_alive(p) == 0 && p->cbs.stopped)
            p->cbs.stopped(p->arg);
        return;
    }
    if (c->index >= p->active) { /* the pool shrank: not replaced */
        c->retiring = 0;
        if (p->cbs.idle)
            p->cbs.idle(p->arg);
        return;
    }
    /* A child that keeps dying at once is replaced ever more slowly. */
    long long lived = pool_now_ms() - c->spawned_ms;
    if (!expected && c->killed_ms == 0)
        c->quick_deaths = lived < 1000 ? c->quick_deaths + 1 : 0;
    long ms = 0;
    if (c->quick_deaths > 0) {
        ms = 100L << (c->quick_deaths < 6 ? c->quick_deaths - 1 : 5);
        if (ms > 5000)
            ms = 5000;
        log_warnx("child %d died %u time(s) in a row within a second; "
                  "replacing it in %ld ms",
                  c->index, c->quick_deaths, ms);
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->respawn_ev, &tv);
    if (p->cbs.idle)
        p->cbs.idle(p->arg);
}

/* Takes a respawn token: returns 0, or the ms until one is there. */
static long
pool_token_wait_ms(struct pool *p)
{
    long long now = pool_now_ms();
    double rate = POOL_RESPAWN_PER_S(p->active),
           burst = POOL_RESPAWN_BURST(p->active);
    p->tokens += (double)(now - p->tokens_ms) * rate / 1000.0;
    p->tokens_ms = now;
    if (p->tokens >= burst) {
        p->tokens = burst;
        p->throttled = 0;
    }
    if (p->tokens >= 1.0) {
        p->tokens -= 1.0;
        return 0;
    }
    if (!p->throttled) {
        p->throttled = 1;
        log_warnx("children are dying faster than they can be replaced "
                  "(%.0f at once, then %.0f a second): replacing them more "
                  "slowly; look for tasks that crash or exceed their time "
                  "limit in the log",
                  burst, rate);
    }
    return (long)((1.0 - p->tokens) * 1000.0 / rate) + 1;
}

static void
pool_respawn_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pool_child *c = arg;
    (void)fd;
    (void)what;
    if (c->pool->stopping || c->pid != 0 || c->index >= c->pool->active)
        return;
    long wait_ms = pool_token_wait_ms(c->pool);
    if (wait_ms > 0) {
        struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
        evtimer_add(c->respawn_ev, &tv);
        return;
    }
    if (pool_spawn(c) < 0) {
        struct timeval tv = {1, 0};
        evtimer_add(c->respawn_ev, &tv);
        return;
    }
    log_info("child %d replaced by pid %ld", c->index, (long)c->pid);
    if (c->pool->cbs.idle)
        c->pool->cbs.idle(c->pool->arg);
}

int
pool_resize(struct pool *p, int n)
{
    if (n < 1)
        n = 1;
    if (n > p->n)
        n = p->n;
    if (p->stopping)
        return p->active;
    int old = p->active;
    p->active = n;
    for (int i = n; i < old; i++) { /* no new tasks; exit once idle */
        struct pool_child *c = &p->children[i];
        evtimer_del(c->respawn_ev);
        c->retiring = 1;
        if (c->load == 0 && c->nstreams == 0 && c->bev != NULL && !c->eof)
            shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    }
    for (int i = old; i < n; i++) {
        struct pool_child *c = &p->children[i];
        if (c->pid != 0)
            continue; /* still leaving: replaced when it is gone */
        c->retiring = 0;
        c->quick_deaths = 0;
        if (pool_spawn(c) < 0) {
            struct timeval tv = {1, 0};
            evtimer_add(c->respawn_ev, &tv);
        }
    }
    if (n != old)
        log_info("pool resized from %d to %d children", old, n);
    if (p->cbs.idle)
        p->cbs.idle(p->arg);
    return n;
}

void
pool_stop(struct pool *p)
{
    p->stopping = 1;
    if (p->steal_ev != NULL)
        evtimer_del(p->steal_ev);
    for (int i = 0; i < p->n; i++) {
        struct pool_child *c = &p->children[i];
        evtimer_del(c->respawn_ev);
        /* Half-close: the child sees EOF after its last task and exits;
         * we keep reading until its side closes too. */
        if (c->bev != NULL && !c->eof)
            shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    }
    if (pool_alive(p) == 0 && p->cbs.stopped)
        p->cbs.stopped(p->arg);
}

void
pool_kill(struct pool *p)
{
    p->stopping = 1;
    for (int i = 0; i < p->n; i++)
        if (p->children[i].pid > 0 && !p->children[i].reaped)
            kill(p->children[i].pid, SIGKILL);
}

void
pool_reap(struct pool *p)
{
    for (int i = 0; i < p->n; i++) {
        struct pool_child *c = &p->children[i];
        if (c->pid > 0 && !c->reaped && waitpid(c->pid, &c->wstatus, 0) > 0)
            c->reaped = 1;
    }
}

int
pool_alive(const struct pool *p)
{
    int n = 0;
    for (int i = 0; i < p->n; i++)
        if (p->children[i].pid > 0)
            n++;
    return n;
}

void
pool_free(struct pool *p)
{
    for (int i = 0; i < p->n; i++) {
        struct pool_child *c = &p->children[i];
        if (c->bev != NULL)
            bufferevent_free(c->bev);
        if (c->respawn_ev != NULL)
            event_free(c->respawn_ev);
        if (c->limit_ev != NULL)
            event_free(c->limit_ev);
        if (c->fdchan >= 0)
            close(c->fdchan);
        claim_map_free(&c->claims);
        ring_free(&c->ring);
    }
    if (p->sigchld != NULL)
        event_free(p->sigchld);
    if (p->steal_ev != NULL)
        event_free(p->steal_ev);
    free(p->children);
    memset(p, 0, sizeof(*p));
}
