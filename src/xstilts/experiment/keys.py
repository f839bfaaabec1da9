"""Phase identities: the kind of a phase (:class:`Phase`) and the hash that names each phase folder
(``intermediate-<label>-<hash>``, ``target-...``, ``eval-...``), computed from the resolved config, the model's
identity, the data's fingerprint and the task code, without loading a model. The phases (:mod:`.phases`) are built
under these names; the preflight, studies and ``xstilts gc`` find them by the same names."""

from __future__ import annotations

import enum

from ..config import OPTIMIZATION_KEYS, ExperimentConfig, TaskSpec, resolve_settings, task_max_length
from ..data import code_fingerprint
from ..errors import XstiltsError
from ..io import stable_hash
from ..loading import eval_languages, hub_revisions, task_data_dir
from ..models.backbone import model_source
from ..tasks import get_family, get_task

#: Bumped when a change to code outside the task families alters what a phase computes (the training loop, model
#: loading and saving, model selection, these phases), so that old phase folders are not reused. Changes to a task
#: family (its reader, featurisation, head, loss, decoding or metrics, and the xstilts modules its module imports,
#: e.g. ``data.py``, ``heads*.py``, ``metrics/*``) change the phase keys by themselves (:func:`_task_code`), and
#: feature caches never need a bump.
PHASE_VERSION = 2
#: Settings that do not change what a phase computes, left out of its hash.
NOT_HASHED = ("checkpoint_every", "keep_checkpoints", "log_every", "prefetch", "compile", "compile_mode", "fused_adamw",
              "length_buckets", "packing")


class Phase(enum.StrEnum):
    """The kind of a phase: intermediate training, target fine-tuning (a trainable target task) or a retrieval
    evaluation (a target task scored from sentence embeddings)."""

    INTERMEDIATE = "intermediate"
    TARGET = "target"
    RETRIEVAL = "retrieval"

    @property
    def prefix(self) -> str:
        """The first part of its folders' names: ``intermediate``, ``target``, ``eval``."""
        return "eval" if self is Phase.RETRIEVAL else self.value

    def folder_name(self, label: str, key: str) -> str:
        """``<prefix>-<label>-<key>``: the name of the phase folder in the phase store."""
        return f"{self.prefix}-{label}-{key}"


def _data_fingerprint(spec: TaskSpec) -> dict:
    """What identifies a task's data in phase keys: the commits of the hub data sets it loads (a new commit is a new
    phase), or the local folder and its files' names, sizes and modification times."""
    folder = task_data_dir(spec)
    if not folder.is_dir():
        return {"source": "hub", "task": spec.task, "revisions": hub_revisions(get_task(spec.task))}
    files = sorted(p for p in folder.rglob("*") if p.is_file())[:5000]
    return {"folder": str(folder.resolve()), "files": stable_hash([(str(p.relative_to(folder)), p.stat().st_size,
                                                                    int(p.stat().st_mtime)) for p in files])}


def _task_code(specs: list[TaskSpec], *modules) -> str:
    """Fingerprint of the task-specific code of a phase (:func:`~xstilts.data.code_fingerprint` of each task's family,
    each task's own module (:attr:`~xstilts.tasks.Task.module`: its reader, scoring, options) and *modules*); what it
    leaves out is what :data:`PHASE_VERSION` is for."""
    tasks = [get_task(s.task) for s in specs]
    return code_fingerprint(*(get_family(t.kind) for t in tasks), *(t.module for t in tasks if t.module), *modules)


# ---------------------------------------------------------------------------------------------- phase keys
def model_identity(cfg: ExperimentConfig, strict: bool = False) -> dict:
    """What identifies the pretrained model in every phase hash: a hub model's id and resolved commit (a new commit
    on the hub is a new model), a rebuild's id and the SHA-256 of its files, a local folder's SHA-256 (moving the
    folder keeps its phases); and the settings that change what is trained: dtype, text prefix, family, LoRA and 4-bit,
    BiLSTM. Input lengths are not part of it: each phase hashes its own (:func:`xstilts.config.resolve_settings`).
    A model that cannot be resolved (offline, not downloaded: a study planned on another machine) is named by id and
    revision; *strict* raises instead."""
    from ..provenance import folder_digest

    m = cfg.model
    # the model settings that change what is trained (not the label `size`, lengths, or speed-only options)
    base = {"dtype": m.dtype, "prefix": m.text_prefix, "family": m.family,
            "lora": m.lora.model_dump(mode="json") if m.lora else None, "load_in_4bit": m.load_in_4bit}
    if m.family == "bilstm":
        base["bilstm"] = m.bilstm.model_dump(mode="json")
    try:
        src = model_source(m.name_or_path, m.revision)
    except XstiltsError:
        if strict:
            raise
        return {"model": m.name_or_path, "revision": m.revision, "commit": None, **base}
    if src.kind == "hub":
        return {"model": src.name, "commit": src.commit, **base}
    return {"model": src.name if src.kind == "rebuild" else "local", "sha256": folder_digest(src.path), **base}


def pretrained_key(cfg: ExperimentConfig) -> str:
    """The key of the starting point of a run without intermediate training."""
    return "pretrained-" + stable_hash(model_identity(cfg))


def _hashed_hp(section, settings: dict) -> dict:
    """A phase section's settings that change what the phase computes: the resolved per-task settings plus the
    section's other keys (weight decay, dropout, ...), without speed-only options (:data:`NOT_HASHED`)."""
    hp = section.model_dump(exclude={"tasks", "max_length", *OPTIMIZATION_KEYS, *NOT_HASHED})
    return {**hp, **settings}


def _languages_or_declared(spec: TaskSpec) -> list[str]:
    try:
        return eval_languages(spec)
    except XstiltsError:  # `languages: all` over a data folder that is not there (yet): the declared ones
        return list(get_task(spec.task).languages)


def intermediate_key(cfg: ExperimentConfig, seed: int) -> str:
    """Hash of the intermediate phase of *cfg* at *seed*: the pretrained model, the intermediate section and its
    resolved settings, the task entries and their data; nothing of the target phase."""
    ic = cfg.intermediate
    return stable_hash({"phase": "intermediate", "v": PHASE_VERSION, "start": pretrained_key(cfg),
                        "model": model_identity(cfg), "hp": _hashed_hp(ic, resolve_settings(cfg, "intermediate",
                                                                                             ic.tasks)),
                        "seed": seed, "tasks": [{**s.model_dump(mode="json"), "data": _data_fingerprint(s)}
                                                for s in ic.tasks], "code": _task_code(ic.tasks)})


def target_key(cfg: ExperimentConfig, spec: TaskSpec, start_key: str, seed: int) -> str:
    """Hash of the target phase of *spec* fine-tuned from the encoder *start_key* at *seed*."""
    langs = _languages_or_declared(spec)
    return stable_hash({"phase": "target", "v": PHASE_VERSION, "start": start_key, "model": model_identity(cfg),
                        "hp": _hashed_hp(cfg.target, resolve_settings(cfg, "target", [spec])), "seed": seed,
                        "task": {**spec.model_dump(mode="json"), "languages": langs, "data": _data_fingerprint(spec)},
                        "code": _task_code([spec])})


def retrieval_settings(cfg: ExperimentConfig, spec: TaskSpec, seed: int | None = None) -> dict:
    """How a retrieval task is embedded and scored. ``max_length``: the task entry's, else ``evaluation.max_length``,
    else as :func:`xstilts.config.task_max_length` (explicit ``model.max_length``, the task's protocol length, 128).
    A task whose family fine-tunes a dual encoder first (LAReQA, Mewsli-X with ``finetune: true``) gets
    ``finetune``: its resolved settings, *seed* (default the first of ``seeds``), the model settings that change the
    training and the training files' listing; the zero-shot ``layer``, ``pooling``, ``max_length`` are then left out."""
    ev = cfg.evaluation
    task = get_task(spec.task)
    length = spec.max_length or ev.max_length or task_max_length(cfg, "target", spec.model_copy(update={
        "max_length": None}))
    settings = {"layer": ev.retrieval_layer, "pooling": ev.pooling, "max_length": length, "k": ev.bucc_k,
                "prefix": cfg.model.text_prefix, "query_prefix": ev.query_prefix, "options": spec.options}
    family = get_family(task.kind)
    settings.update(family.evaluation_settings(task, ev))  # only the tasks they concern, so other keys do not change
    ft = family.finetune_settings(task, spec, cfg.model.name_or_path) if hasattr(family, "finetune_settings") else None
    if ft is not None:  # XTREME-R's protocol: dual-encoder fine-tuning on English pairs first (xstilts.dual_encoder)
        files = family.finetune_files(task, task_data_dir(spec), ft["selection"])
        m = cfg.model
        ft.update(seed=cfg.seeds[0] if seed is None else seed, mixed_precision=cfg.mixed_precision,
                  model={"family": m.family, "lora": m.lora.model_dump(mode="json") if m.lora else None,
                         "load_in_4bit": m.load_in_4bit},
                  data=[[str(p), p.stat().st_size, int(p.stat().st_mtime)] for p in files])
        settings = {k: v for k, v in settings.items() if k not in ("layer", "pooling", "max_length", "k")}
        settings["finetune"] = ft
    return settings


def retrieval_key(cfg: ExperimentConfig, spec: TaskSpec, start_key: str, seed: int | None = None) -> str:
    """Hash of the retrieval evaluation of *spec* with the encoder *start_key* (and its dual-encoder fine-tuning at
    *seed*, where the task has one: :func:`retrieval_settings`)."""
    langs = _languages_or_declared(spec)
    return stable_hash({"phase": "retrieval", "v": PHASE_VERSION, "start": start_key,
                        "settings": retrieval_settings(cfg, spec, seed),
                        "task": {**spec.model_dump(mode="json"), "languages": langs, "data": _data_fingerprint(spec)},
                        "code": _task_code([spec], "xstilts.models.embeddings")})


def intermediate_label(cfg: ExperimentConfig) -> str:
    return "+".join(s.label for s in cfg.intermediate.tasks)


def phase_keys(cfg: ExperimentConfig, seed: int) -> dict:
    """The phase folder names a run of *cfg* at *seed* uses, computed without loading a model:
    ``{"intermediate": name or None, "targets": {task label: name}}`` (e.g. ``intermediate-mnli-<hash>``,
    ``target-xnli-<hash>``, ``eval-tatoeba-<hash>``). The data folders' listings are hashed where they exist."""
    start = pretrained_key(cfg)
    inter = None
    if cfg.intermediate.tasks:
        key = intermediate_key(cfg, seed)
        inter = Phase.INTERMEDIATE.folder_name(intermediate_label(cfg), key)
    targets = {}
    for spec in cfg.target.tasks:
        if get_task(spec.task).trainable:
            targets[spec.label] = Phase.TARGET.folder_name(spec.label, target_key(cfg, spec, inter or start, seed))
        else:
            src = inter if inter and cfg.evaluation.retrieval_from == "intermediate" else start
            targets[spec.label] = Phase.RETRIEVAL.folder_name(spec.label, retrieval_key(cfg, spec, src, seed))
    return {"intermediate": inter, "targets": targets}
