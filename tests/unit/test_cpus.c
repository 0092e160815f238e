/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of worker/cpus.c: --concurrency's default from the online
 * cores, the affinity mask and cgroup CPU quotas (v2 cpu.max, v1
 * cfs_quota_us/cfs_period_us), on trees of fake /proc and /sys files.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpus.h"

/* ---- a fake root ---- */

static char root[256];

/* Creates root/path (and its directories) holding text. */
static void
put(const char *path, const char *text)
{
    char full[1024], *p;
    FILE *f;

    snprintf(full, sizeof(full), "%s%s", root, path);
    for (p = full + strlen(root) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        assert_true(mkdir(full, 0700) == 0 || errno == EEXIST);
        *p = '/';
    }
    f = fopen(full, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int
fresh_root(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "%s/celeriac-cpus.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int
remove_root(void **state)
{
    char cmd[512];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static struct cpus_info
count(long online, long affinity)
{
    struct cpus_info in;
    cpus_count(root, online, affinity, &in);
    return in;
}

/* ---- tests ---- */

/* No /proc/self/cgroup at all: online cores and affinity decide. */
static void
test_no_cgroup(void **state)
{
    struct cpus_info in;
    (void)state;
    in = count(8, 8);
    assert_int_equal(in.count, 8);
    assert_int_equal(in.by, CPUS_BY_ONLINE);
    in = count(8, 3);
    assert_int_equal(in.count, 3);
    assert_int_equal(in.by, CPUS_BY_AFFINITY);
    assert_string_equal(cpus_limit_name(in.by), "CPU affinity");
    in = count(0, 0); /* unknown: one */
    assert_int_equal(in.count, 1);
}

/* cgroup v2 in a container (cgroupns): "0::/" and the root's cpu.max. */
static void
test_v2_container(void **state)
{
    struct cpus_info in;
    (void)state;
    put("/proc/self/cgroup", "0::/\n");
    put("/sys/fs/cgroup/cpu.max", "150000 100000\n");
    in = count(16, 16);
    assert_int_equal(in.count, 2); /* 1.5 CPUs rounded up */
    assert_int_equal(in.by, CPUS_BY_QUOTA);
    assert_int_equal(in.quota_us, 150000);
    assert_int_equal(in.period_us, 100000);
    assert_string_equal(cpus_limit_name(in.by), "cgroup CPU quota");
    /* An affinity of one binds tighter than the quota. */
    in = count(16, 1);
    assert_int_equal(in.count, 1);
    assert_int_equal(in.by, CPUS_BY_AFFINITY);
    assert_int_equal(in.quota_us, 0);
}

/* v2 "max": no quota; a quota above the cores does not bind. */
static void
test_v2_max_and_loose(void **state)
{
    struct cpus_info in;
    (void)state;
    put("/proc/self/cgroup", "0::/\n");
    put("/sys/fs/cgroup/cpu.max", "max 100000\n");
    in = count(4, 4);
    assert_int_equal(in.count, 4);
    assert_int_equal(in.by, CPUS_BY_ONLINE);
    put("/sys/fs/cgroup/cpu.max", "800000 100000\n");
    in = count(4, 4);
    assert_int_equal(in.count, 4);
    assert_int_equal(in.by, CPUS_BY_ONLINE);
}

/* v2 on a host: nested cgroups, the tightest ancestor wins. */
static void
test_v2_nested(void **state)
{
    struct cpus_info in;
    (void)state;
    put("/proc/self/cgroup", "0::/system.slice/app.service/\n");
    put("/sys/fs/cgroup/system.slice/cpu.max", "300000 100000\n");
    put("/sys/fs/cgroup/system.slice/app.service/cpu.max", "max 100000\n");
    in = count(32, 32);
    assert_int_equal(in.count, 3);
    put("/sys/fs/cgroup/system.slice/app.service/cpu.max", "50000 100000\n");
    in = count(32, 32);
    assert_int_equal(in.count, 1); /* half a CPU: still one child */
    assert_int_equal(in.quota_us, 50000);
}

/* v1, docker without cgroupns: the host's path is not under the mount,
 * whose root is the container's cgroup. */
static void
test_v1_container(void **state)
{
    struct cpus_info in;
    (void)state;
    put("/proc/self/cgroup", "12:memory:/docker/0123abcd\n"
                             "4:cpu,cpuacct:/docker/0123abcd\n"
                             "1:name=systemd:/docker/0123abcd\n"
                             "0::/\n");
    put("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "200000\n");
    put("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    in = count(8, 8);
    assert_int_equal(in.count, 2);
    assert_int_equal(in.by, CPUS_BY_QUOTA);
    /* -1: no quota. */
    put("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    in = count(8, 8);
    assert_int_equal(in.count, 8);
}

/* v1 mounted as plain "cpu" beside "cpu,cpuacct", and a host path. */
static void
test_v1_cpu_mount(void **state)
{
    struct cpus_info in;
    (void)state;
    put("/proc/self/cgroup", "3:cpuacct,cpu:/batch/job1\n");
    put("/sys/fs/cgroup/cpu/batch/cpu.cfs_quota_us", "250000\n");
    put("/sys/fs/cgroup/cpu/batch/cpu.cfs_period_us", "100000\n");
    in = count(8, 6);
    assert_int_equal(in.count, 3);
    assert_int_equal(in.by, CPUS_BY_QUOTA);
}

/* Bad or partial files count as no limit, never as zero. */
static void
test_bad_files(void **state)
{
    (void)state;
    put("/proc/self/cgroup", "garbage\n0::/\n9:cpu:\n");
    put("/sys/fs/cgroup/cpu.max", "0 100000\n");
    assert_int_equal(count(4, 4).count, 4);
    put("/sys/fs/cgroup/cpu.max", "12x 100000\n");
    assert_int_equal(count(4, 4).count, 4);
    put("/sys/fs/cgroup/cpu.max", "100000\n");
    assert_int_equal(count(4, 4).count, 4);
    put("/sys/fs/cgroup/cpu.max", "");
    assert_int_equal(count(4, 4).count, 4);
    put("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "100000\n"); /* no period */
    assert_int_equal(count(4, 4).count, 4);
    put("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "0\n");
    assert_int_equal(count(4, 4).count, 4);
}

/* The real process: at least one, at most the online cores. */
static void
test_this_process(void **state)
{
    struct cpus_info in;
    (void)state;
    cpus_available(&in);
    assert_true(in.count >= 1);
    assert_true(in.count <= sysconf(_SC_NPROCESSORS_ONLN));
}

#define T(f) cmocka_unit_test_setup_teardown(f, fresh_root, remove_root)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_no_cgroup), T(test_v2_container), T(test_v2_max_and_loose),
        T(test_v2_nested), T(test_v1_container), T(test_v1_cpu_mount),
        T(test_bad_files), T(test_this_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
