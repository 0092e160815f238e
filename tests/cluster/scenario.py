#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The compose cluster run for real and broken (tests/cluster/README.md).

Run by tests/cluster/run.sh once a Docker engine and the images are there:
`up --build` with three workers; 20,000 hash tasks sent by the producer
container in paced batches; while they run: `docker kill` one worker,
disconnect another from the network for twice the visibility timeout,
restart Redis (append-only file on), roll every worker (`up -d
--force-recreate --no-deps worker`), scale to five.  Then every task must
have exactly its digest (computed here), nothing may be left pending,
scheduled or dead, and the figures are printed: tasks redelivered, time
to recover from each break, the run's length.  Prometheus (the compose
file's prometheus service) must then have every live worker as an `up`
target and report for each exactly the tasks it says it succeeded.

Every wait is on an event (Redis state, container health), bounded by a
generous timeout that only catches hangs; the one fixed wait is the
partition itself, which lasts twice the visibility timeout by design."""

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import redis

ROOT = os.environ.get("CLUSTER_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
COMPOSE = ["docker-compose", "-f", ROOT + "/docker/docker-compose.yml",
           "-f", ROOT + "/tests/cluster/compose.cluster.yml"]
PROJECT = os.environ.get("COMPOSE_PROJECT_NAME", "celeriac-cluster")
NETWORK = PROJECT + "_default"
QUEUE = "celeriac:queue:default"
GROUP = "celeriac"
RESULT = "celeriac:result:"
VISIBILITY = 10       # --visibility-timeout in compose.cluster.yml
ITERATIONS = 100      # sha256 rounds per task: cheap, yet a real digest
# One task in HEAVY_EVERY is ballast of about 0.2 s of a core, so that the
# workers hold tasks when they are broken; there are HEAVY_KINDS distinct
# ones, so that checking their digests here stays cheap.
HEAVY_EVERY = 50
HEAVY_ITERATIONS = 700000
HEAVY_KINDS = 8
T0 = time.monotonic()


def log(msg):
    print("[%6.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


def run(argv, timeout=600, check=True, quiet=False):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("%s exited %d:\n%s%s" % (
            " ".join(argv), p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p.stdout


def compose(*args, timeout=900):
    return run(COMPOSE + list(args), timeout=timeout)


def wait_until(pred, timeout, what, interval=0.2):
    """Polls pred until true; its exceptions count as false.  Returns the
    seconds waited."""
    t = time.monotonic()
    last = None
    while time.monotonic() - t < timeout:
        try:
            if pred():
                return time.monotonic() - t
        except (redis.RedisError, RuntimeError, OSError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError("timed out after %ds waiting for %s (last error: %s)"
                         % (timeout, what, last))


# ---- containers ----

def containers(service):
    out = run(["docker", "ps", "-q", "--no-trunc",
               "--filter", "label=com.docker.compose.project=" + PROJECT,
               "--filter", "label=com.docker.compose.service=" + service,
               "--filter", "label=com.docker.compose.oneoff=False"])
    return sorted(out.split())


def inspect(cid):
    return json.loads(run(["docker", "inspect", cid]))[0]


def consumer(cid):
    """The worker's consumer name: <hostname>:<pid>, the entrypoint being
    pid 1 in its container."""
    return inspect(cid)["Config"]["Hostname"] + ":1"


def healthy(cids):
    return all(inspect(c)["State"].get("Health", {}).get("Status") ==
               "healthy" for c in cids)


class Redis:
    """A client that finds the Redis container's address again after it
    restarted."""

    def __init__(self):
        self.client = None

    def __call__(self):
        if self.client is None:
            cid = containers("redis")[0]
            nets = inspect(cid)["NetworkSettings"]["Networks"]
            ip = nets[NETWORK]["IPAddress"]
            self.client = redis.Redis(host=ip, port=6379, socket_timeout=10,
                                      socket_connect_timeout=5)
        return self.client

    def call(self, fn):
        try:
            return fn(self())
        except (redis.ConnectionError, redis.TimeoutError):
            self.client = None
            raise


R = Redis()


def results_count():
    return R.call(lambda r: sum(1 for _ in r.scan_iter(match=RESULT + "*",
                                                       count=5000)))


def pending_of(name):
    def get(r):
        try:
            info = r.xpending(QUEUE, GROUP)
        except redis.ResponseError:
            return 0
        for c in info.get("consumers") or []:
            n = c["name"]
            if (n.decode() if isinstance(n, bytes) else n) == name:
                return int(c["pending"])
        return 0
    return R.call(get)


def holding(name, timeout=120):
    """Waits (bounded) until the worker holds tasks; how many it held."""
    try:
        wait_until(lambda: pending_of(name) > 0, timeout,
                   "%s to hold tasks" % name)
    except AssertionError as e:
        log("(%s; breaking it anyway)" % e)
    return pending_of(name)


def record(name):
    return R.call(lambda r: r.hgetall("celeriac:worker:" + name))


def flowing(since):
    """Results are being stored again: more of them than `since`."""
    return results_count() > since


# ---- Prometheus ----

def address(cid):
    return inspect(cid)["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]


def prom_query(expr):
    """The result vector of an instant query to the prometheus service's
    HTTP API (from the host, by its address on the project's network)."""
    url = "http://%s:9090/api/v1/query?%s" % (
        address(containers("prometheus")[0]),
        urllib.parse.urlencode({"query": expr}))
    with urllib.request.urlopen(url, timeout=10) as f:
        doc = json.load(f)
    if doc.get("status") != "success":
        raise RuntimeError("Prometheus refused %r: %s" % (expr, doc))
    return doc["data"]["result"]


def by_instance(expr):
    return {v["metric"].get("instance"): float(v["value"][1])
            for v in prom_query(expr)}


def check_prometheus(live):
    """Every live worker is an up target, found through Docker's DNS, and
    Prometheus's celeriac_tasks_total{outcome="succeeded"} of each equals
    the "succeeded" count of its heartbeat record: both count the same
    attempts, one scraped over HTTP, one written to Redis.  (Counters
    start again with each container, so only the live workers' figures
    can be exact; the killed and rolled ones took theirs with them.)
    Then every query of docker/grafana-dashboard.json is evaluated."""
    targets = {address(c) + ":9808": consumer(c) for c in live}
    t = time.monotonic()
    seen = {}

    def all_up():
        seen.clear()
        seen.update(by_instance('up{job="celeriac"}'))
        return seen == {i: 1.0 for i in targets}
    try:
        wait_until(all_up, 120, "Prometheus to scrape the %d live workers"
                   % len(targets), interval=1)
    except AssertionError:
        raise AssertionError("Prometheus up targets %s, live workers %s"
                             % (seen, sorted(targets)))
    t_up = time.monotonic() - t
    want = {}

    def counts_match():
        # The heartbeat is written every second, a scrape every 5 s: both
        # settle once the workers are idle.
        want.clear()
        for inst, name in targets.items():
            want[inst] = float(record(name).get(b"succeeded", b"-1"))
        seen.clear()
        seen.update(by_instance('sum by (instance) (celeriac_tasks_total'
                                '{job="celeriac",outcome="succeeded"})'))
        return seen == want
    try:
        wait_until(counts_match, 120, "Prometheus's task counts to match",
                   interval=1)
    except AssertionError:
        raise AssertionError("celeriac_tasks_total{outcome=\"succeeded\"} "
                             "in Prometheus %s, in the heartbeat records %s"
                             % (seen, want))
    total = sum(want.values())
    got = prom_query('sum(celeriac_tasks_total{outcome="succeeded"})')
    assert got and float(got[0]["value"][1]) == total, got
    with open(ROOT + "/docker/grafana-dashboard.json") as f:
        exprs = [t["expr"] for panel in json.load(f)["panels"]
                 for t in panel.get("targets", []) if "expr" in t]
    empty = [e for e in exprs if not prom_query(e)]
    assert not empty, "dashboard queries without data: %s" % empty
    return int(total), len(exprs), t_up


# ---- tasks ----

def heavy(i):
    return i % HEAVY_EVERY == HEAVY_EVERY - 1


def task_data(i):
    if heavy(i):
        return "cluster ballast %d" % (i % HEAVY_KINDS)
    return "cluster task %05d" % i


def iterations(i):
    return HEAVY_ITERATIONS if heavy(i) else ITERATIONS


_expected = {}


def expected(i):
    key = (task_data(i), iterations(i))
    if key not in _expected:
        out = key[0].encode()
        for _ in range(key[1]):
            out = hashlib.sha256(out).digest()
        _expected[key] = out.hex()
    return _expected[key]


def write_batches(d, n, per, pace):
    os.chmod(d, 0o755)
    for p in range(0, n, per):
        with open(os.path.join(d, "part-%05d.jsonl" % (p // per)), "w") as f:
            for i in range(p, min(n, p + per)):
                f.write(json.dumps({"task": "hash", "id": "c%05d" % i,
                                    "args": {"data": task_data(i),
                                             "algorithm": "sha256",
                                             "iterations": iterations(i)}})
                        + "\n")
    with open(ROOT + "/tests/cluster/produce.sh") as src, \
            open(os.path.join(d, "produce.sh"), "w") as dst:
        dst.write(src.read())
    for name in os.listdir(d):
        os.chmod(os.path.join(d, name), 0o644)


# ---- the run ----

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=500,
                    help="tasks per batch the producer sends")
    ap.add_argument("--pace", type=float, default=3,
                    help="seconds between two batches")
    args = ap.parse_args()
    # SIGTERM (CI's time limit) unwinds like ctrl-C: the producer is
    # stopped and the logs shown; run.sh then removes everything.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    figures = []
    tasks_dir = tempfile.mkdtemp(prefix="celeriac-cluster-tasks-")
    os.environ["CLUSTER_TASKS"] = tasks_dir
    producer = None
    ok = False
    try:
        write_batches(tasks_dir, args.tasks, args.batch, args.pace)

        # The producer first, before anything was built or started: `run`
        # builds the image and starts Redis and a healthy worker.  An image
        # left by an earlier run is untagged first (its layers stay, as
        # build cache), so that this run's sources are what runs.
        run(["docker", "rmi", "--no-prune", "celeriac:latest"], check=False)
        t = time.monotonic()
        log("docker-compose run --rm producer hash /etc/os-release, first")
        out = compose("run", "--rm", "-T", "--entrypoint", "celeriac",
                      "producer", "hash", "/etc/os-release")
        line = out.strip().splitlines()[-1] if out.strip() else ""
        assert line.endswith("  /etc/os-release") and \
            len(line.split()[0]) == 128, "producer printed %r" % out
        figures.append(("producer first (build, Redis, a worker)",
                        time.monotonic() - t))
        # Its result is not one of the tasks counted below.
        R.call(lambda r: [r.delete(k) for k in
                          list(r.scan_iter(match=RESULT + "*"))])

        t = time.monotonic()
        log("docker-compose up -d --build --scale worker=3")
        compose("up", "-d", "--build", "--scale", "worker=3")
        workers = containers("worker")
        assert len(workers) == 3, workers
        wait_until(lambda: healthy(workers + containers("redis")), 300,
                   "Redis and three healthy workers")
        figures.append(("up --build, three healthy workers",
                        time.monotonic() - t))
        log("cluster up: %d workers healthy" % len(workers))
        cpus = os.cpu_count() or 1
        for c in workers:
            conc = record(consumer(c)).get(b"concurrency")
            assert conc == b"1", ("worker %s (cpus: 1) has concurrency %r"
                                  % (consumer(c), conc))
        log("each worker (cpus: 1) defaults to concurrency 1 of %d cores"
            % cpus)

        log("producer: %d tasks in batches of %d, %gs apart"
            % (args.tasks, args.batch, args.pace))
        plog = open(os.path.join(tasks_dir, "producer.log"), "w")
        producer = subprocess.Popen(
            COMPOSE + ["run", "--rm", "-T", "--no-deps",
                       "-e", "CLUSTER_PACE=%g" % args.pace, "producer"],
            stdout=plog, stderr=subprocess.STDOUT)
        wait_until(lambda: results_count() >= min(1000, args.tasks // 4),
                   300, "the first results")

        def outstanding():
            return args.tasks - results_count()

        # 1. docker kill one worker.
        a = workers[0]
        name_a = consumer(a)
        held = holding(name_a)
        left = outstanding()
        log("break 1: docker kill %s (holds %d, %d tasks to go)"
            % (name_a, held, left))
        t = time.monotonic()
        run(["docker", "kill", a])
        held = pending_of(name_a)  # what it held when it died
        wait_until(lambda: pending_of(name_a) == 0, 6 * VISIBILITY + 60,
                   "the killed worker's tasks to be taken over")
        figures.append(("kill: its %d tasks taken over" % held,
                        time.monotonic() - t))

        # 2. Partition another worker for twice the visibility timeout,
        # cut while it holds tasks (cheap tasks may all be acknowledged
        # between the look and the cut: then it is joined and cut again).
        b = workers[1]
        name_b = consumer(b)
        for attempt in range(5):
            holding(name_b)
            t = time.monotonic()
            run(["docker", "network", "disconnect", NETWORK, b])
            held = pending_of(name_b)
            if held > 0 or attempt == 4:
                break
            run(["docker", "network", "connect", NETWORK, b])
            log("the worker had acknowledged its tasks before the cut; "
                "again")
        log("break 2: network disconnect %s for %ds (holds %d, %d to go)"
            % (name_b, 2 * VISIBILITY, held, outstanding()))
        try:
            wait_until(lambda: pending_of(name_b) == 0, 2 * VISIBILITY + 60,
                       "the partitioned worker's tasks taken over")
            taken = time.monotonic() - t
            time.sleep(max(0.0, 2 * VISIBILITY - (time.monotonic() - t)))
        finally:
            run(["docker", "network", "connect", NETWORK, b])
        figures.append(("partition: its %d tasks taken over" % held, taken))
        t = time.monotonic()
        since = results_count()
        wait_until(lambda: record(name_b).get(b"state") == b"running",
                   120, "the partitioned worker back in Redis")
        wait_until(lambda: flowing(since), 120, "results after the partition")
        figures.append(("partition: worker back after reconnect",
                        time.monotonic() - t))

        # 3. Restart Redis (append-only file on).
        before = results_count()
        log("break 3: restart Redis (%d results stored, %d to go)"
            % (before, args.tasks - before))
        t = time.monotonic()
        compose("restart", "redis")
        R.client = None
        wait_until(lambda: R.call(lambda r: r.ping()), 120, "Redis back")
        after = results_count()
        assert after >= before, ("results lost in the Redis restart: %d "
                                 "before, %d after" % (before, after))
        wait_until(lambda: flowing(after), 120, "results after the restart")
        live = [c for c in containers("worker")]
        wait_until(lambda: all(record(consumer(c)).get(b"state") ==
                               b"running" for c in live), 120,
                   "every worker registered again")
        figures.append(("Redis restart: results flowing, workers back",
                        time.monotonic() - t))

        # 4. Roll every worker.
        log("break 4: up -d --force-recreate --no-deps worker (%d to go)"
            % outstanding())
        t = time.monotonic()
        since = results_count()
        compose("up", "-d", "--force-recreate", "--no-deps",
                "--scale", "worker=3", "worker")
        workers = containers("worker")
        assert len(workers) == 3, workers
        wait_until(lambda: healthy(workers), 300, "the rolled workers healthy")
        wait_until(lambda: flowing(since), 120, "results after the roll")
        figures.append(("roll: three new workers healthy",
                        time.monotonic() - t))

        # 5. Scale to five.
        log("break 5: scale to five workers (%d to go)" % outstanding())
        t = time.monotonic()
        compose("up", "-d", "--no-deps", "--scale", "worker=5", "worker")
        workers = containers("worker")
        assert len(workers) == 5, workers
        wait_until(lambda: healthy(workers), 300, "five healthy workers")
        figures.append(("scale to five: all healthy", time.monotonic() - t))
        left_after_breaks = outstanding()

        # The end: the producer done, every result in.
        log("waiting for the producer and the last results")
        rc = producer.wait(timeout=1800)
        plog.close()
        assert rc == 0, "producer exited %d:\n%s" % (
            rc, open(os.path.join(tasks_dir, "producer.log")).read()[-3000:])
        wait_until(lambda: results_count() >= args.tasks, 900,
                   "all %d results" % args.tasks, interval=1)
        wait_until(lambda: R.call(lambda r: r.xpending(QUEUE, GROUP)
                                  ["pending"] == 0 and r.xlen(QUEUE) == 0),
                   6 * VISIBILITY + 60, "nothing pending in the queue")
        elapsed = time.monotonic() - T0

        # Check every digest.
        r = R()
        keys = ["%sc%05d" % (RESULT, i) for i in range(args.tasks)]
        bad, missing, redelivered, workers_seen = [], 0, 0, set()
        for k in range(0, len(keys), 2000):
            for i, raw in zip(range(k, k + 2000),
                              r.mget(keys[k:k + 2000])):
                if raw is None:
                    missing += 1
                    continue
                doc = json.loads(raw)
                workers_seen.add(doc.get("worker"))
                if doc.get("attempts", 1) > 1:
                    redelivered += 1
                if (doc.get("status") != "SUCCESS" or
                        doc["result"]["digest"] != expected(i)):
                    bad.append((i, doc))
        extra = results_count() - (args.tasks - missing)
        dead = r.xlen("celeriac:dead") if r.exists("celeriac:dead") else 0
        scheduled = r.zcard("celeriac:scheduled")
        pending = r.xpending(QUEUE, GROUP)["pending"]
        dups = 0
        for c in containers("worker"):
            dups += int(record(consumer(c)).get(b"duplicates", b"0"))

        print("\n==== cluster-test figures ====")
        print("tasks                       %d" % args.tasks)
        print("results (SUCCESS, digest ok) %d" % (args.tasks - missing -
                                                   len(bad)))
        print("missing                     %d" % missing)
        print("wrong                       %d" % len(bad))
        print("other result keys          %d" % extra)
        print("pending / scheduled / dead  %d / %d / %d"
              % (pending, scheduled, dead))
        print("redelivered (attempts > 1)  %d" % redelivered)
        print("duplicates seen by the five live workers %d" % dups)
        print("workers that stored results %d" % len(workers_seen))
        print("still to do after the last break %d" % left_after_breaks)
        for what, secs in figures:
            print("%-45s %6.1f s" % (what, secs))
        print("whole scenario              %6.1f s" % elapsed)
        for i, doc in bad[:5]:
            print("wrong result for task %d: %s" % (i, json.dumps(doc)[:500]))
        assert not missing and not bad and not extra, "tasks lost or wrong"
        assert pending == 0 and scheduled == 0 and dead == 0, \
            "tasks left pending, scheduled or dead"
        live = containers("worker")
        live_names = {consumer(c) for c in live}
        stored_by_live = sum(1 for i in range(0, len(keys), 2000)
                             for raw in r.mget(keys[i:i + 2000])
                             if raw is not None and
                             json.loads(raw).get("worker") in live_names)
        scraped, queries, t_up = check_prometheus(live)
        print("Prometheus: the %d live workers up as targets (after %.1f "
              "s), %d tasks succeeded there as their heartbeat records say "
              "(%d results stored by them); %d dashboard queries answered"
              % (len(live), t_up, scraped, stored_by_live, queries))
        assert stored_by_live <= scraped, \
            "results stored by the live workers outnumber what they counted"
        print("cluster-test: passed: %d tasks, none lost, wrong or left; %d "
              "redelivered; %.0f s" % (args.tasks, redelivered, elapsed))
        ok = True
    finally:
        if producer is not None and producer.poll() is None:
            producer.kill()
            producer.wait()
        if not ok:
            try:
                print("---- producer ----")
                print(open(os.path.join(tasks_dir, "producer.log"))
                      .read()[-3000:])
                print("---- docker-compose logs (tail) ----")
                print(run(COMPOSE + ["logs", "--no-color", "--tail", "40"],
                          check=False, timeout=120)[-20000:])
            except Exception as e:  # the logs are a courtesy
                print("(no logs: %s)" % e)
        subprocess.run(["rm", "-rf", tasks_dir])
    return 0


if __name__ == "__main__":
    sys.exit(main())
