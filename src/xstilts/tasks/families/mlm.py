"""The masked-LM family: BERT's masked-language-model objective (Devlin et al. 2019: 15% of the tokens are chosen; of
those 80% become the mask token, 10% a random token, 10% stay), for continued training of the encoder on plain text.

Examples are lines of text (:class:`TextExample`); the head is BERT's prediction head tied to the encoder's input
embeddings (:class:`MLMHead`); the metric is the masked-token accuracy (%). The task that uses it (continued training
on multilingual text, as an alternative intermediate phase) is :mod:`xstilts.tasks.mlm`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .. import register_family
from ..base import TrainableFamily


@dataclass(frozen=True)
class TextExample:
    guid: str
    text: str


class MLMHead(nn.Module):
    """BERT's prediction head: dense, GELU, LayerNorm, then the output projection tied to the input embeddings.

    Forward: ``hidden [B, L, H]`` -> logits ``[B, L, V]`` (V = the tied embedding's rows).
    """

    def __init__(self, hidden_size: int, vocab_size: int):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size)
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.embedding: nn.Embedding | None = None

    def tie_to(self, embedding: nn.Embedding) -> None:
        """Use *embedding*'s weight ``[V, E]`` as the output projection (E must equal the hidden size)."""
        if embedding.weight.shape[1] != self.dense.out_features:
            raise ValueError("mlm: the embedding width differs from the hidden size; cannot tie the output layer")
        object.__setattr__(self, "embedding", embedding)  # not a submodule: its weight belongs to the encoder

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norm(nn.functional.gelu(self.dense(hidden)))
        return x @ self.embedding.weight.T + self.bias


class MaskedLM(TrainableFamily):
    """Masked-LM family: features are token ids; masking is drawn per batch from torch's RNG (so resumed runs
    repeat it); loss = cross-entropy over the masked positions; metric = masked-token accuracy."""

    kind = "masked_lm"
    mask_prob = 0.15
    collate_uses_rng = True

    def featurize(self, task, examples, tokenizer, max_length, prefix, options):
        enc = tokenizer([prefix + e.text for e in examples], truncation=True, max_length=max_length)
        special = set(tokenizer.all_special_ids)
        return {"input_ids": enc["input_ids"],
                "special": [[int(t in special) for t in ids] for ids in enc["input_ids"]],
                "mask_id": [tokenizer.mask_token_id if tokenizer.mask_token_id is not None else tokenizer.unk_token_id]
                * len(examples),
                "vocab": [len(tokenizer)] * len(examples)}

    def collate(self, features, idx, pad_id):
        from ...data import pad_batch

        batch = pad_batch(features, idx, pad_id, extra=())
        ids = batch["input_ids"]
        special = torch.ones_like(ids)
        for r, i in enumerate(idx):
            s = features["special"][i]
            special[r, : len(s)] = torch.tensor(s)
        chosen = (torch.rand(ids.shape) < self.mask_prob) & (special == 0)
        labels = torch.where(chosen, ids, torch.full_like(ids, -100))
        roll = torch.rand(ids.shape)
        masked = ids.clone()
        masked[chosen & (roll < 0.8)] = features["mask_id"][idx[0]]
        rand = chosen & (roll >= 0.8) & (roll < 0.9)
        masked[rand] = torch.randint(0, features["vocab"][idx[0]], (int(rand.sum()),))
        batch["input_ids"], batch["labels"] = masked, labels
        return batch

    def build_head(self, task, hidden_size, dropout):
        return MLMHead(hidden_size, 1)  # resized and tied by bind()

    def bind(self, head: MLMHead, encoder: nn.Module) -> None:
        """Tie *head* to *encoder*'s input embeddings (called by the pipeline after building the heads)."""
        emb = encoder.get_input_embeddings()
        head.bias = nn.Parameter(torch.zeros(emb.weight.shape[0], device=emb.weight.device))
        head.tie_to(emb)

    def loss(self, head, hidden, batch):
        chosen = batch["labels"] != -100  # project only the masked positions: [N, H] -> [N, V]
        if not chosen.any():
            return hidden.sum() * 0.0, None
        logits = head(hidden[chosen])
        return nn.functional.cross_entropy(logits.float(), batch["labels"][chosen]), logits

    def logits(self, head, hidden, batch):
        """``[B, 2]``: masked tokens predicted right, masked tokens, per row."""
        labels = batch["labels"]
        chosen = labels != -100
        right = torch.zeros(labels.shape, dtype=torch.long, device=labels.device)
        if chosen.any():
            right[chosen] = (head(hidden[chosen]).argmax(-1) == labels[chosen]).long()
        return torch.stack([right.sum(1), chosen.long().sum(1)], 1)

    def decode(self, task, outputs, features, examples):
        return [(int(o[0]), int(o[1])) for o in outputs]

    def score(self, task, predictions, examples):
        correct, total = sum(p[0] for p in predictions), sum(p[1] for p in predictions)
        return {"accuracy": 100.0 * correct / max(total, 1)}

    def prediction_lines(self, task, predictions):
        return [f"{c}\t{t}" for c, t in predictions]


register_family(MaskedLM())
