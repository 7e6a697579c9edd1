"""Benchmark: read 5,000,000 rows of ``key:int,ts:int,value:float`` CSV with read_csv.

Not collected by pytest (no ``test_`` prefix). Run ``python tests/connectors/bench_csv_reader.py
[--rows N] [--batch-size B] [--repeat R]``; prints the file size and the best wall time of the
full read (parse + conversion to NumPy columns, every batch consumed) and the CPU time of
each run over all threads (useful when other jobs share the machine).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from connectors.files import read_csv
from connectors.schema import Schema

SCHEMA = Schema.from_dict({"columns": {"key": "int64", "ts": "timestamp", "value": "float64"},
                           "event_time": "ts", "key": "key"})


def make_file(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    key = rng.integers(0, 10_000, rows)
    ts = 1_600_000_000_000 + np.arange(rows) * 10 + rng.integers(0, 1_000, rows)
    value = rng.normal(size=rows).round(4)
    with open(path, "w") as f:
        f.write("key,ts,value\n")
        step = 1_000_000
        for s in range(0, rows, step):
            f.write("".join(f"{k},{t},{v!r}\n" for k, t, v in zip(
                key[s:s + step].tolist(), ts[s:s + step].tolist(), value[s:s + step].tolist(),
                strict=True)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--batch-size", type=int, default=65_536)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        make_file(path, args.rows)
        times, cpu = [], []
        for _ in range(args.repeat):
            c0 = time.process_time()
            t0 = time.perf_counter()
            n = dead = 0
            for b in read_csv(path, SCHEMA, batch_size=args.batch_size):
                n += b.num_rows
                dead += len(b.dead_letters)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        assert n == args.rows and dead == 0
        best = min(times)
        print(f"{args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB, batch {args.batch_size}: "
              f"best {best:.3f} s ({args.rows / best / 1e6:.2f} M rows/s); "
              f"all {[round(t, 3) for t in times]}; CPU time (all threads) "
              f"{[round(t, 3) for t in cpu]}")


if __name__ == "__main__":
    main()
