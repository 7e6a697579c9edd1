"""not_next / not_followed_by (expected results as in Flink's NotPatternITCase; docs
"Combining Patterns" warnings)."""

from __future__ import annotations

import pytest
from cep_helpers import expect, is_, matches, split

from cep import AfterMatchSkipStrategy as Skip
from cep import MalformedPatternError, Pattern, compile_pattern


def test_not_next(engine: str) -> None:
    p = (Pattern.begin("start").where(is_("a")).not_next("not").where(is_("b"))
         .followed_by_any("middle").where(is_("c")).followed_by("end").where(is_("d")))
    assert matches(p, split("a c1 b1 c2 d"), engine) == expect("a c1 d", "a c2 d")


def test_not_next_no_matches(engine: str) -> None:
    p = (Pattern.begin("start").where(is_("a")).not_next("not").where(is_("b"))
         .followed_by("middle").where(is_("c")).followed_by("end").where(is_("d")))
    assert matches(p, split("a b1 c1 c2 d"), engine) == []


def test_not_next_at_the_end(engine: str) -> None:
    p = (Pattern.begin("start").where(is_("a")).followed_by_any("middle").where(is_("c"))
         .followed_by_any("end").where(is_("d")).not_next("not").where(is_("b")))
    assert matches(p, split("a c1 c2 d b1"), engine) == []


def test_not_next_at_the_end_matches_on_next_event(engine: str) -> None:
    p = Pattern.begin("start").where(is_("a")).not_next("not").where(is_("b"))
    res = matches(p, split("a1 x a2 b"), engine)
    assert res == expect("a1")


def test_not_followed_by(engine: str) -> None:
    p = (Pattern.begin("start").where(is_("a")).not_followed_by("not").where(is_("b"))
         .followed_by_any("middle").where(is_("c")).followed_by("end").where(is_("d")))
    assert matches(p, split("a c1 b1 c2 d"), engine) == expect("a c1 d")


def test_not_followed_by_before_optional(engine: str) -> None:
    p = (Pattern.begin("start").where(is_("a")).not_followed_by("not").where(is_("b"))
         .followed_by_any("middle").where(is_("c")).optional()
         .followed_by("end").where(is_("d")))
    assert matches(p, split("a c1 b1 c2 d"), engine) == expect("a c1 d")


def test_times_with_not_followed_by(engine: str) -> None:
    p = (Pattern.begin("start").where(is_("a")).followed_by_any("middle").where(is_("b"))
         .times(2).not_followed_by("not").where(is_("c")).followed_by("end").where(is_("d")))
    assert matches(p, split("a b1 c b2 d"), engine) == []


def test_ignore_state_of_times_with_not_followed_by(engine: str) -> None:
    p = (Pattern.begin("start").where(is_("a")).not_followed_by("not").where(is_("b"))
         .followed_by_any("middle").where(is_("c")).times(2).optional()
         .followed_by("end").where(is_("d")))
    assert matches(p, split("a1 d1 e b1 c1 c2 d2"), engine) == expect("a1 d1")


def test_times_with_not_followed_by_after(engine: str) -> None:
    p = (Pattern.begin("start").where(is_("a")).followed_by_any("middle").where(is_("b"))
         .times(2).not_followed_by("not").where(is_("c")).followed_by("end").where(is_("d")))
    assert matches(p, split("a1 d1 e b1 b2 c1 d2"), engine) == []


def test_not_followed_by_before_optional_at_the_end(engine: str) -> None:
    p = (Pattern.begin("start").where(is_("a")).not_followed_by("not").where(is_("b"))
         .followed_by_any("end").where(is_("c")).optional())
    assert matches(p, split("a1 c1 b1 c2"), engine) == expect("a1 c1", "a1")


DATA = split("a1 b1 c1 b4 b5 b6 d1")


def _before_b_star(eager: bool, all_matches: bool, optional: bool) -> Pattern:
    p = Pattern.begin("a").where(is_("a")).not_followed_by("not c").where(is_("c"))
    p = (p.followed_by_any("b*") if all_matches else p.followed_by("b*")).where(
        is_("b")).one_or_more()
    if optional:
        p = p.optional()
    if not eager:
        p = p.allow_combinations()
    return p.followed_by("d").where(is_("d"))


EAGER = ["a1 b1 b4 b5 b6 d1", "a1 b1 b4 b5 d1", "a1 b1 b4 d1", "a1 b1 d1"]
COMBINATIONS = [*EAGER, "a1 b1 b4 b6 d1", "a1 b1 b5 b6 d1", "a1 b1 b5 d1", "a1 b1 b6 d1"]


@pytest.mark.parametrize(("eager", "all_matches", "expected"), [
    (True, False, EAGER), (False, False, COMBINATIONS), (True, True, EAGER),
    (False, True, COMBINATIONS)], ids=["eager-next", "comb-next", "eager-any", "comb-any"])
def test_not_followed_by_before_zero_or_more(engine: str, eager: bool, all_matches: bool,
                                             expected: list[str]) -> None:
    assert matches(_before_b_star(eager, all_matches, True), DATA, engine) == expect(*expected)


def test_not_followed_by_before_one_or_more(engine: str) -> None:
    assert matches(_before_b_star(False, False, False), DATA, engine) == expect(*COMBINATIONS)


@pytest.mark.parametrize("within_type", ["first_and_last", "previous_and_current"])
def test_not_followed_by_within_at_end(engine: str, within_type: str) -> None:
    p = (Pattern.begin("a").where(is_("a")).not_followed_by("b").where(is_("b"))
         .within(3, within_type))  # type: ignore[arg-type]
    assert matches(p, split("a1 b1 a2 c b2 a3 b3"), engine,
                   timestamps=[1, 2, 4, 5, 10, 11, 13]) == expect("a2")


def test_not_followed_by_at_end_matches_when_window_passes(engine: str) -> None:
    p = (Pattern.begin("a").where(is_("a")).not_followed_by("b").where(is_("b")).within(3))
    res = matches(p, split("a1 a2 x b a3"), engine, timestamps=[1, 5, 6, 7, 20])
    assert res == expect("a1", "a3")  # a2 is cancelled by b at 7 < 5 + 3; a3 at end of input


def test_not_followed_by_before_times_within(engine: str) -> None:
    p = (Pattern.begin("a").where(is_("a")).not_followed_by("b").where(is_("b"))
         .followed_by("c").where(is_("c")).times(0, 2).within(3))
    assert matches(p, split("a1 b1 a2 c1 c2 a3 c3 c4"), engine,
                   timestamps=[1, 2, 10, 11, 12, 20, 21, 24]) == expect(
        "a1", "a2", "a2 c1", "a2 c1 c2", "a3", "a3 c3")


def test_not_followed_by_within_at_end_after_match(engine: str) -> None:
    p = (Pattern.begin("a", Skip.skip_past_last_event()).where(is_("a")).one_or_more()
         .allow_combinations().followed_by("c").where(is_("c"))
         .not_followed_by("b").where(is_("b")).within(5))
    assert matches(p, split("a1 a2 a3 c1 c2"), engine, timestamps=[1, 2, 3, 4, 10]) == expect(
        "a1 a2 a3 c1")


def test_not_followed_by_at_end_without_within_is_malformed() -> None:
    with pytest.raises(MalformedPatternError, match="within"):
        compile_pattern(Pattern.begin("a").not_followed_by("b"))


@pytest.mark.parametrize("verb", ["not_next", "not_followed_by"])
def test_negation_after_optional_is_malformed(verb: str) -> None:
    with pytest.raises(MalformedPatternError, match="optional"):
        getattr(Pattern.begin("a").followed_by("b").optional(), verb)("c")


@pytest.mark.parametrize("option", ["optional", "one_or_more", "greedy", "times"])
def test_quantifiers_not_applicable_to_negation(option: str) -> None:
    p = Pattern.begin("a").not_next("b")
    with pytest.raises(MalformedPatternError, match="negat"):
        getattr(p, option)(*([2] if option == "times" else []))
