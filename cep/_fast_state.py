"""Snapshot export/import of the fast runtime's pools (engine-neutral form, see
:mod:`cep.state`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cep import _nfa_layout as K
from cep.runtime_fast import FastRuntime
from cep.state import decode_columns, encode_columns, records
from windows.time import MAX_TIMESTAMP

__all__ = ["export_fast", "import_fast"]

_I64 = np.int64


def export_fast(rt: FastRuntime, schema: Mapping[str, np.dtype[Any]]) -> dict[str, Any]:
    """The engine-neutral state tree of a fast runtime (see :mod:`cep.state`)."""
    ev, nd, pm, ks = rt.ev, rt.nd, rt.pm, rt.ks
    slots = np.flatnonzero(ev[:, K.EV_REFS] > 0)
    slots = slots[np.argsort(ev[slots, K.EV_GID], kind="stable")]
    nodes = np.flatnonzero(nd[:, K.ND_REFS] > 0)
    depth: dict[int, int] = {}
    for i in nodes.tolist():
        chain = []
        j = i
        while j >= 0 and j not in depth:
            chain.append(j)
            j = int(nd[j, K.ND_PARENT])
        base = depth[j] if j >= 0 else -1
        for x in reversed(chain):
            base += 1
            depth[x] = base
    nodes = np.asarray(sorted(nodes.tolist(), key=lambda i: (depth[i], i)), _I64)
    renum = np.full(nd.shape[0], -1, _I64)
    renum[nodes] = np.arange(nodes.shape[0], dtype=_I64)
    parents = nd[nodes, K.ND_PARENT]
    tables: dict[str, list[list[int]]] = {"partials": [], "completed": []}
    for k in range(ks.shape[0]):
        for part, col in (("partials", K.K_HEAD), ("completed", K.K_CHEAD)):
            p = int(ks[k, col])
            while p != -1:
                node = int(pm[p, K.PM_NODE])
                tables[part].append([k, int(pm[p, K.PM_STATE]),
                                     int(renum[node]) if node >= 0 else -1,
                                     int(pm[p, K.PM_START_TS]), int(pm[p, K.PM_PREV_TS]),
                                     int(pm[p, K.PM_START_SEQ])])
                p = int(pm[p, K.PM_NEXT])

    def table(rows: list[list[int]]) -> dict[str, np.ndarray]:
        arr = np.asarray(rows, _I64).reshape(-1, 6)
        return dict(zip(("key", "state", "node", "start_ts", "prev_ts", "start_seq"),
                        arr.T.copy(), strict=True))

    seq_keys = np.flatnonzero(ks[:, K.K_SEQ] > 0) if ks.shape[0] else np.empty(0, _I64)
    order = np.lexsort((rt.p_gid, rt.p_ts))
    cols = {k: rt.store[k][slots] for k in schema} if rt.store else {
        k: np.empty(0, v) for k, v in schema.items()}
    return {
        "events": {"id": ev[slots, K.EV_GID].copy(), "seq": ev[slots, K.EV_SEQ].copy(),
                   "ts": ev[slots, K.EV_TS].copy(), "columns": encode_columns(cols)},
        "nodes": {"id": np.arange(nodes.shape[0], dtype=_I64),
                  "stage": nd[nodes, K.ND_STAGE].copy(),
                  "event": ev[nd[nodes, K.ND_SLOT], K.EV_GID].copy(),
                  "parent": np.where(parents >= 0, renum[np.maximum(parents, 0)], -1)},
        "partials": table(tables["partials"]),
        "completed": table(tables["completed"]),
        "seqs": {"key": seq_keys.astype(_I64), "seq": ks[seq_keys, K.K_SEQ].copy()},
        "buffered": {"id": rt.p_gid[order], "key": rt.p_key[order],
                     "ts": rt.p_ts[order], "atoms": rt.p_atoms[order],
                     "columns": encode_columns({k: v[order]
                                                for k, v in rt.p_cols.items()})
                     if rt.p_cols else encode_columns(
                         {k: np.empty(0, v) for k, v in schema.items()})},
        "wm": rt.wm,
        "ptime": rt.ptime,
    }

def import_fast(rt: FastRuntime, state: Mapping[str, Any],
                schema: Mapping[str, np.dtype[Any]]) -> None:
    """Load a tree (from either runtime) into a fresh fast runtime."""
    if schema:
        rt._set_schema({k: np.empty(0, v) for k, v in schema.items()})
    c = rt.ctr
    evt = state["events"]
    ne = len(evt["id"])
    e = records(ne, id=evt["id"], seq=evt["seq"], ts=evt["ts"])
    c[K.C_NEED_EV] = ne
    c[K.C_NEED_PM] = c[K.C_NEED_ND] = c[K.C_NEED_ALOG] = c[K.C_NEED_OUT] = 0
    c[K.C_NEED_ROWS] = 0
    nodes = state["nodes"]
    nn = len(nodes["id"])
    c[K.C_NEED_ND] = nn
    n_pm = len(state["partials"]["key"]) + len(state["completed"]["key"])
    c[K.C_NEED_PM] = n_pm
    rt._grow()
    slot_of: dict[int, int] = {}
    cols = decode_columns(evt["columns"], schema, ne)
    for i in range(ne):
        s = int(c[K.C_EV_FREE])
        c[K.C_EV_FREE] = rt.ev[s, K.EV_NEXT]
        c[K.C_EV_USED] += 1
        rt.ev[s] = (e["seq"][i], e["ts"][i], 0, e["id"][i], -1)
        slot_of[int(e["id"][i])] = s
        for k, v in rt.store.items():
            v[s] = cols[k][i]
    n = records(nn, id=nodes["id"], stage=nodes["stage"], event=nodes["event"],
                parent=nodes["parent"])
    node_of: dict[int, int] = {}
    for i in range(nn):
        x = int(c[K.C_ND_FREE])
        c[K.C_ND_FREE] = rt.nd[x, K.ND_PARENT]
        c[K.C_ND_USED] += 1
        parent = int(n["parent"][i])
        px = node_of[parent] if parent >= 0 else -1
        slot = slot_of[int(n["event"][i])]
        rt.nd[x] = (slot, n["stage"][i], px, 0)
        rt.ev[slot, K.EV_REFS] += 1
        if px >= 0:
            rt.nd[px, K.ND_REFS] += 1
        node_of[int(n["id"][i])] = x
    keys = [np.asarray(state[p]["key"], _I64) for p in ("partials", "completed")]
    sq = state["seqs"]
    seq_keys = np.asarray(sq["key"], _I64)
    top = max([int(a.max()) + 1 for a in (*keys, seq_keys) if a.size] + [0])
    rt._ensure_keys(top)
    rt.ks[seq_keys, K.K_SEQ] = np.asarray(sq["seq"], _I64)
    lists: tuple[tuple[str, int, int, int], ...] = (
        ("partials", K.K_HEAD, K.K_TAIL, K.K_COUNT),
        ("completed", K.K_CHEAD, -1, K.K_CCOUNT))
    for part, head, tail, count in lists:
        t = state[part]
        m = len(t["key"])
        r = records(m, **{f: t[f] for f in ("key", "state", "node", "start_ts",
                                             "prev_ts", "start_seq")})
        last: dict[int, int] = {}
        for i in range(m):
            q = int(c[K.C_PM_FREE])
            c[K.C_PM_FREE] = rt.pm[q, K.PM_NEXT]
            c[K.C_PM_USED] += 1
            node = int(r["node"][i])
            x = node_of[node] if node >= 0 else -1
            length = 0
            j = x
            while j >= 0:
                length += 1
                j = int(rt.nd[j, K.ND_PARENT])
            rt.pm[q] = (r["state"][i], x, r["start_ts"][i], r["prev_ts"][i],
                          r["start_seq"][i], -1, length)
            kk = int(r["key"][i])
            if length > rt.ks[kk, K.K_MAXLEN]:
                rt.ks[kk, K.K_MAXLEN] = length
            if x >= 0:
                rt.nd[x, K.ND_REFS] += 1
            key = int(r["key"][i])
            if key in last:
                rt.pm[last[key], K.PM_NEXT] = q
            else:
                rt.ks[key, head] = q
            last[key] = q
            rt.ks[key, count] += 1
            if tail >= 0:
                rt.ks[key, tail] = q
    b = state["buffered"]
    nb = len(b["id"])
    rb = records(nb, id=b["id"], key=b["key"], ts=b["ts"])
    rt.p_gid, rt.p_key, rt.p_ts = rb["id"], rb["key"], rb["ts"]
    rt.p_atoms = np.asarray(b["atoms"], np.bool_).reshape(nb, len(rt.nfa.atoms))
    rt.p_cond = rt._cond(rt.p_atoms)
    rt.p_cols = decode_columns(b["columns"], schema, nb)
    if nb:
        rt._ensure_keys(int(rt.p_key.max()) + 1)
    rt.wm = int(state["wm"])
    rt.ptime = int(state["ptime"])
    _refresh_deadlines(rt)

def _refresh_deadlines(rt: FastRuntime) -> None:
    w = rt.nfa.window
    pw = rt._t[6]
    for k in range(rt.ks.shape[0]):
        d = MAX_TIMESTAMP
        p = int(rt.ks[k, K.K_HEAD])
        while p != -1:
            if w:
                d = min(d, int(rt.pm[p, K.PM_START_TS]) + w)
            g = int(pw[rt.pm[p, K.PM_STATE]])
            if g:
                d = min(d, int(rt.pm[p, K.PM_PREV_TS]) + g)
            p = int(rt.pm[p, K.PM_NEXT])
        rt.ks[k, K.K_DEADLINE] = d if d == MAX_TIMESTAMP else min(d, MAX_TIMESTAMP - 1)
