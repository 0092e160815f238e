# SPDX-License-Identifier: MIT
"""The one table, the JSON file and the PNG plot of a bench run."""

import json
import os
import shutil
import subprocess

COLUMNS = [  # key, heading, width, format
    ("wl", "", 3, "{}"),
    ("system", "system", 10, "{}"),
    ("config", "config", 21, "{}"),
    ("enq", "enqueue/s", 10, "{:,.0f}"),
    ("e2e", "e2e/s", 9, "{:,.0f}"),
    ("drain", "drain/s", 9, "{:,.0f}"),
    ("mbs", "MB/s", 7, "{:,.0f}"),
    ("p50", "p50 ms", 7, "{:.3f}"),
    ("p99", "p99 ms", 7, "{:.3f}"),
    ("rss", "RSS MB", 10, "{}"),
    ("cpu", "CPU s/1k", 8, "{:.3f}"),
    ("other", "other", 5, "{:.2f}"),
    ("r_e2e", "c/e2e", 7, "{}"),
    ("r_drain", "c/drain", 7, "{}"),
]


def _ratio(a, b):
    if not a or not b:
        return None
    r = a / b
    return f"{r:.0%}" if r < 1 else f"{r:,.1f}x"


def _rows_for(wl, runs, ceil):
    """Table rows of one workload: celeriac, the ceilings, then the peers;
    ratios are celeriac's figure divided by the row's."""
    mine = [r for r in runs if r["workload"] == wl["key"]]
    c = next((r for r in mine if r["kind"] == "celeriac"), None)
    c_fig = _figures(wl, c) if c and not c.get("error") else {}
    rows = {"celeriac": [], "ceiling": [], "peer": []}
    for r in mine:
        row = {"wl": wl["key"], "system": r["system"], "config": r["config"]}
        if r.get("error"):
            row["config"] = "FAILED: " + r["error"][:80]
        else:
            row.update(_figures(wl, r))
        if r["kind"] != "celeriac" and not r.get("error"):
            a, b = ("p50", "p99") if wl["kind"] == "latency" \
                else ("e2e", "drain")
            row["r_e2e"] = _ratio(c_fig.get(a), row.get(a))
            row["r_drain"] = _ratio(c_fig.get(b), row.get(b))
        rows[r["kind"]].append(row)
    rows["ceiling"] += _ceiling_rows(wl, ceil, c_fig)
    return rows["celeriac"] + rows["ceiling"] + rows["peer"]


def _figures(wl, r):
    f = {}
    e2e, drain, lat = r.get("e2e"), r.get("drain"), r.get("latency")
    if r.get("enqueue"):
        f["enq"] = r["enqueue"]["tasks_per_s"]
    if e2e:
        f["e2e"] = e2e["tasks_per_s"]
    main = drain or e2e or lat
    if drain:
        f["drain"] = drain["tasks_per_s"]
        # Steady rate (first to last result), or the whole drain when it
        # was too short to tell.
        rate = drain.get("steady_tasks_per_s") or drain["tasks_per_s"]
        if wl["size"] > 1024 and rate:
            f["mbs"] = rate * wl["size"] / 1e6
    if lat:
        f["p50"], f["p99"] = lat["p50_ms"], lat["p99_ms"]
    if main:
        rss = f"{main['peak_rss_bytes'] / 1e6:.1f}"
        flat = (drain or {}).get("rss_flat")
        if wl["kind"] == "backlog" and flat:
            rss += " flat" if flat["flat"] else " grew"
        f["rss"] = rss
        f["cpu"] = (e2e or main)["worker_cpu_s_per_1k"]
        f["other"] = max(m.get("other_cores") or 0 for m in (e2e, drain, lat)
                         if m)
    if drain and drain.get("timeboxed"):
        f["note"] = f"{r['system']} {wl['key']}: drained " \
            f"{drain['done']:,} of {r['backlog_count']:,} queued tasks in " \
            f"{drain['seconds']:.0f} s (time-boxed)"
    return f


def _ceiling_rows(wl, ceil, c_fig):
    rows = []
    ossl = ceil.get("openssl", {})
    if wl["key"] == "W2":
        for p in (1, 2):
            o = ossl.get(f"{wl['size']}x{p}")
            if o:
                mbs = o["bytes_per_s"] / 1e6
                rows.append({"wl": wl["key"], "system": "openssl",
                             "config": f"speed sha512 x{p}",
                             "drain": o["bytes_per_s"] / wl["size"],
                             "mbs": mbs,
                             "r_drain": _ratio(c_fig.get("mbs"), mbs)})
    if wl["key"] == "W3":
        for p in (1, 2):
            o = ossl.get(f"64x{p}")
            if o:
                tps = o["digests_per_s"] / wl["iterations"]
                rows.append({"wl": wl["key"], "system": "openssl",
                             "config": f"speed sha512 x{p}", "drain": tps,
                             "r_e2e": _ratio(c_fig.get("e2e"), tps),
                             "r_drain": _ratio(c_fig.get("drain"), tps)})
    if wl["key"] == "W1":
        for name, rps in ceil.get("redis_benchmark", {}).items():
            rows.append({"wl": wl["key"], "system": "redis-bench",
                         "config": name.replace("_", " "), "enq": rps})
    return rows


def table(wls, runs, ceil):
    lines, notes, noise = [], [], 0.0
    head = " ".join(h.rjust(w) if i > 2 else h.ljust(w)
                    for i, (_, h, w, _) in enumerate(COLUMNS))
    lines += [head, "-" * len(head)]
    for wl in wls:
        for row in _rows_for(wl, runs, ceil):
            if row.get("note"):
                notes.append(row["note"])
                row["system"] += "*"
            noise = max(noise, row.get("other") or 0)
            cells = []
            for i, (k, _, w, fmt) in enumerate(COLUMNS):
                v = row.get(k)
                s = "-" if v is None else fmt.format(v)
                cells.append(s.ljust(w) if i <= 2 else s.rjust(w))
            lines.append(" ".join(cells))
        lines.append("")
    lines.append(
        "e2e: enqueue + drain with workers running; drain: from worker "
        "start with the queue full;\nMB/s: payload hashed per second while "
        "draining (first to last result); RSS: peak of all worker\n"
        "processes; CPU: worker CPU seconds per 1,000 tasks (end-to-end "
        "run); other: cores busy outside this\nbench during the run (other "
        "users of the machine: noise); c/e2e, c/drain: celeriac's figure "
        "divided\nby the row's (W4: celeriac's p50 and p99 divided by the "
        "row's).")
    lines += ["* " + n for n in notes]
    if noise > 0.5:
        lines.append(f"WARNING: other processes kept up to {noise:.1f} "
                     "cores busy during these runs (column other): the "
                     "figures\nare disturbed; rerun on a quiet machine, or "
                     "with --repeat 3.")
    return "\n".join(lines)


def write_json(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)


def plot(path, wls, runs):
    """Tasks/s per system and workload (end-to-end, or drain for W5), as a
    clustered histogram with a log scale.  Returns the PNG path or None."""
    if shutil.which("gnuplot") is None:
        return None
    keys = [w["key"] for w in wls if w["kind"] in ("throughput", "backlog")]
    systems = []
    for r in runs:
        if r["system"] not in systems and not r.get("error") and \
                r["workload"] in keys:
            systems.append(r["system"])
    if not systems:
        return None
    data = path[:-4] + ".dat"
    with open(data, "w") as f:
        f.write("workload " + " ".join(systems) + "\n")
        for k in keys:
            vals = []
            for s in systems:
                r = next((r for r in runs if r["workload"] == k and
                          r["system"] == s and not r.get("error")), None)
                m = r and (r.get("e2e") or r.get("drain"))
                vals.append(f"{m['tasks_per_s']:.1f}" if m else "NaN")
            f.write(k + " " + " ".join(vals) + "\n")
    script = f"""
set terminal pngcairo size 1100,620 font ",11"
set output '{path}'
set title 'Tasks per second, 2 worker processes, same Redis (end-to-end; W5: drain)'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set yrange [1:*]
set ylabel 'tasks/s (log)'
set grid ytics
set key outside right
plot for [i=2:{len(systems) + 1}] '{data}' using i:xtic(1) title columnheader(i)
"""
    r = subprocess.run(["gnuplot"], input=script, text=True,
                       capture_output=True)
    if r.returncode != 0 or not os.path.exists(path):
        return None
    return path
