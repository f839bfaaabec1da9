"""``xstilts gc``: clean a phase store's work folders."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import XstiltsError
from ._common import fail, load_cfg


def gc(output_dir: Optional[Path] = typer.Argument(None, help="an output folder: its phase store <OUTPUT_DIR>/phases"),
       store: Optional[Path] = typer.Option(None, "--store", help="the phase store itself (a config's phase_store)"),
       config: Optional[list[Path]] = typer.Option(None, "--config", "-c", help="also remove work folders that no "
                                                   "phase of these configs uses (repeatable; store: theirs)"),
       older_than: Optional[float] = typer.Option(None, "--older-than", help="also remove work folders unused for "
                                                  "this many days"),
       dry_run: bool = typer.Option(False, "--dry-run", help="list what would be removed, remove nothing")) -> None:
    """Remove the work folders (.<phase>.partial) of a phase store that no current input can resume, and stale locks.

    Removed: work folders of complete phases, interrupted retrieval evaluations, folders without a training
    checkpoint, and folders whose recorded config and seed no longer hash to their phase (the data, model or code
    changed); with --config, those no phase of the configs uses; with --older-than, those unused that long. Kept:
    folders a process is building now, and resumable ones (the same config resumes them). See xstilts.gc.
    """
    from ..gc import collect

    try:
        configs = [load_cfg(c, []) for c in config or []]
        if store is None and output_dir is not None:
            store = output_dir / "phases"
        if store is None and configs:
            roots = {str(Path(c.phase_store).expanduser() if c.phase_store else Path(c.output_dir).expanduser() /
                         "phases") for c in configs}
            if len(roots) > 1:
                raise XstiltsError(f"--config: the configs use different phase stores ({', '.join(sorted(roots))}); "
                                   f"give --store")
            store = Path(roots.pop())
        if store is None:
            raise XstiltsError("give an output folder (its phases/ store), --store DIR or --config CONFIG")
        if not store.is_dir():
            raise XstiltsError(f"{store}: no such phase store")
        items = collect(store, configs, older_than, dry_run=dry_run)
    except XstiltsError as e:
        fail(e)
        return
    verb = "would remove" if dry_run else "removed"
    freed = 0
    for it in items:
        size = f"{it.size / 2**20:9.1f} MiB" if it.kind != "lock" else " " * 13
        typer.echo(f"{verb if it.remove else 'kept':12s} {size}  {it.path}  ({it.reason})")
        freed += it.size if it.remove else 0
    removed = sum(it.remove for it in items)
    typer.echo(f"{store}: {removed} of {len(items)} work folders and locks "
               f"{'would be removed' if dry_run else 'removed'}, {freed / 2**30:.2f} GiB")
