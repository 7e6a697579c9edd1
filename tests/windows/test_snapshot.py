"""Snapshot round trips: snapshot -> encode -> decode -> restore into a fresh operator ->
continue gives the same output as an uninterrupted run, for every kind of assigner; corrupt
data and other configurations are refused; tracker and key encoder round trips."""

from __future__ import annotations

import math
import struct
import types
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from win_helpers import PROPERTY, bounded, columns, split

from windows import (
    AggregateFunction,
    ContinuousEventTimeTrigger,
    CountTrigger,
    EventTimeSessionWindows,
    GlobalWindows,
    KeyEncoder,
    ProcessingTimeSessionWindows,
    ProcessWindowFunction,
    PurgingTrigger,
    SlidingCountWindows,
    SlidingEventTimeWindows,
    SnapshotError,
    TimeWindow,
    TumblingCountWindows,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
    WatermarkStrategy,
    WindowOperator,
    WindowOutput,
    decode_snapshot,
    encode_snapshot,
)
from windows import aggregates as agg


class DistinctValues(AggregateFunction[set[float]]):
    """Accumulator that is not plain data: converted for snapshots."""

    def create_accumulator(self) -> set[float]:
        return set()

    def add(self, value: Mapping[str, Any], accumulator: set[float]) -> set[float]:
        if not math.isnan(value["v"]):
            accumulator.add(value["v"])
        return accumulator

    def merge(self, a: set[float], b: set[float]) -> set[float]:
        return a | b

    def get_result(self, accumulator: set[float]) -> int:
        return len(accumulator)

    def snapshot_accumulator(self, accumulator: set[float]) -> Any:
        return sorted(accumulator)

    def restore_accumulator(self, data: Any) -> set[float]:
        return set(data)


class Ids(ProcessWindowFunction):
    def process(self, key: Any, window: TimeWindow,
                records: Mapping[str, np.ndarray]) -> Mapping[str, Any]:
        return {"ids": " ".join(str(i) for i in records["idx"].tolist()),
                "tags": "".join(records["tag"].tolist())}


def _gap(cols: Mapping[str, np.ndarray]) -> np.ndarray:
    return np.asarray(cols["g"])


AGGS: dict[str, Any] = {"n": agg.count(), "s": agg.sum("v"), "f": agg.first("v"),
                        "l": agg.last("v"), "m": agg.mean("v")}

# name -> (assigner, trigger, lateness, uses event time)
CONFIGS: dict[str, tuple[Any, Any, int, str]] = {
    "tumbling": (TumblingEventTimeWindows.of(10), None, 15, "event"),
    "sliding": (SlidingEventTimeWindows.of(12, 5, 1), None, 6, "event"),
    "sliding-no-lateness": (SlidingEventTimeWindows.of(12, 4, 1), None, 0, "event"),
    "session": (EventTimeSessionWindows.with_gap(4), None, 10, "event"),
    "dynamic-session": (EventTimeSessionWindows.with_dynamic_gap(_gap), None, 5, "event"),
    "continuous": (TumblingEventTimeWindows.of(20),
                   PurgingTrigger.of(ContinuousEventTimeTrigger.of(3)), 5, "event"),
    "count-trigger": (SlidingEventTimeWindows.of(20, 10), CountTrigger.of(2), 0, "event"),
    "global": (GlobalWindows.create(), CountTrigger.of(3), 0, "none"),
    "tumbling-count": (TumblingCountWindows.of(3), None, 0, "count"),
    "sliding-count": (SlidingCountWindows.of(4, 2), None, 0, "count"),
    "processing-time": (TumblingProcessingTimeWindows.of(50), None, 0, "processing"),
    "processing-session": (ProcessingTimeSessionWindows.with_gap(30), None, 0, "processing"),
}


def _make(name: str, user: bool) -> WindowOperator:
    assigner, trigger, lateness, _ = CONFIGS[name]
    aggs = dict(AGGS)
    if user:
        aggs["distinct"] = DistinctValues()
    return WindowOperator(assigner, aggs, key="k", trigger=trigger, allowed_lateness=lateness,
                          window_function=Ids() if user else None)


def _process(op: WindowOperator, name: str, batch: tuple[dict[str, np.ndarray], Any, Any],
             pt: int) -> WindowOutput:
    cols, ts, wms = batch
    domain = CONFIGS[name][3]
    if domain == "event":
        return op.process(cols, timestamps=ts, watermarks=wms)
    if domain == "processing":
        return op.process(cols, processing_time=pt)
    # count/global windows ignore time: timestamps only order first/last
    return op.process(cols, timestamps=ts)


def _rows(outs: list[WindowOutput]) -> list[Any]:
    rows: list[Any] = []
    for o in outs:
        for tag, part in (("result", o.results), ("late", o.late)):
            if not part:
                continue
            names = sorted(part)
            for j in range(len(part[names[0]])):
                vals = []
                for c in names:
                    v = part[c][j]
                    v = v.item() if hasattr(v, "item") else v
                    vals.append("NaN" if isinstance(v, float) and math.isnan(v) else v)
                rows.append((tag, *zip(names, vals, strict=True)))
    return rows


@st.composite
def stream(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 40))
    keys = draw(st.lists(st.sampled_from(["x", "y", "z"]), min_size=n, max_size=n))
    ts = np.cumsum(draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)))
    ts = ts - np.asarray(draw(st.lists(st.sampled_from([0, 0, 0, 9, 25]), min_size=n,
                                       max_size=n)))
    v = draw(st.lists(st.one_of(st.integers(0, 4).map(float), st.just(math.nan)),
                      min_size=n, max_size=n))
    cuts = draw(st.lists(st.integers(1, n), max_size=3))
    stop = draw(st.integers(0, n))
    return {"keys": keys, "ts": ts.astype(np.int64), "v": v, "cuts": cuts, "stop": stop}


@PROPERTY
@given(s=stream(), name=st.sampled_from(sorted(CONFIGS)), user=st.booleans(),
       delay=st.integers(0, 12))
def test_restored_operator_continues_like_an_uninterrupted_one(
        s: dict[str, Any], name: str, user: bool, delay: int) -> None:
    n = len(s["keys"])
    cols = columns(s["keys"], v=np.asarray(s["v"]), g=(np.arange(n) % 5 + 1).astype(np.int64),
                   tag=np.array([chr(ord("a") + i % 26) for i in range(n)]))
    batches = split(cols, s["ts"], bounded(s["ts"], delay), [*s["cuts"], s["stop"]])
    stop = next((i for i, b in enumerate(batches) if b[0]["idx"][0] >= s["stop"]),
                len(batches))
    pts = [1000 + 23 * i for i in range(len(batches))]

    straight = _make(name, user)
    want = [_process(straight, name, b, pt) for b, pt in zip(batches, pts, strict=True)]
    want.append(straight.finish())

    first = _make(name, user)
    for b, pt in zip(batches[:stop], pts[:stop], strict=True):
        _process(first, name, b, pt)
    data = encode_snapshot(first.snapshot())
    assert isinstance(data, bytes)
    restored = _make(name, user)
    restored.restore(decode_snapshot(data))
    assert restored.current_watermark == first.current_watermark
    assert restored.num_live_windows == first.num_live_windows
    got = [_process(restored, name, b, pt)
           for b, pt in zip(batches[stop:], pts[stop:], strict=True)]
    got.append(restored.finish())
    assert _rows(got) == _rows(want[stop:])


def _loaded_operator() -> tuple[WindowOperator, bytes]:
    op = _make("session", user=True)
    cols = columns(["x", "y", "x"], v=np.array([1.0, 2.0, 3.0]), tag=np.array(["a", "b", "c"]))
    op.process(cols, timestamps=np.array([1, 2, 3]), watermarks=np.array([-5, -5, -5]))
    return op, encode_snapshot(op.snapshot())


def test_snapshot_is_not_emptied_by_encoding() -> None:
    _, data = _loaded_operator()
    fresh = _make("session", user=True)
    fresh.restore(decode_snapshot(data))
    rows = _rows([fresh.finish()])
    # y's session [2, 6) ends before x's merged [1, 7)
    assert [dict(r[1:])["ids"] for r in rows] == ["1", "0 2"]
    assert [dict(r[1:])["distinct"] for r in rows] == [1, 2]


@pytest.mark.parametrize("damage", ["flip", "truncate", "magic", "version", "empty", "garbage"])
def test_corrupt_snapshot_bytes_raise(damage: str) -> None:
    _, data = _loaded_operator()
    if damage == "flip":
        bad = data[:-5] + bytes([data[-5] ^ 0x40]) + data[-4:]
    elif damage == "truncate":
        bad = data[: len(data) // 2]
    elif damage == "magic":
        bad = b"X" + data[1:]
    elif damage == "version":
        bad = data[:8] + struct.pack(">H", 99) + data[10:]
    elif damage == "empty":
        bad = b""
    else:
        bad = data[:14] + b"\xc1" * 20  # checksum will not match
    with pytest.raises(SnapshotError):
        decode_snapshot(bad)


def test_header_only_snapshot_raises() -> None:
    _, data = _loaded_operator()
    with pytest.raises(SnapshotError):
        decode_snapshot(data[:12])


def test_snapshot_of_another_configuration_is_refused() -> None:
    _, data = _loaded_operator()
    state = decode_snapshot(data)
    for other in (
        WindowOperator(EventTimeSessionWindows.with_gap(5), dict(AGGS), key="k",
                       allowed_lateness=10),
        WindowOperator(TumblingEventTimeWindows.of(4), dict(AGGS), key="k"),
        WindowOperator(EventTimeSessionWindows.with_gap(4), {"n": agg.count()}, key="k",
                       allowed_lateness=10),
    ):
        with pytest.raises(SnapshotError, match="differently configured"):
            other.restore(state)


def test_malformed_snapshot_state_is_refused() -> None:
    op = _make("tumbling", user=False)
    with pytest.raises(SnapshotError, match="not a WindowOperator"):
        op.restore({"kind": "CepOperator"})
    good = op.snapshot()
    broken = dict(good)
    broken["kernel"] = {"ks": [1, 2, 3]}
    with pytest.raises(SnapshotError):
        op.restore(broken)


def test_object_arrays_cannot_be_snapshotted() -> None:
    with pytest.raises(SnapshotError, match="dtype"):
        encode_snapshot({"a": np.array(["x", None], dtype=object)})
    with pytest.raises(SnapshotError):
        encode_snapshot({"a": object()})


def test_codec_round_trips_arrays_and_plain_values() -> None:
    state = {"i": np.arange(6, dtype=np.int32).reshape(2, 3), "f": np.array([1.5, math.nan]),
             "b": np.array([True, False]), "e": np.zeros((0, 4), np.int64),
             "be": np.array([1, 2], dtype=">i8"), "plain": [1, "two", 3.0, None, True],
             "nested": {"x": np.uint16(7), "y": np.float32(0.5)}}
    got = decode_snapshot(encode_snapshot(state))
    assert got["i"].dtype == np.int32 and got["i"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert got["f"][0] == 1.5 and math.isnan(got["f"][1])
    assert got["b"].tolist() == [True, False]
    assert got["e"].shape == (0, 4)
    assert got["be"].tolist() == [1, 2]
    assert got["plain"] == [1, "two", 3.0, None, True]
    assert got["nested"] == {"x": 7, "y": 0.5}


def test_watermark_tracker_round_trip() -> None:
    s = WatermarkStrategy.for_bounded_out_of_orderness(5).with_idleness(100)
    rng = np.random.default_rng(3)
    ts = rng.integers(0, 1000, 60)
    parts = rng.integers(0, 3, 60)

    def run(tr: Any, a: int, b: int, now: int) -> list[int]:
        return list(tr.advance(ts[a:b], partitions=parts[a:b], processing_time=now).tolist())

    straight = s.create_tracker(partitions=[0, 1, 2, 7], processing_time=0)
    want = run(straight, 0, 30, 10) + run(straight, 30, 60, 250)
    first = s.create_tracker(partitions=[0, 1, 2, 7], processing_time=0)
    run(first, 0, 30, 10)
    restored = s.create_tracker(processing_time=999)
    restored.restore(decode_snapshot(encode_snapshot(first.snapshot())))
    assert restored.partitions == [0, 1, 2, 7]
    assert run(restored, 30, 60, 250) == want[30:]
    assert restored.idle_partitions() == straight.idle_partitions() == [7]


def test_watermark_tracker_malformed_state() -> None:
    tr = WatermarkStrategy.for_monotonous_timestamps().create_tracker(processing_time=0)
    with pytest.raises(SnapshotError):
        tr.restore({"partitions": [0]})
    with pytest.raises(SnapshotError, match="inconsistent"):
        tr.restore({"partitions": [0, 1], "part_max": [1], "idle": [False],
                    "last_seen": [0], "state": [0, 0]})


def test_key_encoder_round_trip() -> None:
    enc = KeyEncoder()
    assert enc.encode(np.array(["b", "a", "b"])).tolist() == [0, 1, 0]
    assert enc.encode(np.array([7])).tolist() == [2]
    restored = KeyEncoder()
    restored.restore(decode_snapshot(encode_snapshot(enc.snapshot())))
    assert len(restored) == 3
    assert restored.encode(np.array(["a", "c", "b"])).tolist() == [1, 3, 0]
    assert restored.encode(np.array([7])).tolist() == [2]
    assert restored.decode(np.array([3, 0])).tolist() == ["c", "b"]


@pytest.mark.parametrize("keys", [np.array([True]), np.array([(1, 2)], dtype=object)[:1]])
def test_key_encoder_refuses_keys_it_cannot_store(keys: np.ndarray) -> None:
    enc = KeyEncoder()
    if keys.dtype == object:
        keys = np.empty(1, object)
        keys[0] = (1, 2)
    enc.encode(keys)
    with pytest.raises(SnapshotError):
        enc.snapshot()


def test_key_encoder_malformed_state() -> None:
    with pytest.raises(SnapshotError):
        KeyEncoder().restore({"nothing": []})


def _copy_function(f: Callable[..., Any]) -> Callable[..., Any]:
    """The same function as a new object, as after a restart re-imports the module."""
    return types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__,
                              f.__closure__)


def test_dynamic_gap_snapshot_restores_with_the_same_function_in_a_new_process() -> None:
    a = WindowOperator(EventTimeSessionWindows.with_dynamic_gap(_gap), {"n": agg.count()},
                       key="k")
    b = WindowOperator(EventTimeSessionWindows.with_dynamic_gap(_copy_function(_gap)),
                       {"n": agg.count()}, key="k")
    a.process(columns(["x"], g=np.array([5])), timestamps=np.array([1]),
              watermarks=np.array([0]))
    b.restore(decode_snapshot(encode_snapshot(a.snapshot())))
    assert b.num_live_windows == 1


def test_global_window_state_survives_restore() -> None:
    # regression: the hash table rebuilt on restore filed global windows under another id
    def make() -> WindowOperator:
        return WindowOperator(GlobalWindows.create(), {"n": agg.count()}, key="k",
                              trigger=CountTrigger.of(2))

    op = make()
    op.process(columns(["x"]))
    restored = make()
    restored.restore(decode_snapshot(encode_snapshot(op.snapshot())))
    out = restored.process(columns(["x"]))
    assert out.results["n"].tolist() == [2]
