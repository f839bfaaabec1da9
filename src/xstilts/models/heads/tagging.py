"""The token-classification head of the tagging family (PAN-X, UD-POS, CCG)."""

from __future__ import annotations

import torch
from torch import nn


class TokenClassificationHead(nn.Module):
    """Per-token classifier: dropout then a linear layer on every token state, as ``BertForTokenClassification`` /
    ``XLMRobertaForTokenClassification`` in transformers (the models XTREME's ``third_party/run_tag.py`` fine-tunes).
    Weights are drawn from N(0, 0.02) and biases are zero, as those models initialise them.

    Forward: ``hidden [B, L, H]`` (``attention_mask`` is accepted and unused) -> logits ``[B, L, num_labels]``.
    """

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        if num_labels < 1:
            raise ValueError(f"a tagging head needs at least one label, got {num_labels}")
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)
        nn.init.normal_(self.classifier.weight, std=0.02)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.classifier(self.dropout(hidden))
