"""Package surface: ``__all__`` lists exactly the public names, ``import cep`` pulls no Kafka
or faust, docstrings exist."""

from __future__ import annotations

import inspect
import subprocess
import sys

import cep
import cep.errors
import cep.expr
import cep.testing


def test_all_matches_public_names() -> None:
    public = {n for n in vars(cep) if not n.startswith("_")
              and not inspect.ismodule(getattr(cep, n))}
    assert set(cep.__all__) == public
    assert len(cep.__all__) == len(set(cep.__all__))
    for name in cep.__all__:
        assert hasattr(cep, name)


def test_submodule_all_lists_are_accurate() -> None:
    for mod in (cep.errors, cep.expr, cep.testing):
        for name in mod.__all__:
            assert hasattr(mod, name), (mod.__name__, name)


def test_import_cep_does_not_import_kafka_or_faust() -> None:
    code = ("import sys, cep, cep.testing; bad = [m for m in sys.modules if m.split('.')[0] "
            "in ('confluent_kafka', 'faust', 'aiokafka', 'kafka')]; print(bad); "
            "sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def test_public_objects_have_docstrings() -> None:
    for name in cep.__all__:
        obj = getattr(cep, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, name
            for mname, member in vars(obj).items() if inspect.isclass(obj) else []:
                if mname.startswith("_") or not callable(member):
                    continue
                assert getattr(member, "__doc__", None), f"{name}.{mname}"


def test_error_tree() -> None:
    assert issubclass(cep.MalformedPatternError, cep.CepError)
    assert issubclass(cep.MalformedPatternError, ValueError)
    assert issubclass(cep.ConditionError, RuntimeError)
    from windows.errors import SchemaError, SnapshotError
    assert issubclass(cep.CepSnapshotError, SnapshotError)
    assert issubclass(cep.CepSchemaError, SchemaError)
    for name in cep.errors.__all__:
        assert name in (cep.errors.__doc__ or "")
