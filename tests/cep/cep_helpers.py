"""Helpers for the CEP tests: events named like ``a1``/``b2`` whose ``kind`` is the leading
letters, and runners. (A uniquely named module: test directories share ``sys.path``.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cep import Match, Pattern, col
from cep.expr import Expr
from cep.testing import HarnessResult, run_pattern

ENGINES = ("reference", "fast")


def kind(name: str) -> str:
    """``"b12"`` -> ``"b"``."""
    return name.rstrip("0123456789")


def is_(*kinds: str) -> Expr:
    """Condition: the event's kind is one of ``kinds``."""
    if len(kinds) == 1:
        return col("kind") == kinds[0]
    return col("kind").is_in(kinds)


def events(names: Sequence[str], prices: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """Event dicts ``{"name", "kind", "price"}``."""
    ps = prices if prices is not None else [1.0] * len(names)
    return [{"name": n, "kind": kind(n), "price": float(p)}
            for n, p in zip(names, ps, strict=True)]


def run(pattern: Pattern, names: Sequence[str], engine: str,
        timestamps: Sequence[int] | None = None, prices: Sequence[float] | None = None,
        **options: Any) -> HarnessResult:
    """Run ``pattern`` over events called ``names`` (timestamps 1, 2, ... by default)."""
    return run_pattern(pattern, events(names, prices), timestamps, engine=engine, **options)


def chrono(match: Match) -> list[str]:
    """The event names of a match in time order (ties by name)."""
    pairs = [(t, e["name"]) for stage, evs in match.events.items()
             for e, t in zip(evs, match.timestamps[stage], strict=True)]
    return [n for _, n in sorted(pairs)]


def matches(pattern: Pattern, names: Sequence[str], engine: str,
            **options: Any) -> list[list[str]]:
    """Sorted list of matches, each the event names in time order."""
    return sorted(chrono(m) for m in run(pattern, names, engine, **options).matches)


def split(spec: str) -> list[str]:
    """``"a b1 b2"`` -> ``["a", "b1", "b2"]``."""
    return spec.split()


def expect(*specs: str) -> list[list[str]]:
    """Expected matches, sorted like :func:`matches`."""
    return sorted(split(s) for s in specs)
