"""``cep run JOB`` with a ``[kafka]`` table, against the embedded broker: a window job reads a
topic to its end and its committed output equals the offline reference."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest
from kafka_helpers import DELAY_MS, SCHEMA, WINDOW_MS, Records, make_input, make_operator, produce
from kafka_oracle import read_committed

from connectors.broker import EmbeddedBroker, create_topics

pytestmark = pytest.mark.kafka
P = 3

JOB = """
[job]
name = "{name}"
[schema]
event_time = "ts"
key = "key"
[schema.columns]
key = "int64"
ts = "timestamp"
value = "float64"
[watermarks]
max_out_of_orderness = {delay}
[[windows]]
name = "win"
key = "key"
size = {size}
aggregates = {{ n = "count(*)", total = "sum(value)" }}
[kafka]
bootstrap_servers = "{bootstrap}"
topics = ["{name}.in"]
output_topic = "{name}.out"
late_topic = "{name}.late"
checkpoint_interval = "300ms"
stop_at_eof = true
settings = {{ "session.timeout.ms" = "6000", "heartbeat.interval.ms" = "1000" }}
"""


def reference(records: Records, partitions: int) -> tuple[Counter[bytes], Counter[bytes]]:
    """Offline result and late rows: per partition, one operator and tracker, in offset
    order, and the end of input fires every window (``stop_at_eof`` finishes the input)."""
    from connectors.files import decode_json_records
    from connectors.filesinks import format_json_lines
    from connectors.schema import Schema
    from windows import WatermarkStrategy

    results: Counter[bytes] = Counter()
    late: Counter[bytes] = Counter()
    for p in range(partitions):
        b = decode_json_records([v for part, _, v in records if part == p],
                                Schema.from_dict(SCHEMA))
        op = make_operator()
        tr = WatermarkStrategy.for_bounded_out_of_orderness(DELAY_MS).create_tracker([0])
        ts = b.columns["ts"]
        out = op.process(b.columns, ts, tr.advance(ts, processing_time=0), 0)
        for o in (out, op.finish()):
            results.update(format_json_lines(o.results).splitlines())
            late.update(format_json_lines(o.late).splitlines())
    return results, late


def _normalise(rows: Counter[bytes]) -> Counter[tuple[object, ...]]:
    timing = {0: "early", 1: "on_time", 2: "late"}
    out: Counter[tuple[object, ...]] = Counter()
    for line, k in rows.items():
        r = orjson.loads(line)
        r.pop("output", None)
        if isinstance(r.get("timing"), int):
            r["timing"] = timing[r["timing"]]
        out[tuple(sorted(r.items()))] += k
    return out


def test_cep_run_kafka_window_job(broker: EmbeddedBroker, names: str, tmp_path: Path) -> None:
    create_topics(broker.bootstrap, {f"{names}.in": P, f"{names}.out": P, f"{names}.late": P})
    records = make_input(3000, P, seed=11)
    produce(broker.bootstrap, f"{names}.in", records)
    job = tmp_path / "job.toml"
    job.write_text(JOB.format(name=names, delay=DELAY_MS, size=WINDOW_MS,
                              bootstrap=broker.bootstrap))
    res = subprocess.run([sys.executable, "-m", "connectors.cli", "run", str(job),
                          "--max-seconds", "120", "--progress", "off"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "records" in res.stdout and "3,000" in res.stdout
    want_results, want_late = reference(records, P)
    got = Counter(r.value for r in read_committed(broker.bootstrap, f"{names}.out", P)
                  if r.value is not None)
    assert got and _normalise(got) == _normalise(want_results)
    assert all(orjson.loads(v)["output"] == "win" for v in got)
    late = Counter(r.value for r in read_committed(broker.bootstrap, f"{names}.late", P)
                   if r.value is not None)
    assert sum(late.values()) == sum(want_late.values()) > 0


def test_cep_run_kafka_bad_table(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text(JOB.format(name="x", delay=1, size=10, bootstrap="127.0.0.1:1")
                   .replace("stop_at_eof = true", "stop_at_eof = true\nbogus = 1"))
    res = subprocess.run([sys.executable, "-m", "connectors.cli", "run", str(job)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "bogus" in res.stderr


def _replay(job: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "connectors.cli", "replay", str(job),
                           "--output", str(out), *extra],
                          capture_output=True, text=True, timeout=300)


def test_cep_replay_topic_range(broker: EmbeddedBroker, names: str, tmp_path: Path) -> None:
    from confluent_kafka import Producer

    create_topics(broker.bootstrap, {f"{names}.in": P})
    records = make_input(2400, P, seed=5)
    produce(broker.bootstrap, f"{names}.in", records)
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for bad in (b"{not json", b'{"key": 1, "ts": "x", "value": 1.0}'):
        p.produce(f"{names}.in", bad, partition=0)
    assert p.flush(30) == 0
    job = tmp_path / "job.toml"
    job.write_text(JOB.format(name=names, delay=DELAY_MS, size=WINDOW_MS,
                              bootstrap=broker.bootstrap)
                   + f'[dead_letters]\npath = "{tmp_path}/dead.jsonl"\n')
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    ra = _replay(job, a, "--batch-size", "97")
    assert ra.returncode == 0, ra.stderr
    assert _replay(job, b, "--batch-size", "5000").returncode == 0
    assert a.read_bytes() == b.read_bytes()  # byte-identical whatever the poll size
    rows = Counter(a.read_bytes().splitlines())
    want_results, want_late = reference(records, P)
    got_results = Counter({k: v for k, v in rows.items() if b'"output":"win"' in k})
    assert _normalise(got_results) == _normalise(want_results)
    assert sum(rows.values()) - sum(got_results.values()) == sum(want_late.values())
    dead = (tmp_path / "dead.jsonl").read_bytes().splitlines()
    assert len(dead) == 2 and all(b"reason" in d for d in dead)
    # an offset range: offsets [100, 500) of every partition
    c = tmp_path / "c.jsonl"
    assert _replay(job, c, "--start", "100", "--end", "500").returncode == 0
    in_range = []
    seen = Counter()
    for part, key, value in records:
        if 100 <= seen[part] < 500:
            in_range.append((part, key, value))
        seen[part] += 1
    want_range, _ = reference(in_range, P)
    got_range = Counter(x for x in c.read_bytes().splitlines() if b'"output":"win"' in x)
    assert _normalise(got_range) == _normalise(want_range)
    bad = _replay(job, c, "--start", "yesterday")
    assert bad.returncode == 2 and "--start" in bad.stderr
