"""The output does not depend on how the input is cut into batches (event-time and count
windows; processing time is wall-clock behaviour and excluded)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from win_helpers import PROPERTY, bounded, columns, split
from win_strategies import aggregate_sets, assigners, streams, triggers

from windows import (
    AggregateFunction,
    CountTrigger,
    GlobalWindows,
    ProcessWindowFunction,
    PurgingTrigger,
    SlidingCountWindows,
    TimeWindow,
    TumblingCountWindows,
    WindowOperator,
    WindowOutput,
)
from windows import aggregates as agg


class SumOfSquares(AggregateFunction[float]):
    def create_accumulator(self) -> float:
        return 0.0

    def add(self, value: Mapping[str, Any], accumulator: float) -> float:
        v = value["v"]
        return accumulator if math.isnan(v) else accumulator + v * v

    def merge(self, a: float, b: float) -> float:
        return a + b

    def get_result(self, accumulator: float) -> float:
        return accumulator


class Spread(ProcessWindowFunction):
    """Records seen by the firing, in arrival order, as a string (checks order and content)."""

    def process(self, key: Any, window: TimeWindow,
                records: Mapping[str, np.ndarray]) -> Mapping[str, Any]:
        return {"ids": ",".join(str(i) for i in records["idx"].tolist()),
                "span": int(window.end - window.start)}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def _table(outs: list[WindowOutput]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """All result rows and late rows of a run, every column, in order."""
    res: list[tuple[Any, ...]] = []
    late: list[tuple[Any, ...]] = []
    for o in outs:
        for part, acc in ((o.results, res), (o.late, late)):
            if part:
                names = sorted(part)
                n = len(part[names[0]])
                acc += [tuple((c, _plain(part[c][j].item() if hasattr(part[c][j], "item")
                                         else part[c][j])) for c in names) for j in range(n)]
    return res, late


def _run(make: Any, cols: dict[str, np.ndarray], ts: np.ndarray | None,
         wms: np.ndarray | None, cuts: list[int]) -> tuple[list[Any], list[Any]]:
    op = make()
    outs = [op.process(c, timestamps=t, watermarks=w) for c, t, w in split(cols, ts, wms, cuts)]
    outs.append(op.finish())
    return _table(outs)


@PROPERTY
@given(s=streams(), assigner=assigners(), trigger=triggers(), aggs=aggregate_sets(),
       delay=st.integers(0, 30), lateness=st.sampled_from([0, 7, 40]),
       user=st.booleans(), data=st.data())
def test_event_time_output_is_independent_of_batches(
        s: dict[str, Any], assigner: Any, trigger: Any, aggs: dict[str, Any], delay: int,
        lateness: int, user: bool, data: st.DataObject) -> None:
    def make() -> WindowOperator:
        all_aggs: dict[str, Any] = dict(aggs)
        if user:
            all_aggs["sq"] = SumOfSquares()
        return WindowOperator(assigner, all_aggs, key="k", trigger=trigger,
                              allowed_lateness=lateness,
                              window_function=Spread() if user else None)

    cols = columns(s["keys"], v=np.asarray(s["v"], np.float64), g=np.asarray(s["g"], np.int64))
    wms = bounded(s["ts"], delay)
    whole = _run(make, cols, s["ts"], wms, [])
    cuts = data.draw(st.lists(st.integers(0, len(s["keys"])), max_size=6), label="cuts")
    assert _run(make, cols, s["ts"], wms, cuts) == whole
    if len(s["keys"]) <= 20:
        one_by_one = list(range(len(s["keys"])))
        assert _run(make, cols, s["ts"], wms, one_by_one) == whole


@PROPERTY
@given(s=streams(max_len=50), size=st.integers(1, 5), slide=st.integers(1, 5),
       kind=st.sampled_from(["tumbling", "sliding", "global"]), user=st.booleans(),
       data=st.data())
def test_count_and_global_windows_are_independent_of_batches(
        s: dict[str, Any], size: int, slide: int, kind: str, user: bool,
        data: st.DataObject) -> None:
    def make() -> WindowOperator:
        aggs: dict[str, Any] = {"n": agg.count(), "s": agg.sum("v"), "f": agg.first("v"),
                                "l": agg.last("v")}
        if user:
            aggs["sq"] = SumOfSquares()
        wf = Spread() if user else None
        if kind == "global":
            return WindowOperator(GlobalWindows.create(), aggs, key="k", window_function=wf,
                                  trigger=PurgingTrigger.of(CountTrigger.of(size)))
        a = TumblingCountWindows.of(size) if kind == "tumbling" else SlidingCountWindows.of(
            size, slide)
        return WindowOperator(a, aggs, key="k", window_function=wf)

    n = len(s["keys"])
    cols = columns(s["keys"], v=np.asarray(s["v"], np.float64))
    # timestamps given (first/last without them order by arrival: tested below)
    wms = bounded(s["ts"], 5)
    whole = _run(make, cols, s["ts"], wms, [])
    cuts = data.draw(st.lists(st.integers(0, n), max_size=6), label="cuts")
    assert _run(make, cols, s["ts"], wms, cuts) == whole


def test_first_and_last_without_timestamps_are_independent_of_batches() -> None:
    def last_values(cuts: list[int]) -> list[tuple[float, float]]:
        op = WindowOperator(GlobalWindows.create(), {"f": agg.first("v"), "l": agg.last("v")},
                            key="k", trigger=PurgingTrigger.of(CountTrigger.of(3)))
        cols = columns(["a"] * 6, v=np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
        rows = []
        for c, _, _ in split(cols, None, None, cuts):
            out = op.process(c)
            rows += list(zip(out.results["f"].tolist(), out.results["l"].tolist(),
                             strict=True))
        return rows

    assert last_values([]) == [(1.0, 3.0), (4.0, 6.0)]
    assert last_values([2, 5]) == [(1.0, 3.0), (4.0, 6.0)]
