"""Ranking metrics for XTREME-R's language-agnostic retrieval tasks (LAReQA, Mewsli-X). Scores are percentages.

* :func:`average_precision_at_k` / :func:`mean_avg_prec_at_k` — AP@k and mAP@k exactly as
  ``average_precision_at_k`` / ``mean_avg_prec_at_k`` in XTREME's ``third_party/utils_lareqa.py``: walking down the
  first *k* predictions, each relevant prediction not seen before adds ``hits / rank``; the sum is divided by
  ``min(#relevant, k)`` (``#relevant`` when *k* is ``None``). A question with several relevant candidates (LAReQA: the
  answer sentence in each of the 11 languages) can therefore reach 1.0 only by ranking all of them (or *k* of them)
  first; relevant candidates outside the top *k* add nothing. XTREME-R reports mAP@20.
* :func:`mewslix_map_at_k` — Mewsli-X's ``MRR/MAP@20`` as ``evaluate`` in XTREME's ``third_party/utils_mewslix.py``
  (one gold entity per mention, so mAP@k = MRR over the top *k*; a mention without predictions scores 0). It reads
  the submission layout (``{example_id: [entity ids]}``) and is what XTREME's ``evaluate.py`` calls for ``mewslix``.
* :func:`rank_by_cosine` — the top-*k* candidates per query by cosine similarity (XTREME-R L2-normalises the
  encodings; LAReQA ranks with ``argsort`` of dot products, Mewsli-X with a ``faiss.IndexFlatIP``). Ties are broken
  towards the lower candidate index. The official scripts leave ties to numpy's/faiss's sort (implementation
  defined; they do not occur with real encodings of distinct texts).
"""

from __future__ import annotations

from typing import Hashable, Iterable, Mapping, Sequence

import torch


def average_precision_at_k(relevant: Iterable[Hashable], ranking: Sequence[Hashable], k: int | None = 20) -> float:
    """AP@k of one query, in [0, 1] (XTREME ``utils_lareqa.average_precision_at_k``).

    Args:
        relevant: the relevant candidate ids (at least one).
        ranking: candidate ids in decreasing score; a repeated id counts once (at its first position).
        k: cut-off (``None``: the whole ranking, divisor ``#relevant``).
    Raises:
        ValueError: no relevant candidate, or ``k < 1``.
    """
    targets = set(relevant)
    if not targets:
        raise ValueError("average precision of a query without relevant candidates")
    if k is not None and k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    ranked = list(ranking[:k] if k is not None else ranking)
    score = hits = 0.0
    seen: set = set()
    for i, pred in enumerate(ranked):
        if pred in targets and pred not in seen:
            hits += 1.0
            score += hits / (i + 1.0)
        seen.add(pred)
    divisor = min(len(targets), k) if k is not None else len(targets)
    return score / divisor


def mean_avg_prec_at_k(relevant: Sequence[Iterable[Hashable]], rankings: Sequence[Sequence[Hashable]],
                       k: int | None = 20) -> float:
    """mAP@k in % over queries: the mean of :func:`average_precision_at_k` (XTREME ``utils_lareqa.mean_avg_prec_at_k``).

    Raises:
        ValueError: the lists differ in length or are empty.
    """
    if len(relevant) != len(rankings):
        raise ValueError(f"{len(rankings)} rankings for {len(relevant)} queries")
    if not rankings:
        raise ValueError("mAP of an empty set of queries")
    return 100.0 * sum(average_precision_at_k(r, q, k) for r, q in zip(relevant, rankings)) / len(rankings)


def mewslix_map_at_k(gold: Mapping[str, Sequence[str]], predictions: Mapping[str, Sequence[str]], k: int = 20) -> float:
    """Mewsli-X ``MRR/MAP@k`` in % of one language's predictions (XTREME ``utils_mewslix.evaluate``).

    Args:
        gold: ``{example_id: [gold entity id]}`` (a singleton list, as in the label files).
        predictions: ``{example_id: [predicted entity ids, best first]}``; a missing example scores 0 and
            predictions for unknown examples are ignored.
    """
    if not gold:
        return 0.0
    total = 0.0
    for ex_id, labels in gold.items():
        target = str(labels[0]).strip()
        for rank, pred in enumerate(list(predictions.get(ex_id, []))[:k], start=1):
            if pred == target:
                total += 1.0 / rank
                break
    return 100.0 * total / len(gold)


def rank_by_cosine(queries: torch.Tensor, candidates: torch.Tensor, k: int, *, device: str | torch.device | None = None,
                   query_chunk: int = 1024, candidate_chunk: int = 262144) -> tuple[torch.Tensor, torch.Tensor]:
    """The *k* most cosine-similar candidates of each query, best first, ties to the lower candidate index.

    Both sides are L2-normalised (float32). Scores are computed in ``query_chunk x candidate_chunk`` blocks, so a
    million candidates fit in memory; *device* (default: CUDA when available) runs the matrix products.

    Args:
        queries: ``[n, d]``; candidates: ``[m, d]``; k: capped at ``m``.
    Returns:
        ``(scores [n, k], indices [n, k])`` on the CPU.
    """
    from .retrieval import l2_normalize

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    q_all = l2_normalize(queries)
    c_all = l2_normalize(candidates).to(device)
    m = c_all.shape[0]
    k = min(k, m)
    out_s, out_i = [], []
    for qs in range(0, q_all.shape[0], query_chunk):
        q = q_all[qs:qs + query_chunk].to(device)
        best_s = torch.empty((q.shape[0], 0), device=device)
        best_i = torch.empty((q.shape[0], 0), dtype=torch.long, device=device)
        for cs in range(0, m, candidate_chunk):
            s = q @ c_all[cs:cs + candidate_chunk].T
            v, i = _topk_low_index_ties(s, min(k, s.shape[1]))
            best_s, best_i = _merge(torch.cat([best_s, v], 1), torch.cat([best_i, i + cs], 1), k)
        out_s.append(best_s.cpu())
        out_i.append(best_i.cpu())
    if not out_s:
        return torch.empty((0, k)), torch.empty((0, k), dtype=torch.long)
    return torch.cat(out_s), torch.cat(out_i)


def _topk_low_index_ties(s: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise top-k of a score block with ties at any position going to the lower column."""
    v, i = torch.topk(s, min(k + 1, s.shape[1]), dim=1)
    if v.shape[1] > k:
        # the (k+1)-th value equals the k-th: a tie across the cut, and torch.topk may have kept any of the tied
        ambiguous = v[:, k] == v[:, k - 1]
        v, i = v[:, :k], i[:, :k]
    else:
        ambiguous = torch.zeros(s.shape[0], dtype=torch.bool, device=s.device)
    v, i = _merge(v, i, k)  # orders ties inside the top k by index
    if ambiguous.any():
        rows = ambiguous.nonzero().flatten()
        sub = s[rows]
        order = torch.argsort(sub, dim=1, descending=True, stable=True)[:, :k]
        v[rows] = sub.gather(1, order)
        i[rows] = order
    return v, i


def _merge(values: torch.Tensor, indices: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Best *k* of (value, index) pairs per row: decreasing value, then increasing index."""
    by_index = torch.argsort(indices, dim=1, stable=True)
    values, indices = values.gather(1, by_index), indices.gather(1, by_index)
    by_value = torch.argsort(values, dim=1, descending=True, stable=True)[:, :k]
    return values.gather(1, by_value), indices.gather(1, by_value)
