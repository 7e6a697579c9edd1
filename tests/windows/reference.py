"""An independent, deliberately slow model of the window operator's semantics (the oracle of
the differential tests).

Written from the semantics (Flink's ``WindowOperator`` with punctuated watermarks), not from the
kernel: windows are Python objects holding their records, aggregates are computed from the
records at each firing, timers are a plain list searched for its minimum.

Per record ``i`` (event time ``t``, watermark ``W`` = the watermark after record ``i - 1``):

1. assign: tumbling/sliding windows from the latest start back while ``start > t - size``;
   sessions ``[t, t + gap)`` merged with every window of the key they intersect or touch;
2. late check: a window whose cleanup time ``end - 1 + allowed_lateness`` is ``<= W`` gets a
   ``late`` row ``(record, start, end)`` and the record is not added to it;
3. add the record, run the trigger's ``on_element``;

then the watermark advances to ``watermarks[i]`` and due timers fire in order of (time,
registration). Registering a timer that is already pending for the same window and time does
nothing (Flink's timer service de-duplicates); a merged session window is a new window whose
timers are registered when it is created by the merge. One deliberate difference from Flink,
as in the operator: when the watermark reaches MAX (end of input) a continuous event-time
trigger fires its pending early firing but registers no further ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from windows import (
    ContinuousEventTimeTrigger,
    CountTrigger,
    EventTimeSessionWindows,
    EventTimeTrigger,
    PurgingTrigger,
    SlidingCountWindows,
    SlidingEventTimeWindows,
    TumblingCountWindows,
    TumblingEventTimeWindows,
)
from windows.aggregates import BuiltinAggregate

MIN_TS = -(2**63)
MAX_TS = 2**63 - 1
EARLY, ON_TIME, LATE = 0, 1, 2


# -- aggregates ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rec:
    """One input record: arrival number (over the whole stream), key, event time, values."""

    index: int
    key: Any
    ts: int
    values: Mapping[str, float]


def aggregate(agg: BuiltinAggregate, records: Sequence[Rec]) -> float:
    """The value of a built-in aggregate over ``records`` (NaN values are skipped)."""
    if agg.name == "count" and agg.column is None:
        return len(records)
    col = agg.column
    assert col is not None
    present = [r for r in records if not math.isnan(r.values[col])]
    vals = [r.values[col] for r in present]
    if agg.name == "count":
        return len(vals)
    if not vals:
        return math.nan
    if agg.name == "sum":
        return sum(vals)
    if agg.name == "min":
        return min(vals)
    if agg.name == "max":
        return max(vals)
    if agg.name == "mean":
        return sum(vals) / len(vals)
    if agg.name == "first":
        return min(present, key=lambda r: (r.ts, r.index)).values[col]
    if agg.name == "last":
        return max(present, key=lambda r: (r.ts, r.index)).values[col]
    raise AssertionError(f"unknown aggregate {agg!r}")


# -- windows and timers ------------------------------------------------------------------------
@dataclass(eq=False)
class RefWindow:
    key: Any
    start: int
    end: int
    records: list[Rec] = field(default_factory=list)
    count: int = 0  # CountTrigger state
    cont: int | None = None  # ContinuousEventTimeTrigger: next fire time
    alive: bool = True

    @property
    def max_timestamp(self) -> int:
        return self.end - 1


@dataclass(frozen=True)
class Row:
    """One result row, with ``group``: when it fired (used to compare the order of firings that
    share a time but whose relative order is not defined)."""

    key: Any
    start: int
    end: int
    timing: int
    values: tuple[float, ...]
    group: tuple[Any, ...]

    def plain(self) -> tuple[Any, ...]:
        return (self.key, self.start, self.end, self.timing, self.values)


@dataclass
class RefOutput:
    results: list[Row] = field(default_factory=list)
    late: list[tuple[int, int, int]] = field(default_factory=list)  # (record, start, end)

    def extend(self, other: RefOutput) -> None:
        self.results.extend(other.results)
        self.late.extend(other.late)


class ReferenceWindowOperator:
    """Event-time tumbling/sliding/session windows with event-time, count, continuous
    event-time triggers (optionally purging) and built-in aggregates; a model of
    :class:`windows.WindowOperator` (``key`` given per record)."""

    def __init__(self, assigner: Any, aggregates: Mapping[str, BuiltinAggregate], *,
                 trigger: Any = None, allowed_lateness: int = 0) -> None:
        self.assigner = assigner
        self.aggs = dict(aggregates)
        trigger = EventTimeTrigger() if trigger is None else trigger
        self.purging = isinstance(trigger, PurgingTrigger)
        self.trigger = trigger.nested if self.purging else trigger
        assert isinstance(self.trigger, (EventTimeTrigger, CountTrigger,
                                         ContinuousEventTimeTrigger))
        assert isinstance(assigner, (TumblingEventTimeWindows, SlidingEventTimeWindows,
                                     EventTimeSessionWindows))
        self.lateness = allowed_lateness
        self.wm = MIN_TS
        self.windows: dict[Any, list[RefWindow]] = {}  # key -> live windows
        self.timers: list[tuple[int, int, RefWindow]] = []  # (time, seq, window), pending
        self.seq = 0
        self.step = 0  # number of watermark advances (tags firing groups)
        self.arrivals = 0

    # -- helpers ---------------------------------------------------------------------------
    def cleanup_time(self, w: RefWindow) -> int:
        return min(w.max_timestamp + self.lateness, MAX_TS)

    def register(self, w: RefWindow, time: int) -> None:
        if any(tw is w and tt == time for tt, _, tw in self.timers):
            return  # already pending: the timer service keeps one timer per (window, time)
        self.timers.append((time, self.seq, w))
        self.seq += 1

    def is_time_trigger(self) -> bool:
        return isinstance(self.trigger, (EventTimeTrigger, ContinuousEventTimeTrigger))

    def new_window(self, key: Any, start: int, end: int) -> RefWindow:
        w = RefWindow(key, start, end)
        self.windows.setdefault(key, []).append(w)
        self.register(w, self.cleanup_time(w))
        if self.is_time_trigger() and w.max_timestamp > self.wm:
            self.register(w, w.max_timestamp)
        return w

    def retire(self, w: RefWindow) -> None:
        w.alive = False
        self.windows[w.key].remove(w)
        self.timers = [x for x in self.timers if x[2] is not w]

    def fire(self, w: RefWindow, timing: int, group: tuple[Any, ...], out: RefOutput) -> None:
        if w.records:  # empty windows never emit
            vals = tuple(aggregate(a, w.records) for a in self.aggs.values())
            out.results.append(Row(w.key, w.start, w.end, timing, vals, group))
        if self.purging:
            w.records = []

    def on_element(self, w: RefWindow, rec: Rec, out: RefOutput) -> None:
        tr = self.trigger
        group = ("record", rec.index)
        if isinstance(tr, EventTimeTrigger):
            if w.max_timestamp <= self.wm:
                self.fire(w, LATE, group, out)
        elif isinstance(tr, CountTrigger):
            w.count += 1
            if w.count >= tr.count:
                w.count = 0
                self.fire(w, EARLY if self.wm < w.max_timestamp else LATE, group, out)
        else:  # ContinuousEventTimeTrigger
            if w.max_timestamp <= self.wm:
                self.fire(w, LATE, group, out)
            elif w.cont is None:
                iv = tr.interval
                w.cont = min((rec.ts // iv) * iv + iv, w.max_timestamp)
                self.register(w, w.cont)

    # -- assignment -------------------------------------------------------------------------
    def add_fixed(self, rec: Rec, start: int, end: int, out: RefOutput) -> None:
        if min(end - 1 + self.lateness, MAX_TS) <= self.wm:
            out.late.append((rec.index, start, end))
            return
        w = next((x for x in self.windows.get(rec.key, []) if x.start == start), None)
        if w is None:
            w = self.new_window(rec.key, start, end)
        w.records.append(rec)
        self.on_element(w, rec, out)

    def add_session(self, rec: Rec, gap: int, out: RefOutput) -> None:
        start, end = rec.ts, rec.ts + gap
        hits = [w for w in self.windows.get(rec.key, []) if w.start <= end and w.end >= start]
        if not hits:
            if min(end - 1 + self.lateness, MAX_TS) <= self.wm:
                out.late.append((rec.index, start, end))
                return
            w = self.new_window(rec.key, start, end)
        elif len(hits) == 1 and hits[0].start <= start and end <= hits[0].end:
            w = hits[0]  # inside an existing session: nothing merges
        else:
            lo = min([start] + [h.start for h in hits])
            hi = max([end] + [h.end for h in hits])
            # the earliest pending fire time carries over (Flink reduces them with min); a fire
            # time equal to the end of a window the watermark passed is spent (that window
            # fired on time) and is dropped, as EventTimeTrigger.onMerge registers no timer
            # behind the watermark: on_element fires the merged window LATE instead
            # (unless flink_merge: Flink's ContinuousEventTimeTrigger.onMerge keeps it)
            keep_spent = getattr(self.trigger, "flink_merge", False)
            conts = [h.cont for h in hits if h.cont is not None
                     and (keep_spent or not (h.cont == h.max_timestamp and h.cont <= self.wm))]
            records = [r for h in hits for r in h.records]
            count = sum(h.count for h in hits)
            for h in hits:
                self.retire(h)
            w = self.new_window(rec.key, lo, hi)
            w.records, w.count = records, count
            if conts:
                w.cont = min(conts)
                self.register(w, w.cont)
        w.records.append(rec)
        self.on_element(w, rec, out)

    # -- time -------------------------------------------------------------------------------
    def advance(self, watermark: int, out: RefOutput) -> None:
        if watermark <= self.wm:
            return
        self.wm = watermark
        self.step += 1
        while True:
            due = [x for x in self.timers if x[0] <= self.wm]
            if not due:
                return
            timer = min(due, key=lambda x: (x[0], x[1]))
            self.timers.remove(timer)
            time, _, w = timer
            if w.alive:
                self.on_timer(w, time, out)

    def on_timer(self, w: RefWindow, time: int, out: RefOutput) -> None:
        group = ("timer", self.step, time)
        fired = False
        if self.is_time_trigger() and time == w.max_timestamp:
            self.fire(w, ON_TIME, group, out)
            fired = True
        if isinstance(self.trigger, ContinuousEventTimeTrigger) and time == w.cont and not fired:
            # At the end of input (watermark MAX) the operator does not register further early
            # firings: they would all repeat the same contents (Flink would fire them all, and
            # never finish for global windows); the on-time firing remains.
            if self.wm != MAX_TS:
                w.cont = min(time + self.trigger.interval, w.max_timestamp)
                self.register(w, w.cont)
            self.fire(w, EARLY, group, out)
        if time == self.cleanup_time(w):
            self.retire(w)

    # -- public -------------------------------------------------------------------------------
    def process(self, keys: Sequence[Any], timestamps: Sequence[int],
                watermarks: Sequence[int], values: Mapping[str, Sequence[float]],
                gaps: Sequence[int] | None = None) -> RefOutput:
        out = RefOutput()
        a = self.assigner
        for i in range(len(keys)):
            rec = Rec(self.arrivals, keys[i], int(timestamps[i]),
                      {c: float(v[i]) for c, v in values.items()})
            self.arrivals += 1
            t = rec.ts
            if isinstance(a, EventTimeSessionWindows):
                gap = a.gap if a.gap is not None else int(gaps[i])  # type: ignore[index]
                self.add_session(rec, gap, out)
            else:
                size = a.size
                slide = a.slide if isinstance(a, SlidingEventTimeWindows) else a.size
                start = t - (t - a.offset) % slide  # Python's % is floor modulo
                while start > t - size:
                    self.add_fixed(rec, start, start + size, out)
                    start -= slide
            self.advance(int(watermarks[i]), out)
        return out

    def finish(self) -> RefOutput:
        out = RefOutput()
        self.advance(MAX_TS, out)
        return out


# -- count windows -------------------------------------------------------------------------------
class ReferenceCountWindows:
    """Every ``slide`` records of a key, a window over its last ``size`` records."""

    def __init__(self, assigner: TumblingCountWindows | SlidingCountWindows,
                 aggregates: Mapping[str, BuiltinAggregate]) -> None:
        self.size, self.slide = assigner.size, assigner.slide
        self.aggs = dict(aggregates)
        self.seen: dict[Any, list[Rec]] = {}
        self.arrivals = 0

    def process(self, keys: Sequence[Any], timestamps: Sequence[int] | None,
                values: Mapping[str, Sequence[float]]) -> list[tuple[Any, ...]]:
        rows = []
        for i, key in enumerate(keys):
            ts = self.arrivals if timestamps is None else int(timestamps[i])
            rec = Rec(self.arrivals, key, ts, {c: float(v[i]) for c, v in values.items()})
            self.arrivals += 1
            recs = self.seen.setdefault(key, [])
            recs.append(rec)
            n = len(recs)
            if n % self.slide == 0:
                window = recs[max(n - self.size, 0):]
                vals = tuple(aggregate(a, window) for a in self.aggs.values())
                rows.append((key, max(n - self.size, 0), n, ON_TIME, vals))
        return rows


# -- comparison helpers ---------------------------------------------------------------------------
def _norm(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if hasattr(v, "item"):
        return _norm(v.item())
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def norm_row(row: Iterable[Any]) -> tuple[Any, ...]:
    """A result row with NaN made comparable and integral floats as ints."""
    out = []
    for v in row:
        out.append(tuple(_norm(x) for x in v) if isinstance(v, tuple) else _norm(v))
    return tuple(out)


def result_rows(results: Mapping[str, Any], agg_names: Sequence[str],
                key: str | None = "key") -> list[tuple[Any, ...]]:
    """``WindowOutput.results`` as ``(key, start, end, timing, (values...))`` rows."""
    if not results:
        return []
    n = len(results["window_start"])
    rows = []
    for j in range(n):
        k = results[key][j] if key is not None else None
        rows.append(norm_row((k, results["window_start"][j], results["window_end"][j],
                              results["timing"][j],
                              tuple(results[a][j] for a in agg_names))))
    return rows


def late_rows(late: Mapping[str, Any], index_column: str = "idx") -> list[tuple[int, int, int]]:
    """``WindowOutput.late`` as ``(record index, start, end)`` rows."""
    if not late:
        return []
    return [(int(i), int(s), int(e)) for i, s, e in
            zip(late[index_column], late["window_start"], late["window_end"], strict=True)]


def bounded_watermarks(timestamps: Sequence[int], delay: int,
                       start_max: int = MIN_TS) -> list[int]:
    """Watermark after each record for bounded out-of-orderness ``delay`` on one partition:
    ``max timestamp so far - delay - 1`` (MIN before any record)."""
    out, hi = [], start_max
    for t in timestamps:
        hi = max(hi, int(t))
        out.append(MIN_TS if hi == MIN_TS else hi - delay - 1)
    return out
