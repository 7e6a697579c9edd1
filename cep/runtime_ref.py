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

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from sortedcontainers import SortedList

from cep.buffer import SharedBuffer, StoredEvent, _Node
from cep.engine import EventIn, KeyState, Partial, ReferenceEngine, Rows
from cep.nfa import NFA
from cep.state import decode_columns, encode_columns, records
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


class ReferenceRuntime:
    """Per-record event-time / processing-time driver of the reference engine.

    Parameters
    ----------
    nfa : NFA
    event_time : bool
        Event-time (True) or processing-time (False) mode.
    """

    def __init__(self, nfa: NFA, event_time: bool) -> None:
        self.nfa = nfa
        self.event_time = event_time
        self.buffer = SharedBuffer()
        self.ptime = 0
        self.engine = ReferenceEngine(nfa, self.buffer, lambda: self.ptime)
        self.keys: dict[int, KeyState] = {}
        self.seqs: dict[int, int] = {}
        self.pending: SortedList = SortedList()
        self.pending_data: dict[int, tuple[int, int, Mapping[str, Any], np.ndarray]] = {}
        self.deadlines: SortedList = SortedList()
        self.key_deadline: dict[int, int] = {}
        self.wm = MIN_TIMESTAMP
        self.history_depth = history_depth(nfa)
        self.history: dict[int, deque[Mapping[str, Any]]] = {}

    # -- helpers ----------------------------------------------------------------------------
    def _state(self, key: int) -> KeyState:
        ks = self.keys.get(key)
        if ks is None:
            ks = self.keys[key] = KeyState(seq=self.seqs.get(key, 0))
        return ks

    def _settle_key(self, key: int, ks: KeyState) -> None:
        old = self.key_deadline.pop(key, None)
        if old is not None:
            self.deadlines.remove((old, key))
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

    def _process_event(self, key: int, ks: KeyState, eid: int, ts: int,
                       row: Mapping[str, Any], atoms: np.ndarray, out: Collector) -> None:
        ev = EventIn(eid, ks.seq, ts, row, atoms)
        ks.seq += 1
        if not self.history_depth:
            self.engine.process(ks, key, ev, out)
            return
        h = self.history.get(key)
        if h is None:
            h = self.history[key] = deque(maxlen=self.history_depth)
        self.engine.history = h
        try:
            self.engine.process(ks, key, ev, out)
        finally:
            self.engine.history = ()
        h.append(row)

    # -- driving ----------------------------------------------------------------------------
    def process(self, key_ids: np.ndarray, ts: np.ndarray, wms: np.ndarray | None,
                atoms: np.ndarray, columns: Mapping[str, np.ndarray], step0: int,
                ptime: int, out: Collector) -> tuple[list[int], None]:
        """Process a batch (``atoms``: simple condition masks, ``(n, n_atoms)``; ``columns``:
        the stored fields). Returns the indices of late records; outputs go to ``out``."""
        self.ptime = ptime
        keys = key_ids.tolist()
        names = list(columns)
        rows: Sequence[Mapping[str, Any]] = [
            dict(zip(names, vals, strict=True))
            for vals in zip(*[columns[c].tolist() for c in names], strict=True)
        ] if names else [{} for _ in keys]
        late: list[int] = []
        if not self.event_time:
            self.advance_all(ptime, step0, out)
            for i, k in enumerate(keys):
                out.step = step0 + i
                ks = self._state(k)
                self.engine.advance(ks, k, ptime, out)
                self._process_event(k, ks, step0 + i, ptime, rows[i], atoms[i], out)
                self._settle_key(k, ks)
            return late, None
        assert wms is not None
        tsl = ts.tolist()
        wml = wms.tolist()
        for i, k in enumerate(keys):
            g = step0 + i
            t = tsl[i]
            if t <= self.wm:
                late.append(i)
            else:
                self.pending.add((t, g))
                self.pending_data[g] = (k, t, rows[i], atoms[i])
            if wml[i] > self.wm:
                self.wm = wml[i]
                self.fire(g, self.wm, out)
        return late, None

    def fire(self, step: int, wm: int, out: Collector) -> None:
        """One watermark step: process ready events and expired windows of every key."""
        out.step = step
        ready: dict[int, list[int]] = {}
        while self.pending and self.pending[0][0] <= wm:
            _, g = self.pending.pop(0)
            ready.setdefault(self.pending_data[g][0], []).append(g)
        keys = set(ready)
        keys.update(self._expired_keys(wm))
        for k in sorted(keys):
            ks = self._state(k)
            for g in ready.get(k, ()):
                _, t, row, atoms = self.pending_data.pop(g)
                self.engine.advance(ks, k, t, out)
                self._process_event(k, ks, g, t, row, atoms, out)
            self.engine.advance(ks, k, wm, out)
            self._settle_key(k, ks)

    def advance_watermark(self, wm: int, step: int, out: Collector) -> None:
        """A watermark step without a record."""
        if wm > self.wm:
            self.wm = wm
            self.fire(step, wm, out)

    def advance_all(self, t: int, step: int, out: Collector) -> None:
        """Advance every key with an expired window to time ``t`` (processing-time timers)."""
        out.step = step
        self.ptime = t
        for k in sorted(self._expired_keys(t)):
            ks = self._state(k)
            self.engine.advance(ks, k, t, out)
            self._settle_key(k, ks)

    def finish(self, step: int, out: Collector) -> tuple[int, None]:
        """End of input: advance to ``MAX_TIMESTAMP`` and drop what is left; return the number
        of dropped partial/pending matches."""
        if self.event_time:
            self.wm = MAX_TIMESTAMP
            self.fire(step, MAX_TIMESTAMP, out)
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
            "buffered_events": len(self.pending),
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

        def cols(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
            arrays = {}
            for k, dt in schema.items():
                arr = np.empty(len(rows), dt)
                arr[:] = [r[k] for r in rows]
                arrays[k] = arr
            return encode_columns(arrays)

        ev_ids = sorted(self.buffer.events)
        evs = [self.buffer.events[i] for i in ev_ids]
        node_ids = sorted(self.buffer.nodes)
        renum = {old: new for new, old in enumerate(node_ids)}
        nodes = [self.buffer.nodes[i] for i in node_ids]
        pm: dict[str, list[list[int]]] = {"partials": [], "completed": []}
        for k in sorted(self.keys):
            ks = self.keys[k]
            for part, items in (("partials", ks.partials), ("completed", ks.completed)):
                for p in items:
                    pm[part].append([k, p.state, renum.get(p.node, -1), p.start_ts, p.prev_ts,
                                     p.start_seq])
        seqs = dict(self.seqs)
        for k, ks in self.keys.items():
            seqs[k] = ks.seq
        buffered = [(g, *self.pending_data[g]) for _, g in self.pending]
        n_atoms = len(self.nfa.atoms)

        def table(rows: list[list[int]]) -> dict[str, np.ndarray]:
            arr = np.asarray(rows, np.int64).reshape(-1, 6)
            return dict(zip(("key", "state", "node", "start_ts", "prev_ts", "start_seq"),
                            arr.T.copy(), strict=True))

        hist_keys = sorted(self.history)
        hist_rows = [r for k in hist_keys for r in self.history[k]]
        return {
            "history": {"key": np.asarray([k for k in hist_keys for _ in self.history[k]],
                                          np.int64),
                        "columns": cols(hist_rows)},
            "events": {"id": np.asarray(ev_ids, np.int64),
                       "seq": np.asarray([e.seq for e in evs], np.int64),
                       "ts": np.asarray([e.ts for e in evs], np.int64),
                       "columns": cols([e.row for e in evs])},
            "nodes": {"id": np.arange(len(nodes), dtype=np.int64),
                      "stage": np.asarray([n.stage for n in nodes], np.int64),
                      "event": np.asarray([n.event for n in nodes], np.int64),
                      "parent": np.asarray([renum[n.parent] if n.parent >= 0 else -1
                                            for n in nodes], np.int64)},
            "partials": table(pm["partials"]),
            "completed": table(pm["completed"]),
            "seqs": {"key": np.asarray(sorted(seqs), np.int64),
                     "seq": np.asarray([seqs[k] for k in sorted(seqs)], np.int64)},
            "buffered": {"id": np.asarray([b[0] for b in buffered], np.int64),
                         "key": np.asarray([b[1] for b in buffered], np.int64),
                         "ts": np.asarray([b[2] for b in buffered], np.int64),
                         "atoms": np.asarray([b[4] for b in buffered], np.bool_).reshape(
                             len(buffered), n_atoms),
                         "columns": cols([b[3] for b in buffered])},
            "wm": self.wm,
            "ptime": self.ptime,
        }

    def import_state(self, state: Mapping[str, Any],
                     schema: Mapping[str, np.dtype[Any]]) -> None:
        """Load a tree from :meth:`export_state` (of either runtime) into this fresh one."""
        names = list(schema)

        def rows(obj: Mapping[str, Any], n: int) -> list[dict[str, Any]]:
            cols = decode_columns(obj, schema, n)
            lists = [cols[c].tolist() for c in names]
            return [dict(zip(names, vals, strict=True)) for vals in zip(*lists, strict=True)
                    ] if names else [{} for _ in range(n)]

        ev = state["events"]
        ne = len(ev["id"])
        e = records(ne, id=ev["id"], seq=ev["seq"], ts=ev["ts"])
        for i, row in enumerate(rows(ev["columns"], ne)):
            self.buffer.events[int(e["id"][i])] = StoredEvent(int(e["seq"][i]),
                                                              int(e["ts"][i]), row)
        nd = state["nodes"]
        nn = len(nd["id"])
        n = records(nn, id=nd["id"], stage=nd["stage"], event=nd["event"],
                    parent=nd["parent"])
        for i in range(nn):
            node = _Node(int(n["stage"][i]), int(n["event"][i]), int(n["parent"][i]))
            self.buffer.nodes[int(n["id"][i])] = node
            self.buffer.events[node.event].refs += 1
            if node.parent >= 0:
                self.buffer.nodes[node.parent].refs += 1
        self.buffer._next_node = nn
        for part in ("partials", "completed"):
            t = state[part]
            m = len(t["key"])
            r = records(m, **{f: t[f] for f in ("key", "state", "node", "start_ts",
                                                 "prev_ts", "start_seq")})
            for i in range(m):
                k = int(r["key"][i])
                ks = self.keys.get(k)
                if ks is None:
                    ks = self.keys[k] = KeyState()
                p = Partial(int(r["state"][i]), int(r["node"][i]), int(r["start_ts"][i]),
                            int(r["prev_ts"][i]), int(r["start_seq"][i]))
                self.buffer.lock(p.node)
                (ks.partials if part == "partials" else ks.completed).append(p)
        sq = state["seqs"]
        for k, q in zip(np.asarray(sq["key"]).tolist(), np.asarray(sq["seq"]).tolist(),
                        strict=True):
            if k in self.keys:
                self.keys[k].seq = q
            else:
                self.seqs[k] = q
        b = state["buffered"]
        nb = len(b["id"])
        r = records(nb, id=b["id"], key=b["key"], ts=b["ts"])
        atoms = np.asarray(b["atoms"], np.bool_).reshape(nb, len(self.nfa.atoms))
        for i, row in enumerate(rows(b["columns"], nb)):
            g, t = int(r["id"][i]), int(r["ts"][i])
            self.pending.add((t, g))
            self.pending_data[g] = (int(r["key"][i]), t, row, atoms[i].copy())
        self.wm = int(state["wm"])
        self.ptime = int(state["ptime"])
        hist = state.get("history")
        if hist is not None and self.history_depth:
            nh = len(hist["key"])
            hk = np.asarray(hist["key"], np.int64).tolist()
            for k, row in zip(hk, rows(hist["columns"], nh), strict=True):
                h = self.history.get(k)
                if h is None:
                    h = self.history[k] = deque(maxlen=self.history_depth)
                h.append(row)
        for k, ks in list(self.keys.items()):
            self._settle_key(k, ks)
