"""What every command shares: the one-line error printer (:func:`fail`), the SIGTERM handler of commands that
train, the ``--set`` option and config loading. Only the CLI imports this module."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

state = {"debug": False}


def fail(err: BaseException) -> None:
    """Print *err* as one line and exit: status 2 for input errors, 143 when preempted (SIGTERM), 130 on Ctrl-C;
    with ``--debug`` the exception is raised instead (a traceback)."""
    if state["debug"]:
        raise err
    msg = " ".join(str(err).split("\n"))
    from ..train import Preempted

    if isinstance(err, Preempted):
        typer.echo(f"stopped: {msg}", err=True)
        raise typer.Exit(143)
    if isinstance(err, KeyboardInterrupt):
        typer.echo("interrupted: finished phases are kept; run the same command again to go on", err=True)
        raise typer.Exit(130)
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def install_sigterm() -> None:
    """SIGTERM (the usual preemption signal): save a training checkpoint and exit cleanly (status 143)."""
    import signal

    from ..train import STOP, request_stop

    STOP["requested"] = False
    signal.signal(signal.SIGTERM, request_stop)


SetOpt = typer.Option(None, "--set", "-s", help="override a config key: --set target.lr=1e-5 (repeatable)")


def load_cfg(config: Path, overrides: Optional[list[str]]):
    """The experiment config of *config* with the ``--set`` *overrides* (strict: errors name the key and line)."""
    from ..config import load_config

    return load_config(config, overrides or [])
