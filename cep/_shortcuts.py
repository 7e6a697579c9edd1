"""Per-event shortcuts for the fast kernel, computed vectorised from the condition table.

Most events of a stream change nothing: they cannot start a match and their key has no
partial match, or they leave a waiting partial match exactly as it is (its state's only
enabled edge is an IGNORE back into the same state, as in the relaxed contiguity of
``followed_by``). The kernel still has to visit the key for them, but it need not walk the
NFA graph: :func:`shortcut_bits` tells it, per event, which states the event leaves unchanged
and whether it can start a match (see :mod:`cep._kernels`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cep._nfa_layout import START_IDLE_BIT
from cep.nfa import IGNORE, NFA, PROCEED, TAKE

__all__ = ["ShortcutPlan", "shortcut_bits"]


@dataclass(frozen=True)
class _Path:
    """A way from a state to an action edge: the conditions met along it (PROCEED edges and
    the action edge), the action and its target."""

    conds: tuple[int, ...]
    action: int
    target: int


@dataclass(frozen=True)
class ShortcutPlan:
    """The paths :func:`shortcut_bits` evaluates (built once per NFA).

    Attributes
    ----------
    states : tuple of (int, tuple of _Path)
        States below :data:`cep._nfa_layout.START_IDLE_BIT` with an IGNORE path back into
        themselves, with every action path of the state.
    start_takes : tuple of tuple of int
        Conditions of each path from the start state to a TAKE edge.
    """

    states: tuple[tuple[int, tuple[_Path, ...]], ...]
    start_takes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, nfa: NFA) -> ShortcutPlan:
        """The plan of an NFA (PROCEED edges followed depth first, every path counted, as the
        kernel does)."""

        def paths(s: int, conds: tuple[int, ...], depth: int) -> list[_Path]:
            if depth > len(nfa.states):  # a PROCEED cycle: the compiler never makes one
                raise ValueError("PROCEED cycle in the NFA")
            out: list[_Path] = []
            for tr in nfa.states[s].transitions:
                c = (*conds, tr.cond)
                if tr.action == PROCEED:
                    out += paths(tr.target, c, depth + 1)
                else:
                    out.append(_Path(c, tr.action, tr.target))
            return out

        states = []
        for st in nfa.states[:START_IDLE_BIT]:
            ps = paths(st.id, (), 0)
            if any(p.action == IGNORE and p.target == st.id for p in ps):
                states.append((st.id, tuple(ps)))
        start = tuple(p.conds for p in paths(nfa.start, (), 0) if p.action == TAKE)
        return cls(tuple(states), start)


class _Masks:
    """Conjunctions of condition columns, each computed once (over the transposed table, so
    every column is contiguous)."""

    def __init__(self, cond: np.ndarray) -> None:
        self.cols = np.ascontiguousarray(cond.T)
        self.memo: dict[tuple[int, ...], np.ndarray] = {}

    def all(self, conds: tuple[int, ...]) -> np.ndarray:
        m = self.memo.get(conds)
        if m is None:
            m = self.cols[conds[0]] if len(conds) == 1 else self.all(conds[:-1]) & \
                self.cols[conds[-1]]
            self.memo[conds] = m
        return m


def shortcut_bits(plan: ShortcutPlan, cond: np.ndarray) -> np.ndarray:
    """The kernel's shortcut bits of each event.

    Parameters
    ----------
    plan : ShortcutPlan
    cond : ndarray of bool, shape (n, n_conditions)
        The transition conditions of the events (:meth:`cep.nfa.NFA.cond_table`).

    Returns
    -------
    ndarray of int64, shape (n,)
        Bit ``s`` set when state ``s``'s only enabled path is one IGNORE back into ``s``; bit
        :data:`cep._nfa_layout.START_IDLE_BIT` set when no TAKE path from the start state is
        enabled.
    """
    n = cond.shape[0]
    bits = np.zeros(n, np.int64)
    masks = _Masks(cond)
    for s, paths in plan.states:
        count: np.ndarray = np.zeros(n, np.int8 if len(paths) < 127 else np.int64)
        self_ignore = np.zeros(n, np.bool_)
        for p in paths:
            m = masks.all(p.conds)
            count += m
            if p.action == IGNORE and p.target == s:
                self_ignore |= m
        bits |= ((count == 1) & self_ignore).astype(np.int64) << s
    can_start = np.zeros(n, np.bool_)
    for conds in plan.start_takes:
        can_start |= masks.all(conds)
    bits |= (~can_start).astype(np.int64) << START_IDLE_BIT
    return bits
