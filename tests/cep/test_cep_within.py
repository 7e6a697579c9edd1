"""within (first_and_last and previous_and_current) and timed-out partial matches (Flink CEP
docs "within", "Handling Timed Out Partial Patterns"; boundary as Flink's NFA: a partial match
expires when ``start + within <= time``)."""

from __future__ import annotations

import datetime as dt

import pytest
from cep_helpers import chrono, events, expect, is_, matches, run, split

from cep import MalformedPatternError, Pattern, compile_pattern
from cep.testing import PatternHarness


def _ab(within: int | dt.timedelta) -> Pattern:
    return (Pattern.begin("a").where(is_("a")).followed_by("b").where(is_("b"))
            .within(within))


def test_event_inside_window_matches(engine: str) -> None:
    assert matches(_ab(10), split("a b"), engine, timestamps=[100, 109]) == expect("a b")


def test_event_exactly_within_after_start_does_not_match(engine: str) -> None:
    res = run(_ab(10), split("a b"), engine, timestamps=[100, 110])
    assert res.matches == []
    assert [chrono(m) for m in res.timeouts] == [["a"]]
    assert res.timeouts[0].timeout_timestamp == 110


def test_within_accepts_timedelta(engine: str) -> None:
    assert matches(_ab(dt.timedelta(seconds=1)), split("a b"), engine,
                   timestamps=[0, 999]) == expect("a b")


def test_smallest_window_applies() -> None:
    p = Pattern.begin("a").within(50).followed_by("b").within(20)
    assert compile_pattern(p).window == 20


def test_timeouts_reported_when_watermark_passes(engine: str) -> None:
    p = (Pattern.begin("start").where(is_("a")).next("middle").where(is_("b"))
         .followed_by("end").where(is_("c")).within(10))
    h = PatternHarness(p, engine=engine).add_all(events(split("a1 b1 a2")), [1, 2, 5])
    h.watermark(10)
    assert h.result.timeouts == []
    h.watermark(11)
    assert [chrono(m) for m in h.result.timeouts] == [["a1", "b1"]]
    assert h.result.timeouts[0].timeout_timestamp == 11
    assert h.result.timeouts[0].timestamp == 11
    res = h.finish()
    assert [chrono(m) for m in res.timeouts] == [["a1", "b1"], ["a2"]]
    assert res.matches == []


def test_timeouts_can_be_switched_off(engine: str) -> None:
    res = run(_ab(10), split("a"), engine, emit_timeouts=False)
    assert res.timeouts == [] and res.dropped_partial_matches == 0


def test_partial_without_window_is_dropped_at_end(engine: str) -> None:
    p = Pattern.begin("a").where(is_("a")).followed_by("b").where(is_("b"))
    res = run(p, split("a1 a2 x"), engine)
    assert res.timeouts == [] and res.dropped_partial_matches == 2


def test_doc_example_error_then_critical_within_10s(engine: str) -> None:
    # Docs "Examples": start, middle(name = "error") -> end(name = "critical") within 10 s,
    # keyed by id, event time.
    p = (Pattern.begin("start").next("middle").where(is_("error"))
         .followed_by("end").where(is_("critical")).within(dt.timedelta(seconds=10)))
    evs = [{"id": i, "name": n, "kind": n} for i, n in
           [(1, "x"), (2, "y"), (1, "error"), (2, "error"), (1, "info"), (1, "critical"),
            (2, "critical")]]
    res = PatternHarness(p, key="id", engine=engine).add_all(
        evs, [0, 0, 1000, 1000, 2000, 5000, 12000]).finish()
    assert [(m.key, chrono_kinds(m)) for m in res.matches] == [
        (1, ["x", "error", "critical"])]
    # every event can start a match ("start" has no condition); those that cannot continue
    # time out (key 1 first: outputs are ordered by step, then key)
    assert [(m.key, chrono_kinds(m), m.timeout_timestamp)  # type: ignore[attr-defined]
            for m in res.timeouts] == [
        (1, ["critical"], 15000), (2, ["y", "error"], 10000), (2, ["error"], 11000),
        (2, ["critical"], 22000)]


def chrono_kinds(m: object) -> list[str]:
    return [e["kind"] for evs in m.events.values() for e in evs]  # type: ignore[attr-defined]


def _prev(within: int) -> Pattern:
    return (Pattern.begin("a").where(is_("a")).followed_by("b").where(is_("b"))
            .within(within, "previous_and_current").followed_by("c").where(is_("c")))


def test_previous_and_current_bounds_gap_to_its_stage(engine: str) -> None:
    assert matches(_prev(5), split("a b c"), engine, timestamps=[0, 4, 100]) == expect("a b c")
    res = run(_prev(5), split("a b c"), engine, timestamps=[0, 5, 6])
    assert res.matches == []
    assert [chrono(m) for m in res.timeouts] == [["a"]]
    assert res.timeouts[0].timeout_timestamp == 5


def test_previous_and_current_on_looping_stage(engine: str) -> None:
    # cepkit applies the gap bound to every state of the stage (see docs: deviation)
    p = (Pattern.begin("a").where(is_("a")).followed_by("b").where(is_("b")).one_or_more()
         .within(5, "previous_and_current"))
    res = run(p, split("a b1 b2 b3"), engine, timestamps=[0, 3, 7, 20])
    assert sorted(chrono(m) for m in res.matches) == expect("a b1", "a b1 b2")


def test_previous_window_larger_than_window_is_malformed() -> None:
    p = _prev(50).within(10)
    with pytest.raises(MalformedPatternError, match="larger"):
        compile_pattern(p)


@pytest.mark.parametrize("bad", [0, -5, 1.5, True])
def test_within_must_be_positive_duration(bad: object) -> None:
    with pytest.raises((MalformedPatternError, TypeError)):
        Pattern.begin("a").within(bad)  # type: ignore[arg-type]


def test_unknown_within_type() -> None:
    with pytest.raises(MalformedPatternError, match="within_type"):
        Pattern.begin("a").within(5, "sideways")  # type: ignore[arg-type]
