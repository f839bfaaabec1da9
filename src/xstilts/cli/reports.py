"""``xstilts compare`` and ``xstilts report``: a comparison of two runs, and a study's report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import XstiltsError
from ._common import fail


def compare(baseline: Path = typer.Argument(..., help="baseline run folder (with run.json)"),
            other: Path = typer.Argument(..., help="intermediate-trained run folder (with run.json)"),
            out: Path = typer.Option(Path("comparison"), help="output folder"),
            as_json: bool = typer.Option(False, "--json", help="print the comparison's JSON instead of markdown")
            ) -> None:
    """Compare two runs: per-language delta, mean delta, and a PNG bar chart per task."""
    from ..io import read_json
    from ..reports.run import write_comparison

    try:
        runs = []
        for folder in (baseline, other):
            f = folder / "run.json"
            if not f.is_file():
                raise XstiltsError(f"{f}: not found (expected a run folder written by `xstilts run`)")
            runs.append(read_json(f))
        w = write_comparison(out, [runs[0]], [runs[1]], title=f"{other.name} vs {baseline.name}")
    except XstiltsError as e:
        fail(e)
        return
    typer.echo(Path(w["json"]).read_text(encoding="utf-8") if as_json else w["markdown_text"])


def report_command(
        study: Path = typer.Argument(..., help="study file or folder"),
        out: Optional[Path] = typer.Option(None, "--out", help="output folder (default: <study folder>/report)"),
        db: Optional[Path] = typer.Option(None, "--db", help="results database (default: the study folder's "
                                                             "results.sqlite)"),
        resamples: int = typer.Option(1000, help="bootstrap resamples per interval (0: no intervals)"),
        confidence: float = typer.Option(0.95, help="confidence level of the intervals"),
        seed: int = typer.Option(0, help="seed of the bootstrap resampling"),
        low_resource: Optional[str] = typer.Option(
            None, "--low-resource", help="comma-separated languages of the low-resource view (default: the study "
                                         "file's low_resource_languages, else the 10 XTREME languages with the least "
                                         "CC-100 data)"),
        dr_threshold: float = typer.Option(0.1, "--dr-threshold", help="diminishing returns: points per 1,000 more "
                                                                        "intermediate examples"),
        no_plots: bool = typer.Option(False, "--no-plots", help="skip the figures (PDF and PNG)"),
        all_cells: bool = typer.Option(False, "--all-cells", help="also report cells that are no longer in the "
                                                                  "study file (runs.active = 0)"),
        split: str = typer.Option("dev", "--split", help="scores of this split: dev (default, as the paper's table) or "
                                                         "test; a target without them shows its other split, marked"),
        reference: Optional[list[str]] = typer.Option(
            None, "--reference", help="published figures to show beside the measured ones, labelled as not measured: "
                                      "a shipped reference (x-stilts) or a JSON file (repeatable)")) -> None:
    """Tables (markdown, CSV, LaTeX), paired tests and confidence intervals, and figures of a study's results."""
    from ..reports.study import build_report

    try:
        langs = [x.strip() for x in low_resource.split(",") if x.strip()] if low_resource else None
        w = build_report(study, out, db=db, resamples=resamples, confidence=confidence, seed=seed,
                         low_resource=langs, dr_threshold=dr_threshold, plots=not no_plots, all_cells=all_cells,
                         split=split, references=reference)
    except XstiltsError as e:
        fail(e)
        return
    typer.echo(w["markdown_text"])
    typer.echo(f"\nwritten: {w['markdown']}, {w['latex']}, {len(w['csv'])} CSV file(s), {len(w['images'])} figure(s) "
               f"(PDF and 300 dpi PNG)")
