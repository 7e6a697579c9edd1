"""Versioned, checksummed binary snapshots of operator state (never pickle).

A snapshot is ``MAGIC | u16 format version | u32 CRC-32 of body | body``, where the body is
MessagePack (via :mod:`msgspec`) of a tree of ``dict``/``list``/``str``/``int``/``float``/
``bool``/``None``/``bytes`` and NumPy arrays of numeric or boolean dtype (stored as an
extension type holding dtype, shape and the raw little-endian buffer). Object arrays are
refused: store them as lists. Decoding never executes anything from the data.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import msgspec
import numpy as np

from windows.errors import SnapshotError

__all__ = ["FORMAT_VERSION", "decode_snapshot", "encode_snapshot"]

MAGIC = b"CEPKSNAP"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">HI")
_EXT_NDARRAY = 1
_ALLOWED_KINDS = frozenset("biuf")


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in _ALLOWED_KINDS:
            raise SnapshotError(f"cannot snapshot an array of dtype {obj.dtype}; use a list")
        arr = np.ascontiguousarray(obj)
        le = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        arr = arr.astype(le, copy=False)
        header = msgspec.msgpack.encode([arr.dtype.str, list(arr.shape)])
        return msgspec.msgpack.Ext(
            _EXT_NDARRAY, struct.pack(">I", len(header)) + header + arr.tobytes()
        )
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    raise SnapshotError(f"cannot snapshot a value of type {type(obj).__name__}")


def _ext_hook(code: int, data: memoryview) -> Any:
    if code != _EXT_NDARRAY:
        raise SnapshotError(f"unknown extension type {code} in snapshot")
    (hlen,) = struct.unpack_from(">I", data, 0)
    dtype_str, shape = msgspec.msgpack.decode(bytes(data[4 : 4 + hlen]))
    dtype = np.dtype(dtype_str)
    if dtype.kind not in _ALLOWED_KINDS:
        raise SnapshotError(f"snapshot holds an array of forbidden dtype {dtype_str}")
    arr = np.frombuffer(bytes(data[4 + hlen :]), dtype=dtype)
    return arr.reshape(shape).copy()


_ENCODER = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_DECODER = msgspec.msgpack.Decoder(ext_hook=_ext_hook)


def encode_snapshot(state: dict[str, Any]) -> bytes:
    """Serialise operator state to bytes.

    Parameters
    ----------
    state : dict
        A tree of plain values and numeric/boolean NumPy arrays (any shape).

    Returns
    -------
    bytes
        ``MAGIC + version + crc32 + body``.

    Raises
    ------
    SnapshotError
        If the tree holds a value that cannot be stored (object arrays, arbitrary objects).
    """
    body = _ENCODER.encode(state)
    return MAGIC + _HEADER.pack(FORMAT_VERSION, zlib.crc32(body)) + body


def decode_snapshot(data: bytes | bytearray | memoryview) -> dict[str, Any]:
    """Parse bytes written by :func:`encode_snapshot`.

    Raises
    ------
    SnapshotError
        On a wrong magic, an unknown format version, a checksum mismatch or a malformed body.
    """
    raw = bytes(data)
    if not raw.startswith(MAGIC):
        raise SnapshotError("not a cepkit snapshot (bad magic)")
    if len(raw) < len(MAGIC) + _HEADER.size:
        raise SnapshotError("truncated snapshot header")
    version, crc = _HEADER.unpack_from(raw, len(MAGIC))
    if version != FORMAT_VERSION:
        raise SnapshotError(
            f"snapshot format version {version} is not supported "
            f"(this build reads version {FORMAT_VERSION})"
        )
    body = raw[len(MAGIC) + _HEADER.size :]
    if zlib.crc32(body) != crc:
        raise SnapshotError("snapshot checksum mismatch: the data is corrupt or truncated")
    try:
        out = _DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise SnapshotError(f"malformed snapshot body: {exc}") from exc
    if not isinstance(out, dict):
        raise SnapshotError("snapshot body is not a mapping")
    return out
