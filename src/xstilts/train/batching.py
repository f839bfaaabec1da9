"""Batches: each task's stream of batches (epochs, shuffling, length grouping), the task sampler of multi-task
training, seeded collation, and the background loader that collates the next step's batches while this one runs."""

from __future__ import annotations

import contextlib
import hashlib
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import nn

from ..data import SEQUENCE_PAD_VALUES, length_grouped_order, pack_batch, pad_to_bucket
from ..errors import XstiltsError
from ..tasks import Family
from .model import TaskData

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


def _fit_width(batch: dict[str, torch.Tensor], width: int, pad_id: int) -> dict[str, torch.Tensor]:
    """*batch* with its token dimension cut or padded to *width* (for compiling a bucket's shapes)."""
    have = batch["input_ids"].shape[1]
    out = dict(batch)
    for name, t in batch.items():
        if name == "input_ids" or (name in SEQUENCE_PAD_VALUES and t.ndim >= 2 and t.shape[-1] == have):
            fill = pad_id if name == "input_ids" else SEQUENCE_PAD_VALUES[name]
            out[name] = t[..., :width] if width <= have else nn.functional.pad(t, (0, width - have), value=fill)
    return out
