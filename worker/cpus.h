/* SPDX-License-Identifier: MIT */
/*
 * cpus: how many cores this process may use, for --concurrency's default.
 *
 * The fewest of: the online cores, the CPUs of its affinity mask
 * (sched_getaffinity: taskset, cpuset, docker --cpuset-cpus), and the CPU
 * quota of its cgroup and of every cgroup above it that is visible, rounded
 * up (cgroup v2 "cpu.max", cgroup v1 "cpu.cfs_quota_us" over
 * "cpu.cfs_period_us": docker --cpus, compose "cpus:", Kubernetes CPU
 * limits).  A container sees its own cgroup as the root of /sys/fs/cgroup
 * while /proc/self/cgroup may name the host's path; the walk up from that
 * path ends at the mount's root, which is then the container's cgroup.
 *
 * Everything is read under a root directory so that the unit test can
 * pass a tree of fake files; files that are missing or unreadable count as
 * "no limit".  Nothing here allocates or logs.
 */
#ifndef CELERIAC_CPUS_H
#define CELERIAC_CPUS_H

/* What limits the count, for a log line. */
enum cpus_limit {
    CPUS_BY_ONLINE = 0,
    CPUS_BY_AFFINITY,
    CPUS_BY_QUOTA,
};

struct cpus_info {
    int count;          /* >= 1 */
    enum cpus_limit by; /* the smallest of the three */
    long long quota_us; /* the binding quota and period, 0 if none */
    long long period_us;
};

/*
 * The count under root ("" for the real /proc and /sys), given the online
 * cores and the affinity mask's CPUs (each <= 0 when unknown).
 */
void cpus_count(const char *root, long online, long affinity,
                struct cpus_info *out);

/* The count for this process: the real files, sysconf, sched_getaffinity. */
void cpus_available(struct cpus_info *out);

/* "online cores", "CPU affinity" or "cgroup CPU quota". */
const char *cpus_limit_name(enum cpus_limit by);

#endif
