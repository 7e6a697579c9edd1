"""Re-partitioning through an internal topic, for operators keyed by a field that is not the
input topic's message key (as Kafka Streams' repartition topics, with Flink's watermark
propagation across a ``keyBy``).

A Kafka job keeps one operator instance per partition it consumes, which is only right when
every record of a key is in one partition. An operator whose key differs from the input's
partitioning therefore runs on an internal topic ``<job_id>.repartition.<key>``:

* **Upstream** (each input partition, numbered as a *channel*): every decoded record goes
  unchanged (its raw JSON value) to the internal partition ``crc32(key text) % partitions``.
  The records of one batch bound for one internal partition travel together in *batch
  messages* (up to :data:`MAX_BATCH_RECORDS` records or :data:`MAX_BATCH_BYTES` bytes each):
  the value is the records' JSON values one after the other, the :data:`HDR_SOURCE` header
  holds the channel and the first record's source position, and the :data:`HDR_ROWS` header
  each record's source position, event time and value length. After each batch a *watermark
  marker* with the input partition's watermark goes to every internal partition; an idle
  input partition sends an *idle marker*; the end of a bounded input sends an *end marker*
  (watermark ``MAX_TIMESTAMP``). All of it is produced inside the job's transaction, with the
  input offsets.
* **Downstream** (each internal partition): :class:`ChannelMerge` keeps, per channel, the last
  watermark and the last source position taken. The operators' watermark is the minimum over
  the channels that are not idle (as Flink combines input channels), and never goes back. A
  record or marker whose source position is not past the channel's last one is a copy and is
  skipped: on Apache Kafka ``read_committed`` never shows such copies; brokers that show
  records of aborted transactions (the embedded test broker) do, and the copies are
  identical to the committed records that follow.

Lateness: a record inside its input partition's out-of-orderness bound is never late after
the shuffle (the merged watermark is at most that partition's); a record already behind its
own partition's watermark may or may not be late downstream, depending on how the channels
interleave, exactly as in Flink after a ``keyBy``.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from connectors._repartition_format import (
    _DATA,
    _MARK,
    HDR_IDLE,
    HDR_ROWS,
    HDR_SOURCE,
    HDR_WATERMARK,
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    InternalBatch,
    data_position,
    decode_internal,
    marker_position,
    source_header,
)
from windows.time import MAX_TIMESTAMP, MIN_TIMESTAMP

__all__ = [
    "HDR_IDLE",
    "HDR_ROWS",
    "HDR_SOURCE",
    "HDR_WATERMARK",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_RECORDS",
    "ChannelMerge",
    "InternalBatch",
    "RepartitionGroup",
    "data_position",
    "decode_internal",
    "forward",
    "internal_topic",
    "key_text",
    "marker_position",
    "partition_of",
    "plan_groups",
    "send_markers",
    "source_header",
]


def internal_topic(job_id: str, key: Sequence[str]) -> str:
    """Name of the internal topic of a job for operators keyed by ``key`` (column names;
    empty for an unkeyed operator, whose records all go to partition 0)."""
    return f"{job_id}.repartition.{'+'.join(key) if key else '_global'}"


@dataclass(frozen=True)
class RepartitionGroup:
    """Operators that share a key other than the input's partitioning.

    Attributes
    ----------
    key : tuple of str
        Key columns (empty: one global partition).
    topic : str
        The internal topic.
    partitions : int
        Partitions of the internal topic.
    operators : tuple of OperatorSpec
    """

    key: tuple[str, ...]
    topic: str
    partitions: int
    operators: tuple[Any, ...]


def plan_groups(job_id: str, operators: Sequence[Any], partitions: int
                ) -> tuple[tuple[Any, ...], tuple[RepartitionGroup, ...]]:
    """Split a job's operators into those that run on the input partitions (``repartition``
    is ``None``) and groups by re-partitioning key.

    Returns
    -------
    direct : tuple of OperatorSpec
    groups : tuple of RepartitionGroup
        In order of first appearance.
    """
    direct = tuple(o for o in operators if o.repartition is None)
    by_key: dict[tuple[str, ...], list[Any]] = {}
    for o in operators:
        if o.repartition is not None:
            by_key.setdefault(tuple(o.repartition), []).append(o)
    groups = tuple(RepartitionGroup(k, internal_topic(job_id, k), 1 if not k else partitions,
                                    tuple(ops)) for k, ops in by_key.items())
    return direct, groups


def key_text(columns: Mapping[str, np.ndarray], key: Sequence[str], n: int) -> list[bytes]:
    """The message key of each row: the key columns' values as text, joined by ``\\x1f``
    (``None`` -> empty text).

    Parameters
    ----------
    columns : mapping of str to ndarray, each shape (n,)
    key : sequence of str
        Column names (empty: every key is ``b""``).
    n : int
        Number of rows.

    Raises
    ------
    KeyError
        If a key column is missing.
    """
    if not key:
        return [b""] * n
    texts = [["" if v is None else str(v) for v in np.asarray(columns[c]).tolist()]
             for c in key]
    if len(texts) == 1:
        return [t.encode() for t in texts[0]]
    return ["\x1f".join(parts).encode() for parts in zip(*texts, strict=True)]


def partition_of(keys: Sequence[bytes], partitions: int) -> np.ndarray:
    """Internal partition of each key: ``crc32(key) % partitions`` (int64, shape (n,)).
    Only consistency matters: equal keys always land in one partition."""
    if partitions == 1:
        return np.zeros(len(keys), np.int64)
    crc = zlib.crc32
    return np.fromiter((crc(k) % partitions for k in keys), np.int64, len(keys))

def forward(sink: Any, group: RepartitionGroup, channel: int, columns: Mapping[str, np.ndarray],
            timestamps: np.ndarray, offsets: np.ndarray, values: Sequence[bytes]) -> int:
    """Produce decoded rows of input partition ``channel`` to ``group``'s internal topic, as
    batch messages (see the module docstring).

    Parameters
    ----------
    sink : KafkaSink
        Producer of the job (the open transaction).
    group : RepartitionGroup
    channel : int
        Number of the input partition.
    columns : mapping of str to ndarray, each shape (n,)
        Decoded rows (the key columns are read from them).
    timestamps, offsets : ndarray of int64, shape (n,)
        Event time (epoch ms) and input offset of each row, offsets increasing.
    values : sequence of bytes, length n
        The rows' raw JSON values, forwarded unchanged.

    Returns
    -------
    int
        Records forwarded (not messages).
    """
    n = len(values)
    if not n:
        return 0
    parts = partition_of(key_text(columns, group.key, n), group.partitions)
    ts = np.asarray(timestamps, np.int64)
    pos = 2 * np.asarray(offsets, np.int64) + 1  # data_position, vectorised
    lens = np.fromiter((len(v) for v in values), np.int64, n)
    order = np.argsort(parts, kind="stable")  # rows grouped by partition, input order kept
    bounds = np.flatnonzero(np.diff(parts[order])) + 1
    for rows in np.split(order, bounds):
        p = int(parts[rows[0]])
        for chunk in _chunks(rows, lens):
            first = int(pos[chunk[0]])
            meta = np.concatenate((pos[chunk], ts[chunk], lens[chunk])).astype("<i8").tobytes()
            sink.produce(group.topic, b"".join([values[i] for i in chunk.tolist()]), None,
                         [source_header(channel, first), (HDR_ROWS, meta)], partition=p,
                         timestamp=int(ts[chunk[0]]))
    return n


def _chunks(rows: np.ndarray, lens: np.ndarray) -> list[np.ndarray]:
    """Split ``rows`` into runs of at most :data:`MAX_BATCH_RECORDS` records and
    :data:`MAX_BATCH_BYTES` value bytes (a larger record alone)."""
    out: list[np.ndarray] = []
    sizes = lens[rows]
    i, m = 0, len(rows)
    while i < m:
        csum = np.cumsum(sizes[i:i + MAX_BATCH_RECORDS])
        k = max(1, int(np.searchsorted(csum, MAX_BATCH_BYTES, side="right")))
        out.append(rows[i:i + k])
        i += k
    return out


def send_markers(sink: Any, group: RepartitionGroup, channel: int, next_offset: int,
                 watermark: int | None) -> None:
    """Send a watermark marker (or, with ``watermark=None``, an idle marker) from input
    partition ``channel``, read up to ``next_offset``, to every partition of the group's
    internal topic. An end marker is a watermark marker with ``MAX_TIMESTAMP``."""
    hdrs = [source_header(channel, marker_position(next_offset)),
            (HDR_WATERMARK, str(watermark).encode()) if watermark is not None
            else (HDR_IDLE, b"1")]
    for p in range(group.partitions):
        sink.produce(group.topic, b"", None, hdrs, partition=p)

@dataclass
class ChannelMerge:
    """Watermark and de-duplication state of one internal partition over its channels.

    Parameters
    ----------
    channels : int
        Number of input partitions (all input topics) feeding the internal topic.

    Attributes
    ----------
    watermarks : ndarray of int64, shape (channels,)
        Last watermark received per channel.
    positions : ndarray of int64, shape (channels,)
        Last source position taken per channel (-1: none).
    idle : ndarray of bool, shape (channels,)
    current : int
        The combined watermark (epoch ms), monotone.
    """

    channels: int
    watermarks: np.ndarray = field(init=False)
    positions: np.ndarray = field(init=False)
    idle: np.ndarray = field(init=False)
    current: int = MIN_TIMESTAMP

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Back to the state before any input."""
        self.watermarks = np.full(self.channels, MIN_TIMESTAMP, np.int64)
        self.positions = np.full(self.channels, -1, np.int64)
        self.idle = np.zeros(self.channels, np.bool_)
        self.current = MIN_TIMESTAMP

    @property
    def ended(self) -> bool:
        """True when every channel sent its end marker."""
        return bool((self.watermarks == MAX_TIMESTAMP).all())

    def _combine(self) -> None:
        active = ~self.idle
        if active.any():
            self.current = max(self.current, int(self.watermarks[active].min()))

    def admit(self, batch: InternalBatch) -> tuple[np.ndarray, np.ndarray]:
        """Apply a batch's markers and choose its data rows.

        Returns
        -------
        keep : ndarray of bool, shape (n,)
            Data rows to process (copies already taken are False).
        watermarks : ndarray of int64, shape (n,)
            The combined watermark at each data row.

        Raises
        ------
        ValueError
            If a message names a channel outside ``0..channels-1``.
        """
        row_of = {int(r): j for j, r in enumerate(batch.rows.tolist())}
        keep = np.zeros(batch.num_rows, np.bool_)
        wms = np.empty(batch.num_rows, np.int64)
        kinds, chans = batch.kind.tolist(), batch.channel.tolist()
        poss, marks = batch.position.tolist(), batch.watermark.tolist()
        for i, kind in enumerate(kinds):
            if kind < 0:
                continue
            c, p = chans[i], poss[i]
            if not 0 <= c < self.channels:
                raise ValueError(f"internal record from channel {c}, the job has "
                                 f"{self.channels} input partitions")
            last = int(self.positions[c])
            if kind == _DATA:
                j = row_of.get(i)
                if p > last:
                    self.positions[c] = p
                    self.idle[c] = False
                    if j is not None:
                        keep[j] = True
                if j is not None:
                    wms[j] = self.current
                continue
            if p < last:  # markers at the same position are applied again (idempotent)
                continue
            self.positions[c] = p
            if kind == _MARK:
                self.watermarks[c] = max(int(self.watermarks[c]), marks[i])
            else:
                self.idle[c] = True
            self._combine()
        return keep, wms

    def snapshot(self) -> dict[str, Any]:
        """Plain-data state for the checkpoint."""
        return {"channels": self.channels, "watermarks": self.watermarks.tolist(),
                "positions": self.positions.tolist(), "idle": self.idle.tolist(),
                "current": self.current}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`snapshot` output.

        Raises
        ------
        ValueError
            If the number of channels differs (the input topics changed).
        """
        if int(state["channels"]) != self.channels:
            raise ValueError(f"checkpoint has {state['channels']} input channels, the job "
                             f"has {self.channels}")
        self.watermarks = np.asarray(state["watermarks"], np.int64)
        self.positions = np.asarray(state["positions"], np.int64)
        self.idle = np.asarray(state["idle"], np.bool_)
        self.current = int(state["current"])
