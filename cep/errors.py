"""Exceptions raised by the :mod:`cep` package.

Exception tree::

    CepError                                   (base of everything raised here)
    ├── MalformedPatternError (ValueError)     a pattern that cannot be compiled: duplicate or
    │                                          invalid stage names, a quantifier or option in a
    │                                          place it does not apply, ``until`` on a stage that
    │                                          does not loop, ``not_followed_by`` ending a
    │                                          pattern without ``within``, an optional stage
    │                                          before a negation, ... (as Flink's
    │                                          ``MalformedPatternException``); raised when the
    │                                          pattern is built or compiled, never while it runs
    ├── ConditionError (RuntimeError)          a user condition raised, or returned something
    │                                          that is not a boolean array/value of the right
    │                                          shape (the original exception is chained)
    ├── SkipToElementError (RuntimeError)      a skip-to-element strategy with
    │                                          ``throw_exception_on_miss()`` met a match
    │                                          without an event for its stage, or a skip to
    │                                          the match's first event
    ├── EngineUnavailableError (ValueError)    the Numba fast path was requested for a pattern
    │                                          it cannot run (iterative conditions)
    ├── CepSchemaError (windows SchemaError)   a column the operator needs is missing
    └── CepSnapshotError (windows SnapshotError)
                                               a snapshot that is corrupt, of another format
                                               version, or of another pattern / configuration

``CepSchemaError`` and ``CepSnapshotError`` also derive from the :mod:`windows` exceptions of the
same meaning (which are ``KeyError`` and ``ValueError`` respectively), so one ``except`` clause
can handle both layers.
"""

from __future__ import annotations

from windows.errors import SchemaError, SnapshotError

__all__ = [
    "CepError",
    "CepSchemaError",
    "CepSnapshotError",
    "ConditionError",
    "EngineUnavailableError",
    "MalformedPatternError",
    "SkipToElementError",
]


class CepError(Exception):
    """Base class of every exception raised by :mod:`cep`."""


class MalformedPatternError(CepError, ValueError):
    """A pattern definition that cannot work (as Flink CEP's ``MalformedPatternException``).

    The message names the offending stage (and its position in the pattern) where there is one.
    """


class ConditionError(CepError, RuntimeError):
    """A user condition failed or returned a value of the wrong type or shape."""


class SkipToElementError(CepError, RuntimeError):
    """``throw_exception_on_miss`` was set and a skip-to-element strategy could not skip."""


class EngineUnavailableError(CepError, ValueError):
    """The requested engine cannot run this pattern (e.g. the fast path and iterative
    conditions)."""


class CepSchemaError(CepError, SchemaError):
    """A batch lacks a column the operator was configured to read."""


class CepSnapshotError(CepError, SnapshotError):
    """A snapshot that cannot be restored into this operator."""
