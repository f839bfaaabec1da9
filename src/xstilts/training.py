"""One readable training loop for every task family, single- or multi-task, and batched prediction.

The model is the encoder plus one head per task (:class:`MultiTaskModel`). Each optimizer step takes a batch from
one task (single-task batches, as jiant); with several tasks the task is drawn per step (``proportional`` to the
number of training examples, or ``uniform``). AdamW with linear warmup and decay, gradient clipping, dropout
seeded from the run seed. Devices and mixed precision go through ``accelerate``.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .data import length_sorted_batches
from .errors import XstiltsError
from .tasks import Family, Task


@dataclass
class TaskData:
    """One task's training or evaluation data inside a phase."""

    label: str
    task: Task
    family: Family
    features: dict
    examples: list = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.features["input_ids"])


class MultiTaskModel(nn.Module):
    """A shared encoder with one head per task label. ``forward(label, batch)`` returns the hidden states
    ``[B, L, H]`` of the encoder's last layer, to which the task's family applies its head."""

    def __init__(self, encoder: nn.Module, heads: dict[str, nn.Module]):
        super().__init__()
        self.encoder = encoder
        self.heads = nn.ModuleDict(heads)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        kwargs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        if "token_type_ids" in batch:
            kwargs["token_type_ids"] = batch["token_type_ids"]
        return self.encoder(**kwargs).last_hidden_state


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def total_steps(sizes: list[int], hp) -> int:
    """Optimizer steps of a phase: ``max_steps`` if set, else ``ceil(epochs * sum(batches per task) / grad_accum)``."""
    if hp.max_steps:
        return hp.max_steps
    batches = sum(math.ceil(n / hp.batch_size) for n in sizes)
    return max(1, math.ceil(hp.epochs * batches / hp.grad_accum))


class _TaskStream:
    """Endless shuffled batches of one task, epoch after epoch; its position can be saved and restored."""

    def __init__(self, data: TaskData, batch_size: int, generator: torch.Generator):
        self.data, self.batch_size, self.gen = data, batch_size, generator
        self.epoch, self.perm, self.pos = 0, [], 0

    def next(self) -> list[int]:
        if self.pos >= len(self.perm):
            if self.data.size == 0:
                raise XstiltsError(f"task {self.data.label} has no training examples")
            self.epoch += 1
            self.perm = torch.randperm(self.data.size, generator=self.gen).tolist()
            self.pos = 0
        idx = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    def state(self) -> dict:
        return {"epoch": self.epoch, "perm": self.perm, "pos": self.pos}

    def restore(self, st: dict) -> None:
        self.epoch, self.perm, self.pos = st["epoch"], list(st["perm"]), st["pos"]


class Preempted(XstiltsError):
    """Training stopped on request (SIGTERM); a checkpoint was saved and a re-run resumes from it."""


#: Set by the CLI's SIGTERM handler; the training loop saves a checkpoint and stops at the next step boundary.
STOP = {"requested": False, "in_training": False}


def request_stop(signum=None, frame=None) -> None:
    """SIGTERM handler: inside a training loop, stop after the current step with a checkpoint; elsewhere stop now
    (finished phases are kept, an unfinished one leaves only its resumable work folder)."""
    STOP["requested"] = True
    if not STOP["in_training"]:
        raise Preempted("stopped on request (SIGTERM); finished phases are kept, run the same command to go on")


def _rng_states(rng: random.Random, gen: torch.Generator) -> dict:
    import numpy as np

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "sampler": rng.getstate(), "generator": gen.get_state()}


def _restore_rng(st: dict, rng: random.Random, gen: torch.Generator) -> None:
    import numpy as np

    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if st.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])
    rng.setstate(st["sampler"])
    gen.set_state(st["generator"])


def train(model: MultiTaskModel, tasks: list[TaskData], hp, *, seed: int, accelerator, pad_id: int,
          sampling: str = "proportional", progress: Callable[[int, float], None] | None = None,
          state_dir: Path | None = None) -> dict:
    """Train *model* on *tasks* for :func:`total_steps` optimizer steps, resuming from *state_dir* if it holds a
    checkpoint.

    Checkpoints (model, optimizer, scheduler, RNG states, sampler positions, loss curve) are written to *state_dir*
    every ``hp.checkpoint_every`` steps (0: never in the middle), at the end, and when :data:`STOP` is set (SIGTERM);
    the last ``hp.keep_checkpoints`` are kept. A resumed run gives the same result as an uninterrupted one on the
    same device (CPU: bit-identical).

    Args:
        hp: a :class:`~xstilts.config.TrainConfig`.
        accelerator: an ``accelerate.Accelerator`` (device and mixed precision).
        progress: called after each optimizer step with ``(step, loss)`` (loss NaN between logging steps).
    Returns:
        ``{"steps", "loss_curve": [(step, mean loss)], "task_steps": {label: batches}, "seconds", "resumed_from"}``.
    Raises:
        XstiltsError: a NaN/inf loss (naming the step; the last good checkpoint stays).
        Preempted: :data:`STOP` was set; a checkpoint was saved first.
    """
    from transformers import get_linear_schedule_with_warmup

    from . import checkpoint as ck

    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    steps = total_steps([t.size for t in tasks], hp)
    optimizer = torch.optim.AdamW(_param_groups(model, hp.weight_decay), lr=hp.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(hp.warmup_ratio * steps), steps)
    streams = [_TaskStream(t, hp.batch_size, gen) for t in tasks]
    weights = [1.0] * len(tasks) if sampling == "uniform" else [float(t.size) for t in tasks]
    rng = random.Random(seed)
    curve, window, task_steps = [], [], {t.label: 0 for t in tasks}
    start, resumed_from, seconds_before = 0, None, 0.0
    if state_dir is not None:
        found = ck.load_latest(state_dir)
        if found:
            path, payload = found
            model.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optim"]["optimizer"])
            scheduler.load_state_dict(payload["optim"]["scheduler"])
            st = payload["state"]
            start, curve, task_steps = st["step"], [tuple(x) for x in st["curve"]], dict(st["task_steps"])
            window = [torch.tensor(x) for x in st["window"]]
            for s, s_st in zip(streams, st["streams"]):
                s.restore(s_st)
            _restore_rng(st["rng"], rng, gen)
            seconds_before, resumed_from = st.get("seconds", 0.0), str(path)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    device = accelerator.device
    t0 = time.time()

    def save(step: int) -> None:
        if state_dir is None:
            return
        inner = accelerator.unwrap_model(model)
        ck.save_checkpoint(state_dir, step, {
            "model": inner.state_dict(),
            "optim": {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
            "state": {"step": step, "curve": curve, "task_steps": task_steps,
                      "window": [float(x) for x in window], "streams": [s.state() for s in streams],
                      "rng": _rng_states(rng, gen), "seconds": seconds_before + time.time() - t0},
        }, keep=hp.keep_checkpoints)

    model.train()
    STOP["in_training"] = True
    try:
        for step in range(start + 1, steps + 1):
            for _ in range(hp.grad_accum):
                k = rng.choices(range(len(tasks)), weights)[0] if len(tasks) > 1 else 0
                td = tasks[k]
                cpu_batch = td.family.collate(td.features, streams[k].next(), pad_id)
                batch = {n: v.to(device) for n, v in cpu_batch.items()}
                with accelerator.autocast():
                    hidden = model(batch)
                    loss, _ = td.family.loss(accelerator.unwrap_model(model).heads[td.label], hidden, batch)
                accelerator.backward(loss / hp.grad_accum)
                task_steps[td.label] += 1
                window.append(loss.detach())
            accelerator.clip_grad_norm_(model.parameters(), hp.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if step % hp.log_every == 0 or step == steps:
                mean_loss = float(torch.stack(window).float().mean())
                window.clear()
                if not math.isfinite(mean_loss):
                    raise XstiltsError(f"loss became {mean_loss} at or before optimizer step {step}; stopping this "
                                       f"phase" + (" (the last good checkpoint is kept)" if state_dir else ""))
                curve.append((step, mean_loss))
                if progress:
                    progress(step, mean_loss)
            elif progress:
                progress(step, float("nan"))
            if step == steps or (hp.checkpoint_every and step % hp.checkpoint_every == 0):
                save(step)
            if STOP["requested"] and step < steps:
                save(step)
                raise Preempted(f"stopped on request at optimizer step {step}/{steps}; checkpoint saved in "
                                f"{state_dir}; run the same command again to resume")
    finally:
        STOP["in_training"] = False
    return {"steps": steps, "loss_curve": curve, "task_steps": task_steps,
            "seconds": seconds_before + time.time() - t0, "resumed_from": resumed_from}


@torch.no_grad()
def predict(model: MultiTaskModel, data: TaskData, *, batch_size: int, accelerator, pad_id: int,
            advance: Callable[[int], None] | None = None) -> list[torch.Tensor]:
    """Per-feature head outputs (CPU tensors, in feature order), batched in decreasing length, without gradients."""
    model.eval()
    inner = accelerator.unwrap_model(model)
    head = inner.heads[data.label]
    outputs: list[torch.Tensor | None] = [None] * data.size
    lengths = [data.family.feature_length(data.features, i) for i in range(data.size)]
    for idx in length_sorted_batches(lengths, batch_size):
        batch = {n: v.to(accelerator.device) for n, v in data.family.collate(data.features, idx, pad_id).items()}
        with accelerator.autocast():
            hidden = inner(batch)
            out = data.family.logits(head, hidden, batch)
        for r, i in enumerate(idx):
            outputs[i] = out[r].float().cpu()
        if advance:
            advance(len(idx))
    return outputs  # type: ignore[return-value]
