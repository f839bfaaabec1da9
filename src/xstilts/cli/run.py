"""``xstilts run`` and ``xstilts eval``: an experiment's phases, or a model evaluated without intermediate
training."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import XstiltsError
from ._common import SetOpt, fail, install_sigterm, load_cfg


def run(config: Path = typer.Argument(..., help="experiment YAML file"), set_: Optional[list[str]] = SetOpt) -> None:
    """Run the experiment: intermediate training, target fine-tuning, zero-shot evaluation (and the baseline).

    Finished phases are found by their hash and reused, so re-running only does what is missing.
    """
    try:
        cfg = load_cfg(config, set_)
        install_sigterm()
        from ..experiment import run as run_experiment

        written = run_experiment(cfg).written
    except (XstiltsError, KeyboardInterrupt) as e:
        fail(e)
        return
    typer.echo("\nwritten:")
    for name, w in written.items():
        typer.echo(f"  {name}: {w['markdown']}")


def eval_(config: Path = typer.Argument(..., help="experiment YAML file"), set_: Optional[list[str]] = SetOpt) -> None:
    """Evaluate the configured model without intermediate training on the config's retrieval target tasks (LAReQA and
    Mewsli-X fine-tune their dual encoder on English first, as XTREME-R does, unless their option finetune is false)."""
    try:
        cfg = load_cfg(config, set_)
        install_sigterm()
        from ..experiment import evaluate_only

        written = evaluate_only(cfg).written
    except (XstiltsError, KeyboardInterrupt) as e:
        fail(e)
        return
    for name, w in written.items():
        typer.echo(f"written: {w['markdown']}")
