"""The unit every source produces: :class:`Batch`, and :class:`DeadLetter` for bad records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from connectors.schema import Schema

__all__ = ["Batch", "DeadLetter", "collect"]


@dataclass(frozen=True)
class DeadLetter:
    """A record that did not fit the schema.

    Attributes
    ----------
    source : str
        Where it came from (the file path, or a topic/partition for Kafka).
    position : int
        1-based line number (CSV, JSON lines) or 0-based row index (Parquet).
    raw : str
        The record as read (the line without its line break; for Parquet a JSON rendering).
    reason : str
        Why it was rejected, e.g. ``"amount: cannot convert 'x' to float64"``.
    """

    source: str
    position: int
    raw: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """``{"source", "position", "reason", "raw"}`` in that order."""
        return {"source": self.source, "position": self.position, "reason": self.reason,
                "raw": self.raw}


@dataclass(frozen=True, eq=False)
class Batch:
    """One micro-batch of converted rows.

    Attributes
    ----------
    source : str
        The input's name (its path).
    columns : dict of str to ndarray
        One array of shape ``(n,)`` per schema field, in schema order: ``int64``, ``float64``,
        ``bool``, ``<U`` strings, timestamps as ``int64`` epoch ms.
    positions : ndarray of int64, shape (n,)
        Input position of each row (line number or row index, see the module docstring).
    dead_letters : tuple of DeadLetter
        Records of this stretch of input that were rejected, in input order.
    offset : int
        Resume offset where this batch's input begins.
    next_offset : int
        Resume offset just past this batch's input: pass it as ``start=`` to continue.
    """

    source: str
    columns: dict[str, np.ndarray]
    positions: np.ndarray
    dead_letters: tuple[DeadLetter, ...]
    offset: int
    next_offset: int

    @property
    def num_rows(self) -> int:
        """Number of good rows ``n``."""
        return int(self.positions.shape[0])

    def __len__(self) -> int:
        return self.num_rows


def collect(batches: Iterable[Batch],
            schema: Schema) -> tuple[dict[str, np.ndarray], list[DeadLetter]]:
    """Concatenate batches into whole columns plus the list of all dead letters.

    Parameters
    ----------
    batches : iterable of Batch
    schema : Schema
        Gives the column order and the dtypes when there are no rows.

    Returns
    -------
    columns : dict of str to ndarray, each shape (N,)
    dead_letters : list of DeadLetter
    """
    parts: list[dict[str, np.ndarray]] = []
    dead: list[DeadLetter] = []
    for b in batches:
        parts.append(b.columns)
        dead.extend(b.dead_letters)
    if not parts:
        return schema.empty_columns(), dead
    return {n: _concat([p[n] for p in parts]) for n in schema.names}, dead


def _concat(arrays: list[np.ndarray]) -> np.ndarray:
    """``np.concatenate``, but strings of different widths are copied into one
    preallocated array (NumPy's promotion path is several times slower)."""
    if len(arrays) == 1:
        return arrays[0]
    if arrays[0].dtype.kind != "U" or len({a.dtype for a in arrays}) == 1:
        return np.concatenate(arrays)
    width = max(a.dtype.itemsize for a in arrays) // 4
    out = np.empty(sum(len(a) for a in arrays), f"U{width}")
    pos = 0
    for a in arrays:
        out[pos:pos + len(a)] = a
        pos += len(a)
    return out
