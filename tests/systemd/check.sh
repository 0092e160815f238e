#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs inside the container of tests/systemd/run.sh (Debian 12, systemd as
# PID 1, this clone in the working directory, owned by "user"), as root:
#  1. the ```sh blocks of README.md between <!-- tour-install: begin -->
#     and <!-- tour-install: end -->, as one bash script, as written, as
#     "user", who has sudo;
#  2. checks what they printed (digests against sha512sum), that both
#     workers started, logged to the journal and stopped warm (status 0);
#  3. starts the workers again and checks the unit's sandbox for real: an
#     unprivileged transient user, no capabilities, no new privileges, a
#     seccomp filter, a read-only system and no home directories in the
#     worker's own mount namespace, a private /tmp, the file limit;
#  4. `systemctl stop` with a task in hand: the task finishes (its digest
#     checked), the worker exits 0;
#  5. Restart=: a worker killed with SIGKILL is started again; one whose
#     configuration is bad (exit 78) is not.
# Prints "systemd-test: ok ..." lines; exits 1 at the first failure.
# A && B || fail: fail exits, so that is what is meant; $(...) in single
# quotes is for the bash -c that runs it.
# shellcheck disable=SC2015,SC2016
set -euo pipefail

say() { printf 'systemd-test: [%3ds] %s\n' "$SECONDS" "$*"; }
fail() { say "FAILED: $*"; exit 1; }
out=$(mktemp -d)

# until_ok SECONDS WHAT COMMAND...: runs COMMAND every 0.2 s until it
# succeeds; fails naming WHAT after SECONDS.
until_ok() {
    local limit=$1 what=$2 i
    shift 2
    for ((i = 0; i < limit * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    fail "$what (not after $limit s)"
}
prop() { systemctl show -P "$2" "celeriac-worker@$1"; }

# ---- 1. the README's section, as written ----
awk '
    /^<!-- tour-install: begin -->$/ {on = 1; next}
    /^<!-- tour-install: end -->$/ {on = 0}
    on && /^```sh$/ {block = 1; next}
    on && block && /^```$/ {block = 0; next}
    on && block {print}
' README.md >"$out/section.sh"
[ -s "$out/section.sh" ] ||
    fail "README.md has no \`\`\`sh blocks between <!-- tour-install: begin --> and <!-- tour-install: end -->"
say "running README.md's tour-install section ($(wc -l <"$out/section.sh") lines)"
chmod 755 "$out"
if ! runuser -u user -- bash -euo pipefail "$out/section.sh" >"$out/stdout" 2>"$out/stderr"; then
    tail -40 "$out/stdout" "$out/stderr"
    fail "the README's section failed"
fi

# ---- 2. what it printed ----
want=$(printf systemd | sha512sum | cut -d' ' -f1)
python3 - "$out/stdout" "$want" <<'EOF' || fail "no SUCCESS result with the digest of 'systemd'"
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
sys.exit(not any(d.get("status") == "SUCCESS" and
                 d["result"]["digest"] == sys.argv[2] for d in docs))
EOF
line=$(sha512sum /etc/os-release)
[ "$(grep -cxF "$line" "$out/stdout")" -eq 2 ] ||
    fail "celeriac hash /etc/os-release did not print what sha512sum prints: $line"
for name in one two; do
    grep -q "celeriac-worker\[[0-9]*\]: .*celeriac-worker $name: " "$out/stdout" ||
        fail "the journal shown has no start line of worker $name"
    [ "$(prop $name Result)" = success ] && [ "$(prop $name ExecMainStatus)" = 0 ] ||
        fail "worker $name did not stop with status 0 (Result=$(prop $name Result), status $(prop $name ExecMainStatus))"
    [ "$(systemctl is-enabled celeriac-worker@$name || true)" = disabled ] ||
        fail "celeriac-worker@$name is still enabled"
    journalctl -u "celeriac-worker@$name" -o cat | grep -q 'warm shutdown' ||
        fail "worker $name did not log a warm shutdown"
done
say "ok: the section ran; result and hash match sha512sum; both workers logged to the journal and stopped warm (status 0)"

# ---- 3. the sandbox, for real ----
systemctl start celeriac-worker@one celeriac-worker@two
until_ok 30 "workers one and two alive again" \
    bash -c 'celeriac status --alive one && celeriac status --alive two'
for name in one two; do
    for p in DynamicUser=yes ProtectSystem=strict ProtectHome=yes \
        PrivateTmp=yes PrivateDevices=yes NoNewPrivileges=yes \
        MemoryDenyWriteExecute=yes RestrictNamespaces=yes \
        'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
        CapabilityBoundingSet= KillMode=mixed Restart=on-failure; do
        got=$(prop $name "${p%%=*}")
        [ "$got" = "${p#*=}" ] || fail "celeriac-worker@$name: ${p%%=*}=$got, the unit says ${p#*=}"
    done
    pid=$(prop $name MainPID)
    uid=$(awk '/^Uid:/ {print $2}' /proc/"$pid"/status)
    gid=$(awk '/^Gid:/ {print $2}' /proc/"$pid"/status)
    [ "$uid" -ne 0 ] || fail "worker $name runs as root"
    for c in "$pid" $(pgrep -P "$pid"); do
        grep -qx $'CapEff:\t0000000000000000' /proc/"$c"/status &&
            grep -qx $'CapBnd:\t0000000000000000' /proc/"$c"/status &&
            grep -qx $'NoNewPrivs:\t1' /proc/"$c"/status &&
            grep -qx $'Seccomp:\t2' /proc/"$c"/status ||
            fail "process $c of worker $name: $(grep -E '^(Cap(Eff|Bnd)|NoNewPrivs|Seccomp):' /proc/"$c"/status | tr '\n\t' '  ')"
    done
    # The worker's mount namespace: even root cannot write the system
    # there (ProtectSystem=strict: read-only mounts, not just permissions),
    # home directories are empty and closed (ProtectHome=yes), and its
    # /tmp is its own (PrivateTmp=yes).
    in_ns() { nsenter -t "$pid" -m -- "$@"; }
    for f in /usr/local/bin/x /etc/celeriac/x /var/lib/x /srv/x /x; do
        in_ns sh -c "echo > $f" 2>"$out/err" && fail "root can write $f in worker $name's namespace"
        grep -q 'Read-only file system' "$out/err" || fail "writing $f in worker $name's namespace: $(cat "$out/err")"
    done
    for d in /home /root; do
        [ "$(in_ns stat -c %a "$d")" = 0 ] && [ -z "$(in_ns ls -A "$d")" ] ||
            fail "$d is open in worker $name's namespace"
    done
    as_worker() { nsenter -t "$pid" -m -S "$uid" -G "$gid" -- "$@"; }
    ! as_worker ls /home/ >/dev/null 2>&1 || fail "worker $name can list /home"
    as_worker sh -c "echo $name > /tmp/celeriac-$name" ||
        fail "worker $name cannot write its /tmp"
    [ ! -e "/tmp/celeriac-$name" ] || fail "worker $name's /tmp is not private"
    # LimitNOFILE=65536, or what systemd could give (its own hard limit in
    # a container without CAP_SYS_RESOURCE).
    max=$(awk '/^Max open files/ {print $5}' /proc/1/limits)
    [ "$max" = unlimited ] || [ "$max" -gt 65536 ] && max=65536
    got=$(awk '/^Max open files/ {print $4}' /proc/"$pid"/limits)
    [ "$got" = "$max" ] || fail "worker $name may open $got files, not $max"
done
say "ok: both workers run as uid $uid (DynamicUser), no capabilities, NoNewPrivs, seccomp; system read-only, /home and /root closed, private /tmp; open files $max"

# ---- 4. a warm stop with a task in hand ----
systemctl stop celeriac-worker@two
rounds=4000000
id=$(celeriac send hash --arg data=warm --arg algorithm=sha256 --arg iterations:=$rounds)
until_ok 30 "worker one taking the task" \
    bash -c '[ "$(redis-cli XPENDING celeriac:queue:default celeriac | head -1)" = 1 ]'
systemctl stop celeriac-worker@one
[ "$(prop one ExecMainStatus)" = 0 ] || fail "worker one stopped with status $(prop one ExecMainStatus)"
want=$(python3 -c '
import hashlib, sys
d = b"warm"
for _ in range(int(sys.argv[1])):
    d = hashlib.sha256(d).digest()
print(d.hex())' $rounds)
celeriac result --json "$id" >"$out/warm.json" || fail "no result for $id after the warm stop: $(cat "$out/warm.json")"
grep -q "\"digest\":\"$want\"" "$out/warm.json" || fail "the held task's result is wrong: $(cat "$out/warm.json")"
journalctl -u celeriac-worker@one -o cat | grep -q 'finishing 1 in hand' ||
    fail "worker one did not say it finishes the task in hand"
say "ok: systemctl stop with a task in hand: it finished (digest checked), status 0"

# ---- 5. Restart= ----
systemctl start celeriac-worker@one
until_ok 30 "worker one alive" celeriac status --alive one
pid=$(prop one MainPID)
kill -KILL "$pid"
until_ok 30 "systemd restarting worker one after SIGKILL" \
    bash -c "[ \"\$(systemctl show -P NRestarts celeriac-worker@one)\" = 1 ] &&
             [ \"\$(systemctl show -P ActiveState celeriac-worker@one)\" = active ] &&
             [ \"\$(systemctl show -P MainPID celeriac-worker@one)\" != $pid ]"
until_ok 30 "the restarted worker one alive" celeriac status --alive one
printf 'no-such-option = 1\n' >/etc/celeriac/bad.conf
systemctl start celeriac-worker@bad
until_ok 30 "celeriac-worker@bad failing" bash -c \
    '[ "$(systemctl show -P ActiveState celeriac-worker@bad)" = failed ]'
[ "$(prop bad ExecMainStatus)" = 78 ] || fail "a bad configuration exited $(prop bad ExecMainStatus), not 78"
# No event tells that something did not happen: wait past RestartSec=2.
sleep 3
[ "$(prop bad NRestarts)" = 0 ] && [ "$(prop bad ActiveState)" = failed ] ||
    fail "a worker that exited 78 was restarted"
say "ok: a worker killed with SIGKILL was restarted (pid $pid -> $(prop one MainPID)); exit 78 was not"

systemctl stop celeriac-worker@one
rm -f /etc/celeriac/bad.conf
systemctl reset-failed
say "all checks passed"
