"""``xstilts score``, ``xstilts export`` and ``xstilts official-eval``: XTREME scores, submissions and the
official scorer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..errors import XstiltsError
from ._common import fail


def score(runs: list[Path] = typer.Argument(..., help="run folders (run.json) or phase folders (metrics.json)"),
          benchmark: str = typer.Option("xtreme", help="xtreme or xtreme-r"),
          as_json: bool = typer.Option(False, "--json", help="print JSON instead of markdown")) -> None:
    """The XTREME or XTREME-R score of finished runs: per task, per category and overall; says what is missing."""
    from ..xtreme.benchmark import collect_tasks, format_markdown, xtreme_r_score, xtreme_score

    try:
        if benchmark not in ("xtreme", "xtreme-r"):
            raise XstiltsError(f"--benchmark {benchmark}: expected xtreme or xtreme-r")
        tasks = collect_tasks(runs)
        result = xtreme_score(tasks) if benchmark == "xtreme" else xtreme_r_score(tasks)
    except (XstiltsError, OSError, ValueError) as e:
        fail(e)
        return
    typer.echo(json.dumps(result, indent=2, default=str) if as_json else format_markdown(result))


def export(runs: list[Path] = typer.Argument(..., help="run folders or phase folders"),
           out: Path = typer.Option(..., "--out", help="submission folder to write"),
           benchmark: str = typer.Option("xtreme", help="xtreme or xtreme-r"),
           labels: Optional[Path] = typer.Option(None, "--labels", help="also write the gold labels the run scored "
                                                                        "against here (evaluate.py's --label_folder)")
           ) -> None:
    """Copy test predictions into the layout of XTREME's official evaluate.py (one file per task and language).

    With --labels, the gold labels go to a second folder in the same layout, so that
    `evaluate.py --prediction_folder OUT --label_folder LABELS` (or `xstilts official-eval`) recomputes the run's scores.
    """
    from ..xtreme.benchmark import export_submission

    try:
        res = export_submission(runs, out, benchmark=benchmark, labels_dir=labels)
    except (XstiltsError, OSError, ValueError) as e:
        fail(e)
        return
    typer.echo(f"written: {out}")
    if isinstance(res, dict):
        for k, v in res.items():
            typer.echo(f"  {k}: {v}")


def official_eval(
        prediction_folder: Path = typer.Option(..., "--prediction_folder", "--prediction-folder",
                                               help="predictions: <folder>/<task>/test-<lang>.<ext>"),
        label_folder: Path = typer.Option(..., "--label_folder", "--label-folder",
                                          help="gold labels in the same layout"),
        xtreme_version: str = typer.Option("xtreme", "--xtreme_version", "--xtreme-version",
                                           help="xtreme or xtreme-r: which tasks, languages and groups"),
        as_json: bool = typer.Option(False, "--json", help="print the JSON evaluate.py writes to --output_file"),
        out: Optional[Path] = typer.Option(None, "--out", help="also write the result: JSON if FILE ends in "
                                                               ".json (as evaluate.py's --output_file), else the "
                                                               "report")) -> None:
    """Score a prediction folder exactly as XTREME's official evaluate.py does (same layout, files and averages).

    Per task and language: accuracy, seqeval F1/precision/recall, BUCC F1, SQuAD/MLQA exact match and F1, Mewsli-X
    map@20 (all in %); per task the language averages and avg_metric ((EM + F1) / 2 for QA); the group scores and
    all_task when complete. Equal to evaluate.py to within 1e-9 on the same files.
    """
    from ..io import atomic_write_json, atomic_write_text
    from ..xtreme.official import evaluate, format_report, official_json

    try:
        result = evaluate(prediction_folder, label_folder, xtreme_version)
        report = format_report(result)
        if out is not None:
            if out.suffix.lower() == ".json":
                atomic_write_json(out, official_json(result))
            else:
                atomic_write_text(out, report)
    except (XstiltsError, OSError) as e:
        fail(e)
        return
    if as_json:
        typer.echo(json.dumps(official_json(result), indent=2))
        for note in result["notes"]:
            typer.echo(f"note: {note}", err=True)
    else:
        typer.echo(report, nl=False)
        if out is not None:
            typer.echo(f"written: {out}")


def renamed_evaluate(ctx: typer.Context) -> None:
    """(renamed: ``xstilts official-eval``; ``evaluate`` is the library's model evaluation, ``xstilts eval``)"""
    typer.echo("error: `xstilts evaluate` is now `xstilts official-eval` (XTREME's evaluate.py on a prediction "
               "folder); `xstilts eval` evaluates a model", err=True)
    raise typer.Exit(2)
