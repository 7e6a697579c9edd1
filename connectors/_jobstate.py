"""Per-partition state of a Kafka job, operator output streams, and job statistics (private
helpers of :mod:`connectors.runtime`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from connectors.errors import CheckpointError
from windows.watermarks import WatermarkStrategy, WatermarkTracker

STATE_VERSION = 1


def _table_rows(table: Any) -> dict[str, np.ndarray]:
    """A CEP match table as one row per match: key, timestamp, events per stage."""
    n = len(table)
    if not n:
        return {}
    keys = np.empty(n, object)
    keys[:] = [k.item() if hasattr(k, "item") else k for k in np.asarray(table.keys).tolist()]
    events = np.empty(n, object)
    events[:] = [{s: list(ev) for s, ev in m.events.items()} for m in table]
    out = {"key": keys, "timestamp": np.asarray(table.timestamp, np.int64), "events": events}
    if table.timeout_timestamp is not None:
        out["timeout_timestamp"] = np.asarray(table.timeout_timestamp, np.int64)
    return out


def operator_streams(out: Any) -> dict[str, dict[str, np.ndarray]]:
    """Named output streams of an operator call.

    ``WindowOutput`` -> ``results`` and ``late``; ``CepOutput`` -> ``matches``, ``timeouts``
    and ``late`` (one row per match; late events with ``key`` and ``timestamp``); a mapping of
    stream name to columns is taken as it is.
    """
    if hasattr(out, "results") and hasattr(out, "late"):
        return {"results": out.results, "late": out.late}
    if hasattr(out, "matches") and hasattr(out, "timeouts"):
        late = out.late
        late_cols: dict[str, np.ndarray] = {}
        if len(late):
            late_cols = {"key": np.asarray(late.keys), "timestamp": late.timestamps,
                         **late.columns}
        return {"matches": _table_rows(out.matches), "timeouts": _table_rows(out.timeouts),
                "late": late_cols}
    if isinstance(out, dict):
        return out
    raise TypeError(f"cannot read operator output of type {type(out).__name__}")


def _op_state(op: Any) -> dict[str, Any]:
    snap = op.snapshot()
    if isinstance(snap, (bytes, bytearray)):
        return {"form": "bytes", "data": bytes(snap)}
    return {"form": "tree", "data": snap}


@dataclass
class PartitionState:
    """Operators, watermark tracker and positions of one input partition.

    ``merge`` is the :class:`~connectors.repartition.ChannelMerge` of an internal
    (re-partitioning) partition, ``None`` for an input partition. ``sent_watermark``,
    ``idle_sent`` and ``last_input`` (monotonic seconds) track the markers an input partition
    sent to internal topics; they are not checkpointed (markers are idempotent).
    """

    tp: tuple[str, int]
    ops: list[Any]
    tracker: WatermarkTracker
    next_offset: int
    committed_offset: int
    committed_state: dict[str, Any] | None = None
    dirty: bool = False
    finished: bool = False
    records: int = 0
    merge: Any = None
    sent_watermark: int | None = None
    idle_sent: bool = False
    last_input: float = field(default_factory=time.monotonic)

    @classmethod
    def fresh(cls, tp: tuple[str, int], offset: int, specs: Sequence[Any],
              strategy: WatermarkStrategy, merge: Any = None) -> PartitionState:
        """New operators starting at ``offset`` (``merge``: see the class docstring)."""
        return cls(tp, [s.factory() for s in specs], strategy.create_tracker([0]), offset,
                   offset, merge=merge)

    @classmethod
    def restored(cls, tp: tuple[str, int], state: dict[str, Any], job_id: str,
                 specs: Sequence[Any], strategy: WatermarkStrategy,
                 merge: Any = None) -> PartitionState:
        """Operators restored from a checkpoint state tree.

        Raises
        ------
        CheckpointError
            If the state belongs to another job, version or operator set.
        """
        part = cls.fresh(tp, int(state.get("offset", 0)), specs, strategy, merge)
        part.load(state, job_id, specs)
        part.committed_state = state
        return part

    def load(self, state: dict[str, Any], job_id: str, specs: Sequence[Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise CheckpointError(f"{self.tp}: checkpoint state version "
                                  f"{state.get('version')} is not supported")
        if state.get("job") != job_id:
            raise CheckpointError(f"{self.tp}: checkpoint of job {state.get('job')!r}")
        ops = state.get("operators", {})
        if sorted(ops) != sorted(s.name for s in specs):
            raise CheckpointError(f"{self.tp}: checkpoint holds operators {sorted(ops)}, the "
                                  f"job has {sorted(s.name for s in specs)}")
        try:
            for spec, op in zip(specs, self.ops, strict=True):
                op.restore(ops[spec.name]["data"])
            self.tracker.restore(state["tracker"])
            if self.merge is not None:
                self.merge.restore(state["merge"])
        except (ValueError, KeyError, TypeError) as exc:  # SnapshotError is a ValueError
            raise CheckpointError(f"{self.tp}: cannot restore: {exc}") from exc
        self.next_offset = self.committed_offset = int(state["offset"])
        self.finished = bool(state.get("finished", False))
        self.records = int(state.get("records", 0))

    def state(self, job_id: str, specs: Sequence[Any]) -> dict[str, Any]:
        """The state tree written to the checkpoint topic."""
        out = {"version": STATE_VERSION, "job": job_id, "topic": self.tp[0],
               "partition": self.tp[1], "offset": self.next_offset,
               "finished": self.finished, "records": self.records,
               "tracker": self.tracker.snapshot(),
               "operators": {s.name: _op_state(op) for s, op in zip(specs, self.ops,
                                                                     strict=True)}}
        if self.merge is not None:
            out["merge"] = self.merge.snapshot()
        return out

    def committed(self, state: dict[str, Any]) -> None:
        """Mark ``state`` (just committed) as the state to roll back to."""
        self.committed_state = state
        self.committed_offset = self.next_offset
        self.dirty = False

    def rollback(self, specs: Sequence[Any], strategy: WatermarkStrategy) -> None:
        """Back to the last committed state (fresh operators if there is none)."""
        self.ops = [s.factory() for s in specs]
        self.tracker = strategy.create_tracker([0])
        self.sent_watermark, self.idle_sent = None, False
        if self.merge is not None:
            self.merge.reset()
        if self.committed_state is not None:
            self.load(self.committed_state, str(self.committed_state["job"]), specs)
        self.next_offset = self.committed_offset
        self.finished = bool(self.committed_state and self.committed_state.get("finished"))
        self.dirty = False


@dataclass
class JobStats:
    """Counters of one worker, and back-pressure per checkpoint interval.

    Attributes
    ----------
    records : int
        Input records consumed (valid and dead letters).
    outputs : int
        Result rows written.
    dead_letters : int
        Records sent to the dead-letter topic.
    checkpoints : int
        Committed checkpoints.
    failed_commits : int
        Checkpoints whose commit failed (rolled back, or retried at-least-once).
    deferred_commits : int
        Committed checkpoints whose offsets could not be read back at once (the worker waited
        for them; see ``connectors/_confirm.py``). Always 0 on Apache Kafka.
    restored : int
        Partitions restored from a checkpoint on assignment.
    pauses : int
        Times the partitions were paused because the sink fell behind.
    blocked_seconds : float
        Total time blocked on sinks.
    intervals : list of Interval
        The most recent checkpoint intervals (last 1000).
    first_record_at : float or None
        ``time.monotonic()`` when the first record arrived (throughput without start-up).
    """

    @dataclass(frozen=True)
    class Interval:
        """One checkpoint interval: ``records`` consumed in ``seconds`` of wall time, of
        which ``blocked_seconds`` waiting on sinks (``blocked_share`` = their ratio);
        ``partitions`` checkpointed of ``owned``; ``paused`` if partitions were paused at
        the barrier."""

        number: int
        records: int
        seconds: float
        blocked_seconds: float
        blocked_share: float
        partitions: int
        owned: int
        paused: bool

    records: int = 0
    outputs: int = 0
    dead_letters: int = 0
    checkpoints: int = 0
    failed_commits: int = 0
    deferred_commits: int = 0
    restored: int = 0
    pauses: int = 0
    blocked_seconds: float = 0.0
    intervals: list[JobStats.Interval] = field(default_factory=list)
    interval_records: int = 0
    first_record_at: float | None = None
    interval_start: float = field(default_factory=time.monotonic)
    _blocked0: float = 0.0
    _started: float = field(default_factory=time.monotonic)

    def begin_interval(self, blocked_total: float) -> None:
        self.interval_start = time.monotonic()
        self.interval_records = 0
        self._blocked0 = blocked_total

    def end_interval(self, blocked_total: float, n_parts: int, owned: int,
                     paused: bool) -> JobStats.Interval:
        secs = max(time.monotonic() - self.interval_start, 1e-9)
        blocked = blocked_total - self._blocked0
        self.blocked_seconds = blocked_total
        iv = JobStats.Interval(self.checkpoints + 1, self.interval_records, secs, blocked,
                               min(blocked / secs, 1.0), n_parts, owned, paused)
        if n_parts:
            self.checkpoints += 1
            self.intervals.append(iv)
            del self.intervals[:-1000]
        self.begin_interval(blocked_total)
        return iv

    @property
    def elapsed(self) -> float:
        """Seconds since the worker started."""
        return time.monotonic() - self._started

    def summary(self) -> dict[str, Any]:
        """Run summary: totals, events/s and the blocked share (overall and worst interval)."""
        secs = self.elapsed
        return {"records": self.records, "outputs": self.outputs,
                "dead_letters": self.dead_letters, "checkpoints": self.checkpoints,
                "failed_commits": self.failed_commits, "deferred_commits": self.deferred_commits,
                "restored_partitions": self.restored,
                "pauses": self.pauses, "seconds": round(secs, 3),
                "events_per_second": round(self.records / secs, 1) if secs else 0.0,
                "blocked_share": round(self.blocked_seconds / secs, 4) if secs else 0.0,
                "max_interval_blocked_share": max((i.blocked_share for i in self.intervals),
                                                  default=0.0)}
