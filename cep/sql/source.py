"""Rule text handling: positions, statement splitting, and the clauses sqlglot does not parse.

sqlglot (dialect ``trino``) parses ``MATCH_RECOGNIZE`` but not Flink's ``WITHIN INTERVAL ...``
after ``PATTERN (...)`` nor ``AFTER MATCH SKIP TO <variable>``. Those two clauses are located
with sqlglot's tokenizer, read here, and blanked out (replaced by spaces, newlines kept) before
parsing, so every character offset, and hence every line:column sqlglot reports, stays that of
the original text. The ``PATTERN`` body is kept as raw text with its offset and parsed by
:mod:`cep.sql.pattern_syntax`.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from sqlglot import tokens as sg_tokens
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import TokenError

from cep.sql.errors import RuleError

__all__ = ["DIALECT", "Clause", "SourceText", "Statement", "interval_ms", "split_statements"]

#: The sqlglot dialect used to read rules.
DIALECT = "trino"

_UNITS_MS = {
    "MILLISECOND": 1, "SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000,
}


def interval_ms(value: str, unit: str) -> int:
    """Milliseconds of ``INTERVAL 'value' unit`` (unit singular or plural, any case).

    Raises
    ------
    ValueError
        For an unknown unit or a value that is not a non-negative number.
    """
    u = unit.upper().rstrip("S") if unit.upper() != "MS" else "MILLISECOND"
    if u not in _UNITS_MS:
        raise ValueError(f"unsupported interval unit {unit!r} (use MILLISECOND, SECOND, "
                         "MINUTE, HOUR or DAY)")
    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        raise ValueError(f"interval value {value!r} is not a non-negative number")
    ms = float(value) * _UNITS_MS[u]
    if ms != int(ms):
        raise ValueError(f"interval {value!r} {unit} is not a whole number of milliseconds")
    return int(ms)


class SourceText:
    """A rule text with offset -> (line, column) conversion (both 1-based)."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self._starts = [0] + [m.end() for m in re.finditer(r"\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        i = bisect.bisect_right(self._starts, offset) - 1
        return i + 1, offset - self._starts[i] + 1

    def offset(self, line: int, column: int) -> int:
        """Character offset of a 1-based (line, column)."""
        line = max(1, min(line, len(self._starts)))
        return self._starts[line - 1] + max(column, 1) - 1

    def error(self, offset: int, rule: str, message: str) -> RuleError:
        """A :class:`RuleError` at ``offset``."""
        line, col = self.position(offset)
        return RuleError(message, source=self.source, line=line, column=col, rule=rule)


@dataclass(frozen=True)
class Clause:
    """A clause read from tokens: its words (upper-cased keywords, names as written) with
    their offsets, and its character span."""

    words: tuple[tuple[str, int], ...]
    start: int
    end: int


@dataclass(frozen=True)
class Statement:
    """One statement of a rule text.

    Attributes
    ----------
    start, end : int
        Character span in the text.
    masked : str
        The whole text with everything outside the statement, the ``WITHIN`` clause and the
        ``AFTER MATCH`` clause replaced by spaces (offsets unchanged): what sqlglot parses.
    within, after : Clause or None
    pattern : tuple of (str, int) or None
        The ``PATTERN`` body (between the parentheses) and its offset.
    pattern_offset : int
        Offset of the ``PATTERN`` keyword (-1 if none).
    """

    start: int
    end: int
    masked: str
    within: Clause | None
    after: Clause | None
    pattern: tuple[str, int] | None
    pattern_offset: int


def _blank(chars: list[str], start: int, end: int) -> None:
    for i in range(start, end):
        if chars[i] != "\n":
            chars[i] = " "


def _tokenize(st: SourceText, rule: str) -> list[sg_tokens.Token]:
    try:
        return list(Dialect.get_or_raise(DIALECT).tokenize(st.text))
    except TokenError as exc:
        m = re.search(r"Line (\d+), Col: (\d+)", str(exc))
        line, col = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
        raise RuleError(f"syntax error: {str(exc).splitlines()[0]}", source=st.source,
                        line=line, column=col, rule=rule) from None


def split_statements(st: SourceText, rule: str = "") -> list[Statement]:
    """Split a text at ``;`` (outside strings and comments) into :class:`Statement` objects;
    empty statements are dropped.

    Raises
    ------
    RuleError
        If the text cannot be tokenized (e.g. an unterminated string).
    """
    toks = _tokenize(st, rule)
    groups: list[list[sg_tokens.Token]] = [[]]
    for t in toks:
        if t.token_type == sg_tokens.TokenType.SEMICOLON:
            groups.append([])
        else:
            groups[-1].append(t)
    out = []
    for g in groups:
        if g:
            out.append(_statement(st, g))
    return out


def _statement(st: SourceText, toks: list[sg_tokens.Token]) -> Statement:
    start, end = toks[0].start, toks[-1].end + 1
    chars = list(st.text)
    _blank(chars, 0, start)
    _blank(chars, end, len(chars))
    within = after = None
    pattern = None
    pattern_offset = -1
    upper = [t.text.upper() for t in toks]
    i = 0
    while i < len(toks):
        word = upper[i]
        if word == "AFTER" and i + 1 < len(toks) and upper[i + 1] == "MATCH":
            j = i
            while j < len(toks) and upper[j] not in ("PATTERN", "DEFINE", "MEASURES", ")"):
                j += 1
            after = Clause(tuple((toks[k].text, toks[k].start) for k in range(i, j)),
                           toks[i].start, toks[j - 1].end + 1)
            _blank(chars, after.start, after.end)
            i = j
            continue
        if (word == "PATTERN" and pattern is None and i + 1 < len(toks)
                and toks[i + 1].token_type == sg_tokens.TokenType.L_PAREN):
            pattern_offset = toks[i].start
            depth = 0
            j = i + 1
            while j < len(toks):
                tt = toks[j].token_type
                depth += tt == sg_tokens.TokenType.L_PAREN
                depth -= tt == sg_tokens.TokenType.R_PAREN
                if depth == 0:
                    break
                j += 1
            body_start = toks[i + 1].end + 1
            body_end = toks[j].start if j < len(toks) else end
            pattern = (st.text[body_start:body_end], body_start)
            k = j + 1
            if k < len(toks) and upper[k] == "WITHIN":
                m = k + 1
                while m < len(toks) and upper[m] not in ("DEFINE", "MEASURES", ")", "SUBSET"):
                    m += 1
                within = Clause(tuple((toks[q].text, toks[q].start) for q in range(k, m)),
                                toks[k].start, toks[m - 1].end + 1)
                _blank(chars, within.start, within.end)
                i = m
                continue
            i = j + 1
            continue
        i += 1
    return Statement(start, end, "".join(chars), within, after, pattern, pattern_offset)
