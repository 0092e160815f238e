#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make cluster-test: runs docker/docker-compose.yml for real and breaks it
# (tests/cluster/README.md).
#
#  1. A Docker engine (tests/cluster/lib.sh, as step 2): the running one
#     if `docker info` answers, else a dockerd of our own (Debian's
#     docker.io) with its socket, exec-root and pidfile in a temporary
#     directory and its data-root in $CLUSTER_CACHE
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
# The engine and the base images: engine_start, base_images, engine_stop.
# shellcheck source=tests/cluster/lib.sh
. "$HERE/lib.sh"
# The compose network's subnet: inside 198.18.0.0/15, in 198.19.0.0/16
# (the network lab of the system tests uses 198.18.0.0/16).
export CLUSTER_SUBNET=${CLUSTER_SUBNET:-198.19.64.0/24}
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-celeriac-cluster}

say() { printf 'cluster: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for tool in docker docker-compose /usr/bin/python3; do
    command -v "$tool" >/dev/null ||
        die "$tool is missing (apt-get install docker.io docker-compose python3-redis)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/celeriac-cluster.XXXXXX")

# ---- clean-up, on every exit ----
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
    engine_stop
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'say "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR
trap 'say "interrupted"; exit 130' INT TERM

# ---- 1. the engine ----
engine_start

# ---- 2. the images ----
base_images

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
