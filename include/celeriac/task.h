/* SPDX-License-Identifier: MIT */
/*
 * celeriac task interface, version 1: how a task type is written, whether
 * built into celeriac-worker or loaded from a shared object with
 * `celeriac-worker --load ./mytask.so`.
 *
 * A task runs in a worker's child process (never in the event-loop
 * parent) as a stream:
 *
 *     validate(args)                       before anything runs
 *     state = init(args)
 *     update(state, chunk) ...             the task's bytes, in order
 *     value = final(state)                 the "result" of the document
 *     free(state)                          always, once init succeeded
 *
 * The bytes come from the message (PROTOCOL.md, "Sources"): inline
 * ("data" or "data_b64"), a URL the parent fetches on its loop ("url"), or
 * a file under the worker's --files-root ("path").  The worker takes the
 * source fields out of the arguments before it calls the task, streams
 * the bytes in chunks as they arrive, and records the facts of the fetch
 * in the result document.  A task that declares CELERIAC_INPUT_NONE gets
 * no bytes (no update calls) and a message naming a source is refused.
 *
 * Rules for a task:
 *   - Pure computation: no sockets, no Redis, no threads, no signals.  The
 *     child is sandboxed (seccomp): system calls outside what a computation
 *     needs kill it, and it is then handled as a crash.
 *   - Report bad input through *err, never by aborting: the worker turns
 *     it into a FAILURE result with the task's error type and message.
 *   - Error types are words ([A-Za-z0-9]+, at most 63 bytes) such as
 *     "InvalidArgument".  A task's own failures are final: the worker
 *     retries (within a message's max_retries) only the failures it knows
 *     to be transient (PROTOCOL.md, "Time limits, expiry and retries").
 *   - update() may be called with any chunk size, including many small
 *     chunks of one network read; a whole file may be gigabytes.
 *
 * A plug-in is a shared object exporting CELERIAC_PLUGIN_INIT_SYMBOL, a
 * function of type celeriac_plugin_init_fn.  The worker calls it once at
 * start, before it forks its children, with the API version it speaks and
 * a function to register each task.  Nothing in this header needs a symbol
 * from the worker, so a plug-in links only against its own dependencies
 * (and jansson, whose json_t carries arguments and results).
 *
 * Compatibility: a worker accepts tasks whose api_version equals
 * CELERIAC_TASK_API_VERSION.  Fields are only ever added at the end of
 * struct celeriac_task, with the version bumped.
 */
#ifndef CELERIAC_TASK_H
#define CELERIAC_TASK_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CELERIAC_TASK_API_VERSION 1

/* What a task consumes. */
enum celeriac_task_input {
    CELERIAC_INPUT_NONE = 0,  /* its arguments only */
    CELERIAC_INPUT_BYTES = 1, /* a byte stream from the message's source */
};

/* An error a task reports: a type word and a sentence a person can act on. */
struct celeriac_error {
    char type[64];
    char message[512];
};

/* Fills *err (for use inside tasks; truncates safely). */
#if defined(__GNUC__) || defined(__clang__)
static inline void celeriac_error_set(struct celeriac_error *err,
                                      const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#endif
static inline void
celeriac_error_set(struct celeriac_error *err, const char *type,
                   const char *fmt, ...)
{
    va_list ap;

    snprintf(err->type, sizeof(err->type), "%s", type);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

struct celeriac_task {
    /* CELERIAC_TASK_API_VERSION. */
    unsigned api_version;
    /* The name messages use in "task": [A-Za-z0-9_.:-], 1..64 bytes.  A
     * plug-in may not replace a task already registered. */
    const char *name;
    /* One line for `celeriac inspect` and --help listings; may be NULL. */
    const char *summary;
    enum celeriac_task_input input;
    /*
     * Checks the arguments (a JSON object, borrowed; the source fields are
     * already removed) before anything runs: the parent calls it before it
     * fetches a URL, the child before init.  Cheap and pure.  Returns 0,
     * or -1 with *err set.  May be NULL (everything is accepted).
     */
    int (*validate)(const json_t *args, struct celeriac_error *err);
    /* Starts a run.  Returns the run's state (the task's own; may be any
     * non-NULL pointer), or NULL with *err set. */
    void *(*init)(const json_t *args, struct celeriac_error *err);
    /* CELERIAC_INPUT_BYTES: consumes the next len bytes of the stream.
     * Returns 0, or -1 with *err set (the run then ends: free is called,
     * final is not). */
    int (*update)(void *state, const unsigned char *chunk, size_t len,
                  struct celeriac_error *err);
    /* Ends the run.  Returns the result value (a new reference, any JSON
     * value), or NULL with *err set. */
    json_t *(*final)(void *state, struct celeriac_error *err);
    /* Releases the state; called exactly once for every successful init. */
    void (*free)(void *state);
};

/* Registers one task; returns 0, or -1 if it is refused (the worker logs
 * why: wrong api_version, a bad or duplicate name, a missing function). */
typedef int (*celeriac_register_fn)(void *ctx,
                                    const struct celeriac_task *task);

/* A plug-in's entry point: register its tasks with reg(ctx, task) and
 * return 0, or return -1 to refuse to load (e.g. an api_version it does
 * not speak).  The task structs must live as long as the process. */
typedef int (*celeriac_plugin_init_fn)(unsigned api_version,
                                       celeriac_register_fn reg, void *ctx);

#define CELERIAC_PLUGIN_INIT_SYMBOL "celeriac_plugin_init"

#ifdef __cplusplus
}
#endif

#endif
