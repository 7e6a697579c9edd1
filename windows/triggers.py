"""Triggers (immutable configuration): when a window emits its result.

As Flink's triggers they hold no state themselves; the window operator keeps the per-window
trigger state and compiles the trigger into kernel codes. A firing emits the window's current
result; a purging firing also clears the window's contents (its timers and metadata remain
until the window is cleaned up).

Output rows carry a ``timing`` column (Apache Beam's pane timing): ``EARLY`` for firings before
the window's end, ``ON_TIME`` for the firing at the end (and for complete count windows),
``LATE`` for firings caused by late records within ``allowed_lateness``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

from windows.errors import InvalidWindowConfigError
from windows.time import Duration, to_millis

__all__ = [
    "ContinuousEventTimeTrigger",
    "ContinuousProcessingTimeTrigger",
    "CountTrigger",
    "EventTimeTrigger",
    "NeverTrigger",
    "ProcessingTimeTrigger",
    "PurgingTrigger",
    "Timing",
    "Trigger",
    "TriggerResult",
]

# kernel codes
T_EVENT, T_PROCESSING, T_COUNT, T_CONT_EVENT, T_CONT_PROCESSING, T_NEVER = 0, 1, 2, 3, 4, 5


class TriggerResult(enum.IntEnum):
    """What a trigger decides for a window (Flink ``TriggerResult``)."""

    CONTINUE = 0
    FIRE = 1
    PURGE = 2
    FIRE_AND_PURGE = 3


class Timing(enum.IntEnum):
    """Value of the ``timing`` output column (Beam ``PaneInfo.Timing``)."""

    EARLY = 0
    ON_TIME = 1
    LATE = 2


class Trigger:
    """Base class of the built-in triggers. Custom trigger classes are not supported: the
    trigger logic runs inside the compiled window kernel."""

    code: ClassVar[int]
    #: Whether the trigger's state can be merged when session windows merge (Flink
    #: ``Trigger.canMerge``).
    can_merge: ClassVar[bool] = True

    @property
    def purging(self) -> bool:
        """True if firings clear the window contents."""
        return False

    @property
    def param(self) -> int:
        """The count or interval parameter (0 when none)."""
        return 0

    @property
    def flink_merge(self) -> bool:
        """True when a session merge keeps spent continuous fire times, as Flink does (see
        :class:`ContinuousEventTimeTrigger`)."""
        return False

    @property
    def base(self) -> Trigger:
        """The trigger without any purging wrapper."""
        return self


@dataclass(frozen=True)
class EventTimeTrigger(Trigger):
    """Fires when the watermark passes the window end, and once per late record within
    allowed lateness (Flink ``EventTimeTrigger``; the default of event-time assigners)."""

    code: ClassVar[int] = T_EVENT

    @classmethod
    def create(cls) -> EventTimeTrigger:
        """The event-time trigger."""
        return cls()


@dataclass(frozen=True)
class ProcessingTimeTrigger(Trigger):
    """Fires when processing time passes the window end (Flink ``ProcessingTimeTrigger``;
    the default of processing-time assigners)."""

    code: ClassVar[int] = T_PROCESSING

    @classmethod
    def create(cls) -> ProcessingTimeTrigger:
        """The processing-time trigger."""
        return cls()


@dataclass(frozen=True)
class CountTrigger(Trigger):
    """Fires every ``count`` records added to the window (Flink ``CountTrigger``); it does not
    fire on time, so with time windows results not yet fired are discarded at cleanup."""

    count: int
    code: ClassVar[int] = T_COUNT

    @classmethod
    def of(cls, count: int) -> CountTrigger:
        """Fire after every ``count`` (>= 1) records."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidWindowConfigError(f"CountTrigger count must be an int >= 1, got {count!r}")
        return cls(count)

    @property
    def param(self) -> int:
        return self.count


@dataclass(frozen=True)
class ContinuousEventTimeTrigger(Trigger):
    """Early firings every ``interval`` of event time (aligned to multiples of the interval),
    plus the firing at the window end (Flink 1.12+ ``ContinuousEventTimeTrigger``).

    Parameters
    ----------
    interval : int
        Milliseconds between early firings (> 0).
    flink_merge : bool, default False
        Behaviour when session windows merge. The merged window always takes the earliest
        pending fire time of the windows it merges (Flink reduces them with ``min``). With
        False (the default) a *spent* fire time, equal to the end of a window the watermark
        has already passed (that window fired on time then), is dropped, so a session that
        merges within its allowed lateness fires LATE once. With True the spent time is kept
        and registered again, as Flink's ``ContinuousEventTimeTrigger.onMerge`` does: the
        merged window fires once more at the next watermark (labelled ``ON_TIME`` when the
        time is the merged window's end, ``EARLY`` otherwise).

    Notes
    -----
    Difference from Flink in both modes: when the watermark jumps to ``MAX_TIMESTAMP`` (end of
    input), the pending early firing fires once and no further intervals are registered
    (Flink would fire once per interval up to the window end, which never ends for global
    windows).
    """

    interval: int
    flink_merge: bool = False
    code: ClassVar[int] = T_CONT_EVENT

    @classmethod
    def of(cls, interval: Duration, *, flink_merge: bool = False) -> ContinuousEventTimeTrigger:
        """Fire every ``interval`` (timedelta or int ms) of watermark progress.

        Raises
        ------
        InvalidWindowConfigError
            If ``interval`` is not positive or ``flink_merge`` is not a bool.
        """
        if not isinstance(flink_merge, bool):
            raise InvalidWindowConfigError(f"flink_merge must be a bool, got {flink_merge!r}")
        return cls(to_millis(interval, name="trigger interval", allow_zero=False), flink_merge)

    @property
    def param(self) -> int:
        return self.interval


@dataclass(frozen=True)
class ContinuousProcessingTimeTrigger(Trigger):
    """Firings every ``interval`` of processing time, aligned to multiples of the interval
    (Flink ``ContinuousProcessingTimeTrigger``); it has no firing of its own at the window
    end. Firings missed while processing time jumped (between batches) collapse into one."""

    interval: int
    code: ClassVar[int] = T_CONT_PROCESSING

    @classmethod
    def of(cls, interval: Duration) -> ContinuousProcessingTimeTrigger:
        """Fire every ``interval`` (timedelta or int ms) of wall-clock time."""
        return cls(to_millis(interval, name="trigger interval", allow_zero=False))

    @property
    def param(self) -> int:
        return self.interval


@dataclass(frozen=True)
class NeverTrigger(Trigger):
    """Never fires (the default trigger of :class:`~windows.GlobalWindows`)."""

    code: ClassVar[int] = T_NEVER


@dataclass(frozen=True)
class PurgingTrigger(Trigger):
    """Turns every firing of ``nested`` into fire-and-purge (Flink ``PurgingTrigger``)."""

    nested: Trigger

    @classmethod
    def of(cls, nested: Trigger) -> PurgingTrigger:
        """Wrap ``nested`` so that its firings also clear the window contents."""
        if not isinstance(nested, Trigger):
            raise InvalidWindowConfigError(f"PurgingTrigger.of needs a Trigger, got {nested!r}")
        return cls(nested.base)

    @property
    def code(self) -> int:  # type: ignore[override]
        return self.nested.code

    @property
    def can_merge(self) -> bool:  # type: ignore[override]
        return self.nested.can_merge

    @property
    def purging(self) -> bool:
        return True

    @property
    def param(self) -> int:
        return self.nested.param

    @property
    def flink_merge(self) -> bool:
        return self.nested.flink_merge

    @property
    def base(self) -> Trigger:
        return self.nested
