"""Sentence embeddings from an encoder's hidden states: retrieval evaluation (Tatoeba, BUCC) without task training.

Sentence vectors are the ``pooling`` (mean over the attention mask, or the first token) of the hidden states of one
layer (``retrieval_layer``: 1-based; ``last``; ``auto`` = XTREME's choice, see
:func:`xstilts.models.backbone.default_retrieval_layer`), computed in length-sorted batches without gradients.
"""

from __future__ import annotations

import contextlib
from typing import Callable

import torch

from ..data import length_sorted_batches
from .backbone import default_retrieval_layer, num_layers, pool


def resolve_layer(setting: int | str, encoder, name_or_path: str) -> int:
    n = num_layers(encoder)
    if setting == "last":
        return n
    if setting == "auto":
        return default_retrieval_layer(name_or_path, n)
    if not 0 <= int(setting) <= n:
        from ..errors import ConfigError

        raise ConfigError(f"evaluation.retrieval_layer: {setting} is outside 0..{n} for the model {name_or_path}")
    return int(setting)


#: Encoders whose last hidden state is the output of their last layer (no norm after the stack), so that running the
#: first k layers gives exactly ``hidden_states[k]`` of the full model.
_TRUNCATABLE = {"bert", "roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "electra", "deberta-v2"}


@contextlib.contextmanager
def _first_layers(encoder, layer: int):
    """Run only the first *layer* transformer layers of a BERT-style encoder (the layers above the one pooled are
    not computed: 24/14 less work for XLM-R large's layer 14, 12/7 for base's layer 7). A no-op for other models."""
    stack = getattr(getattr(encoder, "encoder", None), "layer", None)
    kind = getattr(getattr(encoder, "config", None), "model_type", None)
    if kind not in _TRUNCATABLE or not isinstance(stack, torch.nn.ModuleList) or layer >= len(stack):
        yield False
        return
    encoder.encoder.layer = torch.nn.ModuleList(list(stack)[:layer])
    try:
        yield True
    finally:
        encoder.encoder.layer = stack


@torch.inference_mode()
def embed(encoder, tokenizer, texts: list[str], *, layer: int, pooling: str = "mean", max_length: int = 128,
          batch_size: int = 64, prefix: str = "", device: torch.device | str = "cpu",
          advance: Callable[[int], None] | None = None) -> torch.Tensor:
    """Sentence embeddings ``[len(texts), H]`` (float32, on the CPU) from hidden layer *layer* (0 = embeddings).

    Texts are tokenised with special tokens and truncated to *max_length*; batches run in decreasing length; the
    layers above *layer* are not run (:func:`_first_layers`), which gives the same vectors with less work.
    """
    encoder.eval()
    enc = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length)
    ids = enc["input_ids"]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = torch.empty((len(texts), encoder.config.hidden_size), dtype=torch.float32)
    with _first_layers(encoder, layer) as truncated:
        last = truncated or layer == num_layers(encoder)
        for batch in length_sorted_batches([len(x) for x in ids], batch_size):
            width = max(len(ids[i]) for i in batch)
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, i in enumerate(batch):
                input_ids[r, : len(ids[i])] = torch.tensor(ids[i])
                mask[r, : len(ids[i])] = 1
            res = encoder(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                          output_hidden_states=not last)
            hidden = res.last_hidden_state if last else res.hidden_states[layer]
            out[batch] = pool(hidden, mask.to(device), pooling).cpu()
            if advance:
                advance(len(batch))
    return out
