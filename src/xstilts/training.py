"""One readable training loop for every task family, single- or multi-task, and batched prediction (trackers:
:mod:`xstilts.trackers`).

The model is the encoder plus one head per task (:class:`MultiTaskModel`). Each optimizer step takes a batch from
one task (single-task batches, as jiant); with several tasks the task is drawn per step (``proportional`` to the
number of training examples, or ``uniform``). AdamW with linear warmup and decay, gradient clipping, dropout
seeded from the run seed. Devices and mixed precision go through ``accelerate``.

Speed without changing results: the next step's batches are collated in a background thread (pinned memory,
non-blocking copies on CUDA); losses stay on the device and are read every ``log_every`` steps; fused AdamW on
CUDA; optional length buckets (masked padding to fixed lengths), ``torch.compile`` of the encoder (every bucket
compiled before the first step), length-grouped batches and padding-free packing (several sequences per row,
block-diagonal attention; flash-attention varlen on CUDA). Data-parallel runs (``accelerate launch`` /
``torchrun``; DDP, or FSDP2 sharding) cut each global batch across the processes and equal the single-process run.
Evaluation (:func:`eval_all_languages`) sorts every language's features by length into one stream of large batches.
See ``perf/README.md`` for the measured effect.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import math
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from .data import SEQUENCE_PAD_VALUES, length_grouped_order, length_sorted_batches, pack_batch, pad_to_bucket
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
        # segment ids only for models that have segment embeddings (BERT); XLM-R, DeBERTa-v3 and decoders have none
        self.use_token_types = (getattr(getattr(encoder, "config", None), "type_vocab_size", 0) or 0) > 1
        self.position_offset = 0  # position id of a sequence's first token in packed batches (set by train)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if "pack_index" in batch:
            return self._packed(batch)
        kwargs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        if "token_type_ids" in batch and self.use_token_types:
            kwargs["token_type_ids"] = batch["token_type_ids"]
        return self.encoder(**kwargs).last_hidden_state

    def _packed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The encoder over a packed batch (:func:`~xstilts.data.pack_batch`), its states put back into the batch's
        ``[B, L, H]`` shape (zeros at padding), so that heads and losses see what the padded batch gives."""
        ids = batch["packed_input_ids"]
        kwargs = {"input_ids": ids, "position_ids": batch["packed_position_ids"] + self.position_offset}
        if "packed_token_type_ids" in batch and self.use_token_types:
            kwargs["token_type_ids"] = batch["packed_token_type_ids"]
        if "cu_seq_lens" in batch:  # flash-attention varlen: one row, sequences delimited by cu_seq_lens
            longest = batch["input_ids"].shape[1]  # a bound on the longest sequence, known without a device sync
            kwargs.update(attention_mask=None, cu_seq_lens_q=batch["cu_seq_lens"], cu_seq_lens_k=batch["cu_seq_lens"],
                          max_length_q=longest, max_length_k=longest)
        else:  # block-diagonal mask [R, 1, C, C]: each token attends within its sequence (padding within padding)
            seg = batch["packed_segments"]
            same = (seg[:, :, None] == seg[:, None, :])[:, None]
            base = self.encoder.get_base_model() if hasattr(self.encoder, "get_base_model") else self.encoder
            if getattr(base.config, "_attn_implementation", "eager") == "eager":  # eager adds the mask to the scores
                same = torch.zeros(same.shape, device=seg.device).masked_fill(~same, torch.finfo(torch.float32).min)
            kwargs["attention_mask"] = same
        hidden = self.encoder(**kwargs).last_hidden_state
        flat = hidden.reshape(-1, hidden.shape[-1])
        flat = torch.cat([flat, flat.new_zeros(1, flat.shape[-1])])  # row R*C: the padding positions
        return flat[batch["pack_index"]]


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
    """Endless shuffled examples of one task, epoch after epoch; its position can be saved and restored.

    ``batching="length_grouped"`` orders each epoch with :func:`~xstilts.data.length_grouped_order` (batches of
    examples of similar length, in random order); the saved state is the same (epoch, order, position).
    """

    def __init__(self, data: TaskData, batch_size: int, generator: torch.Generator, batching: str = "random"):
        self.data, self.batch_size, self.gen, self.batching = data, batch_size, generator, batching
        self.epoch, self.perm, self.pos = 0, [], 0
        self._lengths: list[int] | None = None

    def _new_epoch(self) -> None:
        if self.data.size == 0:
            raise XstiltsError(f"task {self.data.label} has no training examples")
        self.epoch += 1
        if self.batching == "length_grouped":
            if self._lengths is None:
                fam, feats = self.data.family, self.data.features
                self._lengths = [fam.feature_length(feats, i) for i in range(self.data.size)]
            self.perm = length_grouped_order(self._lengths, self.batch_size, self.gen)
        else:
            self.perm = torch.randperm(self.data.size, generator=self.gen).tolist()
        self.pos = 0

    def next(self) -> list[int]:
        """The next batch of the epoch (the last batch of an epoch may be short)."""
        if self.pos >= len(self.perm):
            self._new_epoch()
        idx = self.perm[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    def take(self, n: int) -> list[int]:
        """The next *n* examples, continuing into the next epoch if needed (for mixed batches)."""
        out: list[int] = []
        while len(out) < n:
            if self.pos >= len(self.perm):
                self._new_epoch()
            chunk = self.perm[self.pos:self.pos + n - len(out)]
            self.pos += len(chunk)
            out.extend(chunk)
        return out

    def state(self) -> dict:
        # the epoch order is replaced, never modified, so a saved state may share it
        return {"epoch": self.epoch, "perm": self.perm, "pos": self.pos}

    def restore(self, st: dict) -> None:
        self.epoch, self.perm, self.pos = st["epoch"], list(st["perm"]), st["pos"]


#: One optimizer step's batches: ``grad_accum`` micro-batches, each a list of parts ``(task number, example
#: indices of the global batch, share of the micro-batch)`` (one part, share 1, unless batches mix tasks).
Plan = list[list[tuple[int, list[int], float]]]


class _Sampler:
    """Draws the plan of each optimizer step from the run's private RNGs (a ``random.Random`` choosing tasks and a
    ``torch.Generator`` shuffling examples), identically in every process of a data-parallel run."""

    def __init__(self, tasks: list[TaskData], hp, rng: random.Random, gen: torch.Generator,
                 weights: list[float], mixed: bool):
        batching = getattr(hp, "batching", "random")
        self.streams = [_TaskStream(t, hp.batch_size, gen, batching) for t in tasks]
        self.rng, self.gen, self.weights = rng, gen, weights
        self.mixed = mixed and len(tasks) > 1
        self.batch_size, self.grad_accum, self.k = hp.batch_size, hp.grad_accum, len(tasks)

    def draw(self) -> Plan:
        plan: Plan = []
        for _ in range(self.grad_accum):
            if self.mixed:
                draws = self.rng.choices(range(self.k), self.weights, k=self.batch_size)
                counts = [(k, draws.count(k)) for k in range(self.k) if draws.count(k)]
                plan.append([(k, self.streams[k].take(c), c / self.batch_size) for k, c in counts])
            else:
                k = self.rng.choices(range(self.k), self.weights)[0] if self.k > 1 else 0
                plan.append([(k, self.streams[k].next(), 1.0)])
        return plan

    def state(self) -> dict:
        return {"streams": [s.state() for s in self.streams], "sampler": self.rng.getstate(),
                "generator": self.gen.get_state()}

    def peek(self) -> tuple[int, list[int], float]:
        """The first part of the next plan, leaving the sampler as it was."""
        st = self.state()
        streams = [dict(s, perm=list(s["perm"])) for s in st["streams"]]
        part = self.draw()[0][0]
        for s, s_st in zip(self.streams, streams):
            s.restore(s_st)
        self.rng.setstate(st["sampler"])
        self.gen.set_state(st["generator"])
        return part


#: Set by ``perf/throughput.py --profile``: label the training step's regions (collate, forward, backward,
#: optimizer, waiting for batches) in torch.profiler traces.
PROFILE_REGIONS = False


def _region(name: str):
    return torch.profiler.record_function("xstilts." + name) if PROFILE_REGIONS else contextlib.nullcontext()


def _shard(idx: list[int], rank: int, world: int) -> list[int]:
    """Process *rank*'s contiguous slice of a global batch (sizes differ by at most one)."""
    n = len(idx)
    return idx[rank * n // world:(rank + 1) * n // world]


def _collate_uses_rng(family: Family) -> bool:
    """Whether *family*'s collate draws from torch's global RNG (``Family.collate_uses_rng``, masked LM): such
    batches are collated on the main thread (torch's generator is shared by all threads) under
    :func:`_seeded_collate`."""
    return bool(getattr(family, "collate_uses_rng", False))


def _loss_units(batch: dict) -> int:
    """What a family's loss averages over in a collated *batch*: its labelled tokens (``labels [B, L]``, -100
    ignored: masked LM, tagging), else its labelled examples (``label [B]``, negative ignored: multiple choice),
    else its rows."""
    labels = batch.get("labels")
    if labels is not None and labels.ndim >= 2:
        return int((labels != -100).sum())
    label = batch.get("label")
    if label is not None and label.ndim == 1:
        return int((label >= 0).sum())
    return int(batch["input_ids"].shape[0])


def _feature_units(features: dict, idx: list[int]) -> int:
    """:func:`_loss_units` of the features *idx*, counted from the feature lists without collating them."""
    if not idx:
        return 0
    labels, label = features.get("labels"), features.get("label")
    if labels is not None and isinstance(labels[idx[0]], (list, tuple)):
        return sum(sum(1 for t in labels[i] if t != -100) for i in idx)
    if label is not None and isinstance(label[idx[0]], int):
        return sum(1 for i in idx if label[i] >= 0)
    return len(idx)


def _derived_seed(*parts) -> int:
    """A 63-bit seed from *parts* (the run seed and a batch's position), the same in every process and run."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "little") >> 1


def _seeded_collate(family: Family, features: dict, idx: list[int], pad_id: int, seed: int) -> dict:
    """``family.collate`` with torch's CPU RNG seeded to *seed* for the call and restored after it: the random
    draws (masks) depend only on *seed* and the batch, not on what ran before (dropout, prefetching, resuming), and
    the run's own RNG stream is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return family.collate(features, idx, pad_id)


@dataclass
class _Part:
    """A process's share of one part of a micro-batch, collated on the CPU."""

    task: int
    batch: dict
    examples: int  # real examples of this process (0: a stand-in row, weight 0, so that every process computes)
    tokens: int  # their non-pad tokens
    weight: float  # loss multiplier: share of the micro-batch x this process's fraction x processes (DDP mean)
    share: float  # loss multiplier for the logged loss (share x this process's fraction)


class _Loader:
    """Turns step plans into collated CPU batches (this process's slice of each global batch), padded to a length
    bucket and pinned, collating the next step in a background thread while the current one computes."""

    def __init__(self, tasks: list[TaskData], pad_id: int, buckets, device: torch.device, rank: int, world: int,
                 prefetch: bool, seed: int = 0, packing: str | None = None):
        self.tasks, self.pad_id, self.buckets, self.rank, self.world = tasks, pad_id, buckets, rank, world
        self.seed, self.packing = seed, packing
        self.pin = device.type == "cuda"
        self.random = [_collate_uses_rng(t.family) for t in tasks]
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="xstilts-prefetch") if prefetch else None

    def _part(self, k: int, idx: list[int], share: float, key: tuple = (0, 0, 0)) -> _Part:
        """*key*: the part's (step, micro-batch, part) position, which seeds a random collate."""
        with _region("collate"):
            return self._collate_part(k, idx, share, key)

    def _collate_part(self, k: int, idx: list[int], share: float, key: tuple) -> _Part:
        td = self.tasks[k]
        local = _shard(idx, self.rank, self.world) if self.world > 1 else idx
        real = len(local) > 0
        if not real:
            local = idx[:1]
        units_all = mine = 0  # data parallel: what the loss of the global batch / of this slice averages over
        if self.random[k]:  # the whole global batch under its seed, then this process's rows of it
            cpu = _seeded_collate(td.family, td.features, idx, self.pad_id, _derived_seed(self.seed, *key))
            if self.world > 1:
                units_all = _loss_units(cpu)
                a = self.rank * len(idx) // self.world if real else 0
                cpu = {n: v[a:a + len(local)] if v.ndim and v.shape[0] == len(idx) else v for n, v in cpu.items()}
                mine = _loss_units(cpu) if real else 0
        else:
            cpu = td.family.collate(td.features, local, self.pad_id)
            if self.world > 1:
                units_all = _feature_units(td.features, idx)
                mine = _feature_units(td.features, local) if real else 0
        tokens = int(cpu["attention_mask"].sum()) if real else 0
        cpu = pad_to_bucket(cpu, self.buckets, self.pad_id)
        if self.packing:
            cpu = pack_batch(cpu, self.pad_id, varlen=self.packing == "varlen")
        if self.pin:
            cpu = {n: v.pin_memory() for n, v in cpu.items()}
        if self.world == 1:
            return _Part(k, cpu, len(local), tokens, share, share)
        # this process's share of the global batch's loss: its loss units (labelled tokens of a token-level loss,
        # else examples) over all of them, so that the processes' weighted losses add up to the global batch's
        frac = mine / units_all if units_all else (len(local) / len(idx) if real else 0.0)
        return _Part(k, cpu, len(local) if real else 0, tokens, share * frac * self.world, share * frac)

    def _eager(self, plan: Plan) -> dict:
        return {(m, j): self._part(k, idx, share) for m, parts in enumerate(plan)
                for j, (k, idx, share) in enumerate(parts) if not self.random[k]}

    def submit(self, plan: Plan, step: int = 0):
        """Start collating *plan* (of optimizer step *step*); returns a handle for :meth:`parts`."""
        if self.pool is None:
            return plan, None, step
        return plan, self.pool.submit(self._eager, plan), step

    def parts(self, handle) -> Iterator[list[Callable[[], _Part]]]:
        """Per micro-batch, a list of thunks giving its parts (random-collate parts are collated when called)."""
        plan, fut, step = handle
        with _region("wait_for_batches"):
            done = fut.result() if fut is not None else {}
        for m, parts in enumerate(plan):
            yield [(lambda key=(m, j), p=p: done[key] if key in done else self._part(*p, key=(step, *key)))
                   for j, p in enumerate(parts)]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


class _LossModule(nn.Module):
    """The encoder, a task's head and its loss in one ``forward``, so that DDP sees the heads' parameters used."""

    def __init__(self, model: "MultiTaskModel"):
        super().__init__()
        self.model = model

    def forward(self, label: str, family: Family, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.model(batch)
        loss, _ = family.loss(self.model.heads[label], hidden, batch)
        return loss


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


def _rng_states(rng: random.Random, gen: torch.Generator, sampler: dict | None = None) -> dict:
    import numpy as np

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "sampler": sampler["sampler"] if sampler else rng.getstate(),
            "generator": sampler["generator"] if sampler else gen.get_state()}


def _restore_rng(st: dict, rng: random.Random, gen: torch.Generator) -> None:
    import numpy as np

    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if st.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])
    rng.setstate(st["sampler"])
    gen.set_state(st["generator"])


def _make_optimizer(model: nn.Module, hp, device: torch.device) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; the fused kernel on CUDA (``fused_adamw: auto``) or when asked."""
    fused = getattr(hp, "fused_adamw", "auto")
    if fused == "auto":
        fused = device.type == "cuda" and all(p.is_floating_point() for p in model.parameters() if p.requires_grad)
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


def _fit_width(batch: dict[str, torch.Tensor], width: int, pad_id: int) -> dict[str, torch.Tensor]:
    """*batch* with its token dimension cut or padded to *width* (for compiling a bucket's shapes)."""
    have = batch["input_ids"].shape[1]
    out = dict(batch)
    for name, t in batch.items():
        if name == "input_ids" or (name in SEQUENCE_PAD_VALUES and t.ndim >= 2 and t.shape[-1] == have):
            fill = pad_id if name == "input_ids" else SEQUENCE_PAD_VALUES[name]
            out[name] = t[..., :width] if width <= have else nn.functional.pad(t, (0, width - have), value=fill)
    return out


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


class _Dist:
    """Collectives of a data-parallel run (no-ops in a single process)."""

    def __init__(self, accelerator):
        self.acc = accelerator
        self.world, self.rank = accelerator.num_processes, accelerator.process_index

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
        return t

    def any(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.acc.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item())

    def gather(self, obj) -> list:
        if self.world == 1:
            return [obj]
        out: list = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.world > 1:
            self.acc.wait_for_everyone()


def _ddp(module: nn.Module, device: torch.device) -> nn.Module:
    """DDP over *module* (the process group is accelerate's). Buffers are not synchronised at each forward (the
    encoders' buffers are constant); ``find_unused_parameters`` since a step uses one task's head only."""
    import inspect

    kwargs = {"device_ids": [device.index] if device.type == "cuda" else None, "find_unused_parameters": True}
    params = inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
    kwargs["forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers"] = False
    return nn.parallel.DistributedDataParallel(module, **kwargs)


def _wants_fsdp(accelerator, distributed: str | None, hp) -> bool:
    """Whether a data-parallel run shards parameters, gradients and optimizer states (FSDP) rather than replicating
    them (DDP): *distributed* ``fsdp``, or none given and the run launched with ``accelerate launch --use_fsdp``."""
    if distributed is None:
        distributed = "fsdp" if str(getattr(accelerator, "distributed_type", "")).endswith("FSDP") else "ddp"
    if distributed not in ("ddp", "fsdp"):
        raise XstiltsError(f"distributed: {distributed!r}; expected ddp or fsdp")
    if distributed == "fsdp":
        if getattr(hp, "compile", False):
            raise XstiltsError("compile is not supported with distributed: fsdp; set compile: false")
        if getattr(accelerator, "mixed_precision", "no") == "fp16":
            raise XstiltsError("distributed: fsdp trains in fp32 or bf16 autocast; set mixed_precision: bf16")
    return distributed == "fsdp"


def _fsdp(module: "_LossModule", device: torch.device, world: int) -> nn.Module:
    """FSDP2 (``torch.distributed.fsdp.fully_shard``) over *module*: each transformer layer (the children of the
    encoder's layer lists) one unit, the rest (embeddings, heads) the root unit, so that a head tied to the input
    embeddings (masked LM) is gathered with them. Parameters, gradients and optimizer states are sharded over the
    processes; gradients are averaged over them as with DDP."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(device.type, (world,))
    for sub in list(module.model.encoder.modules()):
        if isinstance(sub, nn.ModuleList) and len(sub) > 1 and len({type(x) for x in sub}) == 1:
            for layer in sub:
                if any(p.requires_grad for p in layer.parameters()):
                    fully_shard(layer, mesh=mesh)
    fully_shard(module, mesh=mesh)
    return module


def _fsdp_full_state(module: nn.Module, optimizer) -> dict:
    """Full (unsharded) model and optimizer state dicts of an FSDP module, on the main process's CPU (a collective:
    every process calls it); the model's keys are those of the unwrapped :class:`MultiTaskModel`."""
    from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                         get_optimizer_state_dict)

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    model = get_model_state_dict(module, options=opts)
    optim = get_optimizer_state_dict(module, optimizer, options=opts)
    return {"model": {k.removeprefix("model."): v for k, v in model.items()}, "optim": optim}


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
    :func:`~xstilts.data.pack_batch` and :func:`~xstilts.modeling.packing_layout`). Losses stay on the device and
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

    from . import checkpoint as ck

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
    if fsdp:  # a sharded copy trains; *inner* (on the CPU meanwhile) gets its weights at the end
        sharded = _fsdp(_LossModule(copy.deepcopy(inner)), device, dist.world)
        trained: nn.Module = sharded
    else:
        inner.to(device)
        trained = inner
    optimizer = _make_optimizer(trained, hp, device)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(hp.warmup_ratio * steps), steps)
    weights = probabilities or [float(t.size) for t in tasks]
    rng = random.Random(seed)
    sampler = _Sampler(tasks, hp, rng, gen, weights, mixed_batches)
    curve, window, task_steps = [], [], {t.label: 0 for t in tasks}
    task_examples, task_tokens = {t.label: 0 for t in tasks}, {t.label: 0 for t in tasks}
    start, resumed_from, seconds_before = 0, None, 0.0
    if state_dir is not None:
        if found:
            path, payload = found
            if fsdp:
                from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

                set_optimizer_state_dict(sharded, optimizer, payload["optim"]["optimizer"],
                                         options=StateDictOptions(full_state_dict=True))
            else:
                optimizer.load_state_dict(payload["optim"]["optimizer"])
            scheduler.load_state_dict(payload["optim"]["scheduler"])
            st = payload["state"]
            start, curve, task_steps = st["step"], [tuple(x) for x in st["curve"]], dict(st["task_steps"])
            task_examples, task_tokens = dict(st["task_examples"]), dict(st["task_tokens"])
            rng_state, saved_window = _rank_state(st, dist.rank, dist.world)
            window = [torch.tensor(x, device=device) for x in saved_window]
            for s, s_st in zip(sampler.streams, st["streams"]):
                s.restore(s_st)
            _restore_rng(rng_state, rng, gen)
            seconds_before, resumed_from = st.get("seconds", 0.0), str(path)
            if selector is not None and "selection" in st:
                selector.restore(st["selection"], payload.get("best"))
                if st.get("stopped_early"):
                    selector.stopped_early = True
    if not fsdp:  # (FSDP: the plain optimizer; bf16 autocast needs no gradient scaler)
        optimizer = accelerator.prepare(optimizer)
    runner: nn.Module = sharded if fsdp else _LossModule(inner)
    buckets = getattr(hp, "length_buckets", None)
    packing = None
    if getattr(hp, "packing", False):
        from .modeling import packing_layout

        packing, inner.position_offset = packing_layout(inner.encoder, device)
        if fsdp:
            sharded.model.position_offset = inner.position_offset
    loader = _Loader(tasks, pad_id, buckets, device, dist.rank, dist.world, getattr(hp, "prefetch", True), seed,
                     packing)
    compiled = _compile_encoder(inner.encoder, hp)
    if compiled and buckets and not packing and start < steps:
        inner.train()
        k, idx, share = sampler.peek()
        _precompile(runner, tasks[k], loader._part(k, idx, share).batch,
                    buckets, accelerator, pad_id)
    if dist.world > 1 and not fsdp:
        runner = _ddp(runner, device)
    pending = {"examples": [0] * len(tasks), "tokens": [0] * len(tasks)}  # this process's, not yet summed
    main = accelerator.is_main_process
    t0 = time.time()

    def flush_counts() -> None:
        """Add every process's example and token counts to the totals (a collective when data-parallel)."""
        counts = torch.tensor(pending["examples"] + pending["tokens"], dtype=torch.float64)
        if dist.world > 1:
            counts = dist.sum_(counts.to(device)).cpu()
        for k, t in enumerate(tasks):
            task_examples[t.label] += int(counts[k])
            task_tokens[t.label] += int(counts[len(tasks) + k])
        pending["examples"], pending["tokens"] = [0] * len(tasks), [0] * len(tasks)

    def save(step: int, sampler_state: dict) -> None:
        if state_dir is None:
            return
        extra = {}
        if selector is not None and selector.best_weights is not None and selector.best_step != step:
            extra["best"] = selector.best_weights  # the selected weights, when they are not the current ones
        flush_counts()
        mine = {"rng": _rng_states(rng, gen, sampler_state), "window": [float(x) for x in window]}
        ranks = dist.gather(mine)
        full = _fsdp_full_state(sharded, optimizer) if fsdp else {}  # a collective: every process
        if main:
            state = {"step": step, "curve": curve, "task_steps": task_steps, "task_examples": task_examples,
                     "task_tokens": task_tokens, "window": mine["window"], "streams": sampler_state["streams"],
                     "rng": mine["rng"], "seconds": seconds_before + time.time() - t0}
            if dist.world > 1:
                state["ranks"] = ranks
            if fsdp:
                state["fsdp"] = True
            if selector is not None:
                state["selection"] = selector.state()
                state["stopped_early"] = selector.stopped_early
            ck.save_checkpoint(state_dir, step, {
                "model": full["model"] if fsdp else inner.state_dict(),
                "optim": {"optimizer": full["optim"] if fsdp else optimizer.state_dict(),
                          "scheduler": scheduler.state_dict()},
                "state": state, **extra}, keep=hp.keep_checkpoints)
        dist.barrier()

    runner.train()
    STOP["in_training"] = True
    last_step = start
    if selector is not None and selector.stopped_early:
        steps_left = False  # resumed after an early stop: nothing more to train
    else:
        steps_left = start < steps
    try:
        # the plan of step s+1 is drawn (and collated in the background) before step s computes; the sampler
        # state saved with step s is the one from before that draw
        snapshot = sampler.state()
        upcoming = loader.submit(sampler.draw(), start + 1) if steps_left else None
        for step in range(start + 1, steps + 1 if steps_left else start + 1):
            last_step = step
            current = upcoming
            snapshot = sampler.state()
            upcoming = loader.submit(sampler.draw(), step + 1) if step < steps else None
            micro = list(loader.parts(current))
            for m, thunks in enumerate(micro):
                total_loss = 0.0
                for j, get in enumerate(thunks):
                    part = get()
                    td = tasks[part.task]
                    batch = {n: v.to(device, non_blocking=True) for n, v in part.batch.items()}
                    last = m == len(micro) - 1 and j == len(thunks) - 1
                    if fsdp:
                        runner.set_requires_gradient_sync(last)
                    sync = runner.no_sync() if dist.world > 1 and not last and not fsdp else contextlib.nullcontext()
                    with sync:
                        with accelerator.autocast(), _region("forward"):
                            loss = runner(td.label, td.family, batch)
                        with _region("backward"):
                            accelerator.backward(loss * part.weight / hp.grad_accum)
                    total_loss = total_loss + loss.detach() * part.share
                    task_steps[td.label] += 1
                    pending["examples"][part.task] += part.examples
                    pending["tokens"][part.task] += part.tokens
                window.append(total_loss)
            with _region("optimizer"):
                if fsdp:  # sharded gradients (DTensors): torch computes the global norm
                    nn.utils.clip_grad_norm_(trained.parameters(), hp.max_grad_norm)
                else:
                    accelerator.clip_grad_norm_(inner.parameters(), hp.max_grad_norm)
                optimizer.step()
                if not getattr(optimizer, "step_was_skipped", False):
                    scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            log_step = step % hp.log_every == 0 or step == steps
            ckpt_step = step == steps or bool(hp.checkpoint_every and step % hp.checkpoint_every == 0)
            if selector is not None and selector.due(step, steps):
                score = selector.observe(step, inner)  # the caller's evaluate() switches eval mode
                runner.train()
                if getattr(accelerator, "trackers", None):
                    accelerator.log({"selection/score": score}, step=step)
                if selector.should_stop and step < steps:
                    selector.stopped_early = True
                    ckpt_step = True
            if log_step:
                mean_loss = float(dist.sum_(torch.stack(window).float().mean()))
                window.clear()
                if not math.isfinite(mean_loss):
                    raise XstiltsError(f"loss became {mean_loss} at or before optimizer step {step}; stopping this "
                                       f"phase" + (" (the last good checkpoint is kept)" if state_dir else ""))
                curve.append((step, mean_loss))
                if getattr(accelerator, "trackers", None):  # training curves (xstilts: trackers), main process
                    accelerator.log({"train/loss": mean_loss, "train/lr": float(scheduler.get_last_lr()[0]),
                                     "train/step": step}, step=step)
                if progress and main:
                    progress(step, mean_loss)
            elif progress and main:
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
        if upcoming is not None and selector is not None and selector.stopped_early:
            upcoming = None  # the batch drawn for the step after the early stop is not used
        flush_counts()
        if fsdp:  # the trained weights into the caller's (unsharded) model, in every process
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            weights = get_model_state_dict(sharded, options=StateDictOptions(full_state_dict=True))
            inner.load_state_dict({k.removeprefix("model."): v for k, v in weights.items()})
            inner.to(device)
        if selector is not None and selector.best_weights is not None and selector.best_step != last_step:
            inner.load_state_dict(selector.best_weights)  # the selected step's weights
            inner.to(device)
    finally:
        STOP["in_training"] = False
        loader.close()
        if compiled:
            inner.encoder._compiled_call_impl = None  # evaluation runs other shapes: back to eager
    return {"steps": steps, "steps_trained": last_step, "loss_curve": curve, "task_steps": task_steps,
            "task_examples": task_examples, "task_tokens": task_tokens, "seconds": seconds_before + time.time() - t0,
            "resumed_from": resumed_from, "selection": selector.record(last_step) if selector is not None else None}


def _rank_state(st: dict, rank: int, world: int) -> tuple[dict, list[float]]:
    """This process's RNG states and loss window from a checkpoint state. Saved by as many processes: its own.
    Saved by another number of processes: the main process's RNG states, and the summed window on process 0
    (zeros elsewhere), so that the logged loss (a sum over processes) is unchanged."""
    ranks = st.get("ranks") or [{"rng": st["rng"], "window": st["window"]}]
    if len(ranks) == world:
        return ranks[rank]["rng"], ranks[rank]["window"]
    summed = [sum(w) for w in zip(*(r["window"] for r in ranks))]
    return ranks[0]["rng"], summed if rank == 0 else [0.0] * len(summed)


def _merge_features(datas: list[TaskData]) -> tuple[dict, list[int]]:
    """One feature dict over several :class:`TaskData` of a task (lists concatenated) and each one's offset."""
    keys = [k for k in datas[0].features if all(k in d.features for d in datas)]
    merged: dict = {k: [] for k in keys}
    offsets = []
    for d in datas:
        offsets.append(len(merged[keys[0]]) if keys else 0)
        for k in keys:
            merged[k].extend(d.features[k])
    return merged, offsets


@torch.no_grad()
def eval_all_languages(model: MultiTaskModel, datas: list[TaskData], *, batch_size: int, accelerator, pad_id: int,
                       advance: Callable[[int], None] | None = None, max_tokens: int | None = None,
                       prefetch: bool = True) -> list[list[torch.Tensor]]:
    """Per-feature head outputs of every :class:`TaskData` in *datas* (the languages of one task, same head), in
    one pass: all features sorted by length into batches of at most *batch_size* (and *max_tokens* padded tokens),
    under autocast, without gradients; batches collated in a background thread; outputs copied to the CPU without
    waiting (pinned memory on CUDA) and split back per language, in feature order.

    Data-parallel (``accelerate launch``): each process runs every n-th batch and the outputs are gathered, so every
    process gets all of them.
    """
    if not datas:
        return []
    labels = {d.label for d in datas}
    if len(labels) != 1:
        raise XstiltsError(f"eval_all_languages: one task (head) at a time, got {sorted(labels)}")
    family = datas[0].family
    model.eval()
    inner = accelerator.unwrap_model(model)
    head = inner.heads[datas[0].label]
    device = accelerator.device
    features, offsets = (datas[0].features, [0]) if len(datas) == 1 else _merge_features(datas)
    total = sum(d.size for d in datas)
    lengths = [family.feature_length(features, i) for i in range(total)]
    batches = list(length_sorted_batches(lengths, batch_size, max_tokens))
    world, rank = accelerator.num_processes, accelerator.process_index
    mine = batches[rank::world] if world > 1 else batches
    numbers = {id(idx): rank + b * world for b, idx in enumerate(mine)}  # each batch's number in the whole stream
    pin = device.type == "cuda"
    random_collate = _collate_uses_rng(family)

    def collate(idx):
        if random_collate:  # masks seeded by the batch's number: the same with any number of processes
            cpu = _seeded_collate(family, features, idx, pad_id, _derived_seed("eval", numbers[id(idx)]))
        else:
            cpu = family.collate(features, idx, pad_id)
        return {n: v.pin_memory() for n, v in cpu.items()} if pin else cpu

    pool = ThreadPoolExecutor(1, thread_name_prefix="xstilts-eval") if prefetch and not _collate_uses_rng(family) \
        else None
    results: list[tuple[list[int], torch.Tensor]] = []
    try:
        nxt = (pool.submit(collate, mine[0]) if pool else None) if mine else None
        for b, idx in enumerate(mine):
            cpu = nxt.result() if pool else collate(idx)
            if pool and b + 1 < len(mine):
                nxt = pool.submit(collate, mine[b + 1])
            batch = {n: v.to(device, non_blocking=True) for n, v in cpu.items()}
            with accelerator.autocast():
                hidden = inner(batch)
                out = family.logits(head, hidden, batch)
            out = out.float()
            if pin:  # no wait: the copy is ordered after the batch on the stream; synchronised once below
                host = torch.empty(out.shape, dtype=out.dtype, pin_memory=True)
                host.copy_(out, non_blocking=True)
                out = host
            else:
                out = out.cpu()
            results.append((idx, out))
            if advance:
                advance(len(idx) * world)
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)
    if pin:
        torch.cuda.synchronize(device)
    if world > 1:
        results = [r for part in _gather_objects(results, world) for r in part]
    outputs: list[torch.Tensor | None] = [None] * total
    for idx, out in results:
        for r, i in enumerate(idx):
            outputs[i] = out[r]
    ends = offsets[1:] + [total]
    return [outputs[a:e] for a, e in zip(offsets, ends)]  # type: ignore[misc]


def _gather_objects(obj, world: int) -> list:
    out: list = [None] * world
    torch.distributed.all_gather_object(out, obj)
    return out


def predict(model: MultiTaskModel, data: TaskData, *, batch_size: int, accelerator, pad_id: int,
            advance: Callable[[int], None] | None = None, max_tokens: int | None = None) -> list[torch.Tensor]:
    """Per-feature head outputs (CPU tensors, in feature order), batched in decreasing length, without gradients
    (:func:`eval_all_languages` for one data set)."""
    return eval_all_languages(model, [data], batch_size=batch_size, accelerator=accelerator, pad_id=pad_id,
                              advance=advance, max_tokens=max_tokens)[0]
