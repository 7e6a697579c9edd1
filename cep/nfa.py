"""The compiled, immutable NFA (as Flink CEP's ``State`` / ``StateTransition`` graph).

An :class:`NFA` is produced by :func:`cep.compiler.compile_pattern` and never changes; all
mutable per-key state (partial matches, the shared buffer) lives in the engines. Each state has
an ordered list of transitions; a transition has an action:

* ``TAKE``: consume the event into the state's stage and move to the target;
* ``IGNORE``: skip the event and move to the target (often the state itself);
* ``PROCEED``: an epsilon move to the target, followed within the same event.

Transition conditions are boolean formulas (:data:`CondExpr`) over *atoms*, the leaf user
conditions. Simple atoms are evaluated vectorised per batch into boolean masks; the fast path
then needs only ``cond_table``: one boolean per (event, formula).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cep.conditions import Condition, ConditionContext
from cep.skip import AfterMatchSkipStrategy

__all__ = [
    "FINAL",
    "IGNORE",
    "NFA",
    "NORMAL",
    "PENDING",
    "PROCEED",
    "STOP",
    "TAKE",
    "CondExpr",
    "NFAState",
    "Transition",
]

TAKE, IGNORE, PROCEED = 0, 1, 2
NORMAL, FINAL, STOP, PENDING = 0, 1, 2, 3
ACTION_NAMES = ("TAKE", "IGNORE", "PROCEED")
KIND_NAMES = ("NORMAL", "FINAL", "STOP", "PENDING")

#: A condition formula: ``("true",)``, ``("atom", i)``, ``("not", e)``, ``("and", a, b)`` or
#: ``("or", a, b)``; ``i`` indexes :attr:`NFA.atoms`.
CondExpr = tuple[Any, ...]


@dataclass(frozen=True)
class Transition:
    """An edge of the NFA: ``action`` on condition ``cond`` (index into
    :attr:`NFA.conditions`) to state ``target``."""

    action: int
    target: int
    cond: int


@dataclass(frozen=True)
class NFAState:
    """A state of the NFA.

    Attributes
    ----------
    id : int
        Index in :attr:`NFA.states`.
    stage : int
        Index into :attr:`NFA.stage_names` of the stage whose events a ``TAKE`` from this state
        records; ``-1`` for internal states.
    kind : int
        ``NORMAL``, ``FINAL``, ``STOP`` (reaching it discards the partial match: a negation
        matched) or ``PENDING`` (a trailing ``not_followed_by``: becomes a match when the
        window passes).
    transitions : tuple of Transition
        In evaluation order.
    prev_window : int
        The ``previous_and_current`` window (ms) of the stage, 0 if none.
    """

    id: int
    stage: int
    kind: int
    transitions: tuple[Transition, ...]
    prev_window: int = 0


def _eval_formula_array(e: CondExpr, atoms: np.ndarray) -> np.ndarray:
    tag = e[0]
    if tag == "true":
        return np.ones(atoms.shape[0], np.bool_)
    if tag == "atom":
        return atoms[:, e[1]]
    if tag == "not":
        return ~_eval_formula_array(e[1], atoms)
    a = _eval_formula_array(e[1], atoms)
    b = _eval_formula_array(e[2], atoms)
    return (a & b) if tag == "and" else (a | b)


@dataclass(frozen=True)
class NFA:
    """A compiled pattern. Build with :func:`cep.compile_pattern`.

    Attributes
    ----------
    states : tuple of NFAState
    start : int
        The start state.
    conditions : tuple of CondExpr
        Transition condition formulas (deduplicated).
    atoms : tuple of Condition
        Leaf user conditions referenced by the formulas.
    window : int
        The ``first_and_last`` window in ms (0: none).
    skip : AfterMatchSkipStrategy
    stage_names : tuple of str
        Names of the stages that can hold events (negations excluded), in pattern order.
    """

    states: tuple[NFAState, ...]
    start: int
    conditions: tuple[CondExpr, ...]
    atoms: tuple[Condition, ...]
    window: int
    skip: AfterMatchSkipStrategy
    stage_names: tuple[str, ...]
    _arrays: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # -- properties -----------------------------------------------------------------------
    @property
    def iterative(self) -> bool:
        """Whether some atom needs the partial match (fast path unavailable)."""
        return any(a.is_iterative for a in self.atoms)

    @property
    def has_pending(self) -> bool:
        """Whether the pattern ends with a windowed ``not_followed_by``."""
        return any(s.kind == PENDING for s in self.states)

    def skip_stage_index(self) -> int:
        """Stage index of the skip strategy's stage name (-1 if none)."""
        if self.skip.stage is None:
            return -1
        return self.stage_names.index(self.skip.stage)

    def arrays(self) -> dict[str, Any]:
        """Flat NumPy arrays of the graph for the kernels (cached).

        ``trans_start`` (int64, ``n_states + 1``) indexes ``trans_action``, ``trans_target``,
        ``trans_cond`` (int64, one per transition); ``state_kind``, ``state_stage``,
        ``state_prev_window`` are int64 of length ``n_states``.
        """
        if not self._arrays:
            ts = [0]
            act: list[int] = []
            tgt: list[int] = []
            cnd: list[int] = []
            for s in self.states:
                for t in s.transitions:
                    act.append(t.action)
                    tgt.append(t.target)
                    cnd.append(t.cond)
                ts.append(len(act))
            i64 = np.int64
            self._arrays.update(
                trans_start=np.asarray(ts, i64), trans_action=np.asarray(act, i64),
                trans_target=np.asarray(tgt, i64), trans_cond=np.asarray(cnd, i64),
                state_kind=np.asarray([s.kind for s in self.states], i64),
                state_stage=np.asarray([s.stage for s in self.states], i64),
                state_prev_window=np.asarray([s.prev_window for s in self.states], i64))
        return self._arrays

    @property
    def fingerprint(self) -> str:
        """A hash of the graph structure, windows, skip strategy and stage names (conditions
        are identified only by position), used to refuse restoring foreign snapshots."""
        h = hashlib.sha256(repr((self.describe(), self.window, repr(self.skip),
                                 self.stage_names, len(self.atoms))).encode())
        return h.hexdigest()[:32]

    # -- conditions -----------------------------------------------------------------------
    def atom_masks(self, columns: Mapping[str, np.ndarray], n: int,
                   rows: Callable[[], Sequence[Mapping[str, Any]]]) -> np.ndarray:
        """Boolean ``(n, n_atoms)`` array of the simple atoms over a batch (iterative atoms'
        columns are False and must be evaluated per partial match).

        Raises
        ------
        ConditionError
            If a condition fails or returns a bad value.
        """
        out = np.zeros((n, len(self.atoms)), np.bool_)
        for j, a in enumerate(self.atoms):
            if not a.is_iterative:
                out[:, j] = a.mask(columns, n, rows)
        return out

    def cond_table(self, atom_masks: np.ndarray) -> np.ndarray:
        """Boolean ``(n, n_conditions)`` value of every transition condition (simple patterns
        only)."""
        n = atom_masks.shape[0]
        out = np.empty((n, len(self.conditions)), np.bool_)
        for j, e in enumerate(self.conditions):
            out[:, j] = _eval_formula_array(e, atom_masks)
        return out

    def eval_condition(self, cond: int, atom_row: np.ndarray, event_fn: Callable[[], Any],
                       ctx_fn: Callable[[], ConditionContext]) -> bool:
        """Value of condition ``cond`` for one event: simple atoms from ``atom_row``, iterative
        ones by calling them with ``event_fn()`` and ``ctx_fn()`` (left-to-right,
        short-circuit)."""
        return self._eval(self.conditions[cond], atom_row, event_fn, ctx_fn)

    def _eval(self, e: CondExpr, row: np.ndarray, event_fn: Callable[[], Any],
              ctx_fn: Callable[[], ConditionContext]) -> bool:
        tag = e[0]
        if tag == "true":
            return True
        if tag == "atom":
            a = self.atoms[e[1]]
            if a.is_iterative:
                return a.test(event_fn(), ctx_fn())
            return bool(row[e[1]])
        if tag == "not":
            return not self._eval(e[1], row, event_fn, ctx_fn)
        if tag == "and":
            return (self._eval(e[1], row, event_fn, ctx_fn)
                    and self._eval(e[2], row, event_fn, ctx_fn))
        return (self._eval(e[1], row, event_fn, ctx_fn)
                or self._eval(e[2], row, event_fn, ctx_fn))

    # -- description ----------------------------------------------------------------------
    def _fmt(self, e: CondExpr) -> str:
        tag = e[0]
        if tag == "true":
            return "TRUE"
        if tag == "atom":
            return f"a{e[1]}"
        if tag == "not":
            return f"!{self._fmt(e[1])}"
        return f"({self._fmt(e[1])} {'&' if tag == 'and' else '|'} {self._fmt(e[2])})"

    def describe(self) -> str:
        """A multi-line text of the states and transitions (for debugging and fingerprints)."""
        lines = []
        for s in self.states:
            name = self.stage_names[s.stage] if s.stage >= 0 else "-"
            head = f"{s.id}{'*' if s.id == self.start else ''} [{name}] {KIND_NAMES[s.kind]}"
            if s.prev_window:
                head += f" prev_window={s.prev_window}"
            lines.append(head)
            for t in s.transitions:
                lines.append(f"    {ACTION_NAMES[t.action]} -> {t.target} if "
                             f"{self._fmt(self.conditions[t.cond])}")
        return "\n".join(lines)
