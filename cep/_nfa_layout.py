"""Layout constants of the NFA kernel (:mod:`cep._kernels`): field indices of its arrays,
counters, output fields, return codes and the shortcut bit.

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

Numba freezes these constants into compiled kernels, so :mod:`windows._jit` counts this module
as a kernel source: editing it invalidates the cached kernels.
"""

from __future__ import annotations

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
# state kinds (``s_kind``)
S_NORMAL, S_FINAL, S_STOP, S_PENDING = range(4)
# edge actions (``t_action``)
A_TAKE, A_IGNORE, A_PROCEED = range(3)

DONE, NEED_CAPACITY, SKIP_MISSING_STAGE, SKIP_FIRST_ELEMENT = 0, 1, 2, 3
#: bit of ``e_fast`` set for events that enable no TAKE from the start state
START_IDLE_BIT = 62
#: the largest int64: "no deadline"; deadlines saturate one below it
MAX_TS = 9223372036854775807
#: ``e_fast`` mask of :data:`START_IDLE_BIT`
START_IDLE = 1 << START_IDLE_BIT
