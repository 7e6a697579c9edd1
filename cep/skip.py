"""After-match skip strategies (as Flink CEP's ``AfterMatchSkipStrategy``).

After a match is emitted, a skip strategy discards the partial matches (and completed matches
not yet emitted) that must not produce results any more. Events are compared by their position
in the processing order of their key (Flink compares ``EventId`` = timestamp, then arrival):

======================  =================================  ======================================
strategy                pruning point                      discards partial matches whose
                                                           first event is ...
======================  =================================  ======================================
``no_skip``             none                               nothing
``skip_to_next``        the match's first event            at or before the pruning point
``skip_past_last_event`` the match's last event            at or before the pruning point
``skip_to_first(name)`` first event of stage ``name``      strictly before the pruning point
``skip_to_last(name)``  last event of stage ``name``       strictly before the pruning point
======================  =================================  ======================================

With any strategy but ``no_skip`` a completed match is held back until no partial match that
started earlier is still running, so that matches are emitted in order of their first event
(as Flink does). If a match has no event for ``name``, ``skip_to_first/last`` do not prune,
unless :meth:`AfterMatchSkipStrategy.throw_exception_on_miss` was set.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

__all__ = ["AfterMatchSkipStrategy", "SkipKind"]

SkipKind = Literal["no_skip", "skip_to_next", "skip_past_last_event", "skip_to_first",
                   "skip_to_last"]

#: Integer codes used by the engines.
SKIP_CODES: dict[str, int] = {"no_skip": 0, "skip_to_next": 1, "skip_past_last_event": 2,
                              "skip_to_first": 3, "skip_to_last": 4}


@dataclass(frozen=True)
class AfterMatchSkipStrategy:
    """An after-match skip strategy (immutable). Create one with the static constructors and
    pass it to :meth:`cep.Pattern.begin`.

    Attributes
    ----------
    kind : str
        One of ``"no_skip"``, ``"skip_to_next"``, ``"skip_past_last_event"``,
        ``"skip_to_first"``, ``"skip_to_last"``.
    stage : str or None
        The stage name for ``skip_to_first`` / ``skip_to_last``.
    throw_on_miss : bool
        Raise :class:`cep.errors.SkipToElementError` when the match has no event for ``stage``
        or the skip would not move past the match's first event (Flink
        ``throwExceptionOnMiss``).
    """

    kind: SkipKind = "no_skip"
    stage: str | None = None
    throw_on_miss: bool = False

    @staticmethod
    def no_skip() -> AfterMatchSkipStrategy:
        """Every possible match is emitted (Flink ``noSkip``; the default)."""
        return AfterMatchSkipStrategy("no_skip")

    @staticmethod
    def skip_to_next() -> AfterMatchSkipStrategy:
        """Discard partial matches that started with the same event as the emitted match
        (Flink ``skipToNext``)."""
        return AfterMatchSkipStrategy("skip_to_next")

    @staticmethod
    def skip_past_last_event() -> AfterMatchSkipStrategy:
        """Discard partial matches that started before the emitted match ended (Flink
        ``skipPastLastEvent``)."""
        return AfterMatchSkipStrategy("skip_past_last_event")

    @staticmethod
    def skip_to_first(stage: str) -> AfterMatchSkipStrategy:
        """Discard partial matches that started before the first event of ``stage`` in the
        emitted match (Flink ``skipToFirst``)."""
        if not isinstance(stage, str) or not stage:
            raise TypeError("skip_to_first needs a stage name")
        return AfterMatchSkipStrategy("skip_to_first", stage)

    @staticmethod
    def skip_to_last(stage: str) -> AfterMatchSkipStrategy:
        """Discard partial matches that started before the last event of ``stage`` in the
        emitted match (Flink ``skipToLast``)."""
        if not isinstance(stage, str) or not stage:
            raise TypeError("skip_to_last needs a stage name")
        return AfterMatchSkipStrategy("skip_to_last", stage)

    def throw_exception_on_miss(self) -> AfterMatchSkipStrategy:
        """A copy that raises when it cannot skip (only for ``skip_to_first/last``)."""
        if self.kind not in ("skip_to_first", "skip_to_last"):
            raise TypeError("throw_exception_on_miss applies to skip_to_first/skip_to_last")
        return replace(self, throw_on_miss=True)

    @property
    def is_skip(self) -> bool:
        """Whether matches can prune others (everything but ``no_skip``)."""
        return self.kind != "no_skip"

    @property
    def code(self) -> int:
        """Integer code of :attr:`kind` (for the engines)."""
        return SKIP_CODES[self.kind]

    def __repr__(self) -> str:
        arg = f"{self.stage!r}" if self.stage is not None else ""
        tail = ".throw_exception_on_miss()" if self.throw_on_miss else ""
        return f"AfterMatchSkipStrategy.{self.kind}({arg}){tail}"
