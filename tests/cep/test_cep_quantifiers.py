"""Quantifiers: times, times(n, m), times_or_more, one_or_more, optional (Flink CEP docs
"Quantifiers"; expected results as in Flink's TimesRangeITCase / TimesOrMoreITCase)."""

from __future__ import annotations

from cep_helpers import expect, is_, matches, split

from cep import Pattern


def _c_a_b(configure: str) -> Pattern:
    p = Pattern.begin("start").where(is_("c")).followed_by("middle").where(is_("a"))
    p = eval(f"p.{configure}", {"p": p})
    return p.followed_by("end").where(is_("b"))


CAAAB = split("c a1 a2 a3 b")


def test_times_exact(engine: str) -> None:
    assert matches(_c_a_b("times(2)"), CAAAB, engine) == expect("c a1 a2 b")


def test_times_exact_with_combinations(engine: str) -> None:
    assert matches(_c_a_b("times(2).allow_combinations()"), CAAAB, engine) == expect(
        "c a1 a2 b", "c a1 a3 b")


def test_times_range(engine: str) -> None:
    assert matches(_c_a_b("times(1, 3)"), CAAAB, engine) == expect(
        "c a1 b", "c a1 a2 b", "c a1 a2 a3 b")


def test_times_range_from_zero_is_optional(engine: str) -> None:
    assert matches(_c_a_b("times(0, 2)"), CAAAB, engine) == expect(
        "c b", "c a1 b", "c a1 a2 b")


def test_times_range_consecutive_broken_by_other_event(engine: str) -> None:
    assert matches(_c_a_b("times(1, 3).consecutive()"), split("c a1 a2 d a3 b"), engine) == \
        expect("c a1 b", "c a1 a2 b")


def test_times_or_more(engine: str) -> None:
    assert matches(_c_a_b("times_or_more(2)"), CAAAB, engine) == expect(
        "c a1 a2 b", "c a1 a2 a3 b")


def test_times_or_more_optional(engine: str) -> None:
    assert matches(_c_a_b("times_or_more(2).optional()"), CAAAB, engine) == expect(
        "c b", "c a1 a2 b", "c a1 a2 a3 b")


def test_one_or_more_needs_one(engine: str) -> None:
    assert matches(_c_a_b("one_or_more()"), split("c d b"), engine) == []


def test_zero_or_more(engine: str) -> None:
    assert matches(_c_a_b("one_or_more().optional()"), split("c a1 b"), engine) == expect(
        "c b", "c a1 b")


def test_optional_singleton_gives_both_paths(engine: str) -> None:
    p = (Pattern.begin("a").where(is_("a")).followed_by("b").where(is_("b")).optional()
         .followed_by("c").where(is_("c")))
    assert matches(p, split("a b c"), engine) == expect("a b c", "a c")
    assert matches(p, split("a x c"), engine) == expect("a c")


def test_optional_last_stage_emits_at_once(engine: str) -> None:
    p = Pattern.begin("a").where(is_("a")).next("b").where(is_("b")).optional()
    assert matches(p, split("a1 b a2"), engine) == expect("a1", "a1 b", "a2")


def test_times_begin_stage(engine: str) -> None:
    p = Pattern.begin("a").where(is_("a")).times(3).consecutive()
    assert matches(p, split("a1 a2 a3 a4 x a5"), engine) == expect("a1 a2 a3", "a2 a3 a4")


def test_times_with_strict_entry(engine: str) -> None:
    p = Pattern.begin("c").where(is_("c")).next("a").where(is_("a")).times(2)
    assert matches(p, split("c a1 x a2 c2 x a3 a4"), engine) == expect("c a1 a2")
