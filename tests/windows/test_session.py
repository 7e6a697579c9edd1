"""Event-time session windows: gaps, merging (overlapping and touching windows, records that
bridge two sessions, late records), dynamic gaps, triggers on merged windows."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
from win_helpers import bounded, columns, rows_of, run

from windows import (
    MIN_TIMESTAMP,
    ContinuousEventTimeTrigger,
    CountTrigger,
    EventTimeSessionWindows,
    InvalidWindowConfigError,
    Timing,
    WindowOperator,
)
from windows import aggregates as agg

EARLY, ON_TIME, LATE = int(Timing.EARLY), int(Timing.ON_TIME), int(Timing.LATE)
AGGS = {"n": agg.count(), "s": agg.sum("v"), "f": agg.first("v"), "l": agg.last("v")}


def _op(gap: int = 5, **kw: object) -> WindowOperator:
    return WindowOperator(EventTimeSessionWindows.with_gap(gap), AGGS, key="k",
                          **kw)  # type: ignore[arg-type]


def _values(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=np.int64) * 10


def test_sessions_close_after_gap_per_key() -> None:
    ts = np.array([0, 2, 10, 3, 30], np.int64)
    keys = ["a", "a", "a", "b", "a"]
    rows, late = run(_op(), columns(keys, v=_values(5)), ts, bounded(ts, 100))
    assert late == []
    assert rows == [
        ("a", 0, 7, ON_TIME, (2, 30, 10, 20)),
        ("b", 3, 8, ON_TIME, (1, 40, 40, 40)),
        ("a", 10, 15, ON_TIME, (1, 30, 30, 30)),
        ("a", 30, 35, ON_TIME, (1, 50, 50, 50)),
    ]


@pytest.mark.parametrize(("second", "windows"), [
    (5, [(0, 10)]),  # [0, 5) and [5, 10) touch: Flink's intersects merges them
    (4, [(0, 9)]),
    (6, [(0, 5), (6, 11)]),  # one ms apart: two sessions
])
def test_touching_windows_merge(second: int, windows: list[tuple[int, int]]) -> None:
    ts = np.array([0, second], np.int64)
    rows, _ = run(_op(), columns(["a", "a"], v=_values(2)), ts, bounded(ts, 0))
    assert [(r[1], r[2]) for r in rows] == windows


def test_out_of_order_record_bridges_two_sessions() -> None:
    ts = np.array([0, 8, 4], np.int64)
    op = _op()
    out = op.process(columns(["a"] * 3, v=_values(3)), timestamps=ts,
                     watermarks=np.array([MIN_TIMESTAMP] * 3))
    assert out.num_results == 0
    assert op.num_live_windows == 1  # [0, 5) and [8, 13) merged through [4, 9)
    rows = rows_of(op.finish(), list(AGGS))
    assert rows == [("a", 0, 13, ON_TIME, (3, 60, 10, 20))]


def test_record_inside_a_session_does_not_extend_it() -> None:
    ts = np.array([0, 10, 3], np.int64)
    rows, _ = run(_op(12), columns(["a"] * 3, v=_values(3)), ts, np.full(3, MIN_TIMESTAMP))
    assert rows == [("a", 0, 22, ON_TIME, (3, 60, 10, 20))]


def test_merged_session_fires_once_at_its_new_end() -> None:
    # [0, 5) would fire at watermark 4, but the record at 3 extends it to [0, 8) first
    op = _op()
    out = op.process(columns(["a", "a"], v=_values(2)), timestamps=np.array([0, 3]),
                     watermarks=np.array([-1, 3]))
    assert out.num_results == 0
    out = op.advance_watermark(6)
    assert out.num_results == 0
    out = op.advance_watermark(7)
    assert rows_of(out, list(AGGS)) == [("a", 0, 8, ON_TIME, (2, 30, 10, 20))]
    assert op.finish().num_results == 0


def test_merge_with_late_data_fires_late_and_late_records_go_to_late_output() -> None:
    op = _op(allowed_lateness=10)
    names = list(AGGS)
    # [0, 5) fires on time at watermark 9 and stays until its cleanup at 4 + 10 = 14
    out = op.process(columns(["a", "a"], v=np.array([1, 2])), timestamps=np.array([0, 10]),
                     watermarks=np.array([-1, 9]))
    assert rows_of(out, names) == [("a", 0, 5, ON_TIME, (1, 1, 1, 1))]
    # late record at 3: its session [3, 8) merges with [0, 5) -> [0, 8), end 7 <= 9: LATE
    # late record at -5: its own session [-5, 0) is past cleanup (-1 + 10 <= 9) but it touches
    # the live [0, 8), so the merged window takes it (Flink checks the merged window)
    # late record at -20: [-20, -15) is past cleanup and touches nothing: late output
    out = op.process(columns(["a", "a", "a"], v=np.array([3, 4, 5])),
                     timestamps=np.array([3, -5, -20]), watermarks=np.array([9, 9, 9]))
    assert rows_of(out, names) == [("a", 0, 8, LATE, (2, 4, 1, 3)),
                                   ("a", -5, 8, LATE, (3, 8, 4, 3))]
    assert out.late["window_start"].tolist() == [-20]
    assert out.late["window_end"].tolist() == [-15]
    assert out.late["v"].tolist() == [5]
    # watermark 30: cleanup of [-5, 8) (at 17) and [10, 15) fires on time
    out = op.process(columns(["a"], v=np.array([6])), timestamps=np.array([31]),
                     watermarks=np.array([30]))
    assert rows_of(out, names) == [("a", 10, 15, ON_TIME, (1, 2, 2, 2))]
    assert op.num_live_windows == 1
    # now a record at 2 starts [2, 7), long past cleanup, and nothing is left to merge with
    out = op.process(columns(["a"], v=np.array([7])), timestamps=np.array([2]),
                     watermarks=np.array([30]))
    assert out.num_results == 0
    assert out.late["timestamp"].tolist() == [2]


def test_merge_that_moves_end_past_watermark_fires_on_time_again() -> None:
    op = _op(allowed_lateness=10)
    names = ["n"]
    out = op.process(columns(["a", "a"], v=_values(2)), timestamps=np.array([0, 10]),
                     watermarks=np.array([-1, 9]))
    assert [r[3] for r in rows_of(out, names)] == [ON_TIME]
    # late record at 4: [4, 9) merges with [0, 5) -> [0, 9), end 8 <= 9: LATE.
    # then a record at 9: [9, 14) touches [0, 9) and [10, 15) -> [0, 15), end 14: not yet due
    out = op.process(columns(["a", "a"], v=_values(2)), timestamps=np.array([4, 9]),
                     watermarks=np.array([9, 9]))
    assert [(r[1], r[2], r[3], r[4]) for r in rows_of(out, names)] == [(0, 9, LATE, (2,))]
    assert op.advance_watermark(13).num_results == 0
    out = op.advance_watermark(14)
    assert [(r[1], r[2], r[3], r[4]) for r in rows_of(out, names)] == [(0, 15, ON_TIME, (4,))]


def test_count_trigger_state_is_summed_when_sessions_merge() -> None:
    op = WindowOperator(EventTimeSessionWindows.with_gap(5), {"n": agg.count()}, key="k",
                        trigger=CountTrigger.of(3))
    out = op.process(columns(["a", "a"]), timestamps=np.array([0, 8]),
                     watermarks=np.full(2, MIN_TIMESTAMP))
    assert out.num_results == 0
    # merging [0, 5) and [8, 13) through [4, 9): counts 1 + 1, plus the new record = 3
    out = op.process(columns(["a"]), timestamps=np.array([4]),
                     watermarks=np.full(1, MIN_TIMESTAMP))
    assert rows_of(out, ["n"]) == [("a", 0, 13, EARLY, (3,))]


def _gap_column(cols: Mapping[str, np.ndarray]) -> np.ndarray:
    return np.asarray(cols["gap"])


def _dynamic(**kw: object) -> WindowOperator:
    return WindowOperator(EventTimeSessionWindows.with_dynamic_gap(_gap_column),
                          {"n": agg.count()}, key="k", **kw)  # type: ignore[arg-type]


def test_dynamic_gap_per_record() -> None:
    ts = np.array([0, 12, 9, 40], np.int64)
    gaps = np.array([10, 2, 3, 1], np.int64)
    rows, _ = run(_dynamic(), columns(["a"] * 4, gap=gaps), ts, np.full(4, MIN_TIMESTAMP))
    # [0, 10) and [12, 14) are bridged by [9, 12)
    assert [(r[1], r[2], r[4]) for r in rows] == [(0, 14, (3,)), (40, 41, (1,))]


def test_dynamic_gap_bridging_many_sessions() -> None:
    ts = np.arange(0, 200, 10, dtype=np.int64)
    op = _dynamic()
    op.process(columns(["a"] * 20, gap=np.ones(20, np.int64)), timestamps=ts,
               watermarks=np.full(20, MIN_TIMESTAMP))
    assert op.num_live_windows == 20
    op.process(columns(["a"], gap=np.array([500])), timestamps=np.array([5]),
               watermarks=np.full(1, MIN_TIMESTAMP))
    assert op.num_live_windows == 2  # [0, 1) stays; [5, 505) swallowed the other 19
    rows = rows_of(op.finish(), ["n"])
    assert [(r[1], r[2], r[4]) for r in rows] == [(0, 1, (1,)), (5, 505, (20,))]


@pytest.mark.parametrize("bad", [0, -3])
def test_dynamic_gap_must_be_positive_and_rejection_changes_nothing(bad: int) -> None:
    op = _dynamic()
    op.process(columns(["a"], gap=np.array([5])), timestamps=np.array([0]),
               watermarks=np.array([-1]))
    with pytest.raises(InvalidWindowConfigError, match="positive"):
        op.process(columns(["a", "b"], gap=np.array([5, bad])), timestamps=np.array([3, 100]),
                   watermarks=np.array([2, 99]))
    assert op.current_watermark == -1
    assert op.num_live_windows == 1
    rows = rows_of(op.finish(), ["n"])
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [("a", 0, 5, (1,))]


def test_rejected_batch_does_not_register_its_keys() -> None:
    op = _dynamic()
    with pytest.raises(InvalidWindowConfigError):
        op.process(columns(["a", "b"], gap=np.array([5, 0])), timestamps=np.array([1, 2]),
                   watermarks=np.array([0, 1]))
    assert op.num_keys == 0


@pytest.mark.parametrize("gaps", [np.array([1.5]), np.array([1, 2]), np.array(["1"])])
def test_dynamic_gap_must_be_int_array_of_batch_length(gaps: np.ndarray) -> None:
    op = WindowOperator(EventTimeSessionWindows.with_dynamic_gap(lambda c: gaps),
                        {"n": agg.count()}, key="k")
    with pytest.raises(InvalidWindowConfigError, match="dynamic session gap"):
        op.process(columns(["a"]), timestamps=np.array([0]), watermarks=np.array([-1]))


def test_dynamic_gap_extractor_must_be_callable() -> None:
    with pytest.raises(InvalidWindowConfigError, match="callable"):
        EventTimeSessionWindows.with_dynamic_gap(5)  # type: ignore[arg-type]


def _continuous_session_rows(ts: list[int], gaps: list[int], wms: list[int],
                             flink_merge: bool = False,
                             ) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Rows ``(start, end, timing, n)`` while feeding one record per batch, and at finish."""
    op = WindowOperator(EventTimeSessionWindows.with_dynamic_gap(_gap_column),
                        {"n": agg.count()}, key="k", allowed_lateness=100,
                        trigger=ContinuousEventTimeTrigger.of(100, flink_merge=flink_merge))
    rows: list[tuple[int, ...]] = []
    for t, g, w in zip(ts, gaps, wms, strict=True):
        out = op.process(columns(["a"], gap=np.array([g])), timestamps=np.array([t]),
                         watermarks=np.array([w]))
        rows += [(*r[1:3], r[3], r[4][0]) for r in rows_of(out, ["n"])]
    fin = [(*r[1:3], r[3], r[4][0]) for r in rows_of(op.finish(), ["n"])]
    return rows, fin


def test_continuous_trigger_merge_in_lateness_fires_late_once() -> None:
    # [0, 5) fires on time at watermark 10 (its continuous fire time is its end, 4); a late
    # record at -5 merges into it: [-5, 5) fires LATE, and nothing more for it at finish
    rows, fin = _continuous_session_rows([0, 50, -5], [5, 5, 5], [-1, 10, 10])
    assert rows == [(0, 5, ON_TIME, 1), (-5, 5, LATE, 2)]
    assert fin == [(50, 55, ON_TIME, 1)]


def test_continuous_trigger_merged_window_does_not_fire_on_time_twice() -> None:
    # as above, but the surviving window of the merge is the late window [-20, -15), created
    # after [0, 5) fired; the bridging record [-15, 0) merges both into [-20, 5). The fire time
    # [0, 5) carries (its end, 4) is spent: it must not be registered again for [-20, 5)
    rows, fin = _continuous_session_rows([0, 50, -20, -15], [5, 5, 5, 15], [-1, 10, 10, 10])
    assert rows == [(0, 5, ON_TIME, 1), (-20, -15, LATE, 1), (-20, 5, LATE, 3)]
    assert fin == [(50, 55, ON_TIME, 1)]


def test_continuous_trigger_merge_keeps_a_pending_fire_time_behind_the_watermark() -> None:
    # [50, 200) gets the fire time 100 while the watermark is already 150 (due at the next
    # watermark); the bridging record [200, 300) merges it with [300, 310): the merged window
    # [50, 310) keeps 100 (only a fire time equal to a window end the watermark passed is
    # spent), fires EARLY at the next watermark, then every interval and on time at the end
    rows, fin = _continuous_session_rows([300, 50, 200], [10, 150, 100], [150, 150, 160])
    assert rows == [(50, 310, EARLY, 3)]
    assert fin == [(50, 310, EARLY, 3), (50, 310, ON_TIME, 3)]


def test_continuous_trigger_fresh_fire_time_behind_a_fired_one_is_not_dropped() -> None:
    # [0, 150) fires EARLY at 100 and on time at 149; the record at 10 merges it into
    # [0, 210): the spent fire time 149 is dropped and the record registers a fresh one, 100,
    # behind the timers this window already fired. It is due at the next watermark (170) and
    # must fire there, not be taken for a duplicate of an already fired timer
    rows, fin = _continuous_session_rows([0, 500, 10, 1000], [150, 10, 200, 10],
                                         [-1, 160, 160, 170])
    assert rows == [(0, 150, EARLY, 1), (0, 150, ON_TIME, 1), (0, 210, EARLY, 2)]
    assert fin == [(0, 210, EARLY, 2), (0, 210, ON_TIME, 2), (500, 510, ON_TIME, 1),
                   (1000, 1010, ON_TIME, 1)]


def test_continuous_trigger_flink_merge_keeps_the_spent_fire_time() -> None:
    # the cases above with flink_merge=True: the spent fire time 4 of [0, 5) is kept by the
    # merge and registered again, so the merged window fires once more at the next watermark
    # (Flink's ContinuousEventTimeTrigger.onMerge), here at finish
    rows, fin = _continuous_session_rows([0, 50, -5], [5, 5, 5], [-1, 10, 10], flink_merge=True)
    assert rows == [(0, 5, ON_TIME, 1), (-5, 5, LATE, 2)]
    assert fin == [(-5, 5, ON_TIME, 2), (50, 55, ON_TIME, 1)]
    rows, fin = _continuous_session_rows([0, 50, -20, -15], [5, 5, 5, 15], [-1, 10, 10, 10],
                                         flink_merge=True)
    assert rows == [(0, 5, ON_TIME, 1), (-20, -15, LATE, 1), (-20, 5, LATE, 3)]
    assert fin == [(-20, 5, ON_TIME, 3), (50, 55, ON_TIME, 1)]
    # a merged window whose end the watermark has not reached: the kept spent time (149) is
    # earlier than the fresh one the record would register (100 is not registered: the state
    # is not empty), so it fires EARLY at 149 and its next fire time is the end, 209
    rows, fin = _continuous_session_rows([0, 500, 10, 1000], [150, 10, 200, 10],
                                         [-1, 160, 160, 170], flink_merge=True)
    assert rows == [(0, 150, EARLY, 1), (0, 150, ON_TIME, 1), (0, 210, EARLY, 2)]
    assert fin == [(0, 210, ON_TIME, 2), (500, 510, ON_TIME, 1), (1000, 1010, ON_TIME, 1)]


def test_continuous_trigger_flink_merge_is_validated_and_part_of_the_fingerprint() -> None:
    with pytest.raises(InvalidWindowConfigError, match="flink_merge"):
        ContinuousEventTimeTrigger.of(10, flink_merge=1)  # type: ignore[arg-type]
    a = WindowOperator(EventTimeSessionWindows.with_gap(5), {"n": agg.count()}, key="k",
                       trigger=ContinuousEventTimeTrigger.of(10))
    b = WindowOperator(EventTimeSessionWindows.with_gap(5), {"n": agg.count()}, key="k",
                       trigger=ContinuousEventTimeTrigger.of(10, flink_merge=True))
    assert a.fingerprint() != b.fingerprint()
