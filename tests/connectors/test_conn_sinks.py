"""File sinks: deterministic bytes, exact floats, CSV/JSON writers, dead-letter writer."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import connectors.batches
import connectors.errors
import connectors.files
import connectors.filesinks
import connectors.schema
import connectors.timeconv
from connectors.files import DeadLetter
from connectors.filesinks import (
    CsvSink,
    DeadLetterWriter,
    JsonLinesSink,
    StdoutSink,
    format_csv,
    format_json_lines,
)

COLS = {
    "k": np.array([1, -2], np.int64),
    "x": np.array([0.1, math.nan]),
    "ok": np.array([True, False]),
    "s": np.array(['a,"b"', "plain"]),
}


def test_json_lines_exact_bytes() -> None:
    assert format_json_lines(COLS) == (
        b'{"k":1,"x":0.1,"ok":true,"s":"a,\\"b\\""}\n'
        b'{"k":-2,"x":null,"ok":false,"s":"plain"}\n')
    assert format_json_lines({"a": np.array([], np.int64)}) == b""


def test_csv_exact_bytes() -> None:
    assert format_csv(COLS) == b'k,x,ok,s\n1,0.1,true,"a,""b"""\n-2,nan,false,plain\n'
    assert format_csv(COLS, header=False, delimiter=";") == (
        b'1;0.1;true;a,"b"\n-2;nan;false;plain\n'.replace(b'a,"b"', b'"a,""b"""'))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20))
def test_floats_read_back_exactly(values: list[float]) -> None:
    arr = np.array(values, np.float64)
    rows = format_json_lines({"v": arr}).splitlines()
    assert [orjson.loads(r)["v"] for r in rows] == values
    lines = format_csv({"v": arr}).decode().splitlines()[1:]
    assert [float(x) for x in lines] == values
    assert format_csv({"v": arr}) == format_csv({"v": arr.copy()})  # deterministic


def test_length_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="lengths"):
        format_json_lines({"a": np.zeros(2), "b": np.zeros(3)})
    with pytest.raises(ValueError, match="1-d"):
        format_csv({"a": np.zeros((2, 2))})


def test_csv_sink_writes_one_header_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with CsvSink(path) as sink:
        assert sink.write({"a": np.array([1, 2]), "b": np.array(["x", "y"])}) == 2
        sink.write({"a": np.array([3]), "b": np.array(["z"])})
        with pytest.raises(ValueError, match="differ"):
            sink.write({"b": np.array(["z"]), "a": np.array([3])})
    with CsvSink(path, append=True) as sink:
        sink.write({"a": np.array([4]), "b": np.array(["w"])})
    assert path.read_text() == "a,b\n1,x\n2,y\n3,z\n4,w\n"


def test_json_sink_to_text_and_binary_streams(tmp_path: Path) -> None:
    text, binary = io.StringIO(), io.BytesIO()
    for target in (text, binary):
        with JsonLinesSink(target) as sink:
            sink.write({"a": np.array([1])})
            assert sink.rows_written == 1
    assert text.getvalue() == '{"a":1}\n' and binary.getvalue() == b'{"a":1}\n'
    assert not text.closed  # streams it did not open are left open


def test_stdout_sink(capsys: pytest.CaptureFixture[str]) -> None:
    sink = StdoutSink()
    sink.write({"a": np.array(["é"])})
    sink.close()
    assert capsys.readouterr().out == '{"a":"é"}\n'


def test_dead_letter_writer(tmp_path: Path) -> None:
    path = tmp_path / "dead.jsonl"
    letters = [DeadLetter("in.csv", 3, "2,x", "ts: cannot convert 'x' to timestamp"),
               DeadLetter("in.csv", 9, "", "ts: missing value")]
    with DeadLetterWriter(path) as w:
        assert w.write(letters) == 2
        assert w.write([]) == 0
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert rows[0] == {"source": "in.csv", "position": 3,
                       "reason": "ts: cannot convert 'x' to timestamp", "raw": "2,x"}
    assert list(rows[0]) == ["source", "position", "reason", "raw"]


@pytest.mark.parametrize("module", [connectors.batches, connectors.errors, connectors.files,
                                    connectors.filesinks, connectors.schema,
                                    connectors.timeconv])
def test_dunder_all_lists_public_names(module: object) -> None:
    names = module.__all__  # type: ignore[attr-defined]
    assert names == sorted(names) or len(set(names)) == len(names)
    for name in names:
        assert hasattr(module, name), name
        assert not name.startswith("_")
