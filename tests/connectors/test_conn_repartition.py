"""Re-partitioning pieces without a broker: key texts and partitions, the channel merge
(watermark minimum, idleness, end of input, copies skipped, snapshot), and the job file's
``message_key``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from connectors.errors import JobFileError
from connectors.jobfile import load_job
from connectors.kafkajob import kafka_config
from connectors.repartition import (
    ChannelMerge,
    InternalBatch,
    internal_topic,
    key_text,
    partition_of,
    plan_groups,
)
from windows.time import MAX_TIMESTAMP, MIN_TIMESTAMP

DATA, MARK, IDLE = 0, 1, 2


def batch(messages: list[tuple[int, int, int, int]]) -> InternalBatch:
    """Messages ``(kind, channel, position, watermark)``; data rows get column ``x`` = their
    message index."""
    m = len(messages)
    kind = np.array([k for k, _, _, _ in messages], np.int8)
    rows = np.flatnonzero(kind == DATA).astype(np.int64)
    return InternalBatch("t", 0, kind, np.array([c for _, c, _, _ in messages], np.int64),
                         np.array([p for _, _, p, _ in messages], np.int64),
                         np.array([w for _, _, _, w in messages], np.int64), rows,
                         {"x": rows.copy()}, rows * 10, [], m)


def test_key_text_and_partition_are_consistent() -> None:
    cols = {"a": np.array([1, 2, 1, 3]), "b": np.array(["x", "y", "x", None], object)}
    keys = key_text(cols, ["a", "b"], 4)
    assert keys[0] == keys[2] != keys[1]
    assert keys[3] == b"3\x1f"
    parts = partition_of(keys, 5)
    assert parts.dtype == np.int64 and parts[0] == parts[2]
    assert ((parts >= 0) & (parts < 5)).all()
    assert key_text(cols, [], 4) == [b""] * 4
    assert (partition_of(keys, 1) == 0).all()
    # many keys spread over every partition
    many = partition_of([str(i).encode() for i in range(1000)], 4)
    assert set(many.tolist()) == {0, 1, 2, 3}


def test_plan_groups_by_key() -> None:
    class Spec:
        def __init__(self, name: str, rep: tuple[str, ...] | None) -> None:
            self.name, self.repartition = name, rep

    ops = [Spec("a", None), Spec("b", ("card",)), Spec("c", ("card",)), Spec("d", ())]
    direct, groups = plan_groups("job", ops, 6)
    assert [o.name for o in direct] == ["a"]
    assert [(g.key, g.topic, g.partitions, [o.name for o in g.operators]) for g in groups] == [
        (("card",), "job.repartition.card", 6, ["b", "c"]),
        ((), "job.repartition._global", 1, ["d"])]
    assert internal_topic("j", ["a", "b"]) == "j.repartition.a+b"


def test_merge_watermark_is_the_minimum_over_channels() -> None:
    m = ChannelMerge(2)
    keep, wms = m.admit(batch([(MARK, 0, 2, 100), (DATA, 1, 1, 0), (MARK, 1, 4, 50),
                               (DATA, 0, 3, 0), (MARK, 0, 6, 300), (MARK, 1, 6, 200)]))
    assert keep.tolist() == [True, True]
    # channel 1 had sent nothing before the first record: the watermark waits for it
    assert wms.tolist() == [MIN_TIMESTAMP, 50]
    assert m.current == 200 and not m.ended


def test_merge_skips_copies_and_keeps_order() -> None:
    m = ChannelMerge(1)
    m.admit(batch([(DATA, 0, 1, 0), (DATA, 0, 3, 0), (MARK, 0, 4, 10)]))
    # an aborted transaction's records seen again (same positions), then new ones
    keep, _ = m.admit(batch([(DATA, 0, 1, 0), (DATA, 0, 3, 0), (MARK, 0, 4, 10),
                             (DATA, 0, 5, 0), (MARK, 0, 6, 20)]))
    assert keep.tolist() == [False, False, True]
    assert m.current == 20
    # an older marker never moves the watermark back
    m.admit(batch([(MARK, 0, 8, 5)]))
    assert m.current == 20


def test_merge_idle_channel_does_not_hold_back_and_end_of_input() -> None:
    m = ChannelMerge(2)
    m.admit(batch([(MARK, 0, 2, 100)]))
    assert m.current == MIN_TIMESTAMP
    m.admit(batch([(IDLE, 1, 0, 0)]))
    assert m.current == 100
    # a record of the idle channel makes it active again; its watermark is lower, but the
    # combined watermark never goes back
    keep, wms = m.admit(batch([(DATA, 1, 1, 0), (MARK, 1, 2, 40), (MARK, 0, 4, 150)]))
    assert keep.tolist() == [True] and wms.tolist() == [100]
    assert m.current == 100
    m.admit(batch([(MARK, 0, 6, MAX_TIMESTAMP)]))
    assert not m.ended
    m.admit(batch([(MARK, 1, 4, MAX_TIMESTAMP)]))
    assert m.ended and m.current == MAX_TIMESTAMP


def test_merge_snapshot_restore_and_errors() -> None:
    m = ChannelMerge(3)
    m.admit(batch([(DATA, 2, 7, 0), (MARK, 1, 2, 9), (IDLE, 0, 0, 0)]))
    snap = m.snapshot()
    r = ChannelMerge(3)
    r.restore(snap)
    assert r.snapshot() == snap
    keep, _ = r.admit(batch([(DATA, 2, 7, 0), (DATA, 2, 9, 0)]))
    assert keep.tolist() == [False, True]
    with pytest.raises(ValueError, match="channels"):
        ChannelMerge(2).restore(snap)
    with pytest.raises(ValueError, match="channel 5"):
        m.admit(batch([(DATA, 5, 1, 0)]))
    m.reset()
    assert m.current == MIN_TIMESTAMP and (m.positions == -1).all()


JOB = """
[job]
name = "j"
[schema]
event_time = "ts"
{schema_key}
[schema.columns]
card = "string"
shop = "string"
ts = "timestamp"
amount = "float64"
[[rules]]
sql = '''
SELECT * FROM t MATCH_RECOGNIZE (PARTITION BY card ORDER BY ts
  MEASURES A.amount AS a ONE ROW PER MATCH PATTERN (A B) DEFINE A AS amount < 1,
  B AS amount > 500)
'''
[[windows]]
name = "per_shop"
key = "shop"
size = "1m"
aggregates = {{ n = "count(*)" }}
[kafka]
bootstrap_servers = "127.0.0.1:1"
topics = ["in"]
{kafka_extra}
"""


def _config(tmp_path: Path, schema_key: str = "", kafka_extra: str = "") -> dict:
    p = tmp_path / "job.toml"
    p.write_text(JOB.format(schema_key=schema_key, kafka_extra=kafka_extra))
    cfg = kafka_config(load_job(p))
    return {o.name: o.repartition for o in cfg.operators}


def test_job_file_message_key_decides_what_is_repartitioned(tmp_path: Path) -> None:
    names = _config(tmp_path)
    rule = next(n for n in names if n != "per_shop")
    # no message key declared: every operator goes through an internal topic
    assert names == {rule: ("card",), "per_shop": ("shop",)}
    assert _config(tmp_path, schema_key='key = "card"') == {rule: None, "per_shop": ("shop",)}
    assert _config(tmp_path, kafka_extra='message_key = "shop"') == {rule: ("card",),
                                                                     "per_shop": None}
    with pytest.raises(JobFileError, match="message_key"):
        _config(tmp_path, kafka_extra='message_key = "nope"')
    with pytest.raises(JobFileError, match="repartition_partitions"):
        _config(tmp_path, kafka_extra="repartition_partitions = 0")
