"""The keyed window kernel: assigns records to windows, aggregates, runs triggers and timers.

One sequential pass over a batch, record by record, exactly as a Flink ``WindowOperator`` sees
elements and (punctuated) watermarks. The kernel is resumable: when an array is full it returns
a status naming it, the caller grows it and calls again, and processing resumes where it stopped
(``ks[K_POS]`` and ``ks[K_PHASE]``). Layouts (all int64 unless stated):

- ``cfg``: the compiled configuration (``C_*`` indices).
- ``ks``: kernel scalars (``K_*`` indices).
- ``ops``: ``(nops, 3)`` of ``(opcode, value column, accumulator offset)``.
- ``S``: ``(cap, NF)`` slot (live window) fields ``F_*``; ``A``: float64 ``(cap, width)``
  accumulators, column 0 the record count; ``FREE``: stack of free slots; ``K``: ``(nkeys,
  2 + 2 * ring)`` per key: session list head, record count, then a ring of recently used
  ``(window start, slot)`` pairs that spares most hash look-ups; ``HT``: hash table (windows
  and timer buckets); ``HEV``/``HPT``: event/processing-time bucket heaps, ``BK`` buckets and
  ``TN`` timer nodes (see :mod:`windows._timers`).
- outputs: ``O`` ``(cap, 5)`` fired rows ``(key, start, end, timing, n)`` and ``OV`` float64
  ``(cap, width)`` their accumulators; ``L`` ``(cap, 3)`` late records ``(record index, start,
  end)``; ``LOG`` ``(cap, 4)`` actions for Python-side aggregates ``(action, a, b, c)``.
"""

from __future__ import annotations

import numpy as np

from windows._jit import kernel
from windows._structures import ht_delete, ht_find, ht_insert
from windows._timers import timer_pop, timer_push

# cfg indices
C_ASSIGNER, C_DOMAIN, C_SIZE, C_SLIDE, C_OFFSET, C_GAP = 0, 1, 2, 3, 4, 5
C_TRIGGER, C_TPARAM, C_PURGE, C_LATENESS, C_LOG, C_MAXNEW, C_USES_WM = 6, 7, 8, 9, 10, 11, 12
C_RING = 13
C_PANE = 14  # slice length of the sliced sliding-window path (0: off)
NCFG = 15
# ks indices
K_WM, K_PT, K_POS, K_PHASE, K_EVN, K_PTN, K_HIGH, K_FREE = 0, 1, 2, 3, 4, 5, 6, 7
K_OUT, K_LATE, K_LOG, K_HTN, K_TSEQ, K_ASEQ, K_TARGET_PT = 8, 9, 10, 11, 12, 13, 14
K_BFREE, K_BHIGH, K_NFREE, K_NHIGH, K_LASTB_EV, K_LASTB_PT, K_NUSED = 15, 16, 17, 18, 19, 20, 21
K_SCRATCH = 22  # three scratch cells
NKS = 25
# slot fields (the record count lives in A[:, 0])
F_KEY, F_START, F_END, F_TRIG, F_CONT, F_GEN, F_LAST_EV, F_LAST_PT, F_NEXT, F_CLEAN = range(10)
NF = 10
# phases and statuses
PH_PT, PH_EVENTS, PH_EV_TIMERS = 0, 1, 2
DONE, NEED_SLOTS, NEED_HT, NEED_TIMERS, NEED_NODES, NEED_OUT, NEED_LATE, NEED_LOG = range(8)
# log actions
LOG_ADD, LOG_MERGE, LOG_FIRE, LOG_PURGE, LOG_FREE = 0, 1, 2, 3, 4
# codes mirrored from assigners/triggers/aggregates (kept literal for the kernel)
A_TUMBLING, A_SLIDING, A_SESSION, A_GLOBAL, A_COUNT = 0, 1, 2, 3, 4
D_EVENT, D_PROCESSING, D_NONE = 0, 1, 2
T_EVENT, T_PROCESSING, T_COUNT, T_CONT_EVENT, T_CONT_PROCESSING, T_NEVER = 0, 1, 2, 3, 4, 5
EARLY, ON_TIME, LATE = 0, 1, 2
OP_COUNT_ALL, OP_COUNT, OP_SUM, OP_MIN, OP_MAX, OP_MEAN, OP_FIRST, OP_LAST = range(8)
NONE = -9223372036854775807 - 1
MAXV = 9223372036854775807


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


@kernel
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
    else:
        win = S[slot, F_START]
        if kind == A_COUNT:
            win = S[slot, F_END]
        elif kind == A_GLOBAL:
            win = 0
        ht_delete(HT, key, win)
        ks[K_HTN] -= 1
        if kind == A_TUMBLING or kind == A_SLIDING:
            c = _ring_col(cfg, win)
            if K[key, c + 1] == slot:
                K[key, c + 1] = -1
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
            _push_ev(ks, HEV, BK, TN, HT, S, slot, clean)
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


@kernel
def _timing_now(cfg: np.ndarray, ks: np.ndarray, S: np.ndarray, slot: int) -> int:
    dom = cfg[C_DOMAIN]
    maxts = S[slot, F_END] - 1
    if dom == D_EVENT:
        return EARLY if ks[K_WM] < maxts else LATE
    if dom == D_PROCESSING:
        return EARLY if ks[K_PT] < maxts else LATE
    return EARLY


@kernel
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
    slot = ht_find(HT, key, win)
    if slot < 0:
        slot = _alloc(ks, S, A, FREE, key, start, end)
        ht_insert(HT, key, win, slot)
        ks[K_HTN] += 1
        if cfg[C_ASSIGNER] == A_TUMBLING or cfg[C_ASSIGNER] == A_SLIDING:
            c = _ring_col(cfg, start)
            K[key, c] = start
            K[key, c + 1] = slot
        _register(cfg, ks, S, HEV, HPT, BK, TN, HT, slot)
    A[slot, 0] += 1.0
    _add_value(ops, A, slot, vals, i, float(t), float(ks[K_ASEQ]))
    if cfg[C_LOG] != 0:
        _log(LOG, ks, LOG_ADD, i, slot, 0)
    if cfg[C_ASSIGNER] != A_COUNT:
        _on_element(cfg, ks, S, A, slot, t, HEV, HPT, BK, TN, HT, O, OV, LOG)
    return slot


@kernel
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
    s = ws
    while s < ws + size:
        c = _ring_col(cfg, s)
        slot = K[key, c + 1] if K[key, c] == s else -1
        if slot < 0:
            slot = ht_find(HT, key, s)
        if slot >= 0:
            _merge_acc(ops, OV, r, A, slot)
            if s < ws + slide:
                _free(cfg, ks, S, A, FREE, HT, K, slot, LOG)
        s += g
    if OV[r, 0] > 0.0:
        O[r, 0] = key
        O[r, 1] = ws
        O[r, 2] = ws + size
        O[r, 3] = ON_TIME
        O[r, 4] = np.int64(OV[r, 0])
        ks[K_OUT] = r + 1


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
    while True:
        if ks[K_OUT] + 1 > O.shape[0]:
            return NEED_OUT
        if ks[K_LOG] + 4 > LOG.shape[0]:
            return NEED_LOG
        if ks[K_EVN] + ks[K_PTN] + 2 > BK.shape[0] or 2 * (ks[K_HTN] + 2) > HT.shape[0]:
            return NEED_TIMERS
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
            _pane_fire(cfg, ks, ops, S, A, FREE, HT, K, slot, T, O, OV, LOG)
            continue
        if S[slot, F_GEN] != got[2] or T <= S[slot, lastf]:
            continue  # stale (window freed or merged) or a duplicate timer
        S[slot, lastf] = T
        _on_timer(cfg, ks, S, A, FREE, HT, K, HEV, HPT, BK, TN, slot, T, event_domain, O, OV, LOG)


@kernel
def run_windows(
    cfg: np.ndarray,
    ks: np.ndarray,
    ops: np.ndarray,
    keys: np.ndarray,
    ts: np.ndarray,
    wms: np.ndarray,
    gaps: np.ndarray,
    vals: np.ndarray,
    S: np.ndarray,
    A: np.ndarray,
    FREE: np.ndarray,
    K: np.ndarray,
    HT: np.ndarray,
    HEV: np.ndarray,
    HPT: np.ndarray,
    BK: np.ndarray,
    TN: np.ndarray,
    O: np.ndarray,
    OV: np.ndarray,
    L: np.ndarray,
    LOG: np.ndarray,
) -> int:
    """Process records ``ks[K_POS]..n-1`` (resumable; see module docstring). Returns a status
    (``DONE`` or ``NEED_*``)."""
    n = keys.shape[0]
    kind = cfg[C_ASSIGNER]
    dom = cfg[C_DOMAIN]
    maxnew = cfg[C_MAXNEW]
    uses_wm = cfg[C_USES_WM] != 0
    log_mode = cfg[C_LOG] != 0
    trig_event = cfg[C_TRIGGER] == T_EVENT
    while True:
        ph = ks[K_PHASE]
        if ph == PH_PT:
            if ks[K_TARGET_PT] > ks[K_PT]:
                ks[K_PT] = ks[K_TARGET_PT]
            st = _advance_timers(
                cfg, ks, ops, S, A, FREE, HT, K, HEV, HPT, BK, TN, False, O, OV, LOG
            )
            if st != DONE:
                return st
            ks[K_PHASE] = PH_EVENTS
            continue
        if ph == PH_EV_TIMERS:
            st = _advance_timers(
                cfg, ks, ops, S, A, FREE, HT, K, HEV, HPT, BK, TN, True, O, OV, LOG
            )
            if st != DONE:
                return st
            ks[K_PHASE] = PH_EVENTS
            continue
        i = ks[K_POS]
        if i >= n:
            return DONE
        # capacity for the worst case of one record
        if ks[K_FREE] + (S.shape[0] - ks[K_HIGH]) < maxnew:
            return NEED_SLOTS
        if 2 * (ks[K_HTN] + 4 * maxnew + 2) > HT.shape[0]:
            return NEED_HT
        if ks[K_EVN] + ks[K_PTN] + 3 * maxnew + 2 > BK.shape[0]:
            return NEED_TIMERS
        if ks[K_NUSED] + 3 * maxnew + 2 > TN.shape[0]:
            return NEED_NODES
        if ks[K_OUT] + maxnew + 1 > O.shape[0]:
            return NEED_OUT
        if ks[K_LATE] + maxnew > L.shape[0]:
            return NEED_LATE
        if ks[K_LOG] + 4 * maxnew + 4 > LOG.shape[0]:
            return NEED_LOG
        key = keys[i]
        if dom == D_EVENT:
            t = ts[i]
        elif dom == D_PROCESSING:
            t = ks[K_PT]
        else:
            t = ts[i]
        if cfg[C_PANE] > 0:  # sliced sliding windows (event time, on-time firing only)
            size = cfg[C_SIZE]
            slide = cfg[C_SLIDE]
            wm = ks[K_WM]
            add = False
            ws = _floor_start(t, cfg[C_OFFSET], slide)
            while ws > t - size:
                if ws + size - 1 <= wm:
                    r = ks[K_LATE]
                    L[r, 0] = i
                    L[r, 1] = ws
                    L[r, 2] = ws + size
                    ks[K_LATE] = r + 1
                else:
                    add = True
                    cw = 2 + 2 * cfg[C_RING] + 2 * (((ws - cfg[C_OFFSET]) // slide) % cfg[C_RING])
                    if K[key, cw + 1] != 1 or K[key, cw] != ws:
                        K[key, cw] = ws
                        K[key, cw + 1] = 1
                        timer_push(ks, HEV, K_EVN, 0, BK, TN, HT, ws + size - 1, key, -1)
                        ks[K_NUSED] += 1
                ws -= slide
            if add:
                s0 = _floor_start(t, cfg[C_OFFSET], cfg[C_PANE])
                c = _ring_col(cfg, s0)
                slot = K[key, c + 1] if K[key, c] == s0 else -1
                if slot < 0:
                    slot = ht_find(HT, key, s0)
                    if slot < 0:
                        slot = _alloc(ks, S, A, FREE, key, s0, s0 + cfg[C_PANE])
                        ht_insert(HT, key, s0, slot)
                        ks[K_HTN] += 1
                    K[key, c] = s0
                    K[key, c + 1] = slot
                A[slot, 0] += 1.0
                _add_value(ops, A, slot, vals, i, float(t), float(ks[K_ASEQ]))
        elif kind == A_TUMBLING or kind == A_SLIDING:
            size = cfg[C_SIZE]
            slide = cfg[C_SLIDE]
            start = _floor_start(t, cfg[C_OFFSET], slide)
            while start > t - size:
                end = start + size
                # fast path (no calls with array arguments): an existing window, on time
                slot = -1
                c = _ring_col(cfg, start)
                if K[key, c + 1] >= 0 and K[key, c] == start:
                    slot = K[key, c + 1]
                fast = not log_mode and trig_event and dom == D_EVENT and end - 1 > ks[K_WM]
                if fast and slot < 0:
                    slot = ht_find(HT, key, start)
                    if slot < 0:  # new window: allocate and register its timer inline
                        slot = _alloc(ks, S, A, FREE, key, start, end)
                        ht_insert(HT, key, start, slot)
                        ks[K_HTN] += 1
                        K[key, c] = start
                        K[key, c + 1] = slot
                        clean = _sat_add(end - 1, cfg[C_LATENESS])
                        S[slot, F_CLEAN] = clean
                        if clean != MAXV:
                            _push_ev(ks, HEV, BK, TN, HT, S, slot, clean)
                        if clean != end - 1:
                            _push_ev(ks, HEV, BK, TN, HT, S, slot, end - 1)
                    else:
                        K[key, c] = start
                        K[key, c + 1] = slot
                if fast:
                    A[slot, 0] += 1.0
                    _add_value(ops, A, slot, vals, i, float(t), float(ks[K_ASEQ]))
                else:
                    _add_to_window(
                        cfg,
                        ks,
                        ops,
                        S,
                        A,
                        FREE,
                        K,
                        HT,
                        HEV,
                        HPT,
                        BK,
                        TN,
                        key,
                        start,
                        end,
                        start,
                        i,
                        t,
                        vals,
                        O,
                        OV,
                        L,
                        LOG,
                    )
                start -= slide
        elif kind == A_SESSION:
            gap = cfg[C_GAP] if cfg[C_GAP] > 0 else gaps[i]
            _add_to_session(
                cfg,
                ks,
                ops,
                S,
                A,
                FREE,
                K,
                HT,
                HEV,
                HPT,
                BK,
                TN,
                key,
                t,
                gap,
                i,
                vals,
                O,
                OV,
                L,
                LOG,
            )
        elif kind == A_GLOBAL:
            _add_to_window(
                cfg,
                ks,
                ops,
                S,
                A,
                FREE,
                K,
                HT,
                HEV,
                HPT,
                BK,
                TN,
                key,
                NONE,
                MAXV,
                0,
                i,
                t,
                vals,
                O,
                OV,
                L,
                LOG,
            )
        else:  # count windows over the per-key record number
            size = cfg[C_SIZE]
            slide = cfg[C_SLIDE]
            c = K[key, 1]
            K[key, 1] = c + 1
            e = (c // slide + 1) * slide
            while e - size <= c:
                _add_to_window(
                    cfg,
                    ks,
                    ops,
                    S,
                    A,
                    FREE,
                    K,
                    HT,
                    HEV,
                    HPT,
                    BK,
                    TN,
                    key,
                    max(e - size, 0),
                    e,
                    e,
                    i,
                    t,
                    vals,
                    O,
                    OV,
                    L,
                    LOG,
                )
                e += slide
            if (c + 1) % slide == 0:
                slot = ht_find(HT, key, c + 1)
                _fire(cfg, ks, S, A, slot, ON_TIME, O, OV, LOG)
                _free(cfg, ks, S, A, FREE, HT, K, slot, LOG)
        ks[K_ASEQ] += 1
        ks[K_POS] = i + 1
        if uses_wm and wms[i] > ks[K_WM]:
            ks[K_WM] = wms[i]
            if ks[K_EVN] > 0 and HEV[0, 0] <= ks[K_WM]:
                ks[K_PHASE] = PH_EV_TIMERS
