"""Processing one event for one key in the NFA kernel: each partial match of the key (and a
new one from the start state) follows the edges the event enables, depth first through
PROCEED edges as Flink does, and the results form the key's new partial list and its
completed matches. Compiled and inlined into :func:`cep._kernels.nfa_run`, with pure-Python
twins; layouts in :mod:`cep._nfa_layout`, shortcut bits in :mod:`cep._kernels`.
"""

from __future__ import annotations

import numpy as np

from cep._nfa_layout import (
    A_IGNORE,
    A_PROCEED,
    K_HEAD,
    K_MAXLEN,
    K_QCOUNT,
    K_QDEADLINE,
    K_QLEN,
    K_QSTART,
    K_QSTATE,
    K_SEQ,
    K_TAIL,
    PM_LEN,
    PM_NEXT,
    PM_NODE,
    PM_PREV_TS,
    PM_START_SEQ,
    PM_START_TS,
    PM_STATE,
    S_FINAL,
    S_STOP,
    START_IDLE,
    START_IDLE_BIT,
)
from cep._nfa_lists import EMPTY_LIST, ListAcc, link, list_append, partial_deadline, store_list
from cep._nfa_store import free_pm, new_node, new_partial, release, store_event
from windows._jit import kernel

__all__ = ["collect", "expand", "process_event", "reaches_final"]


@kernel(inline=True)
def reaches_final(t_start: np.ndarray, t_action: np.ndarray, t_target: np.ndarray,
                  t_cond: np.ndarray, s_kind: np.ndarray, e_cond: np.ndarray, ri: int,
                  state: int, stk: np.ndarray) -> bool:  # pragma: no cover - twin via parity
    """True when ``state`` reaches a final state through PROCEED edges enabled by event ``ri``
    (depth first; ``stk`` is the stack)."""
    sp = 1
    stk[0] = state
    while sp > 0:
        sp -= 1
        s = stk[sp]
        for ti in range(t_start[s], t_start[s + 1]):
            if t_action[ti] == A_PROCEED and e_cond[ri, t_cond[ti]]:
                if s_kind[t_target[ti]] == S_FINAL:
                    return True
                stk[sp] = t_target[ti]
                sp += 1
    return False


@kernel(inline=True)
def expand(t_start: np.ndarray, t_action: np.ndarray, t_target: np.ndarray, t_cond: np.ndarray,
           s_kind: np.ndarray, s_stage: np.ndarray, final_state: int, e_cond: np.ndarray,
           e_slot: np.ndarray, ri: int, r: int, seq: int, te: int, gid: int,
           pm: np.ndarray, nd: np.ndarray, ev: np.ndarray, ctr: np.ndarray, alog: np.ndarray,
           stk: np.ndarray, stk2: np.ndarray, res: np.ndarray, cur: int, src_state: int,
           src_node: int, src_sts: int, src_pts: int, src_seq: int, src_len: int,
           is_start: bool) -> tuple[int, bool, bool]:  # pragma: no cover - twin via parity
    """Follow the edges event ``ri`` (``r``-th ready event, key sequence number ``seq``, time
    ``te``, group ``gid``) enables from the partial match ``cur`` (fields ``src_*``; with
    ``is_start`` a new match in the start state): PROCEED edges depth first, acting on each
    enabled TAKE / IGNORE edge in the order found. The resulting entries go to ``res``.

    Returns ``(count in res, a TAKE into a stop state was enabled, cur itself is in res)``.
    """
    nres = 0
    stop = False
    reused = False
    sp = 1
    stk[0] = src_state
    while sp > 0:
        sp -= 1
        s = stk[sp]
        for ti in range(t_start[s], t_start[s + 1]):
            if not e_cond[ri, t_cond[ti]]:
                continue
            a = t_action[ti]
            tg = t_target[ti]
            if a == A_PROCEED:
                stk[sp] = tg
                sp += 1
                continue
            if a == A_IGNORE:
                if not is_start and tg == src_state and not reused:
                    # ignoring into the same state: the partial match is unchanged, keep its
                    # entry (and its reference on the node)
                    reused = True
                    pm[cur, PM_NEXT] = -1
                    res[nres] = cur
                    nres += 1
                elif not is_start:
                    res[nres] = new_partial(pm, nd, ctr, tg, src_node, src_sts, src_pts,
                                            src_seq, src_len)
                    nres += 1
                continue
            if s_kind[tg] == S_STOP:  # TAKE into a stop state
                stop = True
                continue
            slot = store_event(ev, ctr, alog, e_slot, r, seq, te, gid)
            node = new_node(nd, ctr, slot, s_stage[s], src_node)
            sts = te if is_start else src_sts
            res[nres] = new_partial(pm, nd, ctr, tg, node, sts, te, src_seq, src_len + 1)
            nres += 1
            # does the new state reach the final state by enabled PROCEEDs?
            if reaches_final(t_start, t_action, t_target, t_cond, s_kind, e_cond, ri, tg, stk2):
                res[nres] = new_partial(pm, nd, ctr, final_state, node, sts, te, src_seq,
                                        src_len + 1)
                nres += 1
    return nres, stop, reused


@kernel(inline=True)
def collect(pm: np.ndarray, nd: np.ndarray, ev: np.ndarray, ctr: np.ndarray, pend: np.ndarray,
            s_kind: np.ndarray, s_pw: np.ndarray, window: int, res: np.ndarray, nres: int,
            stop: bool, acc: ListAcc, pot_h: int, pot_t: int,
            new_len: int) -> tuple[ListAcc, int, int, int]:  # pragma: no cover
    """Sort the entries ``res[:nres]`` of :func:`expand`: completed matches to the list
    ``pot_h`` .. ``pot_t``, the others to the partial list ``acc`` (or released if ``stop``).
    Returns the two lists and the longest path kept (at least ``new_len``)."""
    for j in range(nres):
        q = res[j]
        ln = pm[q, PM_LEN]
        if s_kind[pm[q, PM_STATE]] == S_FINAL:
            pot_h = link(pm, pot_h, pot_t, q)
            pot_t = q
            if ln > new_len:
                new_len = ln
        elif stop:
            release(nd, ev, ctr, pend, pm[q, PM_NODE])
            free_pm(pm, ctr, q)
        else:
            d = partial_deadline(pm, q, s_pw, window)
            acc = list_append(pm, acc, q, q, 1, d, ln, pm[q, PM_STATE])
            if ln > new_len:
                new_len = ln
    return acc, pot_h, pot_t, new_len


@kernel(inline=True)
def process_event(t_start: np.ndarray, t_action: np.ndarray, t_target: np.ndarray,
                  t_cond: np.ndarray, s_kind: np.ndarray, s_stage: np.ndarray,
                  s_pw: np.ndarray, start_state: int, final_state: int, window: int,
                  e_gid: np.ndarray, e_cond: np.ndarray, e_fast: np.ndarray,
                  e_slot: np.ndarray, ri: int, r: int, te: int, k: int, ks: np.ndarray,
                  pm: np.ndarray, nd: np.ndarray, ev: np.ndarray, ctr: np.ndarray,
                  pend: np.ndarray, alog: np.ndarray, stk: np.ndarray, stk2: np.ndarray,
                  res: np.ndarray) -> int:  # pragma: no cover - twin via parity
    """Process event ``ri`` (the ``r``-th ready event, time ``te``) for key ``k``: replace
    the key's partial list by the entries the event leads to. Entries the event's shortcut
    bits leave unchanged are kept without walking the graph (a whole same-state tail at once).
    Returns the first of the completed matches (chained; -1 if none)."""
    fast = e_fast[ri]
    gid = e_gid[ri]
    seq = ks[k, K_SEQ]
    ks[k, K_SEQ] = seq + 1
    acc = EMPTY_LIST
    new_len = 0
    pot_h = -1
    pot_t = -1
    q_start = ks[k, K_QSTART]
    q_state = ks[k, K_QSTATE]
    if q_start != -1 and not (q_state < START_IDLE_BIT and ((fast >> q_state) & 1) != 0):
        q_start = -1
    cur = ks[k, K_HEAD]
    while cur != -1:
        if cur == q_start:
            # the event leaves the whole same-state tail unchanged: link it as it is
            ql = ks[k, K_QLEN]
            acc = list_append(pm, acc, cur, ks[k, K_TAIL], ks[k, K_QCOUNT], ks[k, K_QDEADLINE],
                              ql, q_state)
            if ql > new_len:
                new_len = ql
            break
        nxt = pm[cur, PM_NEXT]
        src_state = pm[cur, PM_STATE]
        if src_state < START_IDLE_BIT and ((fast >> src_state) & 1) != 0:
            # the event leaves this partial match as it is: keep the entry
            pm[cur, PM_NEXT] = -1
            ln = pm[cur, PM_LEN]
            acc = list_append(pm, acc, cur, cur, 1, partial_deadline(pm, cur, s_pw, window),
                              ln, src_state)
            if ln > new_len:
                new_len = ln
            cur = nxt
            continue
        nres, stop, reused = expand(t_start, t_action, t_target, t_cond, s_kind, s_stage,
                                    final_state, e_cond, e_slot, ri, r, seq, te, gid, pm, nd,
                                    ev, ctr, alog, stk, stk2, res, cur, src_state,
                                    pm[cur, PM_NODE], pm[cur, PM_START_TS],
                                    pm[cur, PM_PREV_TS], pm[cur, PM_START_SEQ],
                                    pm[cur, PM_LEN], False)
        acc, pot_h, pot_t, new_len = collect(pm, nd, ev, ctr, pend, s_kind, s_pw, window, res,
                                             nres, stop, acc, pot_h, pot_t, new_len)
        if not reused:
            release(nd, ev, ctr, pend, pm[cur, PM_NODE])
            free_pm(pm, ctr, cur)
        cur = nxt
    if (fast & START_IDLE) == 0:
        # a new partial match from the start state
        nres, stop, reused = expand(t_start, t_action, t_target, t_cond, s_kind, s_stage,
                                    final_state, e_cond, e_slot, ri, r, seq, te, gid, pm, nd,
                                    ev, ctr, alog, stk, stk2, res, -1, start_state, -1, te, te,
                                    seq, 0, True)
        acc, pot_h, pot_t, new_len = collect(pm, nd, ev, ctr, pend, s_kind, s_pw, window, res,
                                             nres, stop, acc, pot_h, pot_t, new_len)
    store_list(ks, k, acc)
    if new_len > ks[k, K_MAXLEN]:
        ks[k, K_MAXLEN] = new_len
    return pot_h
