"""Dual-encoder fine-tuning with in-batch negatives, as XTREME-R's retrieval baselines (LAReQA, Mewsli-X).

XTREME-R (Ruder et al. 2021, arXiv:2104.07412, EMNLP 2021) scores LAReQA and Mewsli-X after fine-tuning the
pretrained encoder as a *dual encoder* on English (query, candidate) pairs: SQuAD v1.1 question → answer sentence for
LAReQA, Mewsli-X's English Wikipedia mention → entity description pairs (``wikipedia_pairs-train.jsonl``). This module
is an independent implementation of that training, following google-research/xtreme (commit 838c13b):

* ``third_party/bert.py`` ``BertForRetrieval`` (and ``xlm_roberta.py`` ``XLMRobertaForRetrieval``): one shared tower
  encodes both sides; the encoding is the model's pooler output on ``[CLS]`` (``tanh(W h_[CLS] + b)`` of the last
  layer), L2-normalised; the logits are the cosine similarities of every query with every candidate of the batch
  times a learnable scale initialised to 100; the loss is the cross-entropy of each query against its own candidate
  (in-batch negatives, query → candidate only);
* ``third_party/run_retrieval_qa.py`` / ``run_retrieval_el.py``: ``RandomSampler`` batches of
  ``per_gpu_train_batch_size`` pairs (the negatives of a query are the other candidates of its micro-batch), the
  loss divided by ``gradient_accumulation_steps``, gradients clipped to norm 1.0, AdamW (eps 1e-8) with a linear
  decay schedule without warmup, weight decay 0; during training the mean in-batch loss on the English dev pairs
  (batches of 8, ``per_gpu_eval_batch_size``) is the validation signal;
* ``scripts/train_lareqa.sh``, ``run_eval_lareqa.sh``, ``train_mewslix.sh``, ``run_eval_mewslix.sh``: the settings
  (see :data:`xstilts.tasks.lareqa.FINETUNE_PUBLISHED`, :data:`xstilts.tasks.mewslix.FINETUNE_PUBLISHED`);
  evaluation embeds queries and candidates with the same tower and representation (``evaluate_retrieval.py``,
  ``inference=True``) and ranks by cosine.

Where this module differs, on purpose: micro-batches are padded to their longest member rather than to the maximum
length (the same encodings, less compute); optimizer steps are formed from a continuous stream of micro-batches over
reshuffled epochs (``math.ceil(epochs * batches / grad_accum)`` steps, as :func:`xstilts.train.total_steps`);
checkpoint selection on the dev loss (``selection: dev-loss``) keeps the best weights in memory instead of writing a
checkpoint every ``save_steps``. The representation is configurable (``auto``: the pooler where the pretrained
checkpoint has one, BERT/XLM-R as XTREME-R; the first token's state for other encoders, the last token for decoders,
the mean for the BiLSTM). The pooler is initialised from the *pretrained* checkpoint's pooler in every run (an
intermediate phase does not train or save it), so a baseline and an X-STILTs run start alike.

Training runs in one process on the phase's device, with ``torch.autocast`` for ``mixed_precision`` (a data-parallel
run fine-tunes on its main process while the others wait, as the retrieval phase does); it is not resumable: an
interrupted retrieval phase fine-tunes again.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .errors import XstiltsError

#: Model types whose pretrained checkpoints carry a ``[CLS]`` pooler (dense + tanh), which XTREME-R's retrieval models
#: read (``outputs[1]``).
POOLER_TYPES = ("bert", "roberta", "xlm-roberta", "camembert")
REPRESENTATIONS = ("pooler", "cls", "mean", "last")


def resolve_representation(setting: str, architecture: str, model_type: str | None) -> str:
    """The representation *setting* (``auto`` or one of :data:`REPRESENTATIONS`) for a backbone of *architecture*
    (``encoder``/``decoder``/``bilstm``) and Hugging Face *model_type*."""
    if setting != "auto":
        return setting
    if architecture == "decoder":
        return "last"
    if architecture == "bilstm":
        return "mean"
    return "pooler" if model_type in POOLER_TYPES else "cls"


class DualEncoder(nn.Module):
    """One encoder for queries and candidates, an optional ``[CLS]`` pooler and a learnable logit scale.

    Args:
        encoder: a backbone whose forward takes ``input_ids``/``attention_mask`` and returns ``last_hidden_state``.
        representation: ``pooler`` (``tanh(pooler(h[:, 0]))``), ``cls`` (``h[:, 0]``), ``mean`` (over the attention
            mask) or ``last`` (the last non-padding token); always L2-normalised.
        pooler: the ``nn.Linear(H, H)`` of ``pooler`` (required for it).
        logit_scale: initial value of the scale of the cosine logits (XTREME-R: 100, trained).
    """

    def __init__(self, encoder: nn.Module, representation: str, pooler: nn.Linear | None = None,
                 logit_scale: float = 100.0):
        super().__init__()
        if representation not in REPRESENTATIONS:
            raise ValueError(f"unknown representation {representation!r}")
        if representation == "pooler" and pooler is None:
            raise ValueError("representation 'pooler' needs a pooler layer")
        self.encoder = encoder
        self.representation = representation
        self.pooler = pooler if representation == "pooler" else None
        self.logit_scale = nn.Parameter(torch.tensor(float(logit_scale)))

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """L2-normalised encodings ``[B, H]`` (float32)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.representation == "mean":
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            v = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
        elif self.representation == "last":
            last = attention_mask.long().sum(1).clamp_min(1) - 1
            v = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        else:
            v = hidden[:, 0]
            if self.pooler is not None:
                v = torch.tanh(self.pooler(v.to(self.pooler.weight.dtype)))
        return F.normalize(v.float(), p=2, dim=-1)

    def forward(self, q_ids, q_mask, c_ids, c_mask) -> torch.Tensor:
        """The in-batch softmax loss: query *i*'s positive is candidate *i*, the batch's other candidates are its
        negatives (cross-entropy over ``scale * cos``)."""
        q = self.encode(q_ids, q_mask)
        c = self.encode(c_ids, c_mask)
        logits = (q @ c.T) * self.logit_scale.float()
        return F.cross_entropy(logits, torch.arange(len(q), device=logits.device))


# ------------------------------------------------------------------------------------------------ pooler
def make_pooler(hidden: int, init: tuple[torch.Tensor, torch.Tensor] | None, std: float = 0.02) -> nn.Linear:
    """``nn.Linear(hidden, hidden)``: the pretrained pooler's weights *init* ``(weight, bias)`` where given (and of
    the right shape), else BERT's initialisation (normal(0, *std*), zero bias) from torch's current RNG."""
    layer = nn.Linear(hidden, hidden)
    if init is not None and tuple(init[0].shape) == (hidden, hidden) and tuple(init[1].shape) == (hidden,):
        with torch.no_grad():
            layer.weight.copy_(init[0])
            layer.bias.copy_(init[1])
    else:
        nn.init.normal_(layer.weight, mean=0.0, std=std)
        nn.init.zeros_(layer.bias)
    return layer


def pretrained_pooler(path: str, revision: str | None = None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The ``[CLS]`` pooler ``(weight, bias)`` of the checkpoint at *path*, or ``None`` where its model type has no
    pooler (:data:`POOLER_TYPES`) or the checkpoint carries no pooler weights (e.g. a model saved without one)."""
    from transformers import AutoConfig, AutoModel

    from .models.backbone import _quiet_transformers

    try:
        with _quiet_transformers():
            config = AutoConfig.from_pretrained(path, revision=revision)
            if config.model_type not in POOLER_TYPES:
                return None
            model, info = AutoModel.from_pretrained(path, revision=revision, add_pooling_layer=True,
                                                    output_loading_info=True)
    except (OSError, ValueError, TypeError):
        return None
    if any("pooler" in k for k in info.get("missing_keys", [])) or getattr(model, "pooler", None) is None:
        return None
    dense = model.pooler.dense
    out = (dense.weight.detach().float().clone(), dense.bias.detach().float().clone())
    del model
    return out


# ------------------------------------------------------------------------------------------------ data
@dataclass
class PairIds:
    """Tokenised (query, candidate) pairs: ``q[i]`` and ``c[i]`` are token id lists (special tokens included)."""

    q: list[list[int]]
    c: list[list[int]]

    def __len__(self) -> int:
        return len(self.q)


def tokenize_pairs(tokenizer, queries: list[str], candidates: list[str], *, query_max_length: int,
                   candidate_max_length: int, query_prefix: str = "", candidate_prefix: str = "",
                   chunk: int = 4096) -> PairIds:
    """Token ids of the pairs, truncated to the two lengths (as ``encode_plus(..., max_length=...)`` in XTREME)."""
    if len(queries) != len(candidates):
        raise ValueError("queries and candidates differ in number")

    def ids(texts, prefix, length):
        out = []
        for s in range(0, len(texts), chunk):
            enc = tokenizer([prefix + t for t in texts[s:s + chunk]], truncation=True, max_length=length)
            out.extend(enc["input_ids"])
        return out

    return PairIds(ids(queries, query_prefix, query_max_length), ids(candidates, candidate_prefix,
                                                                        candidate_max_length))


def _pad(rows: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, :len(r)] = 1
    return ids.to(device), mask.to(device)


def _batch(data: PairIds, idx: list[int], pad_id: int, device):
    q_ids, q_mask = _pad([data.q[i] for i in idx], pad_id, device)
    c_ids, c_mask = _pad([data.c[i] for i in idx], pad_id, device)
    return q_ids, q_mask, c_ids, c_mask


def micro_batches(n: int, batch_size: int, seed: int):
    """Index micro-batches over endless epochs, each epoch a fresh permutation of ``range(n)`` drawn from *seed* and
    the epoch number (the last micro-batch of an epoch may be smaller, as a ``DataLoader`` without ``drop_last``)."""
    epoch = 0
    while True:
        order = list(range(n))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
        for s in range(0, n, batch_size):
            yield epoch, order[s:s + batch_size]
        epoch += 1


# ------------------------------------------------------------------------------------------------ training
@dataclass
class FinetuneSettings:
    """What the fine-tuning does (XTREME-R's values: each task module's ``FINETUNE_PUBLISHED``, e.g.
    :data:`xstilts.tasks.lareqa.FINETUNE_PUBLISHED`)."""

    lr: float = 2e-5
    epochs: float = 3.0
    max_steps: int | None = None
    batch_size: int = 4
    grad_accum: int = 4
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    selection: str = "last"
    eval_every: int | None = None
    eval_batch_size: int = 8
    log_every: int | None = None

    @classmethod
    def from_dict(cls, d: dict) -> "FinetuneSettings":
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in names})


def total_steps(n: int, s: FinetuneSettings) -> int:
    """Optimizer steps: ``max_steps`` if set, else ``ceil(epochs * ceil(n / batch_size) / grad_accum)``."""
    if s.max_steps:
        return s.max_steps
    return max(1, math.ceil(s.epochs * math.ceil(n / s.batch_size) / s.grad_accum))


@torch.no_grad()
def mean_batch_loss(model: DualEncoder, data: PairIds, *, batch_size: int, pad_id: int, device,
                    autocast: Callable | None = None) -> float:
    """The mean over consecutive batches of *batch_size* pairs (in order) of the in-batch loss: XTREME's
    ``evaluate_during_training`` signal (``np.mean`` of the batch losses)."""
    was = model.training
    model.eval()
    losses = []
    ctx = autocast or _no_autocast
    for s in range(0, len(data), batch_size):
        with ctx():
            losses.append(float(model(*_batch(data, list(range(s, min(s + batch_size, len(data)))), pad_id, device))))
    model.train(was)
    return sum(losses) / len(losses) if losses else float("nan")


def _no_autocast():
    import contextlib

    return contextlib.nullcontext()


def _autocast_for(device: torch.device, mixed_precision: str):
    if mixed_precision == "no":
        return _no_autocast, None
    dtype = torch.bfloat16 if mixed_precision == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda") if mixed_precision == "fp16" and device.type == "cuda" else None
    return (lambda: torch.autocast(device_type=device.type, dtype=dtype)), scaler


@dataclass
class _Selection:
    mode: str
    every: int | None
    curve: list = field(default_factory=list)
    best: float = math.inf
    best_step: int | None = None
    weights: dict | None = None

    def due(self, step: int, total: int) -> bool:
        return self.mode == "dev-loss" and (step == total or (self.every is not None and step % self.every == 0))

    def observe(self, step: int, loss: float, model: nn.Module) -> None:
        self.curve.append((step, loss))
        if loss < self.best:
            self.best, self.best_step = loss, step
            self.weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def train_dual_encoder(model: DualEncoder, train: PairIds, settings: FinetuneSettings, *, seed: int, pad_id: int,
                       device: torch.device | str = "cpu", mixed_precision: str = "no", dev: PairIds | None = None,
                       progress: Callable[[int, float], None] | None = None) -> dict:
    """Fine-tune *model* on *train* with in-batch negatives (see the module docstring); with ``selection:
    dev-loss``, every ``eval_every`` steps and at the end the mean in-batch loss on *dev* is measured and the
    weights of the lowest are restored at the end.

    Returns:
        ``{"steps", "steps_trained", "loss_curve": [[step, mean loss], ...], "examples", "epochs_seen",
        "seconds", "selection": {"mode", "metric", "curve", "selected_step", "best_score", ...}}``.
    Raises:
        XstiltsError: no training pairs, no dev pairs for ``dev-loss``, or a loss that is not finite.
    """
    from transformers import get_linear_schedule_with_warmup

    from .train.model import _param_groups, seed_everything

    if len(train) == 0:
        raise XstiltsError("no training pairs for the dual encoder")
    if settings.selection == "dev-loss" and (dev is None or len(dev) == 0):
        raise XstiltsError("selection: dev-loss needs English dev pairs; none were read")
    device = torch.device(device)
    seed_everything(seed)
    steps = total_steps(len(train), settings)
    model.to(device).train()
    optimizer = torch.optim.AdamW(_param_groups(model, settings.weight_decay), lr=settings.lr,
                                  eps=settings.adam_epsilon)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_ratio * steps), steps)
    autocast, scaler = _autocast_for(device, mixed_precision)
    log_every = settings.log_every or max(1, steps // 100)
    sel = _Selection(settings.selection, settings.eval_every)
    stream = micro_batches(len(train), settings.batch_size, seed)
    curve, window, epoch, t0 = [], [], 0, time.time()
    params = [p for p in model.parameters() if p.requires_grad]
    for step in range(1, steps + 1):
        step_loss = 0.0
        for _ in range(settings.grad_accum):
            epoch, idx = next(stream)
            with autocast():
                loss = model(*_batch(train, idx, pad_id, device)) / settings.grad_accum
            (scaler.scale(loss) if scaler is not None else loss).backward()
            step_loss += float(loss.detach())
        if not math.isfinite(step_loss):
            raise XstiltsError(f"dual-encoder loss became {step_loss} at optimizer step {step}")
        if scaler is not None:
            scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        window.append(step_loss)
        if step % log_every == 0 or step == steps:
            mean = sum(window) / len(window)
            window.clear()
            curve.append((step, mean))
            if progress:
                progress(step, mean)
        elif progress:
            progress(step, float("nan"))
        if sel.due(step, steps):
            sel.observe(step, mean_batch_loss(model, dev, batch_size=settings.eval_batch_size, pad_id=pad_id,
                                              device=device, autocast=autocast), model)
    if sel.weights is not None and sel.best_step != steps:
        model.load_state_dict(sel.weights)
    model.eval()
    record = {"mode": sel.mode, "steps_trained": steps}
    if sel.mode == "dev-loss":
        record.update(metric="dev in-batch loss", curve=sel.curve, selected_step=sel.best_step,
                      best_score=sel.best, eval_every=sel.every, eval_batch_size=settings.eval_batch_size,
                      dev_pairs=len(dev))
    else:
        record.update(selected_step=steps)
    return {"steps": steps, "steps_trained": steps, "loss_curve": curve, "examples": len(train),
            "epochs_seen": epoch + 1, "seconds": time.time() - t0, "selection": record}


# ------------------------------------------------------------------------------------------------ embedding
@torch.no_grad()
def embed_texts(model: DualEncoder, tokenizer, texts: list[str], *, max_length: int, prefix: str = "",
                batch_size: int = 64, device: torch.device | str = "cpu", mixed_precision: str = "no",
                advance: Callable[[int], None] | None = None) -> torch.Tensor:
    """The fine-tuned encodings ``[len(texts), H]`` (float32, CPU, L2-normalised) of *texts* in their order, in
    length-sorted batches (XTREME-R embeds queries and candidates with the same tower)."""
    from .data import length_sorted_batches

    model.eval()
    device = torch.device(device)
    autocast, _ = _autocast_for(device, "no" if mixed_precision == "fp16" and device.type != "cuda"
                                else mixed_precision)
    ids = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length)["input_ids"]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = None
    for batch in length_sorted_batches([len(x) for x in ids], batch_size):
        q, m = _pad([ids[i] for i in batch], pad, device)
        with autocast():
            v = model.encode(q, m).float().cpu()
        if out is None:
            out = torch.empty((len(texts), v.shape[1]), dtype=torch.float32)
        out[batch] = v
        if advance:
            advance(len(batch))
    if out is None:
        raise ValueError("nothing to embed")
    return out


# ------------------------------------------------------------------------------------------------ pipeline glue
def finetune_for_retrieval(cfg, spec, start, ft: dict, device: torch.device):
    """Fine-tune a copy of the encoder *start* (an :class:`xstilts.experiment.EncoderRef`) as a dual encoder on the
    English training pairs of *spec*'s task, with the settings *ft* (``retrieval_settings(cfg, spec, seed)
    ["finetune"]``).

    Returns:
        ``(embed, embed_query, record)``: ``embed(texts, prefix=None)`` (candidates, ``candidate_max_length``) and
        ``embed_query(texts, prefix=None)`` (queries, ``query_max_length``) as the ``retrieval_ranking`` family's
        ``evaluate`` takes them, and what the fine-tuning did (settings, data, steps, loss curve, selection) for
        ``metrics.json``.
    """
    from .console import console, progress_bar
    from .loading import subsample, task_data_dir
    from .models.backbone import build_backbone, hidden_size, load_tokenizer, resolve_model_path
    from .tasks import get_family, get_task
    from .train import seed_everything

    task = get_task(spec.task)
    family = get_family(task.kind)
    seed = int(ft["seed"])
    settings = FinetuneSettings.from_dict(ft)
    pretrained = start.pretrained
    revision = getattr(start, "revision", None) or (cfg.model.revision if pretrained else None)
    tokenizer = load_tokenizer(start.path, revision)
    folder = task_data_dir(spec)
    train_pairs = family.finetune_pairs(task, folder, "train", spec.options)
    n_read = len(train_pairs.queries)
    queries, candidates = train_pairs.queries, train_pairs.candidates
    if spec.max_examples:
        keep = subsample(list(range(n_read)), spec.max_examples)
        queries, candidates = [queries[i] for i in keep], [candidates[i] for i in keep]
    dev_pairs = family.finetune_pairs(task, folder, "dev", spec.options) if settings.selection == "dev-loss" else None
    text_prefix = cfg.model.text_prefix or ""
    query_prefix = text_prefix if cfg.evaluation.query_prefix is None else cfg.evaluation.query_prefix
    lengths = {"query_max_length": ft["query_max_length"], "candidate_max_length": ft["candidate_max_length"]}
    train = tokenize_pairs(tokenizer, queries, candidates, query_prefix=query_prefix, candidate_prefix=text_prefix,
                           **lengths)
    dev = None
    if dev_pairs is not None:
        dq, dc = dev_pairs.queries, dev_pairs.candidates
        if ft.get("dev_examples"):
            dq, dc = dq[:ft["dev_examples"]], dc[:ft["dev_examples"]]
        dev = tokenize_pairs(tokenizer, dq, dc, query_prefix=query_prefix, candidate_prefix=text_prefix, **lengths)

    seed_everything(seed)
    encoder, kind = build_backbone(cfg.model, start.path, pretrained=pretrained, revision=revision, seed=seed)
    representation = resolve_representation(ft["representation"], kind, getattr(encoder.config, "model_type", None))
    pooler, pooler_init = None, None
    if representation == "pooler":
        # the pretrained checkpoint's pooler, also after an intermediate phase (which does not save one)
        init = pretrained_pooler(start.path if pretrained else resolve_model_path(cfg.model.name_or_path),
                                 revision if pretrained else cfg.model.revision)
        pooler_init = "pretrained" if init is not None else "fresh"
        torch.manual_seed(seed)
        pooler = make_pooler(hidden_size(encoder), init, getattr(encoder.config, "initializer_range", 0.02))
    model = DualEncoder(encoder, representation, pooler, ft["logit_scale"])
    steps = total_steps(len(train), settings)
    console.print(f"  dual-encoder fine-tuning: {spec.label} on {len(train):,} English pairs "
                  f"({train_pairs.path.name}), {steps} steps of {settings.grad_accum} x {settings.batch_size} pairs "
                  f"(in-batch negatives per {settings.batch_size}), lr {settings.lr:g}, {representation} encoding, "
                  f"selection {settings.selection} on {device}")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with progress_bar(f"fine-tune {spec.label}", steps) as adv:
        def on_step(step, loss):
            adv(1, info="" if loss != loss else f"loss {loss:.4f}")
            if loss == loss and not console.is_terminal:
                console.print(f"    step {step}/{steps}  loss {loss:.4f}")

        history = train_dual_encoder(model, train, settings, seed=seed, pad_id=pad, device=device,
                                     mixed_precision=cfg.mixed_precision, dev=dev, progress=on_step)
    sel = history["selection"]
    if sel["mode"] == "dev-loss":
        console.print(f"  selected step {sel['selected_step']} of {history['steps']} (dev in-batch loss "
                      f"{sel['best_score']:.4f})")
    batch_size = cfg.evaluation.batch_size

    def embedder(length: int, default_prefix: str):
        def embed(texts, prefix=None):
            with progress_bar(f"embed {spec.label} ({len(texts):,} distinct texts)", len(texts)) as adv:
                return embed_texts(model, tokenizer, texts, max_length=length,
                                   prefix=default_prefix if prefix is None else prefix, batch_size=batch_size,
                                   device=device, mixed_precision=cfg.mixed_precision, advance=adv)
        return embed

    record = {**{k: v for k, v in ft.items()}, "representation_used": representation, "pooler_init": pooler_init,
              "train_file": str(train_pairs.path), "train_pairs_read": n_read, "train_pairs": len(train),
              "train_pairs_skipped": train_pairs.skipped,
              "dev_file": str(dev_pairs.path) if dev_pairs is not None else None,
              "dev_pairs": len(dev) if dev is not None else None, "history": history}
    return embedder(ft["candidate_max_length"], text_prefix), embedder(ft["query_max_length"], query_prefix), record

