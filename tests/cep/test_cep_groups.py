"""Group patterns (Flink CEP docs "Groups of patterns"; Flink's GroupITCase)."""

from __future__ import annotations

import pytest
from cep_helpers import expect, is_, matches, run, split

from cep import MalformedPatternError, Pattern, col, compile_pattern


def _ab() -> Pattern:
    return Pattern.begin("middle1").where(is_("a")).followed_by("middle2").where(is_("b"))


def _c_group_d(quant: str) -> Pattern:
    p = Pattern.begin("start").where(is_("c")).followed_by(_ab())
    p = eval(f"p.{quant}", {"p": p})
    return p.followed_by("end").where(is_("d"))


def test_group_times(engine: str) -> None:
    assert matches(_c_group_d("times(2)"), split("c a1 b1 a2 b2 d"), engine) == expect(
        "c a1 b1 a2 b2 d")


def test_group_optional(engine: str) -> None:
    assert matches(_c_group_d("optional()"), split("c a1 a2 b d"), engine) == expect(
        "c d", "c a1 b d")


def test_group_times_optional(engine: str) -> None:
    assert matches(_c_group_d("times(2).optional()"), split("c a d"), engine) == expect("c d")


def test_group_one_or_more(engine: str) -> None:
    assert matches(_c_group_d("one_or_more()"), split("c a1 b1 a2 b2 d"), engine) == expect(
        "c a1 b1 d", "c a1 b1 a2 b2 d")


def test_group_match_keys_are_inner_stage_names(engine: str) -> None:
    res = run(_c_group_d("times(2)"), split("c a1 b1 a2 b2 d"), engine)
    m = res.matches[0]
    assert list(m.events) == ["start", "middle1", "middle2", "end"]
    assert [e["name"] for e in m.events["middle1"]] == ["a1", "a2"]
    assert [e["name"] for e in m.events["middle2"]] == ["b1", "b2"]


def test_begin_with_group(engine: str) -> None:
    p = Pattern.begin(_ab()).next("end").where(is_("d"))
    assert matches(p, split("a1 x b1 d a2 b2 x d"), engine) == expect("a1 b1 d")


def test_strict_group(engine: str) -> None:
    p = Pattern.begin("start").where(is_("c")).next(_ab())
    assert matches(p, split("c a1 b1 c x a2 b2"), engine) == expect("c a1 b1")


def test_group_followed_by_any(engine: str) -> None:
    p = Pattern.begin("start").where(is_("c")).followed_by_any(_ab())
    assert matches(p, split("c a1 a2 b1"), engine) == expect("c a1 b1", "c a2 b1")


def test_group_consecutive_loop(engine: str) -> None:
    p = (Pattern.begin("start").where(is_("c")).followed_by(_ab()).one_or_more().consecutive()
         .followed_by("end").where(is_("d")))
    assert matches(p, split("c a1 b1 x a2 b2 d"), engine) == expect("c a1 b1 d")


def test_group_until(engine: str) -> None:
    p = (Pattern.begin("start").where(is_("c")).followed_by(_ab()).one_or_more()
         .until(col("kind") == "x").followed_by("end").where(is_("d")))
    assert matches(p, split("c a1 b1 a2 x b2 d"), engine) == expect("c a1 b1 d")


def test_group_names_must_be_unique() -> None:
    with pytest.raises(MalformedPatternError, match="duplicate"):
        Pattern.begin("middle1").followed_by(_ab())


@pytest.mark.parametrize("call", ["where", "or_", "greedy"])
def test_group_options_not_applicable(call: str) -> None:
    p = Pattern.begin("x").followed_by(_ab())
    with pytest.raises(MalformedPatternError, match="group"):
        if call == "greedy":
            p.one_or_more().greedy()
        else:
            getattr(p, call)(is_("a"))


def test_group_cannot_end_with_not_followed_by() -> None:
    inner = Pattern.begin("i").not_followed_by("j").within(5)
    with pytest.raises(MalformedPatternError, match="group"):
        compile_pattern(Pattern.begin("x").followed_by(inner).followed_by("y"))


def test_all_optional_looping_group_is_rejected() -> None:
    inner = Pattern.begin("i").optional().followed_by("j").optional()
    with pytest.raises(MalformedPatternError, match="loop"):
        compile_pattern(Pattern.begin("x").followed_by(inner).one_or_more().followed_by("y"))
