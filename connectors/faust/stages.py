"""Stages: the operators a :class:`~connectors.faust.FaustProcessor` applies to a stream
(a CEP pattern, a MATCH_RECOGNIZE rule, a window aggregation), and how their outputs become
rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from connectors._jobstate import operator_streams

__all__ = ["Stage", "default_rows", "pattern_stage", "rule_stage", "window_stage"]


@dataclass(frozen=True)
class Stage:
    """One operator applied to the stream.

    Parameters
    ----------
    name : str
        Unique within the processor; the operator's state is stored under it.
    factory : callable
        ``factory() -> operator`` (``CepOperator``, ``WindowOperator`` or anything with
        ``process``/``finish``/``snapshot``/``restore``); called once per source partition.
    rows : callable, optional
        ``rows(output) -> {stream: list of row dicts}`` to shape the output (rules use it for
        their MEASURES); default: the streams of ``connectors._jobstate.operator_streams``.
    prepare : callable, optional
        ``prepare(columns) -> (columns, keep)`` applied to every batch before ``process``
        (a key column, an input filter: ``keep`` is the boolean mask of the rows kept, or
        ``None`` for all).
    order_by : str, optional
        The event-time column the stage requires (rules: ORDER BY); checked when the
        processor is built.
    """

    name: str
    factory: Callable[[], Any]
    rows: Callable[[Any], dict[str, list[dict[str, Any]]]] | None = None
    prepare: Callable[[dict[str, np.ndarray]],
                      tuple[dict[str, np.ndarray], np.ndarray | None]] | None = None
    order_by: str | None = None


def pattern_stage(name: str, pattern: Any, *, key: str | None = None,
                  **options: Any) -> Stage:
    """A :class:`Stage` running ``cep.CepOperator(pattern, key=key, **options)``.

    Outputs: ``matches`` and ``timeouts`` (rows ``key``, ``timestamp``, ``events`` = stage
    name -> list of event dicts; timeouts also ``timeout_timestamp``) and ``late`` (events
    behind the watermark).
    """
    from cep import CepOperator

    CepOperator(pattern, key=key, **options)  # invalid patterns fail here, not in the agent
    return Stage(name, lambda: CepOperator(pattern, key=key, **options))


def window_stage(name: str, assigner: Any, aggregates: Mapping[str, Any], *,
                 key: str | None = None, **options: Any) -> Stage:
    """A :class:`Stage` running ``windows.WindowOperator(assigner, aggregates, key=key,
    **options)``; outputs ``results`` (one row per firing) and ``late``."""
    from windows import WindowOperator

    WindowOperator(assigner, dict(aggregates), key=key, **options)
    return Stage(name, lambda: WindowOperator(assigner, dict(aggregates), key=key, **options))


def rule_stage(rule: Any, name: str | None = None, **options: Any) -> Stage:
    """A :class:`Stage` for a compiled MATCH_RECOGNIZE rule (a :class:`cep.sql.Rule` from
    ``cep.sql.compile_rule_file`` / ``compile_rules``).

    The rule's ``WHERE`` input filter and its (composite) PARTITION BY key are applied to
    every batch; its ORDER BY column must be the processor's event time. Output stream
    ``matches`` holds the MEASURES rows (``rule.measures``); ``late`` the events behind
    the watermark. ``options`` go to ``rule.operator`` (``engine``, ``emit_timeouts``).
    """
    rule.operator(**options)  # fails here, not in the agent

    def prepare(columns: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray],
                                                          np.ndarray | None]:
        cols, keep = dict(columns), None
        if rule.input_filter is not None:
            n = len(next(iter(cols.values()))) if cols else 0
            keep = np.broadcast_to(np.asarray(rule.input_filter.evaluate(cols, n), np.bool_),
                                   (n,))
            cols = {k: v[keep] for k, v in cols.items()}
        if rule.partition_by:
            cols["__key__"] = rule.key_column(cols)
        return cols, keep

    def rows(out: Any) -> dict[str, list[dict[str, Any]]]:
        streams = default_rows(out)
        if len(out.matches):
            streams["matches"] = _rows_of(rule.measures(out.matches))
        return streams

    return Stage(name or rule.name, lambda: rule.operator(**options), rows, prepare,
                 rule.order_by)


def _rows_of(columns: Mapping[str, Any]) -> list[dict[str, Any]]:
    names = list(columns)
    if not names:
        return []
    lists = [np.asarray(columns[n]).tolist() for n in names]
    return [dict(zip(names, r, strict=True)) for r in zip(*lists, strict=True)]


def default_rows(out: Any) -> dict[str, list[dict[str, Any]]]:
    return {s: _rows_of(cols) for s, cols in operator_streams(out).items() if cols}
