"""Hypothesis strategies for random patterns and event streams (differential tests)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from cep import (
    AfterMatchSkipStrategy,
    MalformedPatternError,
    Pattern,
    col,
    compile_pattern,
    match_count,
    match_sum,
)

KINDS = ("a", "b", "c", "d")


@st.composite
def iterative_conditions(draw: st.DrawFn, name: str) -> Any:
    """Conditions reading earlier events (``Prev``) or the partial match, often behind a
    simple conjunct (the reference runtime's batch analysis splits those)."""
    from cep.expr import Prev
    simple = draw(conditions(iterative=False))
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return simple & (col("price") > Prev(col("price"), draw(st.integers(1, 2))))
    if choice == 1:
        return (col("price") * 2 >= Prev(col("price"), 1) + 1) | simple
    if choice == 2:
        return simple & (match_count(name) < draw(st.integers(1, 3)))
    if choice == 3:
        return simple & (col("price") >= match_sum(name, "price") - 4)
    return ~(simple & (Prev(col("kind"), 1) == col("kind")))


@st.composite
def conditions(draw: st.DrawFn, iterative: bool = False, name: str = "") -> Any:
    if iterative and draw(st.integers(0, 2)) > 0:
        return draw(iterative_conditions(name))
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return col("kind") == draw(st.sampled_from(KINDS))
    if choice == 1:
        return col("kind").is_in(draw(st.lists(st.sampled_from(KINDS), min_size=1,
                                               max_size=3, unique=True)))
    if choice == 2:
        return (col("kind") == draw(st.sampled_from(KINDS))) | (col("price") > draw(
            st.integers(0, 9)))
    return col("price") < draw(st.integers(1, 9))


def _stage(p: Pattern | None, draw: st.DrawFn, name: str, first: bool,
           allow_group: bool, iterative: bool = False) -> Pattern:
    if p is not None and not first:
        verbs = ["next", "followed_by", "followed_by_any", "not_next", "not_followed_by"]
        verb = draw(st.sampled_from(verbs))
    else:
        verb = "begin"
    negated = verb.startswith("not_")
    if allow_group and not negated and draw(st.integers(0, 5)) == 0:
        inner = _stage(None, draw, name + "g0", True, False, iterative)
        inner = _stage(inner, draw, name + "g1", False, False, iterative)
        target: Any = inner
    else:
        target = name
    if verb == "begin":
        skip = draw(st.sampled_from(["no_skip", "skip_to_next", "skip_past_last_event"]))
        q = Pattern.begin(target, getattr(AfterMatchSkipStrategy, skip)())
    else:
        assert p is not None
        q = getattr(p, verb)(target)
    if isinstance(target, str):
        q = q.where(draw(conditions(iterative, name)))
        if draw(st.booleans()) and not negated:
            q = q.or_(draw(conditions(iterative, name)))
    if negated:
        return q
    quant = draw(st.sampled_from(["single", "single", "times", "range", "loop", "loop_n"]))
    looping = False
    if quant == "times":
        q = q.times(draw(st.integers(1, 3)))
    elif quant == "range":
        lo = draw(st.integers(0, 2))
        q = q.times(lo, lo + draw(st.integers(1, 2)))
    elif quant == "loop":
        q = q.one_or_more()
        looping = True
    elif quant == "loop_n":
        q = q.times_or_more(draw(st.integers(1, 2)))
        looping = True
    if quant != "single":
        contiguity = draw(st.sampled_from(["relaxed", "consecutive", "allow_combinations"]))
        if contiguity != "relaxed":
            q = getattr(q, contiguity)()
        if isinstance(target, str) and draw(st.integers(0, 3)) == 0:
            q = q.greedy()
        if looping and draw(st.integers(0, 3)) == 0:
            q = q.until(draw(conditions()))
    if draw(st.integers(0, 3)) == 0 and not q.stages[-1].quantifier.optional:
        q = q.optional()
    if isinstance(target, str) and draw(st.integers(0, 6)) == 0:
        q = q.within(draw(st.integers(2, 12)), "previous_and_current")
    return q


@st.composite
def patterns(draw: st.DrawFn, iterative: bool = False) -> Pattern:
    """A random valid pattern (malformed draws are rejected); ``iterative``: conditions may
    read earlier events or the partial match."""
    n = draw(st.integers(1, 4))
    p: Pattern | None = None
    try:
        for i in range(n):
            p = _stage(p, draw, f"s{i}", i == 0, True, iterative)
        assert p is not None
        if draw(st.booleans()):
            p = p.within(draw(st.integers(3, 40)))
        if draw(st.integers(0, 4)) == 0:
            names = [s.name for s in p.iter_stages() if s.name and not s.negated]
            kind = draw(st.sampled_from(["skip_to_first", "skip_to_last"]))
            skip = getattr(AfterMatchSkipStrategy, kind)(draw(st.sampled_from(names)))
            from dataclasses import replace
            p = replace(p, skip_strategy=skip)
        compile_pattern(p)
    except MalformedPatternError:
        from hypothesis import assume
        assume(False)
    assert p is not None
    return p


@st.composite
def streams(draw: st.DrawFn, max_events: int = 24) -> dict[str, Any]:
    """Columns, timestamps and per-record watermarks for a random keyed stream, plus random
    batch boundaries."""
    n = draw(st.integers(0, max_events))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=n, max_size=n))
    keys = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    prices = draw(st.lists(st.integers(0, 9), min_size=n, max_size=n))
    steps = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    jitter = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    ooo = draw(st.integers(0, 5))
    base = np.cumsum(np.asarray(steps, np.int64)) if n else np.empty(0, np.int64)
    ts = base - np.asarray(jitter, np.int64) if n else base
    # bounded-out-of-orderness watermarks, sometimes held back
    wms = np.maximum.accumulate(ts) - ooo - 1 if n else ts
    if n and draw(st.booleans()):
        hold = np.asarray(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        wms = np.where(hold, np.iinfo(np.int64).min, wms)
        wms = np.maximum.accumulate(wms)
    cuts = sorted(set(draw(st.lists(st.integers(0, n), max_size=4)))) if n else []
    names = [f"{k}{i}" for i, k in enumerate(kinds)]
    cols = {"key": np.asarray(keys, np.int64), "kind": np.asarray(kinds, dtype=object),
            "price": np.asarray(prices, np.float64), "name": np.asarray(names, dtype=object)}
    return {"columns": cols, "ts": ts.astype(np.int64), "wms": wms.astype(np.int64),
            "cuts": cuts, "n": n}
