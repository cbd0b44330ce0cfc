"""What a long command shows while it works (seeding, importing a catalog, synthesizing
traffic): on a terminal, a bar per step with counts, rate and time left (rich), and notes
above the bars; when the output is a log or a pipe, no bar, just a line per note and per
tenth of a step, so CI logs stay short.

Domain code takes ``progress``: any callable taking a note (``progress("search index
built")``), and reports counted work with ``count(progress, ...)``, which draws the bar when
``progress`` is a ``CommandProgress`` and falls back to a note otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Note = Callable[[str], None]


class CommandProgress:
    """``with CommandProgress() as progress: seed_catalog(..., progress=progress)``."""

    def __init__(self, stream: TextIO | None = None, *, force_terminal: bool | None = None):
        self.stream = stream or sys.stderr
        self.console = Console(file=self.stream, force_terminal=force_terminal)
        self.live = self.console.is_terminal
        self._bars = Progress(TextColumn("  {task.description:<12}"), BarColumn(),
                              MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
                              TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("left"),
                              console=self.console, disable=not self.live)
        self._tasks: dict[str, TaskID] = {}
        self._tenths: dict[str, int] = {}

    def __enter__(self) -> "CommandProgress":
        self._bars.start()
        return self

    def __exit__(self, *exc) -> None:
        self._bars.stop()

    def __call__(self, message: str) -> None:
        """A note: above the bars on a terminal, a line otherwise."""
        if self.live:
            self._bars.console.print(f"  {message}", highlight=False)
        else:
            print(f"  {message}", file=self.stream, flush=True)

    def count(self, step: str, done: int, total: int, unit: str = "") -> None:
        """``done`` of ``total`` in ``step`` (e.g. "products", 5000, 20000)."""
        if self.live:
            task = self._tasks.get(step)
            if task is None:
                task = self._tasks[step] = self._bars.add_task(step, total=total, unit=unit)
            self._bars.update(task, completed=done, total=total)
            return
        tenth = 10 * done // max(total, 1)
        if tenth > self._tenths.get(step, -1) or done >= total:
            self._tenths[step] = tenth
            print(f"  {step}: {done:,} / {total:,} {unit}".rstrip(), file=self.stream,
                  flush=True)


def count(progress: Note | None, step: str, done: int, total: int, *, unit: str = "",
          note: str | None = None) -> None:
    """Report counted work: a bar for a CommandProgress, ``note`` for any other callable."""
    if progress is None:
        return
    if isinstance(progress, CommandProgress):
        progress.count(step, done, total, unit)
    else:
        progress(note or f"{step}: {done:,}/{total:,} {unit}".rstrip())
