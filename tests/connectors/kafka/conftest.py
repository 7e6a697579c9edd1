"""The broker fixture: one embedded Tansu broker per test module, on a free loopback port,
started by the tests themselves (skipped when the dev extra's broker binary is absent)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from connectors.broker import EmbeddedBroker, find_tansu
from connectors.errors import BrokerUnavailableError

_names = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def _compiled_kernels() -> None:
    """Compile (or load) the window and CEP kernels in the test process before any worker
    process starts: workers then load them from Numba's on-disk cache instead of compiling
    them (about 100-150 s on a cold cache) inside a test's time limit."""
    import numpy as np

    from cep import CepOperator, Pattern, col
    from windows import WatermarkStrategy
    from windows._jit import jit_disabled

    if jit_disabled():
        return
    import kafka_helpers

    ts = np.arange(1_700_000_000_000, 1_700_000_000_010, dtype=np.int64)
    cols = {"key": np.arange(10, dtype=np.int64) % 3, "ts": ts, "value": np.ones(10)}
    tracker = WatermarkStrategy.for_bounded_out_of_orderness(kafka_helpers.DELAY_MS)\
        .create_tracker()
    op = kafka_helpers.make_operator()
    op.process(cols, ts, tracker.advance(ts))
    op.finish()
    p = Pattern.begin("a").where(col("value") > 0).followed_by("b").where(col("value") > 0)
    CepOperator(p, key="key", engine="fast").process(cols, ts, ts)


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
