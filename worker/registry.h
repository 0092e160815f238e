/* SPDX-License-Identifier: MIT */
/*
 * The task registry: the task types this worker runs, by name.  The
 * built-in ones (task_hash.c) and those of plug-ins loaded with
 * `celeriac-worker --load PATH` register through the same public interface
 * (include/celeriac/task.h).  The registry is filled once at start-up, in
 * the parent before it forks its children, and only read afterwards.  It
 * owns copies of the task structs; the plug-ins' code and strings stay
 * loaded for the life of the process.
 */
#ifndef CELERIAC_REGISTRY_H
#define CELERIAC_REGISTRY_H

#include <stddef.h>

#include "../include/celeriac/task.h"

/* The most task types one worker runs. */
#define REGISTRY_MAX 64
/* The longest task name. */
#define REGISTRY_NAME_MAX 64

/*
 * Registers task (copied).  Returns 0, or -1 with why[0..why_len) saying
 * what is wrong: another api_version, a bad or duplicate name, a missing
 * function, a full registry.
 */
int registry_add(const struct celeriac_task *task, char *why, size_t why_len);
/* The task named name, or NULL.  The built-in tasks are registered on the
 * first call to any registry function. */
const struct celeriac_task *registry_find(const char *name);
/*
 * Loads the plug-in at path: dlopen(RTLD_NOW | RTLD_LOCAL), then its
 * CELERIAC_PLUGIN_INIT_SYMBOL, which registers its tasks.  Returns 0, or
 * -1 with *err an owned sentence (free()) naming the file and the cause.
 */
int registry_load(const char *path, char **err);
/* Writes the registered names, "hash, wc", to buf (always terminated). */
void registry_names(char *buf, size_t len);

/* The built-in hash task (task_hash.c). */
extern const struct celeriac_task task_hash;

#endif
