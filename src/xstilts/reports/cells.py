"""A study's results as the report reads them: the study folder and its database, cells (one run each), the
targets' headline metrics, per-example statistics, and the grouping of cells into comparable settings (the
definitions: :mod:`xstilts.reports.study`)."""

from __future__ import annotations

import json
import re
import sqlite3
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from ..errors import XstiltsError


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
        from ..study.spec import load_study

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
