"""The ``cep`` command line.

Subcommands (``docs/cli.md`` has the reference):

* ``cep run JOB``: run a job file (file source now; Kafka when the job has ``[kafka]``), with a
  live progress display on a terminal and a summary at the end;
* ``cep replay JOB``: replay the job's input (or ``--input FILE``) at full speed with
  deterministic output;
* ``cep check FILE...``: validate rule files (``.sql``) and job files (``.toml``), reporting
  every error;
* ``cep broker``: run the embedded Kafka-protocol broker (dev extra);
* ``cep example NAME``: run a bundled example on real data (``fraud``, ``flights``).

Exit status: 0 on success, 1 when the input cannot be read or the run fails, 2 for invalid
job files, rules or arguments.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["main"]

_EXAMPLES = {"flights": "flights/departures_per_hour.py", "fraud": "fraud/run.py"}
EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def _examples_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "examples"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cep", description="cepkit: complex event processing "
                                     "and event-time windows with Flink semantics")
    parser.add_argument("--version", action="version",
                        version=f"cepkit {metadata.version('cepkit')}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a job file")
    run.add_argument("job", type=Path, help="the job file (TOML)")
    run.add_argument("--input", type=Path, help="read this file instead of the job's source")
    run.add_argument("--batch-size", type=int, help="records per micro-batch")
    run.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                     help="live progress display on stderr (auto: when stderr is a terminal)")
    run.add_argument("--max-seconds", type=float,
                     help="Kafka jobs: stop after this long (default: run until interrupted)")
    run.add_argument("--worker-id", help="Kafka jobs: this worker's id (distinct per worker "
                     "process, stable across its restarts)")
    rep = sub.add_parser("replay", help="replay a file through a job's rules, deterministically")
    rep.add_argument("job", type=Path, help="the job file (TOML) giving schema and rules")
    rep.add_argument("--input", type=Path, help="read this file instead of the job's source")
    rep.add_argument("--output", help="write every output (late records included) here as "
                     "JSON lines ('-' for stdout) instead of the job's sinks")
    rep.add_argument("--batch-size", type=int, help="records per micro-batch")
    rep.add_argument("--start", help="Kafka jobs: first offset, or record time (epoch ms or "
                     "ISO-8601 with zone) of the range; default: the beginning")
    rep.add_argument("--end", help="Kafka jobs: end of the range (offset exclusive, or record "
                     "time); default: the current end of each partition")
    chk = sub.add_parser("check", help="validate rule files (.sql) and job files (.toml)")
    chk.add_argument("files", nargs="+", type=Path)
    chk.add_argument("--job", type=Path, help="check rule files against this job's schema")
    brk = sub.add_parser("broker", help="run the embedded Kafka-protocol broker (dev extra)")
    brk.add_argument("--port", type=int, default=9092)
    brk.add_argument("--host", default="127.0.0.1")
    ex = sub.add_parser("example", help="run a bundled example on real data")
    ex.add_argument("name", choices=sorted(_EXAMPLES))
    ex.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _err(msg: str) -> None:
    print(f"cep: {msg}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cep`` console script; returns the exit status."""
    ns = _parser().parse_args(None if argv is None else list(argv))
    if ns.command == "example":
        script = _examples_dir() / _EXAMPLES[ns.name]
        if not script.is_file():
            _err(f"example script {script} not found (examples ship with the source checkout)")
            return EXIT_FAILED
        saved = sys.argv
        sys.argv = [str(script), *ns.args]
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as exc:
            return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_FAILED
        finally:
            sys.argv = saved
        return EXIT_OK
    if ns.command == "broker":
        from connectors.broker import main as broker_main
        return broker_main(["--port", str(ns.port), "--host", ns.host])
    if ns.command == "check":
        return _check(ns.files, ns.job)
    return _run(ns)


def _check(files: list[Path], job_path: Path | None) -> int:
    from cep.sql import check_rules
    from connectors.errors import JobFileError
    from connectors.jobfile import load_job

    columns = None
    errors: list[str] = []
    checked = 0
    if job_path is not None:
        try:
            job = load_job(job_path)
            columns = {f.name: f.type for f in job.schema.fields}
        except JobFileError as exc:
            _err(str(exc))
            return EXIT_INVALID
    for f in files:
        if f.suffix.lower() == ".toml":
            try:
                job = load_job(f)
            except JobFileError as exc:
                errors.append(str(exc))
                continue
            types = {fl.name: fl.type for fl in job.schema.fields}
            for rs in job.rules:
                errs = check_rules(rs.text, source=rs.source, columns=types)
                errors += [str(e) for e in errs]
                checked += 1
            errors += _check_windows(job, types)
            continue
        try:
            text = f.read_text()
        except OSError as exc:
            errors.append(f"{f}: cannot read: {exc.strerror}")
            continue
        errors += [str(e) for e in check_rules(text, source=str(f), columns=columns)]
        checked += 1
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"{len(errors)} error(s)", file=sys.stderr)
        return EXIT_INVALID
    print(f"ok: {checked} rule file(s) checked, no errors")
    return EXIT_OK


def _check_windows(job: Any, types: Mapping[str, str]) -> list[str]:
    from cep.errors import CepError
    from connectors.pipeline import WindowRunner
    from windows.errors import WindowError

    out = []
    for w in job.windows:
        try:
            WindowRunner(w, types)
        except (CepError, WindowError) as exc:
            out.append(f"{job.path}: window '{w.name}': {exc}")
    return out


def _run(ns: argparse.Namespace) -> int:
    # ``cep`` (and with it Numba) is imported by run_local once its reader thread runs
    from connectors.errors import ConnectorError, JobFileError
    from connectors.jobfile import load_job
    from windows.errors import WindowError

    try:
        job = load_job(ns.job)
    except JobFileError as exc:
        _err(str(exc))
        return EXIT_INVALID
    if ns.batch_size is not None and ns.batch_size < 1:
        _err("--batch-size must be at least 1")
        return EXIT_INVALID
    replay = ns.command == "replay"
    if replay and (ns.start is not None or ns.end is not None) and not job.kafka:
        _err("--start and --end apply to replays of Kafka topics (a job with [kafka])")
        return EXIT_INVALID
    if job.kafka and ns.input is None and job.source.path is None and \
            job.source.dataset is None:
        if replay:
            return _replay_topic(job, ns)
        return _run_kafka(job, ns)
    if replay and ns.output is not None:
        from dataclasses import replace

        from connectors.jobfile import SinkSpec
        job = replace(job, sinks=(SinkSpec(ns.output, "jsonl", ("*",)),))
    to_stdout = any(s.path == "-" for s in job.sinks)
    show = (not replay and ns.progress != "off"
            and (ns.progress == "on" or sys.stderr.isatty()))
    from connectors.localrun import run_local
    try:
        if show:
            from connectors.progress import LiveProgress

            with LiveProgress(job.name) as live:
                summary = run_local(job, input_path=ns.input, batch_size=ns.batch_size,
                                    deterministic=replay, progress=live.update)
        else:  # (rich is imported once the reader runs)
            summary = run_local(job, input_path=ns.input, batch_size=ns.batch_size,
                                deterministic=replay)
    except Exception as exc:
        from cep.errors import CepError

        if isinstance(exc, CepError | WindowError | JobFileError):
            _err(str(exc))
            return EXIT_INVALID
        if isinstance(exc, ConnectorError | OSError):
            _err(str(exc))
            return EXIT_FAILED
        raise
    from connectors.progress import print_summary

    print_summary(job.name, summary, stderr=to_stdout or replay)
    return EXIT_OK


def _replay_topic(job: Any, ns: argparse.Namespace) -> int:
    from dataclasses import replace

    from cep.errors import CepError
    from connectors.errors import ConnectorError, JobFileError
    from connectors.jobfile import SinkSpec
    from connectors.progress import print_summary
    from connectors.topicreplay import parse_bound, replay_topic_range

    if ns.output is not None:
        job = replace(job, sinks=(SinkSpec(ns.output, "jsonl", ("*",)),))
    try:
        start = parse_bound(ns.start, what="--start")
        end = parse_bound(ns.end, what="--end")
        summary = replay_topic_range(job, start=start, end=end,
                                     batch_size=ns.batch_size or 10_000)
    except (CepError, JobFileError) as exc:
        _err(str(exc))
        return EXIT_INVALID
    except (ConnectorError, OSError) as exc:
        _err(str(exc))
        return EXIT_FAILED
    print_summary(job.name, summary, stderr=True)
    return EXIT_OK


def _run_kafka(job: Any, ns: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from cep.errors import CepError
    from connectors.errors import ConnectorError, JobFileError
    from connectors.kafkajob import kafka_config
    from connectors.runtime import run_job

    try:
        config = kafka_config(job, worker_id=ns.worker_id)
    except (CepError, JobFileError, ValueError) as exc:
        _err(str(exc))
        return EXIT_INVALID
    show = ns.progress != "off" and (ns.progress == "on" or sys.stderr.isatty())
    console = Console(file=sys.stderr)
    totals = {"records": 0, "seconds": 0.0, "blocked": 0.0}

    def table(title: str, stats: Any = None) -> Table:
        t = Table(title=title)
        t.add_column("what")
        t.add_column("value", justify="right")
        rate = totals["records"] / totals["seconds"] if totals["seconds"] else 0.0
        share = totals["blocked"] / totals["seconds"] if totals["seconds"] else 0.0
        t.add_row("records", f"{int(totals['records']):,}")
        t.add_row("events/s", f"{rate:,.0f}")
        t.add_row("blocked on sinks", f"{share:.1%}")
        if stats is not None:
            t.add_row("outputs", f"{stats.outputs:,}")
            t.add_row("dead letters", f"{stats.dead_letters:,}")
            t.add_row("checkpoints", f"{stats.checkpoints:,}")
            t.add_row("pauses (back-pressure)", f"{stats.pauses:,}")
        return t

    live = Live(console=console, refresh_per_second=2, transient=True) if show else None

    def on_checkpoint(iv: Any) -> None:
        totals["records"] += iv.records
        totals["seconds"] += iv.seconds
        totals["blocked"] += iv.blocked_seconds
        if live is not None:
            live.update(table(f"{job.name} (running)"))

    try:
        if live is not None:
            live.start()
        stats = run_job(config, max_seconds=ns.max_seconds, on_checkpoint=on_checkpoint)
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_FAILED
    except (ConnectorError, OSError) as exc:
        _err(str(exc))
        return EXIT_FAILED
    finally:
        if live is not None:
            live.stop()
    totals["records"] = stats.records
    Console(file=sys.stdout, width=100).print(table(f"{job.name}: summary", stats))
    return EXIT_OK

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
