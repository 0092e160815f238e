/* SPDX-License-Identifier: MIT */
/*
 * Every conversation with Redis, on the parent's event loop through the
 * hiredis async API.  Two connections: "read" carries the blocking
 * XREADGROUP (so a blocked read never delays a result), "write" carries the
 * finish script and everything else.  Each connection reconnects by itself
 * with exponential backoff and jitter and re-runs its set-up (AUTH, SELECT,
 * consumer groups, SCRIPT LOAD); the owner is told through callbacks.
 *
 * Every command goes through one queue per connection that remembers when
 * it was sent and how long its answer may take; a watchdog drops a
 * connection whose oldest unanswered command is past that budget.  After
 * its set-up, the read connection first re-reads the entries still pending
 * for this consumer (XREADGROUP ... 0, page by page) before it reads new
 * ones, so nothing handed to this worker before a reconnect or a restart
 * waits for the visibility timeout.  A configuration Redis refuses at
 * start-up (password, database number, a queue key that is not a stream)
 * is reported once through the fatal callback and not retried.
 */
#ifndef CELERIAC_BROKER_H
#define CELERIAC_BROKER_H

#include <event2/event.h>
#include <stdint.h>
#include <hiredis/async.h>

#include "redisurl.h"
#include "sentinel_query.h"
#include "priority.h"
#include "slot.h"

/* Default approximate length bound of a reply stream (--reply-maxlen). */
#define BROKER_REPLY_MAXLEN 100000L

/* What the broker tells its owner. */
struct broker_cbs {
    /* The read (or write) connection became usable. */
    void (*ready)(void *arg);
    /* One entry from a read or a take-over.  msg is NULL if the entry has
     * no "msg" field; borrowed until the callback returns, unless the
     * callback takes it with broker_msg_take().  deliveries
     * counts this one; from is the consumer it was taken from, or NULL. */
    void (*entry)(void *arg, int queue, const char *entry_id,
                  const char *msg, size_t len, unsigned deliveries,
                  const char *from);
    /* The outstanding read ended (after its entries, if any). */
    void (*read_done)(void *arg);
    /* Redis answered for s: applied is 1 if this worker finished it, 0 if
     * it was no longer pending for this worker. */
    void (*finished)(void *arg, struct slot *s, int applied);
    /* The finish of s did not reach Redis; s must be finished again. */
    void (*unfinished)(void *arg, struct slot *s);
    /* The finish script refused s's record, changing nothing for it (a
     * key it writes has the wrong type); why is the script's reason,
     * starting with the key's role ("reply_to", "scheduled" or "dead").
     * s is DONE again, on no list: the owner stores another outcome. */
    void (*refused)(void *arg, struct slot *s, const char *why);
    /* The heartbeat was stored (ok) or not. */
    void (*beat)(void *arg, int ok);
    /* entry_id of queue is no longer pending for this worker. */
    void (*taken)(void *arg, int queue, const char *entry_id);
    /* A take-over call ended (after its entries). */
    void (*claim_done)(void *arg);
    /* A move of due scheduled tasks moved n of them. */
    void (*moved)(void *arg, long long n);
    /* Redis refused the configuration at start-up (the message is logged
     * already): retrying cannot help, the worker should exit with
     * BROKER_EXIT_CONFIG. */
    void (*fatal)(void *arg);
};

/* Exit status for a configuration Redis refuses at start-up (EX_CONFIG of
 * sysexits.h), so that systemd and Docker see the failure. */
#define BROKER_EXIT_CONFIG 78

struct broker_batch;

/* A command sent and not yet answered (the queue is in send order, as
 * Redis answers). */
struct broker_req {
    redisCallbackFn *fn; /* the caller's callback, or NULL */
    void *priv;          /* its privdata */
    long long sent_ms;   /* when it was sent (monotonic clock) */
    long budget_ms;      /* how long its answer may take */
};

/* One of the two connections. */
struct broker_conn {
    struct broker *b;
    const char *role;       /* "read" or "write" */
    redisAsyncContext *ac;  /* NULL while disconnected (hiredis owns it) */
    int ready;              /* set-up done, commands may be sent */
    int init_failed;        /* a set-up command failed */
    long backoff_ms;        /* next reconnect delay */
    unsigned failures;      /* consecutive failed attempts */
    struct event *retry_ev; /* owned timer */
    long long started_ms;   /* when the connection attempt began */
    int dropping;           /* broker_drop() is freeing it */
    int fatal;              /* refused for good: no more reconnects */
    struct broker_req *reqs; /* owned ring of unanswered commands */
    unsigned reqs_cap, reqs_head, reqs_len;
    long long last_reply_ms; /* when the last answer arrived */
    size_t seen_buffered;    /* reply bytes hiredis held at the last tick */
    long long last_bytes_ms; /* when that count last changed */
    /* sentinel:// only: the look-up of the master before each connect,
     * and the address it gave (owned; NULL once used). */
    struct sentinel_query sq;
    char *master_host;
    int master_port;
    char last_master[300]; /* "host:port" last connected to, for logs */
};

/* A row of XPENDING for the re-read page in flight. */
struct broker_pend {
    int queue;
    char id[48];
    unsigned deliveries; /* before the re-read */
};

struct broker {
    struct event_base *base;   /* borrowed */
    const struct redisurl *url; /* borrowed */
    char *where;               /* owned: "host:port/db" for messages */
    const char *prefix;        /* borrowed */
    const char *consumer;      /* borrowed */
    char **streams;            /* owned: queue stream keys */
    int nstreams;
    long result_ttl;
    long reply_maxlen;         /* approximate MAXLEN of reply streams; 0:
                                  BROKER_REPLY_MAXLEN */
    struct broker_conn rd, wr;
    long long rd_client_id; /* CLIENT ID of the read connection */
    char sha[41];           /* SHA1 of the finish script */
    char claim_sha[41], touch_sha[41], move_sha[41];
    long timeout_ms;        /* a connection silent this long is dropped */
    long block_ms;          /* the read's BLOCK */
    struct event *watch_ev; /* owned: the watchdog */
    int claiming;           /* a take-over call is outstanding */
    int reading;            /* a read is outstanding */
    int stopping;
    struct event *cool_ev; /* owned: pause after a failed read */
    int cooling;
    int connected_once;    /* both connections were set up at least once */
    int fatal;             /* the configuration was refused at start-up */
    /* Re-reading this consumer's pending entries, page by page. */
    int rescan;               /* still to do before reading new entries */
    char (*rescan_from)[48];  /* owned: per queue, the last id re-read */
    unsigned char *rescan_done; /* owned: per queue, nothing more pending */
    unsigned char *rescan_page; /* owned: per queue, in the page in flight */
    unsigned rescan_count;    /* COUNT of the page in flight */
    unsigned long rescanned;  /* entries handed over by this re-read */
    struct broker_pend *pend; /* owned: XPENDING rows of that page */
    size_t npend, pend_cap;
    struct slot_table *slots; /* borrowed: finish batches move slots */
    unsigned char *paused;    /* owned: per queue, not read (control) */
    unsigned long reconnects; /* connections set up again after a loss */
    /* --durable-results: replicas to WAIT for after each finish script
     * (0: none), and results they did not all confirm in time. */
    int durable;
    unsigned long long undurable, undurable_batches;
    /* Finish batches answered, held until a WAIT confirms them: those
     * awaiting the next WAIT, and those the WAIT in flight covers. */
    struct broker_batch **await, **covered;
    size_t nawait, ncovered, await_cap;
    int waiting; /* a WAIT is in flight */
    /* --priority (priority.h), borrowed; NULL: every queue in each read.
     * prio_q is the queue of a one-queue read in flight. */
    struct priority *prio;
    int prio_q;
    /* The message value of the entry being delivered (borrowed from its
     * reply), for broker_msg_take(); NULL outside the entry callback. */
    redisReply *msg_val;
    struct broker_cbs cbs;
    void *arg;
};

/*
 * Starts connecting.  queues are the queue names (borrowed; their stream
 * keys are derived here).  Returns 0, or -1 if a key name is too long.
 */
int broker_start(struct broker *b, struct event_base *base,
                 const struct redisurl *url, const char *prefix,
                 char *const *queues, int nqueues, const char *consumer,
                 long result_ttl, long timeout_ms, long block_ms,
                 struct slot_table *slots, const struct broker_cbs *cbs,
                 void *arg);
/* Inside the entry callback only: takes the entry's message buffer (the
 * msg it was given: heap, len + 1 bytes, NUL-terminated) without a copy.
 * The caller owns it (free()).  NULL when there is none to take (no msg
 * field, taken already, or outside the callback). */
char *broker_msg_take(struct broker *b);
/* 1 if a read can be sent now. */
int broker_can_read(const struct broker *b);
/* Sends XREADGROUP for up to count entries per queue, blocking block_ms.
 * After the read connection's set-up this first re-reads, without
 * blocking, the entries still pending for this consumer; they reach the
 * entry callback with from set to this consumer's own name and their
 * delivery count (an entry the owner holds already must not be run again).
 * Returns 0, or -1 if it cannot be sent now. */
int broker_read(struct broker *b, unsigned count, long block_ms);
/* Stops (on 1) or resumes (on 0) reading queue q; the tasks in hand are
 * not affected.  A read in flight ends by its BLOCK time at the latest. */
void broker_pause(struct broker *b, int q, int on);
/* 1 if finish batches can be sent now. */
int broker_can_write(const struct broker *b);
/*
 * Sends one finish script for up to max DONE slots taken from the head of
 * done (all from queue); they become FINISHING.  Returns how many were
 * sent, or -1 if the write connection is not usable.
 */
int broker_finish(struct broker *b, int queue, struct slot_list *done,
                  unsigned max);
/*
 * Writes this worker's heartbeat: HSET <prefix>worker:<name> with the
 * nfields field/value pairs in kv, PEXPIRE ttl_ms, and ZADD <prefix>workers
 * now_ms name.  Returns 0, or -1 if the write side is not usable.
 */
int broker_heartbeat(struct broker *b, const char *const *kv, int nfields,
                     long ttl_ms, long long now_ms);
/* Removes this worker's heartbeat and registry entry (clean exit). */
void broker_deregister(struct broker *b);
/* Takes over up to count entries of queue from dead or stalled workers
 * (scripts_claim).  Returns 0, or -1 if it cannot be sent now. */
int broker_claim(struct broker *b, int queue, unsigned count,
                 long visibility_ms);
/* Refreshes this worker's in-flight entries of queue (scripts_touch). */
void broker_touch(struct broker *b, int queue, const char *const *ids,
                  int n);
/* Moves due scheduled tasks to their queues (scripts_move). */
void broker_move(struct broker *b, long long now_ms, unsigned max);
/*
 * The answer to a cluster semaphore call (scripts_hostsem): 1 held,
 * renewed or released; 0 not held (renew, release); above 1 the Unix ms
 * (Redis' clock) at which an acquire may be tried again; -1 an error,
 * with the reason in why (NULL when the connection was lost).
 */
typedef void broker_hostsem_fn(void *arg, uint64_t token, long long answer,
                               const char *why);
/*
 * Runs op (SCRIPTS_HOSTSEM_ACQUIRE, _RENEW or _RELEASE) on the semaphore
 * of host for lease, held lease_ms, at most limit holders (acquire).  fn
 * (may be NULL) gets the answer with token.  Returns 0, or -1 if it cannot
 * be sent now (the write side is down, or host makes no key name); fn is
 * then not called.
 */
int broker_hostsem(struct broker *b, const char *op, const char *host,
                   const char *lease, long lease_ms, unsigned limit,
                   broker_hostsem_fn *fn, void *arg, uint64_t token);
/*
 * Sends one command on the write connection (the upload reader's script
 * calls); fn gets its reply, or NULL if the connection is lost first.
 * Returns 0, or -1 if the write side is not usable (fn is then not
 * called).
 */
int broker_call(struct broker *b, int argc, const char **argv,
                const size_t *lens, redisCallbackFn *fn, void *priv);
/* Ends a blocked read at once (CLIENT UNBLOCK through the write side). */
void broker_unblock(struct broker *b);
/* Disconnects both connections once their replies are in; no reconnect. */
void broker_stop(struct broker *b);
/* 1 while either connection is still open. */
int broker_open(const struct broker *b);
void broker_free(struct broker *b);

#endif
