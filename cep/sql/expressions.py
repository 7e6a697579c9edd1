"""Compile SQL expressions (sqlglot trees) to :mod:`cep.expr` trees, with types and positions.

Three scopes:

* ``plain`` — an expression over the columns of one row (input filters, window filters,
  :func:`cep.sql.compile_expression`); pattern navigation is refused.
* ``define`` — the condition of pattern variable ``V`` (running semantics, as Flink SQL):
  ``price`` and ``V.price`` are the row being tested; ``X.price`` is the last row matched to
  ``X``; ``FIRST/LAST(V.price, n)`` and aggregates over ``V`` include the row being tested;
  unqualified aggregates and ``FIRST/LAST(price, n)`` range over every row of the match so far
  plus the tested one; ``PREV(price, n)`` is the row ``n`` before in the partition. Conditions
  that only read the tested row compile to simple (vectorised) expressions; the others to
  :class:`cep.expr.MatchRef` / :class:`cep.expr.Prev` (reference engine).
* ``measure`` — final semantics over a completed match: navigation becomes a placeholder column
  (``Nav``) computed vectorised over a :class:`cep.MatchTable` by :mod:`cep.sql.measures`.

SQL null logic: a row satisfies a condition when it is TRUE. ``NOT`` is pushed down to the
comparisons (``NOT a < b`` becomes ``a >= b``, ``NOT (p AND q)`` becomes ``NOT p OR NOT q``), so
a comparison with NULL (``None``, or NaN in float columns) is never satisfied, negated or not,
exactly as SQL's three-valued logic decides for a ``WHERE``/``DEFINE``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlglot import exp

from cep.expr import Binary, Expr, Lit, MatchRef, Prev, Unary, case, col, is_null, lit
from cep.sql.errors import RuleError
from cep.sql.source import SourceText, interval_ms

__all__ = ["COLUMN_TYPES", "ExprCompiler", "Nav", "Scope"]

#: Column types accepted in the ``columns`` mapping.
COLUMN_TYPES = ("int64", "float64", "bool", "string", "timestamp")

_NUM = ("int64", "float64", "timestamp")
_Key = type[exp.Expression]
_CMP: dict[_Key, str] = {exp.EQ: "==", exp.NEQ: "!=", exp.GT: ">", exp.GTE: ">=",
                         exp.LT: "<", exp.LTE: "<="}
_NEG_CMP = {"==": "!=", "!=": "==", ">": "<=", ">=": "<", "<": ">=", "<=": ">"}
_ARITH: dict[_Key, str] = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%"}
_AGG: dict[_Key, str] = {exp.Sum: "sum", exp.Count: "count", exp.Avg: "avg",
                         exp.Min: "min", exp.Max: "max"}

Type = str | None  # a COLUMN_TYPES name, "null", or None (unknown)


@dataclass(frozen=True)
class Nav:
    """A measure's navigation over a completed match (final semantics).

    ``func``: ``first``/``last`` (``offset`` rows from the start/end of the rows of ``var``),
    ``count``/``sum``/``avg``/``min``/``max`` over them, ``rowtime`` (timestamp of the last row
    of the match) or ``classifier`` (variable of the last row). ``var`` None: every row.
    ``operand`` is evaluated per row (None: ``COUNT(*)``).
    """

    func: str
    var: str | None
    operand: Expr | None
    offset: int = 0


@dataclass
class Scope:
    """What names mean in an expression (see the module docstring)."""

    mode: str  # "plain", "define", "measure", "row"
    variables: tuple[str, ...] = ()
    current: str | None = None
    stage_of: Mapping[str, str] = field(default_factory=dict)
    alternated: frozenset[str] = frozenset()
    table_aliases: frozenset[str] = frozenset()
    navs: list[Nav] = field(default_factory=list)

    def stages(self) -> tuple[str, ...]:
        """Distinct stage names in pattern order."""
        return tuple(dict.fromkeys(self.stage_of[v] for v in self.variables))


def _cat(t: Type) -> str | None:
    if t in _NUM:
        return "number"
    if t in ("string", "bool"):
        return t
    return None


class ExprCompiler:
    """Compiles one clause's expressions; errors are :class:`RuleError` at the offending node.

    Parameters
    ----------
    text : SourceText
    rule : str
        Rule name for error messages.
    columns : mapping of str to str, optional
        Column types; enables unknown-column and type checks.
    scope : Scope
    stmt_start : int
        Offset of the statement (bounds the search for function names).
    """

    def __init__(self, text: SourceText, rule: str, columns: Mapping[str, str] | None,
                 scope: Scope, stmt_start: int = 0) -> None:
        self.text = text
        self.rule = rule
        self.columns = columns
        self.scope = scope
        self.stmt_start = stmt_start
        self.used: set[str] = set()

    # -- positions ----------------------------------------------------------------------------
    def offset(self, node: exp.Expression) -> int:
        """Offset of the first character of ``node``'s text."""
        starts = [n.meta["start"] for n in node.walk() if n.meta and "start" in n.meta]
        best = min(starts) if starts else self.stmt_start
        name = self._func_name(node)
        if name and not (node.meta and "start" in node.meta):
            hits = list(re.finditer(rf"\b{re.escape(name)}\s*\(", self.text.text[
                self.stmt_start:best], re.I))
            if hits:
                return self.stmt_start + hits[-1].start()
        return best

    @staticmethod
    def _func_name(node: exp.Expression) -> str | None:
        if isinstance(node, exp.Anonymous):
            return str(node.name)
        if isinstance(node, exp.Func) and not isinstance(node, (exp.Case, exp.If)):
            return type(node).__name__.upper()
        return None

    def error(self, node: exp.Expression | int, message: str) -> RuleError:
        off = node if isinstance(node, int) else self.offset(node)
        return self.text.error(off, self.rule, message)

    def sub(self, scope: Scope) -> ExprCompiler:
        """A compiler for a nested scope sharing this one's settings and used columns."""
        c = ExprCompiler(self.text, self.rule, self.columns, scope, self.stmt_start)
        c.used = self.used
        return c

    # -- entry points -------------------------------------------------------------------------
    def condition(self, node: exp.Expression) -> Expr:
        """A boolean expression."""
        e, t = self.compile(node)
        self._need(node, t, "bool", "a condition")
        return e

    def compile(self, node: exp.Expression) -> tuple[Expr, Type]:
        """Any expression, with its type."""
        fn: Callable[[Any], tuple[Expr, Type]] | None = getattr(
            self, "_c_" + type(node).__name__, None)
        if type(node) in _CMP:
            return self._compare(node, _CMP[type(node)]), "bool"
        if type(node) in _ARITH:
            return self._arith(node, _ARITH[type(node)])
        if type(node) in _AGG:
            return self._nav(node, _AGG[type(node)])
        if fn is None:
            raise self.error(node, f"unsupported expression {node.sql(dialect='trino')!r}")
        return fn(node)

    # -- checks -------------------------------------------------------------------------------
    def _need(self, node: exp.Expression, t: Type, cat: str, what: str) -> None:
        c = _cat(t)
        if c is not None and c != cat:
            want = {"bool": "boolean", "number": "numeric", "string": "string"}[cat]
            raise self.error(node, f"{what} must be {want}, got {t}")

    # -- leaves -------------------------------------------------------------------------------
    def _c_Paren(self, node: exp.Paren) -> tuple[Expr, Type]:
        return self.compile(node.this)

    def _c_Boolean(self, node: exp.Boolean) -> tuple[Expr, Type]:
        return lit(bool(node.this)), "bool"

    def _c_Null(self, node: exp.Null) -> tuple[Expr, Type]:
        return lit(None), "null"

    def _c_Literal(self, node: exp.Literal) -> tuple[Expr, Type]:
        if node.is_string:
            return lit(str(node.this)), "string"
        s = str(node.this)
        try:
            return lit(int(s)), "int64"
        except ValueError:
            return lit(float(s)), "float64"

    def _c_Interval(self, node: exp.Interval) -> tuple[Expr, Type]:
        unit = node.args.get("unit")
        value = node.this
        try:
            ms = interval_ms(str(value.this if isinstance(value, exp.Literal) else value),
                             str(unit.name if unit is not None else "MILLISECOND"))
        except ValueError as exc:
            raise self.error(node, str(exc)) from None
        return lit(ms), "int64"

    def _col_type(self, node: exp.Expression, name: str) -> Type:
        self.used.add(name)
        if self.columns is None:
            return None
        if name not in self.columns:
            raise self.error(node, f"unknown column {name!r}")
        return self.columns[name]

    def _c_Column(self, node: exp.Column) -> tuple[Expr, Type]:
        if isinstance(node.this, exp.Star):
            raise self.error(node, "'*' is only allowed in COUNT(*) / COUNT(var.*)")
        name = str(node.name)
        qual = str(node.table) if node.table else ""
        sc = self.scope
        if qual and sc.mode in ("plain",):
            if qual not in sc.table_aliases:
                raise self.error(node, f"unknown table or pattern variable {qual!r}")
            qual = ""
        if qual and qual not in sc.variables and sc.mode != "plain":
            raise self.error(node, f"unknown pattern variable {qual!r}")
        t = self._col_type(node.this, name)
        if sc.mode in ("plain", "row"):
            return col(name), t
        if sc.mode == "define":
            if not qual or qual == sc.current:
                return col(name), t
            if qual in sc.alternated:
                raise self.error(node, f"unsupported: a DEFINE cannot refer to {qual!r}, a "
                                       "variable of an alternation")
            return MatchRef("last", (sc.stage_of[qual],), col(name)), t
        return self._placeholder(Nav("last", qual or None, col(name))), t

    def _placeholder(self, nav: Nav) -> Expr:
        self.scope.navs.append(nav)
        return col(f"\x00nav{len(self.scope.navs) - 1}")

    # -- logic --------------------------------------------------------------------------------
    def _c_And(self, node: exp.And) -> tuple[Expr, Type]:
        return self.condition(node.this) & self.condition(node.expression), "bool"

    def _c_Or(self, node: exp.Or) -> tuple[Expr, Type]:
        return self.condition(node.this) | self.condition(node.expression), "bool"

    def _c_Not(self, node: exp.Not) -> tuple[Expr, Type]:
        return self.negate(node.this), "bool"

    def negate(self, node: exp.Expression) -> Expr:
        """``NOT node`` in negation normal form (TRUE only where ``node`` is FALSE)."""
        if isinstance(node, exp.Paren):
            return self.negate(node.this)
        if isinstance(node, exp.Not):
            return self.condition(node.this)
        if isinstance(node, exp.And):
            return self.negate(node.this) | self.negate(node.expression)
        if isinstance(node, exp.Or):
            return self.negate(node.this) & self.negate(node.expression)
        if type(node) in _CMP:
            return self._compare(node, _NEG_CMP[_CMP[type(node)]])
        if isinstance(node, exp.Is):
            return ~self._c_Is(node)[0]
        if isinstance(node, exp.In):
            e, _ = self.compile(node.this)
            return ~self._c_In(node)[0] & ~is_null(e)
        if isinstance(node, exp.Between):
            e, t = self.compile(node.this)
            lo, tl = self.compile(node.args["low"])
            hi, th = self.compile(node.args["high"])
            self._comparable(node, t, tl)
            self._comparable(node, t, th)
            return (e < lo) | (e > hi)
        if isinstance(node, exp.Boolean):
            return lit(not node.this)
        e = self.condition(node)
        return Binary("==", e, lit(False))

    def _comparable(self, node: exp.Expression, a: Type, b: Type) -> None:
        ca, cb = _cat(a), _cat(b)
        if ca is not None and cb is not None and ca != cb:
            raise self.error(node, f"cannot compare {a} with {b}")

    def _compare(self, node: exp.Expression, op: str) -> Expr:
        a, ta = self.compile(node.this)
        b, tb = self.compile(node.expression)
        self._comparable(node, ta, tb)
        e: Expr = Binary(op, a, b)
        if op == "!=":
            # NaN != x is true in IEEE arithmetic but NULL in SQL
            for side, t in ((a, ta), (b, tb)):
                if t not in ("int64", "bool", "string") and not isinstance(side, Lit):
                    e = e & ~is_null(side)
        return e

    def _c_Is(self, node: exp.Is) -> tuple[Expr, Type]:
        if not isinstance(node.expression, exp.Null):
            raise self.error(node, "only IS NULL / IS NOT NULL are supported")
        e, _ = self.compile(node.this)
        return is_null(e), "bool"

    def _const(self, node: exp.Expression) -> tuple[Any, Type]:
        e, t = self.compile(node)
        if not isinstance(e, Lit):
            raise self.error(node, "IN lists must hold constants")
        return e.value, t

    def _c_In(self, node: exp.In) -> tuple[Expr, Type]:
        if node.args.get("query") is not None:
            raise self.error(node, "unsupported: IN with a subquery")
        e, t = self.compile(node.this)
        values = []
        for v in node.expressions:
            val, tv = self._const(v)
            self._comparable(v, t, tv)
            values.append(val)
        return e.is_in(values), "bool"

    def _c_Between(self, node: exp.Between) -> tuple[Expr, Type]:
        e, t = self.compile(node.this)
        lo, tl = self.compile(node.args["low"])
        hi, th = self.compile(node.args["high"])
        self._comparable(node, t, tl)
        self._comparable(node, t, th)
        return (e >= lo) & (e <= hi), "bool"

    # -- arithmetic ---------------------------------------------------------------------------
    def _arith(self, node: exp.Expression, op: str) -> tuple[Expr, Type]:
        a, ta = self.compile(node.this)
        b, tb = self.compile(node.expression)
        for sub, tt in ((node.this, ta), (node.expression, tb)):
            self._need(sub, tt, "number", f"an operand of '{op}'")
        t: Type
        if ta is None or tb is None:
            t = None
        elif op == "/" or "float64" in (ta, tb):
            t = "float64"
        elif "timestamp" in (ta, tb):
            t = "int64" if ta == tb == "timestamp" and op == "-" else "timestamp"
        else:
            t = "int64"
        return Binary(op, a, b), t

    def _c_Neg(self, node: exp.Neg) -> tuple[Expr, Type]:
        e, t = self.compile(node.this)
        self._need(node.this, t, "number", "the operand of '-'")
        return Unary("neg", e), t

    def _c_Abs(self, node: exp.Abs) -> tuple[Expr, Type]:
        e, t = self.compile(node.this)
        self._need(node.this, t, "number", "the argument of ABS")
        return Unary("abs", e), t

    # -- conditional --------------------------------------------------------------------------
    def _branches(self, pairs: list[tuple[exp.Expression, exp.Expression]],
                  default: exp.Expression | None) -> tuple[Expr, Type]:
        conds, vals, types = [], [], []
        for c, v in pairs:
            conds.append(self.condition(c))
            ve, vt = self.compile(v)
            vals.append(ve)
            types.append((v, vt))
        if default is not None:
            de, dt = self.compile(default)
            types.append((default, dt))
        else:
            de = lit(None)
        known = [(n, t) for n, t in types if _cat(t) is not None]
        for n, t in known[1:]:
            if _cat(t) != _cat(known[0][1]):
                raise self.error(n, f"CASE branches mix {known[0][1]} and {t}")
        t_out: Type = known[0][1] if known else None
        if any(t == "float64" for _, t in known):
            t_out = "float64"
        return case(list(zip(conds, vals, strict=True)), de), t_out

    def _c_Case(self, node: exp.Case) -> tuple[Expr, Type]:
        if node.this is not None:
            raise self.error(node, "unsupported: simple CASE x WHEN ...; write CASE WHEN x = ...")
        return self._branches([(i.this, i.args["true"]) for i in node.args["ifs"]],
                              node.args.get("default"))

    def _c_If(self, node: exp.If) -> tuple[Expr, Type]:
        return self._branches([(node.this, node.args["true"])], node.args.get("false"))

    def _c_Coalesce(self, node: exp.Coalesce) -> tuple[Expr, Type]:
        args = [node.this, *node.expressions]
        pairs = []
        for a in args[:-1]:
            pairs.append((a, a))
        compiled = [self.compile(a) for a in args]
        known = [t for _, t in compiled if _cat(t) is not None]
        for a, (_, t) in zip(args, compiled, strict=True):
            if known and _cat(t) is not None and _cat(t) != _cat(known[0]):
                raise self.error(a, f"COALESCE mixes {known[0]} and {t}")
        branches = [(~is_null(e), e) for e, _ in compiled[:-1]]
        t_out = "float64" if "float64" in known else (known[0] if known else None)
        return case(branches, compiled[-1][0]), t_out

    # -- navigation ---------------------------------------------------------------------------
    def _c_First(self, node: exp.First) -> tuple[Expr, Type]:
        return self._nav(node, "first")

    def _c_Last(self, node: exp.Last) -> tuple[Expr, Type]:
        return self._nav(node, "last")

    def _variable_of(self, node: exp.Expression, what: str,
                     at: exp.Expression | None = None) -> str | None:
        quals = []
        for c in node.find_all(exp.Column):
            q = str(c.table) if c.table else ""
            if q and q not in self.scope.variables:
                raise self.error(c, f"unknown pattern variable {q!r}")
            quals.append(q)
        for inner in node.find_all(exp.First, exp.Last, *_AGG):
            if inner is not node:
                raise self.error(cast(exp.Expression, inner),
                                 f"navigation functions cannot be nested in {what}")
        distinct = set(quals)
        if len(distinct) > 1:
            raise self.error(at or node, f"the argument of {what} must refer to one pattern "
                                   f"variable, got {sorted(v or '*' for v in distinct)}")
        return distinct.pop() or None if distinct else None

    def _literal_int(self, node: exp.Expression | None, what: str) -> int:
        if node is None:
            return 0
        if not (isinstance(node, exp.Literal) and not node.is_string
                and str(node.this).isdigit()):
            raise self.error(node, f"the offset of {what} must be a non-negative integer "
                                   "literal")
        return int(str(node.this))

    def _nav(self, node: exp.Expression, func: str) -> tuple[Expr, Type]:
        sc = self.scope
        what = func.upper()
        if sc.mode in ("plain", "row"):
            raise self.error(node, f"{what} is only allowed in MEASURES and DEFINE")
        if node.args.get("distinct") or isinstance(node.this, exp.Distinct):
            raise self.error(node, "unsupported: DISTINCT aggregates (as in Flink SQL)")
        arg = node.this
        offset = self._literal_int(node.args.get("expression"), what) if func in (
            "first", "last") else 0
        operand: Expr | None
        var: str | None
        if func == "count" and (isinstance(arg, exp.Star) or (
                isinstance(arg, exp.Column) and isinstance(arg.this, exp.Star))):
            var = (str(arg.table) if isinstance(arg, exp.Column) and arg.table
                   else None)
            if var is not None and var not in sc.variables:
                raise self.error(arg, f"unknown pattern variable {var!r}")
            operand = None
            t: Type = "int64"
        else:
            var = self._variable_of(arg, what, node)  # the single variable, if any
            operand, t = self.sub(Scope("row", sc.variables, table_aliases=frozenset())
                                  ).compile(arg)
            if func in ("sum", "avg"):
                self._need(arg, t, "number", f"the argument of {what}")
            if func in ("min", "max") and t == "bool":
                raise self.error(arg, f"the argument of {what} cannot be boolean")
        t_out: Type = {"count": "int64", "avg": "float64"}.get(func, t)
        if sc.mode == "measure":
            return self._placeholder(Nav(func, var, operand, offset)), t_out
        # define: running semantics
        if var is not None and var in sc.alternated:
            raise self.error(node, f"unsupported: navigation over {var!r}, a variable of an "
                                   "alternation")
        if func == "last" and offset == 0 and var in (None, sc.current):
            assert operand is not None
            return operand, t_out
        if var is None:
            stages, current = sc.stages(), True
        else:
            stages, current = (sc.stage_of[var],), var == sc.current
        return MatchRef(func, stages, operand, current, offset), t_out

    def _c_Anonymous(self, node: exp.Anonymous) -> tuple[Expr, Type]:
        name = str(node.name).upper()
        sc = self.scope
        args = list(node.expressions)
        if name in ("PREV", "NEXT"):
            if name == "NEXT":
                raise self.error(node, "unsupported: NEXT (a streaming rule cannot wait for "
                                       "rows that have not arrived; Flink SQL rejects it too)")
            if sc.mode != "define":
                raise self.error(node, "unsupported: PREV outside DEFINE")
            if not 1 <= len(args) <= 2:
                raise self.error(node, "PREV takes one or two arguments")
            var = self._variable_of(args[0], "PREV")
            if var not in (None, sc.current):
                raise self.error(args[0], f"unsupported: PREV of {var!r} in the DEFINE of "
                                          f"{sc.current!r} (PREV may only read the row "
                                          "being tested, e.g. PREV(price))")
            n = self._literal_int(args[1], "PREV") if len(args) == 2 else 1
            operand, t = self.sub(Scope("row", sc.variables)).compile(args[0])
            return (operand if n == 0 else Prev(operand, n)), t
        if name == "MATCH_ROWTIME":
            if sc.mode != "measure":
                raise self.error(node, "MATCH_ROWTIME() is only allowed in MEASURES")
            if len(args) > 1:
                raise self.error(node, "MATCH_ROWTIME takes at most one argument")
            return self._placeholder(Nav("rowtime", None, None)), "timestamp"
        if name == "CLASSIFIER":
            if sc.mode != "measure":
                raise self.error(node, "unsupported: CLASSIFIER() outside MEASURES")
            return self._placeholder(Nav("classifier", None, None)), "string"
        if name in ("MATCH_NUMBER", "MATCH_PROCTIME"):
            raise self.error(node, f"unsupported: {name}()")
        raise self.error(node, f"unsupported function {name}")
