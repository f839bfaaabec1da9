"""``xstilts study plan|run|status FILE`` and ``xstilts results``.

Errors in the study file (unknown keys, bad values, impossible cells) print one line naming the key path and line,
exit status 2, before anything runs. ``study run`` exits with status 1 when some cells failed (each recorded with
its error; re-run the same command to retry only those).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Optional

import typer

from ..errors import XstiltsError
from ._common import fail, install_sigterm

study_app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                        help="Experiment grids: expand, estimate, run and follow a study file.")


def _load(file: Path):
    from ..study.grid import expand
    from ..study.spec import load_study

    study = load_study(file)
    return study, expand(study)


def _fmt_budget(b) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in b.items()) if b else "-"


def _fmt_seconds(s) -> str:
    if s is None:
        return "-"
    s = float(s)
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _table(headers: list[str], rows: list[list[str]], title: str | None = None) -> str:
    """A plain-text table (no wrapping: it reads the same in a terminal, a log file and a pipe)."""
    from ..console import plain_table

    return plain_table(headers, rows, title)


def _short(phase: str | None) -> str:
    """A phase folder name without its kind and label: the hash that identifies it."""
    return "-" if not phase else phase.rsplit("-", 1)[-1]


def _fmt_settings(st: dict | None) -> str:
    """One line: ``2 ep, 32x1, lr 1e-05, len 256`` (or ``embed, len 512, layer auto (14)``)."""
    if not st:
        return "-"
    if "training" in st and st["training"] is None:
        return f"embed, len {st['max_length']}, layer {st['layer']}, {st['pooling']}"

    def one(v):
        return v if not isinstance(v, dict) else "/".join(str(x) for x in dict.fromkeys(v.values()))

    parts = [f"{st['max_steps']} steps" if st.get("max_steps") else f"{st['epochs']:g} ep",
             f"{st['batch_size']}x{st['grad_accum']}", f"lr {st['lr']:g}", f"len {one(st['max_length'])}"]
    if st.get("doc_stride") is not None:
        parts.append(f"stride {one(st['doc_stride'])}")
    if st.get("selection"):
        sel = st["selection"]
        parts.append(sel if sel == "last" else f"{sel}/{st.get('eval_every')}")
    return ", ".join(str(x) for x in parts)


@study_app.command("plan")
def plan(file: Path = typer.Argument(..., help="study YAML file"),
         as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables")) -> None:
    """Print the cells (with the automatic baselines), the phases they build or share with their settings, and a
    rough estimate of their cost. Loads no model."""
    from ..study.grid import estimate, plan_cell

    try:
        study, cells = _load(file)
        est = estimate(cells)
        planned = [plan_cell(c) for c in cells]
    except XstiltsError as e:
        fail(e)
        return
    if as_json:
        typer.echo(json.dumps({"study": study.name, "folder": str(study.folder), "store": str(study.store),
                               "cells": planned, "estimate": est}, indent=2, default=str))
        return
    n_base = sum(c.variant == "baseline" for c in cells)
    typer.echo(f"study {study.name}: {len(cells)} cells ({len(cells) - n_base} with intermediate training, "
               f"{n_base} baseline{'' if n_base == 1 else 's'}) -> {study.folder}; phases in {study.store}")
    if study.spec.description:
        typer.echo(" ".join(study.spec.description.split()))
    typer.echo("")
    rows = []
    for i, (c, pc) in enumerate(zip(cells, planned), 1):
        a = c.axes
        tset = pc["settings"]["target"]
        rows.append([str(i), c.id, a["model_label"], "+".join(a["intermediate"]) or "(baseline)",
                     "-" if a["intermediate_size"] is None else f"{a['intermediate_size']:,}",
                     _fmt_budget(a["budget"]), a["target"], str(a["seed"]),
                     _short(pc["phases"]["intermediate"]),
                     _fmt_settings(tset) if isinstance(pc["target"], str) else
                     "; ".join(f"{t}: {_fmt_settings(tset[t])}" for t in pc["target"])])
    typer.echo(_table(["#", "cell", "model", "intermediate", "size", "budget", "target", "seed", "inter. phase",
                       "target settings"], rows, "cells:"))
    typer.echo("")
    inter: dict[str, dict] = {}
    for c, pc in zip(cells, planned):
        ph = pc["phases"]["intermediate"]
        if ph:
            rec = inter.setdefault(ph, {"tasks": "+".join(pc["intermediate"]), "seed": c.seed, "cells": 0,
                                        "settings": pc["settings"]["intermediate"]})
            rec["cells"] += 1
    per_seed = est["intermediate_phases_per_seed"]
    seeds_txt = ", ".join(f"seed {k}: {v}" for k, v in per_seed.items())
    typer.echo(_table(["intermediate phase", "tasks", "seed", "cells", "settings"],
                      [[_short(k), r["tasks"], str(r["seed"]), str(r["cells"]), _fmt_settings(r["settings"])]
                       for k, r in inter.items()],
                      f"{len(inter)} distinct intermediate phase(s) ({seeds_txt or 'none'}); each is trained once "
                      f"and serves every target of its cells:"))
    typer.echo("")
    groups: dict[tuple, dict] = {}  # identical phases (e.g. one per seed) on one line
    for p in est["phases"].values():
        key = (p["kind"], p["label"], p["model"], p["steps"], p["train_examples"], p["eval_texts"])
        r = groups.setdefault(key, {**p, "n": 0, "cells": 0, "cpu": 0.0, "gpu": 0.0})
        r["n"] += 1
        r["cells"] += p["cells"]
        r["cpu"] = None if r["cpu"] is None or p["cpu_seconds"] is None else r["cpu"] + p["cpu_seconds"]
        r["gpu"] = None if r["gpu"] is None or p["gpu_seconds"] is None else r["gpu"] + p["gpu_seconds"]
    rows, notes = [], []
    for r in groups.values():
        rows.append([r["kind"], r["label"], r["model"],
                     "-" if r["steps"] is None and r["kind"] == "retrieval" else
                     "?" if r["steps"] is None else f"{r['steps']:,}",
                     "-" if r["kind"] == "retrieval" else
                     "?" if r["train_examples"] is None else f"{r['train_examples']:,}",
                     "-" if r["eval_texts"] is None else f"{r['eval_texts']:,}", str(r["n"]), str(r["cells"]),
                     "?" if r["cpu"] is None else _fmt_seconds(r["cpu"]),
                     "?" if r["gpu"] is None else _fmt_seconds(r["gpu"])])
        notes += [f"{r['kind']} {r['label']}: {x}" for x in r["notes"]]
    typer.echo(_table(["phase", "task(s)", "model", "steps", "train ex.", "eval texts", "phases", "cells", "CPU",
                       "GPU"], rows, "phases (each built once, shared by the cells that use it; times are rough "
                                     "totals):"))
    for n in dict.fromkeys(notes):
        typer.echo(f"  note: {n}")
    typer.echo(f"{est['phase_uses']} phase uses, {est['unique_phases']} distinct phases ({est['reused']} reused), "
               f"{est['intermediate_phases']} of them intermediate.")
    by = est["gpu_hours_by_kind"]
    lower = "" if est["complete"] else " (lower bound: some sizes are unknown, see notes)"
    typer.echo(f"Rough time: {_fmt_seconds(est['cpu_seconds'])} on CPU; {est['gpu_hours']:,.1f} GPU-hours on "
               f"{est['assumptions']['gpu']} (intermediate {by['intermediate']:,.1f}, target {by['target']:,.1f}, "
               f"retrieval {by['retrieval']:,.1f}){lower}.")
    typer.echo(f"  ROUGH, from these throughput assumptions: {est['assumptions']['text']}")


@study_app.command("run")
def run(file: Path = typer.Argument(..., help="study YAML file"),
        force: bool = typer.Option(False, "--force", help="run every cell again, even those already done"),
        parallel: Optional[int] = typer.Option(None, "--parallel", "-j", min=1,
                                               help="local executor: cells at once (overrides executor.parallel)"),
        executor: Optional[str] = typer.Option(None, "--executor", help="local or submitit (overrides the file)"),
        only: Optional[list[str]] = typer.Option(None, "--only", help="run only these cell ids (repeatable)")) -> None:
    """Run the study's cells that are missing or failed; record runs and scores in <study>/results.sqlite."""
    from ..study.executors import run_study

    try:
        study, cells = _load(file)
        if only:
            unknown = [x for x in only if x not in {c.id for c in cells}]
            if unknown:
                raise XstiltsError(f"--only {', '.join(unknown)}: not a cell of study {study.name} "
                                   f"(see `xstilts study plan {file}`)")
            cells = [c for c in cells if c.id in only]
        install_sigterm()
        res = run_study(study, cells, force=force, kind=executor, parallel=parallel, partial=bool(only))
    except (XstiltsError, KeyboardInterrupt) as e:
        fail(e)
        return
    failed = [r for r in res["results"] if r["status"] != "done"]
    done = len(res["results"]) - len(failed)
    typer.echo(f"\nstudy {study.name}: {done} cell(s) done now, {res['skipped']} already done, {len(failed)} failed; "
               f"results in {study.db_path}")
    for r in failed:
        typer.echo(f"  failed {r['id']}: {r['error']}", err=True)
    if failed:
        typer.echo(f"fix the cause and run `xstilts study run {file}` again: only those cells run", err=True)
        raise typer.Exit(1)


@study_app.command("status")
def status(file: Path = typer.Argument(..., help="study YAML file"),
           as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Table of the cells: axes, status (missing, pending, running, done, failed), time and headline score."""
    from ..study.executors import cell_status

    try:
        study, cells = _load(file)
        st = cell_status(study, cells)
    except XstiltsError as e:
        fail(e)
        return
    rows = []
    for c in cells:
        r = st[c.id]
        rows.append({"cell_id": c.id, "variant": c.variant, **{k: c.axes[k] for k in (
            "model_label", "intermediate", "intermediate_size", "budget", "target", "seed")},
            "status": r.get("status"), "seconds": r.get("seconds"), "headline": r.get("headline"),
            "headline_metric": r.get("headline_metric"), "headline_split": r.get("headline_split"),
            "error": r.get("error")})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    out = []
    for r in rows:
        score = "-" if r["headline"] is None else (
            f"{r['headline']:.2f} {r['headline_metric'] or ''}".strip()
            + (f" ({r['headline_split']})" if r.get("headline_split") else ""))
        out.append([r["cell_id"], r["model_label"], "+".join(r["intermediate"]) or "(baseline)",
                    "-" if r["intermediate_size"] is None else f"{r['intermediate_size']:,}",
                    _fmt_budget(r["budget"]), r["target"], str(r["seed"]), r["status"], _fmt_seconds(r["seconds"]),
                    score])
    typer.echo(_table(["cell", "model", "intermediate", "size", "budget", "target", "seed", "status", "time",
                       "score"], out, f"study {study.name} ({study.folder}):"))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    typer.echo(", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + f" of {len(rows)} cells")
    for r in rows:
        if r["status"] == "failed":
            typer.echo(f"  failed {r['cell_id']}: {r['error']}")


@study_app.command("run-cell", hidden=True)
def run_cell(job: Path = typer.Argument(..., help="cell JSON written by the local executor")) -> None:
    """Run one cell (used by the parallel local executor)."""
    from ..study.executors import run_cell_file

    try:
        install_sigterm()
        rc = run_cell_file(job)
    except (XstiltsError, KeyboardInterrupt) as e:
        fail(e)
        return
    raise typer.Exit(rc)


# ---------------------------------------------------------------------------------------------------- results
def _databases(studies: list[Path] | None) -> list[Path]:
    if not studies:
        found = sorted(Path("runs/studies").glob("*/results.sqlite"))
        if not found:
            raise XstiltsError("no results database found under runs/studies; give --study DIR_OR_FILE")
        return found
    out = []
    for s in studies:
        if s.is_file() and s.suffix in (".sqlite", ".db"):
            out.append(s)
        elif s.is_dir():
            db = s / "results.sqlite"
            if not db.is_file():
                raise XstiltsError(f"{db}: not found (expected a study folder written by `xstilts study run`)")
            out.append(db)
        elif s.is_file():
            from ..study.spec import load_study

            db = load_study(s).db_path
            if not db.is_file():
                raise XstiltsError(f"{db}: not found; run `xstilts study run {s}` first")
            out.append(db)
        else:
            raise XstiltsError(f"{s}: no such study folder, study file or database")
    return out


def results_command(
        study: Optional[list[Path]] = typer.Option(None, "--study", help="study folder, study YAML file or "
                                                   "results.sqlite (repeatable; default: runs/studies/*)"),
        where: Optional[list[str]] = typer.Option(None, "--where", "-w", help="column=value filter (repeatable; "
                                                  "value1,value2 for any of them), e.g. seed=1, variant=stilts, "
                                                  "intermediate=kjv-web-paraphrase, model_size=small"),
        task: Optional[str] = typer.Option(None, help="only this target task"),
        language: Optional[str] = typer.Option(None, help="only this language ('avg' = task average)"),
        metric: Optional[str] = typer.Option(None, help="only this metric"),
        split: Optional[str] = typer.Option(None, "--split", help="only scores of this split: dev or test (default: "
                                            "both, in the split column)"),
        runs: bool = typer.Option(False, "--runs", help="list the runs (one row per cell) instead of scores"),
        all_cells: bool = typer.Option(False, "--all-cells", help="also cells no longer in the study file "
                                       "(active = 0); default: only the cells of the study as last run"),
        fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="write to this file instead of stdout")) -> None:
    """Query study results databases: scores (or runs) with filters; table, CSV or JSON."""
    from ..study.db import RUN_COLUMNS, SCORE_COLUMNS, ResultsDB

    try:
        if fmt not in ("table", "csv", "json"):
            raise XstiltsError(f"--format {fmt}: expected table, csv or json")
        if split is not None and split not in ("dev", "test"):
            raise XstiltsError(f"--split {split}: expected dev or test")
        filters: dict = {}
        for item in where or []:
            if "=" not in item:
                raise XstiltsError(f"--where {item!r}: expected column=value, e.g. --where seed=1")
            k, v = (x.strip() for x in item.split("=", 1))
            allowed = RUN_COLUMNS if runs else tuple(dict.fromkeys(SCORE_COLUMNS + RUN_COLUMNS))
            if k not in allowed:
                raise XstiltsError(f"--where {item!r}: unknown column {k!r}; expected one of {', '.join(allowed)}")
            filters[k] = v.split(",") if "," in v and k != "intermediate" else v
        if not runs:
            filters.update({k: v for k, v in (("task", task), ("language", language), ("metric", metric),
                                              ("split", split)) if v})
        rows = []
        for db_path in _databases(study):
            db = ResultsDB(db_path)
            rows += db.runs(**filters) if runs else db.scores(**filters)
        if not all_cells and "active" not in filters:
            rows = [r for r in rows if r.get("active") != 0]
    except (XstiltsError, ValueError) as e:
        fail(e if isinstance(e, XstiltsError) else XstiltsError(str(e)))
        return
    if fmt == "json":
        text = json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    elif fmt == "csv":
        buf = io.StringIO()
        cols = list(RUN_COLUMNS) if runs else list(dict.fromkeys(SCORE_COLUMNS + RUN_COLUMNS))
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v
                        for k, v in r.items()})
        text = buf.getvalue()
    else:
        text = None
    if text is not None:
        if out:
            from ..io import atomic_write_text

            atomic_write_text(out, text)
            typer.echo(f"written: {out} ({len(rows)} rows)")
        else:
            sys.stdout.write(text)
        return
    cols = (["study", "cell_id", "variant", "status", "model", "intermediate", "intermediate_size", "budget_steps",
             "target", "seed", "seconds", "headline", "error"] if runs else
            ["study", "variant", "model", "intermediate", "intermediate_size", "budget_steps", "seed", "task",
             "split", "language", "metric", "value"])
    table = []
    for r in rows:
        vals = []
        for c in cols:
            v = r.get(c)
            if c == "intermediate":
                v = "+".join(v) if v else "(baseline)"
            elif isinstance(v, float):
                v = f"{v:.2f}"
            vals.append("-" if v is None else str(v))
        table.append(vals)
    text = _table([c.replace("intermediate_size", "size").replace("budget_steps", "budget") for c in cols], table,
                  f"{len(rows)} {'runs' if runs else 'scores'}:") + "\n"
    if out:
        from ..io import atomic_write_text

        atomic_write_text(out, text)
        typer.echo(f"written: {out} ({len(rows)} rows)")
    else:
        sys.stdout.write(text)
