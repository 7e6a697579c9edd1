"""CSV reader: round trips, dead letters, batch-size independence, resuming."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.errors import SourceFormatError
from connectors.files import Batch, DeadLetter, collect, read_csv, read_file
from connectors.filesinks import write_csv
from connectors.schema import Schema

SCHEMA = Schema.from_dict({
    "columns": {"key": "int64", "ts": "timestamp", "value": "float64"},
    "event_time": "ts", "key": "key",
})


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _read(path: Path, schema: Schema = SCHEMA, **kw: object) -> tuple[dict, list[DeadLetter]]:
    return collect(read_csv(path, schema, **kw), schema)  # type: ignore[arg-type]


def _letters(dead: list[DeadLetter]) -> list[tuple[int, str]]:
    return [(d.position, d.raw) for d in dead]


MIXED = (
    "key,ts,value\n"
    "1,1000,1.5\n"        # line 2 ok
    "2,x,2.5\n"           # 3 bad ts
    "\n"                  # 4 blank: skipped, no dead letter
    "3,3000\n"            # 5 too few fields
    "4,4000,4.5,9\n"      # 6 too many
    "5,5000,abc\n"        # 7 bad float
    ",6000,6.5\n"         # 8 missing key
    "7,,7.5\n"            # 9 missing event time
    "8,8000,8.5\r\n"      # 10 ok, CRLF
    "99999999999999999999,9000,9.5\n"  # 11 int overflow
    "10, 10000 ,1e1"      # 12 ok, spaces trimmed, no final newline
)


def test_mixed_file_keeps_good_rows_and_explains_bad_ones(tmp_path: Path) -> None:
    cols, dead = _read(_write(tmp_path / "m.csv", MIXED))
    assert cols["key"].tolist() == [1, 8, 10]
    assert cols["ts"].tolist() == [1000, 8000, 10000]
    assert cols["value"].tolist() == [1.5, 8.5, 10.0]
    assert cols["key"].dtype == np.int64 and cols["value"].dtype == np.float64
    assert [d.position for d in dead] == [3, 5, 6, 7, 8, 9, 11]
    reasons = {d.position: d.reason for d in dead}
    assert "ts" in reasons[3] and "'x'" in reasons[3]
    assert reasons[5] == "expected 3 fields, got 2"
    assert reasons[6] == "expected 3 fields, got 4"
    assert "value" in reasons[7] and "abc" in reasons[7]
    assert reasons[8] == "key: missing value"
    assert reasons[9] == "ts: missing value"
    assert "key" in reasons[11]
    assert {d.raw for d in dead} >= {"2,x,2.5", "3,3000", "5,5000,abc"}
    assert all(d.source.endswith("m.csv") for d in dead)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 4, 7, 100])
def test_batch_size_does_not_change_the_result(tmp_path: Path, batch_size: int) -> None:
    path = _write(tmp_path / "m.csv", MIXED)
    ref_cols, ref_dead = _read(path, batch_size=1000)
    batches = list(read_csv(path, SCHEMA, batch_size=batch_size))
    assert all(isinstance(b, Batch) for b in batches)
    cols, dead = collect(batches, SCHEMA)
    for k in SCHEMA.names:
        np.testing.assert_array_equal(cols[k], ref_cols[k])
    assert dead == ref_dead
    positions = np.concatenate([b.positions for b in batches])
    assert positions.tolist() == [2, 10, 12]
    # offsets chain: each batch starts where the previous ended
    assert all(a.next_offset == b.offset for a, b in itertools.pairwise(batches))


def test_quoted_fields_and_escaped_quotes(tmp_path: Path) -> None:
    schema = Schema.from_dict({"columns": {"name": "string", "n": "int64"}})
    text = 'name,n\n"a,b",1\n"say ""hi""",2\nplain,3\n"bad"x,4\n"unterminated,5\nok,6\n'
    cols, dead = _read(_write(tmp_path / "q.csv", text), schema)
    # the standard library reads the well-formed lines the same way
    stdlib = [r for r in csv.reader(io.StringIO(text)) if len(r) == 2][1:]
    assert [r[0] for r in stdlib[:4]] == ["a,b", 'say "hi"', "plain", "badx"]
    assert cols["name"].tolist() == ["a,b", 'say "hi"', "plain", "badx", "ok"]
    assert cols["n"].tolist() == [1, 2, 3, 4, 6]
    assert [(d.position, d.raw, d.reason) for d in dead] == [
        (6, '"unterminated,5', "expected 2 fields, got 1")]
    cols1, dead1 = _read(tmp_path / "q.csv", schema, batch_size=1)
    assert cols1["name"].tolist() == cols["name"].tolist() and dead1 == dead


def test_invalid_utf8_line_is_a_dead_letter(tmp_path: Path) -> None:
    schema = Schema.from_dict({"columns": {"name": "string", "n": "int64"}})
    path = _write(tmp_path / "u.csv", b"name,n\nok,1\n\xff\xfe,2\nfine,3\n")
    cols, dead = _read(path, schema)
    assert cols["name"].tolist() == ["ok", "fine"]
    assert [d.position for d in dead] == [3]
    assert "UTF-8" in dead[0].reason or "utf-8" in dead[0].reason


def test_header_lacking_a_column_fails_when_opened(tmp_path: Path) -> None:
    path = _write(tmp_path / "h.csv", "key,value\n1,2\n")
    with pytest.raises(SourceFormatError, match="ts"):
        read_csv(path, SCHEMA)  # raised at the call, before iterating
    with pytest.raises(FileNotFoundError):
        read_csv(tmp_path / "missing.csv", SCHEMA)
    with pytest.raises(ValueError, match="batch_size"):
        read_csv(path, SCHEMA, batch_size=0)


def test_extra_columns_any_order_bom_and_renames(tmp_path: Path) -> None:
    schema = Schema.from_dict({"columns": {
        "customer": {"type": "int64", "column": "Customer ID"},
        "amount": "float64"}})
    path = _write(tmp_path / "r.csv", "\ufeffamount,junk,Customer ID\n2.5,zz,7\n3.5,yy,8\n")
    cols, dead = _read(path, schema)
    assert list(cols) == ["customer", "amount"]
    assert cols["customer"].tolist() == [7, 8] and cols["amount"].tolist() == [2.5, 3.5]
    assert not dead


def test_int64_accepts_a_zero_fraction_only(tmp_path: Path) -> None:
    schema = Schema.from_dict({"columns": {"id": "int64"}})
    path = _write(tmp_path / "i.csv", "id\n13085.0\n-7.00\n12\n1.5\n1e3\n9007199254740993.0\n")
    cols, dead = _read(path, schema)
    assert cols["id"].tolist() == [13085, -7, 12, 9007199254740993]
    assert [d.position for d in dead] == [5, 6]


def test_no_header_and_other_delimiter(tmp_path: Path) -> None:
    path = _write(tmp_path / "n.csv", "1;1000;0.5\n2;2000;x\n")
    cols, dead = _read(path, header=["key", "ts", "value"], delimiter=";")
    assert cols["key"].tolist() == [1] and [d.position for d in dead] == [2]


def test_null_values_and_fill(tmp_path: Path) -> None:
    schema = Schema.from_dict({"columns": {
        "a": {"type": "float64", "fill": math.nan},
        "b": {"type": "string", "fill": ""},
        "c": {"type": "int64", "fill": -1},
        "d": "bool"}, "null_values": ["", "NA"]})
    path = _write(tmp_path / "f.csv", "a,b,c,d\nNA,NA,NA,true\n1.5,x,3,FALSE\n,,,yes\n2,y,4,NA\n")
    cols, dead = _read(path, schema)
    assert np.isnan(cols["a"][0]) and cols["a"][1] == 1.5
    assert cols["b"].tolist() == ["", "x", ""]
    assert cols["c"].tolist() == [-1, 3, -1]
    assert cols["d"].tolist() == [True, False, True]
    assert [(d.position, d.reason) for d in dead] == [(5, "d: missing value")]


def test_timestamps_iso_with_zones_and_formats(tmp_path: Path) -> None:
    schema = Schema.from_dict({"columns": {
        "t": {"type": "timestamp", "timezone": "Europe/London"},
        "u": {"type": "timestamp", "format": "%m/%d/%Y %H:%M", "timezone": "Europe/London"}},
        "event_time": "t"})
    text = ("t,u\n"
            "2013-07-01T12:00:00Z,7/1/2013 12:00\n"      # aware; BST
            "2013-07-01 12:00:00,12/1/2009 7:45\n"        # naive London; GMT
            "2013-07-01T14:00:00+02:00,1/1/2013 0:00\n"
            "1372680000000,1/1/2013 0:00\n"              # epoch ms
            "2013-02-30T00:00:00,1/1/2013 0:00\n"        # invalid day
            "2013-07-01T12:00:00Z,2/30/2010 1:00\n")     # invalid day in the format
    cols, dead = _read(_write(tmp_path / "t.csv", text), schema)
    assert cols["t"].tolist() == [1372680000000, 1372676400000, 1372680000000, 1372680000000]
    assert cols["u"].tolist()[:2] == [1372676400000, 1259653500000]
    assert [d.position for d in dead] == [6, 7]
    cols1, dead1 = _read(tmp_path / "t.csv", schema, batch_size=1)
    assert cols1["t"].tolist() == cols["t"].tolist() and dead1 == dead


def test_round_trip_through_write_csv(tmp_path: Path) -> None:
    schema = Schema.from_dict({"columns": {
        "i": "int64", "f": "float64", "b": "bool", "s": "string", "t": "timestamp"}})
    cols = {
        "i": np.array([0, -1, 2**63 - 1, -(2**63)], np.int64),
        "f": np.array([0.1, -0.0, 1e-300, math.inf], np.float64),
        "b": np.array([True, False, True, False]),
        "s": np.array(["a,b", 'q"uote', "ünïcode €", "line"]),
        "t": np.array([0, -1, 1_700_000_000_123, 253402300799999], np.int64),
    }
    path = write_csv(tmp_path / "rt.csv", cols)
    got, dead = _read(path, schema)
    assert not dead
    for k, v in cols.items():
        np.testing.assert_array_equal(got[k], v)
    assert np.signbit(got["f"][1])
    nan_path = write_csv(tmp_path / "nan.csv", {"f": np.array([math.nan])})
    got, _ = _read(nan_path, Schema.from_dict({"columns": {"f": "float64"}}))
    assert np.isnan(got["f"][0])


def test_resume_from_next_offset(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.csv", MIXED)
    full = list(read_csv(path, SCHEMA, batch_size=3))
    for k in range(1, len(full)):
        rest = list(read_csv(path, SCHEMA, batch_size=3, start=full[k - 1].next_offset))
        assert [b.positions.tolist() for b in rest] == [b.positions.tolist() for b in full[k:]]
        assert [b.dead_letters for b in rest] == [b.dead_letters for b in full[k:]]
        assert [b.columns["key"].tolist() for b in rest] == [
            b.columns["key"].tolist() for b in full[k:]]
    with pytest.raises(SourceFormatError):
        read_csv(path, SCHEMA, start=3)  # inside the header


def test_gzip_input_and_read_file_dispatch(tmp_path: Path) -> None:
    plain = _write(tmp_path / "m.csv", MIXED)
    gz = tmp_path / "m.csv.gz"
    gz.write_bytes(gzip.compress(MIXED.encode()))
    a, da = collect(read_file(plain, SCHEMA), SCHEMA)
    b, db = collect(read_file(gz, SCHEMA, batch_size=2), SCHEMA)
    assert a["key"].tolist() == b["key"].tolist()
    assert [d.position for d in da] == [d.position for d in db]
    with pytest.raises(SourceFormatError):
        read_file(tmp_path / "data.bin", SCHEMA)


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    cols, dead = _read(_write(tmp_path / "h.csv", "key,ts,value\n"))
    assert cols["key"].dtype == np.int64 and len(cols["key"]) == 0 and not dead
    with pytest.raises(SourceFormatError):
        read_csv(_write(tmp_path / "e.csv", ""), SCHEMA)


def test_iso_timestamps_switch_to_text_parsing_and_stay_correct(tmp_path: Path) -> None:
    lines = ["key,ts,value"] + [f"{i},2020-01-01T00:00:{i % 60:02d}Z,{i}" for i in range(50)]
    cols, dead = _read(_write(tmp_path / "iso.csv", "\n".join(lines)), batch_size=7)
    assert not dead
    assert cols["ts"].tolist() == [1577836800000 + (i % 60) * 1000 for i in range(50)]


_GOOD = st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**53), 2**53),
                  st.floats(allow_nan=False))
_BAD_TOKENS = ["x", "1.5.2", "", "--1", "1e", "nan?", "1 2"]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.one_of(
    _GOOD.map(lambda r: ("good", r)),
    st.tuples(st.sampled_from(_BAD_TOKENS), st.integers(0, 2)).map(lambda b: ("bad", b)),
    st.just(("short", None))), max_size=40),
    batch_size=st.integers(1, 9))
def test_generated_files_match_an_independent_oracle(tmp_path: Path, rows: list,
                                                     batch_size: int) -> None:
    lines = ["key,ts,value"]
    want_rows, want_dead = [], []
    for kind, r in rows:
        lineno = len(lines) + 1
        if kind == "good":
            lines.append(f"{r[0]},{r[1]},{r[2]!r}")
            want_rows.append((r[0], r[1], r[2]))
        elif kind == "bad":
            fields = ["1", "2", "3.0"]
            fields[r[1]] = r[0]
            lines.append(",".join(fields))
            want_dead.append(lineno)
        else:
            lines.append("1,2")
            want_dead.append(lineno)
    path = _write(tmp_path / "g.csv", "\n".join(lines) + "\n")
    cols, dead = _read(path, batch_size=batch_size)
    got = list(zip(cols["key"].tolist(), cols["ts"].tolist(), cols["value"].tolist(),
                   strict=True))
    assert got == want_rows
    assert [d.position for d in dead] == want_dead
    assert all(d.reason for d in dead)


@pytest.mark.parametrize("batch_size", [1, 3, 1000])
def test_parsing_without_the_row_handler_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_size: int) -> None:
    """Blocks are first parsed without Arrow's invalid-row handler (faster); the result must
    be the one the handler path gives, for good and bad rows alike."""
    from connectors._textparse import CsvParser

    text = MIXED + "\n" + "".join(f"{i},{i * 1000},{i}.5\n" for i in range(20, 40))
    p = _write(tmp_path / "m.csv", text + '11,"1000",2.5\n12,1000,"x,y"\n')
    fast = _read(p, batch_size=batch_size)
    original = CsvParser._arrow
    monkeypatch.setattr(CsvParser, "_arrow",
                        lambda self, lines, text, serial=False, strict=False:
                        original(self, lines, text, serial))
    slow = _read(p, batch_size=batch_size)
    assert _letters(fast[1]) == _letters(slow[1])
    assert [d.reason for d in fast[1]] == [d.reason for d in slow[1]]
    assert {k: v.tolist() for k, v in fast[0].items()} == \
        {k: v.tolist() for k, v in slow[0].items()}
    assert [d.position for d in fast[1]] == [3, 5, 6, 7, 8, 9, 11, 34]
    assert fast[0]["key"].tolist()[-3:] == [38, 39, 11]


def test_crlf_and_lf_blocks_in_one_file(tmp_path: Path) -> None:
    schema = Schema.from_dict({"columns": {"ts": "int64", "tag": "string"},
                               "event_time": "ts"})
    lf = "".join(f"{i},t{i}\n" for i in range(10))
    crlf = "".join(f"{i},t{i}\r\n" for i in range(10, 20))
    p = _write(tmp_path / "c.csv", "ts,tag\n" + lf + crlf + "20,t20\r\n\r\n21,t21")
    for batch_size in (1, 4, 10, 100):
        cols, dead = _read(p, schema, batch_size=batch_size)
        assert dead == []
        assert cols["tag"].tolist() == [f"t{i}" for i in range(22)]


@pytest.mark.parametrize("read_size", [1, 7, 64])
def test_blocks_spanning_read_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     read_size: int) -> None:
    """Blocks are views of one read chunk or joined from several: the batches (positions,
    dead letters, offsets) do not depend on where the chunks end."""
    import connectors._textparse

    rows = "".join(f"{i},{i * 10},{i}.25{'' if i % 5 else chr(13)}\n" for i in range(60))
    quoted = '"13",1300,"2.5"\n14,1400,"x"",y"\n'  # quotes only in some blocks
    p = _write(tmp_path / "s.csv", MIXED + "\n\n" + rows + quoted + "7,7,x\n\r\n1,2")
    expected = list(read_csv(p, SCHEMA, batch_size=4))
    monkeypatch.setattr(connectors._textparse, "_READ_SIZE", read_size)
    got = list(read_csv(p, SCHEMA, batch_size=4))
    assert [(b.offset, b.next_offset, b.positions.tolist(), b.dead_letters) for b in got] == \
        [(b.offset, b.next_offset, b.positions.tolist(), b.dead_letters) for b in expected]
    for g, e in zip(got, expected, strict=True):
        assert {k: v.tolist() for k, v in g.columns.items()} == \
            {k: v.tolist() for k, v in e.columns.items()}
    assert expected[-1].dead_letters[-1].position == 78
    letters = [(d.position, d.reason) for b in expected for d in b.dead_letters]
    assert letters[-3:] == [(75, "value: cannot convert 'x\",y' to float64"),
                            (76, "value: cannot convert 'x' to float64"),
                            (78, "expected 3 fields, got 2")]
    assert 13 in [int(k) for b in expected for k in b.columns["key"].tolist()]
