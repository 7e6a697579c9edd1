"""The fraud rules of the example service: the MATCH_RECOGNIZE rules of ``rules.sql``
(no faust needed to import).

Transactions are JSON objects ``{"card": str, "ts": epoch ms, "amount": float, "kind":
"purchase" | "cancel"}``, keyed by card (so one card's transactions share a partition).

- ``small_then_large``: a purchase below 1.00 followed by one above 500.00 on the same card
  within 10 minutes (a card tested with a tiny amount, then used).
- ``purchase_then_cancel``: a purchase followed by a cancellation on the same card within 60
  minutes.

Each match is one alert: the rule name and the rule's MEASURES row (``card`` and the
timestamps and amounts of the first and last transaction of the match).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from cep.sql import Rule, compile_rule_file
from connectors.faust import Stage, rule_stage
from connectors.schema import Schema
from windows import WatermarkStrategy

RULES_FILE = Path(__file__).resolve().parent / "rules.sql"

SCHEMA = Schema.from_dict({
    "columns": {"card": "string", "ts": "timestamp", "amount": "float64", "kind": "string"},
    "event_time": "ts", "key": "card"})

#: Events may arrive up to 5 s out of order (per partition).
WATERMARKS = WatermarkStrategy.for_bounded_out_of_orderness(timedelta(seconds=5))


def rules() -> list[Rule]:
    """The rules of ``rules.sql``, type-checked against the schema's columns."""
    return compile_rule_file(RULES_FILE, columns={f.name: f.type for f in SCHEMA.fields})


def stages() -> list[Stage]:
    """One stage per rule, named after it (timed-out partial matches are not alerts, so not
    emitted)."""
    return [rule_stage(rule) for rule in rules()]


def alert(rule: str, row: dict[str, Any]) -> dict[str, Any]:
    """The alert written for one MEASURES row of ``rule`` (send it keyed by ``row["card"]``)."""
    return {"rule": rule, **row}
