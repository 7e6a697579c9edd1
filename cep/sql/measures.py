"""Evaluate MEASURES over a :class:`cep.MatchTable`, vectorised (final semantics).

Each navigation of a measure (:class:`cep.sql.expressions.Nav`) becomes one array with a value
per match, computed with NumPy over the table's rows (``offsets``, ``stage_code``, columns):
ranks of each variable's rows within their match come from cumulative counts, aggregates from
``bincount`` / ``ufunc.at``. The measure expression then runs vectorised over those arrays.

Rows are labelled with their pattern variable: a stage is one variable, except a stage compiled
from an alternation ``(A | B)``, whose rows are labelled with the first branch whose (simple)
``DEFINE`` holds, in branch order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cep.expr import Expr
from cep.outputs import MatchTable
from cep.sql.expressions import Nav

__all__ = ["Labeler", "MeasureSpec", "evaluate_measures", "to_output"]


@dataclass(frozen=True)
class MeasureSpec:
    """One output measure: name, expression over placeholder columns, navigations, and
    whether it is an integer count / timestamp (kept int64) rather than a general value."""

    name: str
    expr: Expr
    navs: tuple[Nav, ...]
    integer: bool


@dataclass(frozen=True)
class Labeler:
    """Maps table rows to pattern-variable indices.

    Attributes
    ----------
    variables : tuple of str
        Pattern variables in pattern order.
    stage_vars : mapping of stage name to tuple of (variable, condition or None)
        The variables of each stage, in branch order, with the simple condition deciding the
        branch (None: the last branch / a plain stage).
    """

    variables: tuple[str, ...]
    stage_vars: Mapping[str, tuple[tuple[str, Expr | None], ...]]

    def labels(self, table: MatchTable) -> np.ndarray:
        """Variable index (int64) of each row of ``table``."""
        names = table.stage_names
        r = table.n_rows
        out = np.full(r, -1, np.int64)
        index = {v: i for i, v in enumerate(self.variables)}
        for code, stage in enumerate(names):
            rows = np.flatnonzero(table.stage_code == code)
            if not rows.size:
                continue
            branches = self.stage_vars.get(stage, ((stage, None),))
            undecided = np.ones(rows.size, np.bool_)
            sub = {k: v[rows] for k, v in table.columns.items()}
            for var, cond in branches:
                if cond is None:
                    pick = undecided
                else:
                    pick = undecided & np.broadcast_to(
                        np.asarray(cond.evaluate(sub, rows.size), np.bool_), (rows.size,))
                out[rows[pick]] = index[var]
                undecided &= ~pick
            # rows no branch condition accepts (cannot happen for simple conditions)
            out[rows[undecided]] = index[branches[0][0]]
        return out


def _null_like(values: np.ndarray, m: int) -> np.ndarray:
    if values.dtype.kind in "iuf":
        return np.full(m, np.nan)
    return np.full(m, None, object)


def _as_array(v: Any, n: int) -> np.ndarray:
    arr = np.asarray(v)
    if arr.shape == ():
        out = np.empty(n, arr.dtype if arr.dtype.kind in "biuf" else object)
        out[:] = arr.item() if arr.dtype.kind != "O" else v
        return out
    if arr.dtype.kind in "US":
        return arr.astype(object)
    return arr


def _null_mask(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind == "O":
        return np.fromiter((x is None or (isinstance(x, float) and x != x) for x in values),
                           np.bool_, values.shape[0])
    return np.zeros(values.shape[0], np.bool_)


def _nav_values(nav: Nav, table: MatchTable, labels: np.ndarray, var_index: Mapping[str, int],
                variables: Sequence[str], cache: dict[int, np.ndarray]) -> np.ndarray:
    m = len(table)
    r = table.n_rows
    offsets = table.offsets
    match_idx = table.match_index
    if nav.func == "rowtime":
        return table.event_timestamp[offsets[1:] - 1].astype(np.int64)
    if nav.func == "classifier":
        names = np.asarray([*variables, None], object)
        return names[labels[offsets[1:] - 1]]
    mask = (np.ones(r, np.bool_) if nav.var is None else labels == var_index[nav.var])
    count = np.bincount(match_idx[mask], minlength=m)
    if nav.operand is None:  # COUNT(*)
        return count.astype(np.int64)
    key = id(nav.operand)
    if key not in cache:
        cache[key] = _as_array(nav.operand.evaluate(table.columns, r), r)
    values = cache[key]
    if nav.func in ("first", "last"):
        csum = np.cumsum(mask)
        before = np.concatenate(([0], csum))[offsets[:-1]]
        rank = csum - 1 - before[match_idx]
        if nav.func == "first":
            sel = mask & (rank == nav.offset)
        else:
            sel = mask & (rank == count[match_idx] - 1 - nav.offset)
        if values.dtype.kind in "iub" and np.bincount(match_idx[sel], minlength=m).all():
            out = np.empty(m, values.dtype)  # a value in every match: keep the integer type
        else:
            out = _null_like(values, m)
        out[match_idx[sel]] = values[sel]
        return out
    valid = mask & ~_null_mask(values)
    idx = match_idx[valid]
    vals = values[valid]
    n_valid = np.bincount(idx, minlength=m)
    if nav.func == "count":
        return n_valid.astype(np.int64)
    if values.dtype.kind == "O":  # strings (MIN/MAX): per-match Python reduction
        out = np.full(m, None, object)
        fn = min if nav.func == "min" else max
        groups: dict[int, list[Any]] = {}
        for i, v in zip(idx.tolist(), vals.tolist(), strict=True):
            groups.setdefault(i, []).append(v)
        for i, vs in groups.items():
            out[i] = fn(vs)
        return out
    fvals = vals.astype(np.float64)
    if nav.func in ("sum", "avg"):
        total = np.bincount(idx, weights=fvals, minlength=m)
        res = total if nav.func == "sum" else total / np.maximum(n_valid, 1)
    else:
        res = np.full(m, np.inf if nav.func == "min" else -np.inf)
        (np.minimum if nav.func == "min" else np.maximum).at(res, idx, fvals)
    res = res.astype(np.float64)
    res[n_valid == 0] = np.nan
    return res


def to_output(values: Any, n: int, integer: bool) -> np.ndarray:
    """Normalise a measure's values to the output dtypes: int64 for counts,
    ``MATCH_ROWTIME`` and integer (or timestamp) values present in every match, float64 (NaN:
    null) for other numbers, object (``None``: null) for strings and booleans."""
    arr = _as_array(values, n)
    if arr.dtype.kind in "iu" or (integer and arr.dtype.kind == "f"):
        return arr.astype(np.int64)  # integer arrays carry no nulls (those are float NaN)
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64)
    out = np.empty(n, object)
    out[:] = [None if (isinstance(x, float) and x != x) else x for x in arr.tolist()]
    return out


def evaluate_measures(table: MatchTable, measures: Sequence[MeasureSpec], labeler: Labeler,
                      partition_by: Sequence[str], all_rows: bool) -> dict[str, np.ndarray]:
    """Output columns for the matches of ``table`` (see :meth:`cep.sql.Rule.measures`)."""
    m = len(table)
    offsets = table.offsets
    labels = labeler.labels(table) if table.n_rows else np.empty(0, np.int64)
    var_index = {v: i for i, v in enumerate(labeler.variables)}
    cache: dict[int, np.ndarray] = {}
    out: dict[str, np.ndarray] = {}
    counts = np.diff(offsets)
    first_rows = offsets[:-1]
    for p in partition_by:
        colv = table.columns[p]
        out[p] = np.repeat(colv[first_rows], counts) if all_rows else colv[first_rows]
    for spec in measures:
        cols: dict[str, np.ndarray] = {}
        for i, nav in enumerate(spec.navs):
            if all_rows and nav.func == "classifier":
                continue
            cols[f"\x00nav{i}"] = _nav_values(nav, table, labels, var_index,
                                              labeler.variables, cache)
        if all_rows:
            rows = table.n_rows
            rep = {k: np.repeat(v, counts) for k, v in cols.items()}
            for i, nav in enumerate(spec.navs):
                if nav.func == "classifier":
                    names = np.asarray([*labeler.variables, None], object)
                    rep[f"\x00nav{i}"] = names[labels]
            out[spec.name] = to_output(spec.expr.evaluate(rep, rows), rows, spec.integer)
        else:
            out[spec.name] = to_output(spec.expr.evaluate(cols, m), m, spec.integer)
    if all_rows:
        for k, v in table.columns.items():
            if k not in out:
                out[k] = v.copy()
    return out
