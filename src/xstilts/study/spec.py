"""The study file: a YAML grid of experiments, validated with pydantic before anything runs.

.. code-block:: yaml

    name: demo-study
    output_dir: runs/studies          # study folder = <output_dir>/<name> (relative to the working directory)
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
path and the line, like :func:`xstilts.config.load_config`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..config import _format_validation
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
    output_dir: Path = Path("runs/studies")
    base: Path | None = Field(None, description="experiment config merged under `fixed` (relative to the study file)")
    fixed: dict[str, Any] = Field(default_factory=dict, description="partial ExperimentConfig, deep-merged over base")
    task_defaults: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per task name: TaskSpec keys merged under every spec of that task")
    axes: Axes = Field(default_factory=Axes)
    baseline: bool = Field(True, description="add a no-intermediate baseline cell per (model, target, seed)")
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    low_resource_languages: list[str] | None = Field(None, description="languages of the low-resource view "
                                                                       "(default: see xstilts.study.report)")

    @field_validator("low_resource_languages")
    @classmethod
    def _iso(cls, v):
        import re

        bad = [x for x in v or [] if not re.fullmatch(r"[a-z]{2,3}", x)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: not an ISO 639 code")
        return v


@dataclass
class Study:
    """A loaded study file: the validated spec, the merged base mapping and where things go."""

    spec: StudySpec
    path: Path | None
    base: dict = field(default_factory=dict)
    tree: Any = None  # the YAML node tree of the study file (for line numbers)
    base_tree: Any = None
    base_path: Path | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def folder(self) -> Path:
        return Path(self.spec.output_dir).expanduser() / self.spec.name

    @property
    def db_path(self) -> Path:
        return self.folder / "results.sqlite"

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "<study>"


def _read_yaml(path: Path, what: str) -> tuple[Any, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found")
    text = path.read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML ({getattr(e, 'problem', e)})") from None


def deep_merge(base: Any, over: Any) -> Any:
    """*over* merged into a copy of *base*: mappings recursively, anything else (lists included) replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = copy.deepcopy(base)
        for k, v in over.items():
            out[k] = deep_merge(out[k], v) if k in out else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


def study_from_dict(data: Any, source: str = "<study>", tree: Any = None, path: Path | None = None) -> Study:
    """Validate a study mapping (and read its ``base`` config, relative to *path*'s folder)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_validation(e, source, tree)) from None
    study = Study(spec=spec, path=path, tree=tree)
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
        ConfigError: missing file, YAML syntax error (with line), unknown keys or bad values (with key path and line).
    """
    path = Path(path)
    data, tree = _read_yaml(path, "study file")
    return study_from_dict(data if data is not None else {}, str(path), tree, path)
