"""Running a job over a file: window results against an independent computation, dead
letters, late records, deterministic replay whatever the batch size, and the ``cep`` command."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from connectors.cli import main
from connectors.jobfile import SinkSpec, load_job
from connectors.localrun import run_local

N = 3000
DELAY = 2000
SIZE = 10_000


def make_input(tmp_path: Path, seed: int = 7) -> tuple[Path, list[tuple[int, str, float]], int]:
    """A CSV of card transactions, out of order by up to 5 s (some later than the 2 s
    watermark delay), with malformed lines mixed in. Returns the path, the good rows in
    input order and the number of bad lines."""
    rng = np.random.default_rng(seed)
    base = 1_700_000_000_000 + np.arange(N) * 37
    ts = base - rng.integers(0, 5000, N) * (rng.random(N) < 0.2)
    cards = rng.choice(["a", "b", "c", "d,e"], N)
    amounts = np.round(rng.random(N) * 100, 2)
    lines = ["ts,card,amount"]
    good = []
    bad = 0
    for i in range(N):
        if i % 211 == 5:
            lines.append(f"{ts[i]},{cards[i]},not-a-number")
            bad += 1
            continue
        if i % 307 == 9:
            lines.append(f",{cards[i]},1.0")
            bad += 1
            continue
        card = f'"{cards[i]}"' if "," in cards[i] else cards[i]
        lines.append(f"{ts[i]},{card},{amounts[i]}")
        good.append((int(ts[i]), str(cards[i]), float(amounts[i])))
    p = tmp_path / "in.csv"
    p.write_text("\n".join(lines) + "\n")
    return p, good, bad


JOB = """
[job]
name = "t"
batch_size = 500
[source]
path = "in.csv"
[schema]
event_time = "ts"
[schema.columns]
ts = "int64"
card = "string"
amount = "float64"
[watermarks]
max_out_of_orderness = 2000
[[windows]]
name = "per_card"
key = "card"
size = 10000
aggregates = { n = "count(*)", total = "sum(amount)", top = "max(amount)" }
[[sinks]]
path = "out/{output}.jsonl"
outputs = ["per_card", "late"]
[dead_letters]
path = "out/dead.jsonl"
"""


def lateness(good: list[tuple[int, str, float]]) -> np.ndarray:
    """Which rows are late: at or behind the bounded-out-of-orderness watermark (max seen
    minus delay minus 1 ms, Flink's rule) before them; windows have no allowed lateness, so a
    row is dropped when its window's end - 1 is at or behind that watermark."""
    ts = np.array([g[0] for g in good])
    wm = np.maximum.accumulate(ts) - DELAY - 1
    before = np.concatenate([[np.iinfo(np.int64).min], wm[:-1]])
    end = (ts // SIZE) * SIZE + SIZE
    return end - 1 <= before


def read_jsonl(p: Path) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in p.read_bytes().splitlines()]


def test_windows_job_against_independent_group_by(tmp_path: Path) -> None:
    _, good, bad = make_input(tmp_path)
    (tmp_path / "job.toml").write_text(JOB)
    summary = run_local(load_job(tmp_path / "job.toml"))
    late = lateness(good)
    assert 0 < late.sum() < len(good) // 5
    expect: dict[tuple[str, int], list[float]] = {}
    for (t, card, amount), is_late in zip(good, late, strict=True):
        if not is_late:
            expect.setdefault((card, t // SIZE * SIZE), []).append(amount)
    rows = read_jsonl(tmp_path / "out" / "per_card.jsonl")
    got = {(r["card"], r["window_start"]): r for r in rows}
    assert len(got) == len(rows) == len(expect)
    for k, amounts in expect.items():
        r = got[k]
        assert r["n"] == len(amounts) and r["timing"] == "on_time"
        assert r["total"] == pytest.approx(sum(amounts)) and r["top"] == max(amounts)
        assert r["window_end"] == k[1] + SIZE
    late_rows = read_jsonl(tmp_path / "out" / "per_card.late.jsonl")
    assert sorted((r["ts"], r["card"]) for r in late_rows) == sorted(
        (g[0], g[1]) for g, is_late in zip(good, late, strict=True) if is_late)
    assert summary.records == len(good)
    assert summary.outputs == {"per_card": len(rows), "per_card.late": int(late.sum())}
    dead = read_jsonl(tmp_path / "out" / "dead.jsonl")
    assert summary.dead_letters == len(dead) == bad
    assert all(d["reason"] for d in dead)
    assert {d["position"] for d in dead} == (
        {i + 2 for i in range(N) if i % 211 == 5 or i % 307 == 9})
    assert any("amount" in str(d["reason"]) for d in dead)
    assert any("ts" in str(d["reason"]) for d in dead)


@pytest.mark.parametrize("where", ["card = 'a'", "amount > 50"])
def test_where_filter_keeps_lateness_of_the_full_stream(tmp_path: Path, where: str) -> None:
    _, good, _ = make_input(tmp_path, seed=3)
    text = JOB.replace('key = "card"', f'key = "card"\nwhere = "{where}"')
    (tmp_path / "job.toml").write_text(text)
    run_local(load_job(tmp_path / "job.toml"))
    late = lateness(good)
    keep = [(g[1] == "a") if "card" in where else (g[2] > 50) for g in good]
    expect = Counter((g[1], g[0] // SIZE * SIZE) for g, k, is_late in
                     zip(good, keep, late, strict=True) if k and not is_late)
    rows = read_jsonl(tmp_path / "out" / "per_card.jsonl")
    assert Counter({(r["card"], r["window_start"]): r["n"] for r in rows}) == expect
    late_rows = read_jsonl(tmp_path / "out" / "per_card.late.jsonl")
    assert len(late_rows) == sum(1 for k, is_late in zip(keep, late, strict=True)
                                 if k and is_late)


def test_having_filters_results(tmp_path: Path) -> None:
    make_input(tmp_path)
    having = 'size = 10000\nhaving = "n >= 70 AND top > 90"'
    (tmp_path / "job.toml").write_text(JOB.replace("size = 10000", having))
    run_local(load_job(tmp_path / "job.toml"))
    rows = read_jsonl(tmp_path / "out" / "per_card.jsonl")
    assert rows and all(r["n"] >= 70 and r["top"] > 90 for r in rows)
    (tmp_path / "job.toml").write_text(JOB)
    run_local(load_job(tmp_path / "job.toml"))
    allrows = read_jsonl(tmp_path / "out" / "per_card.jsonl")
    assert len(rows) == sum(1 for r in allrows if r["n"] >= 70 and r["top"] > 90) < len(allrows)


def test_replay_is_byte_identical_whatever_the_batch_size(tmp_path: Path) -> None:
    make_input(tmp_path)
    (tmp_path / "job.toml").write_text(JOB.replace('key = "card"', 'key = ["card"]'))
    outs = []
    for bs in (1, 7, 500, 100_000):
        out = tmp_path / f"r{bs}.jsonl"
        assert main(["replay", str(tmp_path / "job.toml"), "--batch-size", str(bs),
                     "--output", str(out)]) == 0
        outs.append(out.read_bytes())
    assert outs[0] and all(o == outs[0] for o in outs)
    names = Counter(orjson.loads(x)["output"] for x in outs[0].splitlines())
    assert set(names) == {"per_card", "per_card.late"}


def test_streaming_run_gives_the_same_rows(tmp_path: Path) -> None:
    make_input(tmp_path)
    (tmp_path / "job.toml").write_text(JOB)
    job = load_job(tmp_path / "job.toml")
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    run_local(replace(job, sinks=(SinkSpec(str(a), "jsonl", ("*",)),)), batch_size=13)
    run_local(replace(job, sinks=(SinkSpec(str(b), "jsonl", ("*",)),)), batch_size=1000,
              deterministic=True)
    assert sorted(a.read_bytes().splitlines()) == sorted(b.read_bytes().splitlines())


def test_cli_run_exit_codes_and_summary(tmp_path: Path) -> None:
    make_input(tmp_path)
    (tmp_path / "job.toml").write_text(JOB)
    ok = subprocess.run([sys.executable, "-m", "connectors.cli", "run",
                         str(tmp_path / "job.toml"), "--progress", "off"],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert "records" in ok.stdout and "dead letters" in ok.stdout
    (tmp_path / "bad.toml").write_text(JOB.replace('size = 10000', 'size = "ten"'))
    bad = subprocess.run([sys.executable, "-m", "connectors.cli", "run",
                          str(tmp_path / "bad.toml")], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2
    assert "size" in bad.stderr and "bad.toml" in bad.stderr
    (tmp_path / "missing.toml").write_text(JOB.replace('path = "in.csv"', 'path = "no.csv"'))
    gone = subprocess.run([sys.executable, "-m", "connectors.cli", "run",
                           str(tmp_path / "missing.toml")], capture_output=True, text=True,
                          timeout=300)
    assert gone.returncode == 1 and "no.csv" in gone.stderr


RULE_JOB = """
[job]
name = "t"
[source]
path = "{path}"
[schema]
event_time = "ts"
[schema.columns]
ts = "int64"
card = "string"
[[rules]]
sql = '''SELECT * FROM t MATCH_RECOGNIZE (PARTITION BY card ORDER BY ts
         PATTERN (A B) DEFINE A AS A.{col} > 1) AS r'''
[[sinks]]
path = "out/{{output}}.jsonl"
"""


def _reader_threads() -> list[str]:
    import threading
    return [t.name for t in threading.enumerate() if t.name == "cep-reader"]


def test_rule_errors_win_over_input_errors_and_stop_the_reader(tmp_path: Path) -> None:
    from cep.sql import RuleError

    (tmp_path / "missing.toml").write_text(RULE_JOB.format(path="no.csv", col="nope"))
    with pytest.raises(RuleError, match="nope"):  # as before: the job's error first
        run_local(load_job(tmp_path / "missing.toml"))
    (tmp_path / "in.csv").write_text("ts,card\n" + "".join(f"{i},a\n" for i in range(5000)))
    (tmp_path / "bad.toml").write_text(RULE_JOB.format(path="in.csv", col="nope"))
    with pytest.raises(RuleError, match="nope"):  # the reader had started: it is stopped
        run_local(load_job(tmp_path / "bad.toml"), batch_size=10)
    assert _reader_threads() == []
    (tmp_path / "ok.toml").write_text(RULE_JOB.format(path="no.csv", col="ts"))
    with pytest.raises(FileNotFoundError, match=r"no\.csv"):
        run_local(load_job(tmp_path / "ok.toml"))


def test_read_error_in_the_middle_is_raised_after_the_batches_before_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    import connectors._textparse

    monkeypatch.setattr(connectors._textparse, "_READ_SIZE", 4096)

    text = "ts,card\n" + "".join(f"{i},a\n" for i in range(20_000))
    data = gzip.compress(text.encode())
    (tmp_path / "in.csv.gz").write_bytes(data[:len(data) // 2])  # truncated stream
    (tmp_path / "job.toml").write_text(RULE_JOB.format(path="in.csv.gz", col="ts"))
    seen: list[int] = []
    with pytest.raises(EOFError):
        run_local(load_job(tmp_path / "job.toml"), batch_size=1000,
                  progress=lambda s, wm: seen.append(s.records))
    assert seen and seen == sorted(seen) and seen[0] == 1000
    assert _reader_threads() == []


def test_cli_imports_numba_only_after_starting_the_reader() -> None:
    code = ("import sys, connectors.cli, connectors.localrun, connectors.jobfile, "
            "connectors.progress, windows, windows.errors, windows.time; "
            "bad = [m for m in ('numba', 'sqlglot', 'pyarrow.parquet', 'cep') "
            "if m in sys.modules]; assert not bad, bad; "
            "from windows import WindowOperator, WatermarkStrategy; "
            "assert 'numba' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
