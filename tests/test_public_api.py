"""Each package has an explicit ``__all__`` that lists exactly its public names, and the
pattern and window layers never import Kafka or faust."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize("name", ["windows", "cep", "connectors"])
def test_all_matches_public_names(name: str) -> None:
    mod = importlib.import_module(name)
    exported = set(mod.__all__)
    assert len(exported) == len(mod.__all__), "duplicates in __all__"
    for n in exported:
        assert hasattr(mod, n), f"{name}.__all__ names missing attribute {n}"
    public = {n for n, v in vars(mod).items() if not n.startswith("_")
              and getattr(v, "__module__", name).split(".")[0] == name
              and not (type(v).__name__ == "module" and n not in exported)}
    assert public <= exported | {n for n in public if type(vars(mod)[n]).__name__ == "module"}


@pytest.mark.parametrize("name", ["windows", "cep"])
def test_core_layers_do_not_import_kafka(name: str) -> None:
    code = (f"import sys, {name}; bad = [m for m in ('confluent_kafka', 'faust', 'aiokafka') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
