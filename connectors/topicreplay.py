"""``cep replay`` of a Kafka topic range: read each partition from a start to an end (offsets
or record timestamps), run the job's rules and windows, write deterministic output to files.

Each input partition gets its own operators and watermark tracker, as in the Kafka runtime
(keys follow partitioning), so the output depends only on the records in the range, never on
how polls cut them. Rules and windows keyed by something other than the message key (which
the Kafka runtime re-partitions, see :mod:`connectors.repartition`) run once over all
partitions after the range is read: the partitions are interleaved round-robin in chunks of
:data:`SHUFFLE_CHUNK` records (whatever the poll size), in topic/partition order, and the
watermark is the minimum of the partitions' watermarks, as the internal topic's markers give
it; so this output is deterministic too. The end of a partition is detected with
partition-EOF events, not with ``ListOffsets`` (which the test broker answers wrongly). A
replay commits nothing: it uses a fresh consumer group and reads with
``isolation.level=read_committed``.

Range bounds:

* an integer below 10^11 is an **offset** (start inclusive, end exclusive), applied to every
  partition;
* a larger integer is a **record timestamp** in epoch ms, and so is ISO-8601 text
  (``2024-05-01T10:00:00Z``); records whose Kafka timestamp is outside ``[start, end)`` are
  skipped (the partition is still read from its beginning to EOF).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from connectors.batches import DeadLetter
from connectors.errors import JobFileError
from connectors.jobfile import JobSpec
from connectors.kafkajob import kafka_connection, key_columns, message_key
from connectors.localrun import RunSummary, _DeadLetters, _SinkSet, write_sorted
from connectors.pipeline import Output, Pipeline

__all__ = ["Bound", "parse_bound", "replay_topic_range"]

_OFFSET_LIMIT = 10**11
#: Records per partition per round when re-partitioned operators replay (see above).
SHUFFLE_CHUNK = 4096


@dataclass(frozen=True)
class Bound:
    """One end of a replay range: an offset or a record timestamp (epoch ms)."""

    offset: int | None = None
    timestamp: int | None = None


def parse_bound(text: str | None, *, what: str) -> Bound | None:
    """Read ``--start``/``--end``: an offset, epoch ms, or ISO-8601 time.

    Raises
    ------
    JobFileError
        If the text is none of these.
    """
    if text is None:
        return None
    t = text.strip()
    if t.lstrip("-").isdigit():
        v = int(t)
        if v < 0:
            raise JobFileError(f"{what}: must not be negative")
        return Bound(offset=v) if v < _OFFSET_LIMIT else Bound(timestamp=v)
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise JobFileError(f"{what}: expected an offset, epoch milliseconds or an ISO-8601 "
                           f"time, got {text!r}") from None
    if dt.tzinfo is None:
        raise JobFileError(f"{what}: give the time zone of {text!r} (e.g. a trailing Z)")
    return Bound(timestamp=int(dt.timestamp() * 1000))


def replay_topic_range(job: JobSpec, *, start: Bound | None = None, end: Bound | None = None,
                       stdout: IO[bytes] | None = None, max_seconds: float = 600.0,
                       batch_size: int = 10_000) -> RunSummary:
    """Replay the job's Kafka topics over a range and write its sinks deterministically.

    Parameters
    ----------
    job : JobSpec
        A job with a ``[kafka]`` table (``bootstrap_servers``, ``topics``, ``settings``).
    start, end : Bound, optional
        Range bounds (see the module docstring); default: the whole topic up to its end.
    stdout : binary file, optional
        Where sinks with path ``-`` write.
    max_seconds : float
        Give up (with an error) if the partitions have not reached their ends by then.
    batch_size : int
        Messages per poll.

    Returns
    -------
    RunSummary

    Raises
    ------
    JobFileError
        If the job's ``[kafka]`` table lacks bootstrap servers or topics.
    KafkaJobError
        If the topics cannot be read or their ends are not reached in time.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    from connectors.errors import KafkaJobError
    from connectors.kafka_source import client_settings, decode_messages
    from windows import WatermarkStrategy

    bootstrap, topics, settings = kafka_connection(job)
    t0 = time.perf_counter()
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"{job.name}.replay-{uuid.uuid4().hex}",
        "enable.auto.commit": False, "enable.partition.eof": True,
        "isolation.level": "read_committed", "auto.offset.reset": "earliest",
        "fetch.queue.backoff.ms": 10, **client_settings(settings)})
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(job.max_out_of_orderness)
    pipelines: dict[tuple[str, int], tuple[Pipeline, Any]] = {}
    shuffled = _shuffled_pipeline(job)
    kept: dict[tuple[str, int], list[tuple[dict[str, Any], Any, Any]]] = {}
    summary = RunSummary()
    held: list[Output] = []
    dead = _DeadLetters(job.dead_letter_path)
    sinks = _SinkSet(job.sinks, stdout)
    try:
        assign = []
        for topic in topics:
            md = consumer.list_topics(topic, timeout=15).topics.get(topic)
            if md is None or md.error is not None or not md.partitions:
                raise KafkaJobError(f"topic {topic!r} not found on {bootstrap}")
            for p in sorted(md.partitions):
                off = start.offset if start is not None and start.offset is not None else \
                    OFFSET_BEGINNING
                assign.append(TopicPartition(topic, p, off))
        consumer.assign(assign)
        pending = {(tp.topic, tp.partition) for tp in assign}
        deadline = time.monotonic() + max_seconds
        while pending:
            if time.monotonic() > deadline:
                raise KafkaJobError(f"replay did not reach the end of {sorted(pending)} in "
                                    f"{max_seconds:.0f} s")
            data = []
            for msg in consumer.consume(batch_size, 0.5):
                tp = (msg.topic(), msg.partition())
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        pending.discard(tp)
                    elif err.fatal():
                        raise KafkaJobError(f"fatal consumer error: {err}")
                    continue
                if tp not in pending:
                    continue
                offset = int(msg.offset() or 0)  # data messages always have one
                if end is not None and end.offset is not None and offset >= end.offset:
                    pending.discard(tp)
                    continue
                ts: int = msg.timestamp()[1]
                if start is not None and start.timestamp is not None and ts < start.timestamp:
                    continue
                if end is not None and end.timestamp is not None and ts >= end.timestamp:
                    continue
                data.append(msg)
            for tp, b in decode_messages(data, job.schema).items():
                summary.dead_letters += dead.write(
                    DeadLetter(f"{d.topic}/{d.partition}", d.offset,
                               (d.value or b"").decode("utf-8", "replace"), d.reason)
                    for d in b.dead)
                if not b.num_rows:
                    continue
                if tp not in pipelines:
                    pipelines[tp] = (_direct_pipeline(job), strategy.create_tracker([0]))
                pipe, tracker = pipelines[tp]
                wms = tracker.advance(b.timestamps, processing_time=0)
                _count(summary, pipe.process(b.columns, b.timestamps, wms), held)
                if shuffled is not None:
                    kept.setdefault(tp, []).append((b.columns, b.timestamps, wms))
                summary.records += b.num_rows
        for pipe, _ in pipelines.values():
            _count(summary, pipe.finish(), held)
        if shuffled is not None:
            _run_shuffled(shuffled, kept, SHUFFLE_CHUNK, summary, held)
        write_sorted(held, sinks)
    finally:
        consumer.close()
        summary.files = sinks.close() + dead.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def _count(summary: RunSummary, outs: list[Output], held: list[Output]) -> None:
    for o in outs:
        summary.outputs[o.name] = summary.outputs.get(o.name, 0) + len(o)
        held.append(o)


def _split(job: JobSpec, shuffled: bool) -> Pipeline:
    pipe = Pipeline(job)
    key = message_key(job)
    pipe.rules = [r for r in pipe.rules if (key_columns(r) != key) == shuffled]
    pipe.windows = [w for w in pipe.windows if (key_columns(w) != key) == shuffled]
    return pipe


def _direct_pipeline(job: JobSpec) -> Pipeline:
    """The rules and windows keyed by the message key (one instance per partition)."""
    return _split(job, False)


def _shuffled_pipeline(job: JobSpec) -> Pipeline | None:
    """The rules and windows the Kafka runtime re-partitions (one instance over all
    partitions), or ``None`` when there are none."""
    pipe = _split(job, True)
    return pipe if pipe.rules or pipe.windows else None


def _run_shuffled(pipe: Pipeline, kept: dict[tuple[str, int], list[tuple[Any, Any, Any]]],
                  chunk: int, summary: RunSummary, held: list[Output]) -> None:
    """Feed the partitions' records round-robin in chunks; each chunk sees the minimum of
    the partitions' watermarks before it (what the internal topic's markers deliver)."""
    import numpy as np

    from windows.time import MIN_TIMESTAMP

    order = sorted(kept)
    data = {}
    for tp in order:
        parts = kept[tp]
        cols = {k: np.concatenate([c[k] for c, _, _ in parts]) for k in parts[0][0]}
        data[tp] = (cols, np.concatenate([t for _, t, _ in parts]),
                    np.concatenate([w for _, _, w in parts]))
    marks = dict.fromkeys(order, MIN_TIMESTAMP)
    pos = dict.fromkeys(order, 0)
    while any(pos[tp] < data[tp][1].shape[0] for tp in order):
        for tp in order:
            cols, ts, wms = data[tp]
            lo, hi = pos[tp], min(pos[tp] + chunk, ts.shape[0])
            if lo >= hi:
                continue
            merged = np.full(hi - lo, min(marks.values()), np.int64)
            _count(summary, pipe.process({k: v[lo:hi] for k, v in cols.items()}, ts[lo:hi],
                                         merged), held)
            marks[tp] = int(wms[hi - 1])
            pos[tp] = hi
    _count(summary, pipe.finish(), held)
