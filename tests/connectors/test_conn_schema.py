"""Schema: the dict/TOML form, validation, vectorised conversion; time conversion."""

from __future__ import annotations

import datetime as dt
import math
import tomllib
import zoneinfo

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.errors import ConnectorError, SchemaDefinitionError, SourceFormatError
from connectors.schema import Field, Schema
from connectors.timeconv import localize, parse_timestamps

JOB_TOML = """
[schema]
event_time = "ts"
key = "card"
null_values = ["", "NA"]

[schema.columns]
card = "string"
amount = "float64"
customer = { type = "int64", column = "Customer ID", fill = -1 }
note = { type = "string", fill = "" }
ratio = { type = "float64", fill = nan }
ts = { type = "timestamp", format = "%m/%d/%Y %H:%M", timezone = "Europe/London" }
"""


def test_toml_form_round_trips() -> None:
    spec = tomllib.loads(JOB_TOML)["schema"]
    s = Schema.from_dict(spec)
    assert s.names == ("card", "amount", "customer", "note", "ratio", "ts")
    assert s.event_time == "ts" and s.key == "card" and s.null_values == ("", "NA")
    assert s["customer"] == Field("customer", "int64", column="Customer ID", fill=-1)
    assert s["customer"].input_column == "Customer ID"
    assert math.isnan(s["ratio"].fill)  # type: ignore[arg-type]
    again = Schema.from_dict(s.to_dict())
    assert again.names == s.names and again.to_dict().keys() == s.to_dict().keys()
    plain = Schema.from_dict({"columns": {"a": "int64", "t": "timestamp"}, "event_time": "t"})
    assert Schema.from_dict(plain.to_dict()) == plain
    assert plain.to_dict() == {"columns": {"a": "int64", "t": "timestamp"}, "event_time": "t"}


def test_schema_is_immutable() -> None:
    s = Schema((Field("a", "int64"),))
    with pytest.raises(AttributeError):
        s.key = "a"  # type: ignore[misc]


@pytest.mark.parametrize("spec, match", [
    ({}, "columns"),
    ({"columns": {}}, "columns"),
    ({"columns": {"a": "int"}}, "unknown type"),
    ({"columns": {"a": "int64"}, "evnt_time": "a"}, "unknown schema keys"),
    ({"columns": {"a": {"type": "int64", "fromat": "x"}}}, "unknown options"),
    ({"columns": {"a": {"type": "int64", "format": "%Y"}}}, "timestamp fields only"),
    ({"columns": {"a": {"type": "timestamp", "timezone": "Mars/Olympus"}}}, "time zone"),
    ({"columns": {"a": {"type": "int64", "fill": "x"}}}, "fill"),
    ({"columns": {"a": {"type": "bool", "fill": 1}}}, "fill"),
    ({"columns": {"a": "int64"}, "event_time": "b"}, "not a field"),
    ({"columns": {"a": "string"}, "event_time": "a"}, "timestamp or int64"),
    ({"columns": {"a": {"type": "timestamp", "fill": 0}}, "event_time": "a"}, "fill"),
    ({"columns": {"a": "int64"}, "key": "z"}, "not a field"),
    ({"columns": {"a": "int64", "b": {"type": "int64", "column": "a"}}}, "same input"),
    ({"columns": {"a": "int64"}, "null_values": "NA"}, "null_values"),
    ({"columns": {"a": 5}}, "type name"),
])
def test_invalid_schemas_fail_when_built(spec: dict, match: str) -> None:
    with pytest.raises(SchemaDefinitionError, match=match) as info:
        Schema.from_dict(spec)
    assert isinstance(info.value, ValueError) and isinstance(info.value, ConnectorError)


def test_convert_reports_every_bad_value_per_row() -> None:
    s = Schema.from_dict({"columns": {"a": "int64", "b": "float64", "c": "bool"}})
    conv = s.convert(pa.table({"a": ["1", "x", None], "b": ["1.5", "2", "y"],
                               "c": ["true", "maybe", "0"]}))
    assert conv.bad.tolist() == [False, True, True]
    assert conv.reasons == ["a: cannot convert 'x' to int64; c: cannot convert 'maybe' to bool",
                            "a: missing value; b: cannot convert 'y' to float64"]
    assert conv.columns["a"][0] == 1 and conv.columns["c"][0]


def test_convert_typed_arrow_columns() -> None:
    s = Schema.from_dict({"columns": {"i": "int64", "f": "float64", "s": "string"}})
    conv = s.convert({"i": pa.array([1.0, 2.5, None]), "f": pa.array([1, 2, 3], pa.int8()),
                      "s": pa.array([1, 2, 3])})
    assert conv.columns["i"][0] == 1 and conv.bad.tolist() == [False, True, True]
    assert conv.columns["f"].dtype == np.float64 and conv.columns["s"].tolist() == ["1", "2",
                                                                                      "3"]
    with pytest.raises(SourceFormatError):
        s.convert({"i": pa.array([[1]]), "f": pa.array([1.0]), "s": pa.array(["a"])})


# -- time conversion ----------------------------------------------------------------------------
ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.datetimes(min_value=dt.datetime(1900, 1, 1),
                             max_value=dt.datetime(2100, 1, 1)), min_size=1, max_size=30),
       st.sampled_from(ZONES))
def test_localize_agrees_with_zoneinfo(walls: list[dt.datetime], tz: str) -> None:
    # localize resolves ambiguous wall times as fold=0 (documented): compare with that
    walls = [w.replace(microsecond=w.microsecond // 1000 * 1000, fold=0) for w in walls]
    naive = np.array([(w - dt.datetime(1970, 1, 1)) // dt.timedelta(milliseconds=1)
                      for w in walls], np.int64)
    zone = zoneinfo.ZoneInfo(tz)
    want = [round(w.replace(tzinfo=zone).timestamp() * 1000) for w in walls]
    assert localize(naive, tz).tolist() == want


def test_localize_dst_edges_new_york() -> None:
    def wall(*a: int) -> int:
        return (dt.datetime(*a) - dt.datetime(1970, 1, 1)) // dt.timedelta(milliseconds=1)

    got = localize(np.array([wall(2013, 3, 10, 1, 59), wall(2013, 3, 10, 2, 30),
                             wall(2013, 11, 3, 1, 30), wall(2013, 11, 3, 2, 0)]),
                   "America/New_York")
    utc = [dt.datetime(2013, 3, 10, 6, 59), dt.datetime(2013, 3, 10, 7, 30),   # gap: fold=0
           dt.datetime(2013, 11, 3, 5, 30), dt.datetime(2013, 11, 3, 7, 0)]   # ambiguous: EDT
    assert got.tolist() == [wall(*u.timetuple()[:6]) for u in utc]


def test_iso_parsing_matches_datetime() -> None:
    texts = ["2013-01-01", "2013-01-01T10:00", "2013-01-01 10:00:05", "2013-01-01T10:00:05.123",
             "2013-01-01T10:00:05.123987Z", "2013-06-01T10:00:00+02:00",
             "2013-06-01T10:00:00-0530", "1969-12-31T23:59:59.999"]
    ms, ok = parse_timestamps(pa.array(texts))
    assert ok.all()
    for t, m in zip(texts, ms.tolist(), strict=True):
        d = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
        if d.tzinfo is None:
            d = d.replace(tzinfo=dt.UTC)
        assert m == (d - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(
            milliseconds=1), t


def test_bad_times_are_flagged_not_raised() -> None:
    ms, ok = parse_timestamps(pa.array(["2013-02-29", "2013-13-01", "soon", "12", None, "",
                                        "2013-01-01T25:00"]))
    assert ok.tolist() == [False, False, False, True, False, False, False]
    assert ms[3] == 12
    ms, ok = parse_timestamps(pa.array(["2/28/2013 1:00", "2/29/2013 1:00", "4/31/2013 0:00",
                                        "1/1/2013 24:00", "x"]), "%m/%d/%Y %H:%M")
    assert ok.tolist() == [True, False, False, False, False]


@settings(max_examples=100, deadline=None)
@given(st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
       st.sampled_from(["%m/%d/%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M:%S"]))
def test_format_parsing_matches_strptime(when: dt.datetime, fmt: str) -> None:
    text = when.strftime(fmt)
    ms, ok = parse_timestamps(pa.array([text]), fmt, "Europe/London")
    want = dt.datetime.strptime(text, fmt).replace(tzinfo=zoneinfo.ZoneInfo("Europe/London"))
    assert ok[0] and ms[0] == round(want.timestamp() * 1000)
