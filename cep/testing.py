"""A small harness to test patterns: feed events and watermarks, get matches, timeouts and late
events (for users and for cepkit's own conformance suite).

Examples
--------
>>> from cep import Pattern, col
>>> from cep.testing import PatternHarness
>>> p = Pattern.begin("a").where(col("name") == "a").followed_by("b").where(col("name") == "b")
>>> h = PatternHarness(p)
>>> _ = h.add({"name": "a"}, ts=1).add({"name": "c"}, ts=2).add({"name": "b"}, ts=3)
>>> h.finish().values("name")
[['a', 'b']]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cep.nfa import NFA
from cep.operator import CepOperator, EngineName, TimeMode
from cep.outputs import CepOutput, Match, TimedOutMatch
from cep.pattern import Pattern
from windows.watermarks import WatermarkStrategy, WatermarkTracker

__all__ = ["HarnessResult", "PatternHarness", "match_values", "run_pattern"]


def match_values(match: Match, field_name: str) -> list[Any]:
    """The values of ``field_name`` of a match's events, stage by stage in pattern order (as
    Flink's test utilities flatten a match)."""
    return [e[field_name] for events in match.events.values() for e in events]


@dataclass
class HarnessResult:
    """Everything a harness run produced, as Python objects.

    Attributes
    ----------
    matches : list of Match
    timeouts : list of TimedOutMatch
    late : list of dict
        Late events (fields, plus the timestamp under ``"__ts__"``).
    dropped_partial_matches : int
    """

    matches: list[Match] = field(default_factory=list)
    timeouts: list[TimedOutMatch] = field(default_factory=list)
    late: list[dict[str, Any]] = field(default_factory=list)
    dropped_partial_matches: int = 0

    def values(self, field_name: str) -> list[list[Any]]:
        """``match_values(m, field_name)`` for every match, in emission order."""
        return [match_values(m, field_name) for m in self.matches]

    def timeout_values(self, field_name: str) -> list[list[Any]]:
        """``match_values(m, field_name)`` for every timed-out partial match."""
        return [match_values(m, field_name) for m in self.timeouts]

    def sorted_values(self, field_name: str) -> list[list[Any]]:
        """:meth:`values`, sorted (for comparisons that ignore emission order)."""
        return sorted(self.values(field_name))

    def add(self, out: CepOutput) -> None:
        """Append an operator output."""
        self.matches.extend(out.matches)
        self.timeouts.extend(out.timeouts)  # type: ignore[arg-type]
        for row, ts in zip(out.late.rows(), out.late.timestamps.tolist(), strict=True):
            row["__ts__"] = ts
            self.late.append(row)
        self.dropped_partial_matches += out.dropped_partial_matches


class PatternHarness:
    """Drive a :class:`~cep.CepOperator` with hand-written events.

    Events are queued with :meth:`add` and sent as one batch by :meth:`flush` (or every
    ``batch_size`` events). In event time the queued events carry the current watermark unless
    ``max_out_of_orderness`` is given, in which case a bounded-out-of-orderness
    :class:`~windows.watermarks.WatermarkTracker` computes a watermark after every event;
    :meth:`watermark` advances it explicitly. In processing time each flush uses the harness's
    processing time (:meth:`set_processing_time`).

    Parameters
    ----------
    pattern : Pattern or NFA
    key : str, optional
        Key column.
    time, engine, emit_timeouts
        As for :class:`~cep.CepOperator`.
    max_out_of_orderness : int, optional
        Generate watermarks automatically (ms).
    batch_size : int, optional
        Flush automatically every ``batch_size`` events.
    """

    def __init__(self, pattern: Pattern | NFA, *, key: str | None = None,
                 time: TimeMode = "event", engine: EngineName = "auto",
                 emit_timeouts: bool = True, max_out_of_orderness: int | None = None,
                 batch_size: int | None = None) -> None:
        self.operator = CepOperator(pattern, key=key, time=time, engine=engine,
                                    emit_timeouts=emit_timeouts)
        self._tracker: WatermarkTracker | None = None
        if max_out_of_orderness is not None:
            self._tracker = WatermarkStrategy.for_bounded_out_of_orderness(
                max_out_of_orderness).create_tracker(processing_time=0)
        self._batch_size = batch_size
        self._events: list[Mapping[str, Any]] = []
        self._ts: list[int] = []
        self._ptime = 0
        self.result = HarnessResult()

    def add(self, fields: Mapping[str, Any], ts: int | None = None) -> PatternHarness:
        """Queue one event (``ts`` is required in event time). Returns ``self``."""
        if self.operator.time_mode == "event" and ts is None:
            raise ValueError("event time needs a timestamp for every event")
        self._events.append(dict(fields))
        self._ts.append(0 if ts is None else int(ts))
        if self._batch_size is not None and len(self._events) >= self._batch_size:
            self.flush()
        return self

    def add_all(self, events: Iterable[Mapping[str, Any]],
                timestamps: Iterable[int] | None = None) -> PatternHarness:
        """Queue several events (with parallel timestamps in event time)."""
        evs = list(events)
        tss: Sequence[int | None] = (list(timestamps) if timestamps is not None
                                     else [None] * len(evs))
        for e, t in zip(evs, tss, strict=True):
            self.add(e, t)
        return self

    def flush(self) -> PatternHarness:
        """Send the queued events to the operator as one batch."""
        if not self._events:
            return self
        names = list(self._events[0])
        cols: dict[str, Any] = {}
        for k in names:
            values = [e[k] for e in self._events]
            arr = np.asarray(values)
            if arr.dtype.kind in "US":
                arr = np.asarray(values, dtype=object)
            cols[k] = arr
        ts = np.asarray(self._ts, np.int64)
        self._events, self._ts = [], []
        if self.operator.time_mode == "event":
            if self._tracker is not None:
                wms = self._tracker.advance(ts, processing_time=0)
            else:
                wms = np.full(ts.shape[0], self.operator.current_watermark, np.int64)
            self.result.add(self.operator.process(cols, ts, wms, processing_time=self._ptime))
        else:
            self.result.add(self.operator.process(cols, processing_time=self._ptime))
        return self

    def watermark(self, wm: int) -> PatternHarness:
        """Flush, then advance the watermark to ``wm`` (event time)."""
        self.flush()
        self.result.add(self.operator.advance_watermark(int(wm)))
        return self

    def set_processing_time(self, now: int) -> PatternHarness:
        """Flush, then set the processing time used for the next events (processing time:
        windows that expired by ``now`` time out)."""
        self.flush()
        self._ptime = int(now)
        if self.operator.time_mode == "processing":
            self.result.add(self.operator.advance_processing_time(self._ptime))
        return self

    def finish(self) -> HarnessResult:
        """Flush, end the input (see :meth:`cep.CepOperator.finish`) and return everything
        collected."""
        self.flush()
        self.result.add(self.operator.finish())
        return self.result


def run_pattern(pattern: Pattern | NFA, events: Iterable[Mapping[str, Any]],
                timestamps: Iterable[int] | None = None, **options: Any) -> HarnessResult:
    """Run ``pattern`` over ``events`` in one go and return the result of :meth:`finish`.

    ``timestamps`` default to 1, 2, 3, ... ; ``options`` go to :class:`PatternHarness`.
    """
    evs = list(events)
    tss = list(timestamps) if timestamps is not None else list(range(1, len(evs) + 1))
    h = PatternHarness(pattern, **options)
    if h.operator.time_mode == "processing":
        h.add_all(evs)
    else:
        h.add_all(evs, tss)
    return h.finish()
