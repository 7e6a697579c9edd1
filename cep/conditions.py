"""Conditions: what an event must satisfy to be taken by a stage.

There are three kinds, and the kind decides which engine can run a pattern:

* **simple, vectorised** — a function of the whole batch, ``columns -> bool array``:
  :meth:`Condition.vectorized`, or an expression such as ``col("amount") < 1``
  (:mod:`cep.expr`), the preferred form. Evaluated once per batch with NumPy; the Numba fast
  path runs on the resulting boolean masks.
* **simple, per event** — a Python callable ``event -> bool`` where ``event`` is a mapping of
  column name to scalar (:meth:`Condition.per_event`, as Flink's ``SimpleCondition``). Evaluated
  for every event of the batch up front (a Python loop), then treated like a vectorised one.
* **iterative** — ``(event, ctx) -> bool`` where ``ctx.events_for_pattern(name)`` returns the
  events already matched to stage ``name`` of the partial match being extended (as Flink's
  ``IterativeCondition`` / ``ctx.getEventsForPattern``): :meth:`Condition.iterative`, or an
  expression with match references (:func:`cep.expr.match_sum` ...). Runs on the pure-Python
  reference engine only.

Conditions combine with ``&``, ``|`` and ``~``; ``Pattern.where`` ANDs and ``Pattern.or_`` ORs
(as Flink's ``where`` / ``or``). Plain Python callables are refused by :func:`as_condition`
because a function of columns and a function of one event cannot be told apart; wrap them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from cep.errors import ConditionError
from cep.expr import Expr

__all__ = [
    "TRUE",
    "Condition",
    "ConditionContext",
    "as_condition",
]


class ConditionContext(Protocol):
    """What an iterative condition sees (as Flink's ``IterativeCondition.Context``)."""

    @property
    def timestamp(self) -> int:
        """Timestamp (epoch ms) of the event being tested."""
        ...

    @property
    def current_processing_time(self) -> int:
        """Processing time (epoch ms) of the batch being processed."""
        ...

    def events_for_pattern(self, name: str) -> Sequence[Mapping[str, Any]]:
        """Events already matched to stage ``name`` in this partial match, in match order."""
        ...


RowsProvider = Callable[[], Sequence[Mapping[str, Any]]]


class Condition:
    """Base class of conditions (immutable). Build them with the static constructors, from an
    expression, or by combining with ``&``, ``|``, ``~``."""

    #: True when the condition depends on the partial match (reference engine only).
    is_iterative: bool = False

    def __and__(self, other: Any) -> Condition:
        return AndCondition(self, as_condition(other))

    def __rand__(self, other: Any) -> Condition:
        return AndCondition(as_condition(other), self)

    def __or__(self, other: Any) -> Condition:
        return OrCondition(self, as_condition(other))

    def __ror__(self, other: Any) -> Condition:
        return OrCondition(as_condition(other), self)

    def __invert__(self) -> Condition:
        return NotCondition(self)

    def __bool__(self) -> bool:
        raise TypeError("a condition has no truth value; combine conditions with &, | and ~")

    # -- constructors -------------------------------------------------------------------------
    @staticmethod
    def vectorized(fn: Callable[[Mapping[str, np.ndarray]], Any], *,
                   name: str | None = None) -> Condition:
        """A simple condition evaluated over a whole batch.

        Parameters
        ----------
        fn : callable
            ``fn(columns) -> ndarray of bool, shape (n,)`` where ``columns`` maps each column
            name to an array of shape ``(n,)``. A scalar ``bool`` result applies to every row.
        name : str, optional
            Shown in ``repr`` and error messages.
        """
        if not callable(fn):
            raise TypeError("Condition.vectorized needs a callable columns -> bool array")
        return VectorizedCondition(fn, str(name or getattr(fn, "__name__", "vectorized")))

    @staticmethod
    def per_event(fn: Callable[[Mapping[str, Any]], Any], *,
                  name: str | None = None) -> Condition:
        """A simple condition on one event at a time (as Flink's ``SimpleCondition``).

        ``fn(event) -> bool`` where ``event`` maps column names to Python scalars. It is called
        once per event of every batch, before matching (even for events no partial match
        would test), so it must not have side effects that matter.
        """
        if not callable(fn):
            raise TypeError("Condition.per_event needs a callable event -> bool")
        return PerEventCondition(fn, str(name or getattr(fn, "__name__", "per_event")))

    @staticmethod
    def iterative(fn: Callable[[Mapping[str, Any], ConditionContext], Any], *,
                  name: str | None = None) -> Condition:
        """A condition that also sees the partial match (as Flink's ``IterativeCondition``).

        ``fn(event, ctx) -> bool``; ``ctx.events_for_pattern(name)`` lists the events already
        matched to stage ``name`` (not including ``event``), ``ctx.timestamp`` is the event
        time and ``ctx.current_processing_time`` the processing time. Patterns using it run
        on the reference engine.
        """
        if not callable(fn):
            raise TypeError("Condition.iterative needs a callable (event, ctx) -> bool")
        return IterativeCondition(fn, str(name or getattr(fn, "__name__", "iterative")))

    @staticmethod
    def expression(expr: Expr) -> Condition:
        """A condition from an expression (:mod:`cep.expr`), e.g. ``col("amount") > 500``."""
        if not isinstance(expr, Expr):
            raise TypeError("Condition.expression needs a cep.expr.Expr")
        return ExprCondition(expr)

    # -- evaluation (leaves only; composites are flattened by the compiler) -------------------
    def mask(self, columns: Mapping[str, np.ndarray], n: int, rows: RowsProvider) -> np.ndarray:
        """Boolean array of shape ``(n,)`` for a simple leaf condition over a batch.

        Raises
        ------
        ConditionError
            If the condition fails or returns something that is not boolean of shape ``(n,)``.
        """
        raise TypeError(f"{self!r} cannot be evaluated over a batch")

    def test(self, event: Mapping[str, Any], ctx: ConditionContext) -> bool:
        """Evaluate an iterative leaf condition for one event and partial match."""
        raise TypeError(f"{self!r} is not an iterative condition")

    def leaves(self) -> tuple[Condition, ...]:
        """The leaf conditions of this (possibly composite) condition."""
        return (self,)


def _as_mask(value: Any, n: int, who: Condition) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        raise ConditionError(f"condition {who!r} returned dtype {arr.dtype}, expected bool")
    if arr.shape == ():
        return np.full(n, bool(arr), np.bool_)
    if arr.shape != (n,):
        raise ConditionError(f"condition {who!r} returned shape {arr.shape}, expected ({n},)")
    return arr


def _as_bool(value: Any, who: Condition) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ConditionError(f"condition {who!r} returned {type(value).__name__}, expected bool")


@dataclass(frozen=True, eq=False)
class TrueCondition(Condition):
    """Accepts every event (the condition of a stage without ``where``)."""

    def mask(self, columns: Mapping[str, np.ndarray], n: int, rows: RowsProvider) -> np.ndarray:
        return np.ones(n, np.bool_)

    def __repr__(self) -> str:
        return "TRUE"


#: The condition that accepts every event.
TRUE: Condition = TrueCondition()


@dataclass(frozen=True, eq=False)
class ExprCondition(Condition):
    """A condition given by an expression; iterative if it has match references."""

    expr: Expr
    is_iterative: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_iterative", self.expr.is_iterative())

    def mask(self, columns: Mapping[str, np.ndarray], n: int, rows: RowsProvider) -> np.ndarray:
        try:
            value = self.expr.evaluate(columns, n)
        except KeyError as exc:
            raise ConditionError(f"condition {self!r} reads a missing column {exc}") from exc
        except Exception as exc:
            raise ConditionError(f"condition {self!r} failed: {exc}") from exc
        return _as_mask(value, n, self)

    def test(self, event: Mapping[str, Any], ctx: ConditionContext) -> bool:
        try:
            value = self.expr.evaluate_event(event, ctx)
        except Exception as exc:
            raise ConditionError(f"condition {self!r} failed: {exc}") from exc
        return bool(value) if value is not None else False

    def __repr__(self) -> str:
        return repr(self.expr)


@dataclass(frozen=True, eq=False)
class VectorizedCondition(Condition):
    """``columns -> bool array`` over a batch."""

    fn: Callable[[Mapping[str, np.ndarray]], Any]
    name: str

    def mask(self, columns: Mapping[str, np.ndarray], n: int, rows: RowsProvider) -> np.ndarray:
        try:
            value = self.fn(columns)
        except Exception as exc:
            raise ConditionError(f"condition {self!r} failed: {exc}") from exc
        return _as_mask(value, n, self)

    def __repr__(self) -> str:
        return f"vectorized({self.name})"


@dataclass(frozen=True, eq=False)
class PerEventCondition(Condition):
    """``event -> bool`` for each event of a batch."""

    fn: Callable[[Mapping[str, Any]], Any]
    name: str

    def mask(self, columns: Mapping[str, np.ndarray], n: int, rows: RowsProvider) -> np.ndarray:
        out = np.empty(n, np.bool_)
        for i, event in enumerate(rows()):
            try:
                value = self.fn(event)
            except Exception as exc:
                raise ConditionError(f"condition {self!r} failed on {event!r}: {exc}") from exc
            out[i] = _as_bool(value, self)
        return out

    def __repr__(self) -> str:
        return f"per_event({self.name})"


@dataclass(frozen=True, eq=False)
class IterativeCondition(Condition):
    """``(event, ctx) -> bool`` evaluated per event and partial match."""

    fn: Callable[[Mapping[str, Any], ConditionContext], Any]
    name: str
    is_iterative: bool = field(default=True, init=False)

    def test(self, event: Mapping[str, Any], ctx: ConditionContext) -> bool:
        try:
            value = self.fn(event, ctx)
        except Exception as exc:
            raise ConditionError(f"condition {self!r} failed on {event!r}: {exc}") from exc
        return _as_bool(value, self)

    def __repr__(self) -> str:
        return f"iterative({self.name})"


@dataclass(frozen=True, eq=False)
class _BinaryCondition(Condition):
    """Two conditions combined by :attr:`symbol` (evaluated left first)."""

    symbol: ClassVar[str]
    left: Condition
    right: Condition
    is_iterative: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_iterative",
                           self.left.is_iterative or self.right.is_iterative)

    def leaves(self) -> tuple[Condition, ...]:
        return self.left.leaves() + self.right.leaves()

    def __repr__(self) -> str:
        return f"({self.left!r} {self.symbol} {self.right!r})"


@dataclass(frozen=True, eq=False, repr=False)
class AndCondition(_BinaryCondition):
    """Both conditions hold (evaluated left first)."""

    symbol: ClassVar[str] = "&"


@dataclass(frozen=True, eq=False, repr=False)
class OrCondition(_BinaryCondition):
    """Either condition holds (evaluated left first)."""

    symbol: ClassVar[str] = "|"


@dataclass(frozen=True, eq=False)
class NotCondition(Condition):
    """The condition does not hold."""

    inner: Condition
    is_iterative: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_iterative", self.inner.is_iterative)

    def leaves(self) -> tuple[Condition, ...]:
        return self.inner.leaves()

    def __repr__(self) -> str:
        return f"~{self.inner!r}"


def as_condition(value: Any) -> Condition:
    """Normalise ``value`` to a :class:`Condition`.

    Accepts a :class:`Condition` or an expression (:class:`cep.expr.Expr`).

    Raises
    ------
    TypeError
        For anything else, including a bare callable (wrap it with
        :meth:`Condition.vectorized`, :meth:`Condition.per_event` or
        :meth:`Condition.iterative`).
    """
    if isinstance(value, Condition):
        return value
    if isinstance(value, Expr):
        return ExprCondition(value)
    if callable(value):
        raise TypeError("a bare callable is ambiguous as a condition: wrap it with "
                        "Condition.vectorized(fn) (columns -> bool array), "
                        "Condition.per_event(fn) (event -> bool) or "
                        "Condition.iterative(fn) ((event, ctx) -> bool)")
    raise TypeError(f"expected a Condition or an expression, got {type(value).__name__}")
