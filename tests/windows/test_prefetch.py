"""The prefetch hint (``windows._prefetch``): compiled, it emits LLVM's prefetch intrinsic and
changes no value; from Python (the twins) it does nothing."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from windows._jit import jit_disabled
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
