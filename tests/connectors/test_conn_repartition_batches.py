"""Batch messages of the internal topic without a broker: what ``forward`` produces (one
message per internal partition and chunk, limits respected) decodes with
``decode_internal`` back to the same records, positions and event times, in input order per
partition; malformed batch headers become dead letters. The round trip through a real broker
is tested in tests/connectors/kafka/test_kafka_repartition.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pytest

from connectors.repartition import (
    HDR_ROWS,
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    RepartitionGroup,
    decode_internal,
    forward,
    key_text,
    partition_of,
    source_header,
)
from connectors.schema import Schema

SCHEMA = Schema.from_dict({"columns": {"card": "string", "amount": "float64", "ts": "int64"},
                           "event_time": "ts", "key": "card"})


@dataclass
class Msg:
    """The parts of confluent_kafka.Message that decode_internal reads."""

    _topic: str
    _partition: int
    _offset: int
    _value: bytes | None
    _headers: list[tuple[str, bytes]]
    _ts: int
    _key: bytes | None = None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def headers(self) -> list[tuple[str, bytes]]:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return (1, self._ts)


@dataclass
class RecordingSink:
    """Stands in for the transactional producer: keeps what was produced, per partition."""

    logs: dict[int, list[Msg]] = field(default_factory=dict)

    def produce(self, topic: str, value: bytes, key: Any, headers: list[tuple[str, bytes]],
                partition: int, timestamp: int | None = None) -> None:
        log = self.logs.setdefault(partition, [])
        log.append(Msg(topic, partition, len(log), value, headers, timestamp or 0, key))


def _rows(n: int, seed: int, pad: int = 60) -> tuple[list[bytes], np.ndarray, dict[str, Any]]:
    rng = np.random.default_rng(seed)
    cards = [f"c{int(x)}" for x in rng.integers(0, 50, n)]
    amount = np.round(rng.random(n) * 1000, 2)
    ts = 1_700_000_000_000 + np.cumsum(rng.integers(0, 5, n)).astype(np.int64)
    values = [orjson.dumps({"card": c, "amount": float(a), "ts": int(t), "pad": "x" * pad})
              for c, a, t in zip(cards, amount, ts, strict=True)]
    cols = {"card": np.array(cards, object), "amount": amount, "ts": ts}
    return values, ts, cols


def test_forward_batches_round_trip_per_partition() -> None:
    n, parts = 7000, 3
    values, ts, cols = _rows(n, 1)
    offsets = np.arange(100, 100 + n, dtype=np.int64)
    group = RepartitionGroup(("card",), "job.repartition.card", parts, ())
    sink = RecordingSink()
    assert forward(sink, group, 4, cols, ts, offsets, values) == n
    dest = partition_of(key_text(cols, ("card",), n), parts)
    messages = [m for log in sink.logs.values() for m in log]
    # far fewer messages than records, none over the limits
    assert len(messages) < n / 100
    for m in messages:
        meta = dict(m.headers())
        k = len(meta[HDR_ROWS]) // 24
        assert k <= MAX_BATCH_RECORDS and len(m.value() or b"") <= MAX_BATCH_BYTES
    out = decode_internal(messages, SCHEMA)
    for p in range(parts):
        b = out[("job.repartition.card", p)]
        want = np.flatnonzero(dest == p)  # input order within the partition
        assert b.kind.tolist() == [0] * len(want)
        assert b.channel.tolist() == [4] * len(want)
        assert b.position.tolist() == (2 * offsets[want] + 1).tolist()
        assert b.rows.tolist() == list(range(len(want)))
        assert b.timestamps.tolist() == ts[want].tolist()
        assert b.columns["amount"].tolist() == cols["amount"][want].tolist()
        assert list(b.columns["card"]) == [cols["card"][i] for i in want]
        assert b.dead == [] and b.next_offset == len(sink.logs[p])


def test_chunks_respect_the_byte_limit_and_a_large_record_travels_alone() -> None:
    values, ts, cols = _rows(300, 2, pad=2000)  # about 2 KB each: byte limit, not count
    big, bts, bcols = _rows(1, 3, pad=MAX_BATCH_BYTES + 10)
    values = [*values[:150], big[0], *values[150:]]
    ts = np.concatenate((ts[:150], bts, ts[150:]))
    cols = {k: np.concatenate((v[:150], bcols[k], v[150:])) for k, v in cols.items()}
    group = RepartitionGroup((), "g", 1, ())
    sink = RecordingSink()
    forward(sink, group, 0, cols, ts, np.arange(301, dtype=np.int64), values)
    sizes = [len(dict(m.headers())[HDR_ROWS]) // 24 for m in sink.logs[0]]
    assert sum(sizes) == 301 and 1 in sizes and len(sizes) >= 4
    for m, k in zip(sink.logs[0], sizes, strict=True):
        assert k == 1 or len(m.value() or b"") <= MAX_BATCH_BYTES
    b = decode_internal(sink.logs[0], SCHEMA)[("g", 0)]
    assert b.num_rows == 301 and b.position.tolist() == list(range(1, 603, 2))


@pytest.mark.parametrize("bad", [b"", b"\x01\x02", np.array([1, 2, 3], "<i8").tobytes()])
def test_a_malformed_batch_header_is_a_dead_letter(bad: bytes) -> None:
    values, ts, cols = _rows(5, 4)
    sink = RecordingSink()
    forward(sink, RepartitionGroup((), "g", 1, ()), 0, cols, ts,
            np.arange(5, dtype=np.int64), values)
    good = sink.logs[0][0]
    broken = Msg("g", 0, 1, b"{}", [source_header(0, 99), (HDR_ROWS, bad)], 7)
    b = decode_internal([good, broken], SCHEMA)[("g", 0)]
    assert b.num_rows == 5 and b.kind.tolist() == [0] * 5 + [-1]
    assert len(b.dead) == 1 and b.dead[0].offset == 1 and "cepkit.rows" in b.dead[0].reason


def test_a_bad_record_inside_a_batch_is_a_dead_letter_with_its_own_value() -> None:
    values, ts, cols = _rows(4, 5)
    values[2] = b'{"card": "c1", "amount": "lots", "ts": 5}'
    sink = RecordingSink()
    forward(sink, RepartitionGroup((), "g", 1, ()), 2, cols, ts,
            np.arange(10, 14, dtype=np.int64), values)
    b = decode_internal(sink.logs[0], SCHEMA)[("g", 0)]
    assert b.num_rows == 3 and b.kind.tolist() == [0, 0, -1, 0]
    assert b.position.tolist() == [21, 23, 25, 27]
    assert [d.value for d in b.dead] == [values[2]]


def test_single_record_messages_still_decode() -> None:
    values, ts, _ = _rows(2, 6)
    msgs = [Msg("g", 0, i, v, [source_header(1, 2 * i + 1)], int(t))
            for i, (v, t) in enumerate(zip(values, ts, strict=True))]
    b = decode_internal(msgs, SCHEMA)[("g", 0)]
    assert b.num_rows == 2 and b.position.tolist() == [1, 3]
    assert b.timestamps.tolist() == ts.tolist()
