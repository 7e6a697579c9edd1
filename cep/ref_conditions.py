"""Batch analysis of transition conditions for the reference runtime.

The reference engine evaluates conditions per partial match and event. Most of that work can
be done once per batch, vectorised, without changing any result:

* every atom gets a *three-valued* value per event: ``0`` (false), ``1`` (true) or ``2``
  (unknown: the engine must evaluate it per partial match). Simple atoms come from their masks.
* an iterative expression atom that is an ``AND`` chain is false wherever its leading simple
  conjuncts are false (the per-event evaluation short-circuits left to right, so the iterative
  part would not even be evaluated);
* an atom that only reads the key's earlier events (``Prev``, no match references) does not
  depend on the partial match: with the events in processing order, ``PREV(x, n)`` is the
  column shifted by ``n`` within the key, so the atom is evaluated vectorised (events with
  fewer than ``n`` earlier events in the batch stay unknown);
* conditions combine the atom values with short-circuit three-valued logic, and an event is
  *inert at the start* when the start state's transitions provably enable nothing, so a key
  without partial matches only counts it (and keeps it as ``PREV`` history).

Vectorised values are used only where they provably equal the per-event evaluation: the
expression uses only columns, non-null constants, arithmetic, comparisons and boolean
operators, the rows read no ``None``, the result is boolean and the evaluation raised and
warned nothing. Everything else stays unknown.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from cep.conditions import ExprCondition
from cep.expr import Binary, Col, Expr, Lit, Prev, Unary
from cep.nfa import IGNORE, NFA, PROCEED, TAKE, CondExpr

__all__ = ["BatchConditions"]

UNKNOWN = 2


def _conjuncts(e: Expr) -> list[Expr]:
    if isinstance(e, Binary) and e.op == "&":
        return _conjuncts(e.left) + _conjuncts(e.right)
    return [e]


def _vec_safe(e: Expr, prev: bool = False) -> bool:
    """Whether ``e`` evaluates identically vectorised and per event on rows without ``None``
    (``prev``: ``Prev`` of such an operand is allowed)."""
    if isinstance(e, Col):
        return True
    if isinstance(e, Lit):
        return e.value is not None
    if isinstance(e, Unary):
        return _vec_safe(e.operand, prev)
    if isinstance(e, Binary):
        return _vec_safe(e.left, prev) and _vec_safe(e.right, prev)
    if prev and isinstance(e, Prev):
        return e.offset >= 1 and _vec_safe(e.operand, False)
    return False


def _prevs(e: Expr, out: list[Prev]) -> list[Prev]:
    if isinstance(e, Prev):
        out.append(e)
    else:
        for c in e.children():
            _prevs(c, out)
    return out


def _rewrite(e: Expr, names: dict[int, str]) -> Expr:
    """``e`` with each ``Prev`` node replaced by a column named in ``names`` (by node id)."""
    if isinstance(e, Prev):
        return Col(names[id(e)])
    if isinstance(e, Unary):
        return Unary(e.op, _rewrite(e.operand, names))
    if isinstance(e, Binary):
        return Binary(e.op, _rewrite(e.left, names), _rewrite(e.right, names))
    return e


def _none_rows(cols: Mapping[str, np.ndarray], names: frozenset[str], n: int) -> np.ndarray:
    bad = np.zeros(n, np.bool_)
    for c in names:
        arr = cols[c]
        if arr.dtype.kind == "O":
            bad |= np.fromiter((x is None for x in arr), np.bool_, n)
    return bad


def _vector(e: Expr, cols: Mapping[str, np.ndarray], n: int) -> np.ndarray | None:
    """Boolean value of ``e`` over the rows, or ``None`` if it cannot be trusted."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = np.asarray(e.evaluate(cols, n))
    except Exception:
        return None
    if caught or value.dtype != np.bool_:
        return None
    if value.shape == ():
        return np.full(n, bool(value), np.bool_)
    return value if value.shape == (n,) else None


class BatchConditions:
    """Three-valued atom and condition values of a batch of events (see the module docstring).

    Parameters
    ----------
    nfa : NFA
    """

    def __init__(self, nfa: NFA) -> None:
        self.nfa = nfa
        #: per atom: ("simple",), ("prefix", expr) or ("history", expr, prevs) or ("opaque",)
        self.plans: list[tuple[Any, ...]] = []
        for j, a in enumerate(nfa.atoms):
            if not a.is_iterative:
                self.plans.append(("simple",))
                continue
            expr = a.expr if isinstance(a, ExprCondition) else None
            if expr is None:
                self.plans.append(("opaque",))
                continue
            prevs = _prevs(expr, [])
            if prevs and _vec_safe(expr, prev=True):
                names = {id(p): f"\x00prev{j}_{i}" for i, p in enumerate(prevs)}
                self.plans.append(("history", _rewrite(expr, names),
                                   [(names[id(p)], p) for p in prevs]))
                continue
            prefix: list[Expr] = []
            for c in _conjuncts(expr):
                if c.is_iterative() or not _vec_safe(c):
                    break
                prefix.append(c)
            if prefix:
                e = prefix[0]
                for c in prefix[1:]:
                    e = Binary("&", e, c)
                self.plans.append(("prefix", e))
            else:
                self.plans.append(("opaque",))
        self.trivial = all(p[0] in ("simple", "opaque") for p in self.plans)

    # -- atoms ----------------------------------------------------------------------------
    def atoms3(self, atoms: np.ndarray, cols: Mapping[str, np.ndarray],
               prev_index: Any) -> np.ndarray:
        """``(n, n_atoms)`` int8 values for events with simple-atom masks ``atoms`` and fields
        ``cols`` (processing order). ``prev_index(k)`` gives, per event, the row of the event
        ``k`` positions earlier in its key's processing order within ``cols`` (``-1``: not in
        the batch)."""
        n = atoms.shape[0]
        out = atoms.astype(np.int8)
        for j, plan in enumerate(self.plans):
            kind = plan[0]
            if kind == "simple":
                continue
            col = np.full(n, UNKNOWN, np.int8)
            if kind == "prefix":
                e = plan[1]
                v = _vector(e, cols, n)
                if v is not None:
                    col[~v & ~_none_rows(cols, e.columns(), n)] = 0
            elif kind == "history" and n:
                e, prevs = plan[1], plan[2]
                ext: dict[str, Any] = dict(cols)
                ok = ~_none_rows(cols, frozenset(c for c in e.columns() if c in cols), n)
                for name, p in prevs:
                    idx = prev_index(p.offset)
                    have = idx >= 0
                    src = np.where(have, idx, 0)
                    sub = {c: cols[c][src] for c in p.operand.columns()}
                    ok &= have & ~_none_rows(sub, frozenset(sub), n)
                    val = _vector_value(p.operand, sub, n)
                    if val is None:
                        ok[:] = False
                        break
                    ext[name] = val
                v = _vector(e, ext, n) if ok.any() else None
                if v is not None:
                    col[ok] = v[ok].astype(np.int8)
            out[:, j] = col
        return out

    # -- conditions -----------------------------------------------------------------------
    def conds3(self, atoms3: np.ndarray) -> np.ndarray:
        """``(n, n_conditions)`` int8 values of the transition conditions (short-circuit
        three-valued logic over ``atoms3``)."""
        n = atoms3.shape[0]
        out = np.empty((n, len(self.nfa.conditions)), np.int8)
        for j, e in enumerate(self.nfa.conditions):
            out[:, j] = _eval3(e, atoms3)
        return out

    def inert_at_start(self, conds3: np.ndarray) -> np.ndarray:
        """Per event: whether processing it from the start state provably creates nothing
        (and evaluates no iterative condition)."""
        nfa = self.nfa
        memo: dict[int, np.ndarray] = {}
        n = conds3.shape[0]

        def inert(s: int, seen: frozenset[int]) -> np.ndarray:
            if s in memo:
                return memo[s]
            if s in seen:
                return np.zeros(n, np.bool_)
            ok = np.ones(n, np.bool_)
            for tr in nfa.states[s].transitions:
                c = conds3[:, tr.cond]
                if tr.action == TAKE:
                    ok &= c == 0
                elif tr.action == IGNORE:
                    ok &= c != UNKNOWN
                else:
                    assert tr.action == PROCEED
                    ok &= (c == 0) | ((c == 1) & inert(tr.target, seen | {s}))
            memo[s] = ok
            return ok

        return inert(nfa.start, frozenset())


def _vector_value(e: Expr, cols: Mapping[str, np.ndarray], n: int) -> np.ndarray | None:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = np.asarray(e.evaluate(cols, n))
    except Exception:
        return None
    if caught:
        return None
    if value.shape == ():
        return np.full(n, value.item(), value.dtype if value.dtype.kind != "U" else object)
    return value if value.shape == (n,) else None


def _eval3(e: CondExpr, a: np.ndarray) -> np.ndarray:
    tag = e[0]
    if tag == "true":
        return np.ones(a.shape[0], np.int8)
    if tag == "atom":
        return a[:, e[1]]
    if tag == "not":
        v = _eval3(e[1], a)
        return np.where(v == UNKNOWN, v, 1 - v).astype(np.int8)
    left = _eval3(e[1], a)
    right = _eval3(e[2], a)
    if tag == "and":
        return np.where(left == 1, right, left).astype(np.int8)
    return np.where(left == 0, right, left).astype(np.int8)
