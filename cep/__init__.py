"""cepkit pattern layer (being built)."""

__all__: list[str] = []
