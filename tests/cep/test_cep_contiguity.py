"""Contiguity: next / followed_by / followed_by_any, and inside loops (Flink CEP docs,
"Combining Patterns" and "Contiguity within looping patterns")."""

from __future__ import annotations

from cep_helpers import expect, is_, matches, split

from cep import Pattern


def _ab(verb: str) -> Pattern:
    return getattr(Pattern.begin("a").where(is_("a")), verb)("b").where(is_("b"))


# Docs: pattern "a b" over "a", "c", "b1", "b2".
def test_doc_strict_contiguity_discards_a(engine: str) -> None:
    assert matches(_ab("next"), split("a c b1 b2"), engine) == []


def test_doc_relaxed_contiguity_takes_first_b(engine: str) -> None:
    assert matches(_ab("followed_by"), split("a c b1 b2"), engine) == expect("a b1")


def test_doc_non_deterministic_relaxed_takes_every_b(engine: str) -> None:
    assert matches(_ab("followed_by_any"), split("a c b1 b2"), engine) == expect("a b1", "a b2")


def _a_bplus_c(inner: str | None, last: str = "followed_by") -> Pattern:
    p = Pattern.begin("a").where(is_("a")).followed_by_any("b").where(is_("b")).one_or_more()
    if inner is not None:
        p = getattr(p, inner)()
    return getattr(p, last)("c").where(is_("c"))


STREAM = split("a b1 d1 b2 d2 b3 c")


# Docs: "a b+ c" over "a", "b1", "d1", "b2", "d2", "b3", "c".
def test_doc_loop_strict_contiguity(engine: str) -> None:
    # consecutive b's; c relaxed (older docs): there are no adjacent b's.
    assert matches(_a_bplus_c("consecutive"), STREAM, engine) == expect(
        "a b1 c", "a b2 c", "a b3 c")


def test_doc_loop_strict_contiguity_strict_exit(engine: str) -> None:
    # consecutive b's and c strictly after them (newer docs): only b3 survives.
    assert matches(_a_bplus_c("consecutive", "next"), STREAM, engine) == expect("a b3 c")


def test_doc_loop_relaxed_contiguity(engine: str) -> None:
    assert matches(_a_bplus_c(None), STREAM, engine) == expect(
        "a b1 c", "a b1 b2 c", "a b1 b2 b3 c", "a b2 c", "a b2 b3 c", "a b3 c")


def test_doc_loop_non_deterministic_contiguity(engine: str) -> None:
    assert matches(_a_bplus_c("allow_combinations"), STREAM, engine) == expect(
        "a b1 c", "a b1 b2 c", "a b1 b3 c", "a b1 b2 b3 c", "a b2 c", "a b2 b3 c", "a b3 c")


def _c_a_b(inner: str | None) -> Pattern:
    p = Pattern.begin("start").where(is_("c")).followed_by("middle").where(is_("a")).one_or_more()
    if inner is not None:
        p = getattr(p, inner)()
    return p.followed_by("end1").where(is_("b"))


CDAB = split("c d a1 a2 a3 d a4 b")


# Docs, consecutive(): "C D A1 A2 A3 D A4 B".
def test_doc_consecutive(engine: str) -> None:
    assert matches(_c_a_b("consecutive"), CDAB, engine) == expect(
        "c a1 b", "c a1 a2 b", "c a1 a2 a3 b")


def test_doc_without_consecutive(engine: str) -> None:
    assert matches(_c_a_b(None), CDAB, engine) == expect(
        "c a1 b", "c a1 a2 b", "c a1 a2 a3 b", "c a1 a2 a3 a4 b")


# Docs, allowCombinations(): the documented 15 matches need the first "a" to be skippable,
# i.e. followed_by_any into "middle" ...
def test_doc_allow_combinations(engine: str) -> None:
    p = (Pattern.begin("start").where(is_("c")).followed_by_any("middle").where(is_("a"))
         .one_or_more().allow_combinations().followed_by("end1").where(is_("b")))
    assert matches(p, CDAB, engine) == expect(
        "c a1 b", "c a1 a2 b", "c a1 a3 b", "c a1 a4 b", "c a1 a2 a3 b", "c a1 a2 a4 b",
        "c a1 a3 a4 b", "c a1 a2 a3 a4 b", "c a2 b", "c a2 a3 b", "c a2 a4 b",
        "c a2 a3 a4 b", "c a3 b", "c a3 a4 b", "c a4 b")


# ... with followed_by("middle") as the docs' code is written, Flink's compiler cannot skip a1
# (the first state's ignore condition is "not a"), so every match contains a1.
def test_allow_combinations_after_followed_by_keeps_first(engine: str) -> None:
    assert matches(_c_a_b("allow_combinations"), CDAB, engine) == expect(
        "c a1 b", "c a1 a2 b", "c a1 a3 b", "c a1 a4 b", "c a1 a2 a3 b", "c a1 a2 a4 b",
        "c a1 a3 a4 b", "c a1 a2 a3 a4 b")


def test_strict_chain_restarts_on_every_a(engine: str) -> None:
    p = Pattern.begin("a").where(is_("a")).next("b").where(is_("b")).next("c").where(is_("c"))
    assert matches(p, split("a1 b1 a2 b2 c1 a3 b3 c2"), engine) == expect(
        "a2 b2 c1", "a3 b3 c2")


def test_begin_only_matches_every_event(engine: str) -> None:
    p = Pattern.begin("a").where(is_("a"))
    assert matches(p, split("a1 b a2"), engine) == expect("a1", "a2")


def test_pattern_without_conditions_takes_everything(engine: str) -> None:
    p = Pattern.begin("x").next("y")
    assert matches(p, split("p q r"), engine) == expect("p q", "q r")
