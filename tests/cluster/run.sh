#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make cluster-test: runs docker/docker-compose.yml for real and breaks it
# (tests/cluster/README.md).
#
#  1. A Docker engine: the running one if `docker info` answers, else a
#     dockerd of our own (Debian's docker.io) with its socket, exec-root and
#     pidfile in a temporary directory and its data-root in $CLUSTER_CACHE
#     (default /var/tmp/celeriac-cluster; kept between runs so that a warm
#     run reuses the images and their build cache), stopped at the end.
#  2. The images the compose file needs: debian:bookworm(-slim) pulled, or
#     when there is no registry, made with `debootstrap --variant=minbase`
#     from the Debian mirror apt is configured with and `docker import`ed
#     (the root tarball is cached as build/cluster/debian-bookworm-
#     minbase.tar.gz); the Redis image pulled, or a stand-in built from
#     Debian's redis-server (tests/cluster/redis-standin) under its name;
#     the same for Prometheus (tests/cluster/prometheus-standin).
#  3. tests/cluster/scenario.py: up --build, 20,000 tasks, the breaks, the
#     checks and the figures.
# Everything it started (containers, networks, volumes, its dockerd and the
# bridge and iptables rules that dockerd made) is removed on exit, also
# after a failure or ctrl-C.  Exit status: that of the scenario, or 1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/tests/cluster
CACHE=${CLUSTER_CACHE:-/var/tmp/celeriac-cluster}
BASE_TAR=$ROOT/build/cluster/debian-bookworm-minbase.tar.gz
# dockerd's own bridge and address pools, and the compose networks'
# subnets: inside 198.18.0.0/15, in 198.19.0.0/16 (the network lab of the
# system tests uses 198.18.0.0/16).
BRIDGE_IP=198.19.0.1/24
POOL=198.19.16.0/20
export CLUSTER_SUBNET=${CLUSTER_SUBNET:-198.19.64.0/24}
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-celeriac-cluster}

say() { printf 'cluster: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for tool in docker docker-compose /usr/bin/python3; do
    command -v "$tool" >/dev/null ||
        die "$tool is missing (apt-get install docker.io docker-compose python3-redis)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/celeriac-cluster.XXXXXX")
own_dockerd=
old_forward=
had_docker0=
had_chains=

# ---- clean-up, on every exit ----
iptables_forget() {
    # Deletes the rules and chains our dockerd made (only when there were
    # no Docker chains before it started).
    command -v iptables >/dev/null || return 0
    local table line
    for table in filter nat; do
        iptables -t "$table" -S 2>/dev/null |
            grep -E '^-A .*(DOCKER|docker0|br-[0-9a-f]{12})' |
            sed 's/^-A /-D /' | while read -r line; do
                # shellcheck disable=SC2086
                iptables -t "$table" $line 2>/dev/null || true
            done
        iptables -t "$table" -S 2>/dev/null | awk '/^-N DOCKER/ {print $2}' |
            while read -r line; do
                iptables -t "$table" -F "$line" 2>/dev/null || true
                iptables -t "$table" -X "$line" 2>/dev/null || true
            done
    done
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "${DOCKER_HOST:-}" ] || docker info >/dev/null 2>&1; then
        say "removing the project's containers, networks and volumes"
        timeout 180 docker-compose -f "$ROOT/docker/docker-compose.yml" \
            -f "$HERE/compose.cluster.yml" --profile producer \
            down -v --remove-orphans -t 5 >"$tmp/down.log" 2>&1 ||
            { cat "$tmp/down.log" >&2; rc=1; }
    fi
    if [ -n "$own_dockerd" ]; then
        local pid
        pid=$(cat "$tmp/dockerd.pid" 2>/dev/null || echo "$own_dockerd")
        say "stopping our dockerd (pid $pid)"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -9 "$pid" 2>/dev/null || true
        # The bridges and rules it leaves behind.
        [ -n "$had_docker0" ] || ip link del docker0 2>/dev/null || true
        for br in $(ip -o link show type bridge 2>/dev/null |
            awk -F': ' '{print $2}' | grep -E '^br-[0-9a-f]{12}$'); do
            ip link del "$br" 2>/dev/null || true
        done
        [ -n "$had_chains" ] || iptables_forget
        [ -z "$old_forward" ] ||
            sysctl -qw net.ipv4.ip_forward="$old_forward" 2>/dev/null || true
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'say "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR
trap 'say "interrupted"; exit 130' INT TERM

# ---- 1. the engine ----
if docker info >/dev/null 2>&1; then
    say "using the running Docker engine"
else
    command -v dockerd >/dev/null ||
        die "no Docker engine runs and dockerd is missing (apt-get install docker.io)"
    [ "$(id -u)" -eq 0 ] || die "starting dockerd needs root"
    mkdir -p "$CACHE"
    exec 9>"$CACHE/lock"
    flock -n 9 || die "another cluster test uses $CACHE (lock $CACHE/lock)"
    ip link show docker0 >/dev/null 2>&1 && had_docker0=1
    iptables -S 2>/dev/null | grep -q '^-N DOCKER' && had_chains=1
    # With forwarding already on, dockerd leaves the FORWARD policy alone
    # (it sets it to DROP when it turns forwarding on itself).
    old_forward=$(sysctl -n net.ipv4.ip_forward)
    sysctl -qw net.ipv4.ip_forward=1
    say "starting dockerd (data-root $CACHE/docker, log $tmp/dockerd.log)"
    # In a session of its own: a ctrl-C to the terminal's process group
    # must not stop it before the project was taken down.
    setsid dockerd --data-root "$CACHE/docker" --exec-root "$tmp/exec" \
        --pidfile "$tmp/dockerd.pid" -H "unix://$tmp/docker.sock" \
        --bip "$BRIDGE_IP" --default-address-pool "base=$POOL,size=24" \
        >"$tmp/dockerd.log" 2>&1 9>&- &
    own_dockerd=$!
    export DOCKER_HOST=unix://$tmp/docker.sock
    for _ in $(seq 1 120); do
        docker info >/dev/null 2>&1 && break
        kill -0 "$own_dockerd" 2>/dev/null ||
            { tail -20 "$tmp/dockerd.log" >&2; die "dockerd exited"; }
        sleep 0.5
    done
    docker info >/dev/null 2>&1 ||
        { tail -20 "$tmp/dockerd.log" >&2; die "dockerd did not answer in 60 s"; }
fi

# ---- 2. the images ----
have() { docker image inspect "$1" >/dev/null 2>&1; }
pull() { timeout 120 docker pull -q "$1" >/dev/null 2>&1; }

# The Debian mirror of apt's sources (deb822 or one-line form), for
# debootstrap: read at run time, never written into the repository.
apt_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk '
            /^Types:/ {deb = ($0 ~ /[[:space:]]deb([[:space:]]|$)/)}
            /^URIs:/ {uri = $2}
            /^Suites:/ {if (deb && $0 ~ /[[:space:]]bookworm([[:space:]]|$)/) {print uri; exit}}
        ' "$f"
    done
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '$1 == "deb" && $0 ~ / bookworm / {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' ||
        true
}

base_tarball() {
    [ -s "$BASE_TAR" ] && return 0
    command -v debootstrap >/dev/null ||
        die "debian:bookworm cannot be pulled and debootstrap is missing (apt-get install debootstrap)"
    local mirror rootfs
    mirror=$(apt_mirror | sed -n 1p)
    [ -n "$mirror" ] || die "no bookworm mirror in apt's sources for debootstrap"
    rootfs=$tmp/rootfs
    say "debootstrap --variant=minbase bookworm from $mirror (about a minute)"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" \
        >"$tmp/debootstrap.log" 2>&1 ||
        { tail -20 "$tmp/debootstrap.log" >&2; die "debootstrap failed"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    mkdir -p "$(dirname "$BASE_TAR")"
    tar -C "$rootfs" --numeric-owner -czf "$BASE_TAR.part" . &&
        mv "$BASE_TAR.part" "$BASE_TAR"
    rm -rf "$rootfs"
}

for base in debian:bookworm debian:bookworm-slim; do
    have "$base" && continue
    pull "$base" && continue
    base_tarball
    say "importing $BASE_TAR as $base"
    docker import -c 'CMD ["bash"]' "$BASE_TAR" "$base" >/dev/null
done

redis_image=$(docker-compose -f "$ROOT/docker/docker-compose.yml" config |
    /usr/bin/python3 -c 'import sys, yaml; print(yaml.safe_load(sys.stdin)["services"]["redis"]["image"])')
if ! have "$redis_image" && ! pull "$redis_image"; then
    say "building a stand-in for $redis_image from Debian's redis-server"
    docker build -q -t "$redis_image" "$HERE/redis-standin" \
        >"$tmp/standin.log" 2>&1 ||
        { tail -20 "$tmp/standin.log" >&2; die "the Redis stand-in did not build"; }
fi
prom_image=$(docker-compose -f "$ROOT/docker/docker-compose.yml" config |
    /usr/bin/python3 -c 'import sys, yaml; print(yaml.safe_load(sys.stdin)["services"]["prometheus"]["image"])')
if ! have "$prom_image" && ! pull "$prom_image"; then
    say "building a stand-in for $prom_image from Debian's prometheus"
    docker build -q -t "$prom_image" "$HERE/prometheus-standin" \
        >"$tmp/standin.log" 2>&1 ||
        { tail -20 "$tmp/standin.log" >&2; die "the Prometheus stand-in did not build"; }
fi

# ---- 3. the scenario ----
say "engine ready after $SECONDS s"
# What an earlier run that was killed may have left.
docker-compose -f "$ROOT/docker/docker-compose.yml" -f "$HERE/compose.cluster.yml" \
    --profile producer down -v --remove-orphans -t 5 >"$tmp/down.log" 2>&1 ||
    { cat "$tmp/down.log" >&2; die "cannot take down an earlier run's project"; }
CLUSTER_ROOT=$ROOT /usr/bin/python3 "$HERE/scenario.py" "$@"
