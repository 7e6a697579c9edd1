"""Window benchmark (issue: event-time windows). Run by hand:

    python bench/bench_windows.py [--events 5000000] [--reps 3] [--baseline-events 1000000]

5,000,000 synthetic events (10,000 keys, about one per ms, up to 5 s out of order, fixed seed);
per key: tumbling 1 min count+sum, sliding 5 min / 1 min, session with a 30 s gap; watermark
delay 5 s. Reports events/s (median of ``--reps`` runs, each in a fresh process) and peak RSS for
(a) the operator on columns already in memory (watermark tracking and key encoding included)
and (b) the whole job as a process reading a CSV file (interpreter start included; warm compile
cache, and one cold start with an empty cache), and the same windows in a straightforward
pure-Python per-event dict implementation as the baseline, measured in the same run.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # bench_common; the repository's packages

import numpy as np  # noqa: E402
from bench_common import make_operator, make_stream  # noqa: E402

KINDS = ("tumbling", "sliding", "session")
DELAY = 5000


# -- (a) the operator on in-memory columns
def child_operator(data: str, kind: str, batch: int) -> dict[str, float]:
    from windows import WatermarkStrategy

    d = np.load(data)
    cols = {k: d[k] for k in ("key", "ts", "value")}
    n = len(cols["ts"])
    op = make_operator(kind)
    tracker = WatermarkStrategy.for_bounded_out_of_orderness(DELAY).create_tracker()
    warm = make_operator(kind)  # load compiled kernels before timing
    warm.process(
        {k: v[:10] for k, v in cols.items()},
        cols["ts"][:10],
        WatermarkStrategy.for_bounded_out_of_orderness(DELAY)
        .create_tracker()
        .advance(cols["ts"][:10]),
    )
    t0 = time.perf_counter()
    nres = 0
    for i in range(0, n, batch):
        sl = {k: v[i : i + batch] for k, v in cols.items()}
        ts = sl["ts"]
        out = op.process(sl, ts, tracker.advance(ts))
        nres += out.num_results
    nres += op.finish().num_results
    dt = time.perf_counter() - t0
    return {
        "eps": n / dt,
        "results": nres,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# -- the baseline: plain Python, one event at a time
def baseline(kind: str, keys: list[int], ts: list[int], vals: list[float]) -> int:
    """Same semantics as the operator (watermark after each event, fire at end - 1,
    records behind a cleaned-up window are late). Returns the number of results."""
    size, slide, gap = {
        "tumbling": (60_000, 60_000, 0),
        "sliding": (300_000, 60_000, 0),
        "session": (0, 0, 30_000),
    }[kind]
    wm = -(2**63)
    max_ts = -(2**63)
    results: list[tuple[Any, ...]] = []
    timers: list[tuple[int, int, int, int]] = []  # (fire time, seq, key, start)
    seq = 0
    if kind != "session":
        windows: dict[tuple[int, int], list[float]] = {}
        for k, t, v in zip(keys, ts, vals, strict=True):
            start = t - t % slide
            while start > t - size:
                end = start + size
                if end - 1 > wm:
                    w = windows.get((k, start))
                    if w is None:
                        windows[(k, start)] = [1, v]
                        heapq.heappush(timers, (end - 1, seq, k, start))
                        seq += 1
                    else:
                        w[0] += 1
                        w[1] += v
                start -= slide
            if t > max_ts:
                max_ts = t
                if t - DELAY - 1 > wm:
                    wm = t - DELAY - 1
                    while timers and timers[0][0] <= wm:
                        _, _, k2, s2 = heapq.heappop(timers)
                        c, s = windows.pop((k2, s2))
                        results.append((k2, s2, s2 + size, c, s))
        while timers:
            _, _, k2, s2 = heapq.heappop(timers)
            c, s = windows.pop((k2, s2))
            results.append((k2, s2, s2 + size, c, s))
        return len(results)
    sessions: dict[int, list[list[Any]]] = {}
    for k, t, v in zip(keys, ts, vals, strict=True):
        lst = sessions.setdefault(k, [])
        lo, hi, c, s = t, t + gap, 1, v
        keep = []
        for w in lst:
            if w[0] <= t + gap and w[1] >= t:
                lo, hi = min(lo, int(w[0])), max(hi, int(w[1]))
                c, s = c + int(w[2]), s + w[3]
            else:
                keep.append(w)
        if hi - 1 > wm:
            keep.append([lo, hi, c, s])
            heapq.heappush(timers, (hi - 1, seq, k, lo))
            seq += 1
        sessions[k] = keep
        if t > max_ts:
            max_ts = t
            if t - DELAY - 1 > wm:
                wm = t - DELAY - 1
                while timers and timers[0][0] <= wm:
                    fire, _, k2, s2 = heapq.heappop(timers)
                    for w in sessions.get(k2, []):
                        if w[0] == s2 and w[1] - 1 == fire:
                            sessions[k2].remove(w)
                            results.append((k2, w[0], w[1], w[2], w[3]))
                            break
    for k2, lst in sessions.items():
        for w in lst:
            results.append((k2, w[0], w[1], w[2], w[3]))
    return len(results)


def child_baseline(data: str, kind: str, n: int) -> dict[str, float]:
    d = np.load(data)
    keys, ts, vals = (d[c][:n].tolist() for c in ("key", "ts", "value"))
    t0 = time.perf_counter()
    nres = baseline(kind, keys, ts, vals)
    dt = time.perf_counter() - t0
    return {
        "eps": n / dt,
        "results": nres,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# -- orchestration
def run_child(args: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_job(csv: Path, kind: str, cache: str) -> tuple[float, float]:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(HERE / "window_job.py"), str(csv), "--kind", kind],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    wall = time.perf_counter() - t0
    line = [x for x in out.stderr.splitlines() if x.startswith("JOB ")][-1]
    fields = dict(kv.split("=") for kv in line.split()[1:])
    return wall, float(fields["peak_rss_mb"])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=5_000_000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--baseline-events", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=1_000_000)
    p.add_argument("--child", choices=["operator", "baseline"])
    p.add_argument("--data")
    p.add_argument("--kind")
    a = p.parse_args()
    if a.child == "operator":
        print(json.dumps(child_operator(a.data, a.kind, a.batch)))
        return
    if a.child == "baseline":
        print(json.dumps(child_baseline(a.data, a.kind, a.baseline_events)))
        return

    import pyarrow as pa
    import pyarrow.csv as pa_csv

    tmp = Path(tempfile.mkdtemp(prefix="cepkit-bench-"))
    cols = make_stream(a.events)
    data = tmp / "stream.npz"
    np.savez(data, key=cols["key"], ts=cols["ts"], value=cols["value"])
    csv = tmp / "stream.csv"
    pa_csv.write_csv(pa.table(cols), csv)
    print(
        f"# {a.events:,} events, CSV {csv.stat().st_size / 1e6:.0f} MB; "
        f"baseline on the first {a.baseline_events:,} events; median of {a.reps}",
        flush=True,
    )
    rows = []
    for kind in KINDS:
        op = [
            run_child(
                [
                    "--child",
                    "operator",
                    "--data",
                    str(data),
                    "--kind",
                    kind,
                    "--batch",
                    str(a.batch),
                ]
            )
            for _ in range(a.reps)
        ]
        base = [
            run_child(
                [
                    "--child",
                    "baseline",
                    "--data",
                    str(data),
                    "--kind",
                    kind,
                    "--baseline-events",
                    str(a.baseline_events),
                ]
            )
            for _ in range(a.reps)
        ]
        cold_cache = tempfile.mkdtemp(prefix="nbcache-", dir=tmp)
        cold, _ = run_job(csv, kind, cold_cache)
        warm = [run_job(csv, kind, cold_cache) for _ in range(a.reps)]
        op_eps = statistics.median(r["eps"] for r in op)
        base_eps = statistics.median(r["eps"] for r in base)
        job_wall = statistics.median(w for w, _ in warm)
        rows.append(
            (
                kind,
                op_eps,
                max(r["rss_mb"] for r in op),
                base_eps,
                max(r["rss_mb"] for r in base),
                op_eps / base_eps,
                a.events / job_wall,
                max(r for _, r in warm),
                a.events / cold,
                int(op[0]["results"]),
            )
        )
        print(
            f"{kind}: operator {op_eps / 1e6:.2f} M/s, baseline {base_eps / 1e6:.3f} M/s "
            f"(x{op_eps / base_eps:.1f}), job warm {a.events / job_wall / 1e6:.2f} M/s, "
            f"cold {a.events / cold / 1e6:.2f} M/s",
            flush=True,
        )
    print()
    print(
        "| windows | (a) operator events/s | (a) peak RSS | baseline events/s | baseline "
        "peak RSS | ratio | (b) job events/s, warm | (b) peak RSS | (b) job events/s, cold "
        "| results |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kind, ope, opr, be, br, ratio, jw, jr, jc, nres in rows:
        print(
            f"| {kind} | {ope / 1e6:.2f} M | {opr:.0f} MB | {be / 1e6:.3f} M | {br:.0f} MB | "
            f"{ratio:.1f}x | {jw / 1e6:.2f} M | {jr:.0f} MB | {jc / 1e6:.2f} M | {nres:,} |"
        )


if __name__ == "__main__":
    main()
