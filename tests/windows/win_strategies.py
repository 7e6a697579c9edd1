"""Hypothesis strategies shared by the property tests: small out-of-order keyed streams and
random window configurations."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from windows import (
    ContinuousEventTimeTrigger,
    CountTrigger,
    EventTimeSessionWindows,
    EventTimeTrigger,
    PurgingTrigger,
    SlidingEventTimeWindows,
    TumblingEventTimeWindows,
)
from windows import aggregates as agg

AGGS = {"n": agg.count(), "c": agg.count("v"), "s": agg.sum("v"), "lo": agg.min("v"),
        "hi": agg.max("v"), "m": agg.mean("v"), "f": agg.first("v"), "l": agg.last("v")}
NAN = float("nan")


@st.composite
def streams(draw: st.DrawFn, max_len: int = 40) -> dict[str, Any]:
    """Keys, event times (a rising walk with random jumps back), values with NaNs, gaps."""
    n = draw(st.integers(0, max_len))
    keys = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    steps = draw(st.lists(st.integers(0, 9), min_size=n, max_size=n))
    back = draw(st.lists(st.one_of(st.just(0), st.integers(0, 60)), min_size=n, max_size=n))
    origin = draw(st.integers(-40, 40))
    ts = (origin + np.cumsum(np.asarray(steps, np.int64)) - np.asarray(back, np.int64)
          if n else np.empty(0, np.int64))
    values = draw(st.lists(st.one_of(st.integers(-5, 9).map(float), st.just(NAN)),
                           min_size=n, max_size=n))
    gaps = draw(st.lists(st.integers(1, 25), min_size=n, max_size=n))
    cuts = draw(st.lists(st.integers(0, n), max_size=4))
    return {"keys": keys, "ts": np.asarray(ts, np.int64), "v": values, "g": gaps,
            "cuts": cuts}


@st.composite
def assigners(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["tumbling", "sliding", "session", "dynamic"]))
    if kind == "tumbling":
        size = draw(st.integers(1, 40))
        return TumblingEventTimeWindows.of(size, draw(st.integers(-size + 1, size - 1)))
    if kind == "sliding":
        size = draw(st.integers(1, 40))
        slide = draw(st.integers(1, 45))
        return SlidingEventTimeWindows.of(size, slide, draw(st.integers(-slide + 1, slide - 1)))
    if kind == "session":
        return EventTimeSessionWindows.with_gap(draw(st.integers(1, 25)))
    return EventTimeSessionWindows.with_dynamic_gap(lambda c: c["g"])


@st.composite
def triggers(draw: st.DrawFn) -> Any:
    base = draw(st.sampled_from(["event", "count", "cont"]))
    if base == "event":
        t: Any = None
    elif base == "count":
        t = CountTrigger.of(draw(st.integers(1, 4)))
    else:
        t = ContinuousEventTimeTrigger.of(draw(st.integers(1, 20)),
                                          flink_merge=draw(st.booleans()))
    if draw(st.booleans()):
        t = PurgingTrigger.of(t if t is not None else EventTimeTrigger.create())
    return t


@st.composite
def aggregate_sets(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(sorted(AGGS)), min_size=1, max_size=len(AGGS),
                          unique=True))
    return {n: AGGS[n] for n in names}
