"""Configuration of a Kafka job: the operator protocol, operator specs and
:class:`KafkaJobConfig` (the loop itself is :mod:`connectors.runtime`, which re-exports these
names)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from connectors.kafka_sink import OutputSpec
from connectors.schema import Schema
from windows.time import Duration, to_millis
from windows.watermarks import WatermarkStrategy

__all__ = ["Guarantee", "KafkaJobConfig", "Operator", "OperatorSpec"]


Guarantee = Literal["exactly-once", "at-least-once"]


class Operator(Protocol):
    """What the runtime needs from an operator (``WindowOperator`` and ``CepOperator``
    satisfy it): ``process(columns, timestamps, watermarks, processing_time)`` returning an
    output with named streams, ``finish()``, ``snapshot()`` (plain data or bytes) and
    ``restore(state)``."""

    def process(self, columns: Mapping[str, np.ndarray], timestamps: Any = ...,
                watermarks: Any = ..., processing_time: int | None = ...) -> Any: ...

    def finish(self) -> Any: ...

    def snapshot(self) -> Any: ...

    def restore(self, state: Any) -> None: ...


@dataclass(frozen=True)
class OperatorSpec:
    """One operator of a job: how to build it and where its output streams go.

    Parameters
    ----------
    name : str
        Unique within the job (the operator's state is stored under it).
    factory : callable
        ``factory() -> Operator``; called once per input partition.
    outputs : mapping of str to OutputSpec
        Stream name -> target. Window operators emit ``"results"`` and ``"late"``; CEP
        operators ``"matches"``, ``"timeouts"`` and ``"late"``. A non-empty stream without a
        target stops the job (never a silent drop).
    repartition : tuple of str, optional
        The operator's key columns when the input topics are not partitioned by them: the
        records then pass through the internal topic ``<job_id>.repartition.<key>`` keyed by
        these columns (``()``: one global partition, for an unkeyed operator), see
        :mod:`connectors.repartition`. ``None`` (default): the input partitioning already
        keeps every key in one partition.
    """

    name: str
    factory: Callable[[], Operator]
    outputs: Mapping[str, OutputSpec]
    repartition: tuple[str, ...] | None = None


@dataclass(frozen=True)
class KafkaJobConfig:
    """Everything a Kafka job needs (the ``cep run`` job file maps onto this).

    Parameters
    ----------
    bootstrap : str
        ``host:port[,...]`` of the Kafka cluster.
    job_id : str
        Names the consumer group, the checkpoint topic (``<job_id>.checkpoints``), the
        dead-letter topic (``<job_id>.dead-letters``) and the transactional id
        (``<job_id>-<worker_id>``).
    topics : tuple of str
        Input topics (JSON values decoded with ``schema``).
    schema : Schema
    operators : tuple of OperatorSpec
        Each sees every decoded record of its partition.
    watermarks : WatermarkStrategy
        Per-partition watermarks. Without a timestamp assigner the event time is the schema's
        ``event_time`` field, or else the record timestamp.
    guarantee : {"exactly-once", "at-least-once"}
    checkpoint_interval : timedelta or int ms
        Time between checkpoints.
    checkpoint_records : int, optional
        Also checkpoint after this many input records.
    worker_id : str
        Distinct per worker process of the job, and stable across its restarts (a restarted
        worker aborts the transaction its previous incarnation left open).
    settings : mapping of str to str
        librdkafka settings for every client (security), merged with ``CEPKIT_KAFKA_*``.
    max_batch : int
        Messages per poll.
    stop_at_eof : bool
        Stop when every assigned partition is at its end (bounded runs, replays).
    finish_at_eof : bool
        With ``stop_at_eof``: end the input for the operators (fire all windows).
    backpressure : tuple of float
        Pause the partitions when the producer queue is fuller than the first share, resume
        below the second.
    repartition_partitions : int, optional
        Partitions of the internal re-partitioning topics (default: the most partitions of
        an input topic). Only used when an operator sets ``repartition``.
    """

    bootstrap: str
    job_id: str
    topics: tuple[str, ...]
    schema: Schema
    operators: tuple[OperatorSpec, ...]
    watermarks: WatermarkStrategy = field(
        default_factory=lambda: WatermarkStrategy.for_bounded_out_of_orderness(0))
    guarantee: Guarantee = "exactly-once"
    checkpoint_interval: Duration = 1000
    checkpoint_records: int | None = None
    dead_letter_topic: str | None = None
    checkpoint_topic: str | None = None
    worker_id: str = "0"
    settings: Mapping[str, str] = field(default_factory=dict)
    max_batch: int = 10_000
    assignment: str = "cooperative-sticky"
    stop_at_eof: bool = False
    finish_at_eof: bool = False
    backpressure: tuple[float, float] = (0.8, 0.3)
    repartition_partitions: int | None = None

    def __post_init__(self) -> None:
        if self.guarantee not in ("exactly-once", "at-least-once"):
            raise ValueError(f"guarantee must be 'exactly-once' or 'at-least-once', "
                             f"got {self.guarantee!r}")
        names = [o.name for o in self.operators]
        if not names or len(set(names)) != len(names):
            raise ValueError("a job needs operators with unique names")
        to_millis(self.checkpoint_interval, name="checkpoint_interval", allow_zero=False)
        if (self.stop_at_eof and not self.finish_at_eof
                and any(o.repartition is not None for o in self.operators)):
            raise ValueError("a bounded run (stop_at_eof) of a job with re-partitioned "
                             "operators needs finish_at_eof: the end of the input is what "
                             "tells the re-partitioned stage that no more records come")

    @property
    def dead_letters(self) -> str:
        """The dead-letter topic."""
        return self.dead_letter_topic or f"{self.job_id}.dead-letters"

    @property
    def checkpoints(self) -> str:
        """The checkpoint topic."""
        return self.checkpoint_topic or f"{self.job_id}.checkpoints"
