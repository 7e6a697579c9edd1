"""Parity of the compiled kernels with their pure-Python twins (``windows._jit.KERNELS``), and
a check that the compiled path really compiled.

* Kernels called from Python code (the window kernel, the watermark kernel, the key encoder,
  the hash rebuild) are checked call by call while real operators run: each call is repeated
  with the twin on copies of its arguments, and the return value and every array argument
  must come out equal.
* The data structures (hash table, timer queues) are driven directly with random
  operations.
* A subprocess runs a fixed workload with ``NUMBA_DISABLE_JIT=1`` (all twins, nested calls
  included) and must reproduce the compiled output.

Hash tables are compared by content, not layout: the twin of the hash function computes with
Python integers, which do not wrap around like int64.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from win_helpers import PROPERTY, bounded, columns, split
from win_strategies import aggregate_sets, assigners, streams, triggers

import windows
from windows import (
    AggregateFunction,
    CountTrigger,
    GlobalWindows,
    KeyEncoder,
    ProcessWindowFunction,
    PurgingTrigger,
    SlidingCountWindows,
    TumblingProcessingTimeWindows,
    WatermarkStrategy,
    WindowOperator,
    _jit,
)
from windows import aggregates as agg

pytestmark = pytest.mark.kernel

I64 = np.iinfo(np.int64)


def _kernel(name: str) -> tuple[Any, Callable[..., Any]]:
    return _jit.KERNELS[name]


# -- comparison -----------------------------------------------------------------------------------
def _table_rows(ht: np.ndarray) -> list[tuple[int, int, int]]:
    occupied = ht[ht[:, 2] != -1]
    return sorted(map(tuple, occupied.tolist()))


def _assert_tables_equivalent(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert a.shape == b.shape, what
    assert _table_rows(a) == _table_rows(b), what
    find = _kernel("windows._structures.ht_find")[0]
    for key, win, slot in _table_rows(a):
        assert find(a, key, win) == slot, what
    for key, win, slot in _table_rows(b):
        assert find(b, key, win) == slot, what


def _assert_same(a: Any, b: Any, what: str) -> None:
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype, what
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), what
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), what
    else:
        assert a == b, what


@contextmanager
def twin_checked(monkeypatch: pytest.MonkeyPatch, module: Any, attr: str,
                 kernel_name: str, wraps: bool = False) -> Iterator[list[int]]:
    """Replace ``module.attr`` (a compiled kernel) by a wrapper that runs the compiled kernel
    and its twin (on copies) on every call and compares them. Yields the list of calls.
    ``wraps``: the kernel relies on int64 wrap-around (a hash), so NumPy's overflow warnings
    are silenced for the twin."""
    compiled, twin = _kernel(kernel_name)
    assert getattr(module, attr) is compiled
    names = list(inspect.signature(twin).parameters)
    calls: list[int] = []

    def wrapper(*args: Any) -> Any:
        copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        got = compiled(*args)
        with np.errstate(over="ignore" if wraps else "warn"):
            want = twin(*copies)
        _assert_same(got, want, f"{kernel_name} result")
        for name, a, c in zip(names, args, copies, strict=True):
            if not isinstance(a, np.ndarray):
                continue
            if name.lower() == "ht":
                _assert_tables_equivalent(a, c, f"{kernel_name} {name}")
            else:
                _assert_same(a, c, f"{kernel_name} argument {name}")
        calls.append(1)
        return got

    monkeypatch.setattr(module, attr, wrapper)
    yield calls


# -- window kernel, call by call ------------------------------------------------------------------
class Squares(AggregateFunction[float]):
    def create_accumulator(self) -> float:
        return 0.0

    def add(self, value: Any, accumulator: float) -> float:
        return accumulator if math.isnan(value["v"]) else accumulator + value["v"] ** 2

    def merge(self, a: float, b: float) -> float:
        return a + b

    def get_result(self, accumulator: float) -> float:
        return accumulator


class Count(ProcessWindowFunction):
    def process(self, key: Any, window: Any, records: Any) -> Any:
        return {"cnt": len(records["idx"])}


@PROPERTY
@given(s=streams(), assigner=assigners(), trigger=triggers(), aggs=aggregate_sets(),
       delay=st.integers(0, 30), lateness=st.sampled_from([0, 9, 50]), user=st.booleans())
def test_window_kernel_twin_parity(s: dict[str, Any], assigner: Any, trigger: Any,
                                   aggs: dict[str, Any], delay: int, lateness: int,
                                   user: bool) -> None:
    from windows import _window_kernel as wk

    with pytest.MonkeyPatch.context() as mp, \
            twin_checked(mp, wk, "run_windows", "windows._window_kernel.run_windows") as calls:
        all_aggs: dict[str, Any] = dict(aggs)
        if user:
            all_aggs["sq"] = Squares()
        op = WindowOperator(assigner, all_aggs, key="k", trigger=trigger,
                            allowed_lateness=lateness, window_function=Count() if user else None)
        cols = columns(s["keys"], v=np.asarray(s["v"]), g=np.asarray(s["g"], np.int64))
        for c, t, w in split(cols, s["ts"], bounded(s["ts"], delay), s["cuts"]):
            op.process(c, timestamps=t, watermarks=w)
        op.finish()
        assert calls


def test_window_kernel_twin_parity_with_growth_and_processing_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from windows import _kernel_state
    from windows import _window_kernel as wk

    rng = np.random.default_rng(11)
    with twin_checked(monkeypatch, wk, "run_windows", "windows._window_kernel.run_windows"), \
            twin_checked(monkeypatch, _kernel_state, "ht_rebuild",
                         "windows._structures.ht_rebuild") as rebuilds:
        # thousands of keys: slots, hash table, timers and outputs all have to grow
        op = WindowOperator(TumblingProcessingTimeWindows.of(100),
                            {"n": agg.count(), "s": agg.sum("v")}, key="k")
        for i in range(3):
            keys = rng.integers(0, 3000, 2500)
            op.process(columns(keys.tolist(), v=rng.random(2500)), processing_time=1000 + 60 * i)
        op.finish()
        op = WindowOperator(SlidingCountWindows.of(5, 2), {"l": agg.last("v")}, key="k")
        keys = rng.integers(0, 1500, 6000)
        op.process(columns(keys.tolist(), v=rng.random(6000)), timestamps=np.arange(6000))
        assert rebuilds


# -- watermark kernel -----------------------------------------------------------------------------
@PROPERTY
@given(ts=st.lists(st.integers(-1000, 1000), max_size=30), data=st.data(),
       delay=st.integers(0, 100), generate=st.booleans())
def test_watermark_kernel_twin_parity(ts: list[int], data: st.DataObject, delay: int,
                                      generate: bool) -> None:
    compiled, twin = _kernel("windows.watermarks._advance_kernel")
    nparts = data.draw(st.integers(1, 4))
    pidx = np.array(data.draw(st.lists(st.integers(0, nparts - 1), min_size=len(ts),
                                       max_size=len(ts))), np.int64)
    part_max = np.array(data.draw(st.lists(st.sampled_from([I64.min, -50, 0, 300]),
                                           min_size=nparts, max_size=nparts)), np.int64)
    idle = np.array(data.draw(st.lists(st.booleans(), min_size=nparts, max_size=nparts)))
    active = part_max[~idle]
    raw = (np.where(active == I64.min, I64.min, active - delay - 1).min() if active.size
           else I64.max)
    state = np.array([min(raw, -2000) if raw != I64.max else I64.min, raw], np.int64)
    args = [np.asarray(ts, np.int64), pidx, part_max, idle, delay, generate, state,
            np.zeros(len(ts), np.int64)]
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    compiled(*args)
    twin(*copies)
    for a, c in zip(args, copies, strict=True):
        _assert_same(a, c, "watermark kernel")


def test_watermark_kernel_twin_parity_through_tracker(monkeypatch: pytest.MonkeyPatch) -> None:
    from windows import watermarks

    rng = np.random.default_rng(2)
    with twin_checked(monkeypatch, watermarks, "_advance_kernel",
                      "windows.watermarks._advance_kernel") as calls:
        tr = WatermarkStrategy.for_bounded_out_of_orderness(7).with_idleness(30).create_tracker(
            partitions=[0, 1, 2], processing_time=0)
        for i in range(20):
            n = int(rng.integers(0, 15))
            tr.advance(rng.integers(0, 500, n), partitions=rng.integers(0, 4, n),
                       processing_time=20 * i)
        assert len(calls) == 20


def test_key_encoder_kernels_twin_parity(monkeypatch: pytest.MonkeyPatch) -> None:
    from windows import keys as keys_module

    names = [n for n in _jit.KERNELS if n.startswith("windows.keys.")
             and getattr(keys_module, n.rsplit(".", 1)[1], None) is _kernel(n)[0]]
    rng = np.random.default_rng(4)
    with ExitStack() as stack:
        calls = [stack.enter_context(twin_checked(monkeypatch, keys_module,
                                                  n.rsplit(".", 1)[1], n, wraps=True))
                 for n in names]
        enc = KeyEncoder()
        for _ in range(10):
            enc.encode(rng.integers(I64.min, I64.max, 50, dtype=np.int64))
            enc.encode(rng.integers(0, 40, 200))
        assert enc.decode(enc.encode(np.array([5, 6]))).tolist() == [5, 6]
        assert all(calls)


def test_key_encoder_twin_runs_without_overflow_warnings() -> None:
    code = ("import numpy as np, windows; "
            "print(windows.KeyEncoder().encode(np.array([7, 3, 7])).tolist())")
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert proc.stdout.strip() == "[0, 1, 0]", proc.stderr[-500:]


# -- data structures ------------------------------------------------------------------------------
ht_ops = st.lists(st.tuples(st.sampled_from(["insert", "delete", "find"]),
                            st.integers(0, 5),
                            st.one_of(st.integers(-20, 20),
                                      st.integers(I64.min // 2, I64.max // 2))),
                  max_size=120)


@PROPERTY
@given(ops=ht_ops, log_cap=st.integers(3, 8))
def test_hash_table_twin_parity(ops: list[tuple[str, int, int]], log_cap: int) -> None:
    names = ["ht_find", "ht_insert", "ht_delete"]
    fc, ic, dc = (_kernel(f"windows._structures.{n}")[0] for n in names)
    ft, it, dt = (_kernel(f"windows._structures.{n}")[1] for n in names)
    cap = 1 << log_cap
    a = np.full((cap, 3), -1, np.int64)
    b = a.copy()
    model: dict[tuple[int, int], int] = {}
    for j, (op, key, win) in enumerate(ops):
        if op == "insert":
            if (key, win) in model or len(model) >= cap - 1:
                continue
            ic(a, key, win, j)
            it(b, key, win, j)
            model[(key, win)] = j
        elif op == "delete":
            dc(a, key, win)
            dt(b, key, win)
            model.pop((key, win), None)
        assert fc(a, key, win) == ft(b, key, win) == model.get((key, win), -1)
    _assert_tables_equivalent(a, b, "hash table")
    for (key, win), slot in model.items():
        assert fc(a, key, win) == slot and ft(b, key, win) == slot
    # rebuild from the entries gives the same content
    rc, rt = _kernel("windows._structures.ht_rebuild")
    items = sorted(model.items())
    k = np.array([x[0][0] for x in items], np.int64)
    w = np.array([x[0][1] for x in items], np.int64)
    s = np.array([x[1] for x in items], np.int64)
    a2, b2 = np.full((cap, 3), -1, np.int64), np.full((cap, 3), -1, np.int64)
    rc(a2, k, w, s)
    rt(b2, k.copy(), w.copy(), s.copy())
    assert _table_rows(a2) == _table_rows(b2) == _table_rows(a)


def test_hash_twin_stays_in_range() -> None:
    compiled, twin = _kernel("windows._structures._hash")
    for key, win in [(0, 0), (5, -7), (I64.max, I64.min), (12345, 2**40)]:
        assert 0 <= compiled(key, win, 1023) <= 1023
        assert 0 <= twin(key, win, 1023) <= 1023


def test_hash_twin_accepts_int64_scalars_without_warnings() -> None:
    twin = _kernel("windows._structures._hash")[1]
    table = np.array([[12345, 2**40, 0]], np.int64)
    h = twin(table[0, 0], table[0, 1], 1023)
    assert 0 <= h <= 1023


@PROPERTY
@given(ops=st.lists(st.one_of(st.tuples(st.just("push"), st.sampled_from([0, 1]),
                                        st.integers(0, 12)),
                              st.tuples(st.just("pop"), st.sampled_from([0, 1]),
                                        st.integers(-1, 14))), max_size=80))
def test_timer_queue_twin_parity(ops: list[tuple[str, int, int]]) -> None:
    from windows import _timers

    push_c, push_t = _kernel("windows._timers.timer_push")
    pop_c, pop_t = _kernel("windows._timers.timer_pop")
    cap = 256
    ks = np.zeros(64, np.int64)
    for k in (_timers.K_BFREE, _timers.K_NFREE, _timers.K_LASTB, _timers.K_LASTB + 1):
        ks[k] = -1
    size_idx = (40, 41)
    state_c = [ks, np.zeros((cap, 2), np.int64), np.zeros((cap, 2), np.int64),
               np.zeros((cap, 4), np.int64), np.zeros((cap, 3), np.int64),
               np.full((1024, 3), -1, np.int64)]
    state_t = [a.copy() for a in state_c]
    pending: list[list[tuple[int, int, int]]] = [[], []]  # per domain (time, seq, slot)
    for seq, (op, dom, t) in enumerate(ops):
        outs = []
        for fn_push, fn_pop, (ks_, hev, hpt, bk, tn, ht) in ((push_c, pop_c, state_c),
                                                            (push_t, pop_t, state_t)):
            heap = hev if dom == 0 else hpt
            if op == "push":
                fn_push(ks_, heap, size_idx[dom], dom, bk, tn, ht, t, seq, 7)
                outs.append(None)
            else:
                got = np.zeros(3, np.int64)
                found = fn_pop(ks_, heap, size_idx[dom], dom, bk, tn, ht, t, got)
                outs.append((bool(found), *got.tolist()) if found else (False,))
        assert outs[0] == outs[1]
        if op == "push":
            pending[dom].append((t, seq, seq))
        else:
            due = [p for p in pending[dom] if p[0] <= t]
            if due:
                first = min(due)
                pending[dom].remove(first)
                assert outs[0] == (True, first[0], first[2], 7)
            else:
                assert outs[0] == (False,)
        for x, y, name in zip(state_c, state_t, ["ks", "HEV", "HPT", "BK", "TN", "HT"],
                              strict=True):
            if name == "HT":
                _assert_tables_equivalent(x, y, "timer hash entries")
            else:
                _assert_same(x, y, f"timer queue {name}")


# -- everything in pure Python --------------------------------------------------------------------
def workload() -> list[Any]:
    """A fixed mixed workload; returns its outputs as JSON-friendly data."""
    rng = np.random.default_rng(21)
    n = 400
    ts = (np.cumsum(rng.integers(0, 5, n)) - rng.choice([0, 0, 0, 40], n)).astype(np.int64)
    cols = columns(rng.choice(["a", "b", "c", "d"], n).tolist(),
                   v=np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 9, n)),
                   g=rng.integers(1, 12, n).astype(np.int64))
    wms = bounded(ts, 15)
    from win_strategies import AGGS

    from windows import (
        ContinuousEventTimeTrigger,
        EventTimeSessionWindows,
        SlidingEventTimeWindows,
        TumblingEventTimeWindows,
    )

    configs: list[tuple[Any, Any, int, bool]] = [
        (TumblingEventTimeWindows.of(25, 3), None, 30, False),
        (SlidingEventTimeWindows.of(40, 15), PurgingTrigger.of(ContinuousEventTimeTrigger.of(7)),
         10, True),
        (EventTimeSessionWindows.with_dynamic_gap(lambda c: c["g"]), CountTrigger.of(3), 20,
         True),
        (SlidingCountWindows.of(6, 4), None, 0, True),
        (GlobalWindows.create(), PurgingTrigger.of(CountTrigger.of(5)), 0, False),
    ]
    result: list[Any] = []
    for assigner, trigger, lateness, user in configs:
        aggs: dict[str, Any] = dict(AGGS)
        if user:
            aggs["sq"] = Squares()
        op = WindowOperator(assigner, aggs, key="k", trigger=trigger, allowed_lateness=lateness,
                            window_function=Count() if user else None)
        outs = []
        for c, t, w in split(cols, ts, wms, [50, 51, 200]):
            outs.append(op.process(c, timestamps=t, watermarks=w))
        outs.append(op.finish())
        for o in outs:
            for part in (o.results, o.late):
                result.append({k: [None if isinstance(x, float) and math.isnan(x) else x
                                   for x in np.asarray(v).tolist()] for k, v in part.items()})
    tr = WatermarkStrategy.for_bounded_out_of_orderness(5).with_idleness(10).create_tracker(
        partitions=[0, 1], processing_time=0)
    result.append(tr.advance(ts[:100], partitions=rng.integers(0, 3, 100),
                             processing_time=50).tolist())
    return result


@pytest.mark.skipif(_jit.jit_disabled(), reason="already running the pure-Python twins")
def test_pure_python_twins_reproduce_the_compiled_workload() -> None:
    here = Path(__file__).parent
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import test_kernels; "
            "print(json.dumps(test_kernels.workload()))")
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-c", code, str(here)], capture_output=True,
                          text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == json.loads(json.dumps(workload()))


# -- compiled for real ----------------------------------------------------------------------------
@pytest.mark.skipif(_jit.jit_disabled(), reason="NUMBA_DISABLE_JIT is set: nothing compiles")
def test_kernels_really_compiled() -> None:
    op = WindowOperator(windows.TumblingEventTimeWindows.of(10), {"n": agg.count()}, key="k")
    op.process(columns(["a", "b"]), timestamps=np.array([1, 2]), watermarks=np.array([0, 1]))
    WatermarkStrategy.for_monotonous_timestamps().create_tracker(processing_time=0).advance(
        np.array([1, 2]), processing_time=0)
    for name in ("windows._window_kernel.run_windows", "windows.watermarks._advance_kernel"):
        dispatcher = _kernel(name)[0]
        assert dispatcher.nopython_signatures, f"{name} did not compile"
    ht = np.full((8, 3), -1, np.int64)
    _kernel("windows._structures.ht_insert")[0](ht, 1, 2, 3)
    assert _kernel("windows._structures.ht_insert")[0].nopython_signatures


def test_registry_holds_dispatchers_and_twins() -> None:
    assert "windows._window_kernel.run_windows" in _jit.KERNELS
    assert "windows.watermarks._advance_kernel" in _jit.KERNELS
    for name, (dispatcher, twin) in _jit.KERNELS.items():
        assert inspect.isfunction(twin), name
        assert f"{twin.__module__}.{twin.__qualname__}" == name
        if not _jit.jit_disabled():
            assert dispatcher.py_func is twin, name
