"""The fast kernel's per-event shortcuts (:mod:`cep._shortcuts`): the bits against a
brute-force walk of the NFA graph, and the fast runtime with and without them (identical
outputs and snapshots)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from cep_strategies import patterns, streams
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cep_differential import summarize

import cep.runtime_fast as rf
from cep import (
    AfterMatchSkipStrategy,
    CepOperator,
    CepOutput,
    Pattern,
    col,
    compile_pattern,
)
from cep._kernels import START_IDLE_BIT
from cep._shortcuts import ShortcutPlan, shortcut_bits
from cep.nfa import IGNORE, NFA, PROCEED, TAKE
from windows._jit import jit_disabled


def _enabled(nfa: NFA, s: int, row: np.ndarray) -> list[tuple[int, int]]:
    """(action, target) of every enabled action edge reachable from ``s`` through enabled
    PROCEED edges, one per path (the kernel's decision graph)."""
    out = []
    for tr in nfa.states[s].transitions:
        if not row[tr.cond]:
            continue
        if tr.action == PROCEED:
            out += _enabled(nfa, tr.target, row)
        else:
            out.append((tr.action, tr.target))
    return out


def _brute_bits(nfa: NFA, cond: np.ndarray) -> list[int]:
    bits = []
    for row in cond:
        b = 0
        for s in range(min(len(nfa.states), START_IDLE_BIT)):
            if _enabled(nfa, s, row) == [(IGNORE, s)]:
                b |= 1 << s
        if not any(a == TAKE for a, _ in _enabled(nfa, nfa.start, row)):
            b |= 1 << START_IDLE_BIT
        bits.append(b)
    return bits


def _relaxed() -> Pattern:
    return (Pattern.begin("small", AfterMatchSkipStrategy.skip_past_last_event())
            .where(col("amount") < 1)
            .followed_by("middle").one_or_more().optional()
            .followed_by("large").where(col("amount") > 500)
            .within(600_000))


def test_bits_of_a_relaxed_pattern() -> None:
    nfa = compile_pattern(_relaxed())
    amounts = np.asarray([0.5, 100.0, 600.0])
    atoms = nfa.atom_masks({"amount": amounts}, 3, list)
    bits = shortcut_bits(ShortcutPlan.of(nfa), nfa.cond_table(atoms)).tolist()
    # the state waiting for "large" (IGNORE into itself unless amount > 500)
    (wait,) = [s.id for s in nfa.states if s.stage == nfa.stage_names.index("large")]
    idle = 1 << START_IDLE_BIT
    assert [bool(b >> wait & 1) for b in bits] == [True, True, False]
    assert [bool(b & idle) for b in bits] == [False, True, True]
    # "middle" takes every event: never unchanged
    for s in nfa.states:
        if s.stage == nfa.stage_names.index("middle"):
            assert not any(b >> s.id & 1 for b in bits)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(patterns(), st.data())
def test_bits_match_a_walk_of_the_graph(pattern: Pattern, data: st.DataObject) -> None:
    nfa = compile_pattern(pattern)
    if nfa.iterative:
        return
    n = data.draw(st.integers(1, 12))
    flat = data.draw(st.lists(st.booleans(), min_size=n * len(nfa.conditions),
                              max_size=n * len(nfa.conditions)))
    cond = np.asarray(flat, np.bool_).reshape(n, len(nfa.conditions))
    assert shortcut_bits(ShortcutPlan.of(nfa), cond).tolist() == _brute_bits(nfa, cond)


def _drive(pattern: Pattern, stream: dict[str, Any]) -> tuple[list[Any], bytes]:
    op = CepOperator(pattern, key="key", engine="fast")
    bounds = [0, *stream["cuts"], stream["n"]]
    outs = []
    for lo, hi in pairwise(bounds):
        cols = {k: v[lo:hi] for k, v in stream["columns"].items()}
        cols["key"] = np.asarray([f"k{x}" for x in cols["key"].tolist()], dtype=object)
        outs.append(summarize(op.process(cols, stream["ts"][lo:hi], stream["wms"][lo:hi],
                                         processing_time=0)))
    snap = op.snapshot()
    outs.append(summarize(op.finish()))
    return outs, snap


@pytest.mark.kernel
@settings(max_examples=10 if jit_disabled() else 40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(patterns(), streams(max_events=24))
def test_shortcuts_change_nothing(pattern: Pattern, stream: dict[str, Any]) -> None:
    if compile_pattern(pattern).iterative:
        return
    with_bits = _drive(pattern, stream)
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(rf, "shortcut_bits", lambda plan, cond: np.zeros(cond.shape[0], np.int64))
        without = _drive(pattern, stream)
    finally:
        mp.undo()
    assert with_bits == without


def _waiting_stream() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    n = 3000
    ts = np.sort(rng.integers(0, 60_000, n)).astype(np.int64)
    u = rng.random(n)
    amount = np.where(u < 0.05, 0.5, np.where(u > 0.97, 600.0, 100.0))
    cols = {"key": rng.integers(0, 12, n), "amount": amount,
            "name": np.asarray([f"e{i}" for i in range(n)], dtype=object)}
    return cols, ts, np.maximum.accumulate(ts) - 200


def _waiting_pattern(gap: int) -> Pattern:
    pattern = (Pattern.begin("small", AfterMatchSkipStrategy.skip_past_last_event())
               .where(col("amount") < 1)
               .followed_by("middle").one_or_more().optional()
               .followed_by("large").where(col("amount") > 500)
               .within(5_000))
    if gap:  # the oldest waiting entries (the tail) then expire first
        pattern = pattern.within(gap, "previous_and_current")
    return pattern


def _run_batches(pattern: Pattern, engine: str, size: int, emit_timeouts: bool
                 ) -> dict[str, Any]:
    cols, ts, wms = _waiting_stream()
    op = CepOperator(pattern, key="key", engine=engine,  # type: ignore[arg-type]
                     emit_timeouts=emit_timeouts)
    n = ts.shape[0]
    outs, live = [], []
    for lo in range(0, n, size):
        outs.append(op.process({k: v[lo:lo + size] for k, v in cols.items()}, ts[lo:lo + size],
                               wms[lo:lo + size], processing_time=0))
        if (lo + size) % 500 == 0:  # the live state at the same points in any batching
            live.append(op.state_size()["partial_matches"])
    outs.append(op.finish())
    return {**summarize(CepOutput.concat(outs)), "live": live}


@pytest.mark.parametrize("emit_timeouts", [True, False])
@pytest.mark.parametrize("gap", [0, 1500])
def test_relaxed_pattern_many_waiting_matches_equals_reference(emit_timeouts: bool,
                                                               gap: int) -> None:
    # many partial matches per key wait in one state (the tail the kernel links unvisited);
    # timeouts, matches and the skip strategy's pruning must equal the reference engine's
    pattern = _waiting_pattern(gap)
    fast = _run_batches(pattern, "fast", 500, emit_timeouts)
    assert fast == _run_batches(pattern, "reference", 1, emit_timeouts)
    assert fast == _run_batches(pattern, "reference", 500, emit_timeouts)
    assert fast == _run_batches(pattern, "fast", 1, emit_timeouts)
    assert len(fast["matches"]) > 10
    if emit_timeouts:
        assert len(fast["timeouts"]) > 100


def test_reference_timeouts_do_not_depend_on_batching() -> None:
    # regression: the reference runtime's batched walk used to time out a partial match
    # created by an event at a watermark step before that event (a ``previous_and_current``
    # window already passed when the entry was made)
    pattern = _waiting_pattern(1500)
    assert (_run_batches(pattern, "reference", 500, True)
            == _run_batches(pattern, "reference", 1, True))
