"""The Kafka job loop: source -> per-partition watermarks -> operators -> sinks, with barrier
checkpoints that commit outputs, operator state and source offsets in one Kafka transaction.

Design (see ``docs/kafka.md``): keys follow Kafka partitioning, so every input partition gets
its own operator instances and its own :class:`~windows.watermarks.WatermarkTracker`. A
partition's results then depend only on that partition's records, in offset order: the same
whichever worker owns it, however polls cut the input, and after any crash. The state of a
partition moves with the partition when the group rebalances.

Checkpoint, every ``checkpoint_interval`` (or ``checkpoint_records``), numbered as in the code:

1. Barrier: stop polling; every record polled so far has been processed and its outputs
   (results, late records, dead letters) handed to the open transaction.
2. For each partition that consumed records since the last checkpoint, snapshot the
   partition's state (operators, watermark tracker, next offset) and produce it to the
   partition's checkpoint-topic partition, inside the same transaction.
3. Flush, to learn the offset of each snapshot's last record.
4. ``send_offsets_to_transaction``: the next source offset of each such partition AND, for
   each snapshot, the checkpoint-topic offset just past it (the pointer).
5. ``commit_transaction``. On an abortable error: abort, restore every owned partition from
   its last committed state and seek it back to its committed offset.

Recovery (on assignment): read the group's committed offsets of the new partitions and of
their checkpoint-topic partitions; read the snapshot just before the pointer; restore it and
seek the source to the offset recorded in it. On revocation the worker checkpoints first.
At-least-once: the same sequence without a transaction; offsets are committed with
``commit()`` after the outputs and snapshots are flushed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from confluent_kafka import KafkaException, TopicPartition

from connectors._jobstate import JobStats, PartitionState, operator_streams
from connectors.broker import create_topics
from connectors.checkpoint import CheckpointReader, CheckpointTopic, encode_chunks
from connectors.errors import CheckpointError, KafkaJobError
from connectors.kafka_sink import KafkaSink, KafkaSinkConfig, OutputSpec
from connectors.kafka_source import (
    TP,
    KafkaSource,
    KafkaSourceConfig,
    PartitionBatch,
    client_settings,
)
from connectors.schema import Schema
from windows.time import Duration, now_ms, to_millis
from windows.watermarks import WatermarkStrategy

__all__ = ["CheckpointStats", "Guarantee", "JobStats", "KafkaJob", "KafkaJobConfig",
           "Operator", "OperatorSpec", "run_job"]

Guarantee = Literal["exactly-once", "at-least-once"]


class Operator(Protocol):
    """What the runtime needs from an operator (``WindowOperator`` and ``CepOperator``
    satisfy it): ``process(columns, timestamps, watermarks, processing_time)`` returning an
    output with named streams, ``finish()``, ``snapshot()`` (plain data or bytes) and
    ``restore(state)``."""

    def process(self, columns: Mapping[str, np.ndarray], timestamps: Any = ...,
                watermarks: Any = ..., processing_time: int | None = ...) -> Any: ...

    def finish(self) -> Any: ...

    def snapshot(self) -> Any: ...

    def restore(self, state: Any) -> None: ...


@dataclass(frozen=True)
class OperatorSpec:
    """One operator of a job: how to build it and where its output streams go.

    Parameters
    ----------
    name : str
        Unique within the job (the operator's state is stored under it).
    factory : callable
        ``factory() -> Operator``; called once per input partition.
    outputs : mapping of str to OutputSpec
        Stream name -> target. Window operators emit ``"results"`` and ``"late"``; CEP
        operators ``"matches"``, ``"timeouts"`` and ``"late"``. A non-empty stream without a
        target stops the job (never a silent drop).
    """

    name: str
    factory: Callable[[], Operator]
    outputs: Mapping[str, OutputSpec]


@dataclass(frozen=True)
class KafkaJobConfig:
    """Everything a Kafka job needs (the ``cep run`` job file maps onto this).

    Parameters
    ----------
    bootstrap : str
        ``host:port[,...]`` of the Kafka cluster.
    job_id : str
        Names the consumer group, the checkpoint topic (``<job_id>.checkpoints``), the
        dead-letter topic (``<job_id>.dead-letters``) and the transactional id
        (``<job_id>-<worker_id>``).
    topics : tuple of str
        Input topics (JSON values decoded with ``schema``).
    schema : Schema
    operators : tuple of OperatorSpec
        Each sees every decoded record of its partition.
    watermarks : WatermarkStrategy
        Per-partition watermarks. Without a timestamp assigner the event time is the schema's
        ``event_time`` field, or else the record timestamp.
    guarantee : {"exactly-once", "at-least-once"}
    checkpoint_interval : timedelta or int ms
        Time between checkpoints.
    checkpoint_records : int, optional
        Also checkpoint after this many input records.
    worker_id : str
        Distinct per worker process of the job, and stable across its restarts (a restarted
        worker aborts the transaction its previous incarnation left open).
    settings : mapping of str to str
        librdkafka settings for every client (security), merged with ``CEPKIT_KAFKA_*``.
    max_batch : int
        Messages per poll.
    stop_at_eof : bool
        Stop when every assigned partition is at its end (bounded runs, replays).
    finish_at_eof : bool
        With ``stop_at_eof``: end the input for the operators (fire all windows).
    backpressure : tuple of float
        Pause the partitions when the producer queue is fuller than the first share, resume
        below the second.
    """

    bootstrap: str
    job_id: str
    topics: tuple[str, ...]
    schema: Schema
    operators: tuple[OperatorSpec, ...]
    watermarks: WatermarkStrategy = field(
        default_factory=lambda: WatermarkStrategy.for_bounded_out_of_orderness(0))
    guarantee: Guarantee = "exactly-once"
    checkpoint_interval: Duration = 1000
    checkpoint_records: int | None = None
    dead_letter_topic: str | None = None
    checkpoint_topic: str | None = None
    worker_id: str = "0"
    settings: Mapping[str, str] = field(default_factory=dict)
    max_batch: int = 10_000
    assignment: str = "cooperative-sticky"
    stop_at_eof: bool = False
    finish_at_eof: bool = False
    backpressure: tuple[float, float] = (0.8, 0.3)

    def __post_init__(self) -> None:
        if self.guarantee not in ("exactly-once", "at-least-once"):
            raise ValueError(f"guarantee must be 'exactly-once' or 'at-least-once', "
                             f"got {self.guarantee!r}")
        names = [o.name for o in self.operators]
        if not names or len(set(names)) != len(names):
            raise ValueError("a job needs operators with unique names")
        to_millis(self.checkpoint_interval, name="checkpoint_interval", allow_zero=False)

    @property
    def dead_letters(self) -> str:
        """The dead-letter topic."""
        return self.dead_letter_topic or f"{self.job_id}.dead-letters"

    @property
    def checkpoints(self) -> str:
        """The checkpoint topic."""
        return self.checkpoint_topic or f"{self.job_id}.checkpoints"


CheckpointStats = JobStats.Interval


class KafkaJob:
    """One worker process of a Kafka job (start several with distinct ``worker_id``).

    Parameters
    ----------
    config : KafkaJobConfig
    on_checkpoint : callable, optional
        Called with a :class:`CheckpointStats` after each committed checkpoint (progress
        display: records, back-pressure share, paused partitions).
    """

    def __init__(self, config: KafkaJobConfig,
                 on_checkpoint: Callable[[CheckpointStats], None] | None = None) -> None:
        self.config = config
        self.on_checkpoint = on_checkpoint
        self.eos = config.guarantee == "exactly-once"
        self.parts: dict[TP, PartitionState] = {}
        self.stats = JobStats()
        self._stop = False
        self._interval = to_millis(config.checkpoint_interval, name="checkpoint_interval")
        self.source = KafkaSource(
            KafkaSourceConfig(config.bootstrap, tuple(config.topics), config.job_id,
                              config.schema, max_batch=config.max_batch,
                              assignment=config.assignment, settings=config.settings),
            on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        self.sink = KafkaSink(KafkaSinkConfig(
            config.bootstrap, f"{config.job_id}-{config.worker_id}" if self.eos else None,
            settings=config.settings))
        sizes = {t: self.source.partitions_of(t) for t in config.topics}
        self.ckpt = CheckpointTopic(config.checkpoints, sizes)
        security = client_settings(config.settings)
        create_topics(config.bootstrap, {self.ckpt.name: self.ckpt.size},
                      config={"cleanup.policy": "compact"}, extra=security)
        create_topics(config.bootstrap, {config.dead_letters: max(sizes.values())},
                      extra=security)
        self.reader = CheckpointReader(self.source.config.consumer_settings(), self.ckpt)

    # -- control ---------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to checkpoint and return (safe from a signal handler)."""
        self._stop = True

    def run(self, max_seconds: float | None = None) -> JobStats:
        """Run until :meth:`stop`, ``max_seconds``, or (``stop_at_eof``) the end of input.

        Returns
        -------
        JobStats
            Totals and per-checkpoint back-pressure.

        Raises
        ------
        KafkaJobError
            On a fatal client error (e.g. fenced by another worker with the same id).
        CheckpointError
            If a committed checkpoint cannot be read back.
        """
        cfg = self.config
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        if self.eos:
            self.sink.init_transactions()
        self.source.subscribe()
        self.stats.begin_interval(self.sink.blocked_seconds)
        try:
            while not self._stop:
                if deadline is not None and time.monotonic() > deadline:
                    break
                self._backpressure()
                batches = self.source.poll()
                if batches:
                    self._process(batches, now_ms())
                if self._due():
                    self._checkpoint()
                if cfg.stop_at_eof and self._at_end():
                    if cfg.finish_at_eof:
                        self._finish_all()
                    break
            self._checkpoint()
        finally:
            self._close()
        return self.stats

    def _at_end(self) -> bool:
        src = self.source
        return bool(src.assigned) and src.assigned <= src.at_eof and not src.paused

    def _due(self) -> bool:
        st = self.stats
        if self.config.checkpoint_records and st.interval_records >= self.config.checkpoint_records:
            return True
        return (time.monotonic() - st.interval_start) * 1000 >= self._interval

    def _close(self) -> None:
        try:
            self.source.close()  # revocation callback checkpoints once more (nothing dirty)
        finally:
            if self.sink.in_transaction:
                try:
                    self.sink.abort()
                except KafkaException:
                    pass
            self.sink.close()
            self.reader.close()

    # -- processing ------------------------------------------------------------------------------
    def _process(self, batches: Mapping[TP, PartitionBatch], now: int) -> None:
        cfg = self.config
        if self.stats.first_record_at is None:
            self.stats.first_record_at = time.monotonic()
        for tp, b in batches.items():
            part = self.parts.get(tp)
            if part is None or b.next_offset <= part.next_offset:
                continue
            if b.num_rows and b.offsets[0] < part.next_offset:  # re-delivered after a seek
                keep = b.offsets >= part.next_offset
                b = PartitionBatch(b.topic, b.partition, {k: v[keep] for k, v in b.columns.items()},
                                   b.timestamps[keep], b.offsets[keep],
                                   [d for d in b.dead if d.offset >= part.next_offset],
                                   b.next_offset)
            self.sink.begin()
            if b.dead:
                self.stats.dead_letters += self.sink.write_dead(cfg.dead_letters, b.dead)
            if b.num_rows and not part.finished:
                ts = cfg.watermarks.extract_timestamps(b.columns, default=b.timestamps)
                wms = part.tracker.advance(ts, processing_time=now)
                for spec, op in zip(cfg.operators, part.ops, strict=True):
                    self._emit(spec, op.process(b.columns, ts, wms, now))
            part.next_offset = b.next_offset
            part.dirty = True
            self.stats.records += b.num_rows + len(b.dead)
            self.stats.interval_records += b.num_rows + len(b.dead)

    def _emit(self, spec: OperatorSpec, out: Any) -> None:
        for stream, cols in operator_streams(out).items():
            if not cols or not len(next(iter(cols.values()))):
                continue
            target = spec.outputs.get(stream)
            if target is None:
                raise KafkaJobError(f"operator {spec.name!r} emitted {stream!r} records but the "
                                    "job gives no output for that stream")
            self.stats.outputs += self.sink.write(target, cols)

    def _finish_all(self) -> None:
        for part in self.parts.values():
            if part.finished:
                continue
            self.sink.begin()
            for spec, op in zip(self.config.operators, part.ops, strict=True):
                self._emit(spec, op.finish())
            part.finished = part.dirty = True

    def _backpressure(self) -> None:
        high, low = self.config.backpressure
        fill = self.sink.queue_fill()
        if fill >= high:
            if not self.source.paused:
                self.stats.pauses += 1
            self.source.pause(self.source.assigned)
            t0 = time.perf_counter()
            self.sink.producer.poll(0.05)
            self.sink.blocked_seconds += time.perf_counter() - t0
        elif fill <= low and self.source.paused:
            self.source.resume()

    # -- checkpoints -----------------------------------------------------------------------------
    def _checkpoint(self) -> bool:
        """Steps 1-5 of the module docstring; returns False when the commit failed and the
        owned partitions were rolled back."""
        dirty = [p for p in self.parts.values() if p.dirty]
        if not dirty:
            if self.sink.in_transaction:
                self.sink.abort()
            self._report(0)
            return True
        states: dict[TP, dict[str, Any]] = {}
        last: dict[int, int] = {}

        def delivered(err: Any, msg: Any) -> None:
            if err is None:
                last[msg.partition()] = max(last.get(msg.partition(), -1), msg.offset())

        try:
            self.sink.begin()
            for part in dirty:  # step 2
                states[part.tp] = part.state(self.config.job_id, self.config.operators)
                idx = self.ckpt.index(*part.tp)
                key = f"{part.tp[0]}/{part.tp[1]}".encode()
                for chunk in encode_chunks(states[part.tp]):
                    self.sink.produce(self.ckpt.name, chunk, key, partition=idx,
                                      on_delivery=delivered)
            self.sink.flush()  # step 3
            offsets = [(p.tp[0], p.tp[1], p.next_offset) for p in dirty]
            for part in dirty:
                idx = self.ckpt.index(*part.tp)
                if idx not in last:
                    raise KafkaJobError(f"checkpoint of {part.tp} was not delivered")
                offsets.append((self.ckpt.name, idx, last[idx] + 1))
            if self.eos:  # steps 4-5
                self.sink.send_offsets(offsets, self.source.group_metadata())
                self.sink.commit()
            else:
                self.source.consumer.commit(
                    offsets=[TopicPartition(t, p, o) for t, p, o in offsets], asynchronous=False)
        except KafkaException as exc:
            self._commit_failed(exc)
            return False
        for part in dirty:
            part.committed(states[part.tp])
        self._report(len(dirty))
        return True

    def _report(self, n_parts: int) -> None:
        iv = self.stats.end_interval(self.sink.blocked_seconds, n_parts, len(self.parts),
                                     bool(self.source.paused))
        if n_parts and self.on_checkpoint is not None:
            self.on_checkpoint(iv)

    def _commit_failed(self, exc: KafkaException) -> None:
        err = exc.args[0]
        self.stats.failed_commits += 1
        if err.fatal():
            raise KafkaJobError(f"fatal error while committing: {err}") from exc
        if self.eos:
            try:
                self.sink.abort()
            except KafkaException as exc2:
                raise KafkaJobError(f"cannot abort the transaction: {exc2}") from exc2
            self._rollback()
        # at-least-once: outputs are out; keep the state and try again at the next checkpoint

    def _rollback(self) -> None:
        """Restore every owned partition to its last committed state and offset."""
        for tp, part in self.parts.items():
            part.rollback(self.config.operators, self.config.watermarks)
            self.source.seek(tp, part.next_offset)

    # -- rebalancing -----------------------------------------------------------------------------
    def _on_assign(self, tps: list[TP]) -> dict[TP, int]:
        cfg = self.config
        ck = [(self.ckpt.name, self.ckpt.index(t, p)) for t, p in tps]
        committed = self.source.committed(list(tps) + ck)
        starts = {}
        for tp, ckp in zip(tps, ck, strict=True):
            pointer = committed[ckp]
            if pointer > 0:
                cp = self.reader.read(tp[0], tp[1], pointer)
                if committed[tp] >= 0 and committed[tp] != cp.offset:
                    raise CheckpointError(
                        f"{tp}: committed offset {committed[tp]} differs from the checkpoint's "
                        f"{cp.offset}")
                part = PartitionState.restored(tp, cp.state, cfg.job_id, cfg.operators,
                                               cfg.watermarks)
            else:
                part = PartitionState.fresh(tp, max(committed[tp], 0), cfg.operators,
                                            cfg.watermarks)
            self.parts[tp] = part
            starts[tp] = part.next_offset
            self.stats.restored += pointer > 0
        return starts

    def _on_revoke(self, tps: list[TP]) -> None:
        if any(tp in self.parts for tp in tps):
            try:
                self._checkpoint()
            except (KafkaJobError, KafkaException):
                if self.sink.in_transaction:
                    self.sink.abort()
        for tp in tps:
            self.parts.pop(tp, None)

    def _on_lost(self, tps: list[TP]) -> None:
        if self.eos and self.sink.in_transaction:
            self.sink.abort()
            for tp in tps:
                self.parts.pop(tp, None)
            self._rollback()
        for tp in tps:
            self.parts.pop(tp, None)


def run_job(config: KafkaJobConfig, *, max_seconds: float | None = None,
            on_checkpoint: Callable[[CheckpointStats], None] | None = None) -> JobStats:
    """Run one worker of ``config`` until it is stopped, ``max_seconds`` pass, or (with
    ``stop_at_eof``) the input ends; return its statistics. See :class:`KafkaJob`."""
    return KafkaJob(config, on_checkpoint).run(max_seconds)
