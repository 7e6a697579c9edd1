"""The faust example service (examples/faust_service) against the embedded Tansu broker.

Each service run is a faust worker in a subprocess. The expected alerts come from the same
rules run offline per partition in offset order (the processor's design), so the service
must produce exactly them: none missing, none twice, malformed records in the dead-letter
topic with their reasons, and after a graceful restart the state restored from the
checkpoint topic so that patterns spanning the restart still match.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

ROOT = Path(__file__).resolve().parents[3]
SERVICE = ROOT / "examples" / "faust_service" / "service.py"
sys.path.insert(0, str(SERVICE.parent))

from fraud_rules import SCHEMA, WATERMARKS, stages  # noqa: E402
from kafka_helpers import committed_offsets, partition_ends, produce  # noqa: E402

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

PARTITIONS = 2
T0 = 1_700_000_000_000
Records = list[tuple[int, bytes, Any]]


def tx(card: int, ts: int, amount: float, kind: str = "purchase") -> tuple[int, bytes, bytes]:
    return (card % PARTITIONS, f"c{card:02d}".encode(),
            orjson.dumps({"card": f"c{card:02d}", "ts": ts, "amount": amount, "kind": kind}))


def traffic(seed: int, start: int, n: int, cards: int = 12) -> Records:
    """``n`` ordinary purchases (5..300), one per second, up to 3 s out of order."""
    rng = np.random.default_rng(seed)
    return [tx(int(rng.integers(cards)), start + i * 1000 - int(rng.integers(0, 3000)),
               float(np.round(5 + rng.random() * 295, 2))) for i in range(n)]


def reference(records: Records) -> Counter[tuple[Any, ...]]:
    """Alerts of the rules run offline: per partition, in offset order, one operator set and
    one watermark tracker each; malformed records excluded by the same decoder."""
    from connectors.files import decode_json_records

    out: Counter[tuple[Any, ...]] = Counter()
    for p in range(PARTITIONS):
        values = [v for part, _, v in records if part == p and v]
        b = decode_json_records(values, SCHEMA)
        for stage in stages():
            op = stage.factory()
            ts = b.columns["ts"]
            wms = WATERMARKS.create_tracker([0]).advance(ts, processing_time=0)
            for m in op.process(b.columns, ts, wms, 0).matches:
                out[(stage.name, m.key, tuple((s, tuple(e["ts"] for e in ev))
                                              for s, ev in m.events.items()))] += 1
    return out


def alert_id(value: bytes) -> tuple[Any, ...]:
    a = json.loads(value)
    return (a["rule"], a["card"], tuple((s, tuple(e["ts"] for e in ev))
                                        for s, ev in a["events"].items()))


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of ``topic`` (read to the end of each partition)."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}.reader",
                  "enable.partition.eof": True, "enable.auto.commit": False,
                  "fetch.queue.backoff.ms": 10, "log_level": 0})
    try:
        md = c.list_topics(topic, timeout=15).topics[topic]
        n = len(md.partitions)
        c.assign([TopicPartition(topic, p, 0) for p in range(n)])
        out, eof = [], set()
        deadline = time.monotonic() + 30
        while len(eof) < n and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error() is not None:
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                continue
            out.append(m)
        assert len(eof) == n, f"could not read {topic} to its end"
        return out
    finally:
        c.close()


class Service:
    """One worker of the example service in a subprocess (log in a file)."""

    def __init__(self, bootstrap: str, prefix: str, log: Path) -> None:
        self.log = log
        env = {**os.environ, "CEPKIT_BROKER": bootstrap, "FRAUD_APP_ID": f"{prefix}-fraud",
               "FRAUD_INPUT": f"{prefix}-tx", "FRAUD_ALERTS": f"{prefix}-alerts",
               "FRAUD_PARTITIONS": str(PARTITIONS), "FRAUD_COMMIT_SECONDS": "0.5",
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self._fh = log.open("ab")
        self.proc = subprocess.Popen([sys.executable, str(SERVICE), "worker", "-l", "info"],
                                     stdout=self._fh, stderr=subprocess.STDOUT, env=env,
                                     cwd=str(log.parent))

    def wait_committed(self, bootstrap: str, group: str, topic: str, ends: list[int],
                       timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"service exited:\n{self.tail()}"
            if committed_offsets(bootstrap, group, topic, len(ends)) == ends:
                return
            time.sleep(0.5)
        raise AssertionError(f"offsets {ends} not committed in {timeout} s:\n{self.tail()}")

    def stop(self, timeout: float = 40) -> int:
        """Graceful stop (SIGTERM); returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            self._fh.close()

    def tail(self, n: int = 40) -> str:
        self._fh.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


def test_service_detects_alerts_and_dead_letters(broker: Any, names: str,
                                                 tmp_path: Path) -> None:
    bs = broker.bootstrap
    recs: Records = traffic(1, T0, 300)
    # planted: small then large (c01, c02; c03's large is too late), purchase then cancel (c04)
    recs += [tx(1, T0 + 301_000, 0.5), tx(2, T0 + 302_000, 0.25), tx(3, T0 + 303_000, 0.1),
             tx(4, T0 + 304_000, 42.0)]
    recs += [(1, b"c01", b"not json"), (0, b"c02", b""), (1, b"c03", b"[1, 2]"),
             (0, b"c04", b'{"card": "c04", "ts": "yesterday", "amount": 1, "kind": "x"}')]
    recs += [tx(1, T0 + 360_000, 900.0), tx(2, T0 + 400_000, 501.0),
             tx(3, T0 + 303_000 + 700_000, 800.0), tx(4, T0 + 1_000_000, 0.0, "cancel")]
    recs += traffic(2, T0 + 1_100_000, 100)  # moves the watermarks past everything
    expected = reference(recs)  # also compiles the kernels before the service starts
    assert {k[:2] for k in expected} >= {("small-then-large", "c01"),
                                         ("small-then-large", "c02"),
                                         ("purchase-then-cancel", "c04")}
    assert ("small-then-large", "c03") not in {k[:2] for k in expected}
    from connectors.broker import create_topics

    create_topics(bs, {f"{names}-tx": PARTITIONS})
    produce(bs, f"{names}-tx", recs)
    svc = Service(bs, names, tmp_path / "service.log")
    try:
        svc.wait_committed(bs, f"{names}-fraud", f"{names}-tx",
                           partition_ends(recs, PARTITIONS), 50)
    finally:
        rc = svc.stop()
    assert rc == 0, svc.tail()
    got = Counter(alert_id(m.value()) for m in read_topic(bs, f"{names}-alerts"))
    assert got == expected
    dead = read_topic(bs, f"{names}-tx.dead-letters")
    assert sorted(m.value() or b"" for m in dead) == sorted(
        [b"not json", b"", b"[1, 2]",
         b'{"card": "c04", "ts": "yesterday", "amount": 1, "kind": "x"}'])
    for m in dead:
        h = dict(m.headers())
        assert h["cep.reason"] and h["cep.source.topic"] == f"{names}-tx".encode()
    reasons = {m.value() or b"": dict(m.headers())["cep.reason"].decode() for m in dead}
    assert "JSON" in reasons[b"not json"] and "empty" in reasons[b""]
    assert "ts" in reasons[b'{"card": "c04", "ts": "yesterday", "amount": 1, "kind": "x"}']


def test_graceful_restart_recovers_state(broker: Any, names: str, tmp_path: Path) -> None:
    bs = broker.bootstrap
    topic, group = f"{names}-tx", f"{names}-fraud"
    first: Records = traffic(3, T0, 200)
    # first halves of patterns that complete after the restart
    first += [tx(5, T0 + 201_000, 0.5), tx(6, T0 + 202_000, 0.75), tx(7, T0 + 203_000, 99.0)]
    first += traffic(4, T0 + 204_000, 20, cards=4)  # cards 0-3 only: c05-c07 stay open
    second: Records = [tx(5, T0 + 300_000, 700.0), tx(6, T0 + 350_000, 650.0),
                       tx(7, T0 + 400_000, 0.0, "cancel")]
    second += traffic(5, T0 + 1_500_000, 60)
    expected = reference(first + second)
    spanning = {("small-then-large", "c05"), ("small-then-large", "c06"),
                ("purchase-then-cancel", "c07")}
    assert spanning <= {k[:2] for k in expected}
    assert not spanning & {k[:2] for k in reference(first)}
    from connectors.broker import create_topics

    create_topics(bs, {topic: PARTITIONS})
    log = tmp_path / "service.log"
    produce(bs, topic, first)
    svc = Service(bs, names, log)
    try:
        svc.wait_committed(bs, group, topic, partition_ends(first, PARTITIONS), 50)
    finally:
        rc = svc.stop()
    assert rc == 0, svc.tail()
    # the state is in the checkpoint topic, named by the pointer group
    pointers = committed_offsets(bs, f"{group}.fraud.pointers", f"{group}.fraud.checkpoints",
                                 PARTITIONS)
    assert all(p > 0 for p in pointers), pointers
    before = Counter(alert_id(m.value()) for m in read_topic(bs, f"{names}-alerts"))
    assert before == reference(first)

    produce(bs, topic, second)
    svc = Service(bs, names, log)
    try:
        svc.wait_committed(bs, group, topic, partition_ends(first + second, PARTITIONS), 50)
    finally:
        rc = svc.stop()
    assert rc == 0, svc.tail()
    got = Counter(alert_id(m.value()) for m in read_topic(bs, f"{names}-alerts"))
    assert got == expected  # spanning matches found, nothing from before repeated
    text = log.read_text(errors="replace")
    assert text.count("restored state at offset") == PARTITIONS


def test_crash_restores_exact_state(broker: Any, names: str, tmp_path: Path) -> None:
    """kill -9 in the middle of the input: the restarted worker restores the last snapshot and
    skips the replayed records it covers, so every alert is found and none is spurious
    (outputs after the snapshot may repeat: at-least-once)."""
    from kafka_helpers import produce_in_background

    bs = broker.bootstrap
    topic, group = f"{names}-tx", f"{names}-fraud"
    recs: Records = []
    for i in range(8):  # a planted pair every 100 s of event time, across the whole input
        base = T0 + i * 100_000
        recs += traffic(10 + i, base, 90)
        recs += [tx(i, base + 91_000, 0.5), tx(8 + i % 4, base + 92_000, 12.0)]
        recs += traffic(20 + i, base + 93_000, 5)
        recs += [tx(i, base + 98_000, 750.0), tx(8 + i % 4, base + 99_000, 0.0, "cancel")]
    recs += traffic(99, T0 + 5_000_000, 40)
    expected = reference(recs)
    assert len(expected) >= 16
    from connectors.broker import create_topics

    create_topics(bs, {topic: PARTITIONS})
    log = tmp_path / "service.log"
    feeder = produce_in_background(bs, topic, recs, 12.0)
    svc = Service(bs, names, log)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            assert svc.proc.poll() is None, svc.tail()
            done = committed_offsets(bs, group, topic, PARTITIONS)
            if all(o > 50 for o in done):
                break
            time.sleep(0.3)
        else:
            raise AssertionError(f"no progress before the crash:\n{svc.tail()}")
    finally:
        svc.proc.kill()
        svc.proc.wait(10)
        svc._fh.close()
    feeder.join(60)
    svc = Service(bs, names, log)
    try:
        svc.wait_committed(bs, group, topic, partition_ends(recs, PARTITIONS), 55)
    finally:
        rc = svc.stop()
    assert rc == 0, svc.tail()
    got = Counter(alert_id(m.value()) for m in read_topic(bs, f"{names}-alerts"))
    assert set(got) == set(expected)  # nothing missing, nothing spurious
    assert log.read_text(errors="replace").count("restored state at offset") >= 1
