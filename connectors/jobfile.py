"""The job file: one TOML document naming a source, its schema, rules, windows and sinks.

Read with the standard library's :mod:`tomllib`; every mistake is a :class:`JobFileError` that
names the file and the offending key, raised before any input is read. The format is
documented in ``docs/job-file.md``; in short::

    [job]
    name = "retail-fraud"

    [source]
    path = "transactions.csv"      # or: dataset = "online_retail"

    [schema]
    event_time = "ts"
    [schema.columns]
    card = "string"
    amount = "float64"
    ts = "timestamp"

    [watermarks]
    max_out_of_orderness = "5s"

    [[rules]]
    file = "rules/small_then_large.sql"

    [[windows]]
    name = "bursts"
    key = "card"
    type = "tumbling"
    size = "1m"
    aggregates = { n = "count(*)", total = "sum(amount)" }
    having = "n >= 10"

    [[sinks]]
    path = "alerts.jsonl"

Durations are an integer number of milliseconds or a string with a unit: ``"500ms"``,
``"30s"``, ``"10m"``, ``"1h"``, ``"2d"`` (also ``"1h30m"``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from connectors.errors import JobFileError, SchemaDefinitionError
from connectors.schema import Schema

__all__ = ["AGGREGATE_FUNCTIONS", "DATASETS", "JobSpec", "RuleSpec", "SinkSpec", "SourceSpec",
           "WindowSpec", "load_job", "parse_duration", "parse_job"]

#: Bundled real data sets a source can name with ``dataset =``.
DATASETS: tuple[str, ...] = ("online_retail", "flights_replay")
#: Aggregate functions a window's ``aggregates`` table can use.
AGGREGATE_FUNCTIONS: tuple[str, ...] = ("count", "sum", "min", "max", "mean", "avg", "first",
                                        "last")

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_DUR_PART = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|min|s|m|h|d)\s*")
_AGG_RE = re.compile(r"^\s*([A-Za-z_]+)\s*\(\s*(\*|[A-Za-z_][A-Za-z_0-9]*)?\s*\)\s*$")


def parse_duration(value: Any, *, what: str) -> int:
    """A duration from a job file, in milliseconds.

    Parameters
    ----------
    value : int or str
        Milliseconds, or text such as ``"30s"``, ``"10m"``, ``"1h30m"``, ``"250ms"``.
    what : str
        Name used in the error message.

    Returns
    -------
    int
        Milliseconds, ``>= 0``.

    Raises
    ------
    JobFileError
        For a negative number, an unknown unit or any other text.
    """
    if isinstance(value, bool):
        raise JobFileError(f"{what}: expected a duration, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise JobFileError(f"{what}: a duration cannot be negative ({value})")
        return value
    if isinstance(value, str) and value.strip():
        pos, total, text = 0, 0.0, value.strip()
        while pos < len(text):
            m = _DUR_PART.match(text, pos)
            if m is None:
                break
            total += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if pos == len(text) and total == int(total):
            return int(total)
    raise JobFileError(f"{what}: cannot read {value!r} as a duration (use milliseconds or a "
                       "string such as '500ms', '30s', '10m', '1h', '2d')")


@dataclass(frozen=True)
class SourceSpec:
    """Where the records come from.

    Attributes
    ----------
    path : Path or None
        A CSV, JSON-lines or Parquet file (relative paths are resolved against the job file).
        A job with a ``[kafka]`` table and no ``[source]`` reads the Kafka topics instead.
    dataset : str or None
        A bundled real data set fetched into the cache on first use (see :data:`DATASETS`).
    format : {"csv", "jsonl", "parquet"} or None
        The file format; by default told from the suffix.
    options : dict
        Reader options (``delimiter`` for CSV).
    """

    path: Path | None = None
    dataset: str | None = None
    format: Literal["csv", "jsonl", "parquet"] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def resolve(self) -> Path:
        """The file to read (fetching a data set into the cache if needed).

        Raises
        ------
        DatasetUnavailableError
            If a data set is not cached and cannot be fetched.
        JobFileError
            If the job has no file source.
        """
        if self.path is not None:
            return self.path
        from connectors import datasets
        if self.dataset == "online_retail":
            return datasets.ensure_online_retail_csv()
        if self.dataset == "flights_replay":
            return datasets.ensure_flights_replay_csv()
        raise JobFileError("the job has no file source (it reads Kafka); pass a file with "
                           "--input")


@dataclass(frozen=True)
class RuleSpec:
    """A rule file (or inline SQL) with MATCH_RECOGNIZE statements (see
    ``docs/match-recognize.md``)."""

    source: str
    text: str


@dataclass(frozen=True)
class WindowSpec:
    """A window aggregation with an optional input filter and an optional output filter.

    Attributes
    ----------
    name : str
        Output name.
    key : tuple of str
        Key columns (empty: one global key).
    type : {"tumbling", "sliding", "session"}
        Event-time window kind (Flink's ``TumblingEventTimeWindows`` etc.).
    size, slide, gap, offset, allowed_lateness : int
        Milliseconds (``slide`` for sliding windows, ``gap`` for session windows).
    aggregates : dict of str to (function, column or None)
        Output column -> aggregate, e.g. ``{"n": ("count", None)}``.
    where : str or None
        SQL boolean expression over the input columns; rows where it is not true are ignored.
    having : str or None
        SQL boolean expression over the result columns; result rows where it is not true are
        not emitted.
    """

    name: str
    key: tuple[str, ...]
    type: Literal["tumbling", "sliding", "session"]
    size: int
    slide: int
    gap: int
    offset: int
    allowed_lateness: int
    aggregates: dict[str, tuple[str, str | None]]
    where: str | None = None
    having: str | None = None


@dataclass(frozen=True)
class SinkSpec:
    """Where outputs go.

    Attributes
    ----------
    path : str
        File path (``"-"`` for standard output); may contain ``{output}``, replaced by each
        output's name to write one file per output.
    format : {"jsonl", "csv"}
    outputs : tuple of str or None
        Names of the rules/windows to write, ``"late"`` for every operator's late records
        (or ``"<operator>.late"`` for one), ``"*"`` for everything; ``None``: every rule and
        window output (not the late records).
    """

    path: str
    format: Literal["jsonl", "csv"]
    outputs: tuple[str, ...] | None


@dataclass(frozen=True)
class JobSpec:
    """A parsed job file (see the module docstring and ``docs/job-file.md``).

    Attributes
    ----------
    name : str
    path : Path or None
        The job file.
    source : SourceSpec
    schema : Schema
        Must have an ``event_time`` column.
    max_out_of_orderness : int
        Watermark delay, ms (Flink's ``forBoundedOutOfOrderness``).
    batch_size : int
        Records per micro-batch.
    rules : tuple of RuleSpec
    windows : tuple of WindowSpec
    sinks : tuple of SinkSpec
    dead_letters : str or None
        File for records that do not fit the schema (default
        ``<name>.dead-letters.jsonl`` in the working directory, created only if needed).
    kafka : dict
        The ``[kafka]`` table, passed to the Kafka runtime when present.
    """

    name: str
    path: Path | None
    source: SourceSpec
    schema: Schema
    max_out_of_orderness: int
    batch_size: int
    rules: tuple[RuleSpec, ...]
    windows: tuple[WindowSpec, ...]
    sinks: tuple[SinkSpec, ...]
    dead_letters: str | None
    kafka: dict[str, Any] = field(default_factory=dict)

    @property
    def dead_letter_path(self) -> str:
        """Where dead letters are written."""
        return self.dead_letters or f"{self.name}.dead-letters.jsonl"


def _table(doc: Mapping[str, Any], key: str, where: str, *, required: bool = False
           ) -> dict[str, Any]:
    value = doc.get(key)
    if value is None:
        if required:
            raise JobFileError(f"{where}: missing [{key}] table")
        return {}
    if not isinstance(value, dict):
        raise JobFileError(f"{where}: '{key}' must be a table")
    return value


def _no_extra(table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    extra = sorted(set(table) - set(allowed))
    if extra:
        raise JobFileError(f"{where}: unknown key(s) {extra}; allowed: {sorted(allowed)}")


def _array_of_tables(doc: Mapping[str, Any], key: str, where: str
                     ) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """``(index, location, table)`` of each ``[[key]]`` entry, checked to be tables."""
    items = doc.get(key, [])
    if not isinstance(items, list):
        raise JobFileError(f"{where}: '{key}' must be an array of tables ([[{key}]])")
    for i, t in enumerate(items):
        w = f"{where} [[{key}]] #{i + 1}"
        if not isinstance(t, dict):
            raise JobFileError(f"{w}: must be a table")
        yield i, w, t


def _str(table: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str | None:
    value = table.get(key, default)
    if value is not None and (not isinstance(value, str) or not value):
        raise JobFileError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    return value


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise JobFileError(f"{where}: expected a column name or a list of names")
    return tuple(value)


def _source(doc: Mapping[str, Any], base: Path, where: str) -> SourceSpec:
    if "source" not in doc and "kafka" in doc:
        return SourceSpec()
    t = _table(doc, "source", where, required=True)
    _no_extra(t, ["path", "dataset", "format", "delimiter"], f"{where} [source]")
    path, dataset = _str(t, "path", "source"), _str(t, "dataset", "source")
    if (path is None) == (dataset is None):
        raise JobFileError(f"{where} [source]: give exactly one of 'path' or 'dataset'")
    if dataset is not None and dataset not in DATASETS:
        raise JobFileError(f"{where} [source]: unknown dataset {dataset!r}; known: "
                           f"{list(DATASETS)}")
    fmt = _str(t, "format", "source")
    if fmt is not None and fmt not in ("csv", "jsonl", "parquet"):
        raise JobFileError(f"{where} [source]: format must be csv, jsonl or parquet")
    options = {"delimiter": t["delimiter"]} if "delimiter" in t else {}
    return SourceSpec(None if path is None else (base / path), dataset, fmt,  # type: ignore[arg-type]
                      options)


def _aggregates(value: Any, where: str) -> dict[str, tuple[str, str | None]]:
    if not isinstance(value, dict) or not value:
        raise JobFileError(f"{where}: 'aggregates' must be a non-empty table of "
                           "name = \"function(column)\"")
    out: dict[str, tuple[str, str | None]] = {}
    for name, text in value.items():
        m = _AGG_RE.match(text) if isinstance(text, str) else None
        if m is None:
            raise JobFileError(f"{where}.aggregates.{name}: expected \"function(column)\" or "
                               f"\"count(*)\", got {text!r}")
        fn, arg = m.group(1).lower(), m.group(2)
        if fn not in AGGREGATE_FUNCTIONS:
            raise JobFileError(f"{where}.aggregates.{name}: unknown function {fn!r}; known: "
                               f"{list(AGGREGATE_FUNCTIONS)}")
        if fn == "count":
            arg = None
        elif arg is None or arg == "*":
            raise JobFileError(f"{where}.aggregates.{name}: {fn}() needs a column")
        out[str(name)] = ("mean" if fn == "avg" else fn, arg)
    return out


def _window(t: dict[str, Any], w: str) -> WindowSpec:
    _no_extra(t, ["name", "key", "type", "size", "slide", "gap", "offset", "allowed_lateness",
                  "aggregates", "where", "having"], w)
    name = _str(t, "name", w)
    if name is None:
        raise JobFileError(f"{w}: missing 'name'")
    kind = t.get("type", "tumbling")
    if kind not in ("tumbling", "sliding", "session"):
        raise JobFileError(f"{w}: type must be tumbling, sliding or session, got {kind!r}")
    size = slide = gap = 0
    if kind == "session":
        if "gap" not in t:
            raise JobFileError(f"{w}: a session window needs 'gap'")
        gap = parse_duration(t["gap"], what=f"{w}.gap")
    else:
        if "size" not in t:
            raise JobFileError(f"{w}: a {kind} window needs 'size'")
        size = parse_duration(t["size"], what=f"{w}.size")
        if kind == "sliding":
            if "slide" not in t:
                raise JobFileError(f"{w}: a sliding window needs 'slide'")
            slide = parse_duration(t["slide"], what=f"{w}.slide")
    return WindowSpec(
        name=name, key=_names(t.get("key"), f"{w}.key"), type=kind, size=size, slide=slide,
        gap=gap, offset=parse_duration(t.get("offset", 0), what=f"{w}.offset"),
        allowed_lateness=parse_duration(t.get("allowed_lateness", 0),
                                        what=f"{w}.allowed_lateness"),
        aggregates=_aggregates(t.get("aggregates"), w),
        where=_str(t, "where", w), having=_str(t, "having", w))


def _rules(doc: Mapping[str, Any], base: Path, where: str) -> tuple[RuleSpec, ...]:
    out = []
    for i, w, t in _array_of_tables(doc, "rules", where):
        _no_extra(t, ["file", "sql"], w)
        file, sql = _str(t, "file", w), _str(t, "sql", w)
        if (file is None) == (sql is None):
            raise JobFileError(f"{w}: give exactly one of 'file' or 'sql'")
        if file is not None:
            p = base / file
            try:
                out.append(RuleSpec(str(p), p.read_text()))
            except OSError as exc:
                raise JobFileError(f"{w}: cannot read rule file {p}: {exc.strerror}") from None
        else:
            out.append(RuleSpec(f"{where}:rules[{i}]", sql))  # type: ignore[arg-type]
    return tuple(out)


def _sinks(doc: Mapping[str, Any], base: Path, where: str) -> tuple[SinkSpec, ...]:
    out = []
    for _, w, t in _array_of_tables(doc, "sinks", where):
        _no_extra(t, ["path", "format", "outputs"], w)
        path = _str(t, "path", w)
        if path is None:
            raise JobFileError(f"{w}: missing 'path' (use \"-\" for standard output)")
        fmt = t.get("format")
        if fmt is None:
            fmt = "csv" if path.lower().endswith(".csv") else "jsonl"
        if fmt not in ("jsonl", "csv"):
            raise JobFileError(f"{w}: format must be jsonl or csv, got {fmt!r}")
        if fmt == "csv" and "{output}" not in path and path != "-":
            outputs = _names(t.get("outputs"), f"{w}.outputs")
            if len(outputs) != 1:
                raise JobFileError(f"{w}: a CSV sink holds one output: name exactly one in "
                                   "'outputs' or put {output} in the path")
        resolved = path if path == "-" else str(base / path)
        out.append(SinkSpec(resolved, "csv" if fmt == "csv" else "jsonl",
                            _names(t["outputs"], f"{w}.outputs") if "outputs" in t else None))
    return tuple(out)


def parse_job(doc: Mapping[str, Any], *, path: Path | None = None) -> JobSpec:
    """Build a :class:`JobSpec` from a parsed TOML document.

    Parameters
    ----------
    doc : mapping
        The document (as :func:`tomllib.loads` returns it).
    path : Path, optional
        The job file; relative paths in it are resolved against its folder.

    Returns
    -------
    JobSpec

    Raises
    ------
    JobFileError
        For any missing, unknown or invalid key; rule files that cannot be read; a schema
        without an event-time column.
    """
    where = str(path) if path is not None else "<job>"
    base = path.parent if path is not None else Path(".")
    _no_extra(doc, ["job", "source", "schema", "watermarks", "rules", "windows", "sinks",
                    "dead_letters", "kafka"], where)
    job = _table(doc, "job", where)
    _no_extra(job, ["name", "batch_size"], f"{where} [job]")
    name = _str(job, "name", "job") or (path.stem if path is not None else "job")
    batch_size = job.get("batch_size", 65_536)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise JobFileError(f"{where} [job]: batch_size must be a positive integer")
    try:
        schema = Schema.from_dict(_table(doc, "schema", where, required=True))
    except SchemaDefinitionError as exc:
        raise JobFileError(f"{where} [schema]: {exc}") from None
    if schema.event_time is None:
        raise JobFileError(f"{where} [schema]: name the event-time column with event_time = ...")
    wm = _table(doc, "watermarks", where)
    _no_extra(wm, ["max_out_of_orderness"], f"{where} [watermarks]")
    delay = parse_duration(wm.get("max_out_of_orderness", 0),
                           what=f"{where} [watermarks].max_out_of_orderness")
    dead = _table(doc, "dead_letters", where)
    _no_extra(dead, ["path"], f"{where} [dead_letters]")
    dead_path = _str(dead, "path", "dead_letters")
    spec = JobSpec(
        name=name, path=path, source=_source(doc, base, where), schema=schema,
        max_out_of_orderness=delay, batch_size=batch_size, rules=_rules(doc, base, where),
        windows=tuple(_window(t, w) for _, w, t in _array_of_tables(doc, "windows", where)),
        sinks=_sinks(doc, base, where),
        dead_letters=None if dead_path is None else str(base / dead_path),
        kafka=_table(doc, "kafka", where))
    if not spec.rules and not spec.windows:
        raise JobFileError(f"{where}: the job has no [[rules]] and no [[windows]]")
    return spec


def load_job(path: str | Path) -> JobSpec:
    """Read and check a job file.

    Parameters
    ----------
    path : str or Path
        The TOML file.

    Returns
    -------
    JobSpec

    Raises
    ------
    JobFileError
        If the file cannot be read, is not valid TOML (with line and column) or is not a
        valid job (see :func:`parse_job`).
    """
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise JobFileError(f"cannot read job file {p}: {exc.strerror}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise JobFileError(f"{p}: invalid TOML: {exc}") from None
    return parse_job(doc, path=p)
