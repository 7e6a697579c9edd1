"""cepkit I/O layer: real data sets, schemas, file sources and sinks, dead letters, the
``cep`` command line, and (in their own modules, imported on demand) the Kafka connectors.

``import connectors`` does not import confluent-kafka; ``connectors.kafka_source``,
``connectors.kafka_sink`` and ``connectors.runtime`` do.
"""

from connectors.batches import Batch, DeadLetter, collect
from connectors.errors import (
    ConnectorError,
    DatasetCorruptError,
    DatasetUnavailableError,
    SchemaDefinitionError,
    SourceFormatError,
)
from connectors.files import decode_json_records, read_csv, read_file, read_json_lines, read_parquet
from connectors.filesinks import (
    CsvSink,
    DeadLetterWriter,
    JsonLinesSink,
    StdoutSink,
    write_csv,
    write_json_lines,
)
from connectors.schema import Field, Schema

__all__ = [
    "Batch",
    "ConnectorError",
    "CsvSink",
    "DatasetCorruptError",
    "DatasetUnavailableError",
    "DeadLetter",
    "DeadLetterWriter",
    "Field",
    "JsonLinesSink",
    "Schema",
    "SchemaDefinitionError",
    "SourceFormatError",
    "StdoutSink",
    "collect",
    "decode_json_records",
    "read_csv",
    "read_file",
    "read_json_lines",
    "read_parquet",
    "write_csv",
    "write_json_lines",
]
