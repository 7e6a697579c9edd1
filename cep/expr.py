"""A small, compilable expression language for conditions: ``col("amount") < 1``.

Expressions are immutable trees of :class:`Expr` nodes built with Python operators. They are the
preferred way to write conditions because they are *data*, not code: the operator evaluates them
vectorised over a whole batch (the input of the Numba fast path), and a front end such as
MATCH_RECOGNIZE can build them from parsed SQL (``DEFINE`` clauses) without ``eval``.

Node kinds
----------
* :func:`col` (a column of the batch), :func:`lit` (a constant);
* arithmetic ``+ - * / %``, unary ``-`` and ``abs()``;
* comparisons ``< <= > >= == !=`` (``==``/``!=`` build expressions, so :class:`Expr` objects are
  hashed by identity);
* boolean ``&``, ``|``, ``~`` (Python's ``and``/``or``/``not`` raise ``TypeError``);
* :meth:`Expr.is_in` (membership in a constant set);
* match references, which look at the events already matched to a stage of the current partial
  match (as Flink's ``ctx.getEventsForPattern``; the event being tested is *not* included):
  :func:`match_first`, :func:`match_last`, :func:`match_count`, :func:`match_sum`,
  :func:`match_min`, :func:`match_max`, :func:`match_avg`.

* :func:`is_null` (``None``, or NaN in a float column) and :func:`case` (the first branch whose
  condition holds, else a default), used by the MATCH_RECOGNIZE front end for SQL's ``IS NULL``
  and ``CASE WHEN``;
* SQL row-pattern navigation, built by :mod:`cep.sql` (see ``docs/match-recognize.md``):
  :class:`MatchRef` (``FIRST``/``LAST`` with a logical offset and the aggregates ``SUM``,
  ``COUNT``, ``AVG``, ``MIN``, ``MAX`` over the events matched so far to some stages, optionally
  including the event being tested; SQL semantics: aggregates over no values give ``None``) and
  :class:`Prev` (``PREV(expr, n)``: the value for the event ``n`` positions earlier in the key's
  processing order, whichever stage, if any, it matched; ``None`` before the first events).

An expression without match references or ``Prev`` is *simple* (vectorisable); one with them is
*iterative* and runs on the pure-Python reference engine (which keeps, per key, the last ``n``
processed events for ``Prev``, see :meth:`Expr.history_depth`). Aggregates over no events give
``None`` (``match_count`` gives 0, ``match_sum`` gives 0); a comparison with ``None`` is false.
The match references, :class:`MatchRef` and :class:`Prev` are defined in
:mod:`cep._expr_refs` and re-exported here.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

__all__ = [
    "Expr",
    "MatchContext",
    "case",
    "col",
    "is_null",
    "lit",
    "match_avg",
    "match_count",
    "match_first",
    "match_last",
    "match_max",
    "match_min",
    "match_sum",
]


class MatchContext(Protocol):
    """What an iterative expression or condition can see of the current partial match."""

    def events_for_pattern(self, name: str) -> Sequence[Mapping[str, Any]]:
        """Events already matched to stage ``name``, in match order (empty if none)."""
        ...


_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "%": operator.mod,
}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}


def _wrap(value: Any) -> Expr:
    if isinstance(value, Expr):
        return value
    if isinstance(value, (bool, int, float, str, np.generic)) or value is None:
        return Lit(value.item() if isinstance(value, np.generic) else value)
    raise TypeError(f"cannot use a {type(value).__name__} in an expression; use lit() for "
                    "scalar constants")


class Expr:
    """Base class of expression nodes (immutable). Build them with :func:`col`, :func:`lit` and
    operators; see the module docstring."""

    __slots__ = ()

    # -- construction by operators ---------------------------------------------------------
    def _bin(self, op: str, other: Any, *, reverse: bool = False) -> Expr:
        try:
            o = _wrap(other)
        except TypeError:
            return NotImplemented  # e.g. ``expr | condition``: Condition.__ror__ handles it
        return Binary(op, o, self) if reverse else Binary(op, self, o)

    def __add__(self, o: Any) -> Expr: return self._bin("+", o)
    def __radd__(self, o: Any) -> Expr: return self._bin("+", o, reverse=True)
    def __sub__(self, o: Any) -> Expr: return self._bin("-", o)
    def __rsub__(self, o: Any) -> Expr: return self._bin("-", o, reverse=True)
    def __mul__(self, o: Any) -> Expr: return self._bin("*", o)
    def __rmul__(self, o: Any) -> Expr: return self._bin("*", o, reverse=True)
    def __truediv__(self, o: Any) -> Expr: return self._bin("/", o)
    def __rtruediv__(self, o: Any) -> Expr: return self._bin("/", o, reverse=True)
    def __mod__(self, o: Any) -> Expr: return self._bin("%", o)
    def __rmod__(self, o: Any) -> Expr: return self._bin("%", o, reverse=True)
    def __lt__(self, o: Any) -> Expr: return self._bin("<", o)
    def __le__(self, o: Any) -> Expr: return self._bin("<=", o)
    def __gt__(self, o: Any) -> Expr: return self._bin(">", o)
    def __ge__(self, o: Any) -> Expr: return self._bin(">=", o)
    def __eq__(self, o: Any) -> Expr: return self._bin("==", o)  # type: ignore[override]
    def __ne__(self, o: Any) -> Expr: return self._bin("!=", o)  # type: ignore[override]
    def __and__(self, o: Any) -> Expr: return self._bin("&", o)
    def __rand__(self, o: Any) -> Expr: return self._bin("&", o, reverse=True)
    def __or__(self, o: Any) -> Expr: return self._bin("|", o)
    def __ror__(self, o: Any) -> Expr: return self._bin("|", o, reverse=True)
    def __neg__(self) -> Expr: return Unary("neg", self)
    def __abs__(self) -> Expr: return Unary("abs", self)
    def __invert__(self) -> Expr: return Unary("not", self)

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise TypeError("an expression has no truth value; combine conditions with &, | and ~ "
                        "(not 'and', 'or', 'not')")

    def is_in(self, values: Iterable[Any]) -> Expr:
        """True where the value is one of ``values`` (a finite set of constants)."""
        return IsIn(self, tuple(values))

    # -- analysis ---------------------------------------------------------------------------
    def children(self) -> tuple[Expr, ...]:
        """Direct sub-expressions."""
        return ()

    def columns(self) -> frozenset[str]:
        """Names of the batch columns this expression reads (match references excluded)."""
        out: frozenset[str] = frozenset()
        for c in self.children():
            out |= c.columns()
        return out

    def is_iterative(self) -> bool:
        """Whether the expression refers to events already matched (match references) or to
        earlier events of the key (``Prev``)."""
        return any(c.is_iterative() for c in self.children())

    def history_depth(self) -> int:
        """How many earlier events of the key the expression reads (the largest ``Prev``
        offset; 0 if none)."""
        return max((c.history_depth() for c in self.children()), default=0)

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(self, columns: Mapping[str, np.ndarray], n: int) -> Any:
        """Vectorised value over a batch of ``n`` rows (an array of shape ``(n,)`` or a scalar).

        Raises
        ------
        KeyError
            If a column is missing.
        TypeError
            If the expression is iterative (it needs a partial match).
        """
        raise NotImplementedError

    def evaluate_event(self, event: Mapping[str, Any], ctx: MatchContext | None) -> Any:
        """Value for one event (a mapping of column name to scalar) given the partial match."""
        raise NotImplementedError


@dataclass(frozen=True, eq=False, slots=True)
class Col(Expr):
    """A column of the batch, by name."""

    name: str

    def columns(self) -> frozenset[str]:
        return frozenset((self.name,))

    def evaluate(self, columns: Mapping[str, np.ndarray], n: int) -> Any:
        return np.asarray(columns[self.name])

    def evaluate_event(self, event: Mapping[str, Any], ctx: MatchContext | None) -> Any:
        return event[self.name]

    def __repr__(self) -> str:
        return f"col({self.name!r})"


@dataclass(frozen=True, eq=False, slots=True)
class Lit(Expr):
    """A constant (bool, int, float, str or None)."""

    value: Any

    def evaluate(self, columns: Mapping[str, np.ndarray], n: int) -> Any:
        return self.value

    def evaluate_event(self, event: Mapping[str, Any], ctx: MatchContext | None) -> Any:
        return self.value

    def __repr__(self) -> str:
        return f"lit({self.value!r})"


@dataclass(frozen=True, eq=False, slots=True)
class Unary(Expr):
    """``neg``, ``abs`` or boolean ``not`` of an operand."""

    op: str
    operand: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)

    def evaluate(self, columns: Mapping[str, np.ndarray], n: int) -> Any:
        v = self.operand.evaluate(columns, n)
        if self.op == "neg":
            return np.negative(v)
        if self.op == "abs":
            return np.abs(v)
        return np.logical_not(v)

    def evaluate_event(self, event: Mapping[str, Any], ctx: MatchContext | None) -> Any:
        v = self.operand.evaluate_event(event, ctx)
        if self.op == "not":
            return not bool(v) if v is not None else True
        if v is None:
            return None
        return -v if self.op == "neg" else abs(v)

    def __repr__(self) -> str:
        return {"neg": "-", "abs": "abs", "not": "~"}[self.op] + f"({self.operand!r})"


@dataclass(frozen=True, eq=False, slots=True)
class Binary(Expr):
    """Arithmetic (``+ - * / %``), comparison (``< <= > >= == !=``) or boolean (``& |``)."""

    op: str
    left: Expr
    right: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)

    def evaluate(self, columns: Mapping[str, np.ndarray], n: int) -> Any:
        a = self.left.evaluate(columns, n)
        b = self.right.evaluate(columns, n)
        if self.op == "&":
            return np.logical_and(a, b)
        if self.op == "|":
            return np.logical_or(a, b)
        fn = _ARITH.get(self.op) or _COMPARE[self.op]
        with np.errstate(divide="ignore", invalid="ignore"):
            return fn(a, b)

    def evaluate_event(self, event: Mapping[str, Any], ctx: MatchContext | None) -> Any:
        a = self.left.evaluate_event(event, ctx)
        if self.op == "&":
            return bool(a) and bool(self.right.evaluate_event(event, ctx))
        if self.op == "|":
            return bool(a) or bool(self.right.evaluate_event(event, ctx))
        b = self.right.evaluate_event(event, ctx)
        if a is None or b is None:
            return False if self.op in _COMPARE else None
        if self.op in _COMPARE:
            return bool(_COMPARE[self.op](a, b))
        # numpy scalar arithmetic, so a per-event evaluation equals the vectorised one
        with np.errstate(divide="ignore", invalid="ignore"):
            return _ARITH[self.op](np.asarray(a), np.asarray(b)).item()

    def __repr__(self) -> str:
        return f"({self.left!r} {self.op} {self.right!r})"


@dataclass(frozen=True, eq=False, slots=True)
class IsIn(Expr):
    """Membership of the operand's value in a tuple of constants."""

    operand: Expr
    values: tuple[Any, ...]

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)

    def evaluate(self, columns: Mapping[str, np.ndarray], n: int) -> Any:
        v = self.operand.evaluate(columns, n)
        return np.isin(v, np.asarray(self.values, dtype=object if not self.values else None))

    def evaluate_event(self, event: Mapping[str, Any], ctx: MatchContext | None) -> Any:
        return self.operand.evaluate_event(event, ctx) in self.values

    def __repr__(self) -> str:
        return f"{self.operand!r}.is_in({list(self.values)!r})"




def col(name: str) -> Expr:
    """The column ``name`` of the batch (vectorised) / the field ``name`` of an event."""
    if not isinstance(name, str) or not name:
        raise TypeError("col() needs a non-empty column name")
    return Col(name)


def lit(value: Any) -> Expr:
    """A constant: bool, int, float, str or None."""
    return _wrap(value)





def _is_null_value(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _null_mask(v: Any, n: int) -> np.ndarray:
    arr = np.asarray(v)
    if arr.shape == ():
        return np.full(n, _is_null_value(arr.item() if arr.dtype.kind != "O" else v), np.bool_)
    if arr.dtype.kind == "f":
        return np.isnan(arr)
    if arr.dtype.kind == "O":
        return np.fromiter((_is_null_value(x) for x in arr), np.bool_, arr.shape[0])
    return np.zeros(arr.shape[0], np.bool_)


@dataclass(frozen=True, eq=False, slots=True)
class IsNull(Expr):
    """True where the operand is ``None`` (or NaN, the null of float columns)."""

    operand: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)

    def evaluate(self, columns: Mapping[str, np.ndarray], n: int) -> Any:
        return _null_mask(self.operand.evaluate(columns, n), n)

    def evaluate_event(self, event: Mapping[str, Any], ctx: MatchContext | None) -> Any:
        return _is_null_value(self.operand.evaluate_event(event, ctx))

    def __repr__(self) -> str:
        return f"is_null({self.operand!r})"


@dataclass(frozen=True, eq=False, slots=True)
class Case(Expr):
    """The value of the first ``(condition, value)`` branch whose condition holds, else
    ``default`` (SQL ``CASE WHEN``)."""

    branches: tuple[tuple[Expr, Expr], ...]
    default: Expr

    def children(self) -> tuple[Expr, ...]:
        return (*(e for b in self.branches for e in b), self.default)

    def evaluate(self, columns: Mapping[str, np.ndarray], n: int) -> Any:
        conds = [np.broadcast_to(np.asarray(c.evaluate(columns, n), np.bool_), (n,))
                 for c, _ in self.branches]
        values = [np.broadcast_to(np.asarray(v.evaluate(columns, n)), (n,))
                  for _, v in self.branches]
        default = np.broadcast_to(np.asarray(self.default.evaluate(columns, n)), (n,))
        kinds = {a.dtype.kind for a in [*values, default]}
        if "O" in kinds or "U" in kinds or "S" in kinds or (len(kinds) > 1 and "b" in kinds):
            out = np.empty(n, object)
            out[:] = default
            taken = np.zeros(n, np.bool_)
            for c, v in zip(conds, values, strict=True):
                pick = c & ~taken
                out[pick] = v[pick]
                taken |= c
            return out
        return np.select(conds, values, default) if conds else default.copy()

    def evaluate_event(self, event: Mapping[str, Any], ctx: MatchContext | None) -> Any:
        for c, v in self.branches:
            r = c.evaluate_event(event, ctx)
            if r is not None and bool(r):
                return v.evaluate_event(event, ctx)
        return self.default.evaluate_event(event, ctx)

    def __repr__(self) -> str:
        inner = ", ".join(f"({c!r}, {v!r})" for c, v in self.branches)
        return f"case([{inner}], {self.default!r})"




def is_null(expr: Any) -> Expr:
    """True where ``expr`` is ``None`` or NaN (SQL ``IS NULL``)."""
    return IsNull(_wrap(expr))


def case(branches: Sequence[tuple[Any, Any]], default: Any = None) -> Expr:
    """The value of the first branch ``(condition, value)`` whose condition holds, else
    ``default`` (SQL ``CASE WHEN ... THEN ... ELSE ... END``)."""
    return Case(tuple((_wrap(c), _wrap(v)) for c, v in branches), _wrap(default))


# match references, navigation and Prev live in cep._expr_refs (re-exported here; they
# subclass Expr, so they are imported last)
from cep._expr_refs import (  # noqa: E402
    HistoryContext,  # noqa: F401 (re-exported)
    MatchAgg,  # noqa: F401 (re-exported)
    MatchRef,  # noqa: F401 (re-exported)
    Prev,  # noqa: F401 (re-exported)
    match_avg,
    match_count,
    match_first,
    match_last,
    match_max,
    match_min,
    match_sum,
)
