"""The faust processor without a broker: fake faust events through ``_process_events``
(decoding, dead letters, per-partition operators, MATCH_RECOGNIZE rules), and the import
boundary (``import connectors`` never imports faust)."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
import pytest

from cep.sql import compile_rules
from connectors.faust import FaustProcessor, rule_stage, window_stage
from connectors.schema import Schema
from windows import TumblingEventTimeWindows, WatermarkStrategy, aggregates

SQL = """
SELECT * FROM Ticker MATCH_RECOGNIZE (
    PARTITION BY symbol ORDER BY rowtime
    MEASURES START_ROW.rowtime AS start_tstamp, LAST(PRICE_UP.rowtime) AS end_tstamp
    AFTER MATCH SKIP PAST LAST ROW
    PATTERN (START_ROW PRICE_DOWN+ PRICE_UP)
    DEFINE
        PRICE_DOWN AS (LAST(PRICE_DOWN.price, 1) IS NULL AND PRICE_DOWN.price < START_ROW.price)
                      OR PRICE_DOWN.price < LAST(PRICE_DOWN.price, 1),
        PRICE_UP AS PRICE_UP.price > LAST(PRICE_DOWN.price, 1)
) MR
"""
SCHEMA = Schema.from_dict({"columns": {"symbol": "string", "rowtime": "timestamp",
                                       "price": "int64"}, "event_time": "rowtime"})


class _Signal:
    def connect(self, fn: Any, **_: Any) -> None:
        self.fn = fn


def fake_app() -> Any:
    return SimpleNamespace(conf=SimpleNamespace(id="unit", broker_commit_interval=1.0),
                           on_partitions_revoked=_Signal(), on_before_shutdown=_Signal())


def event(partition: int, offset: int, value: bytes | None) -> Any:
    msg = SimpleNamespace(topic="ticker", partition=partition, offset=offset, value=value,
                          key=b"k", timestamp=1_700_000_000.0)
    return SimpleNamespace(message=msg)


def ticker(partition: int, symbol: str, prices: list[int], start: int = 0) -> list[Any]:
    return [event(partition, start + i, orjson.dumps({"symbol": symbol, "rowtime": i * 1000,
                                                      "price": p}))
            for i, p in enumerate(prices)]


def test_rule_stage_measures_per_partition() -> None:
    (rule,) = compile_rules(SQL, columns={"symbol": "string", "rowtime": "timestamp",
                                          "price": "int64"})
    proc = FaustProcessor(fake_app(), "r", SCHEMA, [rule_stage(rule)], checkpoints=False)
    prices = [12, 17, 19, 21, 25, 18, 15, 14, 24, 25, 19]
    evs = ticker(0, "ACME", prices) + ticker(1, "BETA", prices)
    evs.insert(3, event(0, 0, b"{bad"))
    for i, e in enumerate(evs[:len(prices) + 1]):  # offsets in order within partition 0
        e.message.offset = i
    outs: list[Any] = []
    for lo in range(0, len(evs), 4):  # batches cut anywhere
        o, dead = proc._process_events(evs[lo:lo + 4])
        assert dead == []
        outs += o
    matches = [o for o in outs if o.stream == "matches"]
    assert sorted((o.partition, o.value["symbol"], o.value["start_tstamp"],
                   o.value["end_tstamp"]) for o in matches) == [
        (0, "ACME", 4000.0, 8000.0), (1, "BETA", 4000.0, 8000.0)]
    dead = [o for o in outs if o.stream == "dead"]
    assert [(d.partition, d.value["offset"]) for d in dead] == [(0, 3)]
    assert "JSON" in dead[0].value["reason"] and dead[0].json()
    assert proc.stats.dead_letters == 1 and set(proc.parts) == {("ticker", 0), ("ticker", 1)}


def test_window_stage_and_order_by_check() -> None:
    stage = window_stage("w", TumblingEventTimeWindows.of(5_000), {"n": aggregates.count()},
                         key="symbol")
    proc = FaustProcessor(fake_app(), "w", SCHEMA, [stage], checkpoints=False,
                          watermarks=WatermarkStrategy.for_monotonous_timestamps())
    outs, _ = proc._process_events(ticker(0, "ACME", list(range(12))))
    rows = [o.value for o in outs if o.stream == "results"]
    assert [(r["window_start"], r["n"]) for r in rows] == [(0, 5), (5000, 5)]
    (rule,) = compile_rules(SQL.replace("ORDER BY rowtime", "ORDER BY ts"),
                            columns={"symbol": "string", "rowtime": "timestamp",
                                     "ts": "timestamp", "price": "int64"})
    with pytest.raises(ValueError, match="orders by 'ts'"):
        FaustProcessor(fake_app(), "r", SCHEMA, [rule_stage(rule)], checkpoints=False)


def test_snapshot_restore_skips_covered_records() -> None:
    (rule,) = compile_rules(SQL, columns={"symbol": "string", "rowtime": "timestamp",
                                          "price": "int64"})
    prices = [12, 17, 19, 21, 25, 18, 15, 14, 24, 25, 19]
    evs = ticker(0, "ACME", prices)
    whole = FaustProcessor(fake_app(), "r", SCHEMA, [rule_stage(rule)], checkpoints=False)
    expected = [o.value for o in whole._process_events(evs)[0]]
    first = FaustProcessor(fake_app(), "r", SCHEMA, [rule_stage(rule)], checkpoints=False)
    got = [o.value for o in first._process_events(evs[:6])[0]]
    part = first.parts[("ticker", 0)]
    state = part.state(first.job_id, first.stages)
    from connectors._jobstate import PartitionState

    second = FaustProcessor(fake_app(), "r", SCHEMA, [rule_stage(rule)], checkpoints=False)
    second.parts[("ticker", 0)] = PartitionState.restored(
        ("ticker", 0), state, second.job_id, second.stages, second.watermarks)
    got += [o.value for o in second._process_events(evs[3:])[0]]  # 3..5 delivered again
    assert second.stats.skipped == 3
    assert [orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY) for v in got] == [
        orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY) for v in expected]
    assert len(expected) == 1


def test_connectors_does_not_import_faust() -> None:
    code = ("import sys, connectors, connectors.faust; "
            "bad = [m for m in ('faust', 'aiokafka') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_output_json_handles_bytes_and_numpy() -> None:
    from connectors.faust import Output

    o = Output("s", "dead", "t", 0, {"key": b"k", "n": np.int64(3), "value": None})
    assert orjson.loads(o.json()) == {"key": "k", "n": 3, "value": None}
    assert o.key_bytes() == b"k"
