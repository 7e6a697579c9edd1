"""Re-exports the Kafka tests' broker fixtures (one embedded Tansu broker per test module)
and makes their helpers importable, without editing them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

KAFKA_TESTS = Path(__file__).resolve().parent.parent / "kafka"
if str(KAFKA_TESTS) not in sys.path:
    sys.path.insert(0, str(KAFKA_TESTS))

_spec = importlib.util.spec_from_file_location("_cepkit_kafka_conftest",
                                               KAFKA_TESTS / "conftest.py")
assert _spec is not None and _spec.loader is not None
_kafka_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_kafka_conftest)

broker = _kafka_conftest.broker
names = _kafka_conftest.names
