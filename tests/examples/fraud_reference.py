"""Independent brute-force computations of the fraud example's rules on Online Retail II.

Written straight from the rules' meaning (per customer, rows in event-time order, ties in
file order; a match's span strictly inside WITHIN; AFTER MATCH SKIP PAST LAST ROW resumes after
the last row of a match, and of two matches ending on the same row the one that starts first
wins), with no code shared with the engine.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator

import numpy as np

DELAY = 3_600_000  # [watermarks] max_out_of_orderness = "1h"
MIN = 60_000


def on_time(ts: np.ndarray) -> np.ndarray:
    """Rows not behind the bounded-out-of-orderness watermark of the full stream when they
    arrive (watermark = max event time so far - delay - 1 ms; late if ts <= it)."""
    wm = np.maximum.accumulate(ts) - DELAY - 1
    before = np.concatenate([[np.iinfo(np.int64).min], wm[:-1]])
    return ts > before


def customer_rows(c: dict[str, np.ndarray]) -> Iterator[np.ndarray]:
    """Row indices per customer (customer_id != -1, on time), in (timestamp, file) order."""
    keep = np.flatnonzero((c["customer_id"] != -1) & on_time(c["invoice_ts"]))
    groups: dict[int, list[int]] = defaultdict(list)
    for i in keep.tolist():
        groups[int(c["customer_id"][i])].append(i)
    ts = c["invoice_ts"]
    for rows in groups.values():
        arr = np.array(rows)
        yield arr[np.argsort(ts[arr], kind="stable")]


def first_then_second(c: dict[str, np.ndarray], first: np.ndarray, second: np.ndarray,
                      within: int, same_invoice_ok: bool = True
                      ) -> list[tuple[int, int]]:
    """Matches of ``F X*? S WITHIN within`` per customer with SKIP PAST LAST ROW: at each
    S row, the earliest F row after the previous match, before it and less than ``within``
    earlier (and, unless ``same_invoice_ok``, on another invoice)."""
    ts, inv = c["invoice_ts"], c["invoice"]
    out = []
    for rows in customer_rows(c):
        start = 0  # position in rows after the last match
        for pos in range(len(rows)):
            j = rows[pos]
            if not second[j]:
                continue
            for q in range(start, pos):
                i = rows[q]
                if first[i] and ts[j] - ts[i] < within and (same_invoice_ok
                                                            or inv[i] != inv[j]):
                    out.append((int(i), int(j)))
                    start = pos + 1
                    break
    return out


def escalating(c: dict[str, np.ndarray], factor: float, within: int) -> list[tuple[int, ...]]:
    """Matches of ``A B{2} WITHIN within``: three consecutive rows of a customer, A a purchase
    with a positive price, each B a purchase worth at least ``factor`` times the previous row."""
    amount = c["quantity"] * c["price"]
    q, p, ts = c["quantity"], c["price"], c["invoice_ts"]
    out = []
    for rows in customer_rows(c):
        k = 0
        while k + 2 < len(rows):
            a, b1, b2 = rows[k], rows[k + 1], rows[k + 2]
            if (q[a] > 0 and p[a] > 0 and q[b1] > 0 and amount[b1] >= factor * amount[a]
                    and q[b2] > 0 and amount[b2] >= factor * amount[b1]
                    and ts[b2] - ts[a] < within):
                out.append((int(a), int(b1), int(b2)))
                k += 3
            else:
                k += 1
    return out


def cancellation_windows(c: dict[str, np.ndarray], size: int, slide: int, threshold: int
                         ) -> tuple[Counter[tuple[int, int]], int]:
    """Cancelled lines per (customer, sliding window start) counting only rows not late for
    that window (window end - 1 after the row's watermark), windows with at least
    ``threshold``; and the number of (row, window) pairs that were late."""
    ts = c["invoice_ts"]
    wm = np.maximum.accumulate(ts) - DELAY - 1
    before = np.concatenate([[np.iinfo(np.int64).min], wm[:-1]])
    rows = np.flatnonzero((c["quantity"] < 0) & (c["customer_id"] != -1))
    counts: Counter[tuple[int, int]] = Counter()
    late = 0
    for i in rows.tolist():
        last = ts[i] // slide * slide
        for s in range(last, ts[i] - size, -slide):
            if s + size - 1 <= before[i]:
                late += 1
            else:
                counts[(int(c["customer_id"][i]), int(s))] += 1
    return Counter({k: v for k, v in counts.items() if v >= threshold}), late
