"""Tokenised features, padding and batching shared by the task families.

Features are a dict of equal-length lists (one entry per example): ``input_ids`` (list of token id lists) and
task-specific fields (``label``...). :func:`tokenize_cached` keeps them on disk, keyed by the task, split, language,
tokenizer, max length, prefix and the data itself, so that every run of a study reuses them.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch

from .io import atomic_write_bytes, stable_hash

Features = dict[str, list]


def tokenizer_fingerprint(tokenizer) -> str:
    """A short hash identifying the tokenizer's vocabulary and settings."""
    try:
        blob = tokenizer.backend_tokenizer.to_str()
    except AttributeError:
        blob = repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def tokenize_cached(cache_dir: Path | None, key: dict, build: Callable[[], Features]) -> Features:
    """Return features for *key* from ``cache_dir`` if present, else build and store them (atomically)."""
    if cache_dir is None:
        return build()
    path = Path(cache_dir) / f"{stable_hash(key, 20)}.pkl"
    if path.is_file():
        try:
            with open(path, "rb") as f:
                return pickle.load(f)
        except (EOFError, pickle.UnpicklingError):
            path.unlink(missing_ok=True)
    feats = build()
    atomic_write_bytes(path, pickle.dumps(feats, protocol=pickle.HIGHEST_PROTOCOL))
    return feats


def pad_batch(features: Features, idx: Sequence[int], pad_id: int,
              extra: Sequence[str] = ("label",)) -> dict[str, torch.Tensor]:
    """Right-pad ``input_ids`` (and ``token_type_ids`` if present) of the examples *idx* to the longest one.

    Returns ``input_ids [B, L]``, ``attention_mask [B, L]``, optional ``token_type_ids [B, L]`` and each field of
    *extra* present in *features* as a tensor ``[B]``.
    """
    seqs = [features["input_ids"][i] for i in idx]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[r, : len(s)] = 1
    out = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in features:
        tt = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, i in enumerate(idx):
            t = features["token_type_ids"][i]
            tt[r, : len(t)] = torch.tensor(t, dtype=torch.long)
        out["token_type_ids"] = tt
    for name in extra:
        if name in features:
            out[name] = torch.tensor([features[name][i] for i in idx])
    return out


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Index batches in decreasing length (for fast evaluation; the caller restores the order)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    for s in range(0, len(order), batch_size):
        yield order[s:s + batch_size]
