"""The ``cep`` console script, run as users run it (a real process)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CEP = shutil.which("cep")
ROOT = Path(__file__).resolve().parent.parent


def _cep(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [CEP, *args] if CEP else [sys.executable, "-m", "connectors.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_version() -> None:
    r = _cep("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("cepkit ")


def test_unknown_command_fails_with_usage() -> None:
    r = _cep("frobnicate")
    assert r.returncode == 2
    assert "invalid choice" in r.stderr


@pytest.mark.realdata
def test_flights_example_prints_summary() -> None:
    r = _cep("example", "flights", "--batch-size", "50000")
    assert r.returncode == 0, r.stderr
    assert "328,521 flights replayed" in r.stdout
    for origin in ("EWR", "JFK", "LGA"):
        assert origin in r.stdout


BAD_RULES = """SELECT * FROM t MATCH_RECOGNIZE (
    PARTITION BY customer_id ORDER BY invoice_ts
    MEASURES A.amont AS x
    PATTERN (A B+?)
    DEFINE A AS quantity < 'x', B AS quantity > PREV(quantity)
) AS r1;
SELECT * FROM t MATCH_RECOGNIZE (
    ORDER BY invoice_ts
    PATTERN (A B)
    DEFINE A AS nope > 1
) AS r2
"""


def test_check_reports_every_error_with_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sql"
    bad.write_text(BAD_RULES)
    r = _cep("check", str(bad), "--job", str(ROOT / "examples" / "fraud" / "job.toml"))
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert f"{bad}:3:16: rule 'r1': unknown column 'amont'" in lines
    assert any(x.startswith(f"{bad}:5:17: rule 'r1':") for x in lines)  # string vs number
    assert f"{bad}:10:17: rule 'r2': unknown column 'nope'" in lines
    assert "3 error(s)" in lines


def test_check_accepts_the_fraud_job() -> None:
    r = _cep("check", str(ROOT / "examples" / "fraud" / "job.toml"))
    assert r.returncode == 0, r.stderr
    assert "3 rule file(s) checked" in r.stdout


def test_run_rejects_invalid_rule_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "r.sql").write_text(BAD_RULES)
    (tmp_path / "in.csv").write_text("invoice_ts,customer_id,quantity\n1,1,1\n")
    (tmp_path / "job.toml").write_text("""
[source]
path = "in.csv"
[schema]
event_time = "invoice_ts"
columns = { invoice_ts = "int64", customer_id = "int64", quantity = "int64" }
[[rules]]
file = "r.sql"
""")
    r = _cep("run", str(tmp_path / "job.toml"))
    assert r.returncode == 2
    assert "r.sql:3:16: rule 'r1': unknown column 'amont'" in r.stderr
