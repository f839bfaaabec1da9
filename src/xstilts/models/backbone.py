"""Loading pretrained encoders and tokenizers, pooling hidden states, and the retrieval layer default.

Any Hugging Face encoder checkpoint works: a hub id (the hub model, or offline the user's Hugging Face cache of it) or
a local folder. The model ``xstilts prepare`` rebuilds carries its own id (``xstilts/multilingual-e5-small-4bit-rebuild``,
:data:`REBUILDS`) and is found in the xstilts cache under it; a hub id never resolves to that stand-in.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import XstiltsError
from ..paths import looks_like_path, model_cache_path

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


#: Models that ``xstilts prepare`` rebuilds locally, under their own ids (never under the id of the model they
#: approximate): rebuild id -> (hub id of the original, what it is). The cache folder is ``model_cache_path(id)``.
REBUILDS = {
    "xstilts/multilingual-e5-small-4bit-rebuild": (
        "intfloat/multilingual-e5-small", "a 4-bit rebuild of intfloat/multilingual-e5-small, cosine ~0.98 to the "
                                          "original"),
}
_TRUE = ("1", "on", "yes", "true")


def hub_offline() -> bool:
    """Whether the Hugging Face hub must not be contacted (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``)."""
    return any(os.environ.get(k, "").strip().lower() in _TRUE for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub``),
    read from the environment at each call."""
    env = os.environ
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(key):
            return Path(env[key]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    xdg = env.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface" / "hub"


_COMMIT = re.compile(r"[0-9a-f]{40}")


def hub_cached_commit(repo_id: str, revision: str | None = None, repo_type: str = "model") -> tuple[str, Path] | None:
    """``(commit, snapshot folder)`` of *repo_id* at *revision* (default ``main``) in the Hugging Face cache, or None
    when the cache has no snapshot of it."""
    folder = hf_hub_cache() / f"{repo_type}s--{repo_id.replace('/', '--')}"
    rev = revision or "main"
    commit = rev if _COMMIT.fullmatch(rev) else None
    if commit is None:
        ref = folder / "refs" / rev
        try:
            commit = ref.read_text(encoding="utf-8").strip() if ref.is_file() else None
        except OSError:
            commit = None
    if commit and (folder / "snapshots" / commit).is_dir():
        return commit, folder / "snapshots" / commit
    return None


#: Answers of the hub in this process, failures included (a hub that cannot be reached is asked once).
_ASKED: dict[tuple, str | Exception] = {}


def _hub_commit_online(repo_id: str, revision: str | None, repo_type: str) -> str:
    key = (repo_id, revision, repo_type)
    if key not in _ASKED:
        from huggingface_hub import HfApi

        try:
            _ASKED[key] = HfApi().repo_info(repo_id, revision=revision, repo_type=repo_type, timeout=20).sha
        except Exception as e:  # noqa: BLE001 - kept, and raised again to each caller
            _ASKED[key] = e
    answer = _ASKED[key]
    if isinstance(answer, Exception):
        raise answer
    return answer


def hub_commit(repo_id: str, revision: str | None = None, repo_type: str = "model") -> tuple[str | None, str]:
    """The commit *revision* of a hub repository resolves to, and where that was learnt (``hub`` or ``cache``):
    asked of the hub when online (once per process), else read from the Hugging Face cache; ``(None, reason)`` when
    neither knows it. Raises :class:`XstiltsError` when the hub says the repository or revision does not exist."""
    if revision and _COMMIT.fullmatch(revision):
        return revision, "pinned"
    offline = hub_offline() or (repo_type == "dataset" and os.environ.get("HF_DATASETS_OFFLINE", "").strip().lower()
                                in _TRUE)
    if not offline:
        try:
            return _hub_commit_online(repo_id, revision, repo_type), "hub"
        except Exception as e:  # noqa: BLE001 - network errors fall back to the cache
            kind = type(e).__name__
            if kind in ("RepositoryNotFoundError", "RevisionNotFoundError", "HFValidationError"):
                what = "revision " + repr(revision) if kind == "RevisionNotFoundError" else f"{repo_type} repository"
                raise XstiltsError(f"{repo_id}: the Hugging Face hub has no such {what} ({kind})") from None
            reason = f"the hub could not be reached ({kind})"
    else:
        reason = "offline (HF_HUB_OFFLINE=1)"
    cached = hub_cached_commit(repo_id, revision, repo_type)
    return (cached[0], "cache") if cached else (None, reason)


@dataclass(frozen=True)
class ModelSource:
    """Where a configured model comes from, resolved once.

    Attributes:
        name: the configured ``name_or_path``.
        kind: ``local`` (a folder), ``rebuild`` (a model ``xstilts prepare`` builds, under its own id) or ``hub``.
        path: what transformers loads (a folder, or the hub id when it is downloaded from the hub).
        revision: the revision to pass to transformers with *path* (the resolved commit for a hub id online).
        commit: the hub commit (``hub``), else None.
    """

    name: str
    kind: str
    path: str
    revision: str | None = None
    commit: str | None = None


def _rebuild_of(hub_id: str) -> str | None:
    return next((rid for rid, (orig, _) in REBUILDS.items() if orig == hub_id), None)


def model_source(name_or_path: str, revision: str | None = None) -> ModelSource:
    """Resolve ``model.name_or_path``: an existing folder; a rebuild id (:data:`REBUILDS`: the folder ``xstilts
    prepare`` filled); else a hub id, which means the hub model itself (its commit asked of the hub when online) or
    the user's Hugging Face cache of it (offline), never a stand-in.

    Raises:
        XstiltsError: a path that does not exist or is not a model folder, a rebuild not provisioned, a hub id the
            hub does not have, or a hub id offline without a cached copy (naming the rebuild's id where there is one).
    """
    p = Path(name_or_path).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file() and not (p / LORA_CHAIN).is_file():
            raise XstiltsError(f"{name_or_path}: not a Hugging Face model folder (no config.json in it)")
        return ModelSource(name_or_path, "local", str(p))
    if name_or_path in REBUILDS:
        folder = model_cache_path(name_or_path)
        if not (folder / "config.json").is_file():
            raise XstiltsError(f"{name_or_path}: not provisioned in {folder}; run `xstilts prepare --only model` to "
                               f"build it ({REBUILDS[name_or_path][1]})")
        return ModelSource(name_or_path, "rebuild", str(folder))
    if p.exists():
        raise XstiltsError(f"{name_or_path}: not a folder (expected a Hugging Face model folder or hub id)")
    if looks_like_path(name_or_path):
        raise XstiltsError(f"{name_or_path}: model folder not found")
    commit, how = hub_commit(name_or_path, revision)
    if commit is not None:
        if how == "hub" or (how == "pinned" and not hub_offline()):
            return ModelSource(name_or_path, "hub", name_or_path, commit, commit)
        cached = hub_cached_commit(name_or_path, commit)
        if cached is not None and (cached[1] / "config.json").is_file():
            return ModelSource(name_or_path, "hub", str(cached[1]), None, commit)
        if how == "pinned":
            how = "offline (HF_HUB_OFFLINE=1)"
    rebuild = _rebuild_of(name_or_path)
    hint = (f"; the local 4-bit rebuild that `xstilts prepare` provisions is a different model, named {rebuild}: "
            f"give model.name_or_path: {rebuild} to use it" if rebuild else
            "; give a local folder, or download it while online")
    rev = f" at revision {revision}" if revision else ""
    raise XstiltsError(f"{name_or_path}: not a local folder, {how}, and the Hugging Face cache "
                       f"({hf_hub_cache()}) has no copy{rev}{hint}")


def resolve_model_path(name_or_path: str, revision: str | None = None) -> str:
    """What transformers should load for *name_or_path*: a local folder, the cache folder of a rebuild id, the
    Hugging Face cache snapshot of a hub id offline, else the hub id (see :func:`model_source`)."""
    return model_source(name_or_path, revision).path


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
    detail = " ".join(str(err).split())[:300]
    if local.exists() or looks_like_path(name):
        return XstiltsError(f"{name}: cannot load a Hugging Face model from this folder ({detail})")
    return XstiltsError(f"{name}: cannot be loaded from the Hugging Face hub or its cache ({type(err).__name__}: "
                        f"{detail})")


def load_tokenizer(name_or_path: str, revision: str | None = None):
    """The checkpoint's (fast) tokenizer, with a pad token (decoders without one pad with EOS), right padding.

    Raises :class:`XstiltsError` when it cannot be found.
    """
    from transformers import AutoTokenizer

    src = model_source(name_or_path, revision)
    path, revision = src.path, src.revision
    chain = _lora_chain(path)
    if chain:
        path, revision = chain[0], None
    try:
        with _quiet_transformers():
            tok = AutoTokenizer.from_pretrained(path, revision=revision)
    except (OSError, ValueError) as e:
        raise _offline_hint(name_or_path, e) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    tok.padding_side = "right"
    return tok


#: Model types loaded as decoder LLMs (classification and multiple choice read the last non-pad token).
DECODER_TYPES = {"llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen2_moe", "gemma", "gemma2", "gemma3_text",
                 "bloom", "gpt2", "gpt_neox", "gptj", "opt", "falcon", "phi", "phi3", "xglm", "olmo", "olmo2",
                 "stablelm", "starcoder2", "cohere", "granite"}

#: LoRA target modules per model type: attention and MLP projections (``auto``); other types use ``all-linear``.
LORA_TARGETS = {
    "bert": ["query", "key", "value", "dense"],
    "roberta": ["query", "key", "value", "dense"],
    "xlm-roberta": ["query", "key", "value", "dense"],
    "deberta-v2": ["query_proj", "key_proj", "value_proj", "dense"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gemma2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "bloom": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
}

LORA_CHAIN = "xstilts_lora_chain.json"


def _lora_chain(path: str) -> list[str] | None:
    """For a stacked-LoRA checkpoint: ``[base model, adapter 1, adapter 2, ...]``, else None."""
    f = Path(path) / LORA_CHAIN
    if not f.is_file():
        return None
    import json

    # "." is the folder itself (it is written under a temporary name and renamed when its phase completes)
    return [str(Path(path).resolve()) if p == "." else p for p in json.loads(f.read_text())["chain"]]


def detect_architecture(name_or_path: str, revision: str | None = None) -> str:
    """The backbone architecture, ``encoder``, ``decoder`` or ``bilstm``, from a checkpoint's config (what
    ``model.family: auto`` resolves to)."""
    from transformers import AutoConfig

    src = model_source(name_or_path, revision)
    chain = _lora_chain(src.path)
    try:
        with _quiet_transformers():
            cfg = AutoConfig.from_pretrained(chain[0] if chain else src.path, revision=None if chain else src.revision)
    except (OSError, ValueError) as e:
        raise _offline_hint(name_or_path, e) from None
    if cfg.model_type == "xstilts-bilstm":
        return "bilstm"
    archs = getattr(cfg, "architectures", None) or []
    if cfg.model_type in DECODER_TYPES or any(a.endswith("ForCausalLM") for a in archs):
        return "decoder"
    return "encoder"


def load_encoder(name_or_path: str, dtype: str = "float32", revision: str | None = None,
                 load_in_4bit: bool = False, attn_implementation: str | None = None) -> nn.Module:
    """The checkpoint's bare encoder (``AutoModel``, no task head, no pooler).

    Returns a ``PreTrainedModel`` whose forward takes ``input_ids [B, L]``, ``attention_mask [B, L]`` and returns
    ``last_hidden_state [B, L, H]`` (and ``hidden_states``, a tuple of ``num_layers + 1`` tensors ``[B, L, H]``, when
    asked). Raises :class:`XstiltsError` when the checkpoint cannot be found or loaded.
    """
    from transformers import AutoConfig, AutoModel

    from . import bilstm  # noqa: F401  (registers the recurrent baseline with the Auto classes)

    src = model_source(name_or_path, revision)
    path, revision = src.path, src.revision
    chain = _lora_chain(path)
    if chain:  # stacked LoRA: base model + each adapter merged in order
        from ..deps import require

        PeftModel = require("peft", why=f"{path} (a LoRA adapter chain)").PeftModel

        model = load_encoder(chain[0], dtype, revision, load_in_4bit, attn_implementation)
        for adapter in chain[1:]:
            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        return model
    try:
        with _quiet_transformers():
            config = AutoConfig.from_pretrained(path, revision=revision)
            kwargs = {}
            if config.model_type in {"bert", "roberta", "xlm-roberta", "camembert", "electra"}:
                kwargs["add_pooling_layer"] = False
            if load_in_4bit:
                kwargs["quantization_config"] = _four_bit_config(dtype)
            if attn_implementation:  # e.g. flash_attention_2 (padding-free packing on CUDA), sdpa, eager
                kwargs["attn_implementation"] = attn_implementation
            return AutoModel.from_pretrained(path, revision=revision, dtype=_DTYPES[dtype], **kwargs)
    except (OSError, ValueError) as e:
        raise _offline_hint(name_or_path, e) from None


def _four_bit_config(dtype: str):
    """bitsandbytes NF4 quantisation (QLoRA); raises :class:`XstiltsError` without bitsandbytes or a CUDA GPU."""
    from ..deps import require

    require("bitsandbytes", why="model.load_in_4bit (QLoRA)")
    if not torch.cuda.is_available():
        raise XstiltsError("model.load_in_4bit needs a CUDA GPU")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=_DTYPES[dtype] if dtype != "float32" else torch.bfloat16)


def build_backbone(model_cfg, start_path: str, *, pretrained: bool, revision: str | None = None,
                   seed: int = 0) -> tuple[nn.Module, str]:
    """The trainable backbone for a phase and its architecture (``encoder``/``decoder``/``bilstm``: the
    config's ``model.family``, resolved).

    Args:
        model_cfg: :class:`~xstilts.config.ModelConfig`.
        start_path: the pretrained checkpoint or a previous phase's saved encoder.
        pretrained: whether *start_path* is the pretrained checkpoint (a BiLSTM is then built over its embeddings).
    LoRA adapters are added when ``model_cfg.lora`` is set (only they and the heads train); gradient checkpointing
    is switched on when asked.
    """
    architecture = model_cfg.family if model_cfg.family != "auto" else detect_architecture(
        start_path, revision if pretrained else None)
    if architecture == "bilstm" and pretrained:
        from .bilstm import bilstm_from_pretrained

        src = load_encoder(start_path, "float32", revision)
        tok = load_tokenizer(start_path, revision)
        b = model_cfg.bilstm
        model = bilstm_from_pretrained(src.get_input_embeddings().weight.detach(), tok.pad_token_id or 0,
                                       hidden_size=b.hidden_size, num_layers=b.layers, dropout=b.dropout,
                                       freeze_embeddings=b.freeze_embeddings, source=str(start_path), seed=seed)
        return model, architecture
    model = load_encoder(start_path, model_cfg.dtype, revision if pretrained else None, model_cfg.load_in_4bit,
                         getattr(model_cfg, "attn_implementation", None))
    if architecture == "decoder" and getattr(model.config, "use_cache", False):
        model.config.use_cache = False
    if model_cfg.gradient_checkpointing and hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if model_cfg.lora is not None:
        model = add_lora(model, model_cfg.lora, seed)
    return model, architecture


def add_lora(model: nn.Module, lora, seed: int = 0) -> nn.Module:
    """Wrap *model* with fresh LoRA adapters (peft); the base weights are frozen."""
    from ..deps import require

    require("peft", why="model.lora (LoRA training)")
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model, prepare_model_for_kbit_training

    if getattr(model, "is_loaded_in_4bit", False):
        model = prepare_model_for_kbit_training(model)
    targets = lora.target_modules
    if targets == "auto":
        targets = LORA_TARGETS.get(model.config.model_type, "all-linear")
    torch.manual_seed(seed)
    return get_peft_model(model, PeftLoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                                target_modules=targets, bias="none"))


def save_backbone(model: nn.Module, folder: Path, tokenizer, model_cfg, start_path: str) -> None:
    """Save a phase's trained backbone so the next phase (and retrieval evaluation) can load it.

    Full models are saved as they are. A LoRA model is merged into its weights (``handoff: merge``), or only its
    adapter is saved with a chain file naming the base and earlier adapters (``handoff: stack``).
    """
    import json

    folder = Path(folder)
    if hasattr(model, "peft_config"):
        if model_cfg.lora.handoff == "stack":
            model.save_pretrained(folder)
            base_chain = _lora_chain(start_path) or [resolve_model_path(start_path)]
            (folder / LORA_CHAIN).write_text(json.dumps({"chain": [*base_chain, "."]}))
            tokenizer.save_pretrained(folder)
            return
        model = model.merge_and_unload()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(all parameters, trainable parameters)``."""
    total = sum(p.numel() for p in model.parameters())
    return total, sum(p.numel() for p in model.parameters() if p.requires_grad)


def estimate_memory(model: nn.Module, batch_size: int, length: int, gradient_checkpointing: bool = False,
                    amp: bool = False) -> dict[str, float]:
    """Training memory estimate in bytes: weights, gradients and AdamW state of the trainable weights (fp32 moments),
    and activations ``≈ layers · B · L · H · (34 + 5 · heads · L / H)`` bytes at 16-bit (Korthikanti et al. 2022,
    "Reducing Activation Recomputation in Large Transformer Models", eq. 1), doubled for fp32, or
    ``2 · layers · B · L · H`` with gradient checkpointing."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    trainable = [p for p in model.parameters() if p.requires_grad]
    grads = sum(p.numel() * p.element_size() for p in trainable)
    adam = sum(p.numel() * 8 for p in trainable)
    cfg = getattr(model, "config", None)
    layers = getattr(cfg, "num_hidden_layers", 1) or 1
    hidden = getattr(cfg, "hidden_size", 256) or 256
    heads = getattr(cfg, "num_attention_heads", 1) or 1
    if gradient_checkpointing:
        act = 2 * layers * batch_size * length * hidden
    else:
        act = layers * batch_size * length * hidden * (34 + 5 * heads * length / hidden) * (1 if amp else 2)
    total = weights + grads + adam + act
    return {"weights": weights, "gradients": grads, "optimizer": adam, "activations": act, "total": total}


def available_memory(device: torch.device) -> int:
    """Free bytes on *device* (CUDA: free device memory; CPU: available RAM)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


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


#: Encoders whose embeddings take ``position_ids`` and whose attention takes a 4D mask (eager / SDPA) or
#: flash-attention's varlen arguments, with absolute position embeddings: the ones ``train.packing`` supports.
PACKABLE_TYPES = {"bert", "roberta", "xlm-roberta", "camembert", "electra"}


def packing_layout(encoder: nn.Module, device: torch.device) -> tuple[str, int]:
    """How ``train.packing`` packs *encoder*'s batches: ``("block", offset)`` (rows of several sequences and a
    block-diagonal attention mask: eager or SDPA attention, any device) or ``("varlen", offset)`` (one row of all
    sequences and their boundaries: flash-attention, when the encoder was loaded with ``attn_implementation:
    flash_attention_2``, CUDA only); *offset* is the position id of a sequence's first token (padding id + 1 for
    RoBERTa / XLM-R, 0 for BERT).

    Raises:
        XstiltsError: a model whose attention or position embeddings cannot take packed sequences (decoders,
            DeBERTa's relative attention, the BiLSTM, other model types), or flash-attention off CUDA.
    """
    base = encoder.get_base_model() if hasattr(encoder, "get_base_model") else encoder
    cfg = getattr(base, "config", None)
    kind = getattr(cfg, "model_type", type(base).__name__)
    if kind not in PACKABLE_TYPES or getattr(cfg, "is_decoder", False) \
            or getattr(cfg, "position_embedding_type", "absolute") != "absolute":
        raise XstiltsError(f"train.packing: {kind} models are not supported (supported: bidirectional encoders with "
                           f"absolute positions: {', '.join(sorted(PACKABLE_TYPES))}); set packing: false")
    emb = getattr(base, "embeddings", None)
    roberta_like = hasattr(emb, "create_position_ids_from_input_ids") and getattr(emb, "padding_idx", None) is not None
    offset = int(emb.padding_idx) + 1 if roberta_like else 0
    impl = getattr(cfg, "_attn_implementation", None) or "eager"
    if impl.startswith("flash_attention"):
        if device.type != "cuda":
            raise XstiltsError(f"train.packing: {impl} runs on CUDA only; use sdpa attention on {device.type}")
        return "varlen", offset
    if impl not in ("eager", "sdpa"):
        raise XstiltsError(f"train.packing: {impl} attention is not supported (eager, sdpa or flash_attention_2)")
    return "block", offset
