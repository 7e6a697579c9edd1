"""The faust example service (examples/faust_service) against the embedded Tansu broker.

Each service run is a faust worker in a subprocess. The expected alerts come from the same
rules run offline per partition in offset order (the processor's design), so the service
must produce exactly them: none missing, none twice, malformed records in the dead-letter
topic with their reasons, and after a graceful restart the state restored from the
checkpoint topic so that patterns spanning the restart still match.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from faust_helpers import (
    PARTITIONS,
    ROOT,
    SERVICE,
    alert_id,
    crash_records,
    detection_records,
    reference,
    restart_records,
)
from kafka_helpers import committed_offsets, partition_ends, produce

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


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


def rule_card(alert: tuple[Any, ...]) -> tuple[str, str]:
    """(rule, card) of an :func:`~faust_helpers.alert_id`."""
    a = dict(alert)
    return a["rule"], a["card"]


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
    recs = detection_records()
    expected = reference(recs)  # also compiles the kernels before the service starts
    assert {rule_card(k) for k in expected} >= {("small_then_large", "c01"),
                                                ("small_then_large", "c02"),
                                                ("purchase_then_cancel", "c04")}
    assert ("small_then_large", "c03") not in {rule_card(k) for k in expected}
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
    alerts = read_topic(bs, f"{names}-alerts")
    got = Counter(alert_id(m.value()) for m in alerts)
    assert got == expected
    assert all(m.key() == dict(alert_id(m.value()))["card"].encode() for m in alerts)
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
    first, second = restart_records()
    expected = reference(first + second)
    spanning = {("small_then_large", "c05"), ("small_then_large", "c06"),
                ("purchase_then_cancel", "c07")}
    assert spanning <= {rule_card(k) for k in expected}
    assert not spanning & {rule_card(k) for k in reference(first)}
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
    recs = crash_records()
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
