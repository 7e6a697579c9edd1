"""Snapshot export and import of the reference runtime (the tree of :mod:`cep.state`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cep.buffer import StoredEvent, _Node
from cep.engine import KeyState, Partial
from cep.state import decode_columns, encode_columns, records

if TYPE_CHECKING:
    from cep.runtime_ref import ReferenceRuntime

__all__ = ["export_ref", "import_ref"]


def export_ref(self: ReferenceRuntime,
               schema: Mapping[str, np.dtype[Any]]) -> dict[str, Any]:
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
    buffered = self.buffered_events()
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

def import_ref(self: ReferenceRuntime, state: Mapping[str, Any],
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
    self.load_buffered(r["id"], r["key"], r["ts"], atoms,
                       decode_columns(b["columns"], schema, nb))
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
