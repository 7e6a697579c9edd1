"""until() stop conditions (Flink CEP docs "Stop condition"; UntilConditionITCase)."""

from __future__ import annotations

import pytest
from cep_helpers import expect, is_, matches, split

from cep import MalformedPatternError, Pattern


def test_doc_a_plus_until_b(engine: str) -> None:
    p = Pattern.begin("a").where(is_("a")).one_or_more().until(is_("b"))
    assert matches(p, split("a1 c a2 b a3"), engine) == expect("a1 a2", "a1", "a2", "a3")


def test_until_stops_loop_before_end(engine: str) -> None:
    p = (Pattern.begin("c").where(is_("c")).followed_by("a").where(is_("a")).one_or_more()
         .until(is_("x")).followed_by("b").where(is_("b")))
    assert matches(p, split("c a1 a2 x a3 b"), engine) == expect("c a1 b", "c a1 a2 b")


def test_until_on_zero_or_more(engine: str) -> None:
    p = (Pattern.begin("c").where(is_("c")).followed_by("a").where(is_("a")).one_or_more()
         .optional().until(is_("x")).followed_by("b").where(is_("b")))
    assert matches(p, split("c a1 x a2 b"), engine) == expect("c b", "c a1 b")


def test_until_event_itself_is_not_taken(engine: str) -> None:
    # an event satisfying both the stage condition and until is not accepted
    p = Pattern.begin("a").where(is_("a", "b")).one_or_more().until(is_("b"))
    assert matches(p, split("a1 b a2"), engine) == expect("a1", "a2")


def test_until_needs_looping_stage() -> None:
    with pytest.raises(MalformedPatternError, match="looping"):
        Pattern.begin("a").times(2).until(is_("b"))
    with pytest.raises(MalformedPatternError, match="looping"):
        Pattern.begin("a").until(is_("b"))


def test_only_one_until() -> None:
    with pytest.raises(MalformedPatternError, match="until"):
        Pattern.begin("a").one_or_more().until(is_("b")).until(is_("c"))
