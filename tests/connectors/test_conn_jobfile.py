"""The job file: parsing, defaults, and a clear JobFileError for every kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.errors import JobFileError
from connectors.jobfile import load_job, parse_duration

BASE = """
[job]
name = "j"
[source]
path = "in.csv"
[schema]
event_time = "ts"
[schema.columns]
ts = "int64"
card = "string"
amount = "float64"
[watermarks]
max_out_of_orderness = "5s"
[[windows]]
name = "w"
key = "card"
size = "1m"
aggregates = { n = "count(*)", total = "sum(amount)", avg = "avg(amount)" }
[[sinks]]
path = "out/{output}.csv"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "job.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(("text", "ms"), [
    (0, 0), (250, 250), ("250ms", 250), ("30s", 30_000), ("10m", 600_000), ("10min", 600_000),
    ("1h30m", 5_400_000), ("2d", 172_800_000), ("1.5s", 1500), (" 5 s ", 5000),
])
def test_durations(text: object, ms: int) -> None:
    assert parse_duration(text, what="x") == ms


@pytest.mark.parametrize("text", ["", "5", "5 weeks", "-5s", -1, True, "1.0001s", "s", None])
def test_bad_durations(text: object) -> None:
    with pytest.raises(JobFileError, match="x"):
        parse_duration(text, what="x")


def test_parse_full_job(tmp_path: Path) -> None:
    job = load_job(write(tmp_path, BASE))
    assert job.name == "j"
    assert job.source.path == tmp_path / "in.csv"
    assert job.schema.event_time == "ts"
    assert job.max_out_of_orderness == 5000
    (w,) = job.windows
    assert (w.name, w.key, w.type, w.size, w.slide) == ("w", ("card",), "tumbling", 60_000, 0)
    assert w.aggregates == {"n": ("count", None), "total": ("sum", "amount"),
                            "avg": ("mean", "amount")}
    (s,) = job.sinks
    assert s.path == str(tmp_path / "out/{output}.csv") and s.format == "csv"
    assert s.outputs is None
    assert job.dead_letter_path == "j.dead-letters.jsonl"


def test_rule_files_are_read_relative_to_the_job(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.sql").write_text("SELECT 1")
    job = load_job(write(tmp_path, BASE + '[[rules]]\nfile = "rules/r.sql"\n'))
    assert job.rules[0].text == "SELECT 1"
    assert job.rules[0].source == str(tmp_path / "rules" / "r.sql")


@pytest.mark.parametrize(("change", "message"), [
    (("[job]", "[job]\nbogus = 1"), r"\[job\]: unknown key\(s\) \['bogus'\]"),
    (('path = "in.csv"', 'path = "in.csv"\ndataset = "online_retail"'),
     "exactly one of 'path' or 'dataset'"),
    (('path = "in.csv"', 'dataset = "nope"'), "unknown dataset 'nope'"),
    (('event_time = "ts"', ''), "event_time"),
    (('ts = "int64"', 'ts = "int65"'), "unknown type 'int65'"),
    (('max_out_of_orderness = "5s"', 'max_out_of_orderness = "5 parsecs"'),
     "max_out_of_orderness"),
    (('size = "1m"', 'size = "1m"\ntype = "hopping"'), "type must be tumbling"),
    (('size = "1m"', 'type = "sliding"\nsize = "1m"'), "needs 'slide'"),
    (('size = "1m"', 'type = "session"'), "needs 'gap'"),
    (('n = "count(*)"', 'n = "median(amount)"'), "unknown function 'median'"),
    (('n = "count(*)"', 'n = "sum(*)"'), r"sum\(\) needs a column"),
    (('n = "count(*)"', 'n = "sum amount"'), "expected \"function\\(column\\)\""),
    (('path = "out/{output}.csv"', 'path = "out/all.csv"'), "a CSV sink holds one output"),
    (('path = "out/{output}.csv"', 'path = "x.csv"\nformat = "xml"'), "format must be"),
])
def test_errors_name_the_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in BASE
    with pytest.raises(JobFileError, match=message) as exc:
        load_job(write(tmp_path, BASE.replace(old, new, 1)))
    assert str(tmp_path / "job.toml") in str(exc.value)


def test_invalid_toml_names_line(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match=r"invalid TOML.*line 3"):
        load_job(write(tmp_path, "[job]\nname = 'x'\nname = = 2\n"))


def test_missing_rule_file(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match="cannot read rule file"):
        load_job(write(tmp_path, BASE + '[[rules]]\nfile = "missing.sql"\n'))


def test_job_needs_work(tmp_path: Path) -> None:
    text = BASE[:BASE.index("[[windows]]")]
    with pytest.raises(JobFileError, match="no \\[\\[rules\\]\\] and no \\[\\[windows\\]\\]"):
        load_job(write(tmp_path, text))


def test_missing_job_file(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match="cannot read job file"):
        load_job(tmp_path / "nope.toml")
