"""Inputs and offline alert computation shared by the faust tests (the broker tests of the
example service and their broker-free equivalence checks)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[3]
SERVICE = ROOT / "examples" / "faust_service" / "service.py"
if str(SERVICE.parent) not in sys.path:
    sys.path.insert(0, str(SERVICE.parent))

from fraud_rules import SCHEMA, WATERMARKS, alert, stages  # noqa: E402

PARTITIONS = 2
T0 = 1_700_000_000_000
Records = list[tuple[int, bytes, Any]]
AlertId = tuple[Any, ...]


def tx(card: int, ts: int, amount: float, kind: str = "purchase") -> tuple[int, bytes, bytes]:
    return (card % PARTITIONS, f"c{card:02d}".encode(),
            orjson.dumps({"card": f"c{card:02d}", "ts": ts, "amount": amount, "kind": kind}))


def traffic(seed: int, start: int, n: int, cards: int = 12) -> Records:
    """``n`` ordinary purchases (5..300), one per second, up to 3 s out of order."""
    rng = np.random.default_rng(seed)
    return [tx(int(rng.integers(cards)), start + i * 1000 - int(rng.integers(0, 3000)),
               float(np.round(5 + rng.random() * 295, 2))) for i in range(n)]


# -- the inputs of the broker tests --------------------------------------------------------------
def detection_records() -> Records:
    """Ordinary traffic with planted matches: small then large (c01, c02; c03's large is too
    late), purchase then cancel (c04), and four malformed records."""
    recs: Records = traffic(1, T0, 300)
    recs += [tx(1, T0 + 301_000, 0.5), tx(2, T0 + 302_000, 0.25), tx(3, T0 + 303_000, 0.1),
             tx(4, T0 + 304_000, 42.0)]
    recs += [(1, b"c01", b"not json"), (0, b"c02", b""), (1, b"c03", b"[1, 2]"),
             (0, b"c04", b'{"card": "c04", "ts": "yesterday", "amount": 1, "kind": "x"}')]
    recs += [tx(1, T0 + 360_000, 900.0), tx(2, T0 + 400_000, 501.0),
             tx(3, T0 + 303_000 + 700_000, 800.0), tx(4, T0 + 1_000_000, 0.0, "cancel")]
    recs += traffic(2, T0 + 1_100_000, 100)  # moves the watermarks past everything
    return recs


def restart_records() -> tuple[Records, Records]:
    """Input before and after a restart; c05, c06 (small then large) and c07 (purchase then
    cancel) complete only after it."""
    first: Records = traffic(3, T0, 200)
    first += [tx(5, T0 + 201_000, 0.5), tx(6, T0 + 202_000, 0.75), tx(7, T0 + 203_000, 99.0)]
    first += traffic(4, T0 + 204_000, 20, cards=4)  # cards 0-3 only: c05-c07 stay open
    second: Records = [tx(5, T0 + 300_000, 700.0), tx(6, T0 + 350_000, 650.0),
                       tx(7, T0 + 400_000, 0.0, "cancel")]
    second += traffic(5, T0 + 1_500_000, 60)
    return first, second


def crash_records() -> Records:
    """A planted pair of matches every 100 s of event time, across the whole input."""
    recs: Records = []
    for i in range(8):
        base = T0 + i * 100_000
        recs += traffic(10 + i, base, 90)
        recs += [tx(i, base + 91_000, 0.5), tx(8 + i % 4, base + 92_000, 12.0)]
        recs += traffic(20 + i, base + 93_000, 5)
        recs += [tx(i, base + 98_000, 750.0), tx(8 + i % 4, base + 99_000, 0.0, "cancel")]
    recs += traffic(99, T0 + 5_000_000, 40)
    return recs


# -- offline computation -------------------------------------------------------------------------
def partition_batches(records: Records) -> list[tuple[dict[str, np.ndarray], np.ndarray,
                                                      np.ndarray]]:
    """Per partition, in offset order: the decoded columns (malformed records excluded by the
    service's decoder), event times and the watermarks of one tracker."""
    from connectors.files import decode_json_records

    out = []
    for p in range(PARTITIONS):
        values = [v for part, _, v in records if part == p and v]
        b = decode_json_records(values, SCHEMA)
        ts = b.columns["ts"]
        wms = WATERMARKS.create_tracker([0]).advance(ts, processing_time=0)
        out.append((b.columns, ts, wms))
    return out


def alert_id(value: bytes) -> AlertId:
    """An alert as the service writes it (JSON), as a hashable value."""
    return tuple(orjson.loads(value).items())


def reference_alerts(records: Records) -> list[dict[str, Any]]:
    """The alerts of the rule stages run offline as the service runs them: per partition, in
    offset order, one operator set and one watermark tracker each."""
    out: list[dict[str, Any]] = []
    for columns, ts, wms in partition_batches(records):
        for stage in stages():
            op = stage.factory()
            assert stage.prepare is not None and stage.rows is not None
            cols, keep = stage.prepare(columns)
            if keep is not None:
                ts, wms = ts[keep], wms[keep]
            for row in stage.rows(op.process(cols, ts, wms, 0)).get("matches", []):
                out.append(alert(stage.name, row))
    return out


def reference(records: Records) -> Counter[AlertId]:
    """:func:`reference_alerts` counted by :func:`alert_id` (serialised as the service does)."""
    return Counter(alert_id(orjson.dumps(a, option=orjson.OPT_SERIALIZE_NUMPY))
                   for a in reference_alerts(records))
