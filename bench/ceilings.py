# SPDX-License-Identifier: MIT
"""Ceilings measured in the same run: what OpenSSL alone hashes with one
and with two processes (`openssl speed -evp sha512`), and what Redis alone
does with redis-benchmark.  The raw-Redis client is a System (raw.py)."""

import csv
import io
import subprocess

from procs import BenchError

# The size of a celeriac task message for W1 (no quotes or commas, which
# redis-benchmark --csv does not escape).
MSG_120 = "v1 task hash id t12345 args data 0000012345" + "x" * 78


def openssl_speed(size, processes, seconds):
    """Bytes per second SHA-512 hashes at this block size, all processes."""
    cmd = ["openssl", "speed", "-mr", "-seconds", str(seconds),
           "-bytes", str(size)]
    if processes > 1:
        cmd += ["-multi", str(processes)]
    cmd += ["-evp", "sha512"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    # -mr prints "+F:<n>:sha512:<bytes/s>"; with -multi the children's lines
    # come prefixed with "Got: " and the last bare +F line is the total.
    totals = [line for line in out.stdout.splitlines()
              if line.startswith("+F:")]
    if out.returncode != 0 or not totals:
        raise BenchError(f"openssl speed failed: {out.stderr.strip()}")
    return float(totals[-1].rsplit(":", 1)[1])


def redis_benchmark(redis, args, requests, pipeline, clients=50):
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(redis.port),
           "-n", str(requests), "-P", str(pipeline), "-c", str(clients),
           "--csv", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    if out.returncode != 0 or not rows:
        raise BenchError(f"redis-benchmark failed: {out.stderr.strip()}")
    redis.flush()
    return float(rows[-1]["rps"])


def openssl_ceilings(size, quick, log=print):
    """OpenSSL's SHA-512 at this block size with 1 and 2 processes, keyed
    "<size>x<processes>".  A ceiling is a capacity: the best of a few
    tries, so that a burst of someone else's work on the machine does not
    lower it."""
    secs = 1 if quick else 2
    tries = 1 if quick else 3
    out = {}
    for procs in (1, 2):
        bps = max(openssl_speed(size, procs, secs) for _ in range(tries))
        out[f"{size}x{procs}"] = {
            "size": size, "processes": procs, "bytes_per_s": bps,
            "digests_per_s": bps / size}
        log(f"  openssl speed sha512 {size:>6} B x{procs}: "
            f"{bps / 1e6:8.1f} MB/s  {bps / size:12,.0f} digests/s")
    return out


def measure(redis, quick, log=print):
    n = 200_000 if quick else 1_000_000
    out = {"openssl": {}, "redis_benchmark": {}}
    tries = 1 if quick else 3
    for size in (64, 256 * 1024):
        out["openssl"].update(openssl_ceilings(size, quick, log))
    xadd = ["XADD", "bench:stream", "*", "msg", MSG_120]
    for name, args, pipe, count in (
            ("xadd_pipelined_64", xadd, 64, n),
            ("set_pipelined_64", ["SET", "bench:key", "v" * 300], 64, n),
            ("xadd_unpipelined", xadd, 1, n // 5)):
        rps = max(redis_benchmark(redis, args, count, pipe)
                  for _ in range(tries))
        out["redis_benchmark"][name] = rps
        log(f"  redis-benchmark {name:<18}: {rps:12,.0f} ops/s")
    return out
