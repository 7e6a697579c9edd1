"""The Pattern builder: immutability, validation at definition time, compile-time checks."""

from __future__ import annotations

import pytest

from cep import (
    AfterMatchSkipStrategy,
    Condition,
    MalformedPatternError,
    Pattern,
    col,
    compile_pattern,
)
from cep.nfa import FINAL, PENDING, STOP


def test_every_call_returns_a_new_pattern() -> None:
    base = Pattern.begin("a")
    more = base.where(col("x") > 1)
    again = more.followed_by("b")
    looping = again.one_or_more()
    assert base.stages[0].condition is None
    assert more.stages[0].condition is not None
    assert len(more.stages) == 1 and len(again.stages) == 2
    assert again.stages[1].quantifier.kind == "single"
    assert looping.stages[1].quantifier.looping
    assert base != more and again != looping


def test_shared_prefix_can_be_extended_twice() -> None:
    prefix = Pattern.begin("a").where(col("x") > 1)
    p1 = prefix.next("b")
    p2 = prefix.followed_by_any("c")
    assert p1.stage_names() == ("a", "b") and p2.stage_names() == ("a", "c")


@pytest.mark.parametrize("name", ["", "a:b", 3, None])
def test_invalid_names(name: object) -> None:
    with pytest.raises(MalformedPatternError):
        Pattern.begin(name)  # type: ignore[arg-type]


def test_duplicate_name_mentions_the_stage_and_position() -> None:
    with pytest.raises(MalformedPatternError, match=r"'a'.*position 2"):
        Pattern.begin("a").next("b").next("a")


def test_quantifier_applied_twice() -> None:
    with pytest.raises(MalformedPatternError, match="already applied"):
        Pattern.begin("a").one_or_more().times(2)


@pytest.mark.parametrize(("call", "args"), [("times", (0,)), ("times", (2, 1)),
                                            ("times", (-1, 2)), ("times_or_more", (0,))])
def test_bad_times(call: str, args: tuple[int, ...]) -> None:
    with pytest.raises(MalformedPatternError):
        getattr(Pattern.begin("a"), call)(*args)


def test_optional_twice() -> None:
    with pytest.raises(MalformedPatternError, match="already optional"):
        Pattern.begin("a").optional().optional()


@pytest.mark.parametrize("call", ["consecutive", "allow_combinations", "greedy"])
def test_options_need_a_quantifier(call: str) -> None:
    with pytest.raises(MalformedPatternError, match="no quantifier"):
        getattr(Pattern.begin("a"), call)()


def test_consecutive_and_combinations_exclusive() -> None:
    with pytest.raises(MalformedPatternError, match="consecutive"):
        Pattern.begin("a").one_or_more().consecutive().allow_combinations()


def test_greedy_twice() -> None:
    with pytest.raises(MalformedPatternError, match="already greedy"):
        Pattern.begin("a").one_or_more().greedy().greedy()


def test_times_zero_to_m_is_optional() -> None:
    q = Pattern.begin("a").times(0, 3).stages[0].quantifier
    assert q.optional and (q.low, q.high) == (1, 3)


def test_compiled_nfa_is_immutable_and_has_expected_shape() -> None:
    p = (Pattern.begin("a").where(col("k") == "a").not_followed_by("n").where(col("k") == "n")
         .followed_by("b").where(col("k") == "b").within(10))
    nfa = compile_pattern(p)
    kinds = [s.kind for s in nfa.states]
    assert kinds.count(FINAL) == 1 and STOP in kinds and PENDING not in kinds
    assert nfa.stage_names == ("a", "b")
    assert nfa.window == 10
    with pytest.raises(AttributeError):
        nfa.window = 5  # type: ignore[misc]
    assert "TAKE" in nfa.describe()


def test_trailing_not_followed_by_compiles_to_pending_state() -> None:
    nfa = compile_pattern(Pattern.begin("a").not_followed_by("b").within(5))
    assert any(s.kind == PENDING for s in nfa.states)


def test_repr_round_trips_structure() -> None:
    p = (Pattern.begin("a", AfterMatchSkipStrategy.skip_past_last_event())
         .where(col("x") < 1).followed_by("b").times(2, 3).consecutive().optional()
         .within(60_000))
    text = repr(p)
    for part in ("Pattern.begin('a')", ".followed_by('b')", ".times(2, 3)", ".optional()",
                 ".consecutive()", ".within(60000)"):
        assert part in text


def test_condition_combinators() -> None:
    c = (col("a") > 1) & ~(col("b") == 2) | Condition.vectorized(lambda cols: cols["a"] > 0)
    p = Pattern.begin("x").where(c)
    assert not p.is_iterative
    with pytest.raises(TypeError):
        bool(col("a") > 1)


def test_skip_strategy_constructors() -> None:
    s = AfterMatchSkipStrategy.skip_to_last("b").throw_exception_on_miss()
    assert s.kind == "skip_to_last" and s.stage == "b" and s.throw_on_miss
    with pytest.raises(TypeError):
        AfterMatchSkipStrategy.no_skip().throw_exception_on_miss()
