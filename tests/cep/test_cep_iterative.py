"""Iterative conditions: conditions that see the events already matched (Flink's
IterativeCondition / ctx.getEventsForPattern; docs "Iterative Conditions")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from cep_helpers import expect, is_, matches, run, split

from cep import (
    CepOperator,
    Condition,
    ConditionContext,
    ConditionError,
    EngineUnavailableError,
    Pattern,
    col,
    match_count,
    match_first,
    match_sum,
)


def _foo_sum_below_5(event: Mapping[str, Any], ctx: ConditionContext) -> bool:
    if not str(event["name"]).startswith("foo"):
        return False
    total = event["price"] + sum(e["price"] for e in ctx.events_for_pattern("middle"))
    return bool(total < 5.0)


def test_doc_iterative_sum_of_prices() -> None:
    # Docs: middle.oneOrMore().where(name starts with "foo" and the sum of the prices of the
    # previously accepted events plus the current one stays below 5.0)
    p = (Pattern.begin("start").where(is_("start")).followed_by("middle")
         .where(Condition.iterative(_foo_sum_below_5)).one_or_more()
         .followed_by("end").where(is_("end")))
    names = ["start", "foo1", "foo2", "bar", "foo3", "end"]
    evs = [{"name": n, "kind": n.rstrip("0123456789"), "price": p}
           for n, p in zip(names, [0.0, 1.0, 2.0, 9.0, 3.0, 0.0], strict=True)]
    from cep.testing import run_pattern
    res = run_pattern(p, evs, engine="reference")
    got = sorted([e["name"] for ev in m.events.values() for e in ev] for m in res.matches)
    # foo1+foo2 = 3 < 5; foo1+foo2+foo3 = 6 >= 5; foo2+foo3 = 5 is not < 5
    assert got == sorted([["start", "foo1", "end"], ["start", "foo1", "foo2", "end"]])


def test_expression_match_references_are_iterative() -> None:
    p = (Pattern.begin("a").where(is_("a")).followed_by("b")
         .where((col("price") > match_first("a", "price")) & (match_count("b") < 2))
         .one_or_more())
    assert p.is_iterative
    res = run(p, split("a b1 b2 b3"), "reference", prices=[1.0, 2.0, 0.5, 3.0])
    got = sorted([e["name"] for ev in m.events.values() for e in ev] for m in res.matches)
    assert got == sorted([["a", "b1"], ["a", "b1", "b3"]])


def test_running_sum_expression() -> None:
    p = (Pattern.begin("a").where(col("price") + match_sum("a", "price") <= 5).one_or_more()
         .consecutive())
    assert matches(p, split("x1 x2 x3"), "reference", prices=[2.0, 3.0, 1.0]) == expect(
        "x1", "x1 x2", "x2", "x3", "x2 x3")


def test_context_exposes_timestamps() -> None:
    seen: list[tuple[int, int]] = []

    def cond(event: Mapping[str, Any], ctx: ConditionContext) -> bool:
        seen.append((ctx.timestamp, ctx.current_processing_time))
        return True

    p = Pattern.begin("a").where(Condition.iterative(cond))
    from cep.testing import PatternHarness
    PatternHarness(p, engine="reference").add({"x": 1}, ts=7).finish()
    assert seen[0][0] == 7


def test_auto_engine_picks_reference_for_iterative() -> None:
    p = Pattern.begin("a").where(Condition.iterative(lambda e, c: True))
    assert CepOperator(p).engine_name == "reference"
    with pytest.raises(EngineUnavailableError):
        CepOperator(p, engine="fast")


def test_condition_errors_are_wrapped(engine: str) -> None:
    def boom(event: Mapping[str, Any]) -> bool:
        raise RuntimeError("nope")

    p = Pattern.begin("a").where(Condition.per_event(boom))
    with pytest.raises(ConditionError, match="nope"):
        run(p, split("a"), engine)


def test_condition_must_return_bool(engine: str) -> None:
    p = Pattern.begin("a").where(Condition.vectorized(lambda cols: cols["price"]))
    with pytest.raises(ConditionError, match="bool"):
        run(p, split("a"), engine)


def test_per_event_and_vectorized_and_expression_agree(engine: str) -> None:
    names = split("a1 b1 a2 c1 b2 a3 b3")
    prices = [1.0, 5.0, 2.0, 7.0, 1.0, 9.0, 6.0]
    forms = [
        col("price") > 4,
        Condition.vectorized(lambda cols: cols["price"] > 4),
        Condition.per_event(lambda e: e["price"] > 4),
    ]
    results = []
    for f in forms:
        p = Pattern.begin("x").where(is_("a")).followed_by_any("y").where(f)
        results.append(matches(p, names, engine, prices=prices))
    assert results[0] == results[1] == results[2] == expect(
        "a1 b1", "a1 c1", "a1 a3", "a1 b3", "a2 c1", "a2 a3", "a2 b3", "a3 b3")


def test_bare_callable_is_refused() -> None:
    with pytest.raises(TypeError, match="ambiguous"):
        Pattern.begin("a").where(lambda e: True)  # type: ignore[arg-type]
