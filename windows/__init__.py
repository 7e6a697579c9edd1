"""cepkit base layer: event time, watermarks, window assigners, triggers, window operator."""

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
from windows.keys import KeyEncoder
from windows.operator import WindowOperator, WindowOutput
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
from windows.watermarks import WatermarkStrategy, WatermarkTracker

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
