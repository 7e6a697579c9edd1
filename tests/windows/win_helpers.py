"""Small harness shared by the window tests: drive a :class:`WindowOperator` over a stream cut
into batches and read its output as plain rows."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from reference import late_rows, result_rows

from windows import MIN_TIMESTAMP, WindowOperator, WindowOutput
from windows._jit import jit_disabled

#: Settings of the property tests: modest example counts (fewer in the pure-Python leg, where
#: the kernels run as Python), no deadline (the first example compiles kernels).
PROPERTY = settings(max_examples=40 if jit_disabled() else 150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HOUR = 3_600_000
MINUTE = 60_000


def bounded(ts: Sequence[int], delay: int) -> np.ndarray:
    """Per-record watermarks of a single partition with bounded out-of-orderness ``delay``."""
    out = np.maximum.accumulate(np.asarray(ts, np.int64)) - delay - 1
    return out.astype(np.int64)


def no_watermarks(n: int) -> np.ndarray:
    return np.full(n, MIN_TIMESTAMP, np.int64)


def columns(keys: Any, **values: Any) -> dict[str, np.ndarray]:
    """Batch columns: ``k`` (keys), ``idx`` (arrival number) and the given value columns."""
    cols: dict[str, np.ndarray] = {"k": np.asarray(keys), "idx": np.arange(len(keys))}
    for name, v in values.items():
        cols[name] = np.asarray(v)
    return cols


def split(cols: Mapping[str, np.ndarray], ts: np.ndarray | None, wms: np.ndarray | None,
          cuts: Sequence[int]) -> list[tuple[dict[str, np.ndarray], Any, Any]]:
    """The stream as batches ending before each cut position (sorted, deduplicated)."""
    n = len(next(iter(cols.values())))
    bounds = [0, *sorted({c for c in cuts if 0 < c < n}), n]
    out = []
    for a, b in itertools.pairwise(bounds):
        out.append(({k: v[a:b] for k, v in cols.items()},
                    None if ts is None else ts[a:b], None if wms is None else wms[a:b]))
    return out


def run(op: WindowOperator, cols: Mapping[str, np.ndarray], ts: np.ndarray | None = None,
        wms: np.ndarray | None = None, cuts: Sequence[int] = (), finish: bool = True,
        agg_names: Sequence[str] | None = None,
        ) -> tuple[list[tuple[Any, ...]], list[tuple[int, int, int]]]:
    """Feed the stream in batches (then ``finish``); return result rows and late rows.

    Result rows are ``(key, start, end, timing, (aggregates...))`` in output order, late rows
    ``(idx, start, end)``.
    """
    names = list(agg_names if agg_names is not None else op.builtins)
    key = "key" if op.key is not None else None
    rows: list[tuple[Any, ...]] = []
    late: list[tuple[int, int, int]] = []
    outs = [op.process(c, timestamps=t, watermarks=w) for c, t, w in split(cols, ts, wms, cuts)]
    if finish:
        outs.append(op.finish())
    for o in outs:
        rows += result_rows(o.results, names, key)
        late += late_rows(o.late)
    return rows, late


def rows_of(out: WindowOutput, names: Sequence[str], key: str | None = "key",
            ) -> list[tuple[Any, ...]]:
    return result_rows(out.results, names, key)
