"""File and stdout sinks for result columns, and the dead-letter writer.

Output is deterministic: the same columns give byte-identical output. Formatting rules:

* JSON lines: one object per row, members in column order, written by ``orjson``: integers
  as integers, floats in the shortest form that reads back exactly (``0.1``, ``5.0``,
  ``1e20``), NaN and infinities as ``null``, booleans as ``true``/``false``.
* CSV: a header line, then one line per row, ``\\n`` line ends; floats as Python ``repr``
  (shortest exact form; ``nan``, ``inf``, ``-inf``), booleans as ``true``/``false``; a string
  is quoted (``"`` doubled) only when it contains the delimiter, a quote, CR or LF. An empty
  string is an empty field, which :func:`connectors.files.read_csv` reads as missing unless
  the field has ``fill = ""``.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import numpy as np
import orjson

from connectors.batches import DeadLetter

__all__ = ["CsvSink", "DeadLetterWriter", "JsonLinesSink", "StdoutSink", "format_csv",
           "format_json_lines", "write_csv", "write_json_lines"]

Target = str | Path | IO[bytes] | IO[str]


def _columns(columns: Mapping[str, Any]) -> tuple[list[str], list[np.ndarray], int]:
    names = list(columns)
    arrays = [np.asarray(columns[k]) for k in names]
    if any(a.ndim != 1 for a in arrays):
        raise ValueError("every column must be a 1-d array")
    lengths = {a.shape[0] for a in arrays}
    if len(lengths) > 1:
        raise ValueError(f"columns have different lengths: "
                         f"{ {k: a.shape[0] for k, a in zip(names, arrays, strict=True)} }")
    return names, arrays, lengths.pop() if lengths else 0


def format_json_lines(columns: Mapping[str, Any]) -> bytes:
    """Rows of ``columns`` as JSON lines.

    Parameters
    ----------
    columns : mapping of str to array-like, each shape (n,)

    Returns
    -------
    bytes
        ``n`` lines, each ending in ``\\n`` (empty for ``n == 0``).

    Raises
    ------
    ValueError
        If the columns are not 1-d or differ in length.
    """
    names, arrays, n = _columns(columns)
    if n == 0:
        return b""
    lists = [a.tolist() for a in arrays]
    dumps = orjson.dumps
    return b"\n".join(dumps(dict(zip(names, row, strict=True)))
                      for row in zip(*lists, strict=True)) + b"\n"


def _quote(s: str, delimiter: str) -> str:
    if delimiter in s or '"' in s or "\n" in s or "\r" in s:
        return '"' + s.replace('"', '""') + '"'
    return s


def _cells(a: np.ndarray, delimiter: str) -> list[str]:
    k = a.dtype.kind
    if k == "b":
        return ["true" if v else "false" for v in a.tolist()]
    if k in "iu":
        return list(map(str, a.tolist()))
    if k == "f":
        return list(map(repr, a.astype(np.float64).tolist()))
    return ["" if v is None else _quote(str(v), delimiter) for v in a.tolist()]


def format_csv(columns: Mapping[str, Any], *, header: bool = True,
               delimiter: str = ",") -> bytes:
    """Rows of ``columns`` as CSV text (UTF-8).

    Parameters
    ----------
    columns : mapping of str to array-like, each shape (n,)
    header : bool
        Start with a line of column names.
    delimiter : str
        One-character field separator.

    Returns
    -------
    bytes

    Raises
    ------
    ValueError
        If the columns are not 1-d or differ in length.
    """
    names, arrays, n = _columns(columns)
    lines: list[str] = [delimiter.join(_quote(k, delimiter) for k in names)] if header else []
    if n:
        cells = [_cells(a, delimiter) for a in arrays]
        lines.extend(map(delimiter.join, zip(*cells, strict=True)))
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


class _Sink:
    """Writes encoded rows to a path (opened ``wb``/``ab``) or to an open file object."""

    def __init__(self, target: Target, *, append: bool = False) -> None:
        self._own = isinstance(target, (str, Path))
        self._text = False
        self._existing = False
        if isinstance(target, (str, Path)):
            p = Path(target)
            self._existing = append and p.exists() and p.stat().st_size > 0
            self._file: IO[Any] = open(p, "ab" if append else "wb")
            self.name = str(p)
        else:
            self._file = target
            self._text = isinstance(target, io.TextIOBase) or hasattr(target, "encoding")
            self.name = str(getattr(target, "name", "<stream>"))
        self.rows_written = 0

    def _write(self, data: bytes) -> None:
        if data:
            self._file.write(data.decode("utf-8") if self._text else data)

    def flush(self) -> None:
        """Flush the underlying file."""
        self._file.flush()

    def close(self) -> None:
        """Flush, and close the file if this sink opened it."""
        if self._own:
            if not self._file.closed:
                self._file.close()
        else:
            self._file.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class JsonLinesSink(_Sink):
    """Writes result columns as JSON lines (see the module docstring for the format).

    Parameters
    ----------
    target : str, Path or file object
        A path (created or truncated; appended to with ``append=True``) or an open binary or
        text file, which is flushed but not closed by :meth:`close`.
    append : bool
        Append to an existing file instead of truncating it.
    """

    def write(self, columns: Mapping[str, Any]) -> int:
        """Write the rows of ``columns`` (each array of shape (n,)); return ``n``.

        Raises
        ------
        ValueError
            If the columns are not 1-d or differ in length.
        """
        data = format_json_lines(columns)
        self._write(data)
        n = data.count(b"\n")
        self.rows_written += n
        return n


class StdoutSink(JsonLinesSink):
    """JSON lines to standard output (``sys.stdout`` at the time of creation)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)


class CsvSink(_Sink):
    """Writes result columns as CSV with a header line (see the module docstring).

    Parameters
    ----------
    target : str, Path or file object
        As for :class:`JsonLinesSink`. When appending to a non-empty file no header is
        written.
    delimiter : str
        One-character field separator.
    append : bool
        Append instead of truncating.

    Notes
    -----
    The column names and their order are fixed by the first :meth:`write`.
    """

    def __init__(self, target: Target, *, delimiter: str = ",", append: bool = False) -> None:
        if len(delimiter) != 1 or delimiter in "\"\r\n":
            raise ValueError(f"bad delimiter {delimiter!r}")
        super().__init__(target, append=append)
        self.delimiter = delimiter
        self.columns: list[str] | None = None

    def write(self, columns: Mapping[str, Any]) -> int:
        """Write the rows of ``columns`` (each array of shape (n,)); return ``n``.

        Raises
        ------
        ValueError
            If the column names differ from those of the first write, or the arrays are not
            1-d or differ in length.
        """
        header = self.columns is None and not self._existing
        if self.columns is None:
            self.columns = list(columns)
        elif list(columns) != self.columns:
            raise ValueError(f"columns {list(columns)} differ from {self.columns}")
        _, _, n = _columns(columns)
        self._write(format_csv(columns, header=header, delimiter=self.delimiter))
        self.rows_written += n
        return n


class DeadLetterWriter(_Sink):
    """Writes dead letters as JSON lines ``{"source", "position", "reason", "raw"}``.

    Parameters
    ----------
    target : str, Path or file object
        As for :class:`JsonLinesSink`.
    append : bool
        Append instead of truncating.
    """

    def write(self, letters: Iterable[DeadLetter]) -> int:
        """Write the dead letters in the order given; return how many."""
        rows = [orjson.dumps(d.to_dict()) for d in letters]
        if rows:
            self._write(b"\n".join(rows) + b"\n")
        self.rows_written += len(rows)
        return len(rows)


def write_csv(path: str | Path, columns: Mapping[str, Any], *, delimiter: str = ",") -> Path:
    """Write ``columns`` to a new CSV file (header plus rows) atomically; return the path.

    The file is written to ``path + ".tmp"`` and renamed, so a reader never sees half a file.
    """
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    with CsvSink(tmp, delimiter=delimiter) as sink:
        sink.write(columns)
    tmp.replace(p)
    return p


def write_json_lines(path: str | Path, columns: Mapping[str, Any]) -> Path:
    """Write ``columns`` to a new JSON-lines file atomically; return the path."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    with JsonLinesSink(tmp) as sink:
        sink.write(columns)
    tmp.replace(p)
    return p
