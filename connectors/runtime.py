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
   each snapshot, the checkpoint-topic offset just past it (the pointer). Just before, the
   committed pointers are read back: one another worker moved means a broker that does not
   fence stale generations let two workers own the partition; abort (``connectors/_fence.py``).
5. ``commit_transaction``. On an abortable error: abort, restore every owned partition from
   its last committed state and seek it back to its committed offset.
6. Read the committed offsets back; no new transaction begins before they are readable (a
   broker that holds them back behind another open transaction: ``connectors/_confirm.py``).

Recovery (on assignment): complete the open transaction (a checkpoint); read the group's
committed offsets of the new partitions and of their checkpoint-topic partitions; read the
snapshot just before the pointer; restore it and seek the source to the offset recorded in
it. On revocation the worker checkpoints first.
At-least-once: the same sequence without a transaction; offsets are committed with
``commit()`` after the outputs and snapshots are flushed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from connectors._confirm import wait_readable
from connectors._fence import PartitionFence
from connectors._jobstate import JobStats, PartitionState, operator_streams
from connectors.broker import create_topics
from connectors.checkpoint import CheckpointReader, CheckpointTopic, encode_chunks
from connectors.errors import CheckpointError, KafkaJobError
from connectors.kafka_config import Guarantee, KafkaJobConfig, Operator, OperatorSpec
from connectors.kafka_sink import KafkaSink, KafkaSinkConfig
from connectors.kafka_source import (
    TP,
    KafkaSource,
    KafkaSourceConfig,
    PartitionBatch,
    client_settings,
)
from connectors.repartition import (
    ChannelMerge,
    InternalBatch,
    forward,
    internal_topic,
    plan_groups,
    send_markers,
)
from windows.time import MAX_TIMESTAMP, now_ms, to_millis

__all__ = ["CheckpointStats", "Guarantee", "JobStats", "KafkaJob", "KafkaJobConfig",
           "Operator", "OperatorSpec", "run_job"]

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
        internal = {internal_topic(config.job_id, o.repartition) for o in config.operators
                    if o.repartition is not None}
        self.source = KafkaSource(
            KafkaSourceConfig(config.bootstrap, tuple(config.topics) + tuple(sorted(internal)),
                              config.job_id, config.schema, max_batch=config.max_batch,
                              assignment=config.assignment, settings=config.settings,
                              internal=frozenset(internal), keep_values=bool(internal)),
            on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        self.sink = KafkaSink(KafkaSinkConfig(
            config.bootstrap, f"{config.job_id}-{config.worker_id}" if self.eos else None,
            settings=config.settings))
        sizes = {t: self.source.partitions_of(t) for t in config.topics}
        security = client_settings(config.settings)
        self.direct, self.groups = plan_groups(
            config.job_id, config.operators, config.repartition_partitions or max(sizes.values()))
        self.internal = {g.topic: g for g in self.groups}
        #: input partition -> channel number on the internal topics
        self.channels = {tp: i for i, tp in enumerate(
            sorted((t, p) for t, n in sizes.items() for p in range(n)))}
        if self.groups:
            create_topics(config.bootstrap, {g.topic: g.partitions for g in self.groups},
                          extra=security)
            sizes.update({g.topic: self.source.partitions_of(g.topic) for g in self.groups})
        self.ckpt = CheckpointTopic(config.checkpoints, sizes)
        create_topics(config.bootstrap, {self.ckpt.name: self.ckpt.size},
                      config={"cleanup.policy": "compact"}, extra=security)
        create_topics(config.bootstrap, {config.dead_letters: max(sizes.values())},
                      extra=security)
        self.reader = CheckpointReader(self.source.config.consumer_settings(), self.ckpt)
        self.fence = PartitionFence(self.ckpt)  # see connectors/_fence.py

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
                if self.fence.yielded:
                    self._reclaim()
                if self._due():
                    self._checkpoint()
                self._send_idle_markers()
                if cfg.stop_at_eof and self._at_end():
                    if cfg.finish_at_eof:
                        self._finish_all()
                    if self._internal_done():
                        break
                    self._checkpoint()  # make the end markers visible to the internal stage
            self._checkpoint()
        finally:
            self._close()
        return self.stats

    def _at_end(self) -> bool:
        src = self.source
        return (bool(src.assigned) and src.assigned <= src.at_eof and not src.paused
                and not self.fence.yielded)

    def _internal_done(self) -> bool:
        """True when every owned internal partition has seen the end of all input partitions
        (always true without re-partitioning)."""
        return all(p.finished for tp, p in self.parts.items() if tp[0] in self.internal)

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
    def _specs(self, tp: TP) -> tuple[OperatorSpec, ...]:
        """The operators that run on partition ``tp`` (input or internal)."""
        group = self.internal.get(tp[0])
        return group.operators if group is not None else self.direct

    def _process(self, batches: Mapping[TP, Any], now: int) -> None:
        cfg = self.config
        if self.stats.first_record_at is None:
            self.stats.first_record_at = time.monotonic()
        for tp, b in batches.items():
            part = self.parts.get(tp)
            if part is None or b.next_offset <= part.next_offset:
                continue
            if isinstance(b, InternalBatch):
                self._process_internal(part, b, now)
                continue
            if b.num_rows and b.offsets[0] < part.next_offset:  # re-delivered after a seek
                keep = b.offsets >= part.next_offset
                b = PartitionBatch(b.topic, b.partition, {k: v[keep] for k, v in b.columns.items()},
                                   b.timestamps[keep], b.offsets[keep],
                                   [d for d in b.dead if d.offset >= part.next_offset],
                                   b.next_offset,
                                   None if b.values is None
                                   else [v for v, k in zip(b.values, keep.tolist(), strict=True)
                                         if k])
            self.sink.begin()
            if b.dead:
                self.stats.dead_letters += self.sink.write_dead(cfg.dead_letters, b.dead)
            if b.num_rows and not part.finished:
                ts = cfg.watermarks.extract_timestamps(b.columns, default=b.timestamps)
                wms = part.tracker.advance(ts, processing_time=now)
                for spec, op in zip(self.direct, part.ops, strict=True):
                    self._emit(spec, op.process(b.columns, ts, wms, now))
                if self.groups:
                    channel = self.channels[tp]
                    for g in self.groups:
                        forward(self.sink, g, channel, b.columns, ts, b.offsets,
                                b.values or [])
                part.last_input = time.monotonic()
            part.next_offset = b.next_offset
            if self.groups and not part.finished:
                wm = part.tracker.current_watermark
                if wm != part.sent_watermark or part.idle_sent:
                    for g in self.groups:
                        send_markers(self.sink, g, self.channels[tp], part.next_offset, wm)
                    part.sent_watermark, part.idle_sent = wm, False
            part.dirty = True
            self.stats.records += b.num_rows + len(b.dead)
            self.stats.interval_records += b.num_rows + len(b.dead)

    def _process_internal(self, part: PartitionState, b: InternalBatch, now: int) -> None:
        """Records and markers of an internal (re-partitioning) partition."""
        cfg = self.config
        self.sink.begin()
        if b.dead:
            self.stats.dead_letters += self.sink.write_dead(cfg.dead_letters, b.dead)
        specs = self._specs(part.tp)
        merge = part.merge
        before = merge.current
        keep, wms = merge.admit(b)
        if not part.finished:
            if keep.any():
                cols = {k: v[keep] for k, v in b.columns.items()}
                for spec, op in zip(specs, part.ops, strict=True):
                    self._emit(spec, op.process(cols, b.timestamps[keep], wms[keep], now))
            if merge.ended:
                for spec, op in zip(specs, part.ops, strict=True):
                    self._emit(spec, op.finish())
                part.finished = True
            elif merge.current > before:
                for spec, op in zip(specs, part.ops, strict=True):
                    advance = getattr(op, "advance_watermark", None)
                    if advance is not None:
                        self._emit(spec, advance(merge.current))
        part.next_offset = b.next_offset
        part.dirty = True
        n = int(keep.sum()) + len(b.dead)
        self.stats.records += n
        self.stats.interval_records += n

    def _send_idle_markers(self) -> None:
        """Input partitions without records for the strategy's idle timeout tell the
        internal partitions to stop waiting for their watermark (Flink's idle status)."""
        timeout = self.config.watermarks.idle_timeout
        if not self.groups or timeout is None:
            return
        now = time.monotonic()
        for tp, part in self.parts.items():
            if (tp[0] in self.internal or part.idle_sent or part.finished
                    or (now - part.last_input) * 1000 < timeout):
                continue
            self.sink.begin()
            for g in self.groups:
                send_markers(self.sink, g, self.channels[tp], part.next_offset, None)
            part.idle_sent = part.dirty = True

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
        """End of a bounded input: finish the input partitions' operators and send end
        markers to the internal topics (internal partitions finish when every input
        partition's end marker has arrived)."""
        for tp, part in self.parts.items():
            if part.finished or tp[0] in self.internal:
                continue
            self.sink.begin()
            for spec, op in zip(self.direct, part.ops, strict=True):
                self._emit(spec, op.finish())
            for g in self.groups:
                send_markers(self.sink, g, self.channels[tp], part.next_offset, MAX_TIMESTAMP)
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
                states[part.tp] = part.state(self.config.job_id, self._specs(part.tp))
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
                # before send_offsets: Kafka holds back a read of pending offsets (require_stable)
                moved = self.fence.moved(self.source.committed, [p.tp for p in dirty])
                if moved:  # another worker committed them meanwhile: see _fence.py
                    self._yield(moved)
                    return False
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
            self.fence.remember(part.tp, last[self.ckpt.index(*part.tp)] + 1)
        if self.eos:  # step 6: no next transaction before these offsets read back
            waited = wait_readable(self.source.committed, {(t, p): o for t, p, o in offsets})
            self.stats.deferred_commits += int(waited > 0)
            self.sink.blocked_seconds += waited
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

    def _yield(self, moved: list[TP]) -> None:
        """Abort, roll back, and give up ``moved``: another worker committed them since this
        one restored or committed them (a broker that does not fence stale generations)."""
        self.stats.failed_commits += 1
        self.sink.abort()
        for tp in moved:
            self.parts.pop(tp, None)
        self.fence.yield_(moved)
        self._rollback()

    def _reclaim(self) -> None:
        """Take up yielded partitions again from their committed checkpoint."""
        due = self.fence.due(self.source.assigned)
        if due:
            for tp, offset in self._on_assign(due).items():
                self.source.seek(tp, offset)

    def _rollback(self) -> None:
        """Restore every owned partition to its last committed state and offset."""
        for tp, part in self.parts.items():
            part.rollback(self._specs(tp), self.config.watermarks)
            self.source.seek(tp, part.next_offset)

    # -- rebalancing -----------------------------------------------------------------------------
    def _on_assign(self, tps: list[TP]) -> dict[TP, int]:
        cfg = self.config
        if tps and self.eos and self.sink.in_transaction:
            self._checkpoint()  # an open transaction may hold pointers back: _confirm.py
        self.fence.rebalanced = True
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
                part = PartitionState.restored(tp, cp.state, cfg.job_id, self._specs(tp),
                                               cfg.watermarks, self._merge(tp))
            else:
                part = PartitionState.fresh(tp, max(committed[tp], 0), self._specs(tp),
                                            cfg.watermarks, self._merge(tp))
            self.parts[tp] = part
            self.fence.remember(tp, pointer)
            starts[tp] = part.next_offset
            self.stats.restored += pointer > 0
        return starts

    def _merge(self, tp: TP) -> ChannelMerge | None:
        """A fresh channel merge for an internal partition, ``None`` for an input one."""
        return ChannelMerge(len(self.channels)) if tp[0] in self.internal else None

    def _on_revoke(self, tps: list[TP]) -> None:
        if any(tp in self.parts for tp in tps):
            try:
                self._checkpoint()
            except (KafkaJobError, KafkaException):
                if self.sink.in_transaction:
                    self.sink.abort()
        for tp in tps:
            self.parts.pop(tp, None)
        self.fence.forget(tps)

    def _on_lost(self, tps: list[TP]) -> None:
        if self.eos and self.sink.in_transaction:
            self.sink.abort()
            for tp in tps:
                self.parts.pop(tp, None)
            self._rollback()
        for tp in tps:
            self.parts.pop(tp, None)
        self.fence.forget(tps)


def run_job(config: KafkaJobConfig, *, max_seconds: float | None = None,
            on_checkpoint: Callable[[CheckpointStats], None] | None = None) -> JobStats:
    """Run one worker of ``config`` until it is stopped, ``max_seconds`` pass, or (with
    ``stop_at_eof``) the input ends; return its statistics. See :class:`KafkaJob`."""
    return KafkaJob(config, on_checkpoint).run(max_seconds)
