"""Kafka end-to-end benchmark on the embedded broker (run by hand; see bench/kafka_results.md).

Kafka -> decode JSON -> one window aggregation and one CEP rule -> Kafka, 1,000,000 records of
about 100 bytes on 4 partitions, one worker. Measured: events/s from the first record to the
end of the input (the consumer-group join is left out), median of 3 runs, for exactly-once,
at-least-once, and a plain confluent-kafka consume-and-produce loop without processing (the
ceiling). Usage::

    python bench/bench_kafka.py [--records 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import orjson
from confluent_kafka import Consumer, KafkaError, Producer

from cep import CepOperator, Pattern, col
from connectors.broker import EmbeddedBroker, create_topics
from connectors.kafka_sink import OutputSpec
from connectors.runtime import KafkaJob, KafkaJobConfig, OperatorSpec
from connectors.schema import Schema
from windows import TumblingEventTimeWindows, WatermarkStrategy, WindowOperator, aggregates

P = 4
SCHEMA = {"columns": {"key": "int64", "ts": "timestamp", "value": "float64", "tag": "string"},
          "event_time": "ts"}


def make_records(n: int) -> list[tuple[int, bytes, bytes]]:
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 10_000, n)
    ts = 1_700_000_000_000 + np.arange(n) // P - rng.integers(0, 2000, n)
    vals = np.round(rng.random(n) * 100, 2)
    out = []
    for k, t, v in zip(keys.tolist(), ts.tolist(), vals.tolist(), strict=True):
        value = orjson.dumps({"key": k, "ts": t, "value": v, "tag": "sensor-reading-abcdefghijk"})
        out.append((k % P, str(k).encode(), value))
    return out


def produce(bootstrap: str, topic: str, records: list[tuple[int, bytes, bytes]]) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.size": 1_000_000})
    for part, key, value in records:
        while True:
            try:
                p.produce(topic, value, key, partition=part)
                break
            except BufferError:
                p.poll(0.05)
    p.flush(120)


def plain_loop(bootstrap: str, topic: str, out: str, n: int, group: str) -> float:
    """Consume every record and produce it unchanged (idempotent producer)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.partition.eof": True,
                  "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
                  "fetch.queue.backoff.ms": 10, "enable.auto.commit": True})
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5,
                  "queue.buffering.max.messages": 200_000})
    c.subscribe([topic])
    seen, eof, start = 0, set(), None
    while len(eof) < P or seen < n:
        for m in c.consume(10_000, 0.1):
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                continue
            if start is None:
                start = time.monotonic()
            eof.discard(m.partition())
            seen += 1
            while True:
                try:
                    p.produce(out, m.value(), m.key())
                    break
                except BufferError:
                    p.poll(0.05)
        p.poll(0)
    p.flush(120)
    end = time.monotonic()
    c.close()
    return seen / (end - (start or end))


def job_run(bootstrap: str, topic: str, run: str, guarantee: str, n: int,
            repartition: bool = False) -> float:
    """Events/s of one worker over the ``n`` input records (``repartition``: both operators
    behind the internal topic keyed by ``key``, as for input not partitioned by it)."""
    rep = ("key",) if repartition else None
    pattern = (Pattern.begin("big").where(col("value") > 99.5)
               .followed_by("small").where(col("value") < 0.5).within(10_000))
    win = OperatorSpec("win", lambda: WindowOperator(
        TumblingEventTimeWindows.of(60_000),
        {"n": aggregates.count(), "total": aggregates.sum("value")}, key="key"),
        {"results": OutputSpec(f"{run}.out"), "late": OutputSpec(f"{run}.late")},
        repartition=rep)
    rule = OperatorSpec("rule", lambda: CepOperator(pattern, key="key"),
                        {"matches": OutputSpec(f"{run}.matches"),
                         "timeouts": OutputSpec(f"{run}.timeouts"),
                         "late": OutputSpec(f"{run}.late")}, repartition=rep)
    cfg = KafkaJobConfig(bootstrap=bootstrap, job_id=run, topics=(topic,),
                         schema=Schema.from_dict(SCHEMA), operators=(win, rule),
                         watermarks=WatermarkStrategy.for_bounded_out_of_orderness(2000),
                         guarantee=guarantee,  # type: ignore[arg-type]
                         checkpoint_interval=1000, stop_at_eof=True, finish_at_eof=repartition,
                         max_batch=20_000)
    job = KafkaJob(cfg)
    stats = job.run()
    end = time.monotonic()
    assert stats.first_record_at is not None
    return n / (end - stats.first_record_at)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", default="plain,exactly-once,at-least-once,"
                    "exactly-once+repartition",
                    help="comma-separated; the first is the ceiling the others are compared to")
    args = ap.parse_args()
    with EmbeddedBroker.start() as broker:
        bs = broker.bootstrap
        create_topics(bs, {"bench.in": P})
        records = make_records(args.records)
        size = sum(len(v) for _, _, v in records) / len(records)
        produce(bs, "bench.in", records)
        del records
        results: dict[str, list[float]] = {m: [] for m in args.modes.split(",")}
        for i in range(args.runs):
            for mode in results:
                run = f"r{i}.{mode}"
                create_topics(bs, {f"{run}.{s}": P for s in
                                   ("out", "late", "matches", "timeouts")})
                if mode == "plain":
                    eps = plain_loop(bs, "bench.in", f"{run}.out", args.records, run)
                else:
                    eps = job_run(bs, "bench.in", run, mode.removesuffix("+repartition"),
                                  args.records, repartition=mode.endswith("+repartition"))
                results[mode].append(eps)
                print(f"run {i} {mode}: {eps:,.0f} events/s", flush=True)
        print(f"\n{args.records:,} records, {size:.0f} bytes on average, {P} partitions")
        ceiling = statistics.median(next(iter(results.values())))
        print(f"| mode | events/s (median of {args.runs}) | share of plain loop |")
        print("| --- | ---: | ---: |")
        for mode, vals in results.items():
            med = statistics.median(vals)
            print(f"| {mode} | {med:,.0f} | {med / ceiling:.0%} |")


if __name__ == "__main__":
    main()
