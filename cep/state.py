"""Engine-neutral snapshot form of the CEP operator state.

Both runtimes export and import the same plain-data tree, so a snapshot taken on one engine can
be restored on the other (the tests use that as a cross-check). The tree, stored with
:func:`windows.snapshot.encode_snapshot`:

``events``
    The shared buffer's events: ``id`` (operator-wide arrival index), ``seq`` (position in the
    key's processing order), ``ts``, and ``columns`` (numeric arrays, or lists for other
    dtypes).
``nodes``
    Match-path nodes: ``id``, ``stage``, ``event`` (an event id) and ``parent`` (a node id or
    -1), parents listed before children.
``partials`` / ``completed``
    Per-key partial matches and held-back completed matches, in their list order: ``key``,
    ``state``, ``node``, ``start_ts``, ``prev_ts``, ``start_seq``.
``seqs``
    Per-key processing-order counters (``key``, ``seq``).
``buffered``
    Events waiting for the watermark: ``id``, ``key``, ``ts``, ``atoms`` (boolean values of the
    simple conditions, shape ``(n, n_atoms)``) and ``columns``.
``history`` (reference runtime, patterns with ``PREV`` only; optional)
    The last processed events of each key, oldest first: ``key`` per event and ``columns``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cep.errors import CepSnapshotError
from cep.nfa import NFA

__all__ = ["decode_columns", "encode_columns", "export_state", "import_state", "records"]

_PM_FIELDS = ("key", "state", "node", "start_ts", "prev_ts", "start_seq")


def encode_columns(cols: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Numeric/boolean columns as arrays, others as lists of Python values."""
    out: dict[str, Any] = {}
    for k, v in cols.items():
        if v.dtype.kind in "biuf":
            out[k] = np.ascontiguousarray(v)
        else:
            values = v.tolist()
            for x in values:
                if not (x is None or isinstance(x, (str, int, float, bool, bytes))):
                    raise CepSnapshotError(f"column {k!r} holds a {type(x).__name__}, which "
                                           "cannot be snapshotted")
            out[k] = values
    return out


def decode_columns(obj: Mapping[str, Any], schema: Mapping[str, np.dtype[Any]],
                   n: int) -> dict[str, np.ndarray]:
    """Inverse of :func:`encode_columns` with the operator's schema."""
    out = {}
    for k, dt in schema.items():
        v = obj[k]
        arr = np.empty(n, dt)
        if isinstance(v, np.ndarray):
            arr[:] = v.astype(dt, copy=False)
        else:
            arr[:] = list(v)
        out[k] = arr
    return out


def records(n: int, **fields: Any) -> dict[str, np.ndarray]:
    """Int64 arrays of length ``n`` for each field (helper for the runtimes)."""
    out = {}
    for k, v in fields.items():
        arr = np.asarray(v, np.int64).reshape(-1)
        if arr.shape[0] != n:
            raise CepSnapshotError(f"field {k!r} has {arr.shape[0]} entries, expected {n}")
        out[k] = arr
    return out


def export_state(runtime: Any, nfa: NFA,
                 schema: Mapping[str, np.dtype[Any]]) -> dict[str, Any]:
    """The runtime's state as the plain-data tree described above."""
    state: dict[str, Any] = runtime.export_state(schema)
    state["n_atoms"] = len(nfa.atoms)
    return state


def import_state(runtime: Any, nfa: NFA, state: Mapping[str, Any],
                 schema: Mapping[str, np.dtype[Any]]) -> None:
    """Load a tree from :func:`export_state` into a fresh runtime.

    Raises
    ------
    CepSnapshotError
        If the tree is malformed.
    """
    try:
        if int(state["n_atoms"]) != len(nfa.atoms):
            raise CepSnapshotError("the snapshot has another number of conditions")
        for part in ("partials", "completed"):
            for f in _PM_FIELDS:
                np.asarray(state[part][f], np.int64)
        runtime.import_state(state, schema)
    except CepSnapshotError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CepSnapshotError(f"malformed CEP snapshot: {exc!r}") from exc
