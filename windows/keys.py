"""Dictionary encoding of record keys to dense ``int64`` ids (shared by all keyed operators)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from windows.errors import SnapshotError

__all__ = ["KeyEncoder"]


class KeyEncoder:
    """Maps key values (integers, strings, or other hashable scalars) to dense ids ``0..n-1``.

    Ids are given in order of first appearance, so they are the same however the input is cut
    into batches. Keys are kept for the lifetime of the encoder (one entry per distinct key).
    """

    def __init__(self) -> None:
        self._ids: dict[Any, int] = {}
        self._values: list[Any] = []

    def __len__(self) -> int:
        return len(self._values)

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
        if not self._values:
            return np.empty(0, object)
        vals = np.asarray(self._values)
        if vals.ndim != 1:
            vals = np.empty(len(self._values), object)
            vals[:] = self._values
        return vals[ids]

    def snapshot(self) -> dict[str, Any]:
        """Plain-data state (keys must be ``int`` or ``str``)."""
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
            values = list(state["values"])
        except (KeyError, TypeError) as exc:
            raise SnapshotError(f"malformed key encoder state: {exc}") from exc
        self._values = values
        self._ids = {v: i for i, v in enumerate(values)}
