"""The whole windowing job as a process: read a CSV file, assign watermarks, window per key,
write the results as CSV. Used by bench_windows.py (b); also runnable by hand:

    python bench/window_job.py events.csv --kind tumbling --out results.csv

The three stages run as a pipeline: a reader thread parses CSV batches (the project's reader,
``connectors.files.read_csv``; Arrow parses without the GIL), the main thread windows them
(the Numba kernels release the GIL) and a writer thread formats and writes the result rows
(Arrow's CSV writer). The reader starts before the window package is imported, so parsing
overlaps the interpreter's start-up work (importing Numba and loading the compiled kernels).
Output is identical to running the stages one after the other.
"""

from __future__ import annotations

import argparse
import queue
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # bench_common; the repository's packages

import pyarrow as pa  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402

from connectors.files import read_csv  # noqa: E402
from connectors.schema import Schema  # noqa: E402

SCHEMA = Schema.from_dict(
    {
        "columns": {"key": "int64", "ts": "int64", "value": "float64"},
        "event_time": "ts",
        "key": "key",
    }
)
_END = object()


def _run_stage(target: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def body() -> None:
        try:
            target()
        except BaseException as exc:  # re-raised by the main thread
            errors.append(exc)

    th = threading.Thread(target=body, daemon=True)
    th.start()
    return th


def _drain(q: queue.Queue[Any], errors: list[BaseException]) -> Iterator[Any]:
    while True:
        item = q.get()
        if item is _END:
            if errors:
                raise errors[0]
            return
        yield item


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("csv")
    p.add_argument("--kind", default="tumbling", choices=["tumbling", "sliding", "session"])
    p.add_argument("--out", default="/dev/null")
    p.add_argument("--batch-size", type=int, default=250_000)
    a = p.parse_args()
    errors: list[BaseException] = []
    batches: queue.Queue[Any] = queue.Queue(maxsize=3)
    results: queue.Queue[Any] = queue.Queue(maxsize=3)

    def read() -> None:
        try:
            for batch in read_csv(a.csv, SCHEMA, batch_size=a.batch_size):
                batches.put(batch)
        finally:
            batches.put(_END)

    def write() -> None:
        with open(a.out, "wb") as sink:
            writer = None
            for res in _drain(results, errors):
                table = pa.table(res)
                if writer is None:
                    writer = pa_csv.CSVWriter(sink, table.schema)
                writer.write_table(table)
            if writer is not None:
                writer.close()

    reader = _run_stage(read, errors)
    writer = _run_stage(write, errors)

    # imported after the reader started: this loads Numba and the compiled kernels
    from bench_common import make_operator

    from windows import WatermarkStrategy

    strategy = WatermarkStrategy.for_bounded_out_of_orderness(5000).with_timestamp_assigner("ts")
    tracker = strategy.create_tracker()
    op = make_operator(a.kind)
    n = nres = dead = 0
    try:
        for batch in _drain(batches, errors):
            dead += len(batch.dead_letters)
            cols = batch.columns
            ts = strategy.extract_timestamps(cols)
            res = op.process(cols, ts, tracker.advance(ts)).results
            n += len(ts)
            if len(res["window_start"]):
                results.put(res)
                nres += len(res["window_start"])
        res = op.finish().results
        if len(res["window_start"]):
            results.put(res)
            nres += len(res["window_start"])
    finally:
        results.put(_END)
        writer.join()
    reader.join()  # (not after a failure: the reader may wait on the full queue)
    if errors:
        raise errors[0]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"JOB events={n} results={nres} dead_letters={dead} peak_rss_mb={rss:.0f} "
        f"t={time.process_time():.2f}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
