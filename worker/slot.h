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
 *   FREE --read--> READY --to child--> RUNNING --result--> DONE
 *     ^              ^                    |                  |
 *     |              +--child died, not --+             finish script
 *     |                 its current task                     v
 *     +-------------------- acknowledged -------------- FINISHING
 *
 *   FREE       on the table's free list
 *   READY      on the parent's ready queue, waiting for a child
 *   RUNNING    on one child's list (the child answers in order)
 *   DONE       result in hand, on its queue's finish list
 *   FINISHING  in a finish batch sent to Redis; back to DONE if the
 *              connection drops before the reply
 *
 * Tasks that first need I/O on the loop (fetching a URL) will get a state
 * between READY and RUNNING; retries a transition from DONE back to Redis.
 */
#ifndef CELERIAC_SLOT_H
#define CELERIAC_SLOT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

enum slot_state {
    SLOT_FREE = 0,
    SLOT_READY,
    SLOT_RUNNING,
    SLOT_DONE,
    SLOT_FINISHING,
    SLOT_NSTATES
};

/* Longest stream entry id ("<ms>-<seq>", two 64-bit numbers). */
#define SLOT_ENTRY_ID_MAX 48

struct slot {
    uint32_t index; /* position in the table; the IPC frame seq */
    enum slot_state state;
    int queue;                        /* index of the queue it came from */
    char entry_id[SLOT_ENTRY_ID_MAX]; /* its stream entry id */
    unsigned attempts;                /* deliveries so far, >= 1 */
    int child;                        /* child index while RUNNING */
    long long started_us;             /* Unix us when sent to a child */
    uint32_t claim;                   /* claim word it was sent with */

    /* The parent's verdict, set instead of running it again: a child
     * answers with this failure (IPC_TASK_FAIL), so the parent never
     * parses a message.  fail_type is NULL for a task to run. */
    const char *fail_type;            /* static string, error.h */
    char fail_why[320];
    int fail_retry;                   /* it may become a RETRY */
    int fail_dead;                    /* dead-letter it with the result */

    char *msg; /* owned copy of the task message (reused buffer) */
    size_t msg_len;
    size_t msg_cap;

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
/* The slot with this index, or NULL if out of range or FREE. */
struct slot *slot_get(struct slot_table *t, uint32_t index);
/* Copies the message into the slot's buffer (and counts its bytes). */
void slot_set_msg(struct slot_table *t, struct slot *s, const char *msg,
                  size_t len);
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
