"""What the CEP operator emits: matches, timed-out partial matches and late events.

Matches and timeouts come as columnar tables (:class:`MatchTable`), one row per matched event,
with per-match arrays alongside; iterating a table yields :class:`Match` /
:class:`TimedOutMatch` objects whose ``events`` map each stage name to its events (as Flink's
``Map<String, List<T>>``, stages without events omitted, in pattern order).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CepOutput", "LateEvents", "Match", "MatchTable", "TimedOutMatch"]


@dataclass(frozen=True)
class Match:
    """One match (as the argument of Flink's ``PatternProcessFunction.processMatch``).

    Attributes
    ----------
    key : Any
        The key value.
    events : Mapping[str, tuple[dict, ...]]
        Stage name -> events (each a dict of column -> value), in match order.
    timestamps : Mapping[str, tuple[int, ...]]
        Stage name -> event timestamps (epoch ms), parallel to ``events``.
    timestamp : int
        When the match was emitted: the timestamp of the event that completed it, or the time
        the operator advanced to (trailing ``not_followed_by``, or a match held back by a skip
        strategy).
    """

    key: Any
    events: Mapping[str, tuple[dict[str, Any], ...]]
    timestamps: Mapping[str, tuple[int, ...]]
    timestamp: int

    def stage_names(self) -> tuple[str, ...]:
        """Stages with events, in pattern order."""
        return tuple(self.events)


@dataclass(frozen=True)
class TimedOutMatch(Match):
    """A partial match discarded by ``within`` (as Flink's ``processTimedOutMatch``).

    Attributes
    ----------
    timeout_timestamp : int
        End of the window that expired: ``first event + within`` (or ``previous event +
        within_previous``), epoch ms.
    """

    timeout_timestamp: int = 0


@dataclass(frozen=True)
class MatchTable:
    """Matches (or timeouts) in columnar form.

    Attributes
    ----------
    keys : ndarray, shape (m,)
        Key of each match.
    timestamp : ndarray of int64, shape (m,)
        Emission time of each match (see :attr:`Match.timestamp`).
    offsets : ndarray of int64, shape (m + 1,)
        Rows ``offsets[i]:offsets[i+1]`` belong to match ``i``.
    stage_code : ndarray of int64, shape (r,)
        Stage of each row, an index into ``stage_names``.
    event_timestamp : ndarray of int64, shape (r,)
        Timestamp of each row's event.
    columns : dict of str to ndarray, shape (r,)
        The event fields of each row.
    stage_names : tuple of str
    timeout_timestamp : ndarray of int64, shape (m,) or None
        Window end, for timeouts only.
    """

    keys: np.ndarray
    timestamp: np.ndarray
    offsets: np.ndarray
    stage_code: np.ndarray
    event_timestamp: np.ndarray
    columns: dict[str, np.ndarray]
    stage_names: tuple[str, ...]
    timeout_timestamp: np.ndarray | None = None

    @staticmethod
    def empty(stage_names: Sequence[str], schema: Mapping[str, np.dtype[Any]],
              timeouts: bool = False) -> MatchTable:
        """A table with no matches."""
        i64 = np.empty(0, np.int64)
        return MatchTable(np.empty(0, object), i64, np.zeros(1, np.int64), i64, i64,
                          {k: np.empty(0, v) for k, v in schema.items()}, tuple(stage_names),
                          i64 if timeouts else None)

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])

    @property
    def n_rows(self) -> int:
        """Number of event rows."""
        return int(self.stage_code.shape[0])

    @property
    def match_index(self) -> np.ndarray:
        """Match number of each row (int64, shape (r,))."""
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.offsets))

    @property
    def stage(self) -> np.ndarray:
        """Stage name of each row (object array, shape (r,))."""
        names = np.empty(len(self.stage_names), object)
        names[:] = self.stage_names
        return names[self.stage_code] if self.n_rows else np.empty(0, object)

    def __getitem__(self, i: int) -> Match:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        events: dict[str, list[dict[str, Any]]] = {}
        stamps: dict[str, list[int]] = {}
        cols = {k: v[lo:hi].tolist() for k, v in self.columns.items()}
        codes = self.stage_code[lo:hi].tolist()
        ts = self.event_timestamp[lo:hi].tolist()
        for j, code in enumerate(codes):
            name = self.stage_names[code]
            events.setdefault(name, []).append({k: v[j] for k, v in cols.items()})
            stamps.setdefault(name, []).append(ts[j])
        order = [s for s in self.stage_names if s in events]
        ev = {s: tuple(events[s]) for s in order}
        st = {s: tuple(stamps[s]) for s in order}
        key = self.keys[i]
        key = key.item() if isinstance(key, np.generic) else key
        if self.timeout_timestamp is not None:
            return TimedOutMatch(key, ev, st, int(self.timestamp[i]),
                                 int(self.timeout_timestamp[i]))
        return Match(key, ev, st, int(self.timestamp[i]))

    def __iter__(self) -> Iterator[Match]:
        for i in range(len(self)):
            yield self[i]

    def to_list(self) -> list[Match]:
        """All matches as objects."""
        return list(self)

    @staticmethod
    def concat(tables: Sequence[MatchTable]) -> MatchTable:
        """Concatenate tables with the same stages and columns."""
        if len(tables) == 1:
            return tables[0]
        first = tables[0]
        offs = [np.zeros(1, np.int64)]
        base = 0
        for t in tables:
            offs.append(t.offsets[1:] + base)
            base += t.n_rows
        tt = first.timeout_timestamp is not None
        return MatchTable(
            np.concatenate([t.keys for t in tables]),
            np.concatenate([t.timestamp for t in tables]), np.concatenate(offs),
            np.concatenate([t.stage_code for t in tables]),
            np.concatenate([t.event_timestamp for t in tables]),
            {k: np.concatenate([t.columns[k] for t in tables]) for k in first.columns},
            first.stage_names,
            np.concatenate([t.timeout_timestamp for t in tables
                            if t.timeout_timestamp is not None]) if tt else None)


@dataclass(frozen=True)
class LateEvents:
    """Events that arrived behind the watermark (as Flink's ``sideOutputLateData``), in arrival
    order.

    Attributes
    ----------
    keys : ndarray, shape (l,)
    timestamps : ndarray of int64, shape (l,)
    columns : dict of str to ndarray, shape (l,)
    """

    keys: np.ndarray
    timestamps: np.ndarray
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    def rows(self) -> list[dict[str, Any]]:
        """The late events as dicts of column -> value."""
        cols = {k: v.tolist() for k, v in self.columns.items()}
        return [{k: v[i] for k, v in cols.items()} for i in range(len(self))]

    @staticmethod
    def concat(parts: Sequence[LateEvents]) -> LateEvents:
        """Concatenate in order."""
        if len(parts) == 1:
            return parts[0]
        return LateEvents(np.concatenate([p.keys for p in parts]),
                          np.concatenate([p.timestamps for p in parts]),
                          {k: np.concatenate([p.columns[k] for p in parts])
                           for k in parts[0].columns})


@dataclass(frozen=True)
class CepOutput:
    """Everything one call of :meth:`cep.CepOperator.process` (or ``finish``) emitted.

    Attributes
    ----------
    matches : MatchTable
    timeouts : MatchTable
        Timed-out partial matches (``timeout_timestamp`` set).
    late : LateEvents
    dropped_partial_matches : int
        Partial matches without a window discarded by ``finish()`` (as Flink at end of input).
    """

    matches: MatchTable
    timeouts: MatchTable
    late: LateEvents
    dropped_partial_matches: int = field(default=0)

    @staticmethod
    def concat(parts: Sequence[CepOutput]) -> CepOutput:
        """Concatenate the outputs of consecutive calls."""
        return CepOutput(MatchTable.concat([p.matches for p in parts]),
                         MatchTable.concat([p.timeouts for p in parts]),
                         LateEvents.concat([p.late for p in parts]),
                         sum(p.dropped_partial_matches for p in parts))
