"""The Numba kernel against its pure-Python twin (parity), and a guard that the compiled path
really compiled (CI re-runs the ``kernel`` tests with NUMBA_DISABLE_JIT=1).

:func:`cep._kernels.nfa_run` inlines helper kernels from other modules; its twin is run with
every helper replaced by its twin too, so the parity test covers each helper's twin."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cep_strategies import patterns, streams
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cep_differential import summarize

from cep import CepOperator, Pattern, col
from cep import _kernels as K
from cep.runtime_fast import FastRuntime, kernel_twin
from windows._jit import KERNELS, jit_disabled
from windows._prefetch import PREFETCH_MIN_BYTES


def _drive(pattern: Pattern, stream: dict[str, Any], kernel: Any) -> tuple[Any, FastRuntime]:
    op = CepOperator(pattern, key="key", engine="fast")
    rt = FastRuntime(op.nfa, True, kernel=kernel)
    op._runtime = rt
    n = stream["n"]
    bounds = [0, *stream["cuts"], n]
    outs = []
    for lo, hi in pairwise(bounds):
        cols = {k: v[lo:hi] for k, v in stream["columns"].items()}
        # string keys: the integer path of windows.keys warns under NUMBA_DISABLE_JIT
        cols["key"] = np.asarray([f"k{x}" for x in cols["key"].tolist()], dtype=object)
        outs.append(summarize(op.process(cols, stream["ts"][lo:hi], stream["wms"][lo:hi],
                                         processing_time=0)))
    return outs, rt


def _cep_kernel_modules() -> list[Any]:
    """The modules of :mod:`cep` that define kernels."""
    root = Path(K.__file__).parent
    return [importlib.import_module(f"cep.{p.stem}") for p in sorted(root.glob("*.py"))
            if "from windows._jit import kernel" in p.read_text(encoding="utf-8")]


@contextmanager
def _pure_python(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Within the block, every cep kernel a cep module refers to is its pure-Python twin (so
    the twin of a kernel calls the twins of its helpers)."""
    twins = {id(disp): twin for name, (disp, twin) in KERNELS.items() if name.startswith("cep.")}
    with monkeypatch.context() as mp:
        for mod in _cep_kernel_modules():
            for attr, value in list(vars(mod).items()):
                if id(value) in twins and value is not twins[id(value)]:
                    mp.setattr(mod, attr, twins[id(value)])
        yield


@pytest.mark.kernel
@settings(max_examples=12 if jit_disabled() else 40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(patterns(), streams(max_events=16))
def test_nfa_kernel_parity(pattern: Pattern, stream: dict[str, Any]) -> None:
    compiled_out, rc = _drive(pattern, stream, K.nfa_run)
    with pytest.MonkeyPatch.context() as mp, _pure_python(mp):
        twin_out, rt = _drive(pattern, stream, kernel_twin())
    assert compiled_out == twin_out
    for name in ("pm", "nd", "ev", "ks", "ctr", "pend"):
        a, b = getattr(rc, name), getattr(rt, name)
        assert a.shape == b.shape and np.array_equal(a, b), name


@pytest.mark.kernel
def test_kernel_twin_is_registered() -> None:
    for kern in (K.nfa_run, K.order_by_time):
        f = getattr(kern, "py_func", kern)
        name = f"{f.__module__}.{f.__qualname__}"
        assert KERNELS[name][0] is kern
        assert KERNELS[name][1] is f
    # every function of a kernel module is a registered kernel, reachable under its name
    modules = _cep_kernel_modules()
    assert {m.__name__ for m in modules} >= {"cep._kernels", "cep._nfa_event", "cep._nfa_lists",
                                             "cep._nfa_settle", "cep._nfa_store"}
    for mod in modules:
        for attr, value in vars(mod).items():
            f = getattr(value, "py_func", value)
            if inspect.isfunction(f) and f.__module__ == mod.__name__:
                assert KERNELS[f"{mod.__name__}.{attr}"] == (value, f), attr
    for name, (disp, _twin) in KERNELS.items():
        if name.startswith("cep."):
            mod_name, attr = name.rsplit(".", 1)
            assert getattr(sys.modules[mod_name], attr) is disp, name


@pytest.mark.kernel
def test_pure_python_twin_uses_no_compiled_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = {id(disp) for name, (disp, twin) in KERNELS.items()
                if name.startswith("cep.") and disp is not twin}
    with _pure_python(monkeypatch):
        for mod in _cep_kernel_modules():
            assert not [a for a, v in vars(mod).items() if id(v) in compiled], mod.__name__


@pytest.mark.kernel
def test_compiled_path_really_compiled() -> None:
    p = Pattern.begin("a").where(col("v") > 1).followed_by("b").where(col("v") < 1)
    op = CepOperator(p, engine="fast")
    out = op.process({"v": np.asarray([2.0, 0.0])}, np.asarray([1, 2]), np.asarray([0, 5]))
    assert len(out.matches) == 1
    if jit_disabled():
        pytest.skip("NUMBA_DISABLE_JIT is set: the twin ran")
    assert K.nfa_run.nopython_signatures, "the NFA kernel did not compile in nopython mode"


@pytest.mark.kernel
def test_capacity_growth_and_resume() -> None:
    # tiny pools force several NEED_CAPACITY round trips inside one batch
    p = (Pattern.begin("a").where(col("v") > 0).followed_by_any("b").where(col("v") > 0)
         .one_or_more().within(1000))
    op = CepOperator(p, engine="fast")
    ref = CepOperator(p, engine="reference")
    n = 25
    cols = {"v": np.ones(n), "name": np.asarray([f"e{i}" for i in range(n)], dtype=object)}
    ts = np.arange(n, dtype=np.int64)
    wms = ts.copy()
    a = summarize(op.process(cols, ts, wms, processing_time=0))
    b = summarize(ref.process(cols, ts, wms, processing_time=0))
    assert a == b
    assert op.state_size() == ref.state_size()
    assert op._runtime.pm.shape[0] > 256


def test_many_keys_with_prefetching_match_reference_engine() -> None:
    # enough keys that the key rows pass PREFETCH_MIN_BYTES, so the compiled kernel prefetches
    # later events' key rows; matches must be the reference engine's
    p = (Pattern.begin("small").where(col("v") < 30).followed_by("large").where(col("v") > 70)
         .within(10_000))
    rng = np.random.default_rng(5)
    n, nkeys = 40_000, 12_000
    cols = {"card": rng.integers(0, nkeys, n), "v": rng.integers(0, 100, n).astype(np.float64),
            "name": np.asarray([f"e{i}" for i in range(n)], dtype=object)}
    ts = (np.arange(n) // 20 - rng.integers(0, 4, n)).astype(np.int64)
    wms = np.maximum.accumulate(ts) - 4
    fast = CepOperator(p, key="card", engine="fast")
    ref = CepOperator(p, key="card", engine="reference")
    got, want = [], []
    for lo, hi in pairwise((0, 15_000, 31_000, n)):
        part = {k: v[lo:hi] for k, v in cols.items()}
        got.append(summarize(fast.process(part, ts[lo:hi], wms[lo:hi], processing_time=0)))
        want.append(summarize(ref.process(part, ts[lo:hi], wms[lo:hi], processing_time=0)))
    got.append(summarize(fast.finish()))
    want.append(summarize(ref.finish()))
    assert got == want
    ks = fast._runtime.ks
    assert ks.shape[0] * ks.shape[1] * 8 >= PREFETCH_MIN_BYTES
    assert sum(len(g["matches"]) for g in got) > 1_000  # many matches, not an empty comparison


@pytest.mark.kernel
@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.integers(-50, 50), max_size=60))
def test_order_by_time_parity(values: list[int]) -> None:
    ts = np.asarray(values, np.int64)
    outs = []
    twin = KERNELS["cep._kernels.order_by_time"][1]
    for impl in (K.order_by_time, twin):
        out = np.empty(ts.shape[0], np.int64)
        if ts.shape[0]:
            t0 = int(ts.min())
            impl(ts, t0, np.zeros(int(ts.max()) - t0 + 2, np.int64), out)
        outs.append(out)
    assert np.array_equal(outs[0], outs[1])
    assert np.array_equal(outs[0], np.argsort(ts, kind="stable"))
    if not jit_disabled() and ts.shape[0]:
        assert K.order_by_time.nopython_signatures
