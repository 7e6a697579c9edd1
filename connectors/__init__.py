"""cepkit I/O layer: files, datasets, Kafka, the runtime loop and the ``cep`` command line."""

__all__: list[str] = []
