"""Advancing a key's time and releasing its completed matches in the NFA kernel: expired
partial matches time out (or, pending ones, complete), completed matches are held in order of
first event until no earlier partial match can complete, then emitted, each pruning what the
after-match skip strategy discards. Compiled and inlined into :func:`cep._kernels.nfa_run`,
with pure-Python twins; layouts in :mod:`cep._nfa_layout`.
"""

from __future__ import annotations

import numpy as np

from cep._nfa_layout import (
    C_ORDER,
    DONE,
    EV_SEQ,
    K_CCOUNT,
    K_CHEAD,
    K_COUNT,
    K_DEADLINE,
    K_HEAD,
    K_QSTART,
    K_TAIL,
    MAX_TS,
    ND_PARENT,
    ND_SLOT,
    ND_STAGE,
    PM_LEN,
    PM_NEXT,
    PM_NODE,
    PM_PREV_TS,
    PM_START_SEQ,
    PM_START_TS,
    PM_STATE,
    S_PENDING,
    SKIP_FIRST_ELEMENT,
    SKIP_MISSING_STAGE,
)
from cep._nfa_lists import EMPTY_LIST, link, list_append, partial_deadline, sat, step_of, store_list
from cep._nfa_store import emit, free_pm, release
from windows._jit import kernel

__all__ = ["expire", "hold", "prune", "settle", "skip_point"]


@kernel(inline=True)
def expire(pm: np.ndarray, nd: np.ndarray, ev: np.ndarray, ctr: np.ndarray, pend: np.ndarray,
           om: np.ndarray, orow: np.ndarray, ks: np.ndarray, k: int, s_kind: np.ndarray,
           s_pw: np.ndarray, window: int, keep_timeouts: bool, wm_vals: np.ndarray,
           wm_steps: np.ndarray, t: int,
           step: int) -> tuple[int, int]:  # pragma: no cover - twin via parity
    """Advance key ``k`` to time ``t`` (at ``step``; -1: derive it from the watermarks when
    needed): drop its partial matches whose window has ended, emitting their timeouts if
    ``keep_timeouts``. Returns the first of the expired pending matches, which complete
    (chained; -1 if none), and the step."""
    acc = EMPTY_LIST
    pot_h = -1
    pot_t = -1
    p = ks[k, K_HEAD]
    while p != -1:
        nxt = pm[p, PM_NEXT]
        pw = s_pw[pm[p, PM_STATE]]
        to_prev = pw > 0 and sat(pm[p, PM_PREV_TS], pw) <= t
        to_first = window > 0 and sat(pm[p, PM_START_TS], window) <= t
        pm[p, PM_NEXT] = -1
        if not (to_prev or to_first):
            acc = list_append(pm, acc, p, p, 1, partial_deadline(pm, p, s_pw, window),
                              pm[p, PM_LEN], pm[p, PM_STATE])
        elif s_kind[pm[p, PM_STATE]] == S_PENDING:  # pending: a match
            pot_h = link(pm, pot_h, pot_t, p)
            pot_t = p
        else:
            if to_prev:
                tts = sat(pm[p, PM_PREV_TS], pw)
            else:
                tts = sat(pm[p, PM_START_TS], window)
            if keep_timeouts:
                if step < 0:
                    step = step_of(wm_vals, wm_steps, t)
                emit(om, orow, nd, ctr, 1, step, k, t, tts, pm[p, PM_NODE], pm[p, PM_LEN])
            else:
                ctr[C_ORDER] += 1
            release(nd, ev, ctr, pend, pm[p, PM_NODE])
            free_pm(pm, ctr, p)
        p = nxt
    store_list(ks, k, acc)
    return pot_h, step


@kernel(inline=True)
def hold(pm: np.ndarray, ks: np.ndarray, k: int, q: int) -> None:  # pragma: no cover
    """Insert the chain of completed matches starting at ``q`` into the held list of key ``k``
    (sorted by first event; ties in insertion order)."""
    while q != -1:
        nq = pm[q, PM_NEXT]
        prev = -1
        c = ks[k, K_CHEAD]
        qs = pm[q, PM_START_SEQ]
        while c != -1 and pm[c, PM_START_SEQ] <= qs:
            prev = c
            c = pm[c, PM_NEXT]
        pm[q, PM_NEXT] = c
        if prev == -1:
            ks[k, K_CHEAD] = q
        else:
            pm[prev, PM_NEXT] = q
        ks[k, K_CCOUNT] += 1
        q = nq


@kernel(inline=True)
def skip_point(pm: np.ndarray, nd: np.ndarray, ev: np.ndarray, m: int, skip_kind: int,
               skip_stage: int,
               skip_throw: bool) -> tuple[int, int, bool]:  # pragma: no cover - twin via parity
    """What the skip strategy (``skip_kind`` 1: to next, 2: past last event, 3 / 4: to first /
    last event of ``skip_stage``) discards after match ``m``: returns ``(code, pid, strict)``,
    ``code`` a skip-strategy error (``skip_throw``) or ``DONE``; matches starting before
    (``strict``) or at ``pid`` are discarded (``pid`` -1: none)."""
    first_seq = 0
    max_seq = -1
    sk_first = -1
    sk_last = -1
    node = pm[m, PM_NODE]
    while node >= 0:
        sq = ev[nd[node, ND_SLOT], EV_SEQ]
        first_seq = sq
        if sq > max_seq:
            max_seq = sq
        if nd[node, ND_STAGE] == skip_stage:
            if sk_last < 0:
                sk_last = sq
            sk_first = sq
        node = nd[node, ND_PARENT]
    pid = -1
    strict = False
    if skip_kind == 1:
        pid = first_seq
    elif skip_kind == 2:
        pid = max_seq
    else:
        strict = True
        if sk_first < 0:
            if skip_throw:
                return SKIP_MISSING_STAGE, pid, strict
        else:
            pid = sk_first if skip_kind == 3 else sk_last
            if skip_throw and pid == first_seq:
                return SKIP_FIRST_ELEMENT, pid, strict
    return DONE, pid, strict


@kernel(inline=True)
def prune(pm: np.ndarray, nd: np.ndarray, ev: np.ndarray, ctr: np.ndarray, pend: np.ndarray,
          s_pw: np.ndarray, window: int, head: int, pid: int,
          strict: bool) -> tuple[int, int, int, int]:  # pragma: no cover - twin via parity
    """Drop entries of a list whose first event is before (or, unless ``strict``, at) ``pid``;
    returns (head, tail, count, earliest deadline) of the remaining list."""
    acc = EMPTY_LIST
    p = head
    while p != -1:
        nxt = pm[p, PM_NEXT]
        s = pm[p, PM_START_SEQ]
        if s < pid or (not strict and s == pid):
            release(nd, ev, ctr, pend, pm[p, PM_NODE])
            free_pm(pm, ctr, p)
        else:
            pm[p, PM_NEXT] = -1
            acc = list_append(pm, acc, p, p, 1, partial_deadline(pm, p, s_pw, window),
                              pm[p, PM_LEN], pm[p, PM_STATE])
        p = nxt
    return acc[0], acc[1], acc[2], acc[3]


@kernel(inline=True)
def settle(pm: np.ndarray, nd: np.ndarray, ev: np.ndarray, ctr: np.ndarray, pend: np.ndarray,
           om: np.ndarray, orow: np.ndarray, ks: np.ndarray, k: int, s_pw: np.ndarray,
           window: int, skip_kind: int, skip_stage: int, skip_throw: bool,
           wm_vals: np.ndarray, wm_steps: np.ndarray, t: int, step: int,
           pot_h: int) -> int:  # pragma: no cover - twin via parity
    """Hold the completed matches ``pot_h`` of key ``k``, then emit (at time ``t`` and
    ``step``, -1: derived from the watermarks) the held matches no earlier partial match can
    precede, each pruning the lists by the skip strategy. Returns ``DONE`` or a
    skip-strategy error code."""
    hold(pm, ks, k, pot_h)
    while ks[k, K_CHEAD] != -1:
        m = ks[k, K_CHEAD]
        if skip_kind != 0 and ks[k, K_HEAD] != -1:
            earliest = MAX_TS
            p = ks[k, K_HEAD]
            while p != -1:
                if pm[p, PM_START_SEQ] < earliest:
                    earliest = pm[p, PM_START_SEQ]
                p = pm[p, PM_NEXT]
            if pm[m, PM_START_SEQ] > earliest:
                break
        ks[k, K_CHEAD] = pm[m, PM_NEXT]
        ks[k, K_CCOUNT] -= 1
        pm[m, PM_NEXT] = -1
        if skip_kind != 0:
            code, pid, strict = skip_point(pm, nd, ev, m, skip_kind, skip_stage, skip_throw)
            if code != DONE:
                return code
            if pid >= 0:
                h, tl, n, dm = prune(pm, nd, ev, ctr, pend, s_pw, window, ks[k, K_HEAD], pid,
                                     strict)
                ks[k, K_HEAD] = h
                ks[k, K_TAIL] = tl
                ks[k, K_COUNT] = n
                ks[k, K_DEADLINE] = dm
                ks[k, K_QSTART] = -1
                h, tl, n, dm = prune(pm, nd, ev, ctr, pend, s_pw, window, ks[k, K_CHEAD], pid,
                                     strict)
                ks[k, K_CHEAD] = h
                ks[k, K_CCOUNT] = n
        if step < 0:
            step = step_of(wm_vals, wm_steps, t)
        emit(om, orow, nd, ctr, 0, step, k, t, 0, pm[m, PM_NODE], pm[m, PM_LEN])
        release(nd, ev, ctr, pend, pm[m, PM_NODE])
        free_pm(pm, ctr, m)
    return DONE
