"""Per-key lists of partial matches in the NFA kernel, and their deadlines: saturating time
arithmetic, window ends, watermark look-ups, and building a key's new list while tracking its
count, earliest window end and longest same-state tail (the ``ks`` ``Q*`` fields). Compiled and
inlined into :func:`cep._kernels.nfa_run`, with pure-Python twins.

A list under construction is a tuple ``(head, tail, count, deadline, run_state, run_start,
run_count, run_deadline, run_len)`` (:data:`EMPTY_LIST` to start), the ``run_*`` fields
describing its longest tail of entries in one state.
"""

from __future__ import annotations

import numpy as np

from cep._nfa_layout import (
    K_COUNT,
    K_DEADLINE,
    K_HEAD,
    K_QCOUNT,
    K_QDEADLINE,
    K_QLEN,
    K_QSTART,
    K_QSTATE,
    K_TAIL,
    MAX_TS,
    PM_NEXT,
    PM_PREV_TS,
    PM_START_TS,
    PM_STATE,
)
from windows._jit import kernel

__all__ = ["EMPTY_LIST", "link", "list_append", "partial_deadline", "sat", "step_of",
           "store_list", "wm_index"]

#: the empty list under construction (see the module docstring)
EMPTY_LIST = (-1, -1, 0, MAX_TS, -1, -1, 0, MAX_TS, 0)

ListAcc = tuple[int, int, int, int, int, int, int, int, int]


@kernel(inline=True)
def sat(a: int, b: int) -> int:  # pragma: no cover - twin via parity
    """``a + b``, saturated one below :data:`MAX_TS` (which means "no deadline")."""
    if a > MAX_TS - 1 - b:
        return MAX_TS - 1
    return a + b


@kernel(inline=True)
def partial_deadline(pm: np.ndarray, i: int, s_pw: np.ndarray,
                     window: int) -> int:  # pragma: no cover - twin via parity
    """The time at which entry ``i`` of ``pm`` expires: its ``within`` window end (``window``,
    0: none) or its state's window after the previous event (``s_pw``), whichever is first."""
    d = MAX_TS
    if window > 0:
        d = sat(pm[i, PM_START_TS], window)
    pw = s_pw[pm[i, PM_STATE]]
    if pw > 0:
        d2 = sat(pm[i, PM_PREV_TS], pw)
        if d2 < d:
            d = d2
    return d


@kernel(inline=True)
def wm_index(wm_vals: np.ndarray, bound: int) -> int:  # pragma: no cover - twin via parity
    """Index of the first of the (sorted) watermark values ``>= bound`` (their count: none)."""
    lo = 0
    hi = wm_vals.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if wm_vals[mid] < bound:
            lo = mid + 1
        else:
            hi = mid
    return lo


@kernel(inline=True)
def step_of(wm_vals: np.ndarray, wm_steps: np.ndarray,
            t: int) -> int:  # pragma: no cover - twin via parity
    """The step of the first watermark value ``>= t`` (the last step if none)."""
    n_wm = wm_vals.shape[0]
    lo = wm_index(wm_vals, t)
    return wm_steps[lo] if lo < n_wm else wm_steps[n_wm - 1]


@kernel(inline=True)
def link(pm: np.ndarray, head: int, tail: int, q: int) -> int:  # pragma: no cover
    """Chain entry (or chain) ``q`` after ``tail`` (-1: empty list); returns the new head."""
    if tail == -1:
        return q
    pm[tail, PM_NEXT] = q
    return head


@kernel(inline=True)
def list_append(pm: np.ndarray, acc: ListAcc, first: int, last: int, n: int, d: int, ln: int,
                state: int) -> ListAcc:  # pragma: no cover - twin via parity
    """Append the chain ``first`` .. ``last`` of ``n`` entries, all in ``state``, with earliest
    deadline ``d`` and longest path ``ln``, to the list ``acc``; returns the new list."""
    head, tail, count, dmin, run_state, run_start, run_n, run_d, run_len = acc
    head = link(pm, head, tail, first)
    count += n
    if d < dmin:
        dmin = d
    if state != run_state:
        run_state = state
        run_start = first
        run_n = 0
        run_d = MAX_TS
        run_len = 0
    run_n += n
    if d < run_d:
        run_d = d
    if ln > run_len:
        run_len = ln
    return (head, last, count, dmin, run_state, run_start, run_n, run_d, run_len)


@kernel(inline=True)
def store_list(ks: np.ndarray, k: int, acc: ListAcc) -> None:  # pragma: no cover
    """Make ``acc`` the partial list of key ``k`` (its ``ks`` list and ``Q*`` fields)."""
    ks[k, K_HEAD] = acc[0]
    ks[k, K_TAIL] = acc[1]
    ks[k, K_COUNT] = acc[2]
    ks[k, K_DEADLINE] = acc[3]
    ks[k, K_QSTATE] = acc[4]
    ks[k, K_QSTART] = acc[5]
    ks[k, K_QCOUNT] = acc[6]
    ks[k, K_QDEADLINE] = acc[7]
    ks[k, K_QLEN] = acc[8]
