"""Bucketed timer queues for the window kernel (compiled, with pure-Python twins).

Windows of aligned assigners share their firing times, so timers are grouped into one bucket
per distinct time: a binary min-heap orders the buckets by time and each bucket keeps a FIFO
linked list of ``(slot, generation)`` timers. Timers with equal times therefore fire in
registration order, and the per-timer cost is O(1) apart from one heap operation per
distinct time. Layouts (int64):

- ``H``: ``(cap, 2)`` heap of ``(time, bucket)``; its size is ``ks[size_idx]``.
- ``BK``: ``(cap, 4)`` buckets ``(time, head node, tail node, domain)``; free buckets are
  chained through column 1 from ``ks[K_BFREE]``.
- ``TN``: ``(cap, 3)`` timer nodes ``(slot, generation, next)``; free nodes are chained
  through column 2 from ``ks[K_NFREE]``.
- the window hash table maps ``(-1 - domain, time)`` to the bucket of that time.
"""

from __future__ import annotations

import numpy as np

from windows._jit import kernel
from windows._structures import ht_delete, ht_find, ht_insert

__all__ = ["timer_pop", "timer_push"]

K_BFREE, K_BHIGH, K_NFREE, K_NHIGH, K_HTN = 15, 16, 17, 18, 11
K_LASTB = 19  # 19: event domain, 20: processing domain (last bucket used)


@kernel
def _heap_up(H: np.ndarray, i: int) -> None:
    while i > 0:
        p = (i - 1) >> 1
        if H[i, 0] < H[p, 0]:
            t0, t1 = H[i, 0], H[i, 1]
            H[i, 0], H[i, 1] = H[p, 0], H[p, 1]
            H[p, 0], H[p, 1] = t0, t1
            i = p
        else:
            break


@kernel
def _heap_down(H: np.ndarray, n: int) -> None:
    i = 0
    while True:
        lft = 2 * i + 1
        if lft >= n:
            break
        m = lft
        if lft + 1 < n and H[lft + 1, 0] < H[lft, 0]:
            m = lft + 1
        if H[m, 0] < H[i, 0]:
            t0, t1 = H[i, 0], H[i, 1]
            H[i, 0], H[i, 1] = H[m, 0], H[m, 1]
            H[m, 0], H[m, 1] = t0, t1
            i = m
        else:
            break


@kernel(inline=True)
def timer_push(
    ks: np.ndarray,
    H: np.ndarray,
    size_idx: int,
    domain: int,
    BK: np.ndarray,
    TN: np.ndarray,
    HT: np.ndarray,
    time: int,
    slot: int,
    gen: int,
) -> None:
    """Register a timer; capacity for one bucket, one node and one hash entry must exist."""
    b = ks[K_LASTB + domain]
    if b < 0 or BK[b, 0] != time or BK[b, 3] != domain:
        b = ht_find(HT, -1 - domain, time)
        if b < 0:
            if ks[K_BFREE] >= 0:
                b = ks[K_BFREE]
                ks[K_BFREE] = BK[b, 1]
            else:
                b = ks[K_BHIGH]
                ks[K_BHIGH] = b + 1
            BK[b, 0] = time
            BK[b, 1] = -1
            BK[b, 2] = -1
            BK[b, 3] = domain
            ht_insert(HT, -1 - domain, time, b)
            ks[K_HTN] += 1
            n = ks[size_idx]
            H[n, 0] = time
            H[n, 1] = b
            ks[size_idx] = n + 1
            _heap_up(H, n)
        ks[K_LASTB + domain] = b
    if ks[K_NFREE] >= 0:
        node = ks[K_NFREE]
        ks[K_NFREE] = TN[node, 2]
    else:
        node = ks[K_NHIGH]
        ks[K_NHIGH] = node + 1
    TN[node, 0] = slot
    TN[node, 1] = gen
    TN[node, 2] = -1
    if BK[b, 2] < 0:
        BK[b, 1] = node
    else:
        TN[BK[b, 2], 2] = node
    BK[b, 2] = node


@kernel(inline=True)
def timer_pop(
    ks: np.ndarray,
    H: np.ndarray,
    size_idx: int,
    domain: int,
    BK: np.ndarray,
    TN: np.ndarray,
    HT: np.ndarray,
    limit: int,
    out: np.ndarray,
) -> bool:
    """Remove the earliest timer with time <= ``limit``; writes ``(time, slot, gen)`` into
    ``out`` and returns True, or returns False when none is due."""
    while ks[size_idx] > 0 and H[0, 0] <= limit:
        b = H[0, 1]
        node = BK[b, 1]
        if node >= 0:
            out[0] = BK[b, 0]
            out[1] = TN[node, 0]
            out[2] = TN[node, 1]
            BK[b, 1] = TN[node, 2]
            if BK[b, 1] < 0:
                BK[b, 2] = -1
            TN[node, 2] = ks[K_NFREE]
            ks[K_NFREE] = node
            return True
        # bucket drained: drop it
        n = ks[size_idx] - 1
        H[0, 0] = H[n, 0]
        H[0, 1] = H[n, 1]
        ks[size_idx] = n
        _heap_down(H, n)
        ht_delete(HT, -1 - domain, BK[b, 0])
        ks[K_HTN] -= 1
        if ks[K_LASTB + domain] == b:
            ks[K_LASTB + domain] = -1
        BK[b, 1] = ks[K_BFREE]
        ks[K_BFREE] = b
    return False
