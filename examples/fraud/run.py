"""Fraud rules on real data: the job in ``job.toml`` over UCI Online Retail II.

Four rules run in one pass over 1,067,371 invoice lines (fetched into the cache on first use):
purchase then cancellation within 60 minutes, small then large purchase within 10 minutes,
escalating purchases (PREV in DEFINE), and a window rule (three or more cancelled lines in 30
minutes). Alerts are written to ``OUT/alerts.jsonl``, late records to ``OUT/late.jsonl``.

Run: ``cep example fraud [--out DIR] [--batch-size N]`` (default ``DIR``: ``fraud-out``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from connectors.jobfile import load_job
from connectors.localrun import run_local
from connectors.progress import LiveProgress, print_summary

JOB = Path(__file__).resolve().parent / "job.toml"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cep example fraud", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("fraud-out"), help="output folder")
    ap.add_argument("--batch-size", type=int, default=None)
    ns = ap.parse_args(argv)
    job = load_job(JOB)
    out = ns.out.resolve()
    job = replace(job, sinks=tuple(replace(s, path=str(out / Path(s.path).name))
                                   for s in job.sinks),
                  dead_letters=str(out / "dead_letters.jsonl"))
    console = Console()
    console.print(f"[bold]{job.name}[/bold]: 3 MATCH_RECOGNIZE rules and 1 window rule over "
                  "UCI Online Retail II (CC BY 4.0)")
    with LiveProgress(job.name, enabled=sys.stderr.isatty()) as live:
        summary = run_local(job, batch_size=ns.batch_size,
                            progress=live.update if live.enabled else None)
    print_summary(job.name, summary)
    alerts = out / "alerts.jsonl"
    if alerts.is_file():
        samples: dict[str, list[dict[str, object]]] = {}
        for line in alerts.read_bytes().splitlines():
            row = orjson.loads(line)
            samples.setdefault(str(row["output"]), []).append(row)
        for name, rows in samples.items():
            t = Table(title=f"{name}: first alerts of {len(rows):,}")
            cols = [c for c in rows[0] if c != "output"]
            for c in cols:
                t.add_column(c)
            for r in rows[:3]:
                t.add_row(*(str(r[c]) for c in cols))
            console.print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
