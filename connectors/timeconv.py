"""Vectorised timestamp parsing and time-zone localisation to ``int64`` epoch milliseconds.

Used by :class:`connectors.schema.Schema` for ``timestamp`` fields and by the data-set loaders.

Rules
-----
* Integers are epoch milliseconds.
* Text without a format: an integer (epoch ms) or ISO-8601 ``YYYY-MM-DD[(T| )HH:MM[:SS[.f]]]``
  with an optional ``Z`` or ``±HH[:MM]`` offset, years 0001-9999. Digits of the fraction
  beyond milliseconds are dropped (which floors the time).
* Text with a strptime format: Arrow's ``strptime``. A day beyond the end of its month (e.g.
  ``2/30/2010``) is rejected; a seconds value of 60 rolls over to the next minute.
* Times without an offset are wall-clock times in the field's time zone (default UTC).
  Ambiguous and non-existent local times resolve as :mod:`zoneinfo` does with ``fold=0``:
  an ambiguous time takes the earlier (summer-time) offset, a time in a spring-forward gap is
  read with the offset before the gap (02:30 New York on a spring-forward day is 07:30 UTC).
"""

from __future__ import annotations

import datetime as _dt
import functools
import zoneinfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["check_timezone", "localize", "parse_timestamps"]

_MS_PER_HOUR = 3_600_000
_EPOCH = _dt.datetime(1970, 1, 1)
_INT_RE = r"^[+-]?[0-9]+$"
_NAIVE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?)?$"
_AWARE_RE = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
             r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)$")
_H_MIN = (_dt.datetime(2, 1, 1) - _EPOCH) // _dt.timedelta(hours=1)
_H_MAX = (_dt.datetime(9998, 12, 31) - _EPOCH) // _dt.timedelta(hours=1)
_UNIT_MS = {"s": (1000, 1), "ms": (1, 1), "us": (1, 1000), "ns": (1, 1_000_000)}


def _is_utc(tz: str | None) -> bool:
    return tz is None or tz in ("UTC", "Etc/UTC", "Z")


@functools.lru_cache(maxsize=64)
def _zone(tz: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(tz)


def check_timezone(tz: str) -> None:
    """Raise ``ValueError`` unless ``tz`` names an IANA time zone known here."""
    if not isinstance(tz, str) or not tz:
        raise ValueError(f"time zone must be a non-empty string, got {tz!r}")
    if _is_utc(tz):
        return
    try:
        _zone(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}") from None


@functools.lru_cache(maxsize=1 << 17)
def _offset_ms(tz: str, naive_ms: int) -> int:
    wall = _EPOCH + _dt.timedelta(milliseconds=naive_ms)
    off = wall.replace(tzinfo=_zone(tz)).utcoffset()
    assert off is not None
    return off // _dt.timedelta(milliseconds=1)


def localize(naive_ms: np.ndarray, tz: str | None) -> np.ndarray:
    """Convert wall-clock times in a time zone to UTC epoch milliseconds.

    Parameters
    ----------
    naive_ms : ndarray of int64, shape (n,)
        Wall-clock times written as if they were UTC epoch ms (years 1-9999).
    tz : str or None
        IANA zone name; ``None`` or ``"UTC"`` returns the input unchanged.

    Returns
    -------
    ndarray of int64, shape (n,)
        UTC epoch ms. Ambiguous/non-existent times resolve as ``zoneinfo`` with ``fold=0``.

    Raises
    ------
    ValueError
        For an unknown zone.
    """
    naive_ms = np.asarray(naive_ms, np.int64)
    if _is_utc(tz) or naive_ms.size == 0:
        return naive_ms
    assert tz is not None
    check_timezone(tz)
    # offsets before year 2 / after year 9998 are taken as those at the ends of that range
    hours, inv = np.unique(np.clip(np.floor_divide(naive_ms, _MS_PER_HOUR), _H_MIN, _H_MAX),
                           return_inverse=True)
    hl = hours.tolist()
    start = np.array([_offset_ms(tz, h * _MS_PER_HOUR) for h in hl], np.int64)
    end = np.array([_offset_ms(tz, h * _MS_PER_HOUR + _MS_PER_HOUR - 1) for h in hl], np.int64)
    inv = inv.reshape(-1)
    off = start[inv]
    mixed = (start != end)[inv]
    if mixed.any():  # an offset change inside the hour: resolve those rows one by one
        for i in np.flatnonzero(mixed).tolist():
            off[i] = _offset_ms(tz, int(np.clip(naive_ms[i], _H_MIN * _MS_PER_HOUR,
                                                (_H_MAX + 1) * _MS_PER_HOUR - 1)))
    return naive_ms - off


def parse_timestamps(arr: pa.Array, fmt: str | None = None,
                     tz: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parse an Arrow array of times to UTC epoch milliseconds.

    Parameters
    ----------
    arr : pyarrow.Array, length n
        Strings, integers (epoch ms), Arrow timestamps (any unit) or dates.
    fmt : str, optional
        strptime format for strings; without it strings must be integers or ISO-8601.
    tz : str, optional
        Zone of naive times (default UTC).

    Returns
    -------
    ms : ndarray of int64, shape (n,)
        Epoch ms (0 where not ok).
    ok : ndarray of bool, shape (n,)
        False where the value is null or could not be parsed.

    Raises
    ------
    TypeError
        For an Arrow type that cannot hold times.
    """
    n = len(arr)
    t = arr.type
    if pa.types.is_timestamp(t):
        mul, div = _UNIT_MS[t.unit]
        raw = _np_int(pc.cast(arr, pa.int64()))
        ms = np.floor_divide(raw, div) * mul
        ok = _valid(arr)
        return (ms if t.tz is not None else _localize_ok(ms, ok, tz)), ok
    if pa.types.is_date(t):
        ms = _np_int(pc.cast(pc.cast(arr, pa.timestamp("ms")), pa.int64()))
        ok = _valid(arr)
        return _localize_ok(ms, ok, tz), ok
    if pa.types.is_integer(t):
        vals = arr.to_numpy(zero_copy_only=False) if not arr.null_count else \
            arr.fill_null(0).to_numpy(zero_copy_only=False)
        ok = _valid(arr)
        if t == pa.uint64():
            ok &= vals < 2**63
            vals = np.where(ok, vals, 0)
        return vals.astype(np.int64), ok
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise TypeError(f"cannot read {t} values as timestamps")
    text = pc.utf8_trim(arr, " \t")
    if fmt is not None:
        return _parse_format(text, fmt, tz)
    try:  # the common case: every value is an integer (epoch ms)
        return _np_int(pc.cast(text, pa.int64())), _valid(text)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    ms = np.zeros(n, np.int64)
    ok = np.zeros(n, np.bool_)
    is_int = _match(text, _INT_RE)
    if is_int.any():
        _cast_into(text, is_int, pa.int64(), ms, ok)
    rest = ~is_int
    if rest.any():
        # keep at most 3 digits of the fraction: truncating the text floors the time
        iso = pc.replace_substring_regex(text, pattern=r"(\.[0-9]{3})[0-9]+",
                                         replacement=r"\1")
        naive = rest & _match(text, _NAIVE_RE)
        if naive.any():
            local = np.zeros(n, np.bool_)
            _cast_into(iso, naive, pa.timestamp("ms"), ms, local)
            ms[local] = localize(ms[local], tz)
            ok |= local
        aware = rest & ~naive & _match(text, _AWARE_RE)
        if aware.any():
            _cast_into(iso, aware, pa.timestamp("ms", "UTC"), ms, ok)
    return ms, ok


def _valid(arr: pa.Array) -> np.ndarray:
    if not arr.null_count:
        return np.ones(len(arr), np.bool_)
    return np.array(arr.is_valid().to_numpy(zero_copy_only=False), np.bool_)


def _np_int(arr: pa.Array) -> np.ndarray:
    return np.array(arr.fill_null(0).to_numpy(zero_copy_only=False), np.int64)


def _match(text: pa.Array, regex: str) -> np.ndarray:
    m = pc.match_substring_regex(text, regex).fill_null(False)
    return np.array(m.to_numpy(zero_copy_only=False), np.bool_)


def _localize_ok(ms: np.ndarray, ok: np.ndarray, tz: str | None) -> np.ndarray:
    if _is_utc(tz):
        return ms
    out = ms.copy()
    out[ok] = localize(ms[ok], tz)
    return out


def _cast_into(text: pa.Array, mask: np.ndarray, target: pa.DataType, ms: np.ndarray,
               ok: np.ndarray) -> None:
    """Cast ``text[mask]`` to ``target`` (Arrow is the arbiter; failures one by one), store
    the values into ``ms`` and set ``ok`` for the successes."""
    idx = np.flatnonzero(mask)
    sub = text.take(pa.array(idx))
    try:
        vals = _np_int(pc.cast(pc.cast(sub, target), pa.int64()))
        good = np.ones(len(idx), np.bool_)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        vals = np.zeros(len(idx), np.int64)
        good = np.zeros(len(idx), np.bool_)
        for j in range(len(idx)):
            try:
                v = pc.cast(pc.cast(sub.slice(j, 1), target), pa.int64())[0].as_py()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            vals[j] = v
            good[j] = True
    ms[idx[good]] = vals[good]
    ok[idx[good]] = True


def _norm(s: pa.Array) -> pa.Array:
    """Lower case, no leading zeros in digit runs: '12/01/2009 07:45' -> '12/1/2009 7:45'."""
    return pc.replace_substring_regex(pc.utf8_lower(s), pattern=r"(^|[^0-9])0+([0-9])",
                                      replacement=r"\1\2")


def _parse_format(text: pa.Array, fmt: str, tz: str | None) -> tuple[np.ndarray, np.ndarray]:
    parsed = pc.strptime(text, format=fmt, unit="ms", error_is_null=True)
    ok = _valid(parsed)
    aware = parsed.type.tz is not None
    ms = _np_int(pc.cast(parsed, pa.int64()))
    if not aware and ("%d" in fmt or "%e" in fmt) and ok.any():
        # Arrow's strptime rolls 2/30 over to 3/2; such a result has day 1-3: re-format those
        # and compare with the input (ignoring case and zero padding)
        days = pc.day(parsed).fill_null(99).to_numpy(zero_copy_only=False)
        cand = np.flatnonzero(ok & (days <= 3))
        if cand.size:
            take = pa.array(cand)
            # (in whole seconds: Arrow's %S prints fractions for finer units)
            secs = pc.cast(parsed.take(take), pa.timestamp("s"), safe=False)
            back = pc.strftime(secs, format=fmt)
            same = pc.equal(_norm(back), _norm(text.take(take))).fill_null(False)
            ok[cand[~np.array(same.to_numpy(zero_copy_only=False), np.bool_)]] = False
    ms = np.where(ok, ms, 0)
    return (ms if aware else _localize_ok(ms, ok, tz)), ok
