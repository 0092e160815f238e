#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what `make bench` needs and is missing: the Debian packages of
# the peers and tools (as scripts/deps.sh does), then BullMQ from npm into
# bench/peers/node_modules from the committed package-lock.json.
# nodejs and npm come from Debian only when no node/npm is installed: a
# nodejs from elsewhere (e.g. NodeSource) bundles npm and conflicts with
# Debian's npm package.
set -eu
cd "$(dirname "$0")"
pkgs="redis-server redis-tools python3-redis python3-celery python3-rq gnuplot-nox openssl"
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
if [ ! -d peers/node_modules/bullmq ] ||
    [ peers/package-lock.json -nt peers/node_modules/.package-lock.json ]; then
    echo "bench: npm ci in bench/peers" >&2
    (cd peers && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
