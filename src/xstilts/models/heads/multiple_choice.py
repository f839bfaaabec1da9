"""The multiple-choice head: one score per (context, choice) sequence, read from the first (or last) token.

It follows ``BertForMultipleChoice`` / ``XLMRobertaForMultipleChoice`` in transformers, the models XTREME-R's
``third_party/run_xcopa.py`` fine-tunes through ``AutoModelForMultipleChoice``: the pooled first token
(dense + tanh, the encoder's "pooler"), dropout, and a linear layer to one score. xstilts loads encoders without their
pooler (:func:`xstilts.models.backbone.load_encoder`), so the pooler is part of this head and is trained from scratch, as the
dense layer of :class:`xstilts.models.heads.ClassificationHead` is.
"""

from __future__ import annotations

import torch
from torch import nn


class MultipleChoiceHead(nn.Module):
    """Scores each flattened choice sequence.

    Forward: ``hidden [B*C, L, H]``, ``attention_mask [B*C, L]`` -> scores ``[B*C]`` (the family reshapes them to
    ``[B, C]``). The summary token is the first (``summary = "first"``, encoders) or the last non-pad token
    (``"last"``, decoder LLMs, set by the pipeline; left or right padding). With ``pooler=False`` the head is only
    dropout and a linear layer on that token's state.
    """

    def __init__(self, hidden_size: int, dropout: float = 0.1, pooler: bool = True, summary: str = "first"):
        super().__init__()
        self.summary = summary
        self.dense = nn.Linear(hidden_size, hidden_size) if pooler else None
        self.dropout = nn.Dropout(dropout)
        self.scorer = nn.Linear(hidden_size, 1)
        for lin in (self.dense, self.scorer):
            if lin is not None:
                nn.init.normal_(lin.weight, std=0.02)
                nn.init.zeros_(lin.bias)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.summary == "first" or attention_mask is None:
            x = hidden[:, 0]
        else:  # last non-pad token (decoders) or mean (BiLSTM); see xstilts.models.heads.summary_states
            from . import summary_states

            x = summary_states(hidden, attention_mask, self.summary)
        if self.dense is not None:
            x = torch.tanh(self.dense(x))
        return self.scorer(self.dropout(x)).squeeze(-1)


def choice_scores(head: MultipleChoiceHead, hidden: torch.Tensor, batch: dict) -> torch.Tensor:
    """Scores ``[B, C]`` (float32) of a collated batch; padded choices (``choice_mask`` False) get ``-inf``."""
    mask = batch["choice_mask"]
    scores = head(hidden, batch["attention_mask"]).float().view(mask.shape)
    return scores.masked_fill(~mask, float("-inf"))
