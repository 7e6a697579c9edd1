"""Kafka source: a consumer-group member on confluent-kafka that turns polled messages into
columnar batches per partition, with dead letters for records that do not fit the schema.

Decoding goes through :func:`connectors.files.decode_json_records` (Arrow's JSON reader, with
``orjson`` for the documents it rejects) and :meth:`connectors.schema.Schema.convert`, so a
bad Kafka record gets exactly the same reason text as a bad line of a JSON-lines file. Event
time is the schema's ``event_time`` field, or the record timestamp (CreateTime or
LogAppendTime, epoch ms) when the schema has none.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from connectors.errors import KafkaJobError
from connectors.files import decode_json_records
from connectors.schema import Schema

__all__ = ["DeadRecord", "KafkaSource", "KafkaSourceConfig", "PartitionBatch",
           "client_settings", "decode_messages"]

TP = tuple[str, int]
#: Environment variables ``CEPKIT_KAFKA_<NAME>`` become librdkafka setting ``<name>`` with
#: ``_`` read as ``.`` (e.g. ``CEPKIT_KAFKA_SASL_USERNAME`` -> ``sasl.username``).
ENV_PREFIX = "CEPKIT_KAFKA_"


def client_settings(settings: Mapping[str, Any] | None = None,
                    environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """librdkafka settings from the job file merged with the environment.

    Security settings (``security.protocol``, ``sasl.mechanism``, ``sasl.username``,
    ``sasl.password``, ``ssl.ca.location``, ...) pass through unchanged. The job file's values
    win over the environment's, so a secret can stay out of the file.

    Parameters
    ----------
    settings : mapping, optional
        Settings from the job file (values are converted to ``str``).
    environ : mapping, optional
        Environment (default ``os.environ``); ``CEPKIT_KAFKA_SASL_PASSWORD=x`` gives
        ``sasl.password=x``.

    Returns
    -------
    dict of str to str
    """
    env = os.environ if environ is None else environ
    out = {k[len(ENV_PREFIX):].lower().replace("_", "."): v for k, v in env.items()
           if k.startswith(ENV_PREFIX)}
    out.update({str(k): str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in (settings or {}).items()})
    return out


@dataclass(frozen=True)
class DeadRecord:
    """A Kafka record that could not be decoded or does not fit the schema.

    Attributes
    ----------
    topic, partition, offset : str, int, int
        Where it came from.
    key, value : bytes or None
        The record as received (the value is forwarded to the dead-letter topic unchanged).
    timestamp : int
        Record timestamp, epoch ms.
    reason : str
        Why it was rejected (the same text a JSON-lines file would give).
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int
    reason: str


@dataclass(eq=False)
class PartitionBatch:
    """The decoded records of one partition from one poll.

    Attributes
    ----------
    topic, partition : str, int
    columns : dict of str to ndarray, each shape (n,)
        Good rows, schema dtypes.
    timestamps : ndarray of int64, shape (n,)
        Event time of each good row, epoch ms.
    offsets : ndarray of int64, shape (n,)
        Offset of each good row.
    dead : list of DeadRecord
        Rejected records, in offset order.
    next_offset : int
        Offset just past the last record of the batch (good or dead).
    values : list of bytes, optional
        Raw value of each good row (kept for re-partitioning, see
        :mod:`connectors.repartition`).
    """

    topic: str
    partition: int
    columns: dict[str, np.ndarray]
    timestamps: np.ndarray
    offsets: np.ndarray
    dead: list[DeadRecord]
    next_offset: int
    values: list[bytes] | None = None

    @property
    def num_rows(self) -> int:
        """Number of good rows."""
        return int(self.offsets.shape[0])


def decode_messages(messages: Sequence[Any], schema: Schema,
                    fmt: Literal["json"] = "json", keep_values: bool = False
                    ) -> dict[TP, PartitionBatch]:
    """Decode confluent-kafka messages (no error messages) into one batch per partition.

    Parameters
    ----------
    messages : sequence of confluent_kafka.Message
        Data messages in poll order (several partitions may be interleaved; each partition's
        messages are in offset order).
    schema : Schema
        Target columns; its ``event_time`` field gives event time, else the record timestamp.
    fmt : {"json"}
        Value format: one JSON object per message.
    keep_values : bool
        Keep the raw values of the good rows in :attr:`PartitionBatch.values`.

    Returns
    -------
    dict of (topic, partition) to PartitionBatch

    Notes
    -----
    An empty value (a tombstone) and a bare JSON ``null`` are dead letters with reasons
    ``"empty message value"`` and ``"not a JSON object but null"``; every other reason is the
    one :func:`connectors.files.decode_json_records` gives.
    """
    if fmt != "json":
        raise ValueError(f"unsupported value format {fmt!r}")
    m = len(messages)
    if m == 0:
        return {}
    values = [msg.value() for msg in messages]
    topics = [msg.topic() for msg in messages]
    parts = np.fromiter((msg.partition() for msg in messages), np.int64, m)
    offs = np.fromiter((msg.offset() for msg in messages), np.int64, m)
    rts = np.fromiter((msg.timestamp()[1] for msg in messages), np.int64, m)
    single_topic = topics.count(topics[0]) == m
    # empty values and a bare ``null`` are rejected here: Arrow's JSON reader takes ``null``
    # for a row of missing values, and crashes on a block of nothing but ``null`` lines
    empty = [i for i, v in enumerate(values) if not v or not v.strip() or v.strip() == b"null"]
    letters: list[tuple[int, str]] = [
        (i, "not a JSON object but null" if values[i] else "empty message value")
        for i in empty]
    if empty:
        idx = np.setdiff1d(np.arange(m, dtype=np.int64), np.asarray(empty, np.int64))
        batch = decode_json_records([values[i] for i in idx.tolist()], schema, positions=idx)
    else:
        batch = decode_json_records(values, schema, positions=np.arange(m, dtype=np.int64))
    letters.extend((d.position, d.reason) for d in batch.dead_letters)
    letters.sort()
    rows = batch.positions
    out: dict[TP, PartitionBatch] = {}
    if single_topic:
        group = parts
        names = {int(p): (topics[0], int(p)) for p in np.unique(parts).tolist()}
    else:
        keys = sorted({(t, int(p)) for t, p in zip(topics, parts.tolist(), strict=True)})
        index = {k: i for i, k in enumerate(keys)}
        group = np.fromiter((index[(t, int(p))] for t, p in
                             zip(topics, parts.tolist(), strict=True)), np.int64, m)
        names = dict(enumerate(keys))
    ts_all = (batch.columns[schema.event_time] if schema.event_time is not None
              else rts[rows])
    row_group = group[rows]
    dead_by: dict[int, list[DeadRecord]] = {}
    for i, reason in letters:
        dead_by.setdefault(int(group[i]), []).append(DeadRecord(
            topics[i], int(parts[i]), int(offs[i]), messages[i].key(), values[i], int(rts[i]),
            reason))
    for g, (topic, p) in names.items():
        sel_all = group == g
        if not sel_all.any():
            continue
        next_off = int(offs[sel_all].max()) + 1
        if len(names) == 1:
            cols, ts, goff, grows = batch.columns, ts_all, offs[rows], rows
        else:
            sel = row_group == g
            cols = {k: v[sel] for k, v in batch.columns.items()}
            ts, goff, grows = ts_all[sel], offs[rows[sel]], rows[sel]
        raw = [values[i] for i in grows.tolist()] if keep_values else None
        out[(topic, p)] = PartitionBatch(topic, p, cols, np.ascontiguousarray(ts, np.int64),
                                         goff, dead_by.get(g, []), next_off, raw)
    return out


@dataclass(frozen=True)
class KafkaSourceConfig:
    """Settings of a :class:`KafkaSource`.

    Parameters
    ----------
    bootstrap : str
        ``host:port[,host:port...]``.
    topics : sequence of str
        Input topics.
    group_id : str
        Consumer group; workers of one job share it and split the partitions.
    schema : Schema
        Columns of the JSON values.
    max_batch : int
        Most messages taken per poll.
    poll_timeout : float
        Seconds a poll waits for the first message.
    assignment : {"cooperative-sticky", "range", "roundrobin"}
        Partition assignment strategy (classic group protocol).
    settings : mapping of str to str
        Further librdkafka settings (security: SASL, TLS), see :func:`client_settings`.
    internal : frozenset of str
        Internal re-partitioning topics among ``topics``: their messages are returned as
        :class:`connectors.repartition.InternalBatch`.
    keep_values : bool
        Keep the raw values of input records (:attr:`PartitionBatch.values`).
    """

    bootstrap: str
    topics: tuple[str, ...]
    group_id: str
    schema: Schema
    max_batch: int = 10_000
    poll_timeout: float = 0.1
    assignment: str = "cooperative-sticky"
    settings: Mapping[str, str] = field(default_factory=dict)
    internal: frozenset[str] = frozenset()
    keep_values: bool = False

    def consumer_settings(self) -> dict[str, Any]:
        """The librdkafka consumer configuration."""
        return {
            "bootstrap.servers": self.bootstrap,
            "group.id": self.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "partition.assignment.strategy": self.assignment,
            "group.protocol": "classic",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            "fetch.queue.backoff.ms": 10,
            **client_settings(self.settings),
        }


class KafkaSource:
    """A consumer-group member that yields :class:`PartitionBatch` objects.

    Parameters
    ----------
    config : KafkaSourceConfig
    on_assign, on_revoke, on_lost : callable, optional
        ``f(list of (topic, partition))``. ``on_assign`` returns the offset to start each
        partition at (a dict; partitions it leaves out start at the committed offset, or the
        beginning). ``on_revoke`` runs before partitions are taken away (checkpoint there);
        ``on_lost`` when they were lost without a clean revocation.

    Notes
    -----
    The incremental (cooperative) assign/unassign calls are made here according to
    ``config.assignment``. Partition EOF events mark partitions in :attr:`at_eof` until a
    record of that partition arrives again.
    """

    def __init__(self, config: KafkaSourceConfig,
                 on_assign: Callable[[list[TP]], Mapping[TP, int]] | None = None,
                 on_revoke: Callable[[list[TP]], None] | None = None,
                 on_lost: Callable[[list[TP]], None] | None = None) -> None:
        self.config = config
        self.consumer = Consumer(config.consumer_settings())
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._on_lost = on_lost
        self.assigned: set[TP] = set()
        self.at_eof: set[TP] = set()
        self.paused: set[TP] = set()
        self._cooperative = config.assignment == "cooperative-sticky"
        self._closed = False

    def subscribe(self) -> None:
        """Join the group (partitions arrive through the callbacks during :meth:`poll`)."""
        self.consumer.subscribe(list(self.config.topics), on_assign=self._assign_cb,
                                on_revoke=self._revoke_cb, on_lost=self._lost_cb)

    # -- rebalance callbacks -------------------------------------------------------------------
    def _assign_cb(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        starts = dict(self._on_assign(tps)) if self._on_assign else {}
        for tp in partitions:
            off = starts.get((tp.topic, tp.partition))
            if off is not None:
                tp.offset = OFFSET_BEGINNING if off <= 0 else off
        if self._cooperative:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)
        self.assigned.update(tps)

    def _revoke_cb(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        if self._on_revoke:
            self._on_revoke(tps)
        self._forget(consumer, partitions, tps)

    def _lost_cb(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in partitions]
        if self._on_lost:
            self._on_lost(tps)
        self._forget(consumer, partitions, tps)

    def _forget(self, consumer: Consumer, partitions: list[TopicPartition],
                tps: list[TP]) -> None:
        if self._cooperative:
            consumer.incremental_unassign(partitions)
        else:
            consumer.unassign()
        for tp in tps:
            self.assigned.discard(tp)
            self.at_eof.discard(tp)
            self.paused.discard(tp)

    # -- consuming -----------------------------------------------------------------------------
    def poll(self, timeout: float | None = None) -> dict[TP, Any]:
        """Take up to ``max_batch`` messages and decode them per partition
        (:class:`PartitionBatch`, or :class:`~connectors.repartition.InternalBatch` for
        internal topics).

        Raises
        ------
        KafkaJobError
            On a fatal consumer error.
        """
        msgs = self.consumer.consume(self.config.max_batch,
                                     self.config.poll_timeout if timeout is None else timeout)
        data = []
        for msg in msgs:
            err = msg.error()
            if err is None:
                tp = (msg.topic(), msg.partition())
                if tp in self.assigned:
                    data.append(msg)
                    self.at_eof.discard(tp)
                continue
            if err.code() == KafkaError._PARTITION_EOF:
                tp = (msg.topic(), msg.partition())
                if tp in self.assigned:
                    self.at_eof.add(tp)
            elif err.fatal():
                raise KafkaJobError(f"fatal consumer error: {err}")
            # other errors (transport, broker down) are retried by librdkafka itself
        internal = self.config.internal
        if internal and data:
            from connectors._repartition_format import decode_internal
            mine = [m for m in data if m.topic() in internal]
            if mine:
                out: dict[TP, Any] = dict(decode_messages(
                    [m for m in data if m.topic() not in internal], self.config.schema,
                    keep_values=self.config.keep_values))
                out.update(decode_internal(mine, self.config.schema))
                return out
        return dict(decode_messages(data, self.config.schema,
                                    keep_values=self.config.keep_values))

    def seek(self, tp: TP, offset: int) -> None:
        """Continue partition ``tp`` from ``offset`` (after a rollback)."""
        self.consumer.seek(TopicPartition(tp[0], tp[1], offset))
        self.at_eof.discard(tp)

    def pause(self, tps: Iterable[TP]) -> None:
        """Stop fetching these partitions (back-pressure)."""
        tps = [tp for tp in tps if tp in self.assigned and tp not in self.paused]
        if tps:
            self.consumer.pause([TopicPartition(t, p) for t, p in tps])
            self.paused.update(tps)

    def resume(self) -> None:
        """Fetch every paused partition again."""
        if self.paused:
            self.consumer.resume([TopicPartition(t, p) for t, p in self.paused])
            self.paused.clear()

    def committed(self, tps: Sequence[TP], timeout: float = 30.0) -> dict[TP, int]:
        """The group's committed offsets of any partitions (assigned or not); -1 if none.

        Raises
        ------
        KafkaJobError
            If the group coordinator does not answer within ``timeout`` seconds.
        """
        if not tps:
            return {}
        try:
            res = self.consumer.committed([TopicPartition(t, p) for t, p in tps], timeout)
        except KafkaException as exc:
            raise KafkaJobError(f"cannot read committed offsets: {exc}") from exc
        out = {}
        for tp in res:
            if tp.error is not None:
                raise KafkaJobError(f"committed offset of {tp.topic}/{tp.partition}: {tp.error}")
            out[(tp.topic, tp.partition)] = tp.offset if tp.offset >= 0 else -1
        return out

    def group_metadata(self) -> Any:
        """The consumer-group metadata for ``send_offsets_to_transaction``."""
        return self.consumer.consumer_group_metadata()

    def partitions_of(self, topic: str, timeout: float = 15.0) -> int:
        """Number of partitions of ``topic`` (from metadata).

        Raises
        ------
        KafkaJobError
            If the topic does not exist.
        """
        md = self.consumer.list_topics(topic, timeout=timeout)
        t = md.topics.get(topic)
        if t is None or t.error is not None or not t.partitions:
            raise KafkaJobError(f"topic {topic!r} does not exist")
        return len(t.partitions)

    def close(self) -> None:
        """Leave the group (revocation callbacks run) and close the consumer."""
        if not self._closed:
            self._closed = True
            self.consumer.close()
