"""User AggregateFunction and ProcessWindowFunction: what they receive and what comes out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from win_helpers import bounded, columns, rows_of

from windows import (
    MIN_TIMESTAMP,
    AggregateFunction,
    CountTrigger,
    EventTimeSessionWindows,
    GlobalWindows,
    InvalidWindowConfigError,
    ProcessWindowFunction,
    PurgingTrigger,
    SlidingCountWindows,
    SlidingEventTimeWindows,
    TimeWindow,
    Timing,
    TumblingEventTimeWindows,
    WindowOperator,
)
from windows import aggregates as agg

ON_TIME, LATE = int(Timing.ON_TIME), int(Timing.LATE)


class Total(AggregateFunction[list[float]]):
    """Sum and count in a list accumulator; counts merge() calls."""

    def __init__(self) -> None:
        self.merges = 0
        self.seen: list[dict[str, Any]] = []

    def create_accumulator(self) -> list[float]:
        return [0.0, 0]

    def add(self, value: Mapping[str, Any], accumulator: list[float]) -> list[float]:
        self.seen.append(dict(value))
        return [accumulator[0] + value["v"], accumulator[1] + 1]

    def merge(self, a: list[float], b: list[float]) -> list[float]:
        self.merges += 1
        return [a[0] + b[0], a[1] + b[1]]

    def get_result(self, accumulator: list[float]) -> float:
        return accumulator[0]


class Recorder(ProcessWindowFunction):
    """Keeps every call; returns a few summary columns."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, TimeWindow, dict[str, list[Any]]]] = []

    def process(self, key: Any, window: TimeWindow,
                records: Mapping[str, np.ndarray]) -> Mapping[str, Any]:
        self.calls.append((key, window, {c: a.tolist() for c, a in records.items()}))
        return {"ids": "/".join(str(i) for i in records["idx"].tolist()),
                "width": window.end - window.start, "top": float(np.max(records["v"]))}


def _stream(n: int = 200, seed: int = 5) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = (np.cumsum(rng.integers(0, 4, n)) - rng.choice([0, 0, 0, 15], n)).astype(np.int64)
    cols = columns(rng.choice(["p", "q", "r"], n).tolist(),
                   v=rng.integers(-5, 10, n).astype(np.float64))
    return cols, ts


@pytest.mark.parametrize("assigner", [
    TumblingEventTimeWindows.of(20), SlidingEventTimeWindows.of(30, 10),
    EventTimeSessionWindows.with_gap(3),
])
def test_aggregate_function_matches_builtin(assigner: Any) -> None:
    cols, ts = _stream()
    total = Total()
    op = WindowOperator(assigner, {"mine": total, "s": agg.sum("v"), "n": agg.count()}, key="k",
                        allowed_lateness=8)
    wms = bounded(ts, 5)
    outs = [op.process({k: c[a:b] for k, c in cols.items()}, timestamps=ts[a:b],
                       watermarks=wms[a:b]) for a, b in ((0, 70), (70, 71), (71, 200))]
    outs.append(op.finish())
    rows = [r for o in outs for r in rows_of(o, ["mine", "s", "n"])]
    assert len(rows) > 10
    assert all(r[4][0] == r[4][1] for r in rows)
    assert any(r[3] == LATE for r in rows)
    if isinstance(assigner, EventTimeSessionWindows):
        assert total.merges > 0


def test_aggregate_function_receives_scalar_rows() -> None:
    total = Total()
    op = WindowOperator(TumblingEventTimeWindows.of(10), {"t": total}, key="k")
    op.process({"k": np.array(["a"]), "v": np.array([2.5]), "n": np.array([3], np.int32)},
               timestamps=np.array([4]), watermarks=np.array([0]))
    assert total.seen == [{"k": "a", "v": 2.5, "n": 3, "timestamp": 4}]
    assert all(type(x) in (str, float, int) for x in total.seen[0].values())


def test_aggregate_function_in_many_record_batches() -> None:
    n = 5000
    total = Total()
    op = WindowOperator(TumblingEventTimeWindows.of(100), {"t": total, "s": agg.sum("v")},
                        key="k")
    ts = np.arange(n, dtype=np.int64)
    cols = columns([f"k{i % 37}" for i in range(n)], v=(np.arange(n) % 11).astype(np.float64))
    out = op.process(cols, timestamps=ts, watermarks=bounded(ts, 0))
    rows = rows_of(out, ["t", "s"])
    assert len(rows) == 49 * 37
    assert all(r[4][0] == r[4][1] for r in rows)


def test_process_window_function_gets_key_window_and_records() -> None:
    rec = Recorder()
    op = WindowOperator(TumblingEventTimeWindows.of(10), {"n": agg.count()}, key="k",
                        window_function=rec)
    cols = {"k": np.array([7, 7, 8, 7]), "idx": np.arange(4), "v": np.array([1.0, 5.0, 2.0, 3.0]),
            "tag": np.array(["x", "y", "z", "w"])}
    out = op.process(cols, timestamps=np.array([3, 1, 2, 12]), watermarks=np.array([0, 0, 0, 11]))
    assert rec.calls == [
        (7, TimeWindow(0, 10), {"k": [7, 7], "idx": [0, 1], "v": [1.0, 5.0], "tag": ["x", "y"],
                                "timestamp": [3, 1]}),
        (8, TimeWindow(0, 10), {"k": [8], "idx": [2], "v": [2.0], "tag": ["z"],
                                "timestamp": [2]}),
    ]
    assert isinstance(rec.calls[0][0], int)
    r = out.results
    assert list(r) == ["key", "window_start", "window_end", "timing", "n", "ids", "width", "top"]
    assert r["ids"].tolist() == ["0/1", "2"]
    assert r["width"].tolist() == [10, 10] and r["width"].dtype.kind == "i"
    assert r["top"].tolist() == [5.0, 2.0] and r["top"].dtype == np.float64


def test_process_window_function_non_keyed_gets_none_key() -> None:
    rec = Recorder()
    op = WindowOperator(TumblingEventTimeWindows.of(10), window_function=rec)
    out = op.process({"idx": np.arange(2), "v": np.array([1.0, 2.0])}, timestamps=np.array([1, 2]),
                     watermarks=np.array([0, 9]))
    assert [c[0] for c in rec.calls] == [None]
    assert list(out.results) == ["window_start", "window_end", "timing", "ids", "width", "top"]


def test_process_window_function_records_span_batches_and_late_firings() -> None:
    rec = Recorder()
    op = WindowOperator(TumblingEventTimeWindows.of(10), window_function=rec, key="k",
                        allowed_lateness=10)
    cols = columns(["a"] * 4, v=np.array([1.0, 2.0, 3.0, 4.0]))
    ts = np.array([1, 2, 15, 3])
    wms = np.array([0, 0, 14, 14])
    outs = [op.process({k: c[i:i + 1] for k, c in cols.items()}, timestamps=ts[i:i + 1],
                       watermarks=wms[i:i + 1]) for i in range(4)]
    # an output without firings has no window-function columns (their names are unknown)
    got = [(o.results["timing"].tolist(), o.results.get("ids", np.empty(0)).tolist())
           for o in outs]
    assert got == [([], []), ([], []), ([ON_TIME], ["0/1"]), ([LATE], ["0/1/3"])]


def test_process_window_function_with_purging_sees_only_new_records() -> None:
    rec = Recorder()
    op = WindowOperator(GlobalWindows.create(), window_function=rec, key="k",
                        trigger=PurgingTrigger.of(CountTrigger.of(2)))
    out = op.process(columns(["a", "b", "a", "a", "b", "a"], v=np.arange(6.0)),
                     timestamps=np.arange(6))
    assert out.results["ids"].tolist() == ["0/2", "1/4", "3/5"]


def test_process_window_function_on_merged_sessions() -> None:
    rec = Recorder()
    op = WindowOperator(EventTimeSessionWindows.with_gap(5), window_function=rec, key="k")
    op.process(columns(["a"] * 3, v=np.array([1.0, 2.0, 3.0])), timestamps=np.array([0, 8, 4]),
               watermarks=np.full(3, MIN_TIMESTAMP))
    out = op.finish()
    assert sorted(out.results["ids"][0].split("/")) == ["0", "1", "2"]
    assert rec.calls[0][1] == TimeWindow(0, 13)
    assert sorted(rec.calls[0][2]["timestamp"]) == [0, 4, 8]


def test_process_window_function_records_stay_in_arrival_order_after_merge() -> None:
    rec = Recorder()
    op = WindowOperator(EventTimeSessionWindows.with_gap(5), window_function=rec, key="k")
    op.process(columns(["a"] * 3, v=np.array([1.0, 2.0, 3.0])), timestamps=np.array([0, 8, 4]),
               watermarks=np.full(3, MIN_TIMESTAMP))
    assert op.finish().results["ids"].tolist() == ["0/1/2"]


def test_process_window_function_on_count_windows_gets_record_numbers() -> None:
    rec = Recorder()
    op = WindowOperator(SlidingCountWindows.of(3, 2), window_function=rec, key="k")
    op.process(columns(["a"] * 4, v=np.arange(4.0)))
    assert [c[1] for c in rec.calls] == [TimeWindow(0, 2), TimeWindow(1, 4)]
    assert [c[2]["idx"] for c in rec.calls] == [[0, 1], [1, 2, 3]]
    assert TimeWindow(1, 4).max_timestamp() == 3


def test_aggregate_and_window_function_together() -> None:
    rec = Recorder()
    op = WindowOperator(TumblingEventTimeWindows.of(10), {"t": Total(), "n": agg.count()},
                        key="k", window_function=rec)
    out = op.process(columns(["a", "a"], v=np.array([1.5, 2.0])), timestamps=np.array([1, 2]),
                     watermarks=np.array([0, 9]))
    r = out.results
    assert (r["t"].tolist(), r["n"].tolist(), r["ids"].tolist()) == ([3.5], [2], ["0/1"])


@pytest.mark.parametrize("name", ["n", "window_start", "key"])
def test_window_function_output_may_not_clash(name: str) -> None:
    class Clash(ProcessWindowFunction):
        def process(self, key: Any, window: TimeWindow,
                    records: Mapping[str, np.ndarray]) -> Mapping[str, Any]:
            return {name: 1}

    op = WindowOperator(TumblingEventTimeWindows.of(10), {"n": agg.count()}, key="k",
                        window_function=Clash())
    with pytest.raises(InvalidWindowConfigError, match="clashes"):
        op.process(columns(["a"]), timestamps=np.array([1]), watermarks=np.array([9]))


def test_object_results_stay_objects() -> None:
    class Pair(ProcessWindowFunction):
        def process(self, key: Any, window: TimeWindow,
                    records: Mapping[str, np.ndarray]) -> Mapping[str, Any]:
            return {"pair": (int(records["idx"][0]), len(records["idx"]))}

    op = WindowOperator(TumblingEventTimeWindows.of(10), key="k", window_function=Pair())
    out = op.process(columns(["a", "b", "b"]), timestamps=np.array([1, 2, 3]),
                     watermarks=np.array([0, 0, 9]))
    assert out.results["pair"].dtype == object
    assert out.results["pair"].tolist() == [(0, 1), (1, 2)]
