"""``xstilts tasks``: the registered tasks."""

from __future__ import annotations

import json
from typing import Optional

import typer


def tasks(as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
          kind: Optional[str] = typer.Option(None, help="only tasks of this kind")) -> None:
    """List the registered tasks: name, kind, role, languages, metric, and XTREME-R's languages where they differ
    (XTREME-R adds languages to UD-POS, PAN-X and XQuAD; its Tatoeba is the task tatoeba-xtreme-r)."""
    from ..tasks import all_tasks
    from ..xtreme.benchmark import benchmark_languages

    def xtreme_r(t) -> list[str] | None:
        langs = benchmark_languages("xtreme-r", t.name)
        return None if langs is None else list(langs)

    items = [t for t in all_tasks() if kind is None or t.kind == kind]
    if as_json:
        typer.echo(json.dumps([{"name": t.name, "kind": t.kind, "roles": list(t.roles), "languages": list(t.languages),
                                "xtreme_r_languages": xtreme_r(t), "metric": t.metric,
                                "description": t.description, "module": t.module} for t in items], indent=2))
        return
    from rich.table import Table

    from ..console import console, plain_table

    headers = ["task", "kind", "role", "metric", "#", "languages", "XTREME-R"]
    rows = []
    for t in items:
        xr = xtreme_r(t)
        extra = [lang for lang in xr or () if lang not in t.languages]
        shown = "" if xr is None else f"{len(xr)}" + (f" (+{' '.join(extra)})" if extra else "")
        rows.append([t.name, t.kind, "/".join(t.roles), t.metric, str(len(t.languages)), " ".join(t.languages),
                     shown])
    if not console.is_terminal:  # a pipe or a log: whole names, one task per line
        typer.echo(plain_table(headers, rows))
        return
    table = Table(title="xstilts tasks", show_lines=False)
    for col in headers:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)
