"""The fraud rules of the example service, as cepkit patterns (no faust needed to import).

Transactions are JSON objects ``{"card": str, "ts": epoch ms, "amount": float, "kind":
"purchase" | "cancel"}``, keyed by card (so one card's transactions share a partition).

- ``small-then-large``: a purchase below 1.00 followed by one above 500.00 on the same card
  within 10 minutes (a card tested with a tiny amount, then used).
- ``purchase-then-cancel``: a purchase followed by a cancellation on the same card within 60
  minutes (one alert per cancellation).
"""

from __future__ import annotations

from datetime import timedelta

from cep import AfterMatchSkipStrategy, Pattern, col
from connectors.faust import Stage, pattern_stage
from connectors.schema import Schema
from windows import WatermarkStrategy

SCHEMA = Schema.from_dict({
    "columns": {"card": "string", "ts": "timestamp", "amount": "float64", "kind": "string"},
    "event_time": "ts", "key": "card"})

#: Events may arrive up to 5 s out of order (per partition).
WATERMARKS = WatermarkStrategy.for_bounded_out_of_orderness(timedelta(seconds=5))

SMALL_THEN_LARGE = (
    Pattern.begin("small", AfterMatchSkipStrategy.skip_past_last_event())
    .where((col("kind") == "purchase") & (col("amount") < 1.0))
    .followed_by("large").where((col("kind") == "purchase") & (col("amount") > 500.0))
    .within(timedelta(minutes=10)))

PURCHASE_THEN_CANCEL = (
    Pattern.begin("purchase", AfterMatchSkipStrategy.skip_past_last_event())
    .where(col("kind") == "purchase")
    .followed_by("cancel").where(col("kind") == "cancel")
    .within(timedelta(minutes=60)))


def stages() -> list[Stage]:
    """One stage per rule (timed-out partial matches are not alerts, so not emitted)."""
    return [pattern_stage("small-then-large", SMALL_THEN_LARGE, key="card",
                          emit_timeouts=False),
            pattern_stage("purchase-then-cancel", PURCHASE_THEN_CANCEL, key="card",
                          emit_timeouts=False)]


def alert(rule: str, match: dict) -> dict:
    """The alert written for one match row (``key``, ``timestamp``, ``events``)."""
    return {"rule": rule, "card": match["key"], "timestamp": match["timestamp"],
            "events": match["events"]}
