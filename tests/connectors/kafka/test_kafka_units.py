"""Kafka connector pieces that need no broker: decoding polled messages, settings from the
environment, checkpoint chunks and the checkpoint-topic partition map."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from connectors.checkpoint import CheckpointTopic, decode_chunk, encode_chunks
from connectors.errors import CheckpointError
from connectors.files import decode_json_records
from connectors.kafka_source import client_settings, decode_messages
from connectors.schema import Schema
from windows.snapshot import decode_snapshot

SCHEMA = Schema.from_dict({"columns": {"key": "int64", "ts": "timestamp", "value": "float64"},
                           "event_time": "ts"})


@dataclass
class FakeMessage:
    t: str
    p: int
    o: int
    v: bytes | None
    k: bytes | None = None
    ts: int = 5

    def topic(self) -> str:
        return self.t

    def partition(self) -> int:
        return self.p

    def offset(self) -> int:
        return self.o

    def value(self) -> bytes | None:
        return self.v

    def key(self) -> bytes | None:
        return self.k

    def timestamp(self) -> tuple[int, int]:
        return (1, self.ts)


def test_decode_messages_splits_partitions_and_dead_letters() -> None:
    msgs = [FakeMessage("a", 0, 10, b'{"key": 1, "ts": 100, "value": 1.5}'),
            FakeMessage("a", 1, 3, b'{"key": 2, "ts": 200, "value": 2.5}'),
            FakeMessage("a", 0, 11, b'{"key": "x", "ts": 300, "value": 1}', b"k"),
            FakeMessage("a", 0, 12, b'{"key": 3, "ts": 400, "value": 3}'),
            FakeMessage("b", 0, 7, b"not json")]
    out = decode_messages(msgs, SCHEMA)
    assert sorted(out) == [("a", 0), ("a", 1), ("b", 0)]
    a0 = out[("a", 0)]
    assert a0.offsets.tolist() == [10, 12]
    assert a0.columns["key"].tolist() == [1, 3]
    assert a0.timestamps.tolist() == [100, 400]
    assert a0.next_offset == 13
    [dead] = a0.dead
    assert (dead.offset, dead.key, dead.value) == (11, b"k", msgs[2].v)
    # the same reason as the JSON-lines reader gives
    ref = decode_json_records([msgs[2].v], SCHEMA).dead_letters[0].reason
    assert dead.reason == ref and "key" in ref
    b0 = out[("b", 0)]
    assert b0.num_rows == 0 and b0.next_offset == 8 and "invalid JSON" in b0.dead[0].reason


def test_record_timestamp_is_event_time_without_event_time_field() -> None:
    schema = Schema.from_dict({"columns": {"key": "int64"}})
    out = decode_messages([FakeMessage("a", 0, 0, b'{"key": 1}', ts=1234),
                           FakeMessage("a", 0, 1, None, ts=99)], schema)
    b = out[("a", 0)]
    assert b.timestamps.tolist() == [1234]
    [dead] = b.dead
    assert (dead.offset, dead.value, dead.timestamp) == (1, None, 99)
    assert dead.reason == "empty message value"
    out = decode_messages([FakeMessage("a", 1, 5, b" null ")], schema)
    assert out[("a", 1)].dead[0].reason == "not a JSON object but null"


def test_client_settings_merge_environment_and_job_file() -> None:
    env = {"CEPKIT_KAFKA_SASL_PASSWORD": "secret", "CEPKIT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
           "OTHER": "x"}
    got = client_settings({"sasl.username": "u", "security.protocol": "SSL",
                           "enable.ssl.certificate.verification": True}, env)
    assert got == {"sasl.password": "secret", "security.protocol": "SSL", "sasl.username": "u",
                   "enable.ssl.certificate.verification": "true"}


def test_checkpoint_chunks_round_trip_and_detect_damage() -> None:
    state = {"offset": 5, "arr": np.arange(300_000, dtype=np.int64), "blob": b"\x00\x01"}
    chunks = encode_chunks(state, chunk_size=1_000_000)
    assert len(chunks) == 3
    parts = [decode_chunk(c) for c in chunks]
    assert len({cid for cid, _, _, _ in parts}) == 1
    assert [(i, n) for _, i, n, _ in parts] == [(0, 3), (1, 3), (2, 3)]
    back = decode_snapshot(b"".join(d for _, _, _, d in parts))
    assert np.array_equal(back["arr"], state["arr"]) and back["blob"] == b"\x00\x01"
    with pytest.raises(CheckpointError):
        decode_chunk(b"garbage" * 10)
    with pytest.raises(Exception, match="checksum"):
        decode_snapshot(b"".join(d for _, _, _, d in parts[:2]) + b"x" * len(parts[2][3]))


def test_checkpoint_topic_maps_input_partitions() -> None:
    ct = CheckpointTopic("j.checkpoints", {"b": 2, "a": 3})
    assert ct.size == 5
    assert [ct.index("a", p) for p in range(3)] + [ct.index("b", p) for p in range(2)] == \
        [0, 1, 2, 3, 4]
    with pytest.raises(CheckpointError):
        ct.index("a", 3)
    with pytest.raises(CheckpointError):
        ct.index("c", 0)


def test_fence_yields_only_partitions_another_writer_moved_forward() -> None:
    import time

    from connectors._fence import PartitionFence

    ckpt = CheckpointTopic("job.checkpoints", {"in": 3})
    fence = PartitionFence(ckpt, reclaim_after=0.2)
    for p, pointer in ((0, 10), (1, -1), (2, 30)):
        fence.remember(("in", p), pointer)
    group = {("job.checkpoints", 0): 12, ("job.checkpoints", 1): -1,
             ("job.checkpoints", 2): 28}  # 0: another writer; 2: the broker lost our last commit
    reads: list[list[tuple[str, int]]] = []

    def committed(tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        reads.append(tps)
        return {tp: group[tp] for tp in tps}

    tps = [("in", 0), ("in", 1), ("in", 2)]
    assert fence.moved(committed, tps) == [("in", 0)]
    assert reads == [[("job.checkpoints", 0), ("job.checkpoints", 1), ("job.checkpoints", 2)]]
    fence.yield_([("in", 0)])
    assert fence.due({("in", 0), ("in", 1)}) == []  # no rebalance yet, not timed out
    fence.rebalanced = True
    assert fence.due({("in", 0)}) == [("in", 0)] and not fence.yielded
    fence.yield_([("in", 1), ("in", 2)])
    assert fence.due({("in", 1)}) == []  # ("in", 2) is no longer assigned: forgotten
    assert list(fence.yielded) == [("in", 1)]
    time.sleep(0.25)
    assert fence.due({("in", 1)}) == [("in", 1)]
    fence.remember(("in", 1), 5)
    fence.forget([("in", 1)])
    assert ("in", 1) not in fence.pointers and fence.rebalanced


def test_wait_readable_polls_until_the_committed_offsets_arrive() -> None:
    from connectors._confirm import wait_readable
    from connectors.errors import KafkaJobError

    reads = []
    group = {("ck", 0): 5, ("in", 0): 100}

    def committed(tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        reads.append(list(tps))
        if len(reads) == 3:  # the pending transaction's offsets are applied
            group.update({("ck", 0): 7, ("in", 0): 120})
        return {tp: group[tp] for tp in tps}

    assert wait_readable(committed, {("ck", 0): 5, ("in", 0): 90}) == 0.0  # at once
    assert len(reads) == 1
    assert wait_readable(committed, {("ck", 0): 7, ("in", 0): 120}) > 0.0
    assert len(reads) == 3
    assert wait_readable(committed, {}) == 0.0 and len(reads) == 3
    with pytest.raises(KafkaJobError, match="not readable"):
        wait_readable(committed, {("ck", 0): 9}, timeout=0.05)
