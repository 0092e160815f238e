/* SPDX-License-Identifier: MIT */
/* The task registry: built-in tasks and plug-ins loaded with dlopen. */
#include "registry.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"

static struct celeriac_task registry_tasks[REGISTRY_MAX];
static size_t registry_count;
static int registry_ready;

/* What a plug-in's registrations are checked against while it loads. */
struct registry_load_ctx {
    const char *path;
    int refused;     /* a registration was refused: the load fails */
    char why[512];   /* the first refusal */
};

static void registry_builtins(void);
static int registry_valid_name(const char *name);
static int registry_plugin_register(void *ctx,
                                    const struct celeriac_task *task);

static void
registry_builtins(void)
{
    char why[256];
    if (registry_ready)
        return;
    registry_ready = 1;
    if (registry_add(&task_hash, why, sizeof(why)) < 0)
        fatalx("%s: the built-in hash task is refused: %s", __func__, why);
}

static int
registry_valid_name(const char *name)
{
    size_t n = strlen(name);
    return n >= 1 && n <= REGISTRY_NAME_MAX &&
           strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789_.:-") == n;
}

int
registry_add(const struct celeriac_task *task, char *why, size_t why_len)
{
    registry_builtins();
    if (task == NULL) {
        snprintf(why, why_len, "the task is NULL");
        return -1;
    }
    if (task->api_version != CELERIAC_TASK_API_VERSION) {
        snprintf(why, why_len,
                 "task '%.64s' is built for task API version %u; this "
                 "worker speaks version %d: rebuild it against this "
                 "worker's include/celeriac/task.h",
                 task->name && registry_valid_name(task->name) ? task->name
                                                               : "?",
                 task->api_version, CELERIAC_TASK_API_VERSION);
        return -1;
    }
    if (task->name == NULL || !registry_valid_name(task->name)) {
        snprintf(why, why_len,
                 "a task name must be 1 to %d characters from "
                 "[A-Za-z0-9_.:-], not '%.80s'",
                 REGISTRY_NAME_MAX, task->name ? task->name : "(null)");
        return -1;
    }
    if (task->input != CELERIAC_INPUT_NONE &&
        task->input != CELERIAC_INPUT_BYTES) {
        snprintf(why, why_len,
                 "task '%s' declares input kind %d; use CELERIAC_INPUT_NONE "
                 "or CELERIAC_INPUT_BYTES",
                 task->name, (int)task->input);
        return -1;
    }
    const char *missing = task->init == NULL    ? "init"
                          : task->final == NULL ? "final"
                          : task->free == NULL  ? "free"
                          : task->input == CELERIAC_INPUT_BYTES &&
                                  task->update == NULL
                              ? "update"
                              : NULL;
    if (missing != NULL) {
        snprintf(why, why_len, "task '%s' has no %s function", task->name,
                 missing);
        return -1;
    }
    if (registry_find(task->name) != NULL) {
        snprintf(why, why_len,
                 "a task named '%s' is already registered; a plug-in may "
                 "not replace a task (rename it, or load only one of them)",
                 task->name);
        return -1;
    }
    if (registry_count == REGISTRY_MAX) {
        snprintf(why, why_len,
                 "task '%s': this worker runs at most %d task types",
                 task->name, REGISTRY_MAX);
        return -1;
    }
    registry_tasks[registry_count++] = *task;
    return 0;
}

const struct celeriac_task *
registry_find(const char *name)
{
    registry_builtins();
    for (size_t i = 0; i < registry_count; i++)
        if (strcmp(registry_tasks[i].name, name) == 0)
            return &registry_tasks[i];
    return NULL;
}

void
registry_names(char *buf, size_t len)
{
    size_t at = 0;
    registry_builtins();
    if (len == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < registry_count && at < len; i++) {
        int n = snprintf(buf + at, len - at, "%s%s", i ? ", " : "",
                         registry_tasks[i].name);
        if (n < 0)
            break;
        at += (size_t)n;
    }
}

/* The register function a plug-in's init is given. */
static int
registry_plugin_register(void *arg, const struct celeriac_task *task)
{
    struct registry_load_ctx *ctx = arg;
    char why[sizeof(ctx->why)];
    if (registry_add(task, why, sizeof(why)) == 0)
        return 0;
    if (!ctx->refused)
        snprintf(ctx->why, sizeof(ctx->why), "%s", why);
    ctx->refused = 1;
    return -1;
}

int
registry_load(const char *path, char **err)
{
    struct registry_load_ctx ctx = {.path = path};

    registry_builtins();
    *err = NULL;
    /* dlopen searches the library path for a bare name: "./x.so" is meant. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *e = dlerror();
        *err = xasprintf("cannot load the plug-in %s: %s; give the path of "
                         "a shared object built against "
                         "include/celeriac/task.h (e.g. ./mytask.so)",
                         path, e ? e : "unknown error");
        return -1;
    }
    dlerror();
    void *sym = dlsym(h, CELERIAC_PLUGIN_INIT_SYMBOL);
    const char *e = dlerror();
    if (sym == NULL || e != NULL) {
        *err = xasprintf("the plug-in %s has no function %s (%s); a "
                         "plug-in exports it to register its tasks "
                         "(include/celeriac/task.h)",
                         path, CELERIAC_PLUGIN_INIT_SYMBOL,
                         e ? e : "the symbol is NULL");
        dlclose(h);
        return -1;
    }
    celeriac_plugin_init_fn init;
    memcpy(&init, &sym, sizeof(init)); /* object to function pointer */
    size_t before = registry_count;
    int rc = init(CELERIAC_TASK_API_VERSION, registry_plugin_register, &ctx);
    if (ctx.refused || rc != 0) {
        *err = ctx.refused
                   ? xasprintf("the plug-in %s cannot be loaded: %s", path,
                               ctx.why)
                   : xasprintf("the plug-in %s refused to load (its %s "
                               "returned %d); it may not speak task API "
                               "version %d: rebuild it against this "
                               "worker's include/celeriac/task.h",
                               path, CELERIAC_PLUGIN_INIT_SYMBOL, rc,
                               CELERIAC_TASK_API_VERSION);
        registry_count = before; /* its code is about to go */
        dlclose(h);
        return -1;
    }
    if (registry_count == before)
        log_warnx("the plug-in %s registered no task", path);
    /* Never dlclose'd: the registry points into it. */
    return 0;
}
