"""The Pattern API: an immutable builder of pattern sequences (as Flink CEP's ``Pattern``).

Every method returns a new :class:`Pattern`; the receiver is never modified, so partial
patterns can be shared and extended in several ways. Methods that configure a stage
(``where``, ``times``, ``optional``, ...) apply to the *last* stage. Mistakes that can be seen
while building raise :class:`~cep.errors.MalformedPatternError` at once, with the stage name
and position; the rest (which need the whole pattern) are raised by :func:`cep.compile_pattern`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from cep.conditions import Condition, as_condition
from cep.errors import MalformedPatternError
from cep.quantifiers import Contiguity, Quantifier
from cep.skip import AfterMatchSkipStrategy
from windows.errors import InvalidDurationError
from windows.time import to_millis

__all__ = ["Pattern", "Stage", "WithinType"]

#: ``"first_and_last"``: the whole match (Flink ``WithinType.FIRST_AND_LAST``, the default);
#: ``"previous_and_current"``: between the previous matched event and an event of this stage
#: (Flink ``WithinType.PREVIOUS_AND_CURRENT``).
WithinType = Literal["first_and_last", "previous_and_current"]


@dataclass(frozen=True)
class Stage:
    """One stage of a pattern sequence (a Flink "individual pattern", or a group).

    Attributes
    ----------
    name : str or None
        Stage name (the key of the matched events); ``None`` for a group stage.
    contiguity : Contiguity
        How the stage attaches to the previous one.
    condition : Condition or None
        What an event must satisfy (``None``: every event; a group has none).
    quantifier : Quantifier
        How many events the stage takes.
    until : Condition or None
        Stop condition of a looping stage.
    group : Pattern or None
        The inner pattern of a group stage.
    within : int or None
        Window (ms) for the whole match set on this stage.
    within_previous : int or None
        Window (ms) between the previous matched event and an event of this stage.
    """

    name: str | None
    contiguity: Contiguity
    condition: Condition | None = None
    quantifier: Quantifier = field(default_factory=Quantifier)
    until: Condition | None = None
    group: Pattern | None = None
    within: int | None = None
    within_previous: int | None = None

    @property
    def label(self) -> str:
        """The name, or a description of a group stage."""
        if self.group is None:
            return repr(self.name)
        return "group(" + ", ".join(repr(n) for n in self.group.stage_names()) + ")"

    @property
    def negated(self) -> bool:
        """Whether the stage is ``not_next`` / ``not_followed_by``."""
        return self.contiguity.negated


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise MalformedPatternError(f"a stage name must be a non-empty string, got {name!r}")
    if ":" in name:
        raise MalformedPatternError(f"stage name {name!r} must not contain ':' (as in Flink)")
    return name


def _millis(duration: Any, what: str) -> int:
    try:
        return to_millis(duration, name=what, allow_zero=False)
    except InvalidDurationError as exc:
        raise MalformedPatternError(str(exc)) from exc


@dataclass(frozen=True)
class Pattern:
    """A pattern sequence. Start one with :meth:`Pattern.begin`.

    Attributes
    ----------
    stages : tuple of Stage
        The stages in order.
    skip_strategy : AfterMatchSkipStrategy
        What to discard after each match (given to :meth:`begin`).

    Examples
    --------
    >>> from cep import Pattern, col
    >>> p = (Pattern.begin("small").where(col("amount") < 1)
    ...      .followed_by("large").where(col("amount") > 500).within(600_000))
    >>> p.stage_names()
    ('small', 'large')
    """

    stages: tuple[Stage, ...]
    skip_strategy: AfterMatchSkipStrategy = field(default_factory=AfterMatchSkipStrategy)

    # -- starting and appending -------------------------------------------------------------
    @staticmethod
    def begin(name: str | Pattern,
              skip_strategy: AfterMatchSkipStrategy | None = None) -> Pattern:
        """Start a pattern with a stage ``name`` or a group (a pattern as a stage).

        Parameters
        ----------
        name : str or Pattern
            Name of the first stage, or a pattern to use as a group stage (Flink
            ``begin(Pattern)``).
        skip_strategy : AfterMatchSkipStrategy, optional
            Default ``AfterMatchSkipStrategy.no_skip()``.

        Raises
        ------
        MalformedPatternError
            For an invalid name.
        """
        skip = skip_strategy if skip_strategy is not None else AfterMatchSkipStrategy()
        if not isinstance(skip, AfterMatchSkipStrategy):
            raise TypeError("skip_strategy must be an AfterMatchSkipStrategy")
        return Pattern((), skip)._append(name, Contiguity.STRICT)

    def _append(self, name: str | Pattern, contiguity: Contiguity) -> Pattern:
        if isinstance(name, Pattern):
            if contiguity.negated:
                raise MalformedPatternError("a negation cannot be a group pattern")
            stage = Stage(None, contiguity, group=name)
            new_names = name.stage_names()
        else:
            stage = Stage(_check_name(name), contiguity)
            new_names = (stage.name,)  # type: ignore[assignment]
        seen = set(self.stage_names())
        for n in new_names:
            if n in seen:
                raise MalformedPatternError(f"duplicate stage name {n!r} (at position "
                                            f"{len(self.stages)}); names must be unique")
            seen.add(n)
        return replace(self, stages=(*self.stages, stage))

    def next(self, name: str | Pattern) -> Pattern:
        """Append a stage (or group) with strict contiguity: its event must directly follow
        the previous matched event (Flink ``next``)."""
        return self._append(name, Contiguity.STRICT)

    def followed_by(self, name: str | Pattern) -> Pattern:
        """Append a stage (or group) with relaxed contiguity: non-matching events in between
        are skipped (Flink ``followedBy``)."""
        return self._append(name, Contiguity.RELAXED)

    def followed_by_any(self, name: str | Pattern) -> Pattern:
        """Append a stage (or group) with non-deterministic relaxed contiguity: matching events
        may be skipped too, giving alternative matches (Flink ``followedByAny``)."""
        return self._append(name, Contiguity.ANY)

    def not_next(self, name: str) -> Pattern:
        """Append a negation: the event right after the previous matched event must not match
        (Flink ``notNext``).

        Raises
        ------
        MalformedPatternError
            If the previous stage is optional.
        """
        self._check_not_after_optional("not_next")
        return self._append(name, Contiguity.NOT_NEXT)

    def not_followed_by(self, name: str) -> Pattern:
        """Append a negation: no matching event may occur between the previous and the next
        stage (Flink ``notFollowedBy``). At the end of a pattern it needs :meth:`within`; the
        match is then emitted when the window has passed without such an event.

        Raises
        ------
        MalformedPatternError
            If the previous stage is optional.
        """
        self._check_not_after_optional("not_followed_by")
        return self._append(name, Contiguity.NOT_FOLLOW)

    def _check_not_after_optional(self, what: str) -> None:
        if self.stages and self.stages[-1].quantifier.optional:
            raise MalformedPatternError(
                f"{what} cannot follow the optional stage {self._where()}: a negation cannot "
                "be preceded by an optional stage (as in Flink); use two patterns, one with and "
                "one without the optional part")

    # -- configuring the last stage ---------------------------------------------------------
    def _where(self) -> str:
        return f"{self.stages[-1].label} (position {len(self.stages) - 1})"

    def _replace_last(self, **changes: Any) -> Pattern:
        return replace(self, stages=(*self.stages[:-1], replace(self.stages[-1], **changes)))

    def _last_quantifier(self) -> Quantifier:
        return self.stages[-1].quantifier

    def _check_no_group(self, what: str) -> None:
        if self.stages[-1].group is not None:
            raise MalformedPatternError(f"{what} does not apply to the group stage "
                                        f"{self._where()}")

    def _check_no_negation(self, what: str) -> None:
        if self.stages[-1].negated:
            raise MalformedPatternError(f"{what} does not apply to the negated stage "
                                        f"{self._where()}")

    def where(self, condition: Any) -> Pattern:
        """AND a condition into the last stage (Flink ``where``).

        Parameters
        ----------
        condition : Condition or cep.expr.Expr
            See :mod:`cep.conditions`.
        """
        self._check_no_group("where")
        cond = as_condition(condition)
        old = self.stages[-1].condition
        return self._replace_last(condition=cond if old is None else old & cond)

    def or_(self, condition: Any) -> Pattern:
        """OR a condition into the last stage (Flink ``or``)."""
        self._check_no_group("or_")
        cond = as_condition(condition)
        old = self.stages[-1].condition
        return self._replace_last(condition=cond if old is None else old | cond)

    def until(self, condition: Any) -> Pattern:
        """Stop condition of a looping stage: once an event satisfies it, the stage accepts
        no more events (Flink ``until``).

        Raises
        ------
        MalformedPatternError
            If the last stage does not loop, or already has one.
        """
        st = self.stages[-1]
        if not st.quantifier.looping:
            raise MalformedPatternError(
                f"until applies to looping stages (one_or_more / times_or_more); "
                f"{self._where()} does not loop")
        if st.until is not None:
            raise MalformedPatternError(f"{self._where()} already has an until condition")
        return self._replace_last(until=as_condition(condition))

    def _quantify(self, what: str, **changes: Any) -> Pattern:
        self._check_no_negation(what)
        q = self._last_quantifier()
        if not q.single:
            raise MalformedPatternError(f"{what}: a quantifier ({q.describe()}) is already "
                                        f"applied to {self._where()}")
        return self._replace_last(quantifier=q.with_(**changes))

    def times(self, n: int, m: int | None = None) -> Pattern:
        """Exactly ``n`` events, or ``n`` to ``m`` events when ``m`` is given (Flink
        ``times``). ``times(0, m)`` means optional ``times(1, m)`` as in Flink."""
        if not isinstance(n, int) or (m is not None and not isinstance(m, int)):
            raise TypeError("times() needs int bounds")
        if m is None:
            if n < 1:
                raise MalformedPatternError(f"times({n}) must be at least 1")
            return self._quantify("times", kind="times", low=n, high=n)
        if n < 0 or m < max(n, 1):
            raise MalformedPatternError(f"times({n}, {m}) needs 0 <= from <= to and to >= 1")
        optional = n == 0
        out = self._quantify("times", kind="times", low=max(n, 1), high=m)
        return out.optional() if optional else out

    def times_or_more(self, n: int) -> Pattern:
        """``n`` or more events (Flink ``timesOrMore``)."""
        if not isinstance(n, int) or n < 1:
            raise MalformedPatternError(f"times_or_more({n!r}) must be at least 1")
        return self._quantify("times_or_more", kind="looping", low=n, high=n)

    def one_or_more(self) -> Pattern:
        """One or more events (Flink ``oneOrMore``). Use :meth:`until` or :meth:`within` to
        bound the state it keeps."""
        return self._quantify("one_or_more", kind="looping", low=1, high=1)

    def optional(self) -> Pattern:
        """The last stage may match no event (Flink ``optional``).

        Raises
        ------
        MalformedPatternError
            On a negation, when already optional, or when the previous stage is greedy.
        """
        self._check_no_negation("optional")
        q = self._last_quantifier()
        if q.optional:
            raise MalformedPatternError(f"{self._where()} is already optional")
        if len(self.stages) > 1 and self.stages[-2].quantifier.greedy:
            raise MalformedPatternError(f"optional stage {self._where()} cannot follow a greedy "
                                        "stage (as in Flink)")
        return self._replace_last(quantifier=q.with_(optional=True))

    def greedy(self) -> Pattern:
        """Repeat the last (looping or times) stage as many times as possible (Flink
        ``greedy``; not for groups)."""
        self._check_no_negation("greedy")
        self._check_no_group("greedy")
        q = self._last_quantifier()
        if q.single:
            raise MalformedPatternError(f"greedy applies to looping or times stages; "
                                        f"{self._where()} has no quantifier")
        if q.greedy:
            raise MalformedPatternError(f"{self._where()} is already greedy")
        return self._replace_last(quantifier=q.with_(greedy=True))

    def consecutive(self) -> Pattern:
        """Strict contiguity between the events of the last looping/times stage (Flink
        ``consecutive``)."""
        return self._inner(Contiguity.STRICT, "consecutive")

    def allow_combinations(self) -> Pattern:
        """Non-deterministic relaxed contiguity between the events of the last looping/times
        stage (Flink ``allowCombinations``)."""
        return self._inner(Contiguity.ANY, "allow_combinations")

    def _inner(self, inner: Contiguity, what: str) -> Pattern:
        q = self._last_quantifier()
        if q.single:
            raise MalformedPatternError(f"{what} applies to looping or times stages; "
                                        f"{self._where()} has no quantifier")
        if q.inner is not Contiguity.RELAXED:
            have = "consecutive" if q.inner is Contiguity.STRICT else "allow_combinations"
            raise MalformedPatternError(f"{what}: {self._where()} already has {have} (apply "
                                        "one of consecutive / allow_combinations, once)")
        return self._replace_last(quantifier=q.with_(inner=inner))

    def within(self, duration: _dt.timedelta | int,
               within_type: WithinType = "first_and_last") -> Pattern:
        """Bound the time of a match (Flink ``within``).

        Parameters
        ----------
        duration : datetime.timedelta or int
            Milliseconds. A partial match is discarded (and reported as timed out) once
            ``start + duration <= time``, so an event exactly ``duration`` after the first one
            does not match (as Flink).
        within_type : {"first_and_last", "previous_and_current"}
            ``"first_and_last"`` (default) bounds the whole match, measured from its first
            event; with several, the smallest applies. ``"previous_and_current"`` bounds the
            time from the previous matched event to an event of *this* stage.
        """
        ms = _millis(duration, "within")
        if within_type == "first_and_last":
            old = self.stages[-1].within
            return self._replace_last(within=ms if old is None else min(old, ms))
        if within_type == "previous_and_current":
            self._check_no_group("within(..., 'previous_and_current')")
            return self._replace_last(within_previous=ms)
        raise MalformedPatternError(f"unknown within_type {within_type!r}; use "
                                    "'first_and_last' or 'previous_and_current'")

    # -- inspection -------------------------------------------------------------------------
    def iter_stages(self) -> Iterator[Stage]:
        """All stages, recursing into groups (group stages themselves included)."""
        for st in self.stages:
            yield st
            if st.group is not None:
                yield from st.group.iter_stages()

    def stage_names(self) -> tuple[str, ...]:
        """Names of all named stages in order, including those inside groups."""
        return tuple(st.name for st in self.iter_stages() if st.name is not None)

    @property
    def window(self) -> int | None:
        """The effective ``first_and_last`` window in ms (smallest one set), or ``None``."""
        ws = [st.within for st in self.iter_stages() if st.within is not None]
        return min(ws) if ws else None

    @property
    def is_iterative(self) -> bool:
        """Whether some condition needs the partial match (reference engine only)."""
        return any((c is not None and c.is_iterative) for st in self.iter_stages()
                   for c in (st.condition, st.until))

    def __repr__(self) -> str:
        parts: list[str] = []
        verbs = {Contiguity.STRICT: "next", Contiguity.RELAXED: "followed_by",
                 Contiguity.ANY: "followed_by_any", Contiguity.NOT_NEXT: "not_next",
                 Contiguity.NOT_FOLLOW: "not_followed_by"}
        for i, st in enumerate(self.stages):
            verb = "Pattern.begin" if i == 0 else "." + verbs[st.contiguity]
            arg = repr(st.group) if st.group is not None else repr(st.name)
            s = f"{verb}({arg})"
            if st.condition is not None:
                s += f".where({st.condition!r})"
            q = st.quantifier
            if q.kind == "times":
                s += f".times({q.low}, {q.high})" if q.low != q.high else f".times({q.low})"
            elif q.looping:
                s += ".one_or_more()" if q.low == 1 else f".times_or_more({q.low})"
            if q.optional:
                s += ".optional()"
            if q.greedy:
                s += ".greedy()"
            if q.inner is Contiguity.STRICT:
                s += ".consecutive()"
            elif q.inner is Contiguity.ANY:
                s += ".allow_combinations()"
            if st.until is not None:
                s += f".until({st.until!r})"
            if st.within is not None:
                s += f".within({st.within})"
            if st.within_previous is not None:
                s += f".within({st.within_previous}, 'previous_and_current')"
            parts.append(s)
        return "".join(parts)
