"""Differential tests: the operator against the pure-Python model in ``reference.py`` on random
small out-of-order streams (assigners, triggers, lateness, aggregates and batch cuts drawn at
random); the full output, results and late rows, must match in order."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from reference import (
    ReferenceCountWindows,
    ReferenceWindowOperator,
    RefOutput,
    bounded_watermarks,
    norm_row,
)
from win_helpers import PROPERTY, columns, run
from win_strategies import aggregate_sets, assigners, streams, triggers

from windows import (
    EventTimeSessionWindows,
    SlidingCountWindows,
    SlidingEventTimeWindows,
    TumblingCountWindows,
    WindowOperator,
)
from windows import aggregates as agg


def _reference(assigner: Any, aggs: dict[str, Any], trigger: Any, lateness: int,
               s: dict[str, Any], wms: list[int]) -> RefOutput:
    ref = ReferenceWindowOperator(assigner, aggs, trigger=trigger, allowed_lateness=lateness)
    out = ref.process(s["keys"], s["ts"].tolist(), wms, {"v": s["v"]}, gaps=s["g"])
    out.extend(ref.finish())
    return out


def _assert_same_firings(assigner: Any, got: list[tuple[Any, ...]], ref: RefOutput) -> None:
    want = [norm_row(r.plain()) for r in ref.results]
    if not isinstance(assigner, EventTimeSessionWindows):
        assert got == want
        return
    # Merged sessions are new windows whose timers are registered at the merge; the relative
    # order of firings at the same watermark step and time is not defined then. Compare the
    # sequence of firing groups, and the rows of each group as a multiset.
    assert len(got) == len(want)
    pos = 0
    groups: list[list[int]] = []
    for j, r in enumerate(ref.results):
        if groups and ref.results[groups[-1][0]].group == r.group:
            groups[-1].append(j)
        else:
            groups.append([j])
    for g in groups:
        chunk = got[pos:pos + len(g)]
        assert Counter(chunk) == Counter(want[j] for j in g), (pos, chunk)
        pos += len(g)


@PROPERTY
@given(s=streams(), assigner=assigners(), trigger=triggers(), aggs=aggregate_sets(),
       delay=st.integers(0, 25), lateness=st.one_of(st.just(0), st.integers(1, 60),
                                                    st.integers(1, 20)))
def test_operator_matches_reference(s: dict[str, Any], assigner: Any, trigger: Any,
                                    aggs: dict[str, Any], delay: int, lateness: int) -> None:
    wms = bounded_watermarks(s["ts"].tolist(), delay)
    op = WindowOperator(assigner, aggs, key="k", trigger=trigger, allowed_lateness=lateness)
    cols = columns(s["keys"], v=np.asarray(s["v"], np.float64), g=np.asarray(s["g"], np.int64))
    got, late = run(op, cols, s["ts"], np.asarray(wms, np.int64), s["cuts"])
    ref = _reference(assigner, aggs, trigger, lateness, s, wms)
    event(f"late rows: {bool(ref.late)}")
    event(f"late firings: {any(r.timing == 2 for r in ref.results)}")
    assert late == ref.late
    _assert_same_firings(assigner, got, ref)


@PROPERTY
@given(s=streams(max_len=80), size=st.integers(1, 60), slide=st.integers(1, 30),
       offset=st.integers(-29, 29), aggs=aggregate_sets(), delay=st.integers(0, 30),
       lateness=st.sampled_from([0, 0, 0, 12]))
def test_sliding_event_time_windows_match_reference(
        s: dict[str, Any], size: int, slide: int, offset: int, aggs: dict[str, Any],
        delay: int, lateness: int) -> None:
    """Sliding windows with the default trigger and no lateness fire exactly once per window,
    which the operator may compute from shared slices: give that case many examples."""
    assigner = SlidingEventTimeWindows.of(size, slide, offset % slide)
    wms = bounded_watermarks(s["ts"].tolist(), delay)
    op = WindowOperator(assigner, aggs, key="k", allowed_lateness=lateness)
    cols = columns(s["keys"], v=np.asarray(s["v"], np.float64))
    got, late = run(op, cols, s["ts"], np.asarray(wms, np.int64), s["cuts"])
    ref = _reference(assigner, aggs, None, lateness, s, wms)
    assert late == ref.late
    assert got == [norm_row(r.plain()) for r in ref.results]


@PROPERTY
@given(s=streams(max_len=60), sliding=st.booleans(), size=st.integers(1, 6),
       slide=st.integers(1, 7), aggs=aggregate_sets(), delay=st.integers(0, 30))
def test_count_windows_match_reference(s: dict[str, Any], sliding: bool, size: int,
                                       slide: int, aggs: dict[str, Any], delay: int) -> None:
    assigner = (SlidingCountWindows.of(size, slide) if sliding
                else TumblingCountWindows.of(size))
    op = WindowOperator(assigner, aggs, key="k")
    cols = columns(s["keys"], v=np.asarray(s["v"], np.float64))
    # count windows ignore time: watermarks are given and must change nothing; incomplete
    # windows are not emitted by finish()
    wms = np.asarray(bounded_watermarks(s["ts"].tolist(), delay), np.int64)
    got, late = run(op, cols, s["ts"], wms, s["cuts"])
    ref = ReferenceCountWindows(assigner, aggs)
    want = [norm_row(r) for r in ref.process(s["keys"], s["ts"].tolist(), {"v": s["v"]})]
    assert late == []
    assert got == want


@pytest.mark.parametrize("gap", [8, 37, 400])
def test_long_lazy_sessions_match_reference_with_rounded_timers(gap: int) -> None:
    # event-time sessions without lateness keep one pending timer per session, first due at
    # the end rounded down to a quarter of the gap; sessions here grow over many such
    # periods (one record every ~gap/3 per key) and must fire exactly when the reference
    # fires them (same watermark step, same contents)
    rng = np.random.default_rng(gap)
    n = 4000
    keys = rng.integers(0, 12, n).tolist()
    ts = np.cumsum(rng.integers(0, max(2, gap // 30), n)) - rng.integers(0, gap // 4 + 1, n)
    breaks = rng.random(n) < 0.01  # occasional pauses longer than the gap end sessions
    ts = (ts + np.cumsum(breaks) * 3 * gap).astype(np.int64)
    s = {"keys": keys, "ts": ts, "v": rng.random(n).round(2).tolist(), "g": [1] * n,
         "cuts": sorted(rng.choice(np.arange(1, n), 7, replace=False).tolist())}
    wms = bounded_watermarks(ts.tolist(), gap // 4)
    assigner = EventTimeSessionWindows.with_gap(gap)
    aggs = {"n": agg.count(), "s": agg.sum("v")}
    op = WindowOperator(assigner, aggs, key="k")
    cols = columns(keys, v=np.asarray(s["v"], np.float64), g=np.ones(n, np.int64))
    got, late = run(op, cols, ts, np.asarray(wms, np.int64), s["cuts"])
    ref = _reference(assigner, aggs, None, 0, s, wms)
    assert late == ref.late
    assert len(ref.results) > 40
    _assert_same_firings(assigner, got, ref)
