"""Layout constants of the window kernel: configuration (``C_*``) and scalar (``K_*``) indices,
slot fields (``F_*``), phases, statuses and the codes mirrored from the assigners, triggers and
aggregates (see :mod:`windows._window_kernel` for the array layouts).

Numba freezes these constants into compiled kernels, so :mod:`windows._jit` counts this module
as a kernel source: editing it invalidates the cached kernels.
"""

from __future__ import annotations

# cfg indices
C_ASSIGNER, C_DOMAIN, C_SIZE, C_SLIDE, C_OFFSET, C_GAP = 0, 1, 2, 3, 4, 5
C_TRIGGER, C_TPARAM, C_PURGE, C_LATENESS, C_LOG, C_MAXNEW, C_USES_WM = 6, 7, 8, 9, 10, 11, 12
C_RING = 13
C_PANE = 14  # slice length of the sliced sliding-window path (0: off)
C_FLINK_MERGE = 15  # ContinuousEventTimeTrigger(flink_merge=True): keep spent fire times
NCFG = 16
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

__all__ = [
    "A_COUNT",
    "A_GLOBAL",
    "A_SESSION",
    "A_SLIDING",
    "A_TUMBLING",
    "C_ASSIGNER",
    "C_DOMAIN",
    "C_FLINK_MERGE",
    "C_GAP",
    "C_LATENESS",
    "C_LOG",
    "C_MAXNEW",
    "C_OFFSET",
    "C_PANE",
    "C_PURGE",
    "C_RING",
    "C_SIZE",
    "C_SLIDE",
    "C_TPARAM",
    "C_TRIGGER",
    "C_USES_WM",
    "DONE",
    "D_EVENT",
    "D_NONE",
    "D_PROCESSING",
    "EARLY",
    "F_CLEAN",
    "F_CONT",
    "F_END",
    "F_GEN",
    "F_KEY",
    "F_LAST_EV",
    "F_LAST_PT",
    "F_NEXT",
    "F_START",
    "F_TRIG",
    "K_ASEQ",
    "K_BFREE",
    "K_BHIGH",
    "K_EVN",
    "K_FREE",
    "K_HIGH",
    "K_HTN",
    "K_LASTB_EV",
    "K_LASTB_PT",
    "K_LATE",
    "K_LOG",
    "K_NFREE",
    "K_NHIGH",
    "K_NUSED",
    "K_OUT",
    "K_PHASE",
    "K_POS",
    "K_PT",
    "K_PTN",
    "K_SCRATCH",
    "K_TARGET_PT",
    "K_TSEQ",
    "K_WM",
    "LATE",
    "LOG_ADD",
    "LOG_FIRE",
    "LOG_FREE",
    "LOG_MERGE",
    "LOG_PURGE",
    "MAXV",
    "NCFG",
    "NEED_HT",
    "NEED_LATE",
    "NEED_LOG",
    "NEED_NODES",
    "NEED_OUT",
    "NEED_SLOTS",
    "NEED_TIMERS",
    "NF",
    "NKS",
    "NONE",
    "ON_TIME",
    "OP_COUNT",
    "OP_COUNT_ALL",
    "OP_FIRST",
    "OP_LAST",
    "OP_MAX",
    "OP_MEAN",
    "OP_MIN",
    "OP_SUM",
    "PH_EVENTS",
    "PH_EV_TIMERS",
    "PH_PT",
    "T_CONT_EVENT",
    "T_CONT_PROCESSING",
    "T_COUNT",
    "T_EVENT",
    "T_NEVER",
    "T_PROCESSING",
]
