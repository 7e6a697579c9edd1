"""Watermark strategies and the tracker: bounded out-of-orderness, monotonous, no watermarks,
the minimum over partitions, idleness, never going backwards, timestamp assigners."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from win_helpers import PROPERTY, columns, rows_of

from windows import (
    MIN_TIMESTAMP,
    InvalidWindowConfigError,
    SchemaError,
    Timing,
    TumblingEventTimeWindows,
    WatermarkStrategy,
    WatermarkTracker,
    WindowOperator,
)
from windows import aggregates as agg

MIN = MIN_TIMESTAMP


def test_bounded_out_of_orderness_after_every_record() -> None:
    tr = WatermarkStrategy.for_bounded_out_of_orderness(10).create_tracker(processing_time=0)
    assert tr.current_watermark == MIN
    wms = tr.advance(np.array([100, 90, 120, 115, 121]), processing_time=0)
    assert wms.tolist() == [89, 89, 109, 109, 110]
    assert tr.current_watermark == 110


def test_bounded_out_of_orderness_from_timedelta() -> None:
    s = WatermarkStrategy.for_bounded_out_of_orderness(dt.timedelta(seconds=2))
    assert s.max_out_of_orderness == 2000
    wms = s.create_tracker(processing_time=0).advance(np.array([10_000]), processing_time=0)
    assert wms.tolist() == [7999]


def test_monotonous_timestamps() -> None:
    tr = WatermarkStrategy.for_monotonous_timestamps().create_tracker(processing_time=0)
    assert tr.advance(np.array([5, 7, 6, 9]), processing_time=0).tolist() == [4, 6, 6, 8]


def test_no_watermarks_stay_at_min_and_windows_fire_at_finish() -> None:
    s = WatermarkStrategy.no_watermarks().with_timestamp_assigner("t")
    tr = s.create_tracker(processing_time=0)
    op = WindowOperator(TumblingEventTimeWindows.of(10), {"n": agg.count()}, key="k")
    cols = columns(["a"] * 3, t=np.array([1, 50, 100]))
    ts = s.extract_timestamps(cols)
    wms = tr.advance(ts, processing_time=0)
    assert wms.tolist() == [MIN] * 3
    assert op.process(cols, timestamps=ts, watermarks=wms).num_results == 0
    rows = rows_of(op.finish(), ["n"])
    assert [(r[1], r[3]) for r in rows] == [(0, int(Timing.ON_TIME)), (50, 1), (100, 1)]


def test_watermark_is_minimum_over_partitions_known_up_front() -> None:
    tr = WatermarkStrategy.for_bounded_out_of_orderness(0).create_tracker(
        partitions=[0, 1], processing_time=0)
    # partition 1 has no record yet: it holds the watermark at MIN
    wms = tr.advance(np.array([10, 20, 30]), partitions=np.array([0, 0, 0]), processing_time=0)
    assert wms.tolist() == [MIN, MIN, MIN]
    wms = tr.advance(np.array([15, 40, 50]), partitions=np.array([1, 1, 0]), processing_time=0)
    assert wms.tolist() == [14, 29, 39]
    assert tr.partitions == [0, 1]


def test_watermark_never_goes_backwards_when_a_partition_appears() -> None:
    tr = WatermarkStrategy.for_bounded_out_of_orderness(0).create_tracker(processing_time=0)
    assert tr.advance(np.array([100]), partitions=np.array([3]),
                      processing_time=0).tolist() == [99]
    # partition 4 appears far behind: the combined watermark holds, it does not go back
    wms = tr.advance(np.array([10, 20, 200]), partitions=np.array([4, 4, 4]),
                     processing_time=0)
    assert wms.tolist() == [99, 99, 99]
    wms = tr.advance(np.array([150]), partitions=np.array([3]), processing_time=0)
    assert wms.tolist() == [149]


def test_several_partitions_need_partition_ids() -> None:
    tr = WatermarkStrategy.for_bounded_out_of_orderness(0).create_tracker(
        partitions=[0, 1], processing_time=0)
    with pytest.raises(InvalidWindowConfigError, match="partition"):
        tr.advance(np.array([1]), processing_time=0)


def test_idle_partition_is_excluded_from_minimum() -> None:
    s = WatermarkStrategy.for_bounded_out_of_orderness(0).with_idleness(100)
    tr = s.create_tracker(partitions=[0, 1], processing_time=0)
    assert tr.advance(np.array([10]), partitions=np.array([0]),
                      processing_time=50).tolist() == [MIN]
    assert tr.idle_partitions() == []
    # at 100 partition 1 has been silent for the timeout; partition 0 (seen at 50) has not
    assert tr.advance(np.array([20]), partitions=np.array([0]),
                      processing_time=100).tolist() == [19]
    assert tr.idle_partitions() == [1]
    # a record of partition 1 makes it active again; the watermark does not go back
    assert tr.advance(np.array([5, 30]), partitions=np.array([1, 0]),
                      processing_time=110).tolist() == [19, 19]
    assert tr.idle_partitions() == []
    assert tr.advance(np.array([25]), partitions=np.array([1]),
                      processing_time=120).tolist() == [24]


def test_on_processing_time_marks_idle_and_advances() -> None:
    s = WatermarkStrategy.for_bounded_out_of_orderness(0).with_idleness(dt.timedelta(seconds=1))
    tr = s.create_tracker(partitions=[0, 1], processing_time=0)
    tr.advance(np.array([500]), partitions=np.array([0]), processing_time=10)
    assert tr.current_watermark == MIN
    assert tr.on_processing_time(999) == MIN
    assert tr.on_processing_time(1000) == 499  # partition 1 idle since 0 + 1000
    # everything idle: the watermark stays where it is
    assert tr.on_processing_time(5000) == 499
    assert sorted(tr.idle_partitions()) == [0, 1]


def test_idle_partition_lets_windows_fire() -> None:
    s = WatermarkStrategy.for_bounded_out_of_orderness(0).with_idleness(100)
    tr = s.create_tracker(partitions=[0, 1], processing_time=0)
    op = WindowOperator(TumblingEventTimeWindows.of(10), {"n": agg.count()}, key="k")
    ts = np.array([1, 2, 15])
    wms = tr.advance(ts, partitions=np.array([0, 0, 0]), processing_time=50)
    assert op.process(columns(["a"] * 3), timestamps=ts, watermarks=wms).num_results == 0
    ts = np.array([16])
    wms = tr.advance(ts, partitions=np.array([0]), processing_time=200)
    out = op.process(columns(["a"]), timestamps=ts, watermarks=wms)
    assert [(r[1], r[4]) for r in rows_of(out, ["n"])] == [(0, (2,))]


# -- reference model ------------------------------------------------------------------------------
class ModelTracker:
    """Flink's combined watermark, written out: per partition the largest timestamp; the
    combined watermark is the largest value so far of the minimum over active partitions of
    ``max - delay - 1``; idleness is checked at the start of each batch."""

    def __init__(self, delay: int, timeout: int | None, parts: list[int], now: int) -> None:
        self.delay, self.timeout = delay, timeout
        self.max: dict[int, int] = {p: MIN for p in parts}
        self.idle: dict[int, bool] = {p: False for p in parts}
        self.seen: dict[int, int] = {p: now for p in parts}
        self.wm = MIN

    def _combine(self) -> None:
        active = [p for p in self.max if not self.idle[p]]
        if active:
            low = min(MIN if self.max[p] == MIN else self.max[p] - self.delay - 1
                      for p in active)
            self.wm = max(self.wm, low)

    def advance(self, ts: list[int], parts: list[int], now: int) -> list[int]:
        for p in parts:
            if p not in self.max:
                self.max[p], self.idle[p], self.seen[p] = MIN, False, now
        if self.timeout is not None:
            for p in self.max:
                if self.seen[p] + self.timeout <= now:
                    self.idle[p] = True
        self._combine()
        out = []
        for t, p in zip(ts, parts, strict=True):
            self.idle[p] = False
            self.max[p] = max(self.max[p], t)
            self._combine()
            out.append(self.wm)
        for p in parts:
            self.seen[p] = now
        return out


@st.composite
def partitioned_batches(draw: st.DrawFn) -> list[tuple[list[int], list[int], int]]:
    batches = []
    now = 0
    for _ in range(draw(st.integers(1, 6))):
        n = draw(st.integers(0, 8))
        ts = draw(st.lists(st.integers(0, 300), min_size=n, max_size=n))
        parts = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
        now += draw(st.one_of(st.sampled_from([0, 10, 50, 100]), st.integers(0, 150)))
        batches.append((ts, parts, now))
    return batches


@PROPERTY
@given(batches=partitioned_batches(), delay=st.integers(0, 50),
       timeout=st.one_of(st.none(), st.sampled_from([10, 50, 100]), st.integers(1, 200)),
       known=st.lists(st.integers(0, 3), max_size=3, unique=True))
def test_tracker_matches_model(batches: list[tuple[list[int], list[int], int]], delay: int,
                               timeout: int | None, known: list[int]) -> None:
    s = WatermarkStrategy.for_bounded_out_of_orderness(delay)
    if timeout is not None:
        s = s.with_idleness(timeout)
    tr = s.create_tracker(partitions=known, processing_time=0)
    model = ModelTracker(delay, timeout, known, 0)
    last = MIN
    for ts, parts, now in batches:
        got = tr.advance(np.array(ts, np.int64), partitions=np.array(parts, np.int64),
                         processing_time=now).tolist()
        assert got == model.advance(ts, parts, now)
        assert all(a <= b for a, b in zip([last, *got], got, strict=False))  # never backwards
        last = tr.current_watermark
        assert last == model.wm


# -- timestamps -----------------------------------------------------------------------------------
def test_timestamp_assigner_column() -> None:
    s = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner("when")
    got = s.extract_timestamps({"when": np.array([3, 1], np.int32)})
    assert got.dtype == np.int64 and got.tolist() == [3, 1]


def test_timestamp_assigner_callable() -> None:
    def seconds(cols: Any) -> Any:
        return cols["sec"] * 1000

    s = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(seconds)
    assert s.extract_timestamps({"sec": np.array([1, 2])}).tolist() == [1000, 2000]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_timestamp_assigner_datetime64(unit: str) -> None:
    s = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner("when")
    when = np.array(["2013-01-01T05:15:00", "1969-12-31T23:59:59"], f"datetime64[{unit}]")
    assert s.extract_timestamps({"when": when}).tolist() == [1357017300000, -1000]


def test_timestamps_from_source_when_no_assigner() -> None:
    s = WatermarkStrategy.for_monotonous_timestamps()
    assert s.extract_timestamps({}, default=np.array([5, 6])).tolist() == [5, 6]
    with pytest.raises(InvalidWindowConfigError, match="timestamp"):
        s.extract_timestamps({"a": np.array([1])})


def test_timestamp_errors() -> None:
    s = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner("when")
    with pytest.raises(SchemaError, match="when"):
        s.extract_timestamps({"other": np.array([1])})
    with pytest.raises(InvalidWindowConfigError, match="dtype"):
        s.extract_timestamps({"when": np.array([1.5])})
    with pytest.raises(InvalidWindowConfigError, match="column name or a callable"):
        s.with_timestamp_assigner(42)  # type: ignore[arg-type]


def test_strategy_is_immutable() -> None:
    base = WatermarkStrategy.for_bounded_out_of_orderness(5)
    a = base.with_timestamp_assigner("t")
    b = a.with_idleness(10)
    assert base.timestamp_assigner is None and base.idle_timeout is None
    assert a.idle_timeout is None and b.idle_timeout == 10 and b.timestamp_assigner == "t"
    with pytest.raises(AttributeError):
        base.max_out_of_orderness = 3  # type: ignore[misc]
    assert isinstance(b.create_tracker(processing_time=0), WatermarkTracker)
