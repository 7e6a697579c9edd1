"""The broker fixture: one embedded Tansu broker per test module, on a free loopback port,
started by the tests themselves (skipped when the dev extra's broker binary is absent)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from connectors.broker import EmbeddedBroker, find_tansu
from connectors.errors import BrokerUnavailableError

_names = itertools.count()


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    try:
        find_tansu()
    except BrokerUnavailableError as exc:
        pytest.skip(str(exc))
    b = EmbeddedBroker.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def names() -> Iterator[str]:
    """A unique prefix for the topics and group of one test."""
    yield f"t{next(_names)}"
