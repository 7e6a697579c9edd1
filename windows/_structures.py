"""Numba hash table for keyed window state: open addressing, mapping ``(key id, window id)``
to a slot (timers live in :mod:`windows._timers`).

All functions are kernels (compiled, with their pure-Python twins registered). Layouts:

- hash table ``ht``: int64 array ``(cap, 3)`` of ``(key, window, slot)``; ``slot == -1`` marks
  an empty bucket; ``cap`` is a power of two; linear probing with backward-shift deletion.
"""

from __future__ import annotations

import numpy as np

from windows._jit import kernel

__all__ = ["ht_delete", "ht_find", "ht_insert", "ht_rebuild"]


@kernel(inline=True)
def _hash(key: int, win: int, mask: int) -> int:
    # 32-bit halves times 32-bit odd constants: no int64 overflow (the pure-Python twin runs
    # on NumPy scalars, where overflow warns)
    a = (key ^ (key >> 32)) & 0xFFFFFFFF
    b = (win ^ (win >> 32)) & 0xFFFFFFFF
    x = (a * 0x5BD1E995) ^ (b * 0x27D4EB2F) ^ (win >> 11)
    x = x ^ (x >> 29)
    return x & mask


@kernel(inline=True)
def ht_find(ht: np.ndarray, key: int, win: int) -> int:
    """Slot of ``(key, win)`` or -1."""
    mask = ht.shape[0] - 1
    b = _hash(key, win, mask)
    while True:
        s = ht[b, 2]
        if s == -1:
            return -1
        if ht[b, 0] == key and ht[b, 1] == win:
            return s
        b = (b + 1) & mask


@kernel
def ht_insert(ht: np.ndarray, key: int, win: int, slot: int) -> None:
    """Insert ``(key, win) -> slot``; the key must be absent and the table not full."""
    mask = ht.shape[0] - 1
    b = _hash(key, win, mask)
    while ht[b, 2] != -1:
        b = (b + 1) & mask
    ht[b, 0] = key
    ht[b, 1] = win
    ht[b, 2] = slot


@kernel
def ht_delete(ht: np.ndarray, key: int, win: int) -> None:
    """Remove ``(key, win)`` if present (backward-shift deletion keeps probes short)."""
    mask = ht.shape[0] - 1
    b = _hash(key, win, mask)
    while True:
        if ht[b, 2] == -1:
            return
        if ht[b, 0] == key and ht[b, 1] == win:
            break
        b = (b + 1) & mask
    hole = b
    j = (b + 1) & mask
    while ht[j, 2] != -1:
        home = _hash(ht[j, 0], ht[j, 1], mask)
        # move j into the hole if its home is not cyclically within (hole, j]
        if (j > hole and (home <= hole or home > j)) or (j < hole and home <= hole and home > j):
            ht[hole, 0] = ht[j, 0]
            ht[hole, 1] = ht[j, 1]
            ht[hole, 2] = ht[j, 2]
            hole = j
        j = (j + 1) & mask
    ht[hole, 2] = -1


@kernel
def ht_rebuild(ht: np.ndarray, keys: np.ndarray, wins: np.ndarray, slots: np.ndarray) -> None:
    """Fill an empty table with the given entries (arrays of shape ``(m,)``)."""
    for i in range(keys.shape[0]):
        ht_insert(ht, keys[i], wins[i], slots[i])
