"""Splitting text input into blocks of whole lines and parsing CSV / JSON-lines blocks.

Private helpers of :mod:`connectors.files`: see there for the rules.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import json
import lzma
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json

from connectors.batches import Batch, DeadLetter
from connectors.schema import FALSE_VALUES, TRUE_VALUES, Converted, Schema

_READ_SIZE = 8 << 20


# -- opening and splitting text ---------------------------------------------------------------
def open_binary(path: Path) -> IO[bytes]:
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    if suffix == ".bz2":
        return bz2.open(path, "rb")
    if suffix in (".xz", ".lzma"):
        return lzma.open(path, "rb")
    return open(path, "rb")


def _count_newlines(f: IO[bytes], upto: int) -> int:
    count = 0
    left = upto
    while left > 0:
        chunk = f.read(min(_READ_SIZE, left))
        if not chunk:
            break
        count += chunk.count(b"\n")
        left -= len(chunk)
    return count


class _Lines:
    """A block of whole lines: ``data[starts[i]:ends[i]]`` is line ``first_line + i``
    (line break and trailing CR excluded).

    ``starts`` and ``ends`` are found on first use when not given (the happy path of the CSV
    parser needs only ``count``, the number of lines)."""

    def __init__(self, data: bytes | memoryview, starts: np.ndarray | None,
                 ends: np.ndarray | None, first_line: int, offset: int, next_offset: int, *,
                 count: int | None = None, positions: np.ndarray | None = None,
                 may_have_cr: bool = True, may_have_quote: bool = True) -> None:
        self.data = data
        self.first_line = first_line
        self.offset = offset
        self.next_offset = next_offset
        self.arr = np.frombuffer(data, np.uint8)
        #: position of each line when it is not ``first_line + i`` (e.g. Kafka offsets)
        self.positions = positions
        #: False when the data is known to hold no CR (no line end to trim)
        self.may_have_cr = may_have_cr
        #: False when the data is known to hold no double quote (CSV is parsed without quoting)
        self.may_have_quote = may_have_quote
        self._bounds = None if starts is None or ends is None else self._trim(starts, ends)
        self.count = len(ends) if ends is not None else int(count)  # type: ignore[arg-type]

    def _trim(self, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(ends) and self.may_have_cr:
            cr = ends > starts
            cr[cr] = self.arr[ends[cr] - 1] == 13
            ends = ends - cr
        return starts, ends

    def _find(self) -> tuple[np.ndarray, np.ndarray]:
        if self._bounds is None:
            ends = np.flatnonzero(self.arr == 10)
            if len(self.arr) and self.arr[-1] != 10:  # a last line without its line break
                ends = np.append(ends, len(self.arr))
            starts = np.empty(len(ends), np.int64)
            if len(ends):
                starts[0] = 0
                starts[1:] = ends[:-1] + 1
            self._bounds = self._trim(starts, ends)
        return self._bounds

    @property
    def starts(self) -> np.ndarray:
        return self._find()[0]

    @property
    def ends(self) -> np.ndarray:
        return self._find()[1]

    def position(self, i: np.ndarray) -> np.ndarray:
        return self.first_line + i if self.positions is None else self.positions[i]

    def text(self, i: int) -> str:
        return bytes(self.data[self.starts[i]:self.ends[i]]).decode("utf-8", "replace")

    def raw(self, i: int) -> bytes:
        return bytes(self.data[self.starts[i]:self.ends[i]])


class _Piece:
    """A chunk read from the input: its bytes, the offsets of its line breaks, how many of
    them (``k``) and how many bytes (``head``) were already handed out in blocks."""

    __slots__ = ("count", "cr", "data", "head", "k", "nl", "quote")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.nl = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
        self.count = len(self.nl)
        self.cr = b"\r" in data  # fast byte searches; they save work on every block
        self.quote = b'"' in data
        self.k = 0
        self.head = 0


def _line_blocks(f: IO[bytes], offset: int, first_line: int,
                 batch_size: int) -> Iterator[_Lines]:
    """Split a binary stream positioned at ``offset`` into blocks of ``batch_size`` lines.

    A block that lies inside one chunk read from the input is a view of it (no copy); only a
    block that spans chunks is joined. Line bounds are found only when a parser asks."""
    pend: list[_Piece] = []
    nlines = 0  # line breaks in ``pend`` not yet handed out
    eof = False
    while True:
        while not eof and nlines < batch_size:
            chunk = f.read(_READ_SIZE)
            if not chunk:
                eof = True
                break
            pend.append(_Piece(chunk))
            nlines += pend[-1].count
        if nlines < batch_size and not any(p.head < len(p.data) for p in pend):
            return  # eof, nothing left
        need = batch_size if nlines >= batch_size else nlines
        parts: list[tuple[_Piece, int, int]] = []
        size = 0
        count = need
        for i, piece in enumerate(pend):
            avail = piece.count - piece.k
            if avail >= need and nlines >= batch_size:
                cut = int(piece.nl[piece.k + need - 1]) + 1
                parts.append((piece, piece.head, cut))
                size += cut - piece.head
                piece.k += need
                piece.head = cut
                del pend[:i]
                nlines -= batch_size
                break
            parts.append((piece, piece.head, len(piece.data)))
            size += len(piece.data) - piece.head
            need -= avail
        else:  # the tail at end of input; the last line may lack its line break
            pend.clear()
            nlines = 0
            tail = [p.data[q - 1] for p, s, q in parts if q > s]
            if tail and tail[-1] != 10:
                count += 1
        if len(parts) == 1:
            piece, a, b = parts[0]
            block: bytes | memoryview = memoryview(piece.data)[a:b]  # no copy
        else:
            block = b"".join(memoryview(piece.data)[a:b] for piece, a, b in parts)
        yield _Lines(block, None, None, first_line, offset, offset + size, count=count,
                     may_have_cr=any(piece.cr for piece, _, _ in parts),
                     may_have_quote=any(piece.quote for piece, _, _ in parts))
        first_line += count
        offset += size


# -- CSV ----------------------------------------------------------------------------------------
def _bool_texts(values: tuple[str, ...]) -> list[str]:
    return sorted({v2 for v in values for v2 in (v, v.upper(), v.capitalize())})


class CsvParser:
    def __init__(self, schema: Schema, header: list[str], delimiter: str, source: str) -> None:
        self.schema = schema
        self.header = header
        self.delimiter = delimiter
        self.source = source
        self.inputs = [f.input_column for f in schema]
        self.index = [header.index(c) for c in self.inputs]
        self.as_text = {f.input_column for f in schema
                        if f.type == "timestamp" and f.format is not None}

    def _types(self, text: bool) -> dict[str, pa.DataType]:
        m = {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
             "string": pa.string(), "timestamp": pa.int64()}
        return {f.input_column: pa.string() if text or f.input_column in self.as_text
                else m[f.type] for f in self.schema}

    def _arrow(self, lines: _Lines, text: bool, serial: bool = False,
               strict: bool = False) -> tuple[pa.Table, list[tuple[int | None, int]]]:
        """Parse the block with Arrow; also return (number, field count) of each row with a
        wrong field count (numbers are known only when parsing serially).

        ``strict=True`` parses without an invalid-row handler (calling back into Python
        makes Arrow's parse about a third slower), so a row with a wrong field count raises
        ``ArrowInvalid``; when it does not raise, the table is the one the handler would
        give, since the handler only ever sees rows with a wrong field count.
        """
        invalid: list[tuple[int | None, int]] = []

        def handler(row: Any) -> str:
            invalid.append((row.number, row.actual_columns))
            return "skip"

        table = pa_csv.read_csv(
            pa.BufferReader(pa.py_buffer(lines.data)),
            read_options=pa_csv.ReadOptions(column_names=self.header, use_threads=not serial),
            parse_options=pa_csv.ParseOptions(
                delimiter=self.delimiter, invalid_row_handler=None if strict else handler,
                quote_char='"' if lines.may_have_quote else False),  # the same without quotes
            convert_options=pa_csv.ConvertOptions(
                column_types=self._types(text), include_columns=self.inputs,
                null_values=list(self.schema.null_values), strings_can_be_null=True,
                true_values=_bool_texts(TRUE_VALUES), false_values=_bool_texts(FALSE_VALUES)))
        return table, invalid

    def parse(self, lines: _Lines) -> Batch:
        dead: list[tuple[int, str]] = []  # (line index in block, reason)
        table: pa.Table | None = None
        good: np.ndarray | None = None
        nonempty: np.ndarray | None = None
        for as_text in (False, True):
            try:
                try:  # the common case first: every row has the right field count
                    table, invalid = self._arrow(lines, as_text, strict=True)
                except pa.ArrowInvalid:
                    table, invalid = self._arrow(lines, as_text)
                if as_text:
                    self._adapt(table)
                if not invalid and not lines.may_have_cr and table.num_rows == lines.count:
                    # one row per line: Arrow skips blank lines and joins lines only at an
                    # open quote (both give fewer rows) and splits lines only at a CR
                    conv = self.schema.convert(table)
                    return _finish(self.source, lines, conv,
                                   np.arange(lines.count, dtype=np.int64), dead)
                nonempty = lines.ends > lines.starts
                n_rec = int(nonempty.sum())
                if table.num_rows + len(invalid) != n_rec:
                    break  # Arrow joined lines (a quote left open): map lines one by one
                good = nonempty
                if invalid:
                    good = self._count_fields(lines, nonempty, len(invalid), dead)
                if good is None:  # quotes: ask Arrow, parsing serially, which rows were bad
                    table, invalid = self._arrow(lines, as_text, serial=True)
                    good = self._numbered(nonempty, invalid, dead)
                    if table.num_rows + len(invalid) != n_rec:
                        good = None
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            break
        if table is None or good is None:
            dead.clear()
            table, good = self._python_split(lines, lines.ends > lines.starts, dead)
        conv = self.schema.convert(table)
        return _finish(self.source, lines, conv, np.flatnonzero(good), dead)

    def _adapt(self, table: pa.Table) -> None:
        """After a batch had to be read as text: columns whose text Arrow cannot parse as
        their type directly (ISO timestamps, "13085.0" for int64, bad values) are read as
        text from now on, so the other columns keep the fast typed path."""
        direct = {"int64": pa.int64(), "float64": pa.float64(), "timestamp": pa.int64()}
        for f in self.schema:
            if f.type not in direct or f.input_column in self.as_text:
                continue
            try:
                pc.cast(pc.utf8_trim(table.column(f.input_column), " \t"), direct[f.type])
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                self.as_text.add(f.input_column)

    def _count_fields(self, lines: _Lines, nonempty: np.ndarray, invalid: int,
                      dead: list[tuple[int, str]]) -> np.ndarray | None:
        """Lines with a wrong field count, found by counting delimiters (None if the block
        has quotes)."""
        if lines.may_have_quote and (lines.arr == 34).any():
            return None
        delim = np.flatnonzero(lines.arr == ord(self.delimiter))
        nfields = np.searchsorted(delim, lines.ends) - np.searchsorted(delim, lines.starts) + 1
        wrong = nonempty & (nfields != len(self.header))
        if int(wrong.sum()) != invalid:
            return None
        for i in np.flatnonzero(wrong).tolist():
            dead.append((i, f"expected {len(self.header)} fields, got {nfields[i]}"))
        return nonempty & ~wrong

    def _numbered(self, nonempty: np.ndarray, invalid: list[tuple[int | None, int]],
                  dead: list[tuple[int, str]]) -> np.ndarray | None:
        """Map Arrow's row numbers (1-based over the non-blank lines) to lines."""
        idx = np.flatnonzero(nonempty)
        if any(num is None or not 1 <= num <= len(idx) for num, _ in invalid):
            return None
        good = nonempty.copy()
        for num, got in invalid:
            i = int(idx[int(num) - 1])  # type: ignore[arg-type]
            good[i] = False
            dead.append((i, f"expected {len(self.header)} fields, got {got}"))
        return good

    def _python_split(self, lines: _Lines, nonempty: np.ndarray,
                      dead: list[tuple[int, str]]) -> tuple[pa.Table, np.ndarray]:
        good = np.zeros(len(nonempty), np.bool_)
        cols: list[list[str | None]] = [[] for _ in self.inputs]
        nulls = set(self.schema.null_values)
        for i in np.flatnonzero(nonempty).tolist():
            try:
                text = lines.raw(i).decode("utf-8")
                fields = next(csv.reader([text], delimiter=self.delimiter))
            except (UnicodeDecodeError, csv.Error) as exc:
                dead.append((i, f"unreadable line: {exc}"))
                continue
            if len(fields) != len(self.header):
                dead.append((i, f"expected {len(self.header)} fields, got {len(fields)}"))
                continue
            good[i] = True
            for c, j in zip(cols, self.index, strict=True):
                v = fields[j]
                c.append(None if v in nulls else v)
        table = pa.table({name: pa.array(c, pa.string()) for name, c in
                          zip(self.inputs, cols, strict=True)})
        return table, good


def _finish(source: str, lines: _Lines, conv: Converted, rows: np.ndarray,
            dead: list[tuple[int, str]]) -> Batch:
    """Drop bad rows, attach positions and dead letters (sorted by position)."""
    if conv.bad.any():
        for i, r in zip(rows[conv.bad].tolist(), conv.reasons, strict=True):
            dead.append((i, r))
        keep = ~conv.bad
        columns = {k: v[keep] for k, v in conv.columns.items()}
        rows = rows[keep]
    else:
        columns = conv.columns
    dead.sort()
    numbers = lines.position(rows)
    where = lines.position(np.array([i for i, _ in dead], np.int64)).tolist()
    letters = tuple(DeadLetter(source, int(p), lines.text(i), r)
                    for p, (i, r) in zip(where, dead, strict=True))
    return Batch(source, columns, numbers.astype(np.int64), letters, lines.offset,
                 lines.next_offset)


def iter_text(p: Path, start: int, batch_size: int,
               parse: Callable[[_Lines], Batch]) -> Iterator[Batch]:
    with open_binary(p) as f:
        first_line = _count_newlines(f, start) + 1 if start else 1
        f.seek(start)
        for lines in _line_blocks(f, start, first_line, batch_size):
            yield parse(lines)


# -- JSON lines ---------------------------------------------------------------------------------
class JsonParser:
    def __init__(self, schema: Schema, source: str) -> None:
        self.schema = schema
        self.source = source
        self.ts_text = False

    def _arrow(self, lines: _Lines, ts_text: bool) -> pa.Table:
        m = {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
             "string": pa.string()}
        fields = [(f.input_column, m[f.type] if f.type != "timestamp" else
                   pa.string() if ts_text or f.format is not None else pa.int64())
                  for f in self.schema]
        return pa_json.read_json(
            pa.BufferReader(pa.py_buffer(lines.data)),
            parse_options=pa_json.ParseOptions(explicit_schema=pa.schema(fields),
                                               unexpected_field_behavior="ignore"))

    @staticmethod
    def _bare_null(lines: _Lines) -> bool:
        """True if a line is a bare JSON ``null``: Arrow would read it as a row of missing
        values (and crashes on a block of nothing else), so such blocks take the Python
        path, which rejects the line as not an object."""
        short = np.flatnonzero((lines.ends > lines.starts) & (lines.ends - lines.starts <= 32))
        return any(lines.raw(i).strip() == b"null" for i in short.tolist())

    def parse(self, lines: _Lines) -> Batch:
        nonempty = lines.ends > lines.starts
        dead: list[tuple[int, str]] = []
        table = None
        has_ts = any(f.type == "timestamp" and f.format is None for f in self.schema)
        attempts = (self.ts_text, not self.ts_text) if has_ts else (False,)
        for ts_text in () if self._bare_null(lines) else attempts:
            try:
                table = self._arrow(lines, ts_text)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            self.ts_text = ts_text
            break
        if table is None or table.num_rows != int(nonempty.sum()):
            table, nonempty = self._python(lines, nonempty, dead)
        conv = self.schema.convert(table)
        return _finish(self.source, lines, conv, np.flatnonzero(nonempty), dead)

    def _python(self, lines: _Lines, nonempty: np.ndarray,
                dead: list[tuple[int, str]]) -> tuple[pa.Table, np.ndarray]:
        good = np.zeros(len(nonempty), np.bool_)
        fields = list(self.schema)
        cols: list[list[Any]] = [[] for _ in fields]
        for i in np.flatnonzero(nonempty).tolist():
            raw = lines.raw(i)
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as first:
                try:  # the standard library also accepts NaN and Infinity, as Arrow does
                    obj = json.loads(raw)
                except (ValueError, RecursionError) as exc:
                    dead.append((i, f"invalid JSON: {exc}"))
                    continue
                if "surrogate" in str(first):  # "\ud800" alone is no text (Arrow agrees)
                    dead.append((i, f"invalid JSON: {first}"))
                    continue
            if not isinstance(obj, dict):
                what = "null" if obj is None else type(obj).__name__
                dead.append((i, f"not a JSON object but {what}"))
                continue
            row, errors = [], []
            for f in fields:
                v = obj.get(f.input_column)
                err = None if v is None else _json_type_error(f.type, f.format, v)
                if err:
                    errors.append(f"{f.name}: {err}, got {_show_json(v)}")
                if f.type == "timestamp" and v is not None:
                    v = str(v)
                row.append(v)
            if errors:
                dead.append((i, "; ".join(errors)))
                continue
            good[i] = True
            for c, v in zip(cols, row, strict=True):
                c.append(v)
        arrow = {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
                 "string": pa.string(), "timestamp": pa.string()}
        table = pa.table({f.input_column: pa.array(c, arrow[f.type])
                          for f, c in zip(fields, cols, strict=True)})
        return table, good


def _show_json(v: Any) -> str:
    s = orjson.dumps(v, default=str).decode() if not isinstance(v, float) else repr(v)
    return s if len(s) <= 80 else s[:77] + "..."


def _json_type_error(type_: str, fmt: str | None, v: Any) -> str | None:
    is_int = isinstance(v, int) and not isinstance(v, bool)
    if type_ == "int64":
        return None if is_int and -(2**63) <= v < 2**63 else "expected an int64 integer"
    if type_ == "float64":
        if isinstance(v, float):
            return None
        try:
            return None if is_int and np.isfinite(float(v)) else "expected a number"
        except OverflowError:
            return "expected a number"
    if type_ == "bool":
        return None if isinstance(v, bool) else "expected true or false"
    if type_ == "string":
        return None if isinstance(v, str) else "expected a string"
    if isinstance(v, str) or (fmt is None and is_int and -(2**63) <= v < 2**63):
        return None
    return "expected a time string" if fmt else "expected epoch ms or an ISO-8601 string"


def json_records_block(values: list[bytes | None], positions: np.ndarray) -> _Lines:
    """Join separate JSON documents (e.g. message values) into one block of lines.

    A line break inside a document is whitespace between tokens (a raw line break inside a
    JSON string is invalid anyway) and becomes a space; a missing value becomes ``null``, so
    that it is rejected as "not a JSON object" rather than skipped as a blank line."""
    docs = [b"null" if not v or not v.strip() else
            v.replace(b"\r", b" ").replace(b"\n", b" ") for v in values]
    data = b"\n".join(docs)
    lengths = np.fromiter((len(d) for d in docs), np.int64, len(docs))
    ends = np.cumsum(lengths + 1) - 1
    starts = ends - lengths
    lines = _Lines(data, starts, ends, 0, 0, 0)
    lines.positions = np.asarray(positions, np.int64)
    return lines
