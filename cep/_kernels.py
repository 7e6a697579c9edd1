"""Numba kernel of the fast path: NFA stepping for many keys over a batch of ready events.

The kernel implements the same algorithm as :mod:`cep.engine` (the reference engine) over flat
arrays, with transition conditions precomputed per event (``e_cond[event, condition]``). Keys
are independent, so events are taken in time order across keys; before each event its key's
expired windows are advanced at exactly the points (event timestamps, watermark values, never
before the key's last operation) where Flink's operator would have advanced them. All
state lives in arrays owned by :class:`cep.runtime_fast.FastRuntime`; the kernel never
allocates. Before each operation it checks that the pools and output buffers can hold the
operation's worst case; if not it stops, reports what it needs (``ctr[NEED_*]``) and the
position to resume from, and returns :data:`NEED_CAPACITY` so the caller can grow the arrays
and call again.

Layouts (all int64; free slots are chained through a ``NEXT`` column):

* ``pm[i]`` partial/completed matches: ``STATE, NODE, START_TS, PREV_TS, START_SEQ, NEXT, LEN``;
* ``nd[i]`` path nodes: ``SLOT, STAGE, PARENT, REFS`` (``PARENT`` chains the free list);
* ``ev[i]`` stored events: ``SEQ, TS, REFS, GID, NEXT``; a slot whose last node is released is
  marked dead (``REFS = -1``) and listed in ``pend`` so it is not reused before the caller has
  copied the events of this call's outputs;
* ``ks[k]`` per key: ``HEAD, TAIL, COUNT, CHEAD, CCOUNT, SEQ, DEADLINE, CALL, CURSTEP, DONE,
  MAXLEN`` (partial list, held completed matches sorted by first event, processing-order
  counter, earliest window end, per-call bookkeeping: the step of the key's last operation,
  longest path), then ``QSTART, QSTATE, QCOUNT, QDEADLINE, QLEN``: the longest tail of the
  partial list whose entries are all in one state (first entry, state, count, earliest window
  end, longest path; ``QSTART = -1``: unknown);
* ``om[i]`` outputs: ``KIND`` (0 match, 1 timeout), ``STEP, KEY, ORDER, T, TIMEOUT_TS, ROWEND``;
  ``orow[j]``: ``STAGE, SLOT``.

Shortcuts (``e_fast[event]``, see :func:`cep._shortcuts.shortcut_bits`): bit ``s`` (``s <``
:data:`START_IDLE_BIT`) says that the event leaves a partial match in state ``s`` unchanged
(its only enabled edge is one IGNORE back into ``s``), so the kernel keeps the entry without
walking the graph, and keeps a whole tail of such entries (``ks`` ``Q*`` fields) without
visiting it; bit :data:`START_IDLE_BIT` says that the event cannot start a match, so for
a key without partial or held matches the event only advances the key's sequence number.
"""

from __future__ import annotations

import numpy as np

from windows._jit import kernel

__all__ = ["nfa_run"]

# pm fields
PM_STATE, PM_NODE, PM_START_TS, PM_PREV_TS, PM_START_SEQ, PM_NEXT, PM_LEN = range(7)
PM_FIELDS = 7
# nd fields
ND_SLOT, ND_STAGE, ND_PARENT, ND_REFS = range(4)
ND_FIELDS = 4
# ev fields
EV_SEQ, EV_TS, EV_REFS, EV_GID, EV_NEXT = range(5)
EV_FIELDS = 5
# ks fields
(K_HEAD, K_TAIL, K_COUNT, K_CHEAD, K_CCOUNT, K_SEQ, K_DEADLINE, K_CALL, K_CURTIME,
 K_DONE, K_MAXLEN, K_QSTART, K_QSTATE, K_QCOUNT, K_QDEADLINE, K_QLEN) = range(16)
K_FIELDS = 16
# ctr fields
(C_PM_FREE, C_ND_FREE, C_EV_FREE, C_PM_USED, C_ND_USED, C_EV_USED, C_PEND, C_ORDER, C_OUT,
 C_ROWS, C_ALOG, C_RESUME_W, C_RESUME_R, C_NEED_PM, C_NEED_ND, C_NEED_EV, C_NEED_OUT,
 C_NEED_ROWS, C_NEED_ALOG, C_PHASE, C_CALL, C_NTOUCHED) = range(22)
CTR_SIZE = 22
# om fields
O_KIND, O_STEP, O_KEY, O_ORDER, O_T, O_TTS, O_ROWEND = range(7)
O_FIELDS = 7

DONE, NEED_CAPACITY, SKIP_MISSING_STAGE, SKIP_FIRST_ELEMENT = 0, 1, 2, 3
#: bit of ``e_fast`` set for events that enable no TAKE from the start state
START_IDLE_BIT = 62


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
    max_ts = 9223372036854775807
    n_wm = wm_vals.shape[0]

    def sat(a: int, b: int) -> int:
        # deadlines saturate one below max_ts, which means "no deadline"
        if a > max_ts - 1 - b:
            return max_ts - 1
        return a + b

    def free_pm(pm: np.ndarray, ctr: np.ndarray, i: int) -> None:
        pm[i, PM_NEXT] = ctr[C_PM_FREE]
        ctr[C_PM_FREE] = i
        ctr[C_PM_USED] -= 1

    def alloc_pm(pm: np.ndarray, ctr: np.ndarray) -> int:
        i = ctr[C_PM_FREE]
        ctr[C_PM_FREE] = pm[i, PM_NEXT]
        ctr[C_PM_USED] += 1
        pm[i, PM_NEXT] = -1
        return i

    def release(nd: np.ndarray, ev: np.ndarray, ctr: np.ndarray, pend: np.ndarray,
                node: int) -> None:
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

    def step_of(t: int) -> int:
        """Index (step) of the first watermark value >= t."""
        lo = 0
        hi = n_wm
        while lo < hi:
            mid = (lo + hi) >> 1
            if wm_vals[mid] < t:
                lo = mid + 1
            else:
                hi = mid
        return wm_steps[lo] if lo < n_wm else wm_steps[n_wm - 1]

    def partial_deadline(pm: np.ndarray, i: int) -> int:
        d = max_ts
        if window > 0:
            d = sat(pm[i, PM_START_TS], window)
        pw = s_pw[pm[i, PM_STATE]]
        if pw > 0:
            d2 = sat(pm[i, PM_PREV_TS], pw)
            if d2 < d:
                d = d2
        return d

    def emit(om: np.ndarray, orow: np.ndarray, nd: np.ndarray, ctr: np.ndarray, kind: int,
             step: int, key: int, t: int, tts: int, node: int, length: int) -> None:
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

    def prune(pm: np.ndarray, nd: np.ndarray, ev: np.ndarray, ctr: np.ndarray,
              pend: np.ndarray, head: int, pid: int,
              strict: bool) -> tuple[int, int, int, int]:
        """Drop entries of a list whose first event is before (or at) ``pid``; returns
        (head, tail, count, earliest deadline) of the remaining list."""
        nh = -1
        nt = -1
        nc = 0
        dm = max_ts
        p = head
        while p != -1:
            nxt = pm[p, PM_NEXT]
            s = pm[p, PM_START_SEQ]
            if s < pid or (not strict and s == pid):
                release(nd, ev, ctr, pend, pm[p, PM_NODE])
                free_pm(pm, ctr, p)
            else:
                pm[p, PM_NEXT] = -1
                if nt == -1:
                    nh = p
                else:
                    pm[nt, PM_NEXT] = p
                nt = p
                nc += 1
                d = partial_deadline(pm, p)
                if d < dm:
                    dm = d
            p = nxt
        return nh, nt, nc, dm

    n_ev = e_order.shape[0]
    n_due = due.shape[0]
    call = ctr[C_CALL]
    has_steps = e_step.shape[0] > 0
    phase = ctr[C_PHASE]
    r = ctr[C_RESUME_R]
    w = ctr[C_RESUME_W]
    start_idle = np.int64(1) << START_IDLE_BIT
    while True:
        if phase == 0:
            # phase 0: the ready events in time order, each preceded by its key's expiries
            if r >= n_ev:
                phase = 1
                continue
            ri = e_order[r]
            k = e_key[ri]
            if (e_fast[ri] & start_idle) != 0 and ks[k, K_COUNT] == 0 and \
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
            ks[k, K_CURTIME] = -max_ts
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
        if d_min != max_ts and (d_min <= te or not has_event):
            # first watermark value >= max(d_min, cur_time)
            bound = d_min if d_min > cur_time else cur_time
            lo_i = 0
            hi_i = n_wm
            while lo_i < hi_i:
                mid = (lo_i + hi_i) >> 1
                if wm_vals[mid] < bound:
                    lo_i = mid + 1
                else:
                    hi_i = mid
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
            if d_min == max_ts or d_min > t_end or lo_i >= n_wm:
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
            need_pm = 2 * fan + 1
            need_nd = fan
            need_ev = n_p + 1
            need_out = 2 * fan + n_c
            need_rows = 2 * (n_p * max_e * (max_len + 1) + e_start) + n_c * max_len
        else:
            need_pm = 0
            need_nd = 0
            need_ev = 0
            # timeouts (if kept) and matches of expired pending states: at most every entry
            need_out = n_c + n_p
            need_rows = (n_c + n_p) * max_len
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
            ctr[C_PHASE] = phase
            ctr[C_RESUME_W] = w
            ctr[C_RESUME_R] = r
            return NEED_CAPACITY
        ks[k, K_CURTIME] = t
        pot_h = -1
        pot_t = -1
        if op_process:
            # -- process event r -----------------------------------------------------
            ri = e_order[r]
            gid = e_gid[ri]
            fast = e_fast[ri]
            seq = ks[k, K_SEQ]
            ks[k, K_SEQ] = seq + 1
            new_h = -1
            new_t = -1
            new_n = 0
            new_d = max_ts
            new_len = 0
            # the tail of the new list whose entries share one state (see ks QSTART...)
            run_state = -1
            run_start = -1
            run_n = 0
            run_d = max_ts
            run_len = 0
            q_start = ks[k, K_QSTART]
            q_state = ks[k, K_QSTATE]
            if q_start != -1 and not (q_state < START_IDLE_BIT and
                                      ((fast >> q_state) & 1) != 0):
                q_start = -1
            cur = ks[k, K_HEAD]
            started = False
            while True:
                nxt = -1
                reused = False
                if cur != -1 and cur == q_start:
                    # the event leaves the whole same-state tail unchanged: link it as it is
                    if new_t == -1:
                        new_h = cur
                    else:
                        pm[new_t, PM_NEXT] = cur
                    new_t = ks[k, K_TAIL]
                    qn = ks[k, K_QCOUNT]
                    qd = ks[k, K_QDEADLINE]
                    ql = ks[k, K_QLEN]
                    new_n += qn
                    if qd < new_d:
                        new_d = qd
                    if ql > new_len:
                        new_len = ql
                    if q_state != run_state:
                        run_state = q_state
                        run_start = cur
                        run_n = 0
                        run_d = max_ts
                        run_len = 0
                    run_n += qn
                    if qd < run_d:
                        run_d = qd
                    if ql > run_len:
                        run_len = ql
                    cur = -1
                    continue
                if cur != -1:
                    nxt = pm[cur, PM_NEXT]
                    src_state = pm[cur, PM_STATE]
                    if src_state < START_IDLE_BIT and ((fast >> src_state) & 1) != 0:
                        # the event leaves this partial match as it is: keep the entry
                        pm[cur, PM_NEXT] = -1
                        if new_t == -1:
                            new_h = cur
                        else:
                            pm[new_t, PM_NEXT] = cur
                        new_t = cur
                        new_n += 1
                        d = partial_deadline(pm, cur)
                        if d < new_d:
                            new_d = d
                        ln = pm[cur, PM_LEN]
                        if ln > new_len:
                            new_len = ln
                        if src_state != run_state:
                            run_state = src_state
                            run_start = cur
                            run_n = 0
                            run_d = max_ts
                            run_len = 0
                        run_n += 1
                        if d < run_d:
                            run_d = d
                        if ln > run_len:
                            run_len = ln
                        cur = nxt
                        continue
                    src_node = pm[cur, PM_NODE]
                    src_sts = pm[cur, PM_START_TS]
                    src_pts = pm[cur, PM_PREV_TS]
                    src_seq = pm[cur, PM_START_SEQ]
                    src_len = pm[cur, PM_LEN]
                    is_start = False
                elif not started:
                    started = True
                    if (fast & start_idle) != 0:
                        break
                    src_state = start_state
                    src_node = -1
                    src_sts = te
                    src_pts = te
                    src_seq = seq
                    src_len = 0
                    is_start = True
                else:
                    break
                # decision graph: follow enabled PROCEED edges depth first (a stack, as Flink)
                # and act on each enabled TAKE / IGNORE edge in the order it is found
                nres = 0
                stop = False
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
                        if a == 2:
                            stk[sp] = tg
                            sp += 1
                            continue
                        if a == 1:  # IGNORE
                            if not is_start and tg == src_state and not reused:
                                # ignoring into the same state: the partial match is unchanged,
                                # keep its entry (and its reference on the node)
                                reused = True
                                pm[cur, PM_NEXT] = -1
                                res[nres] = cur
                                nres += 1
                            elif not is_start:
                                q = alloc_pm(pm, ctr)
                                pm[q, PM_STATE] = tg
                                pm[q, PM_NODE] = src_node
                                pm[q, PM_START_TS] = src_sts
                                pm[q, PM_PREV_TS] = src_pts
                                pm[q, PM_START_SEQ] = src_seq
                                pm[q, PM_LEN] = src_len
                                if src_node >= 0:
                                    nd[src_node, ND_REFS] += 1
                                res[nres] = q
                                nres += 1
                            continue
                        if s_kind[tg] == 2:  # TAKE into a stop state
                            stop = True
                            continue
                        slot = e_slot[r]
                        if slot < 0 or ev[slot, EV_REFS] < 0:
                            slot = ctr[C_EV_FREE]
                            ctr[C_EV_FREE] = ev[slot, EV_NEXT]
                            ctr[C_EV_USED] += 1
                            ev[slot, EV_SEQ] = seq
                            ev[slot, EV_TS] = te
                            ev[slot, EV_REFS] = 0
                            ev[slot, EV_GID] = gid
                            ev[slot, EV_NEXT] = -1
                            e_slot[r] = slot
                            alog[ctr[C_ALOG], 0] = slot
                            alog[ctr[C_ALOG], 1] = r
                            ctr[C_ALOG] += 1
                        ev[slot, EV_REFS] += 1
                        node = ctr[C_ND_FREE]
                        ctr[C_ND_FREE] = nd[node, ND_PARENT]
                        ctr[C_ND_USED] += 1
                        nd[node, ND_SLOT] = slot
                        nd[node, ND_STAGE] = s_stage[s]
                        nd[node, ND_PARENT] = src_node
                        nd[node, ND_REFS] = 0
                        if src_node >= 0:
                            nd[src_node, ND_REFS] += 1
                        sts = te if is_start else src_sts
                        q = alloc_pm(pm, ctr)
                        pm[q, PM_STATE] = tg
                        pm[q, PM_NODE] = node
                        pm[q, PM_START_TS] = sts
                        pm[q, PM_PREV_TS] = te
                        pm[q, PM_START_SEQ] = src_seq
                        pm[q, PM_LEN] = src_len + 1
                        nd[node, ND_REFS] += 1
                        res[nres] = q
                        nres += 1
                        # does the new state reach the final state by enabled PROCEEDs?
                        found = False
                        sp2 = 1
                        stk2[0] = tg
                        while sp2 > 0 and not found:
                            sp2 -= 1
                            s2 = stk2[sp2]
                            for ti2 in range(t_start[s2], t_start[s2 + 1]):
                                if t_action[ti2] == 2 and e_cond[ri, t_cond[ti2]]:
                                    if s_kind[t_target[ti2]] == 1:
                                        found = True
                                        break
                                    stk2[sp2] = t_target[ti2]
                                    sp2 += 1
                        if found:
                            q2 = alloc_pm(pm, ctr)
                            pm[q2, PM_STATE] = final_state
                            pm[q2, PM_NODE] = node
                            pm[q2, PM_START_TS] = sts
                            pm[q2, PM_PREV_TS] = te
                            pm[q2, PM_START_SEQ] = src_seq
                            pm[q2, PM_LEN] = src_len + 1
                            nd[node, ND_REFS] += 1
                            res[nres] = q2
                            nres += 1
                for j in range(nres):
                    q = res[j]
                    if s_kind[pm[q, PM_STATE]] == 1:
                        if pot_t == -1:
                            pot_h = q
                        else:
                            pm[pot_t, PM_NEXT] = q
                        pot_t = q
                        if pm[q, PM_LEN] > new_len:
                            new_len = pm[q, PM_LEN]
                    elif stop:
                        release(nd, ev, ctr, pend, pm[q, PM_NODE])
                        free_pm(pm, ctr, q)
                    else:
                        if new_t == -1:
                            new_h = q
                        else:
                            pm[new_t, PM_NEXT] = q
                        new_t = q
                        new_n += 1
                        d = partial_deadline(pm, q)
                        if d < new_d:
                            new_d = d
                        ln = pm[q, PM_LEN]
                        if ln > new_len:
                            new_len = ln
                        st = pm[q, PM_STATE]
                        if st != run_state:
                            run_state = st
                            run_start = q
                            run_n = 0
                            run_d = max_ts
                            run_len = 0
                        run_n += 1
                        if d < run_d:
                            run_d = d
                        if ln > run_len:
                            run_len = ln
                if not is_start:
                    if not reused:
                        release(nd, ev, ctr, pend, pm[cur, PM_NODE])
                        free_pm(pm, ctr, cur)
                    cur = nxt
            ks[k, K_HEAD] = new_h
            ks[k, K_TAIL] = new_t
            ks[k, K_COUNT] = new_n
            ks[k, K_DEADLINE] = new_d
            ks[k, K_MAXLEN] = new_len if new_len > max_len else max_len
            ks[k, K_QSTART] = run_start
            ks[k, K_QSTATE] = run_state
            ks[k, K_QCOUNT] = run_n
            ks[k, K_QDEADLINE] = run_d
            ks[k, K_QLEN] = run_len
            r += 1
        else:
            # -- advance time to t: time out / complete expired partial matches -------
            new_h = -1
            new_t = -1
            new_n = 0
            new_d = max_ts
            run_state = -1
            run_start = -1
            run_n = 0
            run_d = max_ts
            run_len = 0
            p = ks[k, K_HEAD]
            while p != -1:
                nxt = pm[p, PM_NEXT]
                pw = s_pw[pm[p, PM_STATE]]
                to_prev = pw > 0 and sat(pm[p, PM_PREV_TS], pw) <= t
                to_first = window > 0 and sat(pm[p, PM_START_TS], window) <= t
                pm[p, PM_NEXT] = -1
                if not (to_prev or to_first):
                    if new_t == -1:
                        new_h = p
                    else:
                        pm[new_t, PM_NEXT] = p
                    new_t = p
                    new_n += 1
                    d = partial_deadline(pm, p)
                    if d < new_d:
                        new_d = d
                    st = pm[p, PM_STATE]
                    if st != run_state:
                        run_state = st
                        run_start = p
                        run_n = 0
                        run_d = max_ts
                        run_len = 0
                    run_n += 1
                    if d < run_d:
                        run_d = d
                    if pm[p, PM_LEN] > run_len:
                        run_len = pm[p, PM_LEN]
                elif s_kind[pm[p, PM_STATE]] == 3:  # pending: a match
                    if pot_t == -1:
                        pot_h = p
                    else:
                        pm[pot_t, PM_NEXT] = p
                    pot_t = p
                else:
                    if to_prev:
                        tts = sat(pm[p, PM_PREV_TS], pw)
                    else:
                        tts = sat(pm[p, PM_START_TS], window)
                    if keep_timeouts:
                        if step < 0:
                            step = step_of(t)
                        emit(om, orow, nd, ctr, 1, step, k, t, tts, pm[p, PM_NODE],
                             pm[p, PM_LEN])
                    else:
                        ctr[C_ORDER] += 1
                    release(nd, ev, ctr, pend, pm[p, PM_NODE])
                    free_pm(pm, ctr, p)
                p = nxt
            ks[k, K_HEAD] = new_h
            ks[k, K_TAIL] = new_t
            ks[k, K_COUNT] = new_n
            ks[k, K_DEADLINE] = new_d
            ks[k, K_QSTART] = run_start
            ks[k, K_QSTATE] = run_state
            ks[k, K_QCOUNT] = run_n
            ks[k, K_QDEADLINE] = run_d
            ks[k, K_QLEN] = run_len
        # -- settle: hold completed matches in order of first event, emit, prune ---------
        q = pot_h
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
        while ks[k, K_CHEAD] != -1:
            m = ks[k, K_CHEAD]
            if skip_kind != 0 and ks[k, K_HEAD] != -1:
                earliest = max_ts
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
                            return SKIP_MISSING_STAGE
                    else:
                        pid = sk_first if skip_kind == 3 else sk_last
                        if skip_throw and pid == first_seq:
                            return SKIP_FIRST_ELEMENT
                if pid >= 0:
                    h, tl, n, dm = prune(pm, nd, ev, ctr, pend, ks[k, K_HEAD], pid, strict)
                    ks[k, K_HEAD] = h
                    ks[k, K_TAIL] = tl
                    ks[k, K_COUNT] = n
                    ks[k, K_DEADLINE] = dm
                    ks[k, K_QSTART] = -1
                    h, tl, n, dm = prune(pm, nd, ev, ctr, pend, ks[k, K_CHEAD], pid, strict)
                    ks[k, K_CHEAD] = h
                    ks[k, K_CCOUNT] = n
            if step < 0:
                step = step_of(t)
            emit(om, orow, nd, ctr, 0, step, k, t, 0, pm[m, PM_NODE], pm[m, PM_LEN])
            release(nd, ev, ctr, pend, pm[m, PM_NODE])
            free_pm(pm, ctr, m)
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
