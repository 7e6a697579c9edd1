"""Every kind of rule error, with its exact position (line:column, 1-based; the expected
position is that of a given piece of the text)."""

from __future__ import annotations

import pytest

from cep.sql import RuleError, RuleErrors, check_rules, compile_expression, compile_rules

COLS = {"ts": "timestamp", "x": "int64", "f": "float64", "s": "string", "b": "bool"}


def errors(sql: str, columns: dict[str, str] | None = COLS) -> list[tuple[int, int, str]]:
    return [(e.line, e.column, e.message) for e in check_rules(sql, columns=columns)]


def at(sql: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based (line, column) of the ``nth`` occurrence of ``needle`` in ``sql``."""
    i = -1
    for _ in range(nth + 1):
        i = sql.index(needle, i + 1)
    return sql.count("\n", 0, i) + 1, i - (sql.rfind("\n", 0, i) + 1) + 1


def one(sql: str, columns: dict[str, str] | None = COLS) -> tuple[int, int, str]:
    errs = errors(sql, columns)
    assert len(errs) == 1, errs
    return errs[0]


def test_error_format_and_attributes() -> None:
    sql = "SELECT * FROM t MATCH_RECOGNIZE (\n  ORDER BY ts\n  PATTERN (A B+)\n) AS r1"
    with pytest.raises(RuleError) as info:
        compile_rules(sql, source="rules/x.sql")
    e = info.value
    assert (e.source, e.line, e.column, e.rule) == ("rules/x.sql", 3, 15, "r1")
    assert str(e) == f"rules/x.sql:3:15: rule 'r1': {e.message}"
    assert "greedy quantifier cannot end the pattern" in e.message
    assert isinstance(e, ValueError)


def test_syntax_error_position() -> None:
    line, col, msg = one("SELECT * FROM t MATCH_RECOGNIZE (\n  ORDER BY ts\n"
                         "  PATTERN (A B)\n  DEFINE A AS A.x > \n)")
    assert (line, col) == (5, 1) and msg.startswith("syntax error")


def test_unknown_variable_and_column_and_type_mismatch() -> None:
    sql = ("SELECT * FROM t MATCH_RECOGNIZE (\n"
           "  ORDER BY ts\n"
           "  MEASURES SUM(A.s) AS total, A.nope AS n\n"
           "  PATTERN (A B C)\n"
           "  DEFINE A AS Q.x > 1,\n"
           "    B AS B.s > 1,\n"
           "    C AS NEXT(x) > 1\n"
           ")")
    assert errors(sql) == [
        (*at(sql, "A.s"), "the argument of SUM must be numeric, got string"),
        (*at(sql, "nope"), "unknown column 'nope'"),
        (*at(sql, "Q.x"), "unknown pattern variable 'Q'"),
        (*at(sql, "B.s"), "cannot compare string with int64"),
        (*at(sql, "NEXT"), "unsupported: NEXT (a streaming rule cannot wait for rows that "
                           "have not arrived; Flink SQL rejects it too)"),
    ]
    with pytest.raises(RuleErrors) as info:
        compile_rules(sql, columns=COLS)
    assert len(info.value.errors) == 5 and str(info.value).count("\n") == 4


def test_unknown_columns_only_with_a_schema() -> None:
    sql = "SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts PATTERN (A) DEFINE A AS A.zz > 1)"
    assert errors(sql, None) == []
    assert one(sql) == (*at(sql, "zz"), "unknown column 'zz'")


@pytest.mark.parametrize(("pattern", "needle", "message"), [
    ("A (B C)+ D", "+", "unsupported: a quantifier on a group of several variables (Flink SQL "
                        "does not support pattern groups)"),
    ("A B?? C", "??", "unsupported: reluctant optional quantifier '??' (as in Flink SQL)"),
    ("A? B*", "A?", "patterns that can match no rows are not supported (at least one variable "
                    "must be mandatory, as in Flink SQL)"),
    ("A B{2,}", "{2,}", "a greedy quantifier cannot end the pattern (as in Flink SQL); make it "
                        "reluctant (e.g. 'B+?') or add a closing variable"),
    ("A B A", "A)", "pattern variable 'A' appears twice (variables must be unique, as in Flink "
                    "SQL)"),
    ("A {0} B", "{0}", "malformed pattern: quantifier {0} is not allowed (n must be > 0)"),
    ("A B{3,2} C", "{3,2}", "malformed pattern: quantifier {3,2} has an empty range"),
    ("^A B", "^", "malformed pattern: anchor '^' is not supported"),
    ("A | | B", "| B", "malformed pattern: expected a pattern variable"),
    ("A (B C+ | D) E", "B C+", "unsupported: alternation branches must be single variables "
                               "without quantifiers, e.g. (A | B)+"),
])
def test_pattern_errors(pattern: str, needle: str, message: str) -> None:
    sql = f"SELECT * FROM t\nMATCH_RECOGNIZE (ORDER BY ts PATTERN ({pattern}))"
    assert one(sql, None) == (*at(sql, needle), message)


def test_clause_errors() -> None:
    sql = ("SELECT * FROM t MATCH_RECOGNIZE (\n"
           "  ORDER BY ts\n"
           "  AFTER MATCH SKIP TO LAST Z\n"
           "  PATTERN (A B) WITHIN INTERVAL '10' FORTNIGHT\n"
           "  DEFINE C AS C.x > 1\n"
           ")")
    assert errors(sql) == [
        (*at(sql, "Z\n"), "unknown pattern variable 'Z'"),
        (*at(sql, "'10'"), "unsupported interval unit 'FORTNIGHT' (use MILLISECOND, SECOND, "
                           "MINUTE, HOUR or DAY)"),
        (*at(sql, "C AS"), "DEFINE of 'C', which is not a pattern variable"),
    ]


def test_order_by_errors() -> None:
    base = "SELECT * FROM t MATCH_RECOGNIZE ({} PATTERN (A))"
    sql = base.format("ORDER BY ts DESC")
    assert one(sql) == (*at(sql, "ts"), "ORDER BY must be ascending (event time)")
    sql = base.format("ORDER BY ts, x")
    assert one(sql) == (*at(sql, "x"), "unsupported: ORDER BY takes exactly one column, the "
                                       "event time")
    sql = base.format("ORDER BY s")
    assert one(sql) == (*at(sql, "s P"), "the ORDER BY column 's' must be a timestamp "
                                         "(int64 epoch ms), got string")
    assert one(base.format(""))[2] == "ORDER BY <event-time column> is required"


def test_measure_and_define_misuse() -> None:
    sql = ("SELECT * FROM t MATCH_RECOGNIZE (\n"
           "  ORDER BY ts\n"
           "  MEASURES PREV(A.x) AS p, MATCH_NUMBER() AS n\n"
           "  PATTERN (A B)\n"
           "  DEFINE A AS PREV(B.x) > 1 AND MATCH_ROWTIME() > 0,\n"
           "    B AS LAST(A.x + B.x) > 1\n"
           ")")
    assert errors(sql) == [
        (*at(sql, "PREV"), "unsupported: PREV outside DEFINE"),
        (*at(sql, "MATCH_NUMBER"), "unsupported: MATCH_NUMBER()"),
        (*at(sql, "B.x"), "unsupported: PREV of 'B' in the DEFINE of 'A' (PREV may only read "
                          "the row being tested, e.g. PREV(price))"),
        (*at(sql, "LAST"), "the argument of LAST must refer to one pattern variable, got "
                           "['A', 'B']"),
    ]


def test_logic_type_errors() -> None:
    sql = "SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts PATTERN (A) DEFINE A AS x + 1)"
    assert one(sql) == (*at(sql, "x + 1"), "a condition must be boolean, got int64")
    sql = "SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts PATTERN (A) DEFINE A AS b AND s)"
    assert one(sql) == (*at(sql, "s)"), "a condition must be boolean, got string")


def test_statement_level_errors_and_names() -> None:
    text = ("SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts PATTERN (A));\n"
            "SELECT * FROM t WHERE x > 1;\n"
            "SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts PATTERN (A)) AS fraud_1")
    errs = check_rules(text, source="dir/fraud.sql")
    assert [(e.line, e.column, e.rule) for e in errs] == [(2, 1, "fraud_2"), (3, 1, "fraud_1")]
    assert errs[0].message == "expected SELECT ... FROM <table> MATCH_RECOGNIZE (...)"
    assert errs[1].message == "another rule is named 'fraud_1'"
    assert check_rules("  -- nothing\n")[0].message == "no MATCH_RECOGNIZE statement found"


def test_unterminated_string() -> None:
    (e,) = check_rules("SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts PATTERN (A) "
                       "DEFINE A AS s = 'abc)")
    assert e.message.startswith("syntax error")


def test_compile_expression_errors() -> None:
    text = "f > 1 AND\n  s > 2"
    with pytest.raises(RuleError) as info:
        compile_expression(text, columns=COLS)
    assert (info.value.line, info.value.column, info.value.rule) == (*at(text, "s"),
                                                                     "expression")
    assert info.value.message == "cannot compare string with int64"
    with pytest.raises(RuleError, match="unknown column 'q'"):
        compile_expression("q = 1", columns=COLS)
    with pytest.raises(RuleError, match="only allowed in MEASURES and DEFINE"):
        compile_expression("SUM(x) > 1")
    with pytest.raises(RuleError) as info:
        compile_expression("x > ")
    assert info.value.message.startswith("syntax error")


def test_unknown_column_type_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="expected one of"):
        compile_rules("SELECT 1", columns={"x": "decimal"})
