"""Running an experiment config: every seed of the STILTs variant and (optionally) the no-intermediate baseline
(:func:`run`), one variant at one seed (:func:`run_one`), the checks before any model is loaded (:func:`preflight`)
and a model scored as it is (:func:`evaluate_only`)."""

from __future__ import annotations

import os
from pathlib import Path

from .. import __version__
from ..config import ExperimentConfig
from ..console import console
from ..errors import MissingDataError, XstiltsError
from ..io import read_json
from ..loading import eval_languages, task_data_dir
from ..models.backbone import set_threads
from .preflight import check_inputs, run_provenance
from ..reports.run import write_comparison, write_results
from ..tasks import get_family, get_task
from ..trackers import resolve_trackers
from . import phases
from .context import EncoderRef, RunContext, RunOutcome
from .data import feature_cache
from .store import PhaseStore, is_main_process, rank_world, start_run_folder, write_run_folder
from .training import make_accelerator


def run(cfg: ExperimentConfig) -> RunOutcome:
    """Run every seed of the experiment (and its baseline); write tables and the comparison.

    Data parallel (``accelerate launch`` / ``torchrun``, one process per device): every process runs the same
    phases in step, training and evaluation are shared among them, and only the main process writes files (the
    others wait for it at the end of each phase, and print nothing); the other processes write no tables
    (``written`` is empty).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and rank_world()[1] == 1:
        make_accelerator(cfg)  # joins the process group before the first phase, whose checks every process makes
    quiet = console.quiet
    console.quiet = quiet or not is_main_process()
    try:
        return _run_variants(cfg, PhaseStore.of(cfg))
    finally:
        console.quiet = quiet


def _run_variants(cfg: ExperimentConfig, store: PhaseStore) -> RunOutcome:
    variants = [("stilts" if cfg.intermediate.tasks else "baseline", cfg)]
    if cfg.intermediate.tasks and cfg.with_baseline:
        variants.append(("baseline", cfg.baseline()))
    for _, v in variants:
        preflight(v, store)
    exp_dir = Path(cfg.output_dir).expanduser() / cfg.name
    results: dict[str, list[dict]] = {}
    for seed in cfg.seeds:
        for name, vcfg in variants:
            console.rule(f"[bold]{cfg.name}: {name}, seed {seed}")
            results.setdefault(name, []).append(run_one(vcfg, name, seed, store))
    outcome = RunOutcome({}, results, exp_dir)
    if not is_main_process():
        return outcome
    written = outcome.written
    for name, runs in results.items():
        written[name] = write_results(exp_dir / name, runs, title=f"{cfg.name} — {name}")
        console.print(written[name]["markdown_text"], markup=False)
    if "stilts" in results and "baseline" in results:
        written["comparison"] = write_comparison(exp_dir / "comparison", results["baseline"], results["stilts"],
                                                 title=f"{cfg.name}: intermediate training vs baseline")
        console.print(written["comparison"]["markdown_text"], markup=False)
    return outcome


def run_one(cfg: ExperimentConfig, variant: str, seed: int, store: PhaseStore | None = None) -> dict:
    """One seed of one variant: intermediate phase (if any), then every target task, with phases in *store*
    (default: *cfg*'s). Returns its record (``run.json``: variant, seed, run folder, phases, scores per task)."""
    set_threads(cfg.num_threads)
    ctx = RunContext(cfg, seed, store or PhaseStore.of(cfg), feature_cache())
    run_dir = Path(cfg.output_dir).expanduser() / cfg.name / f"{variant}-seed{seed}"
    start_run_folder(run_dir, cfg)  # data parallel: the other processes run the phases but write nothing
    done = []
    start = EncoderRef.of_model(cfg)
    if cfg.intermediate.tasks:
        inter_dir = phases.intermediate(ctx, start)
        done.append({"phase": "intermediate", "dir": str(inter_dir)})
        inter = EncoderRef.of_phase(inter_dir)
    else:
        inter = start
    tasks = {}
    for spec in cfg.target.tasks:
        if get_task(spec.task).trainable:
            folder = phases.target(ctx, spec, inter)
        else:
            folder = phases.retrieval(ctx, spec, inter if cfg.evaluation.retrieval_from == "intermediate" else start)
        done.append({"phase": "target", "task": spec.label, "dir": str(folder)})
        tasks[spec.label] = read_json(folder / "metrics.json")
    result = {"variant": variant, "seed": seed, "run_dir": str(run_dir), "phases": done, "tasks": tasks,
              "xstilts_version": __version__, "provenance": run_provenance(cfg, [p["dir"] for p in done])}
    if is_main_process():
        write_run_folder(run_dir, result)
        write_results(run_dir, [result], title=f"{cfg.name} — {variant}, seed {seed}")
    return result


def preflight(cfg: ExperimentConfig, store: PhaseStore | None = None) -> None:
    """Fail before loading any model when data that a phase still to build in *store* (default: *cfg*'s) needs is
    missing or malformed, or a tracker asked for by name is not installed."""
    specs = list(cfg.intermediate.tasks) + list(cfg.target.tasks)
    for spec in specs:
        task = get_task(spec.task)
        folder = task_data_dir(spec)
        if not folder.is_dir() and (spec.data_dir is not None or task.hf is None):
            hint = " (run `xstilts prepare`)" if task.data_subdir.startswith(("bible", "udhr")) else ""
            raise MissingDataError(f"{folder}: data folder for task {task.name!r} not found{hint}")
    for spec in cfg.target.tasks:
        if task_data_dir(spec).is_dir():
            eval_languages(spec)
            family = get_family(get_task(spec.task).kind)
            if hasattr(family, "finetune_check"):  # the English pairs of retrieval fine-tuning (LAReQA, Mewsli-X)
                family.finetune_check(get_task(spec.task), spec, task_data_dir(spec))

    resolve_trackers(cfg.trackers)  # a tracker asked for by name but not installed: fail now
    # the model resolves, and every split of every task a phase still to build reads is read and checked (kept in
    # memory for the phases), so that a bad file fails the run before the first optimizer step
    check_inputs(cfg, (store or PhaseStore.of(cfg)).root)


def evaluate_only(cfg: ExperimentConfig) -> RunOutcome:
    """``xstilts eval``: score the model as configured (no training) on the config's retrieval target tasks.

    Raises:
        XstiltsError: a target task needs fine-tuning (run ``xstilts run`` instead).
    """
    trainable = [s.label for s in cfg.target.tasks if get_task(s.task).trainable]
    if trainable:
        raise XstiltsError(f"target task(s) {', '.join(trainable)} need fine-tuning before they can be evaluated; "
                           f"use `xstilts run`, or list only retrieval tasks for `xstilts eval`")
    if not cfg.target.tasks:
        raise XstiltsError("the config lists no target tasks to evaluate (target.tasks)")
    data = cfg.model_dump(exclude_unset=True)  # unwritten settings keep resolving to the protocol defaults
    data.setdefault("intermediate", {})["tasks"] = []
    data["with_baseline"] = False
    return run(ExperimentConfig.model_validate(data))
