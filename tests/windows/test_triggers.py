"""Triggers: count, purging, continuous event time, processing time (with explicit processing
times), continuous processing time, and triggers on global windows."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
from win_helpers import columns, rows_of

from windows import (
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    ContinuousEventTimeTrigger,
    ContinuousProcessingTimeTrigger,
    CountTrigger,
    EventTimeTrigger,
    GlobalWindows,
    ProcessingTimeSessionWindows,
    ProcessingTimeTrigger,
    PurgingTrigger,
    SlidingProcessingTimeWindows,
    Timing,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
    WindowOperator,
)
from windows import aggregates as agg

EARLY, ON_TIME, LATE = int(Timing.EARLY), int(Timing.ON_TIME), int(Timing.LATE)
AGGS = {"n": agg.count(), "s": agg.sum("v")}
NAMES = list(AGGS)


def _tumbling(trigger: object, size: int = 10, lateness: int = 0) -> WindowOperator:
    return WindowOperator(TumblingEventTimeWindows.of(size), AGGS, key="k",
                          trigger=trigger, allowed_lateness=lateness)  # type: ignore[arg-type]


def _ev(op: WindowOperator, ts: list[int], wms: list[int], v: list[int] | None = None,
        ) -> list[tuple[object, ...]]:
    n = len(ts)
    vals = np.asarray(v if v is not None else [1] * n, np.int64)
    out = op.process(columns(["a"] * n, v=vals), timestamps=np.asarray(ts, np.int64),
                     watermarks=np.asarray(wms, np.int64))
    return [r[1:] for r in rows_of(out, NAMES)]


def _wm(op: WindowOperator, wm: int) -> list[tuple[object, ...]]:
    return [r[1:] for r in rows_of(op.advance_watermark(wm), NAMES)]


# -- count ----------------------------------------------------------------------------------------
def test_count_trigger_fires_every_n_records_cumulatively() -> None:
    op = _tumbling(CountTrigger.of(2))
    assert _ev(op, [1, 2, 3, 4, 5], [MIN_TIMESTAMP] * 5, [1, 2, 3, 4, 5]) == [
        (0, 10, EARLY, (2, 3)), (0, 10, EARLY, (4, 10))]
    # the fifth record never completes a count: discarded at cleanup, no firing on time
    assert _wm(op, 9) == []
    assert op.num_live_windows == 0
    assert op.finish().num_results == 0


def test_count_trigger_in_lateness_period_fires_late() -> None:
    op = _tumbling(CountTrigger.of(2), lateness=100)
    assert _ev(op, [1, 2], [20, 20]) == [(0, 10, LATE, (2, 2))]


def test_purging_count_trigger_gives_disjoint_chunks() -> None:
    op = WindowOperator(TumblingEventTimeWindows.of(10),
                        {"n": agg.count(), "f": agg.first("v"), "l": agg.last("v")}, key="k",
                        trigger=PurgingTrigger.of(CountTrigger.of(2)))
    out = op.process(columns(["a"] * 5, v=np.array([1, 2, 3, 4, 5])),
                     timestamps=np.array([5, 1, 2, 3, 4]), watermarks=np.full(5, MIN_TIMESTAMP))
    assert [r[1:] for r in rows_of(out, ["n", "f", "l"])] == [
        (0, 10, EARLY, (2, 2, 1)), (0, 10, EARLY, (2, 3, 4))]


def test_global_windows_with_count_trigger() -> None:
    op = WindowOperator(GlobalWindows.create(), AGGS, key="k", trigger=CountTrigger.of(2))
    out = op.process(columns(["a", "b", "a", "a", "b"], v=np.array([1, 2, 3, 4, 5])))
    assert rows_of(out, NAMES) == [("a", MIN_TIMESTAMP, MAX_TIMESTAMP, EARLY, (2, 4)),
                                   ("b", MIN_TIMESTAMP, MAX_TIMESTAMP, EARLY, (2, 7))]
    out = op.process(columns(["a"], v=np.array([6])))
    assert rows_of(out, NAMES) == [("a", MIN_TIMESTAMP, MAX_TIMESTAMP, EARLY, (4, 14))]
    assert op.finish().num_results == 0


def test_global_windows_with_purging_count_trigger() -> None:
    op = WindowOperator(GlobalWindows.create(), AGGS, key="k",
                        trigger=PurgingTrigger.of(CountTrigger.of(2)))
    out = op.process(columns(["a"] * 5, v=np.array([1, 2, 3, 4, 5])))
    assert [r[4] for r in rows_of(out, NAMES)] == [(2, 3), (2, 7)]


def test_global_windows_with_many_keys() -> None:
    # regression: growing the hash table lost every global window
    op = WindowOperator(GlobalWindows.create(), {"n": agg.count()}, key="k",
                        trigger=CountTrigger.of(2))
    keys = np.arange(3000)
    assert op.process({"k": keys}).num_results == 0
    out = op.process({"k": keys})
    assert out.num_results == 3000
    assert op.num_live_windows == 3000


# -- purging --------------------------------------------------------------------------------------
def test_purging_event_time_trigger_late_firing_holds_only_new_records() -> None:
    op = _tumbling(PurgingTrigger.of(EventTimeTrigger.create()), lateness=20)
    assert _ev(op, [1, 2, 3, 15], [0, 1, 2, 14], [1, 2, 3, 4]) == [(0, 10, ON_TIME, (3, 6))]
    assert _ev(op, [4, 5], [14, 14], [10, 20]) == [(0, 10, LATE, (1, 10)),
                                                   (0, 10, LATE, (1, 20))]


def test_non_purging_event_time_trigger_late_firing_is_cumulative() -> None:
    op = _tumbling(None, lateness=20)
    assert _ev(op, [1, 2, 3, 15], [0, 1, 2, 14], [1, 2, 3, 4]) == [(0, 10, ON_TIME, (3, 6))]
    assert _ev(op, [4, 5], [14, 14], [10, 20]) == [(0, 10, LATE, (4, 16)),
                                                   (0, 10, LATE, (5, 36))]


def test_purging_trigger_properties() -> None:
    p = PurgingTrigger.of(PurgingTrigger.of(CountTrigger.of(3)))
    assert p.purging and p.param == 3 and p.base == CountTrigger.of(3)
    assert not CountTrigger.of(3).purging


# -- continuous event time ------------------------------------------------------------------------
def test_continuous_event_time_fires_early_at_interval_multiples_then_on_time_once() -> None:
    op = _tumbling(ContinuousEventTimeTrigger.of(3))
    # the record at 1 registers the first firing at min(floor(1 / 3) * 3 + 3, 9) = 3
    assert _ev(op, [1], [0]) == []
    assert _wm(op, 2) == []
    assert _wm(op, 3) == [(0, 10, EARLY, (1, 1))]
    assert _ev(op, [7], [5]) == []
    assert _wm(op, 6) == [(0, 10, EARLY, (2, 2))]
    assert _wm(op, 8) == []
    # 6 + 3 = 9 = end - 1: one firing, on time (the end timer and the continuous timer coincide)
    assert _wm(op, 9) == [(0, 10, ON_TIME, (2, 2))]
    assert op.finish().num_results == 0


def test_continuous_event_time_catches_up_every_interval_on_a_jump() -> None:
    op = _tumbling(ContinuousEventTimeTrigger.of(3), size=12)
    assert _ev(op, [0], [MIN_TIMESTAMP]) == []
    assert _wm(op, 20) == [(0, 12, EARLY, (1, 1)), (0, 12, EARLY, (1, 1)),
                           (0, 12, EARLY, (1, 1)), (0, 12, ON_TIME, (1, 1))]


def test_continuous_event_time_first_firing_from_first_record_time() -> None:
    op = _tumbling(ContinuousEventTimeTrigger.of(4), size=10)
    # first record at 8: next fire min(8 + 4, 9) = 9, i.e. only the on-time firing
    assert _ev(op, [8, 1], [0, 0]) == []
    assert _wm(op, 8) == []
    assert _wm(op, 9) == [(0, 10, ON_TIME, (2, 2))]


def test_continuous_event_time_interval_longer_than_window() -> None:
    op = _tumbling(ContinuousEventTimeTrigger.of(1000), size=10)
    _ev(op, [12], [0])
    assert _wm(op, 19) == [(10, 20, ON_TIME, (1, 1))]


def test_purging_continuous_event_time_emits_increments_and_skips_empty() -> None:
    op = _tumbling(PurgingTrigger.of(ContinuousEventTimeTrigger.of(3)), size=12)
    assert _ev(op, [1, 2], [0, 0], [1, 2]) == []
    assert _wm(op, 3) == [(0, 12, EARLY, (2, 3))]
    assert _wm(op, 6) == []  # nothing new: an empty window does not emit
    assert _ev(op, [8], [6], [5]) == []
    assert _wm(op, 11) == [(0, 12, EARLY, (1, 5))]  # at 9; nothing new at 11


def test_continuous_event_time_in_lateness_period_fires_late() -> None:
    op = _tumbling(ContinuousEventTimeTrigger.of(3), lateness=50)
    assert _ev(op, [1, 30], [MIN_TIMESTAMP, 29]) == [
        (0, 10, EARLY, (1, 1)), (0, 10, EARLY, (1, 1)), (0, 10, ON_TIME, (1, 1))]
    assert _ev(op, [2], [29]) == [(0, 10, LATE, (2, 2))]


# -- processing time ------------------------------------------------------------------------------
def _pt(op: WindowOperator, keys: list[str], pt: int) -> list[tuple[object, ...]]:
    out = op.process(columns(keys, v=np.ones(len(keys), np.int64)), processing_time=pt)
    return rows_of(out, NAMES)


def test_tumbling_processing_time_windows() -> None:
    op = WindowOperator(TumblingProcessingTimeWindows.of(100), AGGS, key="k")
    assert _pt(op, ["a", "a", "b"], 1050) == []
    # a batch at 1098: the window [1000, 1100) is not due yet and takes the record
    assert _pt(op, ["a"], 1098) == []
    # at 1100 the timer at 1099 fires before the batch's records are assigned to [1100, 1200)
    assert _pt(op, ["b"], 1100) == [("a", 1000, 1100, ON_TIME, (3, 3)),
                                    ("b", 1000, 1100, ON_TIME, (1, 1))]
    assert rows_of(op.on_processing_time(1198), NAMES) == []
    assert rows_of(op.on_processing_time(1199), NAMES) == [("b", 1100, 1200, ON_TIME, (1, 1))]
    assert op.num_live_windows == 0


def test_processing_time_windows_fire_at_finish() -> None:
    op = WindowOperator(TumblingProcessingTimeWindows.of(100), AGGS, key="k")
    _pt(op, ["a"], 1050)
    assert op.finish(fire_processing_time=False).num_results == 0
    assert rows_of(op.finish(), NAMES) == [("a", 1000, 1100, ON_TIME, (1, 1))]


def test_sliding_processing_time_windows() -> None:
    op = WindowOperator(SlidingProcessingTimeWindows.of(100, 50), AGGS, key="k")
    assert _pt(op, ["a"], 1020) == []
    assert _pt(op, ["a"], 1060) == [("a", 950, 1050, ON_TIME, (1, 1))]
    assert rows_of(op.on_processing_time(1200), NAMES) == [("a", 1000, 1100, ON_TIME, (2, 2)),
                                                           ("a", 1050, 1150, ON_TIME, (1, 1))]


def test_processing_time_sessions() -> None:
    op = WindowOperator(ProcessingTimeSessionWindows.with_gap(100), AGGS, key="k")
    assert _pt(op, ["a"], 1000) == []
    assert _pt(op, ["a"], 1080) == []  # [1080, 1180) merges with [1000, 1100)
    assert rows_of(op.on_processing_time(1178), NAMES) == []
    assert rows_of(op.on_processing_time(1179), NAMES) == [("a", 1000, 1180, ON_TIME, (2, 2))]


def test_processing_time_trigger_needs_no_timestamps() -> None:
    op = WindowOperator(TumblingProcessingTimeWindows.of(100), AGGS, key="k",
                        trigger=ProcessingTimeTrigger.create())
    assert _pt(op, ["a"], 5) == []
    assert rows_of(op.on_processing_time(99), NAMES) == [("a", 0, 100, ON_TIME, (1, 1))]


def test_continuous_processing_time_on_global_windows() -> None:
    op = WindowOperator(GlobalWindows.create(), AGGS, key="k",
                        trigger=ContinuousProcessingTimeTrigger.of(100))
    # first record at 1050 registers a firing at the next multiple of 100
    assert _pt(op, ["a", "a"], 1050) == []
    assert rows_of(op.on_processing_time(1099), NAMES) == []
    assert rows_of(op.on_processing_time(1100), NAMES) == [
        ("a", MIN_TIMESTAMP, MAX_TIMESTAMP, EARLY, (2, 2))]
    assert _pt(op, ["a"], 1150) == []
    assert rows_of(op.on_processing_time(1200), NAMES) == [
        ("a", MIN_TIMESTAMP, MAX_TIMESTAMP, EARLY, (3, 3))]


def test_purging_continuous_processing_time() -> None:
    op = WindowOperator(GlobalWindows.create(), AGGS, key="k",
                        trigger=PurgingTrigger.of(ContinuousProcessingTimeTrigger.of(100)))
    _pt(op, ["a", "a"], 1050)
    assert [r[4] for r in rows_of(op.on_processing_time(1100), NAMES)] == [(2, 2)]
    assert rows_of(op.on_processing_time(1200), NAMES) == []  # nothing new
    _pt(op, ["a"], 1210)
    assert [r[4] for r in rows_of(op.on_processing_time(1300), NAMES)] == [(1, 1)]


def test_continuous_processing_time_has_no_firing_at_window_end() -> None:
    op = WindowOperator(TumblingProcessingTimeWindows.of(1000), AGGS, key="k",
                        trigger=ContinuousProcessingTimeTrigger.of(400))
    _pt(op, ["a"], 1050)
    assert rows_of(op.on_processing_time(1200), NAMES) == [("a", 1000, 2000, EARLY, (1, 1))]
    _pt(op, ["a"], 1300)
    assert rows_of(op.on_processing_time(1600), NAMES) == [("a", 1000, 2000, EARLY, (2, 2))]
    _pt(op, ["a"], 1700)
    # next firing would be at 2000, after the window's cleanup at 1999: the last record is
    # never emitted (as Flink's ContinuousProcessingTimeTrigger)
    assert rows_of(op.on_processing_time(1999), NAMES) == []
    assert op.num_live_windows == 0


def test_continuous_processing_time_catch_up_is_one_early_firing() -> None:
    # timers due at 1200 and 1600, both before the window's end (1999), when processing time
    # jumps to 1999: the missed firings collapse into one, timed by the timer (EARLY), not by
    # the processing time of the call (regression: it used to be LATE)
    op = WindowOperator(TumblingProcessingTimeWindows.of(1000), AGGS, key="k",
                        trigger=ContinuousProcessingTimeTrigger.of(400))
    _pt(op, ["a"], 1050)
    rows = rows_of(op.on_processing_time(1999), NAMES)
    assert rows == [("a", 1000, 2000, EARLY, (1, 1))]
    assert op.num_live_windows == 0


_HANG_SCRIPT = """
import numpy as np
from windows import *
from windows import aggregates as agg
op = WindowOperator(GlobalWindows.create(), {"n": agg.count()}, key="k",
                    trigger=TRIGGER)
op.process({"k": np.array([1, 1])}, timestamps=np.array([10, 20]), watermarks=np.array([0, 150]),
           processing_time=1050)
out = op.finish()
print("ROWS", out.num_results)
"""


def _finish_in_subprocess(trigger: str) -> int | str:
    # regression guard: finish() used to loop (and allocate) without end for continuous
    # triggers; run it where it can be stopped
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))\n"
            + textwrap.dedent(_HANG_SCRIPT).replace("TRIGGER", trigger))
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=20, check=False, env=env)
    except subprocess.TimeoutExpired:
        return "timeout"
    if proc.stdout.startswith("ROWS "):
        return int(proc.stdout.split()[1])
    return proc.stderr[-300:]


def test_finish_terminates_with_continuous_processing_time_trigger() -> None:
    # the window holds two records; at most its pending firing(s) may come out
    assert _finish_in_subprocess("ContinuousProcessingTimeTrigger.of(100)") in (1, 2)


def test_finish_terminates_with_continuous_event_time_trigger_on_global_windows() -> None:
    assert _finish_in_subprocess("ContinuousEventTimeTrigger.of(100)") in (1, 2)


def test_finish_harness_reports_rows() -> None:
    assert _finish_in_subprocess("CountTrigger.of(2)") == 0
