"""Example faust service: transactions in, fraud alerts out, with MATCH_RECOGNIZE rules.

Reads JSON transactions from ``$FRAUD_INPUT`` (default ``transactions``), runs the rules of
``rules.sql`` (compiled by :mod:`fraud_rules`) per card, writes one JSON alert per match (the
rule name and its MEASURES row) to ``$FRAUD_ALERTS`` (default ``fraud-alerts``, keyed by
card), records that arrive behind the watermark to
``$FRAUD_ALERTS.late`` and malformed records, unchanged and with the reason in the
``cep.reason`` header, to ``$FRAUD_INPUT.dead-letters``. Operator state is checkpointed to
``<app id>.fraud.checkpoints`` and restored when the worker gets its partitions back.

Run against the embedded broker (see docs/faust.md)::

    python -m connectors.broker --port 9092 &
    CEPKIT_BROKER=127.0.0.1:9092 python examples/faust_service/service.py worker -l info
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import faust

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fraud_rules import SCHEMA, WATERMARKS, alert, stages

from connectors.faust import FaustProcessor

BROKER = os.environ.get("CEPKIT_BROKER", "127.0.0.1:9092")
APP_ID = os.environ.get("FRAUD_APP_ID", "fraud-service")
INPUT = os.environ.get("FRAUD_INPUT", "transactions")
ALERTS = os.environ.get("FRAUD_ALERTS", "fraud-alerts")
PARTITIONS = int(os.environ.get("FRAUD_PARTITIONS", "4"))
COMMIT_SECONDS = float(os.environ.get("FRAUD_COMMIT_SECONDS", "1.0"))

app = faust.App(
    APP_ID,
    broker=f"kafka://{BROKER}",
    store="memory://",
    web_enabled=False,
    topic_partitions=PARTITIONS,
    consumer_auto_offset_reset="earliest",
    # DESIGN.md section 5: short sessions so joins and restarts take seconds on the test broker
    broker_session_timeout=6.0,
    broker_heartbeat_interval=1.0,
    broker_commit_interval=COMMIT_SECONDS,
)
transactions = app.topic(INPUT, key_serializer="raw", value_serializer="raw",
                         partitions=PARTITIONS)
alerts = app.topic(ALERTS, key_serializer="raw", value_serializer="json")
late = app.topic(f"{ALERTS}.late", key_serializer="raw", value_serializer="json")

fraud = FaustProcessor(app, "fraud", SCHEMA, stages(), watermarks=WATERMARKS,
                       batch_size=500, within=100,
                       dead_letter_topic=f"{INPUT}.dead-letters")


@app.agent(transactions)
async def detect(stream):  # type: ignore[no-untyped-def]
    """Alerts for every rule match; late records to the late topic."""
    async for out in fraud.process(stream):
        if out.stream == "matches":
            await alerts.send(key=str(out.value["card"]).encode(),
                              value=alert(out.stage, out.value))
        elif out.stream == "late":
            await late.send(key=out.key_bytes(), value={"rule": out.stage, **out.value})


def ensure_topics() -> None:
    """Create the input and output topics (the broker does not auto-create them)."""
    from connectors.broker import create_topics

    create_topics(BROKER, {INPUT: PARTITIONS, ALERTS: PARTITIONS,
                           f"{ALERTS}.late": PARTITIONS})


if __name__ == "__main__":
    ensure_topics()
    app.main()
