"""Experiment config: one YAML file per experiment, validated with pydantic before any model or data is loaded.

Unknown keys, wrong types and impossible values (a negative learning rate, an unknown task, a language the task does
not have, an intermediate task in the target list) give one :class:`~xstilts.errors.ConfigError` naming the key path
and, where the YAML file has it, the line. See ``configs/demo.yaml`` for a commented example.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .tasks import INTERMEDIATE, TARGET, get_task


def _lookup(name: str):
    """get_task for validators: an unknown task becomes a ValueError so that pydantic reports its key path."""
    try:
        return get_task(name)
    except ConfigError as e:
        raise ValueError(str(e)) from None


def _show(values: list[str]) -> str:
    """User-given strings for a one-line message: as they are when printable, else quoted (no raw line breaks)."""
    text = ", ".join(v if v.isprintable() else repr(v) for v in values)
    return text if len(text) <= 200 else text[:200] + "..."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraConfig(_Strict):
    """Parameter-efficient training with LoRA (peft): only the adapters (and the task heads) are trained."""

    r: int = Field(8, gt=0)
    alpha: float = Field(16, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["auto", "all-linear"] = Field(
        "auto", description="module names to adapt; auto = the family's attention and MLP projections "
                            "(see xstilts.models.backbone.LORA_TARGETS)")
    handoff: Literal["merge", "stack"] = Field(
        "merge", description="intermediate -> target: merge the adapters into the weights and train new ones "
                             "(merge), or keep the intermediate adapters frozen under new ones (stack)")


class BiLSTMSettings(_Strict):
    """The recurrent baseline: a BiLSTM over the pretrained model's input embeddings."""

    layers: int = Field(1, gt=0)
    hidden_size: int | None = Field(None, gt=1, description="output width (default: the embedding width)")
    dropout: float = Field(0.1, ge=0, lt=1)
    freeze_embeddings: bool = True


class ModelConfig(_Strict):
    """The pretrained model (phase 1) and how it is trained."""

    name_or_path: str = Field(description="Hugging Face hub id (the hub model, or offline the Hugging Face "
                                          "cache of it) or local folder; `xstilts prepare` provisions "
                                          "xstilts/multilingual-e5-small-4bit-rebuild")
    revision: str | None = Field(None, description="hub revision (branch, tag or commit)")
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    max_length: int = Field(128, gt=1, le=8192, description="max tokens per input (pairs: both sentences together)")
    text_prefix: str = Field("", description='prefix added to every input text, e.g. "passage: " for e5 models')
    family: Literal["auto", "encoder", "decoder", "bilstm"] = Field(
        "auto", description="the backbone architecture (not a task family; the key keeps its name for existing "
                            "configs): auto: encoder or decoder from the checkpoint's config; bilstm: the recurrent "
                            "baseline over the checkpoint's embeddings")
    size: str | None = Field(None, description="a label for reports and studies (e.g. base, large, 7B)")
    lora: LoraConfig | None = Field(None, description="train LoRA adapters instead of all weights")
    load_in_4bit: bool = Field(False, description="QLoRA: 4-bit base weights (needs bitsandbytes and a CUDA GPU)")
    gradient_checkpointing: bool = False
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] | None = Field(
        None, description="attention kernel passed to transformers (None: its default); flash_attention_2 enables "
                          "padding-free varlen packing on CUDA (needs the flash_attn package)")
    bilstm: BiLSTMSettings = Field(default_factory=BiLSTMSettings)

    @field_validator("name_or_path")
    @classmethod
    def _existing_folder(cls, v: str) -> str:
        from .paths import looks_like_path

        if "\0" in v or Path(v).expanduser().exists():
            return v
        if looks_like_path(v):
            raise ValueError(f"model folder {v} does not exist")
        head = v.split("/")[0]
        if v.count("/") == 1 and head != "xstilts" and Path(head).is_dir():  # xstilts/...: rebuild ids
            raise ValueError(f"model folder {v} does not exist (there is a local folder {head}/, so this is not "
                             f"taken as a hub id)")
        return v

    @model_validator(mode="after")
    def _check_family(self) -> "ModelConfig":
        if self.load_in_4bit and self.lora is None:
            raise ValueError("load_in_4bit needs lora (4-bit weights cannot be trained directly)")
        if self.family == "bilstm" and (self.lora is not None or self.load_in_4bit):
            raise ValueError("the bilstm family takes no lora / load_in_4bit")
        return self


class TaskSpec(_Strict):
    """A task as used in one phase: the registered task plus where its data is and how much of it to use."""

    task: str
    name: str | None = Field(None, description="label for tables (default: the task name)")
    data_dir: Path | None = Field(None, description="folder with the official files (default: <cache>/data/...); "
                                                    "if absent, Hugging Face datasets is used when the task has an id")
    languages: list[str] | Literal["all"] | None = Field(
        None, description="evaluation languages (default: all of the task's); 'all' = every language in data_dir")
    max_examples: int | None = Field(None, gt=0, description="subsample the training set to N examples (seeded)")
    max_eval_examples: int | None = Field(None, gt=0, description="evaluate on the first N examples per language")
    train_language: str | None = Field(None, pattern=r"^[a-z]{2,3}$", description="train on the task's data in "
                                       "this language (translate-train files) instead of its English training set")
    options: dict[str, Any] = Field(default_factory=dict, description="task-family options (e.g. QA doc_stride), "
                                                                      "validated by the family")
    # per-task settings (see :func:`resolve_settings` for the precedence)
    epochs: float | None = Field(None, gt=0, description="this task's epochs (default: see resolve_settings)")
    max_steps: int | None = Field(None, gt=0, description="this task's optimizer steps (overrides epochs)")
    batch_size: int | None = Field(None, gt=0)
    grad_accum: int | None = Field(None, gt=0)
    lr: float | None = Field(None, gt=0, lt=1)
    warmup_ratio: float | None = Field(None, ge=0, lt=1)
    max_length: int | None = Field(None, gt=1, le=8192, description="max tokens per input of this task")
    doc_stride: int | None = Field(None, gt=0, description="QA: context tokens between window starts "
                                                           "(same as options.doc_stride)")

    @property
    def label(self) -> str:
        return self.name or get_task(self.task).name

    @model_validator(mode="after")
    def _check(self) -> "TaskSpec":
        task = _lookup(self.task)
        from .tasks import FAMILIES

        model = getattr(FAMILIES.get(task.kind), "options_model", None)
        if self.doc_stride is not None:
            if model is None or "doc_stride" not in model.model_fields:
                raise ValueError(f"task {task.name!r} takes no doc_stride (only QA tasks do)")
            if self.options.get("doc_stride", self.doc_stride) != self.doc_stride:
                raise ValueError(f"doc_stride {self.doc_stride} and options.doc_stride {self.options['doc_stride']} "
                                 f"differ; give one")
            self.options = {**self.options, "doc_stride": self.doc_stride}
        if model is None and self.options:
            raise ValueError(f"task {task.name!r} takes no options (got {', '.join(self.options)})")
        if model is not None:
            try:
                self.options = model.model_validate(self.options, context={"task": task}).model_dump()
            except ValidationError as e:
                problems = "; ".join(f"options.{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
                raise ValueError(problems) from None
        if self.train_language is not None and not task.has_training_data(self.train_language):
            have = ", ".join(task.translate_train)
            raise ValueError(f"task {task.name!r} has no training data in {self.train_language!r}: "
                             + (f"its translate-train languages are {have}" if have else
                                f"it has no translate-train data (it trains on {task.train_language})"))
        if isinstance(self.languages, list):
            if not self.languages:
                raise ValueError("languages is empty")
            unknown = [lang for lang in self.languages if lang not in task.languages]
            if unknown and task.discover_languages is None:
                raise ValueError(f"task {task.name!r} has no language(s) {_show(unknown)}; "
                                 f"it has {', '.join(task.languages)}")
            bad = [lang for lang in unknown if not re.fullmatch(r"[a-z]{2,3}", lang)]
            if bad:
                raise ValueError(f"{_show(bad)}: not an ISO 639 code")
        return self


def _coerce_specs(v: Any) -> Any:
    if isinstance(v, (str, dict)):
        v = [v]
    if isinstance(v, list):
        return [{"task": x} if isinstance(x, str) else x for x in v]
    return v


def _unique_labels(specs: list[TaskSpec], phase: str) -> None:
    labels = [s.label for s in specs]
    dup = {x for x in labels if labels.count(x) > 1}
    if dup:
        raise ValueError(f"{phase} task label(s) {', '.join(sorted(dup))} used twice; give each a distinct `name`")


class TrainConfig(_Strict):
    """Optimisation settings shared by the intermediate and target phases."""

    epochs: float = Field(3.0, gt=0)
    max_steps: int | None = Field(None, gt=0, description="stop after this many optimizer steps (overrides epochs)")
    lr: float = Field(2e-5, gt=0, lt=1)
    batch_size: int = Field(32, gt=0)
    grad_accum: int = Field(1, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout of the task head")
    freeze_embeddings: bool = Field(False, description="keep the input word embeddings fixed (saves the optimizer "
                                                       "state and gradient of large multilingual vocabularies)")
    eval_batch_size: int = Field(128, gt=0)
    max_length: int | None = Field(None, gt=1, le=8192, description="max tokens per input in this phase (default: "
                                                                     "see resolve_settings)")
    # model selection on the English dev set (jiant's X-STILTs protocol; see xstilts.selection)
    selection: Literal["en-dev", "last", "all-dev"] = Field(
        "en-dev", description="en-dev: evaluate the training task's English dev set every eval_every steps, keep the "
                              "best checkpoint and stop after `patience` evaluations without improvement (zero-shot); "
                              "last: keep the final weights; all-dev: select on the mean dev score over every "
                              "evaluated language (NOT zero-shot: uses target-language dev data)")
    eval_every: int = Field(1000, gt=0, description="optimizer steps between selection evaluations (and at the end)")
    patience: int | None = Field(30, gt=0, description="stop after this many selection evaluations without "
                                                       "improvement (None: never stop early)")
    selection_examples: int | None = Field(500, gt=0, description="selection evaluates the first N dev examples "
                                                                  "per language (jiant's default subset: 500); None: all")
    checkpoint_every: int = Field(0, ge=0, description="save a resumable training checkpoint every N optimizer "
                                                       "steps (0: only at the end and on SIGTERM)")
    keep_checkpoints: int = Field(2, ge=1, description="how many training checkpoints to keep")
    log_every: int = Field(10, gt=0)
    # speed (see xstilts.train and perf/README.md); none changes what is computed beyond float rounding,
    # except batching (length_grouped, the default, changes which examples share a batch, not how well it trains)
    batching: Literal["random", "length_grouped"] = Field(
        "length_grouped", description="length_grouped (default): batches of examples of similar length, drawn as "
                                      "the HF Trainer's group_by_length does (seeded, resumable; far less padding, "
                                      "about 1.8x the examples/s of random batches on XNLI-like lengths); random: "
                                      "uniformly random batches")
    length_buckets: list[int] | None = Field(
        None, description="pad each training batch up to the next of these lengths so that shapes repeat (for "
                          "compile); None = pad to the longest example of the batch")
    compile: bool = Field(False, description="torch.compile the encoder once for training (use with length_buckets)")
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = Field(
        "default", description="torch.compile mode (reduce-overhead: CUDA graphs)")
    fused_adamw: bool | Literal["auto"] = Field("auto", description="fused AdamW kernel (auto: on CUDA and CPU)")
    prefetch: bool = Field(True, description="collate the next batch in a background thread (pinned memory on "
                                             "CUDA); off for families whose collate draws random numbers")
    packing: bool = Field(False, description="padding-free training: several sequences per row with a block-"
                                             "diagonal attention mask (sdpa/eager), or flash-attention varlen on CUDA; "
                                             "BERT/RoBERTa/XLM-R/ELECTRA-type encoders (xstilts.models.backbone.packing_layout)")

    @field_validator("length_buckets")
    @classmethod
    def _buckets(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(b <= 0 for b in v) or sorted(set(v)) != v):
            raise ValueError("length_buckets must be increasing positive lengths, e.g. [32, 64, 128]")
        return v


class IntermediateConfig(TrainConfig):
    """Phase 2: STILTs intermediate training on English tasks. An empty list is the no-intermediate baseline."""

    tasks: list[TaskSpec] = Field(default_factory=list)
    sampling: Literal["proportional", "uniform", "temperature", "explicit"] = Field(
        "proportional", description="multi-task sampler (see xstilts.sampling)")
    sampling_temperature: float = Field(2.0, gt=0, description="T of the temperature sampler")
    sampling_cap: int | None = Field(None, gt=0, description="per-task example cap of the proportional and "
                                                              "temperature samplers")
    sampling_probabilities: dict[str, float] | None = Field(None, description="explicit sampler: probability per "
                                                                               "task label")
    mixed_batches: bool = Field(False, description="draw the task per example (batches mix tasks) instead of per "
                                                   "batch (single-task batches, as jiant)")

    _coerce = field_validator("tasks", mode="before")(classmethod(lambda cls, v: _coerce_specs(v)))

    @field_validator("tasks")
    @classmethod
    def _roles(cls, v: list[TaskSpec]) -> list[TaskSpec]:
        _unique_labels(v, "intermediate")
        for spec in v:
            task = _lookup(spec.task)
            if INTERMEDIATE not in task.roles and spec.train_language is None:
                raise ValueError(f"{task.name!r} is not an intermediate task (roles: {', '.join(task.roles)}); a "
                                 f"target task's training data in another language can be one with train_language")
        return v

    @model_validator(mode="after")
    def _sampler(self) -> "IntermediateConfig":
        if self.sampling == "explicit":
            from .sampling import task_probabilities

            labels = [s.label for s in self.tasks]
            try:
                task_probabilities(labels, [1] * len(labels), "explicit", probabilities=self.sampling_probabilities)
            except ValueError as e:
                raise ValueError(str(e)) from None
        return self


class TargetConfig(TrainConfig):
    """Phase 3: fine-tune on each target task's English training set, then evaluate zero-shot in every language.

    Retrieval tasks (Tatoeba, BUCC) have no training data: they are scored from the encoder's sentence embeddings.
    """

    tasks: list[TaskSpec] = Field(default_factory=list)

    _coerce = field_validator("tasks", mode="before")(classmethod(lambda cls, v: _coerce_specs(v)))

    @field_validator("tasks")
    @classmethod
    def _roles(cls, v: list[TaskSpec]) -> list[TaskSpec]:
        _unique_labels(v, "target")
        for spec in v:
            task = _lookup(spec.task)
            if TARGET not in task.roles:
                raise ValueError(f"{task.name!r} is not a target task (roles: {', '.join(task.roles)})")
        return v


class EvaluationConfig(_Strict):
    """Zero-shot evaluation settings, including how sentence embeddings are taken for retrieval tasks."""

    retrieval_layer: Annotated[int, Field(ge=0)] | Literal["auto", "last"] = Field(
        "auto", description="1-based transformer layer whose hidden states are pooled (0 = embeddings); 'auto' = "
                            "XTREME's choice for the model (see xstilts.models.backbone.default_retrieval_layer)")
    pooling: Literal["mean", "cls"] = "mean"
    max_length: int | None = Field(None, gt=1, description="max tokens for retrieval inputs (default model.max_length)")
    batch_size: int = Field(64, gt=0)
    bucc_k: int = Field(4, gt=0, description="neighbourhood size of ratio-margin scoring")
    bucc_threshold: Literal["official", "dev"] = Field(
        "official", description="BUCC mining threshold: official = the F1-optimal threshold on the gold of the split "
                                "scored (XTREME's bucc_eval and jiant do this), dev = tuned on the dev split and "
                                "applied to test")
    tatoeba_direction: Literal["en-xx", "xx-en"] = Field(
        "en-xx", description="Tatoeba retrieval: en-xx (each English sentence retrieves its source sentence, as "
                             "XTREME's run_retrieval.py and jiant compute it) or xx-en")
    query_prefix: str | None = Field(None, description="prefix for query texts (LAReQA questions, Mewsli-X mentions), "
                                                       "e.g. 'query: ' for e5; None = model.text_prefix")
    retrieval_from: Literal["intermediate", "pretrained"] = Field(
        "intermediate", description="encoder used for retrieval tasks: after intermediate training (X-STILTs) or raw")


#: ``trackers`` values: auto, all and accelerate's tracker names.
TRACKERS = ("auto", "all", "tensorboard", "wandb", "mlflow", "comet_ml", "aim", "clearml", "dvclive", "swanlab",
            "trackio")


class ExperimentConfig(_Strict):
    """One experiment: model, phases, evaluation, seeds and where results go."""

    name: str = Field("experiment", pattern=r"^[A-Za-z0-9_.-]+$")
    output_dir: Path = Path("runs")
    phase_store: Path | None = Field(None, description="folder of the phase folders, shared by every run and study "
                                                       "that names it (default: <output_dir>/phases)")
    seeds: list[int] = Field(default_factory=lambda: [13], min_length=1)
    with_baseline: bool = Field(True, description="also run the no-intermediate baseline and write the comparison")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    num_threads: int | None = Field(None, gt=0, description="torch CPU threads (default: torch's choice)")
    distributed: Literal["ddp", "fsdp"] | None = Field(
        None, description="data parallel under `accelerate launch`/torchrun: ddp (replicas) or fsdp (sharded, "
                          "torch FSDP2); None: from the launcher (fsdp with `accelerate launch --use_fsdp`)")
    # training curves through accelerate's trackers (xstilts.trackers.resolve_trackers); not part of any phase hash
    trackers: list[str] = Field(
        default_factory=lambda: ["auto"], description="experiment trackers for training curves, written to "
        "<phase folder>/logs: auto (tensorboard when installed, else none), [] (off), tensorboard, wandb, mlflow, "
        "all (every installed one), ...; a named tracker that is not installed is an error")
    model: ModelConfig
    intermediate: IntermediateConfig = Field(default_factory=IntermediateConfig)
    target: TargetConfig = Field(default_factory=TargetConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, int) else v

    @field_validator("trackers", mode="before")
    @classmethod
    def _tracker_list(cls, v: Any) -> Any:
        if v is None or v is False or v in ("none", "off"):  # YAML reads a bare `off` as false
            return []
        return [v] if isinstance(v, str) else v

    @field_validator("trackers")
    @classmethod
    def _tracker_names(cls, v: list[str]) -> list[str]:
        bad = [x for x in v if x not in TRACKERS]
        if bad:
            raise ValueError(f"unknown tracker(s) {', '.join(map(repr, bad))}; expected some of "
                             f"{', '.join(TRACKERS)}")
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _multi_task_settings(self) -> "ExperimentConfig":
        if len(self.intermediate.tasks) > 1:
            for i, spec in enumerate(self.intermediate.tasks):
                given = [k for k in OPTIMIZATION_KEYS if getattr(spec, k) is not None]
                if given:
                    raise ValueError(f"intermediate.tasks.{i}: {', '.join(given)} cannot be set per task in a "
                                     f"multi-task phase (one optimizer serves all tasks); set it on the intermediate "
                                     f"section")
        return self

    def baseline(self) -> "ExperimentConfig":
        """The same experiment without intermediate training (only the keys the config wrote are carried over, so
        unwritten settings still resolve to the tasks' protocol defaults, see :func:`resolve_settings`)."""
        data = self.model_dump(exclude_unset=True)
        data.setdefault("intermediate", {})["tasks"] = []
        return ExperimentConfig.model_validate(data)


# ------------------------------------------------------------------------------------------------ settings
#: Optimisation settings that a task entry, a phase section or a task's declared protocol may give.
OPTIMIZATION_KEYS = ("epochs", "max_steps", "batch_size", "grad_accum", "lr", "warmup_ratio")
#: Settings that only a phase section gives (selection protocol).
SELECTION_KEYS = ("selection", "eval_every", "patience", "selection_examples")


def _phase_section(cfg: ExperimentConfig, phase: str) -> TrainConfig:
    if phase not in ("intermediate", "target"):
        raise ValueError(f"phase must be intermediate or target, got {phase!r}")
    return cfg.intermediate if phase == "intermediate" else cfg.target


def task_max_length(cfg: ExperimentConfig, phase: str, spec: TaskSpec) -> int:
    """The max input length of *spec* in *phase*: the task entry's ``max_length``, else the phase section's, else
    ``model.max_length`` when the config writes it, else the task's declared protocol length, else
    ``model.max_length``'s default (128)."""
    section = _phase_section(cfg, phase)
    if spec.max_length is not None:
        return spec.max_length
    if section.max_length is not None:
        return section.max_length
    if "max_length" in cfg.model.model_fields_set:
        return cfg.model.max_length
    return int(get_task(spec.task).protocol.get("max_length", cfg.model.max_length))


def resolve_settings(cfg: ExperimentConfig, phase: str, specs: list[TaskSpec]) -> dict[str, Any]:
    """The settings a training phase actually uses, each from the first place that gives it:

    1. the task entry (``target.tasks[i].lr``; in a multi-task intermediate phase only ``max_length`` and
       ``doc_stride`` may be set per task, since one optimizer serves all tasks);
    2. the phase section (``target.lr``), counted only where the config writes the key (``model.max_length``, when
       written, counts here for ``max_length`` in both phases);
    3. the task's declared protocol default (:attr:`xstilts.tasks.Task.protocol`, e.g. XNLI's 2 epochs at batch 32,
       jiant's X-STILTs settings); in a multi-task phase, a value all its tasks declare alike;
    4. the global default (:class:`TrainConfig`'s field default; ``model.max_length``'s for lengths).

    Args:
        phase: ``intermediate`` or ``target``.
        specs: the phase's task entries (one for a target phase).
    Returns:
        ``{"epochs", "max_steps", "batch_size", "grad_accum", "lr", "warmup_ratio", "max_length", "selection",
        "eval_every", "patience", "selection_examples"}`` plus ``doc_stride`` when a task is QA; ``max_length`` (and
        ``doc_stride``) is a ``{task label: value}`` dict when a multi-task phase's tasks differ.
    Raises:
        ValueError: *phase* is not intermediate or target.
    """
    section = _phase_section(cfg, phase)
    explicit = section.model_fields_set
    out: dict[str, Any] = {}
    protocols = [get_task(s.task).protocol for s in specs]
    for key in OPTIMIZATION_KEYS:
        given = [getattr(s, key) for s in specs if getattr(s, key) is not None]
        if len(specs) == 1 and given:
            value = given[0]
        elif key in explicit:
            value = getattr(section, key)
        elif protocols and all(key in p for p in protocols) and len({p[key] for p in protocols}) == 1:
            value = protocols[0][key]
        else:
            value = TrainConfig.model_fields[key].default
        out[key] = value
    if out["max_steps"] is not None and len(specs) == 1 and specs[0].epochs is not None and specs[0].max_steps is None:
        out["max_steps"] = None  # epochs on the task entry beat a phase-wide max_steps
    for key in SELECTION_KEYS:
        out[key] = getattr(section, key)
    lengths = {s.label: task_max_length(cfg, phase, s) for s in specs}
    out["max_length"] = _one_or_map(lengths)
    strides = {s.label: s.options["doc_stride"] for s in specs if "doc_stride" in s.options}
    if strides:
        out["doc_stride"] = _one_or_map(strides)
    return out


def _one_or_map(values: dict[str, Any]) -> Any:
    distinct = set(values.values())
    return next(iter(distinct)) if len(distinct) == 1 else values


# ------------------------------------------------------------------------------------------------ loading
def _set_dotted(data: dict, dotted: str, value: Any, source: str) -> None:
    keys = dotted.split(".")
    node: Any = data
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ConfigError(f"{source}: {'.'.join(keys[:i])} has no item {key}")
            if last:
                node[int(key)] = value
            else:
                if isinstance(node[int(key)], str):  # a task given by name: `- mnli` -> `- {task: mnli}`
                    node[int(key)] = {"task": node[int(key)]}
                node = node[int(key)]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                if node.get(key) is None:
                    node[key] = {}
                node = node[key]
        else:
            raise ConfigError(f"{source}: cannot set {dotted}: {'.'.join(keys[:i])} is not a mapping")


def parse_override(item: str) -> tuple[str, Any]:
    """``key.path=value`` -> ``("key.path", value)``; the value is parsed as YAML (``1e-5``, ``[a, b]``, ``null``)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set target.lr=1e-5")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, RecursionError, ValueError):  # not YAML: the raw string
        value = raw
    return key.strip(), value


def _yaml_line(node: Any, loc: tuple) -> int | None:
    """1-based line of the YAML node at *loc* (keys and list indices), or of its nearest ancestor."""
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == str(key)]
            if not match:
                break
            line = match[0][0].start_mark.line + 1
            node = match[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def validation_problems(err: ValidationError) -> list[tuple[tuple, str]]:
    """``[(key path, one-line message)]`` of a pydantic error: pydantic's internal path parts (``function-...``,
    ``list[...]``) dropped, "unknown key" / "required key is missing" for its extra/missing texts."""
    out = []
    for e in err.errors():
        loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and x.startswith(("function-", "list[", "literal["))))
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            msg = "required key is missing"
        out.append((loc, " ".join(msg.split())))
    return out


def _format_validation(err: ValidationError, source: str, tree: Any) -> str:
    msgs = []
    for loc, msg in validation_problems(err):
        path = ".".join(str(x) for x in loc) or "(top level)"
        line = _yaml_line(tree, loc) if tree is not None else None
        where = f"{source}:{line}" if line else source
        msgs.append(f"{where}: {path}: {' '.join(msg.split())}")
    return "; ".join(msgs)


def _nul_strings(node: Any, loc: tuple = ()) -> list[tuple]:
    """Key paths of strings holding a NUL character (accepted by pydantic; every file operation rejects them)."""
    if isinstance(node, str):
        return [loc] if "\0" in node else []
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _nul_strings(v, loc + (k,))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _nul_strings(v, loc + (i,))]
    return []


def validate_config(data: dict, source: str = "<config>", tree: Any = None) -> ExperimentConfig:
    """Validate a config mapping; raises :class:`ConfigError` with every problem's key path (and YAML line)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    nul = _nul_strings(data)
    if nul:
        line = _yaml_line(tree, nul[0]) if tree is not None else None
        where = f"{source}:{line}" if line else source
        raise ConfigError(f"{where}: {'.'.join(map(str, nul[0]))}: a NUL character is not allowed")
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_validation(e, source, tree)) from None
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def _duplicate_key(node: Any, source: str, seen: set | None = None) -> None:
    """Raise :class:`ConfigError` at the first mapping of the YAML node tree that gives a key twice (PyYAML keeps the
    last value silently), naming both lines."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple, int] = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                ident = (k.tag, k.value)
                line = k.start_mark.line + 1
                if ident in first:
                    raise ConfigError(f"{source}:{line}: duplicate key {_show([k.value])} (also at line "
                                      f"{first[ident]}); give each key once")
                first[ident] = line
            _duplicate_key(k, source, seen)
            _duplicate_key(v, source, seen)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            _duplicate_key(v, source, seen)


def read_yaml(path: str | Path, what: str = "config file") -> tuple[Any, Any]:
    """``(data, node tree)`` of a YAML file, strictly: a missing file or a directory, invalid UTF-8, a YAML syntax
    error and a key given twice in one mapping are each one :class:`ConfigError` naming the file (and line).
    Study files use it too (:mod:`xstilts.study.spec`)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; expected a YAML {what}")
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found")
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError(f"{path}:{line}: invalid UTF-8; expected a UTF-8 YAML file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror or type(e).__name__})") from None
    try:
        tree = yaml.compose(text)
        if tree is not None:
            _duplicate_key(tree, str(path))
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = " ".join(str(getattr(e, "problem", None) or e).split())  # PyYAML's texts span lines
        raise ConfigError(f"{where}: invalid YAML ({problem})") from None
    except (RecursionError, ValueError) as e:  # nesting deeper than the recursion limit, an int of 4300+ digits
        raise ConfigError(f"{path}: invalid YAML ({' '.join(str(e).split())[:200]})") from None
    return data, tree


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read, override (``key.path=value`` strings) and validate an experiment YAML file.

    Raises:
        ConfigError: missing file (or a directory), YAML syntax error (with line), a key given twice (both lines),
            or any validation problem (with key path and line).
    """
    path = Path(path)
    data, tree = read_yaml(path, "config file")
    data = data or {}
    for item in overrides or []:
        key, value = parse_override(item)
        if isinstance(data, dict):
            _set_dotted(data, key, value, f"--set {item}")
    return validate_config(data, str(path), tree)


def dump_config(cfg: ExperimentConfig) -> str:
    """The resolved config as YAML (every default filled in)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
