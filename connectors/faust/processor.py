"""Run cepkit patterns, MATCH_RECOGNIZE rules and event-time windows inside a faust agent.

A :class:`FaustProcessor` takes the events of a faust stream in micro-batches (faust's
``take_events``), decodes the raw JSON values into columnar batches through a
:class:`~connectors.schema.Schema` (bad records become dead letters with a reason), keeps one
set of operators and one watermark tracker **per source partition** (as
:mod:`connectors.runtime` does), and yields the operators' outputs one row at a time::

    @app.agent(transactions)
    async def detect(stream):
        async for out in processor.process(stream):
            await alerts.send(key=out.key_bytes(), value=out.json())

State and the delivery guarantee (``docs/faust.md``): every ``checkpoint_interval`` the
processor waits for a clean point (the outputs of every processed batch have been taken by
the agent), then

1. flushes faust's producer (the agent's sends, the dead letters);
2. writes the state of each partition that changed (operators, watermark tracker, next
   offset; :mod:`windows.snapshot` format, never pickle) to the partition's partition of the
   checkpoint topic ``<app id>.<name>.checkpoints`` (:mod:`connectors.checkpoint` chunks);
3. commits the checkpoint-topic offset just past each snapshot (the pointer) for the group
   ``<app id>.<name>.pointers``, which has no members;
4. only then acknowledges the events the snapshot covers, and asks faust to commit.

faust's committed offset of a partition therefore never passes its snapshot. On restart (or
when a partition comes back after a rebalance) the snapshot named by the pointer is restored,
the records before its offset that faust delivers again are skipped, and the state is exactly
that of an uninterrupted run; outputs of records after the snapshot may be emitted again
(at-least-once).

``import connectors.faust`` imports neither faust nor aiokafka: the processor works
on the app, stream and event objects it is given. The checkpoint I/O uses confluent-kafka
(the ``faust`` extra installs both).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import orjson

from connectors._jobstate import PartitionState
from connectors.errors import CheckpointError, KafkaJobError
from connectors.faust.checkpoints import CheckpointStore, bootstrap_of
from connectors.faust.stages import Stage, default_rows
from connectors.schema import Schema
from windows.time import Duration, now_ms, to_millis
from windows.watermarks import WatermarkStrategy

__all__ = ["DEAD_LETTER_HEADERS", "FaustProcessor", "FaustStats", "Output"]

log = logging.getLogger(__name__)

TP = tuple[str, int]
StreamName = Literal["matches", "timeouts", "late", "results", "dead"]
#: Headers of a dead letter (the same names as the Kafka job's dead-letter topic).
DEAD_LETTER_HEADERS = ("cep.reason", "cep.source.topic", "cep.source.partition",
                       "cep.source.offset", "cep.source.timestamp")


@dataclass(frozen=True)
class Output:
    """One output row of the processor.

    Attributes
    ----------
    stage : str
        The stage that produced it (empty for dead letters).
    stream : {"matches", "timeouts", "late", "results", "dead"}
        ``dead`` rows (only when the processor has no dead-letter topic) carry ``reason``,
        ``offset``, ``timestamp``, ``key`` and ``value`` of the rejected record.
    topic, partition : str, int
        The source partition whose records produced it.
    value : dict
        The row (JSON-ready: matches have ``key``, ``timestamp`` (epoch ms) and ``events``).
    """

    stage: str
    stream: StreamName
    topic: str
    partition: int
    value: dict[str, Any]

    def json(self) -> bytes:
        """The row as a JSON object (bytes)."""
        return orjson.dumps(self.value, option=orjson.OPT_SERIALIZE_NUMPY, default=_jsonable)

    def key_bytes(self) -> bytes | None:
        """The row's ``key`` as bytes (for keyed output topics), ``None`` without one."""
        k = self.value.get("key")
        return None if k is None else (k if isinstance(k, bytes) else str(k).encode())


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    raise TypeError(f"{type(v).__name__} is not JSON serialisable")


@dataclass
class FaustStats:
    """Counters of one processor (per worker process).

    Attributes
    ----------
    records, outputs, dead_letters : int
        Input records decoded (good and bad), output rows yielded, rejected records.
    skipped : int
        Records delivered again by faust that a restored snapshot already covers.
    checkpoints, restored : int
        Checkpoints written; partitions restored from a snapshot.
    gaps : int
        Partitions whose first record after a restore lay beyond the snapshot's offset
        (records missing from the state: retention deleted them, or the snapshot is stale).
    """

    records: int = 0
    outputs: int = 0
    dead_letters: int = 0
    skipped: int = 0
    checkpoints: int = 0
    restored: int = 0
    gaps: int = 0


class _Msg:
    """A faust message seen through the confluent-kafka message methods that
    :func:`connectors.kafka_source.decode_messages` calls."""

    __slots__ = ("_m",)

    def __init__(self, m: Any) -> None:
        self._m = m

    def value(self) -> Any:
        return self._m.value

    def key(self) -> Any:
        return self._m.key

    def topic(self) -> str:
        return str(self._m.topic)

    def partition(self) -> int:
        return int(self._m.partition)

    def offset(self) -> int:
        return int(self._m.offset)

    def timestamp(self) -> tuple[int, int]:
        ts = self._m.timestamp  # faust gives seconds (float)
        return (1, -1 if ts is None else round(float(ts) * 1000))


class FaustProcessor:
    """cepkit operators applied to a faust stream, with per-partition state checkpoints.

    Parameters
    ----------
    app : faust.App
        The app whose agent runs :meth:`process` (its broker, producer and consumer are used).
    name : str
        Names the checkpoint topic ``<app id>.<name>.checkpoints`` and the pointer group
        ``<app id>.<name>.pointers``; keep it stable across restarts.
    schema : Schema
        Columns of the JSON values. Event time: the ``watermarks`` timestamp assigner, else
        the schema's ``event_time`` field, else the message timestamp (epoch ms).
    stages : sequence of Stage
        Operators (:func:`pattern_stage`, :func:`window_stage`, :func:`rule_stage`); each
        sees every decoded record of its partition.
    watermarks : WatermarkStrategy
        Per-partition watermarks (one tracker per source partition).
    batch_size : int
        Most events per micro-batch (faust ``take_events``).
    within : timedelta or int ms
        Longest wait to fill a micro-batch.
    checkpoint_interval : timedelta or int ms, optional
        Time between checkpoints; default faust's ``broker_commit_interval``.
    dead_letter_topic : str, optional
        Rejected records go there unchanged with :data:`DEAD_LETTER_HEADERS`; without it they
        are yielded as ``Output(stream="dead")`` rows. Never dropped either way.
    checkpoints : bool
        ``False`` keeps state in memory only (no recovery; events are acknowledged at once).
    bootstrap : str, optional
        ``host:port`` list for the checkpoint clients; default from ``app.conf.broker``.
    settings : mapping of str to str
        librdkafka settings for the checkpoint clients (security), merged with
        ``CEPKIT_KAFKA_*`` environment variables.

    Raises
    ------
    ValueError
        If stage names repeat, or a rule orders by a column other than the event time.
    """

    def __init__(self, app: Any, name: str, schema: Schema, stages: Sequence[Stage], *,
                 watermarks: WatermarkStrategy | None = None, batch_size: int = 1000,
                 within: Duration = 200, checkpoint_interval: Duration | None = None,
                 dead_letter_topic: str | None = None, checkpoints: bool = True,
                 bootstrap: str | None = None, settings: Mapping[str, str] | None = None
                 ) -> None:
        names = [s.name for s in stages]
        if not names or len(set(names)) != len(names):
            raise ValueError("a processor needs stages with unique names")
        wm = watermarks or WatermarkStrategy.for_bounded_out_of_orderness(0)
        event_time = (wm.timestamp_assigner if isinstance(wm.timestamp_assigner, str)
                      else schema.event_time)
        for s in stages:
            if s.order_by and s.order_by != event_time:
                raise ValueError(f"stage {s.name!r} orders by {s.order_by!r}, the event time "
                                 f"is {event_time!r}")
        self.app = app
        self.name = name
        self.schema = schema
        self.stages = tuple(stages)
        self.watermarks = watermarks or WatermarkStrategy.for_bounded_out_of_orderness(0)
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.batch_size = batch_size
        self.within = to_millis(within, name="within", allow_zero=False) / 1000
        interval = (checkpoint_interval if checkpoint_interval is not None
                    else round(float(app.conf.broker_commit_interval) * 1000))
        self.interval = to_millis(interval, name="checkpoint_interval", allow_zero=False) / 1000
        self.dead_letter_topic = dead_letter_topic
        self.checkpoints = checkpoints
        self.bootstrap = bootstrap
        self.settings = dict(settings or {})
        self.job_id = f"{app.conf.id}.{name}"
        self.parts: dict[TP, PartitionState] = {}
        self.stats = FaustStats()
        self._held: list[Any] = []  # messages whose ack waits for the next checkpoint
        self._lock = asyncio.Lock()
        self._store: CheckpointStore | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_ckpt = time.monotonic()
        self._dead_topic_ready = False
        app.on_partitions_revoked.connect(self._on_revoked, sender=app)
        app.on_before_shutdown.connect(self._on_shutdown, sender=app)

    # -- the agent side -------------------------------------------------------------------------
    async def process(self, stream: Any) -> AsyncIterator[Output]:
        """Run the stages over ``stream`` and yield their output rows.

        Declare the source topic with ``value_serializer="raw"`` (the processor decodes the
        JSON itself, so a malformed value becomes a dead letter instead of a faust error).

        Yields
        ------
        Output
            In source-partition batch order; within a batch per stage and stream.
        """
        ser = getattr(getattr(stream, "channel", None), "value_serializer", "raw")
        if ser not in (None, "raw"):
            raise ValueError(f"declare the source topic with value_serializer='raw' (got "
                             f"{ser!r}): the processor decodes and dead-letters values itself")
        if self.checkpoints and self._store is None:
            topics = sorted(getattr(stream.channel, "topics", ()))
            self._store = await self._run(
                CheckpointStore, self.bootstrap or bootstrap_of(self.app), self.job_id,
                topics, self.settings)
        if self.dead_letter_topic is not None and not self._dead_topic_ready:
            from connectors.broker import create_topics
            from connectors.kafka_source import client_settings

            n = max(getattr(stream.channel, "partitions", None) or 1, 1)
            await self._run(lambda: create_topics(
                self.bootstrap or bootstrap_of(self.app), {str(self.dead_letter_topic): n},
                extra=client_settings(self.settings)))
            self._dead_topic_ready = True
        if self.checkpoints and self._task is None:
            self._task = asyncio.ensure_future(self._checkpoint_loop())
        async for events in stream.take_events(self.batch_size, self.within):
            await self._restore_new({(str(e.message.topic), int(e.message.partition))
                                     for e in events})
            async with self._lock:
                outputs, dead = self._process_events(events)
                if dead and self.dead_letter_topic is not None:
                    await self._send_dead(dead)
                for out in outputs:
                    yield out

    def _process_events(self, events: Sequence[Any]) -> tuple[list[Output], list[Any]]:
        from connectors.kafka_source import decode_messages

        msgs = []
        for e in events:
            m = e.message
            tp = (str(m.topic), int(m.partition))
            part = self.parts.get(tp)
            if self.checkpoints:
                m.incref()  # acknowledged after the checkpoint that covers it
                self._held.append(m)
            if part is not None and int(m.offset) < part.next_offset:
                self.stats.skipped += 1  # already in the restored state
                continue
            msgs.append(_Msg(m))
        self.stats.records += len(msgs)
        now = now_ms()
        outputs: list[Output] = []
        dead_all: list[Any] = []
        for tp, b in decode_messages(msgs, self.schema).items():
            part = self.parts.get(tp)
            if part is None:
                part = self.parts[tp] = PartitionState.fresh(tp, 0, self.stages,
                                                             self.watermarks)
            if b.dead:
                self.stats.dead_letters += len(b.dead)
                if self.dead_letter_topic is None:
                    outputs.extend(Output("", "dead", d.topic, d.partition, {
                        "reason": d.reason, "offset": d.offset, "timestamp": d.timestamp,
                        "key": d.key, "value": d.value}) for d in b.dead)
                else:
                    dead_all.extend(b.dead)
            if b.num_rows:
                first = int(b.offsets[0]) if not b.dead else min(int(b.offsets[0]),
                                                                  b.dead[0].offset)
                if part.records == 0 and part.next_offset > 0 and first > part.next_offset:
                    self.stats.gaps += 1
                    log.warning("%s/%s: records %d..%d are not in the restored state", *tp,
                                part.next_offset, first - 1)
                ts = self.watermarks.extract_timestamps(b.columns, default=b.timestamps)
                wms = part.tracker.advance(ts, processing_time=now)
                for stage, op in zip(self.stages, part.ops, strict=True):
                    results = self._run_stage(stage, op, b.columns, ts, wms, now)
                    for res in results:
                        streams = stage.rows(res) if stage.rows else default_rows(res)
                        for sname, rows in streams.items():
                            outputs.extend(Output(stage.name, sname, tp[0], tp[1], r)  # type: ignore[arg-type]
                                           for r in rows)
            part.records += b.num_rows + len(b.dead)
            part.next_offset = max(part.next_offset, b.next_offset)
            part.dirty = True
        self.stats.outputs += len(outputs)
        return outputs, dead_all

    @staticmethod
    def _run_stage(stage: Stage, op: Any, columns: dict[str, np.ndarray], ts: np.ndarray,
                   wms: np.ndarray, now: int) -> list[Any]:
        """The operator outputs of one batch (a filtered batch whose last rows were dropped
        still moves the operator's watermark to the batch's last one)."""
        if stage.prepare is None:
            return [op.process(columns, ts, wms, now)]
        cols, keep = stage.prepare(columns)
        if keep is None:
            return [op.process(cols, ts, wms, now)]
        out = [op.process(cols, ts[keep], wms[keep], now)] if keep.any() else []
        if len(keep) and not keep[-1] and hasattr(op, "advance_watermark"):
            out.append(op.advance_watermark(int(wms[-1])))
        return out

    async def _send_dead(self, dead: Sequence[Any]) -> None:
        producer = self.app.producer
        for d in dead:
            headers = [(DEAD_LETTER_HEADERS[0], d.reason.encode()),
                       (DEAD_LETTER_HEADERS[1], d.topic.encode()),
                       (DEAD_LETTER_HEADERS[2], str(d.partition).encode()),
                       (DEAD_LETTER_HEADERS[3], str(d.offset).encode()),
                       (DEAD_LETTER_HEADERS[4], str(d.timestamp).encode())]
            await producer.send(self.dead_letter_topic, d.key, d.value, None, None, headers)

    # -- state ----------------------------------------------------------------------------------
    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def _restore_new(self, tps: set[TP]) -> None:
        new = [tp for tp in tps if tp not in self.parts]
        if not new or self._store is None:
            return
        for tp in sorted(new):
            state = await self._run(self._store.read, *tp)
            if tp in self.parts:
                continue
            if state is None:
                self.parts[tp] = PartitionState.fresh(tp, 0, self.stages, self.watermarks)
                continue
            part = PartitionState.restored(tp, state, self.job_id, self.stages,
                                           self.watermarks)
            part.records = 0  # counts records since the restore (gap detection)
            self.parts[tp] = part
            self.stats.restored += 1
            log.info("%s/%s: restored state at offset %d", *tp, part.next_offset)

    async def checkpoint(self, *, commit: bool = True) -> None:
        """Write the state of every changed partition (steps 1-3 of the module docstring),
        then acknowledge the events it covers and let faust commit (step 4).

        Raises
        ------
        KafkaJobError
            If the snapshots cannot be delivered (the events stay unacknowledged, so faust
            does not commit past them; the next checkpoint tries again).
        """
        if self._store is None:
            return
        async with self._lock:
            dirty = [p for p in self.parts.values() if p.dirty]
            held, self._held = self._held, []
            try:
                if dirty:
                    await self.app.producer.flush()
                    states = {p.tp: p.state(self.job_id, self.stages) for p in dirty}
                    await self._run(self._store.write, states)
                    for p in dirty:
                        p.committed(states[p.tp])
                    self.stats.checkpoints += 1
            except BaseException:
                self._held = held + self._held
                raise
            consumer = self.app.consumer
            for m in held:
                if (str(m.topic), int(m.partition)) in self.parts:
                    m.ack(consumer)
            self._last_ckpt = time.monotonic()
        if held and commit:
            await consumer.commit()

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(max(self._last_ckpt + self.interval - time.monotonic(), 0.01))
            if time.monotonic() - self._last_ckpt < self.interval:
                continue
            try:
                await self.checkpoint()
            except (KafkaJobError, CheckpointError) as exc:
                log.warning("checkpoint failed (retried at the next interval): %s", exc)
                self._last_ckpt = time.monotonic()
            except Exception:  # the faust consumer may be stopping; retry
                log.exception("checkpoint failed")
                self._last_ckpt = time.monotonic()

    async def _on_revoked(self, app: Any, revoked: set[Any], **_: Any) -> None:
        """faust signal: forget revoked partitions (their new owner restores the snapshot)."""
        gone = {(str(tp.topic), int(tp.partition)) for tp in revoked}
        async with self._lock:
            for tp in gone:
                self.parts.pop(tp, None)
            self._held = [m for m in self._held
                          if (str(m.topic), int(m.partition)) not in gone]

    async def _on_shutdown(self, app: Any, **_: Any) -> None:
        """faust signal: last checkpoint (the consumer has stopped; faust's own final commit
        is behind us, so this only spares replays) and close the clients."""
        try:
            await self.close()
        except Exception:
            log.exception("final checkpoint failed")

    async def close(self) -> None:
        """Stop the checkpoint task and close the checkpoint clients (after a final
        checkpoint)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._store is not None:
            try:
                await self.checkpoint(commit=False)
            finally:
                store, self._store = self._store, None
                await self._run(store.close)
