"""The shared rich console and progress bars (tokenisation, training, evaluation)."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=False, highlight=False)
if not console.is_terminal:  # a pipe or a log file: long lines stay whole (no wrapping at 80 columns)
    console.soft_wrap = True


def plain_table(headers: list[str], rows: list[list[str]], title: str | None = None) -> str:
    """A plain-text table whose cells are never wrapped or cut: it reads the same in a terminal, a log file and a
    pipe (``grep`` finds whole names). Columns are padded with spaces, two between columns."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    out = [title] if title else []
    out += ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(out)


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
