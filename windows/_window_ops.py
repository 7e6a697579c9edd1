"""Primitive steps of the window kernel on slots, accumulators, the per-key window directory
and timers (compiled, with pure-Python twins; layouts in :mod:`windows._window_kernel`)."""

from __future__ import annotations

import numpy as np

from windows._jit import kernel
from windows._prefetch import PREFETCH_MIN_BYTES
from windows._structures import ht_delete, ht_find, ht_insert
from windows._timers import timer_push
from windows._window_layout import (
    A_COUNT,
    A_SESSION,
    A_SLIDING,
    A_TUMBLING,
    C_ASSIGNER,
    C_DOMAIN,
    C_GAP,
    C_LATENESS,
    C_LOG,
    C_OFFSET,
    C_PANE,
    C_PURGE,
    C_RING,
    C_SLIDE,
    C_TRIGGER,
    D_EVENT,
    D_PROCESSING,
    F_CLEAN,
    F_CONT,
    F_END,
    F_GEN,
    F_KEY,
    F_LAST_EV,
    F_LAST_PT,
    F_NEXT,
    F_START,
    F_TRIG,
    K_EVN,
    K_FREE,
    K_HIGH,
    K_HTN,
    K_LOG,
    K_NUSED,
    K_OUT,
    K_PTN,
    K_WM,
    LOG_FIRE,
    LOG_FREE,
    LOG_PURGE,
    MAXV,
    NONE,
    OP_COUNT_ALL,
    OP_FIRST,
    OP_LAST,
    OP_MAX,
    OP_MEAN,
    OP_MIN,
    OP_SUM,
    T_CONT_EVENT,
    T_CONT_PROCESSING,
    T_EVENT,
    T_PROCESSING,
)


@kernel(inline=True)
def _prefetch_on(ks: np.ndarray, K: np.ndarray, S: np.ndarray, A: np.ndarray) -> bool:
    """True when the per-key rows and the live window rows (up to the slot high-water mark)
    together take at least :data:`windows._prefetch.PREFETCH_MIN_BYTES`."""
    cells = K.shape[0] * K.shape[1] + ks[K_HIGH] * (S.shape[1] + A.shape[1])
    return cells * 8 >= PREFETCH_MIN_BYTES


@kernel(inline=True)
def _sat_add(a: int, b: int) -> int:
    if a > MAXV - b:
        return MAXV
    return a + b


@kernel(inline=True)
def _floor_start(t: int, offset: int, size: int) -> int:
    r = (t - offset) % size
    if r < 0:
        r += size
    return t - r


@kernel(inline=True)
def _ring_col(cfg: np.ndarray, start: int) -> int:
    """Column of the per-key cache entry for the window (or slice) starting at ``start``."""
    unit = cfg[C_PANE] if cfg[C_PANE] > 0 else cfg[C_SLIDE]
    return 2 + 2 * (((start - cfg[C_OFFSET]) // unit) % cfg[C_RING])


@kernel(inline=True)
def _win_find(HT: np.ndarray, K: np.ndarray, key: int, start: int, c: int) -> int:
    """Slot of the aligned window (or slice) of ``key`` starting at ``start`` whose per-key
    ring column is ``c``, or -1. The ring entry is authoritative; only windows that found
    their ring entry taken live in the hash table (``K[key, 0]`` counts them)."""
    slot = K[key, c + 1]
    if slot >= 0 and K[key, c] == start:
        return slot
    if K[key, 0] > 0:
        return ht_find(HT, key, start)
    return -1


@kernel(inline=True)
def _win_insert(
    ks: np.ndarray,
    HT: np.ndarray,
    K: np.ndarray,
    S: np.ndarray,
    key: int,
    start: int,
    c: int,
    slot: int,
) -> None:
    """File a new aligned window (or slice) in its ring entry, or in the hash table when the
    entry holds another live window; ``S[slot, F_NEXT]`` records which (the ring column, or
    -1 for the hash table)."""
    if K[key, c + 1] < 0:
        K[key, c] = start
        K[key, c + 1] = slot
        S[slot, F_NEXT] = c
    else:
        ht_insert(HT, key, start, slot)
        ks[K_HTN] += 1
        K[key, 0] += 1
        S[slot, F_NEXT] = -1


@kernel(inline=True)
def _log(LOG: np.ndarray, ks: np.ndarray, action: int, a: int, b: int, c: int) -> None:
    r = ks[K_LOG]
    LOG[r, 0] = action
    LOG[r, 1] = a
    LOG[r, 2] = b
    LOG[r, 3] = c
    ks[K_LOG] = r + 1


@kernel(inline=True)
def _add_value(
    ops: np.ndarray, A: np.ndarray, slot: int, vals: np.ndarray, i: int, t: float, seq: float
) -> None:
    for j in range(ops.shape[0]):
        op = ops[j, 0]
        if op == OP_COUNT_ALL:
            continue
        v = vals[ops[j, 1], i]
        if np.isnan(v):
            continue
        a = ops[j, 2]
        A[slot, a + 1] += 1.0
        first = A[slot, a + 1] == 1.0
        if op == OP_SUM or op == OP_MEAN:
            A[slot, a] += v
        elif op == OP_MIN:
            if first or v < A[slot, a]:
                A[slot, a] = v
        elif op == OP_MAX:
            if first or v > A[slot, a]:
                A[slot, a] = v
        elif op == OP_FIRST:
            if first or t < A[slot, a + 2] or (t == A[slot, a + 2] and seq < A[slot, a + 3]):
                A[slot, a] = v
                A[slot, a + 2] = t
                A[slot, a + 3] = seq
        elif op == OP_LAST:
            if first or t > A[slot, a + 2] or (t == A[slot, a + 2] and seq > A[slot, a + 3]):
                A[slot, a] = v
                A[slot, a + 2] = t
                A[slot, a + 3] = seq


@kernel(inline=True)
def _merge_acc(ops: np.ndarray, D: np.ndarray, dst: int, A: np.ndarray, src: int) -> None:
    """Merge accumulator row ``A[src]`` into ``D[dst]`` (``D`` may be ``A``)."""
    D[dst, 0] += A[src, 0]
    for j in range(ops.shape[0]):
        op = ops[j, 0]
        if op == OP_COUNT_ALL:
            continue
        a = ops[j, 2]
        if A[src, a + 1] == 0.0:
            continue
        if D[dst, a + 1] == 0.0:
            D[dst, a] = A[src, a]
            if op == OP_FIRST or op == OP_LAST:
                D[dst, a + 2] = A[src, a + 2]
                D[dst, a + 3] = A[src, a + 3]
        elif op == OP_SUM or op == OP_MEAN:
            D[dst, a] += A[src, a]
        elif op == OP_MIN:
            D[dst, a] = min(D[dst, a], A[src, a])
        elif op == OP_MAX:
            D[dst, a] = max(D[dst, a], A[src, a])
        elif op == OP_FIRST:
            ts, tq = A[src, a + 2], A[src, a + 3]
            if ts < D[dst, a + 2] or (ts == D[dst, a + 2] and tq < D[dst, a + 3]):
                D[dst, a] = A[src, a]
                D[dst, a + 2] = ts
                D[dst, a + 3] = tq
        elif op == OP_LAST:
            ts, tq = A[src, a + 2], A[src, a + 3]
            if ts > D[dst, a + 2] or (ts == D[dst, a + 2] and tq > D[dst, a + 3]):
                D[dst, a] = A[src, a]
                D[dst, a + 2] = ts
                D[dst, a + 3] = tq
        D[dst, a + 1] += A[src, a + 1]


@kernel(inline=True)
def _fire(
    cfg: np.ndarray,
    ks: np.ndarray,
    S: np.ndarray,
    A: np.ndarray,
    slot: int,
    timing: int,
    O: np.ndarray,
    OV: np.ndarray,
    LOG: np.ndarray,
) -> None:
    """Emit the window's result (nothing if it is empty, as Flink) and purge if configured."""
    if A[slot, 0] > 0.0:
        r = ks[K_OUT]
        O[r, 0] = S[slot, F_KEY]
        O[r, 1] = S[slot, F_START]
        O[r, 2] = S[slot, F_END]
        O[r, 3] = timing
        O[r, 4] = np.int64(A[slot, 0])
        for c in range(A.shape[1]):
            OV[r, c] = A[slot, c]
        ks[K_OUT] = r + 1
        if cfg[C_LOG] != 0:
            _log(LOG, ks, LOG_FIRE, slot, r, 0)
    if cfg[C_PURGE] != 0:
        for c in range(A.shape[1]):
            A[slot, c] = 0.0
        if cfg[C_LOG] != 0:
            _log(LOG, ks, LOG_PURGE, slot, 0, 0)


@kernel(inline=True)
def _alloc(
    ks: np.ndarray, S: np.ndarray, A: np.ndarray, FREE: np.ndarray, key: int, start: int, end: int
) -> int:
    if ks[K_FREE] > 0:
        ks[K_FREE] -= 1
        slot = FREE[ks[K_FREE]]
    else:
        slot = ks[K_HIGH]
        ks[K_HIGH] = slot + 1
        S[slot, F_GEN] = 0
    S[slot, F_KEY] = key
    S[slot, F_START] = start
    S[slot, F_END] = end
    S[slot, F_TRIG] = 0
    S[slot, F_CONT] = NONE
    S[slot, F_LAST_EV] = NONE
    S[slot, F_LAST_PT] = NONE
    S[slot, F_NEXT] = -1
    S[slot, F_CLEAN] = MAXV
    for c in range(A.shape[1]):
        A[slot, c] = 0.0
    return slot


@kernel(inline=True)
def _free(
    cfg: np.ndarray,
    ks: np.ndarray,
    S: np.ndarray,
    A: np.ndarray,
    FREE: np.ndarray,
    HT: np.ndarray,
    K: np.ndarray,
    slot: int,
    LOG: np.ndarray,
) -> None:
    kind = cfg[C_ASSIGNER]
    key = S[slot, F_KEY]
    if kind == A_SESSION:
        prev = -1
        s = K[key, 0]
        while s != -1 and s != slot:
            prev = s
            s = S[s, F_NEXT]
        if prev == -1:
            K[key, 0] = S[slot, F_NEXT]
        else:
            S[prev, F_NEXT] = S[slot, F_NEXT]
    elif kind == A_TUMBLING or kind == A_SLIDING:
        c = S[slot, F_NEXT]  # its ring column, or -1 when filed in the hash table
        if c >= 0:
            K[key, c + 1] = -1
        else:
            ht_delete(HT, key, S[slot, F_START])
            ks[K_HTN] -= 1
            K[key, 0] -= 1
    else:
        win = S[slot, F_END] if kind == A_COUNT else 0  # global windows are filed under 0
        ht_delete(HT, key, win)
        ks[K_HTN] -= 1
    S[slot, F_GEN] += 1
    A[slot, 0] = 0.0
    FREE[ks[K_FREE]] = slot
    ks[K_FREE] += 1
    if cfg[C_LOG] != 0:
        _log(LOG, ks, LOG_FREE, slot, 0, 0)


@kernel(inline=True)
def _push_ev(
    ks: np.ndarray,
    HEV: np.ndarray,
    BK: np.ndarray,
    TN: np.ndarray,
    HT: np.ndarray,
    S: np.ndarray,
    slot: int,
    time: int,
) -> None:
    timer_push(ks, HEV, K_EVN, 0, BK, TN, HT, time, slot, S[slot, F_GEN])
    ks[K_NUSED] += 1
    if NONE < time <= S[slot, F_LAST_EV]:
        # a timer behind one this window already fired (a merged continuous fire time behind
        # the watermark): it is due at the next watermark, not a duplicate
        S[slot, F_LAST_EV] = time - 1


@kernel(inline=True)
def _push_pt(
    ks: np.ndarray,
    HPT: np.ndarray,
    BK: np.ndarray,
    TN: np.ndarray,
    HT: np.ndarray,
    S: np.ndarray,
    slot: int,
    time: int,
) -> None:
    timer_push(ks, HPT, K_PTN, 1, BK, TN, HT, time, slot, S[slot, F_GEN])
    ks[K_NUSED] += 1
    if NONE < time <= S[slot, F_LAST_PT]:
        S[slot, F_LAST_PT] = time - 1


@kernel(inline=True)
def _lazy_session(cfg: np.ndarray) -> bool:
    """Event-time sessions with the event-time trigger and no allowed lateness fire and are
    cleaned up by one timer at ``end - 1``. A session that grows keeps its pending timer
    instead of registering one per record; when that timer comes due before the (new) end,
    it is registered again (:func:`_lazy_timer_time`). Firing times are unchanged; only the order of
    windows firing at the same time can differ (Flink leaves that order undefined)."""
    return (
        cfg[C_ASSIGNER] == A_SESSION
        and cfg[C_DOMAIN] == D_EVENT
        and cfg[C_TRIGGER] == T_EVENT
        and cfg[C_LATENESS] == 0
    )


@kernel(inline=True)
def _lazy_timer_time(cfg: np.ndarray, ks: np.ndarray, clean: int) -> int:
    """Time of the pending timer of a lazy event-time session (see
    :func:`_lazy_session`) whose end is ``clean + 1``.

    With a static gap the timer first comes due at the end rounded down to a quarter of the
    gap, a time many sessions share (one timer bucket and heap entry for all of them instead
    of one per session); when it comes due, the session either grew (the timer moves on the
    same way) or is registered at its exact end. A rounded time the watermark has already
    reached is not used: the exact end is. Firing times are unchanged.
    """
    g = cfg[C_GAP] >> 2
    if g <= 1:
        return clean
    c = _floor_start(clean, 0, g)
    return c if c > ks[K_WM] else clean


@kernel
def _register(
    cfg: np.ndarray,
    ks: np.ndarray,
    S: np.ndarray,
    HEV: np.ndarray,
    HPT: np.ndarray,
    BK: np.ndarray,
    TN: np.ndarray,
    HT: np.ndarray,
    slot: int,
) -> None:
    """Register cleanup and trigger timers of a new (or newly merged) window."""
    dom = cfg[C_DOMAIN]
    trig = cfg[C_TRIGGER]
    maxts = S[slot, F_END] - 1
    clean = MAXV
    if dom == D_EVENT:
        clean = _sat_add(maxts, cfg[C_LATENESS])
        if clean != MAXV:
            _push_ev(ks, HEV, BK, TN, HT, S, slot,
                     _lazy_timer_time(cfg, ks, clean) if _lazy_session(cfg) else clean)
    elif dom == D_PROCESSING:
        clean = maxts
        _push_pt(ks, HPT, BK, TN, HT, S, slot, clean)
    S[slot, F_CLEAN] = clean
    if (trig == T_EVENT or trig == T_CONT_EVENT) and maxts > ks[K_WM]:
        if not (dom == D_EVENT and maxts == clean):
            _push_ev(ks, HEV, BK, TN, HT, S, slot, maxts)
    elif trig == T_PROCESSING:
        if not (dom == D_PROCESSING and maxts == clean):
            _push_pt(ks, HPT, BK, TN, HT, S, slot, maxts)
    if S[slot, F_CONT] != NONE:
        if trig == T_CONT_EVENT:
            _push_ev(ks, HEV, BK, TN, HT, S, slot, S[slot, F_CONT])
        elif trig == T_CONT_PROCESSING:
            _push_pt(ks, HPT, BK, TN, HT, S, slot, S[slot, F_CONT])
