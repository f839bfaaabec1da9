"""The Python API: run experiments and read results from a notebook or a script.

>>> import xstilts
>>> res = xstilts.run("configs/tasks/xnli.yaml", seeds=[1, 2])          # doctest: +SKIP
>>> res.scores.query("split == 'test' and language == 'avg'")             # doctest: +SKIP

Everything here is a thin layer over the command line's machinery (:func:`xstilts.experiment.run`, the study
runner and its results database), so a run started here and the same run from ``xstilts run`` share their phases and
give the same scores. Scores are tidy :class:`pandas.DataFrame` s with one row per score: columns ``task`` (the task
label), ``language`` (ISO 639 code, or ``avg`` for the mean over a task's languages), ``split`` (``dev`` or
``test``), ``metric``, ``value`` (percent), ``variant`` (``stilts`` or ``baseline``) and ``seed``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .config import ExperimentConfig, parse_override, validate_config
from .config import load_config as _load_config_file
from .errors import ConfigError, XstiltsError

#: Columns of every score table the API returns (study tables add the cell's axes after these).
SCORE_COLUMNS = ["task", "language", "split", "metric", "value", "variant", "seed"]


@dataclass
class RunResult:
    """What :func:`run` and :func:`evaluate` return.

    Attributes:
        scores: one row per score (:data:`SCORE_COLUMNS`), every metric of every language, split, variant and seed.
        runs: each run's ``run.json`` (variant, seed, phases, per-task metrics), in the order they ran.
        phases: ``{"<variant>-seed<seed>/<phase>": phase folder}`` (phase = ``intermediate`` or ``target-<task>``).
        folder: the experiment folder ``<output_dir>/<name>`` (results tables, comparison, run folders).
        config: the validated config that ran.
    """

    scores: pd.DataFrame
    runs: list[dict]
    phases: dict[str, Path]
    folder: Path
    config: ExperimentConfig
    files: dict[str, Any] = field(default_factory=dict)

    def summary(self, split: str = "test") -> pd.DataFrame:
        """Mean over seeds of each task's language average: rows = task, columns = variant."""
        df = self.scores
        main = df[(df.split == split) & (df.language == "avg") & (df.metric == df.groupby("task").metric
                                                                  .transform("first"))]
        return main.pivot_table(index="task", columns="variant", values="value", aggfunc="mean")


def _overrides(overrides: dict[str, Any]) -> list[str]:
    """``{"target__lr": 1e-5, "seeds": [1, 2]}`` -> ``["target.lr=1e-05", "seeds=[1, 2]"]`` (``__`` or ``.`` nest)."""
    out = []
    for key, value in overrides.items():
        dotted = key.replace("__", ".")
        out.append(f"{dotted}={json.dumps(value) if not isinstance(value, str) else value}")
    return out


def load_config(config: str | Path | dict | ExperimentConfig, **overrides: Any) -> ExperimentConfig:
    """A validated experiment config from a YAML file, a mapping or a config, with ``key=value`` overrides
    (nested keys with ``__`` or ``.``: ``load_config("exp.yaml", target__lr=1e-5)``).

    Raises:
        ConfigError: the file is missing or invalid, or an override does not validate (key path and YAML line).
    """
    if isinstance(config, ExperimentConfig):
        config = config.model_dump(mode="json")
    if isinstance(config, dict):
        data = json.loads(json.dumps(config, default=str))
        from .config import _set_dotted

        for item in _overrides(overrides):
            key, value = parse_override(item)
            _set_dotted(data, key, value, f"override {key}")
        return validate_config(data, "<config>")
    return _load_config_file(Path(config), _overrides(overrides))


def _rows_of_run(run: dict) -> list[dict]:
    rows = []
    for label, m in run["tasks"].items():
        splits = m.get("splits") or {"test": {"languages": m["languages"], "average": m["average"]}}
        for split, part in splits.items():
            split_name = "test" if split not in ("dev", "test") else split
            for lang, scores in part["languages"].items():
                for metric, value in scores.items():
                    if metric == "n" or not isinstance(value, (int, float)):
                        continue
                    rows.append({"task": label, "language": lang, "split": split_name, "metric": metric,
                                 "value": float(value), "variant": run["variant"], "seed": run["seed"]})
            rows.append({"task": label, "language": "avg", "split": split_name, "metric": m["metric"],
                         "value": float(part["average"]), "variant": run["variant"], "seed": run["seed"]})
    return rows


def scores_frame(runs: list[dict]) -> pd.DataFrame:
    """The tidy score table (:data:`SCORE_COLUMNS`) of runs given as their ``run.json`` contents."""
    return pd.DataFrame([r for run in runs for r in _rows_of_run(run)], columns=SCORE_COLUMNS)


def _phases(runs: list[dict]) -> dict[str, Path]:
    out = {}
    for run in runs:
        for ph in run["phases"]:
            name = ph["phase"] + (f"-{ph['task']}" if "task" in ph else "")
            out[f"{run['variant']}-seed{run['seed']}/{name}"] = Path(ph["dir"])
    return out


def run(config: str | Path | dict | ExperimentConfig, **overrides: Any) -> RunResult:
    """Run an experiment (every seed, the STILTs variant and, unless ``with_baseline`` is false, the baseline),
    exactly as ``xstilts run`` does: finished phases are reused, missing ones run.

    Args:
        config: a YAML file, a mapping or an :class:`~xstilts.config.ExperimentConfig`.
        overrides: config keys to set, nested with ``__`` (``target__lr=1e-5``, ``seeds=[1, 2]``).
    Returns:
        a :class:`RunResult` with the scores of every run as a DataFrame.
    Raises:
        ConfigError / DataFormatError / MissingDataError: bad input, before any training (one-line messages).
    """
    from .experiment import run as run_experiment

    cfg = load_config(config, **overrides)
    outcome = run_experiment(cfg)
    runs = [r for variant in outcome.results.values() for r in variant]
    return RunResult(scores_frame(runs), runs, _phases(runs), outcome.folder, cfg, outcome.written)


def evaluate(model: str | Path, tasks: list[str | dict], *, output_dir: str | Path = "runs", name: str = "evaluate",
             **overrides: Any) -> RunResult:
    """Score a model as it is (no training) on retrieval tasks (Tatoeba, BUCC, LAReQA, Mewsli-X, ...), from its
    sentence embeddings, as ``xstilts eval`` does.

    Args:
        model: hub id or local folder (``model.name_or_path``).
        tasks: task names or task entries (``{"task": "tatoeba", "data_dir": ..., "languages": [...]}``).
        overrides: other config keys (``evaluation__retrieval_layer="last"``, ``model__text_prefix="passage: "``).
    Raises:
        XstiltsError: a task needs fine-tuning (use :func:`run`), or any input error.
    """
    from .experiment import evaluate_only

    data = {"name": name, "output_dir": str(output_dir), "with_baseline": False,
            "model": {"name_or_path": str(model)}, "target": {"tasks": list(tasks)}}
    cfg = load_config(data, **overrides)
    evaluate_only(cfg)
    folder = Path(cfg.output_dir).expanduser() / cfg.name
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("baseline-seed*/run.json"))
            if json.loads(p.read_text())["seed"] in cfg.seeds]
    return RunResult(scores_frame(runs), runs, _phases(runs), folder, cfg)


def load_results(folder: str | Path, split: str | None = None) -> pd.DataFrame:
    """Every score under *folder* as one DataFrame (:data:`SCORE_COLUMNS`).

    *folder* may be an experiment folder (``runs/<name>``: all its ``<variant>-seed<seed>`` runs), one run folder,
    a study folder (``runs/studies/<name>``, read from its ``results.sqlite``; adds the cell's ``cell_id``,
    ``intermediate``, ``target``, ``model`` and the other axes) or a study YAML file. *split* keeps one split.

    Raises:
        XstiltsError: nothing with results is found there.
    """
    p = Path(folder).expanduser()
    if p.is_file() and p.suffix in (".yaml", ".yml") or (p / "results.sqlite").is_file():
        df = _study_frame(p)
    else:
        files = [p / "run.json"] if (p / "run.json").is_file() else sorted(p.glob("*-seed*/run.json"))
        if not files:
            raise XstiltsError(f"{p}: no run.json, run folders (<variant>-seed<seed>/) or results.sqlite found")
        df = scores_frame([json.loads(f.read_text()) for f in files])
    return df if split is None else df[df.split == split].reset_index(drop=True)


def _study_frame(path: Path) -> pd.DataFrame:
    from .reports.cells import resolve_study

    _, db_path, _ = resolve_study(path)
    import sqlite3

    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as con:
        scores = pd.read_sql_query("SELECT * FROM scores", con)
        runs = pd.read_sql_query("SELECT * FROM runs", con)
    if "split" not in scores.columns:
        scores["split"] = "test"
    keep = [c for c in ("cell_id", "variant", "seed", "intermediate", "target", "model", "model_size",
                        "intermediate_size", "budget_steps", "budget_tokens", "status", "active") if c in runs.columns]
    df = scores.merge(runs[keep], on="cell_id", how="left")
    first = [c for c in SCORE_COLUMNS if c in df.columns]
    return df[first + [c for c in df.columns if c not in first]]


class Study:
    """A study file as an object: ``Study("studies/demo.yaml").plan()``, ``.run()``, ``.results()``.

    Raises:
        ConfigError: the study file is invalid (key path and line).
    """

    def __init__(self, path: str | Path):
        from .study.spec import load_study

        self.path = Path(path)
        self.study = load_study(self.path)

    @property
    def name(self) -> str:
        return self.study.name

    @property
    def folder(self) -> Path:
        """The study folder (``<output_dir>/<name>``): results database, cells, reports."""
        return self.study.folder

    def cells(self) -> list:
        """The grid's cells (:class:`xstilts.study.grid.Cell`), baseline cells included."""
        from .study.grid import expand

        return expand(self.study)

    def plan(self) -> pd.DataFrame:
        """One row per cell: id, variant, seed, intermediate tasks, target, and its phase folders' names."""
        from .experiment.keys import phase_keys

        rows = []
        for c in self.cells():
            keys = phase_keys(c.config, c.seed)
            rows.append({"id": c.id, "variant": c.variant, "seed": c.seed, "intermediate": c.intermediate,
                         "target": c.target, "intermediate_phase": keys["intermediate"],
                         "target_phases": list(keys["targets"].values())})
        return pd.DataFrame(rows)

    def run(self, parallel: int | None = None, force: bool = False) -> pd.DataFrame:
        """Run the missing or failed cells (as ``xstilts study run``); returns :meth:`results`.

        Raises:
            XstiltsError: a cell failed (its error is in ``xstilts study status``).
        """
        from .study.executors import run_study

        res = run_study(self.study, self.cells(), force=force, parallel=parallel)
        failed = [r for r in res["results"] if r["status"] != "done"]
        if failed:
            raise XstiltsError(f"study {self.name}: {len(failed)} cell(s) failed, e.g. {failed[0]['id']}: "
                               f"{failed[0]['error']}")
        return self.results()

    def results(self, split: str | None = None) -> pd.DataFrame:
        """Every score of the study's database (see :func:`load_results`)."""
        return load_results(self.folder, split=split)


__all__ = ["RunResult", "SCORE_COLUMNS", "Study", "evaluate", "load_config", "load_results", "run", "scores_frame",
           "ConfigError"]
