"""Test-suite wide configuration (kept minimal)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Hypothesis' failure report touches ``mypy_extensions.TypedDict`` (installed with mypy),
    # whose DeprecationWarning would otherwise turn every falsifying example into an
    # INTERNALERROR under ``filterwarnings = error``.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
