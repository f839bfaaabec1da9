"""The extractive-QA head: start and end logits for every token."""

from __future__ import annotations

import torch
from torch import nn


class SpanHead(nn.Module):
    """Span extraction as ``BertForQuestionAnswering`` / ``XLMRobertaForQuestionAnswering`` in transformers (the
    models XTREME's ``run_squad.py`` fine-tunes): one linear layer ``H -> 2`` on every token's last hidden state,
    without dropout (those models apply none before ``qa_outputs``).

    Forward: ``hidden [B, L, H]``, ``attention_mask [B, L]`` -> ``[B, L, 2]`` float32 logits (``[..., 0]`` start,
    ``[..., 1]`` end), padding positions set to a large negative value so that they never win a softmax or an argmax.
    """

    #: Logit given to padding positions.
    MASKED = -1e9

    def __init__(self, hidden_size: int):
        super().__init__()
        self.qa_outputs = nn.Linear(hidden_size, 2)
        nn.init.normal_(self.qa_outputs.weight, std=0.02)
        nn.init.zeros_(self.qa_outputs.bias)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.qa_outputs(hidden).float()
        return logits.masked_fill(attention_mask.unsqueeze(-1) == 0, self.MASKED)
