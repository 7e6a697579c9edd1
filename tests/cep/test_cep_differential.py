"""Differential tests: the Numba fast path against the pure-Python reference path on random
patterns and streams, and batch independence (output does not depend on how the input is cut
into batches)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
from cep_strategies import patterns, streams
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep import CepOperator, CepOutput, Pattern

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def summarize(out: CepOutput) -> dict[str, Any]:
    """Everything observable, as plain data."""
    def table(t: Any) -> list[Any]:
        rows = []
        for i, m in enumerate(t):
            events = [(s, e["name"], ts) for s, evs in m.events.items()
                      for e, ts in zip(evs, m.timestamps[s], strict=True)]
            tts = int(t.timeout_timestamp[i]) if t.timeout_timestamp is not None else None
            rows.append((m.key, m.timestamp, tts, events))
        return rows

    return {"matches": table(out.matches), "timeouts": table(out.timeouts),
            "late": [(r["name"]) for r in out.late.rows()],
            "dropped": out.dropped_partial_matches}


def run(pattern: Pattern, stream: dict[str, Any], engine: str, cuts: list[int] | None = None,
        time: str = "event", emit_timeouts: bool = True
        ) -> tuple[dict[str, Any], list[dict[str, int]]]:
    op = CepOperator(pattern, key="key", engine=engine, time=time,  # type: ignore[arg-type]
                     emit_timeouts=emit_timeouts)
    n = stream["n"]
    bounds = [0, *(cuts if cuts is not None else []), n]
    outs, sizes = [], []
    for lo, hi in pairwise(bounds):
        cols = {k: v[lo:hi] for k, v in stream["columns"].items()}
        if time == "event":
            outs.append(op.process(cols, stream["ts"][lo:hi], stream["wms"][lo:hi],
                                   processing_time=0))
        else:
            outs.append(op.process(cols, processing_time=int(stream["ts"][hi - 1]) if hi > lo
                                   else 0))
        sizes.append(op.state_size())
    outs.append(op.finish())
    return summarize(CepOutput.concat(outs)), sizes


@SETTINGS
@given(patterns(), streams())
def test_fast_equals_reference(pattern: Pattern, stream: dict[str, Any]) -> None:
    ref, ref_sizes = run(pattern, stream, "reference", stream["cuts"])
    fast, fast_sizes = run(pattern, stream, "fast", stream["cuts"])
    assert fast == ref
    assert fast_sizes == ref_sizes


@SETTINGS
@given(patterns(), streams())
def test_output_does_not_depend_on_batching(pattern: Pattern, stream: dict[str, Any]) -> None:
    whole, _ = run(pattern, stream, "fast", [])
    cut, _ = run(pattern, stream, "fast", stream["cuts"])
    single = list(range(1, stream["n"]))
    one_by_one, _ = run(pattern, stream, "fast", single)
    assert cut == whole
    assert one_by_one == whole


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(patterns(), streams())
def test_processing_time_fast_equals_reference(pattern: Pattern,
                                               stream: dict[str, Any]) -> None:
    ref, ref_sizes = run(pattern, stream, "reference", stream["cuts"], time="processing")
    fast, fast_sizes = run(pattern, stream, "fast", stream["cuts"], time="processing")
    assert fast == ref
    assert fast_sizes == ref_sizes


@settings(max_examples=20, deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1))
def test_many_keys_large_batches_agree(seed: int) -> None:
    from cep import AfterMatchSkipStrategy, col
    rng = np.random.default_rng(seed)
    n = 400
    p = (Pattern.begin("s", AfterMatchSkipStrategy.skip_past_last_event())
         .where(col("amount") < 2).followed_by("m").one_or_more().optional()
         .followed_by("l").where(col("amount") > 8).within(30))
    ts = np.cumsum(rng.integers(0, 3, n)) - rng.integers(0, 4, n)
    stream = {"n": n, "columns": {"key": rng.integers(0, 20, n),
                                  "amount": rng.uniform(0, 10, n),
                                  "name": np.asarray([f"e{i}" for i in range(n)], object)},
              "ts": ts.astype(np.int64), "wms": (np.maximum.accumulate(ts) - 4).astype(np.int64)}
    cuts = sorted(set(rng.integers(0, n, 5).tolist()))
    assert run(p, stream, "fast", cuts)[0] == run(p, stream, "reference", [])[0]


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(patterns(), streams())
def test_without_timeouts_fast_equals_reference(pattern: Pattern,
                                                stream: dict[str, Any]) -> None:
    ref, _ = run(pattern, stream, "reference", stream["cuts"], emit_timeouts=False)
    fast, _ = run(pattern, stream, "fast", stream["cuts"], emit_timeouts=False)
    assert fast == ref
    assert fast["timeouts"] == []
