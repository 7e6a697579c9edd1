"""Count windows (Flink ``countWindow``): windows over per-key record numbers; they need no
timestamps or watermarks and ignore them when given."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from win_helpers import columns, rows_of

from windows import (
    SlidingCountWindows,
    Timing,
    TumblingCountWindows,
    WindowOperator,
)
from windows import aggregates as agg

ON_TIME = int(Timing.ON_TIME)
AGGS = {"n": agg.count(), "s": agg.sum("v"), "f": agg.first("v"), "l": agg.last("v")}


def _feed(op: WindowOperator, keys: list[str], v: list[int],
          cuts: tuple[int, ...] = ()) -> list[tuple[object, ...]]:
    cols = columns(keys, v=np.asarray(v, np.int64))
    bounds = [0, *cuts, len(keys)]
    rows = []
    for a, b in itertools.pairwise(bounds):
        out = op.process({k: c[a:b] for k, c in cols.items()})
        rows += rows_of(out, list(op.builtins))
    return rows


def test_tumbling_count_windows_per_key() -> None:
    op = WindowOperator(TumblingCountWindows.of(3), AGGS, key="k")
    keys = ["a", "a", "b", "a", "a", "b", "a", "b", "a"]
    rows = _feed(op, keys, list(range(1, 10)))
    assert rows == [
        ("a", 0, 3, ON_TIME, (3, 1 + 2 + 4, 1, 4)),
        ("b", 0, 3, ON_TIME, (3, 3 + 6 + 8, 3, 8)),
        ("a", 3, 6, ON_TIME, (3, 5 + 7 + 9, 5, 9)),
    ]


def test_sliding_count_windows_start_partial() -> None:
    op = WindowOperator(SlidingCountWindows.of(3, 2), AGGS, key="k")
    rows = _feed(op, ["a"] * 7, [1, 2, 3, 4, 5, 6, 7])
    assert rows == [
        ("a", 0, 2, ON_TIME, (2, 3, 1, 2)),
        ("a", 1, 4, ON_TIME, (3, 9, 2, 4)),
        ("a", 3, 6, ON_TIME, (3, 15, 4, 6)),
    ]


def test_sliding_count_windows_with_slide_larger_than_size() -> None:
    op = WindowOperator(SlidingCountWindows.of(2, 3), {"s": agg.sum("v")}, key="k")
    rows = _feed(op, ["a"] * 9, [1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert [(r[1], r[2], r[4]) for r in rows] == [(1, 3, (5,)), (4, 6, (11,)), (7, 9, (17,))]


def test_size_one_fires_every_record() -> None:
    op = WindowOperator(TumblingCountWindows.of(1), {"s": agg.sum("v")}, key="k")
    rows = _feed(op, ["a", "b", "a"], [5, 6, 7])
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [("a", 0, 1, (5,)), ("b", 0, 1, (6,)),
                                                        ("a", 1, 2, (7,))]


@pytest.mark.parametrize("cuts", [(), (1,), (2, 3), (1, 2, 3, 4, 5)])
def test_incomplete_window_carries_over_batches(cuts: tuple[int, ...]) -> None:
    op = WindowOperator(TumblingCountWindows.of(4), {"s": agg.sum("v")}, key="k")
    rows = _feed(op, ["a"] * 6, [1, 2, 3, 4, 5, 6], cuts)
    assert [(r[1], r[2], r[4]) for r in rows] == [(0, 4, (10,))]
    assert op.num_live_windows == 1  # records 4 and 5 wait for two more


def test_sliding_count_window_state_is_bounded() -> None:
    op = WindowOperator(SlidingCountWindows.of(5, 1), {"s": agg.sum("v")}, key="k")
    rows = _feed(op, ["a"] * 100, list(range(100)), cuts=(17, 50))
    assert len(rows) == 100
    assert rows[-1][1:3] == (95, 100) and rows[-1][4] == (95 + 96 + 97 + 98 + 99,)
    assert op.num_live_windows <= 5


# -- time plays no part ------------------------------------------------------------------------
def test_count_windows_need_no_timestamps_or_watermarks() -> None:
    op = WindowOperator(TumblingCountWindows.of(2), {"n": agg.count()}, key="k")
    out = op.process(columns(["a", "a"]))
    assert rows_of(out, ["n"]) == [("a", 0, 2, ON_TIME, (2,))]


def test_incomplete_count_windows_are_not_emitted_at_finish() -> None:
    op = WindowOperator(TumblingCountWindows.of(3), {"n": agg.count()}, key="k")
    _feed(op, ["a", "a"], [1, 2])
    assert op.finish().num_results == 0


def test_watermarks_do_not_change_count_windows() -> None:
    op = WindowOperator(TumblingCountWindows.of(3), {"n": agg.count()}, key="k")
    ts = np.arange(7, dtype=np.int64) * 1000
    out = op.process(columns(["a"] * 7), timestamps=ts, watermarks=ts)
    assert rows_of(out, ["n"]) == [("a", 0, 3, ON_TIME, (3,)), ("a", 3, 6, ON_TIME, (3,))]
    assert op.advance_watermark(10**12).num_results == 0
    assert op.finish().num_results == 0
