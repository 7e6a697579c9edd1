"""The keyed CEP operator over columnar micro-batches (as Flink's ``CepOperator``).

Ordering of the outputs (deterministic, and independent of how the input is cut into
batches): every output belongs to a *step*, the index (counted over all batches) of the record
after which Flink's operator would emit it — in event time the first record whose watermark
reaches the time of the event, window end or advance that produced it; in processing time the
record that produced it (or the first record of the batch, for windows that expired before the
batch). Matches and timeouts are ordered by (step, key id, order of production within the key);
key ids are dense and given in order of first appearance. Late events come in arrival order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np

from cep.compiler import compile_pattern
from cep.errors import CepSchemaError, EngineUnavailableError
from cep.nfa import NFA
from cep.outputs import CepOutput, LateEvents, MatchTable
from cep.pattern import Pattern
from cep.runtime_ref import Collector, ReferenceRuntime
from cep.state import export_state, import_state
from windows.keys import KeyEncoder
from windows.snapshot import decode_snapshot, encode_snapshot
from windows.time import MAX_TIMESTAMP, MIN_TIMESTAMP, now_ms
from windows.watermarks import as_timestamps

__all__ = ["CepOperator", "EngineName", "TimeMode"]

TimeMode = Literal["event", "processing"]
EngineName = Literal["auto", "fast", "reference"]


def _out_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    return dtype if dtype.kind in "biuf" else np.dtype(object)


class CepOperator:
    """Detect a pattern per key in a stream of columnar batches.

    Parameters
    ----------
    pattern : Pattern or NFA
        The pattern (compiled here) or an already compiled NFA.
    key : str, optional
        Column holding the key (integers or strings; dense-encoded with
        :class:`windows.keys.KeyEncoder`). Without it the whole stream is one key (Flink's
        non-keyed ``CEP.pattern``).
    time : {"event", "processing"}
        Event time (default; needs timestamps and watermarks) or processing time.
    engine : {"auto", "fast", "reference"}
        ``"fast"``: Numba kernels over condition masks; ``"reference"``: the pure-Python
        engine (record by record; runs iterative conditions); ``"auto"``: fast unless the
        pattern has iterative conditions. Both give identical results.
    emit_timeouts : bool
        Report timed-out partial matches (default True; Flink does when the process function
        implements ``TimedOutPartialMatchHandler``).

    Raises
    ------
    MalformedPatternError
        If the pattern cannot be compiled.
    EngineUnavailableError
        If ``engine="fast"`` and the pattern has iterative conditions.
    """

    def __init__(self, pattern: Pattern | NFA, *, key: str | None = None,
                 time: TimeMode = "event", engine: EngineName = "auto",
                 emit_timeouts: bool = True) -> None:
        self.nfa = pattern if isinstance(pattern, NFA) else compile_pattern(pattern)
        if time not in ("event", "processing"):
            raise ValueError(f"time must be 'event' or 'processing', got {time!r}")
        if engine not in ("auto", "fast", "reference"):
            raise ValueError(f"engine must be 'auto', 'fast' or 'reference', got {engine!r}")
        if engine == "fast" and self.nfa.iterative:
            raise EngineUnavailableError("the fast path cannot run iterative conditions; use "
                                         "engine='reference' (or 'auto')")
        if engine == "auto":
            engine = "reference" if self.nfa.iterative else "fast"
        self.key = key
        self.time_mode: TimeMode = time
        self.engine_name: EngineName = engine
        self.emit_timeouts = emit_timeouts
        self._encoder = KeyEncoder()
        self._schema: dict[str, np.dtype[Any]] | None = None
        self._count = 0
        self._wm = MIN_TIMESTAMP
        self._finished = False
        self._runtime = self._make_runtime()

    def _make_runtime(self) -> Any:
        event_time = self.time_mode == "event"
        if self.engine_name == "reference":
            return ReferenceRuntime(self.nfa, event_time)
        from cep.runtime_fast import FastRuntime
        return FastRuntime(self.nfa, event_time)

    # -- properties -----------------------------------------------------------------------
    @property
    def current_watermark(self) -> int:
        """The watermark the operator has reached (event time; epoch ms)."""
        return self._wm

    @property
    def records_seen(self) -> int:
        """Number of records given to :meth:`process` so far."""
        return self._count

    def state_size(self) -> dict[str, int]:
        """Live state: ``keys`` with state, ``partial_matches``, ``pending_matches``
        (completed, held back by a skip strategy), ``buffered_events`` (waiting for the
        watermark), ``stored_events`` (held by the shared buffer) and ``buffer_nodes``."""
        return dict(self._runtime.state_size())

    # -- input --------------------------------------------------------------------------------
    def _columns(self, columns: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], int]:
        if not isinstance(columns, Mapping):
            raise TypeError("columns must be a mapping of column name to array")
        cols = {str(k): np.asarray(v) for k, v in columns.items()}
        lengths = {c.shape[0] if c.ndim == 1 else -1 for c in cols.values()}
        if len(lengths) > 1 or -1 in lengths:
            raise ValueError("every column must be a 1-d array of the same length")
        n = lengths.pop() if lengths else 0
        if self.key is not None and self.key not in cols:
            raise CepSchemaError(f"key column {self.key!r} is not in the batch "
                                 f"(columns: {sorted(cols)})")
        if self._schema is None:
            self._schema = {k: _out_dtype(v.dtype) for k, v in cols.items()}
        else:
            missing = [k for k in self._schema if k not in cols]
            if missing:
                raise CepSchemaError(f"the batch lacks columns {missing} seen in earlier "
                                     "batches")
        return cols, n

    def _schema_columns(self, cols: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert self._schema is not None
        out = {}
        for k, dt in self._schema.items():
            c = cols[k]
            if c.dtype != dt:
                if dt.kind != "O" and not np.can_cast(c.dtype, dt, "same_kind"):
                    raise CepSchemaError(f"column {k!r} has dtype {c.dtype}, earlier batches "
                                         f"had {dt}")
                c = c.astype(dt)
            out[k] = c
        return out

    def process(self, columns: Mapping[str, Any], timestamps: Any = None,
                watermarks: Any = None, processing_time: int | None = None) -> CepOutput:
        """Process one batch.

        Parameters
        ----------
        columns : mapping of str to ndarray, each of shape (n,)
            The events' fields (numeric, boolean, string or object arrays).
        timestamps : ndarray of int64, shape (n,)
            Event times, epoch ms (event time; ignored in processing time, where every event
            gets ``processing_time``).
        watermarks : ndarray of int64, shape (n,)
            ``watermarks[i]`` is the combined watermark after record ``i``, as returned by
            :meth:`windows.watermarks.WatermarkTracker.advance`: record ``i`` is handled under
            ``watermarks[i-1]`` (late if its timestamp is ``<=`` it) and then the watermark
            advances. A watermark lower than the current one is ignored.
        processing_time : int, optional
            Processing time of the batch, epoch ms (default: the wall clock); also the
            ``ctx.current_processing_time`` of iterative conditions.

        Returns
        -------
        CepOutput
            Matches, timeouts and late events produced by this batch.

        Raises
        ------
        CepSchemaError
            If the key column (or a column of earlier batches) is missing.
        ConditionError
            If a condition fails.
        """
        if self._finished:
            raise RuntimeError("the operator has finished; create a new one")
        cols, n = self._columns(columns)
        ptime = now_ms() if processing_time is None else int(processing_time)
        key_ids = (self._encoder.encode(cols[self.key]) if self.key is not None
                   else np.zeros(n, np.int64))
        if self.time_mode == "event":
            if timestamps is None or watermarks is None:
                raise ValueError("event-time processing needs timestamps and watermarks")
            ts = as_timestamps(timestamps)
            wms = np.asarray(watermarks, np.int64)
            if ts.shape != (n,) or wms.shape != (n,):
                raise ValueError("timestamps and watermarks must have one entry per record")
            wms = np.maximum.accumulate(np.maximum(wms, self._wm)) if n else wms
        else:
            ts = np.full(n, ptime, np.int64)
            wms = None
        schema_cols = self._schema_columns(cols)
        names = list(cols)
        cache: list[list[dict[str, Any]]] = []

        def rows() -> list[dict[str, Any]]:
            if not cache:
                cache.append([dict(zip(names, vals, strict=True)) for vals in
                              zip(*[cols[c].tolist() for c in names], strict=True)]
                             if names else [{} for _ in range(n)])
            return cache[0]

        atoms = self.nfa.atom_masks(cols, n, rows)
        out = Collector(self.emit_timeouts)
        late, tables = self._runtime.process(key_ids, ts, wms, atoms, schema_cols,
                                             self._count, ptime, out)
        self._count += n
        if wms is not None and n:
            self._wm = int(wms[-1])
        late_idx = np.asarray(late, np.int64)
        late_ev = LateEvents(self._encoder.decode(key_ids[late_idx]) if late_idx.size
                             else np.empty(0, object), ts[late_idx],
                             {k: v[late_idx] for k, v in schema_cols.items()})
        return self._output(out, tables, late_ev)

    def advance_watermark(self, watermark: int) -> CepOutput:
        """Event time: advance the watermark without a record (Flink's watermark element).

        Ready buffered events are processed and expired windows time out. A watermark not
        above the current one does nothing."""
        if self.time_mode != "event":
            raise RuntimeError("advance_watermark applies to event-time mode")
        if self._finished:
            raise RuntimeError("the operator has finished; create a new one")
        out = Collector(self.emit_timeouts)
        tables = None
        if int(watermark) > self._wm:
            self._wm = int(watermark)
            tables = self._runtime.advance_watermark(self._wm, self._count, out)
        return self._output(out, tables, self._no_late())

    def advance_processing_time(self, now: int) -> CepOutput:
        """Processing time: let windows that expired by ``now`` (epoch ms) time out without
        new input (Flink's processing-time timers)."""
        if self.time_mode != "processing":
            raise RuntimeError("advance_processing_time applies to processing-time mode")
        out = Collector(self.emit_timeouts)
        tables = self._runtime.advance_all(int(now), self._count, out)
        return self._output(out, tables, self._no_late())

    def finish(self) -> CepOutput:
        """End of input: the watermark (or processing time) moves to ``MAX_TIMESTAMP`` so
        buffered events are processed and every partial match with a window times out (a
        trailing ``not_followed_by`` then matches); partial matches without a window are
        dropped, as Flink drops them at the end of a job, and counted in
        ``dropped_partial_matches``. The operator accepts no input afterwards."""
        if self._finished:
            raise RuntimeError("finish() was already called")
        out = Collector(self.emit_timeouts)
        dropped, tables = self._runtime.finish(self._count, out)
        self._finished = True
        self._wm = MAX_TIMESTAMP
        res = self._output(out, tables, self._no_late())
        return replace(res, dropped_partial_matches=dropped)

    # -- outputs ----------------------------------------------------------------------------
    def _no_late(self) -> LateEvents:
        schema = self._schema or {}
        return LateEvents(np.empty(0, object), np.empty(0, np.int64),
                          {k: np.empty(0, v) for k, v in schema.items()})

    def _output(self, out: Collector, tables: tuple[MatchTable, MatchTable] | None,
                late: LateEvents) -> CepOutput:
        if tables is None:
            tables = (self._table(out.matches, False), self._table(out.timeouts, True))
        m, t = tables
        return CepOutput(self._decode(m), self._decode(t), late)

    def _decode(self, table: MatchTable) -> MatchTable:
        if not len(table):
            return replace(table, keys=np.empty(0, object))
        if self.key is None:
            return replace(table, keys=np.full(len(table), None, object))
        return replace(table, keys=self._encoder.decode(table.keys))

    def _table(self, entries: Sequence[tuple[int, int, int, int, int, Any]],
               timeouts: bool) -> MatchTable:
        schema = self._schema or {}
        names = self.nfa.stage_names
        if not entries:
            return MatchTable.empty(names, schema, timeouts)
        entries = sorted(entries, key=lambda e: (e[0], e[1], e[2]))
        offsets = np.zeros(len(entries) + 1, np.int64)
        codes: list[int] = []
        ets: list[int] = []
        vals: dict[str, list[Any]] = {k: [] for k in schema}
        for i, (_, _, _, _, _, rows) in enumerate(entries):
            for stage, t, row in rows:
                codes.append(stage)
                ets.append(t)
                for k in schema:
                    vals[k].append(row[k])
            offsets[i + 1] = len(codes)
        cols = {}
        for k, dt in schema.items():
            arr = np.empty(len(vals[k]), dt)
            arr[:] = vals[k]
            cols[k] = arr
        return MatchTable(np.asarray([e[1] for e in entries], np.int64),
                          np.asarray([e[3] for e in entries], np.int64), offsets,
                          np.asarray(codes, np.int64), np.asarray(ets, np.int64), cols, names,
                          np.asarray([e[4] for e in entries], np.int64) if timeouts else None)

    # -- snapshot -------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """Serialise the operator state (versioned, checksummed; see
        :mod:`windows.snapshot`). Restore it with :meth:`restore` into an operator built with
        the same pattern and configuration, on either engine."""
        state = export_state(self._runtime, self.nfa, self._schema or {})
        state.update(
            kind="cep-operator", fingerprint=self.nfa.fingerprint, key=self.key,
            time=self.time_mode, count=self._count, wm=self._wm, finished=self._finished,
            emit_timeouts=self.emit_timeouts,
            schema=[[k, v.str] for k, v in (self._schema or {}).items()]
            if self._schema is not None else None,
            keys=self._encoder.snapshot())
        return encode_snapshot(state)

    def restore(self, data: bytes) -> None:
        """Replace this operator's state with a snapshot from :meth:`snapshot`.

        Raises
        ------
        CepSnapshotError
            If the data is corrupt, of another format version, or was taken from an operator
            with another pattern or configuration.
        """
        from cep.errors import CepSnapshotError
        from windows.errors import SnapshotError
        try:
            state = decode_snapshot(data)
        except SnapshotError as exc:
            raise CepSnapshotError(str(exc)) from exc
        if state.get("kind") != "cep-operator":
            raise CepSnapshotError("not a CEP operator snapshot")
        if state.get("fingerprint") != self.nfa.fingerprint:
            raise CepSnapshotError("the snapshot was taken with another pattern")
        if state.get("key") != self.key or state.get("time") != self.time_mode:
            raise CepSnapshotError("the snapshot was taken with another key column or time "
                                   "mode")
        schema = state.get("schema")
        self._schema = ({k: np.dtype(v) for k, v in schema} if schema is not None else None)
        encoder = KeyEncoder()
        encoder.restore(state["keys"])
        runtime = self._make_runtime()
        import_state(runtime, self.nfa, state, self._schema or {})
        self._encoder = encoder
        self._runtime = runtime
        self._count = int(state["count"])
        self._wm = int(state["wm"])
        self._finished = bool(state["finished"])
