"""Every ```python block of docs/pattern-api.md runs (in order, in one namespace)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "pattern-api.md"


def test_doc_code_blocks_run() -> None:
    text = DOC.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 10
    namespace: dict[str, object] = {"__name__": "pattern_api_doc"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"{DOC.name}[block {i}]", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"block {i} of {DOC.name} failed: {exc!r}\n{block}") from exc
