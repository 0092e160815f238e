#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The "run the main job" command of the README (`make run`): builds celeriac
# if needed, starts a private redis-server on a unix socket in a temporary
# directory (unless --redis names one: CELERIAC_REDIS_URL is ignored, so a
# URL left in the environment cannot send the demo's tasks to a real
# cluster), starts a
# worker, hashes some files on it with `celeriac hash`, checks the output
# against sha512sum, then stops everything and removes the directory, also
# on Ctrl-C or failure.  Run with --help for the options.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${CELERIAC_BIN:-$ROOT/bin}

usage() {
    cat <<EOF
Usage: scripts/run.sh [OPTION]... [FILE]...
       make run [REDIS=URL] [ARGS="[OPTION]... [FILE]..."]

Runs a real job on celeriac: hashes FILEs (default: a few programs from
/usr/bin and a generated 8 MiB file) with 'celeriac hash' on a worker, shows
the output and checks that it is byte-identical to sha512sum's (or that of
the coreutils tool of the chosen algorithm).

Without --redis (make run REDIS=URL), a private redis-server is started on
a unix socket in a temporary directory and stopped afterwards; a
CELERIAC_REDIS_URL in the environment is ignored, so that the demo never
sends its tasks to the workers of a real cluster by accident.  With
--redis, that Redis is used and only a worker is started (none with
--no-worker, for a cluster that already runs workers).

  -r, --redis URL        use this Redis (redis://[user:password@]host:port/db
                         or unix:///path.sock[?db=N]) instead of a private one
  -a, --algorithm ALGO   digest to use (default sha512)
  -c, --concurrency N    worker child processes (default: online cores)
      --no-worker        start no worker (needs --redis)
  -k, --keep             keep the temporary directory (logs) afterwards
  -h, --help             show this help and exit

Environment: CELERIAC_REDIS_PASSWORD (with --redis, as for the worker),
CELERIAC_BIN (directory of prebuilt binaries; skips the build).
CELERIAC_REDIS_URL is ignored: name the Redis with --redis.
EOF
}

say() { printf 'run: %s\n' "$*" >&2; }
die() { printf 'run: error: %s\n' "$*" >&2; exit 1; }

# Only the command line names a Redis: see the help.
redis_url=
algo=sha512
concurrency=
start_worker=1
keep=0
files=()

while [ $# -gt 0 ]; do
    case "$1" in
    -r | --redis) [ $# -ge 2 ] || die "$1 needs a URL"; redis_url=$2; shift 2 ;;
    --redis=*) redis_url=${1#*=}; shift ;;
    -a | --algorithm) [ $# -ge 2 ] || die "$1 needs a name"; algo=$2; shift 2 ;;
    --algorithm=*) algo=${1#*=}; shift ;;
    -c | --concurrency) [ $# -ge 2 ] || die "$1 needs a number"; concurrency=$2; shift 2 ;;
    --concurrency=*) concurrency=${1#*=}; shift ;;
    --no-worker) start_worker=0; shift ;;
    -k | --keep) keep=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; files+=("$@"); break ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) files+=("$1"); shift ;;
    esac
done
if [ "$start_worker" = 0 ] && [ -z "$redis_url" ]; then
    die "--no-worker needs --redis URL (a private Redis has no workers)"
fi
if [ -n "${CELERIAC_REDIS_URL:-}" ]; then
    [ -n "$redis_url" ] ||
        say "ignoring CELERIAC_REDIS_URL: the demo uses a private Redis unless --redis (make run REDIS=URL) names one"
    unset CELERIAC_REDIS_URL
fi
if [ -z "$redis_url" ]; then
    # The private Redis has no password.
    unset CELERIAC_REDIS_PASSWORD
fi
for f in ${files[@]+"${files[@]}"}; do
    if [ ! -f "$f" ] || [ ! -r "$f" ]; then
        die "'$f' is not a readable file"
    fi
done

# ---- packages and build ----

"$ROOT/scripts/deps.sh" run
if [ -z "${CELERIAC_BIN:-}" ]; then
    make -C "$ROOT" -s --no-print-directory all
fi
for b in celeriac-worker celeriac; do
    [ -x "$BIN/$b" ] || die "$BIN/$b is missing; run 'make' first"
done

# ---- cleanup, also on Ctrl-C and errors ----

tmp=$(mktemp -d "${TMPDIR:-/tmp}/celeriac-run.XXXXXX")
redis_pid=
worker_pid=

# Waits up to $2 tenths of a second for process $1 to end; 0 if it did.
wait_gone() {
    local i
    for ((i = 0; i < $2; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

stop_worker() {
    [ -n "$worker_pid" ] || return 0
    local pid=$worker_pid
    worker_pid=
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 300; then
        say "the worker did not stop within 30 s; stopping it at once"
        kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid" 50 || kill -KILL "$pid" 2>/dev/null || true
    fi
    local rc=0
    wait "$pid" 2>/dev/null || rc=$?
    return "$rc"
}

stop_redis() {
    [ -n "$redis_pid" ] || return 0
    local pid=$redis_pid
    redis_pid=
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 100 || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_worker || true
    stop_redis
    if [ "$keep" = 1 ]; then
        say "kept $tmp"
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted; cleaning up"; exit 130' INT
trap 'exit 143' TERM

# ---- Redis ----

# redis-cli arguments for a celeriac Redis URL (for the readiness check).
rcli_args() {
    local url=$1 rest db
    case "$url" in
    unix://*)
        rest=${url#unix://}
        db=0
        case "$rest" in *\?db=*) db=${rest##*\?db=}; rest=${rest%%\?*} ;; esac
        printf '%s\n' -s "$rest" -n "$db"
        ;;
    *) printf '%s\n' -u "$url" ;;
    esac
}

if [ -z "$redis_url" ]; then
    sock=$tmp/redis.sock
    cat >"$tmp/redis.conf" <<EOF
port 0
unixsocket $sock
unixsocketperm 700
dir $tmp
save ""
appendonly no
logfile $tmp/redis.log
EOF
    # setsid: Ctrl-C reaches this script, which stops things in order.
    setsid redis-server "$tmp/redis.conf" &
    redis_pid=$!
    for ((i = 0; ; i++)); do
        if [ "$(redis-cli -s "$sock" ping 2>/dev/null)" = PONG ]; then
            break
        fi
        kill -0 "$redis_pid" 2>/dev/null ||
            { cat "$tmp/redis.log" >&2; die "redis-server exited"; }
        [ "$i" -lt 200 ] || die "redis-server did not answer PING within 10 s"
        sleep 0.05
    done
    redis_url=unix://$sock
    say "started a private redis-server (pid $redis_pid) on $sock"
else
    case "$redis_url" in
    *@*) say "using Redis at ${redis_url%%://*}://***@${redis_url##*@}" ;; # no password
    *) say "using Redis at $redis_url" ;;
    esac
fi
mapfile -t rcli < <(rcli_args "$redis_url")
export REDISCLI_AUTH=${CELERIAC_REDIS_PASSWORD:-}
[ -n "$REDISCLI_AUTH" ] || unset REDISCLI_AUTH

# ---- worker ----

if [ "$start_worker" = 1 ]; then
    name="run-$$"
    wargs=(--redis "$redis_url" --name "$name")
    [ -z "$concurrency" ] || wargs+=(--concurrency "$concurrency")
    setsid "$BIN/celeriac-worker" "${wargs[@]}" 2>"$tmp/worker.log" &
    worker_pid=$!
    # Ready once its read connection blocks in XREADGROUP (with a shared
    # Redis that may be another worker's: harmless, the job waits anyway).
    for ((i = 0; ; i++)); do
        if redis-cli "${rcli[@]}" CLIENT LIST 2>/dev/null |
            grep -q 'cmd=xreadgroup'; then
            break
        fi
        if ! kill -0 "$worker_pid" 2>/dev/null; then
            worker_pid=
            cat "$tmp/worker.log" >&2
            die "the worker exited at start (its log is above)"
        fi
        if [ "$i" -ge 300 ]; then
            say "the worker is not reading yet after 15 s; going on (log: $tmp/worker.log)"
            keep=1
            break
        fi
        sleep 0.05
    done
    say "started celeriac-worker $name (pid $worker_pid)"
fi

# ---- the job ----

if [ ${#files[@]} -eq 0 ]; then
    for f in /usr/bin/bash /usr/bin/ls /usr/bin/cat /usr/bin/sort \
        /usr/bin/redis-server /usr/bin/make; do
        [ -f "$f" ] && [ -r "$f" ] && files+=("$f")
    done
    head -c 8388608 /dev/urandom >"$tmp/random-8MiB.bin"
    files+=("$tmp/random-8MiB.bin")
fi

case "$algo" in
md5 | sha1 | sha224 | sha256 | sha384 | sha512) check_tool=${algo}sum ;;
*) check_tool= ;;
esac

say "hashing ${#files[@]} file(s) with $algo:"
echo "\$ celeriac hash -a $algo ${files[*]}" >&2
start=$(date +%s%N)
if ! "$BIN/celeriac" --redis "$redis_url" hash -a "$algo" --timeout 300 \
    "${files[@]}" >"$tmp/out.txt"; then
    cat "$tmp/out.txt"
    [ -z "$worker_pid" ] || { echo "--- worker log:" >&2; cat "$tmp/worker.log" >&2; }
    die "celeriac hash failed"
fi
end=$(date +%s%N)
cat "$tmp/out.txt"
bytes=$(cat "${files[@]}" | wc -c)
say "$(printf '%d bytes in %d file(s) in %d ms' "$bytes" "${#files[@]}" \
    $(((end - start) / 1000000)))"

if [ -n "$check_tool" ]; then
    "$check_tool" "${files[@]}" >"$tmp/expected.txt"
    if cmp -s "$tmp/out.txt" "$tmp/expected.txt"; then
        say "OK: the output is byte-identical to $check_tool's"
    else
        diff "$tmp/expected.txt" "$tmp/out.txt" >&2 || true
        die "the output differs from $check_tool's (diff above: < $check_tool, > celeriac)"
    fi
else
    openssl dgst -r "-$algo" "${files[@]}" | awk '{print $1}' >"$tmp/expected.txt"
    awk '{print $1}' "$tmp/out.txt" | sed 's/^\\//' >"$tmp/got.txt"
    if cmp -s "$tmp/got.txt" "$tmp/expected.txt"; then
        say "OK: every digest matches openssl dgst -$algo"
    else
        die "the digests differ from openssl dgst -$algo"
    fi
fi

# ---- stop ----

if [ -n "$worker_pid" ]; then
    rc=0
    stop_worker || rc=$?
    grep -o 'stopped: .*' "$tmp/worker.log" | sed 's/^/run: worker log: /' >&2 || true
    [ "$rc" -eq 0 ] || die "the worker exited with status $rc on SIGTERM"
    say "worker stopped (warm shutdown, exit 0)"
fi
if [ -n "$redis_pid" ]; then
    stop_redis
    say "stopped the private redis-server"
fi
