# SPDX-License-Identifier: MIT
"""The five workloads and the payload rule every producer follows.

Task i hashes payload(i): its index as 10 decimal digits followed by the
first size-10 characters of the filler file (printable ASCII, the same for
every system), so any producer in any language can rebuild it and the bench
can check any result.  The task is SHA-512 applied `iterations` times, each
time to the raw digest of the previous round; the result is the hex digest.
"""

import hashlib
import random
import string
from dataclasses import dataclass

FILLER_SIZE = 256 * 1024
WARMUP_INDEX = 1_000_000_000  # ids of warm-up tasks start here


@dataclass
class Workload:
    key: str  # W1..W5
    title: str
    kind: str  # "throughput", "latency" or "backlog"
    count: int
    size: int = 64
    iterations: int = 1

    @property
    def payload_bytes(self):
        return self.count * self.size


def workloads(quick):
    """The workloads at full size, or cut down for --quick."""
    n = (lambda full, q: q if quick else full)
    return [
        Workload("W1", "small", "throughput", n(20_000, 2_000)),
        Workload("W2", "large 256 KiB", "throughput", n(1_000, 100),
                 size=256 * 1024),
        Workload("W3", "cpu 10k iterations", "throughput", n(2_000, 200),
                 iterations=10_000),
        Workload("W4", "latency", "latency", n(1_000, 200)),
        Workload("W5", "backlog", "backlog", n(1_000_000, 100_000)),
    ]


def write_filler(path):
    rnd = random.Random(4)
    alphabet = string.ascii_letters + string.digits
    with open(path, "w") as f:
        f.write("".join(rnd.choice(alphabet) for _ in range(FILLER_SIZE)))


def payload(filler, i, size):
    return f"{i:010d}"[-10:] + filler[: size - 10]


def task_id(i):
    return f"t{i}"


def index_of(tid):
    return int(tid[1:])


def digest(data, iterations=1):
    d = data.encode() if isinstance(data, str) else data
    for _ in range(iterations):
        d = hashlib.sha512(d).digest()
    return d.hex()


def sample(count, k=100, seed=7):
    """Indexes whose results every run checks: first, last, k random."""
    rnd = random.Random(seed)
    picks = set(rnd.sample(range(count), min(k, count)))
    return sorted(picks | {0, count - 1})
