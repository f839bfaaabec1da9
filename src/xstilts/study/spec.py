"""The study file: a YAML grid of experiments, validated with pydantic before anything runs.

.. code-block:: yaml

    name: demo-study
    extends: ../other-study.yaml      # optional: a study file this one is deep-merged over (relative to this file)
    output_dir: runs/studies          # study folder = <output_dir>/<name> (relative to the working directory)
    store: null                       # phase store (default <output_dir>/phases, as a plain run's; see below)
    base: ../configs/demo.yaml        # optional experiment config, relative to this file ...
    fixed: {target: {epochs: 1}}      # ... with these keys deep-merged over it (a partial ExperimentConfig)
    task_defaults:                    # optional: settings merged under every task spec of that task name
      kjv-web-paraphrase: {max_eval_examples: 400}
    axes:                             # the grid is the cartesian product of the axes given
      model: [{name_or_path: intfloat/multilingual-e5-small, size: small}]   # each merged into `model`
      intermediate: [[kjv-web-paraphrase], [kjv-web-paraphrase, kjv-web-paraphrase-hard]]   # task sets
      intermediate_size: [100, 1000, null]   # max_examples of every intermediate task (null: all)
      budget: [{steps: 200}, {tokens: 50000}, null]   # total intermediate compute (null: the config's epochs)
      target: [tatoeba-udhr, {task: tatoeba-bible}]   # the target task(s) of a cell (an item may be a list)
      seed: [1, 2]
    baseline: true                    # add a no-intermediate cell per (model, target, seed)
    executor: {kind: local, parallel: 1}
    low_resource_languages: null      # for reports (default there: XTREME languages with the least CC-100 data)

Axes that are not given take the config's value (``seed``: every seed of the config's ``seeds``). Errors name the key
path and the line, like :func:`xstilts.config.load_config`; with ``extends``, the file and line where the key was
written (the extending file or the one it extends).

**extends**: the file named is read first (itself possibly extending another) and this file's keys are deep-merged
over it: mappings key by key, anything else (lists included: an axis is replaced as a whole) replaced. ``base`` and
``extends`` are relative to the file that writes them.

**The phase store**: every cell's phases (intermediate checkpoints, target fine-tuning, retrieval evaluations) live in
one folder, ``store`` or else ``<output_dir>/phases``, the same rule as a plain run (``xstilts run`` with
``output_dir: X`` uses ``X/phases``). Runs and studies with the same output folder or store reuse each other's
finished phases; executors build each phase under a file lock in ``<store>/.locks``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..config import _yaml_line, read_yaml, validation_problems
from ..errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Budget(_Strict):
    """Total intermediate compute of a cell, shared by all its intermediate tasks: optimizer steps or tokens.

    ``tokens`` is converted to optimizer steps before the cell runs (see :func:`xstilts.study.grid.tokens_to_steps`):
    ``ceil(tokens / (batch_size * grad_accum * mean tokenized length of the intermediate training examples))``.
    """

    steps: int | None = Field(None, gt=0, description="intermediate.max_steps")
    tokens: int | None = Field(None, gt=0, description="training tokens (non-padding input tokens)")

    @model_validator(mode="after")
    def _one(self) -> "Budget":
        if (self.steps is None) == (self.tokens is None):
            raise ValueError("give exactly one of steps or tokens")
        return self


TaskItem = str | dict[str, Any]


class Axes(_Strict):
    """The grid's dimensions; each is a non-empty list of values, or absent (the config's value)."""

    model: list[str | dict[str, Any]] | None = Field(None, min_length=1, description="merged into `model`")
    intermediate: list[list[TaskItem] | TaskItem] | None = Field(
        None, min_length=1, description="intermediate task sets ([] = the baseline)")
    intermediate_size: list[int | None] | None = Field(None, min_length=1,
                                                        description="max_examples of every intermediate task")
    budget: list[Budget | None] | None = Field(None, min_length=1, description="intermediate compute budget")
    target: list[list[TaskItem] | TaskItem] | None = Field(None, min_length=1, description="target task(s)")
    seed: list[int] | None = Field(None, min_length=1)

    @field_validator("intermediate_size")
    @classmethod
    def _positive(cls, v):
        for x in v or []:
            if x is not None and x <= 0:
                raise ValueError(f"sizes must be positive (or null for all examples), got {x}")
        return v

    @field_validator("target")
    @classmethod
    def _nonempty(cls, v):
        for x in v or []:
            if isinstance(x, list) and not x:
                raise ValueError("a target value is an empty list; give at least one task")
        return v


class ExecutorSpec(_Strict):
    """How the cells are run.

    * ``local``: in this process, one cell after another (``parallel: 1``), or ``parallel`` cells at once in
      subprocesses (``python -m xstilts study run-cell``); with GPUs (``gpus``), the subprocesses are given
      ``CUDA_VISIBLE_DEVICES`` round-robin, so several cells share a GPU when ``parallel`` > number of GPUs.
      ``parallel: auto`` (the default): 1 on a CPU; on GPUs, :func:`xstilts.study.executors.auto_parallel` cells
      per GPU (4 when every model of the cells has at most 600M non-embedding parameters and full fine-tuning, as
      a study of base-size encoders at batch 32 leaves the GPU mostly idle; 2 up to 2B or with LoRA; else 1).
    * ``submitit``: one job per group of cells (cells that share an intermediate phase run in one job, in order)
      through ``submitit.AutoExecutor(folder=<study>/submitit, cluster=cluster)`` with ``update_parameters(**slurm)``.
    """

    kind: Literal["local", "submitit"] = "local"
    parallel: int | Literal["auto"] = Field("auto", description="local: cells run at once (auto: 1 on CPU, "
                                          "several small runs per GPU on GPUs)")

    @field_validator("parallel")
    @classmethod
    def _parallel(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 1:
            raise ValueError("parallel must be a positive number of cells, or auto")
        return v
    gpus: list[int] | Literal["auto", "none"] = Field(
        "auto", description="local: GPU ids for CUDA_VISIBLE_DEVICES round-robin (auto: all visible; none: CPU)")
    cluster: Literal["auto", "slurm", "local", "debug"] = Field(
        "auto", description="submitit: slurm, local (subprocesses), debug (in this process), auto (slurm if found)")
    slurm: dict[str, Any] = Field(default_factory=dict,
                                  description="submitit: update_parameters(...) keys, e.g. timeout_min, "
                                              "gpus_per_node, mem_gb, cpus_per_task, slurm_partition")
    wait: bool = Field(True, description="submitit: wait for the jobs to finish (else submit and return)")


class StudySpec(_Strict):
    """A study file (see the module docstring)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str | None = None
    extends: Path | None = Field(None, description="a study file this one is merged over (relative to this file)")
    output_dir: Path = Path("runs/studies")
    store: Path | None = Field(None, description="the phase store (default <output_dir>/phases), relative to the "
                                                 "working directory")
    base: Path | None = Field(None, description="experiment config merged under `fixed` (relative to the study file)")
    fixed: dict[str, Any] = Field(default_factory=dict, description="partial ExperimentConfig, deep-merged over base")
    task_defaults: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per task name: TaskSpec keys merged under every spec of that task")
    axes: Axes = Field(default_factory=Axes)
    baseline: bool = Field(True, description="add a no-intermediate baseline cell per (model, target, seed)")
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    low_resource_languages: list[str] | None = Field(None, description="languages of the low-resource view "
                                                                       "(default: see xstilts.reports.study)")

    @field_validator("low_resource_languages")
    @classmethod
    def _iso(cls, v):
        import re

        bad = [x for x in v or [] if not re.fullmatch(r"[a-z]{2,3}", x)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: not an ISO 639 code")
        return v


@dataclass
class Layer:
    """One study file of an ``extends`` chain: its path (or a name), its mapping and its YAML node tree."""

    source: str
    data: dict
    tree: Any = None


def _get(node: Any, path: tuple) -> tuple[bool, Any]:
    for k in path:
        if isinstance(node, dict) and k in node:
            node = node[k]
        elif isinstance(node, list) and isinstance(k, int) and 0 <= k < len(node):
            node = node[k]
        else:
            return False, None
    return True, node


@dataclass
class Study:
    """A loaded study file: the validated spec, the merged base mapping and where things go."""

    spec: StudySpec
    path: Path | None
    base: dict = field(default_factory=dict)
    tree: Any = None  # the YAML node tree of the study file (for line numbers)
    base_tree: Any = None
    base_path: Path | None = None
    layers: list[Layer] = field(default_factory=list)  # the extends chain, this file first
    merged: dict | None = None  # the study mapping after extends (None: the file alone)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def folder(self) -> Path:
        return Path(self.spec.output_dir).expanduser() / self.spec.name

    @property
    def store(self) -> Path:
        """The phase store: ``store``, else ``<output_dir>/phases`` (as a plain run with that output folder)."""
        if self.spec.store is not None:
            return Path(self.spec.store).expanduser()
        return Path(self.spec.output_dir).expanduser() / "phases"

    def origin(self, loc: tuple) -> Layer | None:
        """The file of the ``extends`` chain that wrote the key at *loc* (of the study mapping): the last one to
        write each mapping level, down to the first value that is not a mapping (lists are replaced whole)."""
        if not self.layers:
            return None
        owner = self.layers[0]
        for k in range(1, len(loc) + 1):
            found = [(layer, v) for layer in self.layers for ok, v in [_get(layer.data, loc[:k])] if ok]
            if not found:
                break
            owner, value = found[0]
            if not isinstance(value, dict):
                break
        return owner

    def where(self, loc: tuple) -> str:
        """``file:line`` of the key at *loc* of the study mapping (``file`` when the line is unknown)."""
        layer = self.origin(loc)
        if layer is None:
            line = _yaml_line(self.tree, loc) if self.tree is not None else None
            return f"{self.source}:{line}" if line else self.source
        line = _yaml_line(layer.tree, loc) if layer.tree is not None else None
        return f"{layer.source}:{line}" if line else layer.source

    @property
    def db_path(self) -> Path:
        return self.folder / "results.sqlite"

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "<study>"


def _read_yaml(path: Path, what: str) -> tuple[Any, Any]:
    """``(data, node tree)``, strictly (:func:`xstilts.config.read_yaml`: a key given twice is an error)."""
    return read_yaml(path, what)


def deep_merge(base: Any, over: Any) -> Any:
    """*over* merged into a copy of *base*: mappings recursively, anything else (lists included) replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = copy.deepcopy(base)
        for k, v in over.items():
            out[k] = deep_merge(out[k], v) if k in out else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


def _validation_errors(err: ValidationError, study: "Study") -> str:
    return "; ".join(f"{study.where(loc)}: {'.'.join(map(str, loc)) or '(top level)'}: {msg}"
                     for loc, msg in validation_problems(err))


def _layers(data: dict, source: str, tree: Any, path: Path | None, seen: tuple = ()) -> list[Layer]:
    """The ``extends`` chain of a study mapping, this file first; ``base`` and ``extends`` made absolute (they are
    relative to the file that writes them)."""
    data = dict(data)
    here = path.parent if path is not None else Path.cwd()
    if isinstance(data.get("base"), str) and data["base"]:
        b = Path(data["base"]).expanduser()
        data["base"] = str(b if b.is_absolute() else here / b)
    layers = [Layer(source, data, tree)]
    ext = data.get("extends")
    if ext is None:
        return layers
    if not isinstance(ext, str) or not ext:
        line = _yaml_line(tree, ("extends",)) if tree is not None else None
        raise ConfigError(f"{source}{f':{line}' if line else ''}: extends: expected the path of a study file")
    parent = Path(ext).expanduser()
    parent = parent if parent.is_absolute() else here / parent
    if parent.resolve() in seen or (path is not None and parent.resolve() == path.resolve()):
        line = _yaml_line(tree, ("extends",)) if tree is not None else None
        raise ConfigError(f"{source}{f':{line}' if line else ''}: extends: {ext} extends this file again (a cycle)")
    if not parent.is_file():
        line = _yaml_line(tree, ("extends",)) if tree is not None else None
        raise ConfigError(f"{source}{f':{line}' if line else ''}: extends: {parent}: study file not found")
    pdata, ptree = _read_yaml(parent, "study file (key `extends`)")
    pdata = pdata if pdata is not None else {}
    if not isinstance(pdata, dict):
        raise ConfigError(f"{parent}: expected a mapping of keys at the top level, got {type(pdata).__name__}")
    here_key = path.resolve() if path is not None else None
    return layers + _layers(pdata, str(parent), ptree, parent, seen + ((here_key,) if here_key else ()))


def study_from_dict(data: Any, source: str = "<study>", tree: Any = None, path: Path | None = None) -> Study:
    """Validate a study mapping (after merging it over the file it ``extends``, and reading its ``base`` config;
    both relative to *path*'s folder, or the working directory)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    layers = _layers(data, source, tree, path)
    merged: dict = {}
    for layer in reversed(layers):
        merged = deep_merge(merged, layer.data)
    merged.pop("extends", None)
    if len(layers) > 1:
        merged["extends"] = layers[0].data["extends"]
    study = Study(spec=None, path=path, tree=tree, layers=layers,  # type: ignore[arg-type]
                  merged=merged if len(layers) > 1 else None)
    try:
        spec = StudySpec.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(_validation_errors(e, study)) from None
    study.spec = spec
    if spec.base is not None:
        base_path = spec.base.expanduser()
        if not base_path.is_absolute() and path is not None:
            base_path = path.parent / base_path
        base, base_tree = _read_yaml(base_path, "base experiment config (key `base`)")
        if not isinstance(base or {}, dict):
            raise ConfigError(f"{base_path}: expected a mapping of keys at the top level")
        study.base, study.base_tree, study.base_path = base or {}, base_tree, base_path
    return study


def load_study(path: str | Path) -> Study:
    """Read and validate a study file (not its cells: see :func:`xstilts.study.grid.expand`).

    Raises:
        ConfigError: missing file, YAML syntax error (with line), unknown keys or bad values (with key path and line),
            a missing or circular ``extends``.
    """
    path = Path(path)
    data, tree = _read_yaml(path, "study file")
    return study_from_dict(data if data is not None else {}, str(path), tree, path)
