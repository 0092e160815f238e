#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages celeriac needs to build, test or benchmark,
# but only those that are missing. Usage: scripts/deps.sh [build|test|bench]
set -eu
what=${1:-test}
pkgs="make gcc pkg-config libhiredis-dev libevent-dev libssl-dev libjansson-dev libseccomp-dev openssl"
case "$what" in
build) ;;
run) pkgs="$pkgs redis-server redis-tools python3-redis" ;;
test) pkgs="$pkgs redis-server redis-sentinel redis-tools libcmocka-dev python3-pytest python3-redis iproute2 clang libclang-rt-dev nginx iptables tmux chromium" ;;
bench)
    pkgs="$pkgs redis-server redis-tools python3-redis python3-celery python3-rq gnuplot-nox iproute2 nginx iptables"
    # A Node.js from elsewhere (NodeSource bundles npm) conflicts with
    # Debian's npm: take Debian's only when there is none.
    command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
    command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
    ;;
*) echo "usage: $0 [build|run|test|bench]" >&2; exit 2 ;;
esac
# celeriac beat's tests: time zones, and a process with a skewed clock.
[ "$what" = test ] && pkgs="$pkgs tzdata libfaketime"
# promtool and a Prometheus server for tests/system/test_metrics.py.
if [ "$what" = test ]; then pkgs="$pkgs prometheus"; fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing missing Debian packages:$missing" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists unless they were refreshed in the last hour
# (CI does it once itself before calling this).
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -60 2>/dev/null | head -1)" ]; then
    $sudo apt-get update -qq
fi
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >&2
