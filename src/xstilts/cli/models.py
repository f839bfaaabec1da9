"""``xstilts export-model``: a trained phase as a Hugging Face model."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import XstiltsError
from ._common import fail


def export_model_command(
        path: Path = typer.Argument(..., help="a phase folder (metrics.json + checkpoint/) or a run folder (run.json)"),
        out: Path = typer.Option(..., "--out", help="folder to write the Hugging Face model into"),
        phase: Optional[str] = typer.Option(None, "--phase", help="with a run folder: intermediate or target-<task> "
                                            "(default: its only target, else the intermediate phase)"),
        push: Optional[str] = typer.Option(None, "--push", help="also upload to this hub repository (user/name)"),
        public: bool = typer.Option(False, "--public", help="with --push: a public repository (default private)")
) -> None:
    """Export a trained phase as a Hugging Face model with a model card: the encoder (AutoModel) of an intermediate
    phase, or encoder + head as AutoModelForSequenceClassification / TokenClassification / QuestionAnswering /
    MultipleChoice for a target phase, with the per-language scores as model-index results."""
    from ..models.export import export_model

    try:
        folder = export_model(path, out, phase=phase, push=push, private=not public)
    except XstiltsError as e:
        fail(e)
        return
    typer.echo(f"exported {folder}" + (f" and pushed to {push}" if push else ""))
