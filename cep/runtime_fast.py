"""Fast runtime: vectorised event-time buffering plus the Numba NFA kernel.

Per batch, in event time: late records (timestamp ``<=`` the watermark before them) are found
with one comparison; the others join the pending buffer (arrays). Events whose timestamp the
batch's final watermark has reached become ready and are stable-sorted by (key, timestamp,
arrival); the kernel then walks each key's ready events and expired windows in time order,
advancing the key's time exactly at the watermark values Flink's operator would have fired on
(so results equal the record-by-record reference runtime, however the input is batched). In
processing time, expired windows are advanced first, then every record is processed at the
batch's processing time.

Each call also passes the kernel per-event shortcut bits (:mod:`cep._shortcuts`, computed
vectorised from the condition table) so that it can skip events that change nothing.

The kernel's pools and buffers are grown here when it reports it needs more room.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from cep import _nfa_layout as K
from cep._kernels import nfa_run, order_by_time
from cep._shortcuts import ShortcutPlan, shortcut_bits
from cep.errors import SkipToElementError
from cep.nfa import FINAL, NFA, PROCEED
from cep.outputs import MatchTable
from cep.runtime_ref import Collector
from windows._jit import KERNELS
from windows.time import MAX_TIMESTAMP, MIN_TIMESTAMP

__all__ = ["FastRuntime"]

_I64 = np.int64


def _edge_bounds(nfa: NFA) -> tuple[np.ndarray, int]:
    """Per state, the most TAKE/IGNORE edges one event can enable through PROCEED closure
    (counting every path), and the largest depth-first stack needed."""
    n = len(nfa.states)
    edges = np.zeros(n, _I64)
    visits = np.zeros(n, _I64)
    done = np.zeros(n, np.bool_)

    def solve(s: int) -> None:
        if done[s]:
            return
        e, v = 0, 1
        for tr in nfa.states[s].transitions:
            if tr.action == PROCEED:
                solve(tr.target)
                e += int(edges[tr.target])
                v += int(visits[tr.target])
            else:
                e += 1
        edges[s], visits[s], done[s] = e, v, True

    for s in range(n):
        solve(s)
    return edges, int(visits.max()) if n else 1


def _grow_pool(a: np.ndarray, need: int, next_col: int, ctr: np.ndarray,
               free_idx: int) -> np.ndarray:
    """Grow a pool with a free list chained through ``next_col``."""
    old = a.shape[0]
    if need <= old:
        return a
    new = max(need, 2 * old, 64)
    b = np.zeros((new, a.shape[1]), _I64)
    b[:old] = a
    idx = np.arange(old, new, dtype=_I64)
    b[old:, next_col] = idx + 1
    b[new - 1, next_col] = ctr[free_idx]
    ctr[free_idx] = old
    return b


def _grow_rows(a: np.ndarray, need: int) -> np.ndarray:
    if need <= a.shape[0]:
        return a
    b = np.zeros((max(need, 2 * a.shape[0], 64), a.shape[1]), _I64)
    b[: a.shape[0]] = a
    return b


def _stable_time_order(ts: np.ndarray) -> np.ndarray:
    """Indices ordering ``ts`` by value, ties in index order (counting sort when the range is
    small, else a stable comparison sort)."""
    n = ts.shape[0]
    if n == 0:
        return np.empty(0, _I64)
    t0 = int(ts.min())
    span = int(ts.max()) - t0
    if span > 4 * n + 1024:
        return np.argsort(ts, kind="stable")
    out = np.empty(n, _I64)
    order_by_time(ts, t0, np.zeros(span + 2, _I64), out)
    return out


class _Gather(Mapping[str, np.ndarray]):
    """Columns seen through an index, gathered only for the rows asked for."""

    def __init__(self, cols: Mapping[str, np.ndarray], index: np.ndarray) -> None:
        self.cols = cols
        self.index = index

    def __getitem__(self, key: str) -> np.ndarray:
        return _Rows(self.cols[key], self.index)  # type: ignore[return-value]

    def __iter__(self) -> Any:
        return iter(self.cols)

    def __len__(self) -> int:
        return len(self.cols)


class _Rows:
    """``col[index[rows]]`` without materialising ``col[index]``."""

    def __init__(self, col: np.ndarray, index: np.ndarray) -> None:
        self.col = col
        self.index = index

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        return self.col[self.index[rows]]


class FastRuntime:
    """Vectorised driver of the Numba kernel (see the module docstring).

    Parameters
    ----------
    nfa : NFA
        A pattern without iterative conditions.
    event_time : bool
    kernel : callable, optional
        The kernel implementation (default: the compiled one; tests pass its pure-Python twin).
    """

    def __init__(self, nfa: NFA, event_time: bool,
                 kernel: Callable[..., int] | None = None) -> None:
        self.nfa = nfa
        self.event_time = event_time
        self.kernel = kernel if kernel is not None else nfa_run
        arr = nfa.arrays()
        self._t = (arr["trans_start"], arr["trans_action"], arr["trans_target"],
                   arr["trans_cond"], arr["state_kind"], arr["state_stage"],
                   arr["state_prev_window"])
        self._edges, stack = _edge_bounds(nfa)
        self._plan = ShortcutPlan.of(nfa)
        self._final = next(s.id for s in nfa.states if s.kind == FINAL)
        max_e = int(self._edges.max()) if len(self._edges) else 1
        self._max_e = max_e
        self._stk = np.zeros(max(stack, 1) + 1, _I64)
        self._stk2 = np.zeros(max(stack, 1) + 1, _I64)
        self._res = np.zeros(2 * max_e + 2, _I64)
        self.ctr = np.zeros(K.CTR_SIZE, _I64)
        self.ctr[K.C_PM_FREE] = self.ctr[K.C_ND_FREE] = self.ctr[K.C_EV_FREE] = -1
        self.ctr[K.C_RESUME_R] = -1
        self.pm = _grow_pool(np.zeros((0, K.PM_FIELDS), _I64), 256, K.PM_NEXT, self.ctr,
                             K.C_PM_FREE)
        self.nd = _grow_pool(np.zeros((0, K.ND_FIELDS), _I64), 256, K.ND_PARENT, self.ctr,
                             K.C_ND_FREE)
        self.ev = _grow_pool(np.zeros((0, K.EV_FIELDS), _I64), 256, K.EV_NEXT, self.ctr,
                             K.C_EV_FREE)
        self.pend = np.zeros(self.ev.shape[0], _I64)
        self.alog = np.zeros((256, 2), _I64)
        self.om = np.zeros((64, K.O_FIELDS), _I64)
        self.orow = np.zeros((256, 2), _I64)
        self.ks = np.zeros((0, K.K_FIELDS), _I64)
        self.store: dict[str, np.ndarray] = {}
        self.schema: dict[str, np.dtype[Any]] = {}
        n_atoms = len(nfa.atoms)
        self.p_key = np.empty(0, _I64)
        self.p_ts = np.empty(0, _I64)
        self.p_gid = np.empty(0, _I64)
        self.p_atoms = np.empty((0, n_atoms), np.bool_)
        self.p_cond = np.empty((0, len(nfa.conditions)), np.bool_)
        self.p_cols: dict[str, np.ndarray] = {}
        self.wm = MIN_TIMESTAMP
        self.ptime = 0

    def _cond(self, atoms: np.ndarray) -> np.ndarray:
        """Values of every transition condition for events with these atom values."""
        if atoms.shape[0]:
            return self.nfa.cond_table(atoms)
        return np.zeros((0, len(self.nfa.conditions)), np.bool_)

    # -- storage --------------------------------------------------------------------------
    def _set_schema(self, cols: Mapping[str, np.ndarray]) -> None:
        if not self.schema:
            self.schema = {k: v.dtype for k, v in cols.items()}
            self.store = {k: np.empty(self.ev.shape[0], v) for k, v in self.schema.items()}
            self.p_cols = {k: np.empty(0, v) for k, v in self.schema.items()}

    def _ensure_keys(self, n_keys: int) -> None:
        old = self.ks.shape[0]
        if n_keys > old:
            new = max(n_keys, 2 * old, 64)
            ks = np.zeros((new, K.K_FIELDS), _I64)
            ks[:old] = self.ks
            ks[old:, [K.K_HEAD, K.K_TAIL, K.K_CHEAD, K.K_QSTART]] = -1
            ks[old:, K.K_DEADLINE] = MAX_TIMESTAMP
            self.ks = ks

    def _grow(self) -> None:
        c = self.ctr
        self.pm = _grow_pool(self.pm, int(c[K.C_NEED_PM]), K.PM_NEXT, c, K.C_PM_FREE)
        self.nd = _grow_pool(self.nd, int(c[K.C_NEED_ND]), K.ND_PARENT, c, K.C_ND_FREE)
        old = self.ev.shape[0]
        self.ev = _grow_pool(self.ev, int(c[K.C_NEED_EV]), K.EV_NEXT, c, K.C_EV_FREE)
        if self.ev.shape[0] != old:
            pend = np.zeros(self.ev.shape[0], _I64)
            pend[: self.pend.shape[0]] = self.pend
            self.pend = pend
            for k, v in list(self.store.items()):
                s = np.empty(self.ev.shape[0], v.dtype)
                s[:old] = v
                self.store[k] = s
        self.alog = _grow_rows(self.alog, int(c[K.C_NEED_ALOG]))
        self.om = _grow_rows(self.om, int(c[K.C_NEED_OUT]))
        self.orow = _grow_rows(self.orow, int(c[K.C_NEED_ROWS]))

    def _release_pending(self) -> None:
        n = int(self.ctr[K.C_PEND])
        if n:
            slots = self.pend[:n]
            self.ev[slots[:-1], K.EV_NEXT] = slots[1:]
            self.ev[slots[-1], K.EV_NEXT] = self.ctr[K.C_EV_FREE]
            self.ev[slots, K.EV_REFS] = 0
            self.ctr[K.C_EV_FREE] = slots[0]
            self.ctr[K.C_PEND] = 0

    # -- the kernel -------------------------------------------------------------------------
    def _run(self, e_key: np.ndarray, e_ts: np.ndarray, e_gid: np.ndarray,
             e_step: np.ndarray, cond: np.ndarray, e_order: np.ndarray,
             e_cols: Mapping[str, Any], wm_vals: np.ndarray, wm_steps: np.ndarray,
             t_end: int, out: Collector) -> tuple[MatchTable, MatchTable]:
        """Run the kernel over the events ``e_*[e_order]`` (in time, then arrival order;
        ``e_step`` empty to derive the steps from the watermarks). ``cond`` holds the
        transition conditions of each event; ``e_cols[c][r]`` the fields of ``e_order[r]``."""
        nfa = self.nfa
        if self.ks.shape[0]:
            due = np.flatnonzero(self.ks[:, K.K_DEADLINE] <= t_end).astype(_I64)
        else:
            due = np.empty(0, _I64)
        touched = np.empty(e_order.shape[0] + due.shape[0] + 1, _I64)
        e_slot = np.full(e_order.shape[0], -1, _I64)
        c = self.ctr
        c[K.C_RESUME_W] = c[K.C_RESUME_R] = c[K.C_PHASE] = c[K.C_NTOUCHED] = 0
        c[K.C_CALL] += 1
        c[K.C_ORDER] = out.order
        skip = nfa.skip
        fast = shortcut_bits(self._plan, cond)
        while True:
            status = self.kernel(
                *self._t, self._edges, self._max_e, nfa.start, self._final, nfa.window, skip.code,
                nfa.skip_stage_index(), skip.throw_on_miss, out.keep_timeouts, e_key, e_ts,
                e_gid, e_step, cond, fast, e_order, e_slot, due, touched, wm_vals, wm_steps,
                t_end,
                self.pm, self.nd, self.ev, self.ks, c, self.pend, self.alog, self._stk, self._stk2,
                self._res, self.om, self.orow)
            if status == K.NEED_CAPACITY:
                self._grow()
                continue
            break
        if status == K.SKIP_MISSING_STAGE:
            raise SkipToElementError(f"could not skip to {skip.stage!r}: the match has no "
                                     "event for it")
        if status == K.SKIP_FIRST_ELEMENT:
            raise SkipToElementError(f"could not skip to the first element of a match "
                                     f"({skip!r})")
        out.order = int(c[K.C_ORDER])
        n_alog = int(c[K.C_ALOG])
        if n_alog:
            slots, rs = self.alog[:n_alog, 0], self.alog[:n_alog, 1]
            for k, v in self.store.items():
                v[slots] = e_cols[k][rs]
        tables = self._tables(out.keep_timeouts)
        c[K.C_ALOG] = c[K.C_OUT] = c[K.C_ROWS] = 0
        self._release_pending()
        return tables

    def _tables(self, keep_timeouts: bool) -> tuple[MatchTable, MatchTable]:
        n = int(self.ctr[K.C_OUT])
        om = self.om[:n]
        ends = om[:, K.O_ROWEND]
        starts = np.concatenate([[0], ends[:-1]]).astype(_I64) if n else ends
        order = np.lexsort((om[:, K.O_ORDER], om[:, K.O_KEY], om[:, K.O_STEP]))
        out = []
        for kind in (0, 1):
            sel = order[om[order, K.O_KIND] == kind]
            if kind == 1 and not keep_timeouts:
                sel = sel[:0]
            out.append(self._table(om[sel], starts[sel], ends[sel], kind == 1))
        return out[0], out[1]

    def _table(self, om: np.ndarray, starts: np.ndarray, ends: np.ndarray,
               timeouts: bool) -> MatchTable:
        if not om.shape[0]:
            return MatchTable.empty(self.nfa.stage_names, self.schema, timeouts)
        lens = ends - starts
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(_I64)
        rows = np.repeat(starts - offsets[:-1], lens) + np.arange(int(offsets[-1]))
        stage = self.orow[rows, 0].copy()
        slots = self.orow[rows, 1]
        return MatchTable(om[:, K.O_KEY].copy(), om[:, K.O_T].copy(), offsets, stage,
                          self.ev[slots, K.EV_TS].copy(),
                          {k: v[slots] for k, v in self.store.items()},
                          self.nfa.stage_names, om[:, K.O_TTS].copy() if timeouts else None)

    # -- driving ----------------------------------------------------------------------------
    def process(self, key_ids: np.ndarray, ts: np.ndarray, wms: np.ndarray | None,
                atoms: np.ndarray, columns: Mapping[str, np.ndarray], step0: int,
                ptime: int, out: Collector) -> tuple[np.ndarray, tuple[MatchTable, MatchTable]]:
        """Process a batch; return the indices of late records and the output tables."""
        self._set_schema(columns)
        n = key_ids.shape[0]
        self._ensure_keys(int(key_ids.max()) + 1 if n else 0)
        self.ptime = ptime
        if not self.event_time:
            t1 = self.advance_all(ptime, step0, out)
            gid = step0 + np.arange(n, dtype=_I64)
            t2 = self._run(key_ids, ts, gid, gid, self._cond(atoms), np.arange(n, dtype=_I64),
                           columns, np.asarray([ptime], _I64), np.asarray([step0], _I64),
                           ptime, out)
            return np.empty(0, _I64), (MatchTable.concat([t1[0], t2[0]]),
                                       MatchTable.concat([t1[1], t2[1]]))
        assert wms is not None
        if n == 0:
            return np.empty(0, _I64), self._empty()
        before = np.empty(n, _I64)
        before[0] = self.wm
        before[1:] = wms[:-1]
        late = ts <= before
        if late.any():
            kept = np.flatnonzero(~late)
            key_ids, ts, atoms = key_ids[kept], ts[kept], atoms.take(kept, axis=0)
            columns = {k: columns[k][kept] for k in self.p_cols}
            gid = step0 + kept.astype(_I64)
        else:
            gid = step0 + np.arange(n, dtype=_I64)
        if gid.shape[0]:
            # (2-d arrays: ``take``/``concatenate``, never boolean indexing, which is slow)
            self.p_key = np.concatenate([self.p_key, key_ids])
            self.p_ts = np.concatenate([self.p_ts, ts])
            self.p_gid = np.concatenate([self.p_gid, gid])
            self.p_atoms = np.concatenate([self.p_atoms, atoms])
            self.p_cond = np.concatenate([self.p_cond, self._cond(atoms)])
            self.p_cols = {k: np.concatenate([v, columns[k]]) for k, v in self.p_cols.items()}
        rising = np.flatnonzero(wms > before)
        tables = (self._fire(wms[rising], step0 + rising.astype(_I64), out) if rising.size
                  else self._empty())
        return np.flatnonzero(late), tables

    def _empty(self) -> tuple[MatchTable, MatchTable]:
        names = self.nfa.stage_names
        return MatchTable.empty(names, self.schema), MatchTable.empty(names, self.schema, True)

    def _fire(self, wm_vals: np.ndarray, wm_steps: np.ndarray,
              out: Collector) -> tuple[MatchTable, MatchTable]:
        wm_end = int(wm_vals[-1])
        ready = self.p_ts <= wm_end
        idx = np.flatnonzero(ready)
        # pending events are in arrival order: a stable sort by time keeps arrival for ties
        order = idx[_stable_time_order(self.p_ts[idx])]
        tables = self._run(self.p_key, self.p_ts, self.p_gid, np.empty(0, _I64), self.p_cond,
                           order, _Gather(self.p_cols, order), wm_vals.astype(_I64),
                           wm_steps.astype(_I64), wm_end, out)
        rest = np.flatnonzero(~ready)
        self.p_key, self.p_ts, self.p_gid = self.p_key[rest], self.p_ts[rest], self.p_gid[rest]
        self.p_atoms = self.p_atoms.take(rest, axis=0)
        self.p_cond = self.p_cond.take(rest, axis=0)
        self.p_cols = {k: v[rest] for k, v in self.p_cols.items()}
        self.wm = wm_end
        return tables

    def advance_watermark(self, wm: int, step: int,
                          out: Collector) -> tuple[MatchTable, MatchTable]:
        """A watermark step without a record."""
        if wm <= self.wm:
            return self._empty()
        return self._fire(np.asarray([wm], _I64), np.asarray([step], _I64), out)

    def advance_all(self, t: int, step: int, out: Collector) -> tuple[MatchTable, MatchTable]:
        """Advance every key with an expired window to time ``t`` (processing time)."""
        self.ptime = max(self.ptime, t)
        e = np.empty(0, _I64)
        return self._run(e, e, e, e, np.empty((0, len(self.nfa.conditions)), np.bool_), e,
                         {k: np.empty(0, v) for k, v in self.schema.items()},
                         np.asarray([t], _I64), np.asarray([step], _I64), t, out)

    def finish(self, step: int, out: Collector) -> tuple[int, tuple[MatchTable, MatchTable]]:
        """End of input: everything to ``MAX_TIMESTAMP``, then drop what is left."""
        if self.event_time:
            tables = self._fire(np.asarray([MAX_TIMESTAMP], _I64),
                                np.asarray([step], _I64), out)
        else:
            tables = self.advance_all(MAX_TIMESTAMP, step, out)
        ks = self.ks
        dropped = int(ks[:, K.K_COUNT].sum() + ks[:, K.K_CCOUNT].sum()) if ks.shape[0] else 0
        self._drop_all()
        return dropped, tables

    def _drop_all(self) -> None:
        """Free every partial and held match (end of input)."""
        ks, pm = self.ks, self.pm
        for k in np.flatnonzero((ks[:, K.K_COUNT] + ks[:, K.K_CCOUNT]) > 0).tolist():
            for col in (K.K_HEAD, K.K_CHEAD):
                p = int(ks[k, col])
                while p != -1:
                    nxt = int(pm[p, K.PM_NEXT])
                    node = int(pm[p, K.PM_NODE])
                    while node >= 0:
                        self.nd[node, K.ND_REFS] -= 1
                        if self.nd[node, K.ND_REFS] > 0:
                            break
                        slot = int(self.nd[node, K.ND_SLOT])
                        parent = int(self.nd[node, K.ND_PARENT])
                        self.nd[node, K.ND_PARENT] = self.ctr[K.C_ND_FREE]
                        self.ctr[K.C_ND_FREE] = node
                        self.ctr[K.C_ND_USED] -= 1
                        self.ev[slot, K.EV_REFS] -= 1
                        if self.ev[slot, K.EV_REFS] == 0:
                            self.ev[slot, K.EV_NEXT] = self.ctr[K.C_EV_FREE]
                            self.ctr[K.C_EV_FREE] = slot
                            self.ctr[K.C_EV_USED] -= 1
                        node = parent
                    pm[p, K.PM_NEXT] = self.ctr[K.C_PM_FREE]
                    self.ctr[K.C_PM_FREE] = p
                    self.ctr[K.C_PM_USED] -= 1
                    p = nxt
            ks[k, [K.K_HEAD, K.K_TAIL, K.K_CHEAD, K.K_QSTART]] = -1
            ks[k, [K.K_COUNT, K.K_CCOUNT, K.K_MAXLEN]] = 0
            ks[k, K.K_DEADLINE] = MAX_TIMESTAMP

    # -- introspection ----------------------------------------------------------------------
    def state_size(self) -> dict[str, int]:
        """Live state counters (see :meth:`cep.CepOperator.state_size`)."""
        ks = self.ks
        live = (ks[:, K.K_COUNT] + ks[:, K.K_CCOUNT]) > 0 if ks.shape[0] else ks[:0, 0] > 0
        return {
            "keys": int(live.sum()),
            "partial_matches": int(ks[:, K.K_COUNT].sum()) if ks.shape[0] else 0,
            "pending_matches": int(ks[:, K.K_CCOUNT].sum()) if ks.shape[0] else 0,
            "buffered_events": int(self.p_key.shape[0]),
            "stored_events": int(self.ctr[K.C_EV_USED]),
            "buffer_nodes": int(self.ctr[K.C_ND_USED]),
        }

    # -- snapshot ---------------------------------------------------------------------------
    def export_state(self, schema: Mapping[str, np.dtype[Any]]) -> dict[str, Any]:
        """The engine-neutral state tree (see :mod:`cep.state`)."""
        from cep._fast_state import export_fast
        return export_fast(self, schema)

    def import_state(self, state: Mapping[str, Any],
                     schema: Mapping[str, np.dtype[Any]]) -> None:
        """Load a tree from :meth:`export_state` (of either runtime) into this fresh one."""
        from cep._fast_state import import_fast
        import_fast(self, state, schema)


def kernel_twin() -> Callable[..., int]:
    """The pure-Python twin of the kernel (for parity tests)."""
    f = getattr(nfa_run, "py_func", nfa_run)
    return KERNELS[f"{f.__module__}.{f.__qualname__}"][1]
