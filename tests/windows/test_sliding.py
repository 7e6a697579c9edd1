"""Sliding event-time windows: which windows a record belongs to and the order they fire."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from win_helpers import MINUTE, bounded, columns, run

from windows import MIN_TIMESTAMP, SlidingEventTimeWindows, Timing, WindowOperator
from windows import aggregates as agg

ON_TIME = int(Timing.ON_TIME)


def _windows_of(ts: int, size: int, slide: int, offset: int = 0) -> list[tuple[int, int]]:
    op = WindowOperator(SlidingEventTimeWindows.of(size, slide, offset), {"n": agg.count()},
                        key="k")
    rows, _ = run(op, columns(["a"]), np.array([ts], np.int64), np.array([MIN_TIMESTAMP]))
    return sorted((r[1], r[2]) for r in rows)


@pytest.mark.parametrize(("ts", "size", "slide", "offset", "windows"), [
    (7, 10, 5, 0, [(0, 10), (5, 15)]),
    (5, 10, 5, 0, [(0, 10), (5, 15)]),
    (4, 10, 5, 0, [(-5, 5), (0, 10)]),
    (9, 10, 4, 0, [(0, 10), (4, 14), (8, 18)]),  # size not a multiple of slide: 3 windows
    (10, 10, 4, 0, [(4, 14), (8, 18)]),  # ... or 2
    (-1, 10, 5, 0, [(-10, 0), (-5, 5)]),
    (7, 10, 5, 2, [(2, 12), (7, 17)]),
    (6, 10, 5, 2, [(-3, 7), (2, 12)]),
    (12, 30, 10, 0, [(-10, 20), (0, 30), (10, 40)]),
    (5, 3, 10, 0, []),  # slide > size leaves gaps: 5 is in no window
    (11, 3, 10, 0, [(10, 13)]),
    (7, 10, 10, 0, [(0, 10)]),  # slide == size: tumbling
])
def test_record_belongs_to_windows(ts: int, size: int, slide: int, offset: int,
                                   windows: list[tuple[int, int]]) -> None:
    assert _windows_of(ts, size, slide, offset) == windows


def test_counts_and_firing_order() -> None:
    ts = np.array([1, 6, 12, 3, 17], np.int64)
    op = WindowOperator(SlidingEventTimeWindows.of(10, 5), {"n": agg.count(), "s": agg.sum("v")},
                        key="k")
    rows, late = run(op, columns(["a"] * 5, v=np.array([1, 2, 3, 4, 5], np.int64)), ts,
                     bounded(ts, 10))
    assert late == []
    assert rows == [
        ("a", -5, 5, ON_TIME, (2, 5)),
        ("a", 0, 10, ON_TIME, (3, 7)),
        ("a", 5, 15, ON_TIME, (2, 5)),
        ("a", 10, 20, ON_TIME, (2, 8)),
        ("a", 15, 25, ON_TIME, (1, 5)),
    ]


def test_windows_of_one_record_fire_in_end_order_across_keys() -> None:
    ts = np.array([7, 8], np.int64)
    op = WindowOperator(SlidingEventTimeWindows.of(10, 5), {"n": agg.count()}, key="k")
    rows, _ = run(op, columns(["b", "a"]), ts, np.array([MIN_TIMESTAMP] * 2))
    # same end: creation order (b before a; per record the latest start is created first,
    # but [0, 10) ends first)
    assert [(r[0], r[1]) for r in rows] == [("b", 0), ("a", 0), ("b", 5), ("a", 5)]


def test_sliding_minutes_from_timedelta() -> None:
    op = WindowOperator(SlidingEventTimeWindows.of(dt.timedelta(minutes=10),
                                                   dt.timedelta(minutes=5)),
                        {"n": agg.count()}, key="k")
    ts = np.array([3 * MINUTE, 8 * MINUTE], np.int64)
    rows, _ = run(op, columns(["a", "a"]), ts, bounded(ts, 0))
    assert [(r[1] // MINUTE, r[2] // MINUTE, r[4]) for r in rows] == [
        (-5, 5, (1,)), (0, 10, (2,)), (5, 15, (1,))]


def test_every_window_counts_each_record_once() -> None:
    rng = np.random.default_rng(7)
    ts = np.sort(rng.integers(0, 1000, 300)).astype(np.int64)
    op = WindowOperator(SlidingEventTimeWindows.of(60, 20), {"n": agg.count()}, key="k")
    rows, late = run(op, columns(["a"] * 300), ts, bounded(ts, 0), cuts=[50, 51, 200])
    assert late == []
    got = {(r[1], r[2]): r[4][0] for r in rows}
    for (start, end), n in got.items():
        assert n == int(((ts >= start) & (ts < end)).sum())
    assert sum(got.values()) == 3 * 300  # size / slide windows per record
