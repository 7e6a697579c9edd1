"""Configuration of a :class:`windows.operator.WindowOperator`: the default trigger, the checks
of an assigner/trigger/lateness combination, the layout of the built-in aggregates in a
window's accumulator row, the kernel configuration vector (``cfg``, indices in
:mod:`windows._window_layout`) and the configuration fingerprint that snapshots carry.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from windows import _window_kernel as wk
from windows.aggregates import (
    OP_COUNT,
    OP_COUNT_ALL,
    OP_FIRST,
    OP_LAST,
    OP_MEAN,
    AggregateFunction,
    BuiltinAggregate,
    ProcessWindowFunction,
)
from windows.assigners import (
    COUNT,
    EVENT_TIME,
    GLOBAL,
    PROCESSING_TIME,
    SLIDING,
    TUMBLING,
    WindowAssigner,
)
from windows.errors import InvalidWindowConfigError
from windows.triggers import (
    T_CONT_EVENT,
    T_CONT_PROCESSING,
    T_EVENT,
    T_NEVER,
    T_PROCESSING,
    EventTimeTrigger,
    NeverTrigger,
    ProcessingTimeTrigger,
    Trigger,
)

__all__ = ["agg_width", "aggregate_layout", "builtin_results", "compile_cfg", "config_fingerprint",
           "default_trigger", "needs_processing_time", "validate_config"]

# accumulator columns of a built-in aggregate (others: 2, value and non-null count)
_WIDTH = {OP_COUNT_ALL: 0, OP_COUNT: 2, OP_FIRST: 4, OP_LAST: 4}


def agg_width(op: int) -> int:
    """Number of accumulator columns of a built-in aggregate with code ``op``."""
    return _WIDTH.get(op, 2)


def default_trigger(assigner: WindowAssigner) -> Trigger:
    """The trigger of ``assigner``'s windows when none is given (as Flink)."""
    if assigner.kind in (GLOBAL, COUNT):  # count windows fire by record number, in the kernel
        return NeverTrigger()
    if assigner.domain == PROCESSING_TIME:
        return ProcessingTimeTrigger()
    return EventTimeTrigger()


def validate_config(assigner: WindowAssigner, trigger: Trigger, allowed_lateness: int,
                    window_function: ProcessWindowFunction | None) -> None:
    """Reject combinations that cannot work.

    Raises
    ------
    InvalidWindowConfigError
        For allowed lateness on windows without event time, an event-time trigger on
        processing-time windows, a merging assigner with a trigger that cannot merge, global
        windows that never fire, or a ``window_function`` that is not a
        :class:`ProcessWindowFunction`.
    """
    a, t = assigner, trigger
    code = t.code
    if a.domain != EVENT_TIME and allowed_lateness:
        raise InvalidWindowConfigError("allowed_lateness applies only to event-time windows")
    if a.domain == PROCESSING_TIME and code in (T_EVENT, T_CONT_EVENT):
        raise InvalidWindowConfigError(
            f"{type(t.base).__name__} needs event-time windows; processing-time windows "
            "have no watermark"
        )
    if a.is_merging and not t.can_merge:
        raise InvalidWindowConfigError(
            f"{type(a).__name__} merges windows but {type(t).__name__} cannot merge"
        )
    if a.kind == GLOBAL and code == T_NEVER:
        raise InvalidWindowConfigError(
            "GlobalWindows never fire with their default trigger: give a trigger "
            "(e.g. CountTrigger.of(n) or PurgingTrigger.of(CountTrigger.of(n)))"
        )
    if window_function is not None and not isinstance(window_function, ProcessWindowFunction):
        raise InvalidWindowConfigError("window_function must be a ProcessWindowFunction")


def aggregate_layout(builtins: Mapping[str, BuiltinAggregate]
                     ) -> tuple[list[str], np.ndarray, int]:
    """Where the built-in aggregates live: the value columns they read (in order), their
    ``ops`` rows ``(op code, value column index or -1, first accumulator column)`` and the
    accumulator row width (column 0 is the record count)."""
    value_columns: list[str] = []
    ops = []
    width = 1  # column 0: record count
    for agg in builtins.values():
        col = -1
        if agg.column is not None:
            if agg.column not in value_columns:
                value_columns.append(agg.column)
            col = value_columns.index(agg.column)
        ops.append((agg.op, col, width))
        width += agg_width(agg.op)
    return value_columns, np.array(ops, np.int64).reshape(-1, 3), width


def builtin_results(builtins: Mapping[str, BuiltinAggregate], O: np.ndarray, OV: np.ndarray,
                    int_columns: set[str]) -> dict[str, np.ndarray]:
    """The result column of each built-in aggregate from the output rows ``O`` (int64: key,
    window start and end, timing, record count) and accumulators ``OV`` (laid out as by
    :func:`aggregate_layout`); sums, minima and such of integer columns (``int_columns``)
    stay integers unless a window has no value."""
    res: dict[str, np.ndarray] = {}
    width = 1
    for name, agg in builtins.items():
        a = width
        width += agg_width(agg.op)
        if agg.op == OP_COUNT_ALL:
            res[name] = O[:, 4].copy()
            continue
        nonnull = OV[:, a + 1]
        if agg.op == OP_COUNT:
            res[name] = nonnull.astype(np.int64)
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            v = OV[:, a] / nonnull if agg.op == OP_MEAN else OV[:, a].copy()
        v[nonnull == 0] = np.nan
        if agg.op != OP_MEAN and agg.column in int_columns and not np.isnan(v).any():
            res[name] = v.astype(np.int64)
        else:
            res[name] = v
    return res


def compile_cfg(assigner: WindowAssigner, trigger: Trigger, allowed_lateness: int,
                per_window_records: bool) -> np.ndarray:
    """The kernel configuration vector (int64, ``NCFG``); ``per_window_records``: user
    functions need each window's records (which rules out the sliced sliding-window path)."""
    a, t = assigner, trigger
    cfg = np.zeros(wk.NCFG, np.int64)
    cfg[wk.C_ASSIGNER] = a.kind
    cfg[wk.C_DOMAIN] = a.domain
    size = getattr(a, "size", 0)
    slide = getattr(a, "slide", size)
    cfg[wk.C_SIZE], cfg[wk.C_SLIDE] = size, slide
    cfg[wk.C_OFFSET] = getattr(a, "offset", 0)
    cfg[wk.C_GAP] = getattr(a, "gap", 0) or 0
    cfg[wk.C_TRIGGER] = t.code
    cfg[wk.C_TPARAM] = t.param
    cfg[wk.C_PURGE] = int(t.purging or a.kind == COUNT)
    cfg[wk.C_FLINK_MERGE] = int(t.flink_merge)
    cfg[wk.C_LATENESS] = allowed_lateness
    cfg[wk.C_LOG] = 0  # set below
    if a.kind in (SLIDING, COUNT):
        maxnew = -(-size // slide)
    else:
        maxnew = 1
    cfg[wk.C_MAXNEW] = maxnew + 1
    cfg[wk.C_RING] = maxnew + 2 if a.kind in (SLIDING, TUMBLING) else 1
    # sliced path for sliding event-time windows that fire exactly once per window
    g = math.gcd(size, slide) if a.kind == SLIDING else 0
    if (
        g
        and a.domain == EVENT_TIME
        and t.code == T_EVENT
        and not t.purging
        and not allowed_lateness
        and size // g <= 4096
        and not per_window_records
    ):
        cfg[wk.C_PANE] = g
        cfg[wk.C_RING] = size // g + 3
    cfg[wk.C_USES_WM] = int(a.domain == EVENT_TIME or t.code in (T_EVENT, T_CONT_EVENT))
    return cfg


def needs_processing_time(assigner: WindowAssigner, trigger: Trigger) -> bool:
    """Whether the windows or the trigger run on processing time."""
    return assigner.domain == PROCESSING_TIME or trigger.code in (T_PROCESSING,
                                                                  T_CONT_PROCESSING)


def config_fingerprint(assigner: WindowAssigner, trigger: Trigger, allowed_lateness: int,
                       key: str | None, builtins: Mapping[str, BuiltinAggregate],
                       user_aggs: Mapping[str, AggregateFunction[Any]],
                       window_function: ProcessWindowFunction | None) -> int:
    """CRC-32 of an operator's configuration (see
    :meth:`windows.operator.WindowOperator.fingerprint`)."""
    desc_assigner = repr(assigner)
    ext = getattr(assigner, "gap_extractor", None)
    if ext is not None:  # a function's repr holds its address: use its name instead
        desc_assigner = (
            f"{type(assigner).__name__}(dynamic gap "
            f"{getattr(ext, '__module__', '')}.{getattr(ext, '__qualname__', '')})"
        )
    desc = repr(
        (
            desc_assigner,
            trigger,
            allowed_lateness,
            key,
            sorted((n, repr(a)) for n, a in builtins.items()),
            sorted(user_aggs),
            type(window_function).__name__,
        )
    )
    return zlib.crc32(desc.encode())
