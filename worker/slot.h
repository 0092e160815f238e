/* SPDX-License-Identifier: MIT */
/*
 * Tasks in flight in the parent.  The table is allocated once at start with
 * room for --prefetch tasks (plus one per extra queue, see parent.c), so
 * nothing on the task path allocates a slot; a slot's buffers are reused
 * from task to task.
 *
 * A slot's life is a small explicit state machine.  Each state names the
 * one list the slot is on, so "where is this task" always has one answer:
 *
 *             +--url--> FETCH_WAIT --admitted--> FETCHING --result--+
 *             |          (fetchq)                 |  (stream to a    |
 *             |                                   |   child)         |
 *   FREE --read--> READY --to child--> RUNNING --result--> DONE <---+
 *     ^              ^                    |                  |
 *     |              +--child died, not --+             finish script
 *     |                 its current task                     v
 *     +-------------------- acknowledged -------------- FINISHING
 *
 *   FREE        on the table's free list
 *   READY       on the parent's ready queue, waiting for a child (a path
 *               task holds its open file, src_fd, from here on)
 *   FETCH_WAIT  a url task on the fetch queue (fetchq.h), waiting for a
 *               fetch slot: --max-fetches, --per-host; it holds no child
 *   FETCHING    its URL is being fetched on the loop (or its upload
 *               stream read, worker/upload.h: it skips FETCH_WAIT): on
 *               the parent's fetching list until the response head is
 *               accepted (an upload: until a child takes it), then
 *               on one child's stream list (the body goes to that child
 *               in IPC_CHUNK frames; its result may come in any order)
 *   RUNNING     on one child's list (the child answers in order)
 *   DONE        result in hand, on its queue's finish list
 *   FINISHING   in a finish batch sent to Redis; back to DONE if the
 *               connection drops before the reply
 *
 *   LIMIT_WAIT  held back by a cluster-wide rate or concurrency limit
 *               (worker/throttle.h), on that limit's waiting list, before
 *               READY (or FETCH_WAIT): it holds no child and no fetch, and
 *               has slots of its own, so other tasks go on meanwhile
 *
 * A fetch that fails before its head is accepted, or a path that cannot
 * be opened, becomes a verdict (fail_type): READY, answered by a child
 * with IPC_TASK_FAIL.  FETCH_WAIT and FETCHING count against --prefetch
 * like READY and RUNNING, and their entries are kept alive like theirs.
 */
#ifndef CELERIAC_SLOT_H
#define CELERIAC_SLOT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct fetch;
struct upload;

enum slot_state {
    SLOT_FREE = 0,
    SLOT_READY,
    SLOT_RUNNING,
    SLOT_DONE,
    SLOT_FINISHING,
    SLOT_FETCH_WAIT,
    SLOT_FETCHING,
    SLOT_LIMIT_WAIT,
    SLOT_NSTATES
};

/* A url task's lease of the cluster-wide per-host semaphore. */
enum slot_sem {
    SLOT_SEM_NONE = 0,
    SLOT_SEM_ACQUIRING, /* admitted here, asking Redis; off every list */
    SLOT_SEM_HELD,      /* renewed with the heartbeat, released at its end */
};

/* Longest stream entry id ("<ms>-<seq>", two 64-bit numbers). */
#define SLOT_ENTRY_ID_MAX 48

/* Keys a message names, found in one pass over it when a slot's message
 * is set (a payload is passed once at memchr's speed, not once per
 * look-up): the look-ups that need them skip a message without them. */
#define SLOT_MENTIONS_LIMIT 1u  /* a key ending in _limit (throttle.c) */
#define SLOT_MENTIONS_UNIQUE 2u /* "unique_for" (unique_release.c) */

struct slot {
    uint32_t index; /* position in the table; the IPC frame seq */
    enum slot_state state;
    int queue;                        /* index of the queue it came from */
    char entry_id[SLOT_ENTRY_ID_MAX]; /* its stream entry id */
    unsigned attempts;                /* deliveries so far, >= 1 */
    int child;                        /* child index while RUNNING */
    long long started_us;             /* Unix us when sent to a child */
    uint32_t claim;                   /* claim word it was sent with */
    uint32_t ring_off; /* while RUNNING: its message's place in its */
    uint32_t ring_len; /* child's ring (worker/ring.h); 0: not there */

    /* The parent's verdict, set instead of running it again: a child
     * answers with this failure (IPC_TASK_FAIL), so the parent never
     * parses a message.  fail_type is NULL for a task to run. */
    const char *fail_type;            /* fail_type_buf, or NULL */
    char fail_type_buf[64];
    char fail_why[320];
    int fail_retry;                   /* it may become a RETRY */
    int fail_dead;                    /* dead-letter it with the result */

    /* The task's source, when the parent handles it (source.h). */
    int src_kind;        /* SOURCE_INLINE, SOURCE_URL or SOURCE_PATH */
    int src_fd;          /* owned open file of a path task, or -1 */
    uint64_t src_size;   /* its size when opened */
    char *src_url;       /* owned URL of a url task, or NULL */
    char *src_path;      /* owned name of a path task, or NULL */
    char src_host[256];  /* the URL's host, lower-case, for throttling */
    int src_accept_any;  /* "accept_status": "any" */
    struct fetch *fetch; /* owned while FETCHING, until the fetch ends */
    struct upload *upload; /* owned while an upload source is read */
    unsigned long long upload_bytes; /* the size it announced */
    int fetch_paused;    /* paused for back-pressure */
    int fetch_admitted;  /* counted by the fetch queue */
    int streaming;       /* its stream is open on child `child` */
    int sem_state;       /* SLOT_SEM_*: its cluster semaphore lease */
    uint32_t sem_gen;    /* the lease's generation (its id's last part) */
    long long sem_wait_until; /* Unix ms: not admitted before (0: now) */
    int want_stream;     /* head accepted, waiting for a child to take it */
    char *end_facts;     /* owned: the facts of a fetch that ended whole
                            before its stream could open, or NULL */

    /* Cluster-wide limits (worker/throttle.h). */
    int lim_state;     /* LIMITS_SLOT_* */
    int lim_rate;      /* index of its rate limit, or -1 */
    int lim_conc;      /* index of its concurrency limit, or -1 */
    uint32_t lim_gen;  /* its lease's generation */
    int lim_held;      /* holds a lease of lim_conc */

    char *msg; /* owned copy of the task message (reused buffer) */
    size_t msg_len;
    size_t msg_cap;
    unsigned mentions; /* SLOT_MENTIONS_*: found when msg is set */

    /* The result, valid in DONE and FINISHING: one owned buffer holding
     * "result key\0reply_to\0document\0arg1\0arg2", the arguments of
     * scripts_finish for this task. */
    char *res;
    size_t res_cap;
    const char *res_key;      /* into res */
    const char *res_reply_to; /* into res; "" when none */
    const char *res_doc;      /* into res */
    size_t res_doc_len;
    const char *res_mode;     /* SCRIPTS_FINAL, _RETRY or _DEAD */
    const char *res_arg1;     /* into res: R due ms, D message */
    size_t res_arg1_len;
    const char *res_arg2;     /* into res: R message, D reason */
    size_t res_arg2_len;

    TAILQ_ENTRY(slot) entry; /* the list its state names */
};

TAILQ_HEAD(slot_list, slot);

struct slot_table {
    struct slot *slots; /* owned array of n */
    uint32_t n;
    uint32_t used; /* slots not FREE */
    uint32_t count[SLOT_NSTATES]; /* slots in each state */
    size_t bytes[SLOT_NSTATES];   /* their message bytes */
    struct slot_list free;
};

/* Allocates n slots, all FREE. */
void slot_table_init(struct slot_table *t, uint32_t n);
void slot_table_free(struct slot_table *t);
/* Takes a FREE slot (now READY, on no list yet), or NULL if none is left. */
struct slot *slot_alloc(struct slot_table *t);
/* Returns a slot to the free list; it must be on no other list. */
void slot_release(struct slot_table *t, struct slot *s);
/* Moves s to state st (keeping the counts); the caller moves it between
 * lists.  Every state change goes through here. */
void slot_move(struct slot_table *t, struct slot *s, enum slot_state st);
/* Closes and frees what s holds of its source (src_fd, src_url,
 * src_path); a fetch must already have ended. */
void slot_clear_source(struct slot *s);
/* The slot with this index, or NULL if out of range or FREE. */
struct slot *slot_get(struct slot_table *t, uint32_t index);
/* Copies the message into the slot's buffer (and counts its bytes). */
void slot_set_msg(struct slot_table *t, struct slot *s, const char *msg,
                  size_t len);
/* Makes msg_owned (heap, len + 1 bytes, msg_owned[len] == '\0') the
 * slot's message without a copy; the slot frees it. */
void slot_adopt_msg(struct slot_table *t, struct slot *s, char *msg_owned,
                    size_t len);
/* Messages at least this long are adopted rather than copied (a smaller
 * one is copied into the slot's kept buffer). */
#define SLOT_ADOPT_BYTES (64 * 1024)
/* A byte string that is not NUL-terminated. */
struct slot_bytes {
    const char *p;
    size_t len;
};

/*
 * Stores the outcome: the result key is prefix + "result:" + id; mode is
 * SCRIPTS_FINAL, _RETRY or _DEAD with its two arguments (see scripts.h).
 * Everything is copied.
 */
void slot_set_result(struct slot *s, const char *prefix,
                     struct slot_bytes id, struct slot_bytes reply_to,
                     struct slot_bytes doc, const char *mode,
                     struct slot_bytes arg1, struct slot_bytes arg2);
const char *slot_state_name(enum slot_state st);

#endif
