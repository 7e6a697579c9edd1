"""After-match skip strategies (the tables of the Flink CEP docs, "After Match Skip
Strategy")."""

from __future__ import annotations

import pytest
from cep_helpers import events, expect, is_, matches, run, split

from cep import AfterMatchSkipStrategy as Skip
from cep import MalformedPatternError, Pattern, SkipToElementError, compile_pattern
from cep.testing import PatternHarness


def _b_plus_c(skip: Skip) -> Pattern:
    # "b+ c" as a sequence: strict contiguity inside the loop and into c. (With the default
    # relaxed loop, the b1 loop survives c and holds back later matches under skip_to_first.)
    return (Pattern.begin("b", skip).where(is_("b")).one_or_more().consecutive()
            .next("c").where(is_("c")))


B123C = split("b1 b2 b3 c")


@pytest.mark.parametrize(("skip", "expected"), [
    (Skip.no_skip(), ["b1 b2 b3 c", "b2 b3 c", "b3 c"]),
    (Skip.skip_to_next(), ["b1 b2 b3 c", "b2 b3 c", "b3 c"]),
    (Skip.skip_past_last_event(), ["b1 b2 b3 c"]),
    (Skip.skip_to_first("b"), ["b1 b2 b3 c", "b2 b3 c", "b3 c"]),
    (Skip.skip_to_last("b"), ["b1 b2 b3 c", "b3 c"]),
], ids=["no_skip", "skip_to_next", "skip_past_last", "skip_to_first", "skip_to_last"])
def test_doc_table_b_plus_c(engine: str, skip: Skip, expected: list[str]) -> None:
    assert matches(_b_plus_c(skip), B123C, engine) == expect(*expected)


def test_doc_skip_emits_in_order_of_first_event(engine: str) -> None:
    res = run(_b_plus_c(Skip.skip_to_next()), B123C, engine)
    assert [m.events["b"][0]["name"] for m in res.matches] == ["b1", "b2", "b3"]


def _abc_bc_c_d(skip: Skip) -> Pattern:
    return (Pattern.begin("ab", skip).where(is_("a", "b", "c")).next("bc").where(is_("b", "c"))
            .next("c").where(is_("c")).one_or_more().greedy().next("d").where(is_("d")))


ABCCCD = split("a b c1 c2 c3 d")


def test_doc_no_skip_vs_skip_to_first_no_skip(engine: str) -> None:
    assert matches(_abc_bc_c_d(Skip.no_skip()), ABCCCD, engine) == expect(
        "a b c1 c2 c3 d", "b c1 c2 c3 d", "c1 c2 c3 d")


def test_doc_no_skip_vs_skip_to_first_skip(engine: str) -> None:
    assert matches(_abc_bc_c_d(Skip.skip_to_first("c")), ABCCCD, engine) == expect(
        "a b c1 c2 c3 d", "c1 c2 c3 d")


def _a_b_plus(skip: Skip) -> Pattern:
    return Pattern.begin("a", skip).where(is_("a")).next("b").where(is_("b")).one_or_more()


def test_doc_a_b_plus_no_skip(engine: str) -> None:
    assert matches(_a_b_plus(Skip.no_skip()), split("a b1 b2 b3"), engine) == expect(
        "a b1", "a b1 b2", "a b1 b2 b3")


def test_doc_a_b_plus_skip_to_next(engine: str) -> None:
    assert matches(_a_b_plus(Skip.skip_to_next()), split("a b1 b2 b3"), engine) == expect(
        "a b1")


def test_skip_past_last_restarts_after_match(engine: str) -> None:
    p = (Pattern.begin("a", Skip.skip_past_last_event()).where(is_("a"))
         .followed_by_any("b").where(is_("b")))
    assert matches(p, split("a1 a2 b1 b2 a3 b3"), engine) == expect("a1 b1", "a3 b3")


def test_skip_holds_match_until_earlier_partial_resolves(engine: str) -> None:
    # a1 starts a partial that completes later than a2's; the a2 match waits for a1's and is
    # then pruned by skip_past_last_event (a2 started before a1's match ended).
    p = (Pattern.begin("a", Skip.skip_past_last_event()).where(is_("a"))
         .followed_by("b").where(is_("b")).followed_by("c").where(is_("c")))
    res = run(p, split("a1 b1 a2 c1"), engine)
    assert [[e["name"] for ev in m.events.values() for e in ev] for m in res.matches] == [
        ["a1", "b1", "c1"]]


def test_skip_to_last_missing_stage_does_not_prune(engine: str) -> None:
    # {a2 c} completes together with {a1 c} but waits behind a1's partial match (still waiting
    # for the optional b) until that one times out; no "b" in {a1 c}, so nothing is pruned.
    p = (Pattern.begin("a", Skip.skip_to_last("b")).where(is_("a")).followed_by("b")
         .where(is_("b")).optional().followed_by("c").where(is_("c")).within(10))
    h = PatternHarness(p, engine=engine).add_all(events(split("a1 a2 c")), [1, 2, 3])
    res = h.watermark(5).watermark(20).finish()
    assert [[e["name"] for ev in m.events.values() for e in ev] for m in res.matches] == [
        ["a1", "c"], ["a2", "c"]]
    assert [m.timestamp for m in res.matches] == [3, 20]


def test_skip_to_last_throw_on_miss(engine: str) -> None:
    p = (Pattern.begin("a", Skip.skip_to_last("b").throw_exception_on_miss()).where(is_("a"))
         .followed_by("b").where(is_("b")).optional().followed_by("c").where(is_("c")))
    with pytest.raises(SkipToElementError):
        run(p, split("a1 c"), engine)


def test_skip_to_first_of_first_stage_throws_with_option(engine: str) -> None:
    p = (Pattern.begin("a", Skip.skip_to_first("a").throw_exception_on_miss()).where(is_("a"))
         .followed_by("c").where(is_("c")))
    with pytest.raises(SkipToElementError, match="first element"):
        run(p, split("a1 c"), engine)


def test_skip_stage_must_exist() -> None:
    p = Pattern.begin("a", Skip.skip_to_first("zzz")).where(is_("a"))
    with pytest.raises(MalformedPatternError, match="zzz"):
        compile_pattern(p)
