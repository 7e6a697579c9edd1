"""The checkpoint store of a :class:`~connectors.faust.FaustProcessor`: per-partition
snapshots on a checkpoint topic (:mod:`connectors.checkpoint` chunks), named by offsets
committed for a pointer group that has no members. Blocking confluent-kafka calls: run them
in an executor thread."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.errors import KafkaJobError

__all__ = ["CheckpointStore", "bootstrap_of"]

TP = tuple[str, int]


def bootstrap_of(app: Any) -> str:
    urls = app.conf.broker
    return ",".join(f"{u.host}:{u.port or 9092}" for u in urls)


class CheckpointStore:
    """The checkpoint topic and the pointer group (blocking confluent-kafka calls; run them
    in an executor thread)."""

    def __init__(self, bootstrap: str, name: str, topics: Sequence[str],
                 settings: Mapping[str, str]) -> None:
        from confluent_kafka import Consumer, Producer

        from connectors.broker import create_topics
        from connectors.checkpoint import CheckpointReader, CheckpointTopic
        from connectors.kafka_source import client_settings

        security = client_settings(settings)
        base = {"bootstrap.servers": bootstrap, **security}
        self.pointers = Consumer({**base, "group.id": f"{name}.pointers",
                                  "enable.auto.commit": False, "group.protocol": "classic"})
        sizes = {}
        for t in topics:
            md = self.pointers.list_topics(t, timeout=15).topics.get(t)
            if md is None or md.error is not None or not md.partitions:
                raise KafkaJobError(f"topic {t!r} does not exist")
            sizes[t] = len(md.partitions)
        self.topic = CheckpointTopic(f"{name}.checkpoints", sizes)
        create_topics(bootstrap, {self.topic.name: self.topic.size},
                      config={"cleanup.policy": "compact"}, extra=security)
        self.producer = Producer({**base, "enable.idempotence": True, "linger.ms": 5})
        self.reader = CheckpointReader(base, self.topic)

    def write(self, states: Mapping[TP, dict[str, Any]]) -> None:
        """Steps 2-3: produce every state, flush, commit the pointers."""
        from confluent_kafka import TopicPartition

        from connectors.checkpoint import encode_chunks

        last: dict[int, int] = {}
        errors: list[Any] = []

        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(err)
            else:
                last[msg.partition()] = max(last.get(msg.partition(), -1), msg.offset())

        for (t, p), state in states.items():
            idx = self.topic.index(t, p)
            for chunk in encode_chunks(state):
                self.producer.produce(self.topic.name, chunk, f"{t}/{p}".encode(),
                                      partition=idx, on_delivery=delivered)
        left = self.producer.flush(60)
        if left or errors:
            raise KafkaJobError(f"checkpoint not delivered: {errors or f'{left} queued'}")
        offsets = [TopicPartition(self.topic.name, i, o + 1) for i, o in last.items()]
        self.pointers.commit(offsets=offsets, asynchronous=False)

    def read(self, topic: str, partition: int) -> dict[str, Any] | None:
        """The committed state of a source partition, or ``None`` if it has none."""
        from confluent_kafka import TopicPartition

        idx = self.topic.index(topic, partition)
        res = self.pointers.committed([TopicPartition(self.topic.name, idx)], 30)
        pointer = res[0].offset
        if pointer is None or pointer <= 0:
            return None
        return self.reader.read(topic, partition, pointer).state

    def close(self) -> None:
        self.producer.flush(10)
        self.reader.close()
        self.pointers.close()
