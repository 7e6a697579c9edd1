"""The per-key directory of aligned windows: each key files its live tumbling/sliding windows
(or slices) in a small ring, and windows whose ring entry is taken in the hash table. These
tests hold many more live windows per key than the ring has entries (no watermark yet), across
growth of the arrays and a snapshot round trip, and compare with sums computed directly."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from win_helpers import columns, no_watermarks, rows_of

from windows import (
    SlidingEventTimeWindows,
    TumblingEventTimeWindows,
    WindowOperator,
    decode_snapshot,
    encode_snapshot,
)
from windows import aggregates as agg


def _expected(keys: np.ndarray, ts: np.ndarray, v: np.ndarray, size: int,
              slide: int) -> list[tuple[object, int, int, int, float]]:
    acc: dict[tuple[object, int], list[float]] = defaultdict(lambda: [0, 0.0])
    for k, t, x in zip(keys.tolist(), ts.tolist(), v.tolist(), strict=True):
        start = t - t % slide
        while start > t - size:
            a = acc[(k, start)]
            a[0] += 1
            a[1] += x
            start -= slide
    return sorted((k, s, s + size, int(n), round(total, 6)) for (k, s), (n, total) in acc.items())


@pytest.mark.parametrize(("size", "slide"), [(10, 10), (30, 10), (25, 10)])
def test_more_live_windows_per_key_than_ring_entries(size: int, slide: int) -> None:
    rng = np.random.default_rng(7)
    n = 6000
    keys = rng.integers(0, 3, n)
    ts = rng.integers(0, 4000, n).astype(np.int64)  # ~400 live windows per key, any order
    v = rng.integers(0, 100, n).astype(np.float64)
    assigner = (TumblingEventTimeWindows.of(size) if size == slide
                else SlidingEventTimeWindows.of(size, slide))

    def make() -> WindowOperator:
        return WindowOperator(assigner, {"n": agg.count(), "s": agg.sum("v")}, key="k")

    op = make()
    half = n // 2
    out = op.process(columns(keys[:half], v=v[:half]), timestamps=ts[:half],
                     watermarks=no_watermarks(half))
    assert out.num_results == 0
    live = op.num_live_windows
    assert live > 3 * 50  # far more than any key's ring holds
    restored = make()
    restored.restore(decode_snapshot(encode_snapshot(op.snapshot())))
    assert restored.num_live_windows == live
    for o in (op, restored):
        o.process(columns(keys[half:], v=v[half:]), timestamps=ts[half:],
                  watermarks=no_watermarks(n - half))
    want = _expected(keys, ts, v, size, slide)
    for o in (op, restored):
        rows = rows_of(o.finish(), ["n", "s"])
        got = sorted((r[0], r[1], r[2], r[4][0], round(r[4][1], 6)) for r in rows)
        assert got == want
        assert o.num_live_windows == 0
