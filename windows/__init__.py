"""cepkit base layer: event time, watermarks, window assigners, triggers, window operator.

The names that need Numba (:class:`KeyEncoder`, :class:`WindowOperator`, :class:`WindowOutput`,
:class:`WatermarkStrategy`, :class:`WatermarkTracker`) are imported on first use, so that
``import windows.errors`` or ``windows.time`` (e.g. by a command line that reports errors)
does not pay for importing Numba and loading compiled kernels.
"""

from __future__ import annotations

import typing as _typing

from windows import aggregates
from windows.aggregates import AggregateFunction, ProcessWindowFunction, TimeWindow
from windows.assigners import (
    EventTimeSessionWindows,
    GlobalWindows,
    ProcessingTimeSessionWindows,
    SlidingCountWindows,
    SlidingEventTimeWindows,
    SlidingProcessingTimeWindows,
    TumblingCountWindows,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
    WindowAssigner,
)
from windows.errors import (
    InvalidDurationError,
    InvalidWindowConfigError,
    SchemaError,
    SnapshotError,
    WindowError,
)
from windows.snapshot import decode_snapshot, encode_snapshot
from windows.time import MAX_TIMESTAMP, MIN_TIMESTAMP, Duration, now_ms, to_millis
from windows.triggers import (
    ContinuousEventTimeTrigger,
    ContinuousProcessingTimeTrigger,
    CountTrigger,
    EventTimeTrigger,
    NeverTrigger,
    ProcessingTimeTrigger,
    PurgingTrigger,
    Timing,
    Trigger,
    TriggerResult,
)

if _typing.TYPE_CHECKING:
    from windows.keys import KeyEncoder
    from windows.operator import WindowOperator, WindowOutput
    from windows.watermarks import WatermarkStrategy, WatermarkTracker

#: public names defined in modules that import Numba: loaded by :func:`__getattr__`
_LAZY = {
    "KeyEncoder": "windows.keys",
    "WindowOperator": "windows.operator",
    "WindowOutput": "windows.operator",
    "WatermarkStrategy": "windows.watermarks",
    "WatermarkTracker": "windows.watermarks",
}

__all__ = [
    "MAX_TIMESTAMP",
    "MIN_TIMESTAMP",
    "AggregateFunction",
    "ContinuousEventTimeTrigger",
    "ContinuousProcessingTimeTrigger",
    "CountTrigger",
    "Duration",
    "EventTimeSessionWindows",
    "EventTimeTrigger",
    "GlobalWindows",
    "InvalidDurationError",
    "InvalidWindowConfigError",
    "KeyEncoder",
    "NeverTrigger",
    "ProcessWindowFunction",
    "ProcessingTimeSessionWindows",
    "ProcessingTimeTrigger",
    "PurgingTrigger",
    "SchemaError",
    "SlidingCountWindows",
    "SlidingEventTimeWindows",
    "SlidingProcessingTimeWindows",
    "SnapshotError",
    "TimeWindow",
    "Timing",
    "Trigger",
    "TriggerResult",
    "TumblingCountWindows",
    "TumblingEventTimeWindows",
    "TumblingProcessingTimeWindows",
    "WatermarkStrategy",
    "WatermarkTracker",
    "WindowAssigner",
    "WindowError",
    "WindowOperator",
    "WindowOutput",
    "aggregates",
    "decode_snapshot",
    "encode_snapshot",
    "now_ms",
    "to_millis",
]


def __getattr__(name: str) -> _typing.Any:
    """Import a Numba-backed public name on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'windows' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
