"""The ``cep`` console script, run as users run it (a real process)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

CEP = shutil.which("cep")


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
