"""Reference runtime: Flink's CEP operator model, record by record, in pure Python.

It drives the :class:`~cep.engine.ReferenceEngine` exactly as Flink's ``CepOperator`` drives its
NFA, one record at a time:

* event time: record ``i`` is late if its timestamp is ``<=`` the watermark before it
  (``watermarks[i-1]``); otherwise it is buffered (a :class:`sortedcontainers.SortedList`
  ordered by timestamp, then arrival). Whenever the watermark advances (to ``watermarks[i]``),
  every key with ready events (timestamp ``<=`` watermark) or an expired window is visited in
  key order: its ready events are processed in (timestamp, arrival) order, each preceded by
  advancing the key's time to the event's timestamp, and then the key's time is advanced to
  the watermark. All outputs of that step are tagged with step ``i``.
* processing time: every record is processed at once with the batch's processing time as its
  timestamp, after the keys whose windows expired have been advanced to that time.

Patterns with ``PREV`` (:class:`cep.expr.Prev`) also keep, per key, the last ``depth`` processed
events (``depth``: the largest offset), which iterative conditions read through
``ctx.previous_event(n)``; this history is part of the snapshot.

This is the oracle for the vectorised fast runtime; it runs any pattern, including iterative
conditions, but at per-record Python speed.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
from sortedcontainers import SortedList

from cep.buffer import SharedBuffer
from cep.engine import EventIn, KeyState, ReferenceEngine, Rows
from cep.nfa import NFA
from cep.ref_conditions import BatchConditions
from windows.time import MAX_TIMESTAMP, MIN_TIMESTAMP

__all__ = ["Collector", "ReferenceRuntime", "history_depth"]


class Collector:
    """Collects engine outputs tagged with (step, key, order)."""

    def __init__(self, timeouts: bool) -> None:
        self.step = 0
        self.order = 0
        self.keep_timeouts = timeouts
        self.matches: list[tuple[int, int, int, int, int, Rows]] = []
        self.timeouts: list[tuple[int, int, int, int, int, Rows]] = []

    def match(self, key: int, t: int, rows: Rows) -> None:
        self.matches.append((self.step, key, self.order, t, 0, rows))
        self.order += 1

    def timeout(self, key: int, t: int, timeout_ts: int, rows: Rows) -> None:
        if self.keep_timeouts:
            self.timeouts.append((self.step, key, self.order, t, timeout_ts, rows))
        self.order += 1


def history_depth(nfa: NFA) -> int:
    """How many earlier events per key the NFA's conditions read (largest ``PREV`` offset)."""
    depth = 0
    for atom in nfa.atoms:
        expr = getattr(atom, "expr", None)
        if expr is not None:
            depth = max(depth, expr.history_depth())
    return depth


class _HistView(Sequence[Mapping[str, Any]]):
    """A key's history deque whose entries are rows or row numbers of the current fire."""

    __slots__ = ("h", "row")

    def __init__(self, h: deque[Any], row: Callable[[int], Mapping[str, Any]]) -> None:
        self.h = h
        self.row = row

    def __len__(self) -> int:
        return len(self.h)

    def __getitem__(self, i: Any) -> Any:
        x = self.h[i]
        return self.row(x) if isinstance(x, int) else x


class ReferenceRuntime:
    """Event-time / processing-time driver of the reference engine (see the module docstring).

    Parameters
    ----------
    nfa : NFA
    event_time : bool
        Event-time (True) or processing-time (False) mode.
    optimize : bool
        Use the batch analysis of :mod:`cep.ref_conditions` (known condition values, skipping
        events that cannot start a match for keys without state). ``False`` evaluates every
        condition per partial match and processes every event (the plain oracle the tests
        compare against); results are identical.
    """

    def __init__(self, nfa: NFA, event_time: bool, optimize: bool = True) -> None:
        self.nfa = nfa
        self.event_time = event_time
        self.optimize = optimize
        self.buffer = SharedBuffer()
        self.ptime = 0
        self.engine = ReferenceEngine(nfa, self.buffer, lambda: self.ptime)
        self.analysis = BatchConditions(nfa)
        self.keys: dict[int, KeyState] = {}
        self.seqs: dict[int, int] = {}
        n_atoms = len(nfa.atoms)
        self.p_key = np.empty(0, np.int64)
        self.p_ts = np.empty(0, np.int64)
        self.p_gid = np.empty(0, np.int64)
        self.p_atoms = np.empty((0, n_atoms), np.bool_)
        self.p_cols: dict[str, np.ndarray] | None = None
        self.deadlines: SortedList = SortedList()
        self.key_deadline: dict[int, int] = {}
        self.wm = MIN_TIMESTAMP
        self.history_depth = history_depth(nfa)
        self.history: dict[int, deque[Any]] = {}

    # -- pending events ---------------------------------------------------------------------
    def _add_pending(self, key: np.ndarray, ts: np.ndarray, gid: np.ndarray, atoms: np.ndarray,
                     cols: Mapping[str, np.ndarray]) -> None:
        if self.p_cols is None:
            self.p_cols = {k: v[:0] for k, v in cols.items()}
        self.p_key = np.concatenate([self.p_key, key])
        self.p_ts = np.concatenate([self.p_ts, ts])
        self.p_gid = np.concatenate([self.p_gid, gid])
        self.p_atoms = np.concatenate([self.p_atoms, atoms])
        self.p_cols = {k: np.concatenate([v, cols[k]]) for k, v in self.p_cols.items()}

    def buffered_events(self) -> list[tuple[int, int, int, dict[str, Any], np.ndarray]]:
        """Events waiting for the watermark, in (timestamp, arrival) order: ``(id, key, ts,
        row, atoms)``."""
        order = np.lexsort((self.p_gid, self.p_ts)).tolist()
        cols = self.p_cols or {}
        names = list(cols)
        lists = [cols[c].tolist() for c in names]
        return [(int(self.p_gid[i]), int(self.p_key[i]), int(self.p_ts[i]),
                 dict(zip(names, [lst[i] for lst in lists], strict=True)), self.p_atoms[i])
                for i in order]

    def load_buffered(self, gid: np.ndarray, key: np.ndarray, ts: np.ndarray,
                      atoms: np.ndarray, cols: Mapping[str, np.ndarray]) -> None:
        """Add restored buffered events (snapshot import)."""
        self._add_pending(np.asarray(key, np.int64), np.asarray(ts, np.int64),
                          np.asarray(gid, np.int64), np.asarray(atoms, np.bool_), cols)

    # -- helpers ----------------------------------------------------------------------------
    def _settle_key(self, key: int, ks: KeyState | None) -> None:
        old = self.key_deadline.pop(key, None)
        if old is not None:
            self.deadlines.remove((old, key))
        if ks is None:
            return
        if ks.empty():
            self.seqs[key] = ks.seq
            del self.keys[key]
            return
        d = self.engine.deadline(ks)
        if d != MAX_TIMESTAMP:
            self.key_deadline[key] = d
            self.deadlines.add((d, key))

    def _expired_keys(self, t: int) -> list[int]:
        return [k for _, k in self.deadlines.irange(maximum=(t, MAX_TIMESTAMP))]

    # -- driving ----------------------------------------------------------------------------
    def process(self, key_ids: np.ndarray, ts: np.ndarray, wms: np.ndarray | None,
                atoms: np.ndarray, columns: Mapping[str, np.ndarray], step0: int,
                ptime: int, out: Collector) -> tuple[list[int], None]:
        """Process a batch (``atoms``: simple condition masks, ``(n, n_atoms)``; ``columns``:
        the stored fields). Returns the indices of late records; outputs go to ``out``."""
        self.ptime = ptime
        n = key_ids.shape[0]
        gid = step0 + np.arange(n, dtype=np.int64)
        if not self.event_time:
            self.advance_all(ptime, step0, out)
            o = np.lexsort((gid, key_ids))
            self._walk(key_ids[o], np.full(n, ptime, np.int64), gid[o], atoms[o],
                       {k: v[o] for k, v in columns.items()}, gid[o], [ptime], [step0],
                       np.zeros(n, np.int64), out)
            return [], None
        assert wms is not None
        if n == 0:
            return [], None
        before = np.concatenate([[self.wm], wms[:-1]]).astype(np.int64)
        late = ts <= before
        keep = ~late
        if keep.any():
            self._add_pending(key_ids[keep], ts[keep], gid[keep], atoms[keep],
                              {k: v[keep] for k, v in columns.items()})
        rising = np.flatnonzero(wms > before)
        if rising.size:
            self.fire(wms[rising], gid[rising], out)
        return np.flatnonzero(late).tolist(), None

    def fire(self, wm_vals: np.ndarray, wm_steps: np.ndarray, out: Collector) -> None:
        """Watermark steps (rising values ``wm_vals`` at steps ``wm_steps``): process the ready
        events and expired windows of every key, as Flink's operator would at each step."""
        wm_end = int(wm_vals[-1])
        ready = self.p_ts <= wm_end
        idx = np.flatnonzero(ready)
        order = idx[np.lexsort((self.p_gid[idx], self.p_ts[idx], self.p_key[idx]))]
        ts = self.p_ts
        fj = np.maximum(np.searchsorted(wm_vals, ts[order], "left"),
                        np.searchsorted(wm_steps, self.p_gid[order], "left"))
        steps = wm_steps[fj]
        cols = self.p_cols or {}
        self._walk(self.p_key[order], ts[order], self.p_gid[order], self.p_atoms[order],
                   {k: v[order] for k, v in cols.items()}, steps, wm_vals.tolist(),
                   wm_steps.tolist(), fj, out)
        rest = np.flatnonzero(~ready)
        self.p_key, self.p_ts, self.p_gid = self.p_key[rest], self.p_ts[rest], self.p_gid[rest]
        self.p_atoms = self.p_atoms[rest]
        self.p_cols = {k: v[rest] for k, v in cols.items()}
        self.wm = wm_end

    def _walk(self, o_key: np.ndarray, ts: np.ndarray, gid: np.ndarray, o_atoms: np.ndarray,
              o_cols: Mapping[str, np.ndarray], steps: np.ndarray, wm_vals: list[int],
              wm_steps: list[int], fj: np.ndarray, out: Collector) -> None:
        """Process events (sorted by key, then processing order) key by key; event ``r``
        belongs to watermark step ``fj[r]`` (output step ``steps[r]``); keys whose windows
        expire at a step (values ``wm_vals`` at steps ``wm_steps``) are advanced there."""
        n = o_key.shape[0]
        if n:
            starts = np.flatnonzero(np.concatenate([[True], o_key[1:] != o_key[:-1]]))
            pos = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
        else:
            pos = np.zeros(0, np.int64)
        names = list(o_cols)
        lists: list[list[Any]] = []

        def row(r: int) -> dict[str, Any]:
            if not lists and names:
                lists.extend(o_cols[c].tolist() for c in names)
            return dict(zip(names, [lst[r] for lst in lists], strict=True))

        if self.optimize:
            ar = np.arange(n)
            a3 = self.analysis.atoms3(o_atoms, o_cols,
                                      lambda k: np.where(pos >= k, ar - k, -1))
            c3 = self.analysis.conds3(a3)
            inert = self.analysis.inert_at_start(c3).tolist()
            a_l: list[Any] = a3.tolist()
            c_l: list[Any] = c3.tolist()
        else:
            inert = [False] * n
            a_l = list(o_atoms)
            c_l = [None] * n
        k_l = o_key.tolist()
        ts_l = ts.tolist()
        g_l = gid.tolist()
        st_l = steps.tolist()
        fj_l = fj.tolist()
        touched: set[int] = set()
        i = 0
        while i < n:
            k = k_l[i]
            j = i + 1
            while j < n and k_l[j] == k:
                j += 1
            touched.add(k)
            self._walk_key(k, range(i, j), ts_l, g_l, st_l, fj_l, a_l, c_l, inert, row,
                           wm_vals, wm_steps, out)
            i = j
        last = wm_vals[-1]
        for k in sorted(set(self._expired_keys(last)) - touched):
            self._walk_key(k, range(0), ts_l, g_l, st_l, fj_l, a_l, c_l, inert, row,
                           wm_vals, wm_steps, out)
        if self.history_depth:
            for k in touched:
                h = self.history.get(k)
                if h is not None:
                    for q, x in enumerate(h):
                        if isinstance(x, int):
                            h[q] = row(x)

    def _walk_key(self, k: int, rs: range, ts_l: list[int], g_l: list[int], st_l: list[int],
                  fj_l: list[int], a_l: list[Any], c_l: list[Any], inert: list[bool],
                  row: Callable[[int], dict[str, Any]], wm_vals: list[int],
                  wm_steps: list[int], out: Collector) -> None:
        engine = self.engine
        ks = self.keys.get(k)
        seq = ks.seq if ks is not None else self.seqs.get(k, 0)
        d = engine.deadline(ks) if ks is not None else MAX_TIMESTAMP
        depth = self.history_depth
        h: deque[Any] | None = None
        if depth:
            h = self.history.get(k)
            if h is None:
                h = self.history[k] = deque(maxlen=depth)
        done = -1
        cur = -1

        def expire(limit: int) -> None:
            nonlocal ks, d, done, seq
            while ks is not None and d <= wm_vals[limit]:
                # never at a watermark step before the key's last processed events (step
                # ``cur``): Flink advances a key's time only forward from its last operation
                jj = max(bisect.bisect_left(wm_vals, d), done + 1, cur)
                if jj > limit:
                    break
                out.step = wm_steps[jj]
                engine.advance(ks, k, wm_vals[jj], out)
                done = jj
                if ks.empty():
                    seq = ks.seq
                    self.seqs[k] = seq
                    del self.keys[k]
                    ks, d = None, MAX_TIMESTAMP
                else:
                    d = engine.deadline(ks)

        for r in rs:
            fj = fj_l[r]
            if fj != cur:
                if cur >= 0:
                    expire(cur)
                if fj > 0:
                    expire(fj - 1)
                cur = fj
            if ks is None:
                if inert[r]:
                    seq += 1
                    if h is not None:
                        h.append(r)
                    continue
                ks = self.keys[k] = KeyState(seq=seq)
                d = MAX_TIMESTAMP
            t = ts_l[r]
            out.step = st_l[r]
            if d <= t:
                engine.advance(ks, k, t, out)
            cr = c_l[r]
            ev = EventIn(g_l[r], ks.seq, t, None, a_l[r], cr, partial(row, r),
                         {} if cr is not None and 2 not in cr else None)
            ks.seq += 1
            if h is not None:
                engine.history = _HistView(h, row)
                try:
                    engine.process(ks, k, ev, out)
                finally:
                    engine.history = ()
                h.append(r)
            else:
                engine.process(ks, k, ev, out)
            if ks.empty():
                seq = ks.seq
                self.seqs[k] = seq
                del self.keys[k]
                ks, d = None, MAX_TIMESTAMP
            else:
                d = engine.deadline(ks)
        if cur >= 0:
            expire(cur)
        expire(len(wm_vals) - 1)
        if ks is None:
            self.seqs[k] = seq
        self._settle_key(k, ks)

    def advance_watermark(self, wm: int, step: int, out: Collector) -> None:
        """A watermark step without a record."""
        if wm > self.wm:
            self.fire(np.asarray([wm], np.int64), np.asarray([step], np.int64), out)

    def advance_all(self, t: int, step: int, out: Collector) -> None:
        """Advance every key with an expired window to time ``t`` (processing-time timers)."""
        out.step = step
        self.ptime = t
        for k in sorted(self._expired_keys(t)):
            ks = self.keys[k]
            self.engine.advance(ks, k, t, out)
            self._settle_key(k, ks)

    def finish(self, step: int, out: Collector) -> tuple[int, None]:
        """End of input: advance to ``MAX_TIMESTAMP`` and drop what is left; return the number
        of dropped partial/pending matches."""
        if self.event_time:
            self.advance_watermark(MAX_TIMESTAMP, step, out)
        else:
            self.advance_all(MAX_TIMESTAMP, step, out)
        dropped = 0
        for k, ks in list(self.keys.items()):
            for p in ks.partials + ks.completed:
                self.buffer.release(p.node)
                dropped += 1
            ks.partials.clear()
            ks.completed.clear()
            self._settle_key(k, ks)
        return dropped, None

    # -- introspection ----------------------------------------------------------------------
    def state_size(self) -> dict[str, int]:
        """Live state counters (see :meth:`cep.CepOperator.state_size`)."""
        return {
            "keys": len(self.keys),
            "partial_matches": sum(len(ks.partials) for ks in self.keys.values()),
            "pending_matches": sum(len(ks.completed) for ks in self.keys.values()),
            "buffered_events": int(self.p_key.shape[0]),
            "stored_events": len(self.buffer.events),
            "buffer_nodes": len(self.buffer.nodes),
        }

    def for_each_key(self, fn: Callable[[int, KeyState], None]) -> None:
        """Call ``fn(key, state)`` for every key with live state, in key order."""
        for k in sorted(self.keys):
            fn(k, self.keys[k])

    # -- snapshot ---------------------------------------------------------------------------
    def export_state(self, schema: Mapping[str, np.dtype[Any]]) -> dict[str, Any]:
        """The engine-neutral state tree (see :mod:`cep.state`)."""
        from cep._ref_state import export_ref
        return export_ref(self, schema)

    def import_state(self, state: Mapping[str, Any],
                     schema: Mapping[str, np.dtype[Any]]) -> None:
        """Load a tree from :meth:`export_state` (of either runtime) into this fresh one."""
        from cep._ref_state import import_ref
        import_ref(self, state, schema)
