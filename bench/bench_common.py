"""Shared pieces of the window benchmarks: the synthetic stream and the operators."""

from __future__ import annotations

import numpy as np

from windows import (
    EventTimeSessionWindows,
    SlidingEventTimeWindows,
    TumblingEventTimeWindows,
    WindowOperator,
    aggregates,
)

BASE_TS = 1_700_000_000_000
KEYS = 10_000
SEED = 20261121


def make_stream(n: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """``n`` events, about one per ms, up to 5 s out of order, ``KEYS`` keys (fixed seed).

    Returns columns ``key`` (int64), ``ts`` (int64 epoch ms), ``value`` (float64)."""
    rng = np.random.default_rng(seed)
    ts = BASE_TS + np.arange(n, dtype=np.int64) - rng.integers(0, 5001, n)
    return {
        "key": rng.integers(0, KEYS, n).astype(np.int64),
        "ts": ts,
        "value": np.round(rng.random(n) * 100, 2),
    }


def make_operator(kind: str) -> WindowOperator:
    """Per key: tumbling 1 min, sliding 5 min / 1 min, or session 30 s gap; count + sum."""
    assigner = {
        "tumbling": TumblingEventTimeWindows.of(60_000),
        "sliding": SlidingEventTimeWindows.of(300_000, 60_000),
        "session": EventTimeSessionWindows.with_gap(30_000),
    }[kind]
    return WindowOperator(
        assigner, {"count": aggregates.count(), "sum": aggregates.sum("value")}, key="key"
    )
