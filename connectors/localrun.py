"""Run a job over a file: read, watermark, run every rule and window, write sinks.

This is what ``cep run`` does for a file source and what ``cep replay`` does at full speed.
Two output modes:

* streaming (``cep run``): outputs are written as they are produced, batch by batch;
* deterministic (``cep replay``): outputs are held and written at the end, ordered by the event
  time at which each row was produced, then output name, then the row's text. The same input
  then gives byte-identical output whatever the batch size (the rows themselves never depend
  on batching; their order otherwise would).

Records that do not fit the schema go to the dead-letter file with the reason; the run
continues. Records late for an operator are the output ``"<operator>.late"``; they are counted
in the summary even when no sink takes them.

The input is parsed by a background thread a few batches ahead of the operators (Arrow's parser
and the Numba kernels release the GIL, so both cores work). The thread starts before the
operators are built, so reading the first batches overlaps importing Numba, compiling the rules
and loading the compiled kernels. Batches are consumed in file order, so results are the same.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from connectors.batches import Batch, DeadLetter
from connectors.files import read_file
from connectors.filesinks import (
    CsvSink,
    DeadLetterWriter,
    JsonLinesSink,
    format_csv,
    format_json_lines,
)
from connectors.jobfile import JobSpec, SinkSpec
from windows.time import MIN_TIMESTAMP

if TYPE_CHECKING:  # imported by run_local once the reader runs (they load Numba)
    from connectors.pipeline import Output

#: rows parsed ahead of the operators (bounded to keep peak memory flat), in 2 to 16 batches
_READ_AHEAD_ROWS = 1_000_000

__all__ = ["RunSummary", "run_local"]


@dataclass
class RunSummary:
    """What a run did.

    Attributes
    ----------
    records : int
        Records that fitted the schema and were processed.
    dead_letters : int
        Records written to the dead-letter file.
    outputs : dict of str to int
        Rows per output (rule matches, window results, ``<operator>.late``).
    seconds : float
        Wall-clock time of the run.
    watermark : int
        Last watermark before the end of input (epoch ms).
    files : list of str
        Files written.
    """

    records: int = 0
    dead_letters: int = 0
    outputs: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    watermark: int = MIN_TIMESTAMP
    files: list[str] = field(default_factory=list)

    @property
    def events_per_second(self) -> float:
        """Records per wall-clock second."""
        return self.records / self.seconds if self.seconds > 0 else 0.0


class _DeadLetters:
    """The dead-letter file, created with its folder on the first dead letter."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._writer: DeadLetterWriter | None = None

    def write(self, letters: Iterable[DeadLetter]) -> int:
        letters = list(letters)
        if not letters:
            return 0
        if self._writer is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._writer = DeadLetterWriter(self.path)
        return self._writer.write(letters)

    def close(self) -> list[str]:
        """Close the file; the files written (none if there was no dead letter)."""
        if self._writer is None:
            return []
        self._writer.close()
        return [self.path]


def _selects(spec: SinkSpec, name: str) -> bool:
    late = name.endswith(".late")
    if spec.outputs is None:
        return not late
    if "*" in spec.outputs:
        return True
    return name in spec.outputs or (late and "late" in spec.outputs)


class _SinkSet:
    """The job's sinks, created lazily (a file appears only when something is written)."""

    def __init__(self, specs: Iterable[SinkSpec], stdout: IO[bytes] | None) -> None:
        self.specs = list(specs)
        self._stdout = stdout
        self._open: dict[str, JsonLinesSink | CsvSink] = {}

    def _sink(self, spec: SinkSpec, name: str) -> JsonLinesSink | CsvSink:
        path = spec.path.replace("{output}", name)
        sink = self._open.get(path)
        if sink is None:
            if path == "-":
                target: Any = self._stdout if self._stdout is not None else sys.stdout.buffer
            else:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                target = path
            sink = CsvSink(target) if spec.format == "csv" else JsonLinesSink(target)
            self._open[path] = sink
        return sink

    def write(self, name: str, columns: dict[str, np.ndarray]) -> None:
        n = next(iter(columns.values())).shape[0]
        for spec in self.specs:
            if _selects(spec, name):
                cols = columns
                if spec.format == "jsonl":
                    cols = {"output": np.full(n, name, dtype=object), **columns}
                self._sink(spec, name).write(cols)

    def write_lines(self, spec: SinkSpec, name: str, data: bytes) -> None:
        sink = self._sink(spec, name)
        sink._write(data)  # pre-formatted, ordered rows (same package)

    def close(self) -> list[str]:
        for s in self._open.values():
            s.close()
        return [p for p in self._open if p != "-"]


def _format_sorted(outputs: list[Output], spec: SinkSpec) -> Iterator[tuple[str, bytes]]:
    """Deterministic mode: rows of the outputs a sink takes, ordered, as (file name, data)."""
    chosen = [o for o in outputs if _selects(spec, o.name)]
    if spec.format == "jsonl":
        keyed: dict[str, list[tuple[int, str, bytes]]] = {}
        for o in chosen:
            n = len(o)
            cols = {"output": np.full(n, o.name, dtype=object), **o.columns}
            lines = format_json_lines(cols).splitlines(keepends=True)
            target = spec.path.replace("{output}", o.name)
            keyed.setdefault(target, []).extend(
                zip(o.order.tolist(), [o.name] * n, lines, strict=True))
        for target, rows in keyed.items():
            rows.sort()
            yield target, b"".join(r[2] for r in rows)
        return
    by_name: dict[str, list[Output]] = {}
    for o in chosen:
        by_name.setdefault(o.name, []).append(o)
    for name, parts in by_name.items():
        cols = {k: np.concatenate([p.columns[k] for p in parts]) for k in parts[0].columns}
        order = np.concatenate([p.order for p in parts])
        lines = format_csv(cols, header=False).splitlines(keepends=True)
        idx = sorted(range(len(lines)), key=lambda i: (order[i], lines[i]))
        header = format_csv({k: v[:0] for k, v in cols.items()}, header=True)
        yield spec.path.replace("{output}", name), header + b"".join(lines[i] for i in idx)


def run_local(spec: JobSpec, *, input_path: str | Path | None = None,
              batch_size: int | None = None, deterministic: bool = False,
              progress: Callable[[RunSummary, int], None] | None = None,
              stdout: IO[bytes] | None = None) -> RunSummary:
    """Run a job over its file source (or ``input_path``) to the end.

    Parameters
    ----------
    spec : JobSpec
        The job.
    input_path : str or Path, optional
        Read this file instead of the job's source (same schema).
    batch_size : int, optional
        Records per micro-batch (default: the job's ``batch_size``).
    deterministic : bool
        Hold outputs and write them ordered at the end (see the module docstring).
    progress : callable, optional
        Called after every batch with the running summary and the current watermark.
    stdout : binary file, optional
        Where sinks with ``path = "-"`` write (default ``sys.stdout.buffer``).

    Returns
    -------
    RunSummary

    Raises
    ------
    cep.sql.RuleError, JobFileError
        If a rule or window definition is invalid (before any record is processed).
    SourceFormatError, DatasetUnavailableError
        If the input cannot be read at all.
    """
    t0 = time.perf_counter()
    size = batch_size or spec.batch_size
    reader: _ReadAhead | None = None
    early: Exception | None = None

    def start() -> _ReadAhead:
        path = Path(input_path) if input_path is not None else spec.source.resolve()
        return _ReadAhead(read_file(path, spec.schema, format=spec.source.format,
                                    batch_size=size, **spec.source.options),
                          min(16, max(2, _READ_AHEAD_ROWS // size)))

    if input_path is not None or spec.source.path is not None:
        try:  # start reading before the operators are built (that imports Numba)
            reader = start()
        except Exception as exc:  # reported after the job's own errors, as before
            early = exc
    try:
        from connectors.pipeline import Pipeline
        from windows import WatermarkStrategy

        pipeline = Pipeline(spec)
        if early is not None:
            raise early
        if reader is None:  # a data set: fetched (if needed) once the job is known valid
            reader = start()
        return _run_batches(spec, pipeline, WatermarkStrategy, reader, t0, deterministic,
                            progress, stdout)
    finally:
        if reader is not None:
            reader.close()


def _run_batches(spec: JobSpec, pipeline: Any, strategy_type: Any, batches: Iterable[Batch],
                 t0: float, deterministic: bool,
                 progress: Callable[[RunSummary, int], None] | None,
                 stdout: IO[bytes] | None) -> RunSummary:
    """The loop of :func:`run_local`: watermarks, operators and sinks, batch by batch."""
    strategy = strategy_type.for_bounded_out_of_orderness(spec.max_out_of_orderness)
    tracker = strategy.create_tracker()
    assert spec.schema.event_time is not None
    ev_col = spec.schema.event_time
    summary = RunSummary(outputs={n: 0 for n in pipeline.output_names})
    sinks = _SinkSet(spec.sinks, stdout)
    dead = _DeadLetters(spec.dead_letter_path)
    held: list[Output] = []

    def emit(outs: list[Output]) -> None:
        for o in outs:
            summary.outputs[o.name] = summary.outputs.get(o.name, 0) + len(o)
            if deterministic:
                held.append(o)
            else:
                sinks.write(o.name, o.columns)

    try:
        for batch in batches:
            summary.dead_letters += dead.write(batch.dead_letters)
            n = batch.num_rows
            if n == 0:
                continue
            ts = batch.columns[ev_col]
            wms = tracker.advance(ts, processing_time=0)
            emit(pipeline.process(batch.columns, ts, wms))
            summary.records += n
            summary.watermark = int(wms[-1])
            if progress is not None:
                summary.seconds = time.perf_counter() - t0
                progress(summary, summary.watermark)
        emit(pipeline.finish())
        if deterministic:
            write_sorted(held, sinks)
    finally:
        summary.files = sinks.close() + dead.close()
    summary.seconds = time.perf_counter() - t0
    return summary


class _ReadAhead:
    """Batches parsed by a background thread, at most ``depth`` ahead of the consumer.

    Iterating yields the batches in order; an exception raised while reading is re-raised
    by the iteration at the point where the failing batch would have come. :meth:`close`
    stops the thread (it parses at most one more batch) and closes the source.
    """

    def __init__(self, batches: Iterator[Batch], depth: int) -> None:
        self._batches = batches
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="cep-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for batch in self._batches:
                if not self._put(("batch", batch)):
                    return
        except BaseException as exc:  # handed to the consumer
            self._put(("error", exc))
        else:
            self._put(("end", None))

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Batch]:
        while True:
            kind, value = self._queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    def close(self) -> None:
        """Stop the reader thread and close the source."""
        self._stop.set()
        self._thread.join()
        close = getattr(self._batches, "close", None)
        if close is not None:
            close()


def write_sorted(outputs: list[Output], sinks: _SinkSet) -> None:
    """Deterministic mode: write held outputs to every sink, ordered by the event time at which
    each row was produced, then output name, then the row's text."""
    for s in sinks.specs:
        for target, data in _format_sorted(outputs, s):
            sinks.write_lines(s, _output_of(s, target), data)


def _output_of(spec: SinkSpec, target: str) -> str:
    """The output name a per-output target path was made from (or any name otherwise)."""
    if "{output}" not in spec.path:
        return ""
    pre, post = spec.path.split("{output}", 1)
    return target[len(pre):len(target) - len(post)]
