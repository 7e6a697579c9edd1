"""The ``python`` code blocks of README.md and docs/*.md run without error. The blocks of one
file run in order in one interpreter, as a reader would run them top to bottom."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FILES = [(p, re.findall(r"```python\n(.*?)```", p.read_text(), re.S)) for p in DOCS]
FILES = [(p, blocks) for p, blocks in FILES if blocks]


@pytest.mark.parametrize(("path", "blocks"), FILES, ids=[p.name for p, _ in FILES])
def test_doc_examples_run(path: Path, blocks: list[str]) -> None:
    code = "".join(f"# --- block {i}\n{b}\n" for i, b in enumerate(blocks))
    result = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{path.name} examples failed:\n{result.stderr}"


def test_docs_have_examples() -> None:
    assert {p.name for p, _ in FILES} >= {"README.md", "windows.md", "pattern-api.md"}


SQL = [(p, i, b) for p in DOCS for i, b in
       enumerate(re.findall(r"```sql\n(.*?)```", p.read_text(), re.S))]
RULE_FILES = sorted((ROOT / "examples").rglob("*.sql"))


@pytest.mark.parametrize(("path", "index", "sql"), SQL,
                         ids=[f"{p.name}#{i}" for p, i, _ in SQL])
def test_doc_sql_examples_compile(path: Path, index: int, sql: str) -> None:
    from cep.sql import check_rules

    errors = check_rules(sql, source=f"{path.name} sql block {index}")
    assert not errors, "\n".join(map(str, errors))


@pytest.mark.parametrize("path", RULE_FILES, ids=[p.name for p in RULE_FILES])
def test_example_rule_files_pass_cep_check(path: Path) -> None:
    from connectors.cli import main

    assert main(["check", str(path)]) == 0


def test_there_are_sql_examples() -> None:
    assert len(SQL) >= 2 and len(RULE_FILES) >= 3


TOML = [(p, i, b) for p in DOCS for i, b in
        enumerate(re.findall(r"```toml\n(.*?)```", p.read_text(), re.S))]


@pytest.mark.parametrize(("path", "index", "text"), TOML,
                         ids=[f"{p.name}#{i}" for p, i, _ in TOML])
def test_doc_toml_examples_parse(path: Path, index: int, text: str) -> None:
    """Every TOML block is valid TOML; a whole job (with [source]) is a valid job, its rule
    files resolved as in examples/fraud/; a [schema] alone is a valid schema."""
    import tomllib

    from connectors.jobfile import parse_job
    from connectors.schema import Schema

    doc = tomllib.loads(text)
    if "source" in doc:
        job = parse_job(doc, path=ROOT / "examples" / "fraud" / "job.toml")
        assert job.rules or job.windows
    elif "schema" in doc:
        assert Schema.from_dict(doc["schema"]).names
    else:
        assert doc
