"""The ``xstilts`` command line (a typer app): one module per command group.

========================  =======================================================================
module                    commands
========================  =======================================================================
:mod:`.run`               ``run``, ``eval``
:mod:`.tasks`             ``tasks``
:mod:`.data`              ``prepare``, ``download``
:mod:`.scoring`           ``score``, ``export``, ``evaluate``
:mod:`.models`            ``export-model``
:mod:`.gc`                ``gc``
:mod:`.study`             ``study plan|run|status``, ``results``
:mod:`.reports`           ``compare``, ``report``
:mod:`._common`           the one-line error printer, SIGTERM handling, ``--set``
========================  =======================================================================

Errors caused by input (config, data files, missing model) print one line and exit with status 2; ``--debug``
shows the traceback. Heavy libraries (torch, transformers) load only after the config has been validated.
The library never imports this package (``tests/test_architecture.py``); a new command is a function in the
module of its group, registered below.
"""

from __future__ import annotations

import sys

import typer

from . import data, gc, models, reports, run, scoring, study, tasks
from ._common import state

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="xstilts: intermediate-task training (STILTs) and zero-shot cross-lingual transfer on XTREME.")


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="show tracebacks instead of one-line errors")) -> None:
    """Intermediate-task training and zero-shot cross-lingual evaluation (X-STILTs)."""
    state["debug"] = debug


# in the order `xstilts --help` lists them
app.command()(run.run)
app.command("eval")(run.eval_)
app.command()(tasks.tasks)
app.command()(data.prepare)
app.command()(data.download)
app.command()(reports.compare)
app.command()(scoring.score)
app.command()(scoring.export)
app.command("export-model")(models.export_model_command)
app.command("official-eval")(scoring.official_eval)
app.command("evaluate", hidden=True, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
    scoring.renamed_evaluate)
app.command()(gc.gc)
app.add_typer(study.study_app, name="study")
app.command("results")(study.results_command)
app.command("report")(reports.report_command)


def entry() -> None:  # pragma: no cover
    sys.exit(app())


__all__ = ["app", "main", "entry"]
