"""The operators of a job: MATCH_RECOGNIZE rules and window aggregations over one stream.

A :class:`Pipeline` is built from a :class:`~connectors.jobfile.JobSpec`. Every batch goes to
every rule and window in one pass; each produces named outputs (:class:`Output`): a rule's
matches under the rule's name, a window's (``having``-filtered) results under the window's
name, and the records that arrived too late for an operator under ``"<operator>.late"``.

Input filters (a rule's ``FROM (SELECT * FROM t WHERE ...)`` or a window's ``where``) drop
rows before the operator sees them, but the operator still sees the watermark every
dropped row moved: each kept row is handled under exactly the watermark it would have had in
the unfiltered stream, so filtering never changes which records are late.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cep.outputs import CepOutput
from connectors.errors import JobFileError
from connectors.jobfile import JobSpec, WindowSpec
from windows import (
    EventTimeSessionWindows,
    SlidingEventTimeWindows,
    TumblingEventTimeWindows,
    WindowOperator,
    aggregates,
)
from windows.operator import WindowOutput
from windows.triggers import Timing

__all__ = ["Output", "Pipeline", "RuleRunner", "WindowRunner", "composite_key"]

_TIMING_NAMES = np.array([t.name.lower() for t in Timing], dtype=object)


@dataclass(frozen=True)
class Output:
    """Rows one operator produced for one output.

    Attributes
    ----------
    name : str
        Output name: the rule or window name, or ``"<operator>.late"``.
    columns : dict of str to ndarray, each shape (n,)
        The rows.
    order : ndarray of int64, shape (n,)
        Event time at which each row was produced (epoch ms): a match's emission time, a
        window's end, a late record's timestamp. Used to order output deterministically.
    """

    name: str
    columns: dict[str, np.ndarray]
    order: np.ndarray

    def __len__(self) -> int:
        return int(self.order.shape[0])


def composite_key(columns: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """One key column from several: the values' text joined with U+001F.

    Parameters
    ----------
    columns : mapping of str to ndarray, each shape (n,)
    names : sequence of str
        At least two column names.

    Returns
    -------
    ndarray of str, shape (n,)
    """
    parts = [np.asarray(columns[c]).astype(str) for c in names]
    out = parts[0]
    for p in parts[1:]:
        out = np.char.add(np.char.add(out, "\x1f"), p)
    return out


def _mask(expr: Any, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    value = expr.evaluate(columns, n)
    arr = np.asarray(value)
    if arr.dtype == object:
        arr = np.array([v is True or (v is not None and bool(v)) for v in arr.tolist()], bool)
    return np.broadcast_to(arr.astype(bool, copy=False), (n,))


def _filtered_watermarks(wms: np.ndarray, wm_before: int, keep: np.ndarray
                         ) -> tuple[int, np.ndarray]:
    """Watermarks for the kept rows of a batch so that each kept row is handled under the
    watermark it had in the full batch. Returns the watermark to reach before the first kept
    row and the per-kept-row watermark array (the operator contract: row ``i`` is handled
    under ``watermarks[i-1]``)."""
    idx = np.flatnonzero(keep)
    before = np.concatenate([np.array([wm_before], np.int64), wms[:-1]])
    if idx.size == 0:
        return wm_before, np.empty(0, np.int64)
    arg = np.empty(idx.size, np.int64)
    arg[:-1] = before[idx[1:]]
    arg[-1] = wms[idx[-1]]
    return int(before[idx[0]]), arg


class _Runner:
    """What a rule and a window runner share: the input filter (which keeps the full
    stream's watermarks, see :func:`_filtered_watermarks`), the key column, and moving the
    watermark. Subclasses set ``op``, ``_filter`` and implement ``_outputs`` and
    ``_with_key``."""

    op: Any
    _filter: Any = None

    def _outputs(self, res: Any) -> list[Output]:
        raise NotImplementedError

    def _with_key(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return columns

    def process(self, columns: dict[str, np.ndarray], ts: np.ndarray, wms: np.ndarray
                ) -> list[Output]:
        """Feed one batch (all rows; the input filter is applied here). Afterwards the
        operator's watermark is the batch's last watermark, even if its last rows were
        filtered out."""
        outs: list[Output] = []
        if self._filter is not None:
            keep = _mask(self._filter, columns, ts.shape[0])
            first, wms_kept = _filtered_watermarks(wms, self.op.current_watermark, keep)
            outs += self.advance(first)
            columns = {k: v[keep] for k, v in columns.items()}
            ts = ts[keep]
        else:
            wms_kept = wms
        if ts.shape[0]:
            outs += self._outputs(self.op.process(self._with_key(columns), ts, wms_kept))
        if wms.shape[0]:
            outs += self.advance(int(wms[-1]))
        return outs

    def advance(self, watermark: int) -> list[Output]:
        """Move the watermark without records."""
        if watermark > self.op.current_watermark:
            return self._outputs(self.op.advance_watermark(watermark))
        return []

    def finish(self) -> list[Output]:
        """End of input."""
        return self._outputs(self.op.finish())


class RuleRunner(_Runner):
    """One compiled MATCH_RECOGNIZE rule on a :class:`cep.CepOperator` in event time.

    Parameters
    ----------
    rule : cep.sql.Rule
        The compiled rule.
    """

    def __init__(self, rule: Any) -> None:
        self.rule = rule
        self.name: str = rule.name
        self.op = rule.operator(engine="auto", emit_timeouts=False)
        self._filter = rule.input_filter
        self.matches = 0

    def _outputs(self, res: CepOutput) -> list[Output]:
        outs = []
        if len(res.matches):
            cols = self.rule.measures(res.matches)
            self.matches += len(res.matches)
            order = (res.matches.timestamp if self.rule.rows_per_match == "one"
                     else res.matches.timestamp[res.matches.match_index])
            outs.append(Output(self.name, cols, np.asarray(order, np.int64)))
        if len(res.late):
            outs.append(_late_output(self.name, res.late.timestamps, res.late.columns))
        return outs

    def _with_key(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.rule.partition_by:
            columns = dict(columns)
            columns["__key__"] = self.rule.key_column(columns)
        return columns


def _late_output(operator: str, timestamps: np.ndarray, columns: Mapping[str, np.ndarray]
                 ) -> Output:
    n = timestamps.shape[0]
    cols: dict[str, np.ndarray] = {"operator": np.full(n, operator, dtype=object)}
    cols.update({k: v for k, v in columns.items() if not k.startswith("__")})
    return Output(f"{operator}.late", cols, np.asarray(timestamps, np.int64))


def _assigner(spec: WindowSpec) -> Any:
    if spec.type == "tumbling":
        return TumblingEventTimeWindows.of(spec.size, spec.offset)
    if spec.type == "sliding":
        return SlidingEventTimeWindows.of(spec.size, spec.slide, spec.offset)
    return EventTimeSessionWindows.with_gap(spec.gap)


_AGGS: dict[str, Callable[..., Any]] = {
    "count": aggregates.count, "sum": aggregates.sum, "min": aggregates.min,
    "max": aggregates.max, "mean": aggregates.mean, "first": aggregates.first,
    "last": aggregates.last}


class WindowRunner(_Runner):
    """One window aggregation of a job (a :class:`windows.WindowOperator` in event time),
    with its ``where`` input filter and ``having`` output filter.

    Parameters
    ----------
    spec : WindowSpec
    column_types : mapping of str to str
        Schema column name -> field type, to check the filters.

    Raises
    ------
    cep.sql.RuleError
        If ``where`` or ``having`` is not a valid expression over the available columns.
    windows.errors.WindowError
        If the window configuration is invalid.
    """

    def __init__(self, spec: WindowSpec, column_types: Mapping[str, str]) -> None:
        self.spec = spec
        self.name = spec.name
        source = f"window '{spec.name}'"
        if spec.where is not None or spec.having is not None:
            from cep.sql import compile_expression
        self._filter = (None if spec.where is None else
                       compile_expression(spec.where, columns=dict(column_types),
                                          source=f"{source} where"))
        out_types = {k: column_types.get(k, "string") for k in spec.key}
        out_types.update({"window_start": "timestamp", "window_end": "timestamp",
                          "timing": "string"})
        for name, (fn, arg) in spec.aggregates.items():
            out_types[name] = ("int64" if fn == "count" else
                               column_types.get(arg or "", "float64")
                               if fn in ("min", "max", "first", "last") else "float64")
        self._having = (None if spec.having is None else
                        compile_expression(spec.having, columns=out_types,
                                           source=f"{source} having"))
        keys = spec.key
        self._key_col = None if not keys else keys[0] if len(keys) == 1 else "__key"
        aggs = {n: (_AGGS[fn]() if fn == "count" else _AGGS[fn](arg))
                for n, (fn, arg) in spec.aggregates.items()}
        self.op = WindowOperator(_assigner(spec), aggs, key=self._key_col,
                                 allowed_lateness=spec.allowed_lateness)
        self.results = 0

    def _outputs(self, res: WindowOutput) -> list[Output]:
        outs = []
        if res.num_results:
            r = res.results
            cols: dict[str, np.ndarray] = {}
            if self._key_col == "__key":
                parts = np.char.split(r["key"].astype(str), "\x1f")
                for i, k in enumerate(self.spec.key):
                    cols[k] = np.array([p[i] for p in parts.tolist()], dtype=object)
            elif self._key_col is not None:
                cols[self._key_col] = r["key"]
            cols["window_start"] = r["window_start"]
            cols["window_end"] = r["window_end"]
            cols["timing"] = _TIMING_NAMES[r["timing"].astype(np.int64)]
            for name in self.spec.aggregates:
                cols[name] = r[name]
            n = cols["window_start"].shape[0]
            if self._having is not None:
                keep = _mask(self._having, cols, n)
                cols = {k: v[keep] for k, v in cols.items()}
            if cols["window_start"].shape[0]:
                self.results += cols["window_start"].shape[0]
                outs.append(Output(self.name, cols, cols["window_end"] - 1))
        if res.num_late:
            late = {k: v for k, v in res.late.items() if k != "timestamp"}
            outs.append(_late_output(self.name, res.late["timestamp"], late))
        return outs

    def _with_key(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._key_col == "__key":
            columns = dict(columns)
            columns["__key"] = composite_key(columns, self.spec.key)
        return columns


class Pipeline:
    """Every rule and window of a job over one stream.

    Parameters
    ----------
    spec : JobSpec

    Raises
    ------
    cep.sql.RuleError
        For the first invalid rule (use ``cep check`` to see all of them).
    JobFileError
        If two outputs have the same name, or a rule orders by another column than the
        job's event time.
    """

    def __init__(self, spec: JobSpec) -> None:
        types = {f.name: f.type for f in spec.schema.fields}
        self.rules: list[RuleRunner] = []
        if spec.rules:
            from cep.sql import compile_rules

            rules = [r for rs in spec.rules
                     for r in compile_rules(rs.text, source=rs.source, columns=types)]
            for r in rules:
                if r.order_by != spec.schema.event_time:
                    raise JobFileError(
                        f"{r.source}:{r.line}: rule '{r.name}' orders by {r.order_by!r} but the "
                        f"job's event-time column is {spec.schema.event_time!r}")
            self.rules = [RuleRunner(r) for r in rules]
        self.windows = [WindowRunner(w, types) for w in spec.windows]
        names = [r.name for r in self.rules] + [w.name for w in self.windows]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise JobFileError(f"output names must be unique; repeated: {dup} (name rules with "
                               "MATCH_RECOGNIZE (...) AS name)")
        self.output_names: tuple[str, ...] = tuple(names)

    def process(self, columns: dict[str, np.ndarray], ts: np.ndarray, wms: np.ndarray
                ) -> list[Output]:
        """Run one batch through every operator.

        Parameters
        ----------
        columns : dict of str to ndarray, each shape (n,)
        ts : ndarray of int64, shape (n,)
            Event times (epoch ms).
        wms : ndarray of int64, shape (n,)
            Watermark after each record (see :meth:`windows.watermarks.WatermarkTracker.advance`).

        Returns
        -------
        list of Output
        """
        outs: list[Output] = []
        for op in self._operators():
            outs += op.process(columns, ts, wms)
        return outs

    def finish(self) -> list[Output]:
        """End of input: every operator's watermark goes to the maximum."""
        outs: list[Output] = []
        for op in self._operators():
            outs += op.finish()
        return outs

    def _operators(self) -> list[RuleRunner | WindowRunner]:
        return [*self.rules, *self.windows]
