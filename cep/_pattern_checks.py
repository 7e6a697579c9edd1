"""Whole-pattern checks run by :func:`cep.compiler.compile_pattern` before it builds the NFA:
the conditions on names, negations, groups, windows and the skip strategy that a single stage
cannot check when it is added to a :class:`~cep.pattern.Pattern`.
"""

from __future__ import annotations

from cep.errors import MalformedPatternError
from cep.pattern import Pattern
from cep.quantifiers import Contiguity

__all__ = ["validate_pattern"]


def validate_pattern(pattern: Pattern) -> None:
    """Check what needs the whole pattern before it is compiled.

    Parameters
    ----------
    pattern : Pattern

    Raises
    ------
    MalformedPatternError
        For an empty pattern, duplicate stage names, a pattern (or group) beginning with a
        negation, a negation after an optional stage, a ``not_followed_by`` ending a group,
        a trailing ``not_followed_by`` without ``within``, a ``previous_and_current`` window
        larger than the pattern window, or a skip strategy naming an unknown stage.
    """
    if not isinstance(pattern, Pattern) or not pattern.stages:
        raise MalformedPatternError("compile_pattern needs a non-empty Pattern")
    seen: set[str] = set()
    for st in pattern.iter_stages():
        if st.name is not None:
            if st.name in seen:
                raise MalformedPatternError(f"duplicate stage name {st.name!r}")
            seen.add(st.name)

    def check_chain(p: Pattern, top: bool) -> None:
        if p.stages[0].negated:
            raise MalformedPatternError("a pattern cannot begin with a negation")
        for i, st in enumerate(p.stages):
            if st.negated and i > 0 and p.stages[i - 1].quantifier.optional:
                raise MalformedPatternError(
                    f"negation {st.label} (position {i}) cannot follow an optional stage")
            if st.group is not None:
                check_chain(st.group, False)
        last = p.stages[-1]
        if not top and last.contiguity is Contiguity.NOT_FOLLOW:
            raise MalformedPatternError(
                f"not_followed_by {last.label} cannot end a group pattern (it would never be "
                "checked)")

    check_chain(pattern, True)
    window = pattern.window
    last = pattern.stages[-1]
    if last.contiguity is Contiguity.NOT_FOLLOW and not window and not last.within_previous:
        raise MalformedPatternError(
            f"not_followed_by {last.label} at the end of a pattern needs within(...) (as in "
            "Flink): without a window the absence could never be confirmed")
    if window:
        for st in pattern.iter_stages():
            if st.within_previous is not None and st.within_previous > window:
                raise MalformedPatternError(
                    f"the previous_and_current window of {st.label} ({st.within_previous} ms) "
                    f"is larger than the pattern window ({window} ms)")
    skip = pattern.skip_strategy
    if skip.stage is not None:
        names = [st.name for st in pattern.iter_stages() if st.name is not None
                 and not st.negated]
        if skip.stage not in names:
            raise MalformedPatternError(
                f"the skip strategy {skip!r} names stage {skip.stage!r}, which is not a "
                f"matching stage of the pattern (stages: {names})")
