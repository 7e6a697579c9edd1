"""Numba kernel of the fast path: NFA stepping for many keys over a batch of ready events.

The kernel implements the same algorithm as :mod:`cep.engine` (the reference engine) over flat
arrays, with transition conditions precomputed per event (``e_cond[event, condition]``). Keys
are independent, so events are taken in time order across keys; before each event its key's
expired windows are advanced at exactly the points (event timestamps, watermark values, never
before the key's last operation) where Flink's operator would have advanced them. All
state lives in arrays owned by :class:`cep.runtime_fast.FastRuntime` (layouts in
:mod:`cep._nfa_layout`); the kernel never allocates. Before each operation it checks that the
pools and output buffers can hold the operation's worst case; if not it stops, reports what it
needs (``ctr[NEED_*]``) and the position to resume from, and returns :data:`NEED_CAPACITY` so
the caller can grow the arrays and call again.

With key rows beyond the core's caches (``PREFETCH_MIN_BYTES``), the event loop prefetches the
key row of the event ``PF_AHEAD`` places ahead (:mod:`windows._prefetch`; no effect on
results).

This module schedules the operations; their steps are inlined helper kernels: processing an
event (:mod:`cep._nfa_event`), advancing time and emitting matches (:mod:`cep._nfa_settle`),
the per-key lists (:mod:`cep._nfa_lists`) and the pools (:mod:`cep._nfa_store`).

Shortcuts (``e_fast[event]``, see :func:`cep._shortcuts.shortcut_bits`): bit ``s`` (``s <``
:data:`START_IDLE_BIT`) says that the event leaves a partial match in state ``s`` unchanged
(its only enabled edge is one IGNORE back into ``s``), so the kernel keeps the entry without
walking the graph, and keeps a whole tail of such entries (``ks`` ``Q*`` fields) without
visiting it; bit :data:`START_IDLE_BIT` says that the event cannot start a match, so for
a key without partial or held matches the event only advances the key's sequence number.
"""

from __future__ import annotations

import numpy as np

from cep._nfa_event import process_event
from cep._nfa_layout import (
    C_CALL,
    C_NTOUCHED,
    C_PHASE,
    C_RESUME_R,
    C_RESUME_W,
    DONE,
    K_CALL,
    K_CCOUNT,
    K_COUNT,
    K_CURTIME,
    K_DEADLINE,
    K_DONE,
    K_MAXLEN,
    K_SEQ,
    MAX_TS,
    NEED_CAPACITY,
    START_IDLE,
    START_IDLE_BIT,
)
from cep._nfa_lists import wm_index
from cep._nfa_settle import expire, settle
from cep._nfa_store import reserve
from windows._jit import kernel
from windows._prefetch import PREFETCH_MIN_BYTES, prefetch

__all__ = ["START_IDLE_BIT", "nfa_run", "order_by_time"]

PF_AHEAD = 16  # events ahead whose key row is prefetched


@kernel
def nfa_run(t_start: np.ndarray, t_action: np.ndarray, t_target: np.ndarray,
            t_cond: np.ndarray, s_kind: np.ndarray, s_stage: np.ndarray, s_pw: np.ndarray,
            s_edges: np.ndarray, max_e: int, start_state: int, final_state: int, window: int,
            skip_kind: int, skip_stage: int, skip_throw: bool, keep_timeouts: bool,
            e_key: np.ndarray, e_ts: np.ndarray, e_gid: np.ndarray, e_step: np.ndarray,
            e_cond: np.ndarray, e_fast: np.ndarray, e_order: np.ndarray, e_slot: np.ndarray,
            due: np.ndarray,
            touched: np.ndarray,
            wm_vals: np.ndarray, wm_steps: np.ndarray, t_end: int,
            pm: np.ndarray, nd: np.ndarray, ev: np.ndarray, ks: np.ndarray,
            ctr: np.ndarray, pend: np.ndarray, alog: np.ndarray,
            stk: np.ndarray, stk2: np.ndarray, res: np.ndarray,
            om: np.ndarray, orow: np.ndarray) -> int:  # pragma: no cover - twin via parity
    """Process the ready events ``e_*[e_order]`` (in time, then arrival order) and then the expiries
    up to ``t_end`` of the keys in ``due`` and of every key touched, resuming from
    ``ctr[C_PHASE]``, ``ctr[C_RESUME_R]``, ``ctr[C_RESUME_W]``; see the module docstring.
    ``e_step`` gives each event's step, or is empty to derive it from the watermarks;
    ``e_fast`` the shortcut bits of each event (module docstring).
    Returns ``DONE``, ``NEED_CAPACITY`` or a skip-strategy error code."""
    n_wm = wm_vals.shape[0]
    n_ev = e_order.shape[0]
    n_due = due.shape[0]
    call = ctr[C_CALL]
    has_steps = e_step.shape[0] > 0
    phase = ctr[C_PHASE]
    r = ctr[C_RESUME_R]
    w = ctr[C_RESUME_W]
    # key rows beyond the core's caches: prefetch them (see windows._prefetch)
    pf_on = ks.shape[0] * ks.shape[1] * 8 >= PREFETCH_MIN_BYTES
    while True:
        if phase == 0:
            # phase 0: the ready events in time order, each preceded by its key's expiries
            if r >= n_ev:
                phase = 1
                continue
            ri = e_order[r]
            k = e_key[ri]
            if pf_on and r + PF_AHEAD < n_ev:  # warm a later event's key row
                prefetch(ks, e_key[e_order[r + PF_AHEAD]], 0)
            if (e_fast[ri] & START_IDLE) != 0 and ks[k, K_COUNT] == 0 and \
                    ks[k, K_CCOUNT] == 0:
                # nothing to expire, match or start: only the key's sequence number moves
                ks[k, K_SEQ] += 1
                r += 1
                continue
            has_event = True
        else:
            # phase 1: every due or touched key, its expiries up to t_end
            if w >= n_due + ctr[C_NTOUCHED]:
                break
            k = due[w] if w < n_due else touched[w - n_due]
            if ks[k, K_DONE] == call:
                w += 1
                continue
            has_event = False
        if ks[k, K_CALL] != call:
            ks[k, K_CALL] = call
            ks[k, K_CURTIME] = -MAX_TS
            touched[ctr[C_NTOUCHED]] = k
            ctr[C_NTOUCHED] += 1
        # time of the key's last operation in this call: watermark values below it come
        # before that operation in Flink's sequence, so the key cannot advance at them
        cur_time = ks[k, K_CURTIME]
        # the key's earliest window end and counts are kept up to date by every operation
        d_min = ks[k, K_DEADLINE]
        n_p = ks[k, K_COUNT]
        n_c = ks[k, K_CCOUNT]
        max_len = ks[k, K_MAXLEN]
        # -- choose the next operation ----------------------------------------------------
        op_process = False
        t = 0
        step = 0
        te = 0
        lo_i = n_wm
        if has_event:
            te = e_ts[e_order[r]]
        if d_min != MAX_TS and (d_min <= te or not has_event):
            # first watermark value >= max(d_min, cur_time)
            lo_i = wm_index(wm_vals, d_min if d_min > cur_time else cur_time)
        if has_event:
            if d_min <= te and lo_i < n_wm and wm_vals[lo_i] < te:
                t = int(wm_vals[lo_i])
                step = int(wm_steps[lo_i])
            else:
                op_process = d_min > te
                t = te
                # the event's step: given, or derived from the watermarks when needed
                step = int(e_step[e_order[r]]) if has_steps else -1
        else:
            if d_min == MAX_TS or d_min > t_end or lo_i >= n_wm:
                ks[k, K_DEADLINE] = d_min
                ks[k, K_DONE] = call
                w += 1
                continue
            t = int(wm_vals[lo_i])
            step = int(wm_steps[lo_i])
        # -- capacity check -------------------------------------------------------------
        # worst cases from the counts, the largest fan-out of a state and the longest path
        if op_process:
            e_start = s_edges[start_state]
            fan = n_p * max_e + e_start
            ok = reserve(pm, nd, ev, alog, om, orow, ctr, 2 * fan + 1, fan, n_p + 1,
                         2 * fan + n_c,
                         2 * (n_p * max_e * (max_len + 1) + e_start) + n_c * max_len)
        else:
            # timeouts (if kept) and matches of expired pending states: at most every entry
            ok = reserve(pm, nd, ev, alog, om, orow, ctr, 0, 0, 0, n_c + n_p,
                         (n_c + n_p) * max_len)
        if not ok:
            ctr[C_PHASE] = phase
            ctr[C_RESUME_W] = w
            ctr[C_RESUME_R] = r
            return NEED_CAPACITY
        ks[k, K_CURTIME] = t
        if op_process:
            pot_h = process_event(t_start, t_action, t_target, t_cond, s_kind, s_stage, s_pw,
                                     start_state, final_state, window, e_gid, e_cond, e_fast,
                                     e_slot, e_order[r], r, te, k, ks, pm, nd, ev, ctr, pend,
                                     alog, stk, stk2, res)
            r += 1
        else:
            pot_h, step = expire(pm, nd, ev, ctr, pend, om, orow, ks, k, s_kind, s_pw, window,
                                    keep_timeouts, wm_vals, wm_steps, t, step)
        # -- settle: hold completed matches in order of first event, emit, prune ---------
        code = settle(pm, nd, ev, ctr, pend, om, orow, ks, k, s_pw, window, skip_kind,
                      skip_stage, skip_throw, wm_vals, wm_steps, t, step, pot_h)
        if code != DONE:
            return code
        if ks[k, K_COUNT] == 0 and ks[k, K_CCOUNT] == 0:
            ks[k, K_MAXLEN] = 0
    ctr[C_PHASE] = phase
    ctr[C_RESUME_W] = w
    ctr[C_RESUME_R] = r
    return DONE


@kernel
def order_by_time(ts: np.ndarray, t0: int, counts: np.ndarray,
                  out: np.ndarray) -> None:  # pragma: no cover - twin via parity
    """Stable counting sort: ``out`` gets the indices of ``ts`` ordered by time, ties in index
    order. ``counts`` (int64, zeroed, length ``max(ts) - t0 + 2``) is scratch."""
    n = ts.shape[0]
    for i in range(n):
        counts[ts[i] - t0 + 1] += 1
    for j in range(1, counts.shape[0]):
        counts[j] += counts[j - 1]
    for i in range(n):
        d = ts[i] - t0
        out[counts[d]] = i
        counts[d] += 1
