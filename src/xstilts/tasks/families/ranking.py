"""The ``retrieval_ranking`` family (XTREME-R, Ruder et al. 2021): language-agnostic retrieval of candidates for
queries, scored by mAP@20 from sentence embeddings (LAReQA: :mod:`xstilts.tasks.lareqa`; Mewsli-X:
:mod:`xstilts.tasks.mewslix`).

Queries (questions, mentions) are embedded with the query prefix (``settings["query_prefix"]``; ``None`` = the
model's text prefix, e.g. ``"query: "`` for e5), candidates (answer sentences, entity descriptions) with the model's
prefix. Similarity is cosine (XTREME-R L2-normalises the encodings), ranking via
:func:`xstilts.metrics.ranking.rank_by_cosine`, metric mAP@20 (:mod:`xstilts.metrics.ranking`).

**Two modes** (task option ``finetune``):

* ``finetune: true`` (the default; XTREME-R's protocol): the start encoder (pretrained, or after intermediate training:
  ``evaluation.retrieval_from``) is first fine-tuned as a dual encoder with in-batch negatives on the task's English
  training pairs (:mod:`xstilts.dual_encoder`, run by the retrieval phase, which passes the fine-tuned encoder's
  ``embed``/``embed_query`` to :meth:`RankingRetrieval.evaluate`), then both sides are embedded with its encoding (the
  ``[CLS]`` pooler output for BERT/XLM-R, as XTREME-R) and scored. LAReQA trains on SQuAD v1.1 question →
  answer-sentence pairs, Mewsli-X on its English Wikipedia mention → entity pairs; the settings are XTREME-R's (each
  task module's ``FINETUNE_PUBLISHED`` over :data:`FINETUNE_COMMON`), overridable per task entry (``lr``, ``epochs``,
  ``max_steps``, ``batch_size``, ``grad_accum``, ``warmup_ratio``, ``max_examples``) and by the options below;
* ``finetune: false``: the encoder is used as is, with ``evaluation.retrieval_layer`` and ``evaluation.pooling``, so
  scores measure its zero-shot embeddings.

What each task does its own way (its scoring, training pairs, published settings, gold files) is a
:class:`RankingMode`, which its module declares with :func:`register_mode` under its ``Task.extra["mode"]``.

Prediction files (``predictions/<task>/test-{lang}.json``): ``{question id or example_id: [top-20 candidate ids]}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...errors import MissingDataError
from .. import Task, register_family
from ..base import EmbeddingFamily, EmbeddingResult

#: XTREME-R scores the top 20 retrieved candidates (``utils_mewslix.TOP_K``; ``mean_avg_prec_at_k(..., k=20)``).
TOP_K = 20


@dataclass
class RetrievalPairs:
    """English (query, candidate) training pairs of a retrieval task, read from *path*; *skipped*: entries that
    gave no pair (a SQuAD answer in no inferred sentence)."""

    path: Path
    queries: list[str]
    candidates: list[str]
    skipped: int = 0


#: Settings common to both scripts (``run_retrieval_qa.py`` / ``run_retrieval_el.py`` defaults and flags).
FINETUNE_COMMON = {"max_steps": None, "warmup_ratio": 0.0, "weight_decay": 0.0, "adam_epsilon": 1e-8,
                   "max_grad_norm": 1.0, "eval_batch_size": 8}


# ------------------------------------------------------------------------------------------------------ family
class RankingOptions(BaseModel):
    """Per-task options of the ``retrieval_ranking`` family (config ``target.tasks[i].options``)."""

    model_config = ConfigDict(extra="forbid")

    candidate_text: Literal["sentence+context", "sentence"] = Field(
        "sentence+context", description="LAReQA candidate encoding: the answer sentence followed by its paragraph, as "
                                        "XTREME-R, or the sentence alone (ignored by Mewsli-X)")
    finetune: bool = Field(True, description="fine-tune the encoder as a dual encoder with in-batch negatives on the "
                                             "task's English training pairs first, as XTREME-R (true), or score its "
                                             "embeddings as they are (false: zero-shot, evaluation.retrieval_layer "
                                             "and pooling)")
    representation: Literal["auto", "pooler", "cls", "mean", "last"] = Field(
        "auto", description="fine-tuning: the encoding of both sides: the [CLS] pooler (BERT/XLM-R, as XTREME-R), "
                            "the first token, the mean, or the last token; auto = pooler where the pretrained "
                            "checkpoint has one, else first token (encoders), last token (decoders), mean (BiLSTM)")
    query_max_length: int | None = Field(None, gt=1, description="fine-tuning: query tokens (default XTREME-R's: "
                                                                 "LAReQA 96, Mewsli-X 64; or the task entry's "
                                                                 "max_length)")
    candidate_max_length: int | None = Field(None, gt=1, description="fine-tuning: candidate tokens (default "
                                                                     "XTREME-R's: LAReQA 256, Mewsli-X 64; or the "
                                                                     "task entry's max_length)")
    selection: Literal["dev-loss", "last"] | None = Field(
        None, description="fine-tuning: keep the weights with the lowest in-batch loss on the English dev pairs "
                          "(dev-loss) or the final ones (last); default XTREME-R's: LAReQA dev-loss, Mewsli-X last")
    eval_every: int | None = Field(None, gt=0, description="fine-tuning, selection dev-loss: optimizer steps between "
                                                           "dev-loss measurements (default 1000, XTREME-R's "
                                                           "save_steps)")
    dev_examples: int | None = Field(None, gt=0, description="fine-tuning, selection dev-loss: measure on the first "
                                                             "N dev pairs (default all)")
    logit_scale: float = Field(100.0, gt=0, description="fine-tuning: initial (learnable) scale of the cosine logits "
                                                        "(XTREME-R: 100)")

    @model_validator(mode="after")
    def _finetune_only(self) -> "RankingOptions":
        if not self.finetune:
            given = [k for k in ("query_max_length", "candidate_max_length", "selection", "eval_every", "dev_examples")
                     if getattr(self, k) is not None]
            given += [k for k, d in (("representation", "auto"), ("logit_scale", 100.0)) if getattr(self, k) != d]
            if given:
                raise ValueError(f"{', '.join(given)} only apply with finetune: true")
        return self


def _embed_in_order(embed, texts: list[str], prefix: str | None, chunk: int = 65536):
    """Embeddings ``[len(texts), H]`` in the order of *texts*; each distinct text is embedded once, in chunks of
    *chunk* texts sorted by length."""
    import torch

    rows: dict[str, list[int]] = {}
    for i, t in enumerate(texts):
        rows.setdefault(t, []).append(i)
    distinct = sorted(rows, key=len)
    out = None
    for s in range(0, len(distinct), chunk):
        part = distinct[s:s + chunk]
        emb = embed(part, prefix=prefix)
        if out is None:
            out = torch.empty((len(texts), emb.shape[1]), dtype=torch.float32)
        dst, src = [], []
        for j, t in enumerate(part):
            dst.extend(rows[t])
            src.extend([j] * len(rows[t]))
        out[torch.tensor(dst)] = emb[torch.tensor(src)].float()
    if out is None:
        raise ValueError("nothing to embed")
    return out


@dataclass(frozen=True)
class RankingMode:
    """What one task of the family does its own way, declared by its module (:func:`register_mode`).

    Attributes:
        score: ``score(family, task, languages, load, embed, embed_query, query_prefix, options) ->
            EmbeddingResult``: embed the queries (``embed_query``) and candidates (``embed``), rank, score each
            language (:meth:`RankingRetrieval.evaluate`).
        pair_file: ``pair_file(data_dir, split) -> Path``: the English training pairs' file of *split* (``train`` or
            ``dev``); raises :class:`MissingDataError` when there is none.
        read_pairs: ``read_pairs(data_dir, split, options) -> RetrievalPairs``: those pairs, for fine-tuning.
        finetune: XTREME-R's fine-tuning settings for the task (over :data:`FINETUNE_COMMON`).
        finetune_mbert: what differs for mBERT (``bert-base-multilingual-*``).
        candidate_text: whether the option ``candidate_text`` applies (hashed into the fine-tuning settings).
        query_ap: ``query_ap(relevant, ranking) -> AP@20`` of one query (default
            :func:`~xstilts.metrics.ranking.average_precision_at_k`).
        label_files: ``label_files(task, languages, load) -> {lang: (file name, content)}``: the gold files (none
            when ``None``).
    """

    score: Callable[..., EmbeddingResult]
    pair_file: Callable[[Path, str], Path]
    read_pairs: Callable[[Path, str, RankingOptions], RetrievalPairs]
    finetune: dict[str, Any]
    finetune_mbert: dict[str, Any] = field(default_factory=dict)
    candidate_text: bool = False
    query_ap: Callable[[Any, list], float] | None = None
    label_files: Callable[..., dict] | None = None


#: The declared modes, by ``Task.extra["mode"]``.
MODES: dict[str, RankingMode] = {}


def register_mode(mode: str, spec: RankingMode) -> RankingMode:
    """Declare how the tasks whose ``extra["mode"]`` is *mode* are scored and fine-tuned (a task module's call)."""
    if mode in MODES:
        raise ValueError(f"retrieval_ranking mode {mode!r} is registered twice")
    MODES[mode] = spec
    return spec


def _mode(task: Task) -> RankingMode | None:
    return MODES.get(task.extra.get("mode"))


class RankingRetrieval(EmbeddingFamily):
    """Language-agnostic retrieval scored by mAP@20 from sentence embeddings (LAReQA, Mewsli-X): after dual-encoder
    fine-tuning on English pairs (option ``finetune``, the default; done by the retrieval phase, see
    :mod:`xstilts.dual_encoder`), or zero-shot. Not ``trainable`` in the sense of a head-on-encoder target phase.
    Each task's own part is its :class:`RankingMode`."""

    kind = "retrieval_ranking"
    trainable = False
    options_model = RankingOptions

    # --------------------------------------------------------------------------------------- fine-tuning
    def finetune_settings(self, task: Task, spec, model_name: str) -> dict | None:
        """The resolved dual-encoder fine-tuning settings of the task entry *spec* (``None`` with ``finetune:
        false``): XTREME-R's (:attr:`RankingMode.finetune`, mBERT's variant for ``bert-base-multilingual-*``),
        overridden by the entry's ``lr``, ``epochs``, ``max_steps``, ``batch_size``, ``grad_accum``, ``warmup_ratio``
        and ``max_length`` (both sides) and by its options. Every value that changes the result is here (the
        retrieval phase hashes it), plus the training files' listing."""
        options = RankingOptions.model_validate(spec.options or {})
        if not options.finetune:
            return None
        mode = _mode(task)
        if mode is None:
            raise ValueError(f"task {task.name!r}: no dual-encoder fine-tuning protocol for mode "
                             f"{task.extra.get('mode')!r}")
        out = {**FINETUNE_COMMON, **mode.finetune}
        base = Path(str(model_name).rstrip("/")).name
        if base.startswith("bert-base-multilingual"):
            out.update(mode.finetune_mbert)
        for key in ("lr", "epochs", "max_steps", "batch_size", "grad_accum", "warmup_ratio"):
            if getattr(spec, key, None) is not None:
                out[key] = getattr(spec, key)
        if getattr(spec, "epochs", None) is not None and getattr(spec, "max_steps", None) is None:
            out["max_steps"] = None
        if getattr(spec, "max_length", None) is not None:
            out["query_max_length"] = out["candidate_max_length"] = spec.max_length
        for key in ("query_max_length", "candidate_max_length", "selection", "eval_every", "dev_examples"):
            if getattr(options, key) is not None:
                out[key] = getattr(options, key)
        out.setdefault("dev_examples", None)
        if out["selection"] == "last":
            out["eval_every"] = out["dev_examples"] = None
        elif out["eval_every"] is None:
            out["eval_every"] = 1000
        out.update(representation=options.representation, logit_scale=options.logit_scale,
                   max_examples=getattr(spec, "max_examples", None),
                   candidate_text=options.candidate_text if mode.candidate_text else None)
        return out

    def finetune_files(self, task: Task, data_dir: Path, selection: str) -> list[Path]:
        """The training files fine-tuning reads (the dev file too with ``selection: dev-loss``) that exist."""
        find = _mode(task).pair_file
        out = []
        for split in ("train", "dev") if selection == "dev-loss" else ("train",):
            try:
                out.append(find(data_dir, split))
            except MissingDataError:
                pass
        return out

    def finetune_check(self, task: Task, spec, data_dir: Path) -> None:
        """Raise :class:`MissingDataError` when fine-tuning is on and a file it reads (train; dev for ``selection:
        dev-loss``) is not in the task entry's data folder *data_dir*: the pipeline's check before any phase runs."""
        ft = self.finetune_settings(task, spec, "")
        if ft is None:
            return
        find = _mode(task).pair_file
        for split in ("train", "dev") if ft["selection"] == "dev-loss" else ("train",):
            try:
                find(data_dir, split)
            except MissingDataError as e:
                hint = " (or set the task's option selection: last)" if split == "dev" else \
                    " (or set the task's option finetune: false for zero-shot scoring)"
                raise MissingDataError(f"{e}{hint}") from None

    def finetune_pairs(self, task: Task, data_dir: Path, split: str, options: dict | None = None) -> RetrievalPairs:
        """The English (query, candidate) pairs of *split* (``train`` or ``dev``) for dual-encoder fine-tuning
        (:attr:`RankingMode.read_pairs`: :func:`xstilts.tasks.lareqa.read_lareqa_pairs`,
        :func:`xstilts.tasks.mewslix.read_mewslix_pairs`)."""
        opts = RankingOptions.model_validate(options or {})
        mode = _mode(task)
        if mode is not None:
            return mode.read_pairs(data_dir, split, opts)
        raise ValueError(f"task {task.name!r}: no training pairs for mode {task.extra.get('mode')!r}")

    def example_stats(self, task, predictions, examples):
        """Per query ``{"ap": AP@20}`` (in [0, 1]): *predictions* are the rankings (candidate ids, best first) and
        *examples* the relevant candidate ids of each query. LAReQA: :func:`~xstilts.metrics.ranking.
        average_precision_at_k`; Mewsli-X: the reciprocal rank of the gold entity in the top 20, 0 when absent (what
        ``utils_mewslix.evaluate`` sums; AP@20 with one relevant candidate)."""
        from ...metrics.ranking import average_precision_at_k

        mode = _mode(task)
        query_ap = mode.query_ap if mode is not None and mode.query_ap is not None else \
            (lambda relevant, ranking: average_precision_at_k(relevant, ranking, TOP_K))
        return [{"ap": query_ap(relevant, ranking)} for ranking, relevant in zip(predictions, examples)]

    def metric_from_stats(self, task, stats):
        """mAP@20 (%): ``100 * sum(AP) / number of queries`` (a stats dict may stand for ``_examples`` queries)."""
        n = sum(s.get("_examples", 1) for s in stats)
        return 100.0 * sum(s["ap"] for s in stats) / n if n else 0.0

    def evaluate(self, task: Task, languages: list[str], load, embed, settings: dict,
                 embed_query=None) -> EmbeddingResult:
        """Score every language of *task* (see the module docstring for each task's protocol).

        Args:
            load: ``load(split, language)`` (the task's reader).
            embed: ``embed(texts, prefix=None) -> Tensor [n, H]``.
            settings: ``query_prefix`` (``None``: the model's prefix) and ``options`` (:class:`RankingOptions`).
            embed_query: embeds the queries where given (a fine-tuned dual encoder truncates queries and candidates
                to different lengths), else *embed* does.
        Returns:
            ``({lang: {"map@20": %, "n": queries, ...}}, {lang: (file name, JSON predictions)}, {lang: per-query
            statistics})`` (see :meth:`example_stats`).
        """
        options = RankingOptions.model_validate(settings.get("options") or {})
        query_prefix = settings.get("query_prefix")
        mode = _mode(task)
        if mode is None:
            raise ValueError(f"task {task.name!r}: unknown retrieval_ranking mode {task.extra.get('mode')!r}")
        return mode.score(self, task, languages, load, embed, embed_query or embed, query_prefix, options)

    def label_files(self, task, languages, load):
        """The gold files of the task's mode (:attr:`RankingMode.label_files`; Mewsli-X: ``{example id: [gold
        entity id]}`` per language, the gold file ``evaluate.py`` reads); none where it has none (LAReQA:
        ``evaluate.py`` lists no languages for it)."""
        mode = _mode(task)
        if mode is None or mode.label_files is None:
            return {}
        return mode.label_files(task, languages, load)


register_family(RankingRetrieval())
