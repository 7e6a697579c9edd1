"""The whole-job part of the CEP benchmark: ``cep run`` on a job file over a CSV file.

Used by ``bench/bench_cep.py``. The synthetic transactions of the operator benchmark are written
once to a CSV file (not timed); a separate process then runs the job as a user would
(``cep run JOB --progress off``: interpreter start, imports, reading and parsing the CSV file,
watermarks, the MATCH_RECOGNIZE rule, writing the matches). Its wall time, CPU time and peak
RSS are measured by a small launcher process (this file with ``--launch``) that starts it and
collects its resource usage with ``os.wait4``: Linux keeps a process's peak RSS across
``exec``, so a child forked directly from the benchmark (which holds the whole stream in
memory) would report the benchmark's own size. The W2 rule is the MATCH_RECOGNIZE form of the
operator benchmark's W2 pattern; its matches are compared with the operator's.

The stress pattern has no MATCH_RECOGNIZE form: row pattern matching is strictly contiguous
(rows of a partition in order), so ``followed_by_any`` (skip till any match, every combination
of the ``b`` events) cannot be written in SQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["W2_SQL", "cep_command", "read_spans", "run_job", "write_csv", "write_job"]

W2_SQL = """\
SELECT * FROM tx MATCH_RECOGNIZE (
    PARTITION BY card
    ORDER BY ts
    MEASURES small.ts AS small_ts, large.ts AS large_ts, large.amount AS large_amount
    ONE ROW PER MATCH
    AFTER MATCH SKIP PAST LAST ROW
    PATTERN (small middle*? large) WITHIN INTERVAL '10' MINUTE
    DEFINE small AS small.amount < 1, large AS large.amount > 500
) AS w2
"""

JOB_TOML = '''\
[job]
name = "w2"
batch_size = {batch_size}

[source]
path = "{csv}"

[schema]
event_time = "ts"

[schema.columns]
ts = "int64"
card = "int64"
amount = "float64"

[watermarks]
max_out_of_orderness = "5s"

[[rules]]
sql = """
{sql}"""

[[sinks]]
path = "out/{{output}}.jsonl"
'''


def write_csv(path: Path, batches: Iterable[dict[str, np.ndarray]]) -> int:
    """Write the stream (arrival order) as ``ts,card,amount`` lines; amounts in Python's
    shortest round-trip form so the rule sees exactly the operator's values. Returns the
    number of records."""
    n = 0
    with open(path, "w", encoding="ascii") as f:
        f.write("ts,card,amount\n")
        for b in batches:
            f.write("".join(f"{t},{c},{a!r}\n" for t, c, a in zip(
                b["ts"].tolist(), b["card"].tolist(), b["amount"].tolist(), strict=True)))
            n += len(b["ts"])
    return n


def write_job(folder: Path, csv_name: str, batch_size: int) -> Path:
    """The job file (W2 as MATCH_RECOGNIZE, 5 s bounded out-of-orderness, JSON-lines sink)."""
    path = folder / "w2.toml"
    path.write_text(JOB_TOML.format(batch_size=batch_size, csv=csv_name, sql=W2_SQL))
    return path


def cep_command() -> list[str]:
    """The ``cep`` console script of this interpreter (not a version-manager shim, whose own
    start-up would be timed too), or ``python -m connectors.cli``."""
    exe = Path(sys.executable).with_name("cep")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "connectors.cli"]


def run_job(job: Path, input_csv: Path | None = None) -> dict[str, Any]:
    """Run ``cep run JOB --progress off`` in a child process (``PYTHONPATH`` = the checkout);
    return its wall time, CPU time (user + system), peak RSS (MB) and exit status."""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    cmd = [*cep_command(), "run", str(job), "--progress", "off"]
    if input_csv is not None:
        cmd += ["--input", str(input_csv)]
    log = job.parent / "run.log"
    res = subprocess.run([sys.executable, __file__, "--launch", str(log), *cmd],
                         cwd=job.parent, env=env, capture_output=True, text=True, check=True)
    out = dict(json.loads(res.stdout.strip().splitlines()[-1]))
    if out["status"] != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out['status']}):\n{log.read_text()}")
    return out


def _launch(log: str, cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd`` (output to ``log``) and return its wall time, CPU time, peak RSS (MB,
    ``ru_maxrss``: this small process's size at the fork, or the command's own peak) and exit
    status."""
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=out)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    return {"seconds": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024, "status": os.waitstatus_to_exitcode(status)}


def read_spans(path: Path) -> set[tuple[int, int, int]]:
    """(card, first, last) of every match in the rule's JSON-lines output."""
    spans = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            spans.add((int(row["card"]), int(row["small_ts"]), int(row["large_ts"])))
    return spans


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--launch":
        print(json.dumps(_launch(sys.argv[2], sys.argv[3:])))
    else:
        sys.exit(__doc__)
