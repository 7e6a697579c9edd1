"""Exceptions raised by the :mod:`windows` package.

Exception tree::

    WindowError                              (base of everything raised here)
    ├── InvalidWindowConfigError (ValueError) a window/trigger/lateness combination or
    │                                         parameter that cannot work; raised when the
    │                                         operator is built, never while it runs
    ├── InvalidDurationError (ValueError)     a duration that is neither timedelta nor int ms,
    │                                         or is out of range
    ├── SchemaError (KeyError)                a column the operator needs is missing from a batch
    └── SnapshotError (ValueError)            a snapshot that is corrupt, of another version,
                                              or of another operator configuration
"""

from __future__ import annotations

__all__ = [
    "InvalidDurationError",
    "InvalidWindowConfigError",
    "SchemaError",
    "SnapshotError",
    "WindowError",
]


class WindowError(Exception):
    """Base class of every exception raised by :mod:`windows`."""


class InvalidWindowConfigError(WindowError, ValueError):
    """An assigner, trigger, aggregation or lateness setting that cannot work."""


class InvalidDurationError(WindowError, ValueError):
    """A duration that is not a ``timedelta`` or an ``int`` of milliseconds, or out of range."""


class SchemaError(WindowError, KeyError):
    """A batch lacks a column the operator was configured to read."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class SnapshotError(WindowError, ValueError):
    """A snapshot that cannot be restored: corrupt, another version or another configuration."""
