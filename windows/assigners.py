"""Window assigners (immutable configuration), as Flink's ``WindowAssigner`` family.

Each assigner is a frozen value object. The window operator compiles it into kernel codes;
assigners hold no state. Time windows are half-open ``[start, end)`` in epoch ms and fire
at ``max_timestamp = end - 1``; count windows are ranges of the per-key record number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from windows.errors import InvalidWindowConfigError
from windows.time import Duration, to_millis

__all__ = [
    "EventTimeSessionWindows",
    "GlobalWindows",
    "ProcessingTimeSessionWindows",
    "SessionGapExtractor",
    "SlidingCountWindows",
    "SlidingEventTimeWindows",
    "SlidingProcessingTimeWindows",
    "TumblingCountWindows",
    "TumblingEventTimeWindows",
    "TumblingProcessingTimeWindows",
    "WindowAssigner",
    "window_start",
]

#: Vectorised session gap: ``columns -> int64 array (n,)`` of positive gaps in ms.
SessionGapExtractor = Callable[[Mapping[str, np.ndarray]], Any]

# kernel codes
TUMBLING, SLIDING, SESSION, GLOBAL, COUNT = 0, 1, 2, 3, 4
EVENT_TIME, PROCESSING_TIME, NO_TIME = 0, 1, 2


def window_start(timestamp: int, offset: int, size: int) -> int:
    """Start of the aligned window of length ``size`` holding ``timestamp`` (all ms), as
    Flink ``TimeWindow.getWindowStartWithOffset`` (floor semantics for negative times)."""
    return timestamp - (timestamp - offset) % size


class WindowAssigner:
    """Base class of all assigners. Not instantiated directly."""

    kind: ClassVar[int]
    domain: ClassVar[int]
    is_merging: ClassVar[bool] = False

    @property
    def is_event_time(self) -> bool:
        """True for event-time assigners (driven by watermarks)."""
        return self.domain == EVENT_TIME


def _check_offset(offset: int, period: int, what: str) -> None:
    if abs(offset) >= period:
        raise InvalidWindowConfigError(
            f"window offset {offset} ms must be smaller in magnitude than the {what} ({period} ms)"
        )


@dataclass(frozen=True)
class _Tumbling(WindowAssigner):
    size: int
    offset: int = 0

    def __post_init__(self) -> None:
        _check_offset(self.offset, self.size, "window size")

    @classmethod
    def of(cls, size: Duration, offset: Duration = 0) -> Any:
        """Windows of length ``size`` aligned to the epoch plus ``offset``.

        Parameters
        ----------
        size : timedelta or int
            Window length (ms when int); must be positive.
        offset : timedelta or int, default 0
            Shift of the alignment, e.g. ``timedelta(hours=-8)`` for days that start at
            midnight UTC+8 (as in Flink's documentation); ``|offset| < size``.

        Raises
        ------
        InvalidDurationError, InvalidWindowConfigError
        """
        return cls(
            to_millis(size, name="window size", allow_zero=False),
            to_millis(offset, name="window offset", allow_negative=True),
        )


@dataclass(frozen=True)
class TumblingEventTimeWindows(_Tumbling):
    """Fixed-size, non-overlapping event-time windows (Flink ``TumblingEventTimeWindows``).
    Build with :meth:`of`."""

    kind: ClassVar[int] = TUMBLING
    domain: ClassVar[int] = EVENT_TIME


@dataclass(frozen=True)
class TumblingProcessingTimeWindows(_Tumbling):
    """Fixed-size, non-overlapping windows over processing (wall-clock) time (Flink
    ``TumblingProcessingTimeWindows``). Build with :meth:`of`."""

    kind: ClassVar[int] = TUMBLING
    domain: ClassVar[int] = PROCESSING_TIME


@dataclass(frozen=True)
class _Sliding(WindowAssigner):
    size: int
    slide: int
    offset: int = 0

    def __post_init__(self) -> None:
        _check_offset(self.offset, self.slide, "slide")

    @classmethod
    def of(cls, size: Duration, slide: Duration, offset: Duration = 0) -> Any:
        """Windows of length ``size`` starting every ``slide`` (plus ``offset``).

        A record belongs to ``ceil(size / slide)`` windows (fewer if ``size`` is not a multiple
        of ``slide``). Durations as ``timedelta`` or int ms; ``|offset| < slide``.

        Raises
        ------
        InvalidDurationError, InvalidWindowConfigError
        """
        return cls(
            to_millis(size, name="window size", allow_zero=False),
            to_millis(slide, name="window slide", allow_zero=False),
            to_millis(offset, name="window offset", allow_negative=True),
        )


@dataclass(frozen=True)
class SlidingEventTimeWindows(_Sliding):
    """Overlapping event-time windows (Flink ``SlidingEventTimeWindows``). Build with
    :meth:`of`."""

    kind: ClassVar[int] = SLIDING
    domain: ClassVar[int] = EVENT_TIME


@dataclass(frozen=True)
class SlidingProcessingTimeWindows(_Sliding):
    """Overlapping processing-time windows (Flink ``SlidingProcessingTimeWindows``)."""

    kind: ClassVar[int] = SLIDING
    domain: ClassVar[int] = PROCESSING_TIME


@dataclass(frozen=True)
class _Session(WindowAssigner):
    gap: int | None
    gap_extractor: SessionGapExtractor | None = None

    is_merging: ClassVar[bool] = True

    @classmethod
    def with_gap(cls, gap: Duration) -> Any:
        """Sessions closed after ``gap`` without records (Flink ``withGap``).

        Each record opens the window ``[t, t + gap)``; windows that overlap or touch are
        merged (as Flink ``TimeWindow.intersects``).
        """
        return cls(to_millis(gap, name="session gap", allow_zero=False))

    @classmethod
    def with_dynamic_gap(cls, extractor: SessionGapExtractor) -> Any:
        """Sessions whose gap is computed per record (Flink ``withDynamicGap``).

        Parameters
        ----------
        extractor : callable
            ``columns -> array (n,)`` of gaps in ms (int) for each record of a batch. A gap
            that is not positive makes :meth:`WindowOperator.process` raise
            :class:`InvalidWindowConfigError` before the batch changes any state.
        """
        if not callable(extractor):
            raise InvalidWindowConfigError("dynamic session gap extractor must be callable")
        return cls(None, extractor)


@dataclass(frozen=True)
class EventTimeSessionWindows(_Session):
    """Merging event-time session windows (Flink ``EventTimeSessionWindows``)."""

    kind: ClassVar[int] = SESSION
    domain: ClassVar[int] = EVENT_TIME


@dataclass(frozen=True)
class ProcessingTimeSessionWindows(_Session):
    """Merging processing-time session windows (Flink ``ProcessingTimeSessionWindows``)."""

    kind: ClassVar[int] = SESSION
    domain: ClassVar[int] = PROCESSING_TIME


@dataclass(frozen=True)
class GlobalWindows(WindowAssigner):
    """One window per key holding all its records; fires only by an explicit trigger
    (Flink ``GlobalWindows``; its default trigger never fires)."""

    kind: ClassVar[int] = GLOBAL
    domain: ClassVar[int] = NO_TIME

    @classmethod
    def create(cls) -> GlobalWindows:
        """The global window assigner."""
        return cls()


@dataclass(frozen=True)
class _Count(WindowAssigner):
    size: int
    slide: int

    kind: ClassVar[int] = COUNT
    domain: ClassVar[int] = NO_TIME


@dataclass(frozen=True)
class TumblingCountWindows(_Count):
    """Windows of ``size`` consecutive records per key, by arrival order (Flink
    ``KeyedStream.countWindow(size)``: global windows with a purging count trigger).

    The window columns hold the per-key record numbers ``[start, end)``. An incomplete last
    window is not emitted at end of input, as in Flink.
    """

    @classmethod
    def of(cls, size: int) -> TumblingCountWindows:
        """Windows of ``size`` records (``size >= 1``)."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidWindowConfigError(f"count window size must be an int >= 1, got {size!r}")
        return cls(size, size)


@dataclass(frozen=True)
class SlidingCountWindows(_Count):
    """Every ``slide`` records, a window over the last ``size`` records of the key (Flink
    ``KeyedStream.countWindow(size, slide)``: count trigger plus count evictor). The first
    windows hold fewer than ``size`` records, as Flink's evictor does."""

    @classmethod
    def of(cls, size: int, slide: int) -> SlidingCountWindows:
        """Windows of the last ``size`` records, emitted every ``slide`` records."""
        for name, v in (("size", size), ("slide", slide)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidWindowConfigError(
                    f"count window {name} must be an int >= 1, got {v!r}"
                )
        return cls(size, slide)
