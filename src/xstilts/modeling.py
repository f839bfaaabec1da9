"""Loading pretrained encoders and tokenizers, pooling hidden states, and the retrieval layer default.

Any Hugging Face encoder checkpoint works: a hub id (online) or a local folder. A hub id that ``xstilts prepare``
provisioned (``intfloat/multilingual-e5-small``) is found in the cache, so it works offline.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch
from torch import nn

from .errors import XstiltsError
from .paths import model_cache_path

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

#: XTREME's retrieval layer per model (1-based transformer layer; hidden_states[0] is the embedding output).
#: From XTREME's scripts/run_tatoeba.sh and run_bucc2018.sh: ``--specific_layer 7`` (mBERT, 12 layers) and 13
#: (XLM-R large, 24 layers) index the list of transformer-layer outputs from 0, i.e. layers 8 and 14.
XTREME_RETRIEVAL_LAYERS = {
    "bert-base-multilingual-cased": 8,
    "bert-base-multilingual-uncased": 8,
    "xlm-roberta-large": 14,
}


def default_retrieval_layer(name_or_path: str, num_layers: int) -> int:
    """XTREME's retrieval layer for known models, else the proportional layer ``round(num_layers * 14 / 24)``.

    The proportional rule transfers XTREME's XLM-R large choice (layer 14 of 24) to other depths; for a 12-layer
    model it gives layer 7. Embedding models trained for their last layer (e5) should set ``retrieval_layer: last``.
    """
    base = Path(str(name_or_path).rstrip("/")).name.split("--")[-1]
    if base in XTREME_RETRIEVAL_LAYERS:
        return XTREME_RETRIEVAL_LAYERS[base]
    return max(1, round(num_layers * 14 / 24))


def resolve_model_path(name_or_path: str) -> str:
    """A local folder if *name_or_path* is one; else the cache folder that ``xstilts prepare`` filled for that hub
    id; else the hub id itself (loaded online by transformers)."""
    p = Path(name_or_path).expanduser()
    if p.is_dir():
        return str(p)
    cached = model_cache_path(name_or_path)
    if (cached / "config.json").is_file():
        return str(cached)
    return name_or_path


@contextlib.contextmanager
def _quiet_transformers():
    from transformers.utils import logging as hf_logging

    old = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(old)


def _offline_hint(name: str, err: Exception) -> XstiltsError:
    local = Path(name).expanduser()
    if local.exists() or name.startswith((".", "/", "~")):
        return XstiltsError(f"{name}: cannot load a Hugging Face model from this folder ({err})")
    return XstiltsError(f"{name}: not a local folder, not provisioned in {model_cache_path(name)}, and the hub could "
                        f"not be reached ({type(err).__name__}). Run `xstilts prepare` for the offline model, or give "
                        f"a local folder.")


def load_tokenizer(name_or_path: str, revision: str | None = None):
    """The checkpoint's (fast) tokenizer. Raises :class:`XstiltsError` when it cannot be found."""
    from transformers import AutoTokenizer

    path = resolve_model_path(name_or_path)
    try:
        with _quiet_transformers():
            return AutoTokenizer.from_pretrained(path, revision=revision)
    except (OSError, ValueError) as e:
        raise _offline_hint(name_or_path, e) from None


def load_encoder(name_or_path: str, dtype: str = "float32", revision: str | None = None) -> nn.Module:
    """The checkpoint's bare encoder (``AutoModel``, no task head, no pooler).

    Returns a ``PreTrainedModel`` whose forward takes ``input_ids [B, L]``, ``attention_mask [B, L]`` and returns
    ``last_hidden_state [B, L, H]`` (and ``hidden_states``, a tuple of ``num_layers + 1`` tensors ``[B, L, H]``, when
    asked). Raises :class:`XstiltsError` when the checkpoint cannot be found or loaded.
    """
    from transformers import AutoConfig, AutoModel

    path = resolve_model_path(name_or_path)
    try:
        with _quiet_transformers():
            config = AutoConfig.from_pretrained(path, revision=revision)
            kwargs = {}
            if config.model_type in {"bert", "roberta", "xlm-roberta", "camembert", "electra"}:
                kwargs["add_pooling_layer"] = False
            return AutoModel.from_pretrained(path, revision=revision, dtype=_DTYPES[dtype], **kwargs)
    except (OSError, ValueError) as e:
        raise _offline_hint(name_or_path, e) from None


def num_layers(encoder: nn.Module) -> int:
    cfg = encoder.config
    for attr in ("num_hidden_layers", "n_layer", "num_layers"):
        if hasattr(cfg, attr):
            return int(getattr(cfg, attr))
    raise XstiltsError(f"cannot tell how many layers {type(encoder).__name__} has")


def hidden_size(encoder: nn.Module) -> int:
    cfg = encoder.config
    for attr in ("hidden_size", "d_model", "n_embd"):
        if hasattr(cfg, attr):
            return int(getattr(cfg, attr))
    raise XstiltsError(f"cannot tell the hidden size of {type(encoder).__name__}")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str = "mean") -> torch.Tensor:
    """Sentence vectors from token states.

    Args:
        hidden: ``[B, L, H]`` hidden states; attention_mask: ``[B, L]`` (1 = real token).
        how: ``mean`` — average over the attention mask, special tokens included, as XTREME's ``mean_pool_embedding``;
            ``cls`` — the first token's state.
    Returns:
        ``[B, H]`` float32.
    """
    if how == "cls":
        return hidden[:, 0].float()
    m = attention_mask.unsqueeze(-1).to(torch.float32)
    return (hidden.float() * m).sum(1) / m.sum(1).clamp_min(1.0)


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise XstiltsError("device: cuda was asked for but no CUDA GPU is visible")
    return torch.device(device)


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(n)
    elif "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, os.cpu_count() or 1))
