/* SPDX-License-Identifier: MIT */
/*
 * The Lua scripts every worker runs in Redis.  Their text is part of the
 * protocol (PROTOCOL.md, "Acknowledgement"): any worker implementation must
 * give the same guarantees.
 */
#ifndef CELERIAC_SCRIPTS_H
#define CELERIAC_SCRIPTS_H

/*
 * Finishes a batch of tasks read from one queue stream, atomically.
 *
 *   KEYS[1]  the queue stream
 *   ARGV[1]  the consumer group
 *   ARGV[2]  the consumer that ran the tasks
 *   ARGV[3]  result time-to-live in seconds
 *   then 4 arguments per task: entry id, result key, reply_to stream (""
 *   for none), result document.
 *
 * For each task whose entry is still pending for this consumer: SET the
 * result with its TTL, XADD it to reply_to (which gets the same TTL), XACK
 * and XDEL the entry.  An entry that is no longer pending for this consumer
 * (another worker took it over, or it was already finished) is left alone,
 * so a late or repeated call corrupts nothing.  Returns an array with 1 for
 * each task finished here and 0 for each skipped.
 */
extern const char scripts_finish[];

#endif
