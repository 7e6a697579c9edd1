"""The keyed :class:`WindowOperator` over columnar micro-batches (as Flink's
``WindowOperator`` with an assigner, trigger, allowed lateness and late-data side output)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from windows import _window_kernel as wk
from windows._kernel_state import KernelState
from windows._operator_config import (
    aggregate_layout,
    builtin_results,
    compile_cfg,
    config_fingerprint,
    default_trigger,
    needs_processing_time,
    validate_config,
)
from windows._user_functions import ARRIVAL, UserFunctions
from windows.aggregates import (
    AggregateFunction,
    BuiltinAggregate,
    ProcessWindowFunction,
)
from windows.assigners import COUNT, EVENT_TIME, SESSION, WindowAssigner
from windows.errors import InvalidWindowConfigError, SchemaError, SnapshotError
from windows.keys import KeyEncoder
from windows.time import MAX_TIMESTAMP, Duration, now_ms, to_millis
from windows.triggers import Trigger

__all__ = ["RESERVED_COLUMNS", "WindowOperator", "WindowOutput"]

#: Output column names the operator itself uses.
RESERVED_COLUMNS = frozenset({"key", "window_start", "window_end", "timing", "timestamp"})


@dataclass
class WindowOutput:
    """What one call of the operator produced.

    Attributes
    ----------
    results : dict of str to ndarray
        One row per firing, in firing order: ``key`` (if keyed), ``window_start`` and
        ``window_end`` (int64 epoch ms; record numbers for count windows), ``timing`` (int8,
        :class:`~windows.triggers.Timing`), then one column per aggregate.
    late : dict of str to ndarray
        Records that arrived after their window was cleaned up (later than
        ``allowed_lateness``): the input columns, ``timestamp`` and the ``window_start`` /
        ``window_end`` they were too late for. A record late for several sliding windows appears
        once per window.
    """

    results: dict[str, np.ndarray] = field(default_factory=dict)
    late: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_results(self) -> int:
        """Number of result rows."""
        return len(self.results["window_start"]) if self.results else 0

    @property
    def num_late(self) -> int:
        """Number of late-record rows."""
        return len(self.late["window_start"]) if self.late else 0


class WindowOperator:
    """Keyed windows with incremental aggregation, triggers and allowed lateness.

    Parameters
    ----------
    assigner : WindowAssigner
        E.g. ``TumblingEventTimeWindows.of(timedelta(minutes=1))``.
    aggregates : mapping of str to BuiltinAggregate or AggregateFunction
        Output column name -> aggregate. Built-ins (``windows.aggregates.count`` ...) run in the
        compiled kernel; :class:`AggregateFunction` instances run in Python per record.
    key : str, optional
        Column holding the key; ``None`` for a non-keyed (all records, one key) window.
    trigger : Trigger, optional
        Defaults to the assigner's (event-time, processing-time, or never for global windows).
    allowed_lateness : timedelta or int, default 0
        How long after a window's end it keeps its state and re-fires for late records
        (event-time windows only; Flink ``allowedLateness``).
    window_function : ProcessWindowFunction, optional
        Full-window function called at each firing with the window's records.

    Raises
    ------
    InvalidWindowConfigError
        For combinations that cannot work: an event-time trigger on processing-time windows,
        allowed lateness on windows without event time, a trigger on count windows, a merging
        assigner with a trigger that cannot merge, global windows without a firing trigger,
        no aggregate at all, or an output name that clashes with a reserved column.

    Notes
    -----
    Each call of :meth:`process` handles the batch record by record: record ``i`` is assigned
    under ``watermarks[i-1]``, then the watermark advances to ``watermarks[i]`` and due timers
    fire. Results therefore do not depend on how the input is cut into batches (except for
    processing-time behaviour, which depends on the wall clock). One deliberate difference from
    Flink: a record that is too late for some of its (sliding) windows but not all is reported
    in ``late`` for those windows instead of being dropped silently.
    """

    def __init__(
        self,
        assigner: WindowAssigner,
        aggregates: Mapping[str, BuiltinAggregate | AggregateFunction[Any]] | None = None,
        *,
        key: str | None = None,
        trigger: Trigger | None = None,
        allowed_lateness: Duration = 0,
        window_function: ProcessWindowFunction | None = None,
    ) -> None:
        if not isinstance(assigner, WindowAssigner):
            raise InvalidWindowConfigError(f"not a window assigner: {assigner!r}")
        aggregates = dict(aggregates or {})
        if not aggregates and window_function is None:
            raise InvalidWindowConfigError("give at least one aggregate or a window_function")
        for name in aggregates:
            if name in RESERVED_COLUMNS:
                raise InvalidWindowConfigError(f"aggregate name {name!r} is reserved")
        self.assigner = assigner
        self.key = key
        self.allowed_lateness = to_millis(allowed_lateness, name="allowed_lateness")
        if assigner.kind == COUNT and trigger is not None:
            raise InvalidWindowConfigError(
                "count windows have their own trigger; "
                "use GlobalWindows with a CountTrigger instead"
            )
        self.trigger = trigger if trigger is not None else default_trigger(assigner)
        validate_config(assigner, self.trigger, self.allowed_lateness, window_function)
        self.builtins = {n: a for n, a in aggregates.items() if isinstance(a, BuiltinAggregate)}
        self.user_aggs = {n: a for n, a in aggregates.items() if isinstance(a, AggregateFunction)}
        bad = [n for n in aggregates if n not in self.builtins and n not in self.user_aggs]
        if bad:
            raise InvalidWindowConfigError(
                f"aggregate(s) {bad} are neither built-in aggregates "
                "nor AggregateFunction instances"
            )
        self.window_function = window_function
        self._value_columns, self._ops, width = aggregate_layout(self.builtins)
        self._cfg = compile_cfg(assigner, self.trigger, self.allowed_lateness,
                                bool(self.user_aggs) or window_function is not None)
        self._keys = KeyEncoder()
        ring = int(self._cfg[wk.C_RING])
        pane = int(self._cfg[wk.C_PANE])
        self._state = KernelState(
            width,
            assigner.kind,
            ring,
            extra_ring=ring if pane else 0,
            unit=pane or int(self._cfg[wk.C_SLIDE]),
            offset=int(self._cfg[wk.C_OFFSET]),
        )
        self._user = (
            UserFunctions(self.user_aggs, window_function)
            if self.user_aggs or window_function is not None
            else None
        )
        self._int_columns: set[str] = set()

    # -- configuration ---------------------------------------------------------------------------
    @property
    def _needs_pt(self) -> bool:
        return needs_processing_time(self.assigner, self.trigger)

    def fingerprint(self) -> int:
        """CRC-32 of the configuration; snapshots only restore into an equal configuration."""
        return config_fingerprint(self.assigner, self.trigger, self.allowed_lateness, self.key,
                                  self.builtins, self.user_aggs, self.window_function)

    # -- state inspection ------------------------------------------------------------------------
    @property
    def current_watermark(self) -> int:
        """The operator's event-time watermark (int64 epoch ms)."""
        return int(self._state.ks[wk.K_WM])

    @property
    def num_live_windows(self) -> int:
        """Number of (key, window) states currently held."""
        return int(self._state.ks[wk.K_HIGH] - self._state.ks[wk.K_FREE])

    @property
    def num_keys(self) -> int:
        """Number of distinct keys seen."""
        return len(self._keys)

    # -- processing --------------------------------------------------------------------------------
    def process(
        self,
        columns: Mapping[str, np.ndarray],
        timestamps: np.ndarray | None = None,
        watermarks: np.ndarray | None = None,
        processing_time: int | None = None,
    ) -> WindowOutput:
        """Process one micro-batch.

        Parameters
        ----------
        columns : mapping of str to ndarray
            The records, each column of shape ``(n,)``; must hold the key column and the
            aggregated columns.
        timestamps : ndarray of int64, shape (n,)
            Event times in epoch ms; required for event-time windows.
        watermarks : ndarray of int64, shape (n,)
            Watermark after each record (from :meth:`WatermarkTracker.advance`); required for
            event-time windows and event-time triggers. Must be non-decreasing.
        processing_time : int, optional
            Wall-clock epoch ms of this batch for processing-time windows and triggers
            (default: now).

        Returns
        -------
        WindowOutput

        Raises
        ------
        SchemaError
            If a needed column is missing.
        InvalidWindowConfigError
            If timestamps/watermarks are missing or of the wrong shape, or a dynamic session gap
            is not positive. No state changes in that case.
        """
        n = self._batch_len(columns, timestamps)
        ts, wms = self._time_arrays(n, timestamps, watermarks)
        gaps = self._gaps(columns, n)
        vals = self._values(columns, n)
        keys = self._key_ids(columns, n)  # last: a rejected batch registers no keys
        st = self._state
        st.ensure_keys(len(self._keys))
        st.new_outputs(n)
        st.ks[wk.K_POS] = 0
        if self._needs_pt:
            st.ks[wk.K_TARGET_PT] = now_ms() if processing_time is None else int(processing_time)
            st.ks[wk.K_PHASE] = wk.PH_PT
        else:
            st.ks[wk.K_PHASE] = wk.PH_EVENTS
        user_cols = dict(columns)
        if ts is not None:
            user_cols["timestamp"] = ts
        if self.window_function is not None:
            user_cols[ARRIVAL] = st.ks[wk.K_ASEQ] + np.arange(n, dtype=np.int64)
        # without timestamps, first/last order by the global arrival number
        order = ts if ts is not None else st.ks[wk.K_ASEQ] + np.arange(n, dtype=np.int64)
        self._run(keys, order, wms, gaps, vals, user_cols)
        return self._collect(user_cols)

    def advance_watermark(self, watermark: int) -> WindowOutput:
        """Advance the event-time watermark without records (e.g. from idleness or the end of
        a source) and fire due windows."""
        st = self._state
        st.new_outputs(0)
        if watermark > st.ks[wk.K_WM]:
            st.ks[wk.K_WM] = watermark
        st.ks[wk.K_PHASE] = wk.PH_EV_TIMERS
        st.ks[wk.K_POS] = 0
        self._run_empty()
        return self._collect({})

    def on_processing_time(self, now: int) -> WindowOutput:
        """Advance processing time to ``now`` (epoch ms) and fire due processing-time timers."""
        st = self._state
        st.new_outputs(0)
        st.ks[wk.K_TARGET_PT] = int(now)
        st.ks[wk.K_PHASE] = wk.PH_PT
        st.ks[wk.K_POS] = 0
        self._run_empty()
        return self._collect({})

    def finish(self, fire_processing_time: bool = True) -> WindowOutput:
        """End of input: the watermark goes to ``MAX_TIMESTAMP`` (all event-time windows fire
        and are cleaned up, as Flink at the end of a bounded stream) and, unless
        ``fire_processing_time`` is False, pending processing-time windows fire too. Incomplete
        count windows are not emitted (as Flink)."""
        out = self.advance_watermark(MAX_TIMESTAMP)
        if fire_processing_time and self._needs_pt:
            more = self.on_processing_time(MAX_TIMESTAMP)
            out = _concat_outputs(out, more)
        return out

    # -- internals ---------------------------------------------------------------------------------
    def _batch_len(self, columns: Mapping[str, np.ndarray], ts: np.ndarray | None) -> int:
        if ts is not None:
            return int(np.asarray(ts).shape[0])
        for c in columns.values():
            return int(np.asarray(c).shape[0])
        return 0

    def _time_arrays(
        self, n: int, timestamps: np.ndarray | None, watermarks: np.ndarray | None
    ) -> tuple[np.ndarray | None, np.ndarray]:
        ts = None if timestamps is None else np.ascontiguousarray(timestamps, np.int64)
        if self.assigner.domain == EVENT_TIME and ts is None:
            raise InvalidWindowConfigError("event-time windows need timestamps")
        if self._cfg[wk.C_USES_WM]:
            if watermarks is None:
                raise InvalidWindowConfigError(
                    "event-time windows and triggers need per-record watermarks "
                    "(WatermarkTracker.advance)"
                )
            wms = np.ascontiguousarray(watermarks, np.int64)
        else:
            wms = np.empty(n, np.int64)
        for name, arr in (("timestamps", ts), ("watermarks", wms)):
            if arr is not None and arr.shape != (n,):
                raise InvalidWindowConfigError(f"{name} must have shape ({n},), got {arr.shape}")
        return ts, wms

    def _key_ids(self, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        if self.key is None:
            if not len(self._keys):
                self._keys.encode(np.zeros(1, np.int64))
            return np.zeros(n, np.int64)
        if self.key not in columns:
            raise SchemaError(
                f"key column {self.key!r} is not in the batch (columns: {sorted(columns)})"
            )
        return self._keys.encode(columns[self.key])

    def _gaps(self, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        ext = getattr(self.assigner, "gap_extractor", None)
        if self.assigner.kind != SESSION or ext is None:
            return np.empty(0, np.int64)
        gaps = np.asarray(ext(columns))
        if gaps.shape != (n,) or gaps.dtype.kind not in "iu":
            raise InvalidWindowConfigError(
                "dynamic session gaps must be an int array of shape "
                f"({n},), got {gaps.dtype} {gaps.shape}"
            )
        bad = np.nonzero(gaps <= 0)[0]
        if bad.size:
            raise InvalidWindowConfigError(
                f"dynamic session gap must be positive; record {int(bad[0])} has "
                f"{int(gaps[bad[0]])}"
            )
        return gaps.astype(np.int64)

    def _values(self, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        vals = np.empty((len(self._value_columns), n), np.float64)
        for j, name in enumerate(self._value_columns):
            if name not in columns:
                raise SchemaError(
                    f"aggregated column {name!r} is not in the batch (columns: {sorted(columns)})"
                )
            col = np.asarray(columns[name])
            if col.dtype.kind in "iub":
                self._int_columns.add(name)
            elif col.dtype.kind != "f":
                raise InvalidWindowConfigError(
                    f"column {name!r} has dtype {col.dtype}; built-in aggregates need numbers"
                )
            vals[j] = col
        return vals

    def _run(
        self,
        keys: np.ndarray,
        ts: np.ndarray,
        wms: np.ndarray,
        gaps: np.ndarray,
        vals: np.ndarray,
        user_cols: Mapping[str, np.ndarray],
    ) -> None:
        st = self._state
        cfg = self._cfg
        cfg[wk.C_LOG] = int(self._user is not None)

        def flush_log() -> None:
            if self._user is not None:
                self._user.replay(st.LOG[: st.ks[wk.K_LOG]], user_cols, st.O, self._decode_one)
            st.ks[wk.K_LOG] = 0

        while True:
            status = wk.run_windows(
                cfg,
                st.ks,
                self._ops,
                keys,
                ts,
                wms,
                gaps,
                vals,
                st.S,
                st.A,
                st.FREE,
                st.K,
                st.HT,
                st.HEV,
                st.HPT,
                st.BK,
                st.TN,
                st.O,
                st.OV,
                st.L,
                st.LOG,
            )
            if status == wk.DONE:
                break
            st.grow(status, flush_log)
        flush_log()
        if self._user is not None:
            self._user.end_batch(user_cols)

    def _run_empty(self) -> None:
        e = np.empty(0, np.int64)
        self._run(e, e, e, e, np.empty((len(self._value_columns), 0)), {})

    def _decode_one(self, key_id: int) -> Any:
        if self.key is None:
            return None
        v = self._keys.decode(np.array([key_id]))[0]
        return v.item() if hasattr(v, "item") else v

    def _collect(self, user_cols: Mapping[str, np.ndarray]) -> WindowOutput:
        st = self._state
        m = int(st.ks[wk.K_OUT])
        O, OV = st.O[:m], st.OV[:m]
        res: dict[str, np.ndarray] = {}
        if self.key is not None:
            res["key"] = self._keys.decode(O[:, 0]) if m else np.empty(0, object)
        res["window_start"] = O[:, 1].copy()
        res["window_end"] = O[:, 2].copy()
        res["timing"] = O[:, 3].astype(np.int8)
        res.update(builtin_results(self.builtins, O, OV, self._int_columns))
        if self._user is not None:
            for n, col in self._user.take_results(m).items():
                if n in RESERVED_COLUMNS or n in self.builtins:
                    raise InvalidWindowConfigError(
                        f"window function output column {n!r} clashes with another column"
                    )
                res[n] = col
        late: dict[str, np.ndarray] = {}
        nl = int(st.ks[wk.K_LATE])
        if nl:
            L = st.L[:nl]
            idx = L[:, 0]
            late = {n: np.asarray(c)[idx] for n, c in user_cols.items() if n != ARRIVAL}
            late["window_start"] = L[:, 1].copy()
            late["window_end"] = L[:, 2].copy()
        return WindowOutput(res, late)

    # -- snapshot ----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Plain-data state for :func:`windows.snapshot.encode_snapshot`."""
        return {
            "kind": "WindowOperator",
            "fingerprint": self.fingerprint(),
            "keys": self._keys.snapshot(),
            "kernel": self._state.snapshot(len(self._keys)),
            "int_columns": sorted(self._int_columns),
            "user": None if self._user is None else self._user.snapshot(),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replace this operator's state with one from :meth:`snapshot`.

        Raises
        ------
        SnapshotError
            If the state is malformed or was taken from a differently configured operator.
        """
        if state.get("kind") != "WindowOperator":
            raise SnapshotError("not a WindowOperator snapshot")
        if state.get("fingerprint") != self.fingerprint():
            raise SnapshotError("snapshot was taken from a differently configured operator")
        self._keys.restore(state["keys"])
        self._state.restore(state["kernel"])
        self._int_columns = set(state.get("int_columns", []))
        if self._user is not None:
            self._user.restore(state["user"] or {"accs": {}, "records": {}})


def _concat_outputs(a: WindowOutput, b: WindowOutput) -> WindowOutput:
    def cat(x: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not x or not len(next(iter(x.values()))):
            return y
        if not y or not len(next(iter(y.values()))):
            return x
        return {k: np.concatenate([x[k], y[k]]) for k in x}

    return WindowOutput(cat(a.results, b.results), cat(a.late, b.late))
