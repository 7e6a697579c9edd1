"""Compile a :class:`~cep.pattern.Pattern` into an immutable :class:`~cep.nfa.NFA`.

The construction follows Flink CEP's ``NFACompiler``: the pattern is walked from its last stage
to its first, each stage becoming one or more states whose ``TAKE`` / ``IGNORE`` / ``PROCEED``
transitions encode contiguity, quantifiers (optional, times, looping, greedy, until),
negations (``not_next`` states, stop states, a pending state for a trailing
``not_followed_by``) and groups. Keeping the same graph shape keeps the same matching
semantics, including Flink's corner cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cep._pattern_checks import validate_pattern
from cep.conditions import (
    AndCondition,
    Condition,
    NotCondition,
    OrCondition,
    TrueCondition,
)
from cep.errors import MalformedPatternError
from cep.nfa import (
    FINAL,
    IGNORE,
    NFA,
    NORMAL,
    PENDING,
    PROCEED,
    STOP,
    TAKE,
    CondExpr,
    NFAState,
    Transition,
)
from cep.pattern import Pattern, Stage
from cep.quantifiers import Contiguity

__all__ = ["compile_pattern"]

_TRUE: CondExpr = ("true",)


def _not(e: CondExpr) -> CondExpr:
    return e[1] if e[0] == "not" else ("not", e)


def _and(a: CondExpr, b: CondExpr) -> CondExpr:
    if a == _TRUE:
        return b
    if b == _TRUE:
        return a
    return ("and", a, b)


@dataclass(eq=False)
class _S:
    """A state under construction."""

    name: str | None
    kind: int
    prev_window: int
    transitions: list[list[Any]] = field(default_factory=list)

    def add(self, action: int, target: _S, cond: CondExpr) -> None:
        self.transitions.append([action, target, cond])


class _Compiler:
    def __init__(self, pattern: Pattern) -> None:
        self.pattern = pattern
        self.states: list[_S] = []
        self.atoms: list[Condition] = []
        self.atom_ids: dict[int, int] = {}
        self.stop_states: dict[str, _S] = {}
        self.original: dict[int, _S] = {}
        self.window = pattern.window or 0
        self.seq: tuple[Stage, ...] = pattern.stages
        self.idx = len(self.seq) - 1
        self.following: Stage | None = None
        self.group: Stage | None = None
        self.first_of_loop: dict[int, bool] = {}

    # -- helpers ----------------------------------------------------------------------------
    @property
    def cur(self) -> Stage:
        return self.seq[self.idx]

    def new_state(self, kind: int = NORMAL, name: str | None = None,
                  prev_window: int | None = None) -> _S:
        st = self.cur
        s = _S(st.name if name is None else name, kind,
               (st.within_previous or 0) if prev_window is None else prev_window)
        self.states.append(s)
        return s

    def cond_expr(self, c: Condition | None) -> CondExpr:
        if c is None or isinstance(c, TrueCondition):
            return _TRUE
        if isinstance(c, AndCondition):
            return _and(self.cond_expr(c.left), self.cond_expr(c.right))
        if isinstance(c, OrCondition):
            a, b = self.cond_expr(c.left), self.cond_expr(c.right)
            return _TRUE if _TRUE in (a, b) else ("or", a, b)
        if isinstance(c, NotCondition):
            return _not(self.cond_expr(c.inner))
        key = id(c)
        if key not in self.atom_ids:
            self.atom_ids[key] = len(self.atoms)
            self.atoms.append(c)
        return ("atom", self.atom_ids[key])

    def extend_until(self, cond: CondExpr | None, until: Condition | None,
                     is_take: bool) -> CondExpr | None:
        if until is not None and cond is not None:
            return _and(_not(self.cond_expr(until)), cond)
        if until is not None and is_take:
            return _not(self.cond_expr(until))
        return cond

    def group_until(self) -> Condition | None:
        return self.group.until if self.group is not None else None

    def take_cond(self, st: Stage) -> CondExpr:
        c = self.cond_expr(st.condition)
        out = self.extend_until(c, self.group_until(), True)
        assert out is not None
        return out

    def true_cond(self) -> CondExpr:
        out = self.extend_until(_TRUE, self.group_until(), True)
        assert out is not None
        return out

    def head_of_group(self) -> bool:
        return self.group is not None and self.idx == 0

    def group_first_of_loop(self) -> bool:
        return self.first_of_loop.get(id(self.group), True)

    def set_first_of_loop(self, value: bool) -> None:
        if self.cur.group is not None:
            self.first_of_loop[id(self.cur)] = value

    def _ignore_for(self, strategy: Contiguity, st: Stage) -> CondExpr | None:
        if strategy is Contiguity.STRICT:
            cond: CondExpr | None = None
        elif strategy is Contiguity.RELAXED:
            cond = _not(self.cond_expr(st.condition))
        else:
            cond = _TRUE
        return self.extend_until(cond, self.group_until(), False)

    def ignore_cond(self, st: Stage) -> CondExpr | None:
        strategy = st.contiguity
        if self.head_of_group():
            g = self.group
            assert g is not None
            strategy = g.contiguity if self.group_first_of_loop() else g.quantifier.inner
        return self._ignore_for(strategy, st)

    def inner_ignore_cond(self, st: Stage) -> CondExpr | None:
        strategy = st.quantifier.inner
        if self.head_of_group():
            assert self.group is not None
            strategy = self.group.quantifier.inner
        return self._ignore_for(strategy, st)

    def current_not_conditions(self) -> list[tuple[CondExpr, str]]:
        out: list[tuple[CondExpr, str]] = []
        i = self.idx
        while i > 0 and (self.seq[i - 1].quantifier.optional
                         or self.seq[i - 1].contiguity is Contiguity.NOT_FOLLOW):
            i -= 1
            prev = self.seq[i]
            if prev.contiguity is Contiguity.NOT_FOLLOW:
                assert prev.name is not None
                out.append((self.take_cond(prev), prev.name))
        return out

    def stop_state(self, cond: CondExpr, name: str) -> _S:
        s = self.stop_states.get(name)
        if s is None:
            s = _S(name, STOP, 0)
            self.states.append(s)
            s.add(TAKE, s, cond)
            self.stop_states[name] = s
        return s

    def add_stop_states(self, state: _S) -> None:
        for cond, name in self.current_not_conditions():
            state.add(PROCEED, self.stop_state(cond, name), cond)

    def add_stop_to_looping(self, state: _S) -> None:
        f = self.following
        if f is not None and f.contiguity is Contiguity.NOT_FOLLOW:
            assert f.name is not None
            cond = self.take_cond(f)
            state.add(PROCEED, self.stop_state(cond, f.name), cond)

    def copy_state(self, state: _S) -> _S:
        c = _S(state.name, state.kind, state.prev_window)
        self.states.append(c)
        for action, target, cond in state.transitions:
            c.transitions.append([action, c if target is state else target, cond])
        return c

    def copy_without_transitive_nots(self, sink: _S) -> _S:
        nots = self.current_not_conditions()
        if not nots or not self.cur.quantifier.optional:
            return sink
        names = {n for _, n in nots}
        c = _S(sink.name, sink.kind, sink.prev_window)
        self.states.append(c)
        for action, target, cond in sink.transitions:
            assert isinstance(target, _S)
            if action == PROCEED:
                if target.kind == STOP:
                    if target.name in names:
                        continue
                else:
                    target = self.copy_without_transitive_nots(target)
                c.transitions.append([action, target, cond])
            else:
                c.transitions.append([action, c if target is sink else target, cond])
        return c

    @staticmethod
    def update_with_greedy(state: _S, take: CondExpr) -> None:
        for t in state.transitions:
            t[2] = _and(t[2], _not(take))

    # -- construction -----------------------------------------------------------------------
    def middle_states(self, sink: _S) -> _S:
        while self.idx > 0:
            st = self.cur
            if st.contiguity is Contiguity.NOT_FOLLOW:
                if (st.within_previous or self.window) and sink.kind == FINAL:
                    pending = self.new_state(PENDING)
                    cond = self.take_cond(st)
                    assert st.name is not None
                    pending.add(PROCEED, self.stop_state(cond, st.name), cond)
                    pending.add(IGNORE, pending, _not(cond))
                    sink = pending
            elif st.contiguity is Contiguity.NOT_NEXT:
                nn = self.new_state(NORMAL)
                cond = self.take_cond(st)
                assert st.name is not None
                stop = self.stop_state(cond, st.name)
                nn.add(IGNORE if sink.kind == FINAL else PROCEED, sink, _not(cond))
                nn.add(PROCEED, stop, cond)
                sink = nn
            else:
                sink = self.convert(sink)
            self.following = st
            self.idx -= 1
        return sink

    def convert(self, sink: _S) -> _S:
        st = self.cur
        q = st.quantifier
        if q.looping:
            self.set_first_of_loop(False)
            sink2 = self.copy_without_transitive_nots(sink)
            looping = self.create_looping(sink2)
            if sink2 is not sink and id(sink2) in self.original:
                self.original[id(sink)] = self.original[id(sink2)]
            self.set_first_of_loop(True)
            last = self.create_times(looping, sink, q.low, q.low)
        elif q.kind == "times":
            last = self.create_times(sink, sink, q.low, q.high)
        else:
            last = self.create_singleton(sink, sink, self.take_cond(st), self.ignore_cond(st),
                                         q.optional)
        self.add_stop_states(last)
        return last

    def create_times(self, sink: _S, proceed: _S, low: int, high: int) -> _S:
        st = self.cur
        last = sink
        self.set_first_of_loop(False)
        inner_ignore = self.extend_until(self.inner_ignore_cond(st), st.until, False)
        take = self.extend_until(self.take_cond(st), st.until, True)
        assert take is not None
        if st.quantifier.greedy and low != high:
            if st.until is not None:
                self.original[id(sink)] = self.copy_state(sink)
            self.update_with_greedy(sink, take)
        for _ in range(low, high):
            last = self.create_singleton(last, proceed, take, inner_ignore, True)
            self.add_stop_to_looping(last)
        for _ in range(low - 1):
            last = self.create_singleton(last, None, take, inner_ignore, False)
            self.add_stop_to_looping(last)
        self.set_first_of_loop(True)
        return self.create_singleton(last, proceed, take, self.ignore_cond(st),
                                     st.quantifier.optional)

    def is_head_of_optional_group(self) -> bool:
        if not self.head_of_group():
            return False
        assert self.group is not None
        return self.group_first_of_loop() and self.group.quantifier.optional

    def create_singleton(self, sink: _S, proceed: _S | None, take: CondExpr,
                         ignore: CondExpr | None, optional: bool) -> _S:
        st = self.cur
        if st.group is not None:
            return self.create_group_state(st, sink, proceed, optional)
        s = self.new_state(NORMAL)
        target = self.copy_without_transitive_nots(sink)
        s.add(TAKE, target, take)
        proceed_cond = self.true_cond()
        if optional:
            assert proceed is not None
            if st.quantifier.greedy:
                until = st.until
                if until is not None:
                    s.add(PROCEED, self.original[id(proceed)],
                          _and(proceed_cond, self.cond_expr(until)))
                    s.add(PROCEED, proceed, _and(proceed_cond, _not(self.cond_expr(until))))
                else:
                    s.add(PROCEED, proceed, proceed_cond)
            else:
                s.add(PROCEED, proceed, proceed_cond)
        if ignore is not None:
            if optional or self.is_head_of_optional_group():
                ign = self.new_state(NORMAL)
                ign.add(TAKE, target, take)
                ign.add(IGNORE, ign, ignore)
                self.add_stop_states(ign)
            else:
                ign = s
            s.add(IGNORE, ign, ignore)
        return s

    def _enter_group(self, st: Stage) -> tuple[tuple[Stage, ...], int, Stage | None,
                                               Stage | None]:
        saved = (self.seq, self.idx, self.following, self.group)
        assert st.group is not None
        self.group = st
        self.seq = st.group.stages
        self.idx = len(self.seq) - 1
        return saved

    def _leave_group(self, saved: tuple[tuple[Stage, ...], int, Stage | None,
                                        Stage | None]) -> None:
        self.seq, self.idx, self.following, self.group = saved

    def create_group_state(self, st: Stage, sink: _S, proceed: _S | None,
                           optional: bool) -> _S:
        proceed_cond = self.true_cond()
        saved = self._enter_group(st)
        last = self.middle_states(sink)
        last = self.convert(last)
        if optional:
            assert proceed is not None
            last.add(PROCEED, proceed, proceed_cond)
        self._leave_group(saved)
        return last

    def create_looping(self, sink: _S) -> _S:
        st = self.cur
        if st.group is not None:
            proceed_cond = self.true_cond()
            dummy = self.new_state(NORMAL, name="", prev_window=0)
            saved = self._enter_group(st)
            last = self.middle_states(dummy)
            last = self.convert(last)
            last.add(PROCEED, sink, proceed_cond)
            dummy.add(PROCEED, last, proceed_cond)
            self._leave_group(saved)
            return last
        until = st.until
        ignore = self.extend_until(self.inner_ignore_cond(st), until, False)
        take = self.extend_until(self.take_cond(st), until, True)
        assert take is not None
        proceed_cond = self.true_cond()
        loop = self.new_state(NORMAL)
        if st.quantifier.greedy:
            if until is not None:
                copy = self.copy_state(sink)
                loop.add(PROCEED, copy, _and(proceed_cond, self.cond_expr(until)))
                self.original[id(sink)] = copy
                loop.add(PROCEED, sink, _and(proceed_cond, _not(self.cond_expr(until))))
            else:
                loop.add(PROCEED, sink, proceed_cond)
            self.update_with_greedy(sink, self.take_cond(st))
        else:
            loop.add(PROCEED, sink, proceed_cond)
        loop.add(TAKE, loop, take)
        self.add_stop_to_looping(loop)
        if ignore is not None:
            ign = self.new_state(NORMAL)
            ign.add(TAKE, loop, take)
            ign.add(IGNORE, ign, ignore)
            loop.add(IGNORE, ign, ignore)
            self.add_stop_to_looping(ign)
        return loop

    # -- driver -----------------------------------------------------------------------------
    def run(self) -> NFA:
        final = _S(None, FINAL, 0)
        self.states.append(final)
        sink = self.middle_states(final)
        start = self.convert(sink)
        return self.freeze(start)

    def check_proceed_cycles(self) -> None:
        """A cycle of PROCEED transitions (a looping group whose stages are all optional)
        would make an event move forever without consuming anything."""
        color: dict[int, int] = {}

        def visit(s: _S) -> None:
            color[id(s)] = 1
            for action, target, _ in s.transitions:
                if action != PROCEED:
                    continue
                assert isinstance(target, _S)
                c = color.get(id(target), 0)
                if c == 1:
                    raise MalformedPatternError(
                        "the pattern can loop without consuming events (a looping group whose "
                        "stages are all optional); make at least one stage of the group "
                        "mandatory")
                if c == 0:
                    visit(target)
            color[id(s)] = 2

        for s in self.states:
            if color.get(id(s), 0) == 0:
                visit(s)

    def freeze(self, start: _S) -> NFA:
        self.check_proceed_cycles()
        names = tuple(st.name for st in self.pattern.iter_stages()
                      if st.name is not None and not st.negated)
        index = {s_: i for i, s_ in enumerate(names)}
        ids = {id(s): i for i, s in enumerate(self.states)}
        conds: list[CondExpr] = []
        cond_ids: dict[CondExpr, int] = {}
        out: list[NFAState] = []
        for i, s in enumerate(self.states):
            trans = []
            for action, target, cond in s.transitions:
                assert isinstance(target, _S)
                if cond not in cond_ids:
                    cond_ids[cond] = len(conds)
                    conds.append(cond)
                trans.append(Transition(int(action), ids[id(target)], cond_ids[cond]))
            stage = index.get(s.name, -1) if s.name else -1
            out.append(NFAState(i, stage, s.kind, tuple(trans), s.prev_window))
        return NFA(tuple(out), ids[id(start)], tuple(conds), tuple(self.atoms), self.window,
                   self.pattern.skip_strategy, names)


def compile_pattern(pattern: Pattern) -> NFA:
    """Compile a pattern into an immutable NFA (as Flink's ``NFACompiler``).

    Parameters
    ----------
    pattern : Pattern

    Returns
    -------
    NFA

    Raises
    ------
    MalformedPatternError
        For problems that need the whole pattern: a trailing ``not_followed_by`` without
        ``within``, a ``previous_and_current`` window larger than the pattern window, a skip
        strategy naming an unknown stage, a ``not_followed_by`` ending a group, duplicate names.
    """
    validate_pattern(pattern)
    return _Compiler(pattern).run()
