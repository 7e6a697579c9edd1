"""JSON-lines and Parquet readers: the same contract as CSV (dead letters, batch sizes)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.errors import SourceFormatError
from connectors.files import (
    DeadLetter,
    collect,
    decode_json_records,
    read_file,
    read_json_lines,
    read_parquet,
)
from connectors.filesinks import write_json_lines
from connectors.schema import Schema

SCHEMA = Schema.from_dict({
    "columns": {"card": "string", "amount": "float64", "n": {"type": "int64", "fill": 0},
                "flag": {"type": "bool", "fill": False}, "ts": "timestamp"},
    "event_time": "ts", "key": "card",
})

JSONL = "\n".join([
    '{"card":"a","amount":1.5,"n":1,"flag":true,"ts":1000}',          # 1 ok
    '{"card":"b","amount":2,"ts":2000,"extra":[1,2]}',               # 2 ok, int -> float
    "not json",                                                      # 3 invalid JSON
    "[1,2,3]",                                                       # 4 not an object
    '{"card":"c","amount":"3.5","ts":3000}',                         # 5 string for float
    '{"card":"d","amount":4.5}',                                     # 6 no event time
    "",                                                              # 7 blank
    '{"card":"e","amount":5.5,"n":1.5,"ts":5000}',                   # 8 float for int
    '{"card":"f","amount":NaN,"ts":"2013-01-01T00:00:00Z"}',         # 9 ok, NaN, ISO
    '{"card":null,"amount":7.5,"ts":7000}',                          # 10 missing card
    '{"card":"g","amount":8.5,"ts":"yesterday"}',                    # 11 bad time
    '{"card":"h","amount":9.5,"ts":9000}',                           # 12 ok, no final NL
])


def _read_jsonl(path: Path, **kw: object) -> tuple[dict, list[DeadLetter]]:
    return collect(read_json_lines(path, SCHEMA, **kw), SCHEMA)  # type: ignore[arg-type]


def test_jsonl_good_rows_kept_bad_rows_explained(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(JSONL)
    cols, dead = _read_jsonl(path)
    assert cols["card"].tolist() == ["a", "b", "f", "h"]
    assert cols["amount"][:2].tolist() == [1.5, 2.0] and math.isnan(cols["amount"][2])
    assert cols["n"].tolist() == [1, 0, 0, 0]
    assert cols["flag"].tolist() == [True, False, False, False]
    assert cols["ts"].tolist() == [1000, 2000, 1356998400000, 9000]
    assert [d.position for d in dead] == [3, 4, 5, 6, 8, 10, 11]
    why = {d.position: d.reason for d in dead}
    assert "invalid JSON" in why[3]
    assert "not a JSON object" in why[4]
    assert why[5].startswith("amount:")
    assert why[6] == "ts: missing value"
    assert why[8].startswith("n:")
    assert why[10] == "card: missing value"
    assert why[11].startswith("ts:") and "yesterday" in why[11]
    assert dead[0].raw == "not json"


@pytest.mark.parametrize("batch_size", [1, 2, 5, 1000])
def test_jsonl_batch_size_independent(tmp_path: Path, batch_size: int) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(JSONL)
    ref, ref_dead = _read_jsonl(path)
    cols, dead = _read_jsonl(path, batch_size=batch_size)
    for k in SCHEMA.names:
        np.testing.assert_array_equal(cols[k], ref[k])
    assert dead == ref_dead


_VALUE = st.fixed_dictionaries({
    # NumPy's fixed-width strings cannot hold trailing NUL characters (documented); a lone
    # surrogate ("\ud800") is no text: such a line is a dead letter (tested below)
    "card": st.text(st.characters(blacklist_characters="\x00", codec="utf-8"),
                    max_size=8),
    "amount": st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                        st.integers(-(2**53), 2**53)),
    "n": st.integers(-(2**63), 2**63 - 1),
    "flag": st.booleans(),
    "ts": st.one_of(st.integers(-(2**62), 2**62),
                    st.datetimes().map(lambda d: d.isoformat(timespec="milliseconds"))),
})


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(_VALUE, min_size=1, max_size=20))
def test_jsonl_fast_and_fallback_paths_agree(tmp_path: Path, records: list[dict]) -> None:
    good = "\n".join(json.dumps(r) for r in records) + "\n"
    clean = tmp_path / "clean.jsonl"
    clean.write_text(good)
    dirty = tmp_path / "dirty.jsonl"  # one broken line forces the per-line path
    dirty.write_text("{broken\n" + good)
    a, da = _read_jsonl(clean)
    b, db = _read_jsonl(dirty)
    assert not da and [d.position for d in db] == [1]
    for k in SCHEMA.names:
        np.testing.assert_array_equal(a[k], b[k])
    assert a["n"].tolist() == [r["n"] for r in records]
    assert a["amount"].tolist() == [float(r["amount"]) for r in records]
    assert a["card"].tolist() == [r["card"] for r in records]


def test_jsonl_int64_needs_an_integer_and_odd_numbers(tmp_path: Path) -> None:
    schema = Schema.from_dict({"columns": {"n": "int64", "x": {"type": "float64", "fill": 0}}})
    path = tmp_path / "n.jsonl"
    path.write_text('{"n": 3.0}\n{"n": 1e400}\n{"n": NaN}\n{"n": 2, "x": Infinity}\n'
                    '{"n": 9007199254740993.0}\n{"n": 5, "x": 1e400}\n')
    cols, dead = collect(read_json_lines(path, schema), schema)
    # a float cannot stand for an int64: after parsing, 9007199254740993.0 is ...992
    assert cols["n"].tolist() == [2, 5]
    assert cols["x"].tolist() == [math.inf, math.inf]
    assert [d.position for d in dead] == [1, 2, 3, 5]
    assert all(d.reason.startswith("n: expected an int64 integer, got ") for d in dead)


def test_jsonl_round_trip_through_writer(tmp_path: Path) -> None:
    cols = {"card": np.array(["x", "ü\"\n", ""]), "amount": np.array([0.1, 1e300, -0.0]),
            "n": np.array([2**63 - 1, -5, 0]), "flag": np.array([True, False, True]),
            "ts": np.array([0, -1, 1_700_000_000_001])}
    path = write_json_lines(tmp_path / "rt.jsonl", cols)
    got, dead = _read_jsonl(path)
    assert not dead
    for k, v in cols.items():
        np.testing.assert_array_equal(got[k], v)


def test_jsonl_resume(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(JSONL)
    full = list(read_json_lines(path, SCHEMA, batch_size=4))
    rest = list(read_json_lines(path, SCHEMA, batch_size=4, start=full[0].next_offset))
    assert [b.positions.tolist() for b in rest] == [b.positions.tolist() for b in full[1:]]
    assert [b.dead_letters for b in rest] == [b.dead_letters for b in full[1:]]


# -- Parquet ------------------------------------------------------------------------------------
def _parquet(tmp_path: Path, table: pa.Table, row_group_size: int = 3) -> Path:
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def test_parquet_typed_columns_nulls_and_text(tmp_path: Path) -> None:
    table = pa.table({
        "card": ["a", None, "c", "d", "e", "f", "g"],
        "amount": pa.array(["1.5", "2.5", "x", "4.5", "5.5", "6.5", "7.5"]),   # text numbers
        "n": pa.array([1, 2, 3, None, 5, 6, 7], pa.int32()),
        "flag": [True, False, None, True, False, True, False],
        "ts": pa.array([0, 1, 2, 3, None, 5, 6], pa.timestamp("s", tz="UTC")),
        "other": [1, 2, 3, 4, 5, 6, 7],
    })
    path = _parquet(tmp_path, table)
    cols, dead = collect(read_parquet(path, SCHEMA), SCHEMA)
    assert cols["card"].tolist() == ["a", "d", "f", "g"]
    assert cols["amount"].tolist() == [1.5, 4.5, 6.5, 7.5]
    assert cols["n"].tolist() == [1, 0, 6, 7]
    assert cols["ts"].tolist() == [0, 3000, 5000, 6000]
    assert [(d.position, d.reason.split(":")[0]) for d in dead] == [
        (1, "card"), (2, "amount"), (4, "ts")]
    assert orjson.loads(dead[1].raw)["amount"] == "x"
    for bs in (1, 2, 4):
        c2, d2 = collect(read_parquet(path, SCHEMA, batch_size=bs), SCHEMA)
        assert c2["card"].tolist() == cols["card"].tolist() and d2 == dead
    batches = list(read_parquet(path, SCHEMA, batch_size=2))
    rest = list(read_parquet(path, SCHEMA, batch_size=2, start=batches[1].next_offset))
    assert np.concatenate([b.positions for b in rest]).tolist() == [5, 6]


def test_parquet_naive_timestamps_use_the_field_zone(tmp_path: Path) -> None:
    schema = Schema.from_dict({"columns": {"t": {"type": "timestamp",
                                                 "timezone": "America/New_York"}}})
    table = pa.table({"t": pa.array([0], pa.timestamp("ms"))})
    cols, _ = collect(read_parquet(_parquet(tmp_path, table), schema), schema)
    assert cols["t"].tolist() == [5 * 3_600_000]


def test_parquet_schema_problems_fail_when_opened(tmp_path: Path) -> None:
    path = _parquet(tmp_path, pa.table({"card": ["a"], "amount": [[1.0]], "ts": [1]}))
    with pytest.raises(SourceFormatError):
        read_parquet(path, SCHEMA)  # list column for a float field
    path = _parquet(tmp_path, pa.table({"card": ["a"], "amount": [1.0]}))
    with pytest.raises(SourceFormatError, match="ts"):
        read_parquet(path, SCHEMA)  # event time absent (n and flag have fills)
    bad = tmp_path / "x.parquet"
    bad.write_text("not parquet")
    with pytest.raises(SourceFormatError):
        read_parquet(bad, SCHEMA)


def test_formats_agree_on_the_same_records(tmp_path: Path) -> None:
    records = [{"card": f"c{i}", "amount": i / 3, "n": i, "flag": i % 2 == 0, "ts": i * 1000}
               for i in range(25)]
    (tmp_path / "r.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in records))
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "r.parquet")
    from connectors.filesinks import write_csv

    write_csv(tmp_path / "r.csv", {k: np.array([r[k] for r in records]) for k in records[0]})
    results = [collect(read_file(tmp_path / f"r.{ext}", SCHEMA, batch_size=7), SCHEMA)
               for ext in ("jsonl", "parquet", "csv")]
    for cols, dead in results:
        assert not dead
        for k in SCHEMA.names:
            np.testing.assert_array_equal(cols[k], results[0][0][k])


def test_decode_json_records_for_message_values() -> None:
    values = [b'{"card":"a","amount":1,\n "ts":5}', None, b"", b'{"card":"b","amount":"x","ts":1}',
              b'{"card":"c","amount":2.5,"ts":"2020-01-01T00:00:00Z"}']
    batch = decode_json_records(values, SCHEMA, positions=[100, 101, 102, 103, 104],
                                source="orders/0")
    assert batch.columns["card"].tolist() == ["a", "c"]
    assert batch.columns["ts"].tolist() == [5, 1577836800000]
    assert batch.positions.tolist() == [100, 104]
    assert [(d.source, d.position) for d in batch.dead_letters] == [
        ("orders/0", 101), ("orders/0", 102), ("orders/0", 103)]
    assert batch.dead_letters[2].reason.startswith("amount: expected a number")
    empty = decode_json_records([], SCHEMA)
    assert empty.num_rows == 0 and empty.columns["ts"].dtype == np.int64
    with pytest.raises(ValueError, match="positions"):
        decode_json_records([b"{}"], SCHEMA, positions=[1, 2])


@pytest.mark.parametrize("body", ["null\nnull\n",
                                  'null\n{"card":"a","amount":1,"ts":5}\n  null \n'])
def test_bare_null_lines_are_dead_letters(tmp_path: Path, body: str) -> None:
    # Arrow reads a bare ``null`` as a row of missing values (and crashed on a block of only
    # such lines); it must be rejected as not an object, like a Kafka message ``null``
    path = tmp_path / "n.jsonl"
    path.write_text(body)
    batches = list(read_json_lines(path, SCHEMA))
    dead = [d for b in batches for d in b.dead_letters]
    lines = [i + 1 for i, line in enumerate(body.splitlines()) if line.strip() == "null"]
    assert [d.position for d in dead] == lines
    assert {d.reason for d in dead} == {"not a JSON object but null"}
    rows = sum(len(b.positions) for b in batches)
    assert rows == body.count("card")


def test_jsonl_lone_surrogate_is_a_dead_letter(tmp_path: Path) -> None:
    schema = Schema.from_dict({"columns": {"card": "string", "x": "float64"}})
    path = tmp_path / "s.jsonl"
    path.write_text('{"card": "a", "x": NaN}\n{"card": "\\ud800", "x": 1}\n'
                    '{"card": "\\ud83d\\ude00", "x": 2}\n')
    for batch_size in (1, 10):
        cols, dead = collect(read_json_lines(path, schema, batch_size=batch_size), schema)
        assert cols["card"].tolist() == ["a", "\U0001f600"]
        assert [d.position for d in dead] == [2]
        assert dead[0].reason.startswith("invalid JSON: ") and "surrogate" in dead[0].reason
