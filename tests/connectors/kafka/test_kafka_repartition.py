"""Re-partitioning through an internal topic, against the embedded broker: input whose
partitions do NOT follow the operator's key gives the same windows as one global pass over
all records; worker crashes lose and duplicate nothing."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from kafka_helpers import (
    DELAY_MS,
    SCHEMA,
    Records,
    Worker,
    make_config,
    make_operator,
    produce,
    produce_in_background,
    reference,
    wait_committed,
)
from kafka_oracle import read_committed

from connectors.broker import EmbeddedBroker, create_topics
from connectors.repartition import HDR_ROWS
from connectors.runtime import KafkaJob

pytestmark = pytest.mark.kafka
P = 3


def scattered_input(n: int, seed: int, keys: int = 40) -> Records:
    """``n`` records whose partition is random (not a function of the key); within each
    partition at most 150 ms out of order, below the 200 ms watermark delay, so no record is
    late in its own partition and none may be late after the shuffle."""
    rng = np.random.default_rng(seed)
    key = rng.integers(0, keys, n)
    part = rng.integers(0, P, n)
    ts = 1_700_000_000_000 + np.arange(n) // 2 - rng.integers(0, 150, n)
    val = np.round(rng.random(n) * 100, 2)
    return [(int(p), str(int(k)).encode(),
             orjson.dumps({"key": int(k), "ts": int(t), "value": float(v)}))
            for p, k, t, v in zip(part, key, ts, val, strict=True)]


def global_reference(records: Records) -> Counter[tuple[Any, ...]]:
    """Windows of one operator over every record (no partitioning at all)."""
    from connectors.files import decode_json_records
    from connectors.filesinks import format_json_lines
    from connectors.schema import Schema
    from windows.time import MIN_TIMESTAMP

    b = decode_json_records([v for _, _, v in records], Schema.from_dict(SCHEMA))
    op = make_operator()
    ts = b.columns["ts"]
    out = op.process(b.columns, ts, np.full(len(ts), MIN_TIMESTAMP, np.int64), 0)
    rows = Counter(format_json_lines(out.results).splitlines())
    rows.update(format_json_lines(op.finish().results).splitlines())
    return normalise(rows)


def normalise(rows: Counter[bytes]) -> Counter[tuple[Any, ...]]:
    """Rows without the ``timing`` column, sums rounded (summation order differs)."""
    out: Counter[tuple[Any, ...]] = Counter()
    for line, k in rows.items():
        r = orjson.loads(line)
        r.pop("timing", None)
        r["total"] = round(r["total"], 6)
        out[tuple(sorted(r.items()))] += k
    return out


def committed(bootstrap: str, topic: str) -> Counter[bytes]:
    return Counter(r.value for r in read_committed(bootstrap, topic, P) if r.value is not None)


def test_repartitioned_job_equals_one_global_pass(broker: EmbeddedBroker) -> None:
    prefix = "rep1"
    create_topics(broker.bootstrap, {f"{prefix}.in": P, f"{prefix}.out": P,
                                     f"{prefix}.late": P})
    records = scattered_input(6000, seed=3)
    produce(broker.bootstrap, f"{prefix}.in", records)
    want = global_reference(records)
    # the per-partition result (no re-partitioning) is wrong for this input: windows of one
    # key are split across partitions
    per_partition = normalise(reference(records, P)[0])
    assert per_partition != want
    cfg = make_config(broker.bootstrap, f"{prefix}.job", f"{prefix}.in", f"{prefix}.out",
                      f"{prefix}.late", repartition=True, stop_at_eof=True,
                      finish_at_eof=True, checkpoint_records=1000, max_batch=700)
    stats = KafkaJob(cfg).run(max_seconds=120)
    assert stats.dead_letters == 0
    got = committed(broker.bootstrap, f"{prefix}.out")
    assert normalise(got) == want
    assert not committed(broker.bootstrap, f"{prefix}.late")
    # the internal topic holds every record once (plus markers) in committed transactions,
    # in batch messages far fewer than the records
    internal = [r for r in read_committed(broker.bootstrap, f"{prefix}.job.repartition.key", P)
                if r.value]
    assert len(internal) < len(records) / 20
    assert Counter(v for r in internal for v in _batch_values(r)) == Counter(
        v for _, _, v in records)


def _batch_values(rec: Any) -> list[bytes]:
    """The record values inside one internal batch message (its ``cepkit.rows`` header holds
    positions, timestamps and value lengths as int64 arrays)."""
    meta = np.frombuffer(dict(rec.headers)[HDR_ROWS], "<i8").reshape(3, -1)
    ends = np.cumsum(meta[2]).tolist()
    return [rec.value[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def test_bounded_repartitioned_job_needs_finish_at_eof(broker: EmbeddedBroker) -> None:
    with pytest.raises(ValueError, match="finish_at_eof"):
        make_config(broker.bootstrap, "rep0.job", "rep0.in", "rep0.out", "rep0.late",
                    repartition=True, stop_at_eof=True)


def test_repartitioned_job_crash_loop(broker: EmbeddedBroker) -> None:
    """SIGKILL the worker at random moments (upstream and downstream state, markers and
    internal records all in flight) and restart it; the committed output equals the global
    reference: nothing lost, nothing duplicated."""
    prefix = "rep2"
    create_topics(broker.bootstrap, {f"{prefix}.in": P, f"{prefix}.out": P,
                                     f"{prefix}.late": P}, {"retention.ms": "-1"})
    records = scattered_input(20_000, seed=5)
    feeder = produce_in_background(broker.bootstrap, f"{prefix}.in", records, 30)
    args = {"bootstrap": broker.bootstrap, "job_id": f"{prefix}.job", "topic": f"{prefix}.in",
            "out": f"{prefix}.out", "late": f"{prefix}.late", "worker_id": "w0",
            "checkpoint_records": 1500, "max_batch": 400, "checkpoint_interval": 200,
            "repartition": True}
    rng = random.Random(4)
    for _ in range(10):
        w = Worker(**args)
        if rng.random() < 0.3:
            time.sleep(rng.uniform(0.2, 4.0))
        else:
            w.wait_checkpoints(rng.randint(1, 4), timeout=30)
            time.sleep(rng.uniform(0.0, 0.3))
        w.kill()
    feeder.join()
    w = Worker(**{**args, "stop_at_eof": True, "finish_at_eof": True})
    ends = [sum(1 for p, _, _ in records if p == q) for q in range(P)]
    done = wait_committed(broker.bootstrap, f"{prefix}.job", f"{prefix}.in", ends, timeout=240)
    assert w.close(240) == 0
    assert done, "the job did not reach the end of its input"
    got = committed(broker.bootstrap, f"{prefix}.out")
    want = global_reference(records)
    missing, extra = want - normalise(got), normalise(got) - want
    assert not missing and not extra, f"{sum(missing.values())} results missing, " \
                                      f"{sum(extra.values())} extra"


JOB = """
[job]
name = "{name}"
[schema]
event_time = "ts"
[schema.columns]
key = "int64"
ts = "timestamp"
value = "float64"
[watermarks]
max_out_of_orderness = {delay}
[[windows]]
name = "win"
key = "key"
size = 1000
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


def test_job_file_without_message_key_repartitions_in_run_and_replay(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    """A job file that does not say what the producers key by: ``cep run`` re-partitions
    the window, and ``cep replay`` gives the same (global) windows, byte-identical whatever
    the poll size."""
    name = "rep3"
    create_topics(broker.bootstrap, {f"{name}.in": P, f"{name}.out": P, f"{name}.late": P})
    records = scattered_input(4000, seed=9)
    produce(broker.bootstrap, f"{name}.in", records)
    want = global_reference(records)
    job = tmp_path / "job.toml"
    job.write_text(JOB.format(name=name, delay=DELAY_MS, bootstrap=broker.bootstrap))
    res = subprocess.run([sys.executable, "-m", "connectors.cli", "run", str(job),
                          "--max-seconds", "120", "--progress", "off"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    got = committed(broker.bootstrap, f"{name}.out")
    assert normalise(Counter({_drop_output(k): v for k, v in got.items()})) == want
    outs = []
    for size in ("97", "5000"):
        out = tmp_path / f"replay{size}.jsonl"
        r = subprocess.run([sys.executable, "-m", "connectors.cli", "replay", str(job),
                            "--output", str(out), "--batch-size", size],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    rows = Counter(_drop_output(x) for x in outs[0].splitlines())
    assert normalise(rows) == want


def _drop_output(line: bytes) -> bytes:
    r = orjson.loads(line)
    assert r.pop("output") == "win"
    return orjson.dumps(r)
