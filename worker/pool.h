/* SPDX-License-Identifier: MIT */
/*
 * The prefork pool: N children, each joined to the parent by a socketpair
 * whose parent end is a non-blocking bufferevent on the parent's loop.  The
 * pool forks, frames tasks out (ipc.h), reassembles result frames, notices
 * a death at once (SIGCHLD through a libevent signal event, plus EOF on the
 * socket) and forks a replacement.  It owns the children; the slots it is
 * handed stay owned by the parent's slot table.
 *
 * A child counts as gone only when it has been reaped *and* its socket has
 * reached EOF, so results it wrote just before dying are still delivered.
 */
#ifndef CELERIAC_POOL_H
#define CELERIAC_POOL_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sys/types.h>

#include "claim.h"
#include "exec.h"
#include "ipc.h"
#include "ring.h"
#include "slot.h"

struct pool;
struct pool_child;

/* What the pool tells its owner.  Every callback is optional but result. */
struct pool_cbs {
    /* A child answered for s, which is off the child's list now. */
    void (*result)(void *arg, struct slot *s, const struct ipc_result *r);
    /* A child died while running s (off the child's list now), or with
     * s's stream open (off its stream list; s->streaming is 0 again);
     * timed_out_ms is the time limit it was killed for, or 0. */
    void (*lost)(void *arg, struct slot *s, int child, pid_t pid,
                 int wstatus, unsigned timed_out_ms);
    /* s was queued in a dead child but had not started: run it elsewhere. */
    void (*requeue)(void *arg, struct slot *s);
    /* A child has room again (after results, a respawn or a death). */
    void (*idle)(void *arg);
    /* After pool_stop(): every child has exited. */
    void (*stopped)(void *arg);
    /* Child c's output buffer fell below POOL_STREAM_LOW bytes after
     * it was above POOL_STREAM_HIGH: paused fetches may go on. */
    void (*drained)(void *arg, struct pool_child *c);
    /* A process that is no child of the pool (the beat process,
     * beatproc.h) was reaped with status st. */
    void (*reaped)(void *arg, pid_t pid, int st);
};

/* Back-pressure of streamed tasks (worker/README.md): a fetch feeding a
 * child whose output buffer holds more than POOL_STREAM_HIGH bytes is
 * paused, and resumed once it is below POOL_STREAM_LOW. */
#define POOL_STREAM_HIGH (1024 * 1024)
#define POOL_STREAM_LOW (256 * 1024)

/* One child process.  Lifecycle: spawned -> (eof + reaped) -> respawned. */
struct pool_child {
    int index;
    pid_t pid;               /* 0 while no process runs in this place */
    struct bufferevent *bev; /* owned; NULL while no process */
    struct slot_list running; /* tasks sent, in the order sent */
    unsigned load;            /* length of running */
    struct slot_list streams; /* streamed tasks open in it, any order */
    unsigned nstreams;        /* length of streams */
    int fdchan;               /* parent end of its descriptor channel */
    int congested;            /* output went over POOL_STREAM_HIGH */
    int eof;                  /* its socket reached EOF */
    int reaped;               /* waitpid() returned it */
    int wstatus;              /* from waitpid() */
    long long spawned_ms;     /* monotonic */
    unsigned quick_deaths;    /* consecutive deaths within a second */
    struct event *respawn_ev; /* owned timer */
    struct event *limit_ev;   /* owned: time limit of the running task */
    unsigned limit_ms;        /* that limit, 0 when none is armed */
    unsigned killed_ms;       /* killed for exceeding this limit, or 0 */
    int retiring;             /* recycled once idle: no new tasks */
    unsigned long tasks;      /* results returned by this process */
    long long busy_since_ms;  /* monotonic: its last result, or when an
                                 idle child was given work */
    struct claim_map claims;  /* owned: who starts its queued tasks */
    struct ring ring;         /* owned: its large messages (ring.h); made
                                 anew for every process in this place */
    struct pool *pool;
};

struct pool {
    struct event_base *base; /* borrowed */
    struct pool_child *children; /* owned array of n */
    int n;                    /* places: grow_max, or the starting size */
    int active;               /* places [0, active) run a child; the
                                 others stay empty (pool_resize) */
    int grow_max;             /* set before pool_start: the most children
                                 pool_resize may ask for (0: no growing) */
    unsigned child_max;       /* tasks queued in one child at most */
    struct slot_table *slots; /* borrowed */
    const struct exec_env *env; /* borrowed: what children run with */
    unsigned long max_tasks;  /* recycle a child after this many; 0 never */
    unsigned long max_rss_kb; /* recycle a child above this; 0 never */
    char *const *queues;      /* borrowed queue names, by slot->queue */
    struct pool_cbs cbs;
    void *arg;
    int stopping;
    struct event *sigchld;  /* owned */
    unsigned long deaths;   /* children that died unasked */
    unsigned long recycled; /* children replaced by the limits above */
    unsigned long stolen;   /* tasks given from a busy child to an idle one */
    unsigned long ring_sent;  /* messages sent through a ring */
    unsigned long ring_full;  /* large ones sent in frames: ring full */
    struct event *steal_ev; /* owned: looks again when a busy child has
                               been silent for POOL_STEAL_AFTER_MS */
    /* Respawns are rate-limited by a token bucket: POOL_RESPAWN_BURST(n)
     * at once, then POOL_RESPAWN_PER_S(n) a second. */
    double tokens;
    long long tokens_ms;    /* monotonic time of the last refill */
    int throttled;          /* a respawn waits for a token (logged once) */
};

/* Messages of at least this many bytes go through the child's ring
 * (ring.h) rather than the socket, when it has room (worker/README.md,
 * "Large messages", says how this was measured). */
#ifndef POOL_RING_MIN
#define POOL_RING_MIN (64 * 1024)
#endif

/* Tasks are taken back only from a child silent this long: one that
 * answers streams of small tasks keeps its queue (worker/README.md). */
#define POOL_STEAL_AFTER_MS 5

/* The respawn budget of a pool of n children (worker/README.md). */
#define POOL_RESPAWN_BURST(n) (2.0 * (n) + 4)
#define POOL_RESPAWN_PER_S(n) (1.0 * (n))

/*
 * Prepares a pool of n children, each taking at most child_max tasks at a
 * time, and forks them.  Returns 0, or -1 (logged) if no child could start.
 */
int pool_start(struct pool *p, struct event_base *base, int n,
               unsigned child_max, struct slot_table *slots,
               char *const *queues, const struct exec_env *env,
               const struct pool_cbs *cbs, void *arg);
/* The least loaded running child with room, or NULL. */
struct pool_child *pool_pick(struct pool *p);
/* Sends s (READY, on no list) to child c; s becomes RUNNING.  A message of
 * POOL_RING_MIN bytes or more is copied into c's ring when it has room
 * (IPC_TASK_RING), else it goes in the frame.  A slot with
 * fail_type set is sent as a failure to answer (IPC_TASK_FAIL).  A path
 * task (src_fd >= 0) first sends its descriptor on c's channel and goes
 * as IPC_TASK_FD; the slot keeps its own descriptor until it is released.
 * Returns 0, or -1 (logged; s is unchanged) when the descriptor could
 * not be sent. */
int pool_send(struct pool *p, struct pool_child *c, struct slot *s);

/*
 * Streams.  The running child with the fewest open streams (then the
 * fewest bytes waiting to be written to it), or NULL.
 */
struct pool_child *pool_pick_stream(struct pool *p);
/* Opens s's stream on c: IPC_TASK with IPC_TASK_STREAM (no claim); s (in
 * FETCHING, on no list) goes on c's stream list. */
void pool_stream_open(struct pool *p, struct pool_child *c, struct slot *s);
/* Sends the next len bytes of s's source as IPC_CHUNK frames (copied).
 * Returns 1 when the child's output buffer is now over POOL_STREAM_HIGH
 * (the caller pauses its source until the drained callback), else 0. */
int pool_stream_chunk(struct pool *p, struct slot *s,
                      const unsigned char *data, size_t len);
/* Ends s's stream with IPC_END: err_type NULL when the source was read
 * whole; facts is a JSON object's text or "".  s stays on the stream list
 * until its result comes. */
void pool_stream_end(struct pool *p, struct slot *s, const char *err_type,
                     const char *err_msg, const char *facts);
/* Bytes waiting to be written to child c. */
size_t pool_pending_bytes(const struct pool_child *c);
/*
 * If a child is idle while another has tasks queued behind the one it
 * runs and has not answered for POOL_STEAL_AFTER_MS, takes back half of
 * those (the newest; only those its claim CAS wins, see claim.h) and puts
 * them, READY and in order, at the head of ready.  When such a child has
 * been silent for less, a timer calls the idle callback once it has been
 * long enough.  Returns how many were taken back.
 */
unsigned pool_steal(struct pool *p, struct slot_list *ready);
/*
 * Takes s (RUNNING: sent to a child, not a stream) back if that child has
 * not started it, by the same claim CAS as pool_steal (claim.h): s is
 * then READY and on no list, and the child will skip it.  Returns 1 if
 * taken back; 0 if it started (it runs to completion); -1 if it cannot
 * be told now: frames to that child are still unwritten (they refer to
 * the slots' messages) or the child is gone (its tasks come back through
 * the requeue callback).
 */
int pool_withdraw(struct pool *p, struct slot *s);
/*
 * Grows or shrinks the pool to n children (1 to the places there are):
 * new places fork at once; a removed child takes no new task and exits
 * once its tasks are done, and is not replaced.  Returns the new size.
 */
int pool_resize(struct pool *p, int n);
/* Closes every child's socket; they finish their work and exit. */
void pool_stop(struct pool *p);
/* Sends SIGKILL to every child (for a cold shutdown). */
void pool_kill(struct pool *p);
/* Waits (blocking) for every child not yet reaped; for the very end. */
void pool_reap(struct pool *p);
/* Number of child processes not yet reaped. */
int pool_alive(const struct pool *p);
/* Frees what the pool owns; call after the children are gone. */
void pool_free(struct pool *p);

#endif
