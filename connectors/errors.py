"""Exceptions raised by the file and data-set parts of :mod:`connectors`.

Exception tree::

    ConnectorError                               (base of everything raised here)
    ├── DatasetUnavailableError (OSError)        a real data set is neither in the cache nor
    │                                            fetchable from the package registry; the
    │                                            message says what was tried and where to
    │                                            place the file by hand
    ├── DatasetCorruptError (ValueError)         a cached or downloaded data set whose content
    │                                            is not what was expected (checksum, row count)
    ├── SchemaDefinitionError (ValueError)       a schema description that cannot work (unknown
    │                                            type, bad option, event-time column missing);
    │                                            raised when the schema is built
    ├── SourceFormatError (ValueError)           a file whose layout cannot match the schema as
    │                                            a whole (header lacks a column, unknown file
    │                                            kind, a column of an unconvertible type);
    │                                            raised when the source is opened, before any
    │                                            batch is produced
    ├── BrokerUnavailableError (OSError)         the embedded broker cannot start, or no Kafka
    │                                            broker answers
    ├── JobFileError (ValueError)                a job file (TOML) that cannot be read or names
    │                                            something invalid; raised before any input
    │                                            is read, naming the file and the key
    ├── KafkaJobError (RuntimeError)             a Kafka job cannot go on (fatal client error,
    │                                            producer fenced by a newer instance)
    └── CheckpointError (ValueError)             a checkpoint on the checkpoint topic that is
                                                 missing, corrupt or from another job

A single record that does not fit the schema never raises: it becomes a
:class:`connectors.files.DeadLetter`.
"""

from __future__ import annotations

__all__ = [
    "BrokerUnavailableError",
    "CheckpointError",
    "ConnectorError",
    "DatasetCorruptError",
    "DatasetUnavailableError",
    "JobFileError",
    "KafkaJobError",
    "SchemaDefinitionError",
    "SourceFormatError",
]


class ConnectorError(Exception):
    """Base class of every exception raised by :mod:`connectors`."""


class DatasetUnavailableError(ConnectorError, OSError):
    """A data set is not cached and could not be fetched from the package registry."""


class DatasetCorruptError(ConnectorError, ValueError):
    """A data set file whose checksum or content is not the expected one."""


class SchemaDefinitionError(ConnectorError, ValueError):
    """A schema (or its dict form) that is invalid: unknown type or option, bad fill value,
    an event-time or key column that is not a field."""


class SourceFormatError(ConnectorError, ValueError):
    """A file that cannot be read with the schema at all (missing column, wrong kind)."""


class BrokerUnavailableError(ConnectorError, OSError):
    """The embedded broker could not be started, or no Kafka broker answered."""


class JobFileError(ConnectorError, ValueError):
    """A job file that cannot be read, is not valid TOML, or names an invalid or unknown
    setting. The message names the file and the offending table or key."""


class KafkaJobError(ConnectorError, RuntimeError):
    """A Kafka job cannot go on: a fatal producer or consumer error (e.g. the producer was
    fenced by a newer instance with the same transactional id), or a checkpoint that cannot
    be read back."""


class CheckpointError(ConnectorError, ValueError):
    """A checkpoint record on the checkpoint topic that is missing, corrupt or belongs to a
    differently configured job."""
