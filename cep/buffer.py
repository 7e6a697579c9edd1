"""The shared buffer of the reference engine (as Flink CEP's ``SharedBuffer``).

Each event that some partial match has taken is stored **once** (with its timestamp, its
position in the key's processing order and its field values). Match paths are stored as nodes
``(stage, event, parent)``: a partial match points at the last node of *its* version of the
path, and partial matches that branched from a common prefix share the prefix nodes, so
extending one branch never copies or disturbs another (Flink gets the same effect with Dewey
version numbers on a node graph). Nodes and events are reference counted and freed as soon as
no partial match, pending match or later node refers to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SharedBuffer", "StoredEvent"]


class StoredEvent:
    """An event held by the buffer: ``seq`` (position in its key's processing order), ``ts``
    (epoch ms), ``row`` (field name -> value), ``refs`` (number of nodes using it)."""

    __slots__ = ("refs", "row", "seq", "ts")

    def __init__(self, seq: int, ts: int, row: Mapping[str, Any]) -> None:
        self.seq = seq
        self.ts = ts
        self.row = row
        self.refs = 0


class _Node:
    __slots__ = ("event", "parent", "refs", "stage")

    def __init__(self, stage: int, event: int, parent: int) -> None:
        self.stage = stage
        self.event = event
        self.parent = parent
        self.refs = 0


class SharedBuffer:
    """Events stored once, plus reference-counted path nodes (see the module docstring).

    Event ids are chosen by the caller (unique per operator); node ids are assigned here.
    """

    def __init__(self) -> None:
        self.events: dict[int, StoredEvent] = {}
        self.nodes: dict[int, _Node] = {}
        self._next_node = 0

    def __len__(self) -> int:
        return len(self.events)

    def put(self, stage: int, event_id: int, seq: int, ts: int, row: Mapping[str, Any],
            parent: int) -> int:
        """Create a node taking event ``event_id`` into ``stage`` after node ``parent``
        (``-1`` for the first event); store the event if it is new. Returns the node id, with
        no reference yet (call :meth:`lock`)."""
        ev = self.events.get(event_id)
        if ev is None:
            ev = self.events[event_id] = StoredEvent(seq, ts, row)
        ev.refs += 1
        nid = self._next_node
        self._next_node += 1
        self.nodes[nid] = _Node(stage, event_id, parent)
        if parent >= 0:
            self.nodes[parent].refs += 1
        return nid

    def lock(self, node: int) -> None:
        """Add a reference to ``node`` (no-op for ``-1``)."""
        if node >= 0:
            self.nodes[node].refs += 1

    def release(self, node: int) -> None:
        """Drop a reference to ``node``; free it, its event and its ancestors as they become
        unreferenced."""
        while node >= 0:
            nd = self.nodes[node]
            nd.refs -= 1
            if nd.refs > 0:
                return
            del self.nodes[node]
            ev = self.events[nd.event]
            ev.refs -= 1
            if ev.refs == 0:
                del self.events[nd.event]
            node = nd.parent

    def path(self, node: int) -> list[tuple[int, int]]:
        """``(stage, event id)`` pairs from the first to the last event of the path."""
        out: list[tuple[int, int]] = []
        while node >= 0:
            nd = self.nodes[node]
            out.append((nd.stage, nd.event))
            node = nd.parent
        out.reverse()
        return out

    def clear(self) -> None:
        """Drop everything."""
        self.events.clear()
        self.nodes.clear()
