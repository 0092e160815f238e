# SPDX-License-Identifier: MIT
"""Defaults against tuned: celeriac at its default settings and at tuned
ones, in the same minutes (issue 10's target: the defaults within 10% of
the best tuned setting on every workload).

    bench/run.py --defaults-vs-tuned --workloads W1,W4 --repeat 5

Each round runs every configuration once on each workload, the defaults
first in even rounds and last in odd ones (the machine is shared: a burst
of someone else's work then lands on both sides alike); each figure is
the median over the rounds, and "tuned" is the best median among the
tuned configurations (--tuned).  Beside each figure: the other cores busy
during those runs (median and highest), as in the main table.  The
fairness row (fairness.py) runs each configuration the same way.
"""

import statistics

import fairness
from procs import BenchError
from systems.celeriac import Celeriac

# The tuned setting the sweep found best before the adaptive window
# (docs/PERFORMANCE.md): a fixed window of 512 tasks.
TUNED = "prefetch=512,window=fixed"
FAIRNESS = {
    "mixed": "2,400 tasks of ~0.1 ms and 8 of ~2 s, two workers of one "
             "child connected first",
    "late": "16 tasks of ~0.5 s each followed by 20 of ~0.1 ms, queued "
            "first; the second worker starts 1 s after the first's first "
            "result",
}


def parse_configs(text):
    """"prefetch=512,window=fixed;prefetch=128" -> list of dicts."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        cfg = {}
        for kv in part.split(","):
            k, _, v = kv.partition("=")
            if not v:
                raise SystemExit(f"--tuned: '{kv}' is not KEY=VALUE; e.g. "
                                 f"--tuned '{TUNED};prefetch=128'")
            cfg[k.strip()] = int(v) if v.strip().isdigit() else v.strip()
        out.append(cfg)
    return out


def _name(s):
    return s.label if s.cfg else "defaults"


def _figures(rec):
    """{figure: (value, higher is better)} of one run."""
    f = {}
    for k in ("e2e", "drain"):
        if rec.get(k):
            f[f"{k}/s"] = (rec[k]["tasks_per_s"], True)
    if rec.get("latency"):
        f["p50 ms"] = (rec["latency"]["p50_ms"], False)
        f["p99 ms"] = (rec["latency"]["p99_ms"], False)
    return f


def _other(rec):
    return max((rec[k].get("other_cores") or 0) for k in
               ("e2e", "drain", "latency") if rec.get(k))


def run(ctx, wls, repeat, tuned, run_one, say, with_fairness=True):
    """Alternated rounds on every workload of wls, then the fairness
    row; returns (document for the JSON, errors, table text)."""
    cfgs = [{}] + tuned
    systems = [Celeriac(ctx, **c) for c in cfgs]
    doc = {"repeat": repeat, "configs": [_name(s) for s in systems],
           "workloads": {}, "fairness": {}}
    errors = []
    rows = []
    for wl in wls:
        say(f"{wl.key} {wl.title}: defaults vs tuned, {repeat} rounds")
        recs = {_name(s): [] for s in systems}
        try:
            for i in range(repeat):
                order = systems if i % 2 == 0 else systems[::-1]
                for s in order:
                    rec = run_one(ctx, s, wl)
                    recs[_name(s)].append(rec)
                    figs = "  ".join(f"{k} {v:,.3f}" if not up else
                                     f"{k} {v:,.0f}" for k, (v, up) in
                                     _figures(rec).items())
                    say(f"  round {i + 1} {_name(s):<26} {figs}  other "
                        f"{_other(rec):.2f}")
        except BenchError as e:
            errors.append(str(e))
            say(f"  {wl.key}: FAILED {e}")
            continue
        doc["workloads"][wl.key] = recs
        rows += _rows(wl, systems, recs)
    for scenario in FAIRNESS if with_fairness else ():
        say(f"fairness, {scenario}: {FAIRNESS[scenario]}, {repeat} rounds")
        recs = {_name(s): [] for s in systems}
        try:
            for i in range(repeat):
                order = systems if i % 2 == 0 else systems[::-1]
                for s in order:
                    rec = fairness.run_once(ctx, s, f"{scenario}{i}",
                                            scenario)
                    recs[_name(s)].append(rec)
                    say(f"  round {i + 1} {_name(s):<26} {fairness.line(rec)}")
        except BenchError as e:
            errors.append(str(e))
            say(f"  fairness: FAILED {e}")
        else:
            doc["fairness"][scenario] = recs
            rows += _fair_rows(systems, recs, scenario)
    return doc, errors, _table(rows, repeat, systems)


def _rows(wl, systems, recs):
    default = _name(systems[0])
    med = {}
    for label, rs in recs.items():
        for fig in _figures(rs[0]):
            vals = [_figures(r)[fig][0] for r in rs]
            med.setdefault(fig, {})[label] = statistics.median(vals)
    other = {label: [_other(r) for r in rs] for label, rs in recs.items()}
    rows = []
    for fig, by in med.items():
        up = _figures(recs[default][0])[fig][1]
        tuned = [(v, lab) for lab, v in by.items() if lab != default]
        best_v, best_lab = (max if up else min)(tuned)
        d = by[default]
        ratio = d / best_v if up else best_v / d
        all_other = [x for lab in other for x in other[lab]]
        rows.append((wl.key, fig, d, best_v, best_lab, ratio, up,
                     statistics.median(all_other), max(all_other)))
    return rows


def _fair_rows(systems, recs, scenario):
    rows = []
    for s in systems:
        rs = recs[_name(s)]
        over = statistics.median(r["over_ideal_in_longest"] for r in rs)
        ms = statistics.median(r["makespan_s"] for r in rs)
        ideal = statistics.median(r["ideal_s"] for r in rs)
        longest = statistics.median(r["longest_s"] for r in rs)
        worst = max(r["over_ideal_in_longest"] for r in rs)
        rows.append(("fair", f"{scenario}: {_name(s)}", ms, ideal, longest,
                     over, worst))
    return rows


def _table(rows, repeat, systems):
    out = [f"defaults vs tuned: celeriac, medians of {repeat} alternated "
           "rounds; tuned = the best median of: " +
           "; ".join(s.label for s in systems[1:]),
           f"{'':3} {'figure':<8} {'defaults':>10} {'tuned':>10} "
           f"{'tuned config':<26} {'ratio':>6} {'other':>10}",
           "-" * 79]
    for r in rows:
        if r[0] == "fair":
            continue
        wl, fig, d, t, lab, ratio, up, om, ox = r
        fmt = "{:,.0f}" if up else "{:.3f}"
        out.append(f"{wl:3} {fig:<8} {fmt.format(d):>10} "
                   f"{fmt.format(t):>10} {lab:<26} {ratio:>6.0%} "
                   f"{om:>4.2f}/{ox:<5.2f}")
    fair = [r for r in rows if r[0] == "fair"]
    if fair:
        out += ["", "fairness: makespan on two workers of one child "
                "(target: <= ideal + one longest task)",
                f"{'scenario: config':<33} {'makespan':>9} {'ideal':>7} "
                f"{'longest':>8} {'over ideal, in longest tasks':>30}"]
        for _, lab, ms, ideal, longest, over, worst in fair:
            out.append(f"{lab:<33} {ms:>8.2f}s {ideal:>6.2f}s "
                       f"{longest:>7.2f}s {over:>13.2f} (worst {worst:.2f})")
    out += ["", "ratio: defaults / tuned (latency: tuned / defaults), 100% "
            "= as good as tuned; other: cores busy\noutside this bench "
            "during the runs, median/highest (noise)."]
    return "\n".join(out)
