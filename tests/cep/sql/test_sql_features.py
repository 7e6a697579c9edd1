"""PREV (with snapshots), alternation, ALL ROWS PER MATCH, SELECT lists, input filters, and
equivalence with hand-written patterns on random streams."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep import AfterMatchSkipStrategy, CepOperator, Pattern, SkipToElementError, col
from cep.sql import compile_expression, compile_rules


def test_prev_is_physical_navigation_and_snapshots() -> None:
    sql = """SELECT * FROM t MATCH_RECOGNIZE (
        PARTITION BY k ORDER BY ts
        MEASURES FIRST(UP.v) AS first_up, COUNT(UP.*) AS n
        AFTER MATCH SKIP PAST LAST ROW
        PATTERN (UP{2})
        DEFINE UP AS UP.v > PREV(v)
    )"""
    (rule,) = compile_rules(sql)
    # the first UP row compares with the row before the match (physical navigation)
    cols = {"k": np.array([1, 1, 1, 1, 1, 1]), "ts": np.arange(6),
            "v": np.array([5, 6, 7, 1, 2, 3])}
    out = rule.run(cols)
    assert out["first_up"].tolist() == [6.0, 2.0] and out["n"].tolist() == [2, 2]
    # snapshot in the middle: the PREV history survives restore
    op = rule.operator()
    c = dict(cols, __key__=cols["k"])
    first = {k: v[:4] for k, v in c.items()}
    rest = {k: v[4:] for k, v in c.items()}
    a = op.process(first, first["ts"], first["ts"])
    again = rule.operator()
    again.restore(op.snapshot())
    b = again.process(rest, rest["ts"], rest["ts"])
    tail = again.finish()
    got = [rule.measures(t.matches)["first_up"].tolist() for t in (a, b, tail)]
    assert [x for g in got for x in g] == [6.0, 2.0]


def test_prev_on_first_row_is_null() -> None:
    sql = """SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts MEASURES A.v AS v
        AFTER MATCH SKIP PAST LAST ROW PATTERN (A) DEFINE A AS PREV(v, 2) IS NULL)"""
    (rule,) = compile_rules(sql)
    out = rule.run({"ts": np.arange(4), "v": np.arange(4)})
    assert out["v"].tolist() == [0.0, 1.0]


def test_alternation_labels_rows() -> None:
    sql = """SELECT * FROM t MATCH_RECOGNIZE (
        ORDER BY ts
        MEASURES COUNT(UP.*) AS ups, COUNT(DOWN.*) AS downs, CLASSIFIER() AS last_var,
                 SUM(UP.d) AS up_sum
        AFTER MATCH SKIP PAST LAST ROW
        PATTERN (S (UP | DOWN){3} E)
        DEFINE S AS kind = 's', UP AS d > 0, DOWN AS d < 0, E AS kind = 'e'
    )"""
    (rule,) = compile_rules(sql)
    cols = {"ts": np.arange(6), "kind": np.array(["s", "x", "x", "x", "e", "s"], object),
            "d": np.array([0, 1, -2, 3, 0, 0])}
    out = rule.run(cols)
    assert out["ups"].tolist() == [2] and out["downs"].tolist() == [1]
    assert out["last_var"].tolist() == ["E"] and out["up_sum"].tolist() == [4.0]


def test_all_rows_per_match_and_select_list() -> None:
    sql = """SELECT k, total, cls FROM t MATCH_RECOGNIZE (
        PARTITION BY k ORDER BY ts
        MEASURES SUM(A.v) AS total, CLASSIFIER() AS cls
        ALL ROWS PER MATCH
        AFTER MATCH SKIP PAST LAST ROW
        PATTERN (A+? B) DEFINE A AS v < 10, B AS v >= 10
    ) AS r"""
    (rule,) = compile_rules(sql)
    assert rule.rows_per_match == "all" and rule.output_columns == ("k", "total", "cls")
    cols = {"k": np.array(["a", "a", "a", "b", "b"], object), "ts": np.arange(5),
            "v": np.array([1, 2, 10, 3, 11])}
    out = rule.run(cols)
    assert out == {"k": out["k"], "total": out["total"], "cls": out["cls"]}
    assert out["k"].tolist() == ["a", "a", "a", "b", "b"]
    assert out["total"].tolist() == [3.0, 3.0, 3.0, 3.0, 3.0]
    assert out["cls"].tolist() == ["A", "A", "B", "A", "B"]


def test_input_filter_and_expression_functions() -> None:
    sql = """SELECT * FROM (SELECT * FROM tx WHERE amount > 0) AS f MATCH_RECOGNIZE (
        ORDER BY ts
        MEASURES CASE WHEN MAX(A.amount) > 100 THEN 'big' ELSE 'small' END AS size,
                 MATCH_ROWTIME() AS at, AVG(A.amount) AS avg_amount
        AFTER MATCH SKIP PAST LAST ROW
        PATTERN (A{2})
        DEFINE A AS country IN ('DE', 'FR') AND amount BETWEEN 1 AND 500 AND note IS NULL
    ) AS m"""
    (rule,) = compile_rules(sql)
    assert rule.table == "tx" and rule.input_filter is not None
    cols = {"ts": np.arange(6), "amount": np.array([50.0, -1.0, 200.0, 5.0, 6.0, 7.0]),
            "country": np.array(["DE", "DE", "FR", "US", "DE", "DE"], object),
            "note": np.array([None, None, None, None, None, "x"], object)}
    out = rule.run(cols)
    assert out["size"].tolist() == ["big"] and out["at"].tolist() == [2]
    assert out["at"].dtype == np.int64 and out["avg_amount"].tolist() == [125.0]
    e = compile_expression("NOT (amount < 10) AND amount <> 20")
    vals = {"amount": np.array([5.0, 20.0, 30.0, np.nan])}
    assert e.evaluate(vals, 4).tolist() == [False, False, True, False]


def test_rule_names_and_columns_used() -> None:
    text = ("SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts PATTERN (A) DEFINE A AS x > 1);\n"
            "SELECT * FROM t MATCH_RECOGNIZE (PARTITION BY k ORDER BY ts "
            "MEASURES LAST(y) AS y PATTERN (A))")
    r1, r2 = compile_rules(text)
    assert (r1.name, r2.name, r2.line) == ("rule_1", "rule_2", 2)
    assert r1.columns_used == {"ts", "x"} and r2.columns_used == {"ts", "k", "y"}
    (only,) = compile_rules("SELECT * FROM t MATCH_RECOGNIZE (ORDER BY ts PATTERN (A))",
                            source="x/alerts.sql")
    assert only.name == "alerts"


# -- equivalence with the hand-written Pattern -------------------------------------------------

SQL = """SELECT * FROM t MATCH_RECOGNIZE (
    PARTITION BY k ORDER BY ts
    MEASURES FIRST(A.v) AS a
    {skip}
    PATTERN (A B{quant} C) {within}
    DEFINE A AS v = 0, B AS v = 1, C AS v = 2
)"""


def hand(quant: str, skip: AfterMatchSkipStrategy, within: int | None) -> Pattern:
    p = Pattern.begin("A", skip).where(col("v") == 0).next("B").where(col("v") == 1)
    p = {"*": p.one_or_more().optional().consecutive().greedy(),
         "+?": p.one_or_more().consecutive(),
         "{1,2}": p.times(1, 2).consecutive().greedy(),
         "?": p.optional()}[quant]
    p = p.next("C").where(col("v") == 2)
    return p.within(within) if within else p


def matches(op: CepOperator, ks: np.ndarray, vs: np.ndarray, ts: np.ndarray) -> list[object]:
    cols = {"k": ks, "v": vs, "__key__": ks}
    try:
        outs = [op.process(cols, ts, ts), op.finish()]
    except SkipToElementError as exc:  # SKIP TO LAST B without a B row (as Flink)
        return [str(exc)]
    return [(m.key, [(s, e["v"]) for s, evs in m.events.items() for e in evs])
            for o in outs for m in o.matches]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 2)), max_size=25),
       st.sampled_from(["*", "+?", "{1,2}", "?"]),
       st.sampled_from([("", AfterMatchSkipStrategy.skip_to_next()),
                        ("AFTER MATCH SKIP PAST LAST ROW",
                         AfterMatchSkipStrategy.skip_past_last_event()),
                        ("AFTER MATCH SKIP TO LAST B",
                         AfterMatchSkipStrategy.skip_to_last("B").throw_exception_on_miss())]),
       st.sampled_from([None, 3]))
def test_rule_equals_hand_written_pattern(events: list[tuple[int, int]], quant: str,
                                          skip: tuple[str, AfterMatchSkipStrategy],
                                          within: int | None) -> None:
    w = f"WITHIN INTERVAL '{within}' MILLISECOND" if within else ""
    (rule,) = compile_rules(SQL.format(skip=skip[0], quant=quant, within=w))
    ks = np.array([k for k, _ in events], np.int64)
    vs = np.array([v for _, v in events], np.int64)
    ts = np.arange(len(events), dtype=np.int64)
    got = matches(rule.operator(), ks, vs, ts)
    want = matches(CepOperator(hand(quant, skip[1], within), key="__key__"), ks, vs, ts)
    assert got == want


def test_skip_to_last_of_single_first_variable_is_rejected() -> None:
    from cep.sql import RuleError
    with pytest.raises(RuleError, match="SKIP TO LAST A would restart"):
        compile_rules(SQL.format(skip="AFTER MATCH SKIP TO LAST A", quant="+?", within=""))


def test_measure_dtypes_keep_integers_unless_a_match_can_lack_the_value() -> None:
    sql = """SELECT * FROM t MATCH_RECOGNIZE (
        ORDER BY ts
        MEASURES A.id AS a_id, LAST(B.id) AS b_id, A.ts AS a_ts, C.id AS c_id,
                 A.id / 2 AS half, COUNT(B.*) AS n_b, MATCH_ROWTIME() AS t
        AFTER MATCH SKIP PAST LAST ROW
        PATTERN (A C? B*? E)
        DEFINE A AS v = 0, B AS v = 1, C AS v = 2, E AS v = 3
    )"""
    (rule,) = compile_rules(sql)
    out = rule.run({"ts": np.arange(10, 17, dtype=np.int64),
                    "id": np.arange(100, 107, dtype=np.int64),
                    "v": np.array([0, 1, 1, 3, 0, 2, 3])})
    # A is in every match: its int64 id and timestamp stay int64 (not 100.0)
    assert out["a_id"].dtype == np.int64 and out["a_id"].tolist() == [100, 104]
    assert out["a_ts"].dtype == np.int64 and out["a_ts"].tolist() == [10, 14]
    # B*? and C? may be absent: null is NaN, so those columns are float64
    assert out["b_id"].dtype == np.float64 and out["b_id"][0] == 102
    assert np.isnan(out["b_id"][1])
    assert out["c_id"].dtype == np.float64 and out["c_id"][1] == 105
    assert np.isnan(out["c_id"][0])
    assert out["half"].dtype == np.float64 and out["half"].tolist() == [50.0, 52.0]
    assert out["n_b"].dtype == np.int64 and out["n_b"].tolist() == [2, 0]
    assert out["t"].dtype == np.int64 and out["t"].tolist() == [13, 16]
