"""The Kafka job against the embedded broker: output equal to the offline reference, dead
letters with reasons and source positions, at-least-once mode, and recovery that picks the
committed snapshot when a newer snapshot of an aborted transaction is visible."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from kafka_helpers import make_config, make_input, produce, reference
from kafka_oracle import count_open_transactions, read_committed

from connectors.broker import EmbeddedBroker, create_topics
from connectors.checkpoint import CheckpointReader, CheckpointTopic, encode_chunks
from connectors.files import read_json_lines
from connectors.kafka_sink import DEAD_LETTER_HEADERS
from connectors.runtime import KafkaJob
from connectors.schema import Schema

pytestmark = pytest.mark.kafka
P = 4


def _topics(broker: EmbeddedBroker, prefix: str) -> None:
    create_topics(broker.bootstrap, {f"{prefix}.in": P, f"{prefix}.out": P,
                                     f"{prefix}.late": P})


def _run(broker: EmbeddedBroker, prefix: str, **kw: object) -> KafkaJob:
    cfg = make_config(broker.bootstrap, f"{prefix}.job", f"{prefix}.in", f"{prefix}.out",
                      f"{prefix}.late", stop_at_eof=True, **kw)
    job = KafkaJob(cfg)
    job.run(max_seconds=120)
    return job


def _view(broker: EmbeddedBroker, prefix: str) -> tuple[Counter[bytes], Counter[bytes]]:
    return (Counter(r.value for r in read_committed(broker.bootstrap, f"{prefix}.out", P)),
            Counter(r.value for r in read_committed(broker.bootstrap, f"{prefix}.late", P)))


@pytest.mark.parametrize("guarantee", ["exactly-once", "at-least-once"])
def test_job_output_equals_reference(broker: EmbeddedBroker, guarantee: str) -> None:
    prefix = f"ref-{guarantee}"
    _topics(broker, prefix)
    records = make_input(20_000, P, seed=3)
    produce(broker.bootstrap, f"{prefix}.in", records)
    job = _run(broker, prefix, guarantee=guarantee, checkpoint_records=3000)
    res, late = _view(broker, prefix)
    assert (res, late) == reference(records, P)
    assert sum(late.values()) > 0  # the input has late records, and they are an output
    summary = job.stats.summary()
    assert summary["records"] == 20_000 and summary["checkpoints"] >= 2
    assert 0.0 <= summary["blocked_share"] <= 1.0
    out = read_committed(broker.bootstrap, f"{prefix}.out", P)
    keyed = [(r.partition, r.key) for r in out]
    by_key: dict[bytes | None, set[int]] = {}
    for p, k in keyed:
        by_key.setdefault(k, set()).add(p)
    assert all(len(ps) == 1 for ps in by_key.values())  # output keyed by the window key
    if guarantee == "exactly-once":
        assert count_open_transactions(broker.bootstrap, f"{prefix}.out", P) == 0


def _malformed(rng: np.random.Generator, i: int) -> bytes:
    kind = i % 6
    if kind == 0:
        return b'{"key": 1, "ts": '
    if kind == 1:
        return b"[1, 2, 3]"
    if kind == 2:
        return orjson.dumps({"key": f"k{i}", "ts": 1_700_000_000_000, "value": 1.0})
    if kind == 3:
        return orjson.dumps({"key": i, "value": 2.0})
    if kind == 4:
        return orjson.dumps({"key": i, "ts": "yesterday", "value": 2.0})
    return orjson.dumps({"key": i, "ts": 1_700_000_000_000, "value": "many"})


def test_ten_thousand_malformed_records_go_to_dead_letters(broker: EmbeddedBroker,
                                                         tmp_path: Path) -> None:
    prefix = "malformed"
    _topics(broker, prefix)
    rng = np.random.default_rng(5)
    good = make_input(20_000, P, seed=5)
    bad = [(int(rng.integers(0, P)), None, _malformed(rng, i)) for i in range(10_000)]
    mixed: list = good + bad
    order = rng.permutation(len(mixed))
    # keep the valid records' order within each partition (the reference needs it)
    good_pos = np.sort(order[:len(good)])
    bad_pos = np.sort(order[len(good):])
    slots: list = [None] * len(mixed)
    for pos, rec in zip(good_pos.tolist(), good, strict=True):
        slots[pos] = rec
    for pos, rec in zip(bad_pos.tolist(), bad, strict=True):
        slots[pos] = rec
    produce(broker.bootstrap, f"{prefix}.in", slots)
    offsets: dict[tuple[int, int], bytes] = {}
    counts = [0] * P
    for part, _, value in slots:
        offsets[(part, counts[part])] = value
        counts[part] += 1
    job = _run(broker, prefix, checkpoint_records=5000)
    assert job.stats.dead_letters == 10_000
    dead = read_committed(broker.bootstrap, f"{prefix}.job.dead-letters", P)
    assert len(dead) == 10_000
    # the reason a JSON-lines file gives for the same text
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(v for _, _, v in bad) + b"\n")
    schema = Schema.from_dict({"columns": {"key": "int64", "ts": "timestamp",
                                           "value": "float64"}, "event_time": "ts"})
    file_reason = {}
    for b in read_json_lines(path, schema):
        for d in b.dead_letters:
            file_reason[bad[d.position - 1][2]] = d.reason
    seen = set()
    for r in dead:
        h = {k: v.decode() for k, v in r.headers}
        assert set(DEAD_LETTER_HEADERS) <= set(h)
        assert h["cep.source.topic"] == f"{prefix}.in"
        src = (int(h["cep.source.partition"]), int(h["cep.source.offset"]))
        assert offsets[src] == r.value
        assert h["cep.reason"] == file_reason[r.value]
        seen.add(src)
    assert len(seen) == 10_000
    assert _view(broker, prefix) == reference(good, P)


def test_recovery_picks_committed_snapshot_over_newer_aborted_one(
        broker: EmbeddedBroker) -> None:
    prefix = "recover"
    _topics(broker, prefix)
    records = make_input(12_000, P, seed=9)
    first, second = records[:6000], records[6000:]
    produce(broker.bootstrap, f"{prefix}.in", first)
    _run(broker, prefix, checkpoint_records=2000)
    group = f"{prefix}.job"
    ckpt = CheckpointTopic(f"{group}.checkpoints", {f"{prefix}.in": P})
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        committed = c.committed([TopicPartition(ckpt.name, i) for i in range(P)], 30)
        pointers = [tp.offset for tp in committed]
        inputs = [tp.offset for tp in c.committed(
            [TopicPartition(f"{prefix}.in", i) for i in range(P)], 30)]
    finally:
        c.close()
    assert all(p > 0 for p in pointers)
    # a newer snapshot in an aborted transaction, on every checkpoint partition: it claims
    # the partition is 1000 records further on
    reader = CheckpointReader({"bootstrap.servers": broker.bootstrap}, ckpt)
    try:
        good = [reader.read(f"{prefix}.in", p, pointers[p]) for p in range(P)]
        rogue = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "rogue"})
        rogue.init_transactions(30)
        rogue.begin_transaction()
        for p in range(P):
            state = dict(good[p].state, offset=good[p].offset + 1000)
            for chunk in encode_chunks(state):
                rogue.produce(ckpt.name, chunk, f"{prefix}.in/{p}".encode(), partition=p)
        rogue.flush(30)
        rogue.abort_transaction(30)
        # the broker shows the aborted records to this read_committed reader: the newest
        # record on each checkpoint partition is the aborted snapshot
        newest = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "peek",
                           "isolation.level": "read_committed",
                           "enable.partition.eof": True})
        try:
            newest.assign([TopicPartition(ckpt.name, 0, pointers[0])])
            seen = [m for m in newest.consume(100, 5) if m.error() is None]
        finally:
            newest.close()
        assert seen, "expected the test broker to show the aborted snapshot"
        again = [reader.read(f"{prefix}.in", p, pointers[p]) for p in range(P)]
    finally:
        reader.close()
    assert [cp.offset for cp in again] == inputs == [cp.offset for cp in good]
    # a new worker restores the committed state and continues: output as one run
    produce(broker.bootstrap, f"{prefix}.in", second)
    job = _run(broker, prefix, checkpoint_records=2000)
    assert job.stats.restored == P
    assert _view(broker, prefix) == reference(records, P)
