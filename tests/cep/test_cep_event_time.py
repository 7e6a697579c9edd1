"""Event-time ordering and late events (Flink CEP docs "Handling Lateness in Event Time"):
events are buffered and processed in timestamp order once the watermark passes them (ties in
arrival order); events at or behind the watermark are late."""

from __future__ import annotations

import numpy as np
from cep_helpers import chrono, events, is_, split

from cep import CepOperator, Pattern, col
from cep.testing import PatternHarness


def _abc() -> Pattern:
    return (Pattern.begin("a").where(is_("a")).next("b").where(is_("b"))
            .next("c").where(is_("c")))


def test_out_of_order_events_are_sorted_by_timestamp(engine: str) -> None:
    h = PatternHarness(_abc(), engine=engine)
    h.add_all(events(split("c b a")), [3, 2, 1])
    res = h.finish()
    assert [chrono(m) for m in res.matches] == [["a", "b", "c"]]


def test_ties_are_broken_by_arrival(engine: str) -> None:
    p = Pattern.begin("a").where(is_("a")).next("b").where(is_("b"))
    h = PatternHarness(p, engine=engine).add_all(events(split("b1 a b2")), [5, 5, 5])
    assert [[e["name"] for evs in m.events.values() for e in evs]
            for m in h.finish().matches] == [["a", "b2"]]


def test_events_wait_for_the_watermark(engine: str) -> None:
    h = PatternHarness(_abc(), engine=engine)
    h.add_all(events(split("a b c")), [10, 11, 12])
    h.watermark(11)
    assert h.result.matches == []
    h.watermark(12)
    assert [chrono(m) for m in h.result.matches] == [["a", "b", "c"]]


def test_late_events_go_to_the_late_output(engine: str) -> None:
    h = PatternHarness(_abc(), engine=engine)
    h.add_all(events(split("a b")), [10, 11]).watermark(20)
    h.add_all(events(split("c x")), [20, 21])  # 20 is at the watermark: late
    res = h.finish()
    assert [(r["name"], r["__ts__"]) for r in res.late] == [("c", 20)]
    assert res.matches == []


def test_per_record_watermarks(engine: str) -> None:
    # with a bounded-out-of-orderness tracker (2 ms) an event 3 ms behind the max is late
    h = PatternHarness(_abc(), engine=engine, max_out_of_orderness=2)
    h.add_all(events(split("a b x late c")), [10, 11, 20, 16, 12])
    res = h.finish()
    assert [r["name"] for r in res.late] == ["late", "c"]


def test_keys_are_independent(engine: str) -> None:
    p = Pattern.begin("a").where(is_("a")).next("b").where(is_("b"))
    evs = [{"card": c, "kind": k, "name": f"{k}{c}"} for c, k in
           [("x", "a"), ("y", "a"), ("x", "b"), ("y", "z"), ("y", "b")]]
    res = PatternHarness(p, key="card", engine=engine).add_all(evs, [1, 2, 3, 4, 5]).finish()
    assert [(m.key, chrono(m)) for m in res.matches] == [("x", ["ax", "bx"])]


def test_processing_time_mode(engine: str) -> None:
    p = (Pattern.begin("a").where(is_("a")).followed_by("b").where(is_("b")).within(100))
    h = PatternHarness(p, time="processing", engine=engine)
    h.set_processing_time(1000).add_all(events(split("a1 b1")))
    h.set_processing_time(1050).add_all(events(split("a2")))
    h.set_processing_time(1200)  # a2 (at 1050) expires at 1150
    res = h.finish()
    assert [chrono(m) for m in res.matches] == [["a1", "b1"]]
    assert [(chrono(m), m.timeout_timestamp) for m in res.timeouts] == [  # type: ignore[attr-defined]
        (["a2"], 1150)]


def test_outputs_are_ordered_by_step_then_key(engine: str) -> None:
    p = Pattern.begin("a").where(is_("a"))
    op = CepOperator(p, key="k", engine=engine)
    cols = {"k": np.asarray([2, 1, 2, 1]), "kind": np.asarray(["a"] * 4, dtype=object)}
    ts = np.asarray([4, 3, 2, 1], np.int64)
    out = op.process(cols, ts, np.asarray([0, 0, 0, 10], np.int64))
    # all four become ready at the last record; key id 0 (value 2) first, each in time order
    assert out.matches.keys.tolist() == [2, 2, 1, 1]
    assert out.matches.timestamp.tolist() == [2, 4, 1, 3]


def test_columnar_match_table(engine: str) -> None:
    p = Pattern.begin("a").where(col("v") < 1).followed_by("b").where(col("v") > 5)
    op = CepOperator(p, engine=engine)
    out = op.process({"v": np.asarray([0.5, 2.0, 9.0])}, np.asarray([1, 2, 3]),
                     np.asarray([0, 0, 3]))
    t = out.matches
    assert len(t) == 1 and t.n_rows == 2
    assert t.stage.tolist() == ["a", "b"]
    assert t.columns["v"].tolist() == [0.5, 9.0]
    assert t.event_timestamp.tolist() == [1, 3]
    assert t.match_index.tolist() == [0, 0]
