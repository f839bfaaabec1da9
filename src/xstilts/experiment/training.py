"""Training a phase's model: the encoder and the heads built (:func:`build_model`), the checks before the first step
(memory, disk), the trackers, task sampling and model selection around :func:`xstilts.train.train` (:func:`fit`);
and the end of a training phase: its checkpoint and files (:func:`save_phase`)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..checkpoint import list_checkpoints, required_bytes, save_heads
from ..config import ExperimentConfig
from ..console import console, progress_bar
from ..errors import XstiltsError
from ..io import atomic_write_json, atomic_write_text
from ..models.backbone import (available_memory, build_backbone, count_parameters, estimate_memory, hidden_size,
                        pick_device, save_backbone)
from ..selection import Selector
from ..tasks import get_task
from ..trackers import end_trackers, log_eval_metrics, resolve_trackers, start_trackers
from ..train import MultiTaskModel, TaskData, eval_all_languages, seed_everything, total_steps, train
from .context import EncoderRef, RunContext, Trained
from .keys import Phase
from .store import is_main_process


@dataclass(frozen=True)
class Training:
    """What a training phase trains: its *phase* kind, its section with the resolved settings (*hp*), every task's
    training data, the dev data model selection scores (per task), how tasks are sampled, and the longest input."""

    phase: Phase
    hp: object
    datas: list[TaskData]
    selection: list[list[TaskData]]
    sampling: str
    max_length: int


def make_accelerator(cfg: ExperimentConfig, logs: Path | None = None):
    """A fresh :class:`accelerate.Accelerator` on the configured device, with the configured trackers writing the
    training curves of the phase to *logs* (``<phase folder>/logs``; none without *logs*; see
    :func:`xstilts.trackers.resolve_trackers`)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    device = pick_device(cfg.device)
    trackers = resolve_trackers(cfg.trackers) if logs is not None else []
    return Accelerator(cpu=device.type == "cpu", mixed_precision=cfg.mixed_precision, log_with=trackers or None,
                       project_dir=str(logs) if trackers else None)


def build_model(cfg: ExperimentConfig, start: EncoderRef, job: Training, seed: int) -> tuple[MultiTaskModel, str]:
    """The encoder loaded from *start* with a fresh head per task: ``(model, architecture)``."""
    hp = job.hp
    encoder, architecture = build_backbone(cfg.model, start.path, pretrained=start.pretrained,
                                           revision=start.revision, seed=seed)
    h = hidden_size(encoder)
    if hp.freeze_embeddings:
        encoder.get_input_embeddings().weight.requires_grad_(False)
    heads = {d.label: d.family.build_head(d.task, h, hp.dropout) for d in job.datas}
    for d in job.datas:  # heads that share encoder weights (the masked-LM output layer)
        if hasattr(d.family, "bind"):
            d.family.bind(heads[d.label], encoder)
    summary = {"decoder": "last", "bilstm": "mean"}.get(architecture)
    if summary:  # sentence-level heads: last non-pad token of a causal model, mean of BiLSTM states
        for head in heads.values():
            if hasattr(head, "summary"):
                head.summary = summary
    return MultiTaskModel(encoder, heads), architecture


def _check_memory(cfg: ExperimentConfig, model: MultiTaskModel, architecture: str, job: Training, acc) -> None:
    hp, max_length = job.hp, job.max_length
    total, trainable = count_parameters(model)
    mem = estimate_memory(model, hp.batch_size, max_length, cfg.model.gradient_checkpointing,
                          cfg.mixed_precision != "no")
    avail = available_memory(acc.device)
    console.print(f"  {architecture} {type(model.encoder).__name__}: {total / 1e6:,.1f}M parameters, "
                  f"{trainable / 1e6:,.2f}M trainable; memory estimate {mem['total'] / 2**30:.2f} GiB (weights "
                  f"{mem['weights'] / 2**30:.2f}, gradients {mem['gradients'] / 2**30:.2f}, optimizer "
                  f"{mem['optimizer'] / 2**30:.2f}, activations at batch {hp.batch_size} x length "
                  f"{max_length} {mem['activations'] / 2**30:.2f}) of {avail / 2**30:.1f} GiB free")
    if mem["total"] > avail:
        raise XstiltsError(f"training needs about {mem['total'] / 2**30:.1f} GiB but {acc.device} has "
                           f"{avail / 2**30:.1f} GiB free: lower batch_size or max_length, use lora, "
                           f"gradient_checkpointing or mixed_precision")


def _check_disk(model: MultiTaskModel, hp, state_dir: Path) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    need, free = required_bytes(model, hp.keep_checkpoints), shutil.disk_usage(state_dir).free
    if free < need:
        raise XstiltsError(f"{state_dir}: {free / 2**30:.1f} GiB free, but the training checkpoints of this "
                           f"phase need about {need / 2**30:.1f} GiB; free some space or lower keep_checkpoints")
    if list_checkpoints(state_dir):
        console.print(f"  resuming from {list_checkpoints(state_dir)[0]}")


def _selector(model: MultiTaskModel, job: Training, acc, pad: int) -> Selector | None:
    """Model selection on the dev data of *job* (none without any)."""
    hp, groups = job.hp, job.selection
    if not (groups and any(groups)):
        return None

    def evaluate() -> float:
        task_scores = []
        for group in groups:
            if not group:
                continue
            metric = group[0].task.metric
            outs = eval_all_languages(model, group, batch_size=hp.eval_batch_size, accelerator=acc, pad_id=pad)
            vals = [d.family.score(d.task, d.family.decode(d.task, out, d.features, d.examples),
                                   d.examples)[metric] for d, out in zip(group, outs)]
            task_scores.append(sum(vals) / len(vals))
        return sum(task_scores) / len(task_scores) if task_scores else float("nan")

    metrics = [d.task.metric for d in job.datas]
    return Selector(hp.selection, hp.eval_every, hp.patience, evaluate=evaluate,
                    metric="/".join(dict.fromkeys(metrics)), examples=hp.selection_examples)


def _task_probabilities(job: Training) -> list[float] | None:
    """How often each task of a multi-task phase is sampled (None for one task)."""
    if len(job.datas) < 2:
        return None
    from ..sampling import task_probabilities

    hp, datas = job.hp, job.datas
    probs = task_probabilities([d.label for d in datas], [d.size for d in datas], job.sampling,
                               temperature=getattr(hp, "sampling_temperature", 1.0),
                               cap=getattr(hp, "sampling_cap", None),
                               probabilities=getattr(hp, "sampling_probabilities", None))
    console.print("  task sampling: " + ", ".join(f"{d.label} {p:.3f}" for d, p in zip(datas, probs)))
    return probs


def fit(ctx: RunContext, start: EncoderRef, job: Training, tokenizer, work: Path) -> Trained:
    """Train *job* from the encoder *start*, resuming from the training checkpoints in ``work/train_state``."""
    cfg, seed, hp, datas = ctx.cfg, ctx.seed, job.hp, job.datas
    state_dir = work / "train_state"
    seed_everything(seed)
    model, architecture = build_model(cfg, start, job, seed)
    acc = make_accelerator(cfg, work / "logs")
    start_trackers(acc, work.name.removeprefix(".").removesuffix(".partial"), {
        "phase": job.phase.value, "tasks": "+".join(d.label for d in datas),
        "seed": seed, "sampling": job.sampling, "model": cfg.model.model_dump(mode="json"),
        "train": hp.model_dump(mode="json", exclude={"tasks"})})
    _check_memory(cfg, model, architecture, job, acc)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    steps = total_steps([d.size for d in datas], hp)
    _check_disk(model, hp, state_dir)
    selector = _selector(model, job, acc, pad)
    console.print(f"  training on {', '.join(f'{d.label} ({d.size:,} examples)' for d in datas)}: {steps} steps "
                  f"of batch {hp.batch_size} on {acc.device}"
                  + (f"; {hp.selection} selection every {hp.eval_every} steps" if selector else ""))
    with progress_bar("train", steps) as adv:
        def on_step(step, loss):
            adv(1, info="" if loss != loss else f"loss {loss:.4f}")
            if loss == loss and not console.is_terminal:
                console.print(f"    step {step}/{steps}  loss {loss:.4f}")

        probs = _task_probabilities(job)
        try:
            history = train(model, datas, hp, seed=seed, accelerator=acc, pad_id=pad, probabilities=probs,
                            mixed_batches=getattr(hp, "mixed_batches", False), progress=on_step,
                            state_dir=state_dir, distributed=getattr(cfg, "distributed", None),
                            selector=selector)
        except BaseException:
            end_trackers(acc)  # close the trackers' files; the work folder is kept for resuming
            raise
    sel = history.pop("selection", None)
    if sel:
        console.print(f"  selected step {sel['selected_step']} of {sel['steps_trained']} ({sel['mode']}, "
                      f"{sel['metric']} {sel['best_score']:.2f})"
                      + (" — stopped early" if sel["stopped_early"] else ""))
    else:  # selection: last, the final weights
        sel = {"mode": "last", "selected_step": history["steps_trained"], "steps_trained": history["steps_trained"],
               "curve": [], "stopped_early": False}
    return Trained(acc.unwrap_model(model), acc, pad, history, sel)


def save_phase(ctx: RunContext, trained: Trained, kind: Phase, tokenizer, start: EncoderRef, work: Path,
               config_text: str, metrics) -> None:
    """The end of a training phase (after its last evaluation was logged): close the trackers (before the work
    folder is renamed); on the main process, write the checkpoint (encoder, heads), the config and ``metrics()``
    into *work*."""
    end_trackers(trained.accelerator)
    if is_main_process():
        cfg, model = ctx.cfg, trained.model
        ckpt = work / "checkpoint"
        save_backbone(model.encoder, ckpt / "encoder", tokenizer, cfg.model, start.path)
        section = cfg.intermediate if kind is Phase.INTERMEDIATE else cfg.target  # the heads' task entries
        specs = {s.label: s for s in section.tasks}
        heads = {label: {"task": specs[label].task, "kind": get_task(specs[label].task).kind}
                 for label in model.heads if label in specs}
        save_heads(ckpt, dict(model.heads), heads)  # safetensors + JSON
        atomic_write_text(work / "config.yaml", config_text)
        atomic_write_json(work / "metrics.json", metrics())


