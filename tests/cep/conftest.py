"""Fixtures for the CEP tests."""

from __future__ import annotations

import pytest
from cep_helpers import ENGINES


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Both engines: every conformance test runs on the reference and the fast path."""
    return str(request.param)
