"""Per-record and per-timer steps of the window kernel: adding a record to a window or session
(with merging), trigger decisions, and firing due timers (compiled, with pure-Python twins;
layouts in :mod:`windows._window_kernel`)."""

from __future__ import annotations

import numpy as np

from windows._jit import kernel
from windows._prefetch import prefetch
from windows._structures import ht_find, ht_insert
from windows._timers import timer_pop
from windows._window_layout import (
    A_COUNT,
    A_SLIDING,
    A_TUMBLING,
    C_ASSIGNER,
    C_DOMAIN,
    C_FLINK_MERGE,
    C_LATENESS,
    C_LOG,
    C_PANE,
    C_RING,
    C_SIZE,
    C_SLIDE,
    C_TPARAM,
    C_TRIGGER,
    D_EVENT,
    D_PROCESSING,
    DONE,
    EARLY,
    F_CLEAN,
    F_CONT,
    F_END,
    F_GEN,
    F_LAST_EV,
    F_LAST_PT,
    F_NEXT,
    F_START,
    F_TRIG,
    K_ASEQ,
    K_EVN,
    K_HTN,
    K_LATE,
    K_LOG,
    K_NUSED,
    K_OUT,
    K_PT,
    K_PTN,
    K_SCRATCH,
    K_WM,
    LATE,
    LOG_ADD,
    LOG_MERGE,
    MAXV,
    NEED_HT,
    NEED_LOG,
    NEED_NODES,
    NEED_OUT,
    NEED_TIMERS,
    NONE,
    ON_TIME,
    T_CONT_EVENT,
    T_CONT_PROCESSING,
    T_COUNT,
    T_EVENT,
    T_PROCESSING,
)
from windows._window_ops import (
    _add_value,
    _alloc,
    _fire,
    _floor_start,
    _free,
    _lazy_session,
    _lazy_timer_time,
    _log,
    _merge_acc,
    _prefetch_on,
    _push_ev,
    _push_pt,
    _register,
    _ring_col,
    _sat_add,
    _win_find,
    _win_insert,
)


@kernel
def _timing_now(cfg: np.ndarray, ks: np.ndarray, S: np.ndarray, slot: int) -> int:
    dom = cfg[C_DOMAIN]
    maxts = S[slot, F_END] - 1
    if dom == D_EVENT:
        return EARLY if ks[K_WM] < maxts else LATE
    if dom == D_PROCESSING:
        return EARLY if ks[K_PT] < maxts else LATE
    return EARLY


@kernel(inline=True)
def _on_element(
    cfg: np.ndarray,
    ks: np.ndarray,
    S: np.ndarray,
    A: np.ndarray,
    slot: int,
    t: int,
    HEV: np.ndarray,
    HPT: np.ndarray,
    BK: np.ndarray,
    TN: np.ndarray,
    HT: np.ndarray,
    O: np.ndarray,
    OV: np.ndarray,
    LOG: np.ndarray,
) -> None:
    trig = cfg[C_TRIGGER]
    maxts = S[slot, F_END] - 1
    if trig == T_EVENT:
        if maxts <= ks[K_WM]:
            _fire(cfg, ks, S, A, slot, LATE, O, OV, LOG)
    elif trig == T_COUNT:
        S[slot, F_TRIG] += 1
        if S[slot, F_TRIG] >= cfg[C_TPARAM]:
            S[slot, F_TRIG] = 0
            _fire(cfg, ks, S, A, slot, _timing_now(cfg, ks, S, slot), O, OV, LOG)
    elif trig == T_CONT_EVENT:
        if maxts <= ks[K_WM]:
            _fire(cfg, ks, S, A, slot, LATE, O, OV, LOG)
        elif S[slot, F_CONT] == NONE:
            iv = cfg[C_TPARAM]
            nxt = min(_floor_start(t, 0, iv) + iv, maxts)
            S[slot, F_CONT] = nxt
            _push_ev(ks, HEV, BK, TN, HT, S, slot, nxt)
    elif trig == T_CONT_PROCESSING:
        if S[slot, F_CONT] == NONE:
            iv = cfg[C_TPARAM]
            nxt = _floor_start(ks[K_PT], 0, iv) + iv
            S[slot, F_CONT] = nxt
            _push_pt(ks, HPT, BK, TN, HT, S, slot, nxt)


@kernel
def _add_to_window(
    cfg: np.ndarray,
    ks: np.ndarray,
    ops: np.ndarray,
    S: np.ndarray,
    A: np.ndarray,
    FREE: np.ndarray,
    K: np.ndarray,
    HT: np.ndarray,
    HEV: np.ndarray,
    HPT: np.ndarray,
    BK: np.ndarray,
    TN: np.ndarray,
    key: int,
    start: int,
    end: int,
    win: int,
    i: int,
    t: int,
    vals: np.ndarray,
    O: np.ndarray,
    OV: np.ndarray,
    L: np.ndarray,
    LOG: np.ndarray,
) -> int:
    """Add record ``i`` to the fixed window ``[start, end)`` of ``key`` (hash id ``win``);
    returns its slot, or -1 when the window is already cleaned up (record is late)."""
    if cfg[C_DOMAIN] == D_EVENT:
        if _sat_add(end - 1, cfg[C_LATENESS]) <= ks[K_WM]:
            r = ks[K_LATE]
            L[r, 0] = i
            L[r, 1] = start
            L[r, 2] = end
            ks[K_LATE] = r + 1
            return -1
    aligned = cfg[C_ASSIGNER] == A_TUMBLING or cfg[C_ASSIGNER] == A_SLIDING
    c = _ring_col(cfg, start) if aligned else 0
    slot = _win_find(HT, K, key, start, c) if aligned else ht_find(HT, key, win)
    if slot < 0:
        slot = _alloc(ks, S, A, FREE, key, start, end)
        if aligned:
            _win_insert(ks, HT, K, S, key, start, c, slot)
        else:
            ht_insert(HT, key, win, slot)
            ks[K_HTN] += 1
        _register(cfg, ks, S, HEV, HPT, BK, TN, HT, slot)
    A[slot, 0] += 1.0
    _add_value(ops, A, slot, vals, i, float(t), float(ks[K_ASEQ]))
    if cfg[C_LOG] != 0:
        _log(LOG, ks, LOG_ADD, i, slot, 0)
    if cfg[C_ASSIGNER] != A_COUNT:
        _on_element(cfg, ks, S, A, slot, t, HEV, HPT, BK, TN, HT, O, OV, LOG)
    return slot


@kernel(inline=True)
def _cont_spent(ks: np.ndarray, S: np.ndarray, slot: int) -> bool:
    """True when the continuous event-time fire time of ``slot`` is its own end and the
    watermark has passed it: the window has fired on time at that time already.

    A session merge carries the earliest pending fire time of the merged windows (Flink's
    ``ContinuousEventTimeTrigger`` reduces them with ``min``); a spent one is dropped instead
    of being registered again, as Flink's ``EventTimeTrigger.onMerge`` registers no timer the
    watermark has passed (the merged window's ``on_element`` fires it LATE instead). Pending
    fire times behind the watermark (``< end - 1``, due at the next watermark) are kept.
    """
    c = S[slot, F_CONT]
    return c != NONE and c == S[slot, F_END] - 1 and c <= ks[K_WM]


@kernel(inline=True)
def _add_to_session(
    cfg: np.ndarray,
    ks: np.ndarray,
    ops: np.ndarray,
    S: np.ndarray,
    A: np.ndarray,
    FREE: np.ndarray,
    K: np.ndarray,
    HT: np.ndarray,
    HEV: np.ndarray,
    HPT: np.ndarray,
    BK: np.ndarray,
    TN: np.ndarray,
    key: int,
    t: int,
    gap: int,
    i: int,
    vals: np.ndarray,
    O: np.ndarray,
    OV: np.ndarray,
    L: np.ndarray,
    LOG: np.ndarray,
) -> None:
    ns = t
    ne = t + gap
    lo = ns
    hi = ne
    target = -1
    s = K[key, 0]
    while s != -1:
        nxt = S[s, F_NEXT]
        if S[s, F_START] <= ne and S[s, F_END] >= ns:  # Flink TimeWindow.intersects
            lo = min(lo, S[s, F_START])
            hi = max(hi, S[s, F_END])
            if (
                cfg[C_TRIGGER] == T_CONT_EVENT
                and cfg[C_FLINK_MERGE] == 0
                and _cont_spent(ks, S, s)
            ):
                S[s, F_CONT] = NONE
            if target == -1:
                target = s
            else:
                _merge_acc(ops, A, target, A, s)
                S[target, F_TRIG] += S[s, F_TRIG]
                if S[s, F_CONT] != NONE and (
                    S[target, F_CONT] == NONE or S[s, F_CONT] < S[target, F_CONT]
                ):
                    S[target, F_CONT] = S[s, F_CONT]
                if cfg[C_LOG] != 0:
                    _log(LOG, ks, LOG_MERGE, s, target, 0)
                _free(cfg, ks, S, A, FREE, HT, K, s, LOG)
        s = nxt
    if target == -1:
        if cfg[C_DOMAIN] == D_EVENT and _sat_add(ne - 1, cfg[C_LATENESS]) <= ks[K_WM]:
            r = ks[K_LATE]
            L[r, 0] = i
            L[r, 1] = ns
            L[r, 2] = ne
            ks[K_LATE] = r + 1
            return
        target = _alloc(ks, S, A, FREE, key, ns, ne)
        S[target, F_NEXT] = K[key, 0]
        K[key, 0] = target
        _register(cfg, ks, S, HEV, HPT, BK, TN, HT, target)
    elif lo != S[target, F_START] or hi != S[target, F_END]:
        S[target, F_START] = lo
        S[target, F_END] = hi
        if _lazy_session(cfg):
            # its pending timer (every live window has one) re-registers at the new end
            S[target, F_CLEAN] = hi - 1
        else:
            _register(cfg, ks, S, HEV, HPT, BK, TN, HT, target)
    A[target, 0] += 1.0
    _add_value(ops, A, target, vals, i, float(t), float(ks[K_ASEQ]))
    if cfg[C_LOG] != 0:
        _log(LOG, ks, LOG_ADD, i, target, 0)
    _on_element(cfg, ks, S, A, target, t, HEV, HPT, BK, TN, HT, O, OV, LOG)


@kernel(inline=True)
def _on_timer(
    cfg: np.ndarray,
    ks: np.ndarray,
    S: np.ndarray,
    A: np.ndarray,
    FREE: np.ndarray,
    HT: np.ndarray,
    K: np.ndarray,
    HEV: np.ndarray,
    HPT: np.ndarray,
    BK: np.ndarray,
    TN: np.ndarray,
    slot: int,
    T: int,
    event_domain: bool,
    O: np.ndarray,
    OV: np.ndarray,
    LOG: np.ndarray,
) -> None:
    trig = cfg[C_TRIGGER]
    dom = cfg[C_DOMAIN]
    maxts = S[slot, F_END] - 1
    fired = False
    if event_domain:
        if (trig == T_EVENT or trig == T_CONT_EVENT) and T == maxts:
            _fire(cfg, ks, S, A, slot, ON_TIME if dom == D_EVENT else EARLY, O, OV, LOG)
            fired = True
        if trig == T_CONT_EVENT and T == S[slot, F_CONT]:
            nxt = min(_sat_add(T, cfg[C_TPARAM]), maxts)
            if nxt > T and ks[K_WM] != MAXV:  # at end of input only the final firing remains
                S[slot, F_CONT] = nxt
                _push_ev(ks, HEV, BK, TN, HT, S, slot, nxt)
            if not fired:
                _fire(cfg, ks, S, A, slot, EARLY, O, OV, LOG)
        if dom == D_EVENT and T == S[slot, F_CLEAN]:
            _free(cfg, ks, S, A, FREE, HT, K, slot, LOG)
        elif T < S[slot, F_CLEAN] and _lazy_session(cfg):  # the session grew (or rounded)
            _push_ev(ks, HEV, BK, TN, HT, S, slot, _lazy_timer_time(cfg, ks, S[slot, F_CLEAN]))
    else:
        if trig == T_PROCESSING and T == maxts:
            timing = ON_TIME if dom == D_PROCESSING else _timing_now(cfg, ks, S, slot)
            _fire(cfg, ks, S, A, slot, timing, O, OV, LOG)
        if trig == T_CONT_PROCESSING and T == S[slot, F_CONT]:
            # firings missed while processing time jumped collapse into this one
            iv = cfg[C_TPARAM]
            if ks[K_PT] <= MAXV - iv:
                nxt = max(T + iv, _floor_start(ks[K_PT], 0, iv) + iv)
                S[slot, F_CONT] = nxt
                _push_pt(ks, HPT, BK, TN, HT, S, slot, nxt)
            if dom == D_EVENT:
                timing = EARLY if ks[K_WM] < maxts else LATE
            else:
                timing = EARLY if T < maxts else LATE
            _fire(cfg, ks, S, A, slot, timing, O, OV, LOG)
        if dom == D_PROCESSING and T == S[slot, F_CLEAN]:
            _free(cfg, ks, S, A, FREE, HT, K, slot, LOG)


@kernel
def _pane_fire(
    cfg: np.ndarray,
    ks: np.ndarray,
    ops: np.ndarray,
    S: np.ndarray,
    A: np.ndarray,
    FREE: np.ndarray,
    HT: np.ndarray,
    K: np.ndarray,
    key: int,
    T: int,
    O: np.ndarray,
    OV: np.ndarray,
    LOG: np.ndarray,
) -> None:
    """Sliced sliding windows: fire the window of ``key`` ending at ``T + 1`` by merging its
    slices, then free the slices no later window contains."""
    size = cfg[C_SIZE]
    slide = cfg[C_SLIDE]
    g = cfg[C_PANE]
    ws = T - size + 1
    if ws <= K[key, 1]:
        return  # registered twice (the per-key ring of registered windows overflowed)
    K[key, 1] = ws
    r = ks[K_OUT]
    for c in range(OV.shape[1]):
        OV[r, c] = 0.0
    last = 2 * cfg[C_RING]  # the ring's last column
    c = _ring_col(cfg, ws)
    s = ws
    while s < ws + size:
        slot = _win_find(HT, K, key, s, c)
        if slot >= 0:
            _merge_acc(ops, OV, r, A, slot)
            if s < ws + slide:
                _free(cfg, ks, S, A, FREE, HT, K, slot, LOG)
        s += g
        c = c + 2 if c < last else 2
    if OV[r, 0] > 0.0:
        O[r, 0] = key
        O[r, 1] = ws
        O[r, 2] = ws + size
        O[r, 3] = ON_TIME
        O[r, 4] = np.int64(OV[r, 0])
        ks[K_OUT] = r + 1


@kernel(inline=True)
def _pane_prefetch(
    cfg: np.ndarray,
    H: np.ndarray,
    BK: np.ndarray,
    TN: np.ndarray,
    K: np.ndarray,
    S: np.ndarray,
    A: np.ndarray,
    T: int,
) -> None:
    """Sliced sliding windows: while the window ending at ``T + 1`` of one key fires, warm
    the slice rows of the next key due at ``T`` and the per-key row of the key after it (their
    keys are the next timer nodes of the bucket at the heap's top; see windows._prefetch)."""
    b = H[0, 1]
    n1 = BK[b, 1]
    if n1 < 0 or BK[b, 0] != T or TN[n1, 1] >= 0:
        return
    ws = T - cfg[C_SIZE] + 1
    c = _ring_col(cfg, ws)
    last = 2 * cfg[C_RING]
    key1 = TN[n1, 0]
    s = ws
    while s < ws + cfg[C_SIZE]:
        slot = K[key1, c + 1]
        if slot >= 0:
            prefetch(A, slot, 0)
            if s == ws:  # the slice freed after firing: its slot row is written
                prefetch(S, slot, 0)
        s += cfg[C_PANE]
        c = c + 2 if c < last else 2
    n2 = TN[n1, 2]
    if n2 >= 0:
        key2 = TN[n2, 0]
        c = _ring_col(cfg, ws)
        prefetch(K, key2, c)
        prefetch(K, key2, c + 8 if c + 8 <= last else 2)


@kernel
def _advance_timers(
    cfg: np.ndarray,
    ks: np.ndarray,
    ops: np.ndarray,
    S: np.ndarray,
    A: np.ndarray,
    FREE: np.ndarray,
    HT: np.ndarray,
    K: np.ndarray,
    HEV: np.ndarray,
    HPT: np.ndarray,
    BK: np.ndarray,
    TN: np.ndarray,
    event_domain: bool,
    O: np.ndarray,
    OV: np.ndarray,
    LOG: np.ndarray,
) -> int:
    limit = ks[K_WM] if event_domain else ks[K_PT]
    lastf = F_LAST_EV if event_domain else F_LAST_PT
    got = ks[K_SCRATCH : K_SCRATCH + 3]
    pf_on = _prefetch_on(ks, K, S, A)
    while True:
        if ks[K_OUT] + 1 > O.shape[0]:
            return NEED_OUT
        if ks[K_LOG] + 4 > LOG.shape[0]:
            return NEED_LOG
        if ks[K_EVN] + ks[K_PTN] + 2 > BK.shape[0]:
            return NEED_TIMERS
        if 2 * (ks[K_HTN] + 2) > HT.shape[0]:
            return NEED_HT
        if ks[K_NUSED] + 2 > TN.shape[0]:
            return NEED_NODES
        if event_domain:
            found = timer_pop(ks, HEV, K_EVN, 0, BK, TN, HT, limit, got)
        else:
            found = timer_pop(ks, HPT, K_PTN, 1, BK, TN, HT, limit, got)
        if not found:
            return DONE
        ks[K_NUSED] -= 1
        T = got[0]
        slot = got[1]
        if got[2] < 0:  # a window of the sliced path: the node holds the key
            if ks[K_EVN] > 0 and pf_on:
                _pane_prefetch(cfg, HEV, BK, TN, K, S, A, T)
            _pane_fire(cfg, ks, ops, S, A, FREE, HT, K, slot, T, O, OV, LOG)
            continue
        if S[slot, F_GEN] != got[2] or T <= S[slot, lastf]:
            continue  # stale (window freed or merged) or a duplicate timer
        S[slot, lastf] = T
        _on_timer(cfg, ks, S, A, FREE, HT, K, HEV, HPT, BK, TN, slot, T, event_domain, O, OV, LOG)
