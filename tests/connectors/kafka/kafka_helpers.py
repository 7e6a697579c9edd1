"""Shared pieces of the Kafka tests: the test job, input generation, a worker process entry
point (``python kafka_helpers.py '<json>'``) and the offline reference of the job's output."""

from __future__ import annotations

import json
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson

HERE = Path(__file__).resolve().parent
SCHEMA = {"columns": {"key": "int64", "ts": "timestamp", "value": "float64"},
          "event_time": "ts", "key": "key"}
WINDOW_MS = 1000
DELAY_MS = 200


def make_operator() -> Any:
    from windows import TumblingEventTimeWindows, WindowOperator, aggregates

    return WindowOperator(TumblingEventTimeWindows.of(WINDOW_MS),
                          {"n": aggregates.count(), "total": aggregates.sum("value")},
                          key="key")


def make_config(bootstrap: str, job_id: str, topic: str, out: str, late: str,
                repartition: bool = False, **kw: Any) -> Any:
    """The test job; ``repartition=True`` sends the records through an internal topic
    keyed by ``key`` (for input that is not partitioned by it)."""
    from connectors.kafka_sink import OutputSpec
    from connectors.runtime import KafkaJobConfig, OperatorSpec
    from connectors.schema import Schema
    from windows import WatermarkStrategy

    spec = OperatorSpec("win", make_operator,
                        {"results": OutputSpec(out, key="key"),
                         "late": OutputSpec(late, key="key")},
                        repartition=("key",) if repartition else None)
    return KafkaJobConfig(bootstrap=bootstrap, job_id=job_id, topics=(topic,),
                          schema=Schema.from_dict(SCHEMA), operators=(spec,),
                          watermarks=WatermarkStrategy.for_bounded_out_of_orderness(DELAY_MS),
                          **kw)


Records = list[tuple[int, bytes, bytes]]


def make_input(n: int, partitions: int, seed: int = 7, keys: int = 50) -> Records:
    """``n`` records (partition, key, JSON value); keys follow partitions (key % partitions);
    about one record per ms per partition, up to 300 ms out of order (some become late)."""
    rng = np.random.default_rng(seed)
    key = rng.integers(0, keys, n)
    ts = 1_700_000_000_000 + np.arange(n) // partitions - rng.integers(0, 300, n)
    val = np.round(rng.random(n) * 100, 2)
    return [(int(k) % partitions, str(int(k)).encode(),
             orjson.dumps({"key": int(k), "ts": int(t), "value": float(v)}))
            for k, t, v in zip(key, ts, val, strict=True)]


def produce(bootstrap: str, topic: str, records: Records, seconds: float = 0.0) -> None:
    """Produce ``records`` in order (idempotent producer), spread over ``seconds``."""
    import time

    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "log_level": 0,
                  "enable.idempotence": True})
    start = time.monotonic()
    step = max(len(records) // 200, 1)
    for i, (part, key, value) in enumerate(records):
        if seconds and i % step == 0:
            time.sleep(max(start + seconds * i / len(records) - time.monotonic(), 0))
        while True:
            try:
                p.produce(topic, value, key, partition=part, timestamp=1_700_000_000_000)
                break
            except BufferError:
                p.poll(0.1)
    assert p.flush(60) == 0


def reference(records: Records, partitions: int) -> tuple[Counter[bytes], Counter[bytes]]:
    """Result and late rows (JSON values) of the job run without Kafka: per partition, in
    offset order, one operator and one watermark tracker each (the runtime's design)."""
    from connectors.files import decode_json_records
    from connectors.filesinks import format_json_lines
    from connectors.schema import Schema
    from windows import WatermarkStrategy

    schema = Schema.from_dict(SCHEMA)
    results: Counter[bytes] = Counter()
    late: Counter[bytes] = Counter()
    for p in range(partitions):
        values = [v for part, _, v in records if part == p]
        if not values:
            continue
        b = decode_json_records(values, schema)
        op = make_operator()
        tr = WatermarkStrategy.for_bounded_out_of_orderness(DELAY_MS).create_tracker([0])
        ts = b.columns["ts"]
        # polls cut the input anywhere: results must not depend on it
        for lo in range(0, len(ts), 777):
            sl = slice(lo, lo + 777)
            cols = {k: v[sl] for k, v in b.columns.items()}
            out = op.process(cols, ts[sl], tr.advance(ts[sl], processing_time=0), 0)
            results.update(format_json_lines(out.results).splitlines())
            late.update(format_json_lines(out.late).splitlines())
    return results, late


def _slow_first_assignment(job: Any, seconds: float) -> None:
    """Make the worker's first non-empty assignment callback last ``seconds`` longer, after
    the partitions were restored (a slow state restore); prints ``{"slow_assign": [...]}``
    when the wait begins."""
    import time

    source = job.source
    restore = source._on_assign
    done: list[bool] = []

    def on_assign(tps: list[tuple[str, int]]) -> Any:
        starts = restore(tps)
        if tps and not done:
            done.append(True)
            print(json.dumps({"slow_assign": sorted(tps)}), flush=True)
            time.sleep(seconds)
        return starts

    source._on_assign = on_assign


def main(argv: list[str]) -> int:
    """Worker process: run the test job, print one JSON line per checkpoint."""
    from connectors.runtime import KafkaJob

    args = json.loads(argv[1])
    if "settings" not in args:
        args["settings"] = {"session.timeout.ms": "3000", "heartbeat.interval.ms": "500"}
    jobs: list[KafkaJob] = []

    def on_term(*_: Any) -> None:
        if not jobs:
            raise SystemExit(0)
        jobs[0].stop()

    signal.signal(signal.SIGTERM, on_term)
    slow = float(args.pop("slow_assign", 0))
    cfg = make_config(**args)
    job = KafkaJob(cfg, on_checkpoint=lambda iv: print(
        json.dumps({"checkpoint": iv.number, "records": iv.records,
                    "blocked_share": iv.blocked_share}), flush=True))
    if slow:
        _slow_first_assignment(job, slow)
    jobs.append(job)
    print(json.dumps({"started": True}), flush=True)
    stats = job.run()
    print(json.dumps({"summary": stats.summary()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    raise SystemExit(main(sys.argv))


def produce_in_background(bootstrap: str, topic: str, records: Records,
                          seconds: float) -> Any:
    """Start producing ``records`` over ``seconds`` in a thread; return the thread."""
    import threading

    t = threading.Thread(target=produce, args=(bootstrap, topic, records, seconds), daemon=True)
    t.start()
    return t


class Worker:
    """A worker process of the test job; its checkpoint lines are collected by a thread.
    Its stderr is appended to the file ``$CEPKIT_TEST_WORKER_LOG`` if that is set (debugging),
    else dropped."""

    def __init__(self, **args: Any) -> None:
        import os
        import queue
        import subprocess
        import threading

        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.started = False
        log = os.environ.get("CEPKIT_TEST_WORKER_LOG")
        err: Any = open(log, "ab") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen([sys.executable, str(HERE / "kafka_helpers.py"),
                                      json.dumps(args)], stdout=subprocess.PIPE,
                                     stderr=err, cwd=str(HERE))
        if log:
            err.close()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
                self.started = self.started or "started" in msg
                self.lines.put(msg)
            except ValueError:
                continue

    def wait_checkpoints(self, n: int, timeout: float) -> int:
        """Wait for ``n`` checkpoint lines (or the timeout); return how many came."""
        import queue
        import time

        got = 0
        deadline = time.monotonic() + timeout
        while got < n and time.monotonic() < deadline:
            try:
                if "checkpoint" in self.lines.get(timeout=max(deadline - time.monotonic(), 0.01)):
                    got += 1
            except queue.Empty:
                break
        return got

    def wait_line(self, key: str, timeout: float) -> dict[str, Any] | None:
        """Wait for an output line with member ``key`` (or the timeout); return it."""
        import queue
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if key in msg:
                return msg
        return None

    def kill(self) -> bool:
        """SIGKILL the worker; True if it was still running and died of the signal."""
        running = self.proc.poll() is None
        self.proc.send_signal(signal.SIGKILL)
        return running and self.close() == -signal.SIGKILL

    def terminate(self, timeout: float = 60) -> int:
        """Wait until the worker has started, then stop it cleanly; return its status."""
        import time

        deadline = time.monotonic() + timeout
        while not self.started and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.05)
        self.proc.send_signal(signal.SIGTERM)
        return self.close(timeout)

    def close(self, timeout: float = 60) -> int:
        rc = self.proc.wait(timeout)
        self._thread.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return rc


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    """The group's committed offsets of ``topic`` (-1 where none)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "log_level": 0})
    try:
        res = c.committed([TopicPartition(topic, p) for p in range(partitions)], 30)
        return [tp.offset for tp in res]
    finally:
        c.close()


def wait_committed(bootstrap: str, group: str, topic: str, ends: list[int],
                   timeout: float) -> bool:
    """Wait until the group has committed ``ends`` for every partition."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if committed_offsets(bootstrap, group, topic, len(ends)) == ends:
            return True
        time.sleep(0.5)
    return False


def partition_ends(records: Records, partitions: int) -> list[int]:
    """Offset just past the last record of each partition (input produced to empty topic)."""
    return [sum(1 for p, _, _ in records if p == q) for q in range(partitions)]
