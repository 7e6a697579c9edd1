"""The whole windowing job as a process: read a CSV file, assign watermarks, window per key,
write the results as CSV. Used by bench_windows.py (b); also runnable by hand:

    python bench/window_job.py events.csv --kind tumbling --out results.csv
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
from bench_common import make_operator

from connectors.files import read_csv
from connectors.schema import Schema
from windows import WatermarkStrategy

SCHEMA = Schema.from_dict(
    {
        "columns": {"key": "int64", "ts": "int64", "value": "float64"},
        "event_time": "ts",
        "key": "key",
    }
)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("csv")
    p.add_argument("--kind", default="tumbling", choices=["tumbling", "sliding", "session"])
    p.add_argument("--out", default="/dev/null")
    p.add_argument("--batch-size", type=int, default=1_000_000)
    a = p.parse_args()
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(5000).with_timestamp_assigner("ts")
    tracker = strategy.create_tracker()
    op = make_operator(a.kind)
    n = 0
    nres = 0
    dead = 0
    with open(a.out, "wb") as sink:
        writer = None
        for batch in read_csv(a.csv, SCHEMA, batch_size=a.batch_size):
            dead += len(batch.dead_letters)
            cols = batch.columns
            ts = strategy.extract_timestamps(cols)
            out = op.process(cols, ts, tracker.advance(ts))
            n += len(ts)
            for res in (out.results,):
                if len(res["window_start"]):
                    table = pa.table(res)
                    if writer is None:
                        writer = pa_csv.CSVWriter(sink, table.schema)
                    writer.write_table(table)
                    nres += len(res["window_start"])
        res = op.finish().results
        nres += len(res["window_start"])
        if writer is not None and len(res["window_start"]):
            writer.write_table(pa.table(res))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"JOB events={n} results={nres} dead_letters={dead} peak_rss_mb={rss:.0f} "
        f"t={time.process_time():.2f}",
        file=sys.stderr,
    )
    np.asarray(0)


if __name__ == "__main__":
    main()
