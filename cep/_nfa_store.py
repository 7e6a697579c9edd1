"""Pools and output buffers of the NFA kernel: allocation and release of partial matches
(``pm``), path nodes (``nd``) and stored events (``ev``), the capacity check that precedes
every operation, and writing an output's rows (compiled and inlined into
:func:`cep._kernels.nfa_run`, with pure-Python twins; layouts in :mod:`cep._nfa_layout`).
"""

from __future__ import annotations

import numpy as np

from cep._nfa_layout import (
    C_ALOG,
    C_EV_FREE,
    C_EV_USED,
    C_ND_FREE,
    C_ND_USED,
    C_NEED_ALOG,
    C_NEED_EV,
    C_NEED_ND,
    C_NEED_OUT,
    C_NEED_PM,
    C_NEED_ROWS,
    C_ORDER,
    C_OUT,
    C_PEND,
    C_PM_FREE,
    C_PM_USED,
    C_ROWS,
    EV_GID,
    EV_NEXT,
    EV_REFS,
    EV_SEQ,
    EV_TS,
    ND_PARENT,
    ND_REFS,
    ND_SLOT,
    ND_STAGE,
    O_KEY,
    O_KIND,
    O_ORDER,
    O_ROWEND,
    O_STEP,
    O_T,
    O_TTS,
    PM_LEN,
    PM_NEXT,
    PM_NODE,
    PM_PREV_TS,
    PM_START_SEQ,
    PM_START_TS,
    PM_STATE,
)
from windows._jit import kernel

__all__ = ["alloc_pm", "emit", "free_pm", "new_node", "new_partial", "release", "reserve",
           "store_event"]


@kernel(inline=True)
def alloc_pm(pm: np.ndarray, ctr: np.ndarray) -> int:  # pragma: no cover - twin via parity
    """Take an entry off the free list of ``pm`` (its ``NEXT`` is set to -1)."""
    i = ctr[C_PM_FREE]
    ctr[C_PM_FREE] = pm[i, PM_NEXT]
    ctr[C_PM_USED] += 1
    pm[i, PM_NEXT] = -1
    return i


@kernel(inline=True)
def free_pm(pm: np.ndarray, ctr: np.ndarray, i: int) -> None:  # pragma: no cover
    """Put entry ``i`` of ``pm`` back on the free list."""
    pm[i, PM_NEXT] = ctr[C_PM_FREE]
    ctr[C_PM_FREE] = i
    ctr[C_PM_USED] -= 1


@kernel(inline=True)
def new_partial(pm: np.ndarray, nd: np.ndarray, ctr: np.ndarray, state: int, node: int,
                start_ts: int, prev_ts: int, start_seq: int,
                length: int) -> int:  # pragma: no cover - twin via parity
    """A new entry of ``pm`` with the given fields; it takes a reference on ``node`` (if any)."""
    q = alloc_pm(pm, ctr)
    pm[q, PM_STATE] = state
    pm[q, PM_NODE] = node
    pm[q, PM_START_TS] = start_ts
    pm[q, PM_PREV_TS] = prev_ts
    pm[q, PM_START_SEQ] = start_seq
    pm[q, PM_LEN] = length
    if node >= 0:
        nd[node, ND_REFS] += 1
    return q


@kernel(inline=True)
def store_event(ev: np.ndarray, ctr: np.ndarray, alog: np.ndarray, e_slot: np.ndarray, r: int,
                seq: int, ts: int, gid: int) -> int:  # pragma: no cover - twin via parity
    """The slot of ready event ``r`` in ``ev`` with one more reference: its slot of this call if
    still alive, else a new one (logged in ``alog`` as (slot, r))."""
    slot = e_slot[r]
    if slot < 0 or ev[slot, EV_REFS] < 0:
        slot = ctr[C_EV_FREE]
        ctr[C_EV_FREE] = ev[slot, EV_NEXT]
        ctr[C_EV_USED] += 1
        ev[slot, EV_SEQ] = seq
        ev[slot, EV_TS] = ts
        ev[slot, EV_REFS] = 0
        ev[slot, EV_GID] = gid
        ev[slot, EV_NEXT] = -1
        e_slot[r] = slot
        alog[ctr[C_ALOG], 0] = slot
        alog[ctr[C_ALOG], 1] = r
        ctr[C_ALOG] += 1
    ev[slot, EV_REFS] += 1
    return slot


@kernel(inline=True)
def new_node(nd: np.ndarray, ctr: np.ndarray, slot: int, stage: int,
             parent: int) -> int:  # pragma: no cover - twin via parity
    """A new path node (no references yet) for event ``slot`` taken by ``stage`` after
    ``parent`` (-1: none), on which it takes a reference."""
    node = ctr[C_ND_FREE]
    ctr[C_ND_FREE] = nd[node, ND_PARENT]
    ctr[C_ND_USED] += 1
    nd[node, ND_SLOT] = slot
    nd[node, ND_STAGE] = stage
    nd[node, ND_PARENT] = parent
    nd[node, ND_REFS] = 0
    if parent >= 0:
        nd[parent, ND_REFS] += 1
    return node


@kernel(inline=True)
def release(nd: np.ndarray, ev: np.ndarray, ctr: np.ndarray, pend: np.ndarray,
            node: int) -> None:  # pragma: no cover - twin via parity
    """Drop a reference on ``node``; free the nodes (and mark dead the events, listed in
    ``pend``) of its path that are no longer referenced."""
    while node >= 0:
        nd[node, ND_REFS] -= 1
        if nd[node, ND_REFS] > 0:
            return
        slot = nd[node, ND_SLOT]
        parent = nd[node, ND_PARENT]
        nd[node, ND_PARENT] = ctr[C_ND_FREE]
        ctr[C_ND_FREE] = node
        ctr[C_ND_USED] -= 1
        ev[slot, EV_REFS] -= 1
        if ev[slot, EV_REFS] == 0:
            ev[slot, EV_REFS] = -1
            pend[ctr[C_PEND]] = slot
            ctr[C_PEND] += 1
            ctr[C_EV_USED] -= 1
        node = parent


@kernel(inline=True)
def reserve(pm: np.ndarray, nd: np.ndarray, ev: np.ndarray, alog: np.ndarray, om: np.ndarray,
            orow: np.ndarray, ctr: np.ndarray, need_pm: int, need_nd: int, need_ev: int,
            need_out: int, need_rows: int) -> bool:  # pragma: no cover - twin via parity
    """True when the pools and output buffers have room for an operation's worst case (``ev``
    and ``alog`` both need ``need_ev``); else record the sizes needed (``ctr[C_NEED_*]``) and
    return False."""
    short = False
    if pm.shape[0] - ctr[C_PM_USED] < need_pm:
        short = True
    if nd.shape[0] - ctr[C_ND_USED] < need_nd:
        short = True
    if ev.shape[0] - ctr[C_EV_USED] - ctr[C_PEND] < need_ev:
        short = True
    if alog.shape[0] - ctr[C_ALOG] < need_ev:
        short = True
    if om.shape[0] - ctr[C_OUT] < need_out:
        short = True
    if orow.shape[0] - ctr[C_ROWS] < need_rows:
        short = True
    if short:
        ctr[C_NEED_PM] = ctr[C_PM_USED] + need_pm
        ctr[C_NEED_ND] = ctr[C_ND_USED] + need_nd
        ctr[C_NEED_EV] = ctr[C_EV_USED] + ctr[C_PEND] + need_ev
        ctr[C_NEED_ALOG] = ctr[C_ALOG] + need_ev
        ctr[C_NEED_OUT] = ctr[C_OUT] + need_out
        ctr[C_NEED_ROWS] = ctr[C_ROWS] + need_rows
    return not short


@kernel(inline=True)
def emit(om: np.ndarray, orow: np.ndarray, nd: np.ndarray, ctr: np.ndarray, kind: int,
         step: int, key: int, t: int, tts: int, node: int,
         length: int) -> None:  # pragma: no cover - twin via parity
    """Write an output (``kind`` 0: match, 1: timeout at ``tts``) of key ``key`` at time ``t``
    and ``step``, and its rows: the path ending at ``node`` (``length`` events), in order."""
    o = ctr[C_OUT]
    base = ctr[C_ROWS]
    j = base + length - 1
    while node >= 0:
        orow[j, 0] = nd[node, ND_STAGE]
        orow[j, 1] = nd[node, ND_SLOT]
        j -= 1
        node = nd[node, ND_PARENT]
    om[o, O_KIND] = kind
    om[o, O_STEP] = step
    om[o, O_KEY] = key
    om[o, O_ORDER] = ctr[C_ORDER]
    om[o, O_T] = t
    om[o, O_TTS] = tts
    om[o, O_ROWEND] = base + length
    ctr[C_ORDER] += 1
    ctr[C_OUT] = o + 1
    ctr[C_ROWS] = base + length
