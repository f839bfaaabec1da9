"""Expanding a study into cells, converting token budgets to steps, grouping cells, and a rough cost estimate.

A **cell** is one fully resolved :class:`~xstilts.config.ExperimentConfig` (``with_baseline: false``, one seed) and
its axis values. The cells are the cartesian product of the study's axes, plus one automatic **baseline** cell
(no intermediate tasks) per (model, target, seed), shared by every intermediate setting. A cell's id is
:func:`xstilts.io.stable_hash` of its resolved config dump (without ``name``, ``output_dir`` and ``phase_store``,
which the study sets: ``output_dir`` = the study folder (run folders), ``phase_store`` = the study's store
(``store``, else ``<output_dir>/phases``, shared with plain runs and other studies); ``name`` = ``cell-<id>``; and
without settings at their default value, so that new options do not change ids) together with its budget, so the
same cell has the same id in every re-run, in every copy of the study folder and after an upgrade that adds options.
A cell's config keeps which keys the study wrote (``model_fields_set``): a written phase-section value beats a task's
declared protocol default, an unwritten one does not (:func:`xstilts.config.resolve_settings`).

Nothing here loads a model, and the grid expands without any data present; :func:`tokens_to_steps` (run time) and
the example counts of :func:`estimate` (only where the data is there) read data.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..config import (ExperimentConfig, IntermediateConfig, ModelConfig, TargetConfig, _yaml_line,
                      validation_problems)
from ..errors import ConfigError, XstiltsError
from ..io import stable_hash
from .spec import Study, deep_merge

#: Train settings that do not change what a phase computes (as :data:`xstilts.experiment.keys.NOT_HASHED`).
_NOT_HASHED = ("checkpoint_every", "keep_checkpoints", "log_every")
_KEEP = object()  # an axis that is not given: keep the config's value


@dataclass
class Cell:
    """One run of a study: a resolved experiment config with one seed, its variant and its axis values."""

    id: str
    variant: str  # "stilts" or "baseline"
    config: ExperimentConfig
    axes: dict  # JSON-able: model, model_size, intermediate (labels), intermediate_size, budget, target, seed
    budget: dict | None = None  # {"steps": N} or {"tokens": N} (None: the config's epochs / max_steps)
    group: str = ""  # cells with the same group share their intermediate phase and run in order in one worker
    phases: list[str] = field(default_factory=list)  # identities of the phases the cell builds or reuses

    @property
    def seed(self) -> int:
        return self.config.seeds[0]

    @property
    def intermediate(self) -> list[str]:
        return [s.label for s in self.config.intermediate.tasks]

    @property
    def target(self) -> str:
        return "+".join(s.label for s in self.config.target.tasks)

    @property
    def label(self) -> str:
        a = self.axes
        parts = [a["model_label"], "+".join(a["intermediate"]) or "baseline"]
        if a.get("intermediate_size") is not None:
            parts.append(f"n={a['intermediate_size']}")
        if a.get("budget"):
            parts.append(", ".join(f"{k}={v}" for k, v in a["budget"].items()))
        parts += [f"-> {a['target']}", f"seed {a['seed']}"]
        return " ".join(parts)

    def folder(self, study_folder: Path) -> Path:
        """The cell's folder: its run (``<variant>-seed<seed>/``), log and error files."""
        return Path(study_folder) / self.config.name

    def to_payload(self) -> dict:
        """A JSON-able description from which an executor process rebuilds the cell."""
        # only the keys the study wrote: which settings are written decides between a phase section's value and a
        # task's declared protocol default (xstilts.config.resolve_settings), so the rebuilt config must not write
        # every default
        return {"id": self.id, "variant": self.variant,
                "config": self.config.model_dump(mode="json", exclude_unset=True),
                "axes": self.axes, "budget": self.budget, "group": self.group}

    @classmethod
    def from_payload(cls, p: dict) -> "Cell":
        return cls(p["id"], p["variant"], ExperimentConfig.model_validate(p["config"]), p["axes"], p.get("budget"),
                   p.get("group", ""))


# ---------------------------------------------------------------------------------------------------- validation
def _errors(err: ValidationError, prefix: tuple, study: Study, strip: int = 0) -> list[str]:
    out = []
    for loc, msg in validation_problems(err):
        full = prefix + loc[strip:]
        out.append(f"{study.where(full)}: {'.'.join(map(str, full)) or '(top level)'}: {msg}")
    return out


def _located(study: Study, loc: tuple) -> tuple[str, tuple] | None:
    """Where a key of the merged config comes from: the study's ``fixed`` or the base file."""

    def has(node: Any, path: tuple) -> bool:
        for k in path:
            if isinstance(node, dict) and k in node:
                node = node[k]
            elif isinstance(node, list) and isinstance(k, int) and k < len(node):
                node = node[k]
            else:
                return False
        return True

    for n in range(len(loc), 0, -1):
        if has(study.spec.fixed, loc[:n]):
            return "fixed", loc
        if study.base and has(study.base, loc[:n]):
            return "base", loc
    return None


def _config_errors(err: ValidationError, study: Study, desc: str | None) -> list[str]:
    out = []
    for loc, msg in validation_problems(err):
        path = ".".join(map(str, loc)) or "(top level)"
        where, origin = study.source, _located(study, loc)
        if origin and origin[0] == "fixed":
            where, path = study.where(("fixed",) + loc), "fixed." + path
        elif origin and origin[0] == "base":
            line = _yaml_line(study.base_tree, loc) if study.base_tree is not None else None
            where = f"{study.base_path}:{line}" if line else str(study.base_path)
        out.append(f"{where}: {path}: {msg}" + (f" (in cell {desc})" if desc else ""))
    return out


def _task_items(value: Any) -> list[dict]:
    items = value if isinstance(value, list) else [value]
    return [{"task": x} if isinstance(x, str) else copy.deepcopy(x) for x in items]


def _with_defaults(items: list, defaults: dict[str, dict]) -> list:
    out = []
    for x in items:
        x = {"task": x} if isinstance(x, str) else x
        if isinstance(x, dict) and isinstance(x.get("task"), str) and x["task"] in defaults:
            x = deep_merge(defaults[x["task"]], x)
        out.append(x)
    return out


def _model_label(model: dict) -> str:
    return str(model.get("size") or Path(str(model.get("name_or_path", "?"))).name)


# ---------------------------------------------------------------------------------------------------- expansion
def expand(study: Study) -> list[Cell]:
    """Every cell of *study* (baselines first, then the intermediate settings in axis order; targets innermost so
    that cells sharing an intermediate phase are adjacent). Every cell's config is validated here.

    Raises:
        ConfigError: every problem, naming the key path (``axes.model.1.name_or_path``, ``fixed.target.lr``) and the
            line of the study or base file; problems that only arise in a combination name the cell.
    """
    spec, axes = study.spec, study.spec.axes
    merged = deep_merge(study.base or {}, spec.fixed)
    defaults = spec.task_defaults
    for section in ("intermediate", "target"):
        node = merged.get(section)
        if isinstance(node, dict) and "tasks" in node:
            tasks = node["tasks"]
            node["tasks"] = _with_defaults(tasks if isinstance(tasks, list) else [tasks], defaults)
    problems: list[str] = []

    base_model = merged.get("model") if isinstance(merged.get("model"), dict) else {}
    models = []
    for i, m in enumerate(axes.model or [_KEEP]):
        if m is _KEEP:
            models.append(base_model)
            continue
        m = {"name_or_path": m} if isinstance(m, str) else m
        full = deep_merge(base_model, m)
        try:
            ModelConfig.model_validate(full)
        except ValidationError as e:
            problems += _errors(e, ("axes", "model", i), study)
        models.append(full)

    def task_sets(values, section: str, model_cls) -> list:
        out = []
        for i, v in enumerate(values):
            items = _with_defaults(_task_items(v), defaults)
            try:
                model_cls.model_validate({"tasks": items})
            except ValidationError as e:
                problems.extend(_errors(e, ("axes", section, i), study, strip=1 if isinstance(v, list) else 2))
            out.append(items)
        return out

    inters = task_sets(axes.intermediate, "intermediate", IntermediateConfig) if axes.intermediate else [_KEEP]
    targets = task_sets(axes.target, "target", TargetConfig) if axes.target else [_KEEP]
    sizes = axes.intermediate_size or [_KEEP]
    budgets = [b.model_dump(exclude_none=True) if b is not None else None for b in axes.budget] if axes.budget \
        else [_KEEP]
    if axes.seed:
        seeds = list(axes.seed)
    else:
        s = merged.get("seeds", [13])
        seeds = [s] if isinstance(s, int) else list(s) if isinstance(s, list) and s else [13]
    if problems:
        raise ConfigError("; ".join(problems))

    folder = str(study.folder.resolve())
    # one phase store for the study's cells, plain runs and other studies: the study's `store`, else a store the
    # config names, else <output_dir>/phases (as a plain run with that output folder)
    store = None
    if "phase_store" in ExperimentConfig.model_fields:
        store = str(study.store.resolve()) if study.spec.store is not None or not merged.get("phase_store") \
            else str(Path(merged["phase_store"]).expanduser().resolve())
    cells: dict[str, Cell] = {}
    baselines: dict[str, Cell] = {}

    def build(model, inter, size, budget, target, seed) -> Cell | None:
        data = copy.deepcopy(merged)
        data["model"] = copy.deepcopy(model)
        ic = data.setdefault("intermediate", {})
        if not isinstance(ic, dict):
            ic = data["intermediate"] = {}
        if inter is not _KEEP:
            ic["tasks"] = copy.deepcopy(inter)
        tasks = ic.get("tasks") or []
        baseline = not tasks
        if baseline:
            ic["tasks"], size, budget = [], _KEEP, _KEEP
        if size is not _KEEP:
            for t in tasks:
                if isinstance(t, dict):
                    t["max_examples"] = size
        if budget is not _KEEP and budget is not None and "steps" in budget:
            ic["max_steps"] = budget["steps"]
        if target is not _KEEP:
            tc = data.setdefault("target", {})
            if not isinstance(tc, dict):
                tc = data["target"] = {}
            tc["tasks"] = copy.deepcopy(target)
        data.update(seeds=[seed], with_baseline=False, name="cell", output_dir=folder)
        if store is not None:
            data["phase_store"] = store
        desc = _describe(model, tasks, size, budget, data.get("target", {}).get("tasks"), seed)
        try:
            cfg = ExperimentConfig.model_validate(data)
        except ValidationError as e:
            problems.extend(_config_errors(e, study, desc))
            return None
        except ConfigError as e:
            problems.append(f"{study.where(())}: {e} (in cell {desc})")
            return None
        if not cfg.target.tasks:
            problems.append(f"{study.source}: no target task (give axes.target or target.tasks in fixed/base) "
                            f"(in cell {desc})")
            return None
        bud = budget if budget is not _KEEP else None
        # settings at their default value are left out, so that a new config option (with a default) in a later
        # version of xstilts keeps every cell's id, and finished cells stay finished; trackers (training curves) do
        # not change what a cell computes, nor where its phases are stored
        dump = cfg.model_dump(mode="json", exclude={"name", "output_dir", "trackers", "phase_store"},
                              exclude_defaults=True)
        cid = stable_hash({"config": dump, "budget": bud})
        cfg = cfg.model_copy(update={"name": f"cell-{cid}"})
        axes_rec = {"model": cfg.model.name_or_path, "model_size": cfg.model.size,
                    "model_label": _model_label(model), "family": cfg.model.family,
                    "intermediate": [s.label for s in cfg.intermediate.tasks],
                    "intermediate_size": None if size is _KEEP else size, "budget": bud,
                    "target": "+".join(s.label for s in cfg.target.tasks), "seed": seed}
        variant = "baseline" if baseline else "stilts"
        cell = Cell(cid, variant, cfg, axes_rec, bud)
        cell.group, cell.phases = phase_identities(cell)
        return cell

    done_baselines: set = set()
    for (mi, model), inter, size, budget, seed, (ti, target) in itertools.product(
            enumerate(models), inters, sizes, budgets, seeds, enumerate(targets)):
        cell = build(model, inter, size, budget, target, seed)
        if cell is not None:
            (baselines if cell.variant == "baseline" else cells).setdefault(cell.id, cell)
        if spec.baseline and (mi, ti, seed) not in done_baselines:
            done_baselines.add((mi, ti, seed))
            base = build(model, [], _KEEP, _KEEP, target, seed)
            if base is not None:
                baselines.setdefault(base.id, base)
    if problems:
        seen: list[str] = []
        for p in problems:
            if p not in seen:
                seen.append(p)
        more = f" (and {len(seen) - 20} more)" if len(seen) > 20 else ""
        raise ConfigError("; ".join(seen[:20]) + more)
    return list(baselines.values()) + list(cells.values())


def _describe(model: dict, tasks: list, size, budget, targets, seed) -> str:
    labels = [t.get("name") or t.get("task") if isinstance(t, dict) else str(t) for t in tasks]
    tl = [t.get("name") or t.get("task") if isinstance(t, dict) else str(t) for t in (targets or [])]
    parts = [f"model={_model_label(model)}", f"intermediate={'+'.join(map(str, labels)) or '[]'}"]
    if size is not _KEEP:
        parts.append(f"intermediate_size={size}")
    if budget is not _KEEP and budget:
        parts.append("budget=" + ",".join(f"{k}:{v}" for k, v in budget.items()))
    parts += [f"target={'+'.join(map(str, tl))}", f"seed={seed}"]
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------------- phases
def _hp(section) -> dict:
    return section.model_dump(mode="json", exclude={"tasks", *_NOT_HASHED})


def phase_identities(cell: Cell) -> tuple[str, list[str]]:
    """``(group, phases)``: the phase folders a cell builds or reuses (its intermediate phase, if any, then one per
    target), as :func:`xstilts.experiment.keys.phase_keys` names them; executors use them to order cells. The group is
    the cell's intermediate phase (its own id for a baseline).

    Where the folder names cannot be computed (an older pipeline), coarse identities derived from the config alone
    (no data fingerprint): two phases that the pipeline keeps apart may then share an identity, never the reverse.
    So are the phases of a cell with a token budget, which becomes a number of steps only when the cell starts.
    """
    # a token budget becomes max_steps only when the cell starts: its phases are not named before
    keys = pipeline_phase_keys(cell.config, cell.seed) if not (cell.budget and "tokens" in cell.budget) else None
    if keys is not None:
        phases = ([keys["intermediate"]] if keys["intermediate"] else []) + list(keys["targets"].values())
        return (keys["intermediate"] or "cell-" + cell.id), phases
    cfg = cell.config
    model = cfg.model.model_dump(mode="json", exclude={"size"})
    pretrained = "pretrained-" + stable_hash(model)
    phases = []
    if cfg.intermediate.tasks:
        inter = "intermediate-" + stable_hash({"model": model, "hp": _hp(cfg.intermediate), "seed": cell.seed,
                                               "budget": cell.budget,
                                               "tasks": [s.model_dump(mode="json") for s in cfg.intermediate.tasks]})
        phases.append(inter)
        start, group = inter, inter
    else:
        start, group = pretrained, "cell-" + cell.id
    from ..tasks import get_task

    for spec in cfg.target.tasks:
        task = get_task(spec.task)
        if task.trainable:
            phases.append("target-" + stable_hash({"start": start, "model": model, "hp": _hp(cfg.target),
                                                   "seed": cell.seed, "task": spec.model_dump(mode="json")}))
        else:
            src = start if cfg.evaluation.retrieval_from == "intermediate" else pretrained
            phases.append("eval-" + stable_hash({"start": src, "model": model, "task": spec.model_dump(mode="json"),
                                                 "evaluation": cfg.evaluation.model_dump(mode="json")}))
    return group, phases


def pipeline_phase_keys(cfg: ExperimentConfig, seed: int) -> dict | None:
    """:func:`xstilts.experiment.keys.phase_keys`, or None where it is not available or cannot name the phases."""
    try:
        from ..experiment.keys import phase_keys
    except ImportError:  # pragma: no cover - an older pipeline
        return None
    try:
        return phase_keys(cfg, seed)
    except Exception:  # noqa: BLE001 - e.g. languages: all without the data folder; coarse identities then
        return None


def groups(cells: list[Cell]) -> list[list[Cell]]:
    """Cells grouped by their intermediate phase (in first-appearance order); a group runs in order in one worker,
    so its first cell builds the intermediate checkpoint that the others reuse."""
    out: dict[str, list[Cell]] = {}
    for c in cells:
        out.setdefault(c.group, []).append(c)
    return list(out.values())


# ---------------------------------------------------------------------------------------------------- budgets
def tokens_to_steps(cfg: ExperimentConfig, tokens: int) -> dict:
    """Convert a token budget into optimizer steps for *cfg*'s intermediate phase.

    ``steps = ceil(tokens / (batch_size * grad_accum * L))`` (the phase's resolved batch size and accumulation, see
    :func:`xstilts.config.resolve_settings`), where ``L`` is the expected tokenized length of a
    training feature: each intermediate task's mean length (non-padding tokens of its featurized, subsampled training
    set, tokenized with the model's tokenizer exactly as the phase will be; the features are cached and reused by the
    run) weighted by the task's sampling probability (:func:`xstilts.sampling.task_probabilities`). Padding is not
    counted. Returns ``{"steps", "tokens", "mean_length", "tasks": {label: {"features", "mean_length", "p"}}}``.
    """
    lengths = train_lengths(cfg)
    labels = list(lengths)
    probs = sampling_probabilities(cfg, [lengths[x]["features"] for x in labels])
    mean = sum(p * lengths[x]["mean_length"] for p, x in zip(probs, labels))
    from ..config import resolve_settings

    st = resolve_settings(cfg, "intermediate", cfg.intermediate.tasks)  # the batch the phase will really use
    steps = max(1, math.ceil(tokens / (st["batch_size"] * st["grad_accum"] * max(mean, 1e-9))))
    return {"steps": steps, "tokens": tokens, "mean_length": mean,
            "tasks": {x: {**lengths[x], "p": p} for x, p in zip(labels, probs)}}


def train_lengths(cfg: ExperimentConfig) -> dict[str, dict]:
    """Per intermediate task label: number of training features and their mean tokenized length."""
    from ..experiment.data import Featurizer, feature_cache
    from ..models.backbone import load_tokenizer, resolve_model_path

    tok = load_tokenizer(resolve_model_path(cfg.model.name_or_path), cfg.model.revision)
    featurizer = Featurizer(cfg, tok, feature_cache())
    out = {}
    for spec in cfg.intermediate.tasks:
        data = featurizer.train_data(spec)
        n = data.size
        total = sum(data.family.feature_length(data.features, i) for i in range(n))
        out[spec.label] = {"features": n, "mean_length": total / n if n else 0.0}
    return out


def sampling_probabilities(cfg: ExperimentConfig, sizes: list[int]) -> list[float]:
    """The intermediate sampler's task probabilities for tasks of these sizes."""
    ic = cfg.intermediate
    labels = [s.label for s in ic.tasks]
    try:
        from ..sampling import task_probabilities
    except ImportError:  # pragma: no cover - older sampler: proportional or uniform only
        return [1 / len(sizes)] * len(sizes) if ic.sampling == "uniform" else [n / sum(sizes) for n in sizes]
    return task_probabilities(labels, sizes, ic.sampling, temperature=getattr(ic, "sampling_temperature", 1.0),
                              cap=getattr(ic, "sampling_cap", None),
                              probabilities=getattr(ic, "sampling_probabilities", None))


# ---------------------------------------------------------------------------------------------------- estimate
#: Rough effective throughput (FLOP/s) for the time estimate. CPU: measured with multilingual-e5-small training on
#: two cores (studies/demo.yaml: 20 steps of 16 pairs in 55-110 s); GPU (one H100, one run at a time): 5% of the
#: H100's dense bf16 peak (989 TFLOP/s), the model FLOP utilisation issue 6 measured for one XLM-R run with the
#: Hugging Face Trainer (3.5-8%). Both are order-of-magnitude figures.
CPU_FLOPS = 3e10
#: CPU inference (embedding without gradients, large batches) runs faster; measured on the demo study's retrieval.
CPU_EVAL_FLOPS = 1.2e11
GPU_FLOPS = 5e13
#: Fixed seconds per phase (loading the model and data, tokenizing, saving) and per optimizer step on a GPU (kernel
#: launches dominate small models there).
PHASE_SECONDS = 10.0
GPU_STEP_SECONDS = 0.05
#: Fraction of ``max_length`` assumed as the mean padded length of a batch when the data is not tokenized.
LENGTH_FRACTION = 0.5
#: The GPU of the estimate (for the text).
GPU_NAME = "one H100"


def assumptions() -> dict:
    """The throughput assumptions of :func:`estimate`, as printed by ``xstilts study plan``."""
    return {"gpu": GPU_NAME, "gpu_flops": GPU_FLOPS, "gpu_step_seconds": GPU_STEP_SECONDS,
            "cpu_flops": CPU_FLOPS, "cpu_eval_flops": CPU_EVAL_FLOPS, "phase_seconds": PHASE_SECONDS,
            "length_fraction": LENGTH_FRACTION,
            "text": (f"6 x non-embedding parameters x tokens FLOPs for training (4x with LoRA), 2x for evaluation and "
                     f"embedding; tokens = examples x {LENGTH_FRACTION:g} x the phase's max_length (per task); "
                     f"steps from each phase's resolved settings (epochs or max_steps, batch_size x grad_accum), "
                     f"without early stopping (an upper bound under selection: en-dev); selection evaluations: "
                     f"ceil(steps / eval_every) x selection_examples English dev examples per task; "
                     f"{GPU_NAME}: {GPU_FLOPS:.0e} FLOP/s effective (5% of 989 TFLOP/s dense bf16, the MFU issue 6 "
                     f"measured for one XLM-R run) + {GPU_STEP_SECONDS:g} s per optimizer step, one run at a time "
                     f"(executor.parallel auto runs up to 4 small runs per GPU, so the wall time can be shorter); "
                     f"CPU: {CPU_FLOPS:.0e} FLOP/s training, {CPU_EVAL_FLOPS:.0e} embedding (2 cores); "
                     f"+ {PHASE_SECONDS:g} s per phase; the final evaluation of every language is counted only "
                     f"where the data is on disk. Expect a factor of 2 either way.")}


def phase_settings(cfg: ExperimentConfig, phase: str, specs: list) -> dict:
    """The settings a training phase uses (:func:`xstilts.config.resolve_settings`: task entry > phase section >
    the task's declared protocol default > global default); the phase section and ``model.max_length`` where that
    function is not available."""
    try:
        from ..config import resolve_settings
    except ImportError:  # pragma: no cover - an older config module
        sec = getattr(cfg, phase)
        return {**{k: getattr(sec, k) for k in ("epochs", "max_steps", "batch_size", "grad_accum", "lr",
                                                 "warmup_ratio")}, "max_length": cfg.model.max_length}
    return resolve_settings(cfg, phase, list(specs))


def retrieval_plan(cfg: ExperimentConfig, spec) -> dict:
    """What a retrieval target computes (no training): max length, layer (``auto`` resolved where the model is
    known by name or on disk), pooling."""
    try:
        from ..experiment.keys import retrieval_settings

        st = retrieval_settings(cfg, spec)
        length, layer, pooling = st["max_length"], st["layer"], st["pooling"]
    except (ImportError, Exception):  # noqa: BLE001 - an older pipeline
        ev = cfg.evaluation
        length, layer, pooling = ev.max_length or cfg.model.max_length, ev.retrieval_layer, ev.pooling
    if layer == "auto":
        from ..models.backbone import XTREME_RETRIEVAL_LAYERS

        base = Path(str(cfg.model.name_or_path).rstrip("/")).name
        layers = _num_layers(cfg.model)
        if base in XTREME_RETRIEVAL_LAYERS:
            layer = f"auto ({XTREME_RETRIEVAL_LAYERS[base]}" + (f" of {layers})" if layers else ")")
        elif layers:
            layer = f"auto ({max(1, round(layers * 14 / 24))} of {layers})"
    return {"training": None, "max_length": length, "layer": layer, "pooling": pooling,
            "encoder": cfg.evaluation.retrieval_from}


def _num_layers(model) -> int | None:
    from ..paths import model_cache_path

    for folder in (Path(model.name_or_path).expanduser(), model_cache_path(model.name_or_path)):
        f = folder / "config.json"
        if f.is_file():
            try:
                c = json.loads(f.read_text(encoding="utf-8"))
            except ValueError:
                return None
            return c.get("num_hidden_layers") or c.get("n_layer") or c.get("num_layers")
    return {"xlm-roberta-large": 24, "xlm-roberta-base": 12}.get(Path(model.name_or_path).name)


def plan_cell(cell: Cell) -> dict:
    """One cell as ``xstilts study plan --json`` prints it: ``{"id", "variant", "seed", "intermediate", "target",
    "phases": {"intermediate": folder name or None, "target": folder name}, "settings": {"intermediate": resolved
    settings or None, "target": resolved settings}}`` (with several targets in a cell, ``target`` and the target
    phase and settings are ``{label: ...}``), plus its label and axes."""
    from ..tasks import get_task

    cfg = cell.config
    inter = list(cfg.intermediate.tasks)
    ids = list(cell.phases)
    inter_phase = ids.pop(0) if inter and ids else None
    targets, phases, settings = [], {}, {}
    for spec, ident in zip(cfg.target.tasks, ids):
        targets.append(spec.label)
        phases[spec.label] = ident
        settings[spec.label] = (phase_settings(cfg, "target", [spec]) if get_task(spec.task).trainable
                                else retrieval_plan(cfg, spec))
    one = len(targets) == 1
    return {"id": cell.id, "variant": cell.variant, "seed": cell.seed, "intermediate": [s.label for s in inter],
            "target": targets[0] if one else targets,
            "phases": {"intermediate": inter_phase, "target": phases[targets[0]] if one else phases},
            "settings": {"intermediate": phase_settings(cfg, "intermediate", inter) if inter else None,
                         "target": settings[targets[0]] if one else settings},
            "label": cell.label, "axes": cell.axes}


def _mean_length(lengths, labels: list[str], sizes: list[int | None]) -> float:
    """Mean max_length of a phase's tasks (weighted by their training sizes when all are known)."""
    if not isinstance(lengths, dict):
        return float(lengths)
    vals = [lengths.get(x, next(iter(lengths.values()))) for x in labels]
    if sizes and all(n for n in sizes):
        return sum(v * n for v, n in zip(vals, sizes)) / sum(sizes)
    return sum(vals) / len(vals)


#: Non-embedding parameters of models that are often used and may not be on disk.
KNOWN_PARAMS = {
    "intfloat/multilingual-e5-small": 21.3e6, "xstilts/multilingual-e5-small-4bit-rebuild": 21.3e6,
    "intfloat/multilingual-e5-base": 85.1e6,
    "intfloat/multilingual-e5-large": 302e6, "xlm-roberta-base": 85.1e6, "FacebookAI/xlm-roberta-base": 85.1e6,
    "xlm-roberta-large": 302e6, "FacebookAI/xlm-roberta-large": 302e6,
    "bert-base-multilingual-cased": 85.1e6, "google-bert/bert-base-multilingual-cased": 85.1e6,
    "Qwen/Qwen2.5-0.5B": 358e6, "Qwen/Qwen2.5-1.5B": 1.31e9, "Qwen/Qwen2.5-3B": 2.77e9, "Qwen/Qwen2.5-7B": 6.53e9,
}




def model_params(model) -> tuple[float | None, str]:
    """Non-embedding parameter count of a model config (from its config.json if on disk, a table, or the name)."""
    from ..paths import model_cache_path

    name = model.name_or_path
    folder = Path(name).expanduser()
    if not (folder / "config.json").is_file():
        folder = model_cache_path(name)
    cfg_file = folder / "config.json"
    if cfg_file.is_file():
        try:
            c = json.loads(cfg_file.read_text(encoding="utf-8"))
            h = c.get("hidden_size") or c.get("d_model") or c.get("n_embd")
            layers = c.get("num_hidden_layers") or c.get("n_layer") or c.get("num_layers")
            ffn = c.get("intermediate_size") or c.get("n_inner") or 4 * (h or 0)
            if h and layers:
                gated = c.get("model_type") in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2")
                n = layers * (4 * h * h + (3 if gated else 2) * h * ffn)
                if model.family == "bilstm":
                    hid = model.bilstm.hidden_size or h
                    n = model.bilstm.layers * 2 * 4 * (hid // 2) * (h + hid // 2)
                return float(n), "config.json"
        except (OSError, ValueError):
            pass
    if name in KNOWN_PARAMS:
        return KNOWN_PARAMS[name], "known size"
    m = re.search(r"(\d+(?:\.\d+)?)\s*([BM])\b", Path(name).name, re.I)
    if m:
        return float(m.group(1)) * (1e9 if m.group(2).upper() == "B" else 1e6), "from the name"
    return None, "unknown"


def _count(fn, key, cache: dict):
    if key not in cache:
        try:
            cache[key] = fn()
        except Exception:  # noqa: BLE001 - missing or malformed data: the estimate says "unknown"
            cache[key] = None
    return cache[key]


def _train_size(spec, cache: dict) -> tuple[int | None, str]:
    from ..loading import load_examples, task_data_dir
    from ..tasks import get_task

    task = get_task(spec.task)
    folder = task_data_dir(spec)
    n = None
    if folder.is_dir():
        lang = getattr(spec, "train_language", None) or task.train_language
        n = _count(lambda: len(load_examples(spec, task.train_split, lang)),
                   ("train", spec.task, str(folder), lang), cache)
    if n is not None:
        return (min(n, spec.max_examples) if spec.max_examples else n), "counted"
    if spec.max_examples:
        return spec.max_examples, "max_examples"
    if task.train_size is not None and getattr(spec, "train_language", None) is None:
        return task.train_size, "known size"  # the task module's Task.train_size (the released training set)
    return None, "unknown"


def _eval_texts(spec, cache: dict) -> int | None:
    from ..loading import eval_languages, load_examples, task_data_dir
    from ..tasks import get_task

    task = get_task(spec.task)
    if not task_data_dir(spec).is_dir():
        return None

    def count():  # every split the phase scores: dev (where the task has it) and test
        total = 0
        splits = list(dict.fromkeys([task.dev_split, task.test_split])) if task.trainable else [task.test_split]
        for split in splits:
            for lang in eval_languages(spec):
                try:
                    ex = load_examples(spec, split, lang)
                except XstiltsError:
                    if split == task.test_split:
                        raise
                    continue  # no dev data for this language
                if hasattr(ex, "src") and hasattr(ex, "tgt"):
                    total += len(ex.src) + len(ex.tgt)
                else:
                    total += len(ex) if not spec.max_eval_examples else min(len(ex), spec.max_eval_examples)
        return total

    return _count(count, ("eval", spec.model_dump_json()), cache)


def estimate(cells: list[Cell]) -> dict:
    """A rough cost estimate of running *cells*: unique phases (shared ones counted once), their training steps and
    examples, and CPU/GPU time (see :func:`assumptions`): ``6 * parameters * tokens`` FLOPs for training (4x with
    LoRA) and ``2 * parameters * tokens`` for embedding / evaluation at :data:`CPU_FLOPS` / :data:`GPU_FLOPS`, with
    tokens = examples x ``LENGTH_FRACTION * max_length`` and each phase's resolved settings
    (:func:`phase_settings`: epochs, max_steps, batch size, max length, selection); example counts come from the data
    where it is present, else from ``max_examples`` / ``max_steps`` / known sizes (said in ``notes``); plus
    :data:`PHASE_SECONDS` per phase and :data:`GPU_STEP_SECONDS` per step on a GPU. No model is loaded.
    """
    from types import SimpleNamespace

    from ..tasks import get_task
    from ..train import total_steps

    cache: dict = {}
    phases: dict[str, dict] = {}
    uses = 0
    for cell in cells:
        cfg = cell.config
        n_params, psrc = model_params(cfg.model)
        factor = 4 if cfg.model.lora else 6
        ids = iter(cell.phases)
        items = []
        if cfg.intermediate.tasks:
            items.append(("intermediate", next(ids), None))
        for spec in cfg.target.tasks:
            items.append(("target", next(ids), spec))
        for kind, ident, spec in items:
            uses += 1
            if ident in phases:
                phases[ident]["cells"] += 1
                continue
            notes = []
            rec = {"kind": kind, "cells": 1, "model": _model_label(cfg.model.model_dump()), "params": n_params,
                   "params_source": psrc, "steps": None, "train_examples": None, "eval_texts": None,
                   "selection_examples": 0, "flops": None, "cpu_seconds": None, "gpu_seconds": None,
                   "settings": None}
            specs = list(cfg.intermediate.tasks) if kind == "intermediate" else [spec]
            trainable = kind == "intermediate" or get_task(spec.task).trainable
            st = phase_settings(cfg, kind, specs) if trainable else retrieval_plan(cfg, spec)
            rec["settings"] = st
            if kind == "intermediate":
                rec["label"] = "+".join(s.label for s in specs)
                sizes = [_train_size(s, cache) for s in specs]
                known = [n for n, _ in sizes if n is not None]
                srcs = {src for _, src in sizes}
                if "unknown" in srcs:
                    notes.append("size of the full training set unknown (data not present)")
                elif srcs - {"counted"}:
                    notes.append("examples from " + " / ".join(sorted(srcs - {"counted"})) + " (data not present)")
                rec["train_examples"] = sum(known) if len(known) == len(sizes) else None
                length = LENGTH_FRACTION * _mean_length(st["max_length"], [s.label for s in specs],
                                                        [n for n, _ in sizes])
            else:
                rec["label"] = spec.label
                length = LENGTH_FRACTION * (st["max_length"] if not isinstance(st["max_length"], dict)
                                            else max(st["max_length"].values()))
                if trainable:
                    n, src = _train_size(spec, cache)
                    rec["train_examples"] = n
                    sizes = [(n, src)]
                    if src != "counted":
                        notes.append("training set size unknown (data not present)" if n is None else
                                     f"examples from {src} (data not present)")
                else:
                    rec["kind"] = "retrieval"
                rec["eval_texts"] = _eval_texts(spec, cache)
                if rec["eval_texts"] is None:
                    notes.append("evaluation size unknown (data not present)")
            if trainable:
                hp = SimpleNamespace(**{k: st[k] for k in ("epochs", "max_steps", "batch_size", "grad_accum")})
                known = [n for n, _ in sizes if n is not None]
                if kind == "intermediate" and cell.budget and "tokens" in cell.budget:
                    rec["steps"] = math.ceil(cell.budget["tokens"] / (hp.batch_size * hp.grad_accum * length))
                    notes.append(f"token budget: steps assume mean length {length:.0f}")
                elif hp.max_steps or len(known) == len(sizes):
                    rec["steps"] = total_steps(known if len(known) == len(sizes) else [0], hp)
                if rec["steps"] is not None and st.get("selection", "last") != "last":
                    evals = math.ceil(rec["steps"] / max(1, st.get("eval_every") or rec["steps"]))
                    per = st.get("selection_examples") or 500
                    rec["selection_examples"] = evals * per * len(specs)
            if n_params is not None and (rec["steps"] is not None or not trainable):
                batch = (st["batch_size"] * st["grad_accum"]) if trainable else 0
                train_flops = factor * n_params * (rec["steps"] or 0) * batch * length
                eval_flops = 2 * n_params * ((rec["eval_texts"] or 0) + rec["selection_examples"]) * length
                flops = train_flops + eval_flops
                rec["flops"] = flops
                rec["cpu_seconds"] = train_flops / CPU_FLOPS + eval_flops / CPU_EVAL_FLOPS + PHASE_SECONDS
                rec["gpu_seconds"] = flops / GPU_FLOPS + PHASE_SECONDS + (rec["steps"] or 0) * GPU_STEP_SECONDS
            elif n_params is None:
                notes.append("model size unknown")
            rec["notes"] = notes
            phases[ident] = rec
    flops = sum(p["flops"] or 0 for p in phases.values())
    gpu = sum(p["gpu_seconds"] or 0 for p in phases.values())
    seeds = sorted({c.seed for c in cells})
    inter = [k for k, p in phases.items() if p["kind"] == "intermediate"]
    return {"cells": len(cells), "phase_uses": uses, "phases": phases, "unique_phases": len(phases),
            "reused": uses - len(phases), "intermediate_phases": len(inter),
            "intermediate_phases_per_seed": {str(sd): len({c.phases[0] for c in cells if c.seed == sd
                                                          and c.config.intermediate.tasks}) for sd in seeds},
            "flops": flops, "cpu_seconds": sum(p["cpu_seconds"] or 0 for p in phases.values()),
            "gpu_seconds": gpu, "gpu_hours": gpu / 3600,
            "gpu_hours_by_kind": {k: sum(p["gpu_seconds"] or 0 for p in phases.values() if p["kind"] == k) / 3600
                                  for k in ("intermediate", "target", "retrieval")},
            "complete": all(p["flops"] is not None and (p["steps"] is not None or p["kind"] == "retrieval")
                            for p in phases.values()),
            "assumptions": assumptions()}
