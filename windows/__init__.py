"""cepkit base layer: event time, watermarks, window assigners, triggers, window operator."""

from windows.errors import (
    InvalidDurationError,
    InvalidWindowConfigError,
    SchemaError,
    SnapshotError,
    WindowError,
)
from windows.keys import KeyEncoder
from windows.snapshot import decode_snapshot, encode_snapshot
from windows.time import MAX_TIMESTAMP, MIN_TIMESTAMP, Duration, now_ms, to_millis
from windows.watermarks import WatermarkStrategy, WatermarkTracker

__all__ = [
    "MAX_TIMESTAMP",
    "MIN_TIMESTAMP",
    "Duration",
    "InvalidDurationError",
    "InvalidWindowConfigError",
    "KeyEncoder",
    "SchemaError",
    "SnapshotError",
    "WatermarkStrategy",
    "WatermarkTracker",
    "WindowError",
    "decode_snapshot",
    "encode_snapshot",
    "now_ms",
    "to_millis",
]
