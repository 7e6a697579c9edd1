"""Python-side window contents for user aggregate functions and full-window functions.

The kernel runs the window logic and writes an action log (add / merge / fire / purge / free);
this module replays it in order against Python objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from windows import _window_kernel as wk
from windows.aggregates import AggregateFunction, ProcessWindowFunction, TimeWindow
from windows.errors import SnapshotError

__all__ = ["ARRIVAL", "UserFunctions"]

#: Hidden column holding each record's global arrival number (dropped before user code).
ARRIVAL = "__arrival__"


def _concat(chunks: list[dict[str, np.ndarray]], names: list[str]) -> dict[str, np.ndarray]:
    if not chunks:
        return {n: np.empty(0) for n in names}
    return {n: np.concatenate([c[n] for c in chunks]) for n in chunks[0]}


class UserFunctions:
    """Per-slot accumulators of user ``AggregateFunction``s and buffered records for a
    ``ProcessWindowFunction``."""

    def __init__(
        self, aggs: dict[str, AggregateFunction[Any]], window_function: ProcessWindowFunction | None
    ) -> None:
        self.aggs = aggs
        self.wf = window_function
        self.accs: dict[int, dict[str, Any]] = {}
        self.records: dict[int, list[dict[str, np.ndarray]]] = {}
        self.pending: dict[int, list[int]] = {}
        self.results: dict[int, dict[str, Any]] = {}  # output row -> user columns

    # -- replay ---------------------------------------------------------------------------------
    def replay(
        self,
        log: np.ndarray,
        columns: Mapping[str, np.ndarray],
        O: np.ndarray,
        decode_key: Callable[[int], Any],
    ) -> None:
        """Apply ``log`` (int64 ``(m, 4)``) for a batch whose records are ``columns``."""
        names = [n for n in columns if n != ARRIVAL]
        rows_cache: dict[int, dict[str, Any]] = {}

        def row(i: int) -> dict[str, Any]:
            r = rows_cache.get(i)
            if r is None:
                r = {
                    n: columns[n][i].item() if hasattr(columns[n][i], "item") else columns[n][i]
                    for n in names
                }
                rows_cache[i] = r
            return r

        for action, a, b, _ in log.tolist():
            if action == wk.LOG_ADD:
                i, slot = a, b
                if self.aggs:
                    accs = self.accs.setdefault(slot, {})
                    for name, fn in self.aggs.items():
                        acc = accs[name] if name in accs else fn.create_accumulator()
                        accs[name] = fn.add(row(i), acc)
                if self.wf is not None:
                    self.pending.setdefault(slot, []).append(i)
            elif action == wk.LOG_MERGE:
                src, dst = a, b
                if self.aggs:
                    s_acc = self.accs.pop(src, {})
                    d_acc = self.accs.setdefault(dst, {})
                    for name, fn in self.aggs.items():
                        if name in s_acc:
                            d_acc[name] = (
                                fn.merge(d_acc[name], s_acc[name]) if name in d_acc else s_acc[name]
                            )
                if self.wf is not None:
                    self._materialize(src, columns)
                    self._materialize(dst, columns)
                    self.records.setdefault(dst, []).extend(self.records.pop(src, []))
            elif action == wk.LOG_FIRE:
                slot, r = a, b
                out: dict[str, Any] = {}
                accs = self.accs.get(slot, {})
                for name, fn in self.aggs.items():
                    out[name] = fn.get_result(
                        accs[name] if name in accs else fn.create_accumulator()
                    )
                if self.wf is not None:
                    self._materialize(slot, columns)
                    recs = _concat(self.records.get(slot, []), names)
                    arrival = recs.pop(ARRIVAL, None)
                    if arrival is not None and len(arrival) > 1:  # merged sessions: re-order
                        order = np.argsort(arrival, kind="stable")
                        recs = {n: v[order] for n, v in recs.items()}
                    res = self.wf.process(
                        decode_key(int(O[r, 0])), TimeWindow(int(O[r, 1]), int(O[r, 2])), recs
                    )
                    out.update(dict(res))
                self.results[r] = out
            elif action in (wk.LOG_PURGE, wk.LOG_FREE):
                self.accs.pop(a, None)
                self.records.pop(a, None)
                self.pending.pop(a, None)

    def _materialize(self, slot: int, columns: Mapping[str, np.ndarray]) -> None:
        idx = self.pending.pop(slot, None)
        if idx:
            ia = np.asarray(idx, np.int64)
            self.records.setdefault(slot, []).append(
                {n: np.asarray(c)[ia] for n, c in columns.items()}
            )

    def end_batch(self, columns: Mapping[str, np.ndarray]) -> None:
        """Copy records still referenced by index out of the batch."""
        for slot in list(self.pending):
            self._materialize(slot, columns)

    def take_results(self, nrows: int) -> dict[str, np.ndarray]:
        """User columns of output rows ``0..nrows-1`` (in row order): the user aggregates and
        every column the window function returned."""
        names: list[str] = list(self.aggs)
        for r in range(nrows):
            for n in self.results.get(r, {}):
                if n not in names:
                    names.append(n)
        cols: dict[str, list[Any]] = {n: [] for n in names}
        for r in range(nrows):
            res = self.results.get(r, {})
            for n in names:
                cols[n].append(res.get(n))
        self.results.clear()
        out: dict[str, np.ndarray] = {}
        for n, v in cols.items():
            arr = np.empty(len(v), object)
            arr[:] = v
            try:
                conv = np.asarray(v)
                out[n] = conv if conv.dtype != object and conv.ndim == 1 else arr
            except ValueError:
                out[n] = arr
        return out

    # -- snapshot ---------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Plain data; record chunks of numeric columns as arrays, others as lists."""
        accs = {
            str(s): {n: self.aggs[n].snapshot_accumulator(v) for n, v in d.items()}
            for s, d in self.accs.items()
        }
        recs: dict[str, list[dict[str, Any]]] = {}
        for s, chunks in self.records.items():
            recs[str(s)] = [
                {n: (a if a.dtype.kind in "biuf" else a.tolist()) for n, a in c.items()}
                for c in chunks
            ]
        return {"accs": accs, "records": recs}

    def restore(self, st: Mapping[str, Any]) -> None:
        """Inverse of :meth:`snapshot`."""
        try:
            self.accs = {
                int(s): {n: self.aggs[n].restore_accumulator(v) for n, v in d.items()}
                for s, d in st["accs"].items()
            }
            self.records = {
                int(s): [{n: np.asarray(v) for n, v in c.items()} for c in chunks]
                for s, chunks in st["records"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SnapshotError(f"malformed user-function window state: {exc}") from exc
        self.pending = {}
        self.results = {}
