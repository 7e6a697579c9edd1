"""The prefetch hint (``windows._prefetch``): compiled, it emits LLVM's prefetch intrinsic and
changes no value; from Python (the twins) it does nothing; the window kernel's prefetching
paths (taken only with a large state) give the output of a straightforward per-key
computation."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numba
import numpy as np
import pytest
from win_helpers import columns, run

from windows import (
    EventTimeSessionWindows,
    SlidingEventTimeWindows,
    TumblingEventTimeWindows,
    WindowOperator,
)
from windows import aggregates as agg
from windows._jit import KERNELS, jit_disabled
from windows._prefetch import prefetch


def _sum_with_hints(a: np.ndarray, rows: np.ndarray) -> float:
    total = 0.0
    n = rows.shape[0]
    for i in range(n):
        if i + 4 < n:
            prefetch(a, rows[i + 4], 0)
            prefetch(a, rows[i + 4], a.shape[1] - 1)
        total += a[rows[i], 0] + a[rows[i], a.shape[1] - 1]
    return total


def _sum_plain(a: np.ndarray, rows: np.ndarray) -> float:
    total = 0.0
    for i in range(rows.shape[0]):
        total += a[rows[i], 0] + a[rows[i], a.shape[1] - 1]
    return total


@pytest.mark.kernel
def test_twin_changes_nothing() -> None:
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    before = a.copy()
    assert prefetch(a, 2, 3) is None
    assert np.array_equal(a, before)
    rows = np.array([2, 0, 1, 2, 1, 0, 0, 2], dtype=np.int64)
    f = a.astype(np.float64)
    assert _sum_with_hints(f, rows) == _sum_plain(f, rows)


@pytest.mark.skipif(jit_disabled(), reason="inspects compiled code; NUMBA_DISABLE_JIT is set")
@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_compiled_hint_emits_prefetch_and_keeps_values(dtype: type) -> None:
    hinted = numba.njit(_sum_with_hints)
    plain = numba.njit(_sum_plain)
    rng = np.random.default_rng(7)
    a = rng.integers(0, 1000, size=(5000, 9)).astype(dtype)
    rows = rng.integers(0, 5000, size=20_000)
    before = a.copy()
    assert hinted(a, rows) == plain(a, rows) == _sum_plain(a, rows)
    assert np.array_equal(a, before)
    (ir,) = hinted.inspect_llvm().values()
    assert "llvm.prefetch" in ir
    (asm,) = hinted.inspect_asm().values()
    assert "prefetch" in asm


def _expected(kind: str, keys: np.ndarray, ts: np.ndarray, v: np.ndarray) -> list[Any]:
    """Straightforward per-key computation: (key, start, end, count, sum) of every window."""
    acc: dict[tuple[int, int, int], list[float]] = defaultdict(lambda: [0, 0.0])
    if kind == "session":
        by_key: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for k, t, x in zip(keys.tolist(), ts.tolist(), v.tolist(), strict=True):
            by_key[k].append((t, x))
        for k, recs in by_key.items():
            recs.sort()
            start, end, n, total = recs[0][0], recs[0][0] + GAP, 0, 0.0
            for t, x in recs:
                if t > end:  # Flink merges windows that touch: [a, b) and [b, c) merge
                    acc[(k, start, end)] = [n, total]
                    start, n, total = t, 0, 0.0
                end = max(end, t + GAP)
                n, total = n + 1, total + x
            acc[(k, start, end)] = [n, total]
    else:
        size, slide = (300, 60) if kind == "sliding" else (1000, 1000)
        for k, t, x in zip(keys.tolist(), ts.tolist(), v.tolist(), strict=True):
            ws = t - t % slide
            while ws > t - size:
                a = acc[(k, ws, ws + size)]
                a[0] += 1
                a[1] += x
                ws -= slide
    return sorted((k, s, e, int(a[0]), a[1]) for (k, s, e), a in acc.items())


GAP = 1000


@pytest.mark.parametrize("kind", ["sliding", "tumbling", "session"])
def test_many_keys_with_prefetching_match_straightforward_computation(kind: str) -> None:
    # enough keys and live windows that the state passes PREFETCH_MIN_BYTES, so the compiled
    # kernel takes its prefetching paths; disorder stays within the watermark delay, so
    # nothing is late and every window holds exactly its records
    assigner = {
        "sliding": SlidingEventTimeWindows.of(300, 60),
        "tumbling": TumblingEventTimeWindows.of(1000),
        "session": EventTimeSessionWindows.with_gap(GAP),
    }[kind]
    rng = np.random.default_rng(11)
    n, nkeys = 60_000, 20_000
    keys = rng.integers(0, nkeys, n)
    ts = (np.arange(n) // 40 - rng.integers(0, 6, n)).astype(np.int64)
    v = rng.integers(0, 100, n).astype(np.float64)
    wms = np.maximum.accumulate(ts) - 6
    op = WindowOperator(assigner, {"n": agg.count(), "s": agg.sum("v")}, key="k")
    got, late = run(op, columns(keys, v=v), ts, wms, [7_001, 20_000, 33_333])
    st = op._state
    twin = KERNELS["windows._window_ops._prefetch_on"][1]
    assert twin(st.ks, st.K, st.S, st.A), "the state stayed small: prefetching was never on"
    assert late == []
    want = _expected(kind, keys, ts, v)
    assert len(want) > 10_000
    assert sorted((k, s, e, int(a[0]), a[1]) for k, s, e, _timing, a in got) == want
