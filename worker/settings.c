/* SPDX-License-Identifier: MIT */
/* The worker's --config file and CELERIAC_* variables (settings.h). */
#include "settings.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "xmalloc.h"

static int settings_skip(const char *name);
static const struct option *settings_find(const struct option *opts,
                                          const char *key);
static int settings_bool(const char *v);
static int settings_add(struct settings *s, const struct option *o,
                        const char *value, char *origin, char **err);
static const char *settings_config_path(int argc, char **argv,
                                        const struct option *opts,
                                        const char *shortopts, int *acts);
static int settings_file(struct settings *s, const char *path,
                         const struct option *opts, char **err);
static int settings_line(struct settings *s, const char *path, long n,
                         char *line, const struct option *opts, char **err);
static int settings_env(struct settings *s, const struct option *opts,
                        char **err);

/* Options that are no setting: they act, or name the file. */
static int
settings_skip(const char *name)
{
    return strcmp(name, "help") == 0 || strcmp(name, "version") == 0 ||
           strcmp(name, SETTINGS_CONFIG_OPTION) == 0;
}

char *
settings_env_name(const char *name)
{
    if (strcmp(name, "redis") == 0)
        return xstrdup("CELERIAC_REDIS_URL");
    char *env = xasprintf("%s%s", SETTINGS_ENV_PREFIX, name);
    for (char *p = env + strlen(SETTINGS_ENV_PREFIX); *p; p++)
        *p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    return env;
}

/* The option named key (with '_' read as '-'), or NULL. */
static const struct option *
settings_find(const struct option *opts, const char *key)
{
    for (const struct option *o = opts; o->name != NULL; o++) {
        size_t i = 0;
        for (; o->name[i] && key[i]; i++)
            if (o->name[i] != (key[i] == '_' ? '-' : key[i]))
                break;
        if (o->name[i] == '\0' && key[i] == '\0')
            return o;
    }
    return NULL;
}

/* 1 for yes/true/on/1, 0 for no/false/off/0, -1 otherwise. */
static int
settings_bool(const char *v)
{
    static const char *yes[] = {"1", "yes", "true", "on"};
    static const char *no[] = {"0", "no", "false", "off"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* Appends "--name=value" (or "--name" for a true flag); takes origin. */
static int
settings_add(struct settings *s, const struct option *o, const char *value,
             char *origin, char **err)
{
    char *arg;
    if (o->has_arg == no_argument) {
        int b = settings_bool(value);
        if (b < 0) {
            char *v = escape_dup(value, 0);
            *err = xasprintf("%s: '%s' takes yes or no (true/false, on/off, "
                             "1/0), not '%s'",
                             origin, o->name, v);
            free(v);
            free(origin);
            return -1;
        }
        if (b == 0) {
            free(origin);
            return 0;
        }
        arg = xasprintf("--%s", o->name);
    } else {
        arg = xasprintf("--%s=%s", o->name, value);
    }
    s->added = xrealloc(s->added, sizeof(char *) * (size_t)(s->nadded + 1));
    s->origin = xrealloc(s->origin, sizeof(char *) * (size_t)(s->nadded + 1));
    s->added[s->nadded] = arg;
    s->origin[s->nadded] = origin;
    s->nadded++;
    return 0;
}

/*
 * The --config of the command line, found by getopt_long itself (so that
 * "--config=F", "--conf F" and "-n --config" read as they will later), or
 * CELERIAC_CONFIG, or NULL.  *acts is set when the command line asks for
 * --help or --version, which no setting can spoil.
 */
static const char *
settings_config_path(int argc, char **argv, const struct option *opts,
                     const char *shortopts, int *acts)
{
    const char *path = NULL;
    char **copy = xcalloc((size_t)argc + 1, sizeof(char *));
    memcpy(copy, argv, sizeof(char *) * (size_t)argc);
    int saved_opterr = opterr, ch, idx;
    opterr = 0;
    optind = 0; /* glibc: start afresh */
    *acts = 0;
    while (idx = -1,
           (ch = getopt_long(argc, copy, shortopts, opts, &idx)) != -1) {
        if (ch == '?' || ch == ':')
            continue;
        const char *name = NULL;
        if (idx >= 0) {
            name = opts[idx].name;
        } else {
            for (const struct option *o = opts; o->name != NULL; o++)
                if (o->flag == NULL && o->val == ch)
                    name = o->name;
        }
        if (name != NULL && strcmp(name, SETTINGS_CONFIG_OPTION) == 0)
            path = optarg; /* points into argv's strings */
        if (name != NULL &&
            (strcmp(name, "help") == 0 || strcmp(name, "version") == 0))
            *acts = 1;
    }
    opterr = saved_opterr;
    optind = 0;
    free(copy);
    if (path == NULL) {
        const char *env = getenv(SETTINGS_CONFIG_ENV);
        if (env != NULL && env[0] != '\0')
            path = env;
    }
    return path;
}

static int
settings_line(struct settings *s, const char *path, long n, char *line,
              const struct option *opts, char **err)
{
    char *p = line, *end = line + strlen(line);
    while (*p == ' ' || *p == '\t')
        p++;
    while (end > p && isspace((unsigned char)end[-1]))
        *--end = '\0';
    if (*p == '\0' || *p == '#')
        return 0;
    char *where = escape_dup(path, 0);
    char *eq = strchr(p, '=');
    if (eq == NULL) {
        char *l = escape_dup(p, 0);
        *err = xasprintf("%s:%ld: '%s' is not a 'key = value' line (keys "
                         "are the long options, such as 'concurrency = 4')",
                         where, n, l);
        free(l);
        free(where);
        return -1;
    }
    char *k_end = eq;
    while (k_end > p && (k_end[-1] == ' ' || k_end[-1] == '\t'))
        k_end--;
    *k_end = '\0';
    char *value = eq + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t vlen = strlen(value);
    if (vlen >= 2 && (value[0] == '"' || value[0] == '\'') &&
        value[vlen - 1] == value[0]) {
        value[vlen - 1] = '\0';
        value++;
    }
    const struct option *o = settings_find(opts, p);
    char *key = escape_dup(p, 0);
    int rc = -1;
    if (o == NULL || settings_skip(o->name)) {
        *err = xasprintf("%s:%ld: unknown setting '%s': keys are the long "
                         "options of 'celeriac-worker --help' without "
                         "'--' (but not config, help or version)",
                         where, n, key);
    } else if (value[0] == '\0') {
        *err = xasprintf("%s:%ld: '%s' has no value", where, n, key);
    } else {
        rc = settings_add(s, o, value, xasprintf("%s:%ld", where, n), err);
    }
    free(key);
    free(where);
    return rc;
}

static int
settings_file(struct settings *s, const char *path,
              const struct option *opts, char **err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        char *where = escape_dup(path, 0);
        *err = xasprintf("--config: cannot read %s: %s", where,
                         strerror(errno));
        free(where);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long n = 0, total = 0;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        n++;
        total += len;
        char *where = NULL;
        if (total > SETTINGS_FILE_MAX) {
            where = escape_dup(path, 0);
            *err = xasprintf("%s:%ld: the file is larger than %ld bytes; "
                             "is it the right file?",
                             where, n, SETTINGS_FILE_MAX);
            rc = -1;
        } else if ((size_t)len != strlen(line)) {
            where = escape_dup(path, 0);
            *err = xasprintf("%s:%ld: a NUL byte; the file must be text",
                             where, n);
            rc = -1;
        } else {
            rc = settings_line(s, path, n, line, opts, err);
        }
        free(where);
    }
    if (rc == 0 && ferror(f)) {
        char *where = escape_dup(path, 0);
        *err = xasprintf("--config: cannot read %s: %s", where,
                         strerror(errno));
        free(where);
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

/* Adds a CELERIAC_* variable for every option that has one set. */
static int
settings_env(struct settings *s, const struct option *opts, char **err)
{
    for (const struct option *o = opts; o->name != NULL; o++) {
        if (settings_skip(o->name) || strcmp(o->name, "redis") == 0)
            continue;
        char *name = settings_env_name(o->name);
        const char *v = getenv(name);
        if (v == NULL || v[0] == '\0') {
            free(name);
            continue;
        }
        if (settings_add(s, o, v, name, err) < 0)
            return -1;
    }
    return 0;
}

int
settings_expand(struct settings *s, int argc, char **argv,
                const struct option *opts, const char *shortopts,
                char **err)
{
    memset(s, 0, sizeof(*s));
    *err = NULL;
    int acts;
    const char *path = settings_config_path(argc, argv, opts, shortopts,
                                            &acts);
    int rc = 0;
    if (acts)
        path = NULL; /* --help and --version work whatever is set */
    if (path != NULL)
        rc = settings_file(s, path, opts, err);
    if (rc == 0) {
        /* CELERIAC_REDIS_URL, read later, must beat the file's "redis". */
        const char *url = getenv("CELERIAC_REDIS_URL");
        if (url != NULL && url[0] != '\0') {
            int j = 0;
            for (int i = 0; i < s->nadded; i++) {
                if (strncmp(s->added[i], "--redis=", 8) == 0) {
                    free(s->added[i]);
                    free(s->origin[i]);
                    continue;
                }
                s->added[j] = s->added[i];
                s->origin[j++] = s->origin[i];
            }
            s->nadded = j;
        }
        rc = acts ? 0 : settings_env(s, opts, err);
    }
    s->argc = argc + s->nadded;
    s->argv = xcalloc((size_t)s->argc + 1, sizeof(char *));
    s->argv[0] = argv[0];
    for (int i = 0; i < s->nadded; i++)
        s->argv[1 + i] = s->added[i];
    for (int i = 1; i < argc; i++)
        s->argv[s->nadded + i] = argv[i];
    optind = 0; /* glibc: the next getopt_long starts afresh */
    return rc;
}

const char *
settings_origin(const struct settings *s, int index)
{
    if (index < 1 || index > s->nadded)
        return NULL;
    return s->origin[index - 1];
}

int
settings_holding(const struct settings *s, const char *p)
{
    for (int i = 0; p != NULL && i < s->nadded; i++) {
        uintptr_t a = (uintptr_t)s->added[i], q = (uintptr_t)p;
        if (q >= a && q <= a + strlen(s->added[i]))
            return i + 1;
    }
    return 0;
}

void
settings_free(struct settings *s)
{
    for (int i = 0; i < s->nadded; i++) {
        free(s->added[i]);
        free(s->origin[i]);
    }
    free(s->added);
    free(s->origin);
    free(s->argv);
    memset(s, 0, sizeof(*s));
}
