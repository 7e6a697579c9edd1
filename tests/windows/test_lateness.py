"""Allowed lateness: late firings (timing LATE), the cleanup boundary, and the late output."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from win_helpers import columns, rows_of

from windows import (
    SlidingEventTimeWindows,
    Timing,
    TumblingEventTimeWindows,
    WindowOperator,
    WindowOutput,
)
from windows import aggregates as agg

EARLY, ON_TIME, LATE = int(Timing.EARLY), int(Timing.ON_TIME), int(Timing.LATE)


def _op(lateness: object = 0, assigner: object = None) -> WindowOperator:
    return WindowOperator(assigner or TumblingEventTimeWindows.of(10),  # type: ignore[arg-type]
                          {"n": agg.count(), "s": agg.sum("v")}, key="k",
                          allowed_lateness=lateness)  # type: ignore[arg-type]


def _feed(op: WindowOperator, ts: list[int], wms: list[int], v: list[int] | None = None,
          keys: list[str] | None = None) -> WindowOutput:
    n = len(ts)
    cols = columns(keys or ["a"] * n, v=np.asarray(v or list(range(1, n + 1)), np.int64))
    return op.process(cols, timestamps=np.asarray(ts, np.int64),
                      watermarks=np.asarray(wms, np.int64))


def test_late_records_within_lateness_fire_late_and_cumulatively() -> None:
    op = _op(lateness=5)
    out = _feed(op, [1, 2, 12], [0, 1, 11], [1, 2, 3])
    assert [r[1:] for r in rows_of(out, ["n", "s"])] == [(0, 10, ON_TIME, (2, 3))]
    out = _feed(op, [5, 7], [11, 11], [10, 20])
    assert [r[1:] for r in rows_of(out, ["n", "s"])] == [(0, 10, LATE, (3, 13)),
                                                         (0, 10, LATE, (4, 33))]
    assert out.num_late == 0


@pytest.mark.parametrize(("lateness", "watermark", "accepted"), [
    (5, 13, True),   # cleanup at 9 + 5 = 14 > 13: window still there
    (5, 14, False),  # cleanup time reached: the window is gone, the record is late
    (0, 8, True),    # on time
    (0, 9, False),   # no lateness: behind the window end is too late
])
def test_cleanup_boundary(lateness: int, watermark: int, accepted: bool) -> None:
    op = _op(lateness)
    _feed(op, [1, 30], [0, watermark])
    out = _feed(op, [3], [watermark], [7])
    if accepted:
        timing = LATE if watermark >= 9 else EARLY
        assert [r[1:4] for r in rows_of(out, ["n"])] == ([(0, 10, timing)]
                                                         if timing == LATE else [])
        assert out.num_late == 0
    else:
        assert out.num_results == 0
        assert out.late["window_start"].tolist() == [0]
        assert out.late["window_end"].tolist() == [10]


def test_window_first_seen_in_lateness_period_fires_late_only() -> None:
    op = _op(lateness=100)
    out = _feed(op, [50, 3], [49, 49])
    assert [r[1:] for r in rows_of(out, ["n", "s"])] == [(0, 10, LATE, (1, 2))]
    out = op.finish()
    assert [r[1:4] for r in rows_of(out, ["n"])] == [(50, 60, ON_TIME)]


def test_late_output_carries_input_columns_timestamp_and_window() -> None:
    op = _op(lateness=0)
    cols = {"k": np.array(["a", "b", "a"]), "v": np.array([1, 2, 3], np.int64),
            "tag": np.array(["x", "y", "z"]), "w": np.array([0.5, 1.5, 2.5])}
    op.process({k: c[:1] for k, c in cols.items()}, timestamps=np.array([40]),
               watermarks=np.array([39]))
    out = op.process({k: c[1:] for k, c in cols.items()}, timestamps=np.array([3, 15]),
                     watermarks=np.array([39, 39]))
    late = out.late
    assert set(late) == {"k", "v", "tag", "w", "timestamp", "window_start", "window_end"}
    assert late["k"].tolist() == ["b", "a"]
    assert late["tag"].tolist() == ["y", "z"]
    assert late["v"].dtype == np.int64 and late["v"].tolist() == [2, 3]
    assert late["w"].tolist() == [1.5, 2.5]
    assert late["timestamp"].tolist() == [3, 15]
    assert late["window_start"].tolist() == [0, 10]
    assert late["window_end"].tolist() == [10, 20]
    assert out.num_late == 2 and out.num_results == 0


def test_record_late_for_some_sliding_windows_only() -> None:
    op = _op(lateness=0, assigner=SlidingEventTimeWindows.of(10, 5))
    out = _feed(op, [20, 7], [9, 9], [1, 100])
    # 7 belongs to [5, 15) (cleanup 14 > 9) and [0, 10) (cleanup 9 <= 9): late only for the latter
    assert out.late["window_start"].tolist() == [0]
    assert out.late["timestamp"].tolist() == [7]
    rows = rows_of(op.finish(), ["n", "s"])
    assert [r[1:] for r in rows] == [(5, 15, ON_TIME, (1, 100)), (15, 25, ON_TIME, (1, 1)),
                                     (20, 30, ON_TIME, (1, 1))]


def test_record_late_for_all_sliding_windows_is_reported_per_window() -> None:
    op = _op(lateness=2, assigner=SlidingEventTimeWindows.of(10, 5))
    _feed(op, [40], [39])
    out = _feed(op, [7], [39])
    assert sorted(zip(out.late["window_start"].tolist(), out.late["window_end"].tolist(),
                      strict=True)) == [(0, 10), (5, 15)]
    assert out.late["timestamp"].tolist() == [7, 7]


def test_late_records_do_not_resurrect_cleaned_windows() -> None:
    op = _op(lateness=3)
    _feed(op, [1, 30], [0, 29])
    assert op.num_live_windows == 1  # only [30, 40)
    for _ in range(3):
        out = _feed(op, [2], [29])
        assert out.num_late == 1 and out.num_results == 0
    assert op.num_live_windows == 1


def test_late_firing_per_key() -> None:
    op = _op(lateness=10)
    _feed(op, [1, 2, 11], [0, 1, 10], keys=["a", "b", "a"])
    out = _feed(op, [3, 4], [10, 10], keys=["b", "a"])
    assert [(r[0], r[3], r[4]) for r in rows_of(out, ["n", "s"])] == [
        ("b", LATE, (2, 2 + 1)), ("a", LATE, (2, 1 + 2))]


def test_allowed_lateness_as_timedelta() -> None:
    op = _op(lateness=dt.timedelta(milliseconds=5))
    assert op.allowed_lateness == 5
    _feed(op, [1, 20], [0, 13])
    out = _feed(op, [2], [13])
    assert [r[3] for r in rows_of(out, ["n"])] == [LATE]


def test_finish_fires_on_time_and_cleans_up_with_lateness() -> None:
    op = _op(lateness=1_000_000)
    _feed(op, [1, 15], [0, 0])
    rows = rows_of(op.finish(), ["n"])
    assert [r[1:4] for r in rows] == [(0, 10, ON_TIME), (10, 20, ON_TIME)]
    assert op.num_live_windows == 0
    out = _feed(op, [25], [0])
    assert out.num_late == 1  # the watermark stays at MAX after finish
