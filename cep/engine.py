"""The pure-Python reference engine: one key's NFA stepping (as Flink CEP's ``NFA``).

This engine runs any pattern, including iterative conditions, and is the oracle the Numba fast
path is tested against (:mod:`cep._kernels` implements the same algorithm over arrays). Per key
it keeps the partial matches (:class:`Partial`, in creation order) and the completed matches
held back by a skip strategy; events and match paths live in a :class:`~cep.buffer.SharedBuffer`.

Algorithm (Flink's ``NFA.process`` / ``advanceTime``):

* :meth:`ReferenceEngine.advance` at time ``t``: a partial match whose window has passed
  (``start + within <= t``, or ``previous + within_previous <= t`` for the state it waits in)
  is timed out; one waiting in a pending state (a trailing ``not_followed_by``) becomes a match.
* :meth:`ReferenceEngine.process` of an event: every partial match, and then the start state,
  follows the enabled ``PROCEED`` transitions depth-first (a stack, as Flink) and takes every
  enabled ``TAKE`` / ``IGNORE`` transition, creating new partial matches; reaching a stop
  state discards all non-final branches of that partial match.
* Completed matches are emitted in order of their first event; with a skip strategy a match
  waits until no partial match that started earlier is alive, and then prunes.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cep.buffer import SharedBuffer
from cep.errors import SkipToElementError
from cep.nfa import FINAL, NFA, PENDING, PROCEED, STOP, TAKE, CondExpr
from windows.time import MAX_TIMESTAMP

__all__ = ["EventIn", "KeyState", "OutputSink", "Partial", "ReferenceEngine", "saturating_add"]


def saturating_add(a: int, b: int) -> int:
    """``a + b`` clamped to ``MAX_TIMESTAMP - 1`` (window ends; ``MAX_TIMESTAMP`` itself
    means "no deadline", and every window has ended at ``MAX_TIMESTAMP``)."""
    s = a + b
    return MAX_TIMESTAMP - 1 if s > MAX_TIMESTAMP - 1 else s


@dataclass(slots=True)
class Partial:
    """A partial (or completed) match: the NFA state it waits in, the last node of its path
    (``-1``: none), the timestamps of its first and latest events, and the processing-order
    position of its first event."""

    state: int
    node: int
    start_ts: int
    prev_ts: int
    start_seq: int


@dataclass(slots=True)
class KeyState:
    """Mutable matching state of one key."""

    partials: list[Partial] = field(default_factory=list)
    completed: list[Partial] = field(default_factory=list)
    seq: int = 0

    def empty(self) -> bool:
        """Whether the key holds no partial or pending match."""
        return not self.partials and not self.completed


@dataclass(slots=True)
class EventIn:
    """An event to process: operator-wide id, position in the key's order, timestamp, fields
    (``None``: built by ``row_fn`` when first needed) and the atom values: a ``bool`` array of
    length ``n_atoms`` (simple atoms), or, with ``cond`` given, three-valued atom values
    (``0`` false, ``1`` true, ``2`` unknown) and ``cond`` the three-valued transition
    conditions (see :mod:`cep.ref_conditions`)."""

    eid: int
    seq: int
    ts: int
    row: Mapping[str, Any] | None
    atoms: Any
    cond: Any = None
    row_fn: Callable[[], Mapping[str, Any]] | None = None
    #: Per-state enabled edges, shared by the partial matches (only when every condition
    #: value is known, see :meth:`ReferenceEngine._step`).
    memo: dict[int, Any] | None = None

    def get_row(self) -> Mapping[str, Any]:
        """The event's fields."""
        row = self.row
        if row is None:
            assert self.row_fn is not None
            row = self.row = self.row_fn()
        return row


Rows = list[tuple[int, int, Mapping[str, Any]]]


class OutputSink(Protocol):
    """Receives the engine's results (rows are ``(stage index, timestamp, fields)``)."""

    def match(self, key: int, t: int, rows: Rows) -> None:
        """A match completed at time ``t``."""

    def timeout(self, key: int, t: int, timeout_ts: int, rows: Rows) -> None:
        """A partial match timed out (detected at time ``t``; window end ``timeout_ts``)."""


class _Context:
    """The ``ctx`` of iterative conditions for one partial match and event."""

    __slots__ = ("_buffer", "_by_stage", "_history", "_names", "_node",
                 "current_processing_time", "timestamp")

    def __init__(self, buffer: SharedBuffer, node: int, ts: int, ptime: int,
                 names: Sequence[str], history: Sequence[Mapping[str, Any]] = ()) -> None:
        self._buffer = buffer
        self._node = node
        self._names = names
        self._history = history
        self._by_stage: dict[str, list[Mapping[str, Any]]] | None = None
        self.timestamp = ts
        self.current_processing_time = ptime

    def events_for_pattern(self, name: str) -> Sequence[Mapping[str, Any]]:
        if self._by_stage is None:
            self._by_stage = {}
            for stage, eid in self._buffer.path(self._node):
                self._by_stage.setdefault(self._names[stage], []).append(
                    self._buffer.events[eid].row)
        return tuple(self._by_stage.get(name, ()))

    def previous_event(self, n: int) -> Mapping[str, Any] | None:
        """The key's event ``n >= 1`` positions before the one being tested (processing
        order), or ``None`` (for ``cep.expr.Prev``)."""
        h = self._history
        return h[len(h) - n] if 0 < n <= len(h) else None


class ReferenceEngine:
    """Steps the NFA for one key at a time (see the module docstring).

    Parameters
    ----------
    nfa : NFA
    buffer : SharedBuffer
        Shared by all keys of an operator.
    processing_time : callable
        Returns the current processing time (for ``ctx.current_processing_time``).
    """

    def __init__(self, nfa: NFA, buffer: SharedBuffer,
                 processing_time: Callable[[], int]) -> None:
        self.nfa = nfa
        self.buffer = buffer
        self._ptime = processing_time
        self._kind = [s.kind for s in nfa.states]
        self._stage = [s.stage for s in nfa.states]
        self._pw = [s.prev_window for s in nfa.states]
        self._trans = [s.transitions for s in nfa.states]
        self._final = next(s.id for s in nfa.states if s.kind == FINAL)
        self._skip_stage = nfa.skip_stage_index()
        self._atoms = nfa.atoms
        #: The current key's latest processed events, oldest first (set by the runtime before
        #: each event when the pattern uses ``Prev``).
        self.history: Sequence[Mapping[str, Any]] = ()

    # -- conditions -------------------------------------------------------------------------
    def _cond(self, cond: int, ev: EventIn, ctx: list[_Context | None], node: int) -> bool:
        cv = ev.cond
        if cv is not None:
            v = cv[cond]
            if v != 2:
                return bool(v == 1)
        return self._eval(self.nfa.conditions[cond], ev, ctx, node)

    def _eval(self, e: CondExpr, ev: EventIn, ctx: list[_Context | None], node: int) -> bool:
        """Short-circuit, left-to-right value of formula ``e`` (as :meth:`NFA.eval_condition`,
        using known three-valued atom values)."""
        tag = e[0]
        if tag == "atom":
            j = e[1]
            a = self._atoms[j]
            if not a.is_iterative:
                return bool(ev.atoms[j])
            if ev.cond is not None and ev.atoms[j] != 2:
                return bool(ev.atoms[j] == 1)
            c = ctx[0]
            if c is None:
                c = ctx[0] = _Context(self.buffer, node, ev.ts, self._ptime(),
                                      self.nfa.stage_names, self.history)
            return a.test(ev.get_row(), c)
        if tag == "true":
            return True
        if tag == "not":
            return not self._eval(e[1], ev, ctx, node)
        if tag == "and":
            return self._eval(e[1], ev, ctx, node) and self._eval(e[2], ev, ctx, node)
        return self._eval(e[1], ev, ctx, node) or self._eval(e[2], ev, ctx, node)

    # -- deadlines --------------------------------------------------------------------------
    def deadline(self, ks: KeyState) -> int:
        """Earliest time at which :meth:`advance` would change ``ks`` (``MAX_TIMESTAMP`` if
        never)."""
        w = self.nfa.window
        best = MAX_TIMESTAMP
        for p in ks.partials:
            if w:
                best = min(best, saturating_add(p.start_ts, w))
            pw = self._pw[p.state]
            if pw:
                best = min(best, saturating_add(p.prev_ts, pw))
        return best

    # -- event processing -------------------------------------------------------------------
    def process(self, ks: KeyState, key: int, ev: EventIn, out: OutputSink) -> None:
        """Process one event of key ``key`` (time ``ev.ts``)."""
        new: list[Partial] = []
        potential: list[Partial] = []
        for pm in ks.partials:
            self._step(pm, ev, False, new, potential)
            self.buffer.release(pm.node)
        start = Partial(self.nfa.start, -1, ev.ts, ev.ts, ev.seq)
        self._step(start, ev, True, new, potential)
        ks.partials = new
        self._settle(ks, key, potential, ev.ts, out)

    def _step(self, pm: Partial, ev: EventIn, is_start: bool, new: list[Partial],
              potential: list[Partial]) -> None:
        ctx: list[_Context | None] = [None]
        memo = ev.memo
        plan: list[tuple[int, int, int, bool | None]] | None = (
            memo.get(pm.state) if memo is not None else None)
        if plan is None:
            edges: list[tuple[int, int, int]] = []
            stack = [pm.state]
            while stack:
                s = stack.pop()
                for tr in self._trans[s]:
                    if self._cond(tr.cond, ev, ctx, pm.node):
                        if tr.action == PROCEED:
                            stack.append(tr.target)
                        else:
                            edges.append((s, tr.action, tr.target))
            if memo is not None:
                # every condition of the event is known: the final-state check of each TAKE
                # is the same for every partial match in this state
                plan = [(s, a, t, a == TAKE and self._kind[t] != STOP
                         and self._final_after_proceed(t, ev, ctx, pm.node))
                        for s, a, t in edges]
                memo[pm.state] = plan
            else:
                plan = [(s, a, t, None) for s, a, t in edges]
        self._apply(pm, ev, is_start, plan, new, potential, ctx)

    def _apply(self, pm: Partial, ev: EventIn, is_start: bool,
               plan: list[tuple[int, int, int, bool | None]], new: list[Partial],
               potential: list[Partial], ctx: list[_Context | None]) -> None:
        """Act on the enabled edges ``plan`` of :meth:`_step`: ``(state, action, target,
        final)``, ``final`` telling whether the target of a TAKE reaches the final state by
        PROCEED edges (``None``: not known yet, checked when the TAKE is applied)."""
        results: list[Partial] = []
        stop = False
        buf = self.buffer
        for s, action, target, final in plan:
            if action != TAKE:  # IGNORE
                if not is_start:
                    results.append(Partial(target, pm.node, pm.start_ts, pm.prev_ts,
                                           pm.start_seq))
                    buf.lock(pm.node)
                continue
            if self._kind[target] == STOP:
                stop = True
                continue
            node = buf.put(self._stage[s], ev.eid, ev.seq, ev.ts, ev.get_row(), pm.node)
            st_ts, st_seq = (ev.ts, ev.seq) if is_start else (pm.start_ts, pm.start_seq)
            results.append(Partial(target, node, st_ts, ev.ts, st_seq))
            buf.lock(node)
            if final is None:
                final = self._final_after_proceed(target, ev, ctx, pm.node)
            if final:
                results.append(Partial(self._final, node, st_ts, ev.ts, st_seq))
                buf.lock(node)
        for r in results:
            if self._kind[r.state] == FINAL:
                potential.append(r)
            elif stop:
                buf.release(r.node)
            else:
                new.append(r)

    def _final_after_proceed(self, state: int, ev: EventIn, ctx: list[_Context | None],
                             node: int) -> bool:
        stack = [state]
        while stack:
            s = stack.pop()
            for tr in self._trans[s]:
                if tr.action == PROCEED and self._cond(tr.cond, ev, ctx, node):
                    if self._kind[tr.target] == FINAL:
                        return True
                    stack.append(tr.target)
        return False

    # -- time -------------------------------------------------------------------------------
    def advance(self, ks: KeyState, key: int, t: int, out: OutputSink) -> None:
        """Advance key ``key`` to time ``t``: time out expired partial matches, turn expired
        pending ones into matches."""
        w = self.nfa.window
        keep: list[Partial] = []
        potential: list[Partial] = []
        for pm in ks.partials:
            pw = self._pw[pm.state]
            to_prev = pw > 0 and saturating_add(pm.prev_ts, pw) <= t
            to_first = w > 0 and saturating_add(pm.start_ts, w) <= t
            if not (to_prev or to_first):
                keep.append(pm)
            elif self._kind[pm.state] == PENDING:
                potential.append(pm)
            else:
                end = saturating_add(pm.prev_ts, pw) if to_prev else saturating_add(
                    pm.start_ts, w)
                out.timeout(key, t, end, self._rows(pm.node))
                self.buffer.release(pm.node)
        ks.partials = keep
        self._settle(ks, key, potential, t, out)

    # -- completed matches ------------------------------------------------------------------
    def _rows(self, node: int) -> Rows:
        events = self.buffer.events
        return [(stage, events[eid].ts, events[eid].row)
                for stage, eid in self.buffer.path(node)]

    def _settle(self, ks: KeyState, key: int, potential: list[Partial], t: int,
                out: OutputSink) -> None:
        for p in potential:
            bisect.insort_right(ks.completed, p, key=lambda q: q.start_seq)
        skip = self.nfa.skip
        while ks.completed:
            m = ks.completed[0]
            if skip.is_skip and ks.partials and m.start_seq > min(
                    p.start_seq for p in ks.partials):
                break
            ks.completed.pop(0)
            rows_ids = self.buffer.path(m.node)
            pid, strict = self._pruning_id(rows_ids)
            if pid is not None:
                ks.partials = self._prune(ks.partials, pid, strict)
                ks.completed = self._prune(ks.completed, pid, strict)
            out.match(key, t, self._rows(m.node))
            self.buffer.release(m.node)

    def _prune(self, items: list[Partial], pid: int, strict: bool) -> list[Partial]:
        keep = []
        for p in items:
            if p.start_seq < pid or (not strict and p.start_seq == pid):
                self.buffer.release(p.node)
            else:
                keep.append(p)
        return keep

    def _pruning_id(self, path: list[tuple[int, int]]) -> tuple[int | None, bool]:
        """The processing-order position to prune at, and whether pruning is strict
        (``start < pid``) rather than ``start <= pid``."""
        kind = self.nfa.skip.kind
        if kind == "no_skip":
            return None, False
        seqs = [self.buffer.events[eid].seq for _, eid in path]
        if kind == "skip_to_next":
            return seqs[0], False
        if kind == "skip_past_last_event":
            return max(seqs), False
        picked = [q for (stage, _), q in zip(path, seqs, strict=True)
                  if stage == self._skip_stage]
        skip = self.nfa.skip
        if not picked:
            if skip.throw_on_miss:
                raise SkipToElementError(f"could not skip to {skip.stage!r}: the match has no "
                                         "event for it")
            return None, True
        pid = picked[0] if kind == "skip_to_first" else picked[-1]
        if skip.throw_on_miss and pid == min(seqs):
            raise SkipToElementError(f"could not skip to the first element of a match "
                                     f"({skip!r})")
        return pid, True
