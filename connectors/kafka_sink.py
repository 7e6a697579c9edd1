"""Kafka sink: a (transactional) confluent-kafka producer that writes result columns as JSON
messages, dead letters with their reason and source position in headers, and checkpoint
records; and measures the time the job spends blocked on it (back-pressure).

Message values use the same JSON formatting as :class:`connectors.filesinks.JsonLinesSink`
(:func:`connectors.filesinks.format_json_lines`), so a topic and a file of the same results
hold byte-identical rows.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from connectors.errors import KafkaJobError
from connectors.filesinks import format_json_lines
from connectors.kafka_source import DeadRecord, client_settings

__all__ = ["DEAD_LETTER_HEADERS", "KafkaSink", "KafkaSinkConfig", "OutputSpec"]

#: Header names on dead-letter messages (values are UTF-8 text).
DEAD_LETTER_HEADERS = ("cep.reason", "cep.source.topic", "cep.source.partition",
                       "cep.source.offset", "cep.source.timestamp")


@dataclass(frozen=True)
class OutputSpec:
    """Where and how one result stream is written.

    Parameters
    ----------
    topic : str
        Target topic.
    key : str, optional
        Column whose value (as text) becomes the message key; Kafka's partitioner then puts
        equal keys in one partition. ``None``: no key.
    headers : mapping of str to str
        Static headers added to every message.
    header_columns : sequence of str
        Columns whose values (as text) are also sent as headers of the same name.
    """

    topic: str
    key: str | None = "key"
    headers: Mapping[str, str] = field(default_factory=dict)
    header_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class KafkaSinkConfig:
    """Settings of a :class:`KafkaSink`.

    Parameters
    ----------
    bootstrap : str
        ``host:port[,...]``.
    transactional_id : str, optional
        Makes the producer transactional (exactly-once); ``None`` for at-least-once
        (idempotent producer, no transactions).
    settings : mapping of str to str
        Further librdkafka settings (security, ``compression.type``, ``linger.ms``, ...).
    transaction_timeout : float
        Seconds for transactional calls (init, commit, abort, send offsets).
    """

    bootstrap: str
    transactional_id: str | None = None
    settings: Mapping[str, str] = field(default_factory=dict)
    transaction_timeout: float = 60.0

    def producer_settings(self) -> dict[str, Any]:
        """The librdkafka producer configuration."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "partitioner": "murmur2_random",  # the Java client's partitioner (Kafka Streams)
            "queue.buffering.max.messages": 200_000,
        }
        if self.transactional_id is not None:
            conf["transactional.id"] = self.transactional_id
            conf["transaction.timeout.ms"] = 60_000
        conf.update(client_settings(self.settings))
        return conf


def _text(values: np.ndarray) -> list[bytes | None]:
    return [None if v is None else str(v).encode() for v in values.tolist()]


class KafkaSink:
    """Producer of result columns, dead letters and raw records.

    Parameters
    ----------
    config : KafkaSinkConfig

    Attributes
    ----------
    blocked_seconds : float
        Total time spent waiting on the producer (full local queue, flushes, transaction
        commits): the back-pressure the job feels from its sinks.
    queue_limit : int
        Capacity of the local queue (``queue.buffering.max.messages``).
    messages_sent : int
        Messages handed to the producer.
    """

    def __init__(self, config: KafkaSinkConfig) -> None:
        self.config = config
        conf = config.producer_settings()
        self.producer = Producer(conf)
        self.queue_limit = int(conf.get("queue.buffering.max.messages", 100_000))
        self.transactional = config.transactional_id is not None
        self.in_transaction = False
        self.blocked_seconds = 0.0
        self.messages_sent = 0
        self._error: KafkaError | None = None
        self._closed = False

    # -- transactions ---------------------------------------------------------------------------
    def init_transactions(self) -> None:
        """Register the transactional id; aborts a transaction an earlier instance with the
        same id left open, and fences that instance."""
        self._call(self.producer.init_transactions, self.config.transaction_timeout)

    def begin(self) -> None:
        """Open a transaction unless one is open (no-op when not transactional)."""
        if self.transactional and not self.in_transaction:
            self._call(self.producer.begin_transaction)
            self.in_transaction = True

    def send_offsets(self, offsets: Sequence[tuple[str, int, int]], group_metadata: Any) -> None:
        """Add consumer offsets ``(topic, partition, next offset)`` to the open transaction."""
        tps = [TopicPartition(t, p, o) for t, p, o in offsets]
        self._call(self.producer.send_offsets_to_transaction, tps, group_metadata,
                   self.config.transaction_timeout)

    def commit(self) -> None:
        """Commit the open transaction (waits for every message of it)."""
        t0 = time.perf_counter()
        try:
            self._call(self.producer.commit_transaction, self.config.transaction_timeout)
        finally:
            self.blocked_seconds += time.perf_counter() - t0
        self.in_transaction = False
        self._raise_delivery_error()

    def abort(self) -> None:
        """Abort the open transaction (its messages will not be committed)."""
        if self.in_transaction:
            self.in_transaction = False
            self._call(self.producer.abort_transaction, self.config.transaction_timeout)
        self._error = None

    def _call(self, fn: Any, *args: Any) -> Any:
        """Call a transactional API, retrying retriable errors."""
        for _ in range(20):
            try:
                return fn(*args)
            except KafkaException as exc:
                err = exc.args[0]
                if err.retriable() and not err.txn_requires_abort() and not err.fatal():
                    time.sleep(0.2)
                    continue
                raise
        return fn(*args)

    # -- producing ------------------------------------------------------------------------------
    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None and self._error is None:
            self._error = err

    def _raise_delivery_error(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise KafkaException(err)

    def produce(self, topic: str, value: bytes | None, key: bytes | None = None,
                headers: list[tuple[str, bytes]] | None = None, partition: int | None = None,
                on_delivery: Any = None, timestamp: int | None = None) -> None:
        """Hand one message to the producer; when its local queue is full, serve delivery
        reports until there is room (counted as blocked time). ``timestamp``: the record's
        CreateTime, epoch ms (default: now)."""
        kwargs: dict[str, Any] = {"on_delivery": on_delivery or self._on_delivery}
        if partition is not None:
            kwargs["partition"] = partition
        if timestamp is not None:
            kwargs["timestamp"] = timestamp
        if headers:
            kwargs["headers"] = headers
        try:
            self.producer.produce(topic, value, key, **kwargs)
        except BufferError:
            t0 = time.perf_counter()
            while True:
                self.producer.poll(0.05)
                try:
                    self.producer.produce(topic, value, key, **kwargs)
                    break
                except BufferError:
                    continue
            self.blocked_seconds += time.perf_counter() - t0
        self.messages_sent += 1

    def write(self, spec: OutputSpec, columns: Mapping[str, Any]) -> int:
        """Write the rows of ``columns`` (arrays of shape (n,)) as JSON messages; return ``n``.

        Raises
        ------
        ValueError
            If the key or a header column is not among the columns.
        """
        lines = format_json_lines(columns)
        if not lines:
            return 0
        values = lines.split(b"\n")[:-1]  # orjson escapes line breaks inside strings
        n = len(values)
        for name in ([spec.key] if spec.key else []) + list(spec.header_columns):
            if name not in columns:
                raise ValueError(f"output column {name!r} is not among {sorted(columns)}")
        keys = _text(np.asarray(columns[spec.key])) if spec.key else [None] * n
        static = [(k, v.encode()) for k, v in spec.headers.items()]
        hcols = [(c, _text(np.asarray(columns[c]))) for c in spec.header_columns]
        produce = self.produce
        topic = spec.topic
        if not static and not hcols:
            for v, k in zip(values, keys, strict=True):
                produce(topic, v, k)
        else:
            for i, (v, k) in enumerate(zip(values, keys, strict=True)):
                hdrs = static + [(c, vals[i] or b"") for c, vals in hcols]
                produce(topic, v, k, hdrs)
        self.producer.poll(0)
        return n

    def write_dead(self, topic: str, records: Sequence[DeadRecord]) -> int:
        """Forward rejected records unchanged to ``topic``, with the reason and the source
        topic/partition/offset/timestamp in headers (see :data:`DEAD_LETTER_HEADERS`)."""
        for d in records:
            hdrs = [(DEAD_LETTER_HEADERS[0], d.reason.encode()),
                    (DEAD_LETTER_HEADERS[1], d.topic.encode()),
                    (DEAD_LETTER_HEADERS[2], str(d.partition).encode()),
                    (DEAD_LETTER_HEADERS[3], str(d.offset).encode()),
                    (DEAD_LETTER_HEADERS[4], str(d.timestamp).encode())]
            self.produce(topic, d.value, d.key, hdrs)
        return len(records)

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every message handed over is delivered (counted as blocked time).

        Raises
        ------
        KafkaException
            If a message failed to be delivered.
        KafkaJobError
            If messages are still queued after ``timeout`` seconds.
        """
        t0 = time.perf_counter()
        try:
            left = self.producer.flush(timeout)
        finally:
            self.blocked_seconds += time.perf_counter() - t0
        self._raise_delivery_error()
        if left:
            raise KafkaJobError(f"{left} messages not delivered within {timeout} s")

    def queue_fill(self) -> float:
        """Share of the local producer queue in use (0..1)."""
        return len(self.producer) / max(self.queue_limit, 1)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (outside a transaction) and release the producer."""
        if not self._closed:
            self._closed = True
            if not self.in_transaction:
                self.producer.flush(timeout)
