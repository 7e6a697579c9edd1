"""The example service's MATCH_RECOGNIZE rules (examples/faust_service/rules.sql) without a
broker: they give the same alerts as the hand-written patterns they replace (relaxed
contiguity written as the reluctant filler ``X*?``), on the inputs of the broker tests and
on dense random traffic, and the processor turns their matches into the alerts the service
writes."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
import pytest
from faust_helpers import (
    PARTITIONS,
    SCHEMA,
    T0,
    WATERMARKS,
    Records,
    crash_records,
    detection_records,
    partition_batches,
    reference_alerts,
    restart_records,
    traffic,
    tx,
)
from fraud_rules import alert, rules, stages

from cep import AfterMatchSkipStrategy, CepOperator, Pattern, col
from connectors.faust import FaustProcessor

#: The patterns the example service used before its rules were written in SQL.
PATTERNS = {
    "small_then_large": (
        Pattern.begin("small", AfterMatchSkipStrategy.skip_past_last_event())
        .where((col("kind") == "purchase") & (col("amount") < 1.0))
        .followed_by("large").where((col("kind") == "purchase") & (col("amount") > 500.0))
        .within(timedelta(minutes=10))),
    "purchase_then_cancel": (
        Pattern.begin("purchase", AfterMatchSkipStrategy.skip_past_last_event())
        .where(col("kind") == "purchase")
        .followed_by("cancel").where(col("kind") == "cancel")
        .within(timedelta(minutes=60))),
}

Match = tuple[str, str, float, float, float, float]


def pattern_matches(records: Records) -> list[Match]:
    """(rule, card, first ts, first amount, last ts, last amount) of every match of
    :data:`PATTERNS`, run as the service ran them (per partition, one watermark tracker)."""
    out: list[Match] = []
    for columns, ts, wms in partition_batches(records):
        for name, pattern in PATTERNS.items():
            op = CepOperator(pattern, key="card", emit_timeouts=False)
            for m in op.process(columns, ts, wms, 0).matches:
                (first,), (last,) = m.events.values()
                out.append((name, m.key, float(first["ts"]), float(first["amount"]),
                            float(last["ts"]), float(last["amount"])))
    return out


def rule_matches(records: Records) -> list[Match]:
    """The same projection of the alerts of ``rules.sql``."""
    out: list[Match] = []
    for a in reference_alerts(records):
        rule, card, *measures = a.values()  # MEASURES: first ts, amount, last ts, amount
        out.append((rule, card, *map(float, measures)))
    return out


def random_records(seed: int, n: int = 3000, cards: int = 3) -> Records:
    """Dense traffic on a few cards: small and large purchases and cancellations close
    together, gaps around both windows, up to 3 s out of order."""
    rng = np.random.default_rng(seed)
    recs: Records = []
    t = T0
    for _ in range(n):
        t += int(rng.choice([1_000, 30_000, 120_000, 599_000, 600_000, 3_600_000],
                            p=[0.5, 0.2, 0.15, 0.05, 0.05, 0.05]))
        card = int(rng.integers(cards))
        r = rng.random()
        kind = "cancel" if r < 0.1 else "purchase"
        amount = (0.5 if r < 0.35 else 900.0 if r < 0.6 else float(np.round(rng.random() * 300,
                                                                            2)))
        recs.append(tx(card, t - int(rng.integers(0, 3000)), amount, kind))
    return recs


def test_rules_compile_with_the_schema_types() -> None:
    assert [r.name for r in rules()] == list(PATTERNS)
    assert [s.name for s in stages()] == list(PATTERNS)
    for r in rules():
        assert r.partition_by == ("card",) and r.order_by == SCHEMA.event_time
        assert r.output_columns[0] == "card" and len(r.output_columns) == 5


@pytest.mark.parametrize("inputs", ["detection", "restart", "crash"])
def test_rules_equal_patterns_on_service_inputs(inputs: str) -> None:
    first, second = restart_records()
    records = {"detection": detection_records(), "restart": first + second,
               "crash": crash_records()}[inputs]
    want = pattern_matches(records)
    assert {m[0] for m in want} == set(PATTERNS)  # both rules fire
    assert sorted(rule_matches(records)) == sorted(want)


@pytest.mark.parametrize("seed", range(4))
def test_rules_equal_patterns_on_dense_random_traffic(seed: int) -> None:
    records = random_records(seed)
    want = pattern_matches(records)
    assert len({m[0] for m in want}) == 2 and len(want) > 50
    assert sorted(rule_matches(records)) == sorted(want)


def test_filler_allows_relaxed_contiguity_and_skips_past_the_match() -> None:
    c = 1
    recs = [tx(c, T0, 0.5), tx(c, T0 + 1_000, 0.2), tx(c, T0 + 2_000, 40.0),
            tx(c, T0 + 3_000, 0.0, "cancel"), tx(c, T0 + 4_000, 600.0),  # (0.5, 600) only
            tx(c, T0 + 5_000, 700.0),                                     # no second match
            tx(c, T0 + 10_000, 0.1), tx(c, T0 + 10_000 + 600_000, 800.0)]  # expired
    recs += traffic(7, T0 + 4_000_000, 10, cards=1)
    got = [m for m in rule_matches(recs) if m[0] == "small_then_large"]
    assert got == [("small_then_large", "c01", T0, 0.5, T0 + 4_000.0, 600.0)]
    cancels = [m for m in rule_matches(recs) if m[0] == "purchase_then_cancel"]
    assert cancels == [("purchase_then_cancel", "c01", T0, 0.5, T0 + 3_000.0, 0.0)]
    assert sorted(rule_matches(recs)) == sorted(pattern_matches(recs))


def test_processor_alerts_equal_reference() -> None:
    """The service's path: the processor on fake faust events, batches cut anywhere, alerts
    as the agent builds them (rule name + MEASURES row, keyed by card)."""
    app = SimpleNamespace(conf=SimpleNamespace(id="unit", broker_commit_interval=1.0),
                          on_partitions_revoked=SimpleNamespace(connect=lambda *a, **k: None),
                          on_before_shutdown=SimpleNamespace(connect=lambda *a, **k: None))
    proc = FaustProcessor(app, "fraud", SCHEMA, stages(), watermarks=WATERMARKS,
                          checkpoints=False)
    records = detection_records()
    offsets = [0] * PARTITIONS
    events = []
    for part, key, value in records:
        msg = SimpleNamespace(topic="tx", partition=part, offset=offsets[part], value=value,
                              key=key, timestamp=T0 / 1000)
        offsets[part] += 1
        events.append(SimpleNamespace(message=msg))
    got: list[tuple[bytes, dict[str, Any]]] = []
    for lo in range(0, len(events), 37):
        outs, _ = proc._process_events(events[lo:lo + 37])
        got += [(str(o.value["card"]).encode(), alert(o.stage, o.value)) for o in outs
                if o.stream == "matches"]
    assert all(k == a["card"].encode() for k, a in got)
    want = reference_alerts(records)
    assert sorted(orjson.dumps(a) for _, a in got) == sorted(orjson.dumps(a) for a in want)
    assert {a["rule"] for a in want} == set(PATTERNS)
