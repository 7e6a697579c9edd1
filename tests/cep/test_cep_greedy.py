"""Greedy quantifiers (expected results as in Flink's GreedyITCase)."""

from __future__ import annotations

import pytest
from cep_helpers import expect, is_, matches, split

from cep import MalformedPatternError, Pattern, col


def _c_a_star_d(extra: str = "", end_optional: bool = False) -> Pattern:
    p = (Pattern.begin("start").where(is_("c")).followed_by("middle").where(is_("a"))
         .one_or_more().optional())
    if extra == "consecutive":
        p = p.consecutive()
    p = p.greedy()
    if extra == "until":
        p = p.until(col("price") > 3.0)
    p = p.followed_by("end").where(is_("d"))
    return p.optional() if end_optional else p


def test_greedy_zero_or_more(engine: str) -> None:
    assert matches(_c_a_star_d(), split("c a1 a2 a3 d"), engine) == expect("c a1 a2 a3 d")


def test_greedy_zero_or_more_consecutive(engine: str) -> None:
    assert matches(_c_a_star_d("consecutive"), split("c a1 a2 a3 d"), engine) == expect(
        "c a1 a2 a3 d")


def test_optional_after_greedy_is_malformed() -> None:
    # Flink: "Optional pattern cannot be preceded by greedy pattern" (Pattern.optional()).
    with pytest.raises(MalformedPatternError, match="greedy"):
        _c_a_star_d(end_optional=True)


def test_greedy_zero_or_more_in_between(engine: str) -> None:
    assert matches(_c_a_star_d(), split("c x1 a1 x2 a2 x3 a3 d"), engine) == expect(
        "c a1 a2 a3 d")


def test_greedy_with_dummy_events_after_quantifier(engine: str) -> None:
    assert matches(_c_a_star_d(), split("c a1 a2 x d"), engine) == expect("c a1 a2 d")


def test_greedy_with_dummy_events_before_quantifier(engine: str) -> None:
    assert matches(_c_a_star_d(), split("c x d"), engine) == expect("c d")


def test_greedy_before_optional_is_malformed() -> None:
    with pytest.raises(MalformedPatternError, match="greedy"):
        (Pattern.begin("start").where(is_("c")).followed_by("middle1").where(is_("a"))
         .one_or_more().optional().greedy().followed_by("middle2").where(is_("d")).optional())


def test_greedy_until(engine: str) -> None:
    # prices: c 1.0, a1 2.0, a2 3.0, a3 3.0, a4 4.0 (stops the loop), d 3.0
    assert matches(_c_a_star_d("until"), split("c a1 a2 a3 a4 d"), engine,
                   prices=[1.0, 2.0, 3.0, 3.0, 4.0, 3.0]) == expect("c a1 a2 a3 d")


def test_greedy_times_range(engine: str) -> None:
    p = (Pattern.begin("start").where(is_("c")).followed_by("middle").where(is_("a"))
         .times(2, 3).greedy().followed_by("end").where(is_("d")))
    assert matches(p, split("c a1 a2 a3 d"), engine) == expect("c a1 a2 a3 d")
