"""Snapshot / restore of the operator: versioned, checksummed (windows.snapshot, never pickle);
snapshot -> restore -> continue equals an uninterrupted run, on either engine."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from cep_strategies import patterns, streams
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cep_differential import summarize

from cep import CepOperator, CepOutput, CepSnapshotError, Pattern, col


def _feed(op: CepOperator, stream: dict[str, Any], lo: int, hi: int) -> CepOutput:
    cols = {k: v[lo:hi] for k, v in stream["columns"].items()}
    return op.process(cols, stream["ts"][lo:hi], stream["wms"][lo:hi], processing_time=0)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(patterns(), streams(), st.sampled_from(["fast", "reference"]),
       st.sampled_from(["fast", "reference"]), st.integers(0, 24))
def test_snapshot_restore_continue_equals_uninterrupted(pattern: Pattern,
                                                        stream: dict[str, Any], first: str,
                                                        second: str, at: int) -> None:
    n = stream["n"]
    at = min(at, n)
    whole = CepOperator(pattern, key="key", engine=first)
    expected = summarize(CepOutput.concat([_feed(whole, stream, 0, n), whole.finish()]))
    op = CepOperator(pattern, key="key", engine=first)
    part1 = _feed(op, stream, 0, at)
    data = op.snapshot()
    size_before = op.state_size()
    restored = CepOperator(pattern, key="key", engine=second)
    restored.restore(data)
    assert restored.state_size() == size_before
    assert restored.snapshot() == data or first != second
    got = summarize(CepOutput.concat([part1, _feed(restored, stream, at, n),
                                      restored.finish()]))
    assert got == expected


def _op(engine: str = "fast") -> CepOperator:
    p = Pattern.begin("a").where(col("v") > 1).followed_by("b").where(col("v") < 1).within(9)
    op = CepOperator(p, key="k", engine=engine)  # type: ignore[arg-type]
    op.process({"k": np.asarray(["x", "y"], dtype=object), "v": np.asarray([2.0, 3.0])},
               np.asarray([1, 2]), np.asarray([0, 1]))
    return op


def test_corrupted_snapshot_is_refused() -> None:
    data = bytearray(_op().snapshot())
    data[-3] ^= 0xFF
    with pytest.raises(CepSnapshotError, match="checksum"):
        _op().restore(bytes(data))


def test_snapshot_of_another_pattern_is_refused() -> None:
    other = CepOperator(Pattern.begin("z"), key="k")
    with pytest.raises(CepSnapshotError, match="another pattern"):
        other.restore(_op().snapshot())


def test_snapshot_is_not_pickle() -> None:
    data = _op().snapshot()
    assert data.startswith(b"CEPKSNAP")
    assert b"\x80\x04" not in data[:16]


def test_snapshot_preserves_string_keys_and_watermark() -> None:
    op = _op("reference")
    restored = CepOperator(op.nfa, key="k", engine="fast")
    restored.restore(op.snapshot())
    assert restored.current_watermark == op.current_watermark == 1
    out = restored.process({"k": np.asarray(["y"], dtype=object), "v": np.asarray([0.5])},
                           np.asarray([5]), np.asarray([5]))
    assert [m.key for m in out.matches] == ["y"]
