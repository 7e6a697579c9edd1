"""Event timestamps and watermarks: :class:`WatermarkStrategy` and :class:`WatermarkTracker`.

Semantics follow Apache Flink's ``WatermarkStrategy``: a bounded-out-of-orderness generator
emits ``max_timestamp - max_out_of_orderness - 1``; per source partition watermarks are
combined by their minimum over the partitions that are not idle; the combined watermark never
goes backwards. One deliberate difference: the watermark is advanced after *every* record (as
a punctuated generator would), not on a wall-clock period, so results do not depend on how the
input is cut into batches. Idleness is inherently wall-clock driven and is evaluated once per
batch (and on :meth:`WatermarkTracker.on_processing_time`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from windows._jit import kernel
from windows.errors import InvalidWindowConfigError, SchemaError, SnapshotError
from windows.time import MAX_TIMESTAMP, MIN_TIMESTAMP, Duration, now_ms, to_millis

__all__ = ["TimestampAssigner", "WatermarkStrategy", "WatermarkTracker", "as_timestamps"]

Columns = Mapping[str, np.ndarray]
#: A column name, or a vectorised function ``columns -> int64 array`` of epoch-ms timestamps.
TimestampAssigner = str | Callable[[Columns], Any]


def as_timestamps(values: Any, *, what: str = "timestamps") -> np.ndarray:
    """Convert an array-like of times to ``int64`` epoch milliseconds.

    ``datetime64`` arrays of any unit are converted; integer arrays are taken as ms.

    Raises
    ------
    InvalidWindowConfigError
        If the values are neither integers nor ``datetime64``.
    """
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ms]").astype(np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    raise InvalidWindowConfigError(
        f"{what} must be int64 epoch milliseconds or datetime64, got dtype {arr.dtype}"
    )


@dataclass(frozen=True)
class WatermarkStrategy:
    """How event timestamps are read and watermarks generated (immutable; as Flink's).

    Build one with :meth:`for_bounded_out_of_orderness`, :meth:`for_monotonous_timestamps` or
    :meth:`no_watermarks`; every ``with_*`` method returns a new strategy.

    Attributes
    ----------
    max_out_of_orderness : int
        Milliseconds a record may arrive behind the largest timestamp seen; ``None`` for
        :meth:`no_watermarks` (the watermark then stays at ``MIN_TIMESTAMP`` until the input
        ends).
    timestamp_assigner : str or callable or None
        Column holding the event time, or a vectorised function of the batch's columns.
        ``None`` means the source supplies timestamps itself (e.g. the Kafka record time).
    idle_timeout : int or None
        Milliseconds of processing time without records after which a partition is idle.
    """

    max_out_of_orderness: int | None
    timestamp_assigner: TimestampAssigner | None = None
    idle_timeout: int | None = None

    @staticmethod
    def for_bounded_out_of_orderness(max_out_of_orderness: Duration) -> WatermarkStrategy:
        """Watermark ``max_timestamp - max_out_of_orderness - 1`` (Flink
        ``forBoundedOutOfOrderness``). Duration as ``timedelta`` or int ms."""
        return WatermarkStrategy(to_millis(max_out_of_orderness, name="max_out_of_orderness"))

    @staticmethod
    def for_monotonous_timestamps() -> WatermarkStrategy:
        """Watermark ``max_timestamp - 1`` (Flink ``forMonotonousTimestamps``)."""
        return WatermarkStrategy(0)

    @staticmethod
    def no_watermarks() -> WatermarkStrategy:
        """Never advance the watermark; event-time windows fire only at end of input
        (Flink ``noWatermarks``)."""
        return WatermarkStrategy(None)

    def with_timestamp_assigner(self, assigner: TimestampAssigner) -> WatermarkStrategy:
        """Return a copy reading event time from a column name or a vectorised function
        ``columns -> int64 epoch-ms array`` (or ``datetime64``)."""
        if not (isinstance(assigner, str) or callable(assigner)):
            raise InvalidWindowConfigError(
                "timestamp assigner must be a column name or a callable over columns"
            )
        return replace(self, timestamp_assigner=assigner)

    def with_idleness(self, timeout: Duration) -> WatermarkStrategy:
        """Return a copy that marks a partition idle after ``timeout`` of processing time
        without records (Flink ``withIdleness``)."""
        return replace(self, idle_timeout=to_millis(timeout, name="idle timeout", allow_zero=False))

    def extract_timestamps(self, columns: Columns, default: np.ndarray | None = None) -> np.ndarray:
        """Event timestamps of a batch.

        Parameters
        ----------
        columns : mapping of str to ndarray
            The batch, each column of shape ``(n,)``.
        default : ndarray of int64, shape (n,), optional
            Timestamps supplied by the source, used when no assigner is set.

        Returns
        -------
        ndarray of int64, shape (n,)

        Raises
        ------
        SchemaError
            If the timestamp column is missing.
        InvalidWindowConfigError
            If neither an assigner nor ``default`` is available, or the result has a bad dtype.
        """
        a = self.timestamp_assigner
        if a is None:
            if default is None:
                raise InvalidWindowConfigError(
                    "no timestamp assigner configured and the source supplied no timestamps"
                )
            return as_timestamps(default)
        if isinstance(a, str):
            if a not in columns:
                raise SchemaError(
                    f"timestamp column {a!r} is not in the batch (columns: {sorted(columns)})"
                )
            return as_timestamps(columns[a], what=f"column {a!r}")
        return as_timestamps(a(columns), what="timestamp assigner result")

    def create_tracker(
        self, partitions: Sequence[int] | None = None, processing_time: int | None = None
    ) -> WatermarkTracker:
        """A fresh :class:`WatermarkTracker` for this strategy (see there)."""
        return WatermarkTracker(self, partitions=partitions, processing_time=processing_time)


@kernel
def _advance_kernel(
    ts: np.ndarray,
    pidx: np.ndarray,
    part_max: np.ndarray,
    idle: np.ndarray,
    delay: int,
    generate: bool,
    state: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover - twin covered by parity
    """Per-record watermark advance. ``state[0]`` = combined watermark, ``state[1]`` = the
    minimum partition watermark over non-idle partitions (MAX when none is active)."""
    min_ts = -9223372036854775807 - 1
    max_ts = 9223372036854775807
    combined = state[0]
    raw_min = state[1]
    for i in range(ts.shape[0]):
        p = pidx[i]
        t = ts[i]
        if generate:
            old = part_max[p]
            old_wm = min_ts if old == min_ts else old - delay - 1
            if idle[p]:
                idle[p] = False
                if old_wm < raw_min:
                    raw_min = old_wm
            if t > old:
                part_max[p] = t
                new_wm = t - delay - 1
                if old_wm == raw_min:
                    raw_min = max_ts
                    for q in range(part_max.shape[0]):
                        if not idle[q]:
                            m = part_max[q]
                            w = min_ts if m == min_ts else m - delay - 1
                            if w < raw_min:
                                raw_min = w
                elif new_wm < raw_min:
                    raw_min = new_wm
            if raw_min != max_ts and raw_min > combined:
                combined = raw_min
        else:
            idle[p] = False
        out[i] = combined
    state[0] = combined
    state[1] = raw_min


class WatermarkTracker:
    """Per-partition watermark state; turns a batch of timestamps into per-record watermarks.

    Parameters
    ----------
    strategy : WatermarkStrategy
    partitions : sequence of int, optional
        Source partitions known up front; each holds the combined watermark back (at
        ``MIN_TIMESTAMP``) until it has records or goes idle. Partitions not listed are added
        when first seen.
    processing_time : int, optional
        Epoch ms at creation (for idleness); defaults to the wall clock.

    Notes
    -----
    ``watermarks[i]`` returned by :meth:`advance` is the combined watermark *after* record
    ``i``; operators process record ``i`` under ``watermarks[i-1]`` and then advance to
    ``watermarks[i]`` (as a Flink operator sees a punctuated watermark after its record).
    """

    def __init__(
        self,
        strategy: WatermarkStrategy,
        partitions: Sequence[int] | None = None,
        processing_time: int | None = None,
    ) -> None:
        self.strategy = strategy
        self._index: dict[int, int] = {}
        self._part_max = np.empty(0, np.int64)
        self._idle = np.empty(0, np.bool_)
        self._last_seen = np.empty(0, np.int64)
        self._state = np.array([MIN_TIMESTAMP, MAX_TIMESTAMP], np.int64)
        self._created = now_ms() if processing_time is None else int(processing_time)
        for p in partitions or ():
            self._add_partition(int(p), self._created)

    # -- partitions -------------------------------------------------------------------------
    def _add_partition(self, p: int, seen: int) -> int:
        idx = len(self._index)
        self._index[p] = idx
        self._part_max = np.append(self._part_max, np.int64(MIN_TIMESTAMP))
        self._idle = np.append(self._idle, False)
        self._last_seen = np.append(self._last_seen, np.int64(seen))
        # a new active partition at MIN holds the combined watermark back
        self._state[1] = MIN_TIMESTAMP
        return idx

    @property
    def partitions(self) -> list[int]:
        """The known partition ids, in order of registration."""
        return list(self._index)

    @property
    def current_watermark(self) -> int:
        """The combined watermark (int64 epoch ms; ``MIN_TIMESTAMP`` before any)."""
        return int(self._state[0])

    def idle_partitions(self) -> list[int]:
        """Partition ids currently marked idle."""
        return [p for p, i in self._index.items() if self._idle[i]]

    def _recompute(self) -> None:
        active = ~self._idle
        if not active.any():
            self._state[1] = MAX_TIMESTAMP
            return
        delay = self.strategy.max_out_of_orderness
        if delay is None:
            self._state[1] = MIN_TIMESTAMP
            return
        pm = self._part_max[active]
        wms = np.where(pm == MIN_TIMESTAMP, MIN_TIMESTAMP, pm - delay - 1)
        self._state[1] = wms.min()
        if self._state[1] > self._state[0]:
            self._state[0] = self._state[1]

    def on_processing_time(self, now: int) -> int:
        """Mark partitions idle whose last record is ``idle_timeout`` or more behind ``now``
        (epoch ms); return the combined watermark, which may advance as a result."""
        timeout = self.strategy.idle_timeout
        if timeout is not None and len(self._index):
            newly = (~self._idle) & (self._last_seen + timeout <= now)
            if newly.any():
                self._idle |= newly
                self._recompute()
        return self.current_watermark

    def advance(
        self,
        timestamps: np.ndarray,
        partitions: np.ndarray | None = None,
        processing_time: int | None = None,
    ) -> np.ndarray:
        """Watermark after each record of a batch.

        Parameters
        ----------
        timestamps : ndarray of int64, shape (n,)
            Event times, epoch ms.
        partitions : ndarray of int, shape (n,), optional
            Source partition of each record (default: all partition 0).
        processing_time : int, optional
            Wall-clock epoch ms of this batch, used for idleness (default: now).

        Returns
        -------
        ndarray of int64, shape (n,)
            Combined watermark after each record; non-decreasing.
        """
        ts = as_timestamps(timestamps)
        n = ts.shape[0]
        now = now_ms() if processing_time is None else int(processing_time)
        if partitions is None:
            if not self._index:
                self._add_partition(0, now)
            if len(self._index) == 1:
                pidx = np.zeros(n, np.int64)
                first = next(iter(self._index))
                parts_seen: Any = [first]
            else:
                raise InvalidWindowConfigError(
                    "this tracker has several partitions: pass the partition of each record"
                )
        else:
            parr = np.asarray(partitions)
            parts_seen, inverse = np.unique(parr, return_inverse=True)
            mapping = np.empty(len(parts_seen), np.int64)
            for j, p in enumerate(parts_seen.tolist()):
                idx = self._index.get(int(p))
                mapping[j] = self._add_partition(int(p), now) if idx is None else idx
            pidx = mapping[inverse.reshape(-1)]
        if self._state[1] == MIN_TIMESTAMP or self.strategy.idle_timeout is not None:
            self._recompute()
        self.on_processing_time(now)
        out = np.empty(n, np.int64)
        delay = self.strategy.max_out_of_orderness
        _advance_kernel(
            ts,
            pidx,
            self._part_max,
            self._idle,
            0 if delay is None else delay,
            delay is not None,
            self._state,
            out,
        )
        for p in parts_seen:
            self._last_seen[self._index[int(p)]] = now
        return out

    # -- snapshot ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Plain-data state for :func:`windows.snapshot.encode_snapshot`."""
        return {
            "partitions": list(self._index),
            "part_max": self._part_max.copy(),
            "idle": self._idle.copy(),
            "last_seen": self._last_seen.copy(),
            "state": self._state.copy(),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replace this tracker's state with one from :meth:`snapshot`.

        Raises
        ------
        SnapshotError
            If the state is malformed.
        """
        try:
            parts = [int(p) for p in state["partitions"]]
            pm = np.asarray(state["part_max"], np.int64)
            idle = np.asarray(state["idle"], np.bool_)
            last = np.asarray(state["last_seen"], np.int64)
            st = np.asarray(state["state"], np.int64)
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"malformed watermark tracker state: {exc}") from exc
        if not (len(parts) == pm.shape[0] == idle.shape[0] == last.shape[0]) or st.shape != (2,):
            raise SnapshotError("inconsistent watermark tracker state")
        self._index = {p: i for i, p in enumerate(parts)}
        self._part_max, self._idle, self._last_seen, self._state = pm, idle, last, st
