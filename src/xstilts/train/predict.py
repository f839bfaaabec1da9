"""Batched prediction: every language of a task in one length-sorted stream (:func:`eval_all_languages`) and
one data set (:func:`predict`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import torch

from ..data import length_sorted_batches
from ..errors import XstiltsError
from .batching import _collate_uses_rng, _derived_seed, _seeded_collate
from .model import MultiTaskModel, TaskData
from .parallel import _gather_objects

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


def predict(model: MultiTaskModel, data: TaskData, *, batch_size: int, accelerator, pad_id: int,
            advance: Callable[[int], None] | None = None, max_tokens: int | None = None) -> list[torch.Tensor]:
    """Per-feature head outputs (CPU tensors, in feature order), batched in decreasing length, without gradients
    (:func:`eval_all_languages` for one data set)."""
    return eval_all_languages(model, [data], batch_size=batch_size, accelerator=accelerator, pad_id=pad_id,
                              advance=advance, max_tokens=max_tokens)[0]
