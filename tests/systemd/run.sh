#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make systemd-test: README.md's "Installing and running under systemd,
# step by step" run as written under a real systemd (tests/systemd/README.md).
#
#  1. A Docker engine and debian:bookworm, as make cluster-test gets them
#     (tests/cluster/lib.sh: the running engine, else a dockerd of our own;
#     the image pulled, else made with debootstrap from apt's mirror).
#  2. The image celeriac-systemd-test:<hash of tests/systemd/Dockerfile>:
#     Debian 12 with systemd, the build packages and redis-server, built
#     once and kept (a warm run reuses it; older tags of it are removed).
#  3. A container booting /sbin/init as PID 1 on a network of its own
#     (198.19.96.0/24: inside 198.18.0.0/15, apart from the cluster test's
#     198.19.0.0/24, 198.19.16.0/20 and 198.19.64.0/24), --privileged
#     (or, on an engine that lacks a capability, every capability it has,
#     unconfined), with the cgroup hierarchy it needs (cgroup v1: the
#     host's /sys/fs/cgroup read-write in the host's cgroup namespace).
#  4. This clone (the files git knows, committed or not) copied into the
#     home of an unprivileged user with sudo, and tests/systemd/check.sh
#     run in it as root: the README's section as that user, then the
#     checks.
# The container and the network are removed on exit, also after a failure
# or ctrl-C.  Exit status: that of check.sh, or 1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/systemd
# shellcheck source=tests/cluster/lib.sh
. "$ROOT/tests/cluster/lib.sh"
SUBNET=${SYSTEMD_TEST_SUBNET:-198.19.96.0/24}
NAME=celeriac-systemd-test-$$
REPO=celeriac-systemd-test

say() { printf 'systemd-test: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

command -v docker >/dev/null || die "docker is missing (apt-get install docker.io)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/celeriac-systemd.XXXXXX")
container=
network=

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$container" ]; then
        # SIGRTMIN+3 (the image's STOPSIGNAL): systemd shuts down and
        # removes its cgroups; then the container goes.
        timeout 60 docker stop -t 20 "$container" >/dev/null 2>&1 || true
        docker rm -f "$container" >/dev/null 2>&1 || { say "cannot remove container $container"; rc=1; }
    fi
    if [ -n "$network" ]; then
        docker network rm "$network" >/dev/null 2>&1 || { say "cannot remove network $network"; rc=1; }
    fi
    engine_stop
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'say "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR
trap 'say "interrupted"; exit 130' INT TERM

# ---- 1. the engine and debian:bookworm ----
engine_start
base_images

# ---- 2. the image ----
image=$REPO:$(sha256sum "$HERE/Dockerfile" | cut -c1-12)
if have "$image"; then
    say "using $image"
else
    say "building $image (systemd, build packages, redis-server: a few minutes)"
    docker build --rm --force-rm -q -t "$image" "$HERE" >"$tmp/build.log" 2>&1 ||
        { tail -30 "$tmp/build.log" >&2; die "the image did not build"; }
fi
# Older versions of the image (an earlier Dockerfile).
for old in $(docker images --format '{{.Repository}}:{{.Tag}}' "$REPO"); do
    [ "$old" = "$image" ] || docker rmi "$old" >/dev/null 2>&1 || true
done

# ---- 3. the container ----
network=$NAME
docker network create --subnet "$SUBNET" "$network" >/dev/null
cgroup=()
if [ "$(docker info -f '{{.CgroupVersion}}' 2>/dev/null)" = 2 ]; then
    cgroup=(--cgroupns private)
else
    cgroup=(--cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw)
fi
run=(docker run -d --name "$NAME" --hostname celeriac-systemd
    --network "$network" --tmpfs /run --tmpfs /run/lock "${cgroup[@]}")
if "${run[@]}" --privileged "$image" >/dev/null 2>"$tmp/run.err"; then
    container=$NAME
else
    # An engine that itself lacks a capability (CAP_SYS_RESOURCE here)
    # cannot give a container all of them.
    grep -q 'apply caps' "$tmp/run.err" || { cat "$tmp/run.err" >&2; die "the container did not start"; }
    docker rm -f "$NAME" >/dev/null 2>&1 || true
    caps=(--security-opt seccomp=unconfined --security-opt apparmor=unconfined --cap-add ALL)
    for cap in SYS_RESOURCE SYS_MODULE SYS_BOOT SYS_TIME; do
        # Drop capabilities until the engine can grant the rest.
        caps+=(--cap-drop "$cap")
        if "${run[@]}" "${caps[@]}" "$image" >/dev/null 2>"$tmp/run.err"; then
            container=$NAME
            break
        fi
        docker rm -f "$NAME" >/dev/null 2>&1 || true
    done
    [ -n "$container" ] || { cat "$tmp/run.err" >&2; die "the container did not start"; }
    say "--privileged refused by this engine: started with ${caps[*]}"
fi
# Until systemd's bus answers (it is not there the moment PID 1 starts),
# then until the boot is done.
state=
for _ in $(seq 1 300); do
    state=$(docker exec "$container" systemctl is-system-running 2>&1) || true
    case "$state" in *"Failed to connect"* | "") sleep 0.2 ;; *) break ;; esac
done
case "$state" in *"Failed to connect"* | "") ;; *)
    state=$(timeout 120 docker exec "$container" systemctl is-system-running --wait 2>&1) || true
    ;;
esac
case "$state" in
running | degraded) say "systemd is up ($state) after $SECONDS s" ;;
*)
    docker exec "$container" systemctl --failed --no-pager >&2 || true
    die "systemd did not boot in the container: $state"
    ;;
esac

# ---- 4. the clone, the README's section and the checks ----
docker exec -u user "$container" mkdir /home/user/celeriac
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
        (cd "$ROOT" && tar --null --ignore-failed-read -T - -cf - 2>/dev/null)
else
    # Not a git checkout (an unpacked release): all but what make built.
    tar -C "$ROOT" --exclude=./bin --exclude=./build -cf - .
fi | docker exec -i -u user "$container" tar -xf - -C /home/user/celeriac
t0=$SECONDS
rc=0
docker exec -w /home/user/celeriac "$container" bash tests/systemd/check.sh |
    tee "$tmp/check.log" || rc=$?
# An interrupted `docker exec` may exit 0: the last line says it all ran.
[ "$rc" -ne 0 ] || grep -q ' all checks passed$' "$tmp/check.log" || rc=1
if [ "$rc" -ne 0 ]; then
    say "the workers' journal:"
    docker exec "$container" journalctl -u 'celeriac-worker@*' --no-pager -n 60 >&2 || true
    die "failed after $SECONDS s (check.sh exit $rc)"
fi
say "passed in $SECONDS s ($((SECONDS - t0)) s in the container)"
