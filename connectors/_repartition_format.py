"""The internal topic's wire format for re-partitioning (see :mod:`connectors.repartition`):
headers, batch messages, and decoding polled messages into :class:`InternalBatch` entries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from connectors.kafka_source import TP, DeadRecord
from connectors.schema import Schema
from windows.time import MIN_TIMESTAMP

__all__ = ["HDR_IDLE", "HDR_ROWS", "HDR_SOURCE", "HDR_WATERMARK", "MAX_BATCH_BYTES",
           "MAX_BATCH_RECORDS", "InternalBatch", "data_position", "decode_internal",
           "marker_position", "source_header"]

#: Header of every internal record: ``b"<channel> <position>"``.
HDR_SOURCE = "cepkit.source"
#: Header of a watermark marker (value empty): the input partition's watermark, epoch ms.
HDR_WATERMARK = "cepkit.watermark"
#: Header of an idle marker (value empty).
HDR_IDLE = "cepkit.idle"
#: Header of a batch message: int64 little-endian arrays ``positions``, ``timestamps`` (epoch
#: ms) and ``lengths`` (bytes of each record's value), one entry per record, one after the
#: other. A data message without it holds one record (position from :data:`HDR_SOURCE`, event
#: time the message timestamp).
HDR_ROWS = "cepkit.rows"
#: Most records in one batch message.
MAX_BATCH_RECORDS = 2000
#: Most value bytes in one batch message (a single larger record travels alone); Kafka's
#: default ``message.max.bytes`` is about 1 MB.
MAX_BATCH_BYTES = 256 * 1024

_DATA, _MARK, _IDLE = 0, 1, 2
def source_header(channel: int, position: int) -> tuple[str, bytes]:
    """The :data:`HDR_SOURCE` header."""
    return HDR_SOURCE, f"{channel} {position}".encode()


def data_position(offset: int) -> int:
    """Source position of the record at input ``offset`` (odd numbers)."""
    return 2 * offset + 1


def marker_position(next_offset: int) -> int:
    """Source position of a marker sent when the input partition has been read up to (not
    including) ``next_offset`` (even numbers: between two records)."""
    return 2 * next_offset


@dataclass(eq=False)
class InternalBatch:
    """The entries of one internal partition from one poll, in offset order: one per record of
    a data message, one per marker.

    Attributes
    ----------
    topic, partition : str, int
    kind : ndarray of int8, shape (m,)
        0 data record, 1 watermark marker, 2 idle marker, -1 a dead letter.
    channel, position : ndarray of int64, shape (m,)
        Input partition (channel) and source position of each entry.
    watermark : ndarray of int64, shape (m,)
        Marker watermark (``MIN_TIMESTAMP`` for other entries).
    rows : ndarray of int64, shape (n,)
        Entry index of each decoded data row.
    columns : dict of str to ndarray, each shape (n,)
    timestamps : ndarray of int64, shape (n,)
        Event time of each data row (the internal record's timestamp).
    dead : list of DeadRecord
        Data records that do not fit the schema (only if the schema changed between the
        stages).
    next_offset : int
    """

    topic: str
    partition: int
    kind: np.ndarray
    channel: np.ndarray
    position: np.ndarray
    watermark: np.ndarray
    rows: np.ndarray
    columns: dict[str, np.ndarray]
    timestamps: np.ndarray
    dead: list[DeadRecord]
    next_offset: int

    @property
    def num_rows(self) -> int:
        """Number of decoded data rows."""
        return int(self.rows.shape[0])


def _parse_headers(msg: Any) -> tuple[int, int, int, int, bytes | None]:
    kind, chan, pos, wm, rows = _DATA, -1, -1, MIN_TIMESTAMP, None
    for name, val in msg.headers() or ():
        if name == HDR_SOURCE:
            c, p = val.split()
            chan, pos = int(c), int(p)
        elif name == HDR_ROWS:
            rows = val
        elif name == HDR_WATERMARK:
            kind, wm = _MARK, int(val)
        elif name == HDR_IDLE:
            kind = _IDLE
    if chan < 0:
        raise ValueError("an internal record without its source header")
    return kind, chan, pos, wm, rows


def _split_batch(msg: Any, rows: bytes) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """Positions, event times and values of the records of a batch message.

    Raises
    ------
    ValueError
        If the :data:`HDR_ROWS` header does not match the value.
    """
    if not rows or len(rows) % 24:
        raise ValueError(f"malformed {HDR_ROWS} header ({len(rows)} bytes)")
    meta = np.frombuffer(rows, "<i8")
    if meta.size % 3:
        raise ValueError(f"malformed {HDR_ROWS} header ({len(rows)} bytes)")
    pos, ts, lens = meta.reshape(3, -1).astype(np.int64)
    value = msg.value() or b""
    if (lens < 0).any() or int(lens.sum()) != len(value) or (np.diff(pos) <= 0).any():
        raise ValueError(f"{HDR_ROWS} header does not match the message value")
    ends = np.cumsum(lens).tolist()
    starts = [0, *ends[:-1]]
    return pos, ts, [value[a:b] for a, b in zip(starts, ends, strict=True)]


def decode_internal(messages: Sequence[Any], schema: Schema) -> dict[TP, InternalBatch]:
    """Decode polled messages of internal topics into one :class:`InternalBatch` per
    partition: its entries are the records of the data messages (a batch message holds
    several) and the markers, in offset order.

    A message without the source header (not ours), or whose batch header does not match its
    value, becomes a dead letter.
    """
    from connectors.files import decode_json_records

    per: dict[TP, list[Any]] = {}
    for msg in messages:
        per.setdefault((msg.topic(), msg.partition()), []).append(msg)
    out: dict[TP, InternalBatch] = {}
    for (topic, part), msgs in per.items():
        kinds: list[np.ndarray] = []
        chans: list[np.ndarray] = []
        poss: list[np.ndarray] = []
        wms: list[np.ndarray] = []
        dead: list[DeadRecord] = []
        values: list[bytes] = []
        times: list[np.ndarray] = []
        data: list[np.ndarray] = []
        origin: list[int] = []  # message index of each data entry
        e = 0  # entries so far
        for i, msg in enumerate(msgs):
            try:
                kind, chan, pos, wm, rows = _parse_headers(msg)
                if kind == _DATA and rows is not None:
                    rpos, rts, vals = _split_batch(msg, rows)
                elif kind == _DATA:
                    rpos = np.array([pos], np.int64)
                    rts = np.array([msg.timestamp()[1]], np.int64)
                    vals = [msg.value()]
                else:
                    rpos, rts, vals = np.array([pos], np.int64), np.zeros(1, np.int64), []
            except ValueError as exc:
                kinds.append(np.full(1, -1, np.int8))
                chans.append(np.full(1, -1, np.int64))
                poss.append(np.full(1, -1, np.int64))
                wms.append(np.full(1, MIN_TIMESTAMP, np.int64))
                dead.append(DeadRecord(topic, part, msg.offset(), msg.key(), msg.value(),
                                       msg.timestamp()[1], f"internal record: {exc}"))
                e += 1
                continue
            k = len(rpos)
            kinds.append(np.full(k, kind, np.int8))
            chans.append(np.full(k, chan, np.int64))
            poss.append(rpos)
            wms.append(np.full(k, wm, np.int64))
            if kind == _DATA:
                data.append(np.arange(e, e + k, dtype=np.int64))
                values.extend(vals)
                times.append(rts)
                origin.extend([i] * k)
            e += k
        kind_a = np.concatenate(kinds)
        idx = np.concatenate(data) if data else np.zeros(0, np.int64)
        ts_all = np.concatenate(times) if times else np.zeros(0, np.int64)
        batch = decode_json_records(values, schema, positions=np.arange(len(values)))
        for d in batch.dead_letters:
            j = int(d.position)
            msg = msgs[origin[j]]
            kind_a[idx[j]] = -1
            dead.append(DeadRecord(topic, part, msg.offset(), msg.key(), values[j],
                                   int(ts_all[j]), d.reason))
        good = np.asarray(batch.positions, np.int64)
        dead.sort(key=lambda d: d.offset)
        out[(topic, part)] = InternalBatch(topic, part, kind_a, np.concatenate(chans),
                                           np.concatenate(poss), np.concatenate(wms),
                                           idx[good], dict(batch.columns), ts_all[good], dead,
                                           msgs[-1].offset() + 1)
    return out
