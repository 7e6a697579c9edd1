"""The fraud example (examples/fraud/job.toml) on UCI Online Retail II: every rule's alerts
equal an independent brute-force computation over the same data (fraud_reference.py), late
records are reported, and ``cep example fraud`` runs."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fraud_reference import (
    MIN,
    cancellation_windows,
    escalating,
    first_then_second,
    on_time,
)

from connectors.datasets import load_online_retail
from connectors.jobfile import SinkSpec, load_job
from connectors.localrun import RunSummary, run_local

pytestmark = pytest.mark.realdata
ROOT = Path(__file__).resolve().parents[2]
JOB = ROOT / "examples" / "fraud" / "job.toml"


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    return load_online_retail()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunSummary, dict[str, list[Any]]]:
    out = tmp_path_factory.mktemp("fraud")
    job = load_job(JOB)
    job = replace(job, sinks=(SinkSpec(str(out / "all.jsonl"), "jsonl", ("*",)),),
                  dead_letters=str(out / "dead.jsonl"))
    summary = run_local(job)
    rows: dict[str, list[Any]] = {}
    for line in (out / "all.jsonl").read_bytes().splitlines():
        r = orjson.loads(line)
        rows.setdefault(r.pop("output"), []).append(r)
    return summary, rows


def test_purchase_then_cancel(data: dict[str, np.ndarray], run: Any) -> None:
    summary, rows = run
    c = data
    ref = first_then_second(c, c["quantity"] > 0, c["quantity"] < 0, 60 * MIN)
    want = Counter((int(c["customer_id"][j]), str(c["invoice"][i]), int(c["invoice_ts"][i]),
                    str(c["invoice"][j]), int(c["invoice_ts"][j]), str(c["stock_code"][j]),
                    round(float(-c["quantity"][j] * c["price"][j]), 6)) for i, j in ref)
    got = Counter((r["customer_id"], r["purchase_invoice"], r["purchase_ts"],
                   r["cancel_invoice"], r["cancel_ts"], r["cancelled_item"],
                   round(r["refund"], 6)) for r in rows["purchase_then_cancel"])
    assert len(ref) > 500
    assert got == want
    assert summary.outputs["purchase_then_cancel"] == len(ref)


def test_small_then_large(data: dict[str, np.ndarray], run: Any) -> None:
    _, rows = run
    c = data
    amount = c["quantity"] * c["price"]
    small = (c["quantity"] > 0) & (c["price"] > 0) & (amount < 2)
    large = (c["quantity"] > 0) & (amount >= 200)
    ref = first_then_second(c, small, large, 10 * MIN, same_invoice_ok=False)
    want = Counter((int(c["customer_id"][j]), str(c["invoice"][i]), str(c["invoice"][j]),
                    int(c["invoice_ts"][j]), round(float(amount[j]), 6)) for i, j in ref)
    got = Counter((r["customer_id"], r["small_invoice"], r["large_invoice"], r["large_ts"],
                   round(r["large_amount"], 6)) for r in rows["small_then_large"])
    assert len(ref) >= 3
    assert got == want


def test_escalating_purchases_uses_prev(data: dict[str, np.ndarray], run: Any) -> None:
    _, rows = run
    c = data
    amount = c["quantity"] * c["price"]
    ref = escalating(c, 4.0, 30 * MIN)
    want = Counter((int(c["customer_id"][a]), str(c["invoice"][a]), str(c["invoice"][b2]),
                    round(float(amount[a]), 6), round(float(amount[b2]), 6),
                    int(c["invoice_ts"][b2])) for a, _, b2 in ref)
    got = Counter((r["customer_id"], r["first_invoice"], r["last_invoice"],
                   round(r["first_amount"], 6), round(r["last_amount"], 6), r["last_ts"])
                  for r in rows["escalating_purchases"])
    assert len(ref) > 100
    assert got == want


def test_cancellation_burst_window(data: dict[str, np.ndarray], run: Any) -> None:
    summary, rows = run
    want, late_pairs = cancellation_windows(data, 30 * MIN, 10 * MIN, 3)
    got = Counter({(r["customer_id"], r["window_start"]): r["cancelled_lines"]
                   for r in rows["cancellation_burst"]})
    assert len(want) > 1000
    assert got == want
    assert all(r["timing"] == "on_time" and r["window_end"] - r["window_start"] == 30 * MIN
               for r in rows["cancellation_burst"])
    assert summary.outputs["cancellation_burst.late"] == late_pairs > 0


def test_late_records_are_the_overlapping_sheet(data: dict[str, np.ndarray], run: Any) -> None:
    summary, _ = run
    late = ~on_time(data["invoice_ts"])
    with_customer = late & (data["customer_id"] != -1)
    for rule in ("purchase_then_cancel", "small_then_large", "escalating_purchases"):
        assert summary.outputs[f"{rule}.late"] == int(with_customer.sum()) > 10_000
    assert summary.records == len(data["invoice"])
    assert summary.dead_letters == 0


def test_cep_example_fraud_command(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "connectors.cli", "example", "fraud",
                          "--out", str(tmp_path)], capture_output=True, text=True,
                         timeout=900, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    for name in ("purchase_then_cancel", "small_then_large", "escalating_purchases",
                 "cancellation_burst"):
        assert name in res.stdout
    assert (tmp_path / "alerts.jsonl").stat().st_size > 0
    assert (tmp_path / "late.jsonl").stat().st_size > 0
