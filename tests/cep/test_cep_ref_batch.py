"""The reference runtime's batch analysis (known condition values, ``PREV`` evaluated
vectorised, skipping events that cannot start a match) against the plain per-event oracle
(``optimize=False``), on random patterns with iterative conditions."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
from cep_strategies import patterns, streams
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cep_differential import summarize

from cep import CepOperator, CepOutput, Pattern, col
from cep.expr import Prev
from cep.ref_conditions import BatchConditions
from cep.runtime_ref import ReferenceRuntime

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def run(pattern: Pattern, stream: dict[str, Any], optimize: bool, time: str,
        snapshot_at: int | None = None) -> tuple[dict[str, Any], list[dict[str, int]]]:
    def make() -> CepOperator:
        op = CepOperator(pattern, key="key", engine="reference",
                         time=time)  # type: ignore[arg-type]
        op._runtime = ReferenceRuntime(op.nfa, time == "event", optimize=optimize)
        return op

    op = make()
    bounds = [0, *stream["cuts"], stream["n"]]
    outs, sizes = [], []
    for i, (lo, hi) in enumerate(pairwise(bounds)):
        cols = {k: v[lo:hi] for k, v in stream["columns"].items()}
        if time == "event":
            outs.append(op.process(cols, stream["ts"][lo:hi], stream["wms"][lo:hi],
                                   processing_time=0))
        else:
            outs.append(op.process(cols, processing_time=int(stream["ts"][hi - 1])
                                   if hi > lo else 0))
        sizes.append(op.state_size())
        if snapshot_at == i:
            data = op.snapshot()
            op = make()
            op.restore(data)
    outs.append(op.finish())
    return summarize(CepOutput.concat(outs)), sizes


@SETTINGS
@given(patterns(iterative=True), streams(), st.sampled_from(["event", "processing"]),
       st.integers(0, 3))
def test_batch_analysis_equals_plain_oracle(pattern: Pattern, stream: dict[str, Any],
                                            time: str, snap: int) -> None:
    plain = run(pattern, stream, False, time)
    fast = run(pattern, stream, True, time)
    assert fast == plain
    assert run(pattern, stream, True, time, snapshot_at=snap) == plain


def test_prev_atom_is_known_and_events_skipped() -> None:
    p = Pattern.begin("a").where(col("v") > 5).next("b").where(
        (col("v") > 0) & (col("v") > Prev(col("v"), 1)))
    op = CepOperator(p, key="k", engine="reference")
    nfa = op.nfa
    bc = BatchConditions(nfa)
    kinds = [plan[0] for plan in bc.plans]
    assert sorted(kinds) == ["history", "simple"]
    h, s = kinds.index("history"), kinds.index("simple")
    v = np.asarray([7, 8, 1, 9])
    atoms = np.zeros((4, 2), np.bool_)
    atoms[:, s] = v > 5
    a3 = bc.atoms3(atoms, {"v": v}, lambda k: np.arange(4) - k)
    # the first event has no earlier event in the batch: unknown; the others are known
    assert a3[:, h].tolist() == [2, 1, 0, 1]
    assert bc.inert_at_start(bc.conds3(a3)).tolist() == [False, False, True, False]


def test_prefix_of_match_reference_condition() -> None:
    from cep import match_first
    p = Pattern.begin("s").where(col("v") < 2).followed_by("l").where(
        (col("v") >= 200) & (col("inv") != match_first("s", "inv")))
    bc = BatchConditions(CepOperator(p, key="k", engine="reference").nfa)
    v = np.asarray([1, 300, 5])
    inv = np.asarray(["x", None, "y"], object)
    kinds = [plan[0] for plan in bc.plans]
    assert sorted(kinds) == ["prefix", "simple"]
    j, s = kinds.index("prefix"), kinds.index("simple")
    atoms = np.zeros((3, 2), np.bool_)
    atoms[:, s] = v < 2
    a3 = bc.atoms3(atoms, {"v": v, "inv": inv}, lambda k: np.full(3, -1))
    # false where the simple prefix is false, unknown where it holds
    assert a3[:, j].tolist() == [0, 2, 0]
