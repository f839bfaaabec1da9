"""Study reports (``xstilts report STUDY``): the paper's tables, per-language and low-resource views, paired bootstrap
confidence intervals for every delta, plots, in markdown, CSV and LaTeX.

Input: the study's ``results.sqlite`` (``runs`` and ``scores``, see :mod:`xstilts.study.db`) and, for confidence
intervals over examples, the per-example statistics that target phases write (``per_example/<task>/<split>-<lang>
.jsonl``, see ``Family.example_stats``), found through each cell's ``run_dir/run.json``.

Definitions used in every table:

* A **cell** is one run: (model, intermediate task set, intermediate data size, budget, target, seed). Only cells
  with status ``done`` are reported; failed ones are listed with their error. Cells no longer in the study file
  (``runs.active = 0``, left from an earlier version of it) are left out unless ``--all-cells``.
* A **setting** is a row: the intermediate task set (``a+b`` for multi-task training; ``baseline`` for no
  intermediate training). Tables are split by model (and by intermediate data size and budget when those vary).
* **Split**: every table shows one split, ``--split dev`` (the default: the paper's table is on dev sets, with the
  checkpoint selected on English dev) or ``test``. A target without scores of that split in its evaluation
  languages (Tatoeba has no dev data; XQuAD's only dev score is SQuAD's English dev set; a run from before dev
  evaluation) shows its other split, marked in the column header (``tatoeba (accuracy@1, test)``).
* **Score**: the target's headline metric (the registry task's ``metric``: accuracy, F1, accuracy@1, mAP@20; F1 for
  QA), averaged over the target's evaluation languages (``scores.language = 'avg'``); ``mean ± std`` over seeds
  (sample standard deviation, n − 1; 0 for one seed).
* **The paper's table** (first section): rows = intermediate settings (baseline, each task, ``multi-task (n
  tasks)`` when the table has one multi-task set), columns = targets, the score (mean over seeds) with its Δ, and
  ``avg`` = the mean over the targets shown (the XTREME average of the paper's table; with its Δ). ``--reference
  x-stilts`` (:mod:`xstilts.study.reference`) adds published rows below, each labelled ``published (...), not
  measured, <split>``, with Δ vs the published baseline of the same split and their sources in the note.
* **Delta** (Δ): setting − baseline of the same model, model size, family, other axes and target, paired by seed
  (mean over the seeds both have of the per-seed differences; when they share no seed, the difference of means,
  marked ``unpaired``, without intervals). The best mean per target within a table is in bold.
* **Confidence intervals and tests** (:mod:`xstilts.stats`). Over examples: 95% percentile intervals of 1,000
  paired bootstrap replicates (configurable; same resampled examples of the split shown for both systems and every
  seed; per-language metric recomputed with ``metric_from_stats``, averaged over languages, per seed, then over
  seeds), and the bootstrap p-value. Over seeds (not a bootstrap: 3 to 5 seeds have 10 to 126 distinct resamples):
  the paired t-test of the per-seed differences (two-sided, ``scipy.stats.ttest_rel``) with its 95% t interval, and
  the exact sign-flip permutation test (all 2^n sign flips; its smallest possible p is 2 / 2^n, so with ≤ 5 seeds
  it cannot reach 0.05), from :data:`MIN_SEEDS_TEST` = 2 paired seeds; per target, for the average over the targets
  and for the XTREME score. Marks in the main and low-resource tables: ``†`` the interval over examples excludes 0,
  ``‡`` the t-test over seeds has p < 0.05 (one test per cell, not corrected). In the per-language tables the
  same marks are controlled for multiple comparisons: Benjamini–Hochberg adjusted p < 0.05 over all the
  (setting, language) tests of the table (false discovery rate 5%; ``scipy.stats.false_discovery_control``). Tasks
  without per-example statistics (BUCC) get tests over seeds only. The level is 1 − ``--confidence``.
* **XTREME score**: :func:`xstilts.xtreme.benchmark.xtreme_score` of a setting's targets for each seed (mean of the nine
  task scores, QA as (EM + F1) / 2); ``n/a (missing: ...)`` when the targets do not cover XTREME.
* **Low-resource view**: the languages of ``low_resource_languages`` in the study file (else
  :data:`DEFAULT_LOW_RESOURCE`: the 10 XTREME languages with the least CC-100 data, :data:`CC100_GIB`); a task's
  low-resource score is the mean over those of its languages.
* **Data-size curve**: score vs ``intermediate_size`` (log x axis, error bars = std over seeds) with the fit
  ``score = a + b ln(n)`` on the per-size means. A log curve gains ``b ln 10`` per tenfold increase, so the
  **point of diminishing returns** is defined per example: the size ``n* = 1000 b / τ`` at which the fitted
  marginal gain falls below τ points per 1,000 more examples (τ = 0.1 by default, ``--dr-threshold``);
  :func:`xstilts.stats.diminishing_returns_point`.
* **Model-size curve**: score vs the ``model_size`` labels (ordered by parsed size: 110M < 1.3B, or tiny < mini <
  small < base < medium < large < xl < xxl, else by first appearance), error bars = std over seeds.
* **Budget**: when the study has a budget axis, the compute actually spent per intermediate task (``runs.spent``:
  steps, examples, tokens) is tabulated per setting and seed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sqlite3
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from ..errors import XstiltsError
from ..io import atomic_write_bytes, atomic_write_json, atomic_write_text
from .reference import load_reference

# ---------------------------------------------------------------------------------------------- CC-100 sizes
#: CC-100 data per XTREME language, GiB of uncompressed text, from the XLM-R paper (Conneau et al. 2020,
#: "Unsupervised Cross-lingual Representation Learning at Scale", ACL, Appendix A, Table 6 "Languages and statistics
#: of the CC-100 corpus"; transcribed in github.com/mayhewsw/multilingual-data-stats ``cc-100/cc-100.csv``).
#: Burmese has two rows (1.6 and 0.4 GiB, the second the Zawgyi-encoded text) and Chinese two (Simplified 46.9,
#: Traditional 16.6): both summed. Yoruba is not among CC-100's 100 languages (0).
CC100_GIB: dict[str, float] = {
    "af": 1.3, "ar": 28.0, "bg": 57.5, "bn": 8.4, "de": 66.6, "el": 46.9, "en": 300.8, "es": 53.3, "et": 6.1,
    "eu": 2.0, "fa": 111.6, "fi": 54.3, "fr": 56.8, "he": 31.6, "hi": 20.2, "hu": 58.4, "id": 148.3, "it": 30.2,
    "ja": 69.3, "jv": 0.2, "ka": 9.1, "kk": 6.4, "ko": 54.2, "ml": 7.6, "mr": 2.8, "ms": 8.5, "my": 2.0, "nl": 29.3,
    "pt": 49.1, "ru": 278.0, "sw": 1.6, "ta": 12.2, "te": 4.7, "th": 71.7, "tl": 3.1, "tr": 20.9, "ur": 5.7,
    "vi": 137.3, "yo": 0.0, "zh": 63.5,
}
#: Tokens (millions) of the same table, used to break ties in GiB.
CC100_TOKENS_M: dict[str, float] = {
    "af": 242, "ar": 2869, "bg": 5487, "bn": 525, "de": 10297, "el": 4285, "en": 55608, "es": 9374, "et": 843,
    "eu": 270, "fa": 13259, "fi": 6730, "fr": 9780, "he": 3399, "hi": 1715, "hu": 7807, "id": 22704, "it": 4983,
    "ja": 530, "jv": 24, "ka": 469, "kk": 476, "ko": 5644, "ml": 313, "mr": 175, "ms": 1318, "my": 71, "nl": 5025,
    "pt": 8405, "ru": 23408, "sw": 275, "ta": 595, "te": 249, "th": 1834, "tl": 556, "tr": 2736, "ur": 730,
    "vi": 24757, "yo": 0, "zh": 435,
}
#: The default low-resource languages: the 10 of XTREME's 40 with the least CC-100 data
#: (yo jv af sw my eu mr tl te ur).
DEFAULT_LOW_RESOURCE: tuple[str, ...] = tuple(
    sorted(CC100_GIB, key=lambda x: (CC100_GIB[x], CC100_TOKENS_M[x], x))[:10])

#: Axis keys that are columns of ``runs`` or derived from them (not "other" axes).
_KNOWN_AXES = {"model", "model_size", "model_label", "family", "intermediate", "intermediate_size", "budget",
               "budget_steps", "budget_tokens", "target", "seed"}
_SIZE_NAMES = ["nano", "tiny", "mini", "small", "base", "medium", "large", "xl", "xxl"]
DAGGER, DDAGGER = "†", "‡"
#: Fewest paired seeds for the tests over seeds (a t-test needs one degree of freedom; with 2 seeds its 95% interval
#: is the mean ± 12.7 standard errors, so two seeds that agree in sign are not marked).
MIN_SEEDS_TEST = 2
MIN_SEEDS_CI = MIN_SEEDS_TEST  # the former name


# ---------------------------------------------------------------------------------------------- study folder
def resolve_study(study: Path, db: Path | None = None) -> tuple[Path, Path, dict]:
    """``(study folder, results.sqlite, study file mapping)`` of a study file or folder.

    A folder is the study folder (with ``results.sqlite``), whose study file mapping is the copy that ``xstilts study
    run`` keeps there (``study.yaml``); a file is read with :func:`xstilts.study.spec.load_study` and its folder is
    ``<output_dir>/<name>`` relative to the working directory, else to the study file's folder.

    Raises:
        XstiltsError: nothing found (the message lists where it looked).
    """
    raw: dict = {}
    if db is not None:
        db = Path(db)
        if not db.is_file():
            raise XstiltsError(f"{db}: results database not found")
        folder = study if study.is_dir() else db.parent
        if study.is_file():
            raw = _read_yaml(study)
        else:
            raw = _stored_spec(folder)
        return folder, db, raw
    if study.is_dir():
        if (study / "results.sqlite").is_file():
            return study, study / "results.sqlite", _stored_spec(study)
        raise XstiltsError(f"{study}: no results.sqlite in this folder (run `xstilts study run FILE` first, or give "
                           f"the study file)")
    if not study.is_file():
        raise XstiltsError(f"{study}: no such study file or folder")
    raw = _read_yaml(study)
    tried = []
    try:
        from .spec import load_study

        st = load_study(study)
        cands = [st.folder]
        if not st.folder.is_absolute():
            cands.append(study.parent / st.folder)
    except ImportError:  # pragma: no cover - the study package is always there in a full install
        name, out = raw.get("name", study.stem), raw.get("output_dir", "runs/studies")
        cands = [Path(out) / name, study.parent / out / name]
    for c in cands:
        tried.append(str(c))
        if (c / "results.sqlite").is_file():
            return c, c / "results.sqlite", raw
    raise XstiltsError(f"{study}: no results.sqlite found (looked in {', '.join(tried)}); run `xstilts study run "
                       f"{study}` first, or give the study folder or --db")


def _stored_spec(folder: Path) -> dict:
    """The study file as ``xstilts study run`` copied it into the study folder (``study.yaml``); ``{}`` if none."""
    f = Path(folder) / "study.yaml"
    return _read_yaml(f) if f.is_file() else {}


def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise XstiltsError(f"{path}: cannot read the study file ({e})") from None
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------------------------------------- cells
@dataclass
class Cell:
    """One row of ``runs`` with its scores ``{task: {language: {metric: value}}}``."""

    id: str
    order: int
    status: str
    error: str | None
    variant: str | None
    model: str
    model_size: str | None
    model_label: str
    family: str | None
    intermediate: tuple[str, ...]
    intermediate_size: int | None
    budget_steps: int | None
    budget_tokens: int | None
    target: str
    seed: int
    axes: dict
    run_dir: str | None
    spent: Any
    seconds: float | None
    scores: dict = field(default_factory=dict)  # the scores of the split the report shows (select_split)
    active: int | None = None  # runs.active: 0 = no longer a cell of the study file (None: not recorded)
    by_split: dict = field(default_factory=dict)  # split -> {task: {language: {metric: value}}}
    used_split: dict = field(default_factory=dict)  # task -> the split of its scores in ``scores``
    sampling: str | None = None  # the intermediate task sampler (from the study folder's cells.json or the run)

    @property
    def is_baseline(self) -> bool:
        return not self.intermediate

    @property
    def setting(self) -> str:
        return setting_label(self.intermediate)

    def other_axes(self) -> tuple:
        return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in self.axes.items()
                            if k not in _KNOWN_AXES))

    def target_tasks(self) -> list[str]:
        want = [t for t in self.target.split("+") if t] if self.target else []
        have = list(self.scores)
        inter = [t for t in have if t in want]
        return inter or have


def setting_label(intermediate: tuple[str, ...]) -> str:
    return "+".join(intermediate) if intermediate else "baseline"


def _jload(v: Any, default: Any) -> Any:
    if v is None or v == "":
        return default
    if not isinstance(v, str):
        return v
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def _int(v: Any) -> int | None:
    if v is None or v == "":
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def load_cells(db_path: Path) -> list[Cell]:
    """Every row of ``runs`` (any status) with its scores, in insertion order.

    Raises:
        XstiltsError: the file is not a results database.
    """
    try:
        con = sqlite3.connect(Path(db_path).resolve().as_uri() + "?mode=ro", uri=True, timeout=60)
    except sqlite3.Error as e:
        raise XstiltsError(f"{db_path}: cannot open ({e})") from None
    con.row_factory = sqlite3.Row
    try:
        try:
            rows = con.execute("SELECT rowid AS _order, * FROM runs ORDER BY rowid").fetchall()
        except sqlite3.OperationalError:
            rows = con.execute("SELECT 0 AS _order, * FROM runs").fetchall()
        have = {r[1] for r in con.execute("PRAGMA table_info(scores)")}
        split = "split" if "split" in have else "'test' AS split"  # a database from before splits: test scores
        score_rows = con.execute(f"SELECT cell_id, task, {split}, language, metric, value FROM scores").fetchall()
    except sqlite3.Error as e:
        raise XstiltsError(f"{db_path}: not a study results database ({e})") from None
    finally:
        con.close()
    cells: dict[str, Cell] = {}
    for i, r in enumerate(rows):
        d = dict(r)
        axes = _jload(d.get("axes"), {}) or {}
        if not isinstance(axes, dict):
            axes = {}
        inter = _jload(d.get("intermediate"), [])
        if isinstance(inter, str):
            inter = [x for x in re.split(r"[+,]", inter) if x and x not in ("baseline", "none")]
        model = str(d.get("model") or axes.get("model") or "?")
        size = d.get("model_size") or axes.get("model_size")
        label = str(axes.get("model_label") or size or Path(model).name)
        target = d.get("target")
        if isinstance(target, str) and target.startswith("["):
            target = "+".join(_jload(target, []))
        cells[d["cell_id"]] = Cell(
            id=d["cell_id"], order=int(d.get("_order") or i), status=str(d.get("status") or "pending"),
            error=d.get("error"), variant=d.get("variant"), model=model, model_size=size, model_label=label,
            family=d.get("family") or axes.get("family"), intermediate=tuple(str(x) for x in inter),
            intermediate_size=_int(d.get("intermediate_size")), budget_steps=_int(d.get("budget_steps")),
            budget_tokens=_int(d.get("budget_tokens")), target=str(target or ""),
            seed=_int(d.get("seed")) if _int(d.get("seed")) is not None else 0, axes=axes, run_dir=d.get("run_dir"),
            spent=_jload(d.get("spent"), None), seconds=d.get("seconds"), active=_int(d.get("active")))
    for r in score_rows:
        c = cells.get(r["cell_id"])
        if c is None or r["value"] is None:
            continue
        c.by_split.setdefault(r["split"] or "test", {}).setdefault(r["task"], {}).setdefault(
            r["language"], {})[r["metric"]] = float(r["value"])
    out = sorted(cells.values(), key=lambda c: c.order)
    select_split(out, "dev")
    return out


def select_split(cells: list[Cell], split: str) -> dict[str, str]:
    """Set every cell's :attr:`Cell.scores` to its scores of *split* (``dev`` or ``test``), per target task; a task
    without scores of that split shows its other split (a retrieval task without dev data, a run from before dev
    evaluation), and so does a task whose dev scores are English only beside test scores in more languages (XQuAD:
    its dev score is SQuAD's English dev set). Returns ``{task: split shown}`` for the tasks shown on another split
    than *split*."""
    if split not in ("dev", "test"):
        raise XstiltsError(f"--split {split}: expected dev or test")
    other = "test" if split == "dev" else "dev"
    fallback: dict[str, str] = {}

    def english_only(c: Cell, t: str) -> bool:
        """A dev split of English only (the training task's own dev set, e.g. SQuAD's for XQuAD, which has no dev
        data in other languages) beside a test split in more languages: not a cross-lingual dev score."""
        dev = {x for x in c.by_split.get("dev", {}).get(t, {}) if x != "avg"}
        test = {x for x in c.by_split.get("test", {}).get(t, {}) if x != "avg"}
        return dev <= {"en"} and bool(test - {"en"})

    for c in cells:
        c.scores, c.used_split = {}, {}
        tasks = list(dict.fromkeys([*c.by_split.get(split, {}), *c.by_split.get(other, {})]))
        for t in tasks:
            use = split if t in c.by_split.get(split, {}) else other
            if use == "dev" and t in c.by_split.get("test", {}) and english_only(c, t):
                use = "test"
            c.scores[t] = c.by_split[use][t]
            c.used_split[t] = use
            if use != split:
                fallback[t] = use
    return fallback


def sampling_label(ic: dict) -> str | None:
    """The intermediate task sampler of a config's ``intermediate`` mapping, e.g. ``uniform``, ``temperature T=2``,
    ``proportional (cap 1,000)``, ``explicit a=0.7 b=0.3``; None for a single task (nothing to sample)."""
    if not isinstance(ic, dict) or len(ic.get("tasks") or []) < 2:
        return None
    kind = str(ic.get("sampling") or "proportional")
    if kind == "temperature":
        kind += f" T={ic.get('sampling_temperature', 2.0):g}"
    elif kind == "explicit" and isinstance(ic.get("sampling_probabilities"), dict):
        kind += " " + " ".join(f"{k}={v:g}" for k, v in ic["sampling_probabilities"].items())
    if kind.startswith(("proportional", "temperature")) and ic.get("sampling_cap"):
        kind += f" (cap {int(ic['sampling_cap']):,})"
    if ic.get("mixed_batches"):
        kind += ", mixed batches"
    return kind


def attach_sampling(cells: list[Cell], folder: Path) -> None:
    """Set each cell's :attr:`Cell.sampling` from the study folder's ``cells.json`` (the resolved config of every
    cell, written by ``xstilts study run``), else from the cell's ``run_dir/config.yaml``."""
    configs: dict[str, dict] = {}
    try:
        for p in json.loads((Path(folder) / "cells.json").read_text(encoding="utf-8")):
            configs[p["id"]] = p.get("config") or {}
    except (OSError, ValueError, TypeError, KeyError):
        pass
    for c in cells:
        if c.is_baseline:
            continue
        cfg = configs.get(c.id)
        if cfg is None and c.run_dir and (Path(c.run_dir) / "config.yaml").is_file():
            cfg = _read_yaml(Path(c.run_dir) / "config.yaml")
        if cfg:
            c.sampling = sampling_label(cfg.get("intermediate") or {})


# ---------------------------------------------------------------------------------------------- tasks
@dataclass
class TaskInfo:
    """A target task label: its registry task (when known), headline metric and family (for per-example stats)."""

    label: str
    name: str
    metric: str
    task: Any = None
    family: Any = None
    languages: list[str] = field(default_factory=list)


_METRIC_PREFERENCE = ("f1", "accuracy", "accuracy@1", "map@20", "exact_match")


def _run_json(cell: Cell) -> dict | None:
    if not cell.run_dir:
        return None
    f = Path(cell.run_dir) / "run.json"
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def task_info(label: str, cells: list[Cell]) -> TaskInfo:
    """What is known about target *label*: from a cell's ``run.json``, else the task registry, else the scores."""
    name, metric = None, None
    for c in cells:
        rj = _run_json(c)
        m = (rj or {}).get("tasks", {}).get(label)
        if isinstance(m, dict):
            name, metric = m.get("task"), m.get("metric")
            break
    task = family = None
    try:
        from ..tasks import get_family, get_task

        task = get_task(name or label)
        family = get_family(task.kind)
        name = name or task.name
        metric = metric or task.metric
    except Exception:  # noqa: BLE001 - an unregistered label: use the scores
        pass
    metrics: list[str] = []
    langs: list[str] = []
    for c in cells:
        for lang, ms in c.scores.get(label, {}).items():
            if lang != "avg" and lang not in langs:
                langs.append(lang)
            for k in ms:
                if k not in metrics:
                    metrics.append(k)
    if metric is None or metric not in metrics and metrics:
        metric = next((m for m in _METRIC_PREFERENCE if m in metrics), None) or next(
            (m for m in metrics if m not in ("n",)), "score")
    if task is not None:
        order = {x: i for i, x in enumerate(task.languages)}
        langs.sort(key=lambda x: (order.get(x, len(order)), x))
    return TaskInfo(label, name or label, metric, task, family, langs)


def cell_score(cell: Cell, info: TaskInfo) -> float | None:
    """The cell's task score: the ``avg`` row of the headline metric, else the mean over its languages."""
    per = cell.scores.get(info.label, {})
    if "avg" in per and info.metric in per["avg"]:
        return per["avg"][info.metric]
    vals = [m[info.metric] for lang, m in per.items() if lang != "avg" and info.metric in m]
    return statistics.fmean(vals) if vals else None


def cell_language_scores(cell: Cell, info: TaskInfo) -> dict[str, float]:
    return {lang: m[info.metric] for lang, m in cell.scores.get(info.label, {}).items()
            if lang != "avg" and info.metric in m}


# ---------------------------------------------------------------------------------------------- per-example stats
def _phase_dir(cell: Cell, label: str) -> Path | None:
    rj = _run_json(cell)
    if rj is None:
        return None
    for ph in rj.get("phases", []):
        if ph.get("phase") == "target" and ph.get("task") == label:
            p = Path(ph.get("dir", ""))
            for cand in (p, Path(cell.run_dir) / p, Path(cell.run_dir) / "phases" / f"target-{label}"):
                if str(ph.get("dir", "")) and cand.is_dir():
                    return cand
            link = Path(cell.run_dir) / "phases" / f"target-{label}"
            return link if link.is_dir() else None
    return None


def load_example_stats(cell: Cell, info: TaskInfo) -> dict[str, list]:
    """``{language: per-example stats}`` of a cell's target phase (empty when there are none)."""
    pdir = _phase_dir(cell, info.label)
    if pdir is None:
        return {}
    folder = pdir / "per_example" / info.name
    if not folder.is_dir():
        subs = [p for p in (pdir / "per_example").glob("*") if p.is_dir()] if (pdir / "per_example").is_dir() else []
        if len(subs) != 1:
            return {}
        folder = subs[0]
    shown = cell.used_split.get(info.label, "test")
    split = (getattr(info.task, f"{shown}_split", shown) if info.task is not None else shown)
    out: dict[str, list] = {}
    files = sorted(folder.glob("*.jsonl"))
    for f in files:
        m = re.fullmatch(r"(.+?)-([^-]+)\.jsonl", f.name)
        if not m or m.group(1) != split and any(g.name.startswith(split + "-") for g in files):
            continue
        try:
            out[m.group(2)] = [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, json.JSONDecodeError):
            continue
    return out


# ---------------------------------------------------------------------------------------------- grouping
@dataclass
class Group:
    """One main table: cells of one model (family, other axes), intermediate data size and budget."""

    key: tuple
    model_label: str
    model: str
    model_size: str | None
    family: str | None
    intermediate_size: int | None
    budget_steps: int | None
    budget_tokens: int | None
    other: tuple
    rows: dict = field(default_factory=dict)  # intermediate tuple -> target label -> seed -> Cell
    order: int = 0

    @property
    def base_key(self) -> tuple:
        return (self.model, self.model_size, self.family, self.other)


def _budget_steps(c: Cell) -> int | None:
    """The steps budget that defines a cell's table: none for a token budget (whose conversion to steps differs from
    one task set to another; the settings of one token budget share a table)."""
    return c.budget_steps if c.budget_tokens is None else None


def _group_key(c: Cell) -> tuple:
    return (c.model, c.model_size, c.family, c.other_axes(), c.intermediate_size, _budget_steps(c), c.budget_tokens)


def _compatible(base: Cell, g: Group) -> bool:
    if (base.model, base.model_size, base.family) != (g.model, g.model_size, g.family):
        return False
    mine = dict(base.other_axes())
    for k, v in g.other:
        if k in mine and mine[k] not in ("null", "[]", '""') and mine[k] != v:
            return False
    return True


def build_groups(cells: list[Cell]) -> tuple[list[Group], dict]:
    """The tables: groups of done cells, each with its baseline row (``()``) attached from the matching baseline
    cells (same model, size, family, other axes; the same intermediate size/budget preferred when a baseline has
    them). Returns ``(groups, notes)``."""
    done = [c for c in cells if c.status == "done" and c.scores]
    groups: dict[tuple, Group] = {}
    baselines = [c for c in done if c.is_baseline]
    for c in done:
        if c.is_baseline:
            continue
        k = _group_key(c)
        g = groups.get(k)
        if g is None:
            g = groups[k] = Group(k, c.model_label, c.model, c.model_size, c.family, c.intermediate_size,
                                  _budget_steps(c), c.budget_tokens, c.other_axes(), order=c.order)
        for t in c.target_tasks():
            g.rows.setdefault(c.intermediate, {}).setdefault(t, {})[c.seed] = c
    if not groups:  # a baseline-only study: one table per model
        for c in baselines:
            k = (c.model, c.model_size, c.family, c.other_axes(), None, None, None)
            g = groups.setdefault(k, Group(k, c.model_label, c.model, c.model_size, c.family, None, None, None,
                                           c.other_axes(), order=c.order))
    notes: dict = {"unmatched_baseline": []}
    for g in groups.values():
        cands = [b for b in baselines if _compatible(b, g)]
        exact = [b for b in cands if (b.intermediate_size, b.budget_steps, b.budget_tokens)
                 == (g.intermediate_size, g.budget_steps, g.budget_tokens)]
        plain = [b for b in cands if (b.intermediate_size, b.budget_steps, b.budget_tokens) == (None, None, None)]
        chosen = exact or plain or cands
        row: dict = {}
        for b in chosen:
            for t in b.target_tasks():
                row.setdefault(t, {}).setdefault(b.seed, b)
        if row:
            g.rows = {(): row, **g.rows}
        else:
            notes["unmatched_baseline"].append(group_label(g, []))
    first: dict[str, int] = {}
    for g in sorted(groups.values(), key=lambda g: g.order):
        first.setdefault(g.model_label, len(first))
    rank = {lab: i for i, lab in enumerate(order_model_sizes(list(first)))}

    def key(g: Group):
        none_last = (g.intermediate_size is None, g.intermediate_size or 0)
        return (rank[g.model_label], g.model, none_last, g.budget_steps or 0, g.budget_tokens or 0, g.order)

    return sorted(groups.values(), key=key), notes


def group_label(g: Group, varying: list[str]) -> str:
    parts = [g.model_label + (f" ({g.model})" if g.model_label != Path(g.model).name and "model" in varying else "")]
    if g.family and "family" in varying:
        parts.append(f"family {g.family}")
    if "intermediate_size" in varying:
        parts.append(f"intermediate size {g.intermediate_size if g.intermediate_size is not None else 'all'}")
    if "budget" in varying:
        if g.budget_steps is not None:
            parts.append(f"budget {g.budget_steps:,} steps")
        elif g.budget_tokens is not None:
            parts.append(f"budget {g.budget_tokens:,} tokens")
        else:
            parts.append("no budget")
    for k, v in g.other:
        parts.append(f"{k}={json.loads(v)}")
    return ", ".join(parts)


def _varying(groups: list[Group]) -> list[str]:
    out = []
    for name, get in (("model", lambda g: g.model), ("family", lambda g: g.family),
                      ("intermediate_size", lambda g: g.intermediate_size),
                      ("budget", lambda g: (g.budget_steps, g.budget_tokens))):
        if len({get(g) for g in groups}) > 1:
            out.append(name)
    return out


# ---------------------------------------------------------------------------------------------- statistics
def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass
class Entry:
    """One table cell: a setting on a target (or on the XTREME score) in one group."""

    values: dict  # seed -> score
    mean: float | None = None
    std: float | None = None
    delta: float | None = None
    paired: bool = True
    ci_examples: Any = None
    ci_examples_note: str = ""
    ci_seeds: Any = None  # the paired t-test over seeds (an Interval: t interval, detail: p-values)
    ci_seeds_note: str = ""
    best: bool = False
    note: str = ""
    q_examples: float | None = None  # Benjamini–Hochberg adjusted p-values (per-language entries only)
    q_seeds: float | None = None

    def __post_init__(self):
        if self.values:
            self.mean, self.std = _mean_std(list(self.values.values()))


def _delta(values: dict, base: dict) -> tuple[float | None, bool]:
    common = [s for s in values if s in base]
    if common:
        return statistics.fmean(values[s] - base[s] for s in common), True
    if values and base:
        return statistics.fmean(values.values()) - statistics.fmean(base.values()), False
    return None, True


class Analysis:
    """Everything the report shows, computed once from the cells."""

    def __init__(self, cells: list[Cell], *, resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
                 low_resource: list[str] | None = None, dr_threshold: float = 0.1):
        self.cells = cells
        self.resamples, self.confidence, self.seed = resamples, confidence, seed
        self.low_resource = list(low_resource) if low_resource else list(DEFAULT_LOW_RESOURCE)
        self.dr_threshold = dr_threshold
        self.groups, self.notes = build_groups(cells)
        self.varying = _varying(self.groups)
        done = [c for c in cells if c.status == "done"]
        labels: list[str] = []
        for c in done:
            for t in c.target_tasks():
                if t not in labels:
                    labels.append(t)
        self.tasks = {t: task_info(t, [c for c in done if t in c.scores]) for t in labels}
        self._stats_cache: dict = {}
        self._boot_cache: dict = {}
        self.main: dict = {}  # (group index, intermediate, target) -> Entry
        self.xtreme: dict = {}  # (group index, intermediate) -> Entry
        self.languages: dict = {}  # (group index, intermediate, target) -> {lang: Entry}
        self.low: dict = {}  # (group index, intermediate, target) -> Entry
        self.average: dict = {}  # (group index, intermediate) -> Entry: mean over the group's targets
        self.language_tests: dict = {}  # (group index, target) -> number of per-language tests (BH family size)
        self._compute()

    # ------------------------------------------------------------------------------------------ helpers
    def label(self, g: Group) -> str:
        return group_label(g, self.varying)

    def targets(self, g: Group) -> list[str]:
        seen: list[str] = []
        for row in g.rows.values():
            for t in row:
                if t not in seen:
                    seen.append(t)
        return [t for t in self.tasks if t in seen]

    def _stats(self, cell: Cell, info: TaskInfo) -> dict[str, list]:
        k = (cell.id, info.label)
        if k not in self._stats_cache:
            self._stats_cache[k] = load_example_stats(cell, info)
        return self._stats_cache[k]

    def _metric(self, info: TaskInfo):
        fam, task = info.family, info.task

        def metric(stats):
            return fam.metric_from_stats(task, stats)

        return metric

    def _examples_ci(self, info: TaskInfo, row: dict, base: dict, langs: list[str] | None = None):
        """Paired bootstrap over examples for one (setting, target); ``(Interval | None, note)``."""
        from .. import stats as st

        if self.resamples <= 0:
            return None, "not computed (--resamples 0)"
        if info.family is None:
            return None, "task not in the registry"
        seeds = [s for s in row if s in base]
        if not seeds:
            return None, "no seed in common with the baseline"
        want = langs if langs is not None else info.languages
        a, b = {}, {}
        missing = set()
        for s in seeds:
            sa, sb = self._stats(row[s], info), self._stats(base[s], info)
            la = {lang: sa[lang] for lang in want if lang in sa and lang in sb and len(sa[lang]) == len(sb[lang])
                  and sa[lang]}
            missing |= {lang for lang in want if lang not in la}
            a[s], b[s] = la, {lang: sb[lang] for lang in la}
        if missing:
            if len(missing) == len(want):
                return None, "no per-example statistics"
            return None, f"per-example statistics missing for {', '.join(sorted(missing))}"
        try:
            iv = st.paired_examples_interval(a, b, self._metric(info), self.resamples, self.confidence, self.seed,
                                             key=f"{info.label}/", cache=self._boot_cache,
                                             ids=({s: row[s].id for s in seeds}, {s: base[s].id for s in seeds}))
        except (ValueError, NotImplementedError, KeyError, TypeError) as e:
            return None, f"failed: {e}"
        return iv, ""

    def _seeds_ci(self, values: dict, base: dict, key: str = ""):
        """Paired tests over seeds (t-test with its interval, sign-flip p-value); ``(Interval | None, note)``."""
        from .. import stats as st

        common = [s for s in values if s in base]
        if len(common) < MIN_SEEDS_TEST:
            return None, f"needs ≥ {MIN_SEEDS_TEST} paired seeds"
        return st.paired_seeds_test({s: values[s] for s in common}, {s: base[s] for s in common}, self.confidence,
                                    self.seed), ""

    # ------------------------------------------------------------------------------------------ compute
    def _compute(self) -> None:
        from ..xtreme.benchmark import xtreme_score

        for gi, g in enumerate(self.groups):
            base_row = g.rows.get((), {})
            for inter, row in g.rows.items():
                for t, by_seed in row.items():
                    info = self.tasks.get(t)
                    if info is None:
                        continue
                    vals = {s: v for s, c in by_seed.items() if (v := cell_score(c, info)) is not None}
                    e = Entry(vals)
                    per_lang: dict[str, Entry] = {}
                    langs_all = {lang for c in by_seed.values() for lang in cell_language_scores(c, info)}
                    for lang in [x for x in info.languages if x in langs_all]:
                        lv = {s: cell_language_scores(c, info)[lang] for s, c in by_seed.items()
                              if lang in cell_language_scores(c, info)}
                        per_lang[lang] = Entry(lv)
                    low_langs = [x for x in per_lang if x in self.low_resource]
                    lowv = {}
                    for s, c in by_seed.items():
                        ls = cell_language_scores(c, info)
                        if low_langs and all(x in ls for x in low_langs):
                            lowv[s] = statistics.fmean(ls[x] for x in low_langs)
                    low = Entry(lowv, note=", ".join(low_langs))
                    if inter and t in base_row:
                        bcells = base_row[t]
                        bvals = {s: v for s, c in bcells.items() if (v := cell_score(c, info)) is not None}
                        e.delta, e.paired = _delta(vals, bvals)
                        if e.paired:
                            e.ci_examples, e.ci_examples_note = self._examples_ci(info, by_seed, bcells)
                            e.ci_seeds, e.ci_seeds_note = self._seeds_ci(vals, bvals, f"{info.name}/seeds")
                        else:
                            e.ci_examples_note = e.ci_seeds_note = "unpaired (no common seed)"
                        ex_langs = (e.ci_examples.detail.get("languages", {}) if e.ci_examples is not None else {})
                        for lang, le in per_lang.items():
                            blv = {s: ls[lang] for s, c in bcells.items()
                                   if lang in (ls := cell_language_scores(c, info))}
                            le.delta, le.paired = _delta(le.values, blv)
                            if lang in ex_langs:
                                le.ci_examples = ex_langs[lang]
                            if le.paired:
                                le.ci_seeds, le.ci_seeds_note = self._seeds_ci(le.values, blv,
                                                                               f"{info.name}/{lang}/seeds")
                        if low_langs:
                            blow = {}
                            for s, c in bcells.items():
                                ls = cell_language_scores(c, info)
                                if all(x in ls for x in low_langs):
                                    blow[s] = statistics.fmean(ls[x] for x in low_langs)
                            low.delta, low.paired = _delta(lowv, blow)
                            if low.paired and lowv:
                                low.ci_examples, low.ci_examples_note = self._examples_ci(info, by_seed, bcells,
                                                                                          low_langs)
                                low.ci_seeds, low.ci_seeds_note = self._seeds_ci(lowv, blow,
                                                                                 f"{info.name}/low/seeds")
                    self.main[(gi, inter, t)] = e
                    self.languages[(gi, inter, t)] = per_lang
                    self.low[(gi, inter, t)] = low
            # best per target
            for t in self.targets(g):
                entries = [self.main[(gi, i, t)] for i in g.rows if (gi, i, t) in self.main
                           and self.main[(gi, i, t)].mean is not None]
                if entries:
                    top = max(x.mean for x in entries)
                    for x in entries:
                        x.best = math.isclose(x.mean, top, rel_tol=0, abs_tol=1e-9)
            # XTREME score per setting
            xvals: dict = {}
            for inter, row in g.rows.items():
                by_seed: dict[int, dict] = {}
                for t, cells in row.items():
                    info = self.tasks.get(t)
                    if info is None:
                        continue
                    for s, c in cells.items():
                        langs = {lang: m for lang, m in c.scores.get(t, {}).items() if lang != "avg"}
                        by_seed.setdefault(s, {})[t] = {"task": info.name, "metric": info.metric,
                                                        "languages": langs}
                vals, missing = {}, None
                for s, tasks in by_seed.items():
                    try:
                        r = xtreme_score(tasks)
                    except XstiltsError as err:
                        missing = [str(err)]
                        continue
                    if r["overall"] is not None:
                        vals[s] = r["overall"]
                    elif missing is None:
                        missing = r["missing"]
                e = Entry(vals, note="" if vals else f"n/a (missing: {', '.join(missing or ['all tasks'])})")
                xvals[inter] = e
            if () in xvals:
                for inter, e in xvals.items():
                    if inter and e.values and xvals[()].values:
                        e.delta, e.paired = _delta(e.values, xvals[()].values)
                        if e.paired:
                            e.ci_seeds, e.ci_seeds_note = self._seeds_ci(e.values, xvals[()].values, "xtreme/seeds")
            with_vals = [e for e in xvals.values() if e.mean is not None]
            if with_vals:
                top = max(e.mean for e in with_vals)
                for e in with_vals:
                    e.best = math.isclose(e.mean, top, rel_tol=0, abs_tol=1e-9)
            for inter, e in xvals.items():
                self.xtreme[(gi, inter)] = e
            self._average_over_targets(gi, g)
        self._adjust_languages()

    def _average_over_targets(self, gi: int, g: Group) -> None:
        """Per setting: the mean over the group's targets of each seed's scores (seeds with every target), its Δ vs
        the baseline's and the tests over seeds (the "avg" column of the paper's table, tested)."""
        targets = self.targets(g)
        if len(targets) < 2:
            return
        per: dict[tuple, dict] = {}
        for inter in g.rows:
            vals = {}
            entries = [self.main.get((gi, inter, t)) for t in targets]
            if any(e is None or not e.values for e in entries):
                continue
            for s in set.intersection(*(set(e.values) for e in entries)):
                vals[s] = statistics.fmean(e.values[s] for e in entries)
            per[inter] = vals
        base = per.get(())
        for inter, vals in per.items():
            e = Entry(vals, note=f"mean over {len(targets)} targets")
            if inter and base and vals:
                e.delta, e.paired = _delta(vals, base)
                if e.paired:
                    e.ci_seeds, e.ci_seeds_note = self._seeds_ci(vals, base)
                else:
                    e.ci_seeds_note = "unpaired (no common seed)"
            self.average[(gi, inter)] = e

    def _adjust_languages(self) -> None:
        """Benjamini–Hochberg over the per-language tests of each per-language table (a group and a target: every
        setting × language), separately for the tests over examples and over seeds (:attr:`Entry.q_examples`,
        :attr:`Entry.q_seeds`)."""
        from .. import stats as st

        tables: dict[tuple, list[Entry]] = {}
        for (gi, inter, t), per in self.languages.items():
            if inter:
                tables.setdefault((gi, t), []).extend(per.values())
        self.language_tests: dict[tuple, dict] = {}
        for key, entries in tables.items():
            pe = [(e.ci_examples or {}).get("p_value") if isinstance(e.ci_examples, dict) else None for e in entries]
            ps = [e.ci_seeds.detail.get("p_value") if e.ci_seeds is not None else None for e in entries]
            for e, q in zip(entries, st.bh_adjust(pe)):
                e.q_examples = q
            for e, q in zip(entries, st.bh_adjust(ps)):
                e.q_seeds = q
            self.language_tests[key] = {"examples": sum(p is not None for p in pe),
                                        "seeds": sum(p is not None for p in ps)}

    @property
    def alpha(self) -> float:
        """The level of the tests: 1 − confidence."""
        return 1.0 - self.confidence

    # ------------------------------------------------------------------------------------------ curves
    def data_size_curves(self) -> list[dict]:
        """Per (model/budget/other key, setting, target): the points over intermediate sizes and the log fit."""
        from .. import stats as st

        buckets: dict = {}
        for gi, g in enumerate(self.groups):
            if g.intermediate_size is None:
                continue
            ck = (g.model, g.model_size, g.family, g.other, g.budget_steps, g.budget_tokens)
            for inter in g.rows:
                if not inter:
                    continue
                for t in self.targets(g):
                    e = self.main.get((gi, inter, t))
                    if e is None or e.mean is None:
                        continue
                    buckets.setdefault((ck, t), {"group": g, "target": t, "series": {}, "baseline": None})
                    buckets[(ck, t)]["series"].setdefault(inter, []).append(
                        (g.intermediate_size, e.mean, e.std, len(e.values)))
                    b = self.main.get((gi, (), t))
                    if b is not None and b.mean is not None and buckets[(ck, t)]["baseline"] is None:
                        buckets[(ck, t)]["baseline"] = (b.mean, b.std)
        out = []
        for (ck, t), bk in buckets.items():
            sizes = {p[0] for pts in bk["series"].values() for p in pts}
            if len(sizes) < 2:
                continue
            fits = {}
            for inter, pts in bk["series"].items():
                pts.sort()
                if len({p[0] for p in pts}) >= 2:
                    f = st.fit_log_curve([p[0] for p in pts], [p[1] for p in pts])
                    nstar = st.diminishing_returns_point(f["b"], self.dr_threshold)
                    f["n_star"] = nstar
                    f["n_star_reached"] = nstar is None or nstar <= max(p[0] for p in pts)
                    f["sizes"] = [p[0] for p in pts]
                    fits[inter] = f
            out.append({**bk, "fits": fits})
        return out

    def model_size_curves(self) -> list[dict]:
        """Per (family/size/budget/other key, target): points per model-size label for every setting."""
        buckets: dict = {}
        for gi, g in enumerate(self.groups):
            ck = (g.family, g.other, g.intermediate_size, g.budget_steps, g.budget_tokens)
            for inter in g.rows:
                for t in self.targets(g):
                    e = self.main.get((gi, inter, t))
                    if e is None or e.mean is None:
                        continue
                    bk = buckets.setdefault((ck, t), {"group": g, "target": t, "series": {}, "labels": []})
                    lab = g.model_size or g.model_label
                    if lab not in bk["labels"]:
                        bk["labels"].append(lab)
                    bk["series"].setdefault(inter, {})[lab] = (e.mean, e.std, len(e.values))
        out = []
        for bk in buckets.values():
            if len(bk["labels"]) < 2:
                continue
            bk["labels"] = order_model_sizes(bk["labels"])
            out.append(bk)
        return out

    def budget_rows(self) -> list[dict]:
        """What each (setting, seed) spent per intermediate task, when the study has a budget axis."""
        if not any(c.budget_steps is not None or c.budget_tokens is not None for c in self.cells):
            return []
        rows, seen = [], set()
        for gi, g in enumerate(self.groups):
            for inter, row in g.rows.items():
                if not inter:
                    continue
                for t, by_seed in row.items():
                    for s, c in sorted(by_seed.items()):
                        if (gi, inter, s) in seen:
                            continue
                        seen.add((gi, inter, s))
                        spent = c.spent if isinstance(c.spent, dict) else {}
                        if not spent:
                            rows.append({"group": self.label(g), "setting": setting_label(inter), "seed": s,
                                         "task": "", "budget_steps": c.budget_steps,
                                         "budget_tokens": c.budget_tokens, "sampling": c.sampling})
                        steps = {k: v.get("steps") for k, v in spent.items() if isinstance(v, dict)}
                        total = sum(x for x in steps.values() if isinstance(x, (int, float)))
                        for task, v in spent.items():
                            rec = {"group": self.label(g), "setting": setting_label(inter), "seed": s, "task": task,
                                   "budget_steps": c.budget_steps, "budget_tokens": c.budget_tokens,
                                   "sampling": c.sampling}
                            if isinstance(v, dict):
                                rec.update({f"spent_{k}": x for k, x in v.items()})
                                if total and isinstance(steps.get(task), (int, float)):
                                    rec["spent_step_share"] = round(100.0 * steps[task] / total, 1)
                            else:
                                rec["spent"] = v
                            rows.append(rec)
        return rows


def order_model_sizes(labels: list[str]) -> list[str]:
    """Model-size labels in increasing size: parsed numbers (``110M``, ``1.3B``, ``7b``) when all parse, else known
    names (tiny < small < base < large < xl ...) when all are known, else the given order."""
    def num(x: str) -> float | None:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMbBtT]?)\s*(?:params?)?\s*", x)
        if not m:
            return None
        return float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}[m.group(2).lower()]

    nums = [num(x) for x in labels]
    if all(n is not None for n in nums):
        return [x for _, x in sorted(zip(nums, labels), key=lambda p: p[0])]
    low = [x.lower() for x in labels]
    if all(x in _SIZE_NAMES for x in low):
        return [x for _, x in sorted(zip(low, labels), key=lambda p: _SIZE_NAMES.index(p[0]))]
    return list(labels)


# ---------------------------------------------------------------------------------------------- formatting
def _f(x: float | None, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:+.2f}" if sign else f"{x:.2f}"


def _sig(x: Any) -> bool:
    if x is None:
        return False
    if isinstance(x, dict):
        return bool(x.get("significant"))
    return bool(x.significant)


def _lo_hi(x: Any) -> tuple[float | None, float | None]:
    if x is None:
        return None, None
    if isinstance(x, dict):
        return x.get("low"), x.get("high")
    return x.low, x.high


def _pval(x: Any) -> float | None:
    """The p-value of an interval (its ``detail``) or of a per-language dict."""
    if x is None:
        return None
    if isinstance(x, dict):
        return x.get("p_value")
    return x.detail.get("p_value")


def _marks(e: Entry) -> str:
    """† the interval over examples excludes 0; ‡ the t-test over seeds rejects (its interval excludes 0)."""
    return (DAGGER if _sig(e.ci_examples) else "") + (DDAGGER if _sig(e.ci_seeds) else "")


def _lang_marks(e: Entry, alpha: float) -> str:
    """The marks of a per-language cell: Benjamini–Hochberg adjusted p-values below *alpha*."""
    return ((DAGGER if e.q_examples is not None and e.q_examples < alpha else "")
            + (DDAGGER if e.q_seeds is not None and e.q_seeds < alpha else ""))


def _p(x: float | None) -> str:
    """A p-value: 3 significant digits, ``< 0.001`` below."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return "< 0.001" if x < 0.001 else f"{x:.3f}"


def _cell_text(e: Entry | None, with_std: bool = True) -> tuple[str, bool]:
    if e is None:
        return "—", False
    if e.mean is None:
        return e.note or "—", False
    txt = f"{e.mean:.2f}" + (f" ± {e.std:.2f}" if with_std and len(e.values) > 1 else "")
    if e.delta is not None:
        txt += f" ({_f(e.delta, True)}{_marks(e)}{'' if e.paired else ', unpaired'})"
    return txt, e.best


class Table:
    """A rendered table: title, header and rows of ``(text, bold)`` cells, plus an optional note."""

    def __init__(self, title: str, header: list[str], rows: list[list[tuple[str, bool]]], note: str = "",
                 align: str | None = None):
        self.title, self.header, self.rows, self.note = title, header, rows, note
        self.align = align or ("l" + "r" * (len(header) - 1))

    def markdown(self) -> str:
        def md(c):
            text = c[0].replace("|", "\\|")
            return f"**{text}**" if c[1] and text not in ("", "—") else text

        out = [f"#### {self.title}", "", "| " + " | ".join(h.replace("|", "\\|") for h in self.header) + " |",
               "|" + "|".join("---" if a == "l" else "---:" for a in self.align) + "|"]
        out += ["| " + " | ".join(md(c) for c in r) + " |" for r in self.rows]
        if self.note:
            out += ["", self.note]
        return "\n".join(out) + "\n"

    def latex(self) -> str:
        def tex(c):
            t = latex_escape(c[0])
            return f"\\textbf{{{t}}}" if c[1] and c[0] not in ("", "—") else t

        out = ["\\begin{table}[ht]", "\\centering", "\\small", f"\\caption{{{latex_escape(self.title)}}}",
               f"\\begin{{tabular}}{{{self.align}}}", "\\toprule",
               " & ".join(latex_escape(h) for h in self.header) + " \\\\", "\\midrule"]
        out += [" & ".join(tex(c) for c in r) + " \\\\" for r in self.rows]
        out += ["\\bottomrule", "\\end{tabular}"]
        if self.note:
            out.append(f"\\par\\smallskip{{\\footnotesize {latex_escape(self.note)}}}")
        out.append("\\end{table}")
        return "\n".join(out) + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "Δ": r"$\Delta$",
        DAGGER: r"$^{\dagger}$", DDAGGER: r"$^{\ddagger}$", "—": "---", "≥": r"$\geq$", "≤": r"$\leq$",
        "×": r"$\times$", "<": r"$<$", ">": r"$>$", "τ": r"$\tau$", "→": r"$\rightarrow$", "²": r"$^2$", "−": "-", "…": r"\ldots{}",
        "’": "'"}


def latex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()
    return s[:80] or "x"


# ---------------------------------------------------------------------------------------------- the report
class Report:
    """Builds the tables, CSV rows and plots of an :class:`Analysis` and writes them."""

    def __init__(self, an: Analysis, title: str, out: Path, plots: bool = True, inactive: int = 0,
                 split: str = "dev", fallback: dict | None = None, references: list[dict] | None = None):
        self.an, self.title, self.out, self.want_plots = an, title, Path(out), plots
        self.split = split  # the split the tables show
        self.fallback = dict(fallback or {})  # target -> the other split, shown where it has no `split` scores
        self.references = list(references or [])  # published figures (xstilts.study.reference)
        self.inactive = inactive  # cells left out because they are no longer in the study file (runs.active = 0)
        self.tables: list[tuple[str, Table]] = []  # (section, table)
        self.csv: dict[str, list[dict]] = {}
        self.images: list[tuple[str, str, str, float]] = []  # (section, caption, PNG file name, width in inches)
        self.figure_colors: dict[str, dict[str, str]] = {}  # figure stem -> {legend label: colour}
        self.palette = None  # figures.Palette, made once per report (_plots)
        self.labels: dict[tuple, str] = {}  # setting -> its label in the figures
        self.texts: list[tuple[str, str]] = []  # (section, markdown paragraph)

    # ------------------------------------------------------------------------------------------ tables
    def build(self) -> None:
        an = self.an
        for gi, g in enumerate(an.groups):
            self._paper_table(gi, g)
        for gi, g in enumerate(an.groups):
            self._main_table(gi, g)
        for gi, g in enumerate(an.groups):
            self._ci_table(gi, g)
        for gi, g in enumerate(an.groups):
            for t in an.targets(g):
                self._language_table(gi, g, t)
        for gi, g in enumerate(an.groups):
            self._low_table(gi, g)
        self._budget_table()
        self._curves()
        if self.want_plots:
            self._plots()

    def _settings(self, g: Group) -> list[tuple]:
        return list(g.rows)

    def _main_table(self, gi: int, g: Group) -> None:
        an = self.an
        targets = an.targets(g)
        header = ["intermediate"] + [f"{t} ({an.tasks[t].metric}{self._split_mark(t)})" for t in targets] + ["XTREME"]
        rows = []
        notes = {an.xtreme[(gi, i)].note for i in self._settings(g) if (gi, i) in an.xtreme
                 and an.xtreme[(gi, i)].mean is None}
        shared = len(notes) == 1 and all((gi, i) in an.xtreme and an.xtreme[(gi, i)].mean is None
                                         for i in self._settings(g))
        for inter in self._settings(g):
            r = [(setting_label(inter), False)]
            for t in targets:
                r.append(_cell_text(an.main.get((gi, inter, t))))
            x = an.xtreme.get((gi, inter))
            if x is not None and x.mean is not None:
                r.append(_cell_text(x))
            else:
                r.append(("n/a" if shared else (x.note if x else "—"), False))
            rows.append(r)
            for t in targets:
                e = an.main.get((gi, inter, t))
                if e is None:
                    continue
                self.csv.setdefault("main", []).append(self._csv_row(g, inter, t, an.tasks[t].metric, e))
            if x is not None:
                self.csv.setdefault("main", []).append(self._csv_row(g, inter, "XTREME", "xtreme_score", x))
        seeds = sorted({s for row in g.rows.values() for by in row.values() for s in by})
        note = (f"mean ± std over seeds ({', '.join(map(str, seeds))}); (Δ vs baseline, paired by seed); bold: best "
                f"per column; {self._marks_note()}"
                + (f" XTREME score: {notes.pop()}." if shared else "") + self._split_note(targets))
        self.tables.append(("Main results", Table(f"Main results ({self.split}) — {an.label(g)}", header, rows,
                                                  note)))

    def _marks_note(self, corrected: bool = False, family: int | None = None) -> str:
        """What the marks mean: test, level, correction."""
        an = self.an
        pct, a = f"{an.confidence * 100:g}%", f"{an.alpha:g}"
        if not corrected:
            return (f"{DAGGER}: the {pct} paired bootstrap interval over examples excludes 0 ({an.resamples:,} "
                    f"resamples); {DDAGGER}: paired t-test over seeds, two-sided p < {a} (≥ {MIN_SEEDS_TEST} paired "
                    f"seeds); one test per cell, not corrected for multiple comparisons.")
        fam = f" ({family} tests)" if family else ""
        return (f"Per-language marks, controlled for multiple comparisons: Benjamini–Hochberg adjusted p < {a} (false "
                f"discovery rate {a}) over all (setting, language) tests of this table{fam}, per kind of test; "
                f"{DAGGER}: paired bootstrap over examples (two-sided bootstrap p-value, {an.resamples:,} resamples), "
                f"{DDAGGER}: paired t-test over seeds (two-sided). The avg row's marks are the task-level tests, not "
                f"corrected.")

    # ------------------------------------------------------------------------------------------ the paper's table
    def _split_mark(self, t: str) -> str:
        return f", {self.fallback[t]}" if t in self.fallback else ""

    def _split_note(self, targets: list[str]) -> str:
        fb = [t for t in targets if t in self.fallback]
        text = f" Scores on the {self.split} split"
        if fb:
            text += (f"; {', '.join(fb)}: no {self.split} scores in the target languages, the "
                     f"{self.fallback[fb[0]]} split is shown (marked in the header)")
        return text + "."

    def _paper_table(self, gi: int, g: Group) -> None:
        """The paper's layout (Phang et al. 2020, Table 2): rows = intermediate settings (baseline, each task,
        multi-task), columns = targets, the score (mean over seeds) with Δ vs the baseline, and the average over
        the targets shown; published reference rows (``--reference``) below, labelled as not measured."""
        an = self.an
        targets = an.targets(g)
        if not targets:
            return
        settings = self._settings(g)
        multi = [i for i in settings if len(i) > 1]
        header = ["intermediate"] + [f"{t}{self._split_mark(t)}" for t in targets] + ["avg"]
        rows: list[list[tuple[str, bool]]] = []

        def label(inter: tuple) -> str:
            if len(inter) > 1 and len(multi) == 1:
                return f"multi-task ({len(inter)} tasks)"
            return setting_label(inter)

        def avg_of(vals: dict[str, float | None]) -> tuple[float | None, int]:
            have = [v for v in vals.values() if v is not None]
            return (statistics.fmean(have) if have else None), len(have)

        base_vals = {t: (an.main[(gi, (), t)].mean if (gi, (), t) in an.main else None) for t in targets}
        base_avg, base_n = avg_of(base_vals)
        measured_avg: dict[tuple, float | None] = {}
        for inter in settings:
            vals = {t: (an.main[(gi, inter, t)].mean if (gi, inter, t) in an.main else None) for t in targets}
            avg, n = avg_of(vals)
            measured_avg[inter] = avg
            r = [(label(inter), False)]
            for t in targets:
                e = an.main.get((gi, inter, t))
                if e is None or e.mean is None:
                    r.append(("—", False))
                    continue
                txt = f"{e.mean:.1f}"
                if inter and e.delta is not None:
                    txt += f" ({e.delta:+.1f}{'' if e.paired else '*'})"
                r.append((txt, e.best))
            if avg is None:
                r.append(("—", False))
            else:
                txt = f"{avg:.1f}" + (f" of {n}" if n < len(targets) else "")
                comparable = n == len(targets) and base_n == len(targets)
                if inter and base_avg is not None and comparable:
                    txt += f" ({avg - base_avg:+.1f})"
                r.append((txt, False))
            rows.append(r)
            self.csv.setdefault("paper", []).append(
                {"model": g.model_label, "setting": label(inter), "intermediate": setting_label(inter),
                 "source": "measured", "split": self.split,
                 **{t: vals[t] for t in targets}, "avg": avg,
                 **{f"delta_{t}": (an.main[(gi, inter, t)].delta if (gi, inter, t) in an.main else None)
                    for t in targets}})
        top = max((v for v in measured_avg.values() if v is not None), default=None)
        if top is not None:
            for r, inter in zip(rows, settings):
                if measured_avg[inter] is not None and math.isclose(measured_avg[inter], top, abs_tol=1e-9):
                    r[-1] = (r[-1][0], True)
        notes = [f"{an.tasks[t].metric} for {t}" for t in targets]
        seeds = sorted({s for row in g.rows.values() for by in row.values() for s in by})
        note = (f"The paper's layout: {self.split} scores averaged over each target's languages, mean over seeds "
                f"({', '.join(map(str, seeds))}); (Δ vs baseline, paired by seed; * unpaired); bold: best per column; "
                f"avg: mean over the targets shown ('of n': over the n targets the row has), its Δ vs the "
                f"baseline's. Metrics: {', '.join(notes)}." + self._split_note(targets))
        ref_rows, ref_notes = self._reference_rows(g, settings, targets, label)
        rows += ref_rows
        if ref_notes:
            note += " " + " ".join(ref_notes)
        self.tables.append(("Intermediate task × target (the paper's table)", Table(
            f"Intermediate task × target, {self.split} — {an.label(g)}", header, rows, note)))

    def _reference_rows(self, g: Group, settings: list[tuple], targets: list[str], label) -> tuple[list, list[str]]:
        """Rows of published figures (``--reference``): those of the table's settings in the table's order, then
        the reference's other rows; each labelled ``published (<publication>), not measured, <split>: <label>``,
        with Δ vs the reference's baseline row of the same split. Returns the rows and the notes (sources)."""
        from .reference import row_key

        out, notes = [], []
        names = {t: self.an.tasks[t].name for t in targets}
        for ref in self.references:
            who = ref["title"].split(",")[0].strip() or ref["name"]
            order: list[tuple[dict, str]] = []
            matched: set[int] = set()
            for inter in settings:
                key = row_key(inter, ref)
                for i, r in enumerate(ref["rows"]):
                    if key is not None and r["setting"] == key and i not in matched:
                        order.append((r, label(inter) if r["label"] == key else r["label"]))
                        matched.add(i)
            order += [(r, r["label"]) for i, r in enumerate(ref["rows"]) if i not in matched]
            empty, sources = [], []
            for r, text in order:
                vals = {t: r["scores"].get(names[t]) for t in targets}
                if all(v is None for v in vals.values()) and r["scores"].get("avg") is None:
                    empty.append(r["label"])
                    continue
                base = next((b for b in ref["rows"] if b["setting"] == "baseline" and b["split"] == r["split"]
                             and b is not r), None)
                row = [(f"published ({who}), not measured, {r['split']}: {text}", False)]
                for t in targets:
                    v = vals[t]
                    b = (base or {}).get("scores", {}).get(names[t]) if base is not None else None
                    row.append(("—" if v is None else f"{v:.1f}" + (f" ({v - b:+.1f})" if b is not None else ""),
                                False))
                row.append(("—" if r["scores"].get("avg") is None else f"{r['scores']['avg']:.1f}", False))
                out.append(row)
                sources.append(f"{r['label']} ({r['split']}): {r['source'].rstrip('.')}")
                self.csv.setdefault("paper", []).append(
                    {"model": ref.get("model"), "setting": r["setting"], "label": r["label"],
                     "source": f"published: {ref['name']}", "split": r["split"], **vals,
                     "avg": r["scores"].get("avg")})
            n = f"Published rows ({ref['name']}: {ref['title']}), not measured by xstilts"
            splits = sorted({r["split"] for r, _ in order if r["label"] not in empty})
            if splits and splits != [self.split]:
                n += f"; they are on the {' and '.join(splits)} split (this table: {self.split})"
            n += ("; Δ vs the published baseline row of the same split; their avg is the one the publication prints, "
                  "not recomputed here")
            metric_diff = [f"{t} ({ref['metrics'][names[t]]} there, {self.an.tasks[t].metric} here)"
                           for t in targets if names[t] in ref["metrics"]
                           and ref["metrics"][names[t]] != self.an.tasks[t].metric]
            if metric_diff:
                n += "; metrics differ for " + ", ".join(metric_diff)
            if sources:
                n += ". Sources: " + "; ".join(sources)
            if empty:
                n += f". No published figures for the columns shown in: {', '.join(empty)} (left out)"
            if ref["note"]:
                n += f". Note of the reference file: {ref['note']}"
            notes.append(n + ".")
        return out, notes

    def _csv_row(self, g: Group, inter: tuple, target: str, metric: str, e: Entry, **extra) -> dict:
        elo, ehi = _lo_hi(e.ci_examples)
        slo, shi = _lo_hi(e.ci_seeds)
        return {"model": g.model_label, "model_name": g.model, "model_size": g.model_size, "family": g.family,
                "intermediate_size": g.intermediate_size, "budget_steps": g.budget_steps,
                "budget_tokens": g.budget_tokens, **{k: json.loads(v) for k, v in g.other},
                "setting": setting_label(inter), **extra, "target": target, "metric": metric,
                "n_seeds": len(e.values), "seeds": " ".join(map(str, sorted(e.values))), "mean": e.mean,
                "std": e.std, "delta": e.delta, "paired": e.paired, "best": e.best,
                "ci_examples_low": elo, "ci_examples_high": ehi, "ci_examples_significant": _sig(e.ci_examples)
                if e.ci_examples is not None else None,
                "p_examples": _pval(e.ci_examples),
                "ci_seeds_low": slo, "ci_seeds_high": shi,
                "ci_seeds_significant": _sig(e.ci_seeds) if e.ci_seeds is not None else None,
                "p_seeds_ttest": _pval(e.ci_seeds),
                "p_seeds_sign_flip": e.ci_seeds.detail.get("sign_flip_p") if e.ci_seeds is not None else None,
                **({"q_examples_bh": e.q_examples, "q_seeds_bh": e.q_seeds} if "language" in extra else {}),
                "note": e.note}

    def _ci_table(self, gi: int, g: Group) -> None:
        """Per setting: each target's Δ, the average over the targets and the XTREME score, with the interval and
        p-value over examples (paired bootstrap) and the tests over seeds (t interval, t-test and sign-flip
        p-values)."""
        an = self.an
        rows = []
        pct = f"{an.confidence * 100:g}%"
        min_p: set[float] = set()
        for inter in self._settings(g):
            if not inter:
                continue
            for t in an.targets(g) + ["avg", "XTREME"]:
                if t == "XTREME":
                    e = an.xtreme.get((gi, inter))
                elif t == "avg":
                    e = an.average.get((gi, inter))
                else:
                    e = an.main.get((gi, inter, t))
                if e is None or e.delta is None:
                    continue
                ex_note = e.ci_examples_note or ("n/a" if t in ("XTREME", "avg") else "")
                sd = e.ci_seeds.detail if e.ci_seeds is not None else {}
                if sd:
                    min_p.add(sd["sign_flip_min_p"])
                sf = "—" if not sd else _p(sd["sign_flip_p"]) + ("" if sd["sign_flip_exact"] else " (random flips)")
                tp = "—" if not sd else _p(sd["p_value"]) + (" (no spread)" if sd.get("zero_spread") else "")
                rows.append([(setting_label(inter), False),
                             ("avg (targets)" if t == "avg" else t, False), (_f(e.delta, True), False),
                             (self._ci_text(e.ci_examples, ex_note), False),
                             (_p(_pval(e.ci_examples)) if e.ci_examples is not None else "—", False),
                             (str(len(sd.get("seeds", []))) if sd else "—", False),
                             (self._ci_text(e.ci_seeds, e.ci_seeds_note), False), (tp, False), (sf, False)])
                self.csv.setdefault("tests", []).append(
                    {**self._csv_row(g, inter, t, "average" if t == "avg" else
                                     ("xtreme_score" if t == "XTREME" else an.tasks[t].metric), e),
                     "t": sd.get("t"), "df": sd.get("df"), "sign_flip_exact": sd.get("sign_flip_exact"),
                     "differences": " ".join(f"{d:.4g}" for d in sd.get("differences", []))})
        if rows:
            floor = (f" With n seeds the sign-flip test's smallest possible p is 2/2^n ("
                     + ", ".join(f"{m:.3g}" for m in sorted(min_p, reverse=True)) + " here), so it cannot reject at "
                     f"{an.alpha:g} with few seeds.") if min_p else ""
            note = (f"Over examples: {pct} percentile interval of {an.resamples:,} paired bootstrap replicates (seed "
                    f"{an.seed}) and its two-sided bootstrap p-value. Over seeds: the per-seed differences' paired "
                    f"t-test (two-sided; its {pct} t interval) and exact sign-flip permutation test (all 2^n sign "
                    f"flips, two-sided). * = the interval excludes 0 (p < {an.alpha:g}); no correction for multiple "
                    f"comparisons. avg (targets): the mean over the table's targets per seed.{floor}")
            self.tables.append(("Confidence intervals and tests", Table(
                f"Deltas vs baseline: confidence intervals and tests — {an.label(g)}",
                ["intermediate", "target", "Δ", f"{pct} CI over examples", "p (bootstrap)", "seeds",
                 f"{pct} CI over seeds (t)", "p (t-test)", "p (sign-flip)"], rows, note, align="llrlrrlrr")))

    @staticmethod
    def _ci_text(iv: Any, note: str) -> str:
        if iv is None:
            return note or "—"
        lo, hi = _lo_hi(iv)
        return f"[{_f(lo, True)}, {_f(hi, True)}]" + (" *" if _sig(iv) else "")

    def _language_table(self, gi: int, g: Group, t: str) -> None:
        an = self.an
        info = an.tasks[t]
        settings = [i for i in self._settings(g) if (gi, i, t) in an.languages]
        langs: list[str] = []
        for i in settings:
            for lang in an.languages[(gi, i, t)]:
                if lang not in langs:
                    langs.append(lang)
        if not langs:
            return
        order = {x: k for k, x in enumerate(info.languages)}
        langs.sort(key=lambda x: order.get(x, len(order)))
        header = ["language"] + [setting_label(i) for i in settings]
        rows = []
        for lang in langs + ["avg"]:
            r = [(lang, False)]
            for i in settings:
                e = an.languages[(gi, i, t)].get(lang) if lang != "avg" else an.main.get((gi, i, t))
                if e is None or e.mean is None:
                    r.append(("—", False))
                    continue
                txt = f"{e.mean:.2f}"
                if e.delta is not None:
                    txt += f" ({_f(e.delta, True)}{_marks(e) if lang == 'avg' else _lang_marks(e, an.alpha)})"
                r.append((txt, False))
                if lang != "avg":
                    self.csv.setdefault("per_language", []).append(
                        self._csv_row(g, i, t, info.metric, e, language=lang,
                                      low_resource=lang in an.low_resource))
            rows.append(r)
        # bold: best setting per language
        for r, lang in zip(rows, langs + ["avg"]):
            vals = []
            for k, i in enumerate(settings, 1):
                e = an.languages[(gi, i, t)].get(lang) if lang != "avg" else an.main.get((gi, i, t))
                vals.append(e.mean if e is not None and e.mean is not None else None)
            top = max((v for v in vals if v is not None), default=None)
            for k, v in enumerate(vals, 1):
                if v is not None and top is not None and math.isclose(v, top, abs_tol=1e-9):
                    r[k] = (r[k][0], True)
        fam = an.language_tests.get((gi, t), {})
        n_tests = max(fam.get("examples", 0), fam.get("seeds", 0)) or None
        note = (f"{info.metric} per language, mean over seeds (Δ vs baseline); bold: best per language. "
                + self._marks_note(corrected=True, family=n_tests))
        self.tables.append(("Per-language results", Table(f"{t} per language — {an.label(g)}", header, rows, note)))

    def _low_table(self, gi: int, g: Group) -> None:
        an = self.an
        targets = [t for t in an.targets(g) if any(an.low.get((gi, i, t)) is not None and an.low[(gi, i, t)].mean
                                                   is not None for i in g.rows)]
        if not targets:
            return
        header = ["intermediate"] + [f"{t} ({an.tasks[t].metric})" for t in targets]
        rows = []
        for inter in self._settings(g):
            r = [(setting_label(inter), False)]
            for t in targets:
                e = an.low.get((gi, inter, t))
                r.append(_cell_text(e))
                if e is not None and e.mean is not None:
                    self.csv.setdefault("low_resource", []).append(
                        self._csv_row(g, inter, t, an.tasks[t].metric, e, languages=e.note))
            rows.append(r)
        for k, t in enumerate(targets, 1):
            vals = [(an.low.get((gi, i, t)).mean if an.low.get((gi, i, t)) is not None else None) for i in g.rows]
            top = max((v for v in vals if v is not None), default=None)
            for r, v in zip(rows, vals):
                if v is not None and math.isclose(v, top, abs_tol=1e-9):
                    r[k] = (r[k][0], True)
        cover_parts = []
        for t in targets:
            langs = sorted({x for i in g.rows if (gi, i, t) in an.low for x in an.low[(gi, i, t)].note.split(", ")
                            if x})
            cover_parts.append(f"{t}: {', '.join(langs) or 'none'}")
        cover = "; ".join(cover_parts)
        note = (f"mean over the low-resource languages each target has ({cover}); low-resource list: "
                f"{' '.join(an.low_resource)}. (Δ vs baseline) " + self._marks_note())
        self.tables.append(("Low-resource languages", Table(f"Low-resource languages — {an.label(g)}", header, rows,
                                                            note)))

    def _budget_table(self) -> None:
        rows = self.an.budget_rows()
        if not rows:
            return
        self.csv["budget"] = rows
        keys = [k for k in dict.fromkeys(k for r in rows for k in r) if k.startswith("spent")]
        header = (["table", "intermediate", "seed", "budget", "sampling", "task"]
                  + [k.replace("spent_", "").replace("step_share", "% of steps") for k in keys])
        out = []
        for r in rows:
            bud = (f"{r['budget_tokens']:,} tokens" + (f" = {r['budget_steps']:,} steps"
                                                       if r.get("budget_steps") is not None else "")
                   if r.get("budget_tokens") is not None else
                   f"{r['budget_steps']:,} steps" if r.get("budget_steps") is not None else "—")
            out.append([(r["group"], False), (r["setting"], False), (str(r["seed"]), False), (bud, False),
                        (r.get("sampling") or "—", False),
                        ({"": "—", "_total": "all tasks"}.get(r["task"], r["task"]), False)]
                       + [(_num(r.get(k)), False) for k in keys])
        self.tables.append(("Compute budget spent", Table(
            "Intermediate compute actually spent per task", header, out,
            "from runs.spent: what each intermediate task received of the budget (batches drawn = steps, examples, "
            "tokens; estimated = not counted during training); sampling: the intermediate task sampler; a token "
            "budget is converted to optimizer steps per cell.",
            align="llllll" + "r" * len(keys))))

    def _curves(self) -> None:
        an = self.an
        self.size_curves = an.data_size_curves()
        rows = []
        for c in self.size_curves:
            for inter, f in c["fits"].items():
                nstar = f["n_star"]
                where = "—" if nstar is None else (f"{nstar:,.0f}" + ("" if f["n_star_reached"] else
                                                                      " (beyond the largest size)"))
                rows.append([(an.label(c["group"]).split(", intermediate size")[0], False),
                             (setting_label(inter), False), (c["target"], False), (f"{f['a']:.2f}", False),
                             (f"{f['b']:.3f}", False), (f"{f['gain_per_10x']:+.2f}", False), (f"{f['r2']:.3f}", False),
                             (where, False)])
                self.csv.setdefault("data_size_fit", []).append(
                    {"model": c["group"].model_label, "budget_steps": c["group"].budget_steps,
                     "budget_tokens": c["group"].budget_tokens, "setting": setting_label(inter),
                     "target": c["target"], "a": f["a"], "b": f["b"], "gain_per_10x": f["gain_per_10x"],
                     "r2": f["r2"], "n_star": nstar, "n_star_reached": f["n_star_reached"],
                     "threshold_points_per_1000": an.dr_threshold, "sizes": " ".join(map(str, f["sizes"]))})
            for inter, pts in c["series"].items():
                for size, mean, std, n in pts:
                    self.csv.setdefault("data_size", []).append(
                        {"model": c["group"].model_label, "setting": setting_label(inter), "target": c["target"],
                         "intermediate_size": size, "mean": mean, "std": std, "n_seeds": n})
        if rows:
            self.tables.append(("Intermediate data size", Table(
                "Fitted data-size curves score = a + b ln(n)",
                ["model", "intermediate", "target", "a", "b", "gain per 10×", "R²", "diminishing returns n*"], rows,
                f"n*: the size at which the fitted gain falls below τ = {an.dr_threshold:g} points per 1,000 more "
                f"examples (n* = 1000 b / τ).", align="lllrrrrr")))
        self.model_curves = an.model_size_curves()
        for c in self.model_curves:
            for inter, pts in c["series"].items():
                for lab in c["labels"]:
                    if lab in pts:
                        mean, std, n = pts[lab]
                        self.csv.setdefault("model_size", []).append(
                            {"setting": setting_label(inter), "target": c["target"], "model_size": lab, "mean": mean,
                             "std": std, "n_seeds": n})

    # ------------------------------------------------------------------------------------------ plots
    def _display_labels(self) -> dict[tuple, str]:
        """Setting → the label the figures show: the setting label, or ``multi-task (n tasks)`` for a long task set
        (the paper's name; the caption gives the tasks), made unique."""
        settings: list[tuple] = [()]
        for g in self.an.groups:
            for inter in g.rows:
                if inter not in settings:
                    settings.append(inter)
        out: dict[tuple, str] = {}
        for inter in settings:
            lab = setting_label(inter)
            if len(lab) > 24 and len(inter) > 1:
                lab = f"multi-task ({len(inter)} tasks)"
                if lab in out.values():
                    lab = f"multi-task ({len(inter)} tasks, {setting_label(inter)[:12]}…)"
            out[inter] = lab
        return out

    def _long_names(self, settings) -> str:
        """The caption's key of shortened setting labels (``multi-task (9 tasks) = a+b+...``)."""
        parts = [f"{self.labels[i]} = {setting_label(i)}" for i in settings if self.labels.get(i, "") !=
                 setting_label(i)]
        return (" " + "; ".join(parts) + ".") if parts else ""

    def _plots(self) -> None:
        from .. import figures

        an = self.an
        self.labels = self._display_labels()
        self.palette = figures.Palette(self.labels.values())  # one colour per setting for every figure
        with figures.style():
            for gi, g in enumerate(an.groups):
                targets = an.targets(g)
                settings = [i for i in g.rows if i]
                if () in g.rows and settings and targets:
                    self._heatmap(gi, g, settings, targets)
                for t in targets:
                    self._language_plot(gi, g, settings, t)
            for c in self.size_curves:
                self._size_plot(c)
            for c in self.model_curves:
                self._model_plot(c)

    def _save(self, fig, stem: str, section: str, caption: str) -> None:
        """Write ``<stem>.pdf`` and ``<stem>.png`` (300 dpi) and list the figure with its caption."""
        from .. import figures

        width = float(fig.get_size_inches()[0])
        self.figure_colors[stem] = figures.legend_colors(fig)
        figures.save(fig, self.out / stem)
        self.images.append((section, caption, f"{stem}.png", width))

    def _heatmap(self, gi: int, g: Group, settings: list, targets: list[str]) -> None:
        from .. import figures
        import numpy as np

        an = self.an
        cols = targets + (["XTREME"] if any(an.xtreme.get((gi, i)) is not None and an.xtreme[(gi, i)].delta
                                            is not None for i in settings) else [])
        mat = np.full((len(settings), len(cols)), np.nan)
        notes = [[""] * len(cols) for _ in settings]
        for r, i in enumerate(settings):
            for k, t in enumerate(cols):
                e = an.main.get((gi, i, t)) if t != "XTREME" else an.xtreme.get((gi, i))
                if e is not None and e.delta is not None:
                    mat[r, k] = e.delta
                    notes[r][k] = f"{e.delta:+.1f}{_marks(e)}"
        fig = figures.delta_heatmap(mat, [self.labels[i] for i in settings], cols, notes,
                                    "Δ vs baseline (points)")
        if fig is None:
            return
        self._save(fig, f"heatmap-{slug(an.label(g))}", "Plots",
                   f"Δ vs the baseline per intermediate setting (rows) and target (columns), {self.split} scores — "
                   f"{an.label(g)}. Blue: better than the baseline, red: worse; n/a: no Δ. {self._marks_note()}"
                   + self._long_names(settings))

    def _language_plot(self, gi: int, g: Group, settings: list, t: str) -> None:
        """Per-language Δ of every setting: a dot plot sorted by Δ, wrapped into panels of ≤ 40 languages."""
        from .. import figures

        an = self.an
        raw = [(i, an.languages.get((gi, i, t), {})) for i in settings]
        kind = ("examples" if any(le.ci_examples is not None for _, per in raw for le in per.values())
                else "seeds" if any(le.ci_seeds is not None for _, per in raw for le in per.values()) else None)
        series = []
        for i, per in raw:
            pts = {}
            for lang, le in per.items():
                if le.delta is None:
                    continue
                iv = le.ci_examples if kind == "examples" else le.ci_seeds if kind == "seeds" else None
                lo, hi = _lo_hi(iv)
                pts[lang] = figures.LanguagePoint(le.delta, lo, hi)
            if pts:
                series.append((self.labels[i], pts))
        if not series:
            return
        means = {}
        if len(series) <= 3:  # the task-level Δ of each setting as a dashed line (more would clutter)
            means = {self.labels[i]: an.main[(gi, i, t)].delta for i, _ in raw
                     if (gi, i, t) in an.main and an.main[(gi, i, t)].delta is not None}
        fig, info = figures.language_dot_plot(series, self.palette, f"Δ {an.tasks[t].metric} vs baseline (points)",
                                              mean_lines=means)
        if fig is None:
            return
        pct = f"{an.confidence * 100:g}%"
        what = {"examples": f"lines: {pct} paired bootstrap intervals over examples",
                "seeds": f"lines: {pct} t intervals over seeds",
                None: "no intervals (no per-example statistics and fewer than 2 paired seeds)"}[kind]
        miss = (f"; open dots: no interval for that language ({info['missing']} of "
                f"{info['missing'] + info['with_interval']})" if info["missing"] and kind else "")
        if info.get("cut"):
            miss += f"; {info['cut']} interval end(s) beyond the axis run to the panel's edge"
        lay = info["layout"]
        wrap = (f" {lay.n} languages in {lay.ncols * lay.nrows} panels, read left to right"
                + (", then the next row of panels." if lay.nrows > 1 else ".") if lay.ncols * lay.nrows > 1 else "")
        self._save(fig, f"languages-{slug(an.label(g))}-{slug(t)}", "Plots",
                   f"{t}: Δ vs the baseline per language, {self.split} scores, languages sorted by Δ (largest first) — "
                   f"{an.label(g)}. Dots: Δ (mean over seeds); {what}, not corrected for multiple comparisons{miss}"
                   + ("; dashed: the task-level Δ (mean over languages)" if means else "") + "." + wrap
                   + self._long_names(settings))

    def _size_plot(self, c: dict) -> None:
        from .. import figures
        import numpy as np

        an = self.an
        pal = self.palette
        fig, ax = figures.figure(figures.COLUMN_WIDTH, 2.6 + 0.2 * math.ceil((len(c["series"]) + 1) / 2))
        handles = []
        nstars = []
        single = False
        for inter, pts in c["series"].items():
            lab = self.labels.get(inter, setting_label(inter))
            stl = pal[lab]
            xs = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            lo = [p[1] - p[2] if p[3] > 1 else None for p in pts]
            hi = [p[1] + p[2] if p[3] > 1 else None for p in pts]
            _, wo = figures.points(ax, xs, ys, lo, hi, stl)
            single = single or wo > 0
            f = c["fits"].get(inter)
            if f is not None:
                grid = np.geomspace(min(xs), max(xs), 100)
                ax.plot(grid, f["a"] + f["b"] * np.log(grid), color=stl.color, linewidth=1.0)
                if f["n_star"] is not None and min(xs) <= f["n_star"] <= max(xs):
                    ax.axvline(f["n_star"], color=stl.color, linestyle=":", linewidth=1.0)
                    nstars.append(f"{lab}: n* = {f['n_star']:,.0f}")
            handles.append(figures.setting_handle(lab, stl))
        if c["baseline"] is not None:
            m, sd = c["baseline"]
            ax.axhline(m, color=figures.BASELINE_COLOR, linestyle="--", linewidth=1.0)
            if sd:
                ax.axhspan(m - sd, m + sd, color="0.85", linewidth=0, zorder=0)
            from matplotlib.lines import Line2D

            handles.insert(0, Line2D([], [], color=pal["baseline"].color, linestyle="--", linewidth=1.0,
                                     label=self.labels[()]))
        ax.set_xscale("log")
        ax.set_xlabel("intermediate training examples (log scale)")
        ax.set_ylabel(f"{c['target']} {an.tasks[c['target']].metric}")
        figures.figure_legend(fig, handles, ncol=2)
        lab = an.label(c["group"]).split(", intermediate size")[0]
        self._save(fig, f"data-size-{slug(lab)}-{slug(c['target'])}", "Plots",
                   f"{c['target']}: score vs intermediate data size (log scale), {self.split} scores — {lab}. Dots: "
                   f"mean over seeds, lines through them: ± 1 std over seeds"
                   + ("; open dots: one seed, no spread to show" if single else "")
                   + "; solid curves: the fit a + b ln n (table above); dotted: the point of diminishing returns n*"
                   + (f" ({'; '.join(nstars)})" if nstars else "")
                   + ("; dashed: the baseline (grey band: ± 1 std)" if c["baseline"] is not None else "") + "."
                   + self._long_names(list(c["series"])))

    def _model_plot(self, c: dict) -> None:
        from .. import figures

        an = self.an
        pal = self.palette
        labels = c["labels"]
        series = list(c["series"].items())
        fig, ax = figures.figure(figures.COLUMN_WIDTH if len(labels) <= 6 else figures.MAX_WIDTH,
                                 2.6 + 0.2 * math.ceil(len(series) / 2))
        handles, single = [], False
        step = min(0.12, 0.5 / max(len(series), 1))
        for k, (inter, pts) in enumerate(series):
            lab = self.labels.get(inter, setting_label(inter))
            stl = pal[lab]
            idx = [j for j, x in enumerate(labels) if x in pts]
            xs = [j + (k - (len(series) - 1) / 2) * step for j in idx]
            ys = [pts[labels[j]][0] for j in idx]
            lo = [pts[labels[j]][0] - pts[labels[j]][1] if pts[labels[j]][2] > 1 else None for j in idx]
            hi = [pts[labels[j]][0] + pts[labels[j]][1] if pts[labels[j]][2] > 1 else None for j in idx]
            ax.plot(xs, ys, color=stl.color, linewidth=0.8, alpha=0.6)
            _, wo = figures.points(ax, xs, ys, lo, hi, stl)
            single = single or wo > 0
            handles.append(figures.setting_handle(lab, stl))
        ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel("model size")
        ax.set_ylabel(f"{c['target']} {an.tasks[c['target']].metric}")
        figures.figure_legend(fig, handles, ncol=2)
        g = c["group"]
        extra = []
        if g.intermediate_size is not None:
            extra.append(f"intermediate size {g.intermediate_size}")
        if g.budget_steps is not None or g.budget_tokens is not None:
            extra.append(f"budget {g.budget_steps or g.budget_tokens}")
        tail = f" ({', '.join(extra)})" if extra else ""
        self._save(fig, f"model-size-{slug(c['target'])}{'-' + slug(tail) if tail else ''}", "Plots",
                   f"{c['target']}: score vs model size{tail}, {self.split} scores. Dots: mean over seeds, lines "
                   f"through them: ± 1 std over seeds" + ("; open dots: one seed, no spread to show" if single else "")
                   + "." + self._long_names([i for i, _ in series]))

    # ------------------------------------------------------------------------------------------ output
    def header_lines(self) -> list[str]:
        an = self.an
        status: dict[str, int] = {}
        for c in an.cells:
            status[c.status] = status.get(c.status, 0) + 1
        lines = [f"# {self.title}", "",
                 "cells: " + ", ".join(f"{n} {s}" for s, n in sorted(status.items())) + f" (of {len(an.cells)})"
                 + (f"; {self.inactive} cell(s) no longer in the study file left out (--all-cells to include them)"
                    if self.inactive else ""), ""]
        lines += [f"Over examples: paired bootstrap, {an.resamples:,} resamples, {an.confidence * 100:g}% percentile "
                  f"intervals, seed {an.seed}. Over seeds: paired t-test and exact sign-flip test (level "
                  f"{an.alpha:g}); per-language marks Benjamini–Hochberg corrected. Low-resource languages: "
                  f"{' '.join(an.low_resource)}.", ""]
        failed = [c for c in an.cells if c.status == "failed"]
        if failed:
            lines += ["**Failed cells** (not in the tables):", ""]
            for c in failed:
                err = (c.error or "").strip().splitlines()[0][:200] if c.error else "no error recorded"
                lines.append(f"- `{c.id}` {c.model_label} {c.setting} → {c.target}, seed {c.seed}: {err}")
            lines.append("")
        if an.notes.get("unmatched_baseline"):
            lines += ["No baseline cells for: " + "; ".join(an.notes["unmatched_baseline"]) + " (no deltas).", ""]
        return lines

    def write(self) -> dict:
        out = self.out
        out.mkdir(parents=True, exist_ok=True)
        md = self.header_lines()
        sections: list[str] = []
        for sec, _ in self.tables:
            if sec not in sections:
                sections.append(sec)
        for sec, *_ in self.images:
            if sec not in sections:
                sections.append(sec)
        for sec in sections:
            md += [f"## {sec}", ""]
            for s, t in self.tables:
                if s == sec:
                    md += [t.markdown()]
            for s, cap, name, _ in self.images:
                if s == sec:
                    md += [f"![{name.rsplit('.', 1)[0]}]({name})", "", f"*{cap}*", "",
                           f"(vector: [{name.rsplit('.', 1)[0]}.pdf]({name.rsplit('.', 1)[0]}.pdf))", ""]
        md += ["## Definitions", "", _DEFINITIONS.format(
            threshold=self.an.dr_threshold, pct=f"{self.an.confidence * 100:g}%", alpha=f"{self.an.alpha:g}"), ""]
        md_text = "\n".join(md)
        paths = {"markdown": atomic_write_text(out / "report.md", md_text)}
        tex = [r"\documentclass{article}", r"\usepackage[margin=2cm]{geometry}", r"\usepackage{booktabs}",
               r"\usepackage{graphicx}", r"\usepackage[utf8]{inputenc}", r"\begin{document}",
               f"\\section*{{{latex_escape(self.title)}}}"]
        for sec in sections:
            tex.append(f"\\subsection*{{{latex_escape(sec)}}}")
            for s, t in self.tables:
                if s == sec:
                    tex.append(t.latex())
            for s, cap, name, width in self.images:
                if s == sec:  # the PDF at its own size (8 pt text), scaled down only where wider than the text
                    size = f"width={width:.2f}in" if width <= 6.5 else r"width=\linewidth"
                    tex += [r"\begin{figure}[ht]", r"\centering",
                            f"\\includegraphics[{size}]{{{name.rsplit('.', 1)[0]}.pdf}}",
                            f"\\caption{{{latex_escape(cap)}}}", r"\end{figure}"]
            tex.append(r"\clearpage")
        tex.append(r"\end{document}")
        paths["latex"] = atomic_write_text(out / "report.tex", "\n".join(tex) + "\n")
        csvs = {}
        for name, rows in self.csv.items():
            if not rows:
                continue
            cols = list(dict.fromkeys(k for r in rows for k in r))
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
            csvs[name] = str(atomic_write_text(out / f"{name}.csv", buf.getvalue()))
        pdfs = [n.rsplit(".", 1)[0] + ".pdf" for _, _, n, _ in self.images]
        paths["json"] = atomic_write_json(out / "report.json", {
            "title": self.title, "csv": csvs, "images": [n for _, _, n, _ in self.images], "pdf": pdfs,
            "captions": {n: cap for _, cap, n, _ in self.images},
            "setting_colors": self.palette.as_dict() if self.palette is not None else {},
            "low_resource_languages": self.an.low_resource})
        return {**{k: str(v) for k, v in paths.items()}, "csv": csvs,
                "images": [str(out / n) for _, _, n, _ in self.images], "pdf": [str(out / n) for n in pdfs],
                "figure_colors": self.figure_colors, "markdown_text": md_text}


def _num(v: Any) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, float)):
        return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"
    return str(v)


_DEFINITIONS = (
    "- Score: the target's headline metric averaged over its evaluation languages; mean ± std over seeds (sample "
    "std).\n"
    "- Δ: setting − baseline (same model, size, family and other axes), mean of the per-seed differences.\n"
    "- " + DAGGER + ": the {pct} paired bootstrap interval over examples excludes 0 (Koehn 2004; Berg-Kirkpatrick et "
    "al. 2012; percentile intervals, Efron & Tibshirani 1993): test examples of each language resampled with "
    "replacement, the same for both systems and every seed, metric recomputed from per-example statistics, averaged "
    "over languages, then over seeds; its p-value is twice the smaller share of replicates on either side of 0.\n"
    "- " + DDAGGER + ": the paired t-test over seeds (per-seed differences setting − baseline, two-sided, "
    "scipy.stats.ttest_rel) has p < {alpha}, i.e. its {pct} t interval excludes 0 (≥ 2 paired seeds). Beside it, the "
    "exact sign-flip permutation test (all 2^n sign flips of the differences; no normality assumed, but its p is "
    "never below 2/2^n: 0.25 with 3 seeds, 0.0625 with 5). The bootstrap over seeds is not used: 3 to 5 seeds have "
    "only 10 to 126 distinct resamples.\n"
    "- Main, low-resource and test tables: one test per cell, not corrected for multiple comparisons. Per-language "
    "tables: the marks are Benjamini–Hochberg adjusted p < {alpha} (false discovery rate {alpha}; Benjamini & "
    "Hochberg 1995, scipy.stats.false_discovery_control) over all the (setting, language) tests of the table, per "
    "kind of test.\n"
    "- Figures: PDF (vector) and PNG (300 dpi) side by side; one colour per setting for the whole report (Okabe–Ito "
    "colour-blind-safe palette; baseline black); per-language plots: dots with {pct} intervals over examples "
    "(uncorrected), an open dot where a language has no interval.\n"
    "- XTREME: mean of the nine XTREME task scores (QA: (EM + F1) / 2), n/a when the targets do not cover it.\n"
    "- Data-size fit: score = a + b ln(n) on the per-size means; gain per 10× = b ln 10; point of diminishing "
    "returns n* = 1000 b / τ, where the fitted gain falls below τ = {threshold:g} points per 1,000 more examples.\n"
    "- Low-resource languages: from the study file (`low_resource_languages`), else the 10 XTREME languages with the "
    "least CC-100 data in XLM-R's pre-training corpus (Conneau et al. 2020, Table 6).")


def build_report(study: Path, out: Path | None = None, *, db: Path | None = None, resamples: int = 1000,
                 confidence: float = 0.95, seed: int = 0, low_resource: list[str] | None = None,
                 dr_threshold: float = 0.1, plots: bool = True, all_cells: bool = False, split: str = "dev",
                 references: list[str] | None = None) -> dict:
    """Write the report of a study (file or folder) into ``out`` (default ``<study folder>/report``).

    The tables show the *split* scores (``dev``, the paper's view, by default; a target without them shows its other
    split, marked). *references* (names such as ``x-stilts`` or JSON files, :mod:`xstilts.study.reference`) add
    published rows to the paper-shaped table, labelled as not measured.

    Cells that are no longer in the study file (``runs.active = 0``: left from an earlier version of it) are left
    out unless *all_cells*. The study file's settings (``low_resource_languages``, ``name``) come from the file, or
    for a folder from the copy that ``xstilts study run`` keeps in it (``study.yaml``).

    Returns:
        the written paths (``markdown``, ``latex``, ``json``, ``csv`` {name: path}, ``images``) and
        ``markdown_text``.
    Raises:
        XstiltsError: no study database, no finished cell, or bad options.
    """
    folder, db_path, raw = resolve_study(Path(study), db)
    if not 0 < confidence < 1:
        raise XstiltsError(f"--confidence {confidence}: expected a number between 0 and 1")
    if dr_threshold <= 0:
        raise XstiltsError(f"--dr-threshold {dr_threshold}: expected a positive number")
    refs = [load_reference(r) for r in references or []]
    cells = load_cells(db_path)
    fallback = select_split(cells, split)
    attach_sampling(cells, folder)
    inactive = 0
    if not all_cells:
        kept = [c for c in cells if c.active != 0]
        inactive = len(cells) - len(kept)
        cells = kept
    if not any(c.status == "done" and c.scores for c in cells):
        left = f", {inactive} more no longer in the study file (--all-cells)" if inactive else ""
        raise XstiltsError(f"{db_path}: no finished cell with scores yet ({len(cells)} cells recorded{left}); run "
                           f"`xstilts study run` first")
    lr = low_resource or raw.get("low_resource_languages") or None
    an = Analysis(cells, resamples=resamples, confidence=confidence, seed=seed, low_resource=lr,
                  dr_threshold=dr_threshold)
    name = raw.get("name") or folder.name
    done_targets = {t for c in cells if c.status == "done" for t in c.scores}
    rep = Report(an, f"Study report: {name}", Path(out) if out is not None else folder / "report", plots=plots,
                 inactive=inactive, split=split,
                 fallback={t: sp for t, sp in fallback.items() if t in done_targets}, references=refs)
    rep.build()
    return rep.write()
