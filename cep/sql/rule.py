"""A compiled MATCH_RECOGNIZE rule: the :class:`cep.Pattern` plus what the SQL says around it
(input table and filter, partitioning, event-time column, measures)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cep.expr import Expr
from cep.operator import CepOperator, EngineName
from cep.outputs import CepOutput, MatchTable
from cep.pattern import Pattern
from cep.sql.measures import Labeler, MeasureSpec, evaluate_measures
from windows.time import MIN_TIMESTAMP

__all__ = ["Rule"]


@dataclass(frozen=True)
class Rule:
    """One compiled ``SELECT ... FROM t MATCH_RECOGNIZE (...)`` statement.

    Attributes
    ----------
    name : str
        The ``MATCH_RECOGNIZE`` alias if given, else the file stem (one statement) or
        ``<stem>_<n>`` (n 1-based); the stem of ``"<string>"`` is ``rule``.
    source : str
        File path or ``"<string>"``.
    line : int
        1-based line of the statement.
    table : str
        The input table (``FROM`` name).
    input_filter : Expr or None
        ``WHERE`` of a derived table ``FROM (SELECT * FROM t WHERE ...)``: rows for which it is
        not true never reach the pattern.
    partition_by : tuple of str
        Partition columns (the operator's key); empty: one partition.
    order_by : str
        The event-time column (int64 epoch ms).
    pattern : Pattern
        The translated pattern, with skip strategy and ``within`` applied.
    rows_per_match : {"one", "all"}
    output_columns : tuple of str
        Columns of :meth:`measures`, in order (for ``ALL ROWS PER MATCH``, the input columns
        come last and are listed only when the rule was compiled with ``columns``).
    columns_used : frozenset of str
        Every input column the rule reads.
    variables : tuple of str
        Pattern variables in pattern order.
    """

    name: str
    source: str
    line: int
    table: str
    input_filter: Expr | None
    partition_by: tuple[str, ...]
    order_by: str
    pattern: Pattern
    rows_per_match: Literal["one", "all"]
    output_columns: tuple[str, ...]
    columns_used: frozenset[str]
    variables: tuple[str, ...]
    _measures: tuple[MeasureSpec, ...] = field(repr=False, default=())
    _labeler: Labeler = field(repr=False, default=Labeler((), {}))
    _select: tuple[str, ...] | None = field(repr=False, default=None)

    @property
    def measure_names(self) -> tuple[str, ...]:
        """Names of the ``MEASURES``, in declared order."""
        return tuple(m.name for m in self._measures)

    def measures(self, table: MatchTable) -> dict[str, np.ndarray]:
        """The output rows of the matches in ``table``, in table order.

        Parameters
        ----------
        table : MatchTable
            Matches of :attr:`pattern` (e.g. ``CepOutput.matches``).

        Returns
        -------
        dict of str to ndarray
            Columns :attr:`output_columns`: the partition columns (from the matched events),
            then the measures in declared order (``ONE ROW PER MATCH``: one row per match;
            ``ALL ROWS PER MATCH``: one row per matched event, measures with final semantics
            repeated, then the event's other columns). Nulls are NaN in float64 columns and
            ``None`` in object columns; ``COUNT`` and ``MATCH_ROWTIME()`` give int64, other
            numbers float64, strings and booleans object arrays.
        """
        out = evaluate_measures(table, self._measures, self._labeler, self.partition_by,
                                self.rows_per_match == "all")
        if self._select is not None:
            return {k: out[k] for k in self._select}
        return out

    # -- running ------------------------------------------------------------------------------
    def key_column(self, columns: Mapping[str, Any]) -> np.ndarray | None:
        """The operator key for a batch: the partition column, or for several partition
        columns an object array of their value tuples rendered as strings (None: no
        partitioning)."""
        if not self.partition_by:
            return None
        if len(self.partition_by) == 1:
            return np.asarray(columns[self.partition_by[0]])
        parts = [np.asarray(columns[p]).tolist() for p in self.partition_by]
        out = np.empty(len(parts[0]), object)
        out[:] = ["\x1f".join(map(repr, vals)) for vals in zip(*parts, strict=True)]
        return out

    def operator(self, *, engine: EngineName = "auto", emit_timeouts: bool = False
                 ) -> CepOperator:
        """A :class:`cep.CepOperator` for this rule in event time; feed it batches whose
        ``__key__`` column is :meth:`key_column` (when partitioned), already filtered with
        :attr:`input_filter`, with ``timestamps = columns[order_by]``."""
        return CepOperator(self.pattern, key="__key__" if self.partition_by else None,
                           engine=engine, emit_timeouts=emit_timeouts)

    def run(self, columns: Mapping[str, Any], *, engine: EngineName = "auto"
            ) -> dict[str, np.ndarray]:
        """Run the rule over a bounded table (one batch, watermark at the end) and return
        :meth:`measures` of every match — a convenience for tests, examples and replays.

        Parameters
        ----------
        columns : mapping of str to array
            The input table; ``columns[order_by]`` holds the event times (int64 epoch ms).
        engine : {"auto", "fast", "reference"}
        """
        cols = {k: np.asarray(v) for k, v in columns.items()}
        n = len(cols[self.order_by]) if self.order_by in cols else 0
        if self.input_filter is not None and n:
            keep = np.broadcast_to(np.asarray(self.input_filter.evaluate(cols, n), np.bool_),
                                   (n,))
            cols = {k: v[keep] for k, v in cols.items()}
            n = int(keep.sum())
        key = self.key_column(cols)
        if key is not None:
            cols["__key__"] = key
        op = self.operator(engine=engine)
        ts = np.asarray(cols[self.order_by], np.int64)
        outs: list[CepOutput] = [op.process(cols, ts, np.full(n, MIN_TIMESTAMP,
                                                               np.int64)), op.finish()]
        res = self.measures(CepOutput.concat(outs).matches)
        res.pop("__key__", None)
        return res
