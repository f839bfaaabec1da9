"""Retrieval metrics from sentence embeddings. Scores are percentages (0-100), as XTREME reports them.

* :func:`tatoeba_accuracy` — Tatoeba accuracy@1 with cosine nearest neighbour, by default as XTREME's code computes
  it: ``similarity_search(x=source, y=English)`` in ``third_party/run_retrieval.py`` / ``evaluate_retrieval.py``
  (``utils_retrieve.py``) indexes the source sentences and searches them with each English sentence (en -> xx; jiant,
  the X-STILTs code, does the same); xx -> en is an option.
* :func:`mine_candidates`, :func:`bucc_optimize`, :func:`bucc_scores` — BUCC 2018 bitext mining with ratio-margin
  scoring (Artetxe & Schwenk 2019, "Margin-based Parallel Corpus Mining with Multilingual Sentence Embeddings"),
  as ``mine_bitext`` (``--retrieval max --margin ratio --neighborhood 4``), ``bucc_optimize`` and ``bucc_extract``
  in XTREME's ``third_party/utils_retrieve.py`` (itself from LASER's ``source/mine_bitexts.py``).
"""

from __future__ import annotations

from typing import Hashable, Iterable

import numpy as np
import torch


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """Rows of *x* ``[n, d]`` scaled to unit L2 norm (float32)."""
    x = x.float()
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def knn(x: torch.Tensor, y: torch.Tensor, k: int, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """The *k* nearest rows of *y* for each row of *x* by inner product (cosine when both are L2-normalised).

    Args:
        x: ``[n, d]`` queries; y: ``[m, d]`` database; k: neighbours (capped at ``m``).
    Returns:
        ``(sim [n, k], idx [n, k])`` sorted by decreasing similarity; for ``k == 1`` a tie goes to the lowest index.
    """
    k = min(k, y.shape[0])
    sims, inds = [], []
    for start in range(0, x.shape[0], chunk):
        s = x[start:start + chunk] @ y.T
        if k == 1:  # argmax returns the first maximal index, as numpy.argmax
            i = s.argmax(dim=1, keepdim=True)
            v = s.gather(1, i)
        else:
            v, i = torch.topk(s, k, dim=1, sorted=True)
        sims.append(v)
        inds.append(i)
    return torch.cat(sims), torch.cat(inds)


#: Tatoeba retrieval directions: ``en-xx`` (XTREME's code: each English sentence retrieves among the source
#: sentences) and ``xx-en`` (each source sentence retrieves among the English ones).
TATOEBA_DIRECTIONS = ("en-xx", "xx-en")


def tatoeba_accuracy(src: torch.Tensor, tgt: torch.Tensor, direction: str = "en-xx") -> tuple[float, list[int]]:
    """Accuracy@1 of Tatoeba retrieval by cosine similarity: the share of queries whose nearest neighbour is their
    translation (row *i* of one side is the translation of row *i* of the other).

    ``en-xx`` (default) is what XTREME's ``similarity_search(x, y)`` computes: a faiss ``IndexFlatL2`` over the
    L2-normalised source embeddings ``x``, searched with each normalised English embedding ``y[j]``; prediction *j*
    is the source index found for English sentence *j* (L2 distance between unit vectors ranks as cosine).
    ``xx-en`` swaps the roles.

    Args:
        src: ``[n, d]`` source-language embeddings; tgt: ``[n, d]`` English embeddings.
        direction: ``en-xx`` or ``xx-en``.
    Returns:
        ``(accuracy in %, predicted index per query)``: per English sentence the source index (``en-xx``), or per
        source sentence the English index (``xx-en``). A tie goes to the lowest index.
    Raises:
        ValueError: the sides differ in size, or an unknown direction.
    """
    if src.shape[0] != tgt.shape[0]:
        raise ValueError(f"{src.shape[0]} source sentences but {tgt.shape[0]} targets")
    if direction not in TATOEBA_DIRECTIONS:
        raise ValueError(f"Tatoeba direction {direction!r}: expected one of {', '.join(TATOEBA_DIRECTIONS)}")
    queries, database = (tgt, src) if direction == "en-xx" else (src, tgt)
    _, idx = knn(l2_normalize(queries), l2_normalize(database), 1)
    pred = idx[:, 0].tolist()
    return 100.0 * sum(p == i for i, p in enumerate(pred)) / len(pred), pred


def _margin_scores(x, y, cand, fwd_mean, bwd_mean) -> torch.Tensor:
    # ratio margin: cos(x, y) / ((mean_k cos(x, NN_k(x)) + mean_k cos(y, NN_k(y))) / 2)
    dots = (x.unsqueeze(1) * y[cand]).sum(-1)
    return dots / ((fwd_mean.unsqueeze(1) + bwd_mean[cand]) / 2)


def mine_candidates(src: torch.Tensor, tgt: torch.Tensor, k: int = 4,
                    threshold: float = 0.0) -> list[tuple[int, int, float]]:
    """Candidate pairs by ratio-margin scoring, XTREME/LASER ``mine_bitext`` in ``max`` retrieval mode.

    Both sides are L2-normalised. For each source sentence the best of its *k* nearest targets by margin score
    (forward), and for each target the best of its *k* nearest sources (backward); all those pairs are taken in
    decreasing score, skipping any whose source or target was already used, and kept when their score is above
    *threshold* (``mine_bitext``'s default 0: a pair with a negative cosine is never a candidate).

    Args:
        src: ``[n, d]``, tgt: ``[m, d]`` embeddings (one row per distinct sentence, as ``mine_bitext`` unifies them).
    Returns:
        ``[(src_index, tgt_index, score)]`` in decreasing score.
    """
    x, y = l2_normalize(src), l2_normalize(tgt)
    x2y_sim, x2y_ind = knn(x, y, k)
    y2x_sim, y2x_ind = knn(y, x, k)
    x2y_mean, y2x_mean = x2y_sim.mean(1), y2x_sim.mean(1)
    fwd = _margin_scores(x, y, x2y_ind, x2y_mean, y2x_mean)
    bwd = _margin_scores(y, x, y2x_ind, y2x_mean, x2y_mean)
    fwd_best = x2y_ind[torch.arange(x.shape[0]), fwd.argmax(1)]
    bwd_best = y2x_ind[torch.arange(y.shape[0]), bwd.argmax(1)]
    src_i = torch.cat([torch.arange(x.shape[0]), bwd_best]).tolist()
    tgt_i = torch.cat([fwd_best, torch.arange(y.shape[0])]).tolist()
    scores = torch.cat([fwd.max(1).values, bwd.max(1).values]).double().numpy()
    out, seen_s, seen_t = [], set(), set()
    for i in np.argsort(-scores, kind="stable"):
        s, t = src_i[i], tgt_i[i]
        if s not in seen_s and t not in seen_t:
            seen_s.add(s)
            seen_t.add(t)
            if scores[i] > threshold:
                out.append((s, t, float(scores[i])))
    return out


def bucc_optimize(candidates: dict[tuple[str, str], float], gold: Iterable[tuple[str, str]]) -> float:
    """The score threshold that maximises F1 of the candidates against *gold* (XTREME's ``bucc_optimize``).

    Candidates are taken in decreasing score; at the best prefix the threshold is the midpoint between its last
    score and the next one. (XTREME's script raises IndexError when the best prefix is all candidates; here the
    threshold is then the last score, which keeps them all under ``>=``.) Returns 0 when nothing is correct.
    """
    gold = set(gold)
    items = sorted(candidates.items(), key=lambda kv: -kv[1])
    nextract = ncorrect = 0
    threshold, best_f1 = 0.0, 0.0
    for i, (pair, score) in enumerate(items):
        nextract += 1
        if pair in gold:
            ncorrect += 1
        if ncorrect > 0:
            p, r = ncorrect / nextract, ncorrect / len(gold)
            f1 = 2 * p * r / (p + r)
            if f1 > best_f1:
                best_f1 = f1
                threshold = (score + items[i + 1][1]) / 2 if i + 1 < len(items) else score
    return threshold


def bucc_prf(gold: Iterable[Hashable], predicted: Iterable[Hashable]) -> dict[str, float]:
    """``{"f1", "precision", "recall"}`` (%) of a set of predicted pairs against the gold pairs, as ``bucc_f1`` in
    XTREME's ``evaluate.py``: both sides are sets (duplicates count once), ``precision = correct / |predicted|``,
    ``recall = correct / |gold|``, ``f1 = 2 P R / (P + R)``, each then times 100; all 0 when nothing is correct."""
    gold, predicted = set(gold), set(predicted)
    ncorrect = len(gold & predicted)
    if ncorrect == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    p, r = ncorrect / len(predicted), ncorrect / len(gold)
    return {"f1": 2 * p * r / (p + r) * 100, "precision": p * 100, "recall": r * 100}


def bucc_scores(candidates: dict[tuple[str, str], float], gold: Iterable[tuple[str, str]],
                threshold: float) -> dict[str, float]:
    """Precision, recall and F1 (%) of the candidates scoring ``>= threshold`` (XTREME's ``bucc_extract``/``bucc_eval``,
    scored as :func:`bucc_prf`)."""
    s = bucc_prf(gold, (pair for pair, v in candidates.items() if v >= threshold))
    return {"precision": s["precision"], "recall": s["recall"], "f1": s["f1"], "threshold": threshold}
