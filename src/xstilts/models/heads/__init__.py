"""Task heads, separate from the encoder: each maps the encoder's token states to the task's outputs.

Heads are created fresh for every phase; only the encoder's weights pass from the intermediate to the target phase.
"""

from __future__ import annotations

import torch
from torch import nn


class ClassificationHead(nn.Module):
    """Sentence(-pair) classification from the first token's state, as ``RobertaClassificationHead`` in transformers
    (dropout, dense, tanh, dropout, projection), the head XTREME's ``run_classify.py`` uses through
    ``XLMRobertaForSequenceClassification``.

    Forward: ``hidden [B, L, H]``, ``attention_mask [B, L]`` -> logits ``[B, num_labels]``. The summary token is the
    first (``summary = "first"``, encoders), the last non-pad token (``"last"``, decoder LLMs; left or right
    padding), or the mean of the token states (``"mean"``, the BiLSTM baseline, whose first state has read the
    sentence in one direction only).
    """

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1, summary: str = "first"):
        super().__init__()
        self.summary = summary
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.out_proj = nn.Linear(hidden_size, num_labels)
        for lin in (self.dense, self.out_proj):
            nn.init.normal_(lin.weight, std=0.02)
            nn.init.zeros_(lin.bias)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.dropout(summary_states(hidden, attention_mask, self.summary))
        x = torch.tanh(self.dense(x))
        return self.out_proj(self.dropout(x))


def summary_states(hidden: torch.Tensor, attention_mask: torch.Tensor, summary: str = "first") -> torch.Tensor:
    """``[B, H]``: the first token's state, (``"last"``) the last non-pad token's for right or left padding, or
    (``"mean"``) the mean over the attention mask."""
    if summary == "first":
        return hidden[:, 0]
    if summary == "mean":
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
    length = attention_mask.shape[1]
    last = length - 1 - attention_mask.flip(1).long().argmax(1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
