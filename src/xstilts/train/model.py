"""The model a phase trains (a shared encoder and one head per task), the data of one task, seeding, the
optimizer's parameter groups and the number of steps."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import torch
from torch import nn

from ..tasks import Family, Task

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


class _LossModule(nn.Module):
    """The encoder, a task's head and its loss in one ``forward``, so that DDP sees the heads' parameters used."""

    def __init__(self, model: "MultiTaskModel"):
        super().__init__()
        self.model = model

    def forward(self, label: str, family: Family, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.model(batch)
        loss, _ = family.loss(self.model.heads[label], hidden, batch)
        return loss
