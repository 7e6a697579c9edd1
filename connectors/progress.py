"""Progress display and run summary for the ``cep`` command (rendered with ``rich``).

The live display (on standard error) shows records processed, events per second, the
current watermark, rows per output (matches per rule, results per window), late records and
dead letters; it refreshes at most four times a second whatever the batch rate.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol, Self

from rich.console import Console
from rich.live import Live
from rich.table import Table

from windows.time import MAX_TIMESTAMP, MIN_TIMESTAMP

__all__ = ["LiveProgress", "format_timestamp", "print_summary", "summary_table"]


class _Summary(Protocol):
    records: int
    dead_letters: int
    outputs: dict[str, int]
    seconds: float

    @property
    def events_per_second(self) -> float: ...


def format_timestamp(ts: int) -> str:
    """An epoch-ms timestamp as ISO-8601 UTC text (``"-"`` before any watermark)."""
    if ts <= MIN_TIMESTAMP or ts >= MAX_TIMESTAMP:
        return "-"
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def summary_table(title: str, summary: _Summary, watermark: int | None = None,
                  extra: dict[str, Any] | None = None) -> Table:
    """A rich table of a run's counters.

    Parameters
    ----------
    title : str
    summary : RunSummary or JobStats-like
        Needs ``records``, ``dead_letters``, ``outputs``, ``seconds``,
        ``events_per_second``.
    watermark : int, optional
        Current watermark, epoch ms.
    extra : dict, optional
        More label -> value rows (e.g. back-pressure share).
    """
    t = Table(title=title, show_header=True, header_style="bold")
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("records", f"{summary.records:,}")
    t.add_row("events/s", f"{summary.events_per_second:,.0f}")
    t.add_row("elapsed", f"{summary.seconds:.1f} s")
    if watermark is not None:
        t.add_row("watermark", format_timestamp(watermark))
    for name, n in summary.outputs.items():
        label = f"late for {name[:-5]}" if name.endswith(".late") else name
        t.add_row(label, f"{n:,}")
    t.add_row("dead letters", f"{summary.dead_letters:,}")
    for k, v in (extra or {}).items():
        t.add_row(k, str(v))
    return t


class LiveProgress:
    """A live-updating progress table on standard error (a no-op when disabled).

    Parameters
    ----------
    title : str
    enabled : bool
    """

    def __init__(self, title: str, *, enabled: bool = True) -> None:
        self.title = title
        self.enabled = enabled
        self._live: Live | None = None
        self._last = 0.0

    def __enter__(self) -> Self:
        if self.enabled:
            self._live = Live(console=Console(file=sys.stderr), refresh_per_second=4,
                              transient=True)
            self._live.__enter__()
        return self

    def update(self, summary: _Summary, watermark: int) -> None:
        """Show the current counters (throttled to four updates per second)."""
        if self._live is None:
            return
        now = time.monotonic()
        if now - self._last < 0.25:
            return
        self._last = now
        self._live.update(summary_table(f"{self.title} (running)", summary, watermark))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None


def print_summary(title: str, summary: Any, *, stderr: bool = False) -> None:
    """Print the end-of-run summary table (and the files written)."""
    console = Console(file=sys.stderr if stderr else sys.stdout, width=100)
    console.print(summary_table(f"{title}: summary", summary,
                                getattr(summary, "watermark", None)))
    for f in getattr(summary, "files", []):
        console.print(f"wrote {f}")
