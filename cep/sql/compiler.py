"""Compile MATCH_RECOGNIZE statements to :class:`cep.sql.Rule` objects.

The translation follows Flink SQL (``StreamExecMatch`` / its ``PatternVisitor``):

* the first variable is ``Pattern.begin(name, skip)``, each following one ``.next(name)``
  (strict contiguity);
* ``*`` is ``one_or_more().optional().consecutive()``, ``+`` ``one_or_more().consecutive()``,
  ``?`` ``optional()``, ``{n}`` / ``{n,m}`` / ``{,m}`` ``times(n, m).consecutive()``, ``{n,}``
  ``times_or_more(n).consecutive()``; a greedy quantifier adds ``greedy()`` unless it is ``?`` or
  a fixed count;
* ``AFTER MATCH SKIP`` maps to the skip strategies (``SKIP TO FIRST/LAST v`` with
  ``throw_exception_on_miss()``), default ``SKIP TO NEXT ROW`` (Calcite's default);
* ``WITHIN INTERVAL ...`` is ``within(ms)``;
* a variable without ``DEFINE`` accepts every row.

Like Flink, it rejects a greedy quantifier on the last variable, patterns that can match no
rows, a reluctant ``??``, repeated variables, ``NEXT`` and quantified groups. Unlike Flink it
supports alternation of single variables ``(A | B)`` (one stage whose condition is the OR),
``PREV``, ``ALL ROWS PER MATCH`` and ``CLASSIFIER()``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from cep.compiler import compile_pattern
from cep.conditions import as_condition
from cep.errors import MalformedPatternError
from cep.expr import Expr
from cep.pattern import Pattern
from cep.skip import AfterMatchSkipStrategy
from cep.sql.errors import RuleError, RuleErrors
from cep.sql.expressions import COLUMN_TYPES, ExprCompiler, Scope
from cep.sql.measures import Labeler, MeasureSpec
from cep.sql.pattern_syntax import (
    Alt,
    Concat,
    PatternNode,
    PatternSyntaxError,
    Var,
    parse_pattern,
)
from cep.sql.rule import Rule
from cep.sql.source import DIALECT, Clause, SourceText, Statement, interval_ms, split_statements

__all__ = ["check_rules", "compile_expression", "compile_rule_file", "compile_rules"]


class _Abort(Exception):
    """Stops compiling a statement after errors were recorded."""


@dataclass
class _Element:
    variables: tuple[str, ...]
    low: int
    high: int | None
    greedy: bool
    offset: int
    q_offset: int

    @property
    def stage(self) -> str:
        return "|".join(self.variables)


def _check_columns(columns: Mapping[str, str] | None) -> None:
    if columns is None:
        return
    for k, v in columns.items():
        if v not in COLUMN_TYPES:
            raise ValueError(f"column {k!r} has type {v!r}; expected one of {COLUMN_TYPES}")


class _StatementCompiler:
    def __init__(self, text: SourceText, stmt: Statement, name: str,
                 columns: Mapping[str, str] | None) -> None:
        self.text = text
        self.stmt = stmt
        self.name = name
        self.columns = columns
        self.errors: list[RuleError] = []
        self.used: set[str] = set()

    # -- error helpers ------------------------------------------------------------------------
    def err(self, offset: int, message: str) -> RuleError:
        return self.text.error(offset, self.name, message)

    @contextmanager
    def collect(self) -> Iterator[None]:
        """Record a RuleError raised in the block and carry on with the next clause."""
        try:
            yield
        except RuleError as exc:
            self.errors.append(exc)

    def compiler(self, scope: Scope) -> ExprCompiler:
        c = ExprCompiler(self.text, self.name, self.columns, scope, self.stmt.start)
        c.used = self.used
        return c

    # -- parsing ------------------------------------------------------------------------------
    def parse(self) -> exp.Expression:
        try:
            trees = [t for t in sqlglot.parse(self.stmt.masked, read=DIALECT) if t is not None]
        except ParseError as exc:
            info = exc.errors[0] if exc.errors else {}
            line, col = int(info.get("line") or 1), int(info.get("col") or 1)
            hl = str(info.get("highlight") or "")
            off = self.text.offset(line, col)
            if hl and self.text.text[off - len(hl) + 1:off + 1] == hl:
                off = off - len(hl) + 1
            desc = str(info.get("description") or exc).strip()
            raise self.err(off, f"syntax error: {desc}") from None
        if len(trees) != 1:
            raise self.err(self.stmt.start, "expected one statement")
        return cast(exp.Expression, trees[0])

    def rows_mode(self, m: exp.MatchRecognize) -> Literal["one", "all"]:
        rows = m.args.get("rows")
        if rows is None:
            return "one"
        txt = " ".join(str(rows.this).upper().split())
        if txt == "ONE ROW PER MATCH":
            return "one"
        if txt == "ALL ROWS PER MATCH":
            return "all"
        raise self.err(self._find(txt.split()[0]), f"unsupported: {txt}")

    def _find(self, word: str, start: int | None = None) -> int:
        import re
        base = self.stmt.start if start is None else start
        m = re.search(rf"\b{re.escape(word)}\b", self.text.text[base:self.stmt.end], re.I)
        return base + m.start() if m else self.stmt.start

    # -- pattern ------------------------------------------------------------------------------
    def elements(self) -> list[_Element]:
        if self.stmt.pattern is None:
            raise self.err(self.stmt.start, "the statement has no PATTERN (...) clause")
        body, off = self.stmt.pattern
        try:
            tree = parse_pattern(body, off)
        except PatternSyntaxError as exc:
            raise self.err(exc.offset, f"malformed pattern: {exc.message}") from None
        out = self._flatten(tree)
        seen: dict[str, int] = {}
        for el in out:
            for v in el.variables:
                if v in seen:
                    raise self.err(el.offset if len(el.variables) == 1 else off,
                                   f"pattern variable {v!r} appears twice (variables must be "
                                   "unique, as in Flink SQL)")
                seen[v] = el.offset
        return out

    def check_elements(self, out: list[_Element]) -> None:
        off = self.stmt.pattern[1] if self.stmt.pattern is not None else self.stmt.start
        if all(el.low == 0 for el in out):
            raise self.err(off, "patterns that can match no rows are not supported (at least "
                                "one variable must be mandatory, as in Flink SQL)")
        last = out[-1]
        if last.greedy and last.high != last.low and not (last.low == 0 and last.high == 1):
            raise self.err(last.q_offset, "a greedy quantifier cannot end the pattern (as in "
                                          "Flink SQL); make it reluctant (e.g. 'B+?') or add a "
                                          "closing variable")

    def _flatten(self, node: PatternNode) -> list[_Element]:
        if isinstance(node, Var):
            return [_Element((node.name,), 1, 1, True, node.offset, node.offset)]
        if isinstance(node, Concat):
            return [e for item in node.items for e in self._flatten(item)]
        if isinstance(node, Alt):
            return [self._alternation(node, 1, 1, True, node.offset)]
        inner = node.inner
        if not node.greedy and node.low == 0 and node.high == 1:
            raise self.err(node.offset, f"unsupported: reluctant optional quantifier "
                                        f"{node.text!r} (as in Flink SQL)")
        if isinstance(inner, Var):
            return [_Element((inner.name,), node.low, node.high, node.greedy, inner.offset,
                             node.offset)]
        if isinstance(inner, Alt):
            return [self._alternation(inner, node.low, node.high, node.greedy, node.offset)]
        raise self.err(node.offset, "unsupported: a quantifier on a group of several "
                                    "variables (Flink SQL does not support pattern groups)")

    def _alternation(self, node: Alt, low: int, high: int | None, greedy: bool,
                     q_offset: int) -> _Element:
        names = []
        for b in node.branches:
            if not isinstance(b, Var):
                off = b.offset
                raise self.err(off, "unsupported: alternation branches must be single "
                                    "variables without quantifiers, e.g. (A | B)+")
            names.append(b.name)
        return _Element(tuple(names), low, high, greedy, node.branches[0].offset, q_offset)

    # -- the rest -----------------------------------------------------------------------------
    def skip(self, clause: Clause | None, variables: tuple[str, ...],
             elements: list[_Element]) -> AfterMatchSkipStrategy:
        S = AfterMatchSkipStrategy
        if clause is None:
            return S.skip_to_next()
        words = [w for w, _ in clause.words]
        up = [w.upper() for w in words]
        if up[:3] != ["AFTER", "MATCH", "SKIP"]:
            raise self.err(clause.start, "malformed AFTER MATCH clause")
        rest = up[3:]
        if rest == ["PAST", "LAST", "ROW"]:
            return S.skip_past_last_event()
        if rest == ["TO", "NEXT", "ROW"]:
            return S.skip_to_next()
        if len(rest) in (2, 3) and rest[0] == "TO":
            where, var_i = ("LAST", 4) if len(rest) == 2 else (rest[1], 5)
            if where not in ("FIRST", "LAST"):
                raise self.err(clause.words[4][1], f"expected FIRST or LAST, got {words[4]!r}")
            var, off = clause.words[var_i]
            var = var.strip('"')
            if var not in variables:
                raise self.err(off, f"unknown pattern variable {var!r}")
            el = next(e for e in elements if var in e.variables)
            if len(el.variables) > 1:
                raise self.err(off, f"unsupported: skipping to {var!r}, a variable of an "
                                    "alternation")
            if el is elements[0] and el.low > 0 and (where == "FIRST" or el.high == 1):
                raise self.err(off, f"AFTER MATCH SKIP TO {where} {var} would restart every "
                                    "match where it started (an endless loop; Flink fails at "
                                    "run time)")
            s = S.skip_to_first(var) if where == "FIRST" else S.skip_to_last(var)
            return s.throw_exception_on_miss()
        raise self.err(clause.start, "malformed AFTER MATCH SKIP clause (expected PAST LAST "
                                     "ROW, TO NEXT ROW, TO FIRST v, TO LAST v or TO v)")

    def within(self, clause: Clause | None) -> int | None:
        if clause is None:
            return None
        w = clause.words
        if len(w) != 4 or w[1][0].upper() != "INTERVAL":
            raise self.err(clause.start, "WITHIN needs INTERVAL '<n>' <unit>, e.g. WITHIN "
                                         "INTERVAL '10' MINUTE")
        try:
            ms = interval_ms(w[2][0], w[3][0])
        except ValueError as exc:
            raise self.err(w[2][1], str(exc)) from None
        if ms <= 0:
            raise self.err(w[2][1], "the WITHIN interval must be positive")
        return ms

    def source_table(self, sel: exp.Select) -> tuple[str, Expr | None, frozenset[str]]:
        frm = sel.args.get("from_") or sel.args.get("from")
        src = frm.this if frm is not None else None
        if isinstance(src, exp.Table):
            return str(src.name), None, frozenset()
        if isinstance(src, exp.Subquery) and isinstance(src.this, exp.Select):
            inner = src.this
            ifrm = inner.args.get("from_") or inner.args.get("from")
            itab = ifrm.this if ifrm is not None else None
            bad = [k for k, v in inner.args.items()
                   if v and k not in ("expressions", "from_", "from", "where")]
            if (not isinstance(itab, exp.Table) or bad
                    or not all(isinstance(e, exp.Star) for e in inner.expressions)):
                raise self.err(self._off(src), "unsupported derived table: only (SELECT * FROM "
                                               "<table> WHERE <condition>) is supported")
            where = inner.args.get("where")
            aliases = frozenset(a for a in (str(itab.alias_or_name), str(src.alias or ""))
                                if a)
            flt = None
            if where is not None:
                c = self.compiler(Scope("plain", table_aliases=aliases))
                flt = c.condition(where.this)
            return str(itab.name), flt, aliases
        raise self.err(self._off(sel), "expected FROM <table> or FROM (SELECT * FROM <table> "
                                       "WHERE ...) before MATCH_RECOGNIZE")

    def _off(self, node: exp.Expression) -> int:
        return self.compiler(Scope("plain")).offset(node)

    def define(self, m: exp.MatchRecognize, variables: tuple[str, ...],
               stage_of: dict[str, str], alternated: frozenset[str]) -> dict[str, Expr]:
        out: dict[str, Expr] = {}
        for d in m.args.get("define") or []:
            with self.collect():
                var = str(d.alias)
                ident = d.args.get("alias")
                off = self._off(ident) if ident is not None else self._off(d)
                if var not in variables:
                    raise self.err(off, f"DEFINE of {var!r}, which is not a pattern variable")
                if var in out:
                    raise self.err(off, f"{var!r} is defined twice")
                scope = Scope("define", variables, var, stage_of, alternated)
                expr = self.compiler(scope).condition(d.this)
                if var in alternated and expr.is_iterative():
                    raise self.err(self._off(d.this), f"unsupported: the DEFINE of {var!r}, a "
                                   "variable of an alternation, must only read the row being "
                                   "tested")
                out[var] = expr
        return out

    def measures(self, m: exp.MatchRecognize, variables: tuple[str, ...]
                 ) -> list[MeasureSpec]:
        specs: list[MeasureSpec] = []
        names: set[str] = set()
        for meas in m.args.get("measures") or []:
            with self.collect():
                node = meas.this
                if not isinstance(node, exp.Alias):
                    raise self.err(self._off(node), "a measure needs a name: <expr> AS <name>")
                name = str(node.alias)
                if name in names:
                    raise self.err(self._off(node.args["alias"]), f"measure {name!r} is "
                                                                  "defined twice")
                names.add(name)
                scope = Scope("measure", variables, stage_of={v: v for v in variables})
                expr, _ = self.compiler(scope).compile(node.this)
                inner = node.this
                while isinstance(inner, exp.Paren):
                    inner = inner.this
                integer = isinstance(inner, exp.Count) or (
                    isinstance(inner, exp.Anonymous) and str(inner.name).upper()
                    == "MATCH_ROWTIME")
                specs.append(MeasureSpec(name, expr, tuple(scope.navs), integer))
        return specs

    # -- main ---------------------------------------------------------------------------------
    def compile(self) -> Rule | None:
        try:
            return self._compile()
        except RuleError as exc:
            self.errors.append(exc)
        except _Abort:
            pass
        return None

    def _compile(self) -> Rule:
        if self.stmt.pattern is not None:  # a precise message before sqlglot's generic one
            try:
                parse_pattern(*self.stmt.pattern)
            except PatternSyntaxError as exc:
                raise self.err(exc.offset, f"malformed pattern: {exc.message}") from None
        tree = self.parse()
        m = tree.args.get("match") if isinstance(tree, exp.Select) else None
        if not isinstance(tree, exp.Select) or not isinstance(m, exp.MatchRecognize):
            raise self.err(self.stmt.start, "expected SELECT ... FROM <table> "
                                            "MATCH_RECOGNIZE (...)")
        assert isinstance(m, exp.MatchRecognize)
        bad = [k for k, v in tree.args.items()
               if v and k not in ("expressions", "from_", "from", "match", "kind")]
        if bad:
            raise self.err(self.stmt.start, f"unsupported clause(s) around MATCH_RECOGNIZE: "
                                            f"{', '.join(sorted(bad))}")
        alias = m.args.get("alias")
        if alias is not None and str(alias.name):
            self.name = str(alias.name)
        table, flt = "", None
        with self.collect():
            table, flt, _ = self.source_table(tree)
        partition: list[str] = []
        for p in m.args.get("partition_by") or []:
            with self.collect():
                if not isinstance(p, exp.Column) or p.table:
                    raise self.err(self._off(p), "PARTITION BY takes column names")
                self.compiler(Scope("plain")).compile(p)
                partition.append(str(p.name))
        order_by = ""
        with self.collect():
            order_by = self.order(m)
        rows: Literal["one", "all"] = "one"
        with self.collect():
            rows = self.rows_mode(m)
        elements: list[_Element] = []
        with self.collect():
            elements = self.elements()
        if not elements:
            raise _Abort
        with self.collect():
            self.check_elements(elements)
        variables = tuple(v for el in elements for v in el.variables)
        stage_of = {v: el.stage for el in elements for v in el.variables}
        alternated = frozenset(v for el in elements if len(el.variables) > 1
                               for v in el.variables)
        skip = AfterMatchSkipStrategy.skip_to_next()
        with self.collect():
            skip = self.skip(self.stmt.after, variables, elements)
        within = None
        with self.collect():
            within = self.within(self.stmt.within)
        defines = self.define(m, variables, stage_of, alternated)
        specs = self.measures(m, variables)
        output = [*partition, *(s.name for s in specs)]
        if rows == "all" and self.columns is not None:
            output += [c for c in self.columns if c not in output]
        select = None
        with self.collect():
            select = self.select(tree, output, alias)
        if self.errors:
            raise _Abort
        pattern = self.build(elements, defines, skip, within)
        labeler = Labeler(variables, {el.stage: tuple(
            (v, defines.get(v) if i < len(el.variables) - 1 else None)
            for i, v in enumerate(el.variables)) for el in elements})
        line, _ = self.text.position(self.stmt.start)
        return Rule(self.name, self.text.source, line, table, flt, tuple(partition), order_by,
                    pattern, rows, tuple(select) if select is not None else tuple(output),
                    frozenset(self.used | {order_by, *partition}), variables, tuple(specs),
                    labeler, tuple(select) if select is not None else None)

    def order(self, m: exp.MatchRecognize) -> str:
        order = m.args.get("order")
        items = order.expressions if order is not None else []
        if not items:
            raise self.err(self._find("PATTERN"), "ORDER BY <event-time column> is required")
        if len(items) > 1:
            raise self.err(self._off(items[1]), "unsupported: ORDER BY takes exactly one "
                                                "column, the event time")
        o = items[0]
        if o.args.get("desc"):
            raise self.err(self._off(o), "ORDER BY must be ascending (event time)")
        if not isinstance(o.this, exp.Column) or o.this.table:
            raise self.err(self._off(o), "ORDER BY takes the event-time column")
        name = str(o.this.name)
        t = self.compiler(Scope("plain")).compile(o.this)[1]
        if t is not None and t not in ("timestamp", "int64"):
            raise self.err(self._off(o), f"the ORDER BY column {name!r} must be a timestamp "
                                         f"(int64 epoch ms), got {t}")
        return name

    def select(self, tree: exp.Select, output: list[str], alias: Any) -> list[str] | None:
        exprs = tree.expressions
        if len(exprs) == 1 and isinstance(exprs[0], exp.Star):
            return None
        names = []
        alias_name = str(alias.name) if alias is not None else None
        for e in exprs:
            if not isinstance(e, exp.Column) or isinstance(e.this, exp.Star):
                raise self.err(self._off(e), "unsupported: the SELECT list may only name "
                                             "output columns (or be *)")
            if e.table and str(e.table) != alias_name:
                raise self.err(self._off(e), f"unknown table {str(e.table)!r}")
            if str(e.name) not in output:
                raise self.err(self._off(e.this), f"{str(e.name)!r} is not an output column "
                                                  f"(partition columns and measures: "
                                                  f"{', '.join(output)})")
            names.append(str(e.name))
        return names

    def build(self, elements: list[_Element], defines: Mapping[str, Expr],
              skip: AfterMatchSkipStrategy, within: int | None) -> Pattern:
        p: Pattern | None = None
        pattern_off = self.stmt.pattern_offset
        try:
            for el in elements:
                p = Pattern.begin(el.stage, skip) if p is None else p.next(el.stage)
                conds = [defines.get(v) for v in el.variables]
                if all(c is not None for c in conds):
                    cond = conds[0]
                    for c in conds[1:]:
                        cond = cond | c  # type: ignore[operator]
                    p = p.where(as_condition(cond))
                p = _quantify(p, el)
            assert p is not None
            if within is not None:
                p = p.within(within)
            compile_pattern(p)
        except MalformedPatternError as exc:
            raise self.err(pattern_off, f"invalid pattern: {exc}") from None
        return p


def _quantify(p: Pattern, el: _Element) -> Pattern:
    low, high, greedy = el.low, el.high, el.greedy
    optional = low == 0 and high == 1
    if low == 1 and high == 1:
        return p
    if low == 0 and high is None:
        q = p.one_or_more().optional().consecutive()
    elif low == 1 and high is None:
        q = p.one_or_more().consecutive()
    elif optional:
        q = p.optional()
    elif high is not None:
        q = p.times(low, high).consecutive()
    else:
        q = p.times_or_more(low).consecutive()
    if greedy and not optional and low != high:
        q = q.greedy()
    return q


def _stem(source: str) -> str:
    return "rule" if source == "<string>" else (Path(source).stem or "rule")


def _compile_all(text: str, source: str, columns: Mapping[str, str] | None
                 ) -> tuple[list[Rule], list[RuleError]]:
    _check_columns(columns)
    st = SourceText(text, source)
    stem = _stem(source)
    try:
        stmts = split_statements(st, stem)
    except RuleError as exc:
        return [], [exc]
    rules: list[Rule] = []
    errors: list[RuleError] = []
    for i, stmt in enumerate(stmts):
        name = stem if len(stmts) == 1 else f"{stem}_{i + 1}"
        sc = _StatementCompiler(st, stmt, name, columns)
        rule = sc.compile()
        errors.extend(sc.errors)
        if rule is not None:
            rules.append(rule)
    names: dict[str, Rule] = {}
    for r in rules:
        if r.name in names:
            errors.append(RuleError(f"another rule is named {r.name!r}", source=source,
                                    line=r.line, column=1, rule=r.name))
        names[r.name] = r
    errors.sort(key=lambda e: (e.line, e.column))
    return rules, errors


def _raise(errors: list[RuleError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise RuleErrors(errors)


def compile_rules(text: str, *, source: str = "<string>",
                  columns: Mapping[str, str] | None = None) -> list[Rule]:
    """Compile the MATCH_RECOGNIZE statements of ``text`` (separated by ``;``).

    Parameters
    ----------
    text : str
        SQL: ``SELECT * | col, ... FROM <table> | (SELECT * FROM <table> WHERE ...) [AS x]
        MATCH_RECOGNIZE (...) [AS name]`` statements (docs/match-recognize.md).
    source : str
        File path for error messages and rule names (``"<string>"``: names start ``rule``).
    columns : mapping of str to str, optional
        Input column types (``"int64"``, ``"float64"``, ``"bool"``, ``"string"``,
        ``"timestamp"``); when given, unknown columns and type mismatches are errors.

    Returns
    -------
    list of Rule
        In text order.

    Raises
    ------
    RuleError
        For the first and only problem; :class:`RuleErrors` (a RuleError) when there are
        several, listing all.
    ValueError
        If ``columns`` names an unknown type.
    """
    rules, errors = _compile_all(text, source, columns)
    _raise(errors)
    if not rules:
        raise RuleError("no MATCH_RECOGNIZE statement found", source=source,
                        rule=_stem(source))
    return rules


def compile_rule_file(path: str | Path, *, columns: Mapping[str, str] | None = None
                      ) -> list[Rule]:
    """:func:`compile_rules` on the text of a file (UTF-8); ``source`` is the path."""
    p = Path(path)
    return compile_rules(p.read_text(encoding="utf-8"), source=str(p), columns=columns)


def check_rules(text: str, *, source: str = "<string>",
                columns: Mapping[str, str] | None = None) -> list[RuleError]:
    """Every problem found in ``text`` (empty when it compiles), in text order; several per
    statement when they are in different clauses. Same arguments as :func:`compile_rules`."""
    rules, errors = _compile_all(text, source, columns)
    if not rules and not errors:
        errors.append(RuleError("no MATCH_RECOGNIZE statement found", source=source,
                                rule=_stem(source)))
    return errors


def compile_expression(text: str, *, columns: Mapping[str, str] | None = None,
                       source: str = "<string>") -> Expr:
    """Compile a SQL expression over the columns of one row (no pattern references) to a
    :class:`cep.Expr`, e.g. ``"amount > 100 AND country IN ('DE', 'FR')"``.

    Boolean expressions follow SQL null logic (a row passes when the expression is TRUE);
    ``INTERVAL 'n' unit`` literals are int milliseconds.

    Raises
    ------
    RuleError
        On a syntax error, an unknown column or a type mismatch (when ``columns`` is given),
        or a construct that needs a pattern (navigation functions, ``PREV``). Its ``rule`` is
        ``"expression"``.
    """
    _check_columns(columns)
    st = SourceText(text, source)
    try:
        node = cast(exp.Expression, sqlglot.parse_one(text, read=DIALECT, into=exp.Condition))
    except ParseError as exc:
        info = exc.errors[0] if exc.errors else {}
        line, col = int(info.get("line") or 1), int(info.get("col") or 1)
        hl = str(info.get("highlight") or "")
        off = st.offset(line, col)
        if hl and text[off - len(hl) + 1:off + 1] == hl:
            off = off - len(hl) + 1
        raise st.error(off, "expression",
                       f"syntax error: {info.get('description') or exc}") from None
    comp = ExprCompiler(st, "expression", columns, Scope("plain"))
    e, _ = comp.compile(node)
    return e
