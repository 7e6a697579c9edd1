"""Growable arrays of the window kernel (see :mod:`windows._window_kernel` for layouts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from windows import _window_kernel as wk
from windows._structures import ht_rebuild
from windows.errors import SnapshotError

__all__ = ["KernelState"]


def _grow(arr: np.ndarray, rows: int, fill: float | int = 0) -> np.ndarray:
    new = np.full((rows, *arr.shape[1:]), fill, arr.dtype)
    new[: arr.shape[0]] = arr
    return new


class KernelState:
    """All mutable arrays of one window operator, with growth on demand.

    Parameters
    ----------
    width : int
        Accumulator columns per window (column 0 is the record count).
    kind : int
        Assigner kind code (hash table contents depend on it).
    ring : int
        Entries of the per-key window (or slice) cache.
    extra_ring : int
        Entries of the per-key ring of registered windows (sliced sliding windows only).
    unit, offset : int
        Tumbling/sliding windows: the ring of a key files the window (or slice) starting at
        ``start`` in entry ``((start - offset) // unit) % ring`` (``unit``: slide or slice
        length, ms). Windows whose entry was taken live in the hash table instead.
    """

    def __init__(
        self, width: int, kind: int, ring: int, extra_ring: int = 0, unit: int = 1, offset: int = 0
    ) -> None:
        self.kind = kind
        self.ring = ring
        self.unit = max(unit, 1)
        self.offset = offset
        self._aligned = kind in (wk.A_TUMBLING, wk.A_SLIDING)
        self.ks = np.zeros(wk.NKS, np.int64)
        self.ks[wk.K_WM] = wk.NONE
        self.ks[wk.K_PT] = wk.NONE
        for k in (wk.K_BFREE, wk.K_NFREE, wk.K_LASTB_EV, wk.K_LASTB_PT):
            self.ks[k] = -1
        self.S = np.zeros((1024, wk.NF), np.int64)
        self.A = np.zeros((1024, width), np.float64)
        self.FREE = np.zeros(1024, np.int64)
        # sliced sliding windows keep the last fired window start per key in column 1
        self._k1 = wk.NONE if extra_ring else 0
        self.K = self._new_keys(1024, 2 + 2 * ring + 2 * extra_ring)
        self.HT = np.full((4096, 3), -1, np.int64)
        self.HEV = np.zeros((1024, 2), np.int64)
        self.HPT = np.zeros((1024, 2), np.int64)
        self.BK = np.zeros((1024, 4), np.int64)
        self.TN = np.zeros((2048, 3), np.int64)
        self.new_outputs(1024)

    def _new_keys(self, rows: int, width: int) -> np.ndarray:
        K = np.zeros((rows, width), np.int64)
        # column 0: session list head, or for aligned windows the number of the key's windows
        # filed in the hash table
        K[:, 0] = 0 if self._aligned else -1
        K[:, 1] = self._k1
        K[:, 3::2] = -1
        return K

    def new_outputs(self, n: int) -> None:
        """Fresh output buffers sized for a batch of ``n`` records."""
        cap = max(256, n // 8)
        self.O = np.zeros((cap, 5), np.int64)
        self.OV = np.zeros((cap, self.A.shape[1]), np.float64)
        self.L = np.zeros((max(64, n // 64), 3), np.int64)
        self.LOG = np.zeros((256, 4), np.int64)
        for k in (wk.K_OUT, wk.K_LATE, wk.K_LOG):
            self.ks[k] = 0

    def ensure_keys(self, nkeys: int) -> None:
        """Per-key arrays for ``nkeys`` keys."""
        if nkeys > self.K.shape[0]:
            K = self._new_keys(max(nkeys, 2 * self.K.shape[0]), self.K.shape[1])
            K[: self.K.shape[0]] = self.K
            self.K = K

    def grow(self, status: int, flush_log: Callable[[], None]) -> None:
        """Enlarge the array a kernel status asked for (``flush_log`` empties the log)."""
        if status == wk.NEED_SLOTS:
            n = 2 * self.S.shape[0]
            self.S = _grow(self.S, n)
            self.A = _grow(self.A, n)
            self.FREE = _grow(self.FREE, n)
        elif status == wk.NEED_HT:
            self.rebuild_hash(2 * self.HT.shape[0])
        elif status == wk.NEED_TIMERS:
            n = 2 * self.BK.shape[0]
            self.BK = _grow(self.BK, n)
            self.HEV = _grow(self.HEV, n)
            self.HPT = _grow(self.HPT, n)
        elif status == wk.NEED_NODES:
            self.TN = _grow(self.TN, 2 * self.TN.shape[0])
        elif status == wk.NEED_OUT:
            self.O = _grow(self.O, 2 * self.O.shape[0])
            self.OV = _grow(self.OV, 2 * self.OV.shape[0])
        elif status == wk.NEED_LATE:
            self.L = _grow(self.L, 2 * self.L.shape[0])
        elif status == wk.NEED_LOG:
            flush_log()
            if self.ks[wk.K_LOG]:  # nothing consumed the log: make room instead
                self.LOG = _grow(self.LOG, 2 * self.LOG.shape[0])
        else:  # pragma: no cover - kernel contract
            raise RuntimeError(f"unknown window kernel status {status}")

    def live_slots(self) -> np.ndarray:
        """Indices of live slots (windows currently held), int64 array."""
        high = int(self.ks[wk.K_HIGH])
        alive = np.ones(high, np.bool_)
        alive[self.FREE[: int(self.ks[wk.K_FREE])]] = False
        return np.nonzero(alive)[0].astype(np.int64)

    def rebuild_hash(self, cap: int) -> None:
        """Recreate the hash table with ``cap`` buckets from the live windows and timer
        buckets."""
        self.HT = np.full((cap, 3), -1, np.int64)
        keys, wins, vals = [], [], []
        if self._aligned:
            live = self.live_slots()
            k, start = self.S[live, wk.F_KEY], self.S[live, wk.F_START]
            c = 2 + 2 * (((start - self.offset) // self.unit) % self.ring)
            in_ring = (self.K[k, c] == start) & (self.K[k, c + 1] == live)
            out = ~in_ring
            self.S[live, wk.F_NEXT] = np.where(in_ring, c, -1)
            keys.append(k[out])
            wins.append(start[out])
            vals.append(live[out])
            self.K[:, 0] = np.bincount(k[out], minlength=self.K.shape[0])[: self.K.shape[0]]
        elif self.kind != wk.A_SESSION:
            live = self.live_slots()
            keys.append(self.S[live, wk.F_KEY])
            if self.kind == wk.A_COUNT:
                wins.append(self.S[live, wk.F_END])
            else:  # the kernel files global windows under id 0
                wins.append(np.zeros(live.shape[0], np.int64))
            vals.append(live)
        for dom, H, n in ((0, self.HEV, wk.K_EVN), (1, self.HPT, wk.K_PTN)):
            b = H[: int(self.ks[n]), 1]
            keys.append(np.full(b.shape[0], -1 - dom, np.int64))
            wins.append(self.BK[b, 0])
            vals.append(b)
        k, w, v = (
            np.concatenate(x).astype(np.int64) if x else np.empty(0, np.int64)
            for x in (keys, wins, vals)
        )
        ht_rebuild(self.HT, k, w, v)
        self.ks[wk.K_HTN] = k.shape[0]

    # -- snapshot -----------------------------------------------------------------------------
    def snapshot(self, nkeys: int) -> dict[str, Any]:
        """Plain-data copy of the state (the hash table is rebuilt on restore)."""
        ks = self.ks
        return {
            "ks": ks.copy(),
            "S": self.S[: int(ks[wk.K_HIGH])].copy(),
            "A": self.A[: int(ks[wk.K_HIGH])].copy(),
            "FREE": self.FREE[: int(ks[wk.K_FREE])].copy(),
            "K": self.K[:nkeys].copy(),
            "HEV": self.HEV[: int(ks[wk.K_EVN])].copy(),
            "HPT": self.HPT[: int(ks[wk.K_PTN])].copy(),
            "BK": self.BK[: int(ks[wk.K_BHIGH])].copy(),
            "TN": self.TN[: int(ks[wk.K_NHIGH])].copy(),
        }

    def restore(self, st: dict[str, Any]) -> None:
        """Load a :meth:`snapshot` (arrays are re-allocated with head room)."""
        try:
            ks = np.asarray(st["ks"], np.int64)
            arrs = {n: np.asarray(st[n]) for n in ("S", "A", "FREE", "K", "HEV", "HPT", "BK", "TN")}
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"malformed window state: {exc}") from exc
        S, A, K = arrs["S"], arrs["A"], arrs["K"]
        if (
            ks.shape != (wk.NKS,)
            or S.ndim != 2
            or S.shape[1] != wk.NF
            or A.ndim != 2
            or A.shape[1] != self.A.shape[1]
            or K.ndim != 2
            or K.shape[1] != self.K.shape[1]
        ):
            raise SnapshotError("window state does not match this operator's configuration")
        self.ks = ks.copy()
        cap = max(1024, 2 * S.shape[0])
        self.S = _grow(S.astype(np.int64), cap)
        self.A = _grow(A.astype(np.float64), cap)
        self.FREE = _grow(arrs["FREE"].astype(np.int64).reshape(-1), cap)
        self.K = self._new_keys(max(1024, K.shape[0]), K.shape[1])
        self.K[: K.shape[0]] = K
        bcap = max(1024, 2 * arrs["BK"].shape[0])
        self.BK = _grow(arrs["BK"].astype(np.int64).reshape(-1, 4), bcap)
        self.HEV = _grow(arrs["HEV"].astype(np.int64).reshape(-1, 2), bcap)
        self.HPT = _grow(arrs["HPT"].astype(np.int64).reshape(-1, 2), bcap)
        self.TN = _grow(
            arrs["TN"].astype(np.int64).reshape(-1, 3), max(2048, 2 * arrs["TN"].shape[0])
        )
        ht = 4096
        while ht < 4 * (S.shape[0] + self.BK.shape[0]):
            ht *= 2
        self.rebuild_hash(ht)
        self.new_outputs(1024)
