"""Dictionary encoding of record keys to dense ``int64`` ids (shared by all keyed operators)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from windows._jit import kernel
from windows.errors import SnapshotError

__all__ = ["KeyEncoder"]

_EMPTY = -1


@kernel
def _encode_ints(
    values: np.ndarray,
    tab_keys: np.ndarray,
    tab_ids: np.ndarray,
    order: np.ndarray,
    state: np.ndarray,
    out: np.ndarray,
) -> int:
    """Dense ids of int64 ``values`` through an open-addressing table (``tab_ids == -1`` is
    empty). New keys get ids ``state[0], state[0] + 1, ...`` in order of appearance and are
    appended to ``order``. Returns the index of the first value not encoded because the table
    or ``order`` is full (``len(values)`` when all are done)."""
    mask = tab_keys.shape[0] - 1
    for i in range(values.shape[0]):
        v = values[i]
        h = (((v ^ (v >> 32)) & 0xFFFFFFFF) * 0x5BD1E995) ^ (v >> 17)
        b = (h ^ (h >> 29)) & mask
        while True:
            if tab_ids[b] == -1:
                n = state[0]
                if 2 * (n + 1) > tab_keys.shape[0] or n >= order.shape[0]:
                    return i
                tab_keys[b] = v
                tab_ids[b] = n
                order[n] = v
                state[0] = n + 1
                out[i] = n
                break
            if tab_keys[b] == v:
                out[i] = tab_ids[b]
                break
            b = (b + 1) & mask
    return values.shape[0]


class KeyEncoder:
    """Maps key values (integers, strings, or other hashable scalars) to dense ids ``0..n-1``.

    Ids are given in order of first appearance, so they are the same however the input is cut
    into batches. Keys are kept for the lifetime of the encoder (one entry per distinct key).
    """

    def __init__(self) -> None:
        self._ids: dict[Any, int] = {}
        self._values: list[Any] = []
        # integer keys: a compiled hash table (ids stay in order of first appearance)
        self._int_mode: bool | None = None
        self._tab_keys = np.zeros(1024, np.int64)
        self._tab_ids = np.full(1024, _EMPTY, np.int64)
        self._order = np.zeros(512, np.int64)
        self._state = np.zeros(1, np.int64)

    def __len__(self) -> int:
        if self._int_mode:
            return int(self._state[0])
        return len(self._values)

    def _encode_int(self, arr: np.ndarray) -> np.ndarray:
        vals = np.ascontiguousarray(arr, np.int64)
        out = np.empty(vals.shape[0], np.int64)
        pos = 0
        while True:
            done = _encode_ints(
                vals[pos:], self._tab_keys, self._tab_ids, self._order, self._state, out[pos:]
            )
            pos += int(done)
            if pos >= vals.shape[0]:
                return out
            n = int(self._state[0])
            if n >= self._order.shape[0]:
                self._order = np.concatenate([self._order, np.zeros_like(self._order)])
            if 2 * (n + 1) > self._tab_keys.shape[0]:
                self._rehash(2 * self._tab_keys.shape[0])

    def _rehash(self, cap: int) -> None:
        n = int(self._state[0])
        self._tab_keys = np.zeros(cap, np.int64)
        self._tab_ids = np.full(cap, _EMPTY, np.int64)
        keep = self._order[:n].copy()
        self._state[0] = 0
        _encode_ints(
            keep, self._tab_keys, self._tab_ids, self._order, self._state, np.empty(n, np.int64)
        )

    def encode(self, keys: Any) -> np.ndarray:
        """Ids of ``keys``.

        Parameters
        ----------
        keys : array-like, shape (n,)
            Integer, string or object values.

        Returns
        -------
        ndarray of int64, shape (n,)
        """
        arr = np.asarray(keys)
        n = arr.shape[0]
        if n == 0:
            return np.empty(0, np.int64)
        if arr.dtype.kind == "f":
            raise TypeError("float keys are not supported; cast them to int or str")
        is_int = arr.dtype.kind in "iu" and not (arr.dtype.kind == "u" and arr.dtype.itemsize == 8)
        if self._int_mode is None:
            self._int_mode = is_int
        if self._int_mode:
            if not is_int:
                raise TypeError(f"this encoder holds integer keys; got dtype {arr.dtype}")
            return self._encode_int(arr)
        if is_int:
            arr = arr.astype(object)
        try:
            uniq, first, inverse = np.unique(arr, return_index=True, return_inverse=True)
        except TypeError:  # unorderable objects
            return np.fromiter((self._id(k) for k in arr.tolist()), np.int64, n)
        # assign new ids in order of first appearance in this batch
        order = np.argsort(first, kind="stable")
        mapping = np.empty(len(uniq), np.int64)
        ulist = uniq.tolist()
        for j in order.tolist():
            mapping[j] = self._id(ulist[j])
        return mapping[inverse.reshape(-1)]

    def _id(self, k: Any) -> int:
        i = self._ids.get(k)
        if i is None:
            i = len(self._values)
            self._ids[k] = i
            self._values.append(k)
        return i

    def decode(self, ids: np.ndarray) -> np.ndarray:
        """Key values of ``ids`` (int64 array, shape (n,)) as an array of the original kind."""
        ids = np.asarray(ids, np.int64)
        if self._int_mode:
            return self._order[: int(self._state[0])][ids]
        if not self._values:
            return np.empty(0, object)
        vals = np.asarray(self._values)
        if vals.ndim != 1:
            vals = np.empty(len(self._values), object)
            vals[:] = self._values
        return vals[ids]

    def snapshot(self) -> dict[str, Any]:
        """Plain-data state (keys must be ``int`` or ``str``)."""
        if self._int_mode:
            return {"values": self._order[: int(self._state[0])].copy(), "int": True}
        out: list[Any] = []
        for v in self._values:
            if isinstance(v, (bool, np.bool_)):
                raise SnapshotError("boolean keys cannot be snapshotted")
            if isinstance(v, (int, np.integer)):
                out.append(int(v))
            elif isinstance(v, (str, np.str_)):
                out.append(str(v))
            else:
                raise SnapshotError(f"keys of type {type(v).__name__} cannot be snapshotted")
        return {"values": out}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replace the mapping with one from :meth:`snapshot`."""
        try:
            values = state["values"]
            if state.get("int"):
                arr = np.asarray(values, np.int64)
                self.__init__()  # type: ignore[misc]
                self._int_mode = True
                self._encode_int(arr)
                return
            values = list(values)
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"malformed key encoder state: {exc}") from exc
        self._int_mode = False if values else None
        self._values = values
        self._ids = {v: i for i, v in enumerate(values)}
