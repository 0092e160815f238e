/* SPDX-License-Identifier: MIT */
/*
 * The Lua scripts every worker runs in Redis.  Their text is part of the
 * protocol (PROTOCOL.md): any worker implementation must give the same
 * guarantees.  Each runs atomically, so two workers can never both take,
 * finish or move the same task.
 */
#ifndef CELERIAC_SCRIPTS_H
#define CELERIAC_SCRIPTS_H

/*
 * Dispositions of a finished task: the first argument of its record in
 * scripts_finish, and the record's width (arguments, this one included).
 */
#define SCRIPTS_FINAL "F" /* store the result, reply, ack, delete */
#define SCRIPTS_RETRY "R" /* store a RETRY result, schedule, ack, delete */
#define SCRIPTS_DEAD "D"  /* store the result, reply, dead-letter, ack, del */
#define SCRIPTS_FINAL_ARGS 5
#define SCRIPTS_RETRY_ARGS 6
#define SCRIPTS_DEAD_ARGS 7
#define SCRIPTS_RECORD_MAX 7  /* the widest record */
#define SCRIPTS_FINISH_MAX 1000 /* most tasks in one call */

/*
 * Finishes a batch of tasks read from one queue stream.
 *
 *   KEYS[1]  the queue stream
 *   ARGV[1]  the consumer group       ARGV[2]  this worker's consumer name
 *   ARGV[3]  result TTL in seconds    ARGV[4]  the scheduled sorted set
 *   ARGV[5]  the dead-letter stream   ARGV[6]  the reply stream prefix
 *            ("<prefix>reply:")       ARGV[7]  approximate MAXLEN of a
 *                                              reply stream
 *   then one record per task, its mode first:
 *     F  entry id, result key, result document, reply_to ("" for none)
 *     R  entry id, result key, RETRY document, due time (Unix ms),
 *        the message to schedule
 *     D  entry id, result key, result document, reply_to, the original
 *        message, the dead-letter reason (JSON)
 *
 * All or nothing, per record: before its first write the script checks
 * every key a record writes besides its result key (reply_to named under
 * ARGV[6] and a stream or absent, the scheduled set a sorted set or absent,
 * the dead-letter stream a stream or absent, a numeric due time).  A record
 * that fails a check is refused: nothing is done for it (its entry stays
 * pending) and its answer is a string giving the reason, starting with the
 * key's role ("reply_to", "scheduled" or "dead").  The result key belongs
 * to celeriac: SET replaces whatever it holds.
 *
 * A task is finished only if its entry was still pending in the group: the
 * first worker to finish a task (the one that held it, or one that took it
 * over) stores its result; a late or repeated finish changes nothing.  One
 * XACK acknowledges the records that passed the checks; when it
 * acknowledges fewer entries than it was given, an entry counts as pending
 * if it is still in the stream (every finish deletes its entries in the
 * same step).  Finished entries leave the stream: those older than every
 * entry still pending or unread with one XTRIM MINID, the others with XDEL;
 * since nothing acknowledges an entry without storing its result in the
 * same step, the trim removes only finished entries.  ARGV[2] (the
 * consumer) is not needed by the check; it is kept for logging on the
 * server side (MONITOR).  Returns one answer per task: 1 finished here, 0
 * skipped, or the reason it was refused; an error, with nothing changed,
 * for a TTL or MAXLEN that is not a positive whole number, an empty reply
 * prefix, a malformed record or more than SCRIPTS_FINISH_MAX tasks.
 */
extern const char scripts_finish[];

/*
 * Takes over tasks whose worker is gone.
 *
 *   KEYS[1]  the queue stream
 *   ARGV[1]  group   ARGV[2]  this consumer   ARGV[3]  visibility timeout ms
 *   ARGV[4]  most entries to take   ARGV[5]  heartbeat key prefix
 *            ("<prefix>worker:")
 *
 * Takes entries pending for consumers whose heartbeat key has expired, then
 * entries idle longer than the visibility timeout (any consumer: a live
 * worker keeps its own entries fresh with scripts_touch).  Consumers with
 * no heartbeat and nothing pending are deleted.  Returns, per entry taken:
 * {id, fields or false, deliveries (after this one), previous consumer};
 * nothing when KEYS[1] is not a stream.
 */
extern const char scripts_claim[];

/*
 * Keeps this worker's in-flight entries fresh (resets their idle time
 * without counting a delivery).  KEYS[1] stream, ARGV[1] group, ARGV[2]
 * this consumer, then entry ids.  Returns the ids that are no longer
 * pending for this consumer (taken over elsewhere); nothing when KEYS[1]
 * is not a stream.
 */
extern const char scripts_touch[];

/*
 * Moves due scheduled tasks to their queues, each exactly once.
 * KEYS[1] the scheduled sorted set, ARGV[1] now (Unix ms), ARGV[2] most to
 * move, ARGV[3] queue key prefix ("<prefix>queue:").  A member is a task
 * message whose "queue" field names its queue ("default" if absent).  A
 * member is removed only together with its XADD: one whose queue key holds
 * something other than a stream stays in the set.  Returns {number moved,
 * then up to 10 reasons for members left in place}; {0} when KEYS[1] is not
 * a sorted set.
 */
extern const char scripts_move[];

/*
 * The cluster-wide per-host fetch semaphore (worker --cluster-per-host N;
 * PROTOCOL.md, "Sources").  One script, three operations:
 *
 *   KEYS[1]  the semaphore, "<prefix>hostsem:<host>" (keys_hostsem(): the
 *            only way to build the name), a sorted set of leases scored
 *            with their expiry time (Unix ms, Redis' clock)
 *   ARGV[1]  the operation, SCRIPTS_HOSTSEM_ACQUIRE / _RENEW / _RELEASE
 *   ARGV[2]  the lease id, "<worker name>/<slot>/<generation>"
 *   ARGV[3]  lease time in ms (acquire, renew; the worker uses 3 heartbeat
 *            intervals and renews once per heartbeat)
 *   ARGV[4]  N, the most leases at a time (acquire)
 *
 * acquire: removes the leases that expired (score < now), then if the
 *   lease is already held or fewer than N are, (re)adds it with expiry
 *   now + lease time and returns 1; otherwise returns the earliest expiry
 *   of a lease held (Unix ms, always > 1): the time to try again at, if no
 *   holder releases first.
 * renew: if the lease is still held, moves its expiry to now + lease time
 *   and returns 1; returns 0 if it is gone (expired and removed by an
 *   acquire: the holder lost its place and should not count on it).
 * release: removes the lease; returns 1, or 0 if it was not held.
 *
 * acquire and renew also make the key live at least 2 x the lease time
 * (PEXPIRE), so the key of a host nobody fetches from disappears.  "now"
 * is Redis' TIME, one clock for every worker: the script needs Redis 5 or
 * later (scripts replicated by their effects).  The key's type is checked
 * first: a key holding anything but a sorted set is refused with an error
 * reply starting "WRONGTYPE hostsem:" and left untouched, as are calls
 * with a missing lease id, lease time or limit ("ERR hostsem: ...").
 */
#define SCRIPTS_HOSTSEM_ACQUIRE "acquire"
#define SCRIPTS_HOSTSEM_RENEW "renew"
#define SCRIPTS_HOSTSEM_RELEASE "release"
/* Every acquire and renew call carries this many arguments (ARGV); a
 * release call needs only the first two. */
#define SCRIPTS_HOSTSEM_ARGS 4
extern const char scripts_hostsem[];
/* The name the design gives it. */
#define SCRIPTS_HOSTSEM scripts_hostsem

/*
 * `celeriac beat`'s leader lease (PROTOCOL.md, "Periodic tasks (beat)").
 *
 *   KEYS[1]  <prefix>beat:lease    KEYS[2]  <prefix>beat:token
 *   ARGV[1]  SCRIPTS_BEAT_ACQUIRE or SCRIPTS_BEAT_RELEASE
 *   ARGV[2]  the lease value this instance holds ("" for none)
 *   ARGV[3]  lease time in ms      ARGV[4]  this instance's id
 *
 * acquire: if the lease holds ARGV[2], renews it (PEXPIRE) and returns
 *   {1, value}; if another value holds it, returns {0, that value}; if
 *   nobody does, INCRs the token and SETs the lease to "<ARGV[4]> <token>"
 *   with PX lease time, returning {2, the new value}.
 * release: deletes the lease if it holds ARGV[2]; returns 1, else 0.
 * Keys of another type are refused with "WRONGTYPE beat: ..." and left
 * alone.
 */
#define SCRIPTS_BEAT_ACQUIRE "acquire"
#define SCRIPTS_BEAT_RELEASE "release"
extern const char scripts_beat_lease[];

/*
 * Starts a new leader's turn: marks every entry never fired as handled up
 * to the second before it leads, so that a later leader (after this one
 * died) owes the ticks from there on and none is skipped; returns each
 * entry's last handled time.
 *
 *   KEYS[1]  <prefix>beat:lease    KEYS[2]  <prefix>beat:token
 *   KEYS[3]  <prefix>beat:last
 *   ARGV[1]  the lease value held  ARGV[2]  its token
 *   ARGV[3]  the second before the lead began (Unix s)
 *   ARGV[4..] the entry names
 *
 * Returns "lease" or "fence" (not the leader) without writing; otherwise
 * HSETNXes ARGV[3] for each name and returns the array of their values in
 * beat:last.  Keys of another type: "WRONGTYPE beat: ...", nothing
 * written.
 */
extern const char scripts_beat_start[];

/*
 * Fires one tick of a periodic task, at most once for all instances.
 *
 *   KEYS[1]  <prefix>beat:lease    KEYS[2]  <prefix>beat:token
 *   KEYS[3]  <prefix>beat:last     KEYS[4]  the queue stream
 *   ARGV[1]  the lease value held  ARGV[2]  its token
 *   ARGV[3]  the entry name        ARGV[4]  the scheduled time (Unix s)
 *   ARGV[5]  the task message (id "beat:<name>:<time>")
 *
 * Returns "lease" (the lease is not held with ARGV[1]) or "fence" (the
 * token moved on) without writing; 0 when the entry's last fired time is
 * already >= ARGV[4]; otherwise HSETs the time, XADDs the message and
 * returns 1.  Keys of another type: "WRONGTYPE beat: ...", nothing written.
 */
extern const char scripts_beat_fire[];

/*
 * Sends a unique task (PROTOCOL.md, "Unique tasks"): takes its lock and
 * adds the message in one step, or neither.
 *
 *   KEYS[1]  the queue stream, or the scheduled sorted set (delayed)
 *   KEYS[2]  the lock, "<prefix>unique:<digest>" (keys_unique())
 *   ARGV[1]  the message   ARGV[2]  unique_for, whole seconds
 *   ARGV[3]  the task id the message names, or "" (then the id is
 *            ARGV[4] .. "/" .. the new entry id)
 *   ARGV[4]  the queue name   ARGV[5]  the due time in Unix ms for a
 *            delayed task (ZADD), or "" (XADD ... * msg)
 *
 * If the lock is held, nothing is added and the answer is {0, the task id
 * it holds}; otherwise the message is added, the lock set to its task id
 * with EX ARGV[2], and the answer is {1, the task id}.  A lock or target
 * key of the wrong type is refused with an error reply ("WRONGTYPE
 * unique: ...") and nothing changes.
 */
extern const char scripts_unique_send[];

/*
 * Releases the locks of finished unique tasks: ARGV holds pairs (lock key,
 * task id); each lock is deleted only if it still holds that task id (a
 * later task's lock is left alone).  Returns how many were deleted.  A
 * worker sends it right behind the finish script that stores those
 * tasks' results (the same pipeline), for records F and D only (a retried
 * task keeps its lock).
 */
extern const char scripts_unique_release[];

/*
 * A cluster-wide rate limit (worker --rate-limit; PROTOCOL.md, "Rate and
 * concurrency limits"): a token bucket in a hash, on Redis' clock.
 *
 *   KEYS[1]  the bucket, "<prefix>ratelimit:<scope>:<name>" (keys_limit())
 *   ARGV[1]  N tokens   ARGV[2]  per this many ms   ARGV[3]  the bucket's
 *            size (a number >= 1: how many may go at once after a pause)
 *
 * The bucket (fields "tokens" and "at": the time it was last filled up,
 * in ms since Unix time 1700000000, with microseconds) gains
 * N / ARGV[2] tokens per ms up to its size; a new bucket is full.  If it
 * holds a whole token, one is taken and the answer is 0 (go); otherwise
 * nothing is taken and the answer is the ms until one is there (>= 1).
 * The key lives as long as the bucket takes to fill, plus a second.  A key
 * of another type is refused ("WRONGTYPE ratelimit: ...") and not touched.
 */
extern const char scripts_ratelimit[];

/*
 * The lease of a queue's Prometheus gauges (worker --metrics; PROTOCOL.md,
 * "Metrics"): KEYS[1] <prefix>metrics:<queue>, ARGV[1] the worker's name,
 * ARGV[2] the lease in ms.  Renews the lease and returns 1 if the worker
 * holds it, takes it and returns 1 if nobody does, returns 0 if another
 * worker does.  A key of another type is refused ("WRONGTYPE metrics:
 * ...") and not touched.
 */
extern const char scripts_metrics_lease[];

#endif
