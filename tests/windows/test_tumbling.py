"""Tumbling event-time windows: alignment, firing time, output layout and the built-in
aggregates."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from win_helpers import HOUR, MINUTE, bounded, columns, rows_of, run

from windows import (
    MIN_TIMESTAMP,
    InvalidWindowConfigError,
    SchemaError,
    Timing,
    TumblingEventTimeWindows,
    WindowOperator,
)
from windows import aggregates as agg

ON_TIME = int(Timing.ON_TIME)


def _op(size: int = 10, offset: int = 0, **kw: object) -> WindowOperator:
    aggs = kw.pop("aggs", {"n": agg.count()})
    return WindowOperator(TumblingEventTimeWindows.of(size, offset), aggs,  # type: ignore[arg-type]
                          key="k", **kw)  # type: ignore[arg-type]


def test_records_are_grouped_per_key_and_window() -> None:
    ts = np.array([1, 3, 9, 10, 12, 25, 4], np.int64)
    keys = ["a", "b", "a", "a", "b", "a", "a"]
    rows, late = run(_op(), columns(keys), ts, bounded(ts, 100))
    assert late == []
    assert rows == [
        ("a", 0, 10, ON_TIME, (3,)),
        ("b", 0, 10, ON_TIME, (1,)),
        ("a", 10, 20, ON_TIME, (1,)),
        ("b", 10, 20, ON_TIME, (1,)),
        ("a", 20, 30, ON_TIME, (1,)),
    ]


@pytest.mark.parametrize(("ts", "offset", "start"), [
    (0, 0, 0), (9, 0, 0), (10, 0, 10), (-1, 0, -10), (-10, 0, -10), (-11, 0, -20),
    (2, 3, -7), (3, 3, 3), (12, 3, 3), (13, 3, 13), (-8, 3, -17), (0, -4, -4), (6, -4, 6),
])
def test_window_start_is_floor_aligned_with_offset(ts: int, offset: int, start: int) -> None:
    t = np.array([ts], np.int64)
    rows, _ = run(_op(10, offset), columns(["a"]), t, np.array([MIN_TIMESTAMP]))
    assert rows == [("a", start, start + 10, ON_TIME, (1,))]


def test_window_fires_exactly_when_watermark_reaches_end_minus_one() -> None:
    op = _op()
    # watermarks are given explicitly: 8 does not fire [0, 10), 9 does
    out1 = op.process(columns(["a", "a"]), timestamps=np.array([5, 6]),
                      watermarks=np.array([7, 8]))
    assert out1.num_results == 0
    assert op.current_watermark == 8
    out2 = op.process(columns(["a"]), timestamps=np.array([7]), watermarks=np.array([9]))
    assert rows_of(out2, ["n"]) == [("a", 0, 10, ON_TIME, (3,))]
    assert op.num_live_windows == 0


def test_record_is_counted_under_previous_watermark_then_fires() -> None:
    # the record at 9 is processed under watermark 8, so it is in the window that its own
    # watermark (9) then fires
    op = _op()
    out = op.process(columns(["a", "a"]), timestamps=np.array([1, 9]),
                     watermarks=np.array([8, 9]))
    assert rows_of(out, ["n"]) == [("a", 0, 10, ON_TIME, (2,))]


def test_windows_without_records_never_emit() -> None:
    ts = np.array([1, 55], np.int64)
    rows, _ = run(_op(), columns(["a", "a"]), ts, bounded(ts, 0))
    assert [(r[1], r[2]) for r in rows] == [(0, 10), (50, 60)]


def test_firing_order_is_time_then_window_creation() -> None:
    # windows ending at the same time fire in the order they were created; earlier ends first
    ts = np.array([15, 3, 4, 2, 30], np.int64)
    rows, _ = run(_op(), columns(["b", "c", "a", "b", "a"]), ts, bounded(ts, 20))
    assert [(r[0], r[1]) for r in rows] == [("c", 0), ("a", 0), ("b", 0), ("b", 10), ("a", 30)]


def test_hourly_windows_from_timedelta() -> None:
    base = 1_700_000_000_000  # 2023-11-14T22:13:20Z
    ts = np.array([base, base + 30 * MINUTE, base + 50 * MINUTE], np.int64)
    op = WindowOperator(TumblingEventTimeWindows.of(dt.timedelta(hours=1)), {"n": agg.count()},
                        key="k")
    rows, _ = run(op, columns(["x"] * 3), ts, bounded(ts, 0))
    h = base - base % HOUR
    assert rows == [("x", h, h + HOUR, ON_TIME, (2,)), ("x", h + HOUR, h + 2 * HOUR, ON_TIME,
                                                         (1,))]


@pytest.mark.parametrize(("offset_h", "first_start_h"), [(-8, -8), (8, 8)])
def test_daily_windows_with_offset(offset_h: int, first_start_h: int) -> None:
    # offset -8 h: days of UTC+8 (start 16:00Z); offset +8 h: days of UTC-8 (start 08:00Z)
    day = 24 * HOUR
    op = WindowOperator(TumblingEventTimeWindows.of(dt.timedelta(days=1),
                                                    dt.timedelta(hours=offset_h)),
                        {"n": agg.count()}, key="k")
    ts = np.array([7 * HOUR, 8 * HOUR, 16 * HOUR, day + 7 * HOUR], np.int64)
    rows, _ = run(op, columns(["x"] * 4), ts, bounded(ts, 0))
    s = first_start_h * HOUR
    if offset_h < 0:  # 7h, 8h in [-8h, 16h); 16h and 31h in [16h, 40h)
        want = [(s, s + day, (2,)), (s + day, s + 2 * day, (2,))]
    else:  # 7h in [-16h, 8h); 8h, 16h, 31h in [8h, 32h)
        want = [(s - day, s, (1,)), (s, s + day, (3,))]
    assert [(r[1], r[2], r[4]) for r in rows] == want


def test_non_keyed_operator_has_no_key_column() -> None:
    op = WindowOperator(TumblingEventTimeWindows.of(10), {"n": agg.count()})
    out = op.process({"x": np.zeros(3)}, timestamps=np.array([1, 2, 11]),
                     watermarks=np.array([0, 1, 10]))
    assert "key" not in out.results
    assert out.results["window_start"].tolist() == [0]
    assert out.results["n"].tolist() == [2]


def test_output_columns_and_dtypes() -> None:
    op = _op(aggs={"n": agg.count(), "s": agg.sum("v"), "m": agg.mean("v")})
    out = op.process(columns(["a", "a"], v=np.array([1, 2], np.int64)),
                     timestamps=np.array([1, 20]), watermarks=np.array([0, 19]))
    assert list(out.results) == ["key", "window_start", "window_end", "timing", "n", "s", "m"]
    assert out.results["window_start"].dtype == np.int64
    assert out.results["window_end"].dtype == np.int64
    assert out.results["timing"].dtype == np.int8
    assert out.results["n"].dtype == np.int64
    assert out.results["s"].dtype == np.int64  # int input stays int for sum
    assert out.results["m"].dtype == np.float64
    assert out.num_results == 1 and out.num_late == 0


AGGS = {"n": agg.count(), "c": agg.count("v"), "s": agg.sum("v"), "lo": agg.min("v"),
        "hi": agg.max("v"), "m": agg.mean("v"), "f": agg.first("v"), "l": agg.last("v")}


def test_builtin_aggregates_skip_nan() -> None:
    nan = float("nan")
    v = np.array([nan, 4.0, -1.0, nan, 2.5], np.float64)
    ts = np.array([0, 1, 2, 3, 4], np.int64)
    op = _op(aggs=AGGS)
    rows, _ = run(op, columns(["a"] * 5, v=v), ts, bounded(ts, 0))
    assert rows == [("a", 0, 10, ON_TIME, (5, 3, 5.5, -1, 4, 5.5 / 3, 4, 2.5))]


def test_all_nan_window_gives_nan_and_zero_counts() -> None:
    nan = float("nan")
    op = _op(aggs=AGGS)
    out = op.process(columns(["a", "a"], v=np.array([nan, nan])), timestamps=np.array([1, 2]),
                     watermarks=np.array([1, 9]))
    r = out.results
    assert r["n"].tolist() == [2] and r["c"].tolist() == [0]
    for name in ("s", "lo", "hi", "m", "f", "l"):
        assert math.isnan(r[name][0]), name


def test_first_and_last_follow_event_time_not_arrival() -> None:
    ts = np.array([5, 2, 8, 3], np.int64)
    v = np.array([50, 20, 80, 30], np.int64)
    op = _op(aggs={"f": agg.first("v"), "l": agg.last("v")})
    rows, _ = run(op, columns(["a"] * 4, v=v), ts, bounded(ts, 100))
    assert rows == [("a", 0, 10, ON_TIME, (20, 80))]


def test_first_and_last_break_timestamp_ties_by_arrival() -> None:
    ts = np.array([4, 4, 4, 1, 9, 9], np.int64)
    v = np.array([1.0, 2.0, 3.0, float("nan"), 7.0, 8.0])
    op = _op(aggs={"f": agg.first("v"), "l": agg.last("v")})
    # the NaN at the earliest time is skipped; ties: first arrival for first, last for last
    rows, _ = run(op, columns(["a"] * 6, v=v), ts, bounded(ts, 100), cuts=[2, 5])
    assert rows == [("a", 0, 10, ON_TIME, (1, 8))]


def test_integer_columns_give_int64_results() -> None:
    big = 2**52 + 1  # exact as int64 and as float64
    v = np.array([big, 3, -7], np.int64)
    op = _op(aggs={"s": agg.sum("v"), "lo": agg.min("v"), "hi": agg.max("v"),
                   "f": agg.first("v"), "l": agg.last("v"), "c": agg.count("v")})
    out = op.process(columns(["a"] * 3, v=v), timestamps=np.array([1, 2, 3]),
                     watermarks=np.array([1, 2, 9]))
    r = out.results
    for name in ("s", "lo", "hi", "f", "l", "c"):
        assert r[name].dtype == np.int64, name
    assert (r["s"][0], r["lo"][0], r["hi"][0], r["f"][0], r["l"][0]) == (
        big - 4, -7, big, big, -7)


def test_boolean_column_is_aggregated_as_numbers() -> None:
    op = _op(aggs={"s": agg.sum("flag")})
    out = op.process(columns(["a"] * 3, flag=np.array([True, False, True])),
                     timestamps=np.array([1, 2, 3]), watermarks=np.array([1, 2, 9]))
    assert out.results["s"].tolist() == [2]


def test_integer_and_string_keys_are_decoded() -> None:
    for keys in ([7, 7, 3], ["x", "x", "y"]):
        ts = np.array([1, 2, 3], np.int64)
        rows, _ = run(_op(), columns(keys), ts, bounded(ts, 0))
        assert [(r[0], r[4]) for r in rows] == [(keys[0], (2,)), (keys[2], (1,))]


def test_state_is_released_after_firing() -> None:
    op = _op()
    op.process(columns(["a", "b"]), timestamps=np.array([1, 2]), watermarks=np.array([0, 1]))
    assert op.num_live_windows == 2 and op.num_keys == 2
    op.advance_watermark(9)
    assert op.num_live_windows == 0


def test_missing_columns_raise_schema_error() -> None:
    op = _op(aggs={"s": agg.sum("v")})
    with pytest.raises(SchemaError, match="'v'"):
        op.process({"k": np.array(["a"])}, timestamps=np.array([1]), watermarks=np.array([0]))
    with pytest.raises(SchemaError, match="'k'"):
        op.process({"v": np.array([1.0])}, timestamps=np.array([1]), watermarks=np.array([0]))


def test_event_time_needs_timestamps_and_watermarks() -> None:
    op = _op()
    with pytest.raises(InvalidWindowConfigError, match="timestamps"):
        op.process(columns(["a"]), watermarks=np.array([0]))
    with pytest.raises(InvalidWindowConfigError, match="watermarks"):
        op.process(columns(["a"]), timestamps=np.array([1]))
    with pytest.raises(InvalidWindowConfigError, match="shape"):
        op.process(columns(["a"]), timestamps=np.array([1]), watermarks=np.array([0, 1]))


def test_non_numeric_value_column_is_refused() -> None:
    op = _op(aggs={"s": agg.sum("v")})
    with pytest.raises(InvalidWindowConfigError, match="dtype"):
        op.process(columns(["a"], v=np.array(["1"])), timestamps=np.array([1]),
                   watermarks=np.array([0]))
