"""The ``PATTERN (...)`` row-pattern regular expression: a small recursive-descent parser.

Grammar (SQL:2016 row pattern syntax, the part cepkit reads)::

    alternation := sequence ( "|" sequence )*
    sequence    := factor+
    factor      := primary quantifier?
    primary     := variable | "(" alternation ")"
    quantifier  := ( "*" | "+" | "?" | "{" n "}" | "{" n "," "}" | "{" n "," m "}" | "{" "," m "}" )
                   "?"?                                  (a trailing "?" makes it reluctant)
    variable    := [A-Za-z_][A-Za-z0-9_]* | '"' any characters but '"' '"'

Anchors (``^ $``), exclusion (``{- -}``) and ``PERMUTE`` are reported as unsupported. Every node
keeps the character offset of its text so errors point at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Alt", "Concat", "PatternNode", "PatternSyntaxError", "Quantified", "Var",
           "parse_pattern"]


class PatternSyntaxError(Exception):
    """A malformed pattern; ``offset`` is the character offset of the problem."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True)
class Var:
    """A pattern variable."""

    name: str
    offset: int


@dataclass(frozen=True)
class Quantified:
    """``inner`` repeated ``low`` to ``high`` times (``high`` None: unbounded)."""

    inner: PatternNode
    low: int
    high: int | None
    greedy: bool
    offset: int  # of the quantifier text
    text: str


@dataclass(frozen=True)
class Concat:
    """A sequence (strict contiguity)."""

    items: tuple[PatternNode, ...]
    offset: int


@dataclass(frozen=True)
class Alt:
    """An alternation of branches (``|``), in preference order."""

    branches: tuple[PatternNode, ...]
    offset: int


PatternNode = Var | Quantified | Concat | Alt

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACE = re.compile(r"\{\s*(\d*)\s*(,?)\s*(\d*)\s*\}")


class _Parser:
    def __init__(self, text: str, base: int) -> None:
        self.text = text
        self.base = base
        self.i = 0

    def err(self, message: str, at: int | None = None) -> PatternSyntaxError:
        return PatternSyntaxError(message, self.base + (self.i if at is None else at))

    def skip_ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def peek(self) -> str:
        self.skip_ws()
        return self.text[self.i] if self.i < len(self.text) else ""

    def parse(self) -> PatternNode:
        if not self.text.strip():
            raise self.err("empty pattern")
        node = self.alternation()
        if self.peek():
            c = self.peek()
            raise self.err(f"unexpected {c!r} in pattern" if c != ")"
                           else "unbalanced ')' in pattern")
        return node

    def alternation(self) -> PatternNode:
        start = self.i
        self.skip_ws()
        start = self.i
        branches = [self.sequence()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.sequence())
        return branches[0] if len(branches) == 1 else Alt(tuple(branches), self.base + start)

    def sequence(self) -> PatternNode:
        self.skip_ws()
        start = self.i
        items = []
        while self.peek() not in ("", "|", ")"):
            items.append(self.factor())
        if not items:
            raise self.err("expected a pattern variable")
        return items[0] if len(items) == 1 else Concat(tuple(items), self.base + start)

    def factor(self) -> PatternNode:
        prim = self.primary()
        c = self.peek()
        if c not in ("*", "+", "?", "{"):
            return prim
        qstart = self.i
        low: int
        high: int | None
        if c == "{":
            if self.text.startswith("{-", self.i):
                raise self.err("pattern exclusion '{- -}' is not supported")
            m = _BRACE.match(self.text, self.i)
            if m is None:
                raise self.err("malformed quantifier (expected {n}, {n,}, {n,m} or {,m})")
            lo_s, comma, hi_s = m.groups()
            self.i = m.end()
            if not comma:
                if not lo_s:
                    raise self.err("malformed quantifier {}", qstart)
                low = high = int(lo_s)
                if low == 0:
                    raise self.err("quantifier {0} is not allowed (n must be > 0)", qstart)
            else:
                low = int(lo_s) if lo_s else 0
                high = int(hi_s) if hi_s else None
                if high is not None and (high == 0 or high < low):
                    raise self.err(f"quantifier {m.group(0)} has an empty range", qstart)
        else:
            self.i += 1
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
        greedy = True
        if self.i < len(self.text) and self.text[self.i] == "?":
            greedy = False
            self.i += 1
        qtext = self.text[qstart:self.i]
        if self.peek() in ("*", "+", "?", "{") and not self.text.startswith("{-", self.i):
            raise self.err("a quantifier cannot follow a quantifier")
        return Quantified(prim, low, high, greedy, self.base + qstart, qtext)

    def primary(self) -> PatternNode:
        c = self.peek()
        start = self.i
        if c == "(":
            self.i += 1
            if self.peek() == ")":
                raise self.err("empty group '()'")
            inner = self.alternation()
            if self.peek() != ")":
                raise self.err("missing ')' in pattern")
            self.i += 1
            return inner
        if c == '"':
            end = self.text.find('"', self.i + 1)
            if end < 0:
                raise self.err("unterminated quoted variable name")
            self.i = end + 1
            return Var(self.text[start + 1:end], self.base + start)
        m = _IDENT.match(self.text, self.i)
        if m is None:
            if c in ("^", "$"):
                raise self.err(f"anchor {c!r} is not supported")
            raise self.err(f"unexpected {c!r} in pattern" if c else "unexpected end of pattern")
        if m.group(0).upper() == "PERMUTE":
            raise self.err("PERMUTE is not supported")
        self.i = m.end()
        return Var(m.group(0), self.base + start)


def parse_pattern(text: str, offset: int) -> PatternNode:
    """Parse the body of ``PATTERN (...)``; ``offset`` is the body's offset in the rule text.

    Raises
    ------
    PatternSyntaxError
        With the offset of the offending character.
    """
    return _Parser(text, offset).parse()
