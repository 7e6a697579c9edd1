"""Window aggregations: built-in incremental aggregates, user aggregate functions and
full-window functions.

Built-ins run inside the compiled kernel. Values are read as ``float64``; ``NaN`` values are
skipped (as SQL skips NULL), so ``sum``/``mean``/``min``/``max``/``first``/``last`` of a window
whose values are all ``NaN`` is ``NaN``. For integer input columns the results of ``sum``,
``min``, ``max``, ``first`` and ``last`` are returned as ``int64`` (exact up to 2**53).
``first``/``last`` pick the value of the record with the smallest/largest timestamp, ties by
arrival order, so they do not depend on arrival order for distinct timestamps.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

__all__ = [
    "AggregateFunction",
    "BuiltinAggregate",
    "ProcessWindowFunction",
    "TimeWindow",
    "count",
    "first",
    "last",
    "max",
    "mean",
    "min",
    "sum",
]

OP_COUNT_ALL, OP_COUNT, OP_SUM, OP_MIN, OP_MAX, OP_MEAN, OP_FIRST, OP_LAST = range(8)

ACC = TypeVar("ACC")


@dataclass(frozen=True)
class BuiltinAggregate:
    """A built-in aggregate over one column (or over records, for ``count()``).

    Attributes
    ----------
    op : int
        Kernel op code.
    column : str or None
        Input column; ``None`` for ``count()``.
    """

    op: int
    column: str | None
    name: str

    def __repr__(self) -> str:
        return f"{self.name}({self.column or ''})"


def count(column: str | None = None) -> BuiltinAggregate:
    """Number of records in the window; with ``column``, the number of non-NaN values.
    Output ``int64``."""
    return BuiltinAggregate(OP_COUNT_ALL if column is None else OP_COUNT, column, "count")


def sum(column: str) -> BuiltinAggregate:
    """Sum of the non-NaN values of ``column``."""
    return BuiltinAggregate(OP_SUM, column, "sum")


def min(column: str) -> BuiltinAggregate:
    """Smallest non-NaN value of ``column``."""
    return BuiltinAggregate(OP_MIN, column, "min")


def max(column: str) -> BuiltinAggregate:
    """Largest non-NaN value of ``column``."""
    return BuiltinAggregate(OP_MAX, column, "max")


def mean(column: str) -> BuiltinAggregate:
    """Arithmetic mean of the non-NaN values of ``column``; ``float64``."""
    return BuiltinAggregate(OP_MEAN, column, "mean")


def first(column: str) -> BuiltinAggregate:
    """Value of ``column`` in the earliest record (by timestamp, ties by arrival)."""
    return BuiltinAggregate(OP_FIRST, column, "first")


def last(column: str) -> BuiltinAggregate:
    """Value of ``column`` in the latest record (by timestamp, ties by arrival)."""
    return BuiltinAggregate(OP_LAST, column, "last")


@dataclass(frozen=True)
class TimeWindow:
    """A window handed to a :class:`ProcessWindowFunction`: ``[start, end)`` in epoch ms (for
    count windows, per-key record numbers)."""

    start: int
    end: int

    def max_timestamp(self) -> int:
        """``end - 1``, the last timestamp inside the window (Flink ``maxTimestamp``)."""
        return self.end - 1


class AggregateFunction(abc.ABC, Generic[ACC]):
    """User incremental aggregate (as Flink ``AggregateFunction``).

    The operator calls :meth:`add` once per record (as a mapping column name -> scalar), so this
    path runs in Python per record; prefer built-ins for throughput. :meth:`merge` is used when
    session windows merge. Accumulators are kept in memory and are not part of snapshots unless
    :meth:`snapshot_accumulator`/:meth:`restore_accumulator` turn them into plain data.
    """

    @abc.abstractmethod
    def create_accumulator(self) -> ACC:
        """A new, empty accumulator."""

    @abc.abstractmethod
    def add(self, value: Mapping[str, Any], accumulator: ACC) -> ACC:
        """Add one record; return the (possibly new) accumulator."""

    @abc.abstractmethod
    def merge(self, a: ACC, b: ACC) -> ACC:
        """Combine two accumulators."""

    @abc.abstractmethod
    def get_result(self, accumulator: ACC) -> Any:
        """The window's result (a scalar)."""

    def snapshot_accumulator(self, accumulator: ACC) -> Any:
        """Plain data (dict/list/str/int/float/bool/None) for a snapshot. The default accepts
        accumulators that already are plain data."""
        return accumulator

    def restore_accumulator(self, data: Any) -> ACC:
        """Inverse of :meth:`snapshot_accumulator`."""
        return data


class ProcessWindowFunction(abc.ABC):
    """Full-window function: receives all records of the window when it fires (as Flink
    ``ProcessWindowFunction``). Records are buffered per window, so memory grows with window
    contents."""

    @abc.abstractmethod
    def process(
        self, key: Any, window: TimeWindow, records: Mapping[str, np.ndarray]
    ) -> Mapping[str, Any]:
        """Compute the output of one firing.

        Parameters
        ----------
        key : scalar
            The key value (``None`` for a non-keyed operator).
        window : TimeWindow
        records : mapping of str to ndarray
            The window's records in arrival order, each column of shape ``(m,)``; includes
            ``"timestamp"`` (int64 epoch ms) when the operator has timestamps.

        Returns
        -------
        mapping of str to scalar
            The extra columns of this firing's output row (the same names at every firing).
        """
