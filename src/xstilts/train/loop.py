"""The training loop: :func:`train` (sample a task -> forward -> backward -> optimizer step -> log), with resume,
compile warm-up, packing, token counting, model selection and the stop protocol.

:func:`train` reads top to bottom: set up (the model's :class:`~xstilts.train.parallel.Replicas`: one process, DDP or
FSDP2; optimizer, scheduler, sampler), resume (:meth:`_Progress.resume`), then one loop over optimizer steps, each
a :class:`_Step` (every micro-batch's forward and backward, clipping, optimizer and scheduler), with logging
(:meth:`_Step.log`), model selection, checkpoints (:class:`_Saver`) and the stop protocol between steps."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..errors import XstiltsError
from .batching import _Loader, _Sampler, _fit_width, _region
from .model import MultiTaskModel, TaskData, _LossModule, _param_groups, seed_everything, total_steps
from .parallel import Replicas, _Dist, _rank_state, _wants_fsdp
from .resume import Preempted, STOP, _restore_rng, _rng_states

def _make_optimizer(model: nn.Module, hp, device: torch.device) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; the fused kernel (``fused_adamw: auto``) on CUDA and on the CPU, where
    torch has one (2.4+; as the HF Trainer's default ``adamw_torch_fused``): on 2 CPU cores it updates XLM-R base's
    278M parameters in 0.14 s instead of the 1.3 s of the per-tensor loop, the same values up to float rounding."""
    fused = getattr(hp, "fused_adamw", "auto")
    if fused == "auto":
        fused = device.type in ("cuda", "cpu") and all(p.is_floating_point() for p in model.parameters()
                                                       if p.requires_grad)
    kwargs = {"fused": True} if fused else {}
    return torch.optim.AdamW(_param_groups(model, hp.weight_decay), lr=hp.lr, **kwargs)


def _compile_encoder(encoder: nn.Module, hp) -> bool:
    """``torch.compile`` the encoder in place (its state dict keeps its keys). With torch's automatic dynamic
    shapes the first shape compiles static, the second recompiles with a symbolic length that every later bucket
    reuses (CUDA graphs, ``reduce-overhead``, are still recorded per shape)."""
    if not getattr(hp, "compile", False):
        return False
    import torch._dynamo.config as dynamo_config

    name = "recompile_limit" if hasattr(dynamo_config, "recompile_limit") else "cache_size_limit"
    setattr(dynamo_config, name, max(getattr(dynamo_config, name), 16))
    mode = getattr(hp, "compile_mode", "default")
    encoder.compile(mode=None if mode == "default" else mode)
    return True


def _precompile(module: "_LossModule", task: TaskData, batch: dict, buckets, accelerator, pad_id: int) -> None:
    """Compile every bucket's graphs before training (so that none compiles mid-run): a forward and backward per
    bucket on a real batch cut or padded to the bucket's length. RNG states are restored and gradients dropped,
    so the run is unchanged."""
    import warnings

    device = accelerator.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for width in buckets:
            b = {n: v.to(device) for n, v in _fit_width(batch, width, pad_id).items()}
            try:
                with accelerator.autocast():
                    loss = module(task.label, task.family, b)
                loss.backward()
            except Exception as e:  # e.g. a span label beyond a short bucket: compiled when first met instead
                warnings.warn(f"could not pre-compile length bucket {width}: {e}", stacklevel=2)
    for p in module.parameters():
        p.grad = None


def train(model: MultiTaskModel, tasks: list[TaskData], hp, *, seed: int, accelerator, pad_id: int,
          probabilities: list[float] | None = None, mixed_batches: bool = False,
          progress: Callable[[int, float], None] | None = None, state_dir: Path | None = None,
          distributed: str | None = None, selector=None) -> dict:
    """Train *model* on *tasks* for :func:`total_steps` optimizer steps, resuming from *state_dir* if it holds a
    checkpoint.

    Model selection (*selector*, a :class:`~xstilts.selection.Selector`): at its evaluation steps the model is put in
    eval mode and scored; the best weights are kept (in the checkpoints too, so a resumed run selects the same
    step), training stops early when the selector's patience is used up, and the selected weights are loaded into
    *model* at the end.

    Checkpoints (model, optimizer, scheduler, RNG states, sampler positions, loss curve) are written to *state_dir*
    every ``hp.checkpoint_every`` steps (0: never in the middle), at the end, and when :data:`STOP` is set (SIGTERM);
    the last ``hp.keep_checkpoints`` are kept. A resumed run gives the same result as an uninterrupted one on the
    same device (CPU: bit-identical).

    Speed (``hp``, see :class:`~xstilts.config.TrainConfig`): ``prefetch`` collates the next step's batches in a
    background thread (pinned memory and non-blocking copies on CUDA); ``length_buckets`` pads batches to fixed
    lengths (masked, so the loss is unchanged up to float rounding); ``compile`` compiles the encoder for the
    duration of training; ``fused_adamw``; ``batching: length_grouped``; ``packing`` (padding-free rows, see
    :func:`~xstilts.data.pack_batch` and :func:`~xstilts.models.backbone.packing_layout`). Losses stay on the device and
    are read every ``log_every`` steps only.

    Data parallel: run under ``accelerate launch`` or ``torchrun`` (one process per device; gloo on CPU). Every
    process draws the same plan; each global batch of ``batch_size`` examples is cut into contiguous slices, one
    per process, and the loss of each slice is weighted by its share of the batch (of its labelled tokens for
    token-level losses), so that DDP's gradient mean is the gradient of the global batch's mean loss: the run
    equals the single-process run (up to float rounding; with dropout the masks differ). *distributed* ``fsdp`` (or
    a launch with ``accelerate launch --use_fsdp``) shards a copy of the model with FSDP2 instead of replicating it
    (see :func:`_fsdp`); *model* receives the trained weights at the end. Only the main process writes checkpoints
    and calls *progress*; every process resumes from them (per-process RNG states are kept). A stop request
    (SIGTERM) is agreed among the processes at the next logging or checkpoint step.

    Args:
        hp: a :class:`~xstilts.config.TrainConfig`.
        accelerator: an ``accelerate.Accelerator`` (device, mixed precision, processes).
        probabilities: task sampling probabilities (default: proportional to size; see :mod:`xstilts.sampling`).
        mixed_batches: draw the task per example, so one batch mixes tasks (each task's examples go through its
            own head, losses weighted by their share of the batch); default: one task per batch.
        progress: called after each optimizer step with ``(step, loss)`` (loss NaN between logging steps).
        distributed: ``ddp`` or ``fsdp`` for data-parallel runs (default: ``fsdp`` when launched with FSDP by
            accelerate, else ``ddp``); ignored in a single process.
    Returns:
        ``{"steps", "steps_trained", "loss_curve": [(step, mean loss)], "task_steps": {label: batches},
        "task_examples": {label: n}, "task_tokens": {label: non-pad tokens}, "seconds", "resumed_from",
        "selection"}`` — what was spent per task (``steps``: planned; ``steps_trained``: run, fewer after an early
        stop); ``selection``: :meth:`~xstilts.selection.Selector.record` or None.
    Raises:
        XstiltsError: a NaN/inf loss (naming the step; the last good checkpoint stays).
        Preempted: :data:`STOP` was set; a checkpoint was saved first.
    """
    from transformers import get_linear_schedule_with_warmup

    from .. import checkpoint as ck

    dist = _Dist(accelerator)
    device = accelerator.device
    inner = accelerator.unwrap_model(model)
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    steps = total_steps([t.size for t in tasks], hp)
    fsdp = dist.world > 1 and _wants_fsdp(accelerator, distributed, hp)
    found = ck.load_latest(state_dir) if state_dir is not None else None
    if found:
        if bool(found[1]["state"].get("fsdp")) != fsdp:
            raise XstiltsError(f"{found[0]}: this checkpoint was saved {'with' if not fsdp else 'without'} FSDP; "
                               f"resume it with distributed: {'fsdp' if not fsdp else 'ddp'}")
        inner.load_state_dict(found[1]["model"])
    replicas = Replicas(inner, dist, fsdp, device)
    optimizer = _make_optimizer(replicas.trained, hp, device)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(hp.warmup_ratio * steps), steps)
    rng = random.Random(seed)
    sampler = _Sampler(tasks, hp, rng, gen, probabilities or [float(t.size) for t in tasks], mixed_batches)
    done = _Progress.resume(found, tasks, replicas, optimizer, scheduler, sampler, rng, gen, dist, selector)
    optimizer = replicas.prepare_optimizer(optimizer, accelerator)
    step_fn = _Step(tasks, hp, accelerator, replicas, optimizer, scheduler, done)
    loader, compiled = step_fn.setup(sampler, pad_id, seed, steps)
    save = _Saver(state_dir, hp, dist, replicas, optimizer, scheduler, selector, rng, gen, done)

    step_fn.runner.train()
    STOP["in_training"] = True
    last_step = done.start
    steps_left = done.start < steps and not (selector is not None and selector.stopped_early)
    try:
        # the plan of step s+1 is drawn (and collated in the background) before step s computes; the sampler
        # state saved with step s is the one from before that draw
        snapshot = sampler.state()
        upcoming = loader.submit(sampler.draw(), done.start + 1) if steps_left else None
        for step in range(done.start + 1, steps + 1 if steps_left else done.start + 1):
            last_step, current = step, upcoming
            snapshot = sampler.state()
            upcoming = loader.submit(sampler.draw(), step + 1) if step < steps else None
            step_fn(loader.parts(current))  # forward, backward, optimizer step
            log_step = step % hp.log_every == 0 or step == steps
            ckpt_step = step == steps or bool(hp.checkpoint_every and step % hp.checkpoint_every == 0)
            if selector is not None and selector.due(step, steps):
                score = selector.observe(step, inner)  # the caller's evaluate() switches eval mode
                step_fn.runner.train()
                if getattr(accelerator, "trackers", None):
                    accelerator.log({"selection/score": score}, step=step)
                if selector.should_stop and step < steps:
                    selector.stopped_early = True
                    ckpt_step = True
            if log_step:
                mean_loss = step_fn.log(step, dist, has_state=state_dir is not None)
                if progress and accelerator.is_main_process:
                    progress(step, mean_loss)
            elif progress and accelerator.is_main_process:
                progress(step, float("nan"))
            if ckpt_step:
                save(step, snapshot)
            # data-parallel processes agree on stopping at logging / checkpoint steps (no per-step collective)
            stop = STOP["requested"] if dist.world == 1 else (dist.any(STOP["requested"])
                                                                if log_step or ckpt_step else False)
            if selector is not None and selector.stopped_early:
                break
            if stop and step < steps:
                save(step, snapshot)
                raise Preempted(f"stopped on request at optimizer step {step}/{steps}; checkpoint saved in "
                                f"{state_dir}; run the same command again to resume")
        save.flush_counts()
        replicas.finish()
        if selector is not None and selector.best_weights is not None and selector.best_step != last_step:
            inner.load_state_dict(selector.best_weights)  # the selected step's weights
            inner.to(device)
    finally:
        STOP["in_training"] = False
        loader.close()
        if compiled:
            inner.encoder._compiled_call_impl = None  # evaluation runs other shapes: back to eager
    return {"steps": steps, "steps_trained": last_step, "loss_curve": done.curve, "task_steps": done.task_steps,
            "task_examples": done.task_examples, "task_tokens": done.task_tokens,
            "seconds": done.seconds_before + time.time() - save.t0, "resumed_from": done.resumed_from,
            "selection": selector.record(last_step) if selector is not None else None}


@dataclass
class _Progress:
    """What a run has done so far: saved in every checkpoint and restored on resume. *pending*: this process's
    example and token counts not yet summed over the processes (:meth:`_Saver.flush_counts`)."""

    labels: list[str]  # the tasks' labels, in the order of the tasks
    start: int
    curve: list
    window: list
    task_steps: dict
    task_examples: dict
    task_tokens: dict
    pending: dict
    seconds_before: float = 0.0
    resumed_from: str | None = None

    @classmethod
    def resume(cls, found, tasks: list[TaskData], replicas: Replicas, optimizer, scheduler, sampler, rng, gen,
               dist: _Dist, selector) -> "_Progress":
        """A fresh run's progress, or the progress of checkpoint *found* (``(path, payload)`` of
        :func:`xstilts.checkpoint.load_latest`), whose optimizer, scheduler, sampler positions, RNG states and
        model-selection record are restored."""
        zero = {t.label: 0 for t in tasks}
        pending = {"examples": [0] * len(tasks), "tokens": [0] * len(tasks)}
        if not found:
            return cls(list(zero), 0, [], [], dict(zero), dict(zero), dict(zero), pending)
        path, payload = found
        replicas.load_optimizer_state(optimizer, payload["optim"]["optimizer"])
        scheduler.load_state_dict(payload["optim"]["scheduler"])
        st = payload["state"]
        rng_state, saved_window = _rank_state(st, dist.rank, dist.world)
        done = cls(list(zero), st["step"], [tuple(x) for x in st["curve"]],
                   [torch.tensor(x, device=replicas.device) for x in saved_window], dict(st["task_steps"]),
                   dict(st["task_examples"]), dict(st["task_tokens"]), pending, st.get("seconds", 0.0), str(path))
        for s, s_st in zip(sampler.streams, st["streams"]):
            s.restore(s_st)
        _restore_rng(rng_state, rng, gen)
        if selector is not None and "selection" in st:
            # the best weights: saved beside the checkpoint, or the checkpoint's own when its step is the best
            best = payload.get("best")
            if best is None and st["selection"]["best_step"] == st["step"]:
                best = {k: v.detach().clone() for k, v in payload["model"].items()}
            selector.restore(st["selection"], best)
            if st.get("stopped_early"):
                selector.stopped_early = True
        return done


class _Step:
    """One optimizer step: every micro-batch's forward and backward (gradients synchronised on the last one), then
    clipping, the optimizer and the scheduler; and the logged loss."""

    def __init__(self, tasks: list[TaskData], hp, accelerator, replicas: Replicas, optimizer, scheduler,
                 done: _Progress):
        self.tasks, self.hp, self.acc, self.replicas = tasks, hp, accelerator, replicas
        self.optimizer, self.scheduler, self.done = optimizer, scheduler, done
        self.runner: nn.Module = replicas.loss_module()

    def setup(self, sampler, pad_id: int, seed: int, steps: int):
        """The batch loader (padding buckets, packing, prefetch) and the compiled encoder (buckets pre-compiled);
        then the data-parallel wrapper. Returns ``(loader, compiled)``."""
        hp, inner, device = self.hp, self.replicas.inner, self.acc.device
        buckets = getattr(hp, "length_buckets", None)
        packing = None
        if getattr(hp, "packing", False):
            from ..models.backbone import packing_layout

            packing, offset = packing_layout(inner.encoder, device)
            self.replicas.set_position_offset(offset)
        loader = _Loader(self.tasks, pad_id, buckets, device, self.replicas.dist.rank, self.replicas.dist.world,
                         getattr(hp, "prefetch", True), seed, packing)
        compiled = _compile_encoder(inner.encoder, hp)
        if compiled and buckets and not packing and self.done.start < steps:
            inner.train()
            k, idx, share = sampler.peek()
            _precompile(self.runner, self.tasks[k], loader._part(k, idx, share).batch, buckets, self.acc, pad_id)
        self.runner = self.replicas.data_parallel(self.runner)
        return loader, compiled

    def __call__(self, parts) -> None:
        done, device = self.done, self.acc.device
        micro = list(parts)
        for m, thunks in enumerate(micro):
            total_loss = 0.0
            for j, get in enumerate(thunks):
                part = get()
                td = self.tasks[part.task]
                batch = {n: v.to(device, non_blocking=True) for n, v in part.batch.items()}
                with self.replicas.gradient_sync(self.runner, last=m == len(micro) - 1 and j == len(thunks) - 1):
                    with self.acc.autocast(), _region("forward"):
                        loss = self.runner(td.label, td.family, batch)
                    with _region("backward"):
                        self.acc.backward(loss * part.weight / self.hp.grad_accum)
                total_loss = total_loss + loss.detach() * part.share
                done.task_steps[td.label] += 1
                done.pending["examples"][part.task] += part.examples
                done.pending["tokens"][part.task] += part.tokens
            done.window.append(total_loss)
        with _region("optimizer"):
            self.replicas.clip_gradients(self.acc, self.hp.max_grad_norm)
            self.optimizer.step()
            if not getattr(self.optimizer, "step_was_skipped", False):
                self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)

    def log(self, step: int, dist: _Dist, has_state: bool) -> float:
        """The mean loss since the last logging step, summed over the processes (a collective); recorded in the
        loss curve and the trackers. Raises :class:`XstiltsError` on a NaN/inf loss."""
        done = self.done
        mean_loss = float(dist.sum_(torch.stack(done.window).float().mean()))
        done.window.clear()
        if not math.isfinite(mean_loss):
            raise XstiltsError(f"loss became {mean_loss} at or before optimizer step {step}; stopping this "
                               f"phase" + (" (the last good checkpoint is kept)" if has_state else ""))
        done.curve.append((step, mean_loss))
        if getattr(self.acc, "trackers", None):  # training curves (xstilts: trackers), main process
            self.acc.log({"train/loss": mean_loss, "train/lr": float(self.scheduler.get_last_lr()[0]),
                          "train/step": step}, step=step)
        return mean_loss


class _Saver:
    """Writes a training checkpoint (model, optimizer, scheduler, RNG states of every process, sampler positions,
    progress, model-selection record) into *state_dir* (nothing without one); every process calls it."""

    def __init__(self, state_dir: Path | None, hp, dist: _Dist, replicas: Replicas, optimizer, scheduler, selector,
                 rng, gen, done: _Progress):
        self.state_dir, self.hp, self.dist, self.replicas = state_dir, hp, dist, replicas
        self.optimizer, self.scheduler, self.selector, self.rng, self.gen = optimizer, scheduler, selector, rng, gen
        self.done, self.main, self.t0 = done, replicas.dist.acc.is_main_process, time.time()

    def flush_counts(self) -> None:
        """Add every process's example and token counts to the totals (a collective when data-parallel)."""
        done, tasks = self.done, self.done.labels
        counts = torch.tensor(done.pending["examples"] + done.pending["tokens"], dtype=torch.float64)
        if self.dist.world > 1:
            counts = self.dist.sum_(counts.to(self.replicas.device)).cpu()
        for k, label in enumerate(tasks):
            done.task_examples[label] += int(counts[k])
            done.task_tokens[label] += int(counts[len(tasks) + k])
        done.pending["examples"], done.pending["tokens"] = [0] * len(tasks), [0] * len(tasks)

    def __call__(self, step: int, sampler_state: dict) -> None:
        from .. import checkpoint as ck

        if self.state_dir is None:
            return
        done, selector = self.done, self.selector
        extra = {}
        if selector is not None and selector.best_weights is not None and selector.best_step != step:
            extra["best"] = selector.best_weights  # the selected weights, when they are not the current ones
        self.flush_counts()
        mine = {"rng": _rng_states(self.rng, self.gen, sampler_state), "window": [float(x) for x in done.window]}
        ranks = self.dist.gather(mine)
        full = self.replicas.full_state(self.optimizer, self.main)  # FSDP: a collective, every process
        if self.main:
            state = {"step": step, "curve": done.curve, "task_steps": done.task_steps,
                     "task_examples": done.task_examples, "task_tokens": done.task_tokens, "window": mine["window"],
                     "streams": sampler_state["streams"], "rng": mine["rng"],
                     "seconds": done.seconds_before + time.time() - self.t0}
            if self.dist.world > 1:
                state["ranks"] = ranks
            if self.replicas.fsdp:
                state["fsdp"] = True
            if selector is not None:
                state["selection"] = selector.state()
                state["stopped_early"] = selector.stopped_early
            ck.save_checkpoint(self.state_dir, step, {
                "model": full["model"], "optim": {"optimizer": full["optim"],
                                                  "scheduler": self.scheduler.state_dict()},
                "state": state, **extra}, keep=self.hp.keep_checkpoints)
        self.dist.barrier()
