"""The shared rich console and progress bars (tokenisation, training, evaluation)."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=False, highlight=False)


@contextlib.contextmanager
def progress_bar(description: str, total: int) -> Iterator[Callable[..., None]]:
    """A rich progress bar; yields ``advance(n=1, **fields)`` (``fields`` may set ``info`` shown after the bar)."""
    with Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                  console=console, transient=not console.is_terminal, disable=not console.is_terminal) as prog:
        tid = prog.add_task(description, total=total, info="")

        def advance(n: int = 1, **fields) -> None:
            prog.update(tid, advance=n, **fields)

        yield advance
