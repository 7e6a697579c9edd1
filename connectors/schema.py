"""Record schemas: typed, ordered fields, the event-time column and an optional key column.

A :class:`Schema` is immutable. Build it from :class:`Field` objects or from the dict form a
job file uses (see :meth:`Schema.from_dict` and ``docs/data.md``)::

    Schema.from_dict({
        "columns": {
            "card": "string",
            "amount": "float64",
            "ts": {"type": "timestamp", "format": "%m/%d/%Y %H:%M",
                   "timezone": "Europe/London"},
        },
        "event_time": "ts",
        "key": "card",
    })

Conversion of input columns to the schema's NumPy dtypes is vectorised over Arrow arrays
(:meth:`Schema.convert`); a value that does not convert marks its row bad with a reason, so
that readers turn it into a dead letter instead of failing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.errors import SchemaDefinitionError, SourceFormatError
from connectors.timeconv import check_timezone, parse_timestamps

__all__ = ["FIELD_TYPES", "Converted", "Field", "FieldType", "Schema"]

FieldType = Literal["int64", "float64", "bool", "string", "timestamp"]
#: The field types, in documentation order.
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)

#: Texts accepted for ``bool`` fields in text input (compared after trimming, case-insensitive).
TRUE_VALUES: tuple[str, ...] = ("true", "t", "1", "yes", "y")
FALSE_VALUES: tuple[str, ...] = ("false", "f", "0", "no", "n")

_DTYPES: dict[str, np.dtype[Any]] = {
    "int64": np.dtype(np.int64), "float64": np.dtype(np.float64), "bool": np.dtype(np.bool_),
    "string": np.dtype("U1"), "timestamp": np.dtype(np.int64),
}
_INT_RE = r"^[+-]?[0-9]+$"
_FLOAT_RE = r"(?i)^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?|inf(inity)?|nan)$"


@dataclass(frozen=True)
class Field:
    """One column of a :class:`Schema`.

    Parameters
    ----------
    name : str
        Column name in the batches the readers produce.
    type : {"int64", "float64", "bool", "string", "timestamp"}
        Target type. ``timestamp`` values become ``int64`` epoch milliseconds (UTC). Text for
        ``int64`` is a decimal integer, optionally with a zero fraction (``"13085.0"``).
    column : str, optional
        Name of the column in the input when it differs from ``name`` (e.g. ``"Customer ID"``).
    format : str, optional
        ``timestamp`` only: a strptime format (``%Y %m %d %H %M %S %z %b ...``, as Arrow's
        ``strptime``) for text input. Without it, text must be ISO-8601 or an integer number of
        epoch milliseconds.
    timezone : str, optional
        ``timestamp`` only: IANA zone in which naive times (no offset in the text) are read;
        default UTC. Ambiguous and non-existent local times resolve as Python's ``zoneinfo``
        does with ``fold=0`` (the earlier offset).
    fill : int, float, bool or str, optional
        Value used when the input value is missing (null, absent, or one of the schema's
        ``null_values`` in text). Without ``fill`` a missing value makes the record a dead
        letter. Not allowed on the event-time column.

    Raises
    ------
    SchemaDefinitionError
        For an unknown type, an option that does not apply to the type, an unknown time zone
        or a fill value of the wrong type.
    """

    name: str
    type: FieldType
    column: str | None = None
    format: str | None = None
    timezone: str | None = None
    fill: int | float | bool | str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SchemaDefinitionError(f"field name must be a non-empty string, got {self.name!r}")
        if self.type not in FIELD_TYPES:
            raise SchemaDefinitionError(
                f"field {self.name!r}: unknown type {self.type!r}; expected one of {FIELD_TYPES}")
        if self.column is not None and (not isinstance(self.column, str) or not self.column):
            raise SchemaDefinitionError(f"field {self.name!r}: 'column' must be a non-empty string")
        if self.type != "timestamp" and (self.format is not None or self.timezone is not None):
            raise SchemaDefinitionError(
                f"field {self.name!r}: 'format' and 'timezone' apply to timestamp fields only")
        if self.format is not None and (not isinstance(self.format, str) or "%" not in self.format):
            raise SchemaDefinitionError(
                f"field {self.name!r}: format must be a strptime string, got {self.format!r}")
        if self.timezone is not None:
            try:
                check_timezone(self.timezone)
            except ValueError as exc:
                raise SchemaDefinitionError(f"field {self.name!r}: {exc}") from None
        if self.fill is not None:
            object.__setattr__(self, "fill", _check_fill(self.name, self.type, self.fill))

    @property
    def input_column(self) -> str:
        """Name of the column in the input (``column`` or ``name``)."""
        return self.column if self.column is not None else self.name

    @property
    def dtype(self) -> np.dtype[Any]:
        """NumPy dtype of the converted column (strings: ``<U``, width as needed)."""
        return _DTYPES[self.type]

    def to_dict(self) -> str | dict[str, Any]:
        """The dict form (just the type name when no option is set)."""
        opts = {k: v for k, v in (("column", self.column), ("format", self.format),
                                  ("timezone", self.timezone), ("fill", self.fill))
                if v is not None}
        return {"type": self.type, **opts} if opts else self.type


def _check_fill(name: str, type_: str, fill: Any) -> int | float | bool | str:
    ok = {
        "int64": isinstance(fill, int) and not isinstance(fill, bool),
        "timestamp": isinstance(fill, int) and not isinstance(fill, bool),
        "float64": isinstance(fill, (int, float)) and not isinstance(fill, bool),
        "bool": isinstance(fill, bool),
        "string": isinstance(fill, str),
    }[type_]
    if type_ == "float64" and fill == "nan":
        return math.nan
    if not ok:
        raise SchemaDefinitionError(
            f"field {name!r}: fill {fill!r} is not a valid {type_} value")
    if type_ in ("int64", "timestamp") and not -(2**63) <= fill < 2**63:
        raise SchemaDefinitionError(f"field {name!r}: fill {fill!r} is out of int64 range")
    if type_ == "float64":
        # one NaN object, so that fields with a NaN fill compare equal
        return math.nan if math.isnan(fill) else float(fill)
    return fill


@dataclass(frozen=True, eq=False)
class Converted:
    """Result of :meth:`Schema.convert`.

    Attributes
    ----------
    columns : dict of str to ndarray, each shape (n,)
        Every row, bad ones included (their values are placeholders).
    bad : ndarray of bool, shape (n,)
        Rows with at least one value that does not fit the schema.
    reasons : list of str
        One reason per bad row, in row order (``len(reasons) == bad.sum()``).
    """

    columns: dict[str, np.ndarray]
    bad: np.ndarray
    reasons: list[str]


@dataclass(frozen=True)
class Schema:
    """Ordered, typed fields plus the event-time and key columns (immutable).

    Parameters
    ----------
    fields : tuple of Field
        The columns, in output order. Names must be unique.
    event_time : str, optional
        Field holding each record's event time; must be of type ``timestamp`` or ``int64``
        (epoch ms) and has no ``fill``: a record without it is a dead letter.
    key : str, optional
        Field holding the record key (for keyed operators).
    null_values : tuple of str
        Texts that mean "missing" in CSV input (default ``("",)``). JSON uses ``null`` or an
        absent member; Parquet uses nulls.

    Raises
    ------
    SchemaDefinitionError
        If names repeat, there are no fields, or ``event_time``/``key`` is not a suitable field.
    """

    fields: tuple[Field, ...]
    event_time: str | None = None
    key: str | None = None
    null_values: tuple[str, ...] = ("",)
    _by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fields = tuple(self.fields)
        object.__setattr__(self, "fields", fields)
        if not fields or not all(isinstance(f, Field) for f in fields):
            raise SchemaDefinitionError("a schema needs at least one Field")
        by_name = {f.name: f for f in fields}
        if len(by_name) != len(fields):
            raise SchemaDefinitionError("field names must be unique")
        inputs = [f.input_column for f in fields]
        if len(set(inputs)) != len(inputs):
            raise SchemaDefinitionError("two fields read the same input column")
        object.__setattr__(self, "_by_name", by_name)
        if self.event_time is not None:
            f = by_name.get(self.event_time)
            if f is None:
                raise SchemaDefinitionError(
                    f"event_time {self.event_time!r} is not a field (fields: {list(by_name)})")
            if f.type not in ("timestamp", "int64"):
                raise SchemaDefinitionError(
                    f"event_time field {f.name!r} must be a timestamp or int64, not {f.type}")
            if f.fill is not None:
                raise SchemaDefinitionError("the event-time field cannot have a fill value")
        if self.key is not None and self.key not in by_name:
            raise SchemaDefinitionError(f"key {self.key!r} is not a field")
        nulls = tuple(self.null_values)
        if not all(isinstance(v, str) for v in nulls):
            raise SchemaDefinitionError("null_values must be strings")
        object.__setattr__(self, "null_values", nulls)

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Schema:
        """Build a schema from its dict form (as parsed from TOML or JSON).

        Parameters
        ----------
        spec : mapping
            ``{"columns": {name: type-or-options, ...}, "event_time": name, "key": name,
            "null_values": [str, ...]}``; only ``columns`` is required. A column is a type
            name (``"float64"``) or a table with ``type`` and any of ``column``, ``format``,
            ``timezone``, ``fill`` (see :class:`Field`). Column order is kept.

        Returns
        -------
        Schema

        Raises
        ------
        SchemaDefinitionError
            For unknown keys, a missing ``columns`` table, or any invalid field.
        """
        if not isinstance(spec, Mapping):
            raise SchemaDefinitionError("a schema must be a table/dict")
        unknown = set(spec) - {"columns", "event_time", "key", "null_values"}
        if unknown:
            raise SchemaDefinitionError(f"unknown schema keys: {sorted(unknown)}")
        cols = spec.get("columns")
        if not isinstance(cols, Mapping) or not cols:
            raise SchemaDefinitionError("schema needs a non-empty 'columns' table")
        fields = []
        for name, desc in cols.items():
            if isinstance(desc, str):
                fields.append(Field(str(name), cast(FieldType, desc)))
                continue
            if not isinstance(desc, Mapping) or "type" not in desc:
                raise SchemaDefinitionError(
                    f"column {name!r}: expected a type name or a table with 'type'")
            extra = set(desc) - {"type", "column", "format", "timezone", "fill"}
            if extra:
                raise SchemaDefinitionError(f"column {name!r}: unknown options {sorted(extra)}")
            fields.append(Field(str(name), desc["type"], column=desc.get("column"),
                                format=desc.get("format"), timezone=desc.get("timezone"),
                                fill=desc.get("fill")))
        nulls = spec.get("null_values", ("",))
        if isinstance(nulls, str) or not isinstance(nulls, (list, tuple)):
            raise SchemaDefinitionError("null_values must be a list of strings")
        for k in ("event_time", "key"):
            if spec.get(k) is not None and not isinstance(spec[k], str):
                raise SchemaDefinitionError(f"{k} must be a column name")
        return cls(tuple(fields), event_time=spec.get("event_time"), key=spec.get("key"),
                   null_values=tuple(nulls))

    def to_dict(self) -> dict[str, Any]:
        """The dict form accepted by :meth:`from_dict` (``from_dict(s.to_dict()) == s``)."""
        out: dict[str, Any] = {"columns": {f.name: f.to_dict() for f in self.fields}}
        if self.event_time is not None:
            out["event_time"] = self.event_time
        if self.key is not None:
            out["key"] = self.key
        if self.null_values != ("",):
            out["null_values"] = list(self.null_values)
        return out

    # -- access -----------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """Field names in order."""
        return tuple(f.name for f in self.fields)

    def __getitem__(self, name: str) -> Field:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no field {name!r} in schema (fields: {list(self.names)})") from None

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def empty_columns(self) -> dict[str, np.ndarray]:
        """Zero-length arrays of every field's dtype."""
        return {f.name: np.empty(0, f.dtype) for f in self.fields}

    # -- conversion -------------------------------------------------------------------------
    def convert(self, table: pa.Table | Mapping[str, pa.Array | pa.ChunkedArray]) -> Converted:
        """Convert input columns to the schema's dtypes, vectorised.

        Parameters
        ----------
        table : pyarrow.Table or mapping of input column name to Arrow array
            Input columns keyed by :attr:`Field.input_column`, all of length ``n``. A column
            that is absent counts as all-missing. Text columns are parsed (numbers, booleans,
            timestamps); typed columns are cast.

        Returns
        -------
        Converted
            Columns keyed by field name: ``int64``/``float64``/``bool`` arrays, ``<U`` string
            arrays, ``int64`` epoch-ms timestamps.

        Raises
        ------
        SourceFormatError
            If a column has an Arrow type that cannot hold the field's type at all (e.g. a
            list column for an ``int64`` field).
        """
        if isinstance(table, pa.Table):
            n = table.num_rows
            names = set(table.column_names)
            cols = {c: table.column(c) for c in names}
        else:
            cols = dict(table)
            n = len(next(iter(cols.values()))) if cols else 0
        out: dict[str, np.ndarray] = {}
        bad = np.zeros(n, np.bool_)
        row_reasons: dict[int, list[str]] = {}
        for f in self.fields:
            col = cols.get(f.input_column)
            arr = pa.nulls(n) if col is None else _flat(col)
            values, fbad, freasons = _convert_field(f, arr)
            if fbad.any():
                for i, r in zip(np.flatnonzero(fbad).tolist(), freasons, strict=True):
                    row_reasons.setdefault(i, []).append(r)
                bad |= fbad
            out[f.name] = values
        reasons = ["; ".join(row_reasons[i]) for i in sorted(row_reasons)]
        return Converted(out, bad, reasons)


def _flat(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def _show(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 80 else s[:77] + "..."


def _convert_field(f: Field, arr: pa.Array) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Values (placeholders where bad), bad mask, reasons of bad rows in order."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    n = len(arr)
    missing = arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count else None
    if f.type == "string":
        return _convert_string(f, arr, missing)
    values, failed = _typed(f, arr)
    if failed is not None and missing is not None:
        failed &= ~missing
    bad = np.zeros(n, np.bool_)
    if missing is not None:
        if f.fill is not None:
            values[missing] = f.fill
        else:
            bad |= missing
    if failed is not None:
        bad |= failed
    reasons: list[str] = []
    if bad.any():
        where = np.flatnonzero(bad)
        texts = arr.take(pa.array(where)).to_pylist()
        for i, text in zip(where.tolist(), texts, strict=True):
            if missing is not None and missing[i]:
                reasons.append(f"{f.name}: missing value")
            else:
                reasons.append(f"{f.name}: cannot convert {_show(text)} to {f.type}")
    return values, bad, reasons


def _convert_string(f: Field, arr: pa.Array,
                    missing: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    t = arr.type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)):
        if pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
            raise SourceFormatError(f"column {f.input_column!r} of type {t} "
                                    f"cannot be read as a string field")
        arr = pc.cast(arr, pa.string())
    bad = np.zeros(len(arr), np.bool_)
    reasons: list[str] = []
    if missing is not None:
        arr = arr.fill_null("" if f.fill is None else f.fill)
        if f.fill is None:
            bad = missing.copy()
            reasons = [f"{f.name}: missing value"] * int(bad.sum())
    return strings_to_numpy(arr), bad, reasons


def strings_to_numpy(arr: pa.Array) -> np.ndarray:
    """Arrow strings without nulls to a NumPy ``<U`` array (via dictionary encoding, which is
    several times faster than converting every element for repetitive columns)."""
    if len(arr) == 0:
        return np.empty(0, "U1")
    if pa.types.is_null(arr.type):
        return np.full(len(arr), "", "U1")
    enc = pc.dictionary_encode(arr)
    values = np.asarray(enc.dictionary.to_numpy(zero_copy_only=False)).astype(str)
    return values[enc.indices.to_numpy(zero_copy_only=False)]


def _typed(f: Field, arr: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
    """Convert the non-null values; return (values, failed mask or None)."""
    t = arr.type
    n = len(arr)
    if pa.types.is_null(t):
        return np.zeros(n, f.dtype), None
    text = pa.types.is_string(t) or pa.types.is_large_string(t)
    if f.type == "timestamp":
        if not (text or pa.types.is_integer(t) or pa.types.is_timestamp(t)
                or pa.types.is_date(t)):
            raise SourceFormatError(f"column {f.input_column!r} of type {t} "
                                    f"cannot be read as a timestamp")
        ms, ok = parse_timestamps(arr, f.format, f.timezone)
        return ms, ~ok
    if f.type == "bool":
        if pa.types.is_boolean(t):
            return arr.fill_null(False).to_numpy(zero_copy_only=False), None
        if not text:
            raise SourceFormatError(f"column {f.input_column!r} of type {t} "
                                    f"cannot be read as bool")
        low = pc.utf8_lower(pc.utf8_trim(arr, " \t"))
        is_t = pc.is_in(low, value_set=pa.array(TRUE_VALUES)).fill_null(False).to_numpy(
            zero_copy_only=False)
        is_f = pc.is_in(low, value_set=pa.array(FALSE_VALUES)).fill_null(False).to_numpy(
            zero_copy_only=False)
        return is_t.copy(), ~(is_t | is_f)
    target = pa.int64() if f.type == "int64" else pa.float64()
    if text:
        arr = pc.utf8_trim(arr, " \t")
        if f.type == "float64":
            return _cast_checked(arr, target, _FLOAT_RE)
        # a zero fraction is allowed ("13085.0"): cut it off as text, so the value stays exact
        arr = pc.replace_substring_regex(arr, pattern=r"^([+-]?[0-9]+)\.0*$",
                                         replacement=r"\1")
        return _cast_checked(arr, target, _INT_RE)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        if f.type == "int64" and not pa.types.is_integer(t):
            fl = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
            with np.errstate(invalid="ignore"):
                ok = np.isfinite(fl) & (np.floor(fl) == fl) & (np.abs(fl) < 2.0**63)
            out = np.zeros(n, np.int64)
            out[ok] = fl[ok].astype(np.int64)
            return out, ~ok
        return _cast_checked(arr, target, None)
    raise SourceFormatError(f"column {f.input_column!r} of type {t} cannot be read as {f.type}")


def _cast_checked(arr: pa.Array, target: pa.DataType,
                  regex: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Cast with Arrow; on failure find the failing elements (regex prefilter, then one by
    one) so that Arrow's own parser is always the arbiter of what is valid."""
    n = len(arr)
    zero = np.zeros(n, np.int64 if target == pa.int64() else np.float64)
    try:
        res = pc.cast(arr, target)
        return _fill_np(res, zero), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    ok = np.ones(n, np.bool_)
    if regex is not None:
        ok = pc.match_substring_regex(arr, regex).fill_null(True).to_numpy(zero_copy_only=False)
        ok = ok.copy()
    idx = np.flatnonzero(ok)
    sub = arr.take(pa.array(idx))
    try:
        vals = _fill_np(pc.cast(sub, target), zero[: len(idx)])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        vals = np.zeros(len(idx), zero.dtype)
        for j, i in enumerate(idx.tolist()):
            try:
                v = pc.cast(arr.slice(i, 1), target)[0].as_py()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                ok[i] = False
                continue
            vals[j] = 0 if v is None else v
    zero[idx] = vals
    return zero, ~ok


def _fill_np(res: pa.Array, like: np.ndarray) -> np.ndarray:
    if res.null_count:
        res = res.fill_null(0)
    return np.array(res.to_numpy(zero_copy_only=False), dtype=like.dtype)
