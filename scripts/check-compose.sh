#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checks docker/ without a Docker engine (CI has none):
#  1. docker-compose accepts docker/docker-compose.yml (`config`), and the
#     cluster is wired as documented (Redis with appendonly and a
#     healthcheck, workers pointed at it, the one-shot producer,
#     Prometheus scraping the workers' --metrics port), and `promtool
#     check config` accepts docker/prometheus.yml;
#  2. the build stage of docker/Dockerfile works: the files it COPYs, and
#     only those, build with `make NO_DEPS=1 all`;
#  3. the runtime stage installs every Debian package that provides a
#     shared library the two binaries load.
# Prints one "check-compose: N passed, N failed" line; exits 1 on failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCKER=$ROOT/docker
passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/celeriac-compose.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

ok() { printf 'ok   %s\n' "$1"; passed=$((passed + 1)); }
bad() { printf 'FAIL %s\n' "$1"; failed=$((failed + 1)); }

command -v docker-compose >/dev/null ||
    { echo "check-compose: docker-compose is not installed (apt-get install docker-compose)" >&2; exit 2; }

# ---- 1. the compose file ----
if docker-compose -f "$DOCKER/docker-compose.yml" config >"$tmp/config.yml" \
    2>"$tmp/config.err"; then
    ok "docker-compose config accepts docker/docker-compose.yml"
    if /usr/bin/python3 - "$tmp/config.yml" "$DOCKER/prometheus.yml" <<'EOF'
import sys
import yaml

c = yaml.safe_load(open(sys.argv[1]))
s = c["services"]
problems = []
def need(cond, what):
    if not cond:
        problems.append(what)

need({"redis", "worker", "producer"} <= set(s), "services redis, worker, producer")
r = s.get("redis", {})
need("yes" in [str(x) for x in r.get("command", [])]
     and "--appendonly" in r.get("command", []), "redis runs with --appendonly yes")
need("redis-cli" in r.get("healthcheck", {}).get("test", []), "redis has a redis-cli healthcheck")
for name in ("worker", "producer"):
    svc = s.get(name, {})
    need(svc.get("environment", {}).get("CELERIAC_REDIS_URL") == "redis://redis:6379/0",
         name + " has CELERIAC_REDIS_URL=redis://redis:6379/0")
    need(svc.get("depends_on", {}).get("redis", {}).get("condition") == "service_healthy",
         name + " waits for a healthy redis")
w = s.get("worker", {})
need(w.get("build", {}).get("dockerfile") == "docker/Dockerfile", "worker builds docker/Dockerfile")
need(int(w.get("deploy", {}).get("replicas", 0)) >= 1, "worker has deploy.replicas")
need(s.get("producer", {}).get("entrypoint") == ["celeriac"], "producer runs celeriac")
need("producer" in s.get("producer", {}).get("profiles", []), "producer is not started by `up`")
need("celeriac status --alive" in " ".join(w.get("healthcheck", {}).get("test", [])),
     "worker has a `celeriac status --alive` healthcheck")
need(s.get("producer", {}).get("build") == w.get("build"),
     "producer builds the image as the worker does (it can be run first)")
# Prometheus: its configuration mounted from docker/, and the port it
# scrapes the service `worker` on is the one the workers serve on, on an
# address the other containers reach.
cmd = [str(x) for x in w.get("command", [])]
addr = cmd[cmd.index("--metrics") + 1] if "--metrics" in cmd[:-1] else ""
need(addr.startswith("0.0.0.0:"), "worker runs with --metrics 0.0.0.0:PORT")
prom = s.get("prometheus", {})
need(prom.get("image", "").startswith("prom/prometheus:v"),
     "prometheus runs a pinned prom/prometheus image")
# `config` writes volumes as SOURCE:TARGET[:MODE] (1.29) or as mappings.
mounts = [(v["source"], v["target"]) if isinstance(v, dict) else
          tuple(str(v).split(":")[:2]) for v in prom.get("volumes", [])]
need(any(src.endswith("/docker/prometheus.yml") and
         dst == "/etc/prometheus/prometheus.yml" for src, dst in mounts),
     "prometheus reads docker/prometheus.yml")
need("--config.file=/etc/prometheus/prometheus.yml" in prom.get("command", []),
     "prometheus is told where its configuration is")
try:
    pc = yaml.safe_load(open(sys.argv[2]))
    sd = [d for job in pc.get("scrape_configs", [])
          for d in job.get("dns_sd_configs", [])]
    need(any(d.get("names") == ["worker"] and d.get("type") == "A" and
             ":%s" % d.get("port") == addr[addr.rfind(":"):] for d in sd),
         "docker/prometheus.yml finds the workers by DNS (type A) on the "
         "port of their --metrics")
except OSError as e:
    need(False, "docker/prometheus.yml readable (%s)" % e)
for p in problems:
    print("missing: " + p)
sys.exit(1 if problems else 0)
EOF
    then
        ok "the services are wired as documented"
    else
        bad "the services are wired as documented"
    fi
else
    cat "$tmp/config.err"
    bad "docker-compose config accepts docker/docker-compose.yml"
fi

if ! command -v promtool >/dev/null; then
    bad "promtool is not installed (apt-get install prometheus): docker/prometheus.yml unchecked"
elif promtool check config "$DOCKER/prometheus.yml" >"$tmp/promtool.log" 2>&1; then
    ok "promtool check config accepts docker/prometheus.yml"
else
    cat "$tmp/promtool.log"
    bad "promtool check config accepts docker/prometheus.yml"
fi

# ---- 2. the build stage, on the files it copies ----
src=$tmp/src
mkdir -p "$src"
copied=()
while read -r what dest; do
    copied+=("$what")
    cp -a "$ROOT/$what" "$src/$dest"
done < <(sed -n '/^FROM .* AS build/,/^FROM /{s/^COPY \([^-][^ ]*\) \(.*\)$/\1 \2/p}' \
    "$DOCKER/Dockerfile")
if [ ${#copied[@]} -gt 0 ] &&
    make -C "$src" -s --no-print-directory NO_DEPS=1 -j2 all \
        >"$tmp/build.log" 2>&1 &&
    [ -x "$src/bin/celeriac-worker" ] && [ -x "$src/bin/celeriac" ]; then
    ok "the build stage builds both binaries from: ${copied[*]}"
else
    tail -20 "$tmp/build.log" 2>/dev/null || true
    bad "the build stage builds both binaries from: ${copied[*]}"
fi

# ---- 3. runtime packages cover the shared libraries ----
runtime=$(sed -n '/^FROM debian:bookworm-slim$/,$p' "$DOCKER/Dockerfile" |
    grep -o 'lib[a-z0-9][a-z0-9.+-]*' | sort -u | tr '\n' ' ')
runtime=${runtime% }
missing=
for b in "$src/bin/celeriac-worker" "$src/bin/celeriac"; do
    [ -x "$b" ] || continue
    for lib in $(ldd "$b" | awk '$3 ~ /^\// {print $3}'); do
        pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1) ||
            pkg=
        [ -n "$pkg" ] || pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)
        case "$pkg" in libc6 | "") continue ;; esac
        case " $runtime " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
    done
done
if [ -x "$src/bin/celeriac-worker" ] && [ -z "$missing" ]; then
    ok "the runtime stage installs every library package ($runtime)"
else
    bad "the runtime stage misses:${missing:- (no binaries to check)}"
fi

echo "check-compose: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
