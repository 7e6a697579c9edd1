"""``cep run`` against Kafka: a job file's ``[kafka]`` table mapped onto the exactly-once
runtime (:mod:`connectors.runtime`).

Every rule and window of the job becomes one operator per input partition (keys follow Kafka
partitioning: records with equal keys must be in one partition, see ``docs/kafka.md``).
Outputs are JSON messages with an ``"output"`` member naming the rule or window, written to
``output_topic``; late records go to ``late_topic``; dead letters to the dead-letter topic.

``[kafka]`` keys::

    bootstrap_servers = "127.0.0.1:9092"       # required
    topics = ["transactions"]                  # required: input topics (JSON values)
    output_topic = "alerts"                    # default "<job name>.alerts"
    late_topic = "late"                        # default "<job name>.late"
    dead_letter_topic = "dead"                 # default "<job name>.dead-letters"
    guarantee = "exactly-once"                 # or "at-least-once"
    checkpoint_interval = "1s"
    worker_id = "0"                            # distinct per worker process, stable
    stop_at_eof = false                        # bounded run: stop at the end of the input
    settings = { "security.protocol" = "SASL_SSL" }   # librdkafka pass-through
    message_key = "card"                       # field the input's message key holds
    repartition_partitions = 8                 # partitions of the internal topics

A rule or window keyed by anything other than ``message_key`` (default: the schema's
``key``) is re-partitioned through an internal topic (:mod:`connectors.repartition`); without
either, every operator is.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np

from connectors.errors import JobFileError
from connectors.jobfile import JobSpec, WindowSpec, parse_duration
from connectors.pipeline import Output, Pipeline, RuleRunner, WindowRunner

__all__ = ["PipelineOperator", "kafka_config", "kafka_connection", "key_columns",
           "message_key"]

_KEYS = ("bootstrap_servers", "topics", "output_topic", "late_topic", "dead_letter_topic",
         "guarantee", "checkpoint_interval", "worker_id", "stop_at_eof", "settings",
         "max_batch", "message_key", "repartition_partitions")


class PipelineOperator:
    """One rule or window of a job as a runtime operator (``process``/``finish``/
    ``snapshot``/``restore``), emitting the streams ``"results"`` and ``"late"``.

    Parameters
    ----------
    runner : RuleRunner or WindowRunner
        A fresh runner (one per input partition).
    """

    def __init__(self, runner: RuleRunner | WindowRunner) -> None:
        self.runner = runner

    def _streams(self, outs: list[Output]) -> dict[str, dict[str, np.ndarray]]:
        res: dict[str, list[Output]] = {"results": [], "late": []}
        for o in outs:
            res["late" if o.name.endswith(".late") else "results"].append(o)
        streams: dict[str, dict[str, np.ndarray]] = {}
        for stream, parts in res.items():
            if not parts:
                continue
            cols = {k: np.concatenate([p.columns[k] for p in parts]) for k in parts[0].columns}
            n = len(next(iter(cols.values())))
            streams[stream] = {"output": np.full(n, parts[0].name, dtype=object), **cols}
        return streams

    def process(self, columns: Mapping[str, np.ndarray], timestamps: Any = None,
                watermarks: Any = None, processing_time: int | None = None
                ) -> dict[str, dict[str, np.ndarray]]:
        """Feed one batch of a partition; returns ``{"results": ..., "late": ...}``."""
        return self._streams(self.runner.process(dict(columns),
                                                 np.asarray(timestamps, np.int64),
                                                 np.asarray(watermarks, np.int64)))

    def finish(self) -> dict[str, dict[str, np.ndarray]]:
        """End of input."""
        return self._streams(self.runner.finish())

    def advance_watermark(self, watermark: int) -> dict[str, dict[str, np.ndarray]]:
        """Move the event-time watermark (epoch ms) without records."""
        return self._streams(self.runner.advance(int(watermark)))

    def snapshot(self) -> Any:
        """The operator's state (its own versioned snapshot form; never pickle)."""
        return self.runner.op.snapshot()

    def restore(self, state: Any) -> None:
        """Restore :meth:`snapshot` output."""
        self.runner.op.restore(state)


def key_columns(runner: RuleRunner | WindowRunner) -> tuple[str, ...]:
    """A rule's ``PARTITION BY`` columns or a window's key columns."""
    return tuple(runner.rule.partition_by if isinstance(runner, RuleRunner)
                 else runner.spec.key)


def _rule_operator(rule: Any) -> PipelineOperator:
    return PipelineOperator(RuleRunner(rule))


def _window_operator(spec: WindowSpec, types: Mapping[str, str]) -> PipelineOperator:
    return PipelineOperator(WindowRunner(spec, types))


def kafka_connection(job: JobSpec) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """Check a job's ``[kafka]`` table and return its bootstrap servers, input topics and
    librdkafka settings.

    Raises
    ------
    JobFileError
        For unknown keys, or missing or malformed ``bootstrap_servers``, ``topics`` or
        ``settings``.
    """
    k = job.kafka
    where = f"{job.path or '<job>'} [kafka]"
    extra = sorted(set(k) - set(_KEYS))
    if extra:
        raise JobFileError(f"{where}: unknown key(s) {extra}; allowed: {sorted(_KEYS)}")
    if not isinstance(k.get("bootstrap_servers"), str):
        raise JobFileError(f"{where}: bootstrap_servers must be 'host:port[,...]'")
    topics = k.get("topics")
    if isinstance(topics, str):
        topics = [topics]
    if not isinstance(topics, list) or not topics or not all(isinstance(t, str) for t in topics):
        raise JobFileError(f"{where}: topics must be a list of input topic names")
    settings = k.get("settings", {})
    if not isinstance(settings, dict):
        raise JobFileError(f"{where}: settings must be a table of librdkafka settings")
    return k["bootstrap_servers"], tuple(topics), {str(a): b for a, b in settings.items()}


def message_key(job: JobSpec) -> tuple[str, ...] | None:
    """The columns the input topics' message key holds: ``[kafka] message_key`` (a column
    or list of columns), else the schema's ``key``; ``None`` when neither is given.

    Raises
    ------
    JobFileError
        If ``message_key`` names no schema column.
    """
    where = f"{job.path or '<job>'} [kafka]"
    mk = job.kafka.get("message_key", job.schema.key)
    if mk is None:
        return None
    cols = [mk] if isinstance(mk, str) else mk
    names = {f.name for f in job.schema.fields}
    if (not isinstance(cols, list) or not cols
            or not all(isinstance(c, str) and c in names for c in cols)):
        raise JobFileError(f"{where}.message_key: expected a schema column or a list of "
                           f"them, got {mk!r}")
    return tuple(cols)


def _positive(table: Mapping[str, Any], key: str, where: str) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise JobFileError(f"{where}.{key}: expected a positive integer, got {value!r}")
    return value


def kafka_config(job: JobSpec, *, worker_id: str | None = None) -> Any:
    """The :class:`connectors.runtime.KafkaJobConfig` of a job file with a ``[kafka]``
    table.

    Parameters
    ----------
    job : JobSpec
    worker_id : str, optional
        Overrides the job file's ``worker_id``.

    Returns
    -------
    KafkaJobConfig

    Raises
    ------
    JobFileError
        For unknown or missing ``[kafka]`` keys.
    cep.sql.RuleError
        For invalid rules.
    """
    from connectors.kafka_sink import OutputSpec
    from connectors.runtime import KafkaJobConfig, OperatorSpec
    from windows import WatermarkStrategy

    k = job.kafka
    where = f"{job.path or '<job>'} [kafka]"
    bootstrap, topics, settings = kafka_connection(job)
    pipeline = Pipeline(job)  # compiles and checks every rule and window once
    out_topic = str(k.get("output_topic", f"{job.name}.alerts"))
    late_topic = str(k.get("late_topic", f"{job.name}.late"))
    msg_key = message_key(job)
    types = {f.name: f.type for f in job.schema.fields}
    specs = []
    runners: list[RuleRunner | WindowRunner] = [*pipeline.rules, *pipeline.windows]
    for runner in runners:
        factory = (partial(_rule_operator, runner.rule) if isinstance(runner, RuleRunner)
                   else partial(_window_operator, runner.spec, types))
        cols = key_columns(runner)
        specs.append(OperatorSpec(
            runner.name, factory,
            {"results": OutputSpec(out_topic, key=cols[0] if cols else None,
                                   headers={"output": runner.name}),
             "late": OutputSpec(late_topic, key=None, headers={"output": runner.name})},
            repartition=None if cols == msg_key else cols))
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(job.max_out_of_orderness)
    guarantee = k.get("guarantee", "exactly-once")
    if guarantee not in ("exactly-once", "at-least-once"):
        raise JobFileError(f"{where}: guarantee must be 'exactly-once' or 'at-least-once'")
    return KafkaJobConfig(
        bootstrap=bootstrap, job_id=job.name, topics=topics,
        schema=job.schema, operators=tuple(specs), watermarks=strategy, guarantee=guarantee,
        checkpoint_interval=parse_duration(k.get("checkpoint_interval", 1000),
                                           what=f"{where}.checkpoint_interval") or 1,
        dead_letter_topic=k.get("dead_letter_topic"),
        worker_id=str(worker_id if worker_id is not None else k.get("worker_id", "0")),
        settings=settings,
        max_batch=int(k.get("max_batch", 10_000)),
        repartition_partitions=_positive(k, "repartition_partitions", where),
        stop_at_eof=bool(k.get("stop_at_eof", False)),
        finish_at_eof=bool(k.get("stop_at_eof", False)))
