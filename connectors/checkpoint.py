"""Checkpoint records on the job's checkpoint topic: per-partition state, chunked, and found
again through the group's committed offsets (the exactly-once protocol of ``docs/kafka.md``).

A partition's state is one :func:`windows.snapshot.encode_snapshot` blob (versioned,
checksummed MessagePack; never pickle). It is written as ``n`` consecutive chunk records to
the checkpoint-topic partition that belongs to the input partition; each chunk value is::

    b"CEPKCKPT" | u16 format version | 16-byte checkpoint id | u32 chunk index | u32 count | data

and its key is ``"<topic>/<partition>"``. The transaction that writes the chunks also commits,
for the job's consumer group, the offset just past the last chunk on that checkpoint-topic
partition. Recovery reads that committed offset ``c``, reads the chunk at ``c - 1``, and
collects the chunks with the same checkpoint id before it. Chunks of aborted transactions
(which the test broker does not hide) have other ids and are never chosen.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from connectors.errors import CheckpointError
from windows.errors import SnapshotError
from windows.snapshot import decode_snapshot, encode_snapshot

__all__ = ["CHUNK_SIZE", "CheckpointReader", "CheckpointTopic", "PartitionCheckpoint",
           "decode_chunk", "encode_chunks"]

MAGIC = b"CEPKCKPT"
VERSION = 1
_HEAD = struct.Struct(">H16sII")
#: Bytes of snapshot data per checkpoint record (below Kafka's 1 MB default message limit).
CHUNK_SIZE = 900_000


@dataclass(frozen=True)
class PartitionCheckpoint:
    """The committed state of one input partition.

    Attributes
    ----------
    topic, partition : str, int
        The input partition.
    offset : int
        Next input offset to read (everything before it is reflected in the state).
    state : dict
        The decoded state tree (see :mod:`connectors.runtime`).
    """

    topic: str
    partition: int
    offset: int
    state: dict[str, Any]


def encode_chunks(state: dict[str, Any], chunk_size: int = CHUNK_SIZE) -> list[bytes]:
    """Encode a state tree (plain data, NumPy arrays, bytes) into checkpoint record values.

    Returns
    -------
    list of bytes
        At least one chunk; all share a fresh random checkpoint id.
    """
    blob = encode_snapshot(state)
    cid = uuid.uuid4().bytes
    parts = [blob[i:i + chunk_size] for i in range(0, len(blob), chunk_size)] or [b""]
    n = len(parts)
    return [MAGIC + _HEAD.pack(VERSION, cid, i, n) + part for i, part in enumerate(parts)]


def decode_chunk(value: bytes) -> tuple[bytes, int, int, bytes]:
    """``(checkpoint id, index, count, data)`` of one checkpoint record value.

    Raises
    ------
    CheckpointError
        If the value is not a checkpoint record of a supported version.
    """
    if not value.startswith(MAGIC) or len(value) < len(MAGIC) + _HEAD.size:
        raise CheckpointError("not a cepkit checkpoint record")
    version, cid, idx, n = _HEAD.unpack_from(value, len(MAGIC))
    if version != VERSION:
        raise CheckpointError(f"checkpoint record version {version} is not supported")
    if not 0 <= idx < n:
        raise CheckpointError(f"bad chunk index {idx} of {n}")
    return cid, idx, n, value[len(MAGIC) + _HEAD.size:]


@dataclass(frozen=True)
class CheckpointTopic:
    """Maps input partitions to partitions of the checkpoint topic.

    Input topics are taken in sorted order; topic ``t`` partition ``p`` maps to checkpoint
    partition ``base[t] + p``, so the checkpoint topic needs ``sum(partitions)`` partitions.
    """

    name: str
    partitions: Mapping[str, int]

    @property
    def size(self) -> int:
        """Partitions the checkpoint topic must have."""
        return sum(self.partitions.values())

    def index(self, topic: str, partition: int) -> int:
        """Checkpoint partition of input ``topic``/``partition``.

        Raises
        ------
        CheckpointError
            If the partition lies outside the topic sizes known when the job started.
        """
        base = 0
        for t in sorted(self.partitions):
            if t == topic:
                if not 0 <= partition < self.partitions[t]:
                    raise CheckpointError(
                        f"{topic}/{partition}: the topic has grown since the job started; "
                        "restart the job (and give the checkpoint topic more partitions)")
                return base + partition
            base += self.partitions[t]
        raise CheckpointError(f"{topic!r} is not an input topic of this job")


class CheckpointReader:
    """Reads committed checkpoints back (read_uncommitted: the exact offset is known, and an
    open transaction of a dead worker must not block the read).

    Parameters
    ----------
    settings : mapping
        librdkafka settings (``bootstrap.servers`` and security); a private consumer with no
        group membership is made from them.
    topic : CheckpointTopic
    """

    def __init__(self, settings: Mapping[str, Any], topic: CheckpointTopic) -> None:
        conf = {k: v for k, v in settings.items()
                if k not in ("group.id", "partition.assignment.strategy", "group.protocol",
                             "isolation.level", "enable.partition.eof")}
        conf.update({"group.id": f"{topic.name}.reader", "enable.auto.commit": False,
                     "isolation.level": "read_uncommitted", "enable.partition.eof": True})
        self.consumer = Consumer(conf)
        self.topic = topic

    def _read_range(self, part: int, start: int, end: int) -> list[Any]:
        """Messages of checkpoint partition ``part`` with offsets in ``[start, end)``."""
        self.consumer.assign([TopicPartition(self.topic.name, part, start)])
        out: list[Any] = []
        try:
            idle = 0
            while True:
                # ask for no more than is missing: consume() waits out its timeout until it
                # has that many messages, and recovery runs inside the rebalance callback
                want = max(1, min(1000, end - start - len(out)))
                msgs = self.consumer.consume(want, 1.0)
                if not msgs:
                    idle += 1
                    if idle > 30:
                        raise CheckpointError(
                            f"checkpoint partition {part}: offsets {start}..{end} not readable")
                    continue
                for m in msgs:
                    err = m.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            return out
                        continue
                    off = int(m.offset() or 0)
                    if off >= end:
                        return out
                    out.append(m)
                    if off >= end - 1:
                        return out
        finally:
            self.consumer.unassign()

    def read(self, topic: str, partition: int, pointer: int) -> PartitionCheckpoint:
        """The checkpoint of input ``topic``/``partition`` whose last chunk is at
        ``pointer - 1`` on its checkpoint partition.

        Raises
        ------
        CheckpointError
            If the records there are missing, corrupt, or belong to another partition.
        """
        part = self.topic.index(topic, partition)
        key = f"{topic}/{partition}".encode()
        last = self._read_range(part, pointer - 1, pointer)
        if not last or last[-1].offset() != pointer - 1 or last[-1].key() != key:
            raise CheckpointError(
                f"{topic}/{partition}: no checkpoint record at offset {pointer - 1} of "
                f"{self.topic.name}/{part}")
        cid, idx, n, data = decode_chunk(last[-1].value())
        chunks = {idx: data}
        back = n
        while len(chunks) < n:
            lo = max(0, pointer - 1 - back)
            for m in self._read_range(part, lo, pointer - 1):
                if m.key() != key:
                    continue
                try:
                    c2, i2, n2, d2 = decode_chunk(m.value())
                except CheckpointError:
                    continue
                if c2 == cid and n2 == n:
                    chunks[i2] = d2
            if lo == 0:
                break
            back *= 2
        if len(chunks) < n:
            raise CheckpointError(f"{topic}/{partition}: {n - len(chunks)} chunks missing")
        try:
            state = decode_snapshot(b"".join(chunks[i] for i in range(n)))
        except SnapshotError as exc:
            raise CheckpointError(f"{topic}/{partition}: {exc}") from exc
        if state.get("topic") != topic or state.get("partition") != partition:
            raise CheckpointError(f"{topic}/{partition}: the checkpoint belongs to "
                                  f"{state.get('topic')}/{state.get('partition')}")
        return PartitionCheckpoint(topic, partition, int(state["offset"]), state)

    def close(self) -> None:
        """Close the private consumer."""
        self.consumer.close()

