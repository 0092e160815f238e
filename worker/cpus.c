/* SPDX-License-Identifier: MIT */
/* cpus: the cores this process may use (see cpus.h). */
#include "cpus.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CPUS_PATH 4096

/* Reads the first line of root/path into buf; 0 on success. */
static int
cpus_read_line(const char *root, const char *path, char *buf, size_t len)
{
    char full[CPUS_PATH];
    FILE *f;
    int n = snprintf(full, sizeof(full), "%s%s", root, path);

    if (n < 0 || (size_t)n >= sizeof(full))
        return -1;
    f = fopen(full, "re");
    if (!f)
        return -1;
    if (!fgets(buf, (int)len, f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

/* Parses a decimal >= 0 filling all of s; -1 if it is not one. */
static long long
cpus_number(const char *s)
{
    char *end;
    long long v;

    if (*s < '0' || *s > '9')
        return -1;
    v = strtoll(s, &end, 10);
    return *end == '\0' && v >= 0 ? v : -1;
}

/*
 * Reads the quota in dir (relative to root): cgroup v2's "cpu.max"
 * ("max 100000" or "150000 100000") when v2, else v1's two files.  Returns
 * 1 and sets the pair when there is a quota, 0 when none or unreadable.
 */
static int
cpus_quota_in(const char *root, const char *dir, int v2, long long *quota,
              long long *period)
{
    char path[CPUS_PATH], line[128], *sp;
    long long q, p;

    if (v2) {
        if (snprintf(path, sizeof(path), "%s/cpu.max", dir) >=
                (int)sizeof(path) ||
            cpus_read_line(root, path, line, sizeof(line)) < 0)
            return 0;
        sp = strchr(line, ' ');
        if (!sp)
            return 0;
        *sp = '\0';
        q = cpus_number(line);
        p = cpus_number(sp + 1);
    } else {
        if (snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir) >=
                (int)sizeof(path) ||
            cpus_read_line(root, path, line, sizeof(line)) < 0)
            return 0;
        q = cpus_number(line); /* "-1": no quota */
        if (snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir) >=
                (int)sizeof(path) ||
            cpus_read_line(root, path, line, sizeof(line)) < 0)
            return 0;
        p = cpus_number(line);
    }
    if (q <= 0 || p <= 0)
        return 0;
    *quota = q;
    *period = p;
    return 1;
}

/*
 * The tightest quota from mount/rel up to mount (every ancestor's limit
 * applies too).  Updates *best (in CPUs, rounded up) and the pair.
 */
static void
cpus_walk(const char *root, const char *mount, const char *rel, int v2,
          long *best, struct cpus_info *out)
{
    char dir[CPUS_PATH], *slash;
    long long q, p;
    size_t base = strlen(mount);

    if (snprintf(dir, sizeof(dir), "%s%s", mount, rel) >= (int)sizeof(dir))
        return;
    /* Strip trailing slashes so that the walk ends at the mount. */
    while (strlen(dir) > base && dir[strlen(dir) - 1] == '/')
        dir[strlen(dir) - 1] = '\0';
    for (;;) {
        if (cpus_quota_in(root, dir, v2, &q, &p)) {
            long long n = (q + p - 1) / p;
            if (n < 1)
                n = 1;
            if (*best <= 0 || n < *best) {
                *best = (long)n;
                out->quota_us = q;
                out->period_us = p;
            }
        }
        if (strlen(dir) <= base)
            break;
        slash = strrchr(dir + base, '/');
        if (!slash)
            break;
        *slash = '\0';
    }
}

/* The CPU quota in CPUs from /proc/self/cgroup, 0 if none. */
static long
cpus_quota(const char *root, struct cpus_info *out)
{
    char full[CPUS_PATH], line[CPUS_PATH], mount[CPUS_PATH];
    FILE *f;
    long best = 0;
    int n = snprintf(full, sizeof(full), "%s/proc/self/cgroup", root);

    if (n < 0 || (size_t)n >= sizeof(full))
        return 0;
    f = fopen(full, "re");
    if (!f)
        return 0;
    /* "ID:controllers:path"; v2 is "0::path". */
    while (fgets(line, sizeof(line), f)) {
        char *c1 = strchr(line, ':'), *c2, *ctl, *tok, *save = NULL;
        int cpu = 0;

        line[strcspn(line, "\n")] = '\0';
        if (!c1 || !(c2 = strchr(c1 + 1, ':')))
            continue;
        *c2 = '\0';
        ctl = c1 + 1;
        if (*ctl == '\0') {
            cpus_walk(root, "/sys/fs/cgroup", c2 + 1, 1, &best, out);
            /* Hybrid hosts mount v2 at unified/; v1 controllers decide. */
            continue;
        }
        snprintf(mount, sizeof(mount), "/sys/fs/cgroup/%s", ctl);
        for (tok = strtok_r(ctl, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save))
            if (strcmp(tok, "cpu") == 0)
                cpu = 1;
        if (!cpu)
            continue;
        cpus_walk(root, mount, c2 + 1, 0, &best, out);
        if (strcmp(mount, "/sys/fs/cgroup/cpu") != 0) /* "cpu,cpuacct" */
            cpus_walk(root, "/sys/fs/cgroup/cpu", c2 + 1, 0, &best, out);
    }
    fclose(f);
    return best;
}

void
cpus_count(const char *root, long online, long affinity, struct cpus_info *out)
{
    long n = online > 0 ? online : 1, q;

    memset(out, 0, sizeof(*out));
    out->by = CPUS_BY_ONLINE;
    if (affinity > 0 && affinity < n) {
        n = affinity;
        out->by = CPUS_BY_AFFINITY;
    }
    q = cpus_quota(root, out);
    if (q > 0 && q < n) {
        n = q;
        out->by = CPUS_BY_QUOTA;
    } else {
        out->quota_us = out->period_us = 0;
    }
    out->count = n > 1 ? (int)(n < 4096 ? n : 4096) : 1;
}

void
cpus_available(struct cpus_info *out)
{
    cpu_set_t set;
    long affinity = 0;

    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        affinity = CPU_COUNT(&set);
    cpus_count("", sysconf(_SC_NPROCESSORS_ONLN), affinity, out);
}

const char *
cpus_limit_name(enum cpus_limit by)
{
    switch (by) {
    case CPUS_BY_AFFINITY:
        return "CPU affinity";
    case CPUS_BY_QUOTA:
        return "cgroup CPU quota";
    case CPUS_BY_ONLINE:
        break;
    }
    return "online cores";
}
