"""The committed-view oracle: what a correct ``read_committed`` consumer would see, rebuilt
from the raw record batches (the test broker does not hide aborted records itself).

Batches are fetched with a minimal Fetch v4 request over a plain socket (read_uncommitted) and
decoded with kafka-python's record-batch reader. Per partition, records of a transactional
batch are held per producer id until that producer's control batch: COMMIT releases them,
ABORT drops them; records of a transaction that never ended are not committed.
Non-transactional records are committed at once.
"""

from __future__ import annotations

import socket
import struct
import warnings
from dataclasses import dataclass, replace

with warnings.catch_warnings():  # kafka-python 3.0 uses importlib.resources.read_text
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.record.memory_records import MemoryRecords


@dataclass(frozen=True)
class Rec:
    """One committed record; ``producer_id`` and ``commit_marker`` (the offset of the COMMIT
    control batch that released it) name its transaction, -1 for a non-transactional one."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp: int
    producer_id: int = -1
    commit_marker: int = -1


def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class _Conn:
    def __init__(self, bootstrap: str) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.corr = 0

    def close(self) -> None:
        self.sock.close()

    def _recv(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return bytes(buf)

    def request(self, api_key: int, version: int, body: bytes) -> bytes:
        self.corr += 1
        header = struct.pack(">hhi", api_key, version, self.corr) + _string("oracle")
        msg = header + body
        self.sock.sendall(struct.pack(">i", len(msg)) + msg)
        (size,) = struct.unpack(">i", self._recv(4))
        data = self._recv(size)
        (corr,) = struct.unpack_from(">i", data, 0)
        assert corr == self.corr
        return data[4:]

    def fetch(self, topic: str, partition: int, offset: int) -> tuple[int, int, bytes]:
        """(error code, high watermark, raw records) of one Fetch v4 (read_uncommitted)."""
        body = struct.pack(">iiiib", -1, 100, 1, 16 << 20, 0)
        body += struct.pack(">i", 1) + _string(topic)
        body += struct.pack(">i", 1) + struct.pack(">iqi", partition, offset, 16 << 20)
        data = self.request(1, 4, body)
        pos = 4  # throttle
        (ntopics,) = struct.unpack_from(">i", data, pos)
        pos += 4
        assert ntopics == 1
        (tlen,) = struct.unpack_from(">h", data, pos)
        pos += 2 + tlen
        (nparts,) = struct.unpack_from(">i", data, pos)
        pos += 4
        assert nparts == 1
        _, err, hw, _lso = struct.unpack_from(">ihqq", data, pos)
        pos += 4 + 2 + 8 + 8
        (naborted,) = struct.unpack_from(">i", data, pos)
        pos += 4 + max(naborted, 0) * 16
        (rlen,) = struct.unpack_from(">i", data, pos)
        pos += 4
        raw = data[pos:pos + rlen] if rlen > 0 else b""
        return err, hw, raw


def read_committed(bootstrap: str, topic: str, partitions: int) -> list[Rec]:
    """Every committed record of ``topic`` (partitions ``0..partitions-1``), per partition in
    offset order."""
    out: list[Rec] = []
    conn = _Conn(bootstrap)
    try:
        for p in range(partitions):
            out.extend(_partition(conn, topic, p))
    finally:
        conn.close()
    return out


def _partition(conn: _Conn, topic: str, p: int) -> list[Rec]:
    committed: list[Rec] = []
    pending: dict[int, list[Rec]] = {}
    offset = 0
    while True:
        err, hw, raw = conn.fetch(topic, p, offset)
        assert err == 0, f"fetch error {err} on {topic}/{p}"
        if offset >= hw:
            break
        progressed = False
        for batch in MemoryRecords(raw):
            if batch.next_offset <= offset:
                continue
            progressed = True
            pid = batch.producer_id
            if batch.is_control_batch:
                for ctl in batch:
                    recs = pending.pop(pid, [])
                    if ctl.commit:
                        committed.extend(replace(r, producer_id=pid,
                                                 commit_marker=batch.base_offset)
                                         for r in recs)
            else:
                recs = [Rec(p, r.offset, r.key, r.value, tuple(r.headers), r.timestamp)
                        for r in batch if r.offset >= offset]
                if batch.is_transactional:
                    pending.setdefault(pid, []).extend(recs)
                else:
                    committed.extend(recs)
            offset = batch.next_offset
        if not progressed:
            break
    return committed


def count_open_transactions(bootstrap: str, topic: str, partitions: int) -> int:
    """Number of (partition, producer) transactions that have records but no end marker."""
    conn = _Conn(bootstrap)
    n = 0
    try:
        for p in range(partitions):
            open_pids: set[int] = set()
            offset = 0
            while True:
                err, hw, raw = conn.fetch(topic, p, offset)
                if err or offset >= hw:
                    break
                start = offset
                for batch in MemoryRecords(raw):
                    if batch.next_offset <= offset:
                        continue
                    if batch.is_control_batch:
                        open_pids.discard(batch.producer_id)
                    elif batch.is_transactional:
                        open_pids.add(batch.producer_id)
                    offset = batch.next_offset
                if offset == start:
                    break
            n += len(open_pids)
    finally:
        conn.close()
    return n
