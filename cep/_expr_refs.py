"""Expressions that look at the partial match or at the key's history (see :mod:`cep.expr`,
which re-exports everything here): Flink-style match references (:func:`match_first` ...
:func:`match_avg`, nodes :class:`MatchAgg`), SQL row-pattern navigation (:class:`MatchRef`)
and ``PREV`` (:class:`Prev`). Such expressions are *iterative*: they are evaluated event by
event on the reference engine, never over a batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from cep.expr import Expr, MatchContext, _is_null_value

__all__ = [
    "HistoryContext",
    "MatchAgg",
    "MatchRef",
    "Prev",
    "match_avg",
    "match_count",
    "match_first",
    "match_last",
    "match_max",
    "match_min",
    "match_sum",
]


class _PartialMatchExpr(Expr):
    """Base of the expressions that read the partial match: iterative, never vectorised."""

    __slots__ = ()

    def is_iterative(self) -> bool:
        return True

    def evaluate(self, columns: Mapping[str, np.ndarray], n: int) -> Any:
        raise TypeError(f"{self!r} refers to the partial match and cannot be evaluated "
                        "over a batch")

    def _context(self, ctx: MatchContext | None) -> MatchContext:
        if ctx is None:
            raise TypeError(f"{self!r} needs a match context")
        return ctx


def _reduce(func: str, values: list[Any]) -> Any:
    """``sum``, ``min``, ``max`` or (any other ``func``) mean of non-empty ``values``."""
    if func == "sum":
        return sum(values)
    if func == "min":
        return min(values)
    if func == "max":
        return max(values)
    return sum(values) / len(values)


@dataclass(frozen=True, eq=False, slots=True)
class MatchAgg(_PartialMatchExpr):
    """An aggregate over the events already matched to ``stage`` in the current partial match
    (``first``, ``last``, ``count``, ``sum``, ``min``, ``max``, ``avg`` of ``column``)."""

    func: str
    stage: str
    column: str | None

    def evaluate_event(self, event: Mapping[str, Any], ctx: MatchContext | None) -> Any:
        events = self._context(ctx).events_for_pattern(self.stage)
        if self.func == "count":
            return len(events)
        values = [e[self.column] for e in events]  # type: ignore[index]
        if self.func == "sum" and not values:
            return 0
        if not values:
            return None
        if self.func == "first":
            return values[0]
        if self.func == "last":
            return values[-1]
        return _reduce(self.func, values)

    def __repr__(self) -> str:
        arg = f"{self.stage!r}" + (f", {self.column!r}" if self.column is not None else "")
        return f"match_{self.func}({arg})"


def _agg(func: str, stage: str, column: str | None) -> Expr:
    if not isinstance(stage, str) or not stage:
        raise TypeError("a match reference needs a stage name")
    return MatchAgg(func, stage, column)


def match_first(stage: str, column: str) -> Expr:
    """``column`` of the first event matched to ``stage`` so far (``None`` if none)."""
    return _agg("first", stage, column)


def match_last(stage: str, column: str) -> Expr:
    """``column`` of the last event matched to ``stage`` so far (``None`` if none)."""
    return _agg("last", stage, column)


def match_count(stage: str) -> Expr:
    """Number of events matched to ``stage`` so far."""
    return _agg("count", stage, None)


def match_sum(stage: str, column: str) -> Expr:
    """Sum of ``column`` over the events matched to ``stage`` so far (0 if none)."""
    return _agg("sum", stage, column)


def match_min(stage: str, column: str) -> Expr:
    """Minimum of ``column`` over the events matched to ``stage`` so far (``None`` if none)."""
    return _agg("min", stage, column)


def match_max(stage: str, column: str) -> Expr:
    """Maximum of ``column`` over the events matched to ``stage`` so far (``None`` if none)."""
    return _agg("max", stage, column)


def match_avg(stage: str, column: str) -> Expr:
    """Mean of ``column`` over the events matched to ``stage`` so far (``None`` if none)."""
    return _agg("avg", stage, column)


class HistoryContext(Protocol):
    """A match context that also gives earlier events of the key (for :class:`Prev`)."""

    def previous_event(self, n: int) -> Mapping[str, Any] | None:
        """The event ``n >= 1`` positions before the one being tested, or ``None``."""
        ...


@dataclass(frozen=True, eq=False, slots=True)
class Prev(Expr):
    """``PREV(operand, offset)``: the operand's value for the event ``offset`` positions
    earlier in the key's processing order (event time: timestamp order, ties by arrival),
    ``None`` if there is none. ``offset`` 0 is the event itself. The operand must not itself
    refer to the partial match."""

    operand: Expr
    offset: int

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)

    def is_iterative(self) -> bool:
        return True

    def history_depth(self) -> int:
        return max(self.offset, self.operand.history_depth())

    def evaluate(self, columns: Mapping[str, np.ndarray], n: int) -> Any:
        raise TypeError(f"{self!r} reads earlier events of the key and cannot be evaluated "
                        "over a batch")

    def evaluate_event(self, event: Mapping[str, Any], ctx: MatchContext | None) -> Any:
        if self.offset == 0:
            return self.operand.evaluate_event(event, ctx)
        fn = getattr(ctx, "previous_event", None)
        if fn is None:
            raise TypeError(f"{self!r} needs a context with the key's earlier events")
        row = fn(self.offset)
        return None if row is None else self.operand.evaluate_event(row, None)

    def __repr__(self) -> str:
        return f"prev({self.operand!r}, {self.offset})"


_NAV = ("first", "last")
_AGGS = ("count", "sum", "min", "max", "avg")


@dataclass(frozen=True, eq=False, slots=True)
class MatchRef(_PartialMatchExpr):
    """Row-pattern navigation with SQL semantics over the partial match.

    The events are those matched so far to ``stages`` (concatenated in the given order, which
    for a contiguous match is time order), followed by the event being tested when
    ``include_current`` is true (SQL's *running* semantics inside ``DEFINE`` of that stage).
    ``func`` is ``first``/``last`` (the ``operand`` of the event ``offset`` positions from the
    start/end, ``None`` if there are fewer events) or an aggregate ``count``/``sum``/``min``/
    ``max``/``avg`` of the operand over the events, ignoring ``None``/NaN (``count`` with no
    operand counts events; the others give ``None`` over no values).
    """

    func: str
    stages: tuple[str, ...]
    operand: Expr | None
    include_current: bool = False
    offset: int = 0

    def __post_init__(self) -> None:
        if self.func not in _NAV + _AGGS:
            raise ValueError(f"unknown match function {self.func!r}")
        if self.operand is None and self.func != "count":
            raise ValueError(f"match function {self.func!r} needs an operand")
        if self.offset < 0:
            raise ValueError("offsets must be >= 0")

    def columns(self) -> frozenset[str]:
        return frozenset()

    def evaluate_event(self, event: Mapping[str, Any], ctx: MatchContext | None) -> Any:
        ctx = self._context(ctx)
        events: list[Mapping[str, Any]] = []
        for s in self.stages:
            events.extend(ctx.events_for_pattern(s))
        if self.include_current:
            events.append(event)
        op = self.operand
        if self.func in _NAV:
            k = len(events)
            if self.offset >= k:
                return None
            e = events[self.offset] if self.func == "first" else events[k - 1 - self.offset]
            assert op is not None
            return op.evaluate_event(e, None)
        if op is None:
            return len(events)
        values = [v for v in (op.evaluate_event(e, None) for e in events)
                  if not _is_null_value(v)]
        if self.func == "count":
            return len(values)
        if not values:
            return None
        return _reduce(self.func, values)

    def __repr__(self) -> str:
        cur = ", current" if self.include_current else ""
        off = f", offset={self.offset}" if self.offset else ""
        return f"match_ref({self.func!r}, {list(self.stages)!r}, {self.operand!r}{cur}{off})"
