"""File sources: CSV, JSON lines and Parquet read as columnar micro-batches.

Every reader yields :class:`Batch` objects: the converted columns (``dict[str, ndarray]``,
each of shape ``(n,)``), the input position of each row, the records that did not fit the
schema as :class:`DeadLetter` values, and the offset to pass as ``start=`` to resume after
the batch. Bad input never raises and is never dropped silently.

Positions are 1-based physical line numbers for CSV and JSON lines (the header is line 1) and
0-based row indices for Parquet. Resume offsets are byte offsets into the (decompressed) text
for CSV/JSON lines and row indices for Parquet. Text files may be compressed (``.gz``,
``.bz2``, ``.xz``); records are separated by ``\\n`` (``\\r\\n`` is accepted), so a quoted CSV
value cannot contain a line break.

The happy path is vectorised: Arrow parses a whole batch with the target types. Only a batch
that contains a bad record is re-parsed as text and converted with masks (rows with a wrong
field count are found by counting delimiters, or from Arrow's row numbers when the batch has
quotes); a batch whose lines Arrow cannot map back (a quote left open, invalid UTF-8, invalid
JSON) is split line by line with the standard library, which is then the arbiter for it.

:func:`decode_json_records` applies the JSON-lines rules to separate documents, such as the
values of Kafka messages.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import orjson
import pyarrow as pa

from connectors._textparse import (
    CsvParser,
    JsonParser,
    iter_text,
    json_records_block,
    open_binary,
)
from connectors.batches import Batch, DeadLetter, collect
from connectors.errors import SourceFormatError
from connectors.schema import Schema

if TYPE_CHECKING:  # imported by read_parquet: most jobs read text
    import pyarrow.parquet as pq

__all__ = ["DEFAULT_BATCH_SIZE", "Batch", "DeadLetter", "collect", "decode_json_records",
           "read_csv", "read_file", "read_json_lines", "read_parquet"]

DEFAULT_BATCH_SIZE = 65_536
PathLike = str | Path


def _prepare_text(path: PathLike, batch_size: int, start: int) -> tuple[Path, str]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    return p, str(p)


def read_csv(path: PathLike, schema: Schema, *, batch_size: int = DEFAULT_BATCH_SIZE,
             start: int = 0, delimiter: str = ",", header: list[str] | None = None,
             source: str | None = None) -> Iterator[Batch]:
    """Read a CSV file as micro-batches.

    Parameters
    ----------
    path : str or Path
        The file (``.gz``/``.bz2``/``.xz`` are decompressed).
    schema : Schema
        Columns are matched by name (:attr:`Field.input_column`); other columns are ignored.
    batch_size : int
        Input lines per batch (a batch holds fewer rows when lines are blank or rejected).
    start : int
        Byte offset to resume from (a :attr:`Batch.next_offset`); 0 reads from the top.
    delimiter : str
        One-character field separator.
    header : list of str, optional
        Column names of a file without a header line; by default line 1 is the header.
    source : str, optional
        Name used in batches and dead letters (default: the path).

    Returns
    -------
    iterator of Batch

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    SourceFormatError
        If the header lacks a column the schema needs, or ``start`` lies inside the header.
    ValueError
        For a bad ``batch_size``, ``start`` or ``delimiter``.
    """
    p, name = _prepare_text(path, batch_size, start)
    if len(delimiter) != 1 or delimiter in "\"\r\n":
        raise ValueError(f"delimiter must be one character other than quote/newline, "
                         f"got {delimiter!r}")
    body = 0
    if header is None:
        with open_binary(p) as f:
            first = f.readline()
        body = len(first)
        try:
            header = next(csv.reader([first.decode("utf-8-sig").rstrip("\r\n")],
                                     delimiter=delimiter))
        except (UnicodeDecodeError, StopIteration, csv.Error) as exc:
            raise SourceFormatError(f"{p}: unreadable header line: {exc}") from None
    missing = [f.input_column for f in schema if f.input_column not in header]
    if missing:
        raise SourceFormatError(f"{p}: columns {missing} of the schema are not in the header "
                                f"{header}")
    if 0 < start < body:
        raise SourceFormatError(f"{p}: start offset {start} lies inside the header line")
    parser = CsvParser(schema, list(header), delimiter, source or name)
    return iter_text(p, max(start, body), batch_size, parser.parse)


def read_json_lines(path: PathLike, schema: Schema, *, batch_size: int = DEFAULT_BATCH_SIZE,
                    start: int = 0, source: str | None = None) -> Iterator[Batch]:
    """Read a JSON-lines file (one object per line) as micro-batches.

    Members are matched by :attr:`Field.input_column`; other members are ignored; ``null`` or
    an absent member is a missing value. ``int64`` needs a JSON integer, ``float64`` any
    number (``NaN``/``Infinity`` are accepted), ``bool`` ``true``/``false``, ``string`` a
    string, ``timestamp`` an integer (epoch ms) or a string (ISO-8601 or the field's format).

    Parameters
    ----------
    path : str or Path
        The file (``.gz``/``.bz2``/``.xz`` are decompressed).
    schema : Schema
    batch_size : int
        Input lines per batch.
    start : int
        Byte offset to resume from (a :attr:`Batch.next_offset`); 0 reads from the top.
    source : str, optional
        Name used in batches and dead letters (default: the path).

    Returns
    -------
    iterator of Batch
        Positions are 1-based line numbers.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        For a bad ``batch_size`` or ``start``.
    """
    p, name = _prepare_text(path, batch_size, start)
    parser = JsonParser(schema, source or name)
    return iter_text(p, start, batch_size, parser.parse)


def decode_json_records(values: Sequence[bytes | None], schema: Schema, *,
                        positions: Sequence[int] | np.ndarray | None = None,
                        source: str = "") -> Batch:
    """Decode separate JSON documents (one record each, e.g. Kafka message values).

    Parameters
    ----------
    values : sequence of bytes or None, length m
        The documents; ``None`` or blank is rejected as "not a JSON object".
    schema : Schema
    positions : sequence of int, length m, optional
        Position of each document (e.g. the message offsets); default ``0..m-1``.
    source : str
        Name used in the dead letters (e.g. ``"topic/partition"``).

    Returns
    -------
    Batch
        Rows as in :func:`read_json_lines`; ``positions`` are the given ones; ``offset`` and
        ``next_offset`` are 0.

    Raises
    ------
    ValueError
        If ``positions`` does not have one entry per document.
    """
    values = list(values)
    pos = (np.arange(len(values), dtype=np.int64) if positions is None
           else np.asarray(positions, np.int64))
    if pos.shape != (len(values),):
        raise ValueError(f"{len(values)} documents but positions of shape {pos.shape}")
    if not values:
        return Batch(source, schema.empty_columns(), pos, (), 0, 0)
    return JsonParser(schema, source).parse(json_records_block(values, pos))


# -- Parquet ------------------------------------------------------------------------------------
def read_parquet(path: PathLike, schema: Schema, *, batch_size: int = DEFAULT_BATCH_SIZE,
                 start: int = 0, source: str | None = None) -> Iterator[Batch]:
    """Read a Parquet file as micro-batches.

    Columns are cast to the schema's types (text columns are parsed as in CSV); nulls are
    missing values. Positions and offsets are 0-based row indices. A schema column absent from
    the file is all-missing when the field has a ``fill``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    SourceFormatError
        If the file is not Parquet, lacks a column that has no fill, or holds a column whose
        type cannot be converted.
    """
    import pyarrow.parquet as pq

    p, name = _prepare_text(path, batch_size, start)
    try:
        pf = pq.ParquetFile(p)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceFormatError(f"{p}: not a readable Parquet file: {exc}") from None
    arrow_schema = pf.schema_arrow
    present = [f.input_column for f in schema if f.input_column in arrow_schema.names]
    missing = [f.name for f in schema if f.input_column not in present and f.fill is None]
    if missing or not present:
        raise SourceFormatError(f"{p}: columns {missing} are not in the file "
                                f"{arrow_schema.names}")
    schema.convert({c: pa.array([], arrow_schema.field(c).type) for c in present})
    return _iter_parquet(pf, schema, present, batch_size, start, source or name)


def _iter_parquet(pf: pq.ParquetFile, schema: Schema, present: list[str], batch_size: int,
                  start: int, source: str) -> Iterator[Batch]:
    groups, row0 = [], 0
    first_row = None
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if row0 + n > start:
            groups.append(g)
            first_row = row0 if first_row is None else first_row
        row0 += n
    if not groups:
        return
    pos = first_row or 0
    for rb in pf.iter_batches(batch_size=batch_size, row_groups=groups, columns=present):
        if pos + rb.num_rows <= start:
            pos += rb.num_rows
            continue
        if pos < start:
            rb = rb.slice(start - pos)
            pos = start
        n = rb.num_rows
        conv = schema.convert({c: rb.column(c) for c in present})
        rows = np.arange(pos, pos + n, dtype=np.int64)
        letters: tuple[DeadLetter, ...] = ()
        columns = conv.columns
        if conv.bad.any():
            bad = np.flatnonzero(conv.bad)
            raw = rb.take(pa.array(bad)).to_pylist()
            letters = tuple(
                DeadLetter(source, int(pos + i), orjson.dumps(r, default=str).decode(), why)
                for i, r, why in zip(bad.tolist(), raw, conv.reasons, strict=True))
            keep = ~conv.bad
            columns = {k: v[keep] for k, v in columns.items()}
            rows = rows[keep]
        yield Batch(source, columns, rows, letters, pos, pos + n)
        pos += n


def read_file(path: PathLike, schema: Schema, *,
              format: Literal["csv", "jsonl", "parquet"] | None = None,
              **options: Any) -> Iterator[Batch]:
    """Read a file with the reader its format (or suffix) calls for.

    ``.csv`` → :func:`read_csv`; ``.jsonl``/``.ndjson``/``.json`` → :func:`read_json_lines`;
    ``.parquet``/``.pq`` → :func:`read_parquet` (a ``.gz``/``.bz2``/``.xz`` suffix is looked
    through). ``options`` are passed on.

    Raises
    ------
    SourceFormatError
        If the format cannot be told from the suffix and is not given.
    """
    p = Path(path)
    if format is None:
        suffixes = [s.lower() for s in p.suffixes]
        if suffixes and suffixes[-1] in (".gz", ".bz2", ".xz", ".lzma"):
            suffixes.pop()
        kinds = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                 ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
        format = kinds.get(suffixes[-1]) if suffixes else None  # type: ignore[assignment]
        if format is None:
            raise SourceFormatError(f"{p}: cannot tell the format from the name; pass format=")
    if format == "csv":
        return read_csv(p, schema, **options)
    if format == "jsonl":
        return read_json_lines(p, schema, **options)
    if format == "parquet":
        return read_parquet(p, schema, **options)
    raise SourceFormatError(f"unknown format {format!r}")
