"""Time conventions shared by every package.

Timestamps are ``int64`` epoch milliseconds. Durations are accepted either as
:class:`datetime.timedelta` or as an ``int`` number of milliseconds and are normalised by
:func:`to_millis`.
"""

from __future__ import annotations

import datetime as _dt
import time as _time
from typing import TypeAlias

import numpy as np

from windows.errors import InvalidDurationError

__all__ = [
    "MAX_TIMESTAMP",
    "MIN_TIMESTAMP",
    "Duration",
    "now_ms",
    "to_millis",
]

#: Smallest representable timestamp; the watermark before any event (as Flink's Long.MIN_VALUE).
MIN_TIMESTAMP: int = int(np.iinfo(np.int64).min)
#: Largest representable timestamp; the watermark that ends a bounded stream.
MAX_TIMESTAMP: int = int(np.iinfo(np.int64).max)

Duration: TypeAlias = "_dt.timedelta | int"


def to_millis(
    value: Duration,
    *,
    name: str = "duration",
    allow_zero: bool = True,
    allow_negative: bool = False,
) -> int:
    """Normalise a duration to an ``int`` number of milliseconds.

    Parameters
    ----------
    value : datetime.timedelta or int
        The duration. A ``timedelta`` is truncated towards zero to whole milliseconds; an
        ``int`` (or NumPy integer) is taken as milliseconds. ``bool`` and ``float`` are refused
        so that a unit mistake cannot pass silently.
    name : str
        The parameter name, used in error messages.
    allow_zero, allow_negative : bool
        Whether zero / negative durations are acceptable.

    Returns
    -------
    int
        Milliseconds.

    Raises
    ------
    InvalidDurationError
        For any other type, or a value outside the allowed range.
    """
    if isinstance(value, _dt.timedelta):
        ms = (value.days * 86_400_000) + (value.seconds * 1000) + (value.microseconds // 1000)
        if value.days < 0 and value.microseconds:
            # timedelta normalises negatives as days<0 plus positive parts; truncate toward zero
            ms = -((-value) // _dt.timedelta(milliseconds=1))
    elif isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidDurationError(
            f"{name} must be a datetime.timedelta or an int number of milliseconds, "
            f"got {type(value).__name__} {value!r}"
        )
    else:
        ms = int(value)
    if ms == 0 and not allow_zero:
        raise InvalidDurationError(f"{name} must be positive, got 0 ms")
    if ms < 0 and not allow_negative:
        raise InvalidDurationError(f"{name} must not be negative, got {ms} ms")
    if not MIN_TIMESTAMP < ms < MAX_TIMESTAMP:
        raise InvalidDurationError(f"{name} out of range: {ms} ms")
    return ms


def now_ms() -> int:
    """Current wall-clock time as epoch milliseconds (``int``)."""
    return _time.time_ns() // 1_000_000
