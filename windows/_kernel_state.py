"""Growable arrays of the window kernel (see :mod:`windows._window_kernel` for layouts)."""

from __future__ import annotations

from typing import Any

import numpy as np

from windows import _window_kernel as wk
from windows._structures import ht_rebuild
from windows.errors import SnapshotError

__all__ = ["KernelState"]


def _grow(arr: np.ndarray, rows: int, fill: float | int = 0) -> np.ndarray:
    new = np.full((rows,) + arr.shape[1:], fill, arr.dtype)
    new[: arr.shape[0]] = arr
    return new


class KernelState:
    """All mutable arrays of one window operator, with growth on demand."""

    def __init__(self, width: int) -> None:
        self.ks = np.zeros(wk.NKS, np.int64)
        self.ks[wk.K_WM] = wk.NONE
        self.ks[wk.K_PT] = wk.NONE
        self.S = np.zeros((1024, wk.NF), np.int64)
        self.A = np.zeros((1024, width), np.float64)
        self.FREE = np.zeros(1024, np.int64)
        self.K = np.full((1024, 2), 0, np.int64)
        self.K[:, 0] = -1
        self.HT = np.full((4096, 3), -1, np.int64)
        self.HEV = np.zeros((1024, 4), np.int64)
        self.HPT = np.zeros((1024, 4), np.int64)
        self.new_outputs(1024)

    def new_outputs(self, n: int) -> None:
        """Fresh output buffers sized for a batch of ``n`` records."""
        cap = max(256, n // 4)
        self.O = np.zeros((cap, 5), np.int64)
        self.OV = np.zeros((cap, self.A.shape[1]), np.float64)
        self.L = np.zeros((max(64, n // 16), 3), np.int64)
        self.LOG = np.zeros((max(64, 4 * n + 64), 4), np.int64)
        for k in (wk.K_OUT, wk.K_LATE, wk.K_LOG):
            self.ks[k] = 0

    def ensure_keys(self, nkeys: int) -> None:
        """Per-key arrays for ``nkeys`` keys."""
        if nkeys > self.K.shape[0]:
            old = self.K.shape[0]
            self.K = _grow(self.K, max(nkeys, 2 * old))
            self.K[old:, 0] = -1

    def grow(self, status: int, flush_log: Any) -> None:
        """Enlarge the array a kernel status asked for (``flush_log`` empties the log)."""
        if status == wk.NEED_SLOTS:
            n = 2 * self.S.shape[0]
            self.S = _grow(self.S, n)
            self.A = _grow(self.A, n)
            self.FREE = _grow(self.FREE, n)
        elif status == wk.NEED_HT:
            self.rebuild_hash(2 * self.HT.shape[0])
        elif status == wk.NEED_EVHEAP:
            self.HEV = _grow(self.HEV, 2 * self.HEV.shape[0])
        elif status == wk.NEED_PTHEAP:
            self.HPT = _grow(self.HPT, 2 * self.HPT.shape[0])
        elif status == wk.NEED_OUT:
            self.O = _grow(self.O, 2 * self.O.shape[0])
            self.OV = _grow(self.OV, 2 * self.OV.shape[0])
        elif status == wk.NEED_LATE:
            self.L = _grow(self.L, 2 * self.L.shape[0])
        elif status == wk.NEED_LOG:
            flush_log()
        else:  # pragma: no cover - kernel contract
            raise RuntimeError(f"unknown window kernel status {status}")

    def live_slots(self, kind: int) -> np.ndarray:
        """Indices of live slots (windows currently held)."""
        high = int(self.ks[wk.K_HIGH])
        free = self.FREE[: int(self.ks[wk.K_FREE])]
        alive = np.ones(high, np.bool_)
        alive[free] = False
        return np.nonzero(alive)[0]

    def rebuild_hash(self, cap: int, kind: int | None = None) -> None:
        """Recreate the hash table with ``cap`` buckets from the live slots."""
        self.HT = np.full((cap, 3), -1, np.int64)
        if kind is None:
            kind = self._kind
        if kind == wk.A_SESSION:
            self.ks[wk.K_HTN] = 0
            return
        live = self.live_slots(kind)
        wins = self.S[live, wk.F_END] if kind == wk.A_COUNT else self.S[live, wk.F_START]
        ht_rebuild(self.HT, self.S[live, wk.F_KEY].copy(), wins.copy(), live.astype(np.int64))
        self.ks[wk.K_HTN] = live.shape[0]

    _kind: int = 0

    # -- snapshot -----------------------------------------------------------------------------
    def snapshot(self, nkeys: int) -> dict[str, Any]:
        """Plain-data copy of the live state (hash table excluded: it is rebuilt)."""
        high = int(self.ks[wk.K_HIGH])
        return {
            "ks": self.ks.copy(), "S": self.S[:high].copy(), "A": self.A[:high].copy(),
            "FREE": self.FREE[: int(self.ks[wk.K_FREE])].copy(), "K": self.K[:nkeys].copy(),
            "HEV": self.HEV[: int(self.ks[wk.K_EVN])].copy(),
            "HPT": self.HPT[: int(self.ks[wk.K_PTN])].copy(),
        }

    def restore(self, st: dict[str, Any], kind: int) -> None:
        """Load a :meth:`snapshot` (arrays are re-allocated with head room)."""
        try:
            ks = np.asarray(st["ks"], np.int64)
            S, A = np.asarray(st["S"], np.int64), np.asarray(st["A"], np.float64)
            FREE, K = np.asarray(st["FREE"], np.int64), np.asarray(st["K"], np.int64)
            HEV, HPT = np.asarray(st["HEV"], np.int64), np.asarray(st["HPT"], np.int64)
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"malformed window state: {exc}") from exc
        if ks.shape != (wk.NKS,) or A.shape[1:] != self.A.shape[1:] or S.shape[1:] != (wk.NF,):
            raise SnapshotError("window state does not match this operator's configuration")
        self._kind = kind
        self.ks = ks
        cap = max(1024, 2 * S.shape[0])
        self.S = _grow(S.reshape(-1, wk.NF), cap)
        self.A = _grow(A.reshape(-1, self.A.shape[1]), cap)
        self.FREE = _grow(FREE, cap)
        self.K = np.zeros((0, 2), np.int64)
        self.ensure_keys(max(1024, K.shape[0]))
        self.K[: K.shape[0]] = K.reshape(-1, 2)
        self.HEV = _grow(HEV.reshape(-1, 4), max(1024, 2 * HEV.shape[0]))
        self.HPT = _grow(HPT.reshape(-1, 4), max(1024, 2 * HPT.shape[0]))
        ht = 4096
        while ht < 4 * max(1, S.shape[0]):
            ht *= 2
        self.rebuild_hash(ht, kind)
        self.new_outputs(1024)
