"""The keyed window kernel: assigns records to windows, aggregates, runs triggers and timers.

The steps it calls live in :mod:`windows._window_ops` (slots, accumulators, the per-key window
directory, timers) and :mod:`windows._window_steps` (adding records, merging sessions, trigger
decisions, firing timers); the constants below in :mod:`windows._window_layout`.

One sequential pass over a batch, record by record, exactly as a Flink ``WindowOperator`` sees
elements and (punctuated) watermarks. The kernel is resumable: when an array is full it returns
a status naming it, the caller grows it and calls again, and processing resumes where it stopped
(``ks[K_POS]`` and ``ks[K_PHASE]``). Layouts (all int64 unless stated):

- ``cfg``: the compiled configuration (``C_*`` indices).
- ``ks``: kernel scalars (``K_*`` indices).
- ``ops``: ``(nops, 3)`` of ``(opcode, value column, accumulator offset)``.
- ``S``: ``(cap, NF)`` slot (live window) fields ``F_*`` (``F_NEXT``: the next session of the
  key, or for aligned windows their per-key ring column, -1 when filed in the hash table);
  ``A``: float64 ``(cap, width)`` accumulators, column 0 the record count; ``FREE``: stack of
  free slots; ``K``: ``(nkeys, 2 + 2 * ring [+ 2 * ring])`` per key: column 0 the session list
  head (sessions) or the number of the key's windows filed in the hash table (tumbling and
  sliding), column 1 the record count (count windows) or the last fired window start (sliced
  sliding windows), then a ring of ``(window start, slot)`` entries: an aligned window (or
  slice) lives in the entry its start maps to, or in the hash table when that entry holds
  another live window, so most windows never touch the hash table (sliced sliding windows
  add a ring of registered window starts); ``HT``: hash table (overflow windows, count and
  global windows, timer buckets); ``HEV``/``HPT``: event/processing-time bucket heaps,
  ``BK`` buckets and ``TN`` timer nodes (see :mod:`windows._timers`).
- outputs: ``O`` ``(cap, 5)`` fired rows ``(key, start, end, timing, n)`` and ``OV`` float64
  ``(cap, width)`` their accumulators; ``L`` ``(cap, 3)`` late records ``(record index, start,
  end)``; ``LOG`` ``(cap, 4)`` actions for Python-side aggregates ``(action, a, b, c)``.

With thousands of keys the per-key and accumulator rows miss the caches. When the live state
reaches ``PREFETCH_MIN_BYTES`` the loop prefetches the per-key row of the record ``PF_FAR``
places ahead and the accumulator row of the one ``PF_NEAR`` places ahead
(:mod:`windows._prefetch`); the sliced sliding path does the same for the next keys of a
firing bucket.
"""

from __future__ import annotations

import numpy as np

from windows._jit import kernel
from windows._prefetch import prefetch
from windows._structures import ht_find
from windows._timers import timer_push
from windows._window_layout import *  # noqa: F403 (re-exported: wk.C_SIZE, ...)
from windows._window_layout import (
    A_GLOBAL,
    A_SESSION,
    A_SLIDING,
    A_TUMBLING,
    C_ASSIGNER,
    C_DOMAIN,
    C_GAP,
    C_LATENESS,
    C_LOG,
    C_MAXNEW,
    C_OFFSET,
    C_PANE,
    C_RING,
    C_SIZE,
    C_SLIDE,
    C_TRIGGER,
    C_USES_WM,
    D_EVENT,
    D_PROCESSING,
    DONE,
    F_CLEAN,
    K_ASEQ,
    K_EVN,
    K_FREE,
    K_HIGH,
    K_HTN,
    K_LATE,
    K_LOG,
    K_NUSED,
    K_OUT,
    K_PHASE,
    K_POS,
    K_PT,
    K_PTN,
    K_TARGET_PT,
    K_WM,
    MAXV,
    NEED_HT,
    NEED_LATE,
    NEED_LOG,
    NEED_NODES,
    NEED_OUT,
    NEED_SLOTS,
    NEED_TIMERS,
    NONE,
    ON_TIME,
    PH_EV_TIMERS,
    PH_EVENTS,
    PH_PT,
    T_EVENT,
)
from windows._window_ops import (
    _add_value,
    _alloc,
    _fire,
    _floor_start,
    _free,
    _prefetch_on,
    _push_ev,
    _ring_col,
    _sat_add,
    _win_find,
    _win_insert,
)
from windows._window_steps import (
    _add_to_session,
    _add_to_window,
    _advance_timers,
)

PF_FAR = 10  # records ahead whose per-key row is prefetched
PF_NEAR = 5  # records ahead whose accumulator row is prefetched


@kernel(inline=True)
def _record_room(
    ks: np.ndarray,
    maxnew: int,
    S: np.ndarray,
    HT: np.ndarray,
    BK: np.ndarray,
    TN: np.ndarray,
    O: np.ndarray,
    L: np.ndarray,
    LOG: np.ndarray,
) -> int:
    """How many records the free capacity holds in the worst case of every record (``maxnew``
    new windows, their timers, outputs, late rows and log entries each); ``-status`` (a
    ``NEED_*``) naming the array to grow when not even one record fits."""
    room = (ks[K_FREE] + S.shape[0] - ks[K_HIGH]) // maxnew
    if room < 1:
        return -NEED_SLOTS
    r = (HT.shape[0] // 2 - ks[K_HTN]) // (4 * maxnew + 2)
    if r < 1:
        return -NEED_HT
    room = min(room, r)
    r = (BK.shape[0] - ks[K_EVN] - ks[K_PTN]) // (3 * maxnew + 2)
    if r < 1:
        return -NEED_TIMERS
    room = min(room, r)
    r = (TN.shape[0] - ks[K_NUSED]) // (3 * maxnew + 2)
    if r < 1:
        return -NEED_NODES
    room = min(room, r)
    r = (O.shape[0] - ks[K_OUT]) // (maxnew + 1)
    if r < 1:
        return -NEED_OUT
    room = min(room, r)
    r = (L.shape[0] - ks[K_LATE]) // maxnew
    if r < 1:
        return -NEED_LATE
    room = min(room, r)
    r = (LOG.shape[0] - ks[K_LOG]) // (4 * maxnew + 4)
    if r < 1:
        return -NEED_LOG
    return min(room, r)


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
    # loop invariants as locals (array reads cannot be kept in registers across stores)
    size = cfg[C_SIZE]
    slide = cfg[C_SLIDE]
    offset = cfg[C_OFFSET]
    pane = cfg[C_PANE]
    ring = cfg[C_RING]
    pf_on = _prefetch_on(ks, K, S, A)
    pf_aligned = pf_on and (kind == A_TUMBLING or kind == A_SLIDING)
    fast_ok = not log_mode and trig_event and dom == D_EVENT
    # the grid cell of the last timestamp (records are nearly in time order, so this spares
    # the integer divisions of the window/slice arithmetic): [g_lo, g_hi) is the slide (or
    # slice) containing it, g_col its per-key cache column, g_ws the latest window start
    # containing it and g_min_end the smallest ``end - 1`` of its windows
    g_lo = MAXV
    g_hi = NONE
    g_col = 2
    g_ws = 0
    g_min_end = 0
    room = 0  # records that fit the free capacity in the worst case
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
            room = 0
            continue
        if ph == PH_EV_TIMERS:
            st = _advance_timers(
                cfg, ks, ops, S, A, FREE, HT, K, HEV, HPT, BK, TN, True, O, OV, LOG
            )
            if st != DONE:
                return st
            ks[K_PHASE] = PH_EVENTS
            room = 0
            continue
        i = ks[K_POS]
        if i >= n:
            return DONE
        if room <= 0:
            room = _record_room(ks, maxnew, S, HT, BK, TN, O, L, LOG)
            if room <= 0:
                return -room
        room -= 1
        key = keys[i]
        if pf_aligned:
            # warm the per-key row of a later record, and the accumulator row of a nearer
            # one whose per-key row was warmed before (rows of thousands of keys miss the
            # caches; see windows._prefetch)
            if i + PF_FAR < n:
                kf = keys[i + PF_FAR]
                for col in range(0, K.shape[1] + 7, 8):  # every cache line of the row
                    prefetch(K, kf, min(col, K.shape[1] - 1))
            if i + PF_NEAR < n:
                s2 = K[keys[i + PF_NEAR], g_col + 1]
                if s2 >= 0:
                    prefetch(A, s2, 0)
        elif pf_on and kind == A_SESSION:  # the same for the key's newest session
            if i + PF_FAR < n:
                prefetch(K, keys[i + PF_FAR], 0)
            if i + PF_NEAR < n:
                s2 = K[keys[i + PF_NEAR], 0]
                if s2 >= 0:
                    prefetch(S, s2, 0)
                    prefetch(A, s2, 0)
        if dom == D_EVENT:
            t = ts[i]
        elif dom == D_PROCESSING:
            t = ks[K_PT]
        else:
            t = ts[i]
        if pane > 0:  # sliced sliding windows (event time, on-time firing only)
            wm = ks[K_WM]
            if t < g_lo or t >= g_hi:
                g_lo = _floor_start(t, offset, pane)
                g_hi = g_lo + pane
                g_col = _ring_col(cfg, g_lo)
                g_ws = _floor_start(t, offset, slide)
                g_min_end = g_ws + size - 1
                while g_min_end - slide >= t:
                    g_min_end -= slide
            c = g_col
            slot = K[key, c + 1]
            if slot >= 0 and K[key, c] == g_lo and g_min_end > wm:
                # the record's slice exists, so its windows are registered, and none is late
                A[slot, 0] += 1.0
                _add_value(ops, A, slot, vals, i, float(t), float(ks[K_ASEQ]))
            else:
                add = False
                ws = g_ws
                while ws > t - size:
                    if ws + size - 1 <= wm:
                        r = ks[K_LATE]
                        L[r, 0] = i
                        L[r, 1] = ws
                        L[r, 2] = ws + size
                        ks[K_LATE] = r + 1
                    else:
                        add = True
                        cw = 2 + 2 * ring + 2 * (((ws - offset) // slide) % ring)
                        if K[key, cw + 1] != 1 or K[key, cw] != ws:
                            K[key, cw] = ws
                            K[key, cw + 1] = 1
                            timer_push(ks, HEV, K_EVN, 0, BK, TN, HT, ws + size - 1, key, -1)
                            ks[K_NUSED] += 1
                    ws -= slide
                if add:
                    slot = _win_find(HT, K, key, g_lo, c)
                    if slot < 0:
                        slot = _alloc(ks, S, A, FREE, key, g_lo, g_lo + pane)
                        _win_insert(ks, HT, K, S, key, g_lo, c, slot)
                    A[slot, 0] += 1.0
                    _add_value(ops, A, slot, vals, i, float(t), float(ks[K_ASEQ]))
        elif kind == A_TUMBLING or kind == A_SLIDING:
            if t < g_lo or t >= g_hi:
                g_lo = _floor_start(t, offset, slide)
                g_hi = g_lo + slide
                g_col = _ring_col(cfg, g_lo)
            start = g_lo
            c = g_col
            while start > t - size:
                end = start + size
                # fast path (no calls with array arguments): an existing window, on time
                slot = K[key, c + 1]
                if slot >= 0 and K[key, c] != start:
                    slot = -1
                fast = fast_ok and end - 1 > ks[K_WM]
                if fast and slot < 0:
                    if K[key, 0] > 0:
                        slot = ht_find(HT, key, start)
                    if slot < 0:  # new window: allocate and register its timer inline
                        slot = _alloc(ks, S, A, FREE, key, start, end)
                        _win_insert(ks, HT, K, S, key, start, c, slot)
                        clean = _sat_add(end - 1, cfg[C_LATENESS])
                        S[slot, F_CLEAN] = clean
                        if clean != MAXV:
                            _push_ev(ks, HEV, BK, TN, HT, S, slot, clean)
                        if clean != end - 1:
                            _push_ev(ks, HEV, BK, TN, HT, S, slot, end - 1)
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
                c = c - 2 if c > 2 else 2 * ring
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
