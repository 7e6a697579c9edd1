"""Contiguity and quantifiers of a pattern stage (as Flink CEP's ``Quantifier``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

__all__ = ["Contiguity", "Quantifier"]


class Contiguity(Enum):
    """How a stage attaches to the previous one, or how a looping stage's events attach to each
    other (Flink ``ConsumingStrategy``)."""

    #: ``next`` / ``consecutive``: no other event in between.
    STRICT = "strict"
    #: ``followed_by`` / the default inside loops: skip non-matching events.
    RELAXED = "relaxed"
    #: ``followed_by_any`` / ``allow_combinations``: also skip matching events.
    ANY = "any"
    #: ``not_next``: the next event must not match.
    NOT_NEXT = "not_next"
    #: ``not_followed_by``: no matching event before the next stage.
    NOT_FOLLOW = "not_followed_by"

    @property
    def negated(self) -> bool:
        """Whether this is a negation (``not_next`` / ``not_followed_by``)."""
        return self in (Contiguity.NOT_NEXT, Contiguity.NOT_FOLLOW)


@dataclass(frozen=True)
class Quantifier:
    """How many events a stage takes.

    Attributes
    ----------
    kind : str
        ``"single"`` (one event), ``"times"`` (``low`` to ``high`` events) or ``"looping"``
        (``low`` or more events).
    low, high : int
        Bounds (``high`` is ``low`` for looping stages; unused there).
    optional : bool
        The stage may match no event at all.
    greedy : bool
        Repeat as many times as possible (looping/times only).
    inner : Contiguity
        Contiguity between the events of a looping/times stage (``RELAXED`` by default,
        ``STRICT`` after ``consecutive()``, ``ANY`` after ``allow_combinations()``).
    """

    kind: str = "single"
    low: int = 1
    high: int = 1
    optional: bool = False
    greedy: bool = False
    inner: Contiguity = Contiguity.RELAXED

    @property
    def looping(self) -> bool:
        """True for ``one_or_more`` / ``times_or_more``."""
        return self.kind == "looping"

    @property
    def single(self) -> bool:
        """True when no quantifier has been applied."""
        return self.kind == "single"

    def with_(self, **changes: object) -> Quantifier:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def describe(self) -> str:
        """Short text such as ``{2,4}``, ``+``, ``{3,}?`` (``?`` marks optional)."""
        if self.kind == "single":
            s = ""
        elif self.kind == "looping":
            s = "+" if self.low == 1 else f"{{{self.low},}}"
        else:
            s = f"{{{self.low}}}" if self.low == self.high else f"{{{self.low},{self.high}}}"
        if self.optional:
            s += "?"
        if self.greedy:
            s += " greedy"
        return s
