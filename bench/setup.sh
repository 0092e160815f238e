#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what `make bench` needs and is missing: the Debian packages of
# the peers, the tools and the network lab (as scripts/deps.sh does), then
# BullMQ from npm into bench/peers/node_modules from the committed
# package-lock.json.
# nodejs and npm come from Debian only when no node/npm is installed: a
# nodejs from elsewhere (e.g. NodeSource) bundles npm and conflicts with
# Debian's npm package.
set -eu
cd "$(dirname "$0")"
pkgs="redis-server redis-tools python3-redis python3-celery python3-rq gnuplot-nox openssl"
# W6 (URLs through the network lab, tests/netlab) and its peers.
pkgs="$pkgs nginx iptables iproute2 curl python3-aiohttp python3-requests"
command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "bench: installing missing Debian packages:$missing" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo apt-get install -y -qq --no-install-recommends $missing >&2
fi
stamp=peers/node_modules/.celeriac-installed
if [ ! -d peers/node_modules/bullmq ] || [ ! -e "$stamp" ] ||
    [ peers/package-lock.json -nt "$stamp" ]; then
    echo "bench: npm ci in bench/peers" >&2
    log=$(mktemp)
    if ! (cd peers && npm ci --no-audit --no-fund --loglevel=error \
        >"$log" 2>&1); then
        grep -m 6 "npm error [A-Z\`]" "$log" >&2 || true
        # npm ci refuses a lock file naming a package version the registry
        # lacks, even one for another platform (a mirror may carry only
        # some of msgpackr-extract's builds).  Install the locked versions
        # of the two direct dependencies instead, leaving the lock alone.
        v() { node -p "require('./package-lock.json').packages['node_modules/$1'].version"; }
        echo "bench: npm ci failed; installing the locked bullmq and ioredis" >&2
        (cd peers && npm install --no-save --no-package-lock --no-audit \
            --no-fund --loglevel=error "bullmq@$(v bullmq)" \
            "ioredis@$(v ioredis)" >&2)
    fi
    rm -f "$log"
    touch "$stamp"
fi
