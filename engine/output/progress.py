"""A live progress line on a terminal (nodes done, healthy, remediated, failed); nothing under
cron or in a pipe. Log events print above it through the same console."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from engine.core.node import NodeResult
from engine.core.results import Outcome

# Which count of the progress line each outcome adds to (the rest count as healthy).
_COLUMN = {
    Outcome.REMEDIATED: "remediated",
    Outcome.FAILED: "failed",
    Outcome.ERROR: "failed",
    Outcome.BLOCKED: "failed",
    Outcome.WOULD_REMEDIATE: "to fix",
    Outcome.UNHEALTHY: "to fix",
}


class _ConsoleStream:
    """A file-like object that prints through a rich console, so log lines written while the
    progress line is live appear above it instead of breaking it."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self._pending = ""

    def write(self, text: str) -> int:
        from rich.text import Text

        # print() writes the line and its newline separately: print whole lines only.
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self.console.print(Text.from_ansi(line), soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return True


@contextmanager
def live_progress(total: int, stream: IO[str] | None = None) -> Iterator[tuple[Any, Any]]:
    """Yields (on_node_done callback, stream for log events). Off a terminal both are inert:
    the callback does nothing and events go to the stream unchanged."""
    stream = stream or sys.stderr
    if not stream.isatty():
        yield (lambda result: None), stream
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=stream)
    counts: Counter[str] = Counter()
    progress = Progress(
        TextColumn("[bold]nodes"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[summary]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task("run", total=total, summary="")

    def on_node_done(result: NodeResult) -> None:
        key = _COLUMN.get(result.outcome, "healthy")
        counts[key] += 1
        summary = ", ".join(
            f"{counts[k]} {k}" for k in ("healthy", "remediated", "to fix", "failed") if counts[k]
        )
        progress.update(task, advance=1, summary=summary)

    with progress:
        yield on_node_done, _ConsoleStream(console)
